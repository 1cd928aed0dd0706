//! Bounds at the connection layer of the native server: how many HTTP connections may be open
//! at once, how long a client may take to send a request head, how long an idle keep-alive
//! connection stays open, and how long a write may stall on a client that does not read.
//!
//! The time bounds live in [`Guarded`], a wrapper around each accepted socket: hyper keeps a
//! read pending whenever it waits for a request, so the wrapper's timer is polled with it and a
//! passed deadline turns into a read error, which ends the connection. While a request is being
//! answered ([`Activity::begin`] until the guard drops) no read deadline applies: the request
//! has its own bounds (statement timeout, response size).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::error::Error;

/// The HTTP bounds, each an `EXO_*` setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// From the first byte of a request to the end of its head (`EXO_HTTP_HEADER_TIMEOUT_MS`).
    pub header_timeout: Duration,
    /// From the end of a request's head to the end of its body (`EXO_HTTP_BODY_TIMEOUT_MS`): a
    /// client that trickles its body, or stops sending it, gets `408` and the connection closes.
    pub body_timeout: Duration,
    /// How long a connection may sit between requests, and how long a response write may
    /// stall on a client that does not read (`EXO_HTTP_IDLE_TIMEOUT_MS`).
    pub idle_timeout: Duration,
    /// Open HTTP connections at most, across all HTTP threads (`EXO_HTTP_MAX_CONNECTIONS`).
    /// Beyond it a new connection gets `503 Service Unavailable` and is closed.
    pub max_connections: usize,
}

const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// File descriptors kept out of the connection cap: the listening socket, Postgres
/// connections, the IR file, stdio, and a margin for the answers to refused connections.
const RESERVED_FDS: usize = 256;

impl HttpLimits {
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<HttpLimits, Error> {
        let millis = |name: &str, default: Duration| -> Result<Duration, Error> {
            match get(name) {
                Some(v) => {
                    Ok(Duration::from_millis(exo_runtime::env::parse_positive(name, &v).map_err(Error::new)? as u64))
                }
                None => Ok(default),
            }
        };
        let max_connections = match get("EXO_HTTP_MAX_CONNECTIONS") {
            Some(v) => exo_runtime::env::parse_positive("EXO_HTTP_MAX_CONNECTIONS", &v).map_err(Error::new)?,
            None => default_max_connections(),
        };
        Ok(HttpLimits {
            header_timeout: millis("EXO_HTTP_HEADER_TIMEOUT_MS", DEFAULT_HEADER_TIMEOUT)?,
            body_timeout: millis("EXO_HTTP_BODY_TIMEOUT_MS", DEFAULT_BODY_TIMEOUT)?,
            idle_timeout: millis("EXO_HTTP_IDLE_TIMEOUT_MS", DEFAULT_IDLE_TIMEOUT)?,
            max_connections,
        })
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// 4096, or fewer when the process may not open that many files: past the descriptor limit
/// `accept` fails and every client waits, so the cap must bite first.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) writes into the struct we pass and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return DEFAULT_MAX_CONNECTIONS;
    }
    let files = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    DEFAULT_MAX_CONNECTIONS.min(files.saturating_sub(RESERVED_FDS).max(16))
}

/// The connection cap, shared by every HTTP thread.
#[derive(Clone)]
pub(crate) struct Admission {
    limits: HttpLimits,
    open: Arc<Semaphore>,
}

/// An admitted connection: its socket wrapped in the time bounds, its request activity, and
/// its place under the cap (released when dropped with the connection).
pub(crate) struct Admitted {
    pub stream: Guarded,
    pub activity: Arc<Activity>,
    pub permit: OwnedSemaphorePermit,
}

impl Admission {
    pub(crate) fn new(limits: HttpLimits) -> Admission {
        let open = Arc::new(Semaphore::new(limits.max_connections));
        Admission { limits, open }
    }

    /// Admits `stream`, or answers it with `503` and closes it (in a task of its own) when
    /// the cap is reached.
    pub(crate) fn admit(&self, stream: TcpStream) -> Option<Admitted> {
        match self.open.clone().try_acquire_owned() {
            Ok(permit) => {
                let activity = Arc::new(Activity::default());
                let stream = Guarded::new(stream, self.limits.clone(), activity.clone());
                Some(Admitted { stream, activity, permit })
            }
            Err(_) => {
                crate::log::debug(&format!(
                    "refused a connection: {} are open (`EXO_HTTP_MAX_CONNECTIONS`)",
                    self.limits.max_connections
                ));
                tokio::spawn(refuse(stream, self.limits.max_connections));
                None
            }
        }
    }
}

/// `503` with a GraphQL-shaped body, then close. A client that does not read gets one second.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = serde_json::json!({ "errors": [{ "message": format!(
        "the server has {max} connections open, its limit (`EXO_HTTP_MAX_CONNECTIONS`); try again shortly"
    ) }] })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// What the connection's requests are doing, as the service sees it.
