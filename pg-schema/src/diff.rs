//! Compares the model with a live database ([`diff`]) and writes the statements that bring the
//! database to the model ([`migration`]). Both come from one comparison, so every difference
//! carries exactly the statements that resolve it.

use std::collections::HashSet;

use exo_ir::{qualified_name, quote_ident, quote_literal, Database};

use crate::ddl::{self, column_definition, dependency_order, full_name};
use crate::snapshot::{
    nextval, normalize_default, pg_ident, ColumnSnapshot, EnumSnapshot, KeySnapshot, Snapshot, TableSnapshot,
    TriggerSnapshot,
};
use crate::{column_list, Statement, StatementKind as K};

/// Only triggers with this prefix belong to the model; others are the user's and left alone.
const TRIGGER_PREFIX: &str = "exograph_on_update_";

/// One way the database differs from the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// For people, e.g. `table "todos": column "title": expected type TEXT, found VARCHAR(10)`.
    pub message: String,
    /// The compiled application may fail or give wrong answers against this database.
    pub incompatible: bool,
    /// Resolving it needs a destructive statement (see [`Statement::destructive`]).
    pub destructive: bool,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The differences between the model and `actual`, in a stable order: extensions, schemas,
/// enums, sequences, then tables (referenced tables first) and extra tables.
pub fn diff(expected: &Database, actual: &Snapshot) -> Vec<Difference> {
    compare(expected, actual).into_iter().map(|c| c.difference).collect()
}

/// The statements that turn `actual` into the model, ordered so each runs after what it needs.
/// Destructive statements are always listed; unless `allow_destructive`, they are marked
/// [`Statement::withheld`] (commented out by [`crate::to_sql_script`], skipped by
/// [`crate::apply`]).
///
/// Adding a NOT NULL column without a default to a table that has rows fails in Postgres, as
/// does `SET NOT NULL` over existing nulls or a type change whose cast fails; the model then
/// needs a default or the data a fix first.
pub fn migration(expected: &Database, actual: &Snapshot, allow_destructive: bool) -> Vec<Statement> {
    let mut planned: Vec<(Phase, Statement)> =
        compare(expected, actual).into_iter().flat_map(|c| c.statements).collect();
    // Stable: within a phase, statements keep the comparison's (dependency) order.
    planned.sort_by_key(|(phase, _)| *phase);
    planned
        .into_iter()
        .map(|(_, mut s)| {
            s.withheld = s.destructive && !allow_destructive;
            s
        })
        .collect()
}

/// When a statement runs within a migration. Drops of dependants come before drops of what
/// they depend on; creations of what is depended on come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Extension,
    Schema,
    CreateEnum,
    AddEnumValue,
    RecreateEnum,
    CreateSequence,
    DropForeignKey,
    DropTrigger,
    DropConstraint,
    DropIndex,
    Rename,
    CreateTable,
    AlterColumn,
    DropColumn,
    AddConstraint,
    CreateIndex,
    AddForeignKey,
    Trigger,
    DropTable,
    DropEnum,
    DropSequence,
}

struct Change {
    difference: Difference,
    statements: Vec<(Phase, Statement)>,
}

/// Collects changes; `push` derives `destructive` from the statements.
#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn push(&mut self, message: String, incompatible: bool, statements: Vec<(Phase, Statement)>) {
        let destructive = statements.iter().any(|(_, s)| s.destructive);
        self.0.push(Change { difference: Difference { message, incompatible, destructive }, statements });
    }
}

