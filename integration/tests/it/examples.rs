//! Every schema example: it compiles, its IR round-trips through the file encoding, its DDL
//! applies to an empty database, and introspecting that database finds no difference.

use crate::common::*;

fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("schema-examples/ok")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("src/index.exo").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "current_thread")]
async fn every_example_compiles_applies_and_verifies() {
    let names = example_names();
    assert!(names.len() >= 8, "expected at least eight examples, found {names:?}");
    let mut failures = vec![];
    for name in &names {
        let ir = compile_example(name);
        assert_eq!(exo_ir::decode(&exo_ir::encode(&ir)).as_ref(), Ok(&ir), "{name}: IR round trip");
        let (_guard, db) = database_for(&ir, &format!("ex_{}", name.replace('-', "_"))).await;
        let schemas = exo_pg_schema::model_schemas(&ir.database);
        let snapshot = exo_pg_schema::introspect(&db.0, &schemas).await.expect("introspect");
        let diffs = exo_pg_schema::diff(&ir.database, &snapshot);
        if !diffs.is_empty() {
            failures.push(format!("{name}: {:#?}", diffs));
        }
    }
    assert!(failures.is_empty(), "verify found differences:\n{}", failures.join("\n"));
}

/// The SDL and the DDL of every example, as snapshots: a change to either shows up in review.
#[test]
fn sdl_and_ddl_snapshots() {
    for name in example_names() {
        let ir = compile_example(&name);
        let sdl = exo_compiler::sdl::print_sdl(&ir.graphql);
        let statements = exo_pg_schema::create_statements(&ir.database);
        for st in &statements {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &st.sql)
                .unwrap_or_else(|e| panic!("{name}: sqlparser rejects\n{}\n{e}", st.sql));
        }
        let ddl = exo_pg_schema::to_sql_script(&statements);
        insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/examples"), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("{name}.sdl"), sdl);
            insta::assert_snapshot!(format!("{name}.ddl"), ddl);
        });
    }
}
