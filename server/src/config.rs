//! `ServerConfig::from_env`: every `EXO_*` variable the native server reads, checked once at
//! startup so that a typo fails with a message instead of silently using a default.

use exo_runtime::edge::{self, TrustedProxies};
use exo_runtime::{Config, Introspection};

use crate::error::Error;
use crate::limits::HttpLimits;
use crate::log::Filter;

pub use exo_runtime::edge::DEFAULT_MAX_BODY_BYTES;
const DEFAULT_PORT: u16 = 9876;
const DEFAULT_POOL_SIZE: usize = 10;
const DEFAULT_POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub engine: Config,
    pub database: DatabaseConfig,
    /// `EXO_SERVER_HOST`: `0.0.0.0` by default, `127.0.0.1` when `EXO_ENV` is `yolo`, `dev`
    /// or `test`.
    pub host: String,
    /// `EXO_SERVER_PORT`, default 9876.
    pub port: u16,
    /// `EXO_GRAPHQL_HTTP_PATH`, default `/graphql`.
    pub graphql_path: String,
    /// `EXO_PLAYGROUND_HTTP_PATH` (default `/playground`) where the GraphiQL playground is
    /// served; `None` when introspection is disabled, since the playground needs it.
    pub playground_path: Option<String>,
    pub cors: Cors,
    /// `EXO_LOG` (`tracing` filter syntax, such as `info,exo::request=warn`), default `info`.
    pub log: Filter,
    pub max_body_bytes: usize,
    /// Where `@clientIp` comes from: the TCP peer, or, when the peer is one of
    /// `EXO_TRUSTED_PROXIES`, the client named in `EXO_FORWARDED_HEADER`.
    pub client_ip: TrustedProxies,
    /// How many HTTP threads serve requests, each with its own single-threaded runtime and its
    /// share of the connection pool (`EXO_SERVER_THREADS`; by default the number of CPUs,
    /// at most the pool size).
    pub threads: usize,
    /// Header-read and idle timeouts, the cap on open connections.
    pub http_limits: HttpLimits,
    /// How long a request waits for a free database connection before it is answered with an
    /// error (`EXO_CONNECTION_POOL_TIMEOUT_MS`, default 5 s).
    pub pool_timeout: std::time::Duration,
    /// OpenTelemetry traces (`EXO_ENABLE_OTEL` and the `OTEL_*` variables); `None` when off.
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `EXO_POSTGRES_URL`, else `DATABASE_URL`.
    pub url: Option<String>,
    /// `EXO_CONNECTION_POOL_SIZE`, default 10.
    pub pool_size: usize,
    /// `EXO_POSTGRES_READ_WRITE`, default false: every transaction is `READ ONLY`.
    pub read_write: bool,
    /// `EXO_CHECK_CONNECTION_ON_STARTUP`, default true.
    pub check_on_startup: bool,
    /// `EXO_POSTGRES_PREPARED_STATEMENTS`, default true: each connection keeps named prepared
    /// statements. `false` sends every statement unnamed (for poolers in transaction mode that
    /// do not track prepared statements, such as PgBouncer before 1.21).
    pub prepared_statements: bool,
}

impl Default for DatabaseConfig {
    /// No URL, the default pool size, read-only, checked on startup, prepared statements.
    fn default() -> DatabaseConfig {
        DatabaseConfig {
            url: None,
            pool_size: DEFAULT_POOL_SIZE,
            read_write: false,
            check_on_startup: true,
            prepared_statements: true,
        }
    }
}

pub use exo_runtime::env::Cors;

impl ServerConfig {
    /// Reads the configuration through `get` (normally `std::env::var`). Errors name the
    /// variable and the accepted values.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<ServerConfig, Error> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let mut engine = Config::from_env(&get).map_err(Error::new)?;
        // Outside production the playground may run any document.
        engine.playground_bypass = matches!(get("EXO_ENV").as_deref().map(str::trim), Some("yolo" | "dev"));

