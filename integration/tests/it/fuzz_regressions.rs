//! Replays the inputs under `fuzz/regressions/<target>/` (crashes the fuzzers found, and
//! hostile inputs written by hand) through the same checks as the cargo-fuzz targets in
//! `fuzz/`, so they stay fixed in the normal test suite without a nightly toolchain. An input
//! is `<selector byte><text>` as the targets read it (see `fuzz/src/lib.rs`); `.exo` files are
//! plain source.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use exo_runtime::plan::{Plan, RootPlan, Step};
use exo_runtime::{AuthConfig, Config, Db, DbError, Engine, Introspection, RequestHead, System};
use serde_json::json;

use crate::common::*;

/// The examples the fuzz targets address by selector, in the same order.
const EXAMPLES: &[&str] = &["todo", "blog", "all-types", "composite-keys", "concerts", "trusted-documents"];

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression inputs in {}", dir.display());
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

fn irs() -> &'static [exo_ir::Ir] {
    static IRS: OnceLock<Vec<exo_ir::Ir>> = OnceLock::new();
    IRS.get_or_init(|| EXAMPLES.iter().map(|name| compile_example(name)).collect())
}

fn engine(selector: u8) -> Engine {
    let ir = irs()[selector as usize % EXAMPLES.len()].clone();
    let config = Config {
        auth: AuthConfig { jwt_secret: Some(JWT_SECRET.into()), ..Default::default() },
        introspection: Introspection::Enabled,
        enforce_trusted_documents: false,
        ..Default::default()
    };
    Engine::new(System::new(ir), config, Box::new(|_| None))
}

fn headers(selector: u8) -> Vec<(String, String)> {
    match (selector as usize / EXAMPLES.len()) % 3 {
        0 => vec![],
        1 => vec![("authorization".into(), format!("Bearer {}", token(json!({"sub": 2, "id": 2, "role": "user"}))))],
        _ => vec![("authorization".into(), format!("Bearer {}", token(json!({"sub": 1, "id": 1, "role": "admin"}))))],
    }
}

fn head(headers: &[(String, String)]) -> RequestHead<'_> {
    RequestHead { headers, client_ip: Some("127.0.0.1"), now: now() }
}

/// Every statement parses as PostgreSQL and binds exactly the parameters it uses.
fn check_plan(plan: &Plan, input: &Path) {
    for field in &plan.fields {
        let RootPlan::Sql { steps, .. } = &field.plan else {
            continue;
        };
        for step in steps {
            let (Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s)) = step;
            let (sql, params) = (s.sql.clone(), s.params.len());
            let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql);
            assert!(parsed.is_ok(), "{}: {parsed:?}\n{sql}", input.display());
            assert_eq!(highest_parameter(&sql), params, "{}: {sql}", input.display());
        }
    }
}

/// The highest `$n` outside string literals and quoted identifiers (aliases such as
/// `"todos$1"` are not parameters).
fn highest_parameter(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let (mut i, mut highest) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && !(bytes[i] == quote && bytes.get(i + 1) != Some(&quote)) {
                    i += if bytes[i] == quote { 2 } else { 1 };
                }
                i += 1;
            }
            b'$' => {
                let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if digits > 0 {
                    highest = highest.max(sql[i + 1..i + 1 + digits].parse().unwrap_or(0));
                }
                i += 1 + digits;
            }
            _ => i += 1,
        }
    }
    highest
}

struct MemDb(Option<String>);

impl Db for MemDb {
    async fn query(&mut self, _sql: &str, _params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        Ok(vec![vec![self.0.clone()]])
    }

    async fn execute(&mut self, _sql: &str) -> Result<(), DbError> {
        Ok(())
    }
}

fn split(data: &[u8]) -> (u8, &str, &str) {
    let (&selector, rest) = data.split_first().expect("a selector byte");
    let text = std::str::from_utf8(rest).expect("UTF-8 after the selector");
    let (a, b) = text.split_once('\0').unwrap_or((text, ""));
    (selector, a, b)
}

#[test]
fn exo_sources_compile_or_fail_with_diagnostics() {
    for (path, data) in inputs("exo_source") {
        let src = String::from_utf8(data).unwrap();
        let compiled = exo_compiler::compile_str("fuzz.exo", &src);
        let rendered = exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false);
        match compiled.ir {
            Some(ir) => assert_eq!(exo_ir::decode(&exo_ir::encode(&ir)).unwrap(), ir, "{}", path.display()),
            None => assert!(!rendered.is_empty(), "{}: no IR and no diagnostic", path.display()),
        }
    }
}

#[test]
fn graphql_requests_plan_to_well_formed_sql_or_errors() {
    for (path, data) in inputs("graphql_request") {
        let (selector, document, variables) = split(&data);
        let variables = match serde_json::from_str(variables) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let headers = headers(selector);
        match engine(selector).plan_for(document, None, &variables, &head(&headers)) {
            Ok(plan) => check_plan(&plan, &path),
            Err(errors) => assert!(!errors.is_empty(), "{}", path.display()),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn http_bodies_get_json_answers() {
    for (path, data) in inputs("http_body") {
        let (&selector, body) = data.split_first().unwrap();
        let headers = headers(selector);
        let mut db = MemDb(Some("null".into()));
        let response = engine(selector).handle(body, &head(&headers), &mut db).await;
        assert!((200..600).contains(&response.status), "{}", path.display());
        let parsed: serde_json::Value =
            serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(parsed.get("data").is_some() || parsed.get("errors").is_some(), "{}: {parsed}", path.display());
    }
}

#[test]
fn trusted_document_files_compile_or_fail_with_diagnostics() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("trusted-documents")).unwrap();
    for (path, data) in inputs("trusted_documents") {
        let (selector, text, _) = split(&data);
        let mut ir = irs()[selector as usize % EXAMPLES.len()].clone();
        std::fs::write(project.path().join("trusted-documents/fuzz.json"), text).unwrap();
        let mut sources = exo_compiler::source::SourceMap::new();
        let mut diagnostics = vec![];
        exo_compiler::trusted_docs::attach(&mut ir, project.path(), &mut sources, &mut diagnostics);
        let _ = exo_compiler::diag::render(&diagnostics, &sources, 100, false);
        assert!(
            !diagnostics.is_empty() || !ir.trusted_documents.is_empty(),
            "{}: neither documents nor diagnostics",
            path.display()
        );
    }
}
