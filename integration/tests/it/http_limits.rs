//! Limits and malformed requests over real HTTP: the native server on a socket, spoken to with
//! hand-written HTTP/1.1 so that every byte (wrong lengths, content types, methods) is ours.
//! Every answer must be a GraphQL error object with a fitting status, never a dropped
//! connection or a hang.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub(crate) db: TestDb,
}

impl Running {
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.expect("the server task ends cleanly");
    }
}

/// The todo example served on an ephemeral port, with extra `EXO_*` settings.
async fn serve(envs: &[(&str, &str)]) -> Running {
    serve_ir(compile_example("todo"), "http_limits", envs).await
}

/// A model served on an ephemeral port of 127.0.0.1 (its own database), with extra `EXO_*`
/// settings over introspection on, a JWT secret and two connections.
pub(crate) async fn serve_ir(ir: exo_ir::Ir, prefix: &str, envs: &[(&str, &str)]) -> Running {
    let (db, client) = database_for(&ir, prefix).await;
    drop(client);
    let mut vars: std::collections::HashMap<String, String> = [
        ("EXO_POSTGRES_URL", db.url.as_str()),
        ("EXO_JWT_SECRET", JWT_SECRET),
        ("EXO_INTROSPECTION", "true"),
        ("EXO_CONNECTION_POOL_SIZE", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start(ir, db, vars).await
}

/// Serves `ir` over `db` on an ephemeral port with exactly the settings in `vars`.
pub(crate) async fn start(ir: exo_ir::Ir, db: TestDb, vars: std::collections::HashMap<String, String>) -> Running {
    let lookup = move |k: &str| vars.get(k).cloned();
    let config = exo_server::ServerConfig::from_env(&lookup).expect("config");
    let server = exo_server::Server::new(exo_runtime::System::new(ir), config, Box::new(lookup)).await.expect("server");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        Arc::new(server)
            .serve_on(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    Running { addr, stop: Some(stop), task, db }
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Json,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first error's message, after checking the body is a spec-shaped error response.
    pub(crate) fn error(&self) -> &str {
        let errors = self.body["errors"].as_array().unwrap_or_else(|| panic!("no `errors` in {}", self.body));
        assert!(!errors.is_empty(), "empty `errors`");
        assert!(self.body.get("data").is_none(), "errors come without data: {}", self.body);
        errors[0]["message"].as_str().unwrap_or_else(|| panic!("no message in {}", self.body))
    }
}

/// Sends raw bytes (head and body written concurrently with reading, so a server that answers
/// before reading everything cannot deadlock us) and parses the response. The 60 s bound
/// turns a hang into a failure instead of a stuck test run; it is not a speed assertion.
pub(crate) async fn raw(addr: SocketAddr, head: String, body: Vec<u8>) -> Reply {
    let run = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            // The server may answer and close before the whole body is sent: that is fine.
            let _ = wr.write_all(head.as_bytes()).await;
            for chunk in body.chunks(64 * 1024) {
                if wr.write_all(chunk).await.is_err() {
                    break;
                }
            }
            let _ = wr.flush().await;
            wr
        });
        let mut buf = Vec::new();
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match rd.read(&mut tmp).await {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                // A reset after the full response (the server closed with unread body) is fine.
                Err(_) if !buf.is_empty() => break,
                Err(e) => panic!("connection failed before any response: {e}"),
            }
            if complete(&buf) {
                break;
            }
        }
        writer.abort();
        parse(&buf)
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), run).await.expect("the server answered")
}

/// Whether `buf` holds a whole response with a `Content-Length` body.
fn complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    len.is_some_and(|n| buf.len() >= end + 4 + n)
}

fn parse(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let body_bytes = &buf[end + 4..];
    let body = if body_bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(body_bytes)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(body_bytes)))
    };
    Reply { status, headers, body }
}