fn compare(model: &Database, actual: &Snapshot) -> Vec<Change> {
    let expected = Snapshot::from_database(model);
    let unmanaged: HashSet<(&str, &str)> =
        model.tables.iter().filter(|t| !t.managed).map(|t| (t.schema.as_str(), t.name.as_str())).collect();
    let mut out = Changes::default();

    for e in expected.extensions.iter().filter(|e| !actual.extensions.contains(e)) {
        out.push(
            format!("missing extension {}", quote_ident(e)),
            true,
            vec![(Phase::Extension, ddl::create_extension(e))],
        );
    }
    for s in expected.schemas.iter().filter(|s| !actual.schemas.contains(s)) {
        out.push(format!("missing schema {}", quote_ident(s)), true, vec![(Phase::Schema, ddl::create_schema(s))]);
    }
    compare_enums(&expected, actual, &mut out);
    for s in &expected.sequences {
        if !actual.sequences.contains(s) {
            out.push(
                format!("missing sequence {}", ddl::full_name(&s.schema, &s.name)),
                true,
                vec![(Phase::CreateSequence, ddl::create_sequence(&s.schema, &s.name))],
            );
        }
    }
    for s in &actual.sequences {
        if !expected.sequences.contains(s) {
            out.push(
                format!("extra sequence {}", ddl::full_name(&s.schema, &s.name)),
                false,
                vec![(
                    Phase::DropSequence,
                    Statement::new_destructive(
                        K::DropSequence,
                        format!("DROP SEQUENCE {}", qualified_name(&s.schema, &s.name)),
                    ),
                )],
            );
        }
    }

    let expected_tables: Vec<&TableSnapshot> = expected.tables.iter().collect();
    for i in dependency_order(&expected_tables) {
        let e = expected_tables[i];
        match actual.table(&e.schema, &e.name) {
            Some(a) => compare_table(e, a, &unmanaged, &mut out),
            None => {
                let mut statements = vec![(Phase::CreateTable, ddl::create_table(e))];
                statements.extend(e.foreign_keys.iter().map(|fk| (Phase::AddForeignKey, ddl::add_foreign_key(e, fk))));
                statements.extend(
                    e.indexes
                        .iter()
                        .map(|ix| (Phase::CreateIndex, Statement::new(K::CreateIndex, ix.definition.clone()))),
                );
                for tr in &e.triggers {
                    statements.push((Phase::Trigger, ddl::create_function(tr)));
                    statements.push((Phase::Trigger, ddl::create_trigger(e, tr)));
                }
                out.push(format!("missing table {}", e.qualified_name()), true, statements);
            }
        }
    }

    let extra_tables: Vec<&TableSnapshot> = actual
        .tables
        .iter()
        .filter(|a| expected.table(&a.schema, &a.name).is_none())
        .filter(|a| !unmanaged.contains(&(a.schema.as_str(), a.name.as_str())))
        .collect();
    // Referencing tables are dropped before the tables they reference.
    for i in dependency_order(&extra_tables).into_iter().rev() {
        let a = extra_tables[i];
        out.push(
            format!("extra table {}", a.qualified_name()),
            false,
            vec![(
                Phase::DropTable,
                Statement::new_destructive(K::DropTable, format!("DROP TABLE {}", a.qualified_name())),
            )],
        );
    }
    out.0
}

fn compare_enums(expected: &Snapshot, actual: &Snapshot, out: &mut Changes) {
    for e in &expected.enums {
        let display = full_name(&e.schema, &e.name);
        let Some(a) = actual.enums.iter().find(|a| a.schema == e.schema && a.name == e.name) else {
            out.push(format!("missing enum {display}"), true, vec![(Phase::CreateEnum, ddl::create_enum(e))]);
            continue;
        };
        // New values go right after their predecessor in the model, keeping the model's order.
        for (pos, value) in e.values.iter().enumerate() {
            if a.values.contains(value) {
                continue;
            }
            let position = match pos {
                0 => a.values.first().map(|first| format!(" BEFORE {}", quote_literal(first))).unwrap_or_default(),
                _ => format!(" AFTER {}", quote_literal(&e.values[pos - 1])),
            };
            let sql = format!("ALTER TYPE {display} ADD VALUE IF NOT EXISTS {}{position}", quote_literal(value));
            out.push(
                format!("enum {display}: missing value {}", quote_ident(value)),
                true,
                vec![(Phase::AddEnumValue, Statement::new(K::AddEnumValue, sql))],
            );
        }
        let removed: Vec<&String> = a.values.iter().filter(|v| !e.values.contains(v)).collect();
        if !removed.is_empty() {
            let names = removed.iter().map(|v| quote_ident(v)).collect::<Vec<_>>().join(", ");
            let noun = if removed.len() == 1 { "value" } else { "values" };
            out.push(
                format!("enum {display}: extra {noun} {names}"),
                true,
                recreate_enum(e, expected, actual).into_iter().map(|s| (Phase::RecreateEnum, s)).collect(),
            );
        } else {
            let kept: Vec<&String> = e.values.iter().filter(|v| a.values.contains(v)).collect();
            let found: Vec<&String> = a.values.iter().collect();
            if kept != found {
                let list = |v: &[&String]| v.iter().map(|s| quote_ident(s)).collect::<Vec<_>>().join(", ");
                out.push(
                    format!(
                        "enum {display}: values in a different order: expected ({}), found ({}) (not changed by migrations)",
                        list(&kept),
                        list(&found)
                    ),
                    false,
                    vec![],
                );
            }
        }
    }
    for a in &actual.enums {
        if !expected.enums.iter().any(|e| e.schema == a.schema && e.name == a.name) {
            let display = full_name(&a.schema, &a.name);
            out.push(
                format!("extra enum {display}"),
                false,
                vec![(Phase::DropEnum, Statement::new_destructive(K::DropEnum, format!("DROP TYPE {display}")))],
            );
        }
    }
}

