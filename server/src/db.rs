//! `PgDb`: the engine's [`Db`] over one `tokio_postgres::Client`, and the connection settings
//! every connection of the server shares.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exo_runtime::{Db, DbError};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::config::DatabaseConfig;
use crate::error::Error;
use crate::socket::ResultGuard;

/// One connection as the engine sees it. It remembers whether a transaction is open, so the
/// pool can throw away a connection a failed request left inside `BEGIN`.
pub struct PgDb {
    client: Client,
    in_transaction: bool,
    /// A statement was sent and its answer not fully read (the request was dropped while it
    /// waited): the connection's state is unknown, so it is not reused.
    busy: bool,
    /// Statements prepared on this connection, by SQL text: a repeated statement costs one
    /// round trip (bind + execute) and no parsing or planning in Postgres.
    statements: HashMap<String, Statement>,
    /// Shared with the connection's stream, which stops a result crossing the response-size
    /// bound as it arrives (`None` for connections not made through [`PgStream`](crate::socket::PgStream)).
    pub(crate) guard: Option<Arc<ResultGuard>>,
    /// Where to send a cancel request, for connections made from a raw stream (`None`: the
    /// client's own cancel token knows).
    cancel_addr: Option<(String, u16)>,
    bounds: Bounds,
}

/// The current request's bounds, set on a connection before each statement.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bounds {
    /// When the request's database time ends, and the configured timeout (for messages).
    pub deadline: Option<(Instant, u64)>,
    /// Bytes of rows the request may still receive, and the configured maximum.
    pub budget: Option<(usize, usize)>,
}

/// Beyond this many prepared statements a connection forgets them all and starts again.
const MAX_PREPARED: usize = 512;

impl PgDb {
    pub fn new(client: Client) -> PgDb {
        PgDb::guarded(client, None)
    }

    pub(crate) fn guarded(client: Client, guard: Option<Arc<ResultGuard>>) -> PgDb {
        PgDb { client, in_transaction: false, busy: false, statements: HashMap::new(), guard, cancel_addr: None, bounds: Bounds::default() }
    }

    /// The address cancel requests go to (for connections made from a raw stream).
    pub(crate) fn with_cancel_addr(mut self, addr: Option<(String, u16)>) -> PgDb {
        self.cancel_addr = addr;
        self
    }

    /// Applies `bounds` to the statements that follow.
    pub(crate) fn set_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the connection can be handed to another request.
    pub fn is_reusable(&self) -> bool {
        !self.in_transaction && !self.busy && !self.client.is_closed()
    }

    /// Runs a prepared statement under the request's bounds. With a deadline, the statement
    /// runs as usual and a timer waits beside it; when the time left runs out first, exo sends
    /// Postgres a cancel request for it (on a second, short-lived connection, as `psql`'s
    /// Ctrl-C does, and as PgBouncer forwards), Postgres cancels the statement, and the
    /// statement's own answer (an error, or its rows if it finished meanwhile) is awaited as
    /// usual so the connection stays in step. Nothing is sent in the normal case: a pipelined
    /// `BEGIN; SET LOCAL statement_timeout` and `COMMIT` around every read cost about a third
    /// of the read throughput in `benches/load/run.sh`, and a session `SET` would not survive
    /// a transaction-pooling PgBouncer. If the cancel cannot be delivered, the statement is
    /// abandoned after [`CANCEL_GRACE`] and the connection (still `busy`) is discarded.
    async fn run_bounded(&self, statement: &Statement, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<tokio_postgres::Row>, Bounded> {
        let Some((deadline, _)) = self.bounds.deadline else {
            return self.client.query(statement, args).await.map_err(Bounded::Failed);
        };
        let query = self.client.query(statement, args);
        tokio::pin!(query);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, &mut query).await {
            Ok(result) => result.map_err(Bounded::Failed),
            Err(_) => {
                self.cancel().await;
                match tokio::time::timeout(CANCEL_GRACE, query).await {
                    Ok(result) => result.map_err(Bounded::Failed),
                    Err(_) => Err(Bounded::Abandoned),
                }
            }
        }
    }

    /// Asks Postgres to cancel the statement running on this connection (best effort).
    async fn cancel(&self) {
        let token = self.client.cancel_token();
        let sent = match &self.cancel_addr {
            // Connections made from a raw stream: the token does not know the address.
            Some((host, port)) => match tokio::time::timeout(CANCEL_GRACE, tokio::net::TcpStream::connect((host.as_str(), *port))).await {
                Ok(Ok(stream)) => token.cancel_query_raw(stream, NoTls).await.map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out connecting".to_string()),
            },
            None => token.cancel_query(NoTls).await.map_err(|e| e.to_string()),
        };
        if let Err(e) = sent {
            crate::log::warn(&format!("could not send Postgres a cancel request for a statement past its timeout: {e}"));
        }
    }

