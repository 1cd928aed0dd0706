//! The bounds on what one request may cost, over real HTTP against a real Postgres: the
//! statement timeout, the response size, operation size, a busy pool, and the connection
//! layer's header-read and idle timeouts and connection cap. Each test shows the bound holding,
//! the answer the client gets, and a normal request succeeding afterwards.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::http_limits::{start, Running};

/// Todos seeded for user 1.
const TODOS: usize = 1000;

/// The todo example with one user owning 1,000 todos, served with extra `EXO_*` settings.
async fn serve(envs: &[(&str, &str)]) -> Running {
    let ir = compile_example("todo");
    let (db, client) = database_for(&ir, "bounds").await;
    client
        .0
        .batch_execute(&format!(
            "INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann');
             INSERT INTO todos (title, user_id) SELECT 'todo number ' || n, 1 FROM generate_series(1, {TODOS}) n;"
        ))
        .await
        .expect("seed");
    drop(client);
    let mut vars: std::collections::HashMap<String, String> = [
        ("EXO_POSTGRES_URL", db.url.as_str()),
        ("EXO_JWT_SECRET", JWT_SECRET),
        ("EXO_CONNECTION_POOL_SIZE", "2"),
        ("EXO_SERVER_THREADS", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start(ir, db, vars).await
}

/// Posts `query` as user 1 on a fresh connection; returns the status and the JSON body. The
/// 60 s bound turns a hang into a failure; it is not a speed assertion.
async fn post(addr: SocketAddr, query: &str) -> (u16, Json) {
    post_with(addr, query, json!({})).await
}

/// [`post`] with variables.
async fn post_with(addr: SocketAddr, query: &str, variables: Json) -> (u16, Json) {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        token(json!({"sub": 1})),
        body.len()
    );
    let run = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("the server answered")
}

fn parse(raw: &[u8]) -> (u16, Json) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, body)
}