/// Removing enum values means replacing the type: rename the old one, create the new one,
/// convert every column using it through text (a row holding a removed value makes this fail),
/// drop the old one. Column defaults are dropped around the conversion and set to the model's.
fn recreate_enum(e: &EnumSnapshot, expected: &Snapshot, actual: &Snapshot) -> Vec<Statement> {
    let display = full_name(&e.schema, &e.name);
    let old_name = pg_ident(&format!("{}_old", e.name));
    let step = |sql: String| Statement::new_destructive(K::RecreateEnum, sql);
    let mut out =
        vec![step(format!("ALTER TYPE {display} RENAME TO {}", quote_ident(&old_name))), step(ddl::create_enum(e).sql)];
    let array = format!("{display}[]");
    for t in &actual.tables {
        for c in t.columns.iter().filter(|c| c.ty == display || c.ty == array) {
            let alter = format!("ALTER TABLE {} ALTER COLUMN {}", t.qualified_name(), quote_ident(&c.name));
            if c.default.is_some() {
                out.push(step(format!("{alter} DROP DEFAULT")));
            }
            let via = if c.ty == array { "text[]" } else { "text" };
            out.push(step(format!("{alter} TYPE {} USING {}::{via}::{}", c.ty, quote_ident(&c.name), c.ty)));
            let model_default =
                expected.table(&t.schema, &t.name).and_then(|et| et.column(&c.name)).and_then(|ec| ec.default.clone());
            if let Some(d) = model_default {
                out.push(step(format!("{alter} SET DEFAULT {d}")));
            }
        }
    }
    out.push(step(format!("DROP TYPE {}.{}", quote_ident(&e.schema), quote_ident(&old_name))));
    out
}

fn compare_table(e: &TableSnapshot, a: &TableSnapshot, unmanaged: &HashSet<(&str, &str)>, out: &mut Changes) {
    let table = e.qualified_name();
    for ec in &e.columns {
        match a.column(&ec.name) {
            Some(ac) => compare_column(e, ec, ac, out),
            None => out.push(
                format!("missing column {table}.{}", quote_ident(&ec.name)),
                true,
                vec![(
                    Phase::AlterColumn,
                    Statement::new(K::AddColumn, format!("ALTER TABLE {table} ADD COLUMN {}", column_definition(ec))),
                )],
            ),
        }
    }
    for ac in a.columns.iter().filter(|ac| e.column(&ac.name).is_none()) {
        // The application never writes it: harmless unless inserts need a value.
        let incompatible = !ac.nullable && ac.default.is_none() && !ac.serial;
        out.push(
            format!("extra column {table}.{}", quote_ident(&ac.name)),
            incompatible,
            vec![(
                Phase::DropColumn,
                Statement::new_destructive(
                    K::DropColumn,
                    format!("ALTER TABLE {table} DROP COLUMN {}", quote_ident(&ac.name)),
                ),
            )],
        );
    }

    compare_primary_key(e, a, out);
    compare_unique_constraints(e, a, out);
    compare_indexes(e, a, out);
    compare_foreign_keys(e, a, unmanaged, out);
    compare_triggers(e, a, out);
}

