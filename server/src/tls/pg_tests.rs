//! TLS against a real Postgres started with `ssl=on` and a certificate chain made here (a CA
//! and a server certificate for `localhost` and `127.0.0.1`): each `sslmode`, the errors a
//! user sees, `pg_stat_ssl` for the session, and SCRAM with channel binding.

use std::path::PathBuf;
use std::sync::OnceLock;

use exo_pg_ephemeral::EphemeralPostgres;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

use crate::config::DatabaseConfig;
use crate::db::connect_client;

/// A CA and the PEM of a certificate it signed for `names`, with its key.
struct Chain {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn chain(ca_name: &str, names: &[&str]) -> Chain {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Chain { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

struct TlsCluster {
    pg: EphemeralPostgres,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
    _files: tempfile_dir::Dir,
}

/// A directory removed on drop (no `tempfile` dependency for two files).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn cluster() -> &'static TlsCluster {
    static CLUSTER: OnceLock<TlsCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let server = chain("exo test CA", &["localhost", "127.0.0.1"]);
        let other = chain("another test CA", &["localhost"]);
        let dir = std::env::temp_dir().join(format!("exo-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, other_ca) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
        std::fs::write(&ca, &server.ca_pem).unwrap();
        std::fs::write(&other_ca, &other.ca_pem).unwrap();
        let pg = EphemeralPostgres::start_with_tls(&server.cert_pem, &server.key_pem).expect("a TLS cluster");
        // `allow_user` may only come in over TLS; `scram_user` needs a password over TLS.
        pg.psql("postgres", "CREATE ROLE allow_user LOGIN; CREATE ROLE scram_user LOGIN PASSWORD 'scram-secret'")
            .unwrap();
        pg.replace_hba(
            "local all all trust\n\
             hostnossl all allow_user 127.0.0.1/32 reject\n\
             hostssl all scram_user 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 trust\n\
             host all all ::1/128 trust\n",
        )
        .unwrap();
        TlsCluster { pg, ca, other_ca, _files: tempfile_dir::Dir(dir) }
    })
}

fn url(host: &str, port: u16, query: &str) -> String {
    format!("postgres://postgres@{host}:{port}/postgres?{query}")
}

/// Connects with `url` and answers whether the session is encrypted, from the server's side.
async fn session_ssl(url: &str) -> Result<bool, String> {
    let config =
        DatabaseConfig { url: Some(url.to_string()), pool_size: 1, read_write: true, ..DatabaseConfig::default() };
    let client = connect_client(&config).await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "current_thread")]
async fn verify_full_with_the_right_ca_is_encrypted() {
    let c = cluster();
    let ca = c.ca.display();
    for host in ["127.0.0.1", "localhost"] {
        let u = url(host, c.pg.port(), &format!("sslmode=verify-full&sslrootcert={ca}"));
        assert_eq!(session_ssl(&u).await, Ok(true), "{host}");
    }
    // `ssl=true` is `verify-full`.
    let u = url("127.0.0.1", c.pg.port(), &format!("ssl=true&sslrootcert={ca}"));
    assert_eq!(session_ssl(&u).await, Ok(true));
}

#[tokio::test(flavor = "current_thread")]
async fn the_wrong_ca_is_an_unknown_issuer() {
    let c = cluster();
    for mode in ["verify-full", "verify-ca", "require"] {
        let u = format!(
            "postgres://postgres:pw@127.0.0.1:{}/postgres?sslmode={mode}&sslrootcert={}",
            c.pg.port(),
            c.other_ca.display()
        );
        let e = session_ssl(&u).await.unwrap_err();
        assert!(e.contains("unknown issuer") && e.contains("sslrootcert"), "{mode}: {e}");
        assert!(e.contains("postgres://postgres:***@127.0.0.1"), "{mode}: names the URL without its password: {e}");
        assert!(!e.contains(":pw@"), "{e}");
        // `require` with a root certificate verifies the chain (as libpq), reported as verify-ca.
        let shown = if mode == "require" { "verify-ca" } else { mode };
        assert!(e.contains(&format!("sslmode {shown}")), "{mode}: names the mode: {e}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_wrong_host_name_is_named() {
    let c = cluster();
    // `hostaddr` reaches the server while the certificate is checked against `host`.
    let u = format!(
        "postgres://postgres@db.wrong.example:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        c.pg.port(),
        c.ca.display()
    );
    let e = session_ssl(&u).await.unwrap_err();
    assert!(e.contains("certificate is for host `localhost`, `127.0.0.1`, not `db.wrong.example`"), "{e}");
    // `verify-ca` checks the chain, not the name.
    let u = u.replace("verify-full", "verify-ca");
    assert_eq!(session_ssl(&u).await, Ok(true));
}

#[tokio::test(flavor = "current_thread")]
async fn require_encrypts_without_a_ca() {
    let c = cluster();
    assert_eq!(session_ssl(&url("127.0.0.1", c.pg.port(), "sslmode=require")).await, Ok(true));
}

#[tokio::test(flavor = "current_thread")]
async fn require_against_a_server_without_tls_fails_with_its_reason() {
    let plain = EphemeralPostgres::shared().unwrap();
    let e = session_ssl(&url("127.0.0.1", plain.port(), "sslmode=require")).await.unwrap_err();
    assert!(e.contains("server does not support TLS") && e.contains("sslmode require"), "{e}");
    let e = session_ssl(&url("127.0.0.1", plain.port(), "ssl=true")).await.unwrap_err();
    assert!(e.contains("server does not support TLS") && e.contains("sslmode verify-full"), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn prefer_uses_tls_when_offered_and_plain_otherwise() {
    let c = cluster();
    let plain = EphemeralPostgres::shared().unwrap();
    assert_eq!(session_ssl(&url("127.0.0.1", c.pg.port(), "sslmode=prefer")).await, Ok(true));
    // No `sslmode` at all is `prefer`, as in libpq and Exograph.
    assert_eq!(session_ssl(&url("127.0.0.1", c.pg.port(), "application_name=t")).await, Ok(true));
    assert_eq!(session_ssl(&url("127.0.0.1", plain.port(), "sslmode=prefer")).await, Ok(false));
}

#[tokio::test(flavor = "current_thread")]
async fn disable_is_plain_and_allow_upgrades_only_when_refused() {
    let c = cluster();
    assert_eq!(session_ssl(&url("127.0.0.1", c.pg.port(), "sslmode=disable")).await, Ok(false));
    assert_eq!(session_ssl(&url("127.0.0.1", c.pg.port(), "sslmode=allow")).await, Ok(false));
    // `allow_user` is rejected without TLS: `allow` then retries with it.
    let u = format!("postgres://allow_user@127.0.0.1:{}/postgres?sslmode=allow", c.pg.port());
    assert_eq!(session_ssl(&u).await, Ok(true));
    let e = session_ssl(&u.replace("allow", "disable").replace("disable_user", "allow_user")).await;
    assert!(e.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn scram_uses_channel_binding_over_tls() {
    let c = cluster();
    // `channel_binding=require` fails unless SCRAM-SHA-256-PLUS was used with our binding data.
    let u = format!(
        "postgres://scram_user:scram-secret@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}&channel_binding=require",
        c.pg.port(),
        c.ca.display()
    );
    assert_eq!(session_ssl(&u).await, Ok(true));
    let e = session_ssl(&u.replace("scram-secret", "wrong")).await.unwrap_err();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong@"), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn prefer_over_a_unix_socket_stays_plain() {
    // A Unix socket has no host name to verify; `prefer` (the default) must still connect.
    let c = cluster();
    let socket_dir = c.pg.data_dir().parent().unwrap().join("sock");
    let u = format!("postgres:///postgres?host={}&port={}&user=postgres", socket_dir.display(), c.pg.port());
    assert_eq!(session_ssl(&u).await, Ok(false));
}

#[tokio::test(flavor = "current_thread")]
async fn a_statement_past_its_timeout_is_cancelled_over_tls() {
    use exo_runtime::engine::Db;
    use std::time::{Duration, Instant};

    let c = cluster();
    // The pool's own path: one TCP host through `PgStream`, the session over TLS.
    let db = DatabaseConfig {
        url: Some(url("localhost", c.pg.port(), "sslmode=require&application_name=tls-cancel")),
        pool_size: 1,
        read_write: true,
        ..DatabaseConfig::default()
    };
    let settings = crate::db::connect_config(&db).unwrap();
    let (client, guard, cancel) = crate::db::connect_guarded(&settings).await.unwrap();
    let mut conn = crate::db::PgDb::new(client).with_guard(guard).with_cancel(cancel);
    let ssl: Vec<Vec<Option<String>>> =
        conn.query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    assert_eq!(ssl, vec![vec![Some("true".to_string())]]);

    let started = Instant::now();
    conn.set_bounds(crate::db::Bounds { deadline: Some((started + Duration::from_millis(300), 300)), budget: None });
    let e = conn.query("SELECT pg_sleep(30)::text", &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(e.0.contains("cancelled after 300 ms") && e.0.contains("`EXO_STATEMENT_TIMEOUT_MS`"), "{e:?}");
    // Postgres cancelled it: the answer came well before the 5 s after which an undelivered
    // cancel abandons the statement.
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // The same connection answers the next statement, and nothing is left running.
    conn.set_bounds(crate::db::Bounds::default());
    let running = conn
        .query(
            "SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'tls-cancel' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(running, vec![vec![Some("0".to_string())]]);
}
