//! OpenTelemetry traces (`EXO_ENABLE_OTEL=true`): a span per GraphQL or MCP request, with
//! child spans for the engine's stages (context, parse, validate, plan or the cached plan)
//! and one per SQL statement, exported over OTLP (`grpc` or `http/protobuf`, `otlp.rs`).
//!
//! With telemetry off a request pays one branch (`Server::telemetry` is `None`); nothing is
//! allocated. With it on, the request's spans are gathered in a [`RequestTrace`] (the engine
//! reports its stages through [`Db::finished`], statements are timed by the [`Traced`]
//! wrapper around the request's connection) and handed whole to a bounded queue. An exporter
//! thread sends them in batches; when the queue is full the request's spans are dropped and
//! counted, so a slow or dead collector never slows a request.
//!
//! Spans carry names and counts, never values: statement spans name the SQL operation and
//! table (`SELECT todos`), not the SQL's parameters; the operation's name comes from the
//! request, its variables and headers are never read here.

mod otlp;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exo_runtime::{Db, DbError, Stage};

use crate::error::Error;

/// The OTLP protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// What `EXO_ENABLE_OTEL` and the standard `OTEL_*` variables ask for.
#[derive(Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME` (default `exo`), the `service.name` resource attribute.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`), then `service.name`.
    pub resource: Vec<(String, String)>,
    /// The URL spans are sent to: for `http/protobuf`, `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `/v1/traces` appended, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is; for `grpc`,
    /// the collector's address.
    pub endpoint: String,
    pub protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_HEADERS` (and `..._TRACES_HEADERS`), sent with every export.
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (ms, default 10 s): how long one export may take.
    pub timeout: Duration,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms, default 5 s): how long spans wait to be batched.
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048): requests whose spans wait for export; more
    /// are dropped and counted.
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512): requests per export at most.
    pub max_batch: usize,
}

/// Header values are often API keys: never printed.
impl fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TelemetryConfig {
    /// `None` unless `EXO_ENABLE_OTEL` is true (and `OTEL_SDK_DISABLED` is not). Errors name
    /// the variable, never a header's value.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<TelemetryConfig>, Error> {
        let get = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let flag = |name: &str| match get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(Error::new(format!("`{name}` is `{other}`; set it to `true` or `false`"))),
        };
        if !flag("EXO_ENABLE_OTEL")? || flag("OTEL_SDK_DISABLED")? {
            return Ok(None);
        }
        let protocol_var = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]
            .into_iter()
            .find_map(|n| get(n).map(|v| (n, v)));
        let protocol = match protocol_var {
            // Exograph's default.
            None => Protocol::Grpc,
            Some((_, v)) if v == "grpc" => Protocol::Grpc,
            Some((_, v)) if v == "http/protobuf" => Protocol::HttpProtobuf,
            Some((name, v)) => {
                return Err(Error::new(format!("`{name}` is `{v}`; set it to `grpc` or `http/protobuf`")));
            }
        };
        let endpoint = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(url), _) => url,
            (None, Some(base)) if protocol == Protocol::HttpProtobuf => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (None, Some(base)) => base,
            (None, None) if protocol == Protocol::Grpc => "http://localhost:4317".to_string(),
            (None, None) => "http://localhost:4318/v1/traces".to_string(),
        };
        crate::oidc::parse_url(&endpoint).map_err(|e| {
            Error::new(format!(
                "the OTLP endpoint: {e}; set `OTEL_EXPORTER_OTLP_ENDPOINT` to a URL such as http://localhost:4317"
            ))
        })?;
        let mut headers = vec![];
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            if let Some(text) = get(name) {
                headers.extend(key_values(name, &text, true)?);
            }
        }
        let mut resource = match get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(text) => key_values("OTEL_RESOURCE_ATTRIBUTES", &text, false)?,
            None => vec![],
        };
        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
            .unwrap_or_else(|| "exo".to_string());
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_string(), service_name.clone()));
        let millis = |name: &str, default: u64| -> Result<Duration, Error> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| Error::new(format!("`{name}` is `{v}`; set it to a number of milliseconds"))),
            }
        };
        let count = |name: &str, default: usize| -> Result<usize, Error> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::new(format!("`{name}` is `{v}`; set it to a positive number"))),
            }
        };
        if let Some(c) = get("OTEL_EXPORTER_OTLP_COMPRESSION").filter(|c| c != "none") {
            crate::log::warn(&format!("`OTEL_EXPORTER_OTLP_COMPRESSION` is `{c}`; exo sends spans uncompressed"));
        }
        Ok(Some(TelemetryConfig {
            service_name,
            resource,
            endpoint,
            protocol,
            headers,
            timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
            schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", 5_000)?,
            max_queue: count("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?,
            max_batch: count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
        }))
    }
}

/// `key=value,key2=value2` with percent-encoded values (the W3C baggage form the OTLP
/// variables use). A header's value is never shown in an error.
fn key_values(name: &str, text: &str, header: bool) -> Result<Vec<(String, String)>, Error> {
    let mut out = vec![];
    for (i, item) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let bad = || Error::new(format!("`{name}`: item {} is not `key=value`", i + 1));
        let (k, v) = item.split_once('=').ok_or_else(bad)?;
        let (k, v) = (percent_decode(k.trim()).ok_or_else(bad)?, percent_decode(v.trim()).ok_or_else(bad)?);
        if k.is_empty() {
            return Err(bad());
        }
        if header
            && (hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || hyper::header::HeaderValue::from_str(&v).is_err())
        {
            return Err(Error::new(format!("`{name}`: `{k}` is not a valid HTTP header name, or its value is not")));
        }
        out.push((if header { k.to_ascii_lowercase() } else { k }, v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

/// OTLP's `SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    Str(String),
    Static(&'static str),
    Int(i64),
}

