//! What one connection is doing, for its timeouts: an IO wrapper over the
//! decrypted stream that stamps the time of the last byte read or written,
//! the requests in flight, and when the request head now arriving began.
//!
//! - Idle (`idle_timeout_secs`): no request in flight and no byte moved for
//!   that long.
//! - Request head (`header_read_timeout_secs`, HTTP/1.1 only): from the first
//!   byte read while no request is in flight until hyper hands the complete
//!   head to the service. hyper's own h1 `header_read_timeout` is not used:
//!   it starts when hyper begins waiting for a head, which on a kept-alive
//!   connection is the whole idle wait, so idle connections would close after
//!   the header timeout instead of the idle one. Here the wait costs nothing
//!   until a byte comes. A request pipelined behind one in flight is not
//!   timed (its bytes arrive while a request is in flight); a client that
//!   then stalls is an idle connection, closed by the idle timeout, and one
//!   that trickles more bytes after the response starts the head timer. So
//!   trickling a head (slowloris) holds a connection at most
//!   `header_read_timeout_secs`, and silence at most `idle_timeout_secs`.
//! - HTTP/2 (recognised by its connection preface, RFC 9113 §3.4) has no
//!   heads between requests: its frames (PING, WINDOW_UPDATE) flow on idle
//!   connections, so heads are not timed there; neither on a connection
//!   upgraded to a WebSocket tunnel.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proxy::body::{InFlight, InFlightGuard};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since [`epoch`], never 0 (0 means "not set" below).
fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn since(ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(ms))
}

#[derive(Debug)]
struct State {
    /// The last time a byte moved.
    last_ms: AtomicU64,
    /// When the first byte of the request head now arriving came; 0: none.
    head_ms: AtomicU64,
    /// False on HTTP/2 and on an upgraded connection.
    time_heads: AtomicBool,
    requests: InFlight,
}

/// The activity of one connection, shared by its IO, its service and its
/// timeout loop.
#[derive(Debug, Clone)]
pub struct Activity(Arc<State>);

impl Activity {
    pub fn new() -> Activity {
        Activity(Arc::new(State {
            last_ms: AtomicU64::new(now_ms()),
            head_ms: AtomicU64::new(0),
            time_heads: AtomicBool::new(true),
            requests: InFlight::default(),
        }))
    }

    /// A complete request head reached the service: its head is no longer
    /// timed, and the request is in flight until the guard drops (when its
    /// response has been sent).
    pub fn request(&self) -> InFlightGuard {
        let guard = self.0.requests.enter();
        self.0.head_ms.store(0, Ordering::Relaxed);
        guard
    }

    pub fn in_flight(&self) -> usize {
        self.0.requests.count()
    }

    pub fn idle_for(&self) -> Duration {
        since(self.0.last_ms.load(Ordering::Relaxed))
    }

