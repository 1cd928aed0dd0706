//! Serves the todo example over real HTTP: build with the `exo` binary, create a throwaway
//! database, start `exo_server::Server` on a free port, and talk to it with hand-written
//! HTTP/1.1 requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use exo_pg_ephemeral::{unique_db_name, EphemeralPostgres};
use exo_server::{DatabaseConfig, Server, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{example, exo, temp_copy};

const SECRET: &str = "http-test-secret";
const ORIGIN: &str = "https://app.example";

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a fresh connection (`Connection: close`, so the reply ends at EOF).
async fn send(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} /graphql HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete reply");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers = lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Reply { status, headers, body: body.to_string() }
}

async fn graphql(addr: SocketAddr, token: &str, query: &str) -> Reply {
    let auth = format!("Bearer {token}");
    let body = json!({ "query": query }).to_string();
    send(addr, "POST", &[("Content-Type", "application/json"), ("Authorization", &auth)], &body).await
}

fn token(claims: Value) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut claims = claims;
    claims["exp"] = json!(now + 3600);
    exo_runtime::jwt::sign_hs256(&claims, SECRET.as_bytes())
}

/// The todo example built by the `exo` binary, and a fresh database holding its tables.
struct TodoDatabase {
    _project: tempfile::TempDir,
    /// The compiled IR.
    bytes: Vec<u8>,
    pg: &'static EphemeralPostgres,
    db: String,
    url: String,
    /// A read-write connection to the database, for seeding and checking.
    client: tokio_postgres::Client,
}