fn first_error(body: &Json) -> &str {
    assert!(body.get("data").is_none(), "an error comes without data: {body}");
    body["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("no error in {body}"))
}

/// The normal request every test ends with: it must still work after the bound was hit.
async fn assert_normal_request_works(addr: SocketAddr) {
    let (status, body) = post(addr, "{ todos(limit: 2, orderBy: {id: ASC}) { id } }").await;
    assert_eq!((status, body), (200, json!({"data": {"todos": [{"id": 1}, {"id": 2}]}})));
}

/// `todos { user { todos { user { todos { id } } } } }` over 1,000 todos is 10^9 rows: only
/// the statement timeout ends it. It is six deep, so the tests allow that.
const HUGE: &str = "{ todos { user { todos { user { todos { id } } } } } }";
const DEEP_ENOUGH: (&str, &str) = ("EXO_MAX_SELECTION_DEPTH", "6");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancels_a_statement_past_the_timeout() {
    let server = serve(&[("EXO_STATEMENT_TIMEOUT_MS", "400"), DEEP_ENOUGH]).await;
    let started = Instant::now();
    let (status, body) = post(server.addr, HUGE).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    let message = first_error(&body);
    assert!(message.contains("cancelled after 400 ms") && message.contains("`EXO_STATEMENT_TIMEOUT_MS`"), "{message}");
    // Cancelled by Postgres, not left running: far below the minutes the query needs.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The connection came back clean: no timeout left on it, no open transaction.
    assert_normal_request_works(server.addr).await;
    assert_normal_request_works(server.addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_size_bound_is_refused() {
    let server = serve(&[("EXO_MAX_RESPONSE_BYTES", "20000")]).await;
    // 1,000 todos with titles are about 40 KB.
    let (status, body) = post(server.addr, "{ todos { id title } }").await;
    assert_eq!(status, 200);
    let message = first_error(&body);
    assert!(message.contains("larger than 20000 bytes") && message.contains("`EXO_MAX_RESPONSE_BYTES`"), "{message}");
    // Several root fields that each fit but together do not.
    let q = "{ a: todos(limit: 300) { id title } b: todos(limit: 300) { id title } }";
    let (_, body) = post(server.addr, q).await;
    assert!(first_error(&body).contains("`EXO_MAX_RESPONSE_BYTES`"), "{body}");
    let (_, body) = post(server.addr, "{ todos(limit: 100) { id title } }").await;
    assert_eq!(body["data"]["todos"].as_array().map(Vec::len), Some(100), "{body}");
    assert_normal_request_works(server.addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_over_the_cap_is_an_error_not_a_shorter_list() {
    // The default cap (1,000) answers the 1,000 todos whole.
    let server = serve(&[]).await;
    let (_, body) = post(server.addr, "{ todos { id } }").await;
    assert_eq!(body["data"]["todos"].as_array().map(Vec::len), Some(TODOS), "{body}");
    server.shutdown().await;

    let server = serve(&[("EXO_MAX_LIST_ROWS", "999")]).await;
    let over = "The list `todos` has more than 999 rows (`EXO_MAX_LIST_ROWS`); read it in pages with `limit` \
                (at most 999) and `offset`, or narrow it with `where`";
    // At the root, aliased (the alias is named), and nested under another list.
    for (query, name) in [
        ("{ todos { id } }", "todos"),
        ("{ mine: todos { id } }", "mine"),
        ("{ users { id todos { id } } }", "todos"),
        ("{ user(id: 1) { todos { id } } }", "todos"),
    ] {
        let (status, body) = post(server.addr, query).await;
        assert_eq!(status, 200);
        assert_eq!(first_error(&body), over.replace("`todos`", &format!("`{name}`")), "{query}");
    }
    // Within the cap, a filter or a page reads what it asks for; aggregates count every row.
    let (_, body) = post(server.addr, r#"{ todos(where: {id: {gt: 1}}) { id } }"#).await;
    assert_eq!(body["data"]["todos"].as_array().map(Vec::len), Some(999), "{body}");
    let (_, body) = post(server.addr, "{ todosAgg { id { count } } }").await;
    assert_eq!(body, json!({"data": {"todosAgg": {"id": {"count": TODOS}}}}));
    // An explicit `limit` above the cap is refused before any SQL, as a literal and as a
    // variable of the same (cached) document that another value passes.
    let (_, body) = post(server.addr, "{ todos(limit: 1000) { id } }").await;
    assert!(first_error(&body).starts_with("`limit` is 1000, above the most rows a list may answer, 999"), "{body}");
    let q = "query($n: Int) { todos(limit: $n, offset: 998, orderBy: {id: ASC}) { id } }";
    let (_, body) = post_with(server.addr, q, json!({"n": 2})).await;
    assert_eq!(body, json!({"data": {"todos": [{"id": 999}, {"id": 1000}]}}));
    let (_, body) = post_with(server.addr, q, json!({"n": 5000})).await;
    assert!(first_error(&body).contains("(`EXO_MAX_LIST_ROWS`)"), "{body}");
    // Without a value, the same document is capped.
    let q = "query($n: Int) { todos(limit: $n) { id } }";
    for n in [json!(3), json!(null), json!(null)] {
        let (_, body) = post_with(server.addr, q, json!({ "n": n })).await;
        if n.is_null() {
            assert_eq!(first_error(&body), over);
        } else {
            assert_eq!(body["data"]["todos"].as_array().map(Vec::len), Some(3), "{body}");
        }
    }
    assert_normal_request_works(server.addr).await;
    server.shutdown().await;

    // `0` turns the cap off.
    let server = serve(&[("EXO_MAX_LIST_ROWS", "0")]).await;
    let (_, body) = post(server.addr, "{ todos(limit: 5000) { id } }").await;
    assert_eq!(body["data"]["todos"].as_array().map(Vec::len), Some(TODOS), "{body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_size_limits() {
    let server =
        serve(&[("EXO_MAX_ROOT_FIELDS", "10"), ("EXO_MAX_FIELDS_PER_SELECTION", "5"), ("EXO_MAX_FIELDS", "40")]).await;
    let addr = server.addr;
    let aliases = |n: usize| (0..n).map(|i| format!("a{i}: todos(limit: 1) {{ id }}")).collect::<Vec<_>>().join(" ");

    let (_, body) = post(addr, &format!("{{ {} }}", aliases(10))).await;
    assert_eq!(body["data"].as_object().map(|o| o.len()), Some(10), "10 root fields are allowed: {body}");
    let (status, body) = post(addr, &format!("{{ {} }}", aliases(11))).await;
    assert_eq!(status, 200);
    assert_eq!(
        first_error(&body),
        "The operation has more than 10 root fields (aliases and fragments included; `EXO_MAX_ROOT_FIELDS`)"
    );
    // It points at the eleventh field.
    let eleventh = format!("{{ {} ", aliases(10)).len() + 1;
    assert_eq!(body["errors"][0]["locations"], json!([{"line": 1, "column": eleventh}]));

    // Per selection set, counted through fragments.
    let (_, body) = post(addr, "fragment F on Todo { a: id b: id c: id } { todos { ...F d: id e: id f: id } }").await;
    assert!(first_error(&body).contains("more than 5 fields in one selection set"), "{body}");

    // In total: 9 root fields of 5 fields each.
    let five = "a: id b: id c: id d: id e: title";
    let q = format!(
        "{{ {} }}",
        (0..9).map(|i| format!("t{i}: todos(limit: 1) {{ {five} }}")).collect::<Vec<_>>().join(" ")
    );
    let (_, body) = post(addr, &q).await;
    assert!(first_error(&body).contains("more than 40 fields in all"), "{body}");

    assert_normal_request_works(addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_stops_at_the_spread_bound() {
    // The field bounds raised, so that the spread bound is the one reached.
    let server = serve(&[("EXO_MAX_FIELDS_PER_SELECTION", "1000000"), ("EXO_MAX_FIELDS", "1000000")]).await;
    // 2^30 spreads after expansion, in a few hundred bytes: each fragment spreads the next twice.
    let mut q = String::from("{ todos(limit: 1) { ...F0 } }");
    for i in 0..30 {
        q.push_str(&format!(" fragment F{i} on Todo {{ id ...F{n} ...F{n} }}", n = i + 1));
    }
    q.push_str(" fragment F30 on Todo { id }");
    let started = Instant::now();
    let (status, body) = post(server.addr, &q).await;
    assert_eq!(status, 200);
    assert!(first_error(&body).contains("more than 500 fragment spreads (`EXO_MAX_FRAGMENT_SPREADS`)"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(20), "the walk stopped early");
    assert_normal_request_works(server.addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_answers_busy_instead_of_queueing() {
    let server = serve(&[
        ("EXO_CONNECTION_POOL_SIZE", "1"),
        ("EXO_CONNECTION_POOL_TIMEOUT_MS", "200"),
        ("EXO_STATEMENT_TIMEOUT_MS", "3000"),
        DEEP_ENOUGH,
    ])
    .await;
    let addr = server.addr;
    // Holds the only connection for up to 3 s.
    let slow = tokio::spawn(async move { post(addr, HUGE).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = post(addr, "{ todos(limit: 1) { id } }").await;
    assert_eq!(status, 200);
    let message = first_error(&body);
    assert!(
        message.starts_with("The server is busy") && message.contains("`EXO_CONNECTION_POOL_TIMEOUT_MS`"),
        "{message}"
    );
    let (_, slow_body) = slow.await.unwrap();
    assert!(first_error(&slow_body).contains("`EXO_STATEMENT_TIMEOUT_MS`"), "{slow_body}");
    assert_normal_request_works(addr).await;
    server.shutdown().await;
}

/// Reads until the server closes the connection; the bytes read, or `None` if it stayed open
/// for `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().map(|_| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let server = serve(&[("EXO_HTTP_HEADER_TIMEOUT_MS", "300"), ("EXO_HTTP_IDLE_TIMEOUT_MS", "600")]).await;
    let addr = server.addr;

    // Half a request head, then nothing: closed after the header timeout, with no answer.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /graphql HTTP/1.1\r\nHost: te").await.unwrap();
    let got = closed_within(&mut half, Duration::from_secs(10)).await.expect("closed after the header timeout");
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));

    // A connection that never sends anything is idle: closed after the idle timeout.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    closed_within(&mut silent, Duration::from_secs(10)).await.expect("closed after the idle timeout");
    assert!(opened.elapsed() >= Duration::from_millis(500), "not before the idle timeout: {:?}", opened.elapsed());

    // Keep-alive: a request answered, then idle, then closed. A slow request is not cut by
    // the header timeout while it is being answered.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    let body = json!({"query": "{ todos(limit: 1) { id } }"}).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
        token(json!({"sub": 1})),
        body.len()
    );
    kept.write_all(request.as_bytes()).await.unwrap();
    let got = closed_within(&mut kept, Duration::from_secs(10)).await.expect("closed after the idle timeout");
    let (status, reply) = parse(&got);
    assert_eq!((status, reply), (200, json!({"data": {"todos": [{"id": 1}]}})));

    assert_normal_request_works(addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let server = serve(&[("EXO_HTTP_MAX_CONNECTIONS", "3")]).await;
    let addr = server.addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let got = closed_within(&mut fourth, Duration::from_secs(10)).await.expect("answered and closed");
    let (status, body) = parse(&got);
    assert_eq!(status, 503);
    assert!(first_error(&body).contains("`EXO_HTTP_MAX_CONNECTIONS`"), "{body}");

    // A freed place is taken again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_normal_request_works(addr).await;
    drop(held);
    server.shutdown().await;
}
