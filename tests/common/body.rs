//! Request and response bodies of the tests: empty and whole bodies, and
//! bodies of any size that stream. [`PatternBody`] generates a deterministic
//! byte pattern chunk by chunk, and [`BodyDigest`] counts and hashes bytes as
//! they pass, so a test never holds a large body whole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body type of every test client.
pub type TestBody = UnsyncBoxBody<Bytes, BoxError>;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

pub fn empty() -> TestBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// A streamed body of `len` pattern bytes with a known length (Content-Length).
pub fn pattern(len: u64) -> TestBody {
    PatternBody::new(len).map_err(|e| match e {}).boxed_unsync()
}

/// A streamed body of `len` pattern bytes of unknown length (chunked on HTTP/1.1).
pub fn pattern_unsized(len: u64) -> TestBody {
    PatternBody::new(len)
        .without_length()
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// Size of the chunks [`PatternBody`] produces.
pub const CHUNK: usize = 64 * 1024;
/// The pattern is byte `i % PERIOD` at offset `i`; a prime, so chunk
/// boundaries never line up with the period.
const PERIOD: usize = 251;

/// `PERIOD + CHUNK` bytes of the pattern: any chunk is a slice of it.
fn pattern_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| (0..PERIOD + CHUNK).map(|i| (i % PERIOD) as u8).collect())
}

/// `n <= CHUNK` pattern bytes starting at stream offset `offset` (no copy).
pub fn pattern_chunk(offset: u64, n: usize) -> Bytes {
    assert!(n <= CHUNK);
    let start = (offset % PERIOD as u64) as usize;
    Bytes::from_static(&pattern_table()[start..start + n])
}

/// The first `len` pattern bytes, whole (for small bodies only).
pub fn pattern_vec(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % PERIOD) as u8).collect()
}

/// SHA-256 (hex) of the first `len` pattern bytes, computed chunk by chunk.
pub fn pattern_sha256(len: u64) -> String {
    let mut d = BodyDigest::new();
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(CHUNK as u64) as usize;
        d.update(&pattern_chunk(off, n));
        off += n as u64;
    }
    d.sha256_hex()
}

/// Counts and hashes bytes as they stream past.
#[derive(Clone)]
pub struct BodyDigest {
    ctx: ring::digest::Context,
    pub len: u64,
    pub frames: u64,
    /// Size of the largest frame seen.
    pub max_frame: usize,
}

impl Default for BodyDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyDigest {
    pub fn new() -> Self {
        BodyDigest {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
            frames: 0,
            max_frame: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
        self.len += data.len() as u64;
        self.frames += 1;
        self.max_frame = self.max_frame.max(data.len());
    }

    pub fn sha256_hex(&self) -> String {
        hex(self.ctx.clone().finish().as_ref())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A body of `len` deterministic bytes generated on the fly in
/// [`CHUNK`]-sized frames; never allocated whole.
#[derive(Debug)]
pub struct PatternBody {
    sent: u64,
    len: u64,
    exact: bool,
}

impl PatternBody {
    pub fn new(len: u64) -> Self {
        PatternBody {
            sent: 0,
            len,
            exact: true,
        }
    }

    /// Hides the length, so HTTP/1.1 sends it chunked.
    pub fn without_length(mut self) -> Self {
        self.exact = false;
        self
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.len {
            return Poll::Ready(None);
        }
        let n = (self.len - self.sent).min(CHUNK as u64) as usize;
        let chunk = pattern_chunk(self.sent, n);
        self.sent += n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.len - self.sent)
        } else {
            SizeHint::default()
        }
    }
}

/// Reads a body frame by frame, counting and hashing it (never buffering it).
pub async fn digest_body<B>(mut body: B) -> Result<BodyDigest, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut d = BodyDigest::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(Into::into)?.into_data() {
            d.update(&data);
        }
    }
    Ok(d)
}

/// Microseconds since the Unix epoch (both ends of a loopback test share
/// the clock).
pub fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// Server-Sent Events, one every `every`, `count` in all (RFC: the
/// `text/event-stream` format of the WHATWG HTML standard): `id: N` and
/// `data: N SENT_MICROS`, each in a frame of its own, written when due.
pub struct EventBody {
    interval: tokio::time::Interval,
    next: usize,
    count: usize,
}

impl EventBody {
    pub fn new(every: std::time::Duration, count: usize) -> EventBody {
        let start = tokio::time::Instant::now() + every;
        EventBody {
            interval: tokio::time::interval_at(start, every),
            next: 0,
            count,
        }
    }
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.next >= self.count {
            return Poll::Ready(None);
        }
        match self.interval.poll_tick(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                let n = self.next;
                self.next += 1;
                let event = format!("id: {n}\ndata: {n} {}\n\n", unix_micros());
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
            }
        }
    }
}

/// Reads a `text/event-stream` body and returns, for each event as it
/// arrives, its number and how long after it was sent it was read (µs).
pub async fn read_events<B>(mut body: B) -> Result<Vec<(usize, u128)>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut out = Vec::new();
    let mut pending = String::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Into::into)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let read_at = unix_micros();
        pending.push_str(std::str::from_utf8(&data)?);
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(line) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                let (n, sent) = line.split_once(' ').ok_or("bad event")?;
                let sent: u128 = sent.parse()?;
                out.push((n.parse()?, read_at.saturating_sub(sent)));
            }
        }
    }
    Ok(out)
}
