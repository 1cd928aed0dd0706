//! Lowering: a typechecked [`Model`] in, an [`Ir`] out (everything but `ir.graphql`).
//!
//! This is where the physical schema is decided: table and column names, column types from
//! type hints, foreign-key columns, constraints and indexes, column defaults, and the SQL
//! pieces each column needs at run time ([`ColumnSql`]). Entity `i` always lowers to table
//! `i`.
//!
//! Naming rules (beyond notes §1.11):
//! - many-to-one columns: `snake(field)_id` when the target has one key column, else
//!   `snake(field)_<suffix>` per key column, where the suffix is `snake(pk field)` for a
//!   scalar key field and the target's column name for a relation key field; `@column("c")`
//!   and `@column(mapping = {pkField: "c"})` override them;
//! - two fields mapping to one column name share the column (shared FK/pk columns); their
//!   types must agree;
//! - unique constraint `n`: `<table>_<snake(n)>_key`; a bare `@unique` is named after its
//!   field; the lookup is `UpperCamel(n)`;
//! - a one-to-one foreign key also gets a unique constraint `<table>_<first column>_key`
//!   (unless the pk or another constraint already covers exactly those columns), without a
//!   lookup;
//! - a bare `@index`: `<table>_<columns joined by _>_idx`; a named index keeps its name;
//! - foreign key: `<table>_<first column>_fkey`.
//!
//! Lowering assumes the model typechecked without errors; it still never panics on a
//! model with errors, and reports the few problems only visible here (column conflicts,
//! duplicate table names).

use std::collections::{HashMap, HashSet};

use exo_ir::{
    self as ir, quote_literal, Column, ColumnDefault, ColumnId, ColumnSql, ColumnType, EntitySql, FieldDefault,
    FieldId, FieldKind, ForeignKey, Index, Ir, ScalarType, Table, UniqueConstraint, UniqueLookup, Validation,
    ValueType,
};

use crate::diag::Diagnostic;
use crate::names::{snake_case, upper_camel};
use crate::typecheck::{EntityDef, FieldDef, FieldType, Model};

/// One column of an entity's primary key, as seen by a foreign key pointing at it.
#[derive(Debug, Clone)]
struct KeyCol {
    /// Used to name the referencing column (`<field>_<suffix>`).
    suffix: String,
    /// The name a `@column(mapping = {...})` key uses for it.
    map_key: String,
    ty: ColumnType,
}

struct Lowerer<'m, 'a> {
    model: &'m Model<'a>,
    diags: Vec<Diagnostic>,
    /// Memoised key columns per entity; `None` while being computed (cycle guard).
    keys: Vec<Option<Option<Vec<KeyCol>>>>,
    sequences: Vec<ir::Sequence>,
    extensions: Vec<String>,
    /// Per column of the table being built: the scalar field that owns it, if any.
    scalar_owner: HashMap<ColumnId, String>,
}

pub fn lower(model: &Model<'_>) -> (Ir, Vec<Diagnostic>) {
    let mut l = Lowerer {
        model,
        diags: Vec::new(),
        keys: vec![None; model.entities.len()],
        sequences: Vec::new(),
        extensions: Vec::new(),
        scalar_owner: HashMap::new(),
    };
    let ir = l.run();
    (ir, l.diags)
}

/// The columns a field occupies in its table.
#[derive(Debug, Clone, Default)]
struct FieldCols {
    cols: Vec<ColumnId>,
}