fn compare_column(t: &TableSnapshot, e: &ColumnSnapshot, a: &ColumnSnapshot, out: &mut Changes) {
    let table = t.qualified_name();
    let col = quote_ident(&e.name);
    let prefix = format!("table {table}: column {col}");
    let alter = format!("ALTER TABLE {table} ALTER COLUMN {col}");
    let stmt = |sql: String| (Phase::AlterColumn, Statement::new(K::AlterColumn, sql));
    let mut default_handled = false;

    if e.ty != a.ty || e.serial != a.serial {
        let mut statements = Vec::new();
        // A default of the old type converts along within a family of types; across families
        // it may not (text to enum fails), so it is dropped and the model's set afterwards. A
        // serial default goes with the serial-ness.
        let replace_default = a.serial || (a.default.is_some() && e.ty != a.ty && !same_family(&a.ty, &e.ty));
        if replace_default {
            statements.push(stmt(format!("{alter} DROP DEFAULT")));
        }
        if e.ty != a.ty {
            let via = if is_user_type(&e.ty) || is_user_type(&a.ty) {
                if e.ty.ends_with("[]") {
                    "::text[]"
                } else {
                    "::text"
                }
            } else {
                ""
            };
            let sql = format!("{alter} TYPE {} USING {col}{via}::{}", e.ty, e.ty);
            let (_, mut s) = stmt(sql);
            s.destructive = !is_widening(&a.ty, &e.ty);
            statements.push((Phase::AlterColumn, s));
        }
        if e.serial && !a.serial {
            let seq = pg_ident(&format!("{}_{}_seq", t.name, e.name));
            let seq_name = qualified_name(&t.schema, &seq);
            statements.push((
                Phase::AlterColumn,
                Statement::new(
                    K::CreateSequence,
                    format!("CREATE SEQUENCE IF NOT EXISTS {seq_name} OWNED BY {table}.{col}"),
                ),
            ));
            let value = nextval(&t.schema, &seq);
            statements.push(stmt(format!("{alter} SET DEFAULT {value}")));
            statements.push(stmt(format!(
                "SELECT setval({}, COALESCE(MAX({col}), 0) + 1, false) FROM {table}",
                quote_literal(&format!("{}.{}", quote_ident(&t.schema), quote_ident(&seq)))
            )));
            default_handled = true;
        } else if replace_default {
            if let Some(d) = &e.default {
                statements.push(stmt(format!("{alter} SET DEFAULT {d}")));
            }
            default_handled = true;
        }
        // A narrowing change is withheld as a whole: the default steps belong to it.
        if statements.iter().any(|(_, s)| s.destructive) {
            statements.iter_mut().for_each(|(_, s)| s.destructive = true);
        }
        let mut message = format!("{prefix}: expected type {}, found {}", e.display_type(), a.display_type());
        if e.ty == a.ty {
            // Only the serial-ness differs: say what the default is instead.
            message = match (&e.serial, &a.default) {
                (true, Some(d)) => {
                    format!("{prefix}: expected type {}, found {} with default {d}", e.display_type(), a.ty)
                }
                _ => message,
            };
        }
        out.push(message, true, statements);
    }

    if e.nullable != a.nullable {
        let (message, sql) = if e.nullable {
            (format!("{prefix}: expected nullable, found NOT NULL"), format!("{alter} DROP NOT NULL"))
        } else {
            (format!("{prefix}: expected NOT NULL, found nullable"), format!("{alter} SET NOT NULL"))
        };
        out.push(message, true, vec![stmt(sql)]);
    }

    if !default_handled && !same_default(&e.default, &a.default) {
        let show =
            |d: &Option<String>| d.as_ref().map(|d| format!("default {d}")).unwrap_or_else(|| "no default".into());
        let sql = match &e.default {
            Some(d) => format!("{alter} SET DEFAULT {d}"),
            None => format!("{alter} DROP DEFAULT"),
        };
        out.push(
            format!("{prefix}: expected {}, found {}", show(&e.default), show(&a.default)),
            e.default.is_some() && a.default.is_none(),
            vec![stmt(sql)],
        );
    }
}

