//! `PgDb`: the engine's [`Db`] over one `tokio_postgres::Client`, and the connection settings
//! every connection of the server shares.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exo_runtime::env::redact_url as redact;
use exo_runtime::{Db, DbError};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::config::DatabaseConfig;
use crate::error::Error;
use crate::socket::ResultGuard;
use crate::tls::{self, MakeRustls, SslMode, Tls};

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
    /// Where a cancel request for a statement past its timeout goes.
    cancel: CancelVia,
    bounds: Bounds,
    mode: Arc<StatementMode>,
}

/// How a connection's running statement is cancelled.
#[derive(Clone, Default)]
pub(crate) enum CancelVia {
    /// By the client's own cancel token (connections through tokio-postgres's connector), with
    /// the connection's TLS configuration when its sslmode may use TLS.
    #[default]
    Token,
    TokenTls(Tls),
    /// A new TCP connection to this address (connections made from a raw stream, whose
    /// token does not know the address). With a TLS configuration and the host name its
    /// certificate must carry, the cancel request goes as the session did: an `SSLRequest`
    /// first and, when the server accepts it, the `CancelRequest` inside TLS (Postgres reads
    /// it there as on a plain connection).
    Addr(String, u16, Option<(Tls, String)>),
}

/// The current request's bounds, set on a connection before each statement.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bounds {
    /// When the request's database time ends, and the configured timeout (for messages).
    pub deadline: Option<(Instant, u64)>,
    /// Bytes of rows the request may still receive, and the configured maximum.
    pub budget: Option<(usize, usize)>,
}

/// How a pool's connections send statements; shared by them, so that finding a pooler that
/// loses prepared statements switches every connection at once.
#[derive(Debug)]
pub(crate) struct StatementMode {
    /// Wrap each transaction (and each statement outside one) in `READ ONLY`.
    read_only: bool,
    /// Named prepared statements are kept per connection. Off: each statement is parsed,
    /// bound and executed unnamed, in the same single round trip.
    named: AtomicBool,
}

impl StatementMode {
    pub(crate) fn new(settings: &ConnectSettings) -> Arc<StatementMode> {
        Arc::new(StatementMode { read_only: settings.read_only, named: AtomicBool::new(settings.prepared_statements) })
    }

    pub(crate) fn named(&self) -> bool {
        self.named.load(Ordering::Relaxed)
    }
}

/// Beyond this many prepared statements a connection forgets them all and starts again.
const MAX_PREPARED: usize = 512;

/// SQLSTATE 26000: Bind named a statement the server does not know. Behind a pooler in
/// transaction mode that does not track prepared statements (PgBouncer before 1.21), the
/// statement was prepared on another server connection.
const UNKNOWN_STATEMENT: &str = "26000";

impl PgDb {
    /// A connection that keeps named statements and may write (tools, tests).
    pub fn new(client: Client) -> PgDb {
        PgDb::with_mode(client, Arc::new(StatementMode { read_only: false, named: AtomicBool::new(true) }))
    }

    pub(crate) fn with_mode(client: Client, mode: Arc<StatementMode>) -> PgDb {
        PgDb {
            client,
            in_transaction: false,
            busy: false,
            statements: HashMap::new(),
            guard: None,
            cancel: CancelVia::Token,
            bounds: Bounds::default(),
            mode,
        }
    }

    /// The stream's result guard, for connections made through [`PgStream`](crate::socket::PgStream).
    pub(crate) fn with_guard(mut self, guard: Option<Arc<ResultGuard>>) -> PgDb {
        self.guard = guard;
        self
    }

