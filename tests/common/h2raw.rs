//! HTTP/2 written frame by frame (RFC 9113) over TLS with ALPN `h2`: header
//! blocks as HPACK literals, so a test can send what no HTTP/2 library
//! would (connection-specific fields, misplaced or repeated pseudo-headers,
//! a `content-length` that the DATA contradicts, streams opened and reset
//! in a loop), and read back what the server did with each stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::client::{tls_client_config, Alpn, TlsVersion};
use super::conn::tls_connect;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const ACK: u8 = 0x1;

/// RST_STREAM / GOAWAY error code CANCEL.
pub const CANCEL: u32 = 0x8;

/// One frame: its 9-byte header and payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte `flags | …`.
fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literal fields without indexing, new names, no Huffman
/// (RFC 7541 §6.2.2): every byte of every name and value exactly as given.
pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// What the server did with one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// Response headers with this `:status`.
    Status(u16),
    /// RST_STREAM with this error code.
    Reset(u32),
    /// GOAWAY with this error code (the connection is done).
    GoAway(u32),
    /// The connection closed (or nothing came within the wait).
    Closed(String),
}

/// The `:status` of a response header block, when it is the first field as
/// an indexed static entry or a literal with the `:status` name index (the
/// value raw or Huffman-coded digits: what hyper's encoder writes).
pub fn status_of(block: &[u8]) -> Option<u16> {
    let first = *block.first()?;
    let indexed = [
        (8, 200),
        (9, 204),
        (10, 206),
        (11, 304),
        (12, 400),
        (13, 404),
        (14, 500),
    ];
    if first & 0x80 != 0 {
        let idx = first & 0x7f;
        return indexed.iter().find(|(i, _)| *i == idx).map(|(_, s)| *s);
    }
    // Literal with incremental indexing (0x40 | 8), without (0x08), never (0x18).
    if first != 0x48 && first != 0x08 && first != 0x18 {
        return None;
    }
    let len_byte = *block.get(1)?;
    let len = usize::from(len_byte & 0x7f);
    let raw = block.get(2..2 + len)?;
    let text = if len_byte & 0x80 == 0 {
        String::from_utf8(raw.to_vec()).ok()?
    } else {
        huffman_digits(raw)?
    };
    text.parse().ok()
}

/// Decodes a Huffman string made only of digits (RFC 7541 Appendix B).
fn huffman_digits(raw: &[u8]) -> Option<String> {
    // (code, bits) for '0'..='9'.
    const CODES: [(u32, u32); 10] = [
        (0x0, 5),
        (0x1, 5),
        (0x2, 5),
        (0x19, 6),
        (0x1a, 6),
        (0x1b, 6),
        (0x1c, 6),
        (0x1d, 6),
        (0x1e, 6),
        (0x1f, 6),
    ];
    let bits: Vec<u8> = raw
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut pos = 0;
    'next: while pos < bits.len() {
        for (digit, (code, len)) in CODES.iter().enumerate() {
            let len = *len as usize;
            if pos + len > bits.len() {
                continue;
            }
            let v = bits[pos..pos + len]
                .iter()
                .fold(0u32, |acc, b| acc << 1 | u32::from(*b));
            if v == *code {
                out.push(char::from(b'0' + digit as u8));
                pos += len;
                continue 'next;
            }
        }
        // Padding: the most significant bits of EOS, all ones.
        if bits[pos..].iter().all(|b| *b == 1) && bits.len() - pos < 8 {
            break;
        }
        return None;
    }
    Some(out)
}

/// An HTTP/2 connection driven by hand.
pub struct H2Raw {
    pub tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    pub goaway: Option<u32>,
}

impl H2Raw {
    /// TLS with ALPN `h2`, the preface and an empty SETTINGS frame.
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> H2Raw {
        let cfg = tls_client_config(ca_pem, TlsVersion::Any, Alpn::Http2);
        let mut tls = tls_connect(addr, cfg, "localhost").await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls.write_all(PREFACE).await.unwrap();
        tls.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        H2Raw {
            tls,
            buf: Vec::new(),
            goaway: None,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes).await?;
        self.tls.flush().await
    }

    /// HEADERS (END_HEADERS, and END_STREAM when `end`) with `fields`.
    pub async fn headers(
        &mut self,
        stream: u32,
        fields: &[(&str, &str)],
        end: bool,
    ) -> std::io::Result<()> {
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        self.send(&frame(HEADERS, flags, stream, &block(fields)))
            .await
    }

    pub async fn data(&mut self, stream: u32, data: &[u8], end: bool) -> std::io::Result<()> {
        let flags = if end { END_STREAM } else { 0 };
        self.send(&frame(DATA, flags, stream, data)).await
    }

    /// The next whole frame (kind, flags, stream, payload); `None` when the
    /// connection closed or nothing came within `wait`. SETTINGS are
    /// acknowledged on the way.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<(u8, u8, u32, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 9 {
                let len = (usize::from(self.buf[0]) << 16)
                    | (usize::from(self.buf[1]) << 8)
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let kind = self.buf[3];
                    let flags = self.buf[4];
                    let stream =
                        u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) & 0x7fff_ffff;
                    let payload = self.buf[9..9 + len].to_vec();
                    self.buf.drain(..9 + len);
                    if kind == SETTINGS && flags & ACK == 0 {
                        let _ = self.send(&frame(SETTINGS, ACK, 0, &[])).await;
                    }
                    if kind == GOAWAY && payload.len() >= 8 {
                        self.goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
                    }
                    return Some((kind, flags, stream, payload));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// What the server did with `stream`: its response status, a reset, or
    /// the end of the connection, waiting at most `wait`.
    pub async fn outcome(&mut self, stream: u32, wait: Duration) -> StreamEnd {
        loop {
            let Some((kind, _, id, payload)) = self.next_frame(wait).await else {
                return StreamEnd::Closed("connection closed or silent".into());
            };
            match kind {
                HEADERS if id == stream => {
                    return match status_of(&payload) {
                        Some(s) => StreamEnd::Status(s),
                        None => StreamEnd::Closed(format!("undecodable headers {payload:02x?}")),
                    };
                }
                RST_STREAM if id == stream && payload.len() == 4 => {
                    return StreamEnd::Reset(u32::from_be_bytes(payload[..4].try_into().unwrap()))
                }
                GOAWAY => return StreamEnd::GoAway(self.goaway.unwrap_or(u32::MAX)),
                _ => {}
            }
        }
    }

    /// Reads until the server closes the connection or `wait` passes; true
    /// when it closed (after a GOAWAY or not).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}