fn same_default(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => normalize_default(a) == normalize_default(b),
        _ => false,
    }
}

/// Types between which Postgres converts a column default by itself.
fn same_family(a: &str, b: &str) -> bool {
    let family = |t: &str| {
        let base = t.split('(').next().unwrap_or(t);
        match base {
            _ if t.ends_with("[]") => None,
            "SMALLINT" | "INT" | "BIGINT" | "REAL" | "DOUBLE PRECISION" | "NUMERIC" => Some(1),
            "TEXT" | "VARCHAR" | "CHAR" => Some(2),
            "TIMESTAMP" | "TIMESTAMPTZ" | "DATE" => Some(3),
            "TIME" | "TIMETZ" => Some(4),
            _ => None,
        }
    };
    family(a).is_some() && family(a) == family(b)
}

/// Enum and other quoted, user-defined types convert through text.
fn is_user_type(ty: &str) -> bool {
    ty.starts_with('"')
}

/// Every value of `from` survives as the same value of `to`.
fn is_widening(from: &str, to: &str) -> bool {
    if let (Some(f), Some(t)) = (from.strip_suffix("[]"), to.strip_suffix("[]")) {
        return is_widening(f, t);
    }
    if to == "TEXT" && !from.ends_with("[]") {
        return true;
    }
    let int_rank = |t: &str| match t {
        "SMALLINT" => Some(1),
        "INT" => Some(2),
        "BIGINT" => Some(3),
        _ => None,
    };
    if let (Some(f), Some(t)) = (int_rank(from), int_rank(to)) {
        return t >= f;
    }
    if int_rank(from).is_some() && to == "NUMERIC" {
        return true;
    }
    if matches!(from, "SMALLINT" | "INT" | "REAL") && to == "DOUBLE PRECISION" {
        return true;
    }
    let args = |t: &str, name: &str| -> Option<Vec<u32>> {
        let rest = t.strip_prefix(name)?;
        if rest.is_empty() {
            return Some(vec![]);
        }
        let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
        inner.split(',').map(|a| a.trim().parse().ok()).collect()
    };
    for name in ["VARCHAR", "TIMESTAMPTZ", "TIMESTAMP", "TIME"] {
        if let (Some(f), Some(t)) = (args(from, name), args(to, name)) {
            return match (f.first(), t.first()) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(f), Some(t)) => t >= f,
            };
        }
    }
    if let (Some(f), Some(_)) = (args(from, "CHAR"), args(to, "VARCHAR")) {
        return args(to, "VARCHAR").is_some_and(|t| t.first().is_none_or(|t| f.first().is_some_and(|f| t >= f)));
    }
    if let (Some(f), Some(t)) = (args(from, "NUMERIC"), args(to, "NUMERIC")) {
        let split = |v: &[u32]| (v[0], v.get(1).copied().unwrap_or(0));
        return match (f.is_empty(), t.is_empty()) {
            (_, true) => true,
            (true, false) => false,
            _ => {
                let ((fp, fs), (tp, ts)) = (split(&f), split(&t));
                ts >= fs && tp.saturating_sub(ts) >= fp.saturating_sub(fs)
            }
        };
    }
    false
}

fn key_text(k: &KeySnapshot) -> String {
    format!("({})", column_list(&k.columns))
}

fn compare_primary_key(e: &TableSnapshot, a: &TableSnapshot, out: &mut Changes) {
    let table = e.qualified_name();
    match (&e.primary_key, &a.primary_key) {
        (Some(ek), Some(ak)) if ek.columns == ak.columns => {}
        (Some(ek), Some(ak)) => out.push(
            format!("table {table}: expected primary key {}, found {}", key_text(ek), key_text(ak)),
            true,
            vec![
                (Phase::DropConstraint, Statement::new(K::DropConstraint, ddl::drop_constraint_sql(a, &ak.name))),
                (Phase::AddConstraint, ddl::add_primary_key(e, ek)),
            ],
        ),
        (Some(ek), None) => out.push(
            format!("table {table}: missing primary key {}", key_text(ek)),
            true,
            vec![(Phase::AddConstraint, ddl::add_primary_key(e, ek))],
        ),
        (None, Some(ak)) => out.push(
            format!("table {table}: extra primary key {} {}", quote_ident(&ak.name), key_text(ak)),
            false,
            vec![(
                Phase::DropConstraint,
                Statement::new_destructive(K::DropConstraint, ddl::drop_constraint_sql(a, &ak.name)),
            )],
        ),
        (None, None) => {}
    }
}

