//! `exo schema import`: turns a database catalog ([`Catalog`]) into `.exo` source text.
//!
//! [`generate`] is a pure function, so every naming and mapping rule is tested without a
//! database. Its output must compile with `exo build` unchanged and give back the same tables
//! (`exo schema verify` finds no differences), so each name is checked against the compiler's
//! own naming rules ([`exo_compiler::names`]) and an explicit `@table`, `@column`, `@plural`,
//! `@unique("...")` or `@index("...")` is written only where the default would not map back.
//! What the language cannot say (a check constraint, an index over an expression, a default
//! that is not a literal) stays in the model as a comment and is listed in
//! [`Imported::notes`].

use std::collections::{HashMap, HashSet};

use exo_compiler::names::{lower_camel, pluralize, snake_case, upper_camel, IRREGULAR};
use exo_pg_schema::{normalize_default, Catalog, ColumnSnapshot, TableSnapshot};

/// What the user asked for besides the catalog.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `query` access rule written on every type (an `.exo` expression).
    pub query_access: String,
    /// The `mutation` access rule written on every type.
    pub mutation_access: String,
    /// Write `fragment`s instead of types (for databases exo must not manage).
    pub fragments: bool,
    /// Only tables and views whose `name` or `schema.name` matches one of these patterns (`*`
    /// and `?` wildcards); all when empty.
    pub tables: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { query_access: "false".into(), mutation_access: "false".into(), fragments: false, tables: Vec::new() }
    }
}

/// The generated model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub text: String,
    /// Everything the model could not express, one line each (also in the text as comments).
    pub notes: Vec<String>,
    /// `schema.table -> Type` for every imported relation, in output order.
    pub types: Vec<String>,
}

/// Names the compiler gives meaning to, or that the GraphQL schema already uses.
const RESERVED_TYPES: &[&str] = &[
    "Int",
    "Float",
    "Decimal",
    "String",
    "Boolean",
    "LocalDate",
    "LocalTime",
    "LocalDateTime",
    "Instant",
    "Json",
    "Blob",
    "Uuid",
    "Vector",
    "Set",
    "Array",
    "Query",
    "Mutation",
    "Subscription",
    "Ordering",
    "ID",
];

/// Field names that would collide with the logical operators of the generated `Filter` inputs.
const RESERVED_FIELDS: &[&str] = &["and", "or", "not"];

/// A value GraphQL does not accept as an enum value.
const RESERVED_ENUM_VALUES: &[&str] = &["true", "false", "null"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A table with a primary key: a managed type.
    Table,
    /// A table without a primary key: unmanaged, its columns `@readonly`.
    NoKey,
    /// A view, materialized view or foreign table: unmanaged, its columns `@readonly`.
    View(&'static str),
}

struct Entity<'a> {
    schema: &'a str,
    table: &'a str,
    kind: Kind,
    /// Whether Postgres can delete its rows (tables; views it can write through).
    deletable: bool,
    columns: &'a [ColumnSnapshot],
    source: Option<&'a TableSnapshot>,
    pk: Vec<String>,
    type_name: String,
    plural: String,
    plural_annotation: Option<String>,
    table_annotation: bool,
    fields: Vec<Field>,
    comments: Vec<String>,
    /// The table's `COMMENT ON`, as the type's doc comment.
    doc: Option<String>,
}

impl Entity<'_> {
    fn managed(&self) -> bool {
        self.kind == Kind::Table
    }

    fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name || f.agg_name().as_deref() == Some(name))
    }

    /// `name`, or `name` with a suffix that no field of this entity uses yet.
    fn free_name(&self, name: &str, suffix: &str) -> String {
        if !self.has_field(name) && !RESERVED_FIELDS.contains(&name) {
            return name.to_string();
        }
        let first = format!("{name}{suffix}");
        if !self.has_field(&first) {
            return first;
        }
        (2..).map(|i| format!("{name}{suffix}{i}")).find(|n| !self.has_field(n)).expect("an unused name")
    }

    fn scalar_field(&self, column: &str) -> Option<usize> {
        self.fields.iter().position(|f| matches!(&f.kind, FieldKind::Scalar { column: c } if c == column))
    }
}

#[derive(Debug, Clone)]
enum FieldKind {
    Scalar {
        column: String,
    },
    /// Many-to-one over the foreign key `fk` of the entity's table.
    Relation {
        fk: usize,
        target: usize,
        columns: Vec<String>,
    },
    /// The other side of a relation (`Set<T>?` or `T?`).
    Back,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: String,
    optional: bool,
    annotations: Vec<String>,
    default: Option<String>,
    /// `@readonly`: the database computes the column, or exo must not write it.
    readonly: bool,
    comments: Vec<String>,
    /// The column's `COMMENT ON`, as the field's doc comment.
    doc: Option<String>,
    kind: FieldKind,
    pk: bool,
    /// Position among the key columns (for ordering), or the column's position.
    order: (u8, usize),
    /// Unique constraint groups (`@unique("group")`; named `<table>_<group>_key`).
    unique: Vec<String>,
    /// Indexes: (name, whether the compiler's default name for a bare `@index` is this name).
    index: Vec<(String, bool)>,
}

impl Field {
    fn agg_name(&self) -> Option<String> {
        self.ty.starts_with("Set<").then(|| format!("{}Agg", self.name))
    }

    fn columns(&self) -> Vec<String> {
        match &self.kind {
            FieldKind::Scalar { column } => vec![column.clone()],
            FieldKind::Relation { columns, .. } => columns.clone(),
            FieldKind::Back => vec![],
        }
    }
}

/// A key column of an entity as a foreign key to it sees it (the compiler's `KeyCol`).
#[derive(Debug, Clone)]
struct KeyCol {
    /// The name a `@column(mapping = {...})` uses for it.
    map_key: String,
    /// What a referencing column is named after by default (`<field>_<suffix>`).
    suffix: String,
    /// The column in the entity's table.
    column: String,
}

/// The `.exo` model for `catalog`.
pub fn generate(catalog: &Catalog, opts: &Options) -> Imported {
    let mut g = Generator {
        catalog,
        opts,
        entities: Vec::new(),
        enums: Vec::new(),
        notes: Vec::new(),
        taken_types: HashSet::new(),
        root_fields: HashSet::new(),
    };
    g.collect();
    g.name_enums();
    g.name_types();
    for e in 0..g.entities.len() {
        g.own_fields(e);
    }
    g.back_references();
    for e in 0..g.entities.len() {
        g.constraints(e);
    }
    g.emit()
}

struct EnumDecl {
    schema: String,
    pg_name: String,
    /// `None` when the enum cannot be declared (its columns become `String @dbtype`).
    name: Option<String>,
    values: Vec<String>,
}

struct Generator<'a> {
    catalog: &'a Catalog,
    opts: &'a Options,
    entities: Vec<Entity<'a>>,
    enums: Vec<EnumDecl>,
    notes: Vec<String>,
    taken_types: HashSet<String>,
    root_fields: HashSet<String>,
}

impl<'a> Generator<'a> {
    fn selected(&self, schema: &str, table: &str) -> bool {
        self.opts.tables.is_empty()
            || self.opts.tables.iter().any(|p| glob(p, table) || glob(p, &format!("{schema}.{table}")))
    }

    fn collect(&mut self) {
        let snapshot = &self.catalog.snapshot;
        for t in &snapshot.tables {
            if !self.selected(&t.schema, &t.name) {
                continue;
            }
            if t.columns.is_empty() {
                self.notes.push(format!(
                    "{}: has no columns; left out (an exo type needs a field)",
                    display_table(&t.schema, &t.name)
                ));
                continue;
            }
            let (kind, pk) = match &t.primary_key {
                Some(k) => (Kind::Table, k.columns.clone()),
                None => (Kind::NoKey, Vec::new()),
            };
            self.entities.push(Entity {
                schema: &t.schema,
                table: &t.name,
                kind,
                deletable: true,
                columns: &t.columns,
                source: Some(t),
                pk,
                type_name: String::new(),
                plural: String::new(),
                plural_annotation: None,
                table_annotation: false,
                fields: Vec::new(),
                comments: Vec::new(),
                doc: None,
            });
        }
        for v in &self.catalog.views {
            if !self.selected(&v.schema, &v.name) || v.columns.is_empty() {
                continue;
            }
            self.entities.push(Entity {
                schema: &v.schema,
                table: &v.name,
                kind: Kind::View(v.kind.describe()),
                deletable: v.deletable,
                columns: &v.columns,
                source: None,
                pk: Vec::new(),
                type_name: String::new(),
                plural: String::new(),
                plural_annotation: None,
                table_annotation: false,
                fields: Vec::new(),
                comments: Vec::new(),
                doc: None,
            });
        }
    }

    fn note(&mut self, e: Option<usize>, text: String) {
        let whole = match e {
            Some(e) => format!("{}: {text}", display_table(self.entities[e].schema, self.entities[e].table)),
            None => text.clone(),
        };
        self.notes.push(whole);
        if let Some(e) = e {
            self.entities[e].comments.push(text);
        }
    }

