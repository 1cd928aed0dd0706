//! The native exo server: the runtime [`exo_runtime::Engine`] behind HTTP (hyper) with a
//! Postgres connection pool, configured from `EXO_*` environment variables.
//!
//! | piece | in | out |
//! |---|---|---|
//! | [`ServerConfig::from_env`] | an environment lookup | engine, database, HTTP and CORS settings |
//! | [`Pool`] / [`PgDb`] | a Postgres URL | connections implementing [`exo_runtime::Db`] |
//! | [`Server::handle`] | body, headers, client address | an [`exo_runtime::Response`] (no HTTP) |
//! | [`Server::handle_mcp`] | method, body, headers, client address | an [`exo_runtime::McpResponse`] (`/mcp`) |
//! | [`Server::serve`] | a bound address | HTTP/1.1 until SIGINT/SIGTERM |
//! | [`LiveServer`] | a [`Server`], later replacements | the same socket answering with the newest model (`exo dev`) |
//! | [`oidc::start`] | `EXO_OIDC_URL` | the provider's token verifier (discovery, cached key set) |
//!
//! `exo serve` and `exo yolo` use [`Server::serve`]; `exo test` calls [`Server::handle`]
//! in-process, so the two paths share everything but the socket.

mod config;
mod db;
mod error;
mod http;
mod limits;
pub mod log;
pub mod oidc;
mod playground;
mod pool;
mod socket;
pub mod telemetry;
mod tls;

pub use config::{Cors, DatabaseConfig, ServerConfig, DEFAULT_MAX_BODY_BYTES};
pub use db::{connect_client, connect_config, ConnectSettings, PgDb};
pub use error::Error;
pub use limits::HttpLimits;
pub use pool::{Pool, PooledConnection};
pub use telemetry::{Protocol, Telemetry, TelemetryConfig};
pub use tls::SslMode;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use exo_runtime::edge::{Edge, TrustedProxies};
use exo_runtime::{Engine, RequestHead, Response, System};
use tokio::net::TcpListener;

/// What one request asked of Postgres.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbCounts {
    pub statements: u32,
    pub rows: u64,
}

/// How the engine reads the environment for `@env` context fields.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A loaded system, its engine and its connection pool.
pub struct Server {
    engine: Engine,
    pool: Pool,
    config: ServerConfig,
    /// The HTTP decisions, made from `config` once.
    edge: Edge<TrustedProxies>,
    /// The span exporter (`EXO_ENABLE_OTEL`); `None` costs a request one branch.
    telemetry: Option<Telemetry>,
}

impl Server {
    /// Builds the engine and the pool. With `EXO_CHECK_CONNECTION_ON_STARTUP` (the default)
    /// one connection is opened now, so a wrong URL fails here rather than on the first request.
    /// With `EXO_OIDC_URL`, the provider's discovery document and key set are fetched now too:
    /// a provider that cannot be used is a start-up error naming the URL.
    pub async fn new(system: System, mut config: ServerConfig, env: EnvLookup) -> Result<Server, Error> {
        if let (Some(url), None) = (&config.engine.auth.oidc_url, &config.engine.auth.oidc) {
            let verifier = oidc::start(url, unix_now()).await?;
            config.engine.auth.oidc = Some(Arc::new(verifier));
        }
        let pool = Pool::new(&config.database, config.threads)?.with_checkout_timeout(config.pool_timeout);
        if config.database.check_on_startup {
            pool.check().await?;
        }
        let engine = Engine::new(system, config.engine.clone(), env);
        let edge = edge_of(&config);
        let telemetry = config.telemetry.clone().map(Telemetry::start).transpose()?;
        Ok(Server { engine, pool, config, edge, telemetry })
    }