fn compare_unique_constraints(e: &TableSnapshot, a: &TableSnapshot, out: &mut Changes) {
    let table = e.qualified_name();
    let mut matched: HashSet<&str> = HashSet::new();
    for eu in &e.unique_constraints {
        let name = quote_ident(&eu.name);
        if let Some(au) = a.unique_constraints.iter().find(|au| au.name == eu.name) {
            matched.insert(&au.name);
            if au.columns != eu.columns {
                out.push(
                    format!(
                        "table {table}: unique constraint {name}: expected columns {}, found {}",
                        key_text(eu),
                        key_text(au)
                    ),
                    true,
                    vec![
                        (
                            Phase::DropConstraint,
                            Statement::new(K::DropConstraint, ddl::drop_constraint_sql(a, &au.name)),
                        ),
                        (Phase::AddConstraint, ddl::add_unique(e, eu)),
                    ],
                );
            }
            continue;
        }
        // The same columns under another name (not claimed by the model) is only a rename.
        let renamed = a.unique_constraints.iter().find(|au| {
            au.columns == eu.columns
                && !matched.contains(au.name.as_str())
                && !e.unique_constraints.iter().any(|x| x.name == au.name)
        });
        if let Some(au) = renamed {
            matched.insert(&au.name);
            out.push(
                format!(
                    "table {table}: unique constraint {} {} should be named {name}",
                    quote_ident(&au.name),
                    key_text(au)
                ),
                false,
                vec![(
                    Phase::Rename,
                    Statement::new(
                        K::RenameConstraint,
                        format!("ALTER TABLE {table} RENAME CONSTRAINT {} TO {name}", quote_ident(&au.name)),
                    ),
                )],
            );
        } else {
            out.push(
                format!("table {table}: missing unique constraint {name} {}", key_text(eu)),
                true,
                vec![(Phase::AddConstraint, ddl::add_unique(e, eu))],
            );
        }
    }
    for au in a.unique_constraints.iter().filter(|au| !matched.contains(au.name.as_str())) {
        out.push(
            format!("table {table}: extra unique constraint {} {}", quote_ident(&au.name), key_text(au)),
            false,
            vec![(
                Phase::DropConstraint,
                Statement::new_destructive(K::DropConstraint, ddl::drop_constraint_sql(a, &au.name)),
            )],
        );
    }
}

fn compare_indexes(e: &TableSnapshot, a: &TableSnapshot, out: &mut Changes) {
    let table = e.qualified_name();
    let mut matched: HashSet<&str> = HashSet::new();
    let create =
        |ix: &crate::IndexSnapshot| (Phase::CreateIndex, Statement::new(K::CreateIndex, ix.definition.clone()));
    for ei in &e.indexes {
        let name = quote_ident(&ei.name);
        if let Some(ai) = a.indexes.iter().find(|ai| ai.name == ei.name) {
            matched.insert(&ai.name);
            if !ai.plain || ai.columns != ei.columns {
                out.push(
                    format!("table {table}: index {name}: expected {}, found {}", ei.definition, ai.definition),
                    false,
                    vec![
                        (Phase::DropIndex, Statement::new(K::DropIndex, ddl::drop_index_sql(&a.schema, &ai.name))),
                        create(ei),
                    ],
                );
            }
            continue;
        }
        let renamed = a.indexes.iter().find(|ai| {
            ai.plain
                && ai.columns == ei.columns
                && !matched.contains(ai.name.as_str())
                && !e.indexes.iter().any(|x| x.name == ai.name)
        });
        if let Some(ai) = renamed {
            matched.insert(&ai.name);
            out.push(
                format!(
                    "table {table}: index {} ({}) should be named {name}",
                    quote_ident(&ai.name),
                    column_list(&ai.columns)
                ),
                false,
                vec![(
                    Phase::Rename,
                    Statement::new(
                        K::RenameIndex,
                        format!("ALTER INDEX {} RENAME TO {name}", qualified_name(&a.schema, &ai.name)),
                    ),
                )],
            );
        } else {
            out.push(
                format!("table {table}: missing index {name} ({})", column_list(&ei.columns)),
                false,
                vec![create(ei)],
            );
        }
    }
    for ai in a.indexes.iter().filter(|ai| !matched.contains(ai.name.as_str())) {
        out.push(
            format!("table {table}: extra index {} ({})", quote_ident(&ai.name), ai.definition),
            false,
            vec![(
                Phase::DropIndex,
                Statement::new_destructive(K::DropIndex, ddl::drop_index_sql(&a.schema, &ai.name)),
            )],
        );
    }
}

