//! The Worker glue (wasm32 only): the exported `handle` the JS entry calls, the per-isolate
//! state (decoded IR, engine, configuration), the adapter from the Workers runtime to the
//! shared HTTP edge (`exo_runtime::edge`, as the native server uses it), and [`WorkerDb`], the
//! engine's `Db` over a `worker::Socket`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;

use exo_runtime::edge::{self, Edge, HttpResponse, PlatformHeader, Route};
use exo_runtime::oidc::{OidcVerifier, REFETCH_INTERVAL_SECONDS, START_TIMEOUT};
use exo_runtime::{Db, DbError, Engine, RequestHead, System};
use futures::future::{select, Either};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::postgres_tls::PassthroughTls;
use worker::worker_sys::web_sys;
use worker::{Env, Headers, Request, Response, ResponseBuilder, SecureTransport, Socket};

use crate::config::{worker_edge, Cors, Database, WorkerConfig};
use crate::oidc::WorkerOidcHost;
use crate::pg::{self, PgTarget};

/// What one isolate keeps between requests. Bindings (vars, secrets) cannot change within an
/// isolate, so the configuration is read once, with the IR.
struct Loaded {
    engine: Engine,
    config: WorkerConfig,
}

type State = Rc<Result<Loaded, String>>;

/// Where the isolate's state stands.
enum Slot {
    /// Nothing loaded yet (or a provider failure's retry window has passed).
    Empty,
    /// The first request (of the isolate, or after a provider failure) is loading since
    /// `since` (ms since the epoch); requests arriving meanwhile wait for that load instead of
    /// starting their own, unless it has taken longer than [`LOAD_TAKEOVER_MS`].
    Loading { since: f64 },
    /// Loaded, or failed for good (the model or the vars): kept for the isolate's life.
    Done(State),
    /// `EXO_OIDC_URL` could not be used at `at` (ms since the epoch): answered as a failure
    /// without retrying until [`REFETCH_INTERVAL_SECONDS`] have passed, so that a provider
    /// that is down is not asked on every request.
    ProviderDown { state: State, at: f64 },
}

thread_local! {
    static STATE: RefCell<Slot> = const { RefCell::new(Slot::Empty) };
}

/// Called by `index.js` for every request, with the bundled IR (an ArrayBuffer's view; it is
/// copied and decoded only on the isolate's first request).
#[wasm_bindgen]
pub async fn handle(ir: js_sys::Uint8Array, request: web_sys::Request, env: Env) -> web_sys::Response {
    let state = state(&ir, &env).await;
    // The method as sent (`worker::Method` folds unknown ones into a few names).
    let method = request.method();
    let request = Request::from(request);
    let answer = match &*state {
        Ok(loaded) => route(loaded, &method, request, &env).await,
        // The reason is in the Worker's log (once per load attempt); a client learns only
        // that the server is broken, as natively.
        Err(_) => {
            let path = request.path();
            let headers: Vec<(String, String)> = request.headers().entries().collect();
            let head = edge::Request { method: &method, path: &path, headers: &headers, peer: None };
            fallback_edge().internal_error(&head)
        }
    };
    to_worker(answer).into()
}

/// A load still running after this long (its fetches have timeouts, so it would have ended)
/// was abandoned, as when its request was cancelled by a client that went away: a waiting
/// request loads instead.
const LOAD_TAKEOVER_MS: f64 = (2 * START_TIMEOUT.as_secs() + 5) as f64 * 1000.0;

#[wasm_bindgen]
extern "C" {
    /// `scheduler.wait(ms)`: a promise resolved after `ms`.
    #[wasm_bindgen(js_namespace = scheduler, js_name = wait)]
    fn scheduler_wait(ms: f64) -> js_sys::Promise;
}

/// The isolate's state: loaded once, shared by concurrent first requests (the isolate is
/// single-threaded, so the slot needs no lock), a provider failure kept for a while.
async fn state(ir: &js_sys::Uint8Array, env: &Env) -> State {
    loop {
        let now = js_sys::Date::now();
        // The state; or `Some(None)`: another request is loading it; or `None`: this one loads it.
        let found = STATE.with(|slot| {
            let mut slot = slot.borrow_mut();
            match &*slot {
                Slot::Done(state) => Some(Some(state.clone())),
                Slot::ProviderDown { state, at } if now < at + (REFETCH_INTERVAL_SECONDS * 1000) as f64 => {
                    Some(Some(state.clone()))
                }
                Slot::Loading { since } if now < since + LOAD_TAKEOVER_MS => Some(None),
                Slot::Loading { .. } | Slot::ProviderDown { .. } | Slot::Empty => {
                    *slot = Slot::Loading { since: now };
                    None
                }
            }
        });
        match found {
            Some(Some(state)) => return state,
            // Polled with a timer of this request's own: workerd cancels a request that waits
            // only on another request's work as hung.
            Some(None) => drop(JsFuture::from(scheduler_wait(20.0)).await),
            None => return load_state(&ir.to_vec(), env).await,
        }
    }
}

