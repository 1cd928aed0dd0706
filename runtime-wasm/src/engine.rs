//! The request path: `(request body, request head, database) -> response body`.
//!
//! The engine owns the loaded system and a plan cache. A repeated operation (same document,
//! operation name, variable shape and context assumptions) costs a hash lookup, binding the
//! parameters and one round trip per statement.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use exo_ir::graphql::{TypeKind, TypeRef};
use serde_json::Value as Json;

use crate::context::{AuthConfig, RequestContext, RequestHead};
use crate::error::{errors_body, write_json_string, GqlError};
use crate::graphql::{self, ParseLimits};
use crate::oidc::TokenError;
use crate::plan::{self, CtxDep, NoRow, ParamSource, Plan, RootPlan, Step};
use crate::system::System;
use crate::trusted::TrustedSet;
use crate::validate::{self, Limits};
use crate::value::lookup;

/// A database connection as the engine sees it: text parameters in, text columns out.
#[allow(async_fn_in_trait)]
pub trait Db {
    /// Runs one statement with text parameters (`None` is NULL); returns every row's columns
    /// as text.
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError>;
    /// Runs a parameterless command (`BEGIN`, `COMMIT`, `ROLLBACK`).
    async fn execute(&mut self, sql: &str) -> Result<(), DbError>;
    /// The engine finished `stage` of a request (`ok`: without an error), for a host that
    /// times requests (the native server's OpenTelemetry spans: a stage runs from the previous
    /// report to this one). The engine has no clock; by default nothing happens, and the call
    /// compiles to nothing.
    #[inline(always)]
    fn finished(&mut self, _stage: Stage, _ok: bool) {}
}

/// The stages of a request the engine reports to its [`Db`] as it finishes them, in order:
/// `Context`, then one of `CachedPlan` or `TrustedPlan`, or `Parse`, `Validate` and `Plan`;
/// statements follow. A stage that fails is the last one reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The request's context: its token verified, context values read.
    Context,
    /// A plan found in the plan cache (the fast path: no parse, validation or planning).
    CachedPlan,
    /// A trusted document's precompiled plan chosen.
    TrustedPlan,
    Parse,
    Validate,
    Plan,
}

#[derive(Debug, Clone)]
pub struct DbError(pub String);

/// Marks a [`DbError`] whose text is meant for the client. It stays a prefix of the one
/// `String` field so that every `Db` implementation can keep building `DbError(text)`.
const FOR_CLIENT: &str = "\u{0}exo-client:";

impl DbError {
    /// An error the client should read as it is: a bound of the request was reached (the
    /// statement timeout, the response size, no free connection in time). Any other database
    /// error reaches the client as "Operation failed" and its text stays in the server log.
    pub fn for_client(message: impl Into<String>) -> DbError {
        DbError(format!("{FOR_CLIENT}{}", message.into()))
    }

