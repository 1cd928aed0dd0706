//! The HTTP edge shared by the native server and the Worker: what a request's method, path,
//! headers and peer address call for (a GraphQL run, a playground asset, or a complete answer),
//! and how the engine's answer becomes an HTTP response (status, `Content-Type`, CORS).
//!
//! Sans-IO: the hosts read sockets and bodies and write responses; every decision about a
//! request is made here, once, so the server and the Worker cannot drift apart. The hostile
//! request suite (`integration/tests/it/hostile.rs`, `scripts/worker-smoke.sh`) holds them to
//! identical answers.

use std::net::IpAddr;

use crate::engine::Response as EngineResponse;
use crate::env::Cors;
use crate::error::{errors_body, GqlError};

/// Request bodies above this size get `413 Payload Too Large`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// `Access-Control-Max-Age` for preflight answers.
const CORS_MAX_AGE: &str = "3600";
const GRAPHQL_METHODS: &str = "POST, OPTIONS";
const PLAYGROUND_METHODS: &str = "GET, HEAD";

/// What the host knows about a request before reading its body.
pub struct Request<'a> {
    /// Upper case, as HTTP spells it (`POST`).
    pub method: &'a str,
    /// The path without the query string.
    pub path: &'a str,
    /// Every header, names in any case; a repeated header appears once per line.
    pub headers: &'a [(String, String)],
    /// The TCP peer (native), or `None` where the platform hides it (Worker).
    pub peer: Option<IpAddr>,
}

impl Request<'_> {
    /// Every value of header `name`, joined with `", "` as the Fetch standard combines them.
    /// The Workers runtime only ever shows the combined form, so the native side must decide
    /// on the same text.
    fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next()?;
        let mut out = first.to_string();
        for v in values {
            out.push_str(", ");
            out.push_str(v);
        }
        Some(out)
    }

    /// Every value of header `name`, in order.
    fn header_lines<'h>(&'h self, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A complete HTTP response. Header names are lower case.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What to do with a request.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// Read the body (more than [`Edge::max_body_bytes`] gets [`Edge::too_large`]), hand it
    /// to the engine with this client address, and turn its answer into a response with
    /// [`Edge::respond`].
    GraphQl { client_ip: Option<String> },
    /// `GET`/`HEAD` under the playground path: the page (`None`) or a file of it. The host
    /// serves it (the assets live with the native server), decorated with [`Edge::decorate`],
    /// or answers [`Edge::not_found`] for a file it does not have.
    Playground { file: Option<String> },
    /// A request at the MCP path (any method but `OPTIONS`): read the body (more than
    /// [`Edge::max_body_bytes`] gets `McpResponse::too_large`), hand it to the engine's MCP
    /// handler, which makes the transport's own decisions (methods, `Accept`, content type),
    /// and turn its answer into a response with [`Edge::respond_mcp`].
    Mcp { client_ip: Option<String> },
    /// `GET`/`HEAD` on a health path: the host checks what it needs (a `SELECT 1` for
    /// readiness) and answers with [`Edge::health_answer`].
    Health(Health),
    /// Answer this without reading the body.
    Respond(HttpResponse),
}

/// Where `@clientIp` comes from. Each host has one policy, fixed by its type, so the Worker's
/// wasm never carries the proxy-chain parsing it cannot use.
pub trait ClientAddress {
    fn client_ip(&self, req: &Request<'_>) -> Option<String>;
}

/// Native: the TCP peer; when the peer is a trusted proxy, the rightmost address of the
/// forwarding header that is not a trusted proxy (`EXO_TRUSTED_PROXIES`,
/// `EXO_FORWARDED_HEADER`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    pub proxies: Vec<IpNet>,
    pub header: ForwardedHeader,
}

impl ClientAddress for TrustedProxies {
    fn client_ip(&self, req: &Request<'_>) -> Option<String> {
        let peer = req.peer?.to_canonical();
        Some(forwarded_client(peer, &self.proxies, self.header, req).to_string())
    }
}

/// A header the platform in front sets on every request and clients cannot (Cloudflare's
/// `CF-Connecting-IP`, which the Worker reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformHeader(pub &'static str);

