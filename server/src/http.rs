//! HTTP/1.1 with hyper: routing, body limits, CORS and graceful shutdown. Everything GraphQL is
//! delegated to [`Server::handle`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Cors;
use crate::error::Error;
use crate::limits::Admission;
use crate::playground::{self, Asset};
use crate::{log, LiveServer, Server};

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// `Access-Control-Max-Age` for preflight answers.
const CORS_MAX_AGE: &str = "3600";

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
async fn serve_thread(live: Arc<LiveServer>, listener: TcpListener, admission: Admission, shutdown: impl Future<Output = ()>) {
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

async fn route(server: &Server, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let config = server.config();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);

    let playground = config.playground_path.as_deref().and_then(|base| playground::asset(&path, base, &config.graphql_path));
    let mut response = if let Some(asset) = playground {
        if method == Method::GET || method == Method::HEAD {
            asset_response(asset)
        } else {
            let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, &format!("`{method}` is not supported at `{path}`; open it in a browser (GET)"));
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
    } else if path != config.graphql_path {
        json_error(
            StatusCode::NOT_FOUND,
            &format!("nothing is served at `{path}`; send GraphQL requests to `POST {}`", config.graphql_path),
        )
    } else if method == Method::OPTIONS {
        preflight(&config.cors, origin.as_deref(), req.headers())
    } else if method == Method::POST {
        graphql(server, req, peer).await
    } else {
        let mut r = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "`{method}` is not supported at `{}`; send a `POST` with a JSON body such as \
                 {{\"query\": \"{{ __typename }}\"}} and `Content-Type: application/json`",
                config.graphql_path
            ),
        );
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        r
    };
    if method != Method::OPTIONS {
        if let Some(origin) = origin.as_deref() {
            allow_origin(&config.cors, origin, response.headers_mut());
        }
    }
    log::debug(&format!(
        "{peer} {method} {path} -> {} in {:.2} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

async fn graphql(server: &Server, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let limit = server.config().max_body_bytes;
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {limit} bytes; send a smaller query or fewer variables"),
        )
    };
    // A body that says it is something else than JSON is refused (a missing type is accepted):
    // `text/plain` and form posts are what browsers send cross-site without a preflight.
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let media = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" {
            return json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!(
                    "unsupported `Content-Type: {}`; send the GraphQL request as JSON with `Content-Type: application/json`",
                    ct.to_str().unwrap_or("(not text)")
                ),
            );
        }
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("cannot read the request body: {e}")),
    };
    let ip = peer.ip().to_string();
    let answer = server.handle(&body, &headers, Some(&ip)).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, answer.body)
}

/// Answers `OPTIONS`. A CORS preflight from an allowed origin gets the allow headers (every
/// method and header is allowed); one from any other origin gets none, so the browser blocks it.
fn preflight(cors: &Cors, origin: Option<&str>, request: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    let is_preflight = request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let Some(origin) = origin.filter(|_| is_preflight) else { return response };
    if !allow_origin(cors, origin, headers) {
        return response;
    }
    let methods = request
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("POST, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    if let Some(requested) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(CORS_MAX_AGE));
    response
}

/// Adds `Access-Control-Allow-Origin` (echoing the origin, so credentials work with `*` too)
/// when the origin is allowed. Returns whether it was.
fn allow_origin(cors: &Cors, origin: &str, headers: &mut HeaderMap) -> bool {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if !cors.allows(origin) {
        return false;
    }
    let Ok(value) = HeaderValue::from_str(origin) else { return false };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    true
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

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A GraphQL-shaped error body: `{"errors":[{"message":...}]}`.
fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, serde_json::json!({ "errors": [{ "message": message }] }).to_string())
}