/// Loads the state and records the outcome in [`STATE`].
async fn load_state(ir: &[u8], env: &Env) -> State {
    let (loaded, keep) = match load(ir, env).await {
        Ok(l) => (Ok(l), true),
        Err(Failed::Config(e)) => (Err(e), true),
        // The provider may be back later: this failure is kept only for a while.
        Err(Failed::Provider(e)) => (Err(e), false),
    };
    if let Err(e) = &loaded {
        worker::console_error!("exo: {e}");
    }
    let state = Rc::new(loaded);
    let slot = match keep {
        true => Slot::Done(state.clone()),
        false => Slot::ProviderDown { state: state.clone(), at: js_sys::Date::now() },
    };
    STATE.with(|s| *s.borrow_mut() = slot);
    state
}

enum Failed {
    /// The model or the vars are wrong: every request would fail the same way.
    Config(String),
    /// `EXO_OIDC_URL` could not be used now (discovery or key set).
    Provider(String),
}

async fn load(ir: &[u8], env: &Env) -> Result<Loaded, Failed> {
    let system = System::from_bytes(ir).map_err(|e| {
        Failed::Config(format!(
            "cannot load the compiled model: {}; run `exo deploy cf-worker` again to rebuild it",
            e.0
        ))
    })?;
    let mut config = WorkerConfig::from_env(|k| var(env, k)).map_err(Failed::Config)?;
    // The provider's discovery document and keys, once per isolate (then cached by the
    // verifier, which refetches them as the rules in `exo_runtime::oidc` say).
    if let Some(url) = config.engine.auth.oidc_url.clone() {
        let now = (js_sys::Date::now() / 1000.0) as u64;
        let verifier = OidcVerifier::start(&url, WorkerOidcHost::default(), now).await.map_err(Failed::Provider)?;
        config.engine.auth.oidc = Some(Arc::new(verifier));
    }
    // `@env` context fields read Worker vars; snapshot the ones the model names.
    let mut vars = HashMap::new();
    for c in &system.ir.contexts {
        for f in &c.fields {
            if let exo_ir::ContextSource::Env(name) = &f.source {
                if let Some(v) = var(env, name) {
                    vars.insert(name.clone(), v);
                }
            }
        }
    }
    let engine = Engine::new(system, config.engine.clone(), Box::new(move |k: &str| vars.get(k).cloned()));
    Ok(Loaded { engine, config })
}

/// The edge of a Worker whose configuration could not be read: defaults, to shape the error.
fn fallback_edge() -> Edge<PlatformHeader> {
    worker_edge("/graphql".to_string(), Cors::None, None)
}

/// A var or secret as a string.
fn var(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?.as_string()
}

/// Adapts the Workers runtime to the shared edge: every decision about the request is
/// [`Edge::route`]'s, as in the native server; this reads the body, runs the engine with a
/// connection for this request and returns the answer.
async fn route(loaded: &Loaded, method: &str, mut req: Request, env: &Env) -> HttpResponse {
    let edge = &loaded.config.edge;
    let path = req.path();
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let head = edge::Request { method, path: &path, headers: &headers, peer: None };
    match edge.route(&head) {
        Route::Respond(answer) => answer,
        // A Worker serves no playground (its `playground_path` is `None`) and no health
        // probes (`health` is false): the edge never routes there.
        Route::Playground { .. } | Route::Health(_) => edge.not_found(&head),
        Route::GraphQl { client_ip } => {
            let body = match req.bytes().await {
                Ok(b) if b.len() > edge.max_body_bytes => return edge.too_large(&head),
                Ok(b) => b,
                Err(e) => return edge.unreadable_body(&head, &e.to_string()),
            };
            let request_head = RequestHead {
                headers: &headers,
                client_ip: client_ip.as_deref(),
                now: (js_sys::Date::now() / 1000.0) as u64,
            };
            let mut db = WorkerDb::new(&loaded.config, env);
            let answer = loaded.engine.handle(&body, &request_head, &mut db).await;
            // Close the connection inside the request: Terminate, then the socket.
            db.finish().await;
            edge.respond(&head, answer)
        }
        Route::Mcp { client_ip } => {
            let answer = match req.bytes().await {
                Ok(b) if b.len() > edge.max_body_bytes => exo_runtime::McpResponse::too_large(edge.max_body_bytes),
                Ok(body) => {
                    let request_head = RequestHead {
                        headers: &headers,
                        client_ip: client_ip.as_deref(),
                        now: (js_sys::Date::now() / 1000.0) as u64,
                    };
                    let mut db = WorkerDb::new(&loaded.config, env);
                    let answer = loaded.engine.handle_mcp(method, &body, &request_head, &edge.cors, &mut db).await;
                    db.finish().await;
                    answer
                }
                Err(e) => return edge.unreadable_body(&head, &e.to_string()),
            };
            edge.respond_mcp(&head, answer)
        }
    }
}

