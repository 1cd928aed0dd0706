//! MCP (Model Context Protocol) at `/mcp`, sans-IO: `(HTTP method, headers, body) -> (status,
//! headers, body)` for the Streamable HTTP transport, the native server and the Worker alike.
//!
//! The server is stateless: no `Mcp-Session-Id` is issued, `GET` (no server-initiated SSE
//! stream) and `DELETE` (no session to end) are answered `405`, and every `POST` carries what
//! it needs. Answers are single JSON bodies, never SSE streams, which the transport allows.
//! Only the `tools` capability is offered:
//!
//! - `execute_query` (or `execute_query_<profile>` per `[[mcp.profiles]]` of `exo.toml`) runs a
//!   GraphQL document through [`Engine::execute_gated`]: the same context (JWT claims), access
//!   rules, limits and trusted-document enforcement as `POST /graphql`, after checking that
//!   every root field belongs to the tool's profile (before planning). The tool result's text
//!   is the `/graphql` response body, byte for byte.
//! - in `separate` mode (`EXO_MCP_MODE`), `introspect[_<profile>]` returns the profile's SDL;
//!   in `combined` mode (the default) the SDL is in `execute_query`'s description.
//!
//! The profiles, their root fields and their SDL were resolved at build time
//! (`exo_ir::McpProfile`), so nothing here prints a schema or matches patterns.
//!
//! JSON-RPC 2.0 as the specification requires: a message that is not valid JSON is answered
//! `-32700`, an invalid request `-32600` (`400` when it is the whole body), an unknown method
//! `-32601`, bad parameters or an unknown tool `-32602`; notifications and responses get no
//! answer (`202` when nothing in the body needs one); a batch (an array, allowed up to
//! protocol 2025-03-26 and harmless after it) gets an array of the answers its requests need.

use exo_ir::McpProfile;
use serde_json::{json, Map, Value as Json};

use crate::context::RequestHead;
use crate::engine::{Db, Engine};
use crate::env::{parse_bool, Cors};
use crate::error::GqlError;
use crate::graphql::OperationKind;
use crate::validate::Operation;

/// Protocol revisions this server speaks, newest first. The transport and the tools
/// capability used here did not change between them in ways a stateless server sees.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Messages in one batch; more is refused rather than run one transaction after another.
pub const MAX_BATCH: usize = 32;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
/// Transport-level refusals (method, origin, media type, protocol version), as the official
/// SDK's server reports them.
const SERVER_ERROR: i64 = -32000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum McpMode {
    /// One tool per profile, its description holding the schema.
    #[default]
    Combined,
    /// `execute_query` plus `introspect`, which returns the schema.
    Separate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpConfig {
    /// `EXO_ENABLE_MCP` (default true).
    pub enabled: bool,
    /// `EXO_MCP_MODE`: `combined` (default) or `separate`.
    pub mode: McpMode,
    /// `EXO_MCP_HTTP_PATH` (default `/mcp`).
    pub path: String,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig { enabled: true, mode: McpMode::Combined, path: "/mcp".into() }
    }
}

impl McpConfig {
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<McpConfig, String> {
        let mode = match get("EXO_MCP_MODE").map(|v| v.trim().to_ascii_lowercase()) {
            None => McpMode::Combined,
            Some(v) if v == "combined" => McpMode::Combined,
            Some(v) if v == "separate" => McpMode::Separate,
            Some(v) => return Err(format!("`EXO_MCP_MODE` is `{v}`; set it to `combined` or `separate`")),
        };
        let path = get("EXO_MCP_HTTP_PATH").map(|p| p.trim().to_string()).unwrap_or_else(|| "/mcp".into());
        if !path.starts_with('/') {
            return Err(format!("`EXO_MCP_HTTP_PATH` is `{path}`; set it to a path starting with `/`, such as `/mcp`"));
        }
        if get("EXO_GRAPHQL_HTTP_PATH").is_some_and(|g| g.trim() == path) {
            return Err(format!(
                "`EXO_MCP_HTTP_PATH` and `EXO_GRAPHQL_HTTP_PATH` are both `{path}`; give MCP another path"
            ));
        }
        Ok(McpConfig { enabled: parse_bool("EXO_ENABLE_MCP", get("EXO_ENABLE_MCP"), true)?, mode, path })
    }
}

