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
/// and the request head. `env` reads the environment (`@env`). A value must have the field's
/// declared shape ([`coerce`]): a claim that does not (an array, say, for a field declared
/// `Int`, which would turn an equality in a rule into set membership) refuses the request as
/// an invalid token does; a header, cookie or environment value that does not is absent.
pub fn build(
    ir: &Ir,
    head: &RequestHead<'_>,
    claims: Option<&Json>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RequestContext, TokenError> {
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
            // Header and env values are strings: coerce to the declared type.
            let v = match v.filter(|v| !v.is_null()) {
                None => None,
                Some(v) => match coerce(v, f.ty, f.is_list) {
                    Some(v) => Some(v),
                    None if matches!(f.source, ContextSource::Jwt(_)) => {
                        return Err(TokenError::Invalid(format!(
                            "claim for `{}.{}` does not have its declared type",
                            c.name, f.name
                        )))
                    }
                    None => None,
                },
            };
            let v = v.or_else(|| f.default.as_ref().map(literal_to_json));
            fields.push(v);
        }
        values.push(fields);
    }
    Ok(RequestContext::from_values(values))
}

/// `v` as a value of the declared type (`list`: an array of it), or `None` when it is not
/// one: a scalar field takes only a scalar (never an array or object, except `Json`), a
/// string standing for a number or boolean is converted, and a number for a string field
/// becomes its text.
fn coerce(v: Json, ty: exo_ir::ScalarType, list: bool) -> Option<Json> {
    match v {
        Json::Array(items) if list => {
            items.into_iter().map(|x| coerce_scalar(x, ty)).collect::<Option<Vec<_>>>().map(Json::Array)
        }
        // A single value for a list field is left as it is (as before).
        v if list => Some(v),
        v => coerce_scalar(v, ty),
    }
}

fn coerce_scalar(v: Json, ty: exo_ir::ScalarType) -> Option<Json> {
    use exo_ir::ScalarType as S;
    match (ty, v) {
        (S::Json, v) => Some(v),
        (_, Json::Array(_) | Json::Object(_)) => None,
        (S::Int | S::Float | S::Decimal, v @ Json::Number(_)) => Some(v),
        (S::Int, Json::String(s)) => s.parse::<i64>().ok().map(Json::from),
        (S::Float | S::Decimal, Json::String(s)) => {
            s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number)
        }
        (S::Boolean, v @ Json::Bool(_)) => Some(v),
        (S::Boolean, Json::String(s)) => match s.as_str() {
            "true" => Some(Json::Bool(true)),
            "false" => Some(Json::Bool(false)),
            _ => None,
        },
        (S::Boolean, _) => None,
        (_, Json::Number(n)) => Some(Json::String(n.to_string())),
        (_, v @ Json::String(_)) => Some(v),
        (_, _) => None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use exo_ir::ScalarType as S;
    use serde_json::json;

    #[test]
    fn a_scalar_field_takes_only_a_scalar() {
        // An array claim for `Int` would turn `self.owner == AuthContext.id` into `IN (...)`.
        assert_eq!(coerce(json!([2, 3]), S::Int, false), None);
        assert_eq!(coerce(json!({"a": 1}), S::String, false), None);
        assert_eq!(coerce(json!(["admin"]), S::String, false), None);
        assert_eq!(coerce(json!(true), S::Int, false), None);
        assert_eq!(coerce(json!("x7"), S::Int, false), None);
        assert_eq!(coerce(json!(2), S::Int, false), Some(json!(2)));
        assert_eq!(coerce(json!("2"), S::Int, false), Some(json!(2)));
        assert_eq!(coerce(json!(2), S::String, false), Some(json!("2")));
        assert_eq!(coerce(json!("true"), S::Boolean, false), Some(json!(true)));
        assert_eq!(coerce(json!([1, {"b": 2}]), S::Json, false), Some(json!([1, {"b": 2}])));
    }

    #[test]
    fn a_list_field_takes_an_array_of_its_type() {
        assert_eq!(coerce(json!(["a", "b"]), S::String, true), Some(json!(["a", "b"])));
        assert_eq!(coerce(json!(["1", 2]), S::Int, true), Some(json!([1, 2])));
        assert_eq!(coerce(json!([[1]]), S::Int, true), None);
    }
}
