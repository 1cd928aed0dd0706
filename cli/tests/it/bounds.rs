//! The request that used to take the server down (issue 15): 200 aliases of a nested list over
//! 1,000 rows, authenticated. Against `exo serve` as a separate process with the default
//! bounds, it is refused, and the largest request the bounds let through is cut; the server's
//! peak resident memory (`VmHWM` in `/proc/<pid>/status`) stays under 100 MB throughout, and
//! a normal request succeeds afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use serde_json::{json, Value};

use crate::{example, exo, free_port, temp_copy};

const SECRET: &str = "bounds-test-secret";

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(claims: Value) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut claims = claims;
    claims["exp"] = json!(now + 3600);
    exo_runtime::jwt::sign_hs256(&claims, SECRET.as_bytes())
}

/// Posts `query` as user 1; the status and the body (read to the end, whatever its size).
fn post(port: u16, query: &str) -> (u16, String) {
    let body = json!({ "query": query }).to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        token(json!({"sub": 1})),
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a complete answer");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {raw}"));
    (head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status"), body.to_string())
}

/// Peak resident memory of `pid` in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn the_alias_attack_is_refused_or_cut_and_memory_stays_small() {
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let built = exo().args(["build", "-q", "--project"]).arg(&project).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let pg = EphemeralPostgres::shared().expect("ephemeral Postgres");
    let db = unique_db_name("exo_cli_bounds");
    let url = pg.create_database(&db).unwrap();
    let ir = exo_ir::decode(&std::fs::read(project.join("target/index.exo_ir")).unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let admin = exo_server::DatabaseConfig {
            url: Some(url.clone()),
            pool_size: 1,
            read_write: true,
            check_on_startup: true,
            ..exo_server::DatabaseConfig::default()
        };
        let client = exo_server::connect_client(&admin).await.unwrap();
        exo_pg_schema::apply(&client, &exo_pg_schema::create_statements(&ir.database)).await.unwrap();
        client
            .batch_execute(
                "INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann');
                 INSERT INTO todos (title, user_id) SELECT 'todo number ' || n, 1 FROM generate_series(1, 1000) n;",
            )
            .await
            .unwrap();
    });

    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let child = exo()
        .args(["serve", "--project"])
        .arg(&project)
        .env("EXO_POSTGRES_URL", &url)
        .env("EXO_JWT_SECRET", SECRET)
        .env("EXO_SERVER_PORT", port.to_string())
        .env("EXO_SERVER_HOST", "127.0.0.1")
        .stdout(std::fs::File::create(logs.path().join("out")).unwrap())
        .stderr(std::fs::File::create(logs.path().join("err")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("exo serve");
    let server = Serving(child);
    let pid = server.0.id();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "exo serve did not start: {:?}",
            std::fs::read_to_string(logs.path().join("err"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = post(port, "{ todos(limit: 1) { id } }");
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (200, json!({"data": {"todos": [{"id": 1}]}})));

    let nested = "todos { id title user { id todos { id title completed } } }";
    let aliases =
        |n: usize| format!("{{ {} }}", (0..n).map(|i| format!("a{i}: {nested}")).collect::<Vec<_>>().join(" "));

    // The request of the issue: refused before any SQL runs.
    let attack = aliases(200);
    assert!(attack.len() > 12_000, "{}", attack.len());
    let (status, body) = post(port, &attack);
    assert_eq!(status, 200);
    assert!(body.contains("more than 64 root fields") && body.contains("EXO_MAX_ROOT_FIELDS"), "{body}");

    // The most the bounds let through, four at once: 64 aliases, each a million todos.
    let allowed = aliases(64);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4).map(|_| s.spawn(|| post(port, &allowed))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert!(body.len() < 2_000, "an error, not a huge body: {} bytes", body.len());
        assert!(
            body.contains("EXO_MAX_RESPONSE_BYTES") || body.contains("EXO_STATEMENT_TIMEOUT_MS"),
            "cut by a bound: {body}"
        );
    }
    eprintln!("answer to 64 aliases: {}", answers[0].1);
    let peak = peak_rss_kb(pid);
    eprintln!("exo serve peak RSS after the attack: {} kB", peak);
    assert!(peak < 100 * 1024, "peak resident memory {peak} kB");

    let (status, body) = post(port, "{ todos(limit: 1) { id } }");
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (200, json!({"data": {"todos": [{"id": 1}]}})));
    drop(server);
    let _ = pg.drop_database(&db);
}