/// What the edge sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpResponse {
    pub status: u16,
    /// JSON (`Content-Type: application/json`); empty for `202 Accepted`.
    pub body: String,
    /// Further headers: `Allow` on `405`, `WWW-Authenticate` on `401`.
    pub headers: Vec<(&'static str, String)>,
}

impl McpResponse {
    fn json(status: u16, body: Json) -> McpResponse {
        McpResponse { status, body: body.to_string(), headers: vec![] }
    }

    /// What the edge answers when the body is over its limit (`limit` bytes).
    pub fn too_large(limit: usize) -> McpResponse {
        McpResponse::refuse(413, SERVER_ERROR, &format!("Payload Too Large: the body is over {limit} bytes"))
    }

    /// A refusal of the whole HTTP request.
    fn refuse(status: u16, code: i64, message: &str) -> McpResponse {
        McpResponse::json(status, error(&Json::Null, code, message))
    }
}

fn error(id: &Json, code: i64, message: &str) -> Json {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn result(id: &Json, result: Json) -> Json {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

// The fixed parts of answers, as JSON text: parsing them (with the parser every request
// already uses) weighs less in the Worker's wasm than the code `json!` expands to.
const INITIALIZE_RESULT: &str =
    r#"{"protocolVersion":"","capabilities":{"tools":{"listChanged":false}},"serverInfo":{"name":"exo","version":""}}"#;
const EXECUTE_TOOL: &str = r#"{"name":"","description":"","inputSchema":{"type":"object","properties":{
    "query":{"type":"string","description":"The GraphQL document to run"},
    "variables":{"type":"object","description":"Values of the document's variables"},
    "operationName":{"type":"string","description":"The operation to run, when the document holds several"}},
    "required":["query"]},"annotations":{"readOnlyHint":true,"openWorldHint":false}}"#;
const INTROSPECT_TOOL: &str = r#"{"name":"","description":"","inputSchema":{"type":"object","properties":{}},
    "annotations":{"readOnlyHint":true,"openWorldHint":false}}"#;

fn template(text: &str) -> Json {
    serde_json::from_str(text).expect("the templates above are valid JSON")
}