impl ClientAddress for PlatformHeader {
    fn client_ip(&self, req: &Request<'_>) -> Option<String> {
        // Only what an address can be made of: the value reaches access rules. (Not parsed:
        // the address parser and printer would only grow the Worker.)
        let value = req.header(self.0)?;
        let value = value.trim();
        let plausible = !value.is_empty()
            && value.len() <= 45
            && value.chars().all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':');
        plausible.then(|| value.to_string())
    }
}

/// Which header a trusted proxy writes the client's address into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, load balancers, most platforms).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// An IP network: an address and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `10.0.0.0/8`, `fd00::/8`, or a single address (`127.0.0.1`, `::1`).
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("`{text}` is not an IP address or a network such as `10.0.0.0/8`"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("`{text}` has a prefix length other than 0 to {max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> u128 {
            match ip {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        if self.prefix == 0 {
            return true;
        }
        // IPv4 addresses sit in the top 32 bits, so one mask serves both families.
        let mask = u128::MAX << (128 - u32::from(self.prefix));
        bits(ip) & mask == bits(self.addr) & mask
    }
}

/// `EXO_TRUSTED_PROXIES`: comma-separated addresses and networks.
pub fn parse_trusted_proxies(value: Option<&str>) -> Result<Vec<IpNet>, String> {
    let Some(value) = value else {
        return Ok(vec![]);
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| IpNet::parse(p).map_err(|e| format!("`EXO_TRUSTED_PROXIES` is `{value}`: {e}")))
        .collect()
}

/// `EXO_FORWARDED_HEADER`: `x-forwarded-for` (default) or `forwarded`.
pub fn parse_forwarded_header(value: Option<&str>) -> Result<ForwardedHeader, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("x-forwarded-for") => Ok(ForwardedHeader::XForwardedFor),
        Some("forwarded") => Ok(ForwardedHeader::Forwarded),
        Some(_) => Err(format!(
            "`EXO_FORWARDED_HEADER` is `{}`; set it to `x-forwarded-for` or `forwarded` (the header your proxy writes)",
            value.unwrap_or_default()
        )),
    }
}

/// The HTTP settings of one server or Worker; `C` says where the client address comes from.
#[derive(Clone, Debug)]
pub struct Edge<C> {
    /// `EXO_GRAPHQL_HTTP_PATH`.
    pub graphql_path: String,
    /// Where the playground is served (native, with introspection); `None` for none.
    pub playground_path: Option<String>,
    pub cors: Cors,
    pub max_body_bytes: usize,
    pub client_address: C,
    /// Where MCP is served (`EXO_MCP_HTTP_PATH`), `None` when it is off (`EXO_ENABLE_MCP`).
    pub mcp_path: Option<String>,
    /// Whether `/live` and `/ready` are served (natively, for load balancers; a Worker has
    /// none: the platform routes around failures itself).
    pub health: bool,
}

/// `GET /live`: the process answers. `GET /ready`: the model is loaded and Postgres answers.
pub const LIVE_PATH: &str = "/live";
pub const READY_PATH: &str = "/ready";

/// Which health question a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Live,
    Ready,
}

impl<C: ClientAddress> Edge<C> {
    /// Decides what `req` calls for. Everything but the body is checked here: path, method,
    /// content type, declared length, CORS preflight.
    pub fn route(&self, req: &Request<'_>) -> Route {
        let method = req.method;
        let path = req.path;
        if self.mcp_path.as_deref() == Some(path) {
            return match method {
                "OPTIONS" => Route::Respond(self.preflight(req)),
                _ => Route::Mcp { client_ip: self.client_address.client_ip(req) },
            };
        }
        if self.health && path != self.graphql_path && (path == LIVE_PATH || path == READY_PATH) {
            return if matches!(method, "GET" | "HEAD") {
                Route::Health(if path == LIVE_PATH { Health::Live } else { Health::Ready })
            } else {
                let message = format!("`{method}` is not supported at `{path}`; use GET");
                let mut r = self.error(req, 405, &message);
                r.headers.push(("allow", PLAYGROUND_METHODS.to_string()));
                Route::Respond(r)
            };
        }
        if path == self.graphql_path {
            match method {
                "POST" => match self.refuse_post(req) {
                    Some(refusal) => Route::Respond(refusal),
                    None => Route::GraphQl { client_ip: self.client_address.client_ip(req) },
                },
                "OPTIONS" => Route::Respond(self.preflight(req)),
                _ => {
                    let message = format!(
                        "`{method}` is not supported at `{}`; send a `POST` with a JSON body such as \
                         {{\"query\": \"{{ __typename }}\"}} and `Content-Type: application/json`",
                        self.graphql_path
                    );
                    let mut r = self.error(req, 405, &message);
                    r.headers.push(("allow", GRAPHQL_METHODS.to_string()));
                    Route::Respond(r)
                }
            }
        } else if let Some(file) = self.playground_file(path) {
            if matches!(method, "GET" | "HEAD") {
                Route::Playground { file }
            } else {
                let message = format!("`{method}` is not supported at `{path}`; open it in a browser (GET)");
                let mut r = self.error(req, 405, &message);
                r.headers.push(("allow", PLAYGROUND_METHODS.to_string()));
                Route::Respond(r)
            }
        } else {
            Route::Respond(self.not_found(req))
        }
    }