async fn todo_database(prefix: &str) -> TodoDatabase {
    let (project_dir, project) = temp_copy(&example("ok/todo"));
    let built = exo().args(["build", "-q", "--project"]).arg(&project).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let bytes = std::fs::read(project.join("target/index.exo_ir")).unwrap();
    let ir = exo_ir::decode(&bytes).unwrap();
    let pg = tokio::task::spawn_blocking(EphemeralPostgres::shared).await.unwrap().expect("ephemeral Postgres");
    let db = unique_db_name(prefix);
    let url = pg.create_database(&db).unwrap();
    let admin_db =
        DatabaseConfig { url: Some(url.clone()), pool_size: 1, read_write: true, ..DatabaseConfig::default() };
    let client = exo_server::connect_client(&admin_db).await.unwrap();
    exo_pg_schema::apply(&client, &exo_pg_schema::create_statements(&ir.database)).await.unwrap();
    TodoDatabase { _project: project_dir, bytes, pg, db, url, client }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todo_over_http() {
    let TodoDatabase { _project, bytes, pg, db, url, client } = todo_database("exo_cli_http").await;
    drop(client);

    let vars: HashMap<&str, String> = HashMap::from([
        ("EXO_POSTGRES_URL", url.clone()),
        ("EXO_POSTGRES_READ_WRITE", "true".into()),
        ("EXO_JWT_SECRET", SECRET.into()),
        ("EXO_CORS_DOMAINS", ORIGIN.into()),
        ("EXO_SERVER_HOST", "127.0.0.1".into()),
        ("EXO_SERVER_PORT", "0".into()),
        ("EXO_CONNECTION_POOL_SIZE", "2".into()),
    ]);
    let config = ServerConfig::from_env(|k| vars.get(k).cloned()).unwrap();
    let server = Arc::new(Server::from_ir_bytes(&bytes, config, Box::new(|_| None)).await.unwrap());
    let listener = server.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.clone().serve_on(listener, async {
        let _ = stopped.await;
    }));

    // Create, then read back, with signed tokens.
    let admin = token(json!({ "sub": 1, "role": "admin" }));
    let r =
        graphql(addr, &admin, r#"mutation { createUser(data: {email: "ann@example.com", name: "Ann"}) { id } }"#).await;
    assert_eq!((r.status, r.json()), (200, json!({ "data": { "createUser": { "id": 1 } } })), "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let ann = token(json!({ "sub": 1 }));
    let r =
        graphql(addr, &ann, r#"mutation { createTodo(data: {title: "Water plants"}) { id title user { id } } }"#).await;
    assert_eq!(
        r.json(),
        json!({ "data": { "createTodo": { "id": 1, "title": "Water plants", "user": { "id": 1 } } } }),
        "{}",
        r.body
    );
    let r = graphql(addr, &ann, "{ todos { id title completed priority } }").await;
    assert_eq!(
        r.json(),
        json!({ "data": { "todos": [{ "id": 1, "title": "Water plants", "completed": false, "priority": "MEDIUM" }] } }),
        "{}",
        r.body
    );
    // Another user sees nothing of Ann's.
    let r = graphql(addr, &token(json!({ "sub": 2 })), "{ todos { id } }").await;
    assert_eq!(r.json(), json!({ "data": { "todos": [] } }), "{}", r.body);

    // A body that is not JSON.
    let r = send(addr, "POST", &[("Content-Type", "application/json")], "{not json").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["errors"][0]["message"].is_string(), "{}", r.body);

    // GET is refused with a hint.
    let r = send(addr, "GET", &[], "").await;
    assert_eq!(r.status, 405);
    assert!(r.json()["errors"][0]["message"].as_str().unwrap().contains("POST"), "{}", r.body);

    // CORS preflight from the allowed origin, and from another one.
    let preflight = [
        ("Origin", ORIGIN),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type, authorization"),
    ];
    let r = send(addr, "OPTIONS", &preflight, "").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(r.header("access-control-allow-headers"), Some("content-type, authorization"));
    assert_eq!(r.header("access-control-max-age"), Some("3600"));
    let r = send(addr, "OPTIONS", &[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")], "")
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    // A simple request from the allowed origin carries the header too.
    let r = send(
        addr,
        "POST",
        &[("Origin", ORIGIN), ("Content-Type", "application/json")],
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN), "{}", r.body);

    // A body declared over the limit is refused from its headers, before it is sent (a
    // client still writing a refused body may see the connection reset, which is not what
    // this checks).
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        exo_server::DEFAULT_MAX_BODY_BYTES + 1
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 reply");
    assert!(raw.starts_with("HTTP/1.1 413 "), "{raw}");
    let body = raw.split_once("\r\n\r\n").expect("a complete reply").1;
    let errors: Value = serde_json::from_str(body).expect("JSON");
    assert!(errors["errors"][0]["message"].as_str().unwrap().contains("larger than"), "{body}");

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    drop(server);
    pg.drop_database(&db).unwrap();
}

/// Without `EXO_POSTGRES_READ_WRITE` (or with it false) the server's connections are read-only:
/// queries answer, mutations fail with Exograph's "Operation failed" (the database's
/// "read-only transaction" message goes to the log) and change nothing. With it, they work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_read_write() {
    let TodoDatabase { _project, bytes, pg, db, url, client } = todo_database("exo_cli_ro").await;
    client.batch_execute("INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann')").await.unwrap();

    let admin = token(json!({ "sub": 1, "role": "admin" }));
    let create = r#"mutation { createTodo(data: {title: "Water plants", user: {id: 1}}) { id } }"#;
    for read_write in [None, Some("false"), Some("true")] {
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("EXO_POSTGRES_URL", url.clone()),
            ("EXO_JWT_SECRET", SECRET.into()),
            ("EXO_SERVER_HOST", "127.0.0.1".into()),
            ("EXO_SERVER_PORT", "0".into()),
            ("EXO_CONNECTION_POOL_SIZE", "1".into()),
        ]);
        if let Some(v) = read_write {
            vars.insert("EXO_POSTGRES_READ_WRITE", v.into());
        }
        let config = ServerConfig::from_env(|k| vars.get(k).cloned()).unwrap();
        let server = Arc::new(Server::from_ir_bytes(&bytes, config, Box::new(|_| None)).await.unwrap());
        let listener = server.bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.clone().serve_on(listener, async {
            let _ = stopped.await;
        }));

        let r = graphql(addr, &admin, "{ users { name } }").await;
        assert_eq!(r.json(), json!({ "data": { "users": [{ "name": "Ann" }] } }), "{read_write:?}: {}", r.body);
        let r = graphql(addr, &admin, create).await;
        let before = count_todos(&client).await;
        if read_write == Some("true") {
            assert_eq!(r.json(), json!({ "data": { "createTodo": { "id": before } } }), "{}", r.body);
            assert_eq!(before, 1);
        } else {
            assert_eq!(
                r.json(),
                json!({ "errors": [{ "message": "Operation failed" }] }),
                "{read_write:?}: {}",
                r.body
            );
            assert_eq!(before, 0, "{read_write:?}: a refused mutation left a row");
            // Update and delete are refused the same way.
            let r = graphql(addr, &admin, r#"mutation { updateUser(id: 1, data: {name: "X"}) { id } }"#).await;
            assert_eq!(r.json(), json!({ "errors": [{ "message": "Operation failed" }] }), "{}", r.body);
            let r = graphql(addr, &admin, "mutation { deleteUsers { id } }").await;
            assert_eq!(r.json(), json!({ "errors": [{ "message": "Operation failed" }] }), "{}", r.body);
        }

        stop.send(()).unwrap();
        serving.await.unwrap().unwrap();
    }
    let names = client.query_one("SELECT string_agg(name, ',') FROM users", &[]).await.unwrap();
    assert_eq!(names.get::<_, Option<String>>(0).as_deref(), Some("Ann"));
    drop(client);
    pg.drop_database(&db).unwrap();
}

