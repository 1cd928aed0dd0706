//! A small connection pool: idle clients in a `Vec`, a semaphore bounding how many exist.
//!
//! The pool is split into shards, one per HTTP thread (see `http::serve`). A connection's
//! driver task runs on the thread that opened it, and a request takes connections from its own
//! thread's shard, so a query never wakes another thread. Outside the HTTP threads (`exo
//! test`, startup checks) shard 0 is used.
//!
//! Why not deadpool-postgres: the server needs checkout, return, discarding broken or
//! mid-transaction connections and one startup check, which is about a hundred lines here;
//! deadpool would add a crate family and its own configuration surface for the same behaviour.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exo_runtime::{Db, DbError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use crate::config::DatabaseConfig;
use crate::db::{self, Bounds, PgDb};
use crate::error::Error;

/// How long a request waits for a free connection before failing, unless
/// `EXO_CONNECTION_POOL_TIMEOUT_MS` says otherwise.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    settings: db::ConnectSettings,
    /// Shared by every connection: read-only, named or unnamed statements.
    mode: Arc<db::StatementMode>,
    size: usize,
    shards: Vec<Shard>,
    checkout_timeout: Duration,
}

/// Why a checkout failed.
enum Checkout {
    /// No connection became free in time: the server is busy, not broken.
    Busy(Error),
    Failed(Error),
}

impl Checkout {
    fn into_error(self) -> Error {
        match self {
            Checkout::Busy(e) | Checkout::Failed(e) => e,
        }
    }

    /// For the engine: a busy pool is told to the client as it is, a failure is not.
    fn into_db_error(self) -> DbError {
        match self {
            Checkout::Busy(e) => DbError::for_client(e.message()),
            Checkout::Failed(e) => DbError(e.to_string()),
        }
    }
}

struct Shard {
    /// Idle connections with their prepared statements.
    idle: Mutex<Vec<PgDb>>,
    permits: Arc<Semaphore>,
}

