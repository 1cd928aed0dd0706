//! The TCP stream under each Postgres connection, with one addition: it follows the framing
//! of the backend's messages as they pass through, and while a large message is arriving it
//! raises the socket's `SO_RCVLOWAT` to the bytes still missing.
//!
//! Postgres writes a big result (a 1000-row JSON document is ~75 KB) in 8 KB pieces. Without
//! a low-water mark the kernel wakes the reading thread for every piece, and each wake-up (an
//! `epoll_wait` return, a context switch, a `recv` and a `recv` that finds nothing) costs more
//! than copying the piece. With it, the thread wakes when the message is complete (or when the
//! receive buffer is under pressure, which the kernel signals regardless).
//!
//! It is safe because the mark is never above what is certain to arrive: the rest of a message
//! whose length the header announced. At a message boundary the mark is back at 1 byte. A
//! closed or failed connection wakes the reader whatever the mark.
//!
//! The same framing enforces the response-size bound ([`ResultGuard`]): each `DataRow`
//! header announces its length before its body arrives, so a result that would cross the
//! request's remaining budget fails the read there, before tokio-postgres buffers it. The
//! connection ends (Postgres stops the statement when its next write fails) and is not reused.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Below this many missing bytes, waking per piece is cheaper than two `setsockopt` calls.
const MIN_MARK: usize = 16 * 1024;
/// The highest mark: a huge result still wakes the reader every 512 KB, so the reads keep
/// pace with the sender and the buffers stay small.
const MAX_MARK: usize = 512 * 1024;

pub(crate) struct PgStream {
    inner: TcpStream,
    framing: Framing,
    /// The `SO_RCVLOWAT` now set on the socket.
    mark: usize,
    /// The socket refused a mark once: no more tries.
    marks_off: bool,
    guard: Arc<ResultGuard>,
    /// `framing.data_row_bytes` already charged to the guard.
    charged: u64,
}

/// How many bytes of `DataRow` messages the connection may still receive for the statement
/// in progress, shared between the connection's [`PgDb`](crate::PgDb) (which sets it before
/// each statement) and its [`PgStream`] (which charges each row as its header arrives).
#[derive(Debug)]
pub(crate) struct ResultGuard {
    remaining: AtomicUsize,
    exceeded: AtomicBool,
}

impl Default for ResultGuard {
    fn default() -> Self {
        ResultGuard { remaining: AtomicUsize::new(usize::MAX), exceeded: AtomicBool::new(false) }
    }
}

impl ResultGuard {
    /// Allows `bytes` of rows from now on (`usize::MAX`: no bound).
    pub(crate) fn allow(&self, bytes: usize) {
        self.remaining.store(bytes, Ordering::Release);
    }

    /// Whether a result was cut because it crossed the bound.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// Charges `bytes`; false (and marked exceeded) when they do not fit.
    fn charge(&self, bytes: usize) -> bool {
        let fits = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                if left == usize::MAX {
                    Some(left)
                } else {
                    left.checked_sub(bytes)
                }
            })
            .is_ok();
        if !fits {
            self.exceeded.store(true, Ordering::Release);
        }
        fits
    }
}

impl PgStream {
    /// `ssl_request`: the client starts with `SSLRequest`, so the first byte back is the
    /// server's one-byte answer (`S` or `N`), outside the message framing. Over TLS the framing
    /// stops (the records are not Postgres messages), so `guard` only bounds plain sessions.
    pub(crate) fn new(inner: TcpStream, guard: Arc<ResultGuard>, ssl_request: bool) -> PgStream {
        PgStream {
            inner,
            framing: Framing { ssl_answer_pending: ssl_request, ..Framing::default() },
            mark: 1,
            marks_off: false,
            guard,
            charged: 0,
        }
    }

    fn set_mark(&mut self, wanted: usize) {
        if wanted == self.mark || self.marks_off {
            return;
        }
        if set_int_option(&self.inner, libc::SOL_SOCKET, libc::SO_RCVLOWAT, wanted as libc::c_int) {
            self.mark = wanted;
        } else {
            // The socket refuses marks: stop trying, reading works the same without them (the
            // framing goes on, for the response-size bound).
            self.marks_off = true;
        }
    }
}

/// `setsockopt(2)` with an integer value; whether the socket accepted it.
pub(crate) fn set_int_option(stream: &TcpStream, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: setsockopt(2) on a socket `stream` owns, with a c_int option value that lives
    // for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

impl crate::tls::BeforeTls for PgStream {
    /// TLS records are not Postgres messages: the marks stay at 1 from here on.
    fn before_tls(&mut self) {
        self.set_mark(1);
        self.framing.broken = true;
    }
}

impl AsyncRead for PgStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            this.framing.advance(&buf.filled()[before..]);
            let announced = this.framing.data_row_bytes - this.charged;
            if announced > 0 {
                this.charged = this.framing.data_row_bytes;
                if !this.guard.charge(usize::try_from(announced).unwrap_or(usize::MAX)) {
                    return Poll::Ready(Err(io::Error::other("the result is larger than the response-size bound")));
                }
            }
            let wanted = this.framing.wanted_mark();
            this.set_mark(wanted);
        }
        polled
    }
}

impl AsyncWrite for PgStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

