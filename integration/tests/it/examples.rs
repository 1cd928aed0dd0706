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