impl<'m, 'a> Lowerer<'m, 'a> {
    fn run(&mut self) -> Ir {
        let model = self.model;
        let enums = model.enums.clone();
        let pg_enums = model
            .enums
            .iter()
            .map(|e| ir::PgEnum { schema: e.pg_schema.clone(), name: e.pg_name.clone(), values: e.variants.clone() })
            .collect();

        // Pass 1: tables and columns.
        let mut tables = Vec::with_capacity(model.entities.len());
        let mut field_cols: Vec<Vec<FieldCols>> = Vec::with_capacity(model.entities.len());
        let mut seen_tables: HashMap<(String, String), usize> = HashMap::new();
        for (e, ent) in model.entities.iter().enumerate() {
            let key = (ent.table.schema.clone(), ent.table.name.clone());
            if let Some(&prev) = seen_tables.get(&key) {
                let other = &model.entities[prev];
                self.diags.push(
                    Diagnostic::error(
                        "exo::duplicate_table",
                        format!(
                            "types `{}` and `{}` both use the table `{}`",
                            other.name,
                            ent.name,
                            display_table(&key.0, &key.1)
                        ),
                    )
                    .with_primary(ent.decl.name.span, "second type")
                    .with_secondary(other.decl.name.span, "first type")
                    .with_help("give one of them another table with `@table(\"name\")` or `@plural(\"...\")`"),
                );
            } else {
                seen_tables.insert(key, e);
            }
            let (table, cols) = self.table(e);
            tables.push(table);
            field_cols.push(cols);
        }

        // Pass 2: entities, foreign keys and constraints.
        let mut entities = Vec::with_capacity(model.entities.len());
        for (e, ent) in model.entities.iter().enumerate() {
            let mut fields = Vec::with_capacity(ent.fields.len());
            for (i, f) in ent.fields.iter().enumerate() {
                let cols = &field_cols[e][i].cols;
                let kind = match &f.ty {
                    FieldType::Value(vt) => {
                        let column = cols.first().copied().unwrap_or(0);
                        let sql = tables[e]
                            .columns
                            .get(column as usize)
                            .map_or_else(|| column_sql(&ColumnType::Text), |c: &Column| column_sql(&c.ty));
                        FieldKind::Column { ty: vt.clone(), column, sql }
                    }
                    FieldType::ManyToOne { target, inverse, one_to_one } => {
                        let target_columns =
                            tables.get(*target as usize).map_or_else(Vec::new, |t: &Table| t.primary_key.clone());
                        FieldKind::ManyToOne {
                            target: *target,
                            columns: cols.clone(),
                            target_columns,
                            inverse: *inverse,
                            one_to_one: *one_to_one,
                        }
                    }
                    FieldType::OneToMany { target, inverse, one_to_one } => {
                        FieldKind::OneToMany { target: *target, inverse: *inverse, one_to_one: *one_to_one }
                    }
                    // Only reachable with errors already reported.
                    _ => FieldKind::Column {
                        ty: ValueType::Scalar(ScalarType::String),
                        column: 0,
                        sql: column_sql(&ColumnType::Text),
                    },
                };
                fields.push(ir::Field {
                    name: f.name.clone(),
                    doc: f.doc.clone(),
                    kind,
                    optional: f.optional,
                    default: f.default.clone(),
                    readonly: f.hints.readonly
                        || f.hints.update
                        || (f.hints.pk && matches!(f.default, Some(FieldDefault::AutoIncrement { .. }))),
                    update_sync: f.hints.update,
                    access: f.access.clone(),
                    validation: validation(f),
                });
            }
            let pk: Vec<FieldId> =
                ent.fields.iter().enumerate().filter(|(_, f)| f.hints.pk).map(|(i, _)| i as FieldId).collect();
            let (lookups, uniques) = unique_constraints(ent, &field_cols[e], &tables[e]);
            let indexes = indexes(ent, &field_cols[e], &tables[e]);
            let mut fks = Vec::new();
            let mut one_to_one_uniques = Vec::new();
            for (i, f) in ent.fields.iter().enumerate() {
                if let FieldType::ManyToOne { target, one_to_one, .. } = f.ty {
                    let cols = field_cols[e][i].cols.clone();
                    let Some(first) = cols.first().and_then(|c| tables[e].columns.get(*c as usize)) else { continue };
                    let first = first.name.clone();
                    let ref_columns = tables.get(target as usize).map_or_else(Vec::new, |t| t.primary_key.clone());
                    fks.push(ForeignKey {
                        name: format!("{}_{first}_fkey", tables[e].name),
                        columns: cols.clone(),
                        ref_table: target,
                        ref_columns,
                    });
                    if one_to_one
                        && cols != tables[e].primary_key
                        && !uniques.iter().any(|u: &UniqueConstraint| u.columns == cols)
                    {
                        one_to_one_uniques
                            .push(UniqueConstraint { name: format!("{}_{first}_key", tables[e].name), columns: cols });
                    }
                }
            }
            let t = &mut tables[e];
            t.unique_constraints = uniques;
            t.unique_constraints.extend(one_to_one_uniques);
            t.indexes = indexes;
            t.foreign_keys = fks;
            entities.push(ir::Entity {
                name: ent.name.clone(),
                plural: ent.plural.clone(),
                doc: ent.doc.clone(),
                table: e as u32,
                fields,
                pk,
                unique_lookups: lookups,
                access: ent.access.clone(),
                sql: EntitySql { table: ir::qualified_name(&t.schema, &t.name), alias: t.name.clone() },
            });
        }

        // Index and constraint names share one namespace per Postgres schema.
        let mut relation_names: HashMap<(&str, &str), usize> = HashMap::new();
        for (e, t) in tables.iter().enumerate() {
            let names =
                t.indexes.iter().map(|i| i.name.as_str()).chain(t.unique_constraints.iter().map(|u| u.name.as_str()));
            for name in names {
                match relation_names.get(&(t.schema.as_str(), name)) {
                    Some(&prev) => {
                        let ent = &model.entities[e];
                        let mut d = Diagnostic::error(
                            "exo::duplicate_index",
                            format!("the index name `{name}` is used twice in schema `{}`", t.schema),
                        )
                        .with_primary(ent.decl.name.span, format!("`{}` uses it", ent.name))
                        .with_help("index names are unique per Postgres schema; rename one `@index(\"...\")`");
                        if prev != e {
                            d = d.with_secondary(
                                model.entities[prev].decl.name.span,
                                format!("`{}` uses it too", model.entities[prev].name),
                            );
                        }
                        self.diags.push(d);
                    }
                    None => {
                        relation_names.insert((t.schema.as_str(), name), e);
                    }
                }
            }
        }

        Ir {
            description: model.description.clone(),
            contexts: model.contexts.clone(),
            enums,
            json_types: model.json_types.clone(),
            entities,
            database: ir::Database {
                tables,
                enums: pg_enums,
                sequences: std::mem::take(&mut self.sequences),
                extensions: std::mem::take(&mut self.extensions),
            },
            graphql: Default::default(),
            trusted_documents: Vec::new(),
            mcp_profiles: Vec::new(),
        }
    }

