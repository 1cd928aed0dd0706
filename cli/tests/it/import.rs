//! `exo schema import` and `exo new --from-database` against real databases: a shop database
//! written by hand in SQL (`import/shop.sql`, not made by exo) imported, snapshotted, built,
//! verified and served by `exo serve` under an `.exotest`; and every example's schema (made by
//! `exo schema create`) imported back, verified, and its GraphQL schema compared with the
//! original's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use exo_testing::{TestEnvironment, TestRequest, TestResponse, TestServer};

use crate::{exo, free_port, workspace};

fn fixtures() -> PathBuf {
    workspace().join("cli/tests/it/import")
}

/// A fresh database holding `shop.sql`; dropped with the value.
struct ShopDb {
    name: String,
    url: String,
}

impl ShopDb {
    fn new(prefix: &str) -> ShopDb {
        let pg = EphemeralPostgres::shared().expect("PostgreSQL for tests");
        let name = unique_db_name(prefix);
        let url = pg.create_database(&name).expect("create database");
        let sql = std::fs::read_to_string(fixtures().join("shop.sql")).expect("shop.sql");
        pg.psql(&name, &sql).expect("shop.sql runs");
        ShopDb { name, url }
    }
}

impl Drop for ShopDb {
    fn drop(&mut self) {
        if let Ok(pg) = EphemeralPostgres::shared() {
            let _ = pg.drop_database(&self.name);
        }
    }
}

/// Runs `exo` with `args`; returns (stdout, stderr) and fails the test if it fails.
fn run_exo(args: &[&str], project: Option<&Path>) -> (String, String) {
    let mut cmd = exo();
    cmd.args(args);
    if let Some(p) = project {
        cmd.arg("--project").arg(p);
    }
    let out = cmd.output().expect("run exo");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(out.status.success(), "exo {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

/// The hand-written database: the generated model is snapshotted, says on stderr what it could
/// not express, builds, verifies (the one difference is a foreign-key name exo cannot choose),
/// and answers an `.exotest` through `exo serve` over that same kind of database.
#[test]
fn a_hand_written_database_imports_builds_verifies_and_serves() {
    let db = ShopDb::new("import_shop");
    let (model, notes) = run_exo(
        &["schema", "import", "--database", &db.url, "--query-access", "true", "--mutation-access", "true"],
        None,
    );
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/import"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("shop", model);
    });
    for expected in [
        "note: sales.audit_log: has no primary key, so exo cannot manage it: imported as an unmanaged type with read-only columns",
        "note: public.products: check constraint products_price_check is not expressed (Postgres still enforces it): CHECK ((price >= (0)::numeric))",
        "note: sales.returns: foreign key returns_order_id_line_no_fkey is named returns_order_id_fkey by exo",
    ] {
        assert!(notes.contains(expected), "missing {expected:?} in:\n{notes}");
    }

    let tmp = tempfile::tempdir().expect("temp dir");
    let project = tmp.path().join("shop");
    std::fs::create_dir_all(project.join("src")).expect("mkdir");
    std::fs::write(project.join("src/index.exo"), &model).expect("write model");
    copy_tests(&project);
    run_exo(&["build"], Some(&project));
    let (verify, _) = run_exo(&["schema", "verify", "--database", &db.url], Some(&project));
    assert_eq!(
        verify.lines().filter(|l| l.starts_with("- ")).collect::<Vec<_>>(),
        [
            r#"- [note] table "sales"."returns": foreign key "returns_order_id_line_no_fkey" ("order_id", "line_no") referencing "sales"."order_lines" ("order_id", "line_no") should be named "returns_order_id_fkey""#
        ],
        "{verify}"
    );

    let mut report = Vec::new();
    let summary = exo_testing::run(&project, None, &ServeShop, &mut report);
    let report = String::from_utf8_lossy(&report);
    assert!(summary.is_success() && summary.passed() == 1, "{report}");
}

fn copy_tests(project: &Path) {
    let tests = project.join("tests");
    std::fs::create_dir_all(&tests).expect("mkdir tests");
    for entry in std::fs::read_dir(fixtures().join("tests")).expect("fixtures") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), tests.join(entry.file_name())).expect("copy");
    }
}

