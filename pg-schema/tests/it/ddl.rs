//! The DDL of each hand-built model, snapshotted, and parsed by sqlparser.

use exo_pg_schema::{create_statements, to_sql_script, StatementKind};

use crate::{assert_parses, models};

#[test]
fn ddl_snapshots() {
    for (name, db) in models::all() {
        let script = to_sql_script(&create_statements(&db));
        insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/ddl"), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, script);
        });
    }
}

#[test]
fn every_create_statement_parses() {
    for (_, db) in models::all() {
        assert_parses(&create_statements(&db));
    }
}

#[test]
fn statements_come_in_kind_order() {
    use StatementKind as K;
    let order = [
        K::CreateExtension,
        K::CreateSchema,
        K::CreateEnum,
        K::CreateSequence,
        K::CreateTable,
        K::AddForeignKey,
        K::CreateIndex,
    ];
    for (name, db) in models::all() {
        let kinds: Vec<StatementKind> = create_statements(&db).iter().map(|s| s.kind).collect();
        let rank = |k: &StatementKind| order.iter().position(|o| o == k).unwrap_or(order.len());
        assert!(kinds.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])), "{name}: {kinds:?}");
        assert!(create_statements(&db).iter().all(|s| !s.destructive && !s.withheld));
    }
}

#[test]
fn output_is_independent_of_table_order() {
    for (name, db) in models::all() {
        // Reverse the tables and remap every table id (only FKs hold table ids).
        let n = db.tables.len() as u32;
        let mut reversed = db.clone();
        reversed.tables.reverse();
        for t in &mut reversed.tables {
            for fk in &mut t.foreign_keys {
                fk.ref_table = n - 1 - fk.ref_table;
            }
        }
        assert_eq!(to_sql_script(&create_statements(&db)), to_sql_script(&create_statements(&reversed)), "{name}");
    }
}

#[test]
fn unmanaged_tables_and_their_foreign_keys_are_skipped() {
    let script = to_sql_script(&create_statements(&models::unmanaged()));
    assert!(!script.contains("legacy_accounts"), "{script}");
}

#[test]
fn cycles_keep_referenced_tables_first_where_possible() {
    let tables: Vec<String> = create_statements(&models::cycles())
        .iter()
        .filter(|s| s.kind == StatementKind::CreateTable)
        .map(|s| s.sql.lines().next().unwrap().to_string())
        .collect();
    assert_eq!(
        tables,
        [
            "CREATE TABLE \"a_settings\" (",
            "CREATE TABLE \"departments\" (",
            "CREATE TABLE \"employees\" (",
            "CREATE TABLE \"badges\" ("
        ]
    );
}

#[test]
fn withheld_statements_are_commented_out() {
    let mut s = create_statements(&models::todo());
    s.truncate(2);
    s[1].destructive = true;
    s[1].withheld = true;
    let script = to_sql_script(&s);
    assert!(
        script.starts_with("CREATE TYPE \"public\".\"priority\" AS ENUM ('LOW', 'MEDIUM', 'HIGH');\n\n-- CREATE TABLE"),
        "{script}"
    );
    assert!(script.lines().skip(2).all(|l| l.starts_with("-- ")), "{script}");
}
