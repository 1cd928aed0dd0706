//! The Worker edge (wasm32 only): the exported `handle` the JS entry calls, the per-isolate
//! state (decoded IR, engine, configuration), HTTP routing and CORS as the native server does
//! them, and [`WorkerDb`], the engine's `Db` over a `worker::Socket`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;

use exo_runtime::oidc::OidcVerifier;
use exo_runtime::{Db, DbError, Engine, RequestHead, System};
use futures::future::{select, Either};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls};
use wasm_bindgen::prelude::*;
use worker::postgres_tls::PassthroughTls;
use worker::worker_sys::web_sys;
use worker::{Env, Headers, Method, Request, Response, SecureTransport, Socket};

use crate::config::{Cors, Database, WorkerConfig, MAX_BODY_BYTES};
use crate::oidc::WorkerOidcHost;
use crate::pg::{self, PgTarget};

/// What one isolate keeps between requests. Bindings (vars, secrets) cannot change within an
/// isolate, so the configuration is read once, with the IR.
struct Loaded {
    engine: Engine,
    config: WorkerConfig,
}

thread_local! {
    static STATE: RefCell<Option<Rc<Result<Loaded, String>>>> = const { RefCell::new(None) };
}

/// Called by `index.js` for every request, with the bundled IR (an ArrayBuffer's view; it is
/// copied and decoded only on the isolate's first request).
#[wasm_bindgen]
pub async fn handle(ir: js_sys::Uint8Array, request: web_sys::Request, env: Env) -> web_sys::Response {
    let cached = STATE.with(|s| s.borrow().clone());
    let state = match cached {
        Some(state) => state,
        None => {
            let (loaded, keep) = match load(&ir.to_vec(), &env).await {
                Ok(l) => (Ok(l), true),
                Err(Failed::Config(e)) => (Err(e), true),
                // The provider may be back on the next request: do not keep this failure.
                Err(Failed::Provider(e)) => (Err(e), false),
            };
            if let Err(e) = &loaded {
                worker::console_error!("exo: {e}");
            }
            let loaded = Rc::new(loaded);
            if keep {
                STATE.with(|s| *s.borrow_mut() = Some(loaded.clone()));
            }
            loaded
        }
    };
    let response = match &*state {
        Ok(loaded) => route(loaded, Request::from(request), &env).await,
        Err(e) => json_error(500, e),
    };
    response.into()
}

enum Failed {
    /// The model or the vars are wrong: every request would fail the same way.
    Config(String),
    /// `EXO_OIDC_URL` could not be used now (discovery or key set).
    Provider(String),
}