/// One tool of `tools/list`.
enum Tool<'a> {
    Execute(&'a McpProfile),
    Introspect(&'a McpProfile),
}

fn suffix(profile: &McpProfile) -> String {
    profile.name.as_deref().map(|n| format!("_{n}")).unwrap_or_default()
}

impl Engine {
    /// Answers one HTTP request to the MCP path. `cors` decides which `Origin`s may call (the
    /// specification asks servers to check it, against DNS rebinding of local servers).
    pub async fn handle_mcp<D: Db>(
        &self,
        method: &str,
        body: &[u8],
        head: &RequestHead<'_>,
        cors: &Cors,
        db: &mut D,
    ) -> McpResponse {
        if !method.eq_ignore_ascii_case("POST") {
            let mut r = McpResponse::refuse(
                405,
                SERVER_ERROR,
                &format!(
                    "Method not allowed: `{method}`; this MCP server is stateless and answers JSON-RPC messages sent with `POST` \
                     (it offers no SSE stream and has no session to end)"
                ),
            );
            r.headers.push(("allow", "POST, OPTIONS".into()));
            return r;
        }
        if let Some(origin) = head.header("origin") {
            if !cors.allows(origin) {
                return McpResponse::refuse(
                    403,
                    SERVER_ERROR,
                    &format!(
                        "Forbidden: requests from origin `{origin}` are not allowed; list it in `EXO_CORS_DOMAINS`"
                    ),
                );
            }
        }
        if let Some(ct) = head.header("content-type") {
            let media = ct.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/json") {
                return McpResponse::refuse(
                    415,
                    SERVER_ERROR,
                    &format!(
                        "Unsupported Media Type: `{ct}`; send JSON-RPC messages with `Content-Type: application/json`"
                    ),
                );
            }
        }
        if let Some(accept) = head.header("accept") {
            let ok = accept
                .split(',')
                .map(|a| a.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
                .any(|a| a == "application/json" || a == "application/*" || a == "*/*");
            if !ok {
                return McpResponse::refuse(
                    406,
                    SERVER_ERROR,
                    &format!("Not Acceptable: `Accept: {accept}`; this server answers with `application/json`"),
                );
            }
        }
        if let Some(v) = head.header("mcp-protocol-version") {
            if !SUPPORTED_VERSIONS.contains(&v.trim()) {
                return McpResponse::refuse(
                    400,
                    SERVER_ERROR,
                    &format!(
                        "Bad Request: unsupported `MCP-Protocol-Version: {v}` (supported: {})",
                        SUPPORTED_VERSIONS.join(", ")
                    ),
                );
            }
        }
        let parsed: Json = match serde_json::from_slice(body) {
            Ok(j) => j,
            Err(e) => {
                return McpResponse::refuse(400, PARSE_ERROR, &format!("Parse error: the body is not JSON ({e})"))
            }
        };
        let mut unauthorized = false;
        let mut response = match parsed {
            Json::Array(messages) => {
                if messages.is_empty() {
                    return McpResponse::refuse(400, INVALID_REQUEST, "Invalid Request: an empty batch");
                }
                if messages.len() > MAX_BATCH {
                    return McpResponse::refuse(
                        400,
                        INVALID_REQUEST,
                        &format!("Invalid Request: a batch of {} messages; send at most {MAX_BATCH}", messages.len()),
                    );
                }
                let mut replies = vec![];
                for m in &messages {
                    if let Some(reply) = self.mcp_message(m, head, db, &mut unauthorized).await {
                        replies.push(reply);
                    }
                }
                if replies.is_empty() {
                    accepted()
                } else {
                    McpResponse::json(200, Json::Array(replies))
                }
            }
            message => match self.mcp_message(&message, head, db, &mut unauthorized).await {
                None => accepted(),
                Some(reply) => {
                    let invalid = reply.pointer("/error/code") == Some(&json!(INVALID_REQUEST));
                    McpResponse::json(if invalid { 400 } else { 200 }, reply)
                }
            },
        };
        if unauthorized {
            // The credentials were refused, as `/graphql` refuses them: the client should
            // authenticate again. The body still carries each message's answer.
            response.status = 401;
            response.headers.push(("www-authenticate", "Bearer".into()));
        }
        response
    }

    /// Answers one JSON-RPC message; `None` for notifications and responses.
    async fn mcp_message<D: Db>(
        &self,
        message: &Json,
        head: &RequestHead<'_>,
        db: &mut D,
        unauthorized: &mut bool,
    ) -> Option<Json> {
        let Json::Object(m) = message else {
            return Some(error(&Json::Null, INVALID_REQUEST, "Invalid Request: a JSON-RPC message is an object"));
        };
        // MCP request ids are strings or numbers, never null.
        let id = match m.get("id") {
            None => None,
            Some(id @ (Json::String(_) | Json::Number(_))) => Some(id),
            Some(_) => {
                return Some(error(&Json::Null, INVALID_REQUEST, "Invalid Request: `id` must be a string or a number"));
            }
        };
        let echo = id.unwrap_or(&Json::Null);
        if m.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
            return Some(error(echo, INVALID_REQUEST, "Invalid Request: `jsonrpc` must be \"2.0\""));
        }
        let method = match m.get("method") {
            Some(Json::String(method)) => method.as_str(),
            Some(_) => return Some(error(echo, INVALID_REQUEST, "Invalid Request: `method` must be a string")),
            // A response to a request of ours; this server sends none, so there is nothing to match.
            None if id.is_some() && (m.contains_key("result") || m.contains_key("error")) => return None,
            None => return Some(error(echo, INVALID_REQUEST, "Invalid Request: no `method`")),
        };
        // Notifications (`notifications/initialized`, `notifications/cancelled`, ...) need no
        // answer, and a stateless server has nothing to do with them.
        let id = id?;
        let empty = Map::new();
        let params = match m.get("params") {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(p)) => p,
            Some(_) => return Some(error(id, INVALID_PARAMS, "Invalid params: `params` must be an object")),
        };
        let answer = match method {
            "initialize" => self.mcp_initialize(params),
            "ping" => Ok(json!({})),
            "tools/list" => {
                Ok(json!({ "tools": self.mcp_tools().iter().map(|t| self.tool_json(t)).collect::<Vec<_>>() }))
            }
            "tools/call" => self.mcp_call(params, head, db, unauthorized).await,
            // Capabilities this server does not declare; some clients ask regardless, and an
            // empty list serves them better than an error (Exograph answers them so too).
            "prompts/list" => Ok(json!({ "prompts": [] })),
            "resources/list" => Ok(json!({ "resources": [] })),
            "resources/templates/list" => Ok(json!({ "resourceTemplates": [] })),
            other => Err((METHOD_NOT_FOUND, format!("Method not found: `{other}`"))),
        };
        Some(match answer {
            Ok(r) => result(id, r),
            Err((code, message)) => error(id, code, &message),
        })
    }

    fn mcp_initialize(&self, params: &Map<String, Json>) -> Result<Json, (i64, String)> {
        let Some(requested) = params.get("protocolVersion").and_then(Json::as_str) else {
            return Err((INVALID_PARAMS, "Invalid params: `initialize` needs `params.protocolVersion`".into()));
        };
        // The client's version when supported, else the newest this server speaks (the
        // client then decides whether it can continue).
        let version = SUPPORTED_VERSIONS.iter().find(|v| **v == requested).unwrap_or(&SUPPORTED_VERSIONS[0]);
        let mut answer = template(INITIALIZE_RESULT);
        answer["protocolVersion"] = Json::String(version.to_string());
        answer["serverInfo"]["version"] = Json::String(env!("CARGO_PKG_VERSION").into());
        if let Some(description) = &self.system.ir.description {
            answer["instructions"] = Json::String(description.clone());
        }
        Ok(answer)
    }

    fn mcp_tools(&self) -> Vec<Tool<'_>> {
        let mut tools = vec![];
        for p in &self.system.ir.mcp_profiles {
            tools.push(Tool::Execute(p));
            if self.config.mcp.mode == McpMode::Separate {
                tools.push(Tool::Introspect(p));
            }
        }
        tools
    }

    fn tool_json(&self, tool: &Tool) -> Json {
        match tool {
            Tool::Execute(p) => {
                let description = match self.config.mcp.mode {
                    McpMode::Combined => format!(
                        "Runs a GraphQL operation on this server as the calling user (their access rules apply) and returns \
                         the GraphQL response as JSON. {}The schema, with its documentation:\n\n{}",
                        scope_note(p),
                        p.sdl
                    ),
                    McpMode::Separate => {
                        let mut d = format!(
                            "Runs a GraphQL operation on this server as the calling user (their access rules apply) and returns \
                             the GraphQL response as JSON. {}Call `introspect{}` first: it returns the schema (operations, their \
                             arguments and result types). Models: {}.",
                            scope_note(p),
                            suffix(p),
                            if p.models.is_empty() { "none".to_string() } else { p.models.join(", ") }
                        );
                        if let Some(desc) = &self.system.ir.description {
                            d.push_str("\n\n");
                            d.push_str(desc);
                        }
                        d
                    }
                };
                let mut tool = template(EXECUTE_TOOL);
                tool["name"] = Json::String(format!("execute_query{}", suffix(p)));
                tool["description"] = Json::String(description);
                tool["annotations"]["readOnlyHint"] = Json::Bool(p.mutations.is_empty());
                tool
            }
            Tool::Introspect(p) => {
                let mut tool = template(INTROSPECT_TOOL);
                tool["name"] = Json::String(format!("introspect{}", suffix(p)));
                tool["description"] = Json::String(format!(
                    "Returns the GraphQL schema (SDL with documentation) of the operations `execute_query{}` runs.",
                    suffix(p)
                ));
                tool
            }
        }
    }

    async fn mcp_call<D: Db>(
        &self,
        params: &Map<String, Json>,
        head: &RequestHead<'_>,
        db: &mut D,
        unauthorized: &mut bool,
    ) -> Result<Json, (i64, String)> {
        let Some(name) = params.get("name").and_then(Json::as_str) else {
            return Err((INVALID_PARAMS, "Invalid params: `tools/call` needs `params.name`".into()));
        };
        let tools = self.mcp_tools();
        let tool = tools.iter().find(|t| match t {
            Tool::Execute(p) => name.strip_prefix("execute_query").is_some_and(|rest| rest == suffix(p)),
            Tool::Introspect(p) => name.strip_prefix("introspect").is_some_and(|rest| rest == suffix(p)),
        });
        let profile = match tool {
            None => {
                let names: Vec<String> =
                    tools.iter().map(|t| self.tool_json(t)["name"].as_str().unwrap_or_default().to_string()).collect();
                return Err((
                    INVALID_PARAMS,
                    format!("Invalid params: unknown tool `{name}`; the tools are: {}", names.join(", ")),
                ));
            }
            Some(Tool::Introspect(p)) => return Ok(text_result(&p.sdl, false)),
            Some(Tool::Execute(p)) => *p,
        };
        let empty = Map::new();
        let args = match params.get("arguments") {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(a)) => a,
            Some(_) => return Err((INVALID_PARAMS, "Invalid params: `arguments` must be an object".into())),
        };
        let Some(query) = args.get("query").and_then(Json::as_str) else {
            return Err((INVALID_PARAMS, format!("Invalid params: `{name}` needs a `query` string argument")));
        };
        let parsed_variables;
        let variables = match args.get("variables") {
            None | Some(Json::Null) => &empty,
            Some(Json::Object(v)) => v,
            // Models sometimes send the variables as JSON text; accept it when it is an object.
            Some(Json::String(text)) => match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(v)) => {
                    parsed_variables = v;
                    &parsed_variables
                }
                _ => return Err((INVALID_PARAMS, "Invalid params: `variables` must be an object".into())),
            },
            Some(_) => return Err((INVALID_PARAMS, "Invalid params: `variables` must be an object".into())),
        };
        let operation = match args.get("operationName") {
            None | Some(Json::Null) => None,
            Some(Json::String(o)) => Some(o.as_str()),
            Some(_) => return Err((INVALID_PARAMS, "Invalid params: `operationName` must be a string".into())),
        };
        let tool_name = format!("execute_query{}", suffix(profile));
        let separate = self.config.mcp.mode == McpMode::Separate;
        let gate = |op: &Operation<'_>| check_profile(profile, &tool_name, separate, op);
        let answer = self.execute_gated(query, operation, variables, head, db, &gate).await;
        if answer.status == 401 {
            *unauthorized = true;
        }
        // Every successful answer starts with `{"data":`; errors are `{"errors":[...]}`.
        let is_error = answer.status != 200 || !answer.body.starts_with("{\"data\"");
        Ok(text_result(&answer.body, is_error))
    }
}

