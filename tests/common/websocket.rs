//! A minimal WebSocket (RFC 6455), written from the RFC: the opening
//! handshake with `Sec-WebSocket-Accept` computed per §4.2.2, frames (§5.2)
//! that a client masks and a server does not, the echo loop of
//! [`super::Behaviour::WebSocketEcho`], and [`TestGateway::websocket`], an
//! upgrade through the gateway over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::client::{Alpn, Answer, TlsVersion};
use super::conn::tls_connect;
use super::gateway::TestGateway;
use super::jose::b64_std;
use super::req::{parse_response, read_response, Req};

/// The GUID of RFC 6455 §1.3.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2 item 5.4):
/// base64 of the SHA-1 of the key followed by the GUID.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    b64_std(digest.as_ref())
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).unwrap();
    out
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (§4.1).
pub fn new_key() -> String {
    b64_std(random::<16>())
}

/// One frame as read (unmasked payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A final frame (§5.2): 7-bit, 16-bit or 64-bit length, masked with `mask`
/// when given.
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame and unmasks its payload.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await?;
    let len = match head[1] & 0x7F {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    let masked = head[1] & 0x80 != 0;
    let mut key = [0u8; 4];
    if masked {
        r.read_exact(&mut key).await?;
    }
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    r.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Frame {
        fin: head[0] & 0x80 != 0,
        opcode: head[0] & 0x0F,
        masked,
        payload,
    })
}

/// The server side of [`super::Behaviour::WebSocketEcho`]: echoes text and
/// binary frames unmasked, answers a ping with a pong and a close with a
/// close, then ends. An unmasked client frame is a protocol error (§5.1):
/// close 1002.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) {
    loop {
        let Ok(frame) = read_frame(&mut io).await else {
            return;
        };
        if !frame.masked {
            let _ = io
                .write_all(&encode(CLOSE, &1002u16.to_be_bytes(), None))
                .await;
            return;
        }
        let reply = match frame.opcode {
            TEXT | BINARY => frame.opcode,
            PING => PONG,
            CLOSE => CLOSE,
            _ => continue,
        };
        if io
            .write_all(&encode(reply, &frame.payload, None))
            .await
            .is_err()
        {
            return;
        }
        if frame.opcode == CLOSE {
            let _ = io.shutdown().await;
            return;
        }
    }
}

/// The client end of an open WebSocket.
pub struct WebSocket<S> {
    pub io: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Sends one final frame, masked with a fresh key (§5.3).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let frame = encode(opcode, payload, Some(random::<4>()));
        self.io.write_all(&frame).await.unwrap();
        self.io.flush().await.unwrap();
    }

    pub async fn recv(&mut self) -> std::io::Result<Frame> {
        read_frame(&mut self.io).await
    }

    /// Sends `payload` as `opcode` and returns the answer, which must be a
    /// final, unmasked frame (a server never masks, §5.1).
    pub async fn round_trip(&mut self, opcode: u8, payload: &[u8]) -> Frame {
        self.send(opcode, payload).await;
        let frame = self.recv().await.unwrap();
        assert!(frame.fin && !frame.masked, "{frame:?}");
        frame
    }

    /// The closing handshake (§5.5.1): close 1000, the peer's close, then
    /// the end of the stream. Returns the peer's close frame.
    pub async fn close(mut self) -> Frame {
        self.send(CLOSE, &1000u16.to_be_bytes()).await;
        let frame = self.recv().await.unwrap();
        let mut rest = Vec::new();
        let _ = self.io.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "bytes after the close: {rest:?}");
        frame
    }
}

/// What an opening handshake got.
pub enum Opened<S> {
    /// `101` with the right `Sec-WebSocket-Accept`; the response head.
    Switched(Answer, WebSocket<S>),
    /// Any other answer, read whole.
    Refused(Answer),
}

impl<S> Opened<S> {
    /// The WebSocket; panics (with the answer) when the upgrade was refused.
    pub fn switched(self) -> (Answer, WebSocket<S>) {
        match self {
            Opened::Switched(head, ws) => (head, ws),
            Opened::Refused(a) => panic!("upgrade refused: {} {}", a.status, a.text()),
        }
    }

    /// The refusal; panics when the connection switched.
    pub fn refused(self) -> Answer {
        match self {
            Opened::Switched(head, _) => panic!("upgrade accepted: {:?}", head.headers),
            Opened::Refused(a) => a,
        }
    }
}

/// The opening handshake (§4.1) on `io`: `req`'s method, path and header
/// lines, `Host: authority`, `Connection: Upgrade`, `Upgrade: websocket`,
/// `Sec-WebSocket-Version: 13` and a fresh key. A `101` must carry
/// `Upgrade: websocket` and the key's `Sec-WebSocket-Accept`.
pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    authority: &str,
    req: &Req,
) -> Result<Opened<S>, String> {
    let key = new_key();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
        req.method, req.path
    );
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    ));
    io.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    io.flush().await.map_err(|e| e.to_string())?;

    // Byte by byte up to the end of the head: what follows a 101 is frames.
    let mut buf = Vec::new();
    while !buf.ends_with(b"\r\n\r\n") {
        let b = io
            .read_u8()
            .await
            .map_err(|e| format!("after {} bytes: {e}", buf.len()))?;
        buf.push(b);
        assert!(buf.len() < 64 * 1024, "response head too long");
    }
    if buf.starts_with(b"HTTP/1.1 101 ") {
        let (answer, _) = parse_response(&buf)?.ok_or("incomplete 101")?;
        let upgrade = answer.header("upgrade").unwrap_or("");
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Err(format!("101 with Upgrade {upgrade:?}"));
        }
        let want = accept_key(&key);
        if answer.header("sec-websocket-accept") != Some(want.as_str()) {
            return Err(format!("wrong Sec-WebSocket-Accept: {:?}", answer.headers));
        }
        return Ok(Opened::Switched(answer, WebSocket { io }));
    }
    read_response(&mut io, buf).await.map(Opened::Refused)
}

/// [`open`] on a fresh TLS connection (ALPN `http/1.1`) to `addr`, a
/// gateway whose certificate `cfg` trusts.
pub async fn open_tls(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    req: &Req,
) -> Result<Opened<TlsStream<TcpStream>>, String> {
    let tls = tls_connect(addr, cfg, "localhost")
        .await
        .map_err(|e| e.to_string())?;
    open(tls, &format!("127.0.0.1:{}", addr.port()), req).await
}

impl TestGateway {
    /// A WebSocket opening handshake for `req` (a `GET` with its header
    /// lines) on a fresh TLS connection to the gateway.
    pub async fn websocket(&self, req: &Req) -> Result<Opened<TlsStream<TcpStream>>, String> {
        open_tls(
            self.addr,
            self.tls_config(TlsVersion::Any, Alpn::Http1),
            req,
        )
        .await
    }
}