    /// The message for the client, when this error was made by [`DbError::for_client`].
    pub fn client_message(&self) -> Option<&str> {
        self.0.strip_prefix(FOR_CLIENT)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Introspection {
    Enabled,
    Disabled,
    /// Only introspection queries are answered.
    Only,
}

impl Introspection {
    /// `EXO_INTROSPECTION`: `true|enabled|1`, `false|disabled` (default), `only`.
    pub fn from_env(v: Option<&str>) -> Introspection {
        match v.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "enabled" | "1") => Introspection::Enabled,
            Some("only") => Introspection::Only,
            _ => Introspection::Disabled,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub auth: AuthConfig,
    pub introspection: Introspection,
    pub limits: Limits,
    pub parse_limits: ParseLimits,
    /// `EXO_GRAPHQL_ALLOW_MUTATIONS` (default true).
    pub allow_mutations: bool,
    /// With trusted documents, refuse every other document except introspection
    /// (`_EXO_ENFORCE_TRUSTED_DOCUMENTS`, default true).
    pub enforce_trusted_documents: bool,
    /// Requests from the playground (header `_exo_playground: true`) may run any document
    /// (outside production: `exo dev`, `exo yolo`).
    pub playground_bypass: bool,
    /// The largest response body in bytes (`EXO_MAX_RESPONSE_BYTES`). The engine checks it as
    /// each root field's JSON arrives; the native server's connections also stop reading a
    /// result that would cross it, so no larger result is ever held in memory.
    pub max_response_bytes: usize,
    /// How long the database may work on one request, in milliseconds, 0 for no bound
    /// (`EXO_STATEMENT_TIMEOUT_MS`). The engine does not time anything itself (it has no
    /// clock); the host's `Db` sends it to Postgres, which cancels the statement.
    pub statement_timeout_ms: u64,
    /// The most rows one list field may answer, 0 for no bound (`EXO_MAX_LIST_ROWS`): a list
    /// without `limit` reads at most one row more, and is an error when that row exists; an
    /// explicit `limit` above it is refused. The plans carry it as a parameter
    /// ([`ParamSource::ListCap`]), bound here.
    pub max_list_rows: u64,
    /// The MCP endpoint (`EXO_ENABLE_MCP`, `EXO_MCP_MODE`, `EXO_MCP_HTTP_PATH`).
    pub mcp: crate::mcp::McpConfig,
}

/// Default of [`Config::max_response_bytes`]: 8 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Default of [`Config::statement_timeout_ms`]: 10 s.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// Default of [`Config::max_list_rows`]: far above a page a client shows, well below what
/// hurts (a thousand rows of a few fields is tens of kilobytes).
pub const DEFAULT_MAX_LIST_ROWS: u64 = 1_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            auth: AuthConfig::default(),
            introspection: Introspection::Disabled,
            limits: Limits::default(),
            parse_limits: ParseLimits::default(),
            allow_mutations: true,
            enforce_trusted_documents: true,
            playground_bypass: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            statement_timeout_ms: DEFAULT_STATEMENT_TIMEOUT_MS,
            max_list_rows: DEFAULT_MAX_LIST_ROWS,
            mcp: crate::mcp::McpConfig::default(),
        }
    }
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

struct DocEntry {
    query: String,
    operation: Option<String>,
    /// Variables with the types they are used at, for shaping the cache key and re-checking
    /// values on a hit.
    variables: Arc<[(String, TypeRef)]>,
    plans: Vec<(String, Arc<Plan>)>,
}

const MAX_CACHED_DOCUMENTS: usize = 2048;

