//! Refuses HTTP/1.1 requests whose framing two readers could take
//! differently (RFC 9112 §6.3, §11.2): `Content-Length` together with
//! `Transfer-Encoding`, and more than one `Content-Length` field line
//! (identical or not, or a list such as `5, 5`). hyper resolves these
//! silently (it drops the `Content-Length`, keeps one of identical lines),
//! so the service never sees them; the check has to look at the raw bytes.
//!
//! [`FramingIo`] sits between hyper and the decrypted stream of an HTTP/1.1
//! connection and follows the message framing of every byte it hands over:
//! a request head is held back until it is complete, parsed with the same
//! parser and settings hyper uses (`httparse`, default config, the same
//! field count), and only then released; its body is counted exactly as
//! hyper's decoders count it (a `Content-Length`, or the chunked coding
//! state machine of hyper's `decode.rs`: chunk sizes, extensions, CRLFs,
//! trailers), so the tracker knows where the next head starts on a
//! kept-alive or pipelined connection. A head that is refused never reaches
//! hyper, not even in part: hyper holds only the complete requests before it.
//! Once hyper has taken every request before it and asks for more, the
//! server is told and closes the connection gracefully (hyper answers those
//! requests first); when hyper shuts the stream down, the `400` is written
//! last and the connection closed.
//!
//! Whenever the tracker cannot be sure it reads the bytes as hyper will, it
//! stops inspecting and hands everything through ("blind"), leaving the
//! decision to hyper. It does not refuse instead, because every such case
//! is one where hyper either refuses too and closes the connection (a head
//! httparse rejects: 400 or 431; an invalid chunk line: the body fails and
//! the connection closes after the response) or takes the connection out
//! of HTTP/1.1 (an upgrade, `CONNECT`, the HTTP/2 preface): no later head
//! is ever parsed by hyper, so there is nothing left to desynchronise, and
//! refusing would turn hyper's exact answers (431, 414) into wrong ones.
//! The same holds for a head that grows past `max_header_bytes` while
//! incomplete: it is released and hyper answers 431. After an upgrade
//! request that is not upgraded, the server closes the connection after
//! the response (conn.rs), so blindness never outlives one request. Refusal
//! happens only on what hyper also reads as a complete, well-formed head,
//! and the refused bytes are never given to hyper, so the two can only
//! disagree by hyper seeing less.
//!
//! Cost per request: one scan of the head for its end, one httparse pass
//! over it (hyper runs a second), a byte loop over chunk-size lines;
//! `Content-Length` bodies and chunk data are skipped by counting. Nothing
//! is allocated unless a head arrives split across reads (then it is
//! copied into buffers kept for the connection) or has more than 64 fields.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The body of the `400`: the gateway's JSON error shape.
const REFUSAL_BODY: &str =
    r#"{"error":"invalid_request","error_description":"ambiguous message framing"}"#;

/// The whole `400` response written after a refused head.
fn refusal_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
         cache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        REFUSAL_BODY.len(),
        REFUSAL_BODY
    )
    .into_bytes()
}

/// Fields parsed without allocating; a head with more is parsed again with
/// room for the configured count.
const STACK_FIELDS: usize = 64;

/// hyper's `DecodedLength::MAX_LEN`: longer lengths are invalid.
const MAX_LEN: u64 = u64::MAX - 2;

/// Empties a buffer kept for the connection, letting go of its memory if a
/// long head made it large.
fn reuse(buf: &mut Vec<u8>) {
    if buf.capacity() > 16 * 1024 {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}

/// Where the chunked decoder is, named as in hyper's `ChunkedState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Body,
    BodyCr,
    BodyLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

/// The current line of a head, so far: its length, and whether it begins
/// with CR (a lone CR before the LF makes an empty line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line {
    len: usize,
    first_cr: bool,
}