    /// How cancel requests are sent for this connection.
    pub(crate) fn with_cancel(mut self, cancel: CancelVia) -> PgDb {
        self.cancel = cancel;
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

    /// Runs one statement: by a name prepared on this connection, or unnamed.
    async fn run(
        &mut self,
        sql: &str,
        values: &[Option<&str>],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        run_statement(&self.client, &mut self.statements, self.mode.named(), sql, values).await
    }

    /// [`run`](Self::run) inside `BEGIN READ ONLY` ... `COMMIT`, the three sent together: one
    /// round trip, as a bare statement would be (a first use of a named statement still
    /// prepares it first).
    async fn run_read_only(
        &mut self,
        sql: &str,
        values: &[Option<&str>],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let named = self.mode.named();
        if named && !self.statements.contains_key(sql) {
            prepare(&self.client, &mut self.statements, sql, values.len()).await?;
        }
        let client = &self.client;
        // `join!` polls in order on its first poll, and each future sends its messages on its
        // first poll: the three requests leave in this order, in one write.
        let (begin, rows, commit) = tokio::join!(
            client.batch_execute("BEGIN READ ONLY"),
            run_statement(client, &mut self.statements, named, sql, values),
            client.batch_execute("COMMIT")
        );
        if commit.is_err() {
            // The transaction may still be open: never hand this connection out again.
            self.in_transaction = true;
        }
        begin?;
        let rows = rows?;
        commit?;
        Ok(rows)
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
    async fn run_bounded(
        &mut self,
        wrap: bool,
        sql: &str,
        values: &[Option<&str>],
    ) -> Result<Vec<tokio_postgres::Row>, Bounded> {
        let Some((deadline, _)) = self.bounds.deadline else {
            return self.run_any(wrap, sql, values).await.map_err(Bounded::Failed);
        };
        let token = self.client.cancel_token();
        let via = self.cancel.clone();
        let query = self.run_any(wrap, sql, values);
        tokio::pin!(query);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, &mut query).await {
            Ok(result) => result.map_err(Bounded::Failed),
            Err(_) => {
                cancel(&token, &via).await;
                match tokio::time::timeout(CANCEL_GRACE, query).await {
                    Ok(result) => result.map_err(Bounded::Failed),
                    Err(_) => Err(Bounded::Abandoned),
                }
            }
        }
    }

    /// [`run_read_only`](Self::run_read_only) when `wrap`, else [`run`](Self::run).
    async fn run_any(
        &mut self,
        wrap: bool,
        sql: &str,
        values: &[Option<&str>],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        if wrap {
            self.run_read_only(sql, values).await
        } else {
            self.run(sql, values).await
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

/// Asks Postgres to cancel the statement running on a connection (best effort).
async fn cancel(token: &tokio_postgres::CancelToken, via: &CancelVia) {
    let sent = match via {
        // Connections made from a raw stream: the token does not know the address.
        CancelVia::Addr(host, port, tls) => {
            let sent = async {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).ok();
                match tls {
                    // The token keeps the session's sslmode: `prefer` stays plain when the
                    // server answers `N`, `require` and above negotiate TLS.
                    Some((tls, name)) => {
                        let connector = tls.connector(name)?;
                        token.cancel_query_raw(stream, connector).await.map_err(|e| e.to_string())
                    }
                    None => token.cancel_query_raw(stream, NoTls).await.map_err(|e| e.to_string()),
                }
            };
            tokio::time::timeout(CANCEL_GRACE, sent).await.unwrap_or_else(|_| Err("timed out".to_string()))
        }
        CancelVia::Token => token.cancel_query(NoTls).await.map_err(|e| e.to_string()),
        CancelVia::TokenTls(tls) => token.cancel_query(MakeRustls(tls.clone())).await.map_err(|e| e.to_string()),
    };
    if let Err(e) = sent {
        crate::log::warn(&format!("could not send Postgres a cancel request for a statement past its timeout: {e}"));
    }
}

/// Prepares `sql` with text parameters and remembers it by its text.
async fn prepare(
    client: &Client,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
    params: usize,
) -> Result<Statement, tokio_postgres::Error> {
    let s = client.prepare_typed(sql, &vec![Type::TEXT; params]).await?;
    if statements.len() >= MAX_PREPARED {
        statements.clear();
    }
    statements.insert(sql.to_string(), s.clone());
    Ok(s)
}

async fn run_statement(
    client: &Client,
    statements: &mut HashMap<String, Statement>,
    named: bool,
    sql: &str,
    values: &[Option<&str>],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    if !named {
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            values.iter().map(|v| (v as &(dyn ToSql + Sync), Type::TEXT)).collect();
        return client.query_typed(sql, &typed).await;
    }
    let statement = match statements.get(sql) {
        Some(s) => s.clone(),
        None => prepare(client, statements, sql, values.len()).await?,
    };
    let args: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let result = client.query(&statement, &args).await;
    if result.is_err() {
        // A statement the server no longer accepts (its result changed after a migration)
        // is prepared again next time.
        statements.remove(sql);
    }
    result
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
    exo_runtime::engine::statement_timeout_message(ms)
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
        let wrap = self.mode.read_only && !self.in_transaction;
        let named = self.mode.named();
        if let (Some(guard), Some((left, _))) = (&self.guard, self.bounds.budget) {
            guard.allow(left);
        }
        self.busy = true;
        let mut result = self.run_bounded(wrap, sql, &values).await;
        let lost = |r: &Result<_, Bounded>| matches!(r, Err(Bounded::Failed(e)) if e.code().is_some_and(|c| c.code() == UNKNOWN_STATEMENT));
        if named && lost(&result) {
            // A pooler lost the statement: from now on the pool sends statements unnamed.
            if self.mode.named.swap(false, Ordering::Relaxed) {
                crate::log::warn(
                    "a prepared statement vanished between transactions (a pooler in transaction mode?); \
                     sending statements unnamed from now on (set `EXO_POSTGRES_PREPARED_STATEMENTS=false` to start so)",
                );
            }
            self.statements.clear();
            if !self.in_transaction {
                result = self.run_bounded(wrap, sql, &values).await;
            }
        }
        if let Some(guard) = &self.guard {
            guard.allow(usize::MAX);
        }
        // An abandoned statement may still answer later: the connection is not reused.
        self.busy = matches!(result, Err(Bounded::Abandoned));
        let rows = result.map_err(|e| self.statement_error(e))?;
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
        let command = sql.trim().to_ascii_uppercase();
        let begins = command.starts_with("BEGIN") || command.starts_with("START TRANSACTION");
        // Read-only mode marks every transaction (transaction modes may follow one another
        // without commas, so this holds for `BEGIN ISOLATION LEVEL ...` too).
        let read_only_begin;
        let sql = if begins && self.mode.read_only {
            read_only_begin = format!("{} READ ONLY", sql.trim().trim_end_matches(';'));
            read_only_begin.as_str()
        } else {
            sql
        };
        self.busy = true;
        let result = self.client.batch_execute(sql).await.map_err(db_error);
        self.busy = false;
        if begins {
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

/// Everything needed to open a connection like the server's: the tokio-postgres settings
/// (without the TLS parameters it does not know), the TLS mode with its rustls configuration,
/// and how statements are sent.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) tls: Tls,
    /// The URL with the password hidden, for messages.
    pub(crate) shown_url: String,
    /// Every transaction is `READ ONLY` (`EXO_POSTGRES_READ_WRITE` unset).
    pub(crate) read_only: bool,
    /// Named prepared statements kept per connection (`EXO_POSTGRES_PREPARED_STATEMENTS`).
    pub(crate) prepared_statements: bool,
}

impl ConnectSettings {
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.params.mode
    }

    /// The connection problem `e` as a sentence naming the URL (no password) and the TLS mode.
    pub(crate) fn describe_failure(&self, e: &tokio_postgres::Error) -> String {
        format!(
            "cannot connect to the database at `{}` (sslmode {}): {}",
            self.shown_url,
            self.ssl_mode().as_str(),
            describe_pg_error(e)
        )
    }
}

/// The settings for the server's connections, from the URL and the other database variables.
/// Read-only mode is not a startup parameter (poolers such as PgBouncer refuse `options`):
/// [`PgDb`] makes each transaction `READ ONLY` instead.
pub fn connect_config(db: &DatabaseConfig) -> Result<ConnectSettings, Error> {
    let Some(url) = db.url.as_deref() else {
        return Err(Error::new(
            "no database URL: set `EXO_POSTGRES_URL` (or `DATABASE_URL`) to a URL such as \
             `postgres://user:password@localhost:5432/mydb`",
        ));
    };
    let shown_url = redact(url);
    let (url, params) = tls::take_tls_params(url)
        .map_err(|e| Error::new(format!("the database URL `{shown_url}` is not usable: {e}")))?;
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        Error::new(format!(
            "cannot parse the database URL `{shown_url}`: {e}; expected `postgres://user:password@host:port/database`"
        ))
    })?;
    config.ssl_mode(params.mode.transport());
    let tls = Tls::new(params).map_err(|e| Error::new(format!("the database URL `{shown_url}` is not usable: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("exo");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(ConnectSettings {
        pg: config,
        tls,
        shown_url,
        read_only: !db.read_write,
        prepared_statements: db.prepared_statements,
    })
}

/// Opens one connection with the server's settings (for tools such as `exo schema`), driven
/// on the current tokio runtime.
pub async fn connect_client(db: &DatabaseConfig) -> Result<Client, Error> {
    let settings = connect_config(db)?;
    connect(&settings).await.map_err(|e| {
        Error::new(format!(
            "{}; check that Postgres is running and that the URL is right",
            settings.describe_failure(&e)
        ))
    })
}

/// Opens one connection and drives it on the current tokio runtime.
///
/// A single TCP host is reached through [`PgStream`](crate::socket::PgStream) (large results
/// wake the reader once, not once per 8 KB; over TLS that shortcut is off); anything else
/// (Unix sockets, several hosts) through tokio-postgres's own connector. `sslmode=allow`
/// tries plain first and TLS only when the server refuses the plain session.
pub(crate) async fn connect(settings: &ConnectSettings) -> Result<Client, tokio_postgres::Error> {
    connect_guarded(settings).await.map(|(client, _, _)| client)
}

/// [`connect`], with the stream's [`ResultGuard`] when the connection has one (plain sessions
/// through [`PgStream`](crate::socket::PgStream)) and how to cancel its statements.
pub(crate) async fn connect_guarded(
    settings: &ConnectSettings,
) -> Result<(Client, Option<Arc<ResultGuard>>, CancelVia), tokio_postgres::Error> {
    match connect_once(settings, &settings.pg).await {
        Err(e) if settings.ssl_mode() == SslMode::Allow && e.as_db_error().is_some() => {
            let mut with_tls = settings.pg.clone();
            with_tls.ssl_mode(tokio_postgres::config::SslMode::Require);
            connect_once(settings, &with_tls).await
        }
        other => other,
    }
}

async fn connect_once(
    settings: &ConnectSettings,
    config: &tokio_postgres::Config,
) -> Result<(Client, Option<Arc<ResultGuard>>, CancelVia), tokio_postgres::Error> {
    let uses_tls = config.get_ssl_mode() != tokio_postgres::config::SslMode::Disable;
    if let Some(target) = single_tcp_host(config) {
        let stream = match config.get_connect_timeout() {
            Some(limit) => tokio::time::timeout(*limit, tokio::net::TcpStream::connect(target.address()))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))),
            None => tokio::net::TcpStream::connect(target.address()).await,
        };
        // A failed connect is reported by tokio-postgres's own connector, with its wording.
        if let Ok(stream) = stream {
            stream.set_nodelay(true).ok();
            if config.get_keepalives() {
                keepalive(&stream, config.get_keepalives_idle());
            }
            // The guard bounds plain sessions (the framing, and so the guard, stops at TLS: such
            // rows are checked once they are in), and tells whether the session became TLS.
            let guard = Arc::new(ResultGuard::default());
            let (host, port) = target.address();
            let stream = crate::socket::PgStream::new(stream, guard.clone(), uses_tls);
            // A connection ending with an error is noticed by the pool (`Client::is_closed`).
            if !uses_tls {
                let (client, connection) = config.connect_raw(stream, NoTls).await?;
                tokio::spawn(async move { connection.await.map(drop) });
                return Ok((client, Some(guard), CancelVia::Addr(host, port, None)));
            }
            // `uses_tls` implies a rustls configuration, so this always matches.
            if let Ok(connector) = settings.tls.connector(&target.name) {
                let (client, connection) = config.connect_raw(stream, connector).await?;
                tokio::spawn(async move { connection.await.map(drop) });
                let tls = Some((settings.tls.clone(), target.name.clone()));
                return Ok((client, Some(guard), CancelVia::Addr(host, port, tls)));
            }
        }
    }
    if uses_tls {
        let (client, connection) = config.connect(MakeRustls(settings.tls.clone())).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((client, None, CancelVia::TokenTls(settings.tls.clone())))
    } else {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            // A connection ending with an error is noticed by the pool (`Client::is_closed`).
            let _ = connection.await;
        });
        Ok((client, None, CancelVia::Token))
    }
}
/// Where one TCP host is: the name (for TLS) and the address to connect to (`hostaddr` when
/// given, as libpq, else the name).
struct TcpTarget {
    name: String,
    addr: Option<std::net::IpAddr>,
    port: u16,
}

