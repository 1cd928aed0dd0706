//! Shared set-up: compiled examples, a database per test, an engine over tokio-postgres.

use std::path::{Path, PathBuf};

use exo_runtime::{AuthConfig, Config, Db, DbError, Engine, Introspection, RequestHead, System};
use serde_json::Value as Json;
use tokio_postgres::types::Type;

pub const JWT_SECRET: &str = "integration-test-secret";

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema-examples/ok")
}

pub fn compile_example(name: &str) -> exo_ir::Ir {
    let entry = examples_dir().join(name).join("src/index.exo");
    let compiled = exo_compiler::compile_project(&entry);
    match compiled.ir {
        Some(ir) => ir,
        None => panic!(
            "example {name} failed to compile:\n{}",
            exo_compiler::diag::render(&compiled.diagnostics, &compiled.sources, 100, false)
        ),
    }
}

/// A Db over one tokio-postgres connection: text parameters, text columns, one round trip.
pub struct PgDb(pub tokio_postgres::Client);

impl Db for PgDb {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let typed: Vec<(&(dyn tokio_postgres::types::ToSql + Sync), Type)> =
            params.iter().map(|p| (p as &(dyn tokio_postgres::types::ToSql + Sync), Type::TEXT)).collect();
        let rows = self.0.query_typed(sql, &typed).await.map_err(|e| DbError(format!("{e:?}")))?;
        Ok(rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect())
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.batch_execute(sql).await.map_err(|e| DbError(e.to_string()))
    }
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(pg) = exo_pg_ephemeral::EphemeralPostgres::shared() {
            let _ = pg.drop_database(&self.name);
        }
    }
}

/// A fresh database with the model's schema applied.
pub async fn database_for(ir: &exo_ir::Ir, prefix: &str) -> (TestDb, PgDb) {
    let pg = exo_pg_ephemeral::EphemeralPostgres::shared().expect("an ephemeral Postgres");
    let name = exo_pg_ephemeral::unique_db_name(prefix);
    let url = pg.create_database(&name).expect("create database");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    let stmts = exo_pg_schema::create_statements(&ir.database);
    let script: Vec<String> = stmts.iter().map(|s| s.sql.clone()).collect();
    client.batch_execute(&script.join(";\n")).await.expect("apply schema");
    (TestDb { name, url }, PgDb(client))
}

pub fn engine(ir: exo_ir::Ir) -> Engine {
    engine_with(System::new(ir))
}

pub fn engine_with(system: System) -> Engine {
    let config = Config {
        auth: AuthConfig { jwt_secret: Some(JWT_SECRET.into()), ..Default::default() },
        introspection: Introspection::Enabled,
        ..Default::default()
    };
    Engine::new(system, config, Box::new(|_| None))
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub fn token(claims: Json) -> String {
    let mut claims = claims;
    claims["exp"] = Json::from(now() + 3600);
    exo_runtime::jwt::sign_hs256(&claims, JWT_SECRET.as_bytes())
}

/// Runs a request; `auth` are JWT claims (None: anonymous).
pub async fn gql(engine: &Engine, db: &mut PgDb, query: &str, variables: Json, auth: Option<Json>) -> Json {
    let mut headers = vec![];
    if let Some(claims) = auth {
        headers.push(("Authorization".to_string(), format!("Bearer {}", token(claims))));
    }
    let head = RequestHead { headers: &headers, client_ip: Some("127.0.0.1"), now: now() };
    let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
    let resp = engine.handle(body.as_bytes(), &head, db).await;
    serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", resp.body))
}