fn compare_foreign_keys(e: &TableSnapshot, a: &TableSnapshot, unmanaged: &HashSet<(&str, &str)>, out: &mut Changes) {
    let table = e.qualified_name();
    let describe = |fk: &crate::ForeignKeySnapshot| {
        format!(
            "{} ({}) referencing {} ({})",
            quote_ident(&fk.name),
            column_list(&fk.columns),
            qualified_name(&fk.ref_schema, &fk.ref_table),
            column_list(&fk.ref_columns)
        )
    };
    let mut matched: HashSet<&str> = HashSet::new();
    for ef in &e.foreign_keys {
        if a.foreign_keys.iter().any(|af| af.name == ef.name && af.same_shape(ef)) {
            matched.insert(&ef.name);
            continue;
        }
        let renamed = a.foreign_keys.iter().find(|af| {
            af.same_shape(ef)
                && !matched.contains(af.name.as_str())
                && !e.foreign_keys.iter().any(|x| x.name == af.name)
        });
        if let Some(af) = renamed {
            matched.insert(&af.name);
            out.push(
                format!("table {table}: foreign key {} should be named {}", describe(af), quote_ident(&ef.name)),
                false,
                vec![(
                    Phase::Rename,
                    Statement::new(
                        K::RenameConstraint,
                        format!(
                            "ALTER TABLE {table} RENAME CONSTRAINT {} TO {}",
                            quote_ident(&af.name),
                            quote_ident(&ef.name)
                        ),
                    ),
                )],
            );
        } else if let Some(af) = a.foreign_keys.iter().find(|af| af.name == ef.name) {
            matched.insert(&af.name);
            out.push(
                format!("table {table}: expected foreign key {}, found {}", describe(ef), describe(af)),
                true,
                vec![
                    (Phase::DropForeignKey, Statement::new(K::DropForeignKey, ddl::drop_constraint_sql(a, &af.name))),
                    (Phase::AddForeignKey, ddl::add_foreign_key(e, ef)),
                ],
            );
        } else {
            out.push(
                format!("table {table}: missing foreign key {}", describe(ef)),
                false,
                vec![(Phase::AddForeignKey, ddl::add_foreign_key(e, ef))],
            );
        }
    }
    for af in a.foreign_keys.iter().filter(|af| !matched.contains(af.name.as_str())) {
        if unmanaged.contains(&(af.ref_schema.as_str(), af.ref_table.as_str())) {
            continue;
        }
        out.push(
            format!("table {table}: extra foreign key {}", describe(af)),
            false,
            vec![(
                Phase::DropForeignKey,
                Statement::new_destructive(K::DropForeignKey, ddl::drop_constraint_sql(a, &af.name)),
            )],
        );
    }
}

