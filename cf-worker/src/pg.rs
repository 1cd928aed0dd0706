//! Turning a database URL (or a Hyperdrive binding's connection string) into what the Worker's
//! socket and tokio-postgres need: host, port, whether to upgrade to TLS, and the session
//! settings. Target-independent; the socket itself lives in `worker_glue`.

use exo_runtime::env::redact_url as redact;
use tokio_postgres::config::{Host, SslMode};

/// Where and how to open one connection.
#[derive(Debug)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub host: String,
    pub port: u16,
    /// `StartTls` on the Worker socket, `PassthroughTls` for tokio-postgres.
    pub tls: bool,
}

/// A URL from `EXO_POSTGRES_URL`/`DATABASE_URL`. TLS is used when the URL asks for it
/// (`sslmode=require` or `ssl=true`); `prefer` (tokio-postgres' default) stays plain, as the
/// native server does.
pub fn from_url(url: &str, read_write: bool) -> Result<PgTarget, String> {
    let (url, ssl_flag) = strip_ssl_flag(url);
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        format!(
            "cannot parse the database URL `{}`: {e}; expected `postgres://user:password@host:port/database`",
            redact(&url)
        )
    })?;
    if ssl_flag == Some(true) {
        config.ssl_mode(SslMode::Require);
    }
    let tls = config.get_ssl_mode() == SslMode::Require;
    if !tls {
        config.ssl_mode(SslMode::Disable);
    }
    let (host, port) = host_port(&config, &url)?;
    session_settings(&mut config, read_write);
    Ok(PgTarget { config, host, port, tls })
}

/// A Hyperdrive binding: its connection string gives the user, password and database, while
/// `host()`/`port()` give the address to connect to. The connection to Hyperdrive always
/// negotiates TLS when Hyperdrive offers it (the local emulation does not).
pub fn from_hyperdrive(connection_string: &str, host: String, port: u16, read_write: bool) -> Result<PgTarget, String> {
    let mut config: tokio_postgres::Config = connection_string
        .parse()
        .map_err(|e| format!("cannot parse the Hyperdrive connection string `{}`: {e}", redact(connection_string)))?;
    config.ssl_mode(SslMode::Prefer);
    session_settings(&mut config, read_write);
    Ok(PgTarget { config, host, port, tls: true })
}

fn host_port(config: &tokio_postgres::Config, url: &str) -> Result<(String, u16), String> {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(_)) => {
            return Err(format!(
                "the database URL `{}` names a Unix socket; a Worker can only reach Postgres over TCP",
                redact(url)
            ))
        }
        None => {
            return Err(format!(
                "the database URL `{}` has no host; add one, as in `postgres://user@host:5432/db`",
                redact(url)
            ))
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Ok((host, port))
}

/// Read-only sessions unless read-write was asked for, and an application name.
fn session_settings(config: &mut tokio_postgres::Config, read_write: bool) {
    if !read_write {
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} -c default_transaction_read_only=on"),
            _ => "-c default_transaction_read_only=on".to_string(),
        };
        config.options(&options);
    }
    if config.get_application_name().is_none() {
        config.application_name("exo-cf-worker");
    }
}

/// Removes the `ssl=true|false` query parameter Exograph accepts and tokio-postgres does not;
/// returns what it said.
fn strip_ssl_flag(url: &str) -> (String, Option<bool>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
    let mut kept = Vec::new();
    let mut flag = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("ssl", v)) => flag = Some(v.eq_ignore_ascii_case("true") || v == "1"),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_url() {
        let t = from_url("postgres://u:pw@db.example:6543/app", false).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("db.example", 6543, false));
        assert_eq!(t.config.get_options(), Some("-c default_transaction_read_only=on"));
        assert_eq!(t.config.get_dbname(), Some("app"));
        let t = from_url("postgres://u@localhost/app", true).unwrap();
        assert_eq!((t.port, t.config.get_options()), (5432, None));
    }

    #[test]
    fn tls_when_asked() {
        assert!(from_url("postgres://u@h/db?sslmode=require", true).unwrap().tls);
        assert!(from_url("postgres://u@h/db?ssl=true", true).unwrap().tls);
        assert!(!from_url("postgres://u@h/db?ssl=false", true).unwrap().tls);
        assert!(!from_url("postgres://u@h/db?sslmode=prefer", true).unwrap().tls);
    }

    #[test]
    fn keeps_other_options() {
        let t = from_url("postgres://u@h/db?options=-c%20TimeZone%3DUTC", false).unwrap();
        assert_eq!(t.config.get_options(), Some("-c TimeZone=UTC -c default_transaction_read_only=on"));
    }

    #[test]
    fn bad_urls_are_explained_without_the_password() {
        let e = from_url("postgres://u:secret@h:notaport/db", true).unwrap_err();
        assert!(e.contains("cannot parse") && !e.contains("secret"), "{e}");
        let e = from_url("postgres://u:secret@/db?host=/var/run", true).unwrap_err();
        assert!(e.contains("Unix socket"), "{e}");
    }

    #[test]
    fn hyperdrive_uses_the_binding_address() {
        let t = from_hyperdrive("postgres://u:p@abc.hyperdrive.local:5432/db", "10.0.0.1".into(), 6432, true).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("10.0.0.1", 6432, true));
        assert_eq!(t.config.get_user(), Some("u"));
    }
}