fn to_worker(answer: HttpResponse) -> Response {
    let headers = Headers::new();
    for (name, value) in &answer.headers {
        let _ = headers.append(name, value);
    }
    let builder = ResponseBuilder::new().with_status(answer.status).with_headers(headers);
    // A 204 must not have a body, not even an empty one.
    if answer.body.is_empty() {
        builder.empty()
    } else {
        builder.fixed(answer.body.into_bytes())
    }
}

type ConnectionFuture = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>>>>;

/// One request's connection, opened on the first statement. The connection future is polled
/// together with each statement (no `spawn_local`), and driven to its end in [`finish`], so the
/// socket closes cleanly before the response leaves.
struct WorkerDb<'a> {
    config: &'a WorkerConfig,
    env: &'a Env,
    conn: Option<(Client, ConnectionFuture)>,
    /// Inside the engine's `BEGIN` ... `COMMIT`/`ROLLBACK`.
    in_transaction: bool,
    /// `BEGIN; SET LOCAL statement_timeout = N` (`EXO_STATEMENT_TIMEOUT_MS`), or `None` when
    /// the timeout is off.
    begin: Option<Rc<str>>,
}

impl<'a> WorkerDb<'a> {
    fn new(config: &'a WorkerConfig, env: &'a Env) -> WorkerDb<'a> {
        let ms = config.engine.statement_timeout_ms;
        let begin = (ms > 0).then(|| Rc::from(format!("BEGIN; SET LOCAL statement_timeout = {ms}")));
        WorkerDb { config, env, conn: None, in_transaction: false, begin }
    }

    fn target(&self) -> Result<PgTarget, String> {
        match &self.config.database {
            Database::Url(url) => pg::from_url(url, self.config.read_write),
            Database::Hyperdrive(binding) => {
                let hd = self.env.hyperdrive(binding).map_err(|e| {
                    format!(
                        "`EXO_HYPERDRIVE_BINDING` is `{binding}`, but the Worker has no such Hyperdrive binding ({e})"
                    )
                })?;
                pg::from_hyperdrive(&hd.connection_string(), hd.host(), hd.port(), self.config.read_write)
            }
            Database::Missing => {
                Err("no database configured: set `EXO_POSTGRES_URL` (a secret: `npx wrangler secret put \
                                      EXO_POSTGRES_URL`) or `EXO_HYPERDRIVE_BINDING`"
                    .into())
            }
        }
    }

    async fn connect(&mut self) -> Result<(), DbError> {
        let target = self.target().map_err(|e| {
            worker::console_error!("exo: {e}");
            DbError(e)
        })?;
        let transport = if target.tls { SecureTransport::StartTls } else { SecureTransport::Off };
        let failed = |e: String| {
            let message = format!("cannot connect to the database at {}:{}: {e}", target.host, target.port);
            worker::console_error!("exo: {message}");
            DbError(message)
        };
        let socket = Socket::builder()
            .secure_transport(transport)
            .connect(target.host.clone(), target.port)
            .map_err(|e| failed(e.to_string()))?;
        let (client, connection): (Client, ConnectionFuture) = if target.tls {
            let (c, conn) =
                target.config.connect_raw(socket, PassthroughTls).await.map_err(|e| failed(e.to_string()))?;
            (c, Box::pin(conn))
        } else {
            let (c, conn) = target.config.connect_raw(socket, NoTls).await.map_err(|e| failed(e.to_string()))?;
            (c, Box::pin(conn))
        };
        self.conn = Some((client, connection));
        Ok(())
    }

    /// The open connection, connecting first if needed.
    async fn open(&mut self) -> Result<(&Client, &mut ConnectionFuture), DbError> {
        if self.conn.is_none() {
            self.connect().await?;
        }
        let (client, connection) = self.conn.as_mut().expect("connected above");
        Ok((&*client, connection))
    }

    /// Drops the client (tokio-postgres sends `Terminate`) and drives the connection to its end.
    async fn finish(&mut self) {
        if let Some((client, connection)) = self.conn.take() {
            drop(client);
            let _ = connection.await;
        }
    }
}

