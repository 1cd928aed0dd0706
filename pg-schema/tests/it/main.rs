//! Integration tests of `exo-pg-schema`: DDL snapshots, every statement through sqlparser, and
//! create / introspect / diff / migrate against a real PostgreSQL (one fresh database per test),
//! and the catalog an import reads.

mod catalog;
mod ddl;
mod migrate;
mod models;
mod roundtrip;

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use exo_pg_schema::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::{Client, NoTls};

/// A fresh database on the shared cluster, dropped when the test ends.
pub struct TestDb {
    pub client: Client,
    name: String,
}

impl TestDb {
    pub async fn new(prefix: &str) -> TestDb {
        let pg = EphemeralPostgres::shared().expect("PostgreSQL for tests");
        let name = unique_db_name(prefix);
        let url = pg.create_database(&name).expect("create test database");
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        TestDb { client, name }
    }

    /// Runs SQL written by the test itself (fixtures, data).
    pub async fn exec(&self, sql: &str) {
        self.client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        self.client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")).get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(pg) = EphemeralPostgres::shared() {
            let _ = pg.drop_database(&self.name);
        }
    }
}

/// Every statement parses as exactly one PostgreSQL statement. No statement kind is excluded:
/// sqlparser 0.64 reads dollar-quoted plpgsql bodies and `CREATE TRIGGER ... EXECUTE FUNCTION`.
pub fn assert_parses(statements: &[Statement]) {
    for s in statements {
        match Parser::parse_sql(&PostgreSqlDialect {}, &s.sql) {
            Ok(parsed) => assert_eq!(parsed.len(), 1, "one statement expected in:\n{}", s.sql),
            Err(e) => panic!("sqlparser rejects {:?}:\n{}\n{e}", s.kind, s.sql),
        }
    }
}
