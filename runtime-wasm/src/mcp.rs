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
            return Err(format!("`EXO_MCP_HTTP_PATH` and `EXO_GRAPHQL_HTTP_PATH` are both `{path}`; give MCP another path"));
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
                    &format!("Forbidden: requests from origin `{origin}` are not allowed; list it in `EXO_CORS_DOMAINS`"),
                );
            }
        }
        if let Some(ct) = head.header("content-type") {
            let media = ct.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/json") {
                return McpResponse::refuse(
                    415,
                    SERVER_ERROR,
                    &format!("Unsupported Media Type: `{ct}`; send JSON-RPC messages with `Content-Type: application/json`"),
                );
            }
        }
        if let Some(accept) = head.header("accept") {
            let ok = accept.split(',').map(|a| a.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).any(|a| {
                a == "application/json" || a == "application/*" || a == "*/*"
            });
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
                    &format!("Bad Request: unsupported `MCP-Protocol-Version: {v}` (supported: {})", SUPPORTED_VERSIONS.join(", ")),
                );
            }
        }
        let parsed: Json = match serde_json::from_slice(body) {
            Ok(j) => j,
            Err(e) => return McpResponse::refuse(400, PARSE_ERROR, &format!("Parse error: the body is not JSON ({e})")),
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
            "tools/list" => Ok(json!({ "tools": self.mcp_tools().iter().map(|t| self.tool_json(t)).collect::<Vec<_>>() })),
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
        let mut answer = json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": "exo", "version": env!("CARGO_PKG_VERSION") },
        });
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
                json!({
                    "name": format!("execute_query{}", suffix(p)),
                    "description": description,
                    "inputSchema": {
                        "type": "object",
                        "properties": {
                            "query": { "type": "string", "description": "The GraphQL document to run" },
                            "variables": { "type": "object", "description": "Values of the document's variables" },
                            "operationName": { "type": "string", "description": "The operation to run, when the document holds several" }
                        },
                        "required": ["query"]
                    },
                    "annotations": { "readOnlyHint": p.mutations.is_empty(), "openWorldHint": false }
                })
            }
            Tool::Introspect(p) => json!({
                "name": format!("introspect{}", suffix(p)),
                "description": format!(
                    "Returns the GraphQL schema (SDL with documentation) of the operations `execute_query{}` runs.",
                    suffix(p)
                ),
                "inputSchema": { "type": "object", "properties": {} },
                "annotations": { "readOnlyHint": true, "openWorldHint": false }
            }),
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
                let names: Vec<String> = tools
                    .iter()
                    .map(|t| self.tool_json(t)["name"].as_str().unwrap_or_default().to_string())
                    .collect();
                return Err((INVALID_PARAMS, format!("Invalid params: unknown tool `{name}`; the tools are: {}", names.join(", "))));
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
            let where_ = if separate { format!("`introspect{}` returns", tool.trim_start_matches("execute_query")) } else { format!("the description of `{tool}` holds") };
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
                "MCP tools run queries only unless a profile in `exo.toml` (`[[mcp.profiles]]`) exposes mutations".to_string()
            }
            (None, _) => "it is not part of the schema this tool offers".to_string(),
            (Some(p), _) => format!("the profile `{p}` in `exo.toml` does not include it"),
        };
        return Err(GqlError::at(format!("The {kind} `{name}` is not available through the MCP tool `{tool}`: {why}"), f.pos));
    }
    Ok(())
}