/// Polls `work` together with the connection, so its messages flow. `Err(None)` means the
/// connection ended first.
async fn drive<T>(
    connection: &mut ConnectionFuture,
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Option<DbError>> {
    let work = pin!(work);
    match select(work, connection.as_mut()).await {
        Either::Left((result, _)) => result.map_err(|e| Some(db_error(e))),
        Either::Right((Ok(()), _)) => Err(None),
        Either::Right((Err(e), _)) => Err(Some(DbError(format!("the database connection failed: {e}")))),
    }
}

impl WorkerDb<'_> {
    /// A statement cancelled by `statement_timeout` gets the native server's message.
    fn timeout_error(&self, e: DbError) -> DbError {
        let ms = self.config.engine.statement_timeout_ms;
        if ms > 0 && e.client_message().is_none() && e.0.ends_with(&format!("({QUERY_CANCELED})")) {
            return DbError::for_client(exo_runtime::engine::statement_timeout_message(ms));
        }
        e
    }

    /// Forgets a connection that ended under a statement.
    /// Errors go to the Worker's log (clients only see "Operation failed", as natively).
    fn settle<T>(&mut self, result: Result<T, Option<DbError>>) -> Result<T, DbError> {
        result.map_err(|e| {
            let closed = self.conn.as_ref().is_none_or(|(c, _)| c.is_closed());
            if e.is_none() || closed {
                self.conn = None;
            }
            let e = e.unwrap_or_else(|| DbError("the database closed the connection".into()));
            worker::console_error!("exo: database error: {}", e.0);
            e
        })
    }
}

impl Db for WorkerDb<'_> {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        // Text parameters with an explicit type on the unnamed statement: one round trip and
        // nothing prepared, which Hyperdrive also requires.
        let values: Vec<Option<&str>> = params.iter().map(|p| p.as_deref()).collect();
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            values.iter().map(|v| (v as &(dyn ToSql + Sync), Type::TEXT)).collect();
        // `EXO_STATEMENT_TIMEOUT_MS`: a Worker cannot easily open a second connection to send a
        // cancel request, so Postgres's own `statement_timeout` bounds each statement, set with
        // `SET LOCAL` in the statement's transaction (a session `SET`, or a startup option, would
        // not survive Hyperdrive's or PgBouncer's transaction pooling). Outside the engine's
        // transaction, `BEGIN; SET LOCAL ...`, the statement and `COMMIT` are sent together:
        // one round trip, as the statement alone.
        let wrap = if self.in_transaction { None } else { self.begin.clone() };
        let result = {
            let (client, connection) = self.open().await?;
            // One code path for both cases keeps the wasm small (each `drive` of another future
            // type is another copy of the connection's state machine).
            let work = async {
                let (begun, rows, ended) = futures::future::join3(
                    async {
                        match &wrap {
                            Some(begin) => client.batch_execute(begin).await,
                            None => Ok(()),
                        }
                    },
                    client.query_typed(sql, &typed),
                    async {
                        match &wrap {
                            Some(_) => client.batch_execute("COMMIT").await,
                            None => Ok(()),
                        }
                    },
                )
                .await;
                let rows = rows?;
                begun?;
                ended?;
                Ok(rows)
            };
            drive(connection, work).await
        };
        let rows = self.settle(result).map_err(|e| self.timeout_error(e))?;
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
        // The engine's transaction starts with the statement timeout, in the same message.
        let begin = self.begin.clone();
        let sql = match (sql, begin.as_deref()) {
            ("BEGIN", Some(begin)) => begin,
            _ => sql,
        };
        let result = {
            let (client, connection) = self.open().await?;
            drive(connection, client.batch_execute(sql)).await
        };
        match sql {
            "COMMIT" | "ROLLBACK" => self.in_transaction = false,
            _ if sql.starts_with("BEGIN") => self.in_transaction = result.is_ok(),
            _ => {}
        }
        self.settle(result).map_err(|e| self.timeout_error(e))
    }
}

/// A result column as text, spelled by the runtime's shared decoding (`exo_runtime::pg_text`, as
/// natively).
struct Text(String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Text, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Text(exo_runtime::pg_text::decode(ty.oid(), ty.name(), raw)?))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// SQLSTATE 57014, `query_canceled`: what Postgres answers when `statement_timeout` ends a
/// statement.
const QUERY_CANCELED: &str = "57014";

fn db_error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError(format!("{} ({})", db.message(), db.code().code())),
        None => DbError(e.to_string()),
    }
}
