//! Runs the `exo` binary as users do and checks exit codes and output.

use crate::{example, exo, temp_copy};

#[test]
fn build_reports_diagnostics_and_fails() {
    let out = exo().args(["build", "--project"]).arg(example("err/04-unknown-type")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("exo::unknown_type"), "stderr:\n{stderr}");
    assert!(stderr.contains("unknown type `Venu`"), "stderr:\n{stderr}");
    // Not a terminal: no colour escapes.
    assert!(!stderr.contains('\u{1b}'), "stderr:\n{stderr}");
}

#[test]
fn build_writes_the_ir_and_one_line() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let out = exo().args(["build", "--project"]).arg(&project).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Built target/index.exo_ir (2 types, "), "stdout:\n{stdout}");
    assert_eq!(stdout.lines().count(), 1, "stdout:\n{stdout}");
    let bytes = std::fs::read(project.join("target/index.exo_ir")).unwrap();
    exo_ir::decode(&bytes).expect("the written IR decodes");
}

#[test]
fn graphql_schema_prints_sdl() {
    let out = exo().args(["graphql", "schema", "--project"]).arg(example("ok/todo")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("type Query {"), "stdout:\n{stdout}");
    assert!(stdout.contains("type Mutation {"), "stdout:\n{stdout}");
}

#[test]
fn graphql_schema_json_is_an_introspection_result() {
    let out = exo().args(["graphql", "schema", "--format", "json", "--project"]).arg(example("ok/todo")).output().unwrap();
    assert!(out.status.success(), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(json["data"]["__schema"]["queryType"]["name"], "Query");
    assert!(json["data"]["__schema"]["types"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn serve_without_a_build_says_to_build() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let out = exo().args(["serve", "--project"]).arg(&project).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("run `exo build` first"), "stderr:\n{stderr}");
}

#[test]
fn schema_verify_without_a_database_says_how_to_give_one() {
    let out = exo().args(["schema", "verify", "--project"]).arg(example("ok/todo")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("--database") && stderr.contains("EXO_POSTGRES_URL"), "stderr:\n{stderr}");
}

/// Runs the todo example's `.exotest` files through `exo test`. Failures can be engine bugs
/// fixed elsewhere, so this checks that tests ran and that the exit code agrees with the
/// summary, and prints the counts.
#[test]
fn exo_test_runs_the_todo_tests() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let out = exo().arg("test").arg(&project).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    let counts: Vec<usize> = summary.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    let [passed, failed, unsupported] = counts[..] else {
        panic!("no summary line in:\n{stdout}\nstderr:\n{stderr}");
    };
    fn exotests(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .map(|p| if p.is_dir() { exotests(&p) } else { usize::from(p.extension().is_some_and(|x| x == "exotest")) })
            .sum()
    }
    let files = exotests(&project.join("tests"));
    assert!(files >= 4, "the todo example has test files");
    assert_eq!(passed + failed + unsupported, files, "one result per test file:\n{stdout}");
    assert!(passed > 0, "nothing passed:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.success(), failed == 0, "exit code disagrees with the summary:\n{stdout}");
}

/// `exo new` writes a project that builds and whose own tests pass, and never overwrites one.
#[test]
fn exo_new_project_passes_its_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = exo().arg("new").arg("demo").current_dir(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cd demo") && stdout.contains("exo yolo"), "says what to run next:\n{stdout}");
    let demo = tmp.path().join("demo");
    for file in ["src/index.exo", "tests/init.gql", "tests/own-todos.exotest", ".gitignore"] {
        assert!(demo.join(file).is_file(), "`{file}` was written");
    }
    let gitignore = std::fs::read_to_string(demo.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == "/target/"), "{gitignore}");

    let test = exo().arg("test").current_dir(&demo).output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&test.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    let again = exo().arg("new").arg("demo").current_dir(tmp.path()).output().unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already exists") && stderr.contains("choose another name"), "{stderr}");
}

/// `-o` writes the schema to a file (creating its directory) instead of stdout.
#[test]
fn graphql_schema_writes_to_a_file() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let sdl = tmp.path().join("generated/schema.graphql");
    let json = tmp.path().join("generated/schema.json");
    let out = exo().args(["graphql", "schema", "-o"]).arg(&sdl).arg("--project").arg(&project).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing on stdout with -o");
    assert!(std::fs::read_to_string(&sdl).unwrap().contains("type Todo {"));
    let out = exo()
        .args(["graphql", "schema", "--format", "json", "--output"])
        .arg(&json)
        .arg("--project")
        .arg(&project)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["data"]["__schema"]["queryType"]["name"], "Query");
}
