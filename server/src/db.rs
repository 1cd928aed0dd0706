//! `PgDb`: the engine's [`Db`] over one `tokio_postgres::Client`, and the connection settings
//! every connection of the server shares.

use std::collections::HashMap;
use std::error::Error as _;
use std::time::Duration;

use exo_runtime::{Db, DbError};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::config::DatabaseConfig;
use crate::error::Error;

/// One connection as the engine sees it. It remembers whether a transaction is open, so the
/// pool can throw away a connection a failed request left inside `BEGIN`.
pub struct PgDb {
    client: Client,
    in_transaction: bool,
    /// Statements prepared on this connection, by SQL text: a repeated statement costs one
    /// round trip (bind + execute) and no parsing or planning in Postgres.
    statements: HashMap<String, Statement>,
}

/// Beyond this many prepared statements a connection forgets them all and starts again.
const MAX_PREPARED: usize = 512;

impl PgDb {
    pub fn new(client: Client) -> PgDb {
        PgDb { client, in_transaction: false, statements: HashMap::new() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the connection can be handed to another request.
    pub fn is_reusable(&self) -> bool {
        !self.in_transaction && !self.client.is_closed()
    }
}

impl Db for PgDb {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        // Every parameter is sent as text with an explicit type. A statement is prepared the
        // first time this connection sees it (the pool keeps connections, and plans repeat
        // the same SQL), then executed by name in one round trip.
        let values: Vec<Option<&str>> = params.iter().map(|p| p.as_deref()).collect();
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare_typed(sql, &vec![Type::TEXT; params.len()]).await.map_err(db_error)?;
                if self.statements.len() >= MAX_PREPARED {
                    self.statements.clear();
                }
                self.statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        let args: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = match self.client.query(&statement, &args).await {
            Ok(rows) => rows,
            Err(e) => {
                // A statement the server no longer accepts (its result changed after a
                // migration) is prepared again next time.
                self.statements.remove(sql);
                return Err(db_error(e));
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cols = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let text: Option<Text> = row.try_get(i).map_err(db_error)?;
                cols.push(text.map(|t| t.0));
            }
            out.push(cols);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let result = self.client.batch_execute(sql).await.map_err(db_error);
        let command = sql.trim().to_ascii_uppercase();
        if command.starts_with("BEGIN") || command.starts_with("START TRANSACTION") {
            // Even a failed BEGIN leaves the state unknown: treat it as open.
            self.in_transaction = true;
        } else if command.starts_with("COMMIT") || command.starts_with("ROLLBACK") || command.starts_with("END") {
            self.in_transaction = result.is_err();
        }
        result
    }
}

/// A column read as text, spelled by the runtime's shared decoding (`exo_runtime::pg_text`, as
/// in the Worker).
struct Text(String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Text, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Text(exo_runtime::pg_text::decode(ty.oid(), ty.name(), raw)?))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The database's own message (with detail and hint) or the connection problem.
pub(crate) fn db_error(e: tokio_postgres::Error) -> DbError {
    DbError(describe_pg_error(&e))
}

pub(crate) fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    match e.source() {
        Some(src) => format!("{e}: {src}"),
        None => e.to_string(),
    }
}

/// The `tokio_postgres` settings for the server's connections: the URL, plus
/// `default_transaction_read_only=on` unless read-write was asked for.
pub fn connect_config(db: &DatabaseConfig) -> Result<tokio_postgres::Config, Error> {
    let Some(url) = db.url.as_deref() else {
        return Err(Error::new(
            "no database URL: set `EXO_POSTGRES_URL` (or `DATABASE_URL`) to a URL such as \
             `postgres://user:password@localhost:5432/mydb`",
        ));
    };
    let url = strip_ssl_flag(url)?;
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        Error::new(format!(
            "cannot parse the database URL `{}`: {e}; expected `postgres://user:password@host:port/database`",
            redact(&url)
        ))
    })?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err(Error::new(format!(
            "the database URL `{}` asks for TLS (`sslmode=require`), but this build of exo has no TLS support; \
             connect through a local TLS proxy, or remove `sslmode=require` if the network is trusted",
            redact(&url)
        )));
    }
    if !db.read_write {
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} -c default_transaction_read_only=on"),
            _ => "-c default_transaction_read_only=on".to_string(),
        };
        config.options(&options);
    }
    if config.get_application_name().is_none() {
        config.application_name("exo");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// Handles the `ssl=true|false` query parameter Exograph accepts and tokio-postgres does not.
fn strip_ssl_flag(url: &str) -> Result<String, Error> {
    let Some((base, query)) = url.split_once('?') else { return Ok(url.to_string()) };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("ssl", v)) if v.eq_ignore_ascii_case("true") || v == "1" => {
                return Err(Error::new(format!(
                    "the database URL `{}` asks for TLS (`ssl=true`), but this build of exo has no TLS support; \
                     connect through a local TLS proxy, or remove `ssl=true` if the network is trusted",
                    redact(url)
                )))
            }
            Some(("ssl", _)) => {}
            _ => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) })
}

