//! HTTP/1.1 with hyper: threads, connections, reading bodies and graceful shutdown. What a request
//! gets (routes, methods, content types, limits, CORS, the client address) is decided by the
//! runtime's shared edge (`exo_runtime::edge`), as in the Worker; GraphQL goes to
//! [`Server::handle`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use exo_runtime::edge::{self, HttpResponse, Route};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::error::Error;
use crate::limits::Admission;
use crate::playground::{self, Asset};
use crate::{log, LiveServer, Server};

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// Serves on `listener` from `threads` OS threads until `shutdown` completes, then lets
/// in-flight requests finish.
///
/// Each thread runs its own single-threaded tokio runtime, accepts from its own handle on the
/// shared listening socket (whichever thread is free takes the next connection) and uses its
/// own shard of the connection pool. A request, its hyper connection and the Postgres
/// connection it queries all live on one thread, so answering it never wakes another thread.
pub(crate) async fn serve(
    live: Arc<LiveServer>,
    listener: TcpListener,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let listener = listener.into_std().map_err(|e| Error::new(format!("cannot share the listening socket: {e}")))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), Error>>();
    let threads = threads.max(1);
    // One connection cap for all threads.
    let admission = Admission::new(live.current().config().http_limits.clone());
    for index in 0..threads {
        let started = listener
            .try_clone()
            .map_err(|e| Error::new(format!("cannot share the listening socket: {e}")))
            .and_then(|listener| {
                spawn_thread(index, listener, live.clone(), admission.clone(), stop_rx.clone(), done_tx.clone())
            });
        if let Err(e) = started {
            // Stop the threads already running before reporting.
            let _ = stop_tx.send(true);
            drop(done_tx);
            while done_rx.recv().await.is_some() {}
            return Err(e);
        }
    }
    drop((listener, done_tx));
    // A thread that cannot start ends the server instead of leaving it short-handed.
    let early = tokio::select! {
        _ = shutdown => None,
        ended = done_rx.recv() => Some(ended.unwrap_or(Ok(()))),
    };
    log::info("Shutting down: waiting for in-flight requests");
    let _ = stop_tx.send(true);
    let mut result = early.unwrap_or(Ok(()));
    while let Some(ended) = done_rx.recv().await {
        if result.is_ok() {
            result = ended;
        }
    }
    result
}

/// Starts HTTP thread `index`: a single-threaded runtime serving `listener` until `stop`
/// turns true; its outcome goes to `done`.
fn spawn_thread(
    index: usize,
    listener: std::net::TcpListener,
    live: Arc<LiveServer>,
    admission: Admission,
    mut stop: tokio::sync::watch::Receiver<bool>,
    done: tokio::sync::mpsc::UnboundedSender<Result<(), Error>>,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(format!("exo-http-{index}"))
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::new(format!("cannot start an HTTP thread's runtime: {e}")))
                .and_then(|rt| {
                    rt.block_on(async move {
                        crate::pool::set_thread_shard(index);
                        let listener = TcpListener::from_std(listener)
                            .map_err(|e| Error::new(format!("cannot listen on an HTTP thread: {e}")))?;
                        serve_thread(live, listener, admission, async move {
                            let _ = stop.wait_for(|stopped| *stopped).await;
                        })
                        .await;
                        Ok(())
                    })
                });
            let _ = done.send(result);
        })
        .map(drop)
        .map_err(|e| Error::new(format!("cannot start an HTTP thread: {e}")))
}

/// One HTTP thread: accepts and serves connections until `shutdown`, then drains them.
async fn serve_thread(
    live: Arc<LiveServer>,
    listener: TcpListener,
    admission: Admission,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        log::warn(&format!("cannot accept a connection: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // Over the connection cap: answered 503 and closed.
                let Some(admitted) = admission.admit(stream) else { continue };
                let live = live.clone();
                let activity = admitted.activity.clone();
                let service = service_fn(move |req| {
                    // Each request takes the model current when it arrives; a swap during the
                    // request does not affect it.
                    let server = live.current();
                    // While a request is answered, the connection's read deadlines pause.
                    let busy = activity.begin();
                    async move {
                        let response = route(&server, req, peer).await;
                        drop(busy);
                        Ok::<_, Infallible>(response)
                    }
                });
                let conn = graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(admitted.stream), service));
                let permit = admitted.permit;
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        log::debug(&format!("connection from {peer} ended with an error: {e}"));
                    }
                    drop(permit);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            log::warn(&format!("some requests were still running after {}s and were cut off", DRAIN_TIMEOUT.as_secs()));
        }
    }
}