thread_local! {
    /// The shard of the HTTP thread running on this OS thread.
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Makes this thread take connections from shard `index` (called once by each HTTP thread).
pub(crate) fn set_thread_shard(index: usize) {
    SHARD.with(|s| s.set(index));
}

impl Pool {
    /// Validates the settings; connections are opened on demand. The `pool_size` connections
    /// are divided between `shards` shards as evenly as possible.
    pub fn new(config: &DatabaseConfig, shards: usize) -> Result<Pool, Error> {
        let settings = db::connect_config(config)?;
        let mode = db::StatementMode::new(&settings);
        let count = shards.clamp(1, config.pool_size.max(1));
        let shards = (0..count)
            .map(|i| {
                let size = config.pool_size / count + usize::from(i < config.pool_size % count);
                Shard { idle: Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(size)) }
            })
            .collect();
        Ok(Pool {
            inner: Arc::new(Inner {
                settings,
                mode,
                size: config.pool_size,
                shards,
                checkout_timeout: CHECKOUT_TIMEOUT,
            }),
        })
    }

    /// The same pool with another bound on waiting for a connection (call before sharing it).
    pub fn with_checkout_timeout(mut self, timeout: Duration) -> Pool {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.checkout_timeout = timeout;
        }
        self
    }

    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Opens a connection and runs `SELECT 1`. The connection is closed afterwards: it was
    /// opened on the caller's runtime, not on an HTTP thread.
    pub async fn check(&self) -> Result<(), Error> {
        let client = db::connect(&self.inner.settings).await.map_err(|e| self.connect_error(&e))?;
        client.simple_query("SELECT 1").await.map_err(|e| self.connect_error(&e))?;
        Ok(())
    }

    /// Whether Postgres answers, within `limit`, for readiness checks: `SELECT 1` on an idle
    /// or new connection. When every connection is checked out by requests, the pool is
    /// working and the answer is yes without waiting (a readiness probe must not queue behind
    /// the load it is meant to protect). A connection that died while idle is dropped on the
    /// way, so a stopped server is noticed at the next check.
    pub async fn ping(&self, limit: Duration) -> Result<(), Error> {
        let index = SHARD.with(Cell::get).min(self.inner.shards.len() - 1);
        let order = (index..self.inner.shards.len()).chain(0..index);
        let mut conn = None;
        for i in order {
            let shard = &self.inner.shards[i];
            let Ok(permit) = shard.permits.clone().try_acquire_owned() else { continue };
            let db = match self.take_idle(shard) {
                Some(db) => db,
                None => {
                    let client = tokio::time::timeout(limit, db::connect(&self.inner.settings))
                        .await
                        .map_err(|_| {
                            Error::new(format!("no connection to the database within {} ms", limit.as_millis()))
                        })?
                        .map_err(|e| self.connect_error(&e))?;
                    PgDb::with_mode(client, self.inner.mode.clone())
                }
            };
            conn = Some(PooledConnection {
                db: Some(db),
                reused: true,
                pool: self.inner.clone(),
                shard: i,
                _permit: permit,
            });
            break;
        }
        let Some(conn) = conn else { return Ok(()) };
        match tokio::time::timeout(limit, conn.client().simple_query("SELECT 1")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.connect_error(&e)),
            Err(_) => {
                Err(Error::new(format!("the database did not answer `SELECT 1` within {} ms", limit.as_millis())))
            }
        }
    }

    /// Takes an idle connection of this thread's shard, or opens a new one if the shard has
    /// fewer than its share open.
    pub async fn get(&self) -> Result<PooledConnection, Error> {
        self.checkout().await.map_err(Checkout::into_error)
    }

    async fn checkout(&self) -> Result<PooledConnection, Checkout> {
        let index = SHARD.with(Cell::get).min(self.inner.shards.len() - 1);
        let shard = &self.inner.shards[index];
        // This thread's shard is exhausted: rather than wait while another thread's connections
        // sit idle, borrow one of those (its driver stays on the other thread, so this request
        // pays a cross-thread wake-up; only an uneven spread of clients gets here).
        if shard.permits.available_permits() == 0 {
            if let Some(borrowed) = self.borrow_idle(index) {
                return Ok(borrowed);
            }
        }
        let timeout = self.inner.checkout_timeout;
        let permit = tokio::time::timeout(timeout, shard.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                Checkout::Busy(Error::new(format!(
                    "The server is busy: no database connection became free within {} ms \
                     (`EXO_CONNECTION_POOL_TIMEOUT_MS`; all {} connections of `EXO_CONNECTION_POOL_SIZE` are in use); \
                     try again shortly",
                    timeout.as_millis(),
                    self.inner.size
                )))
            })?
            .map_err(|_| Checkout::Failed(Error::new("the connection pool is closed")))?;
        let (db, reused) = match self.take_idle(shard) {
            Some(db) => (db, true),
            None => {
                let (client, guard, cancel) = db::connect_guarded(&self.inner.settings)
                    .await
                    .map_err(|e| Checkout::Failed(self.connect_error(&e)))?;
                (PgDb::with_mode(client, self.inner.mode.clone()).with_guard(guard).with_cancel(cancel), false)
            }
        };
        Ok(PooledConnection { db: Some(db), reused, pool: self.inner.clone(), shard: index, _permit: permit })
    }

    /// An idle connection of another shard, with that shard's permit.
    fn borrow_idle(&self, own: usize) -> Option<PooledConnection> {
        for (index, shard) in self.inner.shards.iter().enumerate() {
            if index == own {
                continue;
            }
            let Ok(permit) = shard.permits.clone().try_acquire_owned() else { continue };
            if let Some(db) = self.take_idle(shard) {
                return Some(PooledConnection {
                    db: Some(db),
                    reused: true,
                    pool: self.inner.clone(),
                    shard: index,
                    _permit: permit,
                });
            }
        }
        None
    }

    fn take_idle(&self, shard: &Shard) -> Option<PgDb> {
        let mut idle = shard.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Connections the server closed while idle are dropped here: that is the reconnect.
        while let Some(db) = idle.pop() {
            if !db.client().is_closed() {
                return Some(db);
            }
        }
        None
    }

    fn connect_error(&self, e: &tokio_postgres::Error) -> Error {
        Error::new(format!(
            "{}; check that Postgres is running and that `EXO_POSTGRES_URL` (or `DATABASE_URL`) points at it",
            self.inner.settings.describe_failure(e)
        ))
    }
}

/// A checked-out connection; dropping it returns it to the pool unless it is broken or was
/// left inside a transaction.
pub struct PooledConnection {
    db: Option<PgDb>,
    /// Taken from the idle list (it may have died since it was last used).
    reused: bool,
    pool: Arc<Inner>,
    shard: usize,
    _permit: OwnedSemaphorePermit,
}

impl PooledConnection {
    pub fn client(&self) -> &Client {
        self.db().client()
    }

    fn db(&self) -> &PgDb {
        self.db.as_ref().expect("present until drop")
    }