/// A check of a validated operation's root fields before it is planned, for entry points
/// narrower than `/graphql` (an MCP tool runs only its profile's operations).
pub type Gate<'g> = &'g (dyn Fn(&validate::Operation<'_>) -> Result<(), GqlError> + Sync);

pub struct Engine {
    pub system: System,
    pub config: Config,
    /// Operations compiled ahead of time from `trusted-documents/`, ready to run.
    trusted: TrustedSet,
    /// Whether some context field reads the JWT: only then is a request's token verified.
    /// Decided once when the model loads rather than by scanning the contexts on every request.
    needs_jwt: bool,
    env: Box<dyn Fn(&str) -> Option<String> + Send + Sync>,
    cache: Mutex<HashMap<u64, Vec<DocEntry>>>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    trusted_hits: AtomicU64,
    trusted_fallbacks: AtomicU64,
}

impl Engine {
    pub fn new(system: System, config: Config, env: Box<dyn Fn(&str) -> Option<String> + Send + Sync>) -> Engine {
        let trusted = TrustedSet::new(&system.ir.trusted_documents);
        let needs_jwt = RequestContext::needs_jwt(&system.ir);
        Engine { system, config, trusted, needs_jwt, env, cache: Mutex::new(HashMap::new()), stats: Stats::default() }
    }

    /// Answers one `POST /graphql` body.
    pub async fn handle<D: Db>(&self, body: &[u8], head: &RequestHead<'_>, db: &mut D) -> Response {
        let payload: Json = match serde_json::from_slice(body) {
            Ok(p) => p,
            Err(e) => return error_response(400, &[GqlError::new(format!("Invalid request body: {e}"))]),
        };
        let query = payload.get("query").and_then(Json::as_str);
        let persisted = payload
            .get("extensions")
            .and_then(|e| e.get("persistedQuery"))
            .and_then(|p| p.get("sha256Hash"))
            .and_then(Json::as_str);
        let operation = payload.get("operationName").and_then(Json::as_str);
        let empty = serde_json::Map::new();
        let variables = match payload.get("variables") {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(m)) => m,
            Some(_) => return error_response(400, &[GqlError::new("`variables` must be an object")]),
        };
        let trusted = &self.trusted;
        if persisted.is_some() || !trusted.is_empty() {
            let doc = match persisted {
                Some(hash) => match trusted.find(hash) {
                    Some(d) => Some(d),
                    None => return error_response(200, &[GqlError::new("PersistedQueryNotFound")]),
                },
                None => query.and_then(|q| trusted.find(&crate::trusted::sha256_hex(q))),
            };
            if let Some(doc) = doc {
                return self.execute_trusted(doc, operation, variables, head, db).await;
            }
        }
        let Some(query) = query else {
            return error_response(400, &[GqlError::new("Request body must contain a `query` string")]);
        };
        let untrusted = !trusted.is_empty()
            && self.config.enforce_trusted_documents
            && !(self.config.playground_bypass && head.header("_exo_playground") == Some("true"));
        self.execute_checked(query, operation, variables, head, db, untrusted, None).await
    }

    /// Runs a document as `/graphql` would for the same caller (context, access rules,
    /// limits, trusted-document enforcement), but only if `gate` accepts its operation, which
    /// is checked after validation and before planning. A trusted document is validated and
    /// planned here rather than taken from its precompiled plans, so the gate sees it too.
    pub async fn execute_gated<D: Db>(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        head: &RequestHead<'_>,
        db: &mut D,
        gate: Gate<'_>,
    ) -> Response {
        let trusted = &self.trusted;
        let untrusted = !trusted.is_empty()
            && self.config.enforce_trusted_documents
            && trusted.find(&crate::trusted::sha256_hex(query)).is_none();
        self.execute_checked(query, operation, variables, head, db, untrusted, Some(gate)).await
    }

    /// Runs an operation of a trusted document from its precompiled plans: no parsing, no
    /// validation, no planning, unless its plans do not cover this request's variable shape
    /// and context (then the document is planned like any other, and cached).
    async fn execute_trusted<D: Db>(
        &self,
        doc: usize,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        head: &RequestHead<'_>,
        db: &mut D,
    ) -> Response {
        let ctx = match self.context(head).await {
            Ok(c) => c,
            Err(refused) => {
                db.finished(Stage::Context, false);
                return refused;
            }
        };
        db.finished(Stage::Context, true);
        let text = &self.system.ir.trusted_documents[doc].document;
        let Some(op) = self.trusted.operation(doc, operation) else {
            // Let the ordinary path produce the spec's error for a missing operation name.
            return self.execute_checked(text, operation, variables, head, db, false, None).await;
        };
        if op.mutation && !self.config.allow_mutations {
            return error_response(200, &[GqlError::new("Mutations are not allowed")]);
        }
        let shape = self.shape(&op.variables, variables);
        let found =
            op.variants.iter().find(|(s, deps, _)| *s == shape && context_matches(deps, &ctx)).map(|(_, _, o)| o);
        let Some(outcome) = found else {
            self.stats.trusted_fallbacks.fetch_add(1, Ordering::Relaxed);
            return self.execute_checked(text, operation, variables, head, db, false, None).await;
        };
        // A bad value is reported by full validation, as for any document: the same message,
        // with its location.
        if !validate::check_variable_values(&self.system, &op.variables, variables).is_empty() {
            return self.execute_checked(text, operation, variables, head, db, false, None).await;
        }
        self.stats.trusted_hits.fetch_add(1, Ordering::Relaxed);
        db.finished(Stage::TrustedPlan, outcome.is_ok());
        match outcome {
            Ok(plan) => {
                let plan = Arc::clone(plan);
                self.run(&plan, None, variables, &ctx, db).await
            }
            Err(e) => error_response(200, std::slice::from_ref(e)),
        }
    }

    /// The request's context, after verifying its token when the model reads the JWT. A token
    /// that does not verify is answered as Exograph answers it: HTTP 200 with "Expired
    /// authentication" or "Not authorized", never treated as anonymous.
    async fn context(&self, head: &RequestHead<'_>) -> Result<RequestContext, Response> {
        let claims = if self.needs_jwt {
            self.config.auth.claims(head).await.map_err(|e| error_response(200, &[token_refused(&e)]))?
        } else {
            None
        };
        crate::context::build(&self.system.ir, head, claims.as_ref(), &*self.env)
            .map_err(|e| error_response(200, &[token_refused(&e)]))
    }

    /// How many requests ran a precompiled trusted plan, and how many trusted requests had
    /// to be planned at request time.
    pub fn trusted_stats(&self) -> (u64, u64) {
        (self.stats.trusted_hits.load(Ordering::Relaxed), self.stats.trusted_fallbacks.load(Ordering::Relaxed))
    }

    pub async fn execute<D: Db>(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        head: &RequestHead<'_>,
        db: &mut D,
    ) -> Response {
        self.execute_checked(query, operation, variables, head, db, false, None).await
    }

    /// `untrusted`: the document is not a trusted one and trusted documents are enforced, so
    /// only introspection may run. `gate`: see [`Engine::execute_gated`].
    #[allow(clippy::too_many_arguments)]
    async fn execute_checked<D: Db>(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        head: &RequestHead<'_>,
        db: &mut D,
        untrusted: bool,
        gate: Option<Gate<'_>>,
    ) -> Response {
        let ctx = match self.context(head).await {
            Ok(c) => c,
            Err(refused) => {
                db.finished(Stage::Context, false);
                return refused;
            }
        };
        db.finished(Stage::Context, true);
        let key = doc_key(query, operation);
        // Fast path: a cached plan for this document, variable shape and context.
        // Invalid values fall through to full validation, whose errors carry locations.
        // A gated request is always validated: the gate judges the validated operation.
        let cached =
            if untrusted || gate.is_some() { None } else { self.cached(key, query, operation, variables, &ctx) };
        if let Some((plan, errors)) = cached {
            if errors.is_empty() {
                db.finished(Stage::CachedPlan, true);
                return self.run(&plan, None, variables, &ctx, db).await;
            }
        }
        let parsed = graphql::parse(query, &self.config.parse_limits);
        db.finished(Stage::Parse, parsed.is_ok());
        let doc = match parsed {
            Ok(d) => d,
            Err(e) => return error_response(200, &[crate::error::parse_error(query, e)]),
        };
        let validated = validate::validate(&self.system, &doc, operation, variables, self.config.limits);
        db.finished(Stage::Validate, validated.is_ok());
        let op = match validated {
            Ok(op) => op,
            Err(errors) => return error_response(200, &errors),
        };
        if untrusted && !op.introspection_only {
            return error_response(
                200,
                &[GqlError::new(
                    "This document is not trusted: the server only runs the operations in its trusted documents",
                )],
            );
        }
        if let Some(Err(e)) = gate.map(|g| g(&op)) {
            return error_response(200, &[e]);
        }
        let has_introspection = op.fields.iter().any(|f| f.field.name == "__schema" || f.field.name == "__type");
        match self.config.introspection {
            Introspection::Disabled if has_introspection => {
                return error_response(200, &[GqlError::new("Introspection is not enabled")]);
            }
            Introspection::Only if !op.introspection_only => {
                return error_response(200, &[GqlError::new("Only introspection queries are allowed")]);
            }
            _ => {}
        }
        if op.kind == graphql::OperationKind::Mutation && !self.config.allow_mutations {
            return error_response(200, &[GqlError::new("Mutations are not allowed")]);
        }
        let planned = plan::plan(&self.system, &op, &ctx);
        db.finished(Stage::Plan, planned.is_ok());
        let plan = match planned {
            Ok(p) => Arc::new(p),
            Err(e) => return error_response(200, &[e]),
        };
        if has_introspection {
            return self.run(&plan, Some(&op), variables, &ctx, db).await;
        }
        // Shaped and re-checked by the types the variables were coerced to where they are used.
        let var_types = op.variable_types.clone();
        let shape = self.shape(&var_types, variables);
        if !plan.cacheable {
            return self.run(&plan, Some(&op), variables, &ctx, db).await;
        }
        self.store(key, query, operation, var_types, shape, plan.clone());
        self.run(&plan, Some(&op), variables, &ctx, db).await
    }

    fn cached(
        &self,
        key: u64,
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        ctx: &RequestContext,
    ) -> Option<(Arc<Plan>, Vec<GqlError>)> {
        let cache = self.cache.lock().ok()?;
        let entry = cache.get(&key)?.iter().find(|d| d.query == query && d.operation.as_deref() == operation)?;
        let shape = self.shape(&entry.variables, variables);
        let plan = entry
            .plans
            .iter()
            .filter(|(s, _)| *s == shape)
            .map(|(_, p)| p)
            .find(|p| context_matches(&p.context_deps, ctx))?
            .clone();
        // A cheap handle: the values are checked after the lock is released.
        let var_types = Arc::clone(&entry.variables);
        drop(cache);
        // Values are not part of the key: check them against their types again.
        let errors = validate::check_variable_values(&self.system, &var_types, variables);
        Some((plan, errors))
    }

    fn store(
        &self,
        key: u64,
        query: &str,
        operation: Option<&str>,
        variables: Vec<(String, TypeRef)>,
        shape: String,
        plan: Arc<Plan>,
    ) {
        let Ok(mut cache) = self.cache.lock() else { return };
        if cache.len() >= MAX_CACHED_DOCUMENTS {
            cache.clear();
        }
        let docs = cache.entry(key).or_default();
        let entry = match docs.iter_mut().position(|d| d.query == query && d.operation.as_deref() == operation) {
            Some(i) => &mut docs[i],
            None => {
                docs.push(DocEntry {
                    query: query.to_string(),
                    operation: operation.map(str::to_string),
                    variables: variables.into(),
                    plans: vec![],
                });
                docs.last_mut().unwrap()
            }
        };
        if entry.plans.len() < 64 {
            entry.plans.push((shape, plan));
        }
    }

    /// The parts of the variables that can change the SQL: presence, nulls, list lengths,
    /// object keys, enum values and booleans (for `@skip`/`@include`).
    fn shape(&self, types: &[(String, TypeRef)], variables: &serde_json::Map<String, Json>) -> String {
        let mut s = String::new();
        for (name, ty) in types {
            match variables.get(name) {
                None => s.push('-'),
                Some(v) => self.shape_of(v, ty, &mut s),
            }
            s.push(';');
        }
        s
    }

    fn shape_of(&self, v: &Json, ty: &TypeRef, out: &mut String) {
        if v.is_null() {
            out.push('n');
            return;
        }
        match ty {
            TypeRef::NonNull(inner) => self.shape_of(v, inner, out),
            TypeRef::List(inner) => match v {
                Json::Array(items) => {
                    out.push('[');
                    for i in items {
                        self.shape_of(i, inner, out);
                        out.push(',');
                    }
                    out.push(']');
                }
                other => self.shape_of(other, inner, out),
            },
            TypeRef::Named(name) => match self.system.type_named(name).map(|t| &t.kind) {
                Some(TypeKind::InputObject { fields }) => {
                    out.push('{');
                    if let Json::Object(m) = v {
                        for f in fields {
                            if let Some(fv) = m.get(&f.name) {
                                out.push_str(&f.name);
                                out.push(':');
                                self.shape_of(fv, &f.ty, out);
                                out.push(',');
                            }
                        }
                    }
                    out.push('}');
                }
                Some(TypeKind::Enum { .. }) => {
                    out.push('e');
                    out.push_str(v.as_str().unwrap_or("?"));
                }
                _ if name == "Boolean" => out.push(if v.as_bool() == Some(true) { 't' } else { 'f' }),
                _ => out.push('s'),
            },
        }
    }

    async fn run<D: Db>(
        &self,
        plan: &Plan,
        op: Option<&validate::Operation<'_>>,
        variables: &serde_json::Map<String, Json>,
        ctx: &RequestContext,
        db: &mut D,
    ) -> Response {
        // Constraints on variable values: the plan may have been made with other values.
        for check in &plan.checks {
            if let Some(value) = variables.get(&*check.var).and_then(|v| lookup(v, &check.path)) {
                if let Err(e) = plan::check_value(check, value) {
                    return error_response(200, &[e]);
                }
            }
        }
        let tx = plan.needs_transaction;
        if tx {
            if let Err(e) = db.execute("BEGIN").await {
                return db_failure(e);
            }
        }
        let mut out = String::with_capacity(256);
        out.push_str("{\"data\":{");
        for (i, f) in plan.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_string(&mut out, &f.key);
            out.push(':');
            let result = match &f.plan {
                RootPlan::Const(s) => Ok(s.clone()),
                RootPlan::Introspection => {
                    let sel = op.and_then(|op| op.fields.iter().find(|s| s.key == f.key));
                    match sel {
                        Some(sel) => Ok(crate::introspection::resolve_root(&self.system, sel).to_string()),
                        None => Err(GqlError::new("Internal server error")),
                    }
                }
                RootPlan::Sql { steps, no_row } => {
                    run_steps(steps, *no_row, variables, ctx, self.config.max_list_rows, db).await
                }
            };
            // A response over the bound is refused as soon as a root field's JSON crosses it.
            let result = result.and_then(|json| {
                if out.len() + json.len() + 2 > self.config.max_response_bytes {
                    Err(self.response_too_large())
                } else {
                    Ok(json)
                }
            });
            match result {
                Ok(json) => out.push_str(&json),
                Err(e) => {
                    if tx {
                        let _ = db.execute("ROLLBACK").await;
                    }
                    return error_response(200, &[e]);
                }
            }
        }
        if tx {
            if let Err(e) = db.execute("COMMIT").await {
                let _ = db.execute("ROLLBACK").await;
                return db_failure(e);
            }
        }
        out.push_str("}}");
        Response { status: 200, body: out }
    }

    fn response_too_large(&self) -> GqlError {
        GqlError::new(response_too_large_message(self.config.max_response_bytes))
    }

    /// Plans an operation without running it (for tests, snapshots and benches).
    pub fn plan_for(
        &self,
        query: &str,
        operation: Option<&str>,
        variables: &serde_json::Map<String, Json>,
        head: &RequestHead<'_>,
    ) -> Result<Plan, Vec<GqlError>> {
        let claims =
            if self.needs_jwt { self.config.auth.claims_now(head).map_err(|e| vec![token_refused(&e)])? } else { None };
        let ctx = crate::context::build(&self.system.ir, head, claims.as_ref(), &*self.env)
            .map_err(|e| vec![token_refused(&e)])?;
        let doc =
            graphql::parse(query, &self.config.parse_limits).map_err(|e| vec![crate::error::parse_error(query, e)])?;
        let op = validate::validate(&self.system, &doc, operation, variables, self.config.limits)?;
        plan::plan(&self.system, &op, &ctx).map_err(|e| vec![e])
    }
}