#[derive(Default)]
pub(crate) struct Activity {
    /// Requests being answered now.
    in_flight: AtomicUsize,
    /// Requests started so far: a change tells the reader a request head was complete.
    started: AtomicU64,
    /// When the last request finished, in milliseconds since the connection opened.
    finished_ms: AtomicU64,
    opened: std::sync::OnceLock<Instant>,
    /// The reader that found nothing to read while a request was in flight (so no deadline
    /// was armed): woken when the request ends, so that it arms the idle deadline. hyper may
    /// not poll the read side again on its own after writing the response.
    parked_reader: std::sync::Mutex<Option<std::task::Waker>>,
}

/// A request being answered; dropping it marks the end.
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    /// Marks the start of a request (its head has been read).
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn opened(&self) -> Instant {
        *self.opened.get_or_init(Instant::now)
    }

    /// When the connection last became idle: its opening, or the end of its last request.
    fn idle_since(&self) -> Instant {
        self.opened() + Duration::from_millis(self.finished_ms.load(Ordering::Acquire))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let since = self.0.opened().elapsed().as_millis() as u64;
        self.0.finished_ms.store(since, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        let parked = self.0.parked_reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }
}

/// An accepted socket with the header, idle and write-stall deadlines.
pub(crate) struct Guarded {
    inner: TcpStream,
    limits: HttpLimits,
    activity: Arc<Activity>,
    /// The `started` count last seen: a new request resets `head_since`.
    seen_started: u64,
    /// When the first byte of the request head now arriving was read.
    head_since: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    /// Since when writes have not progressed.
    write_stalled: Option<Instant>,
    write_timer: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(inner: TcpStream, limits: HttpLimits, activity: Arc<Activity>) -> Guarded {
        activity.opened();
        let far = Instant::now() + Duration::from_secs(86_400);
        Guarded {
            inner,
            limits,
            activity,
            seen_started: 0,
            head_since: None,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            write_stalled: None,
            write_timer: Box::pin(tokio::time::sleep_until(far)),
        }
    }

    /// Whether the read deadline has passed (registering the wake-up when it has not).
    fn read_deadline_passed(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.activity.in_flight.load(Ordering::Acquire) > 0 {
            *self.activity.parked_reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            // The request may have ended between the check and the parking.
            if self.activity.in_flight.load(Ordering::Acquire) > 0 {
                return None;
            }
        }
        let (deadline, what) = match self.head_since {
            Some(since) => (since + self.limits.header_timeout, "the request head did not arrive in time"),
            None => (self.activity.idle_since() + self.limits.idle_timeout, "the connection was idle too long"),
        };
        poll_deadline(&mut self.read_timer, deadline, cx).then(|| io::Error::new(io::ErrorKind::TimedOut, what))
    }
}

impl Guarded {
    /// A write that stays pending longer than the idle timeout fails: the client stopped
    /// reading and would otherwise hold the connection (and its response) forever.
    fn stall_check(&mut self, polled: Poll<io::Result<usize>>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if polled.is_ready() {
            self.write_stalled = None;
            return polled;
        }
        let since = *self.write_stalled.get_or_insert_with(Instant::now);
        if poll_deadline(&mut self.write_timer, since + self.limits.idle_timeout, cx) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")));
        }
        Poll::Pending
    }
}

/// Moves `timer` to `deadline` if needed and polls it: whether it has fired.
fn poll_deadline(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let started = this.activity.started.load(Ordering::Acquire);
        if started != this.seen_started {
            this.seen_started = started;
            this.head_since = None;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let idle = this.activity.in_flight.load(Ordering::Acquire) == 0;
                if buf.filled().len() > before && idle && this.head_since.is_none() {
                    this.head_since = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.read_deadline_passed(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.stall_check(polled, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.stall_check(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_defaults() {
        let none = |_: &str| None;
        let d = HttpLimits::from_env(&none).unwrap();
        assert_eq!(d.header_timeout, Duration::from_secs(10));
        assert_eq!(d.body_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(60));
        assert!(d.max_connections >= 16 && d.max_connections <= 4096, "{}", d.max_connections);
        let get = |k: &str| match k {
            "EXO_HTTP_HEADER_TIMEOUT_MS" => Some("250".to_string()),
            "EXO_HTTP_MAX_CONNECTIONS" => Some("3".to_string()),
            _ => None,
        };
        let l = HttpLimits::from_env(&get).unwrap();
        assert_eq!((l.header_timeout, l.max_connections), (Duration::from_millis(250), 3));
        let zero = |k: &str| (k == "EXO_HTTP_IDLE_TIMEOUT_MS").then(|| "0".to_string());
        let e = HttpLimits::from_env(&zero).unwrap_err();
        assert!(e.message().contains("`EXO_HTTP_IDLE_TIMEOUT_MS` is 0"), "{e}");
    }
}