/// Serves the imported project with `exo serve` over a fresh `shop.sql` database per test file.
struct ServeShop;

impl TestEnvironment for ServeShop {
    fn prepare_project(&self, project: &Path) -> Result<(), exo_testing::PrepareError> {
        let out = exo().arg("build").arg("--project").arg(project).output().map_err(|e| e.to_string())?;
        out.status.success().then_some(()).ok_or_else(|| String::from_utf8_lossy(&out.stderr).to_string().into())
    }

    fn start_file(
        &self,
        project: &Path,
        _test_name: &str,
        jwt_secret: &str,
        envs: &[(String, String)],
    ) -> Result<Box<dyn TestServer>, String> {
        let db = ShopDb::new("import_serve");
        let port = free_port();
        let logs = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        let mut cmd = exo();
        cmd.arg("serve")
            .arg("--project")
            .arg(project)
            .arg("--port")
            .arg(port.to_string())
            .env("EXO_POSTGRES_URL", &db.url)
            .env("EXO_JWT_SECRET", jwt_secret)
            .env("EXO_POSTGRES_READ_WRITE", "true")
            .env("EXO_SERVER_HOST", "127.0.0.1")
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(logs.reopen().map_err(|e| e.to_string())?);
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        let server = Served { child, port, db, _logs: logs };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "exo serve did not listen on {port}: {}",
                    std::fs::read_to_string(server._logs.path()).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Box::new(server))
    }
}

struct Served {
    child: Child,
    port: u16,
    db: ShopDb,
    _logs: tempfile::NamedTempFile,
}

