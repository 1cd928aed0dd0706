//! `WorkerConfig::from_env`: the `EXO_*` variables the Worker reads (Worker vars and secrets),
//! checked once per isolate. Target-independent, so the host build tests it.
//!
//! The Worker honours what makes sense without a process or a listening socket: the database
//! (`EXO_POSTGRES_URL`/`DATABASE_URL` or `EXO_HYPERDRIVE_BINDING`), `EXO_POSTGRES_READ_WRITE`,
//! JWT settings, `EXO_INTROSPECTION`, `EXO_GRAPHQL_ALLOW_MUTATIONS`, `EXO_MAX_SELECTION_DEPTH`,
//! `EXO_CORS_DOMAINS`, `EXO_GRAPHQL_HTTP_PATH` and MCP (`EXO_ENABLE_MCP`, `EXO_MCP_MODE`,
//! `EXO_MCP_HTTP_PATH`). Pool size, host and port belong to the
//! platform (Hyperdrive pools; Cloudflare routes) and are ignored, and so are
//! `EXO_TRUSTED_PROXIES`/`EXO_FORWARDED_HEADER`: the client address is Cloudflare's
//! `CF-Connecting-IP`, which clients cannot set.

use exo_runtime::edge::{Edge, PlatformHeader, DEFAULT_MAX_BODY_BYTES};
use exo_runtime::Config;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub engine: Config,
    pub database: Database,
    /// `EXO_POSTGRES_READ_WRITE`, default false: sessions start with
    /// `default_transaction_read_only=on`, as the native server's do.
    pub read_write: bool,
    /// The HTTP decisions, shared with the native server: `EXO_GRAPHQL_HTTP_PATH` (default
    /// `/graphql`), `EXO_CORS_DOMAINS`, the body limit, the client address; no playground.
    pub edge: Edge<PlatformHeader>,
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

use exo_runtime::env::parse_bool;
pub use exo_runtime::env::Cors;

impl WorkerConfig {
    /// Reads the configuration through `get` (the Worker's vars and secrets). Errors name the
    /// variable and the accepted values.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<WorkerConfig, String> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        // Trusted documents travel in the IR; a Worker has no playground to exempt.
        let engine = Config::from_env(&get)?;

        let database = match (get("EXO_HYPERDRIVE_BINDING"), get("EXO_POSTGRES_URL").or_else(|| get("DATABASE_URL"))) {
            (Some(binding), _) => Database::Hyperdrive(binding.trim().to_string()),
            (None, Some(url)) => Database::Url(url),
            (None, None) => Database::Missing,
        };
        let graphql_path =
            get("EXO_GRAPHQL_HTTP_PATH").map(|p| p.trim().to_string()).unwrap_or_else(|| "/graphql".to_string());
        if !graphql_path.starts_with('/') {
            return Err(format!("`EXO_GRAPHQL_HTTP_PATH` is `{graphql_path}`; it must start with `/`"));
        }
        let mcp_path = engine.mcp.enabled.then(|| engine.mcp.path.clone());
        Ok(WorkerConfig {
            engine,
            database,
            read_write: parse_bool("EXO_POSTGRES_READ_WRITE", get("EXO_POSTGRES_READ_WRITE"), false)?,
            edge: worker_edge(graphql_path, Cors::parse(get("EXO_CORS_DOMAINS").as_deref()), mcp_path),
        })
    }
}

/// A Worker's edge: no playground, the native body limit, and the client address from
/// Cloudflare's `CF-Connecting-IP`.
pub fn worker_edge(graphql_path: String, cors: Cors, mcp_path: Option<String>) -> Edge<PlatformHeader> {
    Edge {
        graphql_path,
        playground_path: None,
        cors,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        client_address: PlatformHeader("cf-connecting-ip"),
        mcp_path,
        health: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_runtime::Introspection;
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
        assert_eq!(c.edge.graphql_path, "/graphql");
        assert_eq!(c.edge.cors, Cors::None);
        assert_eq!(c.edge.playground_path, None);
        assert_eq!(c.edge.client_address, PlatformHeader("cf-connecting-ip"));
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
