//! `trusted-documents/`: both file formats compile into the IR, and a bad operation is a
//! build error that names its file and operation.

use std::path::Path;

use exo_compiler::compile_project;
use exo_compiler::diag::render;
use exo_ir::plan::{Step, TrustedOutcome, TrustedRoot};

const MODEL: &str = r#"
context AuthContext {
  @jwt("sub") id: Int
  @jwt role: String
}
@postgres
module Db {
  @access(self.owner == AuthContext.id || AuthContext.role == "admin")
  type Note {
    @pk id: Int = autoIncrement()
    text: String
    owner: Int
  }
}
"#;

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/index.exo"), MODEL).unwrap();
    for (name, text) in files {
        let path = dir.path().join("trusted-documents").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn entry(dir: &Path) -> std::path::PathBuf {
    dir.join("src/index.exo")
}

#[test]
fn both_formats_compile_to_plans_for_every_context_outcome() {
    let q = "query Notes { notes { id text } }";
    let m = "mutation Add($t: String!) { createNote(data: {text: $t, owner: 1}) { id } }";
    let map = serde_json::json!({ exo_planner::trusted::sha256_hex(q): q }).to_string();
    let manifest =
        serde_json::json!({"operations": [{"id": "my-client-id", "body": m, "name": "Add", "type": "mutation"}]})
            .to_string();
    let dir = project(&[("a.json", &map), ("nested/b.json", &manifest)]);
    let compiled = compile_project(&entry(dir.path()));
    let errors: Vec<_> = compiled.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{}", render(&compiled.diagnostics, &compiled.sources, 100, false));
    let ir = compiled.ir.expect("compiles");
    assert_eq!(ir.trusted_documents.len(), 2);
    let notes = ir.trusted_documents.iter().find(|d| d.document == q).expect("the query is trusted");
    assert_eq!(notes.sha256, exo_planner::trusted::sha256_hex(q));
    let op = &notes.operations[0];
    assert_eq!(op.name.as_deref(), Some("Notes"));
    assert_eq!(op.fallback, None);
    // Admin (no predicate), a signed-in user (owner = $id), anonymous (id null).
    let sqls: Vec<String> = op
        .variants
        .iter()
        .filter_map(|v| match &op.plans[v.plan as usize] {
            TrustedOutcome::Fields { fields, .. } => match &fields[0].root {
                TrustedRoot::Sql { steps, .. } => match &steps[0] {
                    Step::Json(stmt) => Some(stmt.sql.clone()),
                    _ => None,
                },
                TrustedRoot::Const(_) => None,
            },
            TrustedOutcome::Error { .. } => None,
        })
        .collect();
    assert!(sqls.iter().any(|s| !s.contains("\"owner\" =")), "an admin plan without the owner predicate: {sqls:#?}");
    assert!(
        sqls.iter().any(|s| s.contains("\"owner\" = $")),
        "a user plan with the owner bound as a parameter: {sqls:#?}"
    );
    // The manifest's id is not a hash: the document is found by its own hash.
    let add = ir.trusted_documents.iter().find(|d| d.document == m).unwrap();
    assert_eq!(add.sha256, exo_planner::trusted::sha256_hex(m));
    assert!(add.operations[0].mutation);
}

#[test]
fn a_bad_operation_names_its_file_and_operation() {
    let bad =
        serde_json::json!({"operations": [{"id": "x1", "body": "query Broken { notes { id nope } }"}]}).to_string();
    let dir = project(&[("client.json", &bad)]);
    let compiled = compile_project(&entry(dir.path()));
    assert!(compiled.ir.is_none(), "a bad trusted document fails the build");
    let text = render(&compiled.diagnostics, &compiled.sources, 100, false);
    assert!(text.contains("trusted-documents/client.json"), "{text}");
    assert!(text.contains("operation `Broken`"), "{text}");
    assert!(text.contains("nope"), "{text}");
}

#[test]
fn a_file_of_neither_format_is_an_error() {
    let dir = project(&[("odd.json", "[1, 2, 3]")]);
    let compiled = compile_project(&entry(dir.path()));
    assert!(compiled.ir.is_none());
    let text = render(&compiled.diagnostics, &compiled.sources, 100, false);
    assert!(text.contains("odd.json") && text.contains("not a trusted-documents file"), "{text}");
}

#[test]
fn a_list_variable_is_reported_and_left_to_the_runtime() {
    let q = "mutation AddMany($d: [NoteCreationInput!]!) { createNotes(data: $d) { id } }";
    let dir = project(&[("a.json", &serde_json::json!({ exo_planner::trusted::sha256_hex(q): q }).to_string())]);
    let compiled = compile_project(&entry(dir.path()));
    let ir = compiled.ir.expect("compiles, with a warning");
    let text = render(&compiled.diagnostics, &compiled.sources, 100, false);
    assert!(text.contains("planned at request time") && text.contains("$d"), "{text}");
    assert!(ir.trusted_documents[0].operations[0].fallback.is_some());
}
