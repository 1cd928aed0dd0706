//! `WorkerConfig::from_env`: the `EXO_*` variables the Worker reads (Worker vars and secrets),
//! checked once per isolate. Target-independent, so the host build tests it.
//!
//! The Worker honours what makes sense without a process or a listening socket: the database
//! (`EXO_POSTGRES_URL`/`DATABASE_URL` or `EXO_HYPERDRIVE_BINDING`), `EXO_POSTGRES_READ_WRITE`,
//! JWT settings, `EXO_INTROSPECTION`, `EXO_GRAPHQL_ALLOW_MUTATIONS`, `EXO_MAX_SELECTION_DEPTH`,
//! `EXO_CORS_DOMAINS` and `EXO_GRAPHQL_HTTP_PATH`. Pool size, host and port belong to the
//! platform (Hyperdrive pools; Cloudflare routes) and are ignored.

use exo_runtime::{AuthConfig, Config, Introspection};

/// Request bodies above this size get `413 Payload Too Large` (as natively).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub engine: Config,
    pub database: Database,
    /// `EXO_POSTGRES_READ_WRITE`, default false: sessions start with
    /// `default_transaction_read_only=on`, as the native server's do.
    pub read_write: bool,
    /// `EXO_GRAPHQL_HTTP_PATH`, default `/graphql`.
    pub graphql_path: String,
    pub cors: Cors,
}

/// Where the Worker's Postgres is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// `EXO_HYPERDRIVE_BINDING`: the name of a Hyperdrive binding (it wins over a URL).
    Hyperdrive(String),
    /// `EXO_POSTGRES_URL`, else `DATABASE_URL`.
    Url(String),
    /// Neither is set; requests that reach the database fail with a message saying what to set.
    Missing,
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

impl WorkerConfig {
    /// Reads the configuration through `get` (the Worker's vars and secrets). Errors name the
    /// variable and the accepted values.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<WorkerConfig, String> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let source_header = get("EXO_JWT_SOURCE_HEADER");
        let source_cookie = get("EXO_JWT_SOURCE_COOKIE");
        if source_header.is_some() && source_cookie.is_some() {
            return Err("both `EXO_JWT_SOURCE_HEADER` and `EXO_JWT_SOURCE_COOKIE` are set; unset one of them \
                        (the token comes either from a header or from a cookie)"
                .into());
        }
        if get("EXO_OIDC_URL").is_some() {
            return Err("`EXO_OIDC_URL` is set, but OIDC is not supported by exo yet; unset it and use \
                        `EXO_JWT_SECRET` (HS256)"
                .into());
        }
        let auth = AuthConfig { jwt_secret: get("EXO_JWT_SECRET"), source_header, source_cookie };

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
            engine.limits.max_depth = depth
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`EXO_MAX_SELECTION_DEPTH` is `{depth}`; set it to a whole number"))?;
        }
        engine.allow_mutations = parse_bool("EXO_GRAPHQL_ALLOW_MUTATIONS", get("EXO_GRAPHQL_ALLOW_MUTATIONS"), true)?;
        // Trusted documents travel in the IR; a Worker has no playground to exempt.
        engine.enforce_trusted_documents =
            parse_bool("_EXO_ENFORCE_TRUSTED_DOCUMENTS", get("_EXO_ENFORCE_TRUSTED_DOCUMENTS"), true)?;
        engine.playground_bypass = false;

        let database = match (get("EXO_HYPERDRIVE_BINDING"), get("EXO_POSTGRES_URL").or_else(|| get("DATABASE_URL"))) {
            (Some(binding), _) => Database::Hyperdrive(binding.trim().to_string()),
            (None, Some(url)) => Database::Url(url),
            (None, None) => Database::Missing,
        };
        let graphql_path = get("EXO_GRAPHQL_HTTP_PATH").unwrap_or_else(|| "/graphql".to_string());
        if !graphql_path.starts_with('/') {
            return Err(format!("`EXO_GRAPHQL_HTTP_PATH` is `{graphql_path}`; it must start with `/`"));
        }
        Ok(WorkerConfig {
            engine,
            database,
            read_write: parse_bool("EXO_POSTGRES_READ_WRITE", get("EXO_POSTGRES_READ_WRITE"), false)?,
            graphql_path,
            cors: Cors::parse(get("EXO_CORS_DOMAINS").as_deref()),
        })
    }
}

fn parse_bool(name: &str, value: Option<String>, default: bool) -> Result<bool, String> {
    let Some(v) = value else { return Ok(default) };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{name}` is `{v}`; set it to `true` or `false`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<WorkerConfig, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerConfig::from_env(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database, Database::Missing);
        assert!(!c.read_write);
        assert_eq!(c.graphql_path, "/graphql");
        assert_eq!(c.cors, Cors::None);
        assert_eq!(c.engine.introspection, Introspection::Disabled);
        assert!(c.engine.allow_mutations);
        assert!(c.engine.enforce_trusted_documents && !c.engine.playground_bypass);
        let c = config(&[("_EXO_ENFORCE_TRUSTED_DOCUMENTS", "false"), ("EXO_ENV", "dev")]).unwrap();
        assert!(!c.engine.enforce_trusted_documents && !c.engine.playground_bypass);
    }

    #[test]
    fn hyperdrive_wins_over_a_url() {
        let c = config(&[("EXO_POSTGRES_URL", "postgres://a"), ("EXO_HYPERDRIVE_BINDING", "DB")]).unwrap();
        assert_eq!(c.database, Database::Hyperdrive("DB".into()));
        let c = config(&[("DATABASE_URL", "postgres://b")]).unwrap();
        assert_eq!(c.database, Database::Url("postgres://b".into()));
        let c = config(&[("DATABASE_URL", "postgres://b"), ("EXO_POSTGRES_URL", "postgres://a")]).unwrap();
        assert_eq!(c.database, Database::Url("postgres://a".into()));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("EXO_POSTGRES_READ_WRITE", "maybe"),
            ("EXO_INTROSPECTION", "sometimes"),
            ("EXO_MAX_SELECTION_DEPTH", "deep"),
            ("EXO_GRAPHQL_HTTP_PATH", "graphql"),
        ] {
            let e = config(&[(k, v)]).unwrap_err();
            assert!(e.contains(&format!("`{k}`")), "{e}");
        }
        let e = config(&[("EXO_JWT_SOURCE_HEADER", "x"), ("EXO_JWT_SOURCE_COOKIE", "y")]).unwrap_err();
        assert!(e.contains("unset one of them"), "{e}");
    }

    #[test]
    fn cors_forms() {
        assert_eq!(Cors::parse(Some("*")), Cors::Any);
        assert_eq!(Cors::parse(Some(" ")), Cors::None);
        let list = Cors::parse(Some("https://a.example, https://b.example/"));
        assert!(list.allows("https://b.example"));
        assert!(!list.allows("https://c.example"));
    }
}