#[derive(Debug)]
pub(crate) struct Span {
    pub id: [u8; 8],
    /// `None` for a root span.
    pub parent: Option<[u8; 8]>,
    pub name: std::borrow::Cow<'static, str>,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, Value)>,
    /// Status ERROR with this message (empty: no message).
    pub error: Option<String>,
}

/// One request's finished spans.
#[derive(Debug)]
pub(crate) struct TraceRecord {
    pub trace_id: [u8; 16],
    pub spans: Vec<Span>,
}

/// The spans of one request while it runs.
pub(crate) struct RequestTrace {
    trace_id: [u8; 16],
    root: [u8; 8],
    /// The caller's span (`traceparent`), the root's parent.
    remote_parent: Option<[u8; 8]>,
    start_unix_ns: u64,
    start: Instant,
    /// The end of the last stage or statement: the next stage starts here.
    last: Instant,
    spans: Vec<Span>,
}

impl RequestTrace {
    /// A trace for a request with these headers: it joins the caller's trace when a valid
    /// `traceparent` is sent. `None` when the caller's trace is not sampled.
    pub(crate) fn start(headers: &[(String, String)]) -> Option<RequestTrace> {
        let parent =
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("traceparent")).and_then(|(_, v)| traceparent(v));
        if let Some((_, _, sampled)) = parent {
            if !sampled {
                return None;
            }
        }
        let now = Instant::now();
        let start_unix_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let trace_id = match parent {
            Some((t, _, _)) => t,
            None => {
                let mut id = [0; 16];
                id[..8].copy_from_slice(&random_id());
                id[8..].copy_from_slice(&random_id());
                id
            }
        };
        Some(RequestTrace {
            trace_id,
            root: random_id(),
            remote_parent: parent.map(|(_, s, _)| s),
            start_unix_ns,
            start: now,
            last: now,
            spans: Vec::with_capacity(8),
        })
    }

    fn ns(&self, at: Instant) -> u64 {
        self.start_unix_ns + at.saturating_duration_since(self.start).as_nanos() as u64
    }

    fn child(&mut self, name: &'static str, kind: SpanKind, from: Instant, to: Instant) -> &mut Span {
        let span = Span {
            id: random_id(),
            parent: Some(self.root),
            name: name.into(),
            kind,
            start_ns: self.ns(from),
            end_ns: self.ns(to),
            attributes: vec![],
            error: None,
        };
        self.spans.push(span);
        self.spans.last_mut().expect("just pushed")
    }

    /// A stage the engine finished: from the previous report to now.
    fn stage(&mut self, stage: Stage, ok: bool) {
        let now = Instant::now();
        let name = match stage {
            Stage::Context => "graphql.context",
            Stage::CachedPlan => "graphql.plan.cached",
            Stage::TrustedPlan => "graphql.plan.trusted",
            Stage::Parse => "graphql.parse",
            Stage::Validate => "graphql.validate",
            Stage::Plan => "graphql.plan",
        };
        let from = self.last;
        let span = self.child(name, SpanKind::Internal, from, now);
        if !ok {
            span.error = Some(String::new());
        }
        self.last = now;
    }

    /// A statement that ran from `from` to now: its operation and table, its row count, and
    /// for an error only exo's own message for the client (a bound reached), never the
    /// database's text, which may quote values.
    fn statement(&mut self, sql: &str, from: Instant, outcome: Result<usize, &DbError>) {
        let now = Instant::now();
        let (operation, table) = sql_summary(sql);
        let span = self.child("", SpanKind::Client, from, now);
        span.name = match table {
            Some(t) => format!("{operation} {t}").into(),
            None => operation.into(),
        };
        span.attributes.push(("db.system", Value::Static("postgresql")));
        span.attributes.push(("db.system.name", Value::Static("postgresql")));
        span.attributes.push(("db.operation.name", Value::Static(operation)));
        if let Some(t) = table {
            span.attributes.push(("db.collection.name", Value::Str(t.to_string())));
        }
        match outcome {
            Ok(rows) => span.attributes.push(("db.response.returned_rows", Value::Int(rows as i64))),
            Err(e) => span.error = Some(e.client_message().unwrap_or("the statement failed").to_string()),
        }
        self.last = now;
    }

    /// Ends the request: the root span (`name`, `attributes`, an error status when
    /// `error` is set) and every child, ready for export.
    pub(crate) fn finish(
        mut self,
        name: String,
        attributes: Vec<(&'static str, Value)>,
        error: Option<String>,
    ) -> TraceRecord {
        let end = self.ns(Instant::now());
        let root = Span {
            id: self.root,
            parent: self.remote_parent,
            name: name.into(),
            kind: SpanKind::Server,
            start_ns: self.start_unix_ns,
            end_ns: end,
            attributes,
            error,
        };
        self.spans.insert(0, root);
        TraceRecord { trace_id: self.trace_id, spans: self.spans }
    }
}

