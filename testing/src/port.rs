//! Ports for servers that tests start (exo, `wrangler dev`).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const LOW: u32 = 20000;
const SPAN: u32 = 12000;

/// A port of 127.0.0.1 that is free now, for a server the caller is about to start.
///
/// It comes from below Linux's ephemeral range (32768 and up), so outgoing connections (and
/// other programs' `bind(0)`) cannot take it before the server binds it. The walk starts at a
/// per-process point and never hands out the same port twice in one process, so tests running
/// in parallel do not pick the same one.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("no free port between {LOW} and {}", LOW + SPAN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!((LOW as u16..(LOW + SPAN) as u16).contains(&p), "{p}");
            TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }
}