impl TestServer for Served {
    fn request(&self, request: TestRequest) -> Result<TestResponse, String> {
        let body = request.body.to_string();
        let mut head = format!(
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in &request.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.write_all(format!("{head}\r\n{body}").as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let raw = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = raw.split_once("\r\n\r\n").ok_or("an incomplete reply")?;
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status line")?;
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
        Ok(TestResponse { status, body, headers })
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        let pg = EphemeralPostgres::shared().map_err(|e| e.to_string())?;
        pg.psql(&self.db.name, sql).map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Awkward corners (`import/tricky.sql`): the model still builds, and `schema verify` finds the
/// database compatible, reporting as notes only what the import's own notes announced.
#[test]
fn awkward_corners_still_build_and_verify() {
    let pg = EphemeralPostgres::shared().expect("PostgreSQL for tests");
    let name = unique_db_name("import_tricky");
    let url = pg.create_database(&name).expect("create database");
    let sql = std::fs::read_to_string(fixtures().join("tricky.sql")).expect("tricky.sql");
    pg.psql(&name, &sql).expect("tricky.sql runs");
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("src/index.exo");
    let (_, notes) = run_exo(&["schema", "import", "-d", &url, "-o", out.to_str().expect("utf-8")], None);
    let model = std::fs::read_to_string(&out).expect("model");
    for expected in [
        "@column(\"and\") andValue: Int?",
        "@table(\"query\")\n  type Query2 {",
        "@column(mapping = {tenant: \"tenant_id\"}) payer: Account?",
        "@column(\"user_id\") userRef: User?",
        "@relation(\"holder\") passport: Passport?",
        "@pk user: User",
        "bio: String? = \"line1\\nline2 \\\\ \\\"q\\\"\"",
        "    // generated by Postgres: (id * 2)\n    @readonly total: Int?\n",
        "  type User {\n    @pk @bits64 id: Int = autoIncrement()\n",
        "  @access(false)\n  @table(managed = false)\n  type Event {\n    @readonly at: Instant?\n    @readonly user: User?\n",
        "    events: Set<Event>?\n",
    ] {
        assert!(model.contains(expected), "missing {expected:?} in:\n{model}");
    }
    for expected in [
        "note: enum public.progress: not declared",
        "note: public.handles: foreign key handles_handle_fkey (handle) references public.users (handle): kept as plain columns",
        "note: public.order-items: column span: type INTERVAL has no exo type",
        "note: public.order-items: index order_items_partial is not expressed",
    ] {
        assert!(notes.contains(expected), "missing {expected:?} in:\n{notes}");
    }
    run_exo(&["build"], Some(tmp.path()));
    let (verify, _) = run_exo(&["schema", "verify", "-d", &url], Some(tmp.path()));
    assert!(!verify.contains("[incompatible]"), "{verify}");
    assert!(verify.contains("The database is compatible with the model"), "{verify}");
    let _ = pg.drop_database(&name);
}

/// `exo new --from-database` writes the model `exo schema import` prints, and it builds.
#[test]
fn exo_new_from_database_creates_a_project_that_builds() {
    let db = ShopDb::new("import_new");
    let (printed, _) = run_exo(&["schema", "import", "-d", &db.url], None);
    let tmp = tempfile::tempdir().expect("temp dir");
    let project = tmp.path().join("shop");
    run_exo(&["new", project.to_str().expect("utf-8 path"), "--from-database", &db.url], None);
    let written = std::fs::read_to_string(project.join("src/index.exo")).expect("model written");
    assert_eq!(written, printed);
    assert!(written.contains("@access(false)"), "access is false unless asked: {written}");
    assert!(project.join(".gitignore").exists());
    run_exo(&["build"], Some(&project));
}

/// `--fragments` writes fragments (no access rules, no types); declaring the types it suggests
/// gives a model that builds. `--tables` and `--schema` narrow what is imported.
#[test]
fn fragments_and_filters() {
    let db = ShopDb::new("import_fragments");
    let (public, _) = run_exo(&["schema", "import", "-d", &db.url, "--fragments", "--schema", "public"], None);
    assert!(public.contains("fragment CustomerFragment {"), "{public}");
    assert!(!public.contains("OrderFragment"), "only the public schema: {public}");
    let (fragments, _) = run_exo(&["schema", "import", "-d", &db.url, "--fragments"], None);
    assert!(!fragments.contains("@access") && !fragments.contains("  type "), "{fragments}");
    // The view's columns are read-only in its fragment too.
    assert!(
        fragments.contains(
            "  // Use it as: @table(managed = false) type OrderTotal { ...OrderTotalFragment }\n  fragment OrderTotalFragment {\n    @readonly @bits64 orderId: Int?\n"
        ),
        "{fragments}"
    );
    // Declare each type where the fragments suggest it, with an access rule.
    let model: String = fragments
        .lines()
        .map(|l| match l.strip_prefix("  // Use it as: ") {
            Some(decl) => format!("  @access(true) {decl}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(tmp.path().join("src")).expect("mkdir");
    std::fs::write(tmp.path().join("src/index.exo"), &model).expect("write");
    run_exo(&["build"], Some(tmp.path()));

    let (some, _) =
        run_exo(&["schema", "import", "-d", &db.url, "--tables", "sales.order*", "--tables", "customers"], None);
    let types: Vec<&str> = some.lines().filter_map(|l| l.trim().strip_prefix("type ")).collect();
    assert_eq!(types, ["Customer {", "OrderLine {", "Order {", "OrderTotal {"], "{some}");
    // `order_lines` refers to `products`, which was left out: the column stays a plain one.
    assert!(some.contains("@maxLength(32) productSku: String"), "{some}");

    let out =
        exo().args(["schema", "import", "-d", &db.url, "--query-access", "AuthContext.id == 1"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "`--query-access AuthContext.id == 1` is not an access rule exo can use here (unknown name `AuthContext`)"
        ),
        "{err}"
    );

    let out = exo().args(["schema", "import", "-d", &db.url, "--schema", "nope"]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the database has no schema `nope`"), "{err}");
}

/// Every example: its schema (from `exo schema create`, plus the views, triggers and other SQL
/// its `tests/*.sql` files add) imported into a fresh project builds and verifies with no
/// differences. The GraphQL schemas are compared without descriptions (the database holds no
/// doc comments); `snapshots/import/examples-sdl.snap` records where they differ and the test
/// asserts which examples come back identical.
#[test]
fn every_example_round_trips() {
    let pg = EphemeralPostgres::shared().expect("PostgreSQL for tests");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(workspace().join("schema-examples/ok"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    examples.sort();
    let mut report = String::new();
    let mut identical = Vec::new();
    for example in &examples {
        let name = example.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        let db = unique_db_name("import_rt");
        let url = pg.create_database(&db).expect("create database");
        let (ddl, _) = run_exo(&["-q", "schema", "create"], Some(example));
        pg.psql(&db, &ddl).expect("the example's DDL runs");
        // The views behind the example's unmanaged types (and the trigger behind a `@readonly`).
        let mut init: Vec<PathBuf> = std::fs::read_dir(example.join("tests"))
            .map(|d| {
                d.map(|e| e.expect("entry").path()).filter(|p| p.extension().is_some_and(|x| x == "sql")).collect()
            })
            .unwrap_or_default();
        init.sort();
        for file in init {
            let sql = std::fs::read_to_string(&file).expect("init SQL");
            pg.psql(&db, &sql).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("src/index.exo");
        run_exo(
            &[
                "schema",
                "import",
                "-d",
                &url,
                "--query-access",
                "true",
                "--mutation-access",
                "true",
                "-o",
                out.to_str().expect("utf-8"),
            ],
            None,
        );
        run_exo(&["build"], Some(tmp.path()));
        let (verify, _) = run_exo(&["schema", "verify", "-d", &url], Some(tmp.path()));
        assert_eq!(verify.trim(), "The database schema matches the model.", "{name}");
        let _ = pg.drop_database(&db);

        let (original, _) = run_exo(&["-q", "graphql", "schema"], Some(example));
        let (imported, _) = run_exo(&["-q", "graphql", "schema"], Some(tmp.path()));
        let diff = sdl_diff(&sdl_lines(&original), &sdl_lines(&imported));
        if diff.is_empty() {
            identical.push(name.clone());
            report.push_str(&format!("== {name}: identical\n"));
        } else {
            report.push_str(&format!("== {name}: {} differences\n", diff.len()));
            for d in diff {
                report.push_str(&format!("  {d}\n"));
            }
        }
    }
    assert_eq!(
        identical,
        [
            "composite-keys",
            "docs-operations",
            "exograph-prechecks",
            "exograph-style",
            "inference-channels",
            "multi-file",
            "scalar-filters",
            "unique-indexes",
            "write-only"
        ]
    );
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/import"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("examples-sdl", report);
    });
}

/// The SDL without descriptions and the `schema` block, one trimmed line each.
fn sdl_lines(sdl: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut in_schema = false;
    for line in sdl.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            let closes_here = line.len() >= 6 && line.ends_with("\"\"\"");
            if !closes_here {
                in_block = !in_block;
            }
            continue;
        }
        if in_block || line.is_empty() || (line.starts_with('"') && line.ends_with('"')) {
            continue;
        }
        if line == "schema {" {
            in_schema = true;
            continue;
        }
        if in_schema {
            in_schema = line != "}";
            continue;
        }
        out.push(line.to_string());
    }
    out
}

/// The definitions of an SDL (from [`sdl_lines`]): header line -> member lines.
fn definitions(lines: &[String]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut open = false;
    for l in lines {
        if open {
            if l == "}" {
                open = false;
            } else if let Some(last) = out.last_mut() {
                last.1.push(l.clone());
            }
        } else {
            open = l.ends_with('{');
            out.push((l.trim_end_matches(" {").to_string(), Vec::new()));
        }
    }
    out
}

/// Per definition: `- def` / `+ def` for definitions on one side only, `def: - member` /
/// `def: + member` for members of a shared definition on one side only.
fn sdl_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (da, db) = (definitions(a), definitions(b));
    let mut out = Vec::new();
    for (head, members) in &da {
        match db.iter().find(|(h, _)| h == head) {
            None => out.push(format!("- {head}")),
            Some((_, other)) => {
                out.extend(members.iter().filter(|m| !other.contains(m)).map(|m| format!("{head}: - {m}")));
                out.extend(other.iter().filter(|m| !members.contains(m)).map(|m| format!("{head}: + {m}")));
            }
        }
    }
    out.extend(db.iter().filter(|(h, _)| !da.iter().any(|(x, _)| x == h)).map(|(h, _)| format!("+ {h}")));
    out
}
