//! The request context: values of every `context` field for one request, extracted from
//! the JWT, headers, cookies, environment and client address.

use std::sync::Arc;

use exo_ir::{ContextSource, Ir};
pub use exo_planner::context::RequestContext;
use serde_json::Value as Json;

use crate::jwt;
use crate::oidc::{TokenError, TokenVerifier};

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
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `EXO_JWT_SECRET`: HS256 tokens.
    pub jwt_secret: Option<String>,
    /// `EXO_OIDC_URL`: tokens of an OpenID Connect provider. The host turns it into
    /// [`AuthConfig::oidc`] (discovery needs its HTTP client) before building the engine.
    pub oidc_url: Option<String>,
    /// The provider's verifier, shared by every engine built from this configuration (so
    /// `exo dev`'s reloads keep the cached keys).
    pub oidc: Option<Arc<dyn TokenVerifier>>,
    /// `EXO_JWT_SOURCE_HEADER`: a header carrying the raw token.
    pub source_header: Option<String>,
    /// `EXO_JWT_SOURCE_COOKIE`: a cookie carrying the raw token.
    pub source_cookie: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("oidc_url", &self.oidc_url)
            .field("oidc", &self.oidc.as_ref().map(|_| "<verifier>"))
            .field("source_header", &self.source_header)
            .field("source_cookie", &self.source_cookie)
            .finish()
    }
}

impl AuthConfig {
    /// The request's verified claims; `Ok(None)` for anonymous requests.
    pub async fn claims(&self, head: &RequestHead<'_>) -> Result<Option<Json>, TokenError> {
        let Some(token) = self.token(head)? else { return Ok(None) };
        match &self.oidc {
            Some(verifier) => verifier.verify(token, head.now).await.map(Some),
            None => self.claims_hs256(token, head.now).map(Some),
        }
    }

    /// As [`AuthConfig::claims`], without waiting: HS256 only (planning ahead of time and
    /// benches have no provider to ask).
    pub fn claims_now(&self, head: &RequestHead<'_>) -> Result<Option<Json>, TokenError> {
        match self.token(head)? {
            None => Ok(None),
            Some(_) if self.oidc.is_some() => {
                Err(TokenError::Invalid("OIDC tokens are verified only on requests".into()))
            }
            Some(token) => self.claims_hs256(token, head.now).map(Some),
        }
    }

    fn claims_hs256(&self, token: &str, now: u64) -> Result<Json, TokenError> {
        match &self.jwt_secret {
            Some(secret) => jwt::verify_hs256(token, secret.as_bytes(), now),
            // No way to verify: never trust the token.
            None => Err(TokenError::Invalid("no JWT secret or OIDC provider is configured".into())),
        }
    }

    /// The raw token from the configured header or cookie (default `Authorization: Bearer`).
    fn token<'h>(&self, head: &'h RequestHead<'_>) -> Result<Option<&'h str>, TokenError> {
        Ok(if let Some(h) = &self.source_header {
            head.header(h)
        } else if let Some(c) = &self.source_cookie {
            head.cookie(c)
        } else {
            match head.header("authorization") {
                None => None,
                Some(v) => match v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
                    Some(t) => Some(t.trim()),
                    None => return Err(TokenError::Invalid("Malformed authorization header".into())),
                },
            }
        })
    }
}

/// Extracts every context field from the verified `claims` (see [`AuthConfig::claims`])
/// and the request head. `env` reads the environment (`@env`).
pub fn build(
    ir: &Ir,
    head: &RequestHead<'_>,
    claims: Option<&Json>,
    env: &dyn Fn(&str) -> Option<String>,
) -> RequestContext {
    let mut values = Vec::with_capacity(ir.contexts.len());
    for c in &ir.contexts {
        let mut fields = Vec::with_capacity(c.fields.len());
        for f in &c.fields {
            let v: Option<Json> = match &f.source {
                ContextSource::Jwt(path) => claims.and_then(|claims| {
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
    RequestContext::from_values(values)
}

fn coerce(v: Json, ty: exo_ir::ScalarType) -> Json {
    use exo_ir::ScalarType as S;
    match (ty, &v) {
        (S::Int, Json::String(s)) => s.parse::<i64>().map(Json::from).unwrap_or(v),
        (S::Float, Json::String(s)) => {
            s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(v)
        }
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