    fn db_mut(&mut self) -> &mut PgDb {
        self.db.as_mut().expect("present until drop")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            if db.is_reusable() {
                let shard = &self.pool.shards[self.shard];
                shard.idle.lock().unwrap_or_else(|e| e.into_inner()).push(db);
            }
        }
    }
}

impl Db for PooledConnection {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        self.db_mut().query(sql, params).await
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.db_mut().execute(sql).await
    }
}

/// The engine's view of the pool for one request: a connection is checked out on the first
/// statement and kept until the request ends. If a reused connection turns out to be dead on
/// that first statement, a new one is opened and the statement retried once.
pub(crate) struct LazyConnection<'p> {
    pool: &'p Pool,
    conn: Option<PooledConnection>,
    /// When the request's database time runs out, with the configured timeout in ms.
    deadline: Option<(std::time::Instant, u64)>,
    /// `EXO_MAX_RESPONSE_BYTES`, and the bytes of rows received so far.
    max_bytes: usize,
    received: usize,
    /// Statements run and rows returned, for the request's log line.
    pub(crate) statements: u32,
    pub(crate) rows: u64,
}

impl<'p> LazyConnection<'p> {
    pub(crate) fn new(pool: &'p Pool) -> LazyConnection<'p> {
        LazyConnection { pool, conn: None, deadline: None, max_bytes: usize::MAX, received: 0, statements: 0, rows: 0 }
    }

    /// Bounds the request: its database time (statement timeout) and the bytes of rows it
    /// may receive.
    pub(crate) fn with_bounds(
        mut self,
        deadline: Option<(std::time::Instant, u64)>,
        max_bytes: usize,
    ) -> LazyConnection<'p> {
        self.deadline = deadline;
        self.max_bytes = max_bytes;
        self
    }

    fn bounds(&self) -> Bounds {
        let budget =
            (self.max_bytes != usize::MAX).then(|| (self.max_bytes.saturating_sub(self.received), self.max_bytes));
        Bounds { deadline: self.deadline, budget }
    }

    /// The connection, and whether this is its first statement in this request.
    async fn conn(&mut self) -> Result<(&mut PooledConnection, bool), DbError> {
        let first = self.conn.is_none();
        if first {
            let conn = self.pool.checkout().await.map_err(Checkout::into_db_error)?;
            self.conn = Some(conn);
        }
        let bounds = self.bounds();
        let conn = self.conn.as_mut().expect("just set");
        conn.db_mut().set_bounds(bounds);
        Ok((conn, first))
    }

    async fn reconnect(&mut self) -> Result<&mut PooledConnection, DbError> {
        // Drop the dead one first so its permit is free for the replacement.
        self.conn = None;
        let mut conn = self.pool.checkout().await.map_err(Checkout::into_db_error)?;
        conn.reused = false;
        conn.db_mut().set_bounds(self.bounds());
        self.conn = Some(conn);
        Ok(self.conn.as_mut().expect("just set"))
    }

    fn count(&mut self, rows: &[Vec<Option<String>>]) {
        let bytes: usize = rows.iter().flatten().map(|c| c.as_ref().map_or(0, String::len)).sum();
        self.received = self.received.saturating_add(bytes);
    }
}

impl Drop for LazyConnection<'_> {
    fn drop(&mut self) {
        // Bounds belong to the request; an idle connection has none.
        if let Some(conn) = self.conn.as_mut() {
            if let Some(db) = conn.db.as_mut() {
                db.set_bounds(Bounds::default());
            }
        }
    }
}