/// The request's connection, timing each statement and taking the engine's stage reports.
pub(crate) struct Traced<'t, D> {
    pub db: &'t mut D,
    pub trace: &'t mut RequestTrace,
}

impl<D: Db> Db for Traced<'_, D> {
    async fn query(&mut self, sql: &str, params: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let from = Instant::now();
        let result = self.db.query(sql, params).await;
        self.trace.statement(sql, from, result.as_ref().map(Vec::len));
        result
    }

    async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let from = Instant::now();
        let result = self.db.execute(sql).await;
        self.trace.statement(sql, from, result.as_ref().map(|_| 0));
        result
    }

    fn finished(&mut self, stage: Stage, ok: bool) {
        self.trace.stage(stage, ok);
    }
}

/// `00-<trace id>-<parent id>-<flags>`: (trace id, parent span id, sampled).
fn traceparent(value: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let mut t = [0; 16];
    let mut s = [0; 8];
    hex_into(trace, &mut t)?;
    hex_into(span, &mut s)?;
    let mut f = [0; 1];
    hex_into(flags, &mut f)?;
    if t == [0; 16] || s == [0; 8] {
        return None;
    }
    Some((t, s, f[0] & 1 == 1))
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(())
}

thread_local! {
    /// SplitMix64, seeded once per thread from the OS-seeded keys of `RandomState`.
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(RandomState::new().build_hasher().finish() | 1);
}

/// A random, non-zero span id (trace ids are two of them).
fn random_id() -> [u8; 8] {
    RNG.with(|state| loop {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if z != 0 {
            return z.to_be_bytes();
        }
    })
}