/// Posts as the todo example's admin (anonymous callers are refused by its rules).
async fn post(addr: SocketAddr, content_type: Option<&str>, body: &[u8]) -> Reply {
    let ct = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    let auth = format!("Authorization: Bearer {}\r\n", token(json!({"sub": 1, "role": "admin"})));
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\n{ct}{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw(addr, head, body.to_vec()).await
}

async fn query(addr: SocketAddr, q: &str) -> Reply {
    post(addr, Some("application/json"), json!({ "query": q }).to_string().as_bytes()).await
}

/// `{ users { todos { user { ... } } } }` with `depth` fields on the deepest path.
fn nested(depth: usize) -> String {
    let mut q = "id".to_string();
    for level in (1..depth).rev() {
        let field = match level {
            1 => "users",
            l if l % 2 == 0 => "todos",
            _ => "user",
        };
        q = format!("{field} {{ id {q} }}");
    }
    format!("{{ {q} }}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_malformed_requests_get_graphql_errors() {
    let server = serve(&[]).await;
    let addr = server.addr;

    // A normal request works, so the failures below are about what they test.
    let ok = query(addr, "{ todosAgg { id { count } } }").await;
    assert_eq!((ok.status, ok.body.clone()), (200, json!({"data": {"todosAgg": {"id": {"count": 0}}}})));
    assert_eq!(ok.header("content-type"), Some("application/json"));

    // Selection depth: the default is 5, root fields at depth 1; the error points at the
    // first field that is too deep.
    let r = query(addr, &nested(5)).await;
    assert_eq!(r.body, json!({"data": {"users": []}}), "depth 5 is allowed");
    let q = "{\n users {\n  todos {\n   user {\n    todos {\n     user {\n      id\n      name\n     }\n    }\n   }\n  }\n }\n}";
    let r = query(addr, q).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"errors": [{"message": "Selection set too deep", "locations": [{"line": 7, "column": 7}]}]})
    );
    // Through a fragment the depth is the same.
    let r = query(addr, "fragment U on User { todos { user { todos { user { id } } } } } { users { ...U } }").await;
    assert_eq!(r.error(), "Selection set too deep");
    // Introspection may go deeper (15), which graphql-js's introspection query needs.
    let r = query(addr, "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }").await;
    assert!(r.body["data"]["__schema"]["types"].is_array(), "{}", r.body);
    let deep_introspection = format!(
        "{{ __schema {{ queryType {{ {}name{} }} }} }}",
        "fields { type { ofType { ".repeat(5),
        " } } }".repeat(5)
    );
    let r = query(addr, &deep_introspection).await;
    assert_eq!(r.error(), "Selection set too deep", "depth 18 of introspection");

    // Too many tokens: the parser stops, with graphql-js's message.
    let many = format!("{{ todos {{ {} }} }}", "id ".repeat(15_000));
    let r = query(addr, &many).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error(), "Syntax Error: Document contains more than 15000 tokens. Parsing aborted.");

    // Nesting beyond the parser's bound (64), in a value or in selections, stops the parser
    // before it can exhaust the stack.
    let r = query(
        addr,
        &format!("{{ todos(where: {{title: {{eq: {}\"x\"{}}}}}) {{ id }} }}", "[".repeat(200), "]".repeat(200)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.error().contains("levels of nesting"), "{}", r.error());
    let r = query(addr, &format!("{}{}", "{ users ".repeat(500), "}".repeat(500))).await;
    assert!(r.error().contains("levels of nesting"), "{}", r.error());
    // Deeply nested JSON variables are refused while the body is read.
    let vars = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let body = format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{\"v\": {vars}}}}}");
    let r = post(addr, Some("application/json"), body.as_bytes()).await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Invalid request body"), "{}", r.error());

    // A document over the parser's size bound (1 MiB) but under the body limit (2 MiB).
    let big = format!("{{ todos {{ id }} }} #{}", "x".repeat(1_100_000));
    let r = query(addr, &big).await;
    assert!(r.error().contains("larger than") || r.error().contains("bytes"), "{}", r.error());

    // A body over the limit: declared with Content-Length (refused before it is read) ...
    let head = "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\n";
    let r = raw(addr, head.to_string(), b"{\"query\": \"".to_vec()).await;
    assert_eq!(r.status, 413);
    assert!(r.error().contains("larger than"), "{}", r.error());
    // ... or streamed in chunks with no declared length (refused once the limit is passed).
    let mut chunked = Vec::new();
    let payload = format!(
        "{{\"query\": \"{{ todos {{ id }} }}\", \"pad\": \"{}\"}}",
        "y".repeat(exo_server::DEFAULT_MAX_BODY_BYTES)
    );
    for piece in payload.as_bytes().chunks(100_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let r = raw(addr, head.to_string(), chunked).await;
    assert_eq!(r.status, 413);
    r.error();

    // A small chunked body is read like any other.
    let head = "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let r = raw(addr, head.to_string(), b"c\r\n{\"query\": \"{\r\nf\r\n __typename }\"}\r\n0\r\n\r\n".to_vec()).await;
    assert_eq!(r.body, json!({"data": {"__typename": "Query"}}));

    // Malformed bodies.
    for (body, expect) in [
        (&b"{\"query\": "[..], "Invalid request body"),
        (&b""[..], "Invalid request body"),
        (&b"\xff\xfe{}"[..], "Invalid request body"),
        (&b"[{\"query\": \"{ __typename }\"}]"[..], "`query` string"),
        (&b"{\"query\": 42}"[..], "`query` string"),
        (&b"{\"query\": \"{ __typename }\", \"variables\": [1]}"[..], "`variables` must be an object"),
    ] {
        let r = post(addr, Some("application/json"), body).await;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(r.error().contains(expect), "{:?}: {}", String::from_utf8_lossy(body), r.error());
    }
    // A syntax error in the document is a GraphQL error with a location.
    let r = query(addr, "{ todos { id ").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["errors"][0]["locations"], json!([{"line": 1, "column": 14}]));

    // Content types: JSON (with parameters, any case) is accepted; anything else, and a
    // missing type (what `fetch` sends for an untyped Blob), is refused before the body is read.
    let body = br#"{"query": "{ __typename }"}"#;
    for ct in ["application/json", "Application/JSON; charset=utf-8"] {
        let r = post(addr, Some(ct), body).await;
        assert_eq!((r.status, r.body.clone()), (200, json!({"data": {"__typename": "Query"}})), "{ct:?}");
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/graphql"),
    ] {
        let r = post(addr, ct, body).await;
        assert_eq!(r.status, 415, "{ct:?}");
        assert!(r.error().contains("application/json"), "{ct:?}: {}", r.error());
    }

    // Methods: GET (even with a query string) and PUT are not GraphQL endpoints here; OPTIONS
    // answers without a body; other paths are 404. All with GraphQL-shaped errors.
    let r = raw(
        addr,
        "GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(),
        vec![],
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    assert!(r.error().contains("POST"), "{}", r.error());
    let r = raw(
        addr,
        "PUT /graphql HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n".into(),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.status, 405);
    r.error();
    let r = raw(addr, "OPTIONS /graphql HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(), vec![]).await;
    assert_eq!(r.status, 204);
    let r = raw(
        addr,
        "POST /other HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n".into(),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.status, 404);
    r.error();

    // Garbage that is not HTTP at all: the connection ends with a 400 or is closed, and the
    // server keeps serving.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"\x00\x01 not http\r\n\r\n").await;
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    })
    .await
    .expect("the server closes a garbage connection");
    let r = query(addr, "{ __typename }").await;
    assert_eq!(r.body, json!({"data": {"__typename": "Query"}}));

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_selection_depth_is_configurable() {
    let server = serve(&[("EXO_MAX_SELECTION_DEPTH", "7")]).await;
    let r = query(server.addr, &nested(7)).await;
    assert_eq!(r.body, json!({"data": {"users": []}}));
    let r = query(server.addr, &nested(8)).await;
    assert_eq!(r.error(), "Selection set too deep");
    server.shutdown().await;

    let server = serve(&[("EXO_MAX_SELECTION_DEPTH", "1")]).await;
    let r = query(server.addr, "{ todosAgg { id { count } } }").await;
    assert_eq!(
        r.body,
        json!({"errors": [{"message": "Selection set too deep", "locations": [{"line": 1, "column": 14}]}]})
    );
    let r = query(server.addr, "{ __typename }").await;
    assert_eq!(r.body, json!({"data": {"__typename": "Query"}}));
    server.shutdown().await;
}

/// Reads one whole response (with a `Content-Length` body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    while !complete(&buf) {
        let n = stream.read(&mut tmp).await.expect("the server answers");
        assert!(n > 0, "the connection closed before a whole response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&tmp[..n]);
    }
    parse(&buf)
}