    fn name_enums(&mut self) {
        for en in &self.catalog.snapshot.enums {
            let base = type_ident(&en.name);
            let values_ok = en.values.iter().all(|v| is_ident(v) && !RESERVED_ENUM_VALUES.contains(&v.as_str()))
                && !en.values.is_empty();
            let name_ok = snake_case(&base) == en.name;
            let mut decl =
                EnumDecl { schema: en.schema.clone(), pg_name: en.name.clone(), name: None, values: en.values.clone() };
            if values_ok && name_ok && !RESERVED_TYPES.contains(&base.as_str()) && !self.taken_types.contains(&base) {
                self.taken_types.insert(base.clone());
                decl.name = Some(base);
            } else {
                let why = if !values_ok {
                    "a value is not a GraphQL name"
                } else if !name_ok {
                    "exo names enum types snake_case(Name), which cannot give this name"
                } else {
                    "its name is taken"
                };
                self.notes.push(format!(
                    "enum {}: not declared ({why}); its columns are read and written as `String` with `@dbtype`",
                    display_table(&en.schema, &en.name)
                ));
            }
            self.enums.push(decl);
        }
    }

    fn name_types(&mut self) {
        // Tables in `public` name their types first: the other schemas' take a prefix on a clash.
        let mut order: Vec<usize> = (0..self.entities.len()).collect();
        order.sort_by_key(|&e| self.entities[e].schema != "public");
        for e in order {
            let (schema, table) = (self.entities[e].schema, self.entities[e].table);
            let (mut name, mut plural_annotation, mut table_annotation) = type_name_for(table);
            let mut plural = plural_annotation.clone().unwrap_or_else(|| pluralize(&name));
            let clashes = |g: &Self, name: &str, plural: &str| {
                RESERVED_TYPES.contains(&name)
                    || g.taken_types.contains(name)
                    || g.root_fields.contains(&lower_camel(name))
                    || g.root_fields.contains(&lower_camel(plural))
                    || lower_camel(name) == lower_camel(plural)
            };
            if clashes(self, &name, &plural) {
                let prefix = if schema == "public" { String::new() } else { type_ident(schema) };
                let base = format!("{prefix}{name}");
                let mut candidate = base.clone();
                let mut i = 1;
                while clashes(self, &candidate, &pluralize(&candidate)) || candidate == name {
                    i += 1;
                    candidate = format!("{base}{i}");
                }
                name = candidate;
                plural_annotation = None;
                plural = pluralize(&name);
                table_annotation = snake_case(&plural) != table;
            }
            self.taken_types.insert(name.clone());
            self.root_fields.insert(lower_camel(&name));
            self.root_fields.insert(lower_camel(&plural));
            let ent = &mut self.entities[e];
            ent.type_name = name;
            ent.plural = plural;
            ent.plural_annotation = plural_annotation;
            ent.table_annotation = table_annotation;
        }
    }

    fn entity_index(&self, schema: &str, table: &str) -> Option<usize> {
        self.entities.iter().position(|e| e.schema == schema && e.table == table && e.source.is_some())
    }

