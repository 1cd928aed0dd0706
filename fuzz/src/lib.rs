//! What the fuzz targets share: the example models compiled once, engines over them, request
//! heads (anonymous and with a token), an in-memory `Db`, and the check that every planned
//! statement parses as PostgreSQL and uses exactly the parameters the plan binds.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use exo_runtime::plan::{Plan, RootPlan, Step};
use exo_runtime::{AuthConfig, Config, Db, DbError, Engine, Introspection, RequestHead, System};
use serde_json::json;

pub const JWT_SECRET: &str = "fuzz-secret";

/// The examples every GraphQL target runs against (chosen for the spread of features: access
/// rules, relations, every scalar type, composite keys, trusted documents).
pub const EXAMPLES: &[&str] = &[
    "todo",
    "blog",
    "all-types",
    "composite-keys",
    "concerts",
    "trusted-documents",
];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ has a parent")
        .to_path_buf()
}

/// The compiled IR of each of [`EXAMPLES`], in order.
pub fn irs() -> &'static [exo_ir::Ir] {
    static IRS: OnceLock<Vec<exo_ir::Ir>> = OnceLock::new();
    IRS.get_or_init(|| {
        EXAMPLES
            .iter()
            .map(|name| {
                let entry = workspace()
                    .join("schema-examples/ok")
                    .join(name)
                    .join("src/index.exo");
                exo_compiler::compile_project(&entry)
                    .ir
                    .unwrap_or_else(|| panic!("example {name} compiles"))
            })
            .collect()
    })
}

/// One engine per example, with introspection on and the default bounds.
pub fn engines() -> &'static [Engine] {
    static ENGINES: OnceLock<Vec<Engine>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        irs()
            .iter()
            .map(|ir| {
                let config = Config {
                    auth: AuthConfig {
                        jwt_secret: Some(JWT_SECRET.into()),
                        ..Default::default()
                    },
                    introspection: Introspection::Enabled,
                    enforce_trusted_documents: false,
                    ..Default::default()
                };
                Engine::new(System::new(ir.clone()), config, Box::new(|_| None))
            })
            .collect()
    })
}

/// Header sets: anonymous, a plain user, an admin (claims the examples' contexts read).
pub fn header_sets() -> &'static [Vec<(String, String)>] {
    static HEADERS: OnceLock<Vec<Vec<(String, String)>>> = OnceLock::new();
    HEADERS.get_or_init(|| {
        let bearer = |claims: serde_json::Value| {
            let mut claims = claims;
            claims["exp"] = json!(4_000_000_000u64);
            vec![(
                "authorization".to_string(),
                format!(
                    "Bearer {}",
                    exo_runtime::jwt::sign_hs256(&claims, JWT_SECRET.as_bytes())
                ),
            )]
        };
        vec![
            vec![],
            bearer(json!({"sub": 2, "id": 2, "role": "user"})),
            bearer(json!({"sub": 1, "id": 1, "role": "admin", "roles": ["admin"]})),
        ]
    })
}

pub fn head(headers: &[(String, String)]) -> RequestHead<'_> {
    RequestHead {
        headers,
        client_ip: Some("127.0.0.1"),
        now: 1_700_000_000,
    }
}

/// Splits fuzz input into (selector byte, first part, second part) at the first NUL.
pub fn split(data: &[u8]) -> Option<(u8, &str, &str)> {
    let (&selector, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    Some(match text.split_once('\0') {
        Some((a, b)) => (selector, a, b),
        None => (selector, text, ""),
    })
}

/// Every statement of `plan` (with `{keys}` replaced as the engine replaces it) parses as
/// PostgreSQL, and its highest `$n` is the number of parameters bound.
pub fn check_plan(plan: &Plan) {
    for field in &plan.fields {
        let RootPlan::Sql { steps, .. } = &field.plan else {
            continue;
        };
        for step in steps {
            let (Step::Json(s) | Step::CollectKeys(s) | Step::CollectSlots(s) | Step::Check(s)) = step;
            let (sql, params) = (s.sql.clone(), s.params.len());
            let dialect = sqlparser::dialect::PostgreSqlDialect {};
            if let Err(e) = sqlparser::parser::Parser::parse_sql(&dialect, &sql) {
                panic!("a planned statement does not parse ({e}):\n{sql}");
            }
            let highest = highest_parameter(&sql);
            assert_eq!(
                highest, params,
                "the statement uses ${highest} at most but binds {params} parameters:\n{sql}"
            );
        }
    }
}

/// The highest `$n` outside string literals and quoted identifiers.
fn highest_parameter(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let (mut i, mut highest) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
                if end > start {
                    highest = highest.max(sql[start..end].parse().unwrap_or(0));
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    highest
}

/// A database that answers every statement with one row holding `value` (the engine splices
/// it as JSON, counts it, or reads it as a slot number) and accepts every command.
pub struct MemDb {
    pub value: Option<String>,
    pub statements: usize,
}

impl Db for MemDb {
    async fn query(
        &mut self,
        _sql: &str,
        _params: &[Option<String>],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        self.statements += 1;
        Ok(vec![vec![self.value.clone()]])
    }

    async fn execute(&mut self, _sql: &str) -> Result<(), DbError> {
        Ok(())
    }
}