fn compare_triggers(e: &TableSnapshot, a: &TableSnapshot, out: &mut Changes) {
    let table = e.qualified_name();
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let drop_trigger =
        |tr: &TriggerSnapshot| (Phase::DropTrigger, Statement::new(K::DropTrigger, ddl::drop_trigger_sql(a, tr)));
    for et in &e.triggers {
        let name = quote_ident(&et.name);
        let Some(at) = a.triggers.iter().find(|at| at.name == et.name) else {
            out.push(
                format!("table {table}: missing trigger {name}"),
                true,
                vec![(Phase::Trigger, ddl::create_function(et)), (Phase::Trigger, ddl::create_trigger(e, et))],
            );
            continue;
        };
        let function = qualified_name(&et.function_schema, &et.function_name);
        if at.function_schema != et.function_schema
            || at.function_name != et.function_name
            || !at.before_update_each_row
        {
            let found = qualified_name(&at.function_schema, &at.function_name);
            let timing = if at.before_update_each_row { "" } else { " (not BEFORE UPDATE FOR EACH ROW)" };
            out.push(
                format!("table {table}: trigger {name}: expected BEFORE UPDATE FOR EACH ROW calling {function}, found calling {found}{timing}"),
                true,
                vec![
                    drop_trigger(at),
                    (Phase::Trigger, ddl::create_function(et)),
                    (Phase::Trigger, ddl::create_trigger(e, et)),
                ],
            );
        } else if squash(&at.function_body) != squash(&et.function_body) {
            out.push(
                format!(
                    "table {table}: trigger {name}: function {function}: expected body `{}`, found `{}`",
                    squash(&et.function_body),
                    squash(&at.function_body)
                ),
                true,
                vec![(Phase::Trigger, ddl::create_function(et))],
            );
        }
    }
    for at in a.triggers.iter().filter(|at| at.name.starts_with(TRIGGER_PREFIX)) {
        if e.triggers.iter().any(|et| et.name == at.name) {
            continue;
        }
        out.push(
            format!("table {table}: extra trigger {}", quote_ident(&at.name)),
            true,
            vec![drop_trigger(at), (Phase::DropTrigger, Statement::new(K::DropFunction, ddl::drop_function_sql(at)))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_and_narrowing() {
        let widening = [
            ("SMALLINT", "INT"),
            ("INT", "BIGINT"),
            ("INT", "NUMERIC"),
            ("REAL", "DOUBLE PRECISION"),
            ("VARCHAR(10)", "VARCHAR(20)"),
            ("VARCHAR(10)", "TEXT"),
            ("INT", "TEXT"),
            ("NUMERIC(10, 2)", "NUMERIC(12, 2)"),
            ("NUMERIC(10, 2)", "NUMERIC"),
            ("TIMESTAMPTZ(3)", "TIMESTAMPTZ"),
            ("INT[]", "BIGINT[]"),
        ];
        for (from, to) in widening {
            assert!(is_widening(from, to), "{from} -> {to}");
        }
        let narrowing = [
            ("BIGINT", "INT"),
            ("TEXT", "VARCHAR(10)"),
            ("VARCHAR(20)", "VARCHAR(10)"),
            ("NUMERIC(10, 2)", "NUMERIC(10, 3)"),
            ("NUMERIC", "NUMERIC(10)"),
            ("TEXT", "\"public\".\"status\""),
            ("TIMESTAMP", "TIMESTAMPTZ"),
            ("DOUBLE PRECISION", "REAL"),
        ];
        for (from, to) in narrowing {
            assert!(!is_widening(from, to), "{from} -> {to}");
        }
    }

    #[test]
    fn an_empty_database_misses_everything() {
        let mut db = Database::default();
        db.extensions.push("uuid-ossp".into());
        db.enums.push(exo_ir::PgEnum { schema: "shop".into(), name: "status".into(), values: vec!["A".into()] });
        db.sequences.push(exo_ir::Sequence { schema: "public".into(), name: "ids".into() });
        db.tables.push(exo_ir::Table {
            schema: "shop".into(),
            name: "orders".into(),
            managed: true,
            columns: vec![],
            primary_key: vec![],
            unique_constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
        });
        let messages: Vec<String> = diff(&db, &Snapshot::default()).into_iter().map(|d| d.message).collect();
        assert_eq!(
            messages,
            [
                "missing extension \"uuid-ossp\"",
                "missing schema \"shop\"",
                "missing enum \"shop\".\"status\"",
                "missing sequence \"public\".\"ids\"",
                "missing table \"shop\".\"orders\"",
            ]
        );
        let kinds: Vec<K> = migration(&db, &Snapshot::default(), false).iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [K::CreateExtension, K::CreateSchema, K::CreateEnum, K::CreateSequence, K::CreateTable]);
    }
}