        let pool_size = match get("EXO_CONNECTION_POOL_SIZE") {
            Some(v) => parse_number("EXO_CONNECTION_POOL_SIZE", &v)?,
            None => DEFAULT_POOL_SIZE,
        };
        if pool_size == 0 {
            return Err(Error::new("`EXO_CONNECTION_POOL_SIZE` is 0; set it to at least 1"));
        }
        let database = DatabaseConfig {
            url: get("EXO_POSTGRES_URL").or_else(|| get("DATABASE_URL")),
            pool_size,
            read_write: parse_bool("EXO_POSTGRES_READ_WRITE", get("EXO_POSTGRES_READ_WRITE"), false)?,
            check_on_startup: parse_bool(
                "EXO_CHECK_CONNECTION_ON_STARTUP",
                get("EXO_CHECK_CONNECTION_ON_STARTUP"),
                true,
            )?,
            prepared_statements: parse_bool(
                "EXO_POSTGRES_PREPARED_STATEMENTS",
                get("EXO_POSTGRES_PREPARED_STATEMENTS"),
                true,
            )?,
        };

        let local_mode = matches!(get("EXO_ENV").as_deref().map(str::trim), Some("yolo" | "dev" | "test"));
        let host =
            get("EXO_SERVER_HOST").unwrap_or_else(|| if local_mode { "127.0.0.1" } else { "0.0.0.0" }.to_string());
        let port = match get("EXO_SERVER_PORT") {
            Some(v) => v.trim().parse::<u16>().map_err(|_| {
                Error::new(format!("`EXO_SERVER_PORT` is `{v}`; set it to a port number between 0 and 65535"))
            })?,
            None => DEFAULT_PORT,
        };
        let graphql_path = match get("EXO_GRAPHQL_HTTP_PATH") {
            Some(p) if p.trim().starts_with('/') => p.trim().to_string(),
            Some(p) => {
                return Err(Error::new(format!(
                    "`EXO_GRAPHQL_HTTP_PATH` is `{p}`; set it to a path starting with `/`, such as `/graphql`"
                )))
            }
            None => "/graphql".to_string(),
        };

        let playground_path = match get("EXO_PLAYGROUND_HTTP_PATH") {
            Some(p) if p.trim().starts_with('/') => p.trim().to_string(),
            Some(p) => {
                return Err(Error::new(format!(
                    "`EXO_PLAYGROUND_HTTP_PATH` is `{p}`; set it to a path starting with `/`, such as `/playground`"
                )))
            }
            None => "/playground".to_string(),
        };
        if playground_path == graphql_path {
            return Err(Error::new(format!(
                "`EXO_PLAYGROUND_HTTP_PATH` and `EXO_GRAPHQL_HTTP_PATH` are both `{graphql_path}`; give the playground another path"
            )));
        }
        let playground_path = (engine.introspection != Introspection::Disabled).then_some(playground_path);

        let log = match get("EXO_LOG") {
            Some(v) => Filter::parse(&v).map_err(|e| {
                Error::new(format!("`EXO_LOG` is `{v}`: {e} (for example `info` or `debug,exo::request=warn`)"))
            })?,
            None => Filter::default(),
        };

        let threads = match get("EXO_SERVER_THREADS") {
            Some(v) => match parse_number("EXO_SERVER_THREADS", &v)? {
                0 => return Err(Error::new("`EXO_SERVER_THREADS` is 0; set it to at least 1")),
                n => n,
            },
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
        .min(database.pool_size);

        let http_limits = HttpLimits::from_env(&get)?;
        let pool_timeout = match get("EXO_CONNECTION_POOL_TIMEOUT_MS") {
            Some(v) => std::time::Duration::from_millis(
                exo_runtime::env::parse_positive("EXO_CONNECTION_POOL_TIMEOUT_MS", &v).map_err(Error::new)? as u64,
            ),
            None => DEFAULT_POOL_TIMEOUT,
        };
        let client_ip = TrustedProxies {
            proxies: edge::parse_trusted_proxies(get("EXO_TRUSTED_PROXIES").as_deref()).map_err(Error::new)?,
            header: edge::parse_forwarded_header(get("EXO_FORWARDED_HEADER").as_deref()).map_err(Error::new)?,
        };

        Ok(ServerConfig {
            threads,
            http_limits,
            pool_timeout,
            client_ip,
            engine,
            database,
            host,
            port,
            graphql_path,
            playground_path,
            cors: Cors::parse(get("EXO_CORS_DOMAINS").as_deref()),
            log,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            telemetry: crate::telemetry::TelemetryConfig::from_env(get)?,
        })
    }
}