/// The URL with its password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Opens one connection with the server's settings (for tools such as `exo schema`), driven
/// on the current tokio runtime.
pub async fn connect_client(db: &DatabaseConfig) -> Result<Client, Error> {
    let config = connect_config(db)?;
    connect(&config).await.map_err(|e| {
        Error::new(format!(
            "cannot connect to the database at `{}`: {}; check that Postgres is running and that the URL is right",
            db.url.as_deref().map(redact).unwrap_or_default(),
            describe_pg_error(&e)
        ))
    })
}

/// Opens one connection and drives it on the current tokio runtime. A single TCP host is
/// reached through [`PgStream`](crate::socket::PgStream) (large results wake the reader once,
/// not once per 8 KB); anything else (Unix sockets, several hosts) through tokio-postgres's
/// own connector.
pub(crate) async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    if let Some((host, port)) = single_tcp_host(config) {
        let stream = match config.get_connect_timeout() {
            Some(limit) => tokio::time::timeout(*limit, tokio::net::TcpStream::connect((host.as_str(), port)))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))),
            None => tokio::net::TcpStream::connect((host.as_str(), port)).await,
        };
        // A failed connect is reported by tokio-postgres's own connector, with its wording.
        if let Ok(stream) = stream {
            stream.set_nodelay(true).ok();
            if config.get_keepalives() {
                keepalive(&stream, config.get_keepalives_idle());
            }
            let (client, connection) = config.connect_raw(crate::socket::PgStream::new(stream), NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            return Ok(client);
        }
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // A connection ending with an error is noticed by the pool (`Client::is_closed`).
        let _ = connection.await;
    });
    Ok(client)
}

/// The host and port when the configuration names exactly one TCP host (and no separate
/// address to connect to).
fn single_tcp_host(config: &tokio_postgres::Config) -> Option<(String, u16)> {
    use tokio_postgres::config::Host;
    if !config.get_hostaddrs().is_empty() || config.get_ports().len() > 1 {
        return None;
    }
    match config.get_hosts() {
        [Host::Tcp(host)] => Some((host.clone(), config.get_ports().first().copied().unwrap_or(5432))),
        _ => None,
    }
}

/// TCP keepalive as tokio-postgres sets it: on, with the configured idle time.
fn keepalive(stream: &tokio::net::TcpStream, idle: Duration) {
    use crate::socket::set_int_option;
    set_int_option(stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set_int_option(stream, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle.as_secs().clamp(1, i32::MAX as u64) as libc::c_int);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(url: &str, read_write: bool) -> DatabaseConfig {
        DatabaseConfig { url: Some(url.into()), pool_size: 1, read_write, check_on_startup: false }
    }

    #[test]
    fn read_only_by_default() {
        let c = connect_config(&db("postgres://u@localhost/x", false)).unwrap();
        assert_eq!(c.get_options(), Some("-c default_transaction_read_only=on"));
        let c = connect_config(&db("postgres://u@localhost/x", true)).unwrap();
        assert_eq!(c.get_options(), None);
    }

    #[test]
    fn tls_is_refused_clearly() {
        let e = connect_config(&db("postgres://u:secret@localhost/x?sslmode=require", true)).unwrap_err();
        assert!(e.message().contains("no TLS support"), "{e}");
        assert!(!e.message().contains("secret"), "{e}");
        let e = connect_config(&db("postgres://u@localhost/x?ssl=true", true)).unwrap_err();
        assert!(e.message().contains("no TLS support"), "{e}");
        assert!(connect_config(&db("postgres://u@localhost/x?ssl=false", true)).is_ok());
    }

    #[test]
    fn missing_url_says_what_to_set() {
        let e = connect_config(&DatabaseConfig { url: None, pool_size: 1, read_write: false, check_on_startup: true })
            .unwrap_err();
        assert!(e.message().contains("EXO_POSTGRES_URL"), "{e}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:pw@h:5/db?x=1"), "postgres://u:***@h:5/db?x=1");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