fn accepted() -> McpResponse {
    McpResponse { status: 202, body: String::new(), headers: vec![] }
}

fn text_result(text: &str, is_error: bool) -> Json {
    json!({ "content": [{ "type": "text", "text": text }], "isError": is_error })
}

fn scope_note(p: &McpProfile) -> &'static str {
    if p.mutations.is_empty() {
        "Queries only: mutations are not available through this tool. "
    } else {
        "The mutations listed in the schema are available. "
    }
}

/// Whether every root field of `op` belongs to `profile`; the error names the first that does
/// not, and why.
pub fn check_profile(profile: &McpProfile, tool: &str, separate: bool, op: &Operation<'_>) -> Result<(), GqlError> {
    let (allowed, kind) = match op.kind {
        OperationKind::Query => (&profile.queries, "query"),
        OperationKind::Mutation => (&profile.mutations, "mutation"),
        OperationKind::Subscription => (&profile.mutations, "subscription"),
    };
    for f in &op.fields {
        let name = f.field.name.as_str();
        if name == "__typename" {
            continue;
        }
        if name.starts_with("__") {
            let where_ = if separate {
                format!("`introspect{}` returns", tool.trim_start_matches("execute_query"))
            } else {
                format!("the description of `{tool}` holds")
            };
            return Err(GqlError::at(
                format!("`{name}` is not available through MCP tools; {where_} the schema"),
                f.pos,
            ));
        }
        if allowed.binary_search_by(|a| a.as_str().cmp(name)).is_ok() {
            continue;
        }
        let why = match (&profile.name, kind) {
            (None, "mutation") => {
                "MCP tools run queries only unless a profile in `exo.toml` (`[[mcp.profiles]]`) exposes mutations"
                    .to_string()
            }
            (None, _) => "it is not part of the schema this tool offers".to_string(),
            (Some(p), _) => format!("the profile `{p}` in `exo.toml` does not include it"),
        };
        return Err(GqlError::at(
            format!("The {kind} `{name}` is not available through the MCP tool `{tool}`: {why}"),
            f.pos,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use exo_ir::graphql::{Field, Resolver, Schema, Type, TypeKind, TypeRef};
    use exo_ir::Ir;

    use super::*;
    use crate::engine::{Config, DbError};
    use crate::System;

    /// Counts what reaches the database: every refusal here must happen before planning.
    #[derive(Default)]
    struct CountingDb {
        statements: usize,
    }

    impl Db for CountingDb {
        async fn query(&mut self, _: &str, _: &[Option<String>]) -> Result<Vec<Vec<Option<String>>>, DbError> {
            self.statements += 1;
            Err(DbError("no database in unit tests".into()))
        }
        async fn execute(&mut self, _: &str) -> Result<(), DbError> {
            self.statements += 1;
            Err(DbError("no database in unit tests".into()))
        }
    }

    /// The engine's futures only wait on the `Db`, which answers at once.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn field(name: &str, ty: TypeRef, resolver: Resolver) -> Field {
        Field { name: name.into(), description: None, args: vec![], ty, resolver }
    }

    fn profile(name: Option<&str>, queries: &[&str], mutations: &[&str]) -> McpProfile {
        McpProfile {
            name: name.map(str::to_string),
            queries: queries.iter().map(|s| s.to_string()).collect(),
            mutations: mutations.iter().map(|s| s.to_string()).collect(),
            models: vec!["Note".into()],
            sdl: format!("type Query {{ {} }}", queries.join(" ")),
        }
    }

    /// A schema with two queries and a mutation over one entity; nothing here is planned.
    fn engine(profiles: Vec<McpProfile>, mode: McpMode) -> Engine {
        let note = TypeRef::named("Note");
        let ir = Ir {
            description: Some("Notes of a team.".into()),
            graphql: Schema {
                description: None,
                types: vec![Type {
                    name: "Note".into(),
                    description: None,
                    kind: TypeKind::Object {
                        fields: vec![field(
                            "id",
                            TypeRef::named("Int").non_null(),
                            Resolver::EntityField { entity: 0, field: 0 },
                        )],
                    },
                }],
                queries: vec![
                    field("notes", note.clone().non_null().list().non_null(), Resolver::Collection { entity: 0 }),
                    field("secrets", note.clone().non_null().list().non_null(), Resolver::Collection { entity: 0 }),
                ],
                mutations: vec![field(
                    "deleteNotes",
                    note.non_null().list().non_null(),
                    Resolver::Delete { entity: 0, many: true },
                )],
            },
            mcp_profiles: profiles,
            ..Default::default()
        };
        let mut config = Config::default();
        config.mcp.mode = mode;
        Engine::new(System::new(ir), config, Box::new(|_| None))
    }

    fn default_engine() -> Engine {
        engine(vec![profile(None, &["notes", "secrets"], &[])], McpMode::Combined)
    }

    fn post(engine: &Engine, headers: &[(&str, &str)], body: &str) -> (McpResponse, usize) {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let head = RequestHead { headers: &headers, client_ip: None, now: 0 };
        let mut db = CountingDb::default();
        let r = block_on(engine.handle_mcp("POST", body.as_bytes(), &head, &Cors::None, &mut db));
        (r, db.statements)
    }

    fn rpc(engine: &Engine, body: Json) -> Json {
        let (r, _) = post(engine, &[("content-type", "application/json")], &body.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    fn call(engine: &Engine, tool: &str, query: &str) -> (Json, usize) {
        let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                           "params": { "name": tool, "arguments": { "query": query } } });
        let (r, statements) = post(engine, &[], &body.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        (serde_json::from_str::<Json>(&r.body).unwrap()["result"].clone(), statements)
    }

    #[test]
    fn initialize_negotiates_the_version() {
        let e = default_engine();
        let init = |v: &str| {
            rpc(
                &e,
                json!({ "jsonrpc": "2.0", "id": "a", "method": "initialize",
                             "params": { "protocolVersion": v, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } }),
            )
        };
        let r = init("2025-03-26");
        assert_eq!(r["id"], "a");
        assert_eq!(r["result"]["protocolVersion"], "2025-03-26");
        assert_eq!(r["result"]["capabilities"], json!({ "tools": { "listChanged": false } }));
        assert_eq!(r["result"]["instructions"], "Notes of a team.");
        // An unknown (future) version is answered with the newest one this server speaks.
        assert_eq!(init("2099-01-01")["result"]["protocolVersion"], SUPPORTED_VERSIONS[0]);
        let r = rpc(&e, json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} }));
        assert_eq!(r["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn tools_follow_profiles_and_mode() {
        let names = |e: &Engine| -> Vec<String> {
            let r = rpc(e, json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }));
            r["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
        };
        let e = default_engine();
        assert_eq!(names(&e), ["execute_query"]);
        let r = rpc(&e, json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }));
        let tool = &r["result"]["tools"][0];
        assert!(tool["description"].as_str().unwrap().ends_with("type Query { notes secrets }"), "{tool}");
        assert_eq!(tool["inputSchema"]["required"], json!(["query"]));
        assert_eq!(tool["annotations"]["readOnlyHint"], true);
        let profiles =
            vec![profile(Some("reader"), &["notes"], &[]), profile(Some("cleaner"), &["notes"], &["deleteNotes"])];
        assert_eq!(
            names(&engine(profiles.clone(), McpMode::Combined)),
            ["execute_query_reader", "execute_query_cleaner"]
        );
        let separate = engine(profiles, McpMode::Separate);
        assert_eq!(
            names(&separate),
            ["execute_query_reader", "introspect_reader", "execute_query_cleaner", "introspect_cleaner"]
        );
        let (r, _) = call(&separate, "introspect_reader", "");
        assert_eq!(r, json!({ "content": [{ "type": "text", "text": "type Query { notes }" }], "isError": false }));
    }

    #[test]
    fn profiles_are_checked_before_planning() {
        let e = default_engine();
        // Allowed: runs (here without touching the database).
        let (r, _) = call(&e, "execute_query", "{ __typename }");
        assert_eq!(
            r,
            json!({ "content": [{ "type": "text", "text": "{\"data\":{\"__typename\":\"Query\"}}" }], "isError": false })
        );
        // A mutation through the default tool.
        let (r, statements) = call(&e, "execute_query", "mutation { deleteNotes { id } }");
        assert_eq!(r["isError"], true);
        let text = r["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("The mutation `deleteNotes` is not available through the MCP tool `execute_query`"),
            "{text}"
        );
        assert_eq!(statements, 0);
        // A query outside a profile, and introspection.
        let e = engine(vec![profile(Some("reader"), &["notes"], &[])], McpMode::Combined);
        let (r, statements) = call(&e, "execute_query_reader", "{ notes { id } secrets { id } }");
        let text = r["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("The query `secrets` is not available through the MCP tool `execute_query_reader`: the profile `reader`"), "{text}");
        assert_eq!(statements, 0);
        let (r, _) = call(&e, "execute_query_reader", "{ __schema { queryType { name } } }");
        assert!(
            r["content"][0]["text"].as_str().unwrap().contains("`__schema` is not available through MCP tools"),
            "{r}"
        );
        // GraphQL errors come back as the /graphql body, as a tool error.
        let (r, _) = call(&e, "execute_query_reader", "{ notes { nope } }");
        assert_eq!(r["isError"], true);
        assert!(r["content"][0]["text"].as_str().unwrap().starts_with("{\"errors\":["), "{r}");
    }

    #[test]
    fn json_rpc_errors() {
        let e = default_engine();
        let (r, _) = post(&e, &[], "{not json");
        assert_eq!(r.status, 400);
        let body: Json = serde_json::from_str(&r.body).unwrap();
        assert_eq!((body["error"]["code"].clone(), body["id"].clone()), (json!(PARSE_ERROR), Json::Null));
        for bad in [
            json!({ "jsonrpc": "1.0", "id": 1, "method": "ping" }),
            json!({ "jsonrpc": "2.0", "id": 1 }),
            json!(42),
            json!([]),
        ] {
            let (r, _) = post(&e, &[], &bad.to_string());
            assert_eq!(r.status, 400, "{bad}");
            let body: Json = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["error"]["code"], INVALID_REQUEST, "{bad}");
        }
        let r = rpc(&e, json!({ "jsonrpc": "2.0", "id": 3, "method": "sampling/createMessage" }));
        assert_eq!((r["id"].clone(), r["error"]["code"].clone()), (json!(3), json!(METHOD_NOT_FOUND)));
        let r =
            rpc(&e, json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": { "name": "drop_tables" } }));
        assert_eq!(r["error"]["code"], INVALID_PARAMS);
        assert!(r["error"]["message"].as_str().unwrap().contains("the tools are: execute_query"), "{r}");
        let r = rpc(
            &e,
            json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": { "name": "execute_query", "arguments": {} } }),
        );
        assert_eq!(r["error"]["code"], INVALID_PARAMS);
        let r = rpc(
            &e,
            json!({ "jsonrpc": "2.0", "id": 6, "method": "tools/call",
                                "params": { "name": "execute_query", "arguments": { "query": "{ __typename }", "variables": [1] } } }),
        );
        assert_eq!(r["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn notifications_and_batches() {
        let e = default_engine();
        let (r, _) = post(&e, &[], r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!((r.status, r.body.as_str()), (202, ""));
        // A response from the client needs no answer either.
        let (r, _) = post(&e, &[], r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
        assert_eq!(r.status, 202);
        let batch = json!([
            { "jsonrpc": "2.0", "method": "notifications/initialized" },
            { "jsonrpc": "2.0", "id": 1, "method": "ping" },
            { "jsonrpc": "2.0", "id": 2, "method": "nope" },
            "junk"
        ]);
        let (r, _) = post(&e, &[], &batch.to_string());
        assert_eq!(r.status, 200);
        let replies: Json = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            replies,
            json!([
                { "jsonrpc": "2.0", "id": 1, "result": {} },
                { "jsonrpc": "2.0", "id": 2, "error": { "code": METHOD_NOT_FOUND, "message": "Method not found: `nope`" } },
                { "jsonrpc": "2.0", "id": null, "error": { "code": INVALID_REQUEST, "message": "Invalid Request: a JSON-RPC message is an object" } }
            ])
        );
        let only_notes =
            json!([{ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 1 } }]);
        assert_eq!(post(&e, &[], &only_notes.to_string()).0.status, 202);
        let too_many: Vec<Json> =
            (0..=MAX_BATCH).map(|i| json!({ "jsonrpc": "2.0", "id": i, "method": "ping" })).collect();
        assert_eq!(post(&e, &[], &Json::Array(too_many).to_string()).0.status, 400);
    }

    #[test]
    fn transport_refusals() {
        let e = default_engine();
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let headers: Vec<(String, String)> = vec![];
        let head = RequestHead { headers: &headers, client_ip: None, now: 0 };
        for method in ["GET", "DELETE", "PUT"] {
            let r = block_on(e.handle_mcp(method, b"", &head, &Cors::None, &mut CountingDb::default()));
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.headers, vec![("allow", "POST, OPTIONS".to_string())]);
        }
        assert_eq!(post(&e, &[("origin", "https://evil.example")], ping).0.status, 403);
        assert_eq!(post(&e, &[("content-type", "text/plain")], ping).0.status, 415);
        assert_eq!(post(&e, &[("accept", "text/html")], ping).0.status, 406);
        assert_eq!(post(&e, &[("accept", "application/json, text/event-stream")], ping).0.status, 200);
        assert_eq!(post(&e, &[("mcp-protocol-version", "1999-01-01")], ping).0.status, 400);
        assert_eq!(post(&e, &[("mcp-protocol-version", "2025-06-18")], ping).0.status, 200);
        // An allowed origin passes.
        let headers = vec![("origin".to_string(), "https://app.example".to_string())];
        let head = RequestHead { headers: &headers, client_ip: None, now: 0 };
        let cors = Cors::parse(Some("https://app.example"));
        let r = block_on(e.handle_mcp("POST", ping.as_bytes(), &head, &cors, &mut CountingDb::default()));
        assert_eq!(r.status, 200);
    }

    #[test]
    fn config_from_env() {
        let get = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(McpConfig::from_env(&get(&[])).unwrap(), McpConfig::default());
        let c = McpConfig::from_env(&get(&[("EXO_ENABLE_MCP", "false"), ("EXO_MCP_MODE", "separate")])).unwrap();
        assert_eq!((c.enabled, c.mode), (false, McpMode::Separate));
        for (k, v) in [("EXO_MCP_MODE", "split"), ("EXO_ENABLE_MCP", "maybe"), ("EXO_MCP_HTTP_PATH", "mcp")] {
            let vars: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(k, v)]));
            let e = McpConfig::from_env(&get(vars)).unwrap_err();
            assert!(e.contains(&format!("`{k}`")), "{e}");
        }
    }
}