    /// The error for a failed statement: the bounds' own messages for a cancelled statement
    /// or a cut result, else the database's.
    fn statement_error(&self, e: Bounded) -> DbError {
        let e = match e {
            Bounded::Failed(e) => e,
            Bounded::Abandoned => {
                return DbError::for_client(timeout_message(self.bounds.deadline.map_or(0, |(_, ms)| ms)));
            }
        };
        if let (Some((_, max)), Some(guard)) = (self.bounds.budget, &self.guard) {
            if guard.exceeded() {
                return DbError::for_client(exo_runtime::engine::response_too_large_message(max));
            }
        }
        if let Some((_, ms)) = self.bounds.deadline {
            if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
                return DbError::for_client(timeout_message(ms));
            }
        }
        db_error(e)
    }
}

/// How a bounded statement did not succeed.
enum Bounded {
    Failed(tokio_postgres::Error),
    /// Past its timeout, and no answer came within [`CANCEL_GRACE`] of the cancel request.
    Abandoned,
}

/// How long a statement past its timeout is given to end after the cancel request, and how
/// long connecting to send that request may take.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

fn timeout_message(ms: u64) -> String {
    format!(
        "The operation was cancelled after {ms} ms in the database (`EXO_STATEMENT_TIMEOUT_MS`); \
         ask for fewer rows or simpler filters"
    )
}

impl Db for PgDb {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        // Every parameter is sent as text with an explicit type. A statement is prepared the
        // first time this connection sees it (the pool keeps connections, and plans repeat
        // the same SQL), then executed by name in one round trip.
        let values: Vec<Option<&str>> = params.iter().map(|p| p.as_deref()).collect();
        if let Some((deadline, ms)) = self.bounds.deadline {
            if Instant::now() >= deadline {
                return Err(DbError::for_client(timeout_message(ms)));
            }
        }
        self.busy = true;
        let statement = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare_typed(sql, &vec![Type::TEXT; params.len()]).await.map_err(db_error);
                let s = match s {
                    Ok(s) => s,
                    Err(e) => {
                        self.busy = false;
                        return Err(e);
                    }
                };
                if self.statements.len() >= MAX_PREPARED {
                    self.statements.clear();
                }
                self.statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        let args: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        if let (Some(guard), Some((left, _))) = (&self.guard, self.bounds.budget) {
            guard.allow(left);
        }
        let result = self.run_bounded(&statement, &args).await;
        if let Some(guard) = &self.guard {
            guard.allow(usize::MAX);
        }
        // An abandoned statement may still answer later: the connection is not reused.
        self.busy = matches!(result, Err(Bounded::Abandoned));
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                // A statement the server no longer accepts (its result changed after a
                // migration) is prepared again next time.
                self.statements.remove(sql);
                return Err(self.statement_error(e));
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        for row in rows {
            let mut cols = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                let text: Option<Text> = row.try_get(i).map_err(db_error)?;
                bytes += text.as_ref().map_or(0, |t| t.0.len());
                cols.push(text.map(|t| t.0));
            }
            out.push(cols);
        }
        // Connections without the stream's guard (Unix sockets, several hosts) are checked
        // once the rows are in.
        if let Some((left, max)) = self.bounds.budget {
            if bytes > left {
                return Err(DbError::for_client(exo_runtime::engine::response_too_large_message(max)));
            }
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.busy = true;
        let result = self.client.batch_execute(sql).await.map_err(db_error);
        self.busy = false;
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

/// A column read as text. Generated SQL casts every output to `text`; the other common types
/// are converted to their Postgres text spelling so a hand-written query still works.
struct Text(String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Text, Box<dyn std::error::Error + Sync + Send>> {
        let text = match *ty {
            Type::BOOL => if bool::from_sql(ty, raw)? { "t" } else { "f" }.to_string(),
            Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
            Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
            Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
            Type::FLOAT4 => f32::from_sql(ty, raw)?.to_string(),
            Type::FLOAT8 => f64::from_sql(ty, raw)?.to_string(),
            Type::JSON | Type::JSONB => serde_json::Value::from_sql(ty, raw)?.to_string(),
            _ if <&str as FromSql>::accepts(ty) || *ty == Type::UNKNOWN => std::str::from_utf8(raw)?.to_string(),
            _ => return Err(format!("column has type `{ty}`; exo reads result columns as text (cast it with `::text`)").into()),
        };
        Ok(Text(text))
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
    connect_guarded(config).await.map(|(client, _)| client)
}

/// [`connect`], with the stream's [`ResultGuard`] when the connection has one.
pub(crate) async fn connect_guarded(
    config: &tokio_postgres::Config,
) -> Result<(Client, Option<Arc<ResultGuard>>), tokio_postgres::Error> {
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
            let guard = Arc::new(ResultGuard::default());
            let (client, connection) = config.connect_raw(crate::socket::PgStream::new(stream, guard.clone()), NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            return Ok((client, Some(guard)));
        }
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // A connection ending with an error is noticed by the pool (`Client::is_closed`).
        let _ = connection.await;
    });
    Ok((client, None))
}

/// The host and port when the configuration names exactly one TCP host (and no separate
/// address to connect to).
pub(crate) fn single_tcp_host(config: &tokio_postgres::Config) -> Option<(String, u16)> {
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
