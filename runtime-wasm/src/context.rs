//! The request context: values of every `context` field for one request, extracted from
//! the JWT, headers, cookies, environment and client address.

use exo_ir::{ContextSource, Ir};
use serde_json::Value as Json;

use crate::jwt;

/// What the host tells the engine about one request.
pub struct RequestHead<'a> {
    /// Header names in any case.
    pub headers: &'a [(String, String)],
    pub client_ip: Option<&'a str>,
    /// Seconds since the Unix epoch (the host's clock; wasm has none of its own).
    pub now: u64,
}

impl RequestHead<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Where JWTs come from and how they are checked.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    pub jwt_secret: Option<String>,
    /// `EXO_JWT_SOURCE_HEADER`: a header carrying the raw token.
    pub source_header: Option<String>,
    /// `EXO_JWT_SOURCE_COOKIE`: a cookie carrying the raw token.
    pub source_cookie: Option<String>,
}

#[derive(Debug, Default)]
pub struct RequestContext {
    /// `values[context][field]`; `None` when the source gave nothing.
    values: Vec<Vec<Option<Json>>>,
}

#[derive(Debug, PartialEq)]
pub enum ContextError {
    /// A token was sent but is malformed, wrongly signed or expired.
    InvalidToken(String),
}

impl RequestContext {
    pub fn empty() -> RequestContext {
        RequestContext::default()
    }

    /// A context with the given values (`values[context][field]`), as if resolved from a
    /// request; used to plan trusted documents ahead of time.
    pub fn from_values(values: Vec<Vec<Option<Json>>>) -> RequestContext {
        RequestContext { values }
    }

    pub fn value(&self, context: u32, field: u32) -> Option<&Json> {
        self.values.get(context as usize)?.get(field as usize)?.as_ref()
    }

    /// Extracts every context field. `env` reads the environment (`@env`).
    pub fn build(
        ir: &Ir,
        head: &RequestHead<'_>,
        auth: &AuthConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RequestContext, ContextError> {
        let needs_jwt = ir.contexts.iter().any(|c| c.fields.iter().any(|f| matches!(f.source, ContextSource::Jwt(_))));
        let claims = if needs_jwt { token_claims(head, auth)? } else { None };
        let mut values = Vec::with_capacity(ir.contexts.len());
        for c in &ir.contexts {
            let mut fields = Vec::with_capacity(c.fields.len());
            for f in &c.fields {
                let v: Option<Json> = match &f.source {
                    ContextSource::Jwt(path) => claims.as_ref().and_then(|claims| {
                        let mut cur = claims;
                        for seg in path {
                            cur = cur.get(seg)?;
                        }
                        Some(cur.clone())
                    }),
                    ContextSource::Header(h) => head.header(h).map(|s| Json::String(s.to_string())),
                    ContextSource::Cookie(name) => head.cookie(name).map(|s| Json::String(s.to_string())),
                    ContextSource::Env(name) => env(name).map(Json::String),
                    ContextSource::ClientIp => head.client_ip.map(|s| Json::String(s.to_string())),
                    // `exo build` refuses `@query` sources (nothing could answer them), so only a
                    // hand-made IR gets here.
                    ContextSource::Query(_) => None,
                };
                let v = v.filter(|v| !v.is_null()).or_else(|| f.default.as_ref().map(literal_to_json));
                // Header and env values are strings: coerce to the declared scalar.
                let v = v.map(|v| coerce(v, f.ty));
                fields.push(v);
            }
            values.push(fields);
        }
        Ok(RequestContext { values })
    }
}

fn coerce(v: Json, ty: exo_ir::ScalarType) -> Json {
    use exo_ir::ScalarType as S;
    match (ty, &v) {
        (S::Int, Json::String(s)) => s.parse::<i64>().map(Json::from).unwrap_or(v),
        (S::Float, Json::String(s)) => s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(v),
        (S::Boolean, Json::String(s)) => match s.as_str() {
            "true" => Json::Bool(true),
            "false" => Json::Bool(false),
            _ => v,
        },
        (S::String | S::Uuid, Json::Number(n)) => Json::String(n.to_string()),
        _ => v,
    }
}

fn literal_to_json(l: &exo_ir::Literal) -> Json {
    match l {
        exo_ir::Literal::Null => Json::Null,
        exo_ir::Literal::Bool(b) => Json::Bool(*b),
        exo_ir::Literal::Int(i) => Json::from(*i),
        exo_ir::Literal::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        exo_ir::Literal::String(s) => Json::String(s.clone()),
    }
}

/// Finds and verifies the request's token; `Ok(None)` for anonymous requests.
fn token_claims(head: &RequestHead<'_>, auth: &AuthConfig) -> Result<Option<Json>, ContextError> {
    let token = if let Some(h) = &auth.source_header {
        head.header(h).map(str::to_string)
    } else if let Some(c) = &auth.source_cookie {
        head.cookie(c).map(str::to_string)
    } else {
        match head.header("authorization") {
            None => None,
            Some(v) => match v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
                Some(t) => Some(t.trim().to_string()),
                None => return Err(ContextError::InvalidToken("Malformed authorization header".into())),
            },
        }
    };
    let Some(token) = token else { return Ok(None) };
    let Some(secret) = &auth.jwt_secret else {
        // No way to verify: never trust the token.
        return Err(ContextError::InvalidToken("JWT secret is not configured".into()));
    };
    jwt::verify_hs256(&token, secret.as_bytes(), head.now).map(Some).map_err(ContextError::InvalidToken)
}