/// The error for a statement cancelled by `EXO_STATEMENT_TIMEOUT_MS` (by the native server's
/// cancel request, or by Postgres's `statement_timeout` in the Worker).
pub fn statement_timeout_message(ms: u64) -> String {
    format!(
        "The operation was cancelled after {ms} ms in the database (`EXO_STATEMENT_TIMEOUT_MS`); \
         ask for fewer rows or simpler filters"
    )
}

/// The error for a response over `EXO_MAX_RESPONSE_BYTES`, wherever it is noticed (here, or
/// in a host's `Db` as the rows arrive).
pub fn response_too_large_message(max: usize) -> String {
    format!(
        "The response would be larger than {max} bytes (`EXO_MAX_RESPONSE_BYTES`); select fewer fields, \
         or fewer rows with `limit` and `where`"
    )
}

fn token_refused(e: &TokenError) -> GqlError {
    match e {
        TokenError::Expired => GqlError::new("Expired authentication"),
        TokenError::Invalid(_) => GqlError::new("Not authorized"),
    }
}

fn context_matches(deps: &[CtxDep], ctx: &RequestContext) -> bool {
    deps.iter().all(|d| match d {
        CtxDep::Value { context, field, value } => ctx.value(*context, *field).unwrap_or(&Json::Null) == value,
        CtxDep::List { context, field, is_list } => ctx.value(*context, *field).is_some_and(Json::is_array) == *is_list,
        CtxDep::Other { context, field, excluded, list } => match ctx.value(*context, *field) {
            None | Some(Json::Null) => false,
            Some(Json::Array(items)) if *list => items.iter().all(|i| !i.is_null() && !excluded.contains(i)),
            Some(v) => !*list && !v.is_array() && !excluded.contains(v),
        },
        CtxDep::Null { context, field, is_null } => ctx.value(*context, *field).is_none_or(|v| v.is_null()) == *is_null,
    })
}