const NO_LINE: Line = Line {
    len: 0,
    first_cr: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a request head: `len` bytes of it so far; `started` once its
    /// request line began (empty lines before it are skipped, as httparse
    /// does).
    Head {
        len: usize,
        started: bool,
        line: Line,
    },
    /// In a body of this many more bytes.
    Length(u64),
    /// In a chunked body; `size`: the chunk size being read, or the bytes
    /// left of the chunk's data.
    Chunked {
        at: Chunk,
        size: u64,
    },
    /// Not inspecting any more: hyper decides alone.
    Blind,
    Refused,
}

const NEW_HEAD: State = State::Head {
    len: 0,
    started: false,
    line: NO_LINE,
};

/// How one read ends, for the bytes it brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every byte may go to hyper (the read ends outside a head, or the
    /// tracker is blind).
    Pass,
    /// The bytes from `from` on begin a head that is not complete yet.
    /// `from` is 0 also when the head began in an earlier read; a head that
    /// was held then can only complete in this read, so a new one cannot
    /// start at 0.
    Hold { from: usize },
    /// The head that begins at `from` (as for `Hold`) is refused.
    Refuse { from: usize },
}

/// What a complete head means for what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    Body(State),
    /// An upgrade or `CONNECT`: what follows may not be HTTP/1.1.
    Blind,
    Refuse,
}

/// The HTTP/1.1 framing of one connection's request stream.
#[derive(Debug)]
pub(crate) struct Tracker {
    state: State,
    /// The part of the current head that came in earlier reads.
    head: Vec<u8>,
    max_head_bytes: usize,
    max_fields: usize,
}

impl Tracker {
    pub(crate) fn new(max_head_bytes: usize, max_fields: usize) -> Tracker {
        Tracker {
            state: NEW_HEAD,
            head: Vec::new(),
            max_head_bytes,
            max_fields,
        }
    }

    fn go_blind(&mut self) -> Verdict {
        self.state = State::Blind;
        self.head = Vec::new();
        Verdict::Pass
    }