fn parse_bool(name: &str, value: Option<String>, default: bool) -> Result<bool, Error> {
    exo_runtime::env::parse_bool(name, value, default).map_err(Error::new)
}

fn parse_number(name: &str, value: &str) -> Result<usize, Error> {
    exo_runtime::env::parse_number(name, value).map_err(Error::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServerConfig, Error> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ServerConfig::from_env(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.port, 9876);
        assert_eq!(c.graphql_path, "/graphql");
        assert_eq!(c.cors, Cors::None);
        assert_eq!(c.database, DatabaseConfig::default());
        assert!(c.database.prepared_statements);
        assert_eq!(c.engine.introspection, Introspection::Disabled);
        assert!(c.engine.allow_mutations);
        assert_eq!(c.playground_path, None);
        assert!(c.threads >= 1 && c.threads <= 10, "{}", c.threads);
    }

    #[test]
    fn bounds_are_on_by_default_and_settable() {
        let c = config(&[]).unwrap();
        assert_eq!(c.engine.statement_timeout_ms, 10_000);
        assert_eq!(c.engine.max_response_bytes, 8 * 1024 * 1024);
        assert_eq!(c.engine.limits.operation, exo_runtime::limits::OperationLimits::default());
        assert_eq!(c.pool_timeout, std::time::Duration::from_secs(5));
        let c = config(&[
            ("EXO_STATEMENT_TIMEOUT_MS", "0"),
            ("EXO_MAX_RESPONSE_BYTES", "1000"),
            ("EXO_MAX_ROOT_FIELDS", "3"),
            ("EXO_MAX_FIELDS_PER_SELECTION", "4"),
            ("EXO_MAX_FIELDS", "5"),
            ("EXO_MAX_FRAGMENT_SPREADS", "6"),
            ("EXO_CONNECTION_POOL_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.engine.statement_timeout_ms, 0, "0 turns the timeout off");
        assert_eq!(c.engine.max_response_bytes, 1000);
        let o = c.engine.limits.operation;
        assert_eq!((o.max_root_fields, o.max_fields_per_selection, o.max_fields, o.max_fragment_spreads), (3, 4, 5, 6));
        assert_eq!(c.pool_timeout, std::time::Duration::from_millis(250));
        for name in ["EXO_MAX_RESPONSE_BYTES", "EXO_MAX_ROOT_FIELDS", "EXO_CONNECTION_POOL_TIMEOUT_MS"] {
            let e = config(&[(name, "0")]).unwrap_err();
            assert!(e.message().contains(&format!("`{name}` is 0")), "{e}");
        }
        let e = config(&[("EXO_STATEMENT_TIMEOUT_MS", "soon")]).unwrap_err();
        assert!(e.message().contains("`EXO_STATEMENT_TIMEOUT_MS`"), "{e}");
    }

    #[test]
    fn threads_never_outnumber_connections() {
        let c = config(&[("EXO_SERVER_THREADS", "8"), ("EXO_CONNECTION_POOL_SIZE", "3")]).unwrap();
        assert_eq!(c.threads, 3);
        let c = config(&[("EXO_SERVER_THREADS", "2")]).unwrap();
        assert_eq!(c.threads, 2);
        let e = config(&[("EXO_SERVER_THREADS", "0")]).unwrap_err();
        assert!(e.message().contains("`EXO_SERVER_THREADS`"), "{e}");
    }

    #[test]
    fn playground_follows_introspection() {
        let c = config(&[("EXO_INTROSPECTION", "true")]).unwrap();
        assert_eq!(c.playground_path.as_deref(), Some("/playground"));
        let c = config(&[("EXO_INTROSPECTION", "enabled"), ("EXO_PLAYGROUND_HTTP_PATH", "/gq")]).unwrap();
        assert_eq!(c.playground_path.as_deref(), Some("/gq"));
        let e = config(&[("EXO_PLAYGROUND_HTTP_PATH", "playground")]).unwrap_err();
        assert!(e.message().contains("`EXO_PLAYGROUND_HTTP_PATH`"), "{e}");
        let e = config(&[("EXO_PLAYGROUND_HTTP_PATH", "/graphql")]).unwrap_err();
        assert!(e.message().contains("another path"), "{e}");
    }

    #[test]
    fn url_falls_back_to_database_url() {
        let c = config(&[("DATABASE_URL", "postgres://b")]).unwrap();
        assert_eq!(c.database.url.as_deref(), Some("postgres://b"));
        let c = config(&[("DATABASE_URL", "postgres://b"), ("EXO_POSTGRES_URL", "postgres://a")]).unwrap();
        assert_eq!(c.database.url.as_deref(), Some("postgres://a"));
    }

    #[test]
    fn local_modes_listen_on_loopback() {
        assert_eq!(config(&[("EXO_ENV", "yolo")]).unwrap().host, "127.0.0.1");
        assert_eq!(config(&[("EXO_ENV", "test"), ("EXO_SERVER_HOST", "::")]).unwrap().host, "::");
    }

    #[test]
    fn jwt_sources_are_exclusive() {
        let e = config(&[("EXO_JWT_SOURCE_HEADER", "x-token"), ("EXO_JWT_SOURCE_COOKIE", "token")]).unwrap_err();
        assert!(e.message().contains("unset one of them"), "{e}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("EXO_POSTGRES_READ_WRITE", "maybe")]).unwrap_err();
        assert!(e.message().contains("`EXO_POSTGRES_READ_WRITE`"), "{e}");
        let e = config(&[("EXO_LOG", "exo=loud")]).unwrap_err();
        assert!(e.message().contains("`EXO_LOG`"), "{e}");
        let e = config(&[("EXO_POSTGRES_PREPARED_STATEMENTS", "sometimes")]).unwrap_err();
        assert!(e.message().contains("`EXO_POSTGRES_PREPARED_STATEMENTS`"), "{e}");
        let e = config(&[("EXO_SERVER_PORT", "99999")]).unwrap_err();
        assert!(e.message().contains("`EXO_SERVER_PORT`"), "{e}");
    }

    #[test]
    fn trusted_proxies() {
        use exo_runtime::edge::ForwardedHeader;
        let c = config(&[]).unwrap();
        assert_eq!(c.client_ip, TrustedProxies { proxies: vec![], header: ForwardedHeader::XForwardedFor });
        let c = config(&[("EXO_TRUSTED_PROXIES", "10.0.0.0/8, ::1"), ("EXO_FORWARDED_HEADER", "forwarded")]).unwrap();
        assert_eq!((c.client_ip.proxies.len(), c.client_ip.header), (2, ForwardedHeader::Forwarded));
        let e = config(&[("EXO_TRUSTED_PROXIES", "10.0.0.0/40")]).unwrap_err();
        assert!(e.message().contains("`EXO_TRUSTED_PROXIES`"), "{e}");
        let e = config(&[("EXO_FORWARDED_HEADER", "x-real-ip")]).unwrap_err();
        assert!(e.message().contains("`EXO_FORWARDED_HEADER`"), "{e}");
    }

    #[test]
    fn cors_forms() {
        assert_eq!(Cors::parse(Some("*")), Cors::Any);
        assert_eq!(Cors::parse(Some("")), Cors::None);
        let list = Cors::parse(Some("https://a.example, https://b.example/"));
        assert!(list.allows("https://b.example"));
        assert!(!list.allows("https://c.example"));
    }
}
