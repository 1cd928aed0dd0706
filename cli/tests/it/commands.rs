//! Runs the `exo` binary as users do and checks exit codes and output.

use crate::{example, exo, free_port, temp_copy};

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
    let out =
        exo().args(["graphql", "schema", "--format", "json", "--project"]).arg(example("ok/todo")).output().unwrap();
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
fn serve_with_an_unusable_oidc_provider_names_it_and_stops() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let build = exo().args(["build", "--project"]).arg(&project).output().unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    // Nothing listens there: the provider is down at start-up.
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = exo().args(["serve", "--project"]).arg(&project).env("EXO_OIDC_URL", &url).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains(&format!("`EXO_OIDC_URL` = `{url}`")), "stderr:\n{stderr}");
    assert!(stderr.contains("/.well-known/openid-configuration"), "stderr:\n{stderr}");
    // With a secret too: refused before anything is fetched, as in Exograph.
    let out = exo()
        .args(["serve", "--project"])
        .arg(&project)
        .env("EXO_OIDC_URL", &url)
        .env("EXO_JWT_SECRET", "s")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("both `EXO_JWT_SECRET` and `EXO_OIDC_URL` are set"), "stderr:\n{stderr}");
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
    let [passed, failed, unsupported, skipped] = counts[..] else {
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
    assert_eq!(passed + failed + unsupported + skipped, files, "one result per test file:\n{stdout}");
    assert_eq!(skipped, 0, "the todo example uses nothing exo lacks:\n{stdout}");
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

/// A Worker bundle laid out as `scripts/build-cf-worker.sh` writes it (contents are not run here;
/// `scripts/worker-e2e.sh` runs the real one in workerd).
fn fake_worker_bundle(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("snippets/worker-0/")).unwrap();
    for (f, text) in [
        ("index.js", "// entry"),
        ("exo_cf_worker.js", "// glue"),
        ("exo_cf_worker_bg.wasm", "\0asm"),
        ("snippets/worker-0/inline0.js", "// snippet"),
    ] {
        std::fs::write(dir.join(f), text).unwrap();
    }
}

#[test]
fn deploy_cf_worker_lays_out_a_worker() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let dist = tmp.path().join("dist");
    fake_worker_bundle(&dist);
    let run = || {
        exo()
            .args(["deploy", "cf-worker", "--app", "My Todo", "--project"])
            .arg(&project)
            .env("EXO_CF_WORKER_DIST", &dist)
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("npx wrangler dev") && stdout.contains("npx wrangler deploy"), "stdout:\n{stdout}");
    exo_ir::decode(&std::fs::read(project.join("target/index.exo_ir")).unwrap()).expect("the IR was built");
    for f in ["index.js", "exo_cf_worker.js", "exo_cf_worker_bg.wasm", "snippets/worker-0/inline0.js"] {
        assert!(project.join("target/cf-worker").join(f).is_file(), "{f} was not copied");
    }
    let toml = std::fs::read_to_string(project.join("wrangler.toml")).unwrap();
    assert!(toml.contains("name = \"my-todo\""), "{toml}");
    assert!(toml.contains("main = \"target/cf-worker/index.js\""), "{toml}");
    assert!(toml.contains("globs = [\"**/*.exo_ir\"]"), "{toml}");
    assert!(toml.contains("# [[hyperdrive]]"), "{toml}");
    let vars = std::fs::read_to_string(project.join(".dev.vars")).unwrap();
    assert!(vars.contains("EXO_POSTGRES_URL = ") && vars.contains("EXO_JWT_SECRET = "), "{vars}");

    // A second run keeps the user's files.
    std::fs::write(project.join("wrangler.toml"), "# mine\n").unwrap();
    assert!(run().status.success());
    assert_eq!(std::fs::read_to_string(project.join("wrangler.toml")).unwrap(), "# mine\n");
    assert_eq!(std::fs::read_to_string(project.join(".dev.vars")).unwrap(), vars);
}

#[test]
fn deploy_cf_worker_names_a_missing_bundle_file() {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let dist = tmp.path().join("dist");
    fake_worker_bundle(&dist);
    std::fs::remove_file(dist.join("exo_cf_worker_bg.wasm")).unwrap();
    let out = exo()
        .args(["deploy", "cf-worker", "--project"])
        .arg(&project)
        .env("EXO_CF_WORKER_DIST", &dist)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("`exo_cf_worker_bg.wasm` is not there"), "stderr:\n{stderr}");
    assert!(!project.join("wrangler.toml").exists());
}