/// A statement's operation (`SELECT`, `INSERT`, `UPDATE`, `DELETE`, or the command: `BEGIN`,
/// `COMMIT`, `ROLLBACK`) and its table: the one written, or for a `SELECT` the table read at
/// the outermost level. Only keywords and quoted names are read, outside string literals: the
/// planner's SQL has no values in it, and this copies nothing else.
fn sql_summary(sql: &str) -> (&'static str, Option<&str>) {
    let words = sql_words(sql);
    let first = words.first().map(|w| w.text).unwrap_or("");
    let command = ["BEGIN", "COMMIT", "ROLLBACK", "START"].into_iter().find(|c| first.eq_ignore_ascii_case(c));
    if let Some(c) = command {
        return (if c == "START" { "BEGIN" } else { c }, None);
    }
    // The first data-modifying keyword (a `WITH` may lead to one), and the name after it.
    for (i, w) in words.iter().enumerate() {
        let (op, skip) = match w.text.to_ascii_uppercase().as_str() {
            "INSERT" if !w.quoted => ("INSERT", 2),
            "UPDATE" if !w.quoted => ("UPDATE", 1),
            "DELETE" if !w.quoted => ("DELETE", 2),
            _ => continue,
        };
        let table = words.get(i + skip).filter(|w| w.quoted).map(|w| w.text);
        return (op, table);
    }
    let table = words
        .windows(2)
        .filter(|pair| !pair[0].quoted && pair[0].text.eq_ignore_ascii_case("FROM") && pair[1].quoted)
        .min_by_key(|pair| pair[0].depth)
        .map(|pair| pair[1].text);
    ("SELECT", table)
}

struct Word<'a> {
    text: &'a str,
    /// A double-quoted name.
    quoted: bool,
    /// Parentheses around it.
    depth: u32,
}

/// Bare words and double-quoted names of `sql` with their depth, skipping string literals.
fn sql_words(sql: &str) -> Vec<Word<'_>> {
    let bytes = sql.as_bytes();
    let mut out = vec![];
    let (mut i, mut depth) = (0, 0u32);
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += 1;
                }
                out.push(Word { text: &sql[start..i.min(bytes.len())], quoted: true, depth });
                i += 1;
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$') {
                    i += 1;
                }
                out.push(Word { text: &sql[start..i], quoted: false, depth });
            }
            _ => i += 1,
        }
    }
    out
}