async fn load(ir: &[u8], env: &Env) -> Result<Loaded, Failed> {
    let system = System::from_bytes(ir).map_err(|e| {
        Failed::Config(format!("cannot load the compiled model: {}; run `exo deploy cf-worker` again to rebuild it", e.0))
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

/// A var or secret as a string.
fn var(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?.as_string()
}

async fn route(loaded: &Loaded, mut req: Request, env: &Env) -> Response {
    let config = &loaded.config;
    let method = req.method();
    let path = req.path();
    let origin = req.headers().get("origin").ok().flatten();
    let mut response = if path != config.graphql_path {
        json_error(
            404,
            &format!("nothing is served at `{path}`; send GraphQL requests to `POST {}`", config.graphql_path),
        )
    } else if method == Method::Options {
        preflight(&config.cors, origin.as_deref(), req.headers())
    } else if method == Method::Post {
        graphql(loaded, &mut req, env).await
    } else {
        let r = json_error(
            405,
            &format!(
                "`{method}` is not supported at `{}`; send a `POST` with a JSON body such as \
                 {{\"query\": \"{{ __typename }}\"}} and `Content-Type: application/json`",
                config.graphql_path
            ),
        );
        let _ = r.headers().set("allow", "POST, OPTIONS");
        r
    };
    if method != Method::Options {
        if let Some(origin) = origin.as_deref() {
            allow_origin(&config.cors, origin, response.headers_mut());
        }
    }
    response
}

async fn graphql(loaded: &Loaded, req: &mut Request, env: &Env) -> Response {
    let too_large = || {
        json_error(
            413,
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes; send a smaller query or fewer variables"),
        )
    };
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let body = match req.bytes().await {
        Ok(b) if b.len() > MAX_BODY_BYTES => return too_large(),
        Ok(b) => b,
        Err(e) => return json_error(400, &format!("cannot read the request body: {e}")),
    };
    let client_ip = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("cf-connecting-ip")).map(|(_, v)| v.clone());
    let head = RequestHead { headers: &headers, client_ip: client_ip.as_deref(), now: (js_sys::Date::now() / 1000.0) as u64 };
    let mut db = WorkerDb { config: &loaded.config, env, conn: None };
    let answer = loaded.engine.handle(&body, &head, &mut db).await;
    // Close the connection inside the request: Terminate, then the socket.
    db.finish().await;
    json_response(answer.status, answer.body)
}

/// Answers `OPTIONS` as the native server does: allow headers only for a preflight from an
/// allowed origin.
fn preflight(cors: &Cors, origin: Option<&str>, request: &Headers) -> Response {
    let mut response = Response::empty().expect("an empty response").with_status(204);
    let _ = response.headers().set("allow", "POST, OPTIONS");
    let requested_method = request.get("access-control-request-method").ok().flatten();
    let Some(origin) = origin.filter(|_| requested_method.is_some()) else { return response };
    if !allow_origin(cors, origin, response.headers_mut()) {
        return response;
    }
    let headers = response.headers();
    let _ = headers.set("access-control-allow-methods", requested_method.as_deref().unwrap_or("POST, OPTIONS"));
    if let Some(requested) = request.get("access-control-request-headers").ok().flatten() {
        let _ = headers.set("access-control-allow-headers", &requested);
    }
    let _ = headers.set("access-control-max-age", "3600");
    response
}

fn allow_origin(cors: &Cors, origin: &str, headers: &mut Headers) -> bool {
    let _ = headers.append("vary", "Origin");
    if !cors.allows(origin) {
        return false;
    }
    let _ = headers.set("access-control-allow-origin", origin);
    let _ = headers.set("access-control-allow-credentials", "true");
    true
}

fn json_response(status: u16, body: String) -> Response {
    let response = Response::from_bytes(body.into_bytes()).expect("a byte body").with_status(status);
    let _ = response.headers().set("content-type", "application/json");
    response
}

fn json_error(status: u16, message: &str) -> Response {
    json_response(status, serde_json::json!({ "errors": [{ "message": message }] }).to_string())
}

type ConnectionFuture = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>>>>;

/// One request's connection, opened on the first statement. The connection future is polled
/// together with each statement (no `spawn_local`), and driven to its end in [`finish`], so the
/// socket closes cleanly before the response leaves.
struct WorkerDb<'a> {
    config: &'a WorkerConfig,
    env: &'a Env,
    conn: Option<(Client, ConnectionFuture)>,
}

impl WorkerDb<'_> {
    fn target(&self) -> Result<PgTarget, String> {
        match &self.config.database {
            Database::Url(url) => pg::from_url(url, self.config.read_write),
            Database::Hyperdrive(binding) => {
                let hd = self.env.hyperdrive(binding).map_err(|e| {
                    format!("`EXO_HYPERDRIVE_BINDING` is `{binding}`, but the Worker has no such Hyperdrive binding ({e})")
                })?;
                pg::from_hyperdrive(&hd.connection_string(), hd.host(), hd.port(), self.config.read_write)
            }
            Database::Missing => Err("no database configured: set `EXO_POSTGRES_URL` (a secret: `npx wrangler secret put \
                                      EXO_POSTGRES_URL`) or `EXO_HYPERDRIVE_BINDING`"
                .into()),
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
        let socket = Socket::builder().secure_transport(transport).connect(target.host.clone(), target.port).map_err(|e| failed(e.to_string()))?;
        let (client, connection): (Client, ConnectionFuture) = if target.tls {
            let (c, conn) = target.config.connect_raw(socket, PassthroughTls).await.map_err(|e| failed(e.to_string()))?;
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
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = values.iter().map(|v| (v as &(dyn ToSql + Sync), Type::TEXT)).collect();
        let result = {
            let (client, connection) = self.open().await?;
            drive(connection, client.query_typed(sql, &typed)).await
        };
        let rows = self.settle(result)?;
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
        let result = {
            let (client, connection) = self.open().await?;
            drive(connection, client.batch_execute(sql)).await
        };
        self.settle(result)
    }
}

/// A result column as text. Generated SQL casts every output to `text`; other types are
/// reported rather than guessed.
struct Text(String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Text, Box<dyn std::error::Error + Sync + Send>> {
        let text = match *ty {
            Type::BOOL => if bool::from_sql(ty, raw)? { "t" } else { "f" }.to_string(),
            Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
            Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
            Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
            // Binary jsonb starts with a version byte.
            Type::JSONB => std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_string(),
            _ => std::str::from_utf8(raw)?.to_string(),
        };
        Ok(Text(text))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn db_error(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError(format!("{} ({})", db.message(), db.code().code())),
        None => DbError(e.to_string()),
    }
}