/// Where the byte stream stands in the backend's messages: each is a type byte, a big-endian
/// `i32` length that counts itself, and the body.
#[derive(Default, Debug)]
struct Framing {
    /// Bytes of the current message's header seen so far (0..5).
    header: [u8; 5],
    header_len: usize,
    /// Body bytes of the current message still to come (0 while reading a header).
    body_left: usize,
    /// The stream did not look like Postgres framing: marks stay at 1 from then on.
    broken: bool,
    /// Body bytes announced by every `DataRow` header so far.
    data_row_bytes: u64,
    /// The one-byte answer to `SSLRequest` is still to come.
    ssl_answer_pending: bool,
}

impl Framing {
    fn advance(&mut self, mut data: &[u8]) {
        if self.ssl_answer_pending && !data.is_empty() {
            // `N` is followed by the plain session; after `S` the TLS hook turns marks off.
            self.ssl_answer_pending = false;
            data = &data[1..];
        }
        while !data.is_empty() && !self.broken {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len == 5 {
                let len = i32::from_be_bytes([self.header[1], self.header[2], self.header[3], self.header[4]]);
                if len < 4 {
                    self.broken = true;
                    return;
                }
                self.body_left = len as usize - 4;
                self.header_len = 0;
                if self.header[0] == b'D' {
                    self.data_row_bytes += self.body_left as u64;
                }
            }
        }
    }

    /// The mark to set now: the rest of a large message in progress, else 1.
    fn wanted_mark(&self) -> usize {
        if !self.broken && self.body_left >= MIN_MARK {
            self.body_left.min(MAX_MARK)
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body_len: usize) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body_len + 4) as i32).to_be_bytes());
        m.extend(std::iter::repeat_n(b'x', body_len));
        m
    }

    #[test]
    fn follows_messages_split_anywhere() {
        let mut stream = message(b'T', 30);
        stream.extend(message(b'D', 100_000));
        stream.extend(message(b'C', 13));
        stream.extend(message(b'Z', 1));
        for piece in [1, 2, 3, 5, 7, 4096, 8192, 65536] {
            let mut f = Framing::default();
            let mut marks = Vec::new();
            for chunk in stream.chunks(piece) {
                f.advance(chunk);
                marks.push(f.wanted_mark());
            }
            assert!(!f.broken, "piece {piece}");
            assert_eq!((f.header_len, f.body_left), (0, 0), "piece {piece}: ends at a boundary");
            assert_eq!(*marks.last().unwrap(), 1, "piece {piece}");
            // The mark never asks for more than the big message still owes.
            let mut seen = 0;
            for (chunk, mark) in stream.chunks(piece).zip(&marks) {
                seen += chunk.len();
                let data_row_end = 5 + 30 + 5 + 100_000;
                if *mark > 1 {
                    assert!(
                        seen < data_row_end && *mark <= data_row_end - seen,
                        "piece {piece}: mark {mark} at {seen}"
                    );
                }
            }
            if piece >= 4096 {
                assert!(marks.iter().any(|m| *m > 1), "piece {piece}: a large message raises the mark");
            }
        }
    }

    #[test]
    fn small_messages_keep_the_mark_at_one() {
        let mut f = Framing::default();
        f.advance(&message(b'D', MIN_MARK)[..100]);
        assert!(f.wanted_mark() < MIN_MARK + 1);
        let mut f = Framing::default();
        f.advance(&message(b'D', 1000)[..10]);
        assert_eq!(f.wanted_mark(), 1);
    }

    #[test]
    fn the_answer_to_ssl_request_is_not_a_message() {
        let mut f = Framing { ssl_answer_pending: true, ..Framing::default() };
        let mut stream = vec![b'N'];
        stream.extend(message(b'R', 4));
        stream.extend(message(b'D', 100_000));
        f.advance(&stream[..20]);
        assert!(!f.broken);
        assert!(f.wanted_mark() > 1, "the large message is recognised after the answer byte");
    }

    #[test]
    fn huge_messages_are_capped() {
        let mut f = Framing::default();
        f.advance(&message(b'D', 10 * MAX_MARK)[..10]);
        assert_eq!(f.wanted_mark(), MAX_MARK);
    }

    #[test]
    fn data_rows_are_counted_at_their_headers() {
        let mut f = Framing::default();
        let mut stream = message(b'T', 30);
        stream.extend(message(b'D', 100_000));
        stream.extend(message(b'D', 7));
        f.advance(&stream[..5 + 30 + 5]);
        assert_eq!(f.data_row_bytes, 100_000, "counted before the body arrives");
        f.advance(&stream[5 + 30 + 5..]);
        assert_eq!(f.data_row_bytes, 100_007);
    }

    #[test]
    fn the_guard_refuses_what_does_not_fit() {
        let g = ResultGuard::default();
        assert!(g.charge(usize::MAX / 2), "unbounded by default");
        g.allow(10);
        assert!(g.charge(6));
        assert!(!g.exceeded());
        assert!(!g.charge(5));
        assert!(g.exceeded());
    }

    #[test]
    fn nonsense_lengths_turn_marks_off() {
        let mut f = Framing::default();
        f.advance(&[b'D', 0, 0, 0, 2, 1, 2, 3]);
        assert!(f.broken);
        assert_eq!(f.wanted_mark(), 1);
    }
}