fn doc_key(query: &str, operation: Option<&str>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    query.hash(&mut h);
    operation.hash(&mut h);
    h.finish()
}

/// The keys each step reported, by slot (slot 0 holds the root field's rows): rows of key
/// columns as text.
type Slots = Vec<Vec<Vec<Option<String>>>>;

fn bind(
    params: &[ParamSource],
    variables: &serde_json::Map<String, Json>,
    ctx: &RequestContext,
    slots: &Slots,
    cap: u64,
) -> Result<Vec<Option<String>>, GqlError> {
    params.iter().map(|p| bind_one(p, variables, ctx, slots, cap)).collect()
}

fn bind_one(
    p: &ParamSource,
    variables: &serde_json::Map<String, Json>,
    ctx: &RequestContext,
    slots: &Slots,
    cap: u64,
) -> Result<Option<String>, GqlError> {
    Ok(match p {
        ParamSource::ListCap => (cap > 0).then(|| (cap + 1).to_string()),
        ParamSource::Limit(inner) => {
            let v = bind_one(inner, variables, ctx, slots, cap)?;
            if let Some(limit) = v.as_deref().and_then(|v| v.parse::<i64>().ok()) {
                if limit < 0 {
                    return Err(GqlError::new("Invalid value for 'limit': must not be negative"));
                }
                if cap > 0 && limit as u64 > cap {
                    return Err(GqlError::new(limit_over_cap_message(limit, cap)));
                }
            }
            v
        }
        ParamSource::Const(v) => v.clone(),
        ParamSource::Var { var, path } => {
            let v = variables.get(&**var).and_then(|v| lookup(v, path));
            json_text(v)
        }
        ParamSource::JsonVar { var, path } => {
            variables.get(&**var).and_then(|v| lookup(v, path)).filter(|v| !v.is_null()).map(Json::to_string)
        }
        ParamSource::Context { context, field } => json_text(ctx.value(*context, *field)),
        ParamSource::Keys { slot, column } => {
            let keys = slots.get(*slot as usize).map(Vec::as_slice).unwrap_or(&[]);
            let values: Vec<Option<String>> = keys.iter().map(|r| r.get(*column as usize).cloned().flatten()).collect();
            Some(text_array(&values))
        }
    })
}