/// Sends `body` as one chunk of a chunked request (no declared length, so the server finds
/// out the size only by reading) and its terminating chunk.
async fn send_chunked(stream: &mut TcpStream, content_type: &str, body: &[u8]) {
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
}

/// A refused body (too large, or of the wrong type) is read to its end before the answer, so
/// the client sees the answer and may send its next request on the same connection: the flaw
/// was a connection closed with the body unread, which a keep-alive client (Node's `fetch`)
/// then reused ("other side closed"). A body too large even to discard gets
/// `Connection: close`, so that no client reuses that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bodies_leave_the_connection_usable() {
    let server = serve(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let typename = json!({ "query": "{ __typename }" }).to_string();

    send_chunked(&mut stream, "application/json", &vec![b' '; 3 << 20]).await;
    let r = read_response(&mut stream).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.header("connection").is_none(), "{:?}", r.headers);

    send_chunked(&mut stream, "text/plain", &vec![b'x'; 200 << 10]).await;
    let r = read_response(&mut stream).await;
    assert_eq!(r.status, 415, "{:?}", r.body);

    send_chunked(&mut stream, "application/json", typename.as_bytes()).await;
    let r = read_response(&mut stream).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"data": {"__typename": "Query"}})));

    // Past what is worth discarding: answered, and the connection is closed.
    let mut big = TcpStream::connect(server.addr).await.unwrap();
    let head =
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    big.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = big.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..40 {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if wr.write_all(&framed).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    while !complete(&buf) {
        match rd.read(&mut tmp).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
            other => panic!("no whole answer before the connection ended: {other:?}"),
        }
    }
    writer.abort();
    let r = parse(&buf);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"), "{:?}", r.headers);
    server.shutdown().await;
}