impl TcpTarget {
    fn address(&self) -> (String, u16) {
        (self.addr.map(|a| a.to_string()).unwrap_or_else(|| self.name.clone()), self.port)
    }
}

/// The target when the configuration names exactly one TCP host (with at most one `hostaddr`).
fn single_tcp_host(config: &tokio_postgres::Config) -> Option<TcpTarget> {
    use tokio_postgres::config::Host;
    if config.get_hostaddrs().len() > 1 || config.get_ports().len() > 1 {
        return None;
    }
    match config.get_hosts() {
        [Host::Tcp(host)] => Some(TcpTarget {
            name: host.clone(),
            addr: config.get_hostaddrs().first().copied(),
            port: config.get_ports().first().copied().unwrap_or(5432),
        }),
        _ => None,
    }
}

/// TCP keepalive as tokio-postgres sets it: on, with the configured idle time.
fn keepalive(stream: &tokio::net::TcpStream, idle: Duration) {
    use crate::socket::set_int_option;
    set_int_option(stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set_int_option(
        stream,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        idle.as_secs().clamp(1, i32::MAX as u64) as libc::c_int,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(url: &str, read_write: bool) -> DatabaseConfig {
        DatabaseConfig {
            url: Some(url.into()),
            pool_size: 1,
            read_write,
            check_on_startup: false,
            ..DatabaseConfig::default()
        }
    }

    #[test]
    fn read_only_is_not_a_startup_parameter() {
        // PgBouncer refuses `options`; read-only mode is applied per transaction instead.
        let c = connect_config(&db("postgres://u@localhost/x", false)).unwrap();
        assert_eq!(c.pg.get_options(), None);
        assert!(c.read_only);
        let c = connect_config(&db("postgres://u@localhost/x", true)).unwrap();
        assert!(!c.read_only);
    }

    #[test]
    fn tls_modes_are_taken_from_the_url() {
        use tokio_postgres::config::SslMode as T;
        let c = connect_config(&db("postgres://u:secret@localhost/x?sslmode=require", true)).unwrap();
        assert_eq!((c.ssl_mode(), c.pg.get_ssl_mode()), (SslMode::Require, T::Require));
        assert!(!c.shown_url.contains("secret"));
        let c = connect_config(&db("postgres://u@localhost/x", true)).unwrap();
        assert_eq!((c.ssl_mode(), c.pg.get_ssl_mode()), (SslMode::Prefer, T::Prefer));
        let c = connect_config(&db("postgres://u@localhost/x?ssl=false", true)).unwrap();
        assert_eq!((c.ssl_mode(), c.pg.get_ssl_mode()), (SslMode::Disable, T::Disable));
        let e =
            connect_config(&db("postgres://u:secret@localhost/x?sslmode=verify-full&sslrootcert=/no/such.pem", true))
                .unwrap_err();
        assert!(e.message().contains("/no/such.pem") && !e.message().contains("secret"), "{e}");
    }

    #[test]
    fn missing_url_says_what_to_set() {
        let e = connect_config(&DatabaseConfig::default()).unwrap_err();
        assert!(e.message().contains("EXO_POSTGRES_URL"), "{e}");
    }
}