async fn count_todos(client: &tokio_postgres::Client) -> i64 {
    client.query_one("SELECT count(*) FROM todos", &[]).await.unwrap().get(0)
}

/// `exo yolo` serves read-write: a mutation through it succeeds.
#[test]
fn yolo_serves_read_write() {
    use std::io::{BufRead, BufReader};
    let (_tmp, project) = temp_copy(&example("ok/todo"));
    let port = crate::free_port();
    let mut child = exo()
        .args(["yolo", "--port", &port.to_string(), "--project"])
        .arg(&project)
        .env("EXO_JWT_SECRET", SECRET)
        .env("EXO_SERVER_HOST", "127.0.0.1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the child on every path out of this test (its cluster's watchdog removes the rest).
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _child = Kill(child);
    // The server logs "Started server on ..." once it listens; the output ends if yolo fails.
    let mut seen = String::new();
    let mut lines = BufReader::new(stdout).lines().chain(BufReader::new(stderr).lines());
    let started = lines.by_ref().map_while(Result::ok).any(|line| {
        seen.push_str(&line);
        seen.push('\n');
        line.contains("Started server on")
    });
    assert!(started, "exo yolo did not start:\n{seen}");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let admin = token(json!({ "sub": 1, "role": "admin" }));
        let r = graphql(
            addr,
            &admin,
            r#"mutation { createUser(data: {email: "ann@example.com", name: "Ann"}) { id name } }"#,
        )
        .await;
        assert_eq!(r.json(), json!({ "data": { "createUser": { "id": 1, "name": "Ann" } } }), "{}", r.body);
        let r = graphql(addr, &admin, "{ usersAgg { id { count } } }").await;
        assert_eq!(r.json(), json!({ "data": { "usersAgg": { "id": { "count": 1 } } } }), "{}", r.body);
    });
}

/// Without `EXO_POSTGRES_READ_WRITE`, the statements the engine sends refuse writes (each
/// runs in a `READ ONLY` transaction; see `server/src/pool.rs` for the transaction cases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_by_default() {
    use exo_runtime::Db;
    let pg = tokio::task::spawn_blocking(EphemeralPostgres::shared).await.unwrap().expect("ephemeral Postgres");
    let db = unique_db_name("exo_cli_ro");
    let url = pg.create_database(&db).unwrap();
    let config = ServerConfig::from_env(|k| (k == "EXO_POSTGRES_URL").then(|| url.clone())).unwrap();
    let pool = exo_server::Pool::new(&config.database, config.threads).unwrap();
    pool.check().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let err = conn.query("CREATE TABLE t (x int)", &[]).await.unwrap_err();
    assert!(err.0.contains("read-only"), "{}", err.0);
    drop(conn);
    drop(pool);
    pg.drop_database(&db).unwrap();
}