/// The error for an explicit `limit` above `EXO_MAX_LIST_ROWS`.
fn limit_over_cap_message(limit: i64, cap: u64) -> String {
    format!(
        "`limit` is {limit}, above the most rows a list may answer, {cap} (`EXO_MAX_LIST_ROWS`); \
         read the rows in pages with `limit` (at most {cap}) and `offset`"
    )
}

/// The error for a list without `limit` that has more rows than `EXO_MAX_LIST_ROWS`.
pub fn list_cap_message(key: &str, cap: u64) -> String {
    format!(
        "The list `{key}` has more than {cap} rows (`EXO_MAX_LIST_ROWS`); read it in pages with \
         `limit` (at most {cap}) and `offset`, or narrow it with `where`"
    )
}

/// A statement's error: the cap's own message when a list crossed it (see
/// [`plan::LIST_CAP_MARKER`]), else [`operation_failed`].
fn statement_failed(e: DbError, cap: u64) -> GqlError {
    let marker = plan::LIST_CAP_MARKER;
    if e.client_message().is_none() {
        if let Some(at) = e.0.find(&format!("\"{marker}")) {
            let rest = &e.0[at + 1 + marker.len()..];
            let key = rest.split(':').next().unwrap_or_default();
            return GqlError::new(list_cap_message(key, cap));
        }
    }
    operation_failed(e)
}