    /// Loads an IR file's bytes (as written by `exo build`) and builds the server.
    pub async fn from_ir_bytes(bytes: &[u8], config: ServerConfig, env: EnvLookup) -> Result<Server, Error> {
        let system = System::from_bytes(bytes).map_err(|e| {
            Error::new(format!(
                "cannot load the compiled model: {}; run `exo build` to rebuild `target/index.exo_ir`",
                e.0
            ))
        })?;
        Server::new(system, config, env).await
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn edge(&self) -> &Edge<TrustedProxies> {
        &self.edge
    }

    /// Readiness: the model is loaded (this server exists) and Postgres answers `SELECT 1`
    /// within two seconds. `Err` says why not.
    pub async fn ready(&self) -> Result<(), Error> {
        self.pool.ping(std::time::Duration::from_secs(2)).await
    }

    /// Answers one GraphQL `POST` body without any HTTP. A connection is taken from the pool
    /// only when the engine first talks to the database, so invalid or introspection-only
    /// requests never wait for one.
    pub async fn handle(&self, body: &[u8], headers: &[(String, String)], client_ip: Option<&str>) -> Response {
        self.handle_counted(body, headers, client_ip).await.0
    }

    /// [`handle`](Self::handle), also counting the SQL statements sent and the rows returned
    /// (for the request log).
    pub async fn handle_counted(
        &self,
        body: &[u8],
        headers: &[(String, String)],
        client_ip: Option<&str>,
    ) -> (Response, DbCounts) {
        let head = RequestHead { headers, client_ip, now: unix_now() };
        let mut db = self.bounded_connection();
        if let Some(telemetry) = &self.telemetry {
            if let Some(mut trace) = telemetry::RequestTrace::start(headers) {
                let response =
                    self.engine.handle(body, &head, &mut telemetry::Traced { db: &mut db, trace: &mut trace }).await;
                let counts = DbCounts { statements: db.statements, rows: db.rows };
                telemetry.submit(telemetry::graphql_root(trace, body, &self.config.graphql_path, &response, counts));
                return (response, counts);
            }
        }
        let response = self.engine.handle(body, &head, &mut db).await;
        (response, DbCounts { statements: db.statements, rows: db.rows })
    }

    /// Answers one request to the MCP path (`EXO_MCP_HTTP_PATH`) without any HTTP, as
    /// [`Server::handle`] does for GraphQL.
    pub async fn handle_mcp(
        &self,
        method: &str,
        body: &[u8],
        headers: &[(String, String)],
        client_ip: Option<&str>,
    ) -> exo_runtime::McpResponse {
        let head = RequestHead { headers, client_ip, now: unix_now() };
        let mut db = self.bounded_connection();
        let cors = &self.config.cors;
        if let Some(telemetry) = &self.telemetry {
            if let Some(mut trace) = telemetry::RequestTrace::start(headers) {
                let traced = &mut telemetry::Traced { db: &mut db, trace: &mut trace };
                let response = self.engine.handle_mcp(method, body, &head, cors, traced).await;
                let counts = DbCounts { statements: db.statements, rows: db.rows };
                let path = &self.config.engine.mcp.path;
                telemetry.submit(telemetry::mcp_root(trace, method, body, path, response.status, counts));
                return response;
            }
        }
        self.engine.handle_mcp(method, body, &head, cors, &mut db).await
    }

    /// A lazy connection carrying this request's bounds: the statement timeout's deadline
    /// (from now) and the response-size limit.
    fn bounded_connection(&self) -> pool::LazyConnection<'_> {
        let engine = &self.engine.config;
        let deadline = (engine.statement_timeout_ms > 0).then(|| {
            (
                Instant::now() + std::time::Duration::from_millis(engine.statement_timeout_ms),
                engine.statement_timeout_ms,
            )
        });
        pool::LazyConnection::new(&self.pool).with_bounds(deadline, engine.max_response_bytes)
    }

    /// Binds `EXO_SERVER_HOST:EXO_SERVER_PORT`, prints the startup line (timed from
    /// `started`) and serves until SIGINT or SIGTERM.
    pub async fn serve(self: Arc<Self>, started: Instant) -> Result<(), Error> {
        let listener = self.bind().await?;
        let addr = listener.local_addr().map_err(|e| Error::new(format!("cannot read the listening address: {e}")))?;
        self.log_started(addr, started);
        self.serve_on(listener, shutdown_signal()).await
    }

    /// Binds the configured address.
    pub async fn bind(&self) -> Result<TcpListener, Error> {
        let (host, port) = (&self.config.host, self.config.port);
        TcpListener::bind((host.as_str(), port)).await.map_err(|e| {
            Error::new(format!(
                "cannot listen on {host}:{port}: {e}; pick another port with `--port` or `EXO_SERVER_PORT`, \
                 or another address with `EXO_SERVER_HOST`"
            ))
        })
    }

    /// Prints `Started server on http://HOST:PORT/PATH in N ms`.
    pub fn log_started(&self, addr: SocketAddr, started: Instant) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        log::info(&format!("Started server on http://{addr}{} in {ms:.2} ms", self.config.graphql_path));
        if let Some(playground) = &self.config.playground_path {
            log::info(&format!("Playground: http://{addr}{playground}"));
        }
        if self.config.engine.mcp.enabled {
            log::info(&format!("MCP: http://{addr}{}", self.config.engine.mcp.path));
        }
    }

    /// Serves on an already bound listener until `shutdown` completes, then lets in-flight
    /// requests finish.
    pub async fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        Arc::new(LiveServer::new(self)).serve_on(listener, shutdown).await
    }

    /// A server for a new model that shares this one's connection pool and HTTP settings
    /// (`exo dev` swaps models without reopening connections).
    pub fn with_system(&self, system: System, env: EnvLookup) -> Server {
        let engine = Engine::new(system, self.config.engine.clone(), env);
        Server {
            engine,
            pool: self.pool.clone(),
            config: self.config.clone(),
            edge: self.edge.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The server currently answering on a socket, replaceable while the socket stays open:
/// `exo dev` rebuilds the model and swaps it in without dropping connections. Requests
/// already running finish on the model they started with.
pub struct LiveServer {
    current: RwLock<Arc<Server>>,
}

impl LiveServer {
    pub fn new(server: Arc<Server>) -> LiveServer {
        LiveServer { current: RwLock::new(server) }
    }

    pub fn current(&self) -> Arc<Server> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes `server` answer every request that arrives from now on.
    pub fn replace(&self, server: Server) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(server);
    }

    /// Serves on an already bound listener until `shutdown` completes, then lets in-flight
    /// requests finish.
    pub async fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let threads = self.current().config().threads;
        let telemetry = self.current().telemetry.clone();
        let served = http::serve(self, listener, threads, shutdown).await;
        // The spans of the last requests are sent before the process ends.
        if let Some(telemetry) = telemetry {
            telemetry.shutdown().await;
        }
        served
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The edge the configuration describes.
fn edge_of(config: &ServerConfig) -> Edge<TrustedProxies> {
    Edge {
        graphql_path: config.graphql_path.clone(),
        playground_path: config.playground_path.clone(),
        cors: config.cors.clone(),
        max_body_bytes: config.max_body_bytes,
        client_address: config.client_ip.clone(),
        mcp_path: config.engine.mcp.enabled.then(|| config.engine.mcp.path.clone()),
        health: true,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
