//! The SQL behind every `.exotest` of `schema-examples/ok`: each suite is run by exo-testing's
//! own runner (discovery, init files, `$` bindings, auth claims) against a real database,
//! through an engine whose database connection records every statement with its parameters.
//! One insta snapshot per test file (`snapshots/sql/<example>/<test>.snap`) holds, per stage,
//! the operation, its variables and the statements it ran, printed in the planner's pretty
//! layout. Every statement goes through a round trip: parsed with sqlparser's PostgreSQL
//! dialect, printed by sqlparser, parsed again and compared; and its highest `$n` must be the
//! number of parameters bound.
//!
//! Running the operations (rather than only planning them) is what resolves `$.name`
//! references to values bound by earlier stages, so the recorded parameters are the ones a
//! real run binds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use exo_runtime::{Db, DbError, Engine, RequestHead, System};
use exo_testing::{TestEnvironment, TestRequest, TestResponse, TestServer};
use serde_json::Value as Json;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::common::*;

/// One request as the database saw it.
#[derive(Default)]
struct RequestLog {
    body: Json,
    /// The JWT's claims without `iat`/`exp` (which change from run to run).
    claims: Option<Json>,
    /// `(sql, parameters)` in execution order; `BEGIN`/`COMMIT` have no parameters.
    statements: Vec<(String, Vec<Option<String>>)>,
}

type Log = Arc<Mutex<Vec<RequestLog>>>;

/// Passes statements to Postgres and writes them down.
struct RecordingDb {
    inner: PgDb,
    log: Log,
}

impl Db for RecordingDb {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        if let Some(last) = self.log.lock().unwrap().last_mut() {
            last.statements.push((sql.to_string(), params.to_vec()));
        }
        self.inner.query(sql, params).await
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        if let Some(last) = self.log.lock().unwrap().last_mut() {
            last.statements.push((sql.to_string(), vec![]));
        }
        self.inner.execute(sql).await
    }
}

struct Environment {
    rt: tokio::runtime::Runtime,
    irs: Mutex<HashMap<PathBuf, exo_ir::Ir>>,
    /// Test name -> its requests (replaced on a retry).
    logs: Mutex<HashMap<String, Log>>,
}

impl TestEnvironment for Environment {
    fn prepare_project(&self, project: &Path) -> Result<(), exo_testing::PrepareError> {
        let compiled = exo_compiler::compile_project(&project.join("src/index.exo"));
        let ir = compiled
            .ir
            .ok_or_else(|| exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false))?;
        self.irs.lock().unwrap().insert(project.to_path_buf(), ir);
        Ok(())
    }

    fn start_file(
        &self,
        project: &Path,
        test_name: &str,
        jwt_secret: &str,
        envs: &[(String, String)],
    ) -> Result<Box<dyn TestServer>, String> {
        let ir = self.irs.lock().unwrap().get(project).cloned().ok_or("project not prepared")?;
        let mut vars: HashMap<String, String> = HashMap::from([
            ("EXO_JWT_SECRET".to_string(), jwt_secret.to_string()),
            ("EXO_INTROSPECTION".to_string(), "enabled".to_string()),
        ]);
        vars.extend(envs.iter().cloned());
        let lookup = move |k: &str| vars.get(k).cloned();
        let config = exo_server::ServerConfig::from_env(&lookup).map_err(|e| e.to_string())?;
        let (guard, db) = self.rt.block_on(database_for(&ir, "exotest_sql"));
        self.rt.block_on(db.0.batch_execute("SET TimeZone = 'UTC'")).map_err(|e| e.to_string())?;
        let mut system = System::new(ir);
        system.sql_layout = exo_runtime::sql::Layout::Pretty;
        let engine = Engine::new(system, config.engine, Box::new(lookup));
        let log: Log = Arc::default();
        self.logs.lock().unwrap().insert(test_name.to_string(), log.clone());
        Ok(Box::new(RecordingServer {
            rt: self.rt.handle().clone(),
            engine,
            db: tokio::sync::Mutex::new(RecordingDb { inner: db, log: log.clone() }),
            log,
            _guard: guard,
        }))
    }
}

struct RecordingServer {
    rt: tokio::runtime::Handle,
    engine: Engine,
    db: tokio::sync::Mutex<RecordingDb>,
    log: Log,
    _guard: TestDb,
}

impl TestServer for RecordingServer {
    fn request(&self, request: TestRequest) -> Result<TestResponse, String> {
        let claims = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| claims_of(v));
        self.log.lock().unwrap().push(RequestLog { body: request.body.clone(), claims, statements: vec![] });
        let body = request.body.to_string();
        let response = self.rt.block_on(async {
            let head = RequestHead { headers: &request.headers, client_ip: Some("127.0.0.1"), now: now() };
            let mut db = self.db.lock().await;
            self.engine.handle(body.as_bytes(), &head, &mut *db).await
        });
        let parsed =
            serde_json::from_str(&response.body).map_err(|e| format!("invalid JSON ({e}): {}", response.body))?;
        Ok(TestResponse { status: response.status, body: parsed, headers: vec![] })
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        self.rt.block_on(async { self.db.lock().await.inner.0.batch_execute(sql).await.map_err(|e| format!("{e:?}")) })
    }
}