fn json_text(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// A Postgres array literal of text values.
fn text_array(values: &[Option<String>]) -> String {
    let mut s = String::from("{");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match v {
            None => s.push_str("NULL"),
            Some(v) => {
                s.push('"');
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
        }
    }
    s.push('}');
    s
}

async fn run_steps<D: Db>(
    steps: &[Step],
    no_row: NoRow,
    variables: &serde_json::Map<String, Json>,
    ctx: &RequestContext,
    cap: u64,
    db: &mut D,
) -> Result<String, GqlError> {
    let operation_failed = |e| statement_failed(e, cap);
    let mut slots: Slots = vec![vec![]];
    // `None` until a statement answers with a row.
    let mut result: Option<String> = None;
    for step in steps {
        match step {
            Step::Json(stmt) => {
                let params = bind(&stmt.params, variables, ctx, &slots, cap)?;
                let rows = db.query(&stmt.sql, &params).await.map_err(operation_failed)?;
                result = rows.into_iter().next().and_then(|r| r.into_iter().next()).flatten();
            }
            Step::CollectKeys(stmt) => {
                let params = bind(&stmt.params, variables, ctx, &slots, cap)?;
                slots[0] = db.query(&stmt.sql, &params).await.map_err(operation_failed)?;
            }
            Step::CollectSlots(stmt) => {
                let params = bind(&stmt.params, variables, ctx, &slots, cap)?;
                for mut row in db.query(&stmt.sql, &params).await.map_err(operation_failed)? {
                    let slot = row.first().cloned().flatten().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
                    row.remove(0);
                    if slots.len() <= slot {
                        slots.resize(slot + 1, vec![]);
                    }
                    slots[slot].push(row);
                }
            }
            Step::Check(stmt) => {
                let params = bind(&stmt.params, variables, ctx, &slots, cap)?;
                let rows = db.query(&stmt.sql, &params).await.map_err(operation_failed)?;
                let count = rows.into_iter().next().and_then(|r| r.into_iter().next()).flatten();
                if count.as_deref().unwrap_or("0") != "0" {
                    return Err(GqlError::new("Not authorized"));
                }
            }
        }
    }
    match (result, no_row.json()) {
        (Some(json), _) => Ok(json),
        (None, Some(empty)) => Ok(empty.to_string()),
        (None, None) => Err(GqlError::new("Not authorized")),
    }
}

fn operation_failed(e: DbError) -> GqlError {
    if let Some(message) = e.client_message() {
        return GqlError::new(message);
    }
    log_db_error(&e);
    GqlError::new("Operation failed")
}

fn db_failure(e: DbError) -> Response {
    error_response(200, &[operation_failed(e)])
}

fn log_db_error(e: &DbError) {
    // The database's message stays in the server log; clients only see "Operation failed".
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("exo: database error: {}", e.0);
    #[cfg(target_arch = "wasm32")]
    let _ = e;
}

fn error_response(status: u16, errors: &[GqlError]) -> Response {
    Response { status, body: errors_body(errors) }
}