    /// Follows the framing over the next bytes read.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Verdict {
        // Where the current head began in `bytes` (0: in an earlier read).
        let mut head_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Head {
                    mut len,
                    mut started,
                    mut line,
                } => {
                    let mut end = None;
                    let mut at = i;
                    while let Some(off) = bytes
                        .get(at..)
                        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
                    {
                        // The line ends at `at + off`: is it empty (or a lone CR)?
                        let first_cr = if line.len > 0 {
                            line.first_cr
                        } else {
                            off > 0 && bytes.get(at) == Some(&b'\r')
                        };
                        let content = line.len + off;
                        len += off + 1;
                        line = NO_LINE;
                        at += off + 1;
                        if content > 1 || (content == 1 && !first_cr) {
                            started = true;
                        } else if started {
                            end = Some(at - 1);
                            break;
                        }
                    }
                    if end.is_none() {
                        let rest = bytes.len() - at;
                        if rest > 0 {
                            if line.len == 0 {
                                line.first_cr = bytes.get(at) == Some(&b'\r');
                            }
                            line.len += rest;
                            len += rest;
                        }
                    }
                    let Some(end) = end else {
                        self.state = State::Head { len, started, line };
                        break;
                    };
                    let judged = if self.head.is_empty() {
                        self.judge(bytes.get(head_start..=end).unwrap_or_default())
                            .unwrap_or(Judged::Blind)
                    } else {
                        let mut head = std::mem::take(&mut self.head);
                        head.extend_from_slice(bytes.get(..=end).unwrap_or_default());
                        let judged = self.judge(&head).unwrap_or(Judged::Blind);
                        reuse(&mut head);
                        self.head = head;
                        judged
                    };
                    i = end + 1;
                    match judged {
                        Judged::Refuse => {
                            self.state = State::Refused;
                            return Verdict::Refuse { from: head_start };
                        }
                        Judged::Blind => return self.go_blind(),
                        Judged::Body(State::Length(0)) => {
                            self.state = NEW_HEAD;
                            head_start = i;
                        }
                        Judged::Body(body) => self.state = body,
                    }
                }
                State::Length(left) => {
                    let avail = u64::try_from(bytes.len() - i).unwrap_or(u64::MAX);
                    let take = left.min(avail);
                    // `take` <= the bytes left, so it fits a usize.
                    i += usize::try_from(take).unwrap_or(bytes.len() - i);
                    if take == left {
                        self.state = NEW_HEAD;
                        head_start = i;
                    } else {
                        self.state = State::Length(left - take);
                    }
                }
                State::Chunked { at, size } => {
                    if at == Chunk::Body {
                        let avail = u64::try_from(bytes.len() - i).unwrap_or(u64::MAX);
                        let take = size.min(avail);
                        i += usize::try_from(take).unwrap_or(bytes.len() - i);
                        self.state = if take == size {
                            State::Chunked {
                                at: Chunk::BodyCr,
                                size: 0,
                            }
                        } else {
                            State::Chunked {
                                at,
                                size: size - take,
                            }
                        };
                        continue;
                    }
                    let Some(&b) = bytes.get(i) else { break };
                    i += 1;
                    match chunk_step(at, size, b) {
                        Some(None) => {
                            self.state = NEW_HEAD;
                            head_start = i;
                        }
                        Some(Some((at, size))) => self.state = State::Chunked { at, size },
                        // hyper fails the body and closes the connection.
                        None => return self.go_blind(),
                    }
                }
                State::Blind => return Verdict::Pass,
                State::Refused => return Verdict::Refuse { from: 0 },
            }
        }
        match self.state {
            State::Head { len, .. } if len > 0 => {
                if len >= self.max_head_bytes {
                    // hyper answers 431 to a head this long that is still
                    // incomplete.
                    return self.go_blind();
                }
                self.head
                    .extend_from_slice(bytes.get(head_start..).unwrap_or_default());
                // What hyper already refuses (say, a TLS handshake on a
                // plain listener) is handed over at once, not held until a
                // head end that never comes. This parses the held part once
                // per read, as hyper does its buffer.
                if self.judge(&self.head).is_some() {
                    return self.go_blind();
                }
                Verdict::Hold { from: head_start }
            }
            _ => Verdict::Pass,
        }
    }

    /// Parses a head as hyper does: what it means for what follows once
    /// complete (up to its empty line), `None` while it is incomplete and
    /// may still become valid.
    fn judge(&self, head: &[u8]) -> Option<Judged> {
        let outcome = |parsed: httparse::Result<usize>, req: &httparse::Request<'_, '_>| {
            match parsed {
                Ok(httparse::Status::Complete(n)) if n == head.len() => Some(judge_request(req)),
                Ok(httparse::Status::Partial) => None,
                // hyper refuses it too (400 or 431) and closes the
                // connection, or reads it otherwise than this tracker could
                // follow.
                _ => Some(Judged::Blind),
            }
        };
        let mut fields = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_FIELDS];
        let room = self.max_fields.min(STACK_FIELDS);
        let mut req = httparse::Request::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut req,
            head,
            fields.get_mut(..room).unwrap_or_default(),
        );
        if let (Err(httparse::Error::TooManyHeaders), true) =
            (parsed, self.max_fields > STACK_FIELDS)
        {
            let mut fields = vec![httparse::EMPTY_HEADER; self.max_fields];
            let mut req = httparse::Request::new(&mut fields);
            let parsed = req.parse(head);
            return outcome(parsed, &req);
        }
        outcome(parsed, &req)
    }
}

/// The framing of a parsed request, with hyper's rules (role.rs,
/// `Server::parse`) made strict: wherever hyper resolves an ambiguity, the
/// request is refused.
fn judge_request(req: &httparse::Request<'_, '_>) -> Judged {
    let http11 = req.version == Some(1);
    // hyper: CONNECT wants an upgrade; each `Upgrade` line sets it to
    // whether the request is HTTP/1.1.
    let mut upgrade = req.method == Some("CONNECT");
    let mut lengths = 0usize;
    let mut length = None;
    let mut codings = 0usize;
    let mut chunked = false;
    for field in req.headers.iter() {
        if field.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            length = from_digits(field.value);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            codings += 1;
            chunked = is_chunked(field.value);
        } else if field.name.eq_ignore_ascii_case("upgrade") {
            upgrade = http11;
        }
    }
    let body = if codings > 0 {
        if lengths > 0 || !http11 || !chunked {
            return Judged::Refuse;
        }
        State::Chunked {
            at: Chunk::Start,
            size: 0,
        }
    } else if lengths > 1 {
        return Judged::Refuse;
    } else if lengths == 1 {
        match length {
            Some(n) if n <= MAX_LEN => State::Length(n),
            _ => return Judged::Refuse,
        }
    } else {
        State::Length(0)
    };
    if upgrade {
        // The bytes after the head may be a tunnel; hyper still frames this
        // request (and any after a refused upgrade) itself.
        Judged::Blind
    } else {
        Judged::Body(body)
    }
}