/// The payload of a `Bearer` token, minus its validity window.
fn claims_of(header: &str) -> Option<Json> {
    use base64::Engine as _;
    let payload = header.strip_prefix("Bearer ")?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let mut claims: serde_json::Map<String, Json> = serde_json::from_slice(&bytes).ok()?;
    claims.remove("iat");
    claims.remove("exp");
    Some(Json::Object(claims))
}

/// How many requests the init `.gql` files of a test send before its own stages.
fn init_requests(case: &exo_testing::discovery::TestCase) -> usize {
    case.init_files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gql"))
        .map(|p| exo_testing::loader::load_file(p, &p.display().to_string()).map(|f| f.stages.len()).unwrap_or(0))
        .sum()
}

fn render(requests: &[RequestLog]) -> Result<String, String> {
    let mut out = String::new();
    for (i, r) in requests.iter().enumerate() {
        out.push_str(&format!("=== stage {}\n", i + 1));
        out.push_str(r.body["query"].as_str().unwrap_or("").trim_end());
        out.push('\n');
        if let Some(claims) = &r.claims {
            out.push_str(&format!("--- claims: {claims}\n"));
        }
        if let Some(vars) = r.body.get("variables") {
            out.push_str(&format!("--- variables: {vars}\n"));
        }
        if r.statements.is_empty() {
            out.push_str("--- no SQL\n");
        }
        for (sql, params) in &r.statements {
            round_trip(sql, params.len())?;
            out.push_str(&format!("--- sql\n{sql}\n"));
            if !params.is_empty() {
                let shown: Vec<String> = params
                    .iter()
                    .enumerate()
                    .map(|(n, p)| match p {
                        Some(v) => format!("${} = {}", n + 1, Json::String(v.clone())),
                        None => format!("${} = NULL", n + 1),
                    })
                    .collect();
                out.push_str(&format!("--- params\n{}\n", shown.join("\n")));
            }
        }
    }
    Ok(out)
}

/// Parses `sql`, prints sqlparser's AST, parses that again and compares the two trees (so
/// sqlparser reads the statement one way only); checks that `$1..$params` are exactly the
/// placeholders used.
fn round_trip(sql: &str, params: usize) -> Result<(), String> {
    let first = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| format!("sqlparser rejects\n{sql}\n{e}"))?;
    let printed: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    let printed = printed.join(";\n");
    let second = Parser::parse_sql(&PostgreSqlDialect {}, &printed)
        .map_err(|e| format!("sqlparser rejects its own output\n{printed}\n{e}"))?;
    if first != second {
        return Err(format!("the round trip changed the statement\n{sql}\nprinted as\n{printed}"));
    }
    let used = placeholders(sql);
    let highest = used.iter().max().copied().unwrap_or(0);
    if highest != params || (1..=params).any(|n| !used.contains(&n)) {
        return Err(format!("{params} parameters bound, placeholders {used:?} used in\n{sql}"));
    }
    Ok(())
}

/// The `$n` placeholders of a statement (outside quoted names and string literals).
fn placeholders(sql: &str) -> Vec<usize> {
    let mut out = vec![];
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '$') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if let Ok(n) = digits.parse() {
                    out.push(n);
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn placeholders_skip_quoted_names() {
    assert_eq!(placeholders(r#"SELECT "t$1".a, '$9' FROM x AS "t$1" WHERE a = $2 AND b = $1::int4"#), vec![2, 1]);
    assert!(round_trip("SELECT $1::int4", 1).is_ok());
    assert!(round_trip("SELECT $2::int4", 1).is_err());
    assert!(round_trip("SELECT $1::int4, $1", 2).is_err());
}

#[test]
fn every_exotest_operation_has_a_sql_snapshot() {
    let env = Environment {
        rt: tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap(),
        irs: Mutex::default(),
        logs: Mutex::default(),
    };
    let root = examples_dir();
    let mut output = Vec::new();
    let summary = exo_testing::run(&root, None, &env, &mut output);
    assert!(summary.is_success(), "exotest failures:\n{}", String::from_utf8_lossy(&output));
    assert!(summary.passed() >= 20, "expected the suites to run, got:\n{}", String::from_utf8_lossy(&output));

    let projects = exo_testing::discovery::discover(&root, None).unwrap();
    let logs = env.logs.lock().unwrap();
    let mut snapshotted = 0;
    for project in &projects {
        let example = project.dir.file_name().unwrap().to_string_lossy().into_owned();
        for case in &project.tests {
            let log = logs.get(&case.name).unwrap_or_else(|| panic!("{}: never started", case.name));
            let log = log.lock().unwrap();
            let skip = init_requests(case);
            // One request per stage (invariant files would add requests between stages and
            // shift the labels: teach `render` about them before using them).
            let stages = exo_testing::loader::load_file(&case.path, &case.name).map(|f| f.stages.len()).unwrap_or(0);
            assert_eq!(log.len(), skip + stages, "{}: requests do not match the stages", case.name);
            let text = render(&log[skip..]).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let file = case.name.strip_prefix(&format!("{example}/")).unwrap_or(&case.name).replace('/', "__");
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/sql").join(&example);
            insta::with_settings!({snapshot_path => dir, prepend_module_to_snapshot => false, description => case.name.as_str(), omit_expression => true}, {
                insta::assert_snapshot!(file, text);
            });
            snapshotted += 1;
        }
    }
    assert_eq!(snapshotted, summary.results.len());
}