    /// The key columns of entity `e`, as a foreign key sees them.
    fn key_columns(&mut self, e: usize) -> Vec<KeyCol> {
        match &self.keys[e] {
            Some(Some(k)) => return k.clone(),
            Some(None) => return Vec::new(), // cycle; reported by the typechecker
            None => {}
        }
        self.keys[e] = Some(None);
        let model = self.model;
        let ent = &model.entities[e];
        let mut out = Vec::new();
        for f in ent.fields.iter().filter(|f| f.hints.pk) {
            match &f.ty {
                FieldType::Value(vt) => {
                    let ty = demote_serial(self.column_type(ent, f, vt));
                    out.push(KeyCol { suffix: snake_case(&f.name), map_key: f.name.clone(), ty });
                }
                FieldType::ManyToOne { target, .. } => {
                    let keys = self.key_columns(*target as usize);
                    let names = fk_names(f, &keys);
                    let single = keys.len() == 1;
                    for (k, name) in keys.into_iter().zip(names) {
                        let map_key = if single { f.name.clone() } else { name.clone() };
                        out.push(KeyCol { suffix: name, map_key, ty: k.ty });
                    }
                }
                _ => {}
            }
        }
        self.keys[e] = Some(Some(out.clone()));
        out
    }

    fn table(&mut self, e: usize) -> (Table, Vec<FieldCols>) {
        let model = self.model;
        let ent = &model.entities[e];
        let mut t = Table {
            schema: ent.table.schema.clone(),
            name: ent.table.name.clone(),
            managed: ent.table.managed,
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique_constraints: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
        };
        let mut by_name: HashMap<String, ColumnId> = HashMap::new();
        self.scalar_owner.clear();
        let mut cols = Vec::with_capacity(ent.fields.len());
        for f in &ent.fields {
            let mut fc = FieldCols::default();
            match &f.ty {
                FieldType::Value(vt) => {
                    let ty = self.column_type(ent, f, vt);
                    let ty = match (&f.default, ty) {
                        (Some(FieldDefault::AutoIncrement { sequence: None }), ColumnType::SmallInt) => {
                            ColumnType::Serial { bits: 16 }
                        }
                        (Some(FieldDefault::AutoIncrement { sequence: None }), ColumnType::BigInt) => {
                            ColumnType::Serial { bits: 64 }
                        }
                        (Some(FieldDefault::AutoIncrement { sequence: None }), ColumnType::Int) => {
                            ColumnType::Serial { bits: 32 }
                        }
                        (_, ty) => ty,
                    };
                    let default = self.column_default(f, vt, &t.schema);
                    let update_value = if f.hints.update {
                        match &default {
                            Some(ColumnDefault::Expr(x)) => Some(x.clone()),
                            _ => None,
                        }
                    } else {
                        None
                    };
                    let name = f.hints.column.clone().unwrap_or_else(|| snake_case(&f.name));
                    fc.cols.push(self.add_column(&mut t, &mut by_name, f, name, ty, f.optional, default, update_value));
                }
                FieldType::ManyToOne { target, .. } => {
                    let keys = self.key_columns(*target as usize);
                    let names = fk_names(f, &keys);
                    for (k, name) in keys.into_iter().zip(names) {
                        fc.cols.push(self.add_column(&mut t, &mut by_name, f, name, k.ty, f.optional, None, None));
                    }
                }
                _ => {}
            }
            cols.push(fc);
        }
        for (i, f) in ent.fields.iter().enumerate() {
            if f.hints.pk {
                for c in &cols[i].cols {
                    if !t.primary_key.contains(c) {
                        t.primary_key.push(*c);
                    }
                }
            }
        }
        (t, cols)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_column(
        &mut self,
        t: &mut Table,
        by_name: &mut HashMap<String, ColumnId>,
        f: &FieldDef<'_>,
        name: String,
        ty: ColumnType,
        nullable: bool,
        default: Option<ColumnDefault>,
        update_value: Option<String>,
    ) -> ColumnId {
        let scalar = matches!(f.ty, FieldType::Value(_));
        if let Some(&id) = by_name.get(&name) {
            // A foreign key may reuse a scalar column (shared key columns), but two scalar
            // fields writing one column would silently overwrite each other.
            if let (true, Some(owner)) = (scalar, self.scalar_owner.get(&id)) {
                self.diags.push(
                    Diagnostic::error(
                        "exo::column_conflict",
                        format!("fields `{owner}` and `{}` of `{}` both map to the column `{name}`", f.name, t.name),
                    )
                    .with_primary(f.ast.name.span, "second field")
                    .with_help("give one of them another column with `@column(\"...\")`"),
                );
            }
            if scalar {
                self.scalar_owner.insert(id, f.name.clone());
            }
            let existing = &mut t.columns[id as usize];
            if demote_serial(existing.ty.clone()) != demote_serial(ty.clone()) {
                self.diags.push(
                    Diagnostic::error(
                        "exo::column_conflict",
                        format!(
                            "field `{}` maps to column `{name}` of `{}`, which another field already uses with type `{}`",
                            f.name,
                            t.name,
                            existing.ty.sql()
                        ),
                    )
                    .with_primary(f.ast.name.span, format!("needs `{}`", ty.sql()))
                    .with_help("rename the column with `@column(\"...\")`; fields share a column only when their types agree"),
                );
            }
            existing.nullable &= nullable;
            if existing.default.is_none() {
                existing.default = default;
            }
            return id;
        }
        let id = t.columns.len() as ColumnId;
        if scalar {
            self.scalar_owner.insert(id, f.name.clone());
        }
        by_name.insert(name.clone(), id);
        t.columns.push(Column { name, ty, nullable, default, update_value });
        id
    }

    fn column_type(&self, _ent: &EntityDef<'_>, f: &FieldDef<'_>, vt: &ValueType) -> ColumnType {
        if let Some(raw) = &f.hints.dbtype {
            return ColumnType::Raw(raw.clone());
        }
        self.value_column_type(f, vt)
    }

    fn value_column_type(&self, f: &FieldDef<'_>, vt: &ValueType) -> ColumnType {
        let h = &f.hints;
        match vt {
            ValueType::Array(inner) => ColumnType::Array(Box::new(self.value_column_type(f, inner))),
            ValueType::JsonObject(_) => ColumnType::Jsonb,
            ValueType::Scalar(s) => match s {
                ScalarType::Int => match h.int_bits {
                    Some(16) => ColumnType::SmallInt,
                    Some(64) => ColumnType::BigInt,
                    _ => ColumnType::Int,
                },
                ScalarType::Float => {
                    if h.double_precision {
                        ColumnType::Double
                    } else {
                        ColumnType::Real
                    }
                }
                ScalarType::Decimal => ColumnType::Numeric { precision: h.precision, scale: h.scale },
                ScalarType::String => match h.max_length {
                    Some(n) => ColumnType::Varchar(n),
                    None => ColumnType::Text,
                },
                ScalarType::Boolean => ColumnType::Boolean,
                ScalarType::LocalDate => ColumnType::Date,
                ScalarType::LocalTime => ColumnType::Time,
                ScalarType::LocalDateTime => ColumnType::Timestamp { precision: h.precision },
                ScalarType::Instant => ColumnType::Timestamptz { precision: h.precision },
                ScalarType::Json => ColumnType::Jsonb,
                ScalarType::Blob => ColumnType::Bytea,
                ScalarType::Uuid => ColumnType::Uuid,
                ScalarType::Enum(id) => match self.model.enums.get(*id as usize) {
                    Some(e) => ColumnType::Enum { schema: e.pg_schema.clone(), name: e.pg_name.clone() },
                    None => ColumnType::Text,
                },
            },
        }
    }

    fn column_default(&mut self, f: &FieldDef<'_>, vt: &ValueType, table_schema: &str) -> Option<ColumnDefault> {
        let scalar = match vt {
            ValueType::Scalar(s) => *s,
            _ => return None,
        };
        Some(match f.default.as_ref()? {
            FieldDefault::AutoIncrement { sequence: None } => ColumnDefault::Serial,
            FieldDefault::AutoIncrement { sequence: Some(seq) } => {
                let (schema, name) = match seq.split_once('.') {
                    Some((s, n)) => (s.to_string(), n.to_string()),
                    None => (table_schema.to_string(), seq.clone()),
                };
                let s = ir::Sequence { schema: schema.clone(), name: name.clone() };
                if !self.sequences.contains(&s) {
                    self.sequences.push(s);
                }
                ColumnDefault::Sequence { schema, name }
            }
            FieldDefault::Now => ColumnDefault::Expr(
                match scalar {
                    ScalarType::LocalDate => "CURRENT_DATE",
                    ScalarType::LocalTime => "CURRENT_TIME",
                    ScalarType::LocalDateTime => "LOCALTIMESTAMP",
                    _ => "now()",
                }
                .into(),
            ),
            FieldDefault::GenerateUuid => ColumnDefault::Expr("gen_random_uuid()".into()),
            FieldDefault::UuidV4 => {
                if !self.extensions.iter().any(|e| e == "uuid-ossp") {
                    self.extensions.push("uuid-ossp".into());
                }
                ColumnDefault::Expr("uuid_generate_v4()".into())
            }
            FieldDefault::UuidV7 => ColumnDefault::Expr("uuidv7()".into()),
            FieldDefault::Literal(lit) => ColumnDefault::Expr(literal_sql(lit, scalar, f.hints.dbtype.is_some())?),
            FieldDefault::EnumVariant(v) => {
                let ScalarType::Enum(id) = scalar else { return None };
                let e = self.model.enums.get(id as usize)?;
                ColumnDefault::Expr(format!("{}::{}", quote_literal(v), qualified_always(&e.pg_schema, &e.pg_name)))
            }
            FieldDefault::Context { .. } => return None,
        })
    }
}

fn display_table(schema: &str, name: &str) -> String {
    if schema == "public" {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

/// SERIAL types as the plain integer a referencing column uses.
fn demote_serial(ty: ColumnType) -> ColumnType {
    match ty {
        ColumnType::Serial { bits: 16 } => ColumnType::SmallInt,
        ColumnType::Serial { bits: 64 } => ColumnType::BigInt,
        ColumnType::Serial { .. } => ColumnType::Int,
        t => t,
    }
}

/// Column names of a many-to-one field for the given target key columns.
fn fk_names(f: &FieldDef<'_>, keys: &[KeyCol]) -> Vec<String> {
    let base = snake_case(&f.name);
    let mapped = |k: &KeyCol| f.hints.column_mapping.iter().find(|(m, _)| *m == k.map_key).map(|(_, c)| c.clone());
    if keys.len() == 1 {
        let k = &keys[0];
        vec![mapped(k).or_else(|| f.hints.column.clone()).unwrap_or_else(|| format!("{base}_id"))]
    } else {
        keys.iter().map(|k| mapped(k).unwrap_or_else(|| format!("{base}_{}", k.suffix))).collect()
    }
}

fn validation(f: &FieldDef<'_>) -> Validation {
    let h = &f.hints;
    let is_int = f.ty.scalar() == Some(ScalarType::Int);
    Validation {
        max_length: h.max_length,
        min: h.range.map(|r| r.0),
        max: h.range.map(|r| r.1),
        int_bits: if is_int && h.dbtype.is_none() { Some(h.int_bits.unwrap_or(32)) } else { None },
        single_precision: f.ty.scalar() == Some(ScalarType::Float) && !h.double_precision && h.dbtype.is_none(),
    }
}

fn unique_constraints(
    ent: &EntityDef<'_>,
    cols: &[FieldCols],
    table: &Table,
) -> (Vec<UniqueLookup>, Vec<UniqueConstraint>) {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<&str, Vec<FieldId>> = HashMap::new();
    for (i, f) in ent.fields.iter().enumerate() {
        for name in &f.hints.unique {
            if !groups.contains_key(name.as_str()) {
                order.push(name.clone());
            }
            groups.entry(name.as_str()).or_default().push(i as FieldId);
        }
    }
    let mut lookups = Vec::with_capacity(order.len());
    let mut constraints = Vec::with_capacity(order.len());
    for name in &order {
        let fields = groups[name.as_str()].clone();
        let mut columns = Vec::new();
        for f in &fields {
            for c in &cols[*f as usize].cols {
                if !columns.contains(c) {
                    columns.push(*c);
                }
            }
        }
        lookups.push(UniqueLookup { name: upper_camel(name), fields });
        constraints.push(UniqueConstraint { name: format!("{}_{}_key", table.name, snake_case(name)), columns });
    }
    (lookups, constraints)
}

fn indexes(ent: &EntityDef<'_>, cols: &[FieldCols], table: &Table) -> Vec<Index> {
    let mut out: Vec<Index> = Vec::new();
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (i, f) in ent.fields.iter().enumerate() {
        let fcols = &cols[i].cols;
        for idx in &f.hints.index {
            match idx {
                None => {
                    let colnames: Vec<&str> =
                        fcols.iter().filter_map(|c| table.columns.get(*c as usize)).map(|c| c.name.as_str()).collect();
                    let name = format!("{}_{}_idx", table.name, colnames.join("_"));
                    if seen.insert(name.clone()) {
                        out.push(Index { name, columns: fcols.clone() });
                    }
                }
                Some(n) => match named.get(n) {
                    Some(&k) => {
                        for c in fcols {
                            if !out[k].columns.contains(c) {
                                out[k].columns.push(*c);
                            }
                        }
                    }
                    None => {
                        named.insert(n.clone(), out.len());
                        seen.insert(n.clone());
                        out.push(Index { name: n.clone(), columns: fcols.clone() });
                    }
                },
            }
        }
    }
    out
}

fn literal_sql(lit: &ir::Literal, scalar: ScalarType, raw: bool) -> Option<String> {
    Some(match lit {
        ir::Literal::Null => return None,
        ir::Literal::Bool(b) => b.to_string(),
        ir::Literal::Int(i) => i.to_string(),
        ir::Literal::Float(f) => {
            let s = f.to_string();
            if s.contains(['e', 'E', 'i', 'N']) {
                format!("'{s}'::float8")
            } else {
                s
            }
        }
        ir::Literal::String(s) => {
            let q = quote_literal(s);
            if raw {
                return Some(q);
            }
            match scalar {
                ScalarType::Decimal => format!("{q}::numeric"),
                ScalarType::LocalDate => format!("{q}::date"),
                ScalarType::LocalTime => format!("{q}::time"),
                ScalarType::LocalDateTime => format!("{q}::timestamp"),
                ScalarType::Instant => format!("{q}::timestamptz"),
                ScalarType::Uuid => format!("{q}::uuid"),
                ScalarType::Json => format!("{q}::jsonb"),
                ScalarType::Blob => format!("decode({q}, 'base64')"),
                _ => q,
            }
        }
    })
}

/// How to read a column into JSON and bind a text parameter to it.
pub fn column_sql(ty: &ColumnType) -> ColumnSql {
    let json = match ty {
        ColumnType::Numeric { .. } => ir::JsonOut::Text,
        ColumnType::Bytea => ir::JsonOut::Base64,
        ColumnType::Array(inner) if matches!(**inner, ColumnType::Numeric { .. }) => ir::JsonOut::TextArray,
        _ => ir::JsonOut::Plain,
    };
    let param = match ty {
        ColumnType::Bytea => ir::ParamIn::Base64,
        t => ir::ParamIn::Cast(ir::Cast::of_column(t)),
    };
    ColumnSql { json, param }
}

/// `"schema"."name"`, even for the public schema (casts must not depend on `search_path`).
fn qualified_always(schema: &str, name: &str) -> String {
    format!("{}.{}", ir::quote_ident(schema), ir::quote_ident(name))
}