/// A statement is prepared once per pooled connection and stays prepared when the connection
/// goes back to the pool: the next checkout runs it without preparing it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_outlive_a_checkout() {
    use exo_runtime::Db;
    let pg = tokio::task::spawn_blocking(EphemeralPostgres::shared).await.unwrap().expect("ephemeral Postgres");
    let db = unique_db_name("exo_cli_prep");
    let url = pg.create_database(&db).unwrap();
    let config = ServerConfig::from_env(|k| match k {
        "EXO_POSTGRES_URL" => Some(url.clone()),
        "EXO_CONNECTION_POOL_SIZE" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let pool = exo_server::Pool::new(&config.database, config.threads).unwrap();
    let sql = "SELECT ($1::int + 1)::text";
    let prepared = "SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT ($1::int + 1)::text'";
    let mut names = Vec::new();
    for (round, input) in ["1", "41"].into_iter().enumerate() {
        let mut conn = pool.get().await.unwrap();
        let rows = conn.query(sql, &[Some(input.to_string())]).await.unwrap();
        let expected = (input.parse::<i32>().unwrap() + 1).to_string();
        assert_eq!(rows, vec![vec![Some(expected)]], "round {round}");
        let rows = conn.client().query(prepared, &[]).await.unwrap();
        assert_eq!(rows.len(), 1, "round {round}: the statement is prepared once on this connection");
        names.push(rows[0].get::<_, String>(0));
        drop(conn);
        // Let a Close (if one were sent on drop) reach the server before the next round.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(names[0], names[1], "the second checkout prepared the statement again");
    drop(pool);
    pg.drop_database(&db).unwrap();
}

/// With several HTTP threads, each with its own share of the pool, concurrent requests are all
/// answered correctly and the server never holds more connections than
/// `EXO_CONNECTION_POOL_SIZE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_share_the_pool_without_exceeding_it() {
    let TodoDatabase { _project, bytes, pg, db, url, client } = todo_database("exo_cli_threads").await;
    client
        .batch_execute(
            "INSERT INTO users (email, name) SELECT 'u' || g || '@example.com', 'User ' || g FROM generate_series(1, 4) g;
             INSERT INTO todos (title, completed, priority, user_id)
               SELECT 'todo ' || g, false, 'LOW', 1 + g % 4 FROM generate_series(1, 2000) g;",
        )
        .await
        .unwrap();

    let vars: HashMap<&str, String> = HashMap::from([
        ("EXO_POSTGRES_URL", url.clone()),
        ("EXO_JWT_SECRET", SECRET.into()),
        ("EXO_SERVER_HOST", "127.0.0.1".into()),
        ("EXO_SERVER_PORT", "0".into()),
        ("EXO_CONNECTION_POOL_SIZE", "3".into()),
        ("EXO_SERVER_THREADS", "2".into()),
    ]);
    let config = ServerConfig::from_env(|k| vars.get(k).cloned()).unwrap();
    assert_eq!(config.threads, 2);
    let server = Arc::new(Server::from_ir_bytes(&bytes, config, Box::new(|_| None)).await.unwrap());
    let listener = server.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.clone().serve_on(listener, async {
        let _ = stopped.await;
    }));

    let admin = token(json!({ "sub": 1, "role": "admin" }));
    let most_connections = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (most, watching) = (most_connections.clone(), watching.clone());
        tokio::spawn(async move {
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let n: i64 = client
                    .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exo' AND datname = current_database() AND pid <> pg_backend_pid()", &[])
                    .await
                    .unwrap()
                    .get(0);
                most.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    for _ in 0..3 {
        let requests: Vec<_> = (0..24)
            .map(|i| {
                let admin = admin.clone();
                tokio::spawn(async move {
                    let q =
                        format!("{{ todos(where: {{user: {{id: {{eq: {}}}}}}}) {{ id user {{ id }} }} }}", 1 + i % 4);
                    (i, graphql(addr, &admin, &q).await)
                })
            })
            .collect();
        for request in requests {
            let (i, r) = request.await.unwrap();
            let todos = r.json()["data"]["todos"].as_array().cloned().unwrap_or_else(|| panic!("{}", r.body));
            assert_eq!(todos.len(), 500, "request {i}");
            assert!(todos.iter().all(|t| t["user"]["id"] == json!(1 + i % 4)), "request {i}: another request's rows");
        }
    }
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    watcher.await.unwrap();
    let most = most_connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=3).contains(&most), "the server held {most} connections with EXO_CONNECTION_POOL_SIZE=3");

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    drop(server);
    pg.drop_database(&db).unwrap();
}
