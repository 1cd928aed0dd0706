//! Production deployments as an operator runs them: `exo serve` and `exo test` through a real
//! PgBouncer (Debian's binary, configured here) in transaction and session pooling, the
//! readiness endpoint while Postgres stops and starts, and the per-request log line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use serde_json::{json, Value};

use crate::{example, exo, free_port, temp_copy, workspace};

const PATIENCE: Duration = Duration::from_secs(60);
pub(crate) const SECRET: &str = "production-test-secret";

/// PgBouncer in front of `pg`, every database forwarded (`* = ...`), trust authentication.
/// Stopped on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl PgBouncer {
    fn start(pg: &EphemeralPostgres, pool_mode: &str) -> PgBouncer {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("pgbouncer is not installed: `apt-get install -y pgbouncer` (scripts/install-toolchain.sh does)");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = dir.path().join("pgbouncer.log");
        // Few server connections, so consecutive transactions of one client land on
        // different ones (what breaks named prepared statements in transaction mode).
        let config = format!(
            "[databases]\n* = host=127.0.0.1 port={pg_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {users}\npool_mode = {pool_mode}\n\
             default_pool_size = 3\nmax_client_conn = 200\nlogfile = {log}\n",
            pg_port = pg.port(),
            users = dir.path().join("users.txt").display(),
            log = log.display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).expect("write pgbouncer.ini");
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").expect("write users.txt");
        let mut cmd = Command::new(binary);
        cmd.arg(dir.path().join("pgbouncer.ini")).stdout(Stdio::null()).stderr(Stdio::null());
        // PgBouncer refuses to run as root: as root, run it as `postgres` (the owner of the
        // test clusters), which must be able to write its log.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::process::CommandExt;
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the pgbouncer dir");
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let bouncer = PgBouncer { child, port, dir };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "pgbouncer did not listen; log:\n{}", bouncer.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        bouncer
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGINT: PgBouncer's "safe shutdown" (waits for clients); SIGTERM stops at once.
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn postgres_ids() -> (u32, u32) {
    let out = Command::new("id").args(["-u", "postgres"]).output().expect("id -u postgres");
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a uid");
    let out = Command::new("id").args(["-g", "postgres"]).output().expect("id -g postgres");
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a gid");
    (uid, gid)
}

/// `exo serve` on a free port, output to files; interrupted on drop.
pub(crate) struct Serve {
    child: Child,
    pub(crate) port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Serve {
    pub(crate) fn start(project: &Path, logs: &Path, env: &[(&str, &str)]) -> Serve {
        std::fs::create_dir_all(logs).expect("mkdir");
        let port = free_port();
        let (stdout, stderr) = (logs.join("stdout.log"), logs.join("stderr.log"));
        let mut cmd = exo();
        cmd.arg("serve").arg("--project").arg(project).arg("--port").arg(port.to_string());
        cmd.env("EXO_SERVER_HOST", "127.0.0.1").env("EXO_JWT_SECRET", SECRET);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(std::fs::File::create(&stdout).expect("stdout log"))
            .stderr(std::fs::File::create(&stderr).expect("stderr log"))
            .spawn()
            .expect("start exo serve");
        let mut serve = Serve { child, port, stdout, stderr };
        // Listening, not the startup line: `EXO_LOG=warn` hides that.
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = serve.child.try_wait() {
                let (out, err) = serve.output();
                panic!("exo serve exited ({status})\nstdout:\n{out}\nstderr:\n{err}");
            }
            if started.elapsed() > PATIENCE {
                let (out, err) = serve.output();
                panic!("exo serve did not start\nstdout:\n{out}\nstderr:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        serve
    }

    pub(crate) fn output(&self) -> (String, String) {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (read(&self.stdout), read(&self.stderr))
    }

    pub(crate) fn graphql(&self, query: &str, variables: Value, token: &str) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let auth = format!("Authorization: Bearer {token}\r\n");
        let (status, body) = http(self.port, "POST", "/graphql", &auth, &body);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, "", "")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
pub(crate) fn http(port: u16, method: &str, path: &str, extra_headers: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         {extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete reply");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, body.to_string())
}

pub(crate) fn admin_token() -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 3600;
    exo_runtime::jwt::sign_hs256(&json!({ "sub": 1, "role": "admin", "exp": exp }), SECRET.as_bytes())
}

/// The todo example built in a temp dir, and a database `pg` holds with its tables and a row.
pub(crate) fn todo_database(pg: &EphemeralPostgres, prefix: &str) -> (tempfile::TempDir, PathBuf, String) {
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let built = exo().arg("build").arg("--project").arg(&project).output().expect("run exo build");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let ddl = exo().args(["schema", "create", "--project"]).arg(&project).output().expect("run exo schema create");
    assert!(ddl.status.success(), "{}", String::from_utf8_lossy(&ddl.stderr));
    let db = unique_db_name(prefix);
    pg.create_database(&db).unwrap();
    pg.psql(&db, &String::from_utf8_lossy(&ddl.stdout)).unwrap();
    pg.psql(&db, "INSERT INTO users (name, email) VALUES ('Ada', 'ada@example.com')").unwrap();
    pg.psql(&db, "INSERT INTO todos (title, completed, priority, user_id) VALUES ('first', false, 'HIGH', 1)").unwrap();
    (tmp, project, db)
}

/// Runs every example's `.exotest` suites through PgBouncer 1.18 in transaction pooling (with
/// `EXO_POSTGRES_PREPARED_STATEMENTS=false`: named statements do not survive between
/// transactions there), and the todo and blog suites in session pooling (named statements).
#[test]
fn exo_test_runs_the_example_suites_through_pgbouncer() {
    let pg = EphemeralPostgres::start().expect("a cluster");
    let runs = [
        ("transaction", "false", vec!["schema-examples/ok"]),
        ("session", "true", vec!["schema-examples/ok/todo", "schema-examples/ok/blog"]),
    ];
    for (mode, prepared, dirs) in runs {
        let bouncer = PgBouncer::start(&pg, mode);
        for dir in dirs {
            let out = exo()
                .arg("test")
                .arg(workspace().join(dir))
                .arg("--database-url")
                .arg(bouncer.url("postgres"))
                .env("EXO_POSTGRES_PREPARED_STATEMENTS", prepared)
                .output()
                .expect("run exo test");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{mode} pooling, {dir}:\n{stdout}\n{}\npgbouncer log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                bouncer.log()
            );
            assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
        }
    }
}

/// `exo serve` in its default read-only mode through PgBouncer in transaction pooling: with
/// statements unnamed by setting, and with the default (named, then unnamed once a statement
/// goes missing). Reads work across server connections; writes are refused as read-only.
#[test]
fn serve_works_through_pgbouncer_in_transaction_pooling() {
    let pg = EphemeralPostgres::start().expect("a cluster");
    let (tmp, project, db) = todo_database(&pg, "exo_pgbouncer_serve");
    let bouncer = PgBouncer::start(&pg, "transaction");
    let token = admin_token();
    for prepared in ["false", "true"] {
        let url = bouncer.url(&db);
        let serve = Serve::start(
            &project,
            &tmp.path().join(format!("prepared-{prepared}")),
            &[
                ("EXO_POSTGRES_URL", &url),
                ("EXO_POSTGRES_PREPARED_STATEMENTS", prepared),
                ("EXO_CONNECTION_POOL_SIZE", "2"),
            ],
        );
        for i in 0..30 {
            let answer = serve.graphql("query($id: Int!) { todo(id: $id) { title } }", json!({ "id": 1 }), &token);
            assert_eq!(answer, json!({ "data": { "todo": { "title": "first" } } }), "request {i}");
            let answer = serve.graphql("{ todos(orderBy: {id: ASC}) { id } }", json!({}), &token);
            assert_eq!(answer["data"]["todos"].as_array().map(Vec::len), Some(1), "{answer}");
        }
        let answer = serve.graphql(
            "mutation { createTodo(data: {title: \"no\", completed: false, priority: LOW, user: {id: 1}}) { id } }",
            json!({}),
            &token,
        );
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default().to_string();
        assert!(answer["data"].is_null() || answer.get("data").is_none(), "{answer}");
        assert!(!message.is_empty(), "the write was refused: {answer}");
        let (_, stderr) = serve.output();
        assert!(!stderr.contains("unsupported startup parameter"), "{stderr}");
        assert!(
            stderr.contains("read-only transaction") || message.contains("Operation failed"),
            "the mutation failed for being read-only: {message}\n{stderr}"
        );
    }
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM todos").unwrap(), "1", "nothing was written");
    drop(bouncer);
    pg.drop_database(&db).unwrap();
}

/// `/ready` answers 200 while Postgres answers and 503 while it is stopped; `/live` stays 200.
#[test]
fn ready_follows_the_database_and_live_does_not() {
    let pg = EphemeralPostgres::start().expect("a cluster");
    let (tmp, project, db) = todo_database(&pg, "exo_ready");
    let url = pg.url_for(&db);
    let serve = Serve::start(&project, &tmp.path().join("logs"), &[("EXO_POSTGRES_URL", &url)]);
    let wait_for = |path: &str, status: u16| {
        let started = Instant::now();
        loop {
            let (got, body) = serve.get(path);
            if got == status {
                return body;
            }
            assert!(started.elapsed() < PATIENCE, "{path} stayed {got} ({body}), expected {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(wait_for("/ready", 200), r#"{"status":"ready"}"#);
    assert_eq!(wait_for("/live", 200), r#"{"status":"live"}"#);
    pg.pause().unwrap();
    let body = wait_for("/ready", 503);
    assert!(body.contains("unreachable") && !body.contains("postgres://"), "{body}");
    assert_eq!(serve.get("/live").0, 200);
    pg.resume().unwrap();
    wait_for("/ready", 200);
    let answer = serve.graphql("{ todos { title } }", json!({}), &admin_token());
    assert_eq!(answer, json!({ "data": { "todos": [{ "title": "first" }] } }), "queries work again");
    assert_eq!(http(serve.port, "POST", "/ready", "", "").0, 405);
    drop(serve);
    pg.drop_database(&db).unwrap();
}

/// One line per GraphQL request under `exo::request`, with the operation's name, status,
/// statements and rows, and never a variable's value or the token; `exo::request=off` (the
/// `tracing` filter syntax) silences it.
#[test]
fn each_request_logs_one_line_without_variables_or_tokens() {
    let pg = EphemeralPostgres::shared().expect("a cluster");
    let (tmp, project, db) = todo_database(pg, "exo_request_log");
    let url = pg.url_for(&db);
    let token = admin_token();
    let secret_value = "variable-value-7781-must-not-be-logged";
    let query = "query FindTodos($t: String!) { todos(where: {title: {eq: $t}}) { id } }";
    {
        let serve = Serve::start(
            &project,
            &tmp.path().join("on"),
            &[("EXO_POSTGRES_URL", &url), ("EXO_LOG", "warn,exo::request=info")],
        );
        let answer = serve.graphql(query, json!({ "t": secret_value }), &token);
        assert_eq!(answer, json!({ "data": { "todos": [] } }));
        serve.graphql("{ nothing }", json!({}), &token);
        let (_, stderr) = serve.output();
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(" INFO exo::request: ")).collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(lines[0].contains("operation=FindTodos status=200 duration_ms="), "{}", lines[0]);
        assert!(lines[0].contains(" statements=1 rows=1 errors=0"), "{}", lines[0]);
        assert!(lines[1].contains("operation=\"-\" status=200") && lines[1].ends_with("errors=1"), "{}", lines[1]);
        assert!(!stderr.contains(secret_value) && !stderr.contains(&token) && !stderr.contains(SECRET), "{stderr}");
    }
    let serve = Serve::start(
        &project,
        &tmp.path().join("off"),
        &[("EXO_POSTGRES_URL", &url), ("EXO_LOG", "info,exo::request=off")],
    );
    serve.graphql(query, json!({ "t": "x" }), &token);
    let (_, stderr) = serve.output();
    assert!(!stderr.contains("exo::request"), "{stderr}");
    drop(serve);
    pg.drop_database(&db).unwrap();
}

/// A CA (PEM) and a server certificate for `localhost`/`127.0.0.1` it signed, with its key.
fn tls_chain(ca_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The commands that connect use TLS as the URL asks: `exo schema migrate/verify` and
/// `exo serve` with `sslmode=verify-full` against a cluster with `ssl=on` (the server's
/// `pg_stat_ssl` shows exo's sessions encrypted), and a wrong CA fails with its reason.
#[test]
fn schema_and_serve_connect_with_verify_full() {
    let (ca, cert, key) = tls_chain("exo cli test CA");
    let pg = EphemeralPostgres::start_with_tls(&cert, &key).expect("a TLS cluster");
    let (tmp, project) = temp_copy(&example("ok/todo"));
    let built = exo().arg("build").arg("--project").arg(&project).output().expect("run exo build");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let ca_path = tmp.path().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    let db = unique_db_name("exo_cli_tls");
    pg.create_database(&db).unwrap();
    let url = format!(
        "postgres://postgres@localhost:{}/{db}?sslmode=verify-full&sslrootcert={}&application_name=exo_tls_test",
        pg.port(),
        ca_path.display()
    );
    let migrated = exo()
        .args(["schema", "migrate", "--apply-to-database", "--project"])
        .arg(&project)
        .args(["--database", &url])
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let verified =
        exo().args(["schema", "verify", "--project"]).arg(&project).args(["--database", &url]).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));

    let wrong_ca = tmp.path().join("wrong-ca.pem");
    std::fs::write(&wrong_ca, tls_chain("another CA").0).unwrap();
    let refused = exo()
        .args(["schema", "verify", "--project"])
        .arg(&project)
        .args(["--database", &url.replace(&ca_path.display().to_string(), &wrong_ca.display().to_string())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("unknown issuer") && stderr.contains("verify-full"),
        "{stderr}"
    );

    pg.psql(&db, "INSERT INTO users (name, email) VALUES ('Ada', 'ada@example.com')").unwrap();
    let serve = Serve::start(&project, &tmp.path().join("serve"), &[("EXO_POSTGRES_URL", &url)]);
    let answer = serve.graphql("{ users { name } }", json!({}), &admin_token());
    assert_eq!(answer, json!({ "data": { "users": [{ "name": "Ada" }] } }));
    let encrypted = pg
        .psql(
            "postgres",
            "SELECT bool_and(s.ssl)::text || ' ' || (count(*) > 0)::text FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'exo_tls_test'",
        )
        .unwrap();
    assert_eq!(encrypted, "true true", "exo serve's pooled connections are encrypted");
    drop(serve);
    pg.drop_database(&db).unwrap();
}