/// hyper's `headers::from_digits`: ASCII digits only, no sign, no spaces,
/// no list.
fn from_digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// hyper's `headers::is_chunked_`: a visible-ASCII value whose last coding
/// is `chunked`.
fn is_chunked(value: &[u8]) -> bool {
    if !value.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        return false;
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// One byte of a chunked body outside chunk data, as hyper's decoder takes
/// it: the next state (`Some(None)`: the body ended), or `None` where hyper
/// fails the body.
fn chunk_step(at: Chunk, size: u64, b: u8) -> Option<Option<(Chunk, u64)>> {
    use Chunk::*;
    let next = match (at, b) {
        (Start, _) => (Size, hex(b)?),
        (Size, b'\t' | b' ') => (SizeLws, size),
        (Size | SizeLws, b';') => (Extension, size),
        (Size | SizeLws | Extension, b'\r') => (SizeLf, size),
        (Size, _) => (Size, size.checked_mul(16)?.checked_add(hex(b)?)?),
        (SizeLws, b'\t' | b' ') => (SizeLws, size),
        (Extension, b'\n') => return None,
        (Extension, _) => (Extension, size),
        (SizeLf, b'\n') if size == 0 => (EndCr, 0),
        (SizeLf, b'\n') => (Body, size),
        (BodyCr, b'\r') => (BodyLf, 0),
        (BodyLf, b'\n') => (Start, 0),
        (Trailer, b'\r') => (TrailerLf, 0),
        (Trailer, _) => (Trailer, 0),
        (TrailerLf, b'\n') => (EndCr, 0),
        (EndCr, b'\r') => (EndLf, 0),
        (EndCr, _) => (Trailer, 0),
        (EndLf, b'\n') => return Some(None),
        _ => return None,
    };
    Some(Some(next))
}

/// Lets the server know that a head was refused: it then closes the
/// connection gracefully, which makes hyper shut the stream down, and
/// [`FramingIo`] answers `400` there.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Notify>);

impl Refusals {
    /// Resolves once a head on this connection has been refused.
    pub async fn refused(&self) {
        self.0.notified().await
    }
}

#[derive(Debug)]
struct Guard {
    tracker: Tracker,
    /// Bytes of a head that is not complete yet: not given to hyper.
    held: Vec<u8>,
    /// Bytes cleared for hyper that did not fit its buffer yet.
    out: Vec<u8>,
    out_at: usize,
    /// After a refusal: the `400` and how much of it is written.
    refusal: Option<(Vec<u8>, usize)>,
    /// Whether any byte was handed to hyper.
    given: bool,
    /// Whether the server was told of the refusal.
    told: bool,
    refusals: Refusals,
}

impl Guard {
    /// Sorts out the bytes just read into `buf` (from `before`): those
    /// cleared stay (or, behind a held head, go to `out`), a head not yet
    /// complete is held, a refused one dropped.
    fn sort(&mut self, buf: &mut ReadBuf<'_>, before: usize) {
        let got = buf.filled().get(before..).unwrap_or_default();
        let verdict = self.tracker.feed(got);
        let (cut, hold) = match verdict {
            Verdict::Pass => (got.len(), false),
            Verdict::Hold { from } => (from, true),
            Verdict::Refuse { from } => (from, false),
        };
        if self.held.is_empty() {
            if hold {
                self.held
                    .extend_from_slice(got.get(cut..).unwrap_or_default());
            }
            buf.set_filled(before + cut);
        } else {
            // The held head comes first. It was cleared in this read if
            // anything after it was (a head held then is never refused or
            // held again from 0: see `Verdict::Hold`).
            if cut > 0 {
                self.out.extend_from_slice(&self.held);
                self.out
                    .extend_from_slice(got.get(..cut).unwrap_or_default());
                reuse(&mut self.held);
            }
            if hold {
                self.held
                    .extend_from_slice(got.get(cut..).unwrap_or_default());
            }
            buf.set_filled(before);
        }
        if let Verdict::Refuse { .. } = verdict {
            self.held = Vec::new();
            self.refusal = Some((refusal_response(), 0));
        }
    }

    /// Hands over bytes cleared earlier; whether there were any.
    fn give(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let rest = self.out.get(self.out_at..).unwrap_or_default();
        if rest.is_empty() {
            return false;
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        self.out_at += n;
        self.given |= n > 0;
        if self.out_at >= self.out.len() {
            reuse(&mut self.out);
            self.out_at = 0;
        }
        n > 0
    }
}

/// The IO of one connection (see the module docs): inspects HTTP/1.1
/// framing, or passes everything through when made with [`FramingIo::off`].
#[derive(Debug)]
pub struct FramingIo<T> {
    inner: T,
    guard: Option<Box<Guard>>,
}

impl<T> FramingIo<T> {
    /// Inspects the HTTP/1.1 requests read from `inner`.
    pub fn new(inner: T, max_head_bytes: usize, max_fields: usize) -> (Self, Refusals) {
        let refusals = Refusals::default();
        let guard = Guard {
            tracker: Tracker::new(max_head_bytes, max_fields),
            held: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            refusal: None,
            given: false,
            told: false,
            refusals: refusals.clone(),
        };
        let io = FramingIo {
            inner,
            guard: Some(Box::new(guard)),
        };
        (io, refusals)
    }

    /// No inspection (HTTP/2 chosen by ALPN).
    pub fn off(inner: T) -> (Self, Refusals) {
        (FramingIo { inner, guard: None }, Refusals::default())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FramingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(guard) = this.guard.as_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if guard.give(buf) {
                return Poll::Ready(Ok(()));
            }
            if guard.refusal.is_some() {
                if !guard.given {
                    // Nothing was handed over: hyper-util has not even
                    // chosen the protocol (a graceful shutdown now would
                    // drop the connection unanswered). The end of the
                    // stream makes hyper close the empty HTTP/1.1
                    // connection itself.
                    return Poll::Ready(Ok(()));
                }
                // hyper asks for more, so it has taken every request before
                // the refused one: the server now closes the connection
                // gracefully, and nothing more is read.
                if !guard.told {
                    guard.told = true;
                    guard.refusals.0.notify_one();
                }
                return Poll::Pending;
            }
            let before = buf.filled().len();
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            if buf.filled().len() == before {
                // The end of the stream: an incomplete head held back is
                // dropped; hyper would not have served it either.
                return Poll::Ready(Ok(()));
            }
            guard.sort(buf, before);
            if buf.filled().len() > before {
                guard.given = true;
                return Poll::Ready(Ok(()));
            }
            // All of it held back or cleared into `out`: loop.
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FramingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
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

    /// hyper shuts the stream down when it is done with the connection:
    /// after a refusal, every earlier response is written by then, and the
    /// `400` goes last.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some((resp, written)) = this.guard.as_mut().and_then(|g| g.refusal.as_mut()) {
            while let Some(rest) = resp.get(*written..).filter(|r| !r.is_empty()) {
                match Pin::new(&mut this.inner).poll_write(cx, rest) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(n)) => *written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match Pin::new(&mut this.inner).poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A stream that yields `chunks` one per read, then ends.
    struct Script {
        chunks: Vec<Vec<u8>>,
        next: usize,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let i = self.next;
            if let Some(chunk) = self.chunks.get_mut(i) {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                chunk.drain(..n);
                if chunk.is_empty() {
                    self.next += 1;
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// What hyper would be handed from `chunks` through reads of at most
    /// `room` bytes, and whether a head was refused.
    fn through(chunks: Vec<Vec<u8>>, room: usize) -> (Vec<u8>, bool) {
        let script = Script { chunks, next: 0 };
        let (mut io, _refusals) = FramingIo::new(script, 8192, 100);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut seen = Vec::new();
        loop {
            let mut space = vec![0u8; room];
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    let refused = io.guard.as_ref().unwrap().refusal.is_some();
                    return (seen, refused);
                }
                Poll::Ready(Ok(())) => seen.extend_from_slice(buf.filled()),
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => {
                    assert!(io.guard.as_ref().unwrap().refusal.is_some());
                    return (seen, true);
                }
            }
        }
    }

    /// `bytes` split at every offset, and in single bytes, read through
    /// buffers of several sizes: always the same outcome.
    fn every_split(bytes: &[u8]) -> (Vec<u8>, bool) {
        let whole = through(vec![bytes.to_vec()], 64 * 1024);
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            for room in [5, 64 * 1024] {
                let chunks = [a, b].into_iter().filter(|c| !c.is_empty());
                let split = through(chunks.map(<[u8]>::to_vec).collect(), room);
                assert_eq!(split, whole, "split at {at}, reads of {room}");
            }
        }
        let singles = bytes.iter().map(|&b| vec![b]).collect();
        assert_eq!(through(singles, 3), whole, "single bytes");
        whole
    }

    const VALID: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
        POST /c HTTP/1.1\r\nHost: x\r\ntransfer-encoding: gzip, Chunked\r\n\r\n\
        5;name=\"v\"\r\nhello\r\nA ; x=1\r\n0123456789\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n\
        PUT /d HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n\
        \r\nGET /e HTTP/1.1\nHost: x\n\n\
        POST /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

    #[test]
    fn valid_pipelines_pass_whole_at_every_split() {
        let (seen, refused) = every_split(VALID);
        assert!(!refused);
        assert_eq!(seen, VALID);
    }

    const AMBIGUOUS: &[(&str, &str)] = &[
        (
            "CL then TE",
            "Content-Length: 30\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "TE then CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 30\r\n",
        ),
        (
            "CL 0 and TE",
            "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "TE and CL, same",
            "transfer-encoding: chunked\r\ncontent-length: 18\r\n",
        ),
        (
            "two identical CL",
            "Content-Length: 5\r\nContent-Length: 5\r\n",
        ),
        (
            "two different CL",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
        ),
        ("CL list", "Content-Length: 5, 5\r\n"),
        ("CL with a sign", "Content-Length: +5\r\n"),
        (
            "TE not ending in chunked",
            "Transfer-Encoding: chunked, gzip\r\n",
        ),
        (
            "TE chunked then identity",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        ),
    ];

    #[test]
    fn ambiguous_heads_are_refused_with_nothing_of_them_passed() {
        for (case, fields) in AMBIGUOUS {
            let bad = format!(
                "POST /bad HTTP/1.1\r\nHost: x\r\n{fields}\r\n5\r\nhello\r\n0\r\n\r\n\
                 GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
            );
            let mut bytes = VALID.to_vec();
            bytes.extend_from_slice(bad.as_bytes());
            let (seen, refused) = every_split(&bytes);
            assert!(refused, "{case}");
            assert_eq!(seen, VALID, "{case}");
            // First on the connection: nothing at all.
            assert_eq!(
                through(vec![bad.into_bytes()], 1024),
                (vec![], true),
                "{case}"
            );
        }
    }

    #[test]
    fn transfer_encoding_on_http_1_0_is_refused() {
        let bytes = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec();
        assert_eq!(through(vec![bytes], 1024), (vec![], true));
    }

    /// Heads that hyper itself refuses (and then closes), that switch
    /// protocols, or that are too long are handed through for hyper to
    /// decide; nothing after them is inspected.
    #[test]
    fn what_hyper_decides_alone_passes() {
        let hidden = "POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for case in [
            "GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX A: b\r\n\r\n",
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let bytes = format!("{case}{hidden}").into_bytes();
            let (seen, refused) = every_split(&bytes);
            assert!(!refused, "{case:?}");
            assert_eq!(seen, bytes, "{case:?}");
        }
    }

    /// Bytes hyper already refuses are not held waiting for a head end.
    #[test]
    fn invalid_beginnings_pass_at_once() {
        for start in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/1.1\r\nX A",
            b"GET / HTTP/1.1\r\nX-A: a\r\n b",
            b"GET / HTTP/9",
        ] {
            let (seen, refused) = through(vec![start.to_vec()], 1024);
            assert!(!refused);
            assert_eq!(seen, start);
        }
        // A valid beginning is held.
        assert_eq!(
            through(vec![b"GET / HTTP/1.1\r\nX-A: a".to_vec()], 1024),
            (vec![], false)
        );
    }

    #[test]
    fn an_incomplete_head_is_released_at_the_size_limit() {
        let mut bytes = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        bytes.resize(8192, b'a');
        let (seen, refused) = through(vec![bytes.clone(), b"\r\n\r\n".to_vec()], 100_000);
        assert!(!refused);
        assert_eq!(seen.len(), 8196);
        // One byte short of the limit: still held, then judged.
        bytes.truncate(8000);
        bytes.extend_from_slice(b"\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
        let split = bytes.split_at(8000);
        let (seen, refused) = through(vec![split.0.to_vec(), split.1.to_vec()], 100_000);
        assert!(refused);
        assert!(seen.is_empty());
    }

    #[test]
    fn many_fields_are_judged_up_to_the_configured_count() {
        let mut head = String::from("POST / HTTP/1.1\r\n");
        for i in 0..90 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        head.push_str("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            through(vec![head.clone().into_bytes()], 1 << 16),
            (vec![], true)
        );

        // More than hyper takes: hyper answers 431.
        let script = Script {
            chunks: vec![head.clone().into_bytes()],
            next: 0,
        };
        let (mut io, _) = FramingIo::new(script, 8192, 50);
        let mut space = vec![0u8; 1 << 16];
        let mut buf = ReadBuf::new(&mut space);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), head.as_bytes());
    }

    #[test]
    fn chunked_bodies_follow_hypers_grammar() {
        // (bytes after the head, whether the tracker still follows)
        let cases: &[(&[u8], bool)] = &[
            (b"0\r\n\r\n", true),
            (b"00000\r\n\r\n", true),
            (b"1 \t;a=b\r\nx\r\n0\r\nT: 1\r\n\r\n", true),
            (b"1\r\nx\r\n0\r\n\r\n", true),
            (b"1\nx\r\n0\r\n\r\n", false),
            (b"1;a\nx\r\n0\r\n\r\n", false),
            (b"1 2\r\nx\r\n0\r\n\r\n", false),
            (b"g\r\n", false),
            (b"1\r\nxy\r\n", false),
            (b"10000000000000000\r\n", false),
            (b"0\r\n\r\r", false),
        ];
        for (body, follows) in cases {
            let mut t = Tracker::new(8192, 100);
            let mut bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            );
            let verdict = t.feed(&bytes);
            let want = if *follows {
                Verdict::Refuse {
                    from: bytes.len() - 56,
                }
            } else {
                Verdict::Pass
            };
            assert_eq!(verdict, want, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn the_refusal_is_json_with_its_exact_length() {
        let resp = String::from_utf8(refusal_response()).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("connection: close"));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "invalid_request");
    }

    #[test]
    fn lengths_are_digits_only() {
        assert_eq!(from_digits(b"0"), Some(0));
        assert_eq!(from_digits(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"+5",
            b"5 ",
            b"5,5",
            b"0x5",
        ] {
            assert_eq!(from_digits(bad), None, "{bad:?}");
        }
        assert!(is_chunked(b"gzip ,\tchunked"));
        assert!(!is_chunked(b"chunked\x80"));
        assert!(!is_chunked(b"chunked;q=1"));
    }
}
