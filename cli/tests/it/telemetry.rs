//! OpenTelemetry as an operator sees it: `exo serve` with `EXO_ENABLE_OTEL` sends its spans
//! to OTLP receivers started here (`http/protobuf` on HTTP/1.1, `grpc` on HTTP/2), which
//! decode the `ExportTraceServiceRequest` protobuf with a decoder of their own; and a dead
//! collector neither fails nor slows requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exo_pg_ephemeral::EphemeralPostgres;
use serde_json::json;

use crate::production::{admin_token, http, todo_database, Serve, SECRET};

/// One export as received: its path, headers (lowercase names) and body.
#[derive(Clone, Debug)]
struct Export {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Received = Arc<Mutex<Vec<Export>>>;

/// An OTLP/HTTP receiver: answers every `POST` with an empty `ExportTraceServiceResponse`.
fn http_receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                // Requests on a kept-alive connection, until it closes.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    store.lock().unwrap().push(Export { path, headers, body });
                    let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
                    stream.write_all(reply.as_bytes()).unwrap();
                }
            });
        }
    });
    (port, received)
}

/// A gRPC reply: an empty message frame, then the trailers with `grpc-status: 0`.
struct GrpcOk(u8);

impl hyper::body::Body for GrpcOk {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0 += 1;
        std::task::Poll::Ready(match self.0 {
            1 => Some(Ok(hyper::body::Frame::data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0])))),
            2 => {
                let mut trailers = hyper::HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                Some(Ok(hyper::body::Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

/// An OTLP/gRPC receiver: HTTP/2 with prior knowledge; the body is the 5-byte gRPC frame
/// header and the message, which is stored without it.
fn grpc_receiver() -> (u16, Received) {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let store = received.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let store = store.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        let framed = req.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(framed[0], 0, "not compressed");
                        let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
                        assert_eq!(framed.len(), 5 + len, "one whole gRPC frame");
                        store.lock().unwrap().push(Export { path, headers, body: framed[5..].to_vec() });
                        let reply = hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(GrpcOk(0))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(reply)
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
    (port, received)
}

// --- A protobuf decoder of our own, by the field numbers of opentelemetry-proto -------------

#[derive(Debug, Clone)]
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    /// A `fixed32` (span flags), read and not checked.
    Fixed32,
}

fn varint(buf: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = buf[*i];
        *i += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Every field of one message, in order; panics on malformed input (the test fails).
fn fields(buf: &[u8]) -> Vec<(u64, Field<'_>)> {
    let mut out = vec![];
    let mut i = 0;
    while i < buf.len() {
        let key = varint(buf, &mut i);
        let field = match key & 7 {
            0 => Field::Varint(varint(buf, &mut i)),
            1 => {
                i += 8;
                Field::Fixed64(u64::from_le_bytes(buf[i - 8..i].try_into().unwrap()))
            }
            2 => {
                let len = varint(buf, &mut i) as usize;
                i += len;
                Field::Bytes(&buf[i - len..i])
            }
            5 => {
                i += 4;
                Field::Fixed32
            }
            wire => panic!("wire type {wire} in {buf:?}"),
        };
        out.push((key >> 3, field));
    }
    assert_eq!(i, buf.len(), "the message ends on a field boundary");
    out
}

fn bytes_of<'a>(msg: &[(u64, Field<'a>)], n: u64) -> Vec<&'a [u8]> {
    msg.iter()
        .filter(|(f, _)| *f == n)
        .map(|(_, v)| if let Field::Bytes(b) = v { *b } else { panic!("{v:?}") })
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[derive(Debug, Clone, PartialEq)]
enum Attr {
    Str(String),
    Int(i64),
}

