//! The engine's settings from `EXO_*` variables, shared by the native server and the Worker
//! (each reads its own variables through `get`: the process environment, or the Worker's vars
//! and secrets). Errors name the variable and the accepted values.

use crate::context::AuthConfig;
use crate::engine::{Config, Introspection};

impl Config {
    /// JWT settings, introspection, selection depth, mutations, trusted-document
    /// enforcement and MCP. `playground_bypass` is left false: only the native server's local modes
    /// have a playground to exempt.
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let source_header = get("EXO_JWT_SOURCE_HEADER");
        let source_cookie = get("EXO_JWT_SOURCE_COOKIE");
        if source_header.is_some() && source_cookie.is_some() {
            return Err("both `EXO_JWT_SOURCE_HEADER` and `EXO_JWT_SOURCE_COOKIE` are set; unset one of them \
                        (the token comes either from a header or from a cookie)"
                .into());
        }
        let jwt_secret = get("EXO_JWT_SECRET");
        let oidc_url = get("EXO_OIDC_URL").map(|u| u.trim().to_string());
        if jwt_secret.is_some() && oidc_url.is_some() {
            // As Exograph: one way of checking tokens at a time.
            return Err("both `EXO_JWT_SECRET` and `EXO_OIDC_URL` are set; unset one of them (tokens are checked \
                        either with a shared secret or with the OpenID Connect provider's keys)"
                .into());
        }
        if let Some(url) = &oidc_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!(
                    "`EXO_OIDC_URL` is `{url}`; set it to the provider's `https://` URL (the one that serves \
                     `/.well-known/openid-configuration`)"
                ));
            }
        }
        let auth = AuthConfig { jwt_secret, oidc_url, oidc: None, source_header, source_cookie };

        let introspection_text = get("EXO_INTROSPECTION");
        if let Some(v) = &introspection_text {
            let ok = ["true", "enabled", "1", "false", "disabled", "0", "only"];
            if !ok.contains(&v.trim().to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "`EXO_INTROSPECTION` is `{v}`; set it to `true`/`enabled`, `false`/`disabled` or `only`"
                ));
            }
        }
        let introspection = Introspection::from_env(introspection_text.as_deref());

        let mut engine = Config { auth, introspection, ..Config::default() };
        if let Some(depth) = get("EXO_MAX_SELECTION_DEPTH") {
            engine.limits.max_depth = parse_number("EXO_MAX_SELECTION_DEPTH", &depth)?;
        }
        let operation = &mut engine.limits.operation;
        for (name, bound) in [
            ("EXO_MAX_ROOT_FIELDS", &mut operation.max_root_fields),
            ("EXO_MAX_FIELDS_PER_SELECTION", &mut operation.max_fields_per_selection),
            ("EXO_MAX_FIELDS", &mut operation.max_fields),
            ("EXO_MAX_FRAGMENT_SPREADS", &mut operation.max_fragment_spreads),
            ("EXO_MAX_RESPONSE_BYTES", &mut engine.max_response_bytes),
        ] {
            if let Some(v) = get(name) {
                *bound = parse_positive(name, &v)?;
            }
        }
        if let Some(v) = get("EXO_MAX_LIST_ROWS") {
            engine.max_list_rows = parse_number("EXO_MAX_LIST_ROWS", &v)? as u64;
        }
        if let Some(v) = get("EXO_STATEMENT_TIMEOUT_MS") {
            engine.statement_timeout_ms = parse_number("EXO_STATEMENT_TIMEOUT_MS", &v)? as u64;
        }
        engine.allow_mutations = parse_bool("EXO_GRAPHQL_ALLOW_MUTATIONS", get("EXO_GRAPHQL_ALLOW_MUTATIONS"), true)?;
        engine.enforce_trusted_documents =
            parse_bool("_EXO_ENFORCE_TRUSTED_DOCUMENTS", get("_EXO_ENFORCE_TRUSTED_DOCUMENTS"), true)?;
        engine.mcp = crate::mcp::McpConfig::from_env(&get)?;
        Ok(engine)
    }
}

/// `EXO_CORS_DOMAINS`: `*`, a comma-separated list of origins, or unset/empty for none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cors {
    None,
    Any,
    Origins(Vec<String>),
}

impl Cors {
    pub fn parse(value: Option<&str>) -> Cors {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Cors::None;
        };
        let origins: Vec<String> =
            value.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
        if origins.iter().any(|o| o == "*") {
            Cors::Any
        } else if origins.is_empty() {
            Cors::None
        } else {
            Cors::Origins(origins)
        }
    }

    /// Whether a request from `origin` may read responses.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Cors::None => false,
            Cors::Any => true,
            Cors::Origins(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/'))),
        }
    }
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`; `default` when unset.
pub fn parse_bool(name: &str, value: Option<String>, default: bool) -> Result<bool, String> {
    let Some(v) = value else { return Ok(default) };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{name}` is `{v}`; set it to `true` or `false`")),
    }
}

pub fn parse_number(name: &str, value: &str) -> Result<usize, String> {
    value.trim().parse::<usize>().map_err(|_| format!("`{name}` is `{value}`; set it to a whole number"))
}

/// A whole number of at least 1 (a bound of 0 would refuse every request).
pub fn parse_positive(name: &str, value: &str) -> Result<usize, String> {
    match parse_number(name, value)? {
        0 => Err(format!("`{name}` is 0; set it to at least 1")),
        n => Ok(n),
    }
}

/// A Postgres URL with its password replaced by `***`, for messages (the native server's and
/// the Worker's).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:pw@h:5/db?x=1"), "postgres://u:***@h:5/db?x=1");
        assert_eq!(redact_url("postgres://u:pw@h?x=1"), "postgres://u:***@h?x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