    /// How long the request head now arriving has taken so far, if one is.
    pub fn head_for(&self) -> Option<Duration> {
        match self.0.head_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(since(ms)),
        }
    }

    /// From now on no request head is timed (HTTP/2, or an upgrade).
    pub fn stop_timing_heads(&self) {
        self.0.time_heads.store(false, Ordering::Relaxed);
        self.0.head_ms.store(0, Ordering::Relaxed);
    }

    fn touch(&self) {
        self.0.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Bytes were read: with no request in flight, they begin a head.
    fn read(&self) {
        let now = now_ms();
        self.0.last_ms.store(now, Ordering::Relaxed);
        if self.0.time_heads.load(Ordering::Relaxed) && self.in_flight() == 0 {
            // Only the first byte of a head starts the clock.
            let _ = self
                .0
                .head_ms
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection say about its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniff {
    /// This many bytes read so far, all matching the HTTP/2 preface.
    Preface(usize),
    Http1,
    Http2,
}

impl Sniff {
    fn next(self, bytes: &[u8]) -> Sniff {
        let Sniff::Preface(seen) = self else {
            return self;
        };
        let rest = H2_PREFACE.get(seen..).unwrap_or_default();
        let n = rest.len().min(bytes.len());
        if rest.iter().zip(bytes).any(|(want, got)| want != got) {
            Sniff::Http1
        } else if n == rest.len() {
            Sniff::Http2
        } else {
            Sniff::Preface(seen + n)
        }
    }
}

/// Wraps a (decrypted) stream: stamps [`Activity`] on every byte read or
/// written, starts the head clock, and stops it for good on HTTP/2.
#[derive(Debug)]
pub struct ActivityIo<T> {
    inner: T,
    activity: Activity,
    sniff: Sniff,
}

impl<T> ActivityIo<T> {
    pub fn new(inner: T, activity: Activity) -> Self {
        ActivityIo {
            inner,
            activity,
            sniff: Sniff::Preface(0),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let was = self.sniff;
            self.sniff = was.next(buf.filled().get(before..).unwrap_or_default());
            if self.sniff == Sniff::Http2 && was != Sniff::Http2 {
                self.activity.stop_timing_heads();
            }
            self.activity.read();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
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
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_preface_is_recognised_in_pieces() {
        let start = Sniff::Preface(0);
        assert_eq!(start.next(H2_PREFACE), Sniff::Http2);
        let (a, b) = H2_PREFACE.split_at(5);
        assert_eq!(start.next(a), Sniff::Preface(5));
        assert_eq!(start.next(a).next(b), Sniff::Http2);
        assert_eq!(start.next(b"PRI * HTTP/1.1\r\n"), Sniff::Http1);
        assert_eq!(start.next(b"GET / HTTP/1.1\r\n"), Sniff::Http1);
        assert_eq!(Sniff::Http1.next(H2_PREFACE), Sniff::Http1);
        assert_eq!(Sniff::Http2.next(b"GET"), Sniff::Http2);
    }

    async fn read_some(io: &mut ActivityIo<tokio::io::DuplexStream>) {
        let mut buf = [0u8; 64];
        assert!(io.read(&mut buf).await.unwrap() > 0);
    }

    #[tokio::test]
    async fn heads_are_timed_from_their_first_byte_while_nothing_is_in_flight() {
        let (mut client, server) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let mut io = ActivityIo::new(server, activity.clone());
        assert_eq!(activity.head_for(), None, "waiting costs nothing");

        client.write_all(b"GET / HT").await.unwrap();
        read_some(&mut io).await;
        assert!(activity.head_for().is_some());

        let guard = activity.request();
        assert_eq!(activity.head_for(), None);
        client.write_all(b"body bytes").await.unwrap();
        read_some(&mut io).await;
        assert_eq!(activity.head_for(), None, "a body is not a head");

        drop(guard);
        client.write_all(b"GET /next").await.unwrap();
        read_some(&mut io).await;
        assert!(activity.head_for().is_some());
    }

    #[tokio::test]
    async fn http2_and_upgraded_connections_time_no_heads() {
        let (mut client, server) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let mut io = ActivityIo::new(server, activity.clone());
        client.write_all(&H2_PREFACE[..10]).await.unwrap();
        read_some(&mut io).await;
        assert!(activity.head_for().is_some(), "a partial preface is timed");
        client.write_all(&H2_PREFACE[10..]).await.unwrap();
        read_some(&mut io).await;
        assert_eq!(activity.head_for(), None);
        client
            .write_all(b"\0\0\x08\x06\0\0\0\0\0ping-ack")
            .await
            .unwrap();
        read_some(&mut io).await;
        assert_eq!(activity.head_for(), None);

        let (mut client, server) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let mut io = ActivityIo::new(server, activity.clone());
        activity.stop_timing_heads();
        client.write_all(b"\x81\x85frame").await.unwrap();
        read_some(&mut io).await;
        assert_eq!(activity.head_for(), None);
    }
}