/// `KeyValue { key = 1; AnyValue value = 2 }`, `AnyValue { string_value = 1; int_value = 3 }`.
fn attributes(msg: &[(u64, Field<'_>)], n: u64) -> HashMap<String, Attr> {
    bytes_of(msg, n)
        .into_iter()
        .map(|kv| {
            let kv = fields(kv);
            let key = text(bytes_of(&kv, 1)[0]);
            let any = fields(bytes_of(&kv, 2)[0]);
            let value = match &any[0] {
                (1, Field::Bytes(s)) => Attr::Str(text(s)),
                (3, Field::Varint(v)) => Attr::Int(*v as i64),
                other => panic!("unexpected AnyValue {other:?}"),
            };
            (key, value)
        })
        .collect()
}

#[derive(Debug, Clone)]
struct SpanSeen {
    trace_id: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    kind: u64,
    start: u64,
    end: u64,
    attributes: HashMap<String, Attr>,
    /// `Status.code` (2: error).
    status: u64,
}

/// `ExportTraceServiceRequest { resource_spans = 1 }` -> `ResourceSpans { resource = 1;
/// scope_spans = 2 }` -> `ScopeSpans { spans = 2 }` -> `Span`. Returns the resource's
/// attributes and the spans.
fn decode(body: &[u8]) -> (Vec<HashMap<String, Attr>>, Vec<SpanSeen>) {
    let mut resources = vec![];
    let mut spans = vec![];
    for rs in bytes_of(&fields(body), 1) {
        let rs = fields(rs);
        for resource in bytes_of(&rs, 1) {
            resources.push(attributes(&fields(resource), 1));
        }
        for ss in bytes_of(&rs, 2) {
            for span in bytes_of(&fields(ss), 2) {
                let s = fields(span);
                let one = |n| bytes_of(&s, n).first().map(|b| b.to_vec()).unwrap_or_default();
                let fixed = |n| {
                    s.iter()
                        .find_map(|(f, v)| match v {
                            Field::Fixed64(x) if *f == n => Some(*x),
                            _ => None,
                        })
                        .expect("a fixed64 time")
                };
                let kind = s.iter().find_map(|(f, v)| if let (6, Field::Varint(k)) = (f, v) { Some(*k) } else { None });
                let status = bytes_of(&s, 15)
                    .first()
                    .map(|st| {
                        fields(st)
                            .iter()
                            .find_map(|(f, v)| if let (3, Field::Varint(c)) = (f, v) { Some(*c) } else { None })
                            .unwrap_or(0)
                    })
                    .unwrap_or(0);
                spans.push(SpanSeen {
                    trace_id: one(1),
                    id: one(2),
                    parent: one(4),
                    name: text(&one(5)),
                    kind: kind.unwrap_or(0),
                    start: fixed(7),
                    end: fixed(8),
                    attributes: attributes(&s, 9),
                    status,
                });
            }
        }
    }
    (resources, spans)
}

/// Waits until the received spans satisfy `done`.
fn wait_for_spans(received: &Received, done: impl Fn(&[SpanSeen]) -> bool) -> Vec<SpanSeen> {
    let started = Instant::now();
    loop {
        let spans: Vec<SpanSeen> = received.lock().unwrap().iter().flat_map(|e| decode(&e.body).1).collect();
        if done(&spans) {
            return spans;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "spans never arrived; got {spans:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn children<'a>(spans: &'a [SpanSeen], root: &SpanSeen) -> Vec<&'a SpanSeen> {
    spans.iter().filter(|s| s.parent == root.id).collect()
}

fn names(spans: &[&SpanSeen]) -> Vec<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

/// `http/protobuf`: a query (planned, then from the plan cache), a mutation and a request
/// joining a caller's trace, each a server span with its stage and statement spans; names,
/// nesting, attributes and the `service.name` resource; no variable, token or secret in any
/// byte the collector receives.
#[test]
fn spans_reach_an_otlp_http_collector_without_values() {
    let pg = EphemeralPostgres::shared().expect("a cluster");
    let (tmp, project, db) = todo_database(pg, "exo_otel_http");
    let (port, received) = http_receiver();
    let url = pg.url_for(&db);
    let endpoint = format!("http://127.0.0.1:{port}");
    let serve = Serve::start(
        &project,
        &tmp.path().join("logs"),
        &[
            ("EXO_POSTGRES_URL", &url),
            ("EXO_POSTGRES_READ_WRITE", "true"),
            ("EXO_ENABLE_OTEL", "true"),
            ("OTEL_SERVICE_NAME", "exo-otel-test"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k%2C1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    let token = admin_token();
    let secret_value = "needle-variable-4471";
    let secret_title = "needle-title-9313";
    let query = "query FindTodos($t: String!) { todos(where: {title: {eq: $t}}) { id } }";
    for _ in 0..2 {
        assert_eq!(serve.graphql(query, json!({ "t": secret_value }), &token), json!({ "data": { "todos": [] } }));
    }
    let mutation = "mutation AddTodo($title: String!) { \
        createTodo(data: {title: $title, completed: false, priority: LOW, user: {id: 1}}) { id } }";
    let answer = serve.graphql(mutation, json!({ "title": secret_title }), &token);
    assert!(answer["data"]["createTodo"]["id"].is_number(), "{answer}");
    // A caller's trace: the server span is its child.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let body = json!({ "query": "{ todos { id } }" }).to_string();
    let headers = format!("Authorization: Bearer {token}\r\ntraceparent: 00-{caller_trace}-00f067aa0ba902b7-01\r\n");
    assert_eq!(http(serve.port, "POST", "/graphql", &headers, &body).0, 200);

    // An MCP tool call: a span named by the JSON-RPC method and tool, with the same children.
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "execute_query",
        "arguments": { "query": query, "variables": { "t": secret_value } } } })
    .to_string();
    let mcp_headers = format!("Authorization: Bearer {token}\r\nAccept: application/json\r\n");
    let (status, answer) = http(serve.port, "POST", "/mcp", &mcp_headers, &call);
    assert_eq!(status, 200, "{answer}");

    let spans = wait_for_spans(&received, |spans| spans.iter().filter(|s| s.kind == 2).count() >= 5);
    let roots: Vec<&SpanSeen> = spans.iter().filter(|s| s.kind == 2).collect();
    let root_names: Vec<&str> = roots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        root_names,
        ["query FindTodos", "query FindTodos", "mutation AddTodo", "query", "tools/call execute_query"],
        "{spans:#?}"
    );
    let mcp = roots[4];
    assert_eq!(mcp.attributes["mcp.method.name"], Attr::Str("tools/call".into()));
    assert_eq!(mcp.attributes["url.path"], Attr::Str("/mcp".into()));
    // Gated requests are always validated (never the plan-cache fast path).
    assert_eq!(
        names(&children(&spans, mcp)),
        ["graphql.context", "graphql.parse", "graphql.validate", "graphql.plan", "SELECT todos"]
    );

    // The first query is planned; the second comes from the plan cache.
    let first = children(&spans, roots[0]);
    assert_eq!(
        names(&first),
        ["graphql.context", "graphql.parse", "graphql.validate", "graphql.plan", "SELECT todos"],
        "{first:#?}"
    );
    assert_eq!(names(&children(&spans, roots[1])), ["graphql.context", "graphql.plan.cached", "SELECT todos"]);
    for root in &roots[..3] {
        assert!(root.parent.is_empty(), "a root span: {root:?}");
        assert_eq!(root.trace_id.len(), 16);
        assert_eq!(root.attributes["http.response.status_code"], Attr::Int(200));
        assert_eq!(root.attributes["exo.graphql.errors"], Attr::Int(0));
        assert_eq!(root.status, 0);
        for child in children(&spans, root) {
            assert_eq!(child.trace_id, root.trace_id, "one trace per request");
            assert!(
                root.start <= child.start && child.start <= child.end && child.end <= root.end,
                "{child:?} in {root:?}"
            );
        }
    }
    assert_ne!(roots[0].trace_id, roots[1].trace_id);
    assert_eq!(roots[0].attributes["graphql.operation.name"], Attr::Str("FindTodos".into()));
    assert_eq!(roots[0].attributes["graphql.operation.type"], Attr::Str("query".into()));
    assert_eq!(roots[2].attributes["graphql.operation.type"], Attr::Str("mutation".into()));
    assert_eq!(roots[0].attributes["url.path"], Attr::Str("/graphql".into()));
    let select = first.iter().find(|s| s.name == "SELECT todos").unwrap();
    assert_eq!(select.kind, 3, "a client span");
    assert_eq!(select.attributes["db.system"], Attr::Str("postgresql".into()));
    assert_eq!(select.attributes["db.operation.name"], Attr::Str("SELECT".into()));
    assert_eq!(select.attributes["db.collection.name"], Attr::Str("todos".into()));
    assert_eq!(select.attributes["db.response.returned_rows"], Attr::Int(1), "one row: the JSON list");
    let written = children(&spans, roots[2]);
    let insert = written.iter().find(|s| s.name == "INSERT todos").expect("the insert's span");
    assert_eq!(insert.attributes["db.operation.name"], Attr::Str("INSERT".into()));
    assert_eq!(insert.attributes["db.response.returned_rows"], Attr::Int(1));
    assert_eq!(
        roots[2].attributes["exo.db.statements"],
        Attr::Int(written.iter().filter(|s| s.kind == 3 && s.name != "BEGIN" && s.name != "COMMIT").count() as i64)
    );
    // The caller's trace and span.
    assert_eq!(hex(&roots[3].trace_id), caller_trace);
    assert_eq!(hex(&roots[3].parent), "00f067aa0ba902b7");

    let exports = received.lock().unwrap().clone();
    for export in &exports {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.headers["content-type"], "application/x-protobuf");
        assert_eq!(export.headers["x-collector-key"], "k,1", "OTEL_EXPORTER_OTLP_HEADERS, percent-decoded");
        let (resources, _) = decode(&export.body);
        assert_eq!(resources[0]["service.name"], Attr::Str("exo-otel-test".into()));
        let everything = format!("{:?}{}", export.headers, String::from_utf8_lossy(&export.body));
        for needle in [secret_value, secret_title, token.as_str(), SECRET, "Bearer"] {
            assert!(!everything.contains(needle), "`{needle}` was exported");
        }
    }
    drop(serve);
    pg.drop_database(&db).unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `grpc` (the default protocol): the unary `Export` call over HTTP/2. The schedule delay is a
/// minute, so the spans arrive only because stopping the server sends what is queued.
#[test]
fn spans_reach_an_otlp_grpc_collector_and_are_flushed_at_shutdown() {
    let pg = EphemeralPostgres::shared().expect("a cluster");
    let (tmp, project, db) = todo_database(pg, "exo_otel_grpc");
    let (port, received) = grpc_receiver();
    let url = pg.url_for(&db);
    let endpoint = format!("http://127.0.0.1:{port}");
    let serve = Serve::start(
        &project,
        &tmp.path().join("logs"),
        &[
            ("EXO_POSTGRES_URL", &url),
            ("EXO_ENABLE_OTEL", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer collector-token"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    );
    let answer = serve.graphql("query Titles { todos { title } }", json!({}), &admin_token());
    assert_eq!(answer, json!({ "data": { "todos": [{ "title": "first" }] } }));
    std::thread::sleep(Duration::from_millis(300));
    assert!(received.lock().unwrap().is_empty(), "nothing is sent before the schedule delay");
    drop(serve);
    let spans = wait_for_spans(&received, |spans| !spans.is_empty());
    let root = spans.iter().find(|s| s.kind == 2).expect("a server span");
    assert_eq!(root.name, "query Titles");
    assert_eq!(
        names(&children(&spans, root)),
        ["graphql.context", "graphql.parse", "graphql.validate", "graphql.plan", "SELECT todos"]
    );
    let exports = received.lock().unwrap().clone();
    assert_eq!(exports[0].path, "/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    assert_eq!(exports[0].headers["content-type"], "application/grpc");
    assert_eq!(exports[0].headers["authorization"], "Bearer collector-token");
    assert_eq!(decode(&exports[0].body).0[0]["service.name"], Attr::Str("exo".into()), "the default service name");
    pg.drop_database(&db).unwrap();
}

/// A collector that accepts connections and never answers, and one that refuses them: every
/// request is answered as fast as without telemetry (the export waits in its own thread and
/// spans beyond the queue are dropped), failures are logged, and stopping is not held up past
/// the shutdown bound.
#[test]
fn a_dead_collector_neither_fails_nor_slows_requests() {
    let pg = EphemeralPostgres::shared().expect("a cluster");
    let (tmp, project, db) = todo_database(pg, "exo_otel_dead");
    let url = pg.url_for(&db);
    // Accepts, reads nothing, answers nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(vec![]));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in silent.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    let refused_port = crate::free_port();
    let token = admin_token();
    for (name, port, protocol) in [("silent", silent_port, "http/protobuf"), ("refused", refused_port, "grpc")] {
        let endpoint = format!("http://127.0.0.1:{port}");
        let serve = Serve::start(
            &project,
            &tmp.path().join(name),
            &[
                ("EXO_POSTGRES_URL", &url),
                ("EXO_ENABLE_OTEL", "true"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
                ("OTEL_BSP_SCHEDULE_DELAY", "10"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
            ],
        );
        let mut slowest = Duration::ZERO;
        for i in 0..60 {
            let started = Instant::now();
            let answer = serve.graphql("query($id: Int!) { todo(id: $id) { title } }", json!({ "id": 1 }), &token);
            slowest = slowest.max(started.elapsed());
            assert_eq!(answer, json!({ "data": { "todo": { "title": "first" } } }), "{name}, request {i}");
        }
        assert!(slowest < Duration::from_secs(2), "{name}: the slowest request took {slowest:?}");
        if name == "refused" {
            let started = Instant::now();
            loop {
                let (_, stderr) = serve.output();
                if stderr.contains("OpenTelemetry: exporting spans to") {
                    assert!(stderr.contains("cannot connect"), "{stderr}");
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(20), "no export failure was logged:\n{stderr}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let stopping = Instant::now();
        drop(serve);
        assert!(stopping.elapsed() < Duration::from_secs(12), "{name}: stopping took {:?}", stopping.elapsed());
    }
    pg.drop_database(&db).unwrap();
}