/// Adapts hyper to the shared edge: every decision about the request is
/// [`Edge::route`](exo_runtime::edge::Edge::route)'s; this reads the body within its limit,
/// runs the engine and writes the answer.
async fn route(server: &Server, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let edge = server.edge();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_string(), header_text(v))).collect();
    let head = edge::Request { method: method.as_str(), path: &path, headers: &headers, peer: Some(peer.ip()) };
    let expects_continue =
        req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let response = match edge.route(&head) {
        Route::Respond(answer) => finish_unread(to_hyper(answer), req.into_body(), expects_continue).await,
        Route::Playground { file } => {
            let graphql_path = edge.graphql_path.as_str();
            match edge
                .playground_path
                .as_deref()
                .and_then(|base| playground::asset(base, file.as_deref(), graphql_path))
            {
                Some(asset) => {
                    let mut r = asset_response(asset);
                    let mut extra = Vec::new();
                    edge.decorate(&head, &mut extra);
                    add_headers(r.headers_mut(), extra);
                    r
                }
                None => to_hyper(edge.not_found(&head)),
            }
        }
        Route::GraphQl { client_ip } => {
            let limit = edge.max_body_bytes;
            let mut incoming = req.into_body();
            match read_body(&mut incoming, limit).await {
                Ok(body) => {
                    let started = Instant::now();
                    let (answer, counts) = server.handle_counted(&body, &headers, client_ip.as_deref()).await;
                    if log::requests_enabled() {
                        log_request(&body, &answer, counts, started);
                    }
                    to_hyper(edge.respond(&head, answer))
                }
                Err(BodyError::TooLarge) => finish_unread(to_hyper(edge.too_large(&head)), incoming, false).await,
                Err(BodyError::Unreadable(e)) => close(to_hyper(edge.unreadable_body(&head, &e))),
            }
        }
        Route::Health(health) => {
            let ok = match health {
                edge::Health::Live => true,
                edge::Health::Ready => match server.ready().await {
                    Ok(()) => true,
                    Err(e) => {
                        log::warn(&format!("not ready: {e}"));
                        false
                    }
                },
            };
            to_hyper(edge.health_answer(health, ok))
        }
        Route::Mcp { client_ip } => {
            let limit = edge.max_body_bytes;
            let mut incoming = req.into_body();
            match read_body(&mut incoming, limit).await {
                Ok(body) => {
                    let answer = server.handle_mcp(method.as_str(), &body, &headers, client_ip.as_deref()).await;
                    to_hyper(edge.respond_mcp(&head, answer))
                }
                Err(BodyError::TooLarge) => {
                    let answer = edge.respond_mcp(&head, exo_runtime::McpResponse::too_large(limit));
                    finish_unread(to_hyper(answer), incoming, false).await
                }
                Err(BodyError::Unreadable(e)) => close(to_hyper(edge.unreadable_body(&head, &e))),
            }
        }
    };
    log::debug(&format!(
        "{peer} {method} {path} -> {} in {:.2} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

/// Why a request body was not read.
enum BodyError {
    /// Longer than the limit; the rest is still unread.
    TooLarge,
    /// The connection broke or the chunking was bad.
    Unreadable(String),
}

/// Reads the whole body, or stops at the first frame past `limit` bytes.
async fn read_body(body: &mut Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            read.extend_from_slice(&data);
        }
    }
    Ok(read.freeze())
}

/// At most this much of a refused body is read and discarded before answering...
const DISCARD_MAX_BYTES: usize = 16 << 20;
/// ... and for at most this long.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a request whose body was refused unread (wrong content type, too large).
///
/// A client that is still sending when the answer arrives may not see it: closing a socket
/// with unread input resets the connection, which can discard the answer on the client's
/// side, and a client reusing the connection would send its next request into a closed
/// socket. So the rest of the body is read and discarded first, within bounds; past them the
/// answer says `Connection: close`, so that no client reuses the connection. A client that
/// waits for `100 Continue` is not asked for a body it need not send.
async fn finish_unread(response: Response<Body>, mut body: Incoming, expects_continue: bool) -> Response<Body> {
    use hyper::body::Body as _;
    if body.is_end_stream() {
        return response;
    }
    if expects_continue {
        return close(response);
    }
    let drained = tokio::time::timeout(DISCARD_TIMEOUT, async {
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len();
                if seen > DISCARD_MAX_BYTES {
                    return false;
                }
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if drained {
        response
    } else {
        close(response)
    }
}

/// Marks `response` as the connection's last.
fn close(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A header value as text. Bytes beyond ASCII are read as Latin-1, as the Fetch standard (and
/// so the Workers runtime) reads them: both hosts see the same text, e.g. a `Cookie` line
/// with one non-ASCII cookie still carries the token beside it.
fn header_text(value: &HeaderValue) -> String {
    match value.to_str() {
        Ok(text) => text.to_string(),
        Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

fn to_hyper(answer: HttpResponse) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    add_headers(response.headers_mut(), answer.headers);
    response
}

/// Appends headers (repeated names stay repeated, as `Vary` may be).
fn add_headers(map: &mut hyper::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        // The edge writes only names it knows and values from the request's own text headers.
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.append(name, value);
        }
    }
}

fn asset_response(asset: Asset) -> Response<Body> {
    let (body, content_type) = match asset {
        Asset::Page(html) => (Bytes::from(html), "text/html; charset=utf-8"),
        Asset::Static { body, content_type } => (Bytes::from_static(body), content_type),
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change only with the exo binary; revalidating them on localhost is cheap.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The request's log line: its operation's name, status, time, statements, rows and the
/// number of errors. Variables, headers (tokens) and the answer's data are never written.
fn log_request(body: &[u8], answer: &exo_runtime::Response, counts: crate::DbCounts, started: Instant) {
    let errors = if answer.body.starts_with("{\"errors\"") {
        serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("errors").and_then(|e| e.as_array()).map(Vec::len))
            .unwrap_or(1)
    } else {
        0
    };
    log::request(&log::RequestRecord {
        operation: &log::operation_name(body),
        status: answer.status,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        statements: counts.statements,
        rows: counts.rows,
        errors,
    });
}