    /// Scalars and many-to-one relations: the fields that hold the table's columns.
    fn own_fields(&mut self, e: usize) {
        self.entities[e].doc = self.comment(e, None);
        let ent = &self.entities[e];
        let (schema, table) = (ent.schema, ent.table);
        match ent.kind {
            Kind::NoKey => self.note(
                Some(e),
                "has no primary key, so exo cannot manage it: imported as an unmanaged type with read-only columns (rows can still be deleted by filter)"
                    .into(),
            ),
            Kind::View(what) => {
                let writes = if ent.deletable {
                    "(rows can be deleted through it)"
                } else {
                    "and no mutations (Postgres cannot write to it)"
                };
                self.entities[e]
                    .comments
                    .push(format!("a {what}: imported as an unmanaged type with read-only columns {writes}"));
            }
            Kind::Table => {}
        }
        let managed = self.entities[e].managed();
        let pk = self.entities[e].pk.clone();

        // Foreign keys that can be relations: to an imported table's whole primary key. A table
        // without a key has them too, as read-only relations.
        let mut usable: Vec<(usize, usize)> = Vec::new();
        if let Some(t) = self.entities[e].source {
            for (i, fk) in t.foreign_keys.iter().enumerate() {
                let target = self.entity_index(&fk.ref_schema, &fk.ref_table);
                let ok = target.is_some_and(|ti| {
                    let tk = &self.entities[ti];
                    tk.managed()
                        && tk.pk.len() == fk.ref_columns.len()
                        && tk.pk.iter().all(|c| fk.ref_columns.contains(c))
                });
                match target {
                    Some(ti) if ok => usable.push((i, ti)),
                    _ => {
                        let why = if target.is_none() {
                            "the referenced table is not imported"
                        } else {
                            "it does not reference the primary key of a managed table"
                        };
                        self.note(
                            Some(e),
                            format!(
                                "foreign key {} ({}) references {} ({}): kept as plain columns ({why})",
                                fk.name,
                                fk.columns.join(", "),
                                display_table(&fk.ref_schema, &fk.ref_table),
                                fk.ref_columns.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        let fks = self.entities[e].source.map(|t| &t.foreign_keys[..]).unwrap_or(&[]);
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (i, _) in &usable {
            for c in &fks[*i].columns {
                *uses.entry(c.as_str()).or_default() += 1;
            }
        }
        // A relation is part of the key when all its columns are key columns of its own.
        let pk_relation = |i: usize| fks[i].columns.iter().all(|c| pk.contains(c) && uses.get(c.as_str()) == Some(&1));
        let in_pk_relation =
            |c: &str| usable.iter().any(|(i, _)| pk_relation(*i) && fks[*i].columns.iter().any(|x| x == c));
        let generated: HashMap<&str, Option<&str>> = self
            .catalog
            .generated
            .iter()
            .filter(|g| g.schema == schema && g.table == table)
            .map(|g| (g.column.as_str(), g.expression.as_deref()))
            .collect();

        let updated = self.update_trigger_columns(e);

        let columns = self.entities[e].columns;
        for (pos, col) in columns.iter().enumerate() {
            let c = col.name.as_str();
            let n = uses.get(c).copied().unwrap_or(0);
            let scalar = n == 0 || n >= 2 || (pk.contains(&col.name) && !in_pk_relation(c));
            if !scalar {
                continue;
            }
            let mut field = self.scalar(e, col, generated.get(c).copied());
            if updated.contains(c) && field.default.is_some() {
                field.annotations.push("@update".into());
                field.readonly = false;
            }
            if let Some(k) = pk.iter().position(|p| p == c) {
                field.pk = true;
                field.order = (0, k);
                // An `autoIncrement()` key is never written by exo already (nor in creation
                // inputs): `@readonly` would add nothing to a `GENERATED ALWAYS` identity key.
                field.readonly &= field.default.is_none();
            } else {
                field.order = (1, pos);
            }
            if !managed {
                // exo writes no column of a relation it does not manage: the database (a view's
                // query) computes them, or exo has no key to name a row by. With every field
                // read-only the type has no creation or update input, so no create or update.
                field.default = None;
                field.readonly = true;
                field.annotations.retain(|a| a != "@update");
            }
            let name = self.entities[e].free_name(&field.name, "Value");
            if name != field.name {
                field.name = name;
            }
            if snake_case(&field.name) != col.name {
                field.annotations.insert(0, format!("@column({})", exo_string(&col.name)));
            }
            self.entities[e].fields.push(field);
        }

        // Relations, named after their column (`user_id` -> `user`) or their target.
        for (i, target) in usable {
            let fk = &fks[i];
            // `customer_id` -> `customer`, `product_sku` (to `sku`) -> `product`.
            let base = match (fk.columns.as_slice(), fk.ref_columns.as_slice()) {
                ([c], [k]) => {
                    let stem = [format!("_{k}"), "_id".to_string()]
                        .iter()
                        .find_map(|s| c.strip_suffix(s.as_str()).filter(|st| !st.is_empty()).map(str::to_string));
                    field_ident(stem.as_deref().unwrap_or(c))
                }
                // `owner_first`, `owner_last` -> `owner`; (`tenant_id`, `payer_account_no`) to
                // (`id`, `account_no`), with `tenant_id` shared, -> `payer`; else the target's name.
                (cols, refs) => {
                    let stems: Vec<&str> = cols
                        .iter()
                        .zip(refs)
                        .filter(|(c, _)| uses.get(c.as_str()).copied().unwrap_or(0) < 2 && !pk.contains(c))
                        .map(|(c, k)| c.strip_suffix(k.as_str()).and_then(|s| s.strip_suffix('_')).unwrap_or(""))
                        .collect();
                    match common_word_prefix(cols) {
                        Some(prefix) => field_ident(&prefix),
                        None if !stems.is_empty() && !stems[0].is_empty() && stems.iter().all(|s| *s == stems[0]) => {
                            field_ident(stems[0])
                        }
                        None => lower_camel(&self.entities[target].type_name),
                    }
                }
            };
            let name = self.entities[e].free_name(&base, "Ref");
            let optional = fk.columns.iter().any(|c| columns.iter().find(|x| &x.name == c).is_none_or(|x| x.nullable));
            let first = fk.columns.iter().filter_map(|c| columns.iter().position(|x| &x.name == c)).min().unwrap_or(0);
            let is_pk = pk_relation(i);
            let order = if is_pk {
                (0, fk.columns.iter().filter_map(|c| pk.iter().position(|p| p == c)).min().unwrap_or(0))
            } else {
                (1, first)
            };
            let ty = self.entities[target].type_name.clone();
            self.entities[e].fields.push(Field {
                name,
                ty,
                optional,
                annotations: Vec::new(),
                default: None,
                readonly: !managed,
                comments: Vec::new(),
                doc: None,
                kind: FieldKind::Relation { fk: i, target, columns: fk.columns.clone() },
                pk: is_pk,
                order,
                unique: Vec::new(),
                index: Vec::new(),
            });
        }
        self.entities[e].fields.sort_by_key(|f| f.order);
    }

    /// Columns that exo's own `BEFORE UPDATE` trigger (`exograph_on_update_<table>`, written for
    /// `@update` fields) sets to their default; other triggers are noted and left to Postgres.
    fn update_trigger_columns(&mut self, e: usize) -> HashSet<String> {
        let mut out = HashSet::new();
        let Some(t) = self.entities[e].source else {
            return out;
        };
        for tr in &t.triggers {
            let ours = tr.name == format!("exograph_on_update_{}", t.name)
                && tr.function_name == format!("exograph_update_{}", t.name)
                && tr.before_update_each_row;
            let mut sets: Vec<(String, String)> = Vec::new();
            if ours {
                for line in tr.function_body.lines().map(str::trim) {
                    let Some(rest) = line.strip_prefix("NEW.") else {
                        continue;
                    };
                    let Some((col, value)) = rest.split_once(" = ") else {
                        continue;
                    };
                    let col = col.trim_matches('"').replace("\"\"", "\"");
                    sets.push((col, value.trim_end_matches(';').to_string()));
                }
            }
            let matches_defaults = !sets.is_empty()
                && sets.iter().all(|(col, value)| {
                    t.column(col)
                        .and_then(|c| c.default.as_ref())
                        .is_some_and(|d| normalize_default(d) == normalize_default(value))
                });
            if ours && matches_defaults {
                out.extend(sets.into_iter().map(|(c, _)| c));
            } else {
                self.note(
                    Some(e),
                    format!("trigger {} is not expressed (Postgres keeps running it; exo leaves it alone)", tr.name),
                );
            }
        }
        out
    }

    /// The key columns of entity `e` as the compiler computes them for a foreign key to it.
    fn key_cols(&self, e: usize, depth: usize) -> Option<Vec<KeyCol>> {
        if depth > 8 {
            return None;
        }
        let ent = &self.entities[e];
        let mut out = Vec::new();
        for f in ent.fields.iter().filter(|f| f.pk) {
            match &f.kind {
                FieldKind::Scalar { column } => {
                    out.push(KeyCol { map_key: f.name.clone(), suffix: snake_case(&f.name), column: column.clone() })
                }
                FieldKind::Relation { fk, target, .. } => {
                    let keys = self.key_cols(*target, depth + 1)?;
                    let names = self.fk_columns_in_key_order(e, *fk, &keys)?;
                    let single = keys.len() == 1;
                    for name in names {
                        out.push(KeyCol {
                            map_key: if single { f.name.clone() } else { name.clone() },
                            suffix: name.clone(),
                            column: name,
                        });
                    }
                }
                FieldKind::Back => {}
            }
        }
        Some(out)
    }

    /// The referencing columns of foreign key `fk` of entity `e`, ordered like the target's key.
    fn fk_columns_in_key_order(&self, e: usize, fk: usize, keys: &[KeyCol]) -> Option<Vec<String>> {
        let fk = &self.entities[e].source?.foreign_keys[fk];
        keys.iter()
            .map(|k| {
                let i = fk.ref_columns.iter().position(|r| *r == k.column)?;
                Some(fk.columns[i].clone())
            })
            .collect()
    }

    /// `@column` / `@column(mapping = ...)` for relations whose columns differ from the default.
    fn relation_columns(&mut self, e: usize) {
        for fi in 0..self.entities[e].fields.len() {
            let FieldKind::Relation { fk, target, .. } = self.entities[e].fields[fi].kind.clone() else {
                continue;
            };
            let name = self.entities[e].fields[fi].name.clone();
            let keys = self.key_cols(target, 0);
            let cols = keys.as_ref().and_then(|k| self.fk_columns_in_key_order(e, fk, k));
            let (Some(keys), Some(cols)) = (keys, cols.filter(|c| !c.is_empty())) else {
                self.note(Some(e), format!("relation `{name}`: the referenced key could not be matched"));
                continue;
            };
            let base = snake_case(&name);
            let annotation = if keys.len() == 1 {
                (cols[0] != format!("{base}_id")).then(|| format!("@column({})", exo_string(&cols[0])))
            } else {
                let mapping: Vec<String> = keys
                    .iter()
                    .zip(&cols)
                    .filter(|(k, c)| **c != format!("{base}_{}", k.suffix))
                    .map(|(k, c)| format!("{}: {}", k.map_key, exo_string(c)))
                    .collect();
                (!mapping.is_empty()).then(|| format!("@column(mapping = {{{}}})", mapping.join(", ")))
            };
            if let Some(a) = annotation {
                self.entities[e].fields[fi].annotations.insert(0, a);
            }
            let source = self.entities[e].source.expect("relations come from tables");
            let fk_name = &source.foreign_keys[fk].name;
            let expected = format!("{}_{}_fkey", self.entities[e].table, cols[0]);
            // `schema verify` leaves an unmanaged table's constraints alone.
            if *fk_name != expected && self.entities[e].managed() {
                self.notes.push(format!(
                    "{}: foreign key {fk_name} is named {expected} by exo (`schema verify` reports the rename)",
                    display_table(self.entities[e].schema, self.entities[e].table)
                ));
            }
        }
    }

    /// One field on the referenced side of every relation.
    fn back_references(&mut self) {
        for e in 0..self.entities.len() {
            self.relation_columns(e);
        }
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        for (e, ent) in self.entities.iter().enumerate() {
            for (fi, f) in ent.fields.iter().enumerate() {
                if let FieldKind::Relation { target, .. } = f.kind {
                    pairs.push((e, fi, target));
                }
            }
        }
        for &(e, fi, target) in &pairs {
            let count = pairs.iter().filter(|(a, _, t)| *a == e && *t == target).count();
            let ent = &self.entities[e];
            let field = &ent.fields[fi];
            let cols = field.columns();
            let one_to_one =
                ent.source.is_some_and(|t| t.unique_constraints.iter().any(|u| same_set(&u.columns, &cols)))
                    && !field.pk;
            let explicit = count > 1 || e == target || one_to_one;
            let (ty, base) = if one_to_one {
                (format!("{}?", ent.type_name), lower_camel(&ent.type_name))
            } else {
                (format!("Set<{}>?", ent.type_name), lower_camel(&ent.plural))
            };
            let base = if count > 1 || e == target { format!("{}{}", field.name, upper_camel(&base)) } else { base };
            let relation = format!("@relation({})", exo_string(&field.name));
            let t = &self.entities[target];
            // A collection also takes `<name>Agg` in the GraphQL type.
            let mut name = t.free_name(&base, "Of");
            let mut i = 1;
            while !one_to_one && t.has_field(&format!("{name}Agg")) {
                i += 1;
                name = t.free_name(&format!("{base}{i}"), "Of");
            }
            let (ty, optional) = match ty.strip_suffix('?') {
                Some(t) => (t.to_string(), true),
                None => (ty, false),
            };
            self.entities[target].fields.push(Field {
                name,
                ty,
                optional,
                annotations: if explicit { vec![relation] } else { vec![] },
                default: None,
                readonly: false,
                comments: Vec::new(),
                doc: None,
                kind: FieldKind::Back,
                pk: false,
                order: (2, 0),
                unique: Vec::new(),
                index: Vec::new(),
            });
        }
    }

    /// `@unique` and `@index` on the fields holding each constraint's columns.
    fn constraints(&mut self, e: usize) {
        let Some(t) = self.entities[e].source else {
            return;
        };
        if !self.entities[e].managed() {
            return;
        }
        let table = self.entities[e].table;
        // One-to-one relations get `<table>_<first column>_key` from the compiler.
        let one_to_one_auto: Vec<Vec<String>> = self.entities[e]
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Relation { .. }) && !f.pk)
            .map(|f| f.columns())
            .filter(|cols| t.unique_constraints.iter().any(|u| same_set(&u.columns, cols)))
            .collect();
        for u in &t.unique_constraints {
            if let Some(cols) = one_to_one_auto.iter().find(|c| same_set(c, &u.columns)) {
                if u.name == format!("{table}_{}_key", cols[0]) && *cols == u.columns {
                    continue;
                }
            }
            let Some(fields) = self.covering_fields(e, &u.columns) else {
                self.note(
                    Some(e),
                    format!(
                        "unique constraint {} ({}) is not expressed: its columns are not whole fields",
                        u.name,
                        u.columns.join(", ")
                    ),
                );
                continue;
            };
            let group = u
                .name
                .strip_prefix(&format!("{table}_"))
                .and_then(|m| m.strip_suffix("_key"))
                .filter(|m| !m.is_empty() && snake_case(m) == *m)
                .map(str::to_string);
            let group = match group {
                Some(g) => g,
                None => {
                    let g = u.columns.join("_");
                    self.note(
                        Some(e),
                        format!(
                            "unique constraint {} is named {table}_{g}_key by exo (`schema verify` reports the rename)",
                            u.name
                        ),
                    );
                    g
                }
            };
            let model_order: Vec<String> = fields.iter().flat_map(|f| self.entities[e].fields[*f].columns()).collect();
            if model_order != u.columns {
                self.note(
                    Some(e),
                    format!("unique constraint {}: exo orders its columns as ({})", u.name, model_order.join(", ")),
                );
            }
            for f in fields {
                self.entities[e].fields[f].unique.push(group.clone());
            }
        }
        for ix in &t.indexes {
            if !ix.plain {
                self.note(
                    Some(e),
                    format!(
                        "index {} is not expressed (exo writes plain btree indexes only): {}",
                        ix.name, ix.definition
                    ),
                );
                continue;
            }
            let Some(fields) = self.covering_fields(e, &ix.columns) else {
                self.note(
                    Some(e),
                    format!(
                        "index {} ({}) is not expressed: its columns are not whole fields",
                        ix.name,
                        ix.columns.join(", ")
                    ),
                );
                continue;
            };
            let model_order: Vec<String> = fields.iter().flat_map(|f| self.entities[e].fields[*f].columns()).collect();
            if model_order != ix.columns {
                self.note(
                    Some(e),
                    format!("index {}: exo orders its columns as ({})", ix.name, model_order.join(", ")),
                );
            }
            let bare = fields.len() == 1 && ix.name == format!("{table}_{}_idx", ix.columns.join("_"));
            for f in fields {
                self.entities[e].fields[f].index.push((ix.name.clone(), bare));
            }
        }
        let checks: Vec<String> = self
            .catalog
            .checks
            .iter()
            .filter(|c| c.schema == self.entities[e].schema && c.table == table)
            .map(|c| {
                format!("check constraint {} is not expressed (Postgres still enforces it): {}", c.name, c.definition)
            })
            .collect();
        for c in checks {
            self.note(Some(e), c);
        }
    }

    /// The fields (in declaration order) that hold exactly `columns`, if there are such.
    fn covering_fields(&self, e: usize, columns: &[String]) -> Option<Vec<usize>> {
        let ent = &self.entities[e];
        let mut out: Vec<usize> = Vec::new();
        for c in columns {
            let f = ent.scalar_field(c).or_else(|| {
                ent.fields.iter().position(|f| {
                    matches!(&f.kind, FieldKind::Relation { columns: rc, .. } if rc.contains(c) && rc.iter().all(|x| columns.contains(x)))
                })
            })?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out.sort();
        Some(out)
    }

    /// The field for `col`; `generated` is `Some` for a column only the database writes, with
    /// the expression of a stored generated column (`None` inside for a `GENERATED ALWAYS`
    /// identity).
    fn scalar(&mut self, e: usize, col: &ColumnSnapshot, generated: Option<Option<&str>>) -> Field {
        let name = field_ident(&col.name);
        let mut comments = Vec::new();
        let mapped = map_type(&col.ty, &self.enums);
        let mut annotations = mapped.hints.clone();
        if let Some(db) = &mapped.dbtype {
            annotations.push(format!("@dbtype({})", exo_string(db)));
            if mapped.unknown {
                self.note(
                    Some(e),
                    format!(
                        "column {}: type {} has no exo type; read and written as a `String` through `@dbtype`",
                        col.name, col.ty
                    ),
                );
            }
        }
        let mut default = None;
        // Postgres refuses values for these columns in INSERT and UPDATE.
        let readonly = generated.is_some();
        if let Some(Some(expr)) = generated {
            // No default: the database computes the value (a `@readonly` field needs none).
            comments.push(format!("generated by Postgres: {expr}"));
        } else if col.serial {
            default = Some("autoIncrement()".into());
        } else if let Some(d) = &col.default {
            match default_value(d, &mapped, self.entities[e].schema) {
                Some(v) => default = Some(v),
                None => {
                    let text =
                        format!("column {}: default {d} is not expressed; give the value when creating rows", col.name);
                    comments.push(format!("default in the database: {d} (not expressed)"));
                    self.notes
                        .push(format!("{}: {text}", display_table(self.entities[e].schema, self.entities[e].table)));
                }
            }
        }
        Field {
            name,
            ty: mapped.ty,
            optional: col.nullable,
            annotations,
            default,
            readonly,
            comments,
            doc: self.comment(e, Some(&col.name)),
            kind: FieldKind::Scalar { column: col.name.clone() },
            pk: false,
            order: (1, 0),
            unique: Vec::new(),
            index: Vec::new(),
        }
    }

    /// The `COMMENT ON` text of entity `e` (`column: None`) or of one of its columns.
    fn comment(&self, e: usize, column: Option<&str>) -> Option<String> {
        let ent = &self.entities[e];
        self.catalog
            .comments
            .iter()
            .find(|c| c.schema == ent.schema && c.table == ent.table && c.column.as_deref() == column)
            .map(|c| c.text.clone())
    }

    fn emit(mut self) -> Imported {
        let mut out = String::new();
        let mut schemas: Vec<&str> = self
            .entities
            .iter()
            .map(|e| e.schema)
            .chain(self.enums.iter().filter(|e| e.name.is_some()).map(|e| e.schema.as_str()))
            .collect();
        schemas.sort();
        schemas.dedup();
        if schemas.is_empty() {
            self.notes.push("no tables or views found to import".into());
        }
        let what = if self.opts.fragments { "Fragments" } else { "A model" };
        out.push_str(&format!("// {what} imported from the database by `exo schema import`.\n"));
        if !self.opts.fragments {
            out.push_str("// Review the access rules before serving it.\n");
        }
        let mut module_names: HashSet<String> = HashSet::new();
        let mut types = Vec::new();
        for schema in schemas {
            let mut module =
                if schema == "public" { "Database".to_string() } else { format!("{}Database", type_ident(schema)) };
            while module_names.contains(&module) || self.taken_types.contains(&module) {
                module.push('_');
            }
            module_names.insert(module.clone());
            out.push('\n');
            if schema == "public" {
                out.push_str("@postgres\n");
            } else {
                out.push_str(&format!("@postgres(schema = {})\n", exo_string(schema)));
            }
            out.push_str(&format!("module {module} {{\n"));
            let mut first = true;
            for en in self.enums.iter().filter(|en| en.schema == schema) {
                let Some(name) = &en.name else { continue };
                if !first {
                    out.push('\n');
                }
                first = false;
                out.push_str(&format!("  enum {name} {{\n"));
                for v in &en.values {
                    out.push_str(&format!("    {v}\n"));
                }
                out.push_str("  }\n");
            }
            for ent in self.entities.iter().filter(|e| e.schema == schema) {
                if !first {
                    out.push('\n');
                }
                first = false;
                types.push(format!("{} -> {}", display_table(ent.schema, ent.table), ent.type_name));
                self.emit_entity(ent, &mut out);
            }
            out.push_str("}\n");
        }
        Imported { text: out, notes: self.notes, types }
    }

    fn emit_entity(&self, ent: &Entity<'_>, out: &mut String) {
        for c in &ent.comments {
            out.push_str(&format!("  // {}\n", one_line(c)));
        }
        push_doc(out, "  ", ent.doc.as_deref());
        let mut header: Vec<String> = Vec::new();
        if !self.opts.fragments {
            let q = self.opts.query_access.trim();
            // Postgres refuses every write to a view it cannot delete from (a type with only
            // read-only columns and no key offers nothing but `delete<Plural>`).
            let m = if ent.deletable { self.opts.mutation_access.trim() } else { "false" };
            if q == m {
                header.push(format!("@access({q})"));
            } else {
                header.push(format!("@access(query = {q}, mutation = {m})"));
            }
        }
        if let Some(p) = &ent.plural_annotation {
            header.push(format!("@plural({})", exo_string(p)));
        }
        match (ent.table_annotation, ent.managed()) {
            (false, true) => {}
            (true, true) => header.push(format!("@table({})", exo_string(ent.table))),
            (true, false) => header.push(format!("@table(name = {}, managed = false)", exo_string(ent.table))),
            (false, false) => header.push("@table(managed = false)".into()),
        }
        if self.opts.fragments {
            let annots = if header.is_empty() { String::new() } else { format!("{} ", header.join(" ")) };
            out.push_str(&format!(
                "  // Use it as: {annots}type {} {{ ...{}Fragment }}\n",
                ent.type_name, ent.type_name
            ));
            out.push_str(&format!("  fragment {}Fragment {{\n", ent.type_name));
        } else {
            for h in &header {
                out.push_str(&format!("  {h}\n"));
            }
            out.push_str(&format!("  type {} {{\n", ent.type_name));
        }
        for f in &ent.fields {
            for c in &f.comments {
                out.push_str(&format!("    // {}\n", one_line(c)));
            }
            push_doc(out, "    ", f.doc.as_deref());
            let mut line = String::from("    ");
            if f.pk {
                line.push_str("@pk ");
            }
            if f.readonly {
                line.push_str("@readonly ");
            }
            for a in &f.annotations {
                line.push_str(a);
                line.push(' ');
            }
            if let [only] = f.unique.as_slice() {
                if snake_case(&f.name) == *only {
                    line.push_str("@unique ");
                } else {
                    line.push_str(&format!("@unique({}) ", exo_string(only)));
                }
            } else if !f.unique.is_empty() {
                let names: Vec<String> = f.unique.iter().map(|g| exo_string(g)).collect();
                line.push_str(&format!("@unique({}) ", names.join(", ")));
            }
            if let [(_, true)] = f.index.as_slice() {
                line.push_str("@index ");
            } else if !f.index.is_empty() {
                let names: Vec<String> = f.index.iter().map(|(n, _)| exo_string(n)).collect();
                line.push_str(&format!("@index({}) ", names.join(", ")));
            }
            line.push_str(&f.name);
            line.push_str(": ");
            line.push_str(&f.ty);
            if f.optional {
                line.push('?');
            }
            if let Some(d) = &f.default {
                line.push_str(" = ");
                line.push_str(d);
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("  }\n");
    }
}

/// The exo type of a column type, with its hints.
#[derive(Debug, Clone)]
struct Mapped {
    ty: String,
    hints: Vec<String>,
    dbtype: Option<String>,
    /// No exo type: a `String` through `@dbtype`.
    unknown: bool,
    scalar: &'static str,
    /// The enum's exo name and values, for enum defaults.
    enum_name: Option<(String, Vec<String>)>,
}

fn map_type(ty: &str, enums: &[EnumDecl]) -> Mapped {
    if let Some(inner) = ty.strip_suffix("[]") {
        let m = map_type(inner, enums);
        return Mapped {
            ty: format!("Array<{}>", m.ty),
            dbtype: m.dbtype.map(|_| ty.to_string()),
            hints: m.hints,
            unknown: m.unknown,
            scalar: "Array",
            enum_name: None,
        };
    }
    let simple = |t: &'static str, hints: &[&str]| Mapped {
        ty: t.into(),
        hints: hints.iter().map(|h| h.to_string()).collect(),
        dbtype: None,
        unknown: false,
        scalar: t,
        enum_name: None,
    };
    let raw = |t: &'static str, unknown: bool| Mapped {
        ty: t.into(),
        hints: vec![],
        dbtype: Some(ty.to_string()),
        unknown,
        scalar: t,
        enum_name: None,
    };
    let args = |name: &str| -> Option<Vec<u32>> {
        let rest = ty.strip_prefix(name)?;
        if rest.is_empty() {
            return Some(vec![]);
        }
        rest.strip_prefix('(')?.strip_suffix(')')?.split(',').map(|a| a.trim().parse().ok()).collect()
    };
    if ty.starts_with('"') {
        if let Some((schema, name)) = split_qualified(ty) {
            if let Some(en) = enums.iter().find(|en| en.schema == schema && en.pg_name == name) {
                if let Some(n) = &en.name {
                    let mut m = simple("String", &[]);
                    m.ty = n.clone();
                    m.scalar = "Enum";
                    m.enum_name = Some((n.clone(), en.values.clone()));
                    return m;
                }
                return raw("String", false);
            }
        }
        return raw("String", true);
    }
    match ty {
        "SMALLINT" => return simple("Int", &["@bits16"]),
        "INT" => return simple("Int", &[]),
        "BIGINT" => return simple("Int", &["@bits64"]),
        "REAL" => return simple("Float", &[]),
        "DOUBLE PRECISION" => return simple("Float", &["@doublePrecision"]),
        "TEXT" => return simple("String", &[]),
        "BOOLEAN" => return simple("Boolean", &[]),
        "DATE" => return simple("LocalDate", &[]),
        "TIME" => return simple("LocalTime", &[]),
        "JSONB" => return simple("Json", &[]),
        "JSON" => return raw("Json", false),
        "BYTEA" => return simple("Blob", &[]),
        "UUID" => return simple("Uuid", &[]),
        _ => {}
    }
    if let Some(a) = args("NUMERIC") {
        let hints: Vec<String> = match a.as_slice() {
            [] => vec![],
            [p] => vec![format!("@precision({p})")],
            [p, s] => vec![format!("@precision({p})"), format!("@scale({s})")],
            _ => return raw("Decimal", false),
        };
        let mut m = simple("Decimal", &[]);
        m.hints = hints;
        return m;
    }
    if let Some(a) = args("VARCHAR") {
        if let [n] = a.as_slice() {
            let mut m = simple("String", &[]);
            m.hints = vec![format!("@maxLength({n})")];
            return m;
        }
        return raw("String", false);
    }
    for (name, scalar) in [("TIMESTAMPTZ", "Instant"), ("TIMESTAMP", "LocalDateTime")] {
        if let Some(a) = args(name) {
            let mut m = simple(scalar, &[]);
            if let [p] = a.as_slice() {
                m.hints = vec![format!("@precision({p})")];
            }
            return m;
        }
    }
    if args("TIME").is_some() {
        return raw("LocalTime", false);
    }
    if args("CHAR").is_some() {
        return raw("String", false);
    }
    raw("String", true)
}

/// The `.exo` default for a column default, when the language has one that gives it back.
fn default_value(expr: &str, m: &Mapped, table_schema: &str) -> Option<String> {
    if let Some(seq) = expr.strip_prefix("nextval('").and_then(|r| r.strip_suffix("')")) {
        if m.scalar != "Int" {
            return None;
        }
        let (schema, name) = split_qualified(&seq.replace("''", "'"))?;
        if name.contains('.') || schema.contains('.') {
            return None;
        }
        let arg = if schema == table_schema { name } else { format!("{schema}.{name}") };
        return Some(format!("autoIncrement({})", exo_string(&arg)));
    }
    let norm = normalize_default(expr);
    match (norm.as_str(), m.scalar) {
        ("now()", "Instant")
        | ("current_date", "LocalDate")
        | ("localtimestamp", "LocalDateTime")
        | ("current_time", "LocalTime") => return Some("now()".into()),
        ("gen_random_uuid()", "Uuid") => return Some("generate_uuid()".into()),
        ("uuid_generate_v4()", "Uuid") => return Some("uuidGenerateV4()".into()),
        ("uuidv7()", "Uuid") => return Some("uuidGenerateV7()".into()),
        _ => {}
    }
    if m.dbtype.is_some() && m.scalar != "Json" {
        return None;
    }
    // A literal: normalize_default gives `'text'` (quotes kept) or a canonical number.
    let literal = if norm.starts_with('\'') && norm.ends_with('\'') && norm.len() >= 2 {
        Some(norm[1..norm.len() - 1].replace("''", "'"))
    } else {
        None
    };
    match m.scalar {
        "Int" => {
            let v = literal.as_deref().unwrap_or(&norm);
            v.parse::<i64>().ok().map(|n| n.to_string())
        }
        "Float" => {
            let v = literal.as_deref().unwrap_or(&norm);
            let f: f64 = v.parse().ok()?;
            f.is_finite().then(|| if v.contains('.') { v.to_string() } else { format!("{v}.0") })
        }
        "Boolean" => match norm.as_str() {
            "true" | "'t'" | "'true'" => Some("true".into()),
            "false" | "'f'" | "'false'" => Some("false".into()),
            _ => None,
        },
        "Decimal" => {
            let v = literal.unwrap_or(norm);
            v.parse::<f64>().ok().map(|_| exo_string(&v))
        }
        "Enum" => {
            let v = literal?;
            let (_, values) = m.enum_name.as_ref()?;
            values.contains(&v).then_some(v)
        }
        "String" | "LocalDate" | "LocalTime" | "LocalDateTime" | "Instant" | "Uuid" | "Json" => {
            literal.map(|v| exo_string(&v))
        }
        _ => None,
    }
}

/// The words (`_`-separated) all of `names` start with, if any: `owner_first`, `owner_last` ->
/// `owner`.
fn common_word_prefix(names: &[String]) -> Option<String> {
    let first = names.first()?;
    let mut end = 0;
    for (i, c) in first.char_indices() {
        if c == '_' && names.iter().all(|n| n.len() > i && n.as_bytes()[..=i] == first.as_bytes()[..=i]) {
            end = i;
        }
    }
    (end > 0).then(|| first[..end].to_string())
}

/// `"schema"."name"` (quotes optional) -> (schema, name).
fn split_qualified(s: &str) -> Option<(String, String)> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        match chars.next() {
            Some('.') | None => {}
            Some(_) => return None,
        }
    }
    match parts.as_slice() {
        [schema, name] => Some((schema.clone(), name.clone())),
        [name] => Some(("public".into(), name.clone())),
        _ => None,
    }
}

/// A type name for `table`: (name, `@plural` value, whether `@table` is needed).
fn type_name_for(table: &str) -> (String, Option<String>, bool) {
    let base = type_ident(table);
    let candidates = singular_candidates(&base);
    if let Some(c) = candidates.iter().chain(std::iter::once(&base)).find(|c| snake_case(&pluralize(c)) == table) {
        return (c.clone(), None, false);
    }
    // A plural the rules do not produce (`Data` -> `Datums`?): keep it with `@plural`.
    if snake_case(&base) == table {
        if let Some(c) = candidates.iter().find(|c| lower_camel(c) != lower_camel(&base)) {
            return (c.clone(), Some(base), false);
        }
    }
    let name = candidates.first().cloned().unwrap_or(base);
    (name, None, true)
}

/// Words ending in `ie` whose plural would otherwise read as `-y` (`movies` -> `movie`).
const IE_WORDS: &[&str] = &[
    "movie", "cookie", "zombie", "calorie", "rookie", "pie", "tie", "lie", "selfie", "hoodie", "brownie", "genie",
    "prairie", "goalie", "smoothie", "freebie", "newbie", "sortie", "species",
];

/// Singular forms `pluralize` might have made `plural` from, most likely first; the caller
/// takes the first that `pluralize` turns back into `plural`.
fn singular_candidates(plural: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = plural.to_lowercase();
    // A table named in the singular (`status`, `address`, `analysis`) is not stripped.
    if ["ss", "us", "is"].iter().any(|e| lower.ends_with(e)) {
        return out;
    }
    for (s, p) in IRREGULAR {
        if lower.ends_with(p) {
            let head = &plural[..plural.len() - p.len()];
            let word = &plural[plural.len() - p.len()..];
            let s = if word.starts_with(char::is_uppercase) { upper_camel(s) } else { s.to_string() };
            out.push(format!("{head}{s}"));
        }
    }
    let strip = |n: usize| plural[..plural.len() - n].to_string();
    if lower.ends_with("ies") && !IE_WORDS.iter().any(|w| lower.ends_with(&format!("{w}s"))) {
        out.push(format!("{}y", strip(3)));
    }
    // `addresses`, `boxes`, `matches`, `statuses` lose `es`; `houses`, `notes` only `s`.
    let before_uses = lower.strip_suffix("uses").and_then(|h| h.chars().last());
    if ["sses", "xes", "zes", "ches", "shes"].iter().any(|e| lower.ends_with(e))
        || before_uses.is_some_and(|c| !"aeiou".contains(c))
    {
        out.push(strip(2));
    }
    if lower.ends_with("yses") {
        out.push(format!("{}is", strip(2)));
    }
    if lower.ends_with('s') {
        out.push(strip(1));
    }
    out.retain(|c| is_ident(c) && c.starts_with(|ch: char| ch.is_ascii_alphabetic()));
    out
}

/// An UpperCamel identifier from any SQL name (`order_items` -> `OrderItems`).
fn type_ident(name: &str) -> String {
    let words = sanitize(name);
    let camel = upper_camel(&words);
    if camel.is_empty() {
        "Table".into()
    } else if camel.starts_with(|c: char| c.is_ascii_digit()) {
        format!("T{camel}")
    } else {
        camel
    }
}

/// A lowerCamel identifier from any SQL name (`first_name` -> `firstName`).
fn field_ident(name: &str) -> String {
    let words = sanitize(name);
    let camel = lower_camel(&upper_camel(&words));
    if camel.is_empty() {
        "column".into()
    } else if camel.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c{camel}")
    } else {
        camel
    }
}

/// Every character outside `[A-Za-z0-9_]` as `_`, and words in capitals in lower case (`VIN`
/// -> `vin`, so it becomes `vin`/`Vin` rather than `vIN`).
fn sanitize(name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    clean
        .split('_')
        .map(|w| if w.chars().any(|c| c.is_ascii_lowercase()) { w.to_string() } else { w.to_ascii_lowercase() })
        .collect::<Vec<_>>()
        .join("_")
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A string literal of the `.exo` language.
fn exo_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `COMMENT ON` text as `///` doc-comment lines (GraphQL descriptions).
fn push_doc(out: &mut String, indent: &str, doc: Option<&str>) {
    for line in doc.into_iter().flat_map(str::lines) {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str(&format!("{indent}///\n"));
        } else {
            out.push_str(&format!("{indent}/// {line}\n"));
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn display_table(schema: &str, table: &str) -> String {
    format!("{schema}.{table}")
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// `*` matches any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_pg_schema::{
        diff, CheckSnapshot, CommentSnapshot, EnumSnapshot, ForeignKeySnapshot, GeneratedColumn, IndexSnapshot,
        KeySnapshot, SequenceSnapshot, Snapshot, TriggerSnapshot, ViewKind, ViewSnapshot,
    };

    fn col(name: &str, ty: &str, nullable: bool) -> ColumnSnapshot {
        ColumnSnapshot { name: name.into(), ty: ty.into(), serial: false, nullable, default: None }
    }

    fn serial(name: &str, ty: &str) -> ColumnSnapshot {
        ColumnSnapshot { serial: true, ..col(name, ty, false) }
    }

    fn with_default(mut c: ColumnSnapshot, d: &str) -> ColumnSnapshot {
        c.default = Some(d.into());
        c
    }

    fn key(name: &str, cols: &[&str]) -> KeySnapshot {
        KeySnapshot { name: name.into(), columns: cols.iter().map(|c| c.to_string()).collect() }
    }

    fn fk(name: &str, cols: &[&str], schema: &str, table: &str, refs: &[&str]) -> ForeignKeySnapshot {
        ForeignKeySnapshot {
            name: name.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            ref_schema: schema.into(),
            ref_table: table.into(),
            ref_columns: refs.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn table(schema: &str, name: &str, columns: Vec<ColumnSnapshot>, pk: &[&str]) -> TableSnapshot {
        TableSnapshot {
            schema: schema.into(),
            name: name.into(),
            columns,
            primary_key: (!pk.is_empty()).then(|| key(&format!("{name}_pkey"), pk)),
            unique_constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            triggers: vec![],
        }
    }

    fn index(table: &str, name: &str, cols: &[&str]) -> IndexSnapshot {
        let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
        IndexSnapshot {
            name: name.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            plain: true,
            definition: format!("CREATE INDEX \"{name}\" ON \"{table}\" ({})", list.join(", ")),
        }
    }

    /// A catalog shaped like what `read_catalog` returns for a small shop.
    fn shop() -> Catalog {
        let mut users = table(
            "public",
            "users",
            vec![
                serial("id", "INT"),
                col("email", "VARCHAR(100)", false),
                col("full_name", "TEXT", false),
                with_default(col("role", "\"public\".\"user_role\"", false), "'MEMBER'::user_role"),
                with_default(col("created_at", "TIMESTAMPTZ(3)", false), "now()"),
                with_default(col("updated_at", "TIMESTAMPTZ", false), "now()"),
                col("not", "TEXT", true),
            ],
            &["id"],
        );
        users.unique_constraints = vec![key("users_email_key", &["email"])];
        users.triggers = vec![TriggerSnapshot {
            name: "exograph_on_update_users".into(),
            function_schema: "public".into(),
            function_name: "exograph_update_users".into(),
            function_body: "\nBEGIN\n    NEW.\"updated_at\" = now();\n    RETURN NEW;\nEND;\n".into(),
            before_update_each_row: true,
        }];
        let mut posts = table(
            "public",
            "posts",
            vec![
                serial("id", "BIGINT"),
                col("author_id", "INT", false),
                col("editor_id", "INT", true),
                col("title", "TEXT", false),
                col("tags", "TEXT[]", true),
                col("body", "JSONB", true),
                with_default(col("score", "DOUBLE PRECISION", false), "0"),
                with_default(col("price", "NUMERIC(10, 2)", false), "9.99"),
                with_default(col("public_id", "UUID", false), "gen_random_uuid()"),
                col("address", "INET", true),
                with_default(col("expires", "DATE", true), "(CURRENT_DATE + 7)"),
                col("title_length", "INT", true),
            ],
            &["id"],
        );
        posts.foreign_keys = vec![
            fk("posts_author_id_fkey", &["author_id"], "public", "users", &["id"]),
            fk("posts_editor_id_fkey", &["editor_id"], "public", "users", &["id"]),
        ];
        posts.indexes = vec![
            index("posts", "posts_title_idx", &["title"]),
            index("posts", "by_author_title", &["author_id", "title"]),
        ];
        let mut profiles = table(
            "public",
            "profiles",
            vec![serial("id", "INT"), col("user_id", "INT", false), col("bio", "TEXT", true)],
            &["id"],
        );
        profiles.unique_constraints = vec![key("profiles_user_id_key", &["user_id"])];
        profiles.foreign_keys = vec![fk("profiles_user_id_fkey", &["user_id"], "public", "users", &["id"])];
        let mut categories = table(
            "public",
            "categories",
            vec![
                serial("id", "SMALLINT"),
                col("name", "TEXT", false),
                col("parent_id", "SMALLINT", true),
                serial("position", "INT"),
            ],
            &["id"],
        );
        categories.foreign_keys =
            vec![fk("categories_parent_id_fkey", &["parent_id"], "public", "categories", &["id"])];
        let people = table(
            "shop",
            "people",
            vec![
                col("first_name", "TEXT", false),
                col("last_name", "TEXT", false),
                with_default(col("n", "INT", false), "nextval('\"shop\".\"counter\"')"),
            ],
            &["first_name", "last_name"],
        );
        let mut cars = table(
            "shop",
            "Cars",
            vec![
                col("VIN", "TEXT", false),
                col("owner_first", "TEXT", false),
                col("owner_last", "TEXT", false),
                col("status", "\"shop\".\"bad enum\"", true),
            ],
            &["VIN"],
        );
        cars.foreign_keys = vec![fk(
            "Cars_owner_first_fkey",
            &["owner_first", "owner_last"],
            "shop",
            "people",
            &["first_name", "last_name"],
        )];
        let mut lines = table(
            "shop",
            "order_lines",
            vec![col("post_id", "BIGINT", false), col("line_no", "SMALLINT", false), col("quantity", "INT", false)],
            &["post_id", "line_no"],
        );
        lines.foreign_keys = vec![fk("order_lines_post_id_fkey", &["post_id"], "public", "posts", &["id"])];
        let strings = table("public", "strings", vec![serial("id", "INT")], &["id"]);
        let mut log = table(
            "public",
            "log",
            vec![col("at", "TIMESTAMPTZ", false), col("line", "TEXT", false), col("user_id", "INT", true)],
            &[],
        );
        log.foreign_keys = vec![fk("log_by_user", &["user_id"], "public", "users", &["id"])];
        Catalog {
            snapshot: Snapshot {
                extensions: vec![],
                schemas: vec!["shop".into()],
                enums: vec![
                    EnumSnapshot {
                        schema: "public".into(),
                        name: "user_role".into(),
                        values: vec!["MEMBER".into(), "ADMIN".into()],
                    },
                    EnumSnapshot { schema: "shop".into(), name: "bad enum".into(), values: vec!["in stock".into()] },
                ],
                sequences: vec![SequenceSnapshot { schema: "shop".into(), name: "counter".into() }],
                tables: vec![categories, log, posts, profiles, strings, users, cars, lines, people],
            },
            views: vec![ViewSnapshot {
                schema: "public".into(),
                name: "post_counts".into(),
                kind: ViewKind::View,
                columns: vec![col("user_id", "INT", true), col("posts", "BIGINT", true)],
                deletable: false,
            }],
            checks: vec![CheckSnapshot {
                schema: "public".into(),
                table: "posts".into(),
                name: "posts_score_check".into(),
                definition: "CHECK ((score >= (0)::double precision))".into(),
            }],
            generated: vec![
                GeneratedColumn {
                    schema: "public".into(),
                    table: "categories".into(),
                    column: "position".into(),
                    expression: None,
                },
                GeneratedColumn {
                    schema: "public".into(),
                    table: "posts".into(),
                    column: "title_length".into(),
                    expression: Some("length(title)".into()),
                },
                GeneratedColumn {
                    schema: "public".into(),
                    table: "profiles".into(),
                    column: "id".into(),
                    expression: None,
                },
            ],
            comments: vec![
                CommentSnapshot {
                    schema: "public".into(),
                    table: "users".into(),
                    column: None,
                    text: "People.\n\nThey sign in.".into(),
                },
                CommentSnapshot {
                    schema: "public".into(),
                    table: "users".into(),
                    column: Some("email".into()),
                    text: "Unique.".into(),
                },
            ],
        }
    }

    fn opts() -> Options {
        Options { query_access: "true".into(), mutation_access: "true".into(), ..Options::default() }
    }

    /// The generated model compiles, and the tables it describes are the catalog's:
    /// `schema verify`'s comparison finds only what the notes say the model cannot hold (an
    /// enum whose values are not GraphQL names, a default that is an expression).
    #[test]
    fn the_model_compiles_and_describes_the_catalog() {
        let catalog = shop();
        let imported = generate(&catalog, &opts());
        let compiled = exo_compiler::compile_str("index.exo", &imported.text);
        let errors: Vec<&str> = compiled.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert!(!compiled.has_errors(), "{errors:?}\n{}", imported.text);
        let ir = compiled.ir.expect("an IR");
        let differences: Vec<String> = diff(&ir.database, &catalog.snapshot).into_iter().map(|d| d.message).collect();
        assert_eq!(
            differences,
            [
                "extra enum \"shop\".\"bad enum\"",
                "table \"posts\": column \"expires\": expected no default, found default (CURRENT_DATE + 7)"
            ],
            "{}",
            imported.text
        );
    }

    #[test]
    fn names_types_fields_and_relations() {
        let imported = generate(&shop(), &opts());
        let text = &imported.text;
        for expected in [
            "@postgres(schema = \"shop\")\nmodule ShopDatabase {",
            "  enum UserRole {\n    MEMBER\n    ADMIN\n  }",
            "  /// People.\n  ///\n  /// They sign in.\n  @access(true)\n  type User {",
            "    /// Unique.\n    @maxLength(100) @unique email: String",
            "    @maxLength(100) @unique email: String",
            "    role: UserRole = MEMBER",
            "    @precision(3) createdAt: Instant = now()",
            "    @update updatedAt: Instant = now()",
            "    @column(\"not\") notValue: String?",
            "    @relation(\"author\") authorPosts: Set<Post>?",
            "    @relation(\"editor\") editorPosts: Set<Post>?",
            "    @relation(\"user\") profile: Profile?",
            "    @pk @bits64 id: Int = autoIncrement()",
            "    @index(\"by_author_title\") author: User",
            "    editor: User?",
            "    @index(\"posts_title_idx\", \"by_author_title\") title: String",
            "    tags: Array<String>?",
            "    @doublePrecision score: Float = 0.0",
            "    @precision(10) @scale(2) price: Decimal = \"9.99\"",
            "    publicId: Uuid = generate_uuid()",
            "    @dbtype(\"INET\") address: String?",
            "    parent: Category?",
            "    @relation(\"parent\") parentCategories: Set<Category>?",
            "    n: Int = autoIncrement(\"counter\")",
            "  @table(\"Cars\")\n  type Car {",
            "    @pk @column(\"VIN\") vin: String",
            "    @dbtype(\"\\\"shop\\\".\\\"bad enum\\\"\") status: String?",
            "    @column(mapping = {firstName: \"owner_first\", lastName: \"owner_last\"}) owner: Person",
            "  @table(\"strings\")\n  type String2 {",
            "  @access(query = true, mutation = false)\n  @table(managed = false)\n  type PostCount {",
            "    @readonly userId: Int?\n    @readonly @bits64 posts: Int?\n",
            "  @access(true)\n  @table(name = \"log\", managed = false)\n  type Log {\n    @readonly at: Instant\n",
            "    @readonly user: User?\n  }",
            "    logs: Set<Log>?\n",
            "    // generated by Postgres: length(title)\n    @readonly titleLength: Int?\n",
            "    @readonly position: Int = autoIncrement()\n",
            "  type Profile {\n    @pk id: Int = autoIncrement()\n",
            "    @pk post: Post\n    @pk @bits16 lineNo: Int",
            "    // default in the database: (CURRENT_DATE + 7) (not expressed)\n    expires: LocalDate?",
            "  // check constraint posts_score_check is not expressed",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!imported.notes.iter().any(|n| n.contains("log_by_user")), "{:#?}", imported.notes);
        for note in [
            "public.log: has no primary key",
            "public.posts: check constraint posts_score_check",
            "public.posts: column expires: default (CURRENT_DATE + 7) is not expressed",
            "public.posts: column address: type INET has no exo type",
            "enum shop.bad enum: not declared (a value is not a GraphQL name)",
        ] {
            assert!(
                imported.notes.iter().any(|n| n.starts_with(note)),
                "missing note {note:?} in {:#?}",
                imported.notes
            );
        }
    }

    /// Read-only columns leave an unmanaged type no creation or update input: a view Postgres
    /// cannot write to has no mutations at all, a table without a key only `delete<Plural>`.
    /// A generated column is in no input; a `GENERATED ALWAYS` identity key is in the update
    /// input as every key is, and out of the creation input as every `autoIncrement()` key is.
    #[test]
    fn read_only_columns_leave_only_the_mutations_postgres_can_run() {
        let imported = generate(&shop(), &opts());
        let ir = exo_compiler::compile_str("index.exo", &imported.text).ir.expect("an IR");
        let mutations: Vec<&str> = ir.graphql.mutations.iter().map(|m| m.name.as_str()).collect();
        assert!(!mutations.iter().any(|m| m.contains("PostCount")), "{mutations:?}");
        let log: Vec<&str> = mutations.iter().copied().filter(|m| m.ends_with("Log") || m.ends_with("Logs")).collect();
        assert_eq!(log, ["deleteLogs"]);
        let inputs = |name: &str| -> Vec<String> {
            match ir.graphql.type_by_name(name).map(|t| &t.kind) {
                Some(exo_ir::graphql::TypeKind::InputObject { fields }) => {
                    fields.iter().map(|f| f.name.clone()).collect()
                }
                other => panic!("{name}: {other:?}"),
            }
        };
        for input in ["PostCreationInput", "PostUpdateInput"] {
            assert!(!inputs(input).contains(&"titleLength".to_string()), "{input}");
        }
        for input in ["CategoryCreationInput", "CategoryUpdateInput"] {
            assert!(!inputs(input).contains(&"position".to_string()), "{input}");
        }
        assert!(!inputs("ProfileCreationInput").contains(&"id".to_string()));
        assert!(inputs("ProfileUpdateInput").contains(&"id".to_string()));
        assert!(ir.graphql.type_by_name("PostCountCreationInput").is_none());
    }

    #[test]
    fn fragments_have_no_access_and_say_how_to_use_them() {
        let imported = generate(&shop(), &Options { fragments: true, ..Options::default() });
        assert!(
            imported
                .text
                .contains("  // Use it as: @table(\"Cars\") type Car { ...CarFragment }\n  fragment CarFragment {"),
            "{}",
            imported.text
        );
        assert!(!imported.text.contains("@access"));
    }

    #[test]
    fn access_defaults_to_false_and_tables_filter() {
        let imported = generate(&shop(), &Options { tables: vec!["shop.*".into()], ..Options::default() });
        assert!(imported.text.contains("  @access(false)\n  type Person {"), "{}", imported.text);
        assert_eq!(imported.types, ["shop.Cars -> Car", "shop.order_lines -> OrderLine", "shop.people -> Person"]);
        // `order_lines` refers to `posts`, which was left out.
        assert!(imported.text.contains("@pk @bits64 postId: Int"), "{}", imported.text);
    }

    /// Tables of one name in two schemas, and one whose name is taken: every type gets its own
    /// name (the schema's as a prefix), and every table still maps back.
    #[test]
    fn colliding_names_get_prefixes() {
        let mut auth_users = table("auth", "users", vec![serial("id", "INT"), col("user_id", "INT", true)], &["id"]);
        auth_users.foreign_keys = vec![fk("users_user_id_fkey", &["user_id"], "public", "users", &["id"])];
        let catalog = Catalog {
            snapshot: Snapshot {
                schemas: vec!["auth".into()],
                tables: vec![
                    auth_users,
                    table("public", "users", vec![serial("id", "INT")], &["id"]),
                    table("public", "auth_users", vec![serial("id", "INT")], &["id"]),
                ],
                ..Snapshot::default()
            },
            ..Catalog::default()
        };
        let imported = generate(&catalog, &opts());
        assert_eq!(
            imported.types,
            ["auth.users -> AuthUser2", "public.users -> User", "public.auth_users -> AuthUser"]
        );
        let compiled = exo_compiler::compile_str("index.exo", &imported.text);
        assert!(
            !compiled.has_errors(),
            "{:?}\n{}",
            compiled.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>(),
            imported.text
        );
        let ir = compiled.ir.expect("an IR");
        assert!(diff(&ir.database, &catalog.snapshot).is_empty(), "{}", imported.text);
    }

    /// A collection's `<name>Agg` field must not meet a column's field.
    #[test]
    fn collection_names_leave_room_for_their_aggregate() {
        let mut posts = table("public", "posts", vec![serial("id", "INT"), col("user_id", "INT", false)], &["id"]);
        posts.foreign_keys = vec![fk("posts_user_id_fkey", &["user_id"], "public", "users", &["id"])];
        let users = table("public", "users", vec![serial("id", "INT"), col("posts_agg", "INT", true)], &["id"]);
        let catalog =
            Catalog { snapshot: Snapshot { tables: vec![posts, users], ..Snapshot::default() }, ..Catalog::default() };
        let imported = generate(&catalog, &opts());
        assert!(imported.text.contains("    postsAgg: Int?\n    posts2: Set<Post>?\n"), "{}", imported.text);
        assert!(!exo_compiler::compile_str("index.exo", &imported.text).has_errors(), "{}", imported.text);
    }

    #[test]
    fn a_table_without_columns_is_left_out_and_said_so() {
        let catalog = Catalog {
            snapshot: Snapshot { tables: vec![table("public", "empty", vec![], &[])], ..Snapshot::default() },
            ..Catalog::default()
        };
        let imported = generate(&catalog, &opts());
        assert!(imported.types.is_empty());
        assert_eq!(
            imported.notes,
            [
                "public.empty: has no columns; left out (an exo type needs a field)",
                "no tables or views found to import"
            ]
        );
        assert!(!exo_compiler::compile_str("index.exo", &imported.text).has_errors());
    }

    #[test]
    fn type_names_map_back_to_their_tables() {
        let cases = [
            ("todos", ("Todo", None, false)),
            ("categories", ("Category", None, false)),
            ("addresses", ("Address", None, false)),
            ("statuses", ("Status", None, false)),
            ("houses", ("House", None, false)),
            ("movies", ("Movie", None, false)),
            ("analyses", ("Analysis", None, false)),
            ("people", ("Person", None, false)),
            ("sales_people", ("SalesPerson", None, false)),
            ("order_items", ("OrderItem", None, false)),
            ("staff", ("Staff", None, true)),
            ("status", ("Status", None, true)),
            ("address", ("Address", None, true)),
            ("persons", ("Person", Some("Persons"), false)),
            ("wolfs", ("Wolf", Some("Wolfs"), false)),
            ("Orders", ("Order", None, true)),
            ("2020_sales", ("T2020Sale", None, true)),
        ];
        for (table, (name, plural, annotated)) in cases {
            let got = type_name_for(table);
            assert_eq!(got, (name.to_string(), plural.map(str::to_string), annotated), "{table}");
        }
    }

    #[test]
    fn field_names() {
        assert_eq!(field_ident("first_name"), "firstName");
        assert_eq!(field_ident("Display Name"), "displayName");
        assert_eq!(field_ident("2fa"), "c2fa");
        assert_eq!(field_ident("userID"), "userID");
        assert_eq!(field_ident("VIN"), "vin");
        assert_eq!(type_ident("HTTP_LOG"), "HttpLog");
        assert_eq!(common_word_prefix(&["owner_first".into(), "owner_last_name".into()]).as_deref(), Some("owner"));
        assert_eq!(common_word_prefix(&["order_id".into(), "line_no".into()]), None);
    }

    #[test]
    fn defaults() {
        let m = |ty: &str| map_type(ty, &[]);
        assert_eq!(default_value("'abc'::text", &m("TEXT"), "public").as_deref(), Some("\"abc\""));
        assert_eq!(default_value("'it''s \"x\"'::text", &m("TEXT"), "public").as_deref(), Some("\"it's \\\"x\\\"\""));
        assert_eq!(default_value("'-1'::integer", &m("INT"), "public").as_deref(), Some("-1"));
        assert_eq!(default_value("1.5", &m("REAL"), "public").as_deref(), Some("1.5"));
        assert_eq!(default_value("false", &m("BOOLEAN"), "public").as_deref(), Some("false"));
        assert_eq!(default_value("CURRENT_TIMESTAMP", &m("TIMESTAMPTZ"), "public").as_deref(), Some("now()"));
        assert_eq!(default_value("LOCALTIMESTAMP", &m("TIMESTAMP"), "public").as_deref(), Some("now()"));
        assert_eq!(default_value("'{}'::jsonb", &m("JSONB"), "public").as_deref(), Some("\"{}\""));
        assert_eq!(default_value("uuid_generate_v4()", &m("UUID"), "public").as_deref(), Some("uuidGenerateV4()"));
        assert_eq!(default_value("nextval('\"a\".\"s\"')", &m("INT"), "b").as_deref(), Some("autoIncrement(\"a.s\")"));
        assert_eq!(default_value("(now() + '1 day'::interval)", &m("TIMESTAMPTZ"), "public"), None);
        assert_eq!(default_value("'{}'::text[]", &m("TEXT[]"), "public"), None);
    }

    #[test]
    fn column_types() {
        let m = |ty: &str| {
            let m = map_type(ty, &[]);
            (m.ty, m.hints.join(" "), m.dbtype)
        };
        assert_eq!(m("SMALLINT"), ("Int".into(), "@bits16".into(), None));
        assert_eq!(m("NUMERIC(10)"), ("Decimal".into(), "@precision(10)".into(), None));
        assert_eq!(m("NUMERIC"), ("Decimal".into(), "".into(), None));
        assert_eq!(m("TIMESTAMP(6)"), ("LocalDateTime".into(), "@precision(6)".into(), None));
        assert_eq!(m("VARCHAR(5)[]"), ("Array<String>".into(), "@maxLength(5)".into(), None));
        assert_eq!(m("TIME(3)"), ("LocalTime".into(), "".into(), Some("TIME(3)".into())));
        assert_eq!(m("CHAR(2)"), ("String".into(), "".into(), Some("CHAR(2)".into())));
        assert_eq!(m("JSON"), ("Json".into(), "".into(), Some("JSON".into())));
        assert_eq!(m("INTERVAL[]"), ("Array<String>".into(), "".into(), Some("INTERVAL[]".into())));
    }

    #[test]
    fn globs() {
        assert!(glob("sales.*", "sales.orders"));
        assert!(glob("order?", "orders"));
        assert!(!glob("order?", "order_lines"));
        assert!(glob("*lines", "order_lines"));
    }
}