    /// A refusal of a `POST` to the GraphQL path, decided from its head: a body that is not
    /// declared as JSON, or declared too large.
    fn refuse_post(&self, req: &Request<'_>) -> Option<HttpResponse> {
        // Only `application/json` is accepted, and a missing type is refused too: browsers
        // send `text/plain`, form and multipart bodies cross-site without a preflight, and a
        // `fetch` of a `Blob` with no type sends no `Content-Type` at all; with a token in a
        // cookie (`EXO_JWT_SOURCE_COOKIE`) any of them would be a cross-site request forgery.
        match req.header("content-type") {
            None => {
                return Some(self.error(
                    req,
                    415,
                    "the request has no `Content-Type`; send the GraphQL request as JSON with `Content-Type: application/json`",
                ))
            }
            Some(ct) => {
                let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                if media != "application/json" {
                    let message = format!(
                        "unsupported `Content-Type: {ct}`; send the GraphQL request as JSON with `Content-Type: application/json`"
                    );
                    return Some(self.error(req, 415, &message));
                }
            }
        }
        let declared = req.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes as u64) {
            return Some(self.too_large(req));
        }
        None
    }

    /// `413` for a body over [`Edge::max_body_bytes`] (the host calls it when the body turns
    /// out longer than declared, or had no declared length).
    pub fn too_large(&self, req: &Request<'_>) -> HttpResponse {
        let message = format!(
            "the request body is larger than {} bytes; send a smaller query or fewer variables",
            self.max_body_bytes
        );
        self.error(req, 413, &message)
    }

    /// `408` for a body that did not arrive within `EXO_HTTP_BODY_TIMEOUT_MS` (native server);
    /// the host closes the connection after it.
    pub fn body_timeout(&self, req: &Request<'_>, ms: u128) -> HttpResponse {
        let message = format!(
            "the request body did not arrive within {ms} ms (`EXO_HTTP_BODY_TIMEOUT_MS`); send it whole, without pauses"
        );
        self.error(req, 408, &message)
    }

    /// `400` for a body the host could not read (a broken connection, bad chunking).
    pub fn unreadable_body(&self, req: &Request<'_>, problem: &str) -> HttpResponse {
        self.error(req, 400, &format!("cannot read the request body: {problem}"))
    }

    /// `404` for any path that serves nothing.
    pub fn not_found(&self, req: &Request<'_>) -> HttpResponse {
        let message =
            format!("nothing is served at `{}`; send GraphQL requests to `POST {}`", req.path, self.graphql_path);
        self.error(req, 404, &message)
    }

    /// `500` when the host cannot answer at all (the Worker's model failed to load). The
    /// message goes to the host's log; the client learns only that the server is broken.
    pub fn internal_error(&self, req: &Request<'_>) -> HttpResponse {
        self.error(req, 500, "Internal server error")
    }

    /// The engine's answer as an HTTP response: its status and JSON body, with CORS.
    pub fn respond(&self, req: &Request<'_>, answer: EngineResponse) -> HttpResponse {
        let mut r = HttpResponse {
            status: answer.status,
            headers: vec![("content-type", "application/json".to_string())],
            body: answer.body,
        };
        self.decorate(req, &mut r.headers);
        r
    }

    /// The answer to a health probe. A 503 says only what failed, not the database URL or the
    /// error (probes are often reachable from outside; the host logs the detail).
    pub fn health_answer(&self, health: Health, ok: bool) -> HttpResponse {
        let (status, body) = match (health, ok) {
            (Health::Live, _) => (200, r#"{"status":"live"}"#),
            (Health::Ready, true) => (200, r#"{"status":"ready"}"#),
            (Health::Ready, false) => (503, r#"{"status":"unavailable","reason":"the database is unreachable"}"#),
        };
        HttpResponse {
            status,
            headers: vec![("content-type", "application/json".to_string()), ("cache-control", "no-store".to_string())],
            body: body.to_string(),
        }
    }

    /// The MCP handler's answer as an HTTP response: JSON when it has a body (none for
    /// `202 Accepted`), its own headers (`Allow`, `WWW-Authenticate`), and CORS.
    pub fn respond_mcp(&self, req: &Request<'_>, answer: crate::McpResponse) -> HttpResponse {
        let mut headers = Vec::new();
        if !answer.body.is_empty() {
            headers.push(("content-type", "application/json".to_string()));
        }
        headers.extend(answer.headers);
        self.decorate(req, &mut headers);
        HttpResponse { status: answer.status, headers, body: answer.body }
    }

    /// A GraphQL-shaped error (`{"errors":[{"message":...}]}`) with CORS.
    fn error(&self, req: &Request<'_>, status: u16, message: &str) -> HttpResponse {
        let answer = EngineResponse { status, body: errors_body(&[GqlError::new(message)]) };
        self.respond(req, answer)
    }

    /// Adds the CORS headers every answer but a preflight carries: `Vary: Origin` when the
    /// request has an origin, and `Access-Control-Allow-Origin` (the origin echoed, so
    /// credentials work with `*` too) when that origin is allowed.
    pub fn decorate(&self, req: &Request<'_>, headers: &mut Vec<(&'static str, String)>) {
        if req.method == "OPTIONS" {
            return;
        }
        if let Some(origin) = req.header("origin") {
            self.allow_origin(&origin, headers);
        }
    }

    fn allow_origin(&self, origin: &str, headers: &mut Vec<(&'static str, String)>) -> bool {
        headers.push(("vary", "Origin".to_string()));
        if !self.cors.allows(origin) {
            return false;
        }
        headers.push(("access-control-allow-origin", origin.to_string()));
        headers.push(("access-control-allow-credentials", "true".to_string()));
        true
    }

    /// Answers `OPTIONS` at the GraphQL path. A CORS preflight from an allowed origin gets the
    /// allow headers (every method and header is allowed); one from any other origin gets
    /// none, so the browser blocks the request it announced.
    fn preflight(&self, req: &Request<'_>) -> HttpResponse {
        let mut r =
            HttpResponse { status: 204, headers: vec![("allow", GRAPHQL_METHODS.to_string())], body: String::new() };
        let Some(method) = req.header("access-control-request-method") else {
            return r;
        };
        let Some(origin) = req.header("origin") else {
            return r;
        };
        if !self.allow_origin(&origin, &mut r.headers) {
            return r;
        }
        r.headers.push(("access-control-allow-methods", method));
        if let Some(requested) = req.header("access-control-request-headers") {
            r.headers.push(("access-control-allow-headers", requested));
        }
        r.headers.push(("access-control-max-age", CORS_MAX_AGE.to_string()));
        r
    }

    /// `Some(None)` for the playground page, `Some(Some(file))` for a file beside it.
    fn playground_file(&self, path: &str) -> Option<Option<String>> {
        let base = self.playground_path.as_deref()?.trim_end_matches('/');
        match path.strip_prefix(base)? {
            "" | "/" => Some(None),
            rest => {
                let file = rest.strip_prefix('/')?;
                (!file.contains('/')).then(|| Some(file.to_string()))
            }
        }
    }
}

/// The rightmost address of the forwarding chain that is not a trusted proxy. Each trusted
/// proxy appends the address it received the request from, so walking from the peer leftwards
/// through trusted proxies stops at the first address no trusted party vouches for: whatever
/// lies further left was written by the client and may be forged. An unreadable entry ends the
/// walk at the last trusted address.
fn forwarded_client(peer: IpAddr, trusted: &[IpNet], header: ForwardedHeader, req: &Request<'_>) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = match header {
        ForwardedHeader::XForwardedFor => req.header_lines("x-forwarded-for").flat_map(|v| v.split(',')).collect(),
        ForwardedHeader::Forwarded => req
            .header_lines("forwarded")
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                })
            })
            .collect(),
    };
    let mut current = peer;
    for hop in hops.iter().rev() {
        match parse_node(hop) {
            Some(ip) => {
                current = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    current
}

/// An address in a forwarding header: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]:80`, possibly quoted (`Forwarded`). `unknown` and obfuscated names are `None`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let host = match text.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => text.rsplit_once(':')?.0,
    };
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Edge<TrustedProxies> {
        Edge {
            graphql_path: "/graphql".into(),
            playground_path: Some("/playground".into()),
            cors: Cors::Origins(vec!["https://app.example".into()]),
            max_body_bytes: 100,
            client_address: TrustedProxies::default(),
            mcp_path: None,
            health: true,
        }
    }

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn route<C: ClientAddress>(edge: &Edge<C>, method: &str, path: &str, list: &[(&str, &str)]) -> Route {
        let h = headers(list);
        edge.route(&Request { method, path, headers: &h, peer: Some("10.1.2.3".parse().unwrap()) })
    }

    fn answer(route: Route) -> HttpResponse {
        match route {
            Route::Respond(r) => r,
            other => panic!("expected a complete answer, got {other:?}"),
        }
    }

    /// The message of a GraphQL-shaped error body.
    fn message(r: &HttpResponse) -> String {
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON body");
        body["errors"][0]["message"].as_str().expect("an error message").to_string()
    }

    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[test]
    fn json_posts_run_graphql() {
        let e = edge();
        assert_eq!(route(&e, "POST", "/graphql", &[JSON]), Route::GraphQl { client_ip: Some("10.1.2.3".into()) });
        let with_params = ("content-type", "Application/JSON ; charset=utf-8");
        assert!(matches!(route(&e, "POST", "/graphql", &[with_params]), Route::GraphQl { .. }));
        let declared = ("Content-Length", "100");
        assert!(matches!(route(&e, "POST", "/graphql", &[JSON, declared]), Route::GraphQl { .. }));
    }

    #[test]
    fn bodies_not_declared_as_json_are_refused() {
        let e = edge();
        for ct in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=----x",
            "application/graphql",
            "application/jsonx",
            "application/json-patch+json",
            "",
        ] {
            let r = answer(route(&e, "POST", "/graphql", &[("Content-Type", ct)]));
            assert_eq!(r.status, 415, "{ct}");
            assert!(message(&r).contains("application/json"), "{ct}: {}", message(&r));
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
        // No type at all: what `fetch` sends for an untyped Blob, cross-site without a preflight.
        let r = answer(route(&e, "POST", "/graphql", &[("Cookie", "token=abc")]));
        assert_eq!(r.status, 415);
        assert!(message(&r).contains("no `Content-Type`"), "{}", message(&r));
        // Two types are one combined value, as the Workers runtime shows them.
        let r = answer(route(&e, "POST", "/graphql", &[JSON, ("content-type", "text/plain")]));
        assert_eq!(r.status, 415);
        assert!(message(&r).contains("application/json, text/plain"), "{}", message(&r));
    }

    #[test]
    fn declared_lengths_over_the_limit_are_refused_before_the_body() {
        let e = edge();
        let r = answer(route(&e, "POST", "/graphql", &[JSON, ("Content-Length", "101")]));
        assert_eq!(r.status, 413);
        assert!(message(&r).contains("larger than 100 bytes"), "{}", message(&r));
        // The content type is checked first: a large form post is still a 415.
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        assert_eq!(answer(route(&e, "POST", "/graphql", &[form, ("Content-Length", "5000")])).status, 415);
        let h = headers(&[]);
        let req = Request { method: "POST", path: "/graphql", headers: &h, peer: None };
        assert_eq!(e.too_large(&req).status, 413);
        let r = e.unreadable_body(&req, "connection reset");
        assert_eq!((r.status, message(&r).as_str()), (400, "cannot read the request body: connection reset"));
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let e = edge();
        for method in ["GET", "HEAD", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "FOO"] {
            let r = answer(route(&e, method, "/graphql", &[JSON]));
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow"), Some("POST, OPTIONS"), "{method}");
            assert!(message(&r).starts_with(&format!("`{method}` is not supported at `/graphql`")), "{}", message(&r));
        }
        // Methods are case-sensitive: `post` is not `POST`.
        assert_eq!(answer(route(&e, "post", "/graphql", &[JSON])).status, 405);
    }

    #[test]
    fn unknown_paths_get_404() {
        let e = edge();
        for path in ["/", "/graphql/", "/GRAPHQL", "/other", "/graphqlx", "/playgroundx"] {
            let r = answer(route(&e, "POST", path, &[JSON]));
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(message(&r), format!("nothing is served at `{path}`; send GraphQL requests to `POST /graphql`"));
        }
    }

    #[test]
    fn playground_paths() {
        let e = edge();
        assert_eq!(route(&e, "GET", "/playground", &[]), Route::Playground { file: None });
        assert_eq!(route(&e, "HEAD", "/playground/", &[]), Route::Playground { file: None });
        assert_eq!(
            route(&e, "GET", "/playground/playground.js", &[]),
            Route::Playground { file: Some("playground.js".into()) }
        );
        assert!(matches!(
            route(&e, "GET", "/playground/a/b.js", &[]),
            Route::Respond(HttpResponse { status: 404, .. })
        ));
        let r = answer(route(&e, "POST", "/playground", &[JSON]));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        // Without a playground (the Worker, or introspection off) the path is unknown.
        let worker = Edge { playground_path: None, ..edge() };
        assert_eq!(answer(route(&worker, "GET", "/playground", &[])).status, 404);
        // A playground at `/` does not capture the GraphQL path.
        let root = Edge { playground_path: Some("/".into()), ..edge() };
        assert!(matches!(route(&root, "POST", "/graphql", &[JSON]), Route::GraphQl { .. }));
        assert_eq!(route(&root, "GET", "/", &[]), Route::Playground { file: None });
    }

    #[test]
    fn health_paths_only_where_served() {
        assert_eq!(route(&edge(), "GET", "/ready", &[]), Route::Health(Health::Ready));
        assert_eq!(route(&edge(), "HEAD", "/live", &[]), Route::Health(Health::Live));
        let r = answer(route(&edge(), "POST", "/ready", &[JSON]));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
        let worker = Edge { health: false, ..edge() };
        assert_eq!(answer(route(&worker, "GET", "/ready", &[])).status, 404);
        // A GraphQL path named like a probe stays the GraphQL path.
        let odd = Edge { graphql_path: "/ready".into(), ..edge() };
        assert!(matches!(route(&odd, "POST", "/ready", &[JSON]), Route::GraphQl { .. }));
        let down = edge().health_answer(Health::Ready, false);
        assert_eq!((down.status, down.header("cache-control")), (503, Some("no-store")));
        assert!(!down.body.contains("postgres"));
    }

    #[test]
    fn mcp_path_is_routed_only_when_on() {
        // Off: the MCP path serves nothing.
        assert_eq!(answer(route(&edge(), "POST", "/mcp", &[JSON])).status, 404);
        let on = Edge { mcp_path: Some("/mcp".into()), ..edge() };
        // Every method but OPTIONS goes to the MCP handler, which answers the transport's
        // own questions (405 for GET, 406 for a missing Accept, ...).
        assert!(matches!(route(&on, "POST", "/mcp", &[JSON]), Route::Mcp { .. }));
        assert!(matches!(route(&on, "GET", "/mcp", &[]), Route::Mcp { .. }));
        let preflight = answer(route(
            &on,
            "OPTIONS",
            "/mcp",
            &[("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")],
        ));
        assert_eq!(preflight.status, 204);
        assert_eq!(preflight.header("access-control-allow-origin"), Some("https://app.example"));
        // The GraphQL path is unaffected.
        assert!(matches!(route(&on, "POST", "/graphql", &[JSON]), Route::GraphQl { .. }));
        // An answer with no body (202 for a notification) carries no content type.
        let head = Request { method: "POST", path: "/mcp", headers: &[], peer: None };
        let r = on.respond_mcp(&head, crate::McpResponse { status: 202, body: String::new(), headers: vec![] });
        assert_eq!((r.status, r.header("content-type")), (202, None));
    }

    #[test]
    fn cors_on_answers() {
        let e = edge();
        let h = headers(&[("Origin", "https://app.example")]);
        let req = Request { method: "POST", path: "/graphql", headers: &h, peer: None };
        let r = e.respond(&req, EngineResponse { status: 200, body: "{\"data\":{}}".into() });
        assert_eq!(
            r.headers,
            vec![
                ("content-type", "application/json".to_string()),
                ("vary", "Origin".to_string()),
                ("access-control-allow-origin", "https://app.example".to_string()),
                ("access-control-allow-credentials", "true".to_string()),
            ]
        );
        // A foreign origin gets `Vary` only; refusals carry CORS too, so the page can read them.
        let r = answer(route(
            &e,
            "POST",
            "/graphql",
            &[("Origin", "https://evil.example"), ("Content-Type", "text/plain")],
        ));
        assert_eq!(r.status, 415);
        assert_eq!(r.header("vary"), Some("Origin"));
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = answer(route(&e, "GET", "/graphql", &[("Origin", "https://app.example")]));
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        // No origin, no CORS headers.
        let r = answer(route(&e, "GET", "/graphql", &[]));
        assert_eq!(r.header("vary"), None);
        let any = Edge { cors: Cors::Any, ..edge() };
        let r = answer(route(&any, "GET", "/graphql", &[("Origin", "https://evil.example")]));
        assert_eq!(r.header("access-control-allow-origin"), Some("https://evil.example"));
    }

    #[test]
    fn preflights() {
        let e = edge();
        let allowed = [
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type, authorization"),
        ];
        let r = answer(route(&e, "OPTIONS", "/graphql", &allowed));
        assert_eq!((r.status, r.body.as_str()), (204, ""));
        assert_eq!(
            r.headers,
            vec![
                ("allow", "POST, OPTIONS".to_string()),
                ("vary", "Origin".to_string()),
                ("access-control-allow-origin", "https://app.example".to_string()),
                ("access-control-allow-credentials", "true".to_string()),
                ("access-control-allow-methods", "POST".to_string()),
                ("access-control-allow-headers", "content-type, authorization".to_string()),
                ("access-control-max-age", "3600".to_string()),
            ]
        );
        // From a foreign origin: no allow headers, so the browser never sends the request.
        let foreign = [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")];
        let r = answer(route(&e, "OPTIONS", "/graphql", &foreign));
        assert_eq!(r.headers, vec![("allow", "POST, OPTIONS".to_string()), ("vary", "Origin".to_string())]);
        // Not a preflight (no requested method): a plain `OPTIONS` answer.
        let r = answer(route(&e, "OPTIONS", "/graphql", &[("Origin", "https://app.example")]));
        assert_eq!(r.headers, vec![("allow", "POST, OPTIONS".to_string())]);
        let r = answer(route(&e, "OPTIONS", "/graphql", &[]));
        assert_eq!((r.status, r.headers.len()), (204, 1));
    }

    #[test]
    fn networks() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        // An IPv4 peer seen through a dual-stack socket is still IPv4.
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let one = IpNet::parse(" 192.168.1.7 ").unwrap();
        assert!(one.contains("192.168.1.7".parse().unwrap()) && !one.contains("192.168.1.8".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("::/0").unwrap().contains("2001:db8::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/31").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(!IpNet::parse("10.0.0.0/32").unwrap().contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "fd00::/129", "localhost", "10.0.0/8", "10.0.0.0/x", ""] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
        let e = parse_trusted_proxies(Some("10.0.0.0/8, nope")).unwrap_err();
        assert!(e.contains("`EXO_TRUSTED_PROXIES`") && e.contains("`nope`"), "{e}");
        assert_eq!(parse_trusted_proxies(Some(" , ")).unwrap(), vec![]);
        assert_eq!(parse_trusted_proxies(Some("127.0.0.1,::1")).unwrap().len(), 2);
        assert_eq!(parse_forwarded_header(Some("Forwarded")).unwrap(), ForwardedHeader::Forwarded);
        assert!(parse_forwarded_header(Some("x-real-ip")).unwrap_err().contains("`EXO_FORWARDED_HEADER`"));
    }

    fn client(trusted: &str, header: ForwardedHeader, peer: &str, list: &[(&str, &str)]) -> Option<String> {
        let proxies = TrustedProxies { proxies: parse_trusted_proxies(Some(trusted)).unwrap(), header };
        let h = headers(list);
        proxies.client_ip(&Request { method: "POST", path: "/graphql", headers: &h, peer: Some(peer.parse().unwrap()) })
    }

    #[test]
    fn client_address_from_trusted_proxies_only() {
        use ForwardedHeader::*;
        let xff = |v| ("X-Forwarded-For", v);
        // No trusted proxies: the peer, whatever the headers say.
        assert_eq!(client("", XForwardedFor, "203.0.113.9", &[xff("1.1.1.1")]).as_deref(), Some("203.0.113.9"));
        // A peer that is not trusted cannot vouch for anything.
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "203.0.113.9", &[xff("1.1.1.1")]).as_deref(),
            Some("203.0.113.9")
        );
        // Behind one trusted proxy: the address it appended.
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[xff("198.51.100.7")]).as_deref(),
            Some("198.51.100.7")
        );
        // A client's forged entries sit to the left of what the proxy appended.
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[xff("6.6.6.6, 198.51.100.7")]).as_deref(),
            Some("198.51.100.7")
        );
        // Two trusted hops (the second line appended by the inner proxy).
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[xff("6.6.6.6, 198.51.100.7"), xff("10.0.0.3")])
                .as_deref(),
            Some("198.51.100.7")
        );
        // All trusted: the leftmost.
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[xff("10.0.0.9,10.0.0.3")]).as_deref(),
            Some("10.0.0.9")
        );
        // No header: the proxy itself.
        assert_eq!(client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[]).as_deref(), Some("10.0.0.2"));
        // An unreadable hop stops the walk at the last trusted address.
        assert_eq!(
            client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[xff("1.1.1.1, garbage")]).as_deref(),
            Some("10.0.0.2")
        );
        // Ports and IPv6 forms.
        assert_eq!(client("::1", XForwardedFor, "::1", &[xff("[2001:db8::5]:4711")]).as_deref(), Some("2001:db8::5"));
        assert_eq!(client("::1", XForwardedFor, "::1", &[xff("192.0.2.1:8080")]).as_deref(), Some("192.0.2.1"));
        assert_eq!(
            client("127.0.0.1", XForwardedFor, "::ffff:127.0.0.1", &[xff("::ffff:192.0.2.1")]).as_deref(),
            Some("192.0.2.1")
        );
        // `Forwarded` is read only when configured, and `X-Forwarded-For` then is not.
        let fwd = ("Forwarded", r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.3;by=10.0.0.2"#);
        assert_eq!(
            client("10.0.0.0/8", Forwarded, "10.0.0.2", &[fwd, xff("1.1.1.1")]).as_deref(),
            Some("2001:db8:cafe::17")
        );
        assert_eq!(client("10.0.0.0/8", XForwardedFor, "10.0.0.2", &[fwd, xff("1.1.1.1")]).as_deref(), Some("1.1.1.1"));
        assert_eq!(
            client("10.0.0.0/8", Forwarded, "10.0.0.2", &[("Forwarded", "for=unknown")]).as_deref(),
            Some("10.0.0.2")
        );
    }

    #[test]
    fn client_address_from_the_platform() {
        let platform = PlatformHeader("cf-connecting-ip");
        let ip = |list: &[(&str, &str)]| {
            let h = headers(list);
            platform.client_ip(&Request { method: "POST", path: "/graphql", headers: &h, peer: None })
        };
        assert_eq!(
            ip(&[("CF-Connecting-IP", "198.51.100.7"), ("X-Forwarded-For", "6.6.6.6")]).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(ip(&[("cf-connecting-ip", " 2001:db8::1 ")]).as_deref(), Some("2001:db8::1"));
        assert_eq!(ip(&[("X-Forwarded-For", "6.6.6.6")]), None);
        assert_eq!(ip(&[("cf-connecting-ip", "not an address")]), None);
        assert_eq!(ip(&[("cf-connecting-ip", "")]), None);
        // The route carries the address to the engine.
        let e = Edge {
            graphql_path: "/graphql".into(),
            playground_path: None,
            cors: Cors::None,
            max_body_bytes: 100,
            client_address: platform,
            mcp_path: None,
            health: true,
        };
        let h = headers(&[JSON, ("CF-Connecting-IP", "198.51.100.7")]);
        let r = e.route(&Request {
            method: "POST",
            path: "/graphql",
            headers: &h,
            peer: Some("10.0.0.1".parse().unwrap()),
        });
        assert_eq!(r, Route::GraphQl { client_ip: Some("198.51.100.7".into()) });
    }
}