impl Db for LazyConnection<'_> {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        self.statements += 1;
        let (conn, first) = self.conn().await?;
        let retry_possible = first && conn.reused;
        let rows = match conn.query(sql, params).await {
            // A dead idle connection is replaced once; a bound reached is final.
            Err(e) if retry_possible && e.client_message().is_none() && conn.client().is_closed() => {
                self.reconnect().await?.query(sql, params).await
            }
            other => other,
        }?;
        self.count(&rows);
        self.rows += rows.len() as u64;
        Ok(rows)
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let (conn, first) = self.conn().await?;
        let retry_possible = first && conn.reused;
        match conn.execute(sql).await {
            Err(_) if retry_possible && conn.client().is_closed() => self.reconnect().await?.execute(sql).await,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};

    /// Two shards of one connection each: when this thread's shard is busy, an idle
    /// connection of the other shard is borrowed (and returned to it); when every connection
    /// is busy, a checkout waits instead of opening a third.
    #[tokio::test(flavor = "current_thread")]
    async fn an_exhausted_shard_borrows_an_idle_connection_but_never_exceeds_the_pool() {
        let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
        let name = unique_db_name("exo_server_pool");
        let url = pg.create_database(&name).unwrap();
        let config = DatabaseConfig { url: Some(url), pool_size: 2, ..DatabaseConfig::default() };
        let pool = Pool::new(&config, 2).unwrap();

        set_thread_shard(1);
        let first = pool.get().await.unwrap();
        assert_eq!(first.shard, 1);
        let pid: i32 = first.client().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        drop(first);

        set_thread_shard(0);
        let own = pool.get().await.unwrap();
        assert_eq!(own.shard, 0);
        let borrowed = pool.get().await.unwrap();
        assert_eq!(borrowed.shard, 1, "the other shard's idle connection");
        let borrowed_pid: i32 = borrowed.client().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        assert_eq!(borrowed_pid, pid);

        let third = tokio::time::timeout(Duration::from_millis(200), pool.get()).await;
        assert!(third.is_err(), "a third connection was handed out with a pool of 2");

        drop(borrowed);
        set_thread_shard(1);
        let back = pool.get().await.unwrap();
        assert_eq!(back.shard, 1);
        let back_pid: i32 = back.client().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        assert_eq!(back_pid, pid, "the borrowed connection went back to its own shard");
        drop((own, back));
        drop(pool);
        pg.drop_database(&name).unwrap();
    }

    async fn test_pool(prefix: &str) -> (Pool, String) {
        let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
        let name = unique_db_name(prefix);
        let url = pg.create_database(&name).unwrap();
        let config = DatabaseConfig {
            url: Some(url),
            pool_size: 1,
            read_write: false,
            check_on_startup: false,
            ..DatabaseConfig::default()
        };
        (Pool::new(&config, 1).unwrap(), name)
    }

    /// A result larger than the request's budget is cut as its `DataRow` header arrives: the
    /// connection is closed (so the megabyte was never read into memory), the error is the
    /// client's, and the next request gets a fresh connection.
    #[tokio::test(flavor = "current_thread")]
    async fn a_result_over_the_budget_is_cut_while_it_arrives() {
        let (pool, name) = test_pool("exo_server_budget").await;
        let mut lazy = LazyConnection::new(&pool).with_bounds(None, 10_000);
        let small = lazy.query("SELECT repeat('x', 6000)", &[]).await.unwrap();
        assert_eq!(small[0][0].as_ref().map(String::len), Some(6000));
        // 6,000 of the 10,000 bytes are spent: 5,000 more do not fit.
        let e = lazy.query("SELECT repeat('y', 5000)", &[]).await.unwrap_err();
        let message = e.client_message().unwrap_or_else(|| panic!("not for the client: {e:?}"));
        assert!(message.contains("larger than 10000 bytes"), "{message}");
        let conn = lazy.conn.as_ref().unwrap();
        assert!(conn.db().guard.as_ref().is_some_and(|g| g.exceeded()), "cut by the stream, not after reading");
        assert!(conn.client().is_closed(), "the connection is given up");
        drop(lazy);

        let e = LazyConnection::new(&pool)
            .with_bounds(None, 1000)
            .query("SELECT repeat('z', 1000000)", &[])
            .await
            .unwrap_err();
        assert!(e.client_message().is_some(), "{e:?}");
        let mut next = LazyConnection::new(&pool);
        assert_eq!(next.query("SELECT 'ok'", &[]).await.unwrap(), vec![vec![Some("ok".to_string())]]);
        drop(next);
        drop(pool);
        EphemeralPostgres::shared().unwrap().drop_database(&name).unwrap();
    }

    /// The statement timeout is Postgres's: the statement is cancelled there (a cancel request
    /// at the deadline), the connection stays in step, and nothing is left on the session.
    #[tokio::test(flavor = "current_thread")]
    async fn postgres_cancels_at_the_deadline_and_the_session_stays_clean() {
        let (pool, name) = test_pool("exo_server_timeout").await;
        let deadline = Some((std::time::Instant::now() + Duration::from_millis(300), 300));
        let mut lazy = LazyConnection::new(&pool).with_bounds(deadline, usize::MAX);
        let started = std::time::Instant::now();
        let e = lazy.query("SELECT pg_sleep(30)::text", &[]).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20), "cancelled, not waited out");
        let message = e.client_message().unwrap_or_else(|| panic!("not for the client: {e:?}"));
        assert!(message.contains("cancelled after 300 ms"), "{message}");
        let pid: i32 =
            lazy.conn.as_ref().unwrap().client().query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        assert!(lazy.conn.as_ref().unwrap().db().is_reusable(), "outside a transaction");
        drop(lazy);

        // A later request on the same connection has no timeout left over.
        let mut next = LazyConnection::new(&pool);
        let rows =
            next.query("SELECT current_setting('statement_timeout'), pg_backend_pid()::text", &[]).await.unwrap();
        assert_eq!(rows, vec![vec![Some("0".to_string()), Some(pid.to_string())]]);
        // Inside a transaction the deadline is the request's: a cancelled statement fails the
        // transaction, and the connection is usable after the rollback.
        drop(next);
        let soon = Some((std::time::Instant::now() + Duration::from_millis(300), 300));
        let mut tx = LazyConnection::new(&pool).with_bounds(soon, usize::MAX);
        tx.execute("BEGIN").await.unwrap();
        assert_eq!(tx.query("SELECT '1'", &[]).await.unwrap(), vec![vec![Some("1".to_string())]]);
        let e = tx.query("SELECT pg_sleep(30)::text", &[]).await.unwrap_err();
        assert!(e.client_message().is_some_and(|m| m.contains("cancelled after 300 ms")), "{e:?}");
        tx.execute("ROLLBACK").await.unwrap();
        assert!(tx.conn.as_ref().unwrap().db().is_reusable());
        drop(tx);
        assert!(started.elapsed() < Duration::from_secs(20), "no pg_sleep(30) was waited out");
        drop(pool);
        EphemeralPostgres::shared().unwrap().drop_database(&name).unwrap();
    }

    /// Read-only mode holds without any startup parameter (poolers refuse `options`): a write
    /// fails outside a transaction and inside `BEGIN`, reads work, with named and with unnamed
    /// statements; read-write mode writes.
    #[tokio::test(flavor = "current_thread")]
    async fn read_only_is_applied_per_transaction_with_named_or_unnamed_statements() {
        let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
        let name = unique_db_name("exo_server_read_only");
        let url = pg.create_database(&name).unwrap();
        pg.psql(&name, "CREATE TABLE t (x int)").unwrap();
        for prepared_statements in [true, false] {
            let config = |read_write| DatabaseConfig {
                url: Some(url.clone()),
                pool_size: 1,
                read_write,
                prepared_statements,
                ..DatabaseConfig::default()
            };
            let pool = Pool::new(&config(false), 1).unwrap();
            let mut conn = pool.get().await.unwrap();
            for _ in 0..2 {
                let e = conn.query("INSERT INTO t VALUES ($1::int)", &[Some("1".into())]).await.unwrap_err();
                assert!(e.0.contains("read-only transaction"), "{}", e.0);
                let rows =
                    conn.query("SELECT count(*)::text FROM t WHERE x = $1::int", &[Some("1".into())]).await.unwrap();
                assert_eq!(rows, vec![vec![Some("0".to_string())]]);
            }
            for begin in ["BEGIN", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;"] {
                conn.execute(begin).await.unwrap();
                let e = conn.query("INSERT INTO t VALUES ($1::int)", &[Some("2".into())]).await.unwrap_err();
                assert!(e.0.contains("read-only transaction"), "{begin}: {}", e.0);
                conn.execute("ROLLBACK").await.unwrap();
            }
            assert!(conn.db().is_reusable());
            let open: String =
                conn.client().query_one("SELECT current_setting('transaction_read_only')", &[]).await.unwrap().get(0);
            assert_eq!(open, "off", "the session itself is not read-only");
            drop(conn);

            let pool = Pool::new(&config(true), 1).unwrap();
            let mut conn = pool.get().await.unwrap();
            conn.query("INSERT INTO t VALUES ($1::int)", &[Some("3".into())]).await.unwrap();
        }
        assert_eq!(pg.psql(&name, "SELECT count(*) FROM t").unwrap(), "2");
        pg.drop_database(&name).unwrap();
    }

    /// Which way bytes went through [`counting_proxy`], in the order they passed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Way {
        ToServer,
        ToClient,
    }

    /// A TCP proxy to `target` that records each chunk it relays; returns its port.
    async fn counting_proxy(target: u16) -> (u16, Arc<Mutex<Vec<Way>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target)).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(relay(client_read, server_write, Way::ToServer, shared.clone()));
                tokio::spawn(relay(server_read, client_write, Way::ToClient, shared.clone()));
            }
        });
        (port, log)
    }

    async fn relay(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        way: Way,
        log: Arc<Mutex<Vec<Way>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 || to.write_all(&buf[..n]).await.is_err() {
                break;
            }
            log.lock().unwrap().push(way);
        }
    }

    /// How many times the client spoke after the server had: the request's round trips.
    fn client_turns(log: &[Way]) -> usize {
        let mut turns = 0;
        let mut last = Way::ToClient;
        for way in log {
            if *way == Way::ToServer && last == Way::ToClient {
                turns += 1;
            }
            last = *way;
        }
        turns
    }

    /// Read-only mode's `BEGIN READ ONLY` + statement + `COMMIT` leave in one write and cost
    /// one round trip, like the bare statement of read-write mode, named or unnamed.
    #[tokio::test(flavor = "current_thread")]
    async fn read_only_costs_no_extra_round_trip() {
        let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
        let name = unique_db_name("exo_server_round_trips");
        pg.create_database(&name).unwrap();
        let (port, log) = counting_proxy(pg.port()).await;
        let url = format!("postgres://postgres@127.0.0.1:{port}/{name}?sslmode=disable");
        for (read_write, prepared_statements) in [(false, true), (false, false), (true, true)] {
            let config = DatabaseConfig {
                url: Some(url.clone()),
                pool_size: 1,
                read_write,
                prepared_statements,
                ..DatabaseConfig::default()
            };
            let pool = Pool::new(&config, 1).unwrap();
            let mut conn = pool.get().await.unwrap();
            // The first use prepares a named statement (one more round trip, once).
            conn.query("SELECT $1::text", &[Some("warm".into())]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            log.lock().unwrap().clear();
            let rows = conn.query("SELECT $1::text", &[Some("x".into())]).await.unwrap();
            assert_eq!(rows, vec![vec![Some("x".to_string())]]);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let seen = log.lock().unwrap().clone();
            assert_eq!(client_turns(&seen), 1, "read_write={read_write} named={prepared_statements}: {seen:?}");
        }
        pg.drop_database(&name).unwrap();
    }

    /// A prepared statement that vanished (as behind a transaction-pooling PgBouncer, here by
    /// `DEALLOCATE ALL`) switches the pool to unnamed statements: outside a transaction the
    /// statement is retried and succeeds; inside one the request fails once, and every later
    /// statement, on any connection of the pool, is sent unnamed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_lost_prepared_statement_switches_the_pool_to_unnamed_statements() {
        let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
        let name = unique_db_name("exo_server_lost_statement");
        let url = pg.create_database(&name).unwrap();
        let config = DatabaseConfig { url: Some(url), pool_size: 2, read_write: true, ..DatabaseConfig::default() };
        let pool = Pool::new(&config, 1).unwrap();
        let sql = "SELECT ($1::int * 2)::text";
        let prepared = "SELECT count(*)::int FROM pg_prepared_statements";

        let mut conn = pool.get().await.unwrap();
        assert_eq!(conn.query(sql, &[Some("2".into())]).await.unwrap(), vec![vec![Some("4".to_string())]]);
        conn.client().batch_execute("DEALLOCATE ALL").await.unwrap();
        assert_eq!(
            conn.query(sql, &[Some("3".into())]).await.unwrap(),
            vec![vec![Some("6".to_string())]],
            "retried unnamed"
        );
        assert!(!pool.inner.mode.named(), "the pool switched");
        // A simple query, so that the check itself prepares nothing.
        let counted = conn.client().simple_query(prepared).await.unwrap();
        let count = counted.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        });
        assert_eq!(count.as_deref(), Some("0"), "nothing was prepared again by name");

        // A second pool, same story inside a transaction: that request fails once.
        let pool = Pool::new(&config, 1).unwrap();
        let mut conn = pool.get().await.unwrap();
        conn.query(sql, &[Some("1".into())]).await.unwrap();
        conn.client().batch_execute("DEALLOCATE ALL").await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        let e = conn.query(sql, &[Some("1".into())]).await.unwrap_err();
        assert!(e.0.contains("26000"), "{}", e.0);
        conn.execute("ROLLBACK").await.unwrap();
        conn.execute("BEGIN").await.unwrap();
        assert_eq!(conn.query(sql, &[Some("5".into())]).await.unwrap(), vec![vec![Some("10".to_string())]]);
        conn.execute("COMMIT").await.unwrap();
        drop((conn, pool));
        pg.drop_database(&name).unwrap();
    }
}