/// The GraphQL operation a request body runs: its type and name, from `operationName` and
/// the document's top level (never from `variables`). `(None, None)` when the body is not a
/// GraphQL request.
pub(crate) fn graphql_operation(body: &[u8]) -> (Option<&'static str>, Option<String>) {
    let Ok(serde_json::Value::Object(payload)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let wanted = payload.get("operationName").and_then(|v| v.as_str());
    let Some(doc) = payload.get("query").and_then(|q| q.as_str()) else {
        return (None, wanted.filter(|n| is_name(n)).map(str::to_string));
    };
    let operations = top_level_operations(doc);
    let found = match wanted {
        Some(name) => operations.into_iter().find(|(_, n)| n.as_deref() == Some(name)),
        None => operations.into_iter().next(),
    };
    match found {
        Some((kind, name)) => (Some(kind), name.map(str::to_string)),
        None => (None, None),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The operations of a document: `query`/`mutation`/`subscription` with their names, and a
/// bare `{ ... }` as an anonymous query; fragments are skipped.
fn top_level_operations(doc: &str) -> Vec<(&'static str, Option<&str>)> {
    let bytes = doc.as_bytes();
    let (mut i, mut depth) = (0, 0i32);
    let mut out = vec![];
    // A keyword seen at the top level and not yet followed by its selection set.
    let mut pending: Option<(&'static str, Option<&str>)> = None;
    let mut in_fragment = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                if depth == 0 {
                    if let Some(op) = pending.take() {
                        out.push(op);
                    } else if !in_fragment {
                        out.push(("query", None));
                    }
                    in_fragment = false;
                }
                depth += 1;
            }
            b'(' => depth += 1,
            b'}' | b')' => depth -= 1,
            _ if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &doc[start..i];
                match (&mut pending, word) {
                    (Some((_, name @ None)), _) if !in_fragment => *name = Some(word),
                    (None, "query") => pending = Some(("query", None)),
                    (None, "mutation") => pending = Some(("mutation", None)),
                    (None, "subscription") => pending = Some(("subscription", None)),
                    (None, "fragment") => in_fragment = true,
                    _ => {}
                }
                continue;
            }
            b'@' if depth == 0 => {
                // A directive's name is not the operation's.
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The MCP request's JSON-RPC method and tool name (`tools/call`), never its arguments.
pub(crate) fn mcp_method(body: &[u8]) -> (String, Option<String>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => {
            let method = m.get("method").and_then(|v| v.as_str()).filter(|s| s.len() <= 64).unwrap_or("-");
            let tool = m
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(|v| v.as_str())
                .filter(|s| s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
                .map(str::to_string);
            (method.to_string(), tool.filter(|_| method == "tools/call"))
        }
        Ok(serde_json::Value::Array(_)) => ("batch".to_string(), None),
        _ => ("-".to_string(), None),
    }
}

/// How many errors a GraphQL answer carries (its `errors` list), for the root span.
pub(crate) fn error_count(body: &str) -> usize {
    if !body.starts_with("{\"errors\"") {
        return 0;
    }
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).map(Vec::len))
        .unwrap_or(1)
}

/// The root span of a GraphQL request: named `<type> <name>` (OpenTelemetry's GraphQL
/// convention), with the HTTP status, counts and an error status when the answer has errors.
pub(crate) fn graphql_root(
    trace: RequestTrace,
    body: &[u8],
    path: &str,
    answer: &exo_runtime::Response,
    counts: crate::DbCounts,
) -> TraceRecord {
    let (kind, name) = graphql_operation(body);
    let span_name = match (kind, &name) {
        (Some(k), Some(n)) => format!("{k} {n}"),
        (Some(k), None) => k.to_string(),
        _ => "GraphQL Operation".to_string(),
    };
    let errors = error_count(&answer.body);
    let mut attributes = vec![
        ("http.request.method", Value::Static("POST")),
        ("url.path", Value::Str(path.to_string())),
        ("http.response.status_code", Value::Int(i64::from(answer.status))),
        ("exo.graphql.errors", Value::Int(errors as i64)),
        ("exo.db.statements", Value::Int(i64::from(counts.statements))),
        ("exo.db.rows", Value::Int(counts.rows as i64)),
    ];
    if let Some(k) = kind {
        attributes.push(("graphql.operation.type", Value::Static(k)));
    }
    if let Some(n) = name {
        attributes.push(("graphql.operation.name", Value::Str(n)));
    }
    let error = (errors > 0 || answer.status >= 500).then(|| format!("{errors} GraphQL error(s)"));
    trace.finish(span_name, attributes, error)
}

/// The root span of an MCP request: named by its JSON-RPC method (and tool).
pub(crate) fn mcp_root(
    trace: RequestTrace,
    http_method: &str,
    body: &[u8],
    path: &str,
    status: u16,
    counts: crate::DbCounts,
) -> TraceRecord {
    let (method, tool) = mcp_method(body);
    let span_name = match &tool {
        Some(t) => format!("{method} {t}"),
        None => method.clone(),
    };
    let mut attributes = vec![
        ("http.request.method", Value::Str(http_method.to_string())),
        ("url.path", Value::Str(path.to_string())),
        ("http.response.status_code", Value::Int(i64::from(status))),
        ("mcp.method.name", Value::Str(method)),
        ("exo.db.statements", Value::Int(i64::from(counts.statements))),
        ("exo.db.rows", Value::Int(counts.rows as i64)),
    ];
    if let Some(t) = tool {
        attributes.push(("gen_ai.tool.name", Value::Str(t)));
    }
    let error = (status >= 500).then(String::new);
    trace.finish(span_name, attributes, error)
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// The exporter's handle: a bounded queue to its thread. Cloned into every model `exo dev`
/// loads.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    queue: tokio::sync::mpsc::Sender<TraceRecord>,
    dropped: AtomicU64,
    /// Asks the exporter to send what it holds and stop; answered when it has.
    stop: Mutex<Option<tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>>>,
}

impl Telemetry {
    /// Starts the exporter thread.
    pub fn start(config: TelemetryConfig) -> Result<Telemetry, Error> {
        let config = Arc::new(config);
        let transport = otlp::Transport::new(config.clone()).map_err(|e| Error::new(format!("OpenTelemetry: {e}")))?;
        let (queue, rx) = tokio::sync::mpsc::channel(config.max_queue);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let inner = Arc::new(Inner { queue, dropped: AtomicU64::new(0), stop: Mutex::new(Some(stop)) });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::new(format!("cannot start the OpenTelemetry exporter: {e}")))?;
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("exo-otel".to_string())
            .spawn(move || rt.block_on(export_loop(config, transport, rx, stop_rx, weak)))
            .map_err(|e| Error::new(format!("cannot start the OpenTelemetry exporter: {e}")))?;
        Ok(Telemetry { inner })
    }

    /// Queues a finished request's spans; when the queue is full they are dropped and counted.
    pub(crate) fn submit(&self, record: TraceRecord) {
        if self.inner.queue.try_send(record).is_err() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends the spans still queued and stops the exporter (at most about the export
    /// timeout, bounded by five seconds).
    pub async fn shutdown(&self) {
        let Some(stop) = self.inner.stop.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let (done, done_rx) = tokio::sync::oneshot::channel();
        if stop.send(done).is_ok() {
            let _ = tokio::time::timeout(otlp::SHUTDOWN_PATIENCE, done_rx).await;
        }
    }
}

async fn export_loop(
    config: Arc<TelemetryConfig>,
    mut transport: otlp::Transport,
    mut rx: tokio::sync::mpsc::Receiver<TraceRecord>,
    mut stop: tokio::sync::oneshot::Receiver<tokio::sync::oneshot::Sender<()>>,
    handle: std::sync::Weak<Inner>,
) {
    let mut batch: Vec<TraceRecord> = Vec::with_capacity(config.max_batch);
    let mut failures = Failures::default();
    let mut deadline = tokio::time::Instant::now() + config.schedule_delay;
    loop {
        tokio::select! {
            received = rx.recv() => match received {
                Some(record) => {
                    batch.push(record);
                    if batch.len() < config.max_batch {
                        continue;
                    }
                }
                // Every handle is gone.
                None => {
                    flush(&config, &mut transport, &mut batch, &mut failures).await;
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {}
            done = &mut stop => {
                while let Ok(record) = rx.try_recv() {
                    batch.push(record);
                }
                flush(&config, &mut transport, &mut batch, &mut failures).await;
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
        if let Some(inner) = handle.upgrade() {
            let dropped = inner.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                crate::log::warn(&format!(
                    "OpenTelemetry: the spans of {dropped} requests were dropped: the export queue was full \
                     (`OTEL_BSP_MAX_QUEUE_SIZE` = {})",
                    config.max_queue
                ));
            }
        }
        flush(&config, &mut transport, &mut batch, &mut failures).await;
        deadline = tokio::time::Instant::now() + config.schedule_delay;
    }
}

/// Export failures are logged at the first one and then at most once a minute, with a count.
#[derive(Default)]
struct Failures {
    since_logged: u64,
    logged_at: Option<Instant>,
}

async fn flush(
    config: &TelemetryConfig,
    transport: &mut otlp::Transport,
    batch: &mut Vec<TraceRecord>,
    failures: &mut Failures,
) {
    for chunk in batch.chunks(config.max_batch) {
        let message = otlp::encode_request(&config.resource, chunk);
        if let Err(e) = transport.export(message).await {
            failures.since_logged += 1;
            if failures.logged_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                crate::log::warn(&format!(
                    "OpenTelemetry: exporting spans to {} failed ({} time(s) since the last warning): {e}",
                    config.endpoint, failures.since_logged
                ));
                failures.since_logged = 0;
                failures.logged_at = Some(Instant::now());
            }
        }
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<TelemetryConfig>, Error> {
        let map: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TelemetryConfig::from_env(move |k| map.get(k).cloned())
    }

    #[test]
    fn off_unless_enabled() {
        assert!(config(&[]).unwrap().is_none());
        assert!(config(&[("OTEL_SERVICE_NAME", "x")]).unwrap().is_none());
        assert!(config(&[("EXO_ENABLE_OTEL", "true"), ("OTEL_SDK_DISABLED", "true")]).unwrap().is_none());
        assert!(config(&[("EXO_ENABLE_OTEL", "yes")]).unwrap_err().to_string().contains("EXO_ENABLE_OTEL"));
    }

    #[test]
    fn endpoints_protocols_and_headers() {
        let c = config(&[("EXO_ENABLE_OTEL", "true")]).unwrap().unwrap();
        assert_eq!((c.protocol, c.endpoint.as_str()), (Protocol::Grpc, "http://localhost:4317"));
        assert_eq!(c.resource, vec![("service.name".to_string(), "exo".to_string())]);
        let c = config(&[
            ("EXO_ENABLE_OTEL", "1"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%3Db , X-Team=t"),
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment=prod"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://collector.example:4318/v1/traces");
        assert_eq!(c.headers, vec![("x-api-key".into(), "a=b".into()), ("x-team".into(), "t".into())]);
        assert_eq!(
            c.resource,
            vec![("service.name".into(), "shop".into()), ("deployment.environment".into(), "prod".into())]
        );
        assert!(!format!("{c:?}").contains("a=b"), "header values are never printed");
        let c = config(&[
            ("EXO_ENABLE_OTEL", "true"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/custom"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:9/custom", "the traces endpoint is used as it is");
        let e = config(&[("EXO_ENABLE_OTEL", "true"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(e.to_string().contains("`grpc` or `http/protobuf`"), "{e}");
        let e = config(&[("EXO_ENABLE_OTEL", "true"), ("OTEL_EXPORTER_OTLP_HEADERS", "secret-token")]).unwrap_err();
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_HEADERS") && !e.to_string().contains("secret"), "{e}");
        let e = config(&[("EXO_ENABLE_OTEL", "true"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")]).unwrap_err();
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{e}");
    }

    #[test]
    fn statements_are_named_by_operation_and_table_only() {
        assert_eq!(sql_summary("BEGIN"), ("BEGIN", None));
        assert_eq!(sql_summary("COMMIT"), ("COMMIT", None));
        assert_eq!(
            sql_summary(r#"INSERT INTO "todos" ("title") VALUES ($1::text) RETURNING "id"::text"#),
            ("INSERT", Some("todos"))
        );
        assert_eq!(
            sql_summary(
                r#"SELECT json_build_object('id', "todos$4"."id", 'u', (SELECT 1 FROM "users" AS "u")) FROM "todos" AS "t""#
            ),
            ("SELECT", Some("todos")),
        );
        assert_eq!(
            sql_summary(
                r#"SELECT 1 FROM (SELECT "t".* FROM "todos" AS "t" JOIN unnest($1::text[]) AS "k"(k0) ON true) AS "t""#
            ),
            ("SELECT", Some("todos"))
        );
        assert_eq!(
            sql_summary(r#"WITH "w" AS (UPDATE "todos" SET "title" = $1 RETURNING "id") SELECT 1"#),
            ("UPDATE", Some("todos"))
        );
        assert_eq!(sql_summary(r#"DELETE FROM "todos" WHERE "id" = $1"#), ("DELETE", Some("todos")));
        assert_eq!(sql_summary("SELECT 'FROM \"x\"'"), ("SELECT", None), "string literals are skipped");
    }

    #[test]
    fn operations_come_from_the_document() {
        let body = |v: serde_json::Value| v.to_string().into_bytes();
        let op = |v| graphql_operation(&body(v));
        assert_eq!(
            op(serde_json::json!({"query": "query Todos { todos { id } }"})),
            (Some("query"), Some("Todos".into()))
        );
        assert_eq!(op(serde_json::json!({"query": "{ todos { id } }"})), (Some("query"), None));
        assert_eq!(
            op(serde_json::json!({"query": "fragment F on T { a } mutation Add($x: Int) @d { x }"})),
            (Some("mutation"), Some("Add".into()))
        );
        assert_eq!(
            op(serde_json::json!({"query": "query A { a } mutation B { b }", "operationName": "B"})),
            (Some("mutation"), Some("B".into()))
        );
        assert_eq!(op(serde_json::json!({"query": "mutation @d { b }"})), (Some("mutation"), None));
        assert_eq!(graphql_operation(b"nope"), (None, None));
    }

    #[test]
    fn traceparent_joins_the_callers_trace() {
        let (t, s, sampled) = traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t[0], 0x4b);
        assert_eq!(s[7], 0xb7);
        assert!(sampled);
        assert!(!traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().2);
        assert!(traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
        assert!(traceparent("garbage").is_none());
        let headers =
            vec![("traceparent".to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_string())];
        assert!(RequestTrace::start(&headers).is_none(), "an unsampled caller is not traced");
        assert_ne!(random_id(), random_id());
    }
}
