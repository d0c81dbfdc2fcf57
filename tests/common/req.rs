//! Requests to a gateway under test. [`Req`]: a request as data (method,
//! path and query, header lines with repeats and odd values allowed, in
//! order, and a body), sent over HTTP/1.1 or HTTP/2 by hyper, or written
//! byte for byte over TLS (to control header-name case, which hyper always
//! lower-cases). And [`TestGateway`] helpers that send DPoP and Bearer
//! requests with fresh proofs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use dpop_gateway::jose::SigningKey;
use dpop_gateway::mint::{self, ProofSpec};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::body::{empty, full, TestBody};
use super::client::{error_chain, tls_client_config, Alpn, Answer, TestClient, TlsVersion};
use super::conn::tls_connect;
use super::gateway::TestGateway;

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header lines, in order; the same name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, path: &str) -> Req {
        Req {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Req {
        Req::new("GET", path)
    }

    /// Appends a header line.
    pub fn h(mut self, name: &str, value: impl Into<String>) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: DPoP <token>` and `DPoP: <proof>`.
    pub fn dpop(self, token: &str, proof: &str) -> Req {
        self.h("Authorization", format!("DPoP {token}"))
            .h("DPoP", proof)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    /// The hyper request for `base` (`https://host:port`).
    pub fn to_request(&self, base: &str) -> Request<TestBody> {
        let mut b = Request::builder()
            .method(self.method.as_str())
            .uri(format!("{base}{}", self.path));
        for (name, value) in &self.headers {
            b = b.header(
                HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|e| panic!("header name {name:?}: {e}")),
                HeaderValue::from_bytes(value.as_bytes())
                    .unwrap_or_else(|e| panic!("header value of {name}: {e}")),
            );
        }
        let body = if self.body.is_empty() {
            empty()
        } else {
            full(self.body.clone())
        };
        b.body(body).unwrap()
    }

    /// The HTTP/1.1 bytes of this request, header names exactly as given,
    /// with `Host: authority` unless a Host line is given, `Content-Length`
    /// and `Connection: close`.
    pub fn to_raw_h1(&self, authority: &str) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            out.push_str(&format!("Host: {authority}\r\n"));
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// How a request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    H1,
    H2,
    /// Raw HTTP/1.1 bytes on a fresh TLS connection.
    Raw,
}

/// Sends `req` to `gw`; `Err` is a transport failure (as text).
pub async fn send(gw: &TestGateway, via: Via, req: &Req) -> Result<Answer, String> {
    match via {
        Via::H1 => gw
            .h1()
            .send(req.to_request(&gw.base()))
            .await
            .map_err(|e| error_chain(&*e)),
        Via::H2 => gw
            .h2()
            .send(req.to_request(&gw.base()))
            .await
            .map_err(|e| error_chain(&*e)),
        Via::Raw => raw_h1(gw.addr, &gw.pki.ca_pem, &req.to_raw_h1(&gw.authority())).await,
    }
}

/// Sends `req` over HTTP/1.1 to any gateway at `base` (`https://host:port`)
/// whose certificate chains to `ca_pem`.
pub async fn send_to(ca_pem: &str, base: &str, req: &Req) -> Result<Answer, String> {
    TestClient::https(ca_pem, TlsVersion::Any, Alpn::Http1)
        .send(req.to_request(base))
        .await
        .map_err(|e| error_chain(&*e))
}

/// Writes `bytes` on a fresh TLS connection (HTTP/1.1) and reads one response
/// (status line, headers, `Content-Length` body).
pub async fn raw_h1(addr: SocketAddr, ca_pem: &str, bytes: &[u8]) -> Result<Answer, String> {
    let cfg = tls_client_config(ca_pem, TlsVersion::Any, Alpn::Http1);
    let mut tls = tls_connect(addr, cfg, "localhost")
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(bytes).await.map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    read_response(&mut tls, Vec::new()).await
}

/// A fresh TLS connection (HTTP/1.1 by ALPN) for raw writes.
pub async fn raw_h1_connect(
    addr: SocketAddr,
    ca_pem: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let cfg = tls_client_config(ca_pem, TlsVersion::Any, Alpn::Http1);
    tls_connect(addr, cfg, "localhost")
        .await
        .map_err(|e| e.to_string())
}

/// Reads from `io` until the peer closes the connection (an error after
/// some bytes counts as closed), for at most `timeout`: every complete
/// response in order, and the bytes after the last one.
pub async fn read_until_closed<S: AsyncRead + Unpin>(
    io: &mut S,
    timeout: std::time::Duration,
) -> Result<(Vec<Answer>, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let read_all = async {
        loop {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(timeout, read_all)
        .await
        .map_err(|_| "the connection stayed open".to_owned())?;
    let mut answers = Vec::new();
    let mut at = 0;
    while let Some((answer, used)) = parse_response(&buf[at..])? {
        answers.push(answer);
        at += used;
    }
    Ok((answers, buf[at..].to_vec()))
}

/// Reads from `io` until `buf` plus what was read holds one whole response
/// (see [`parse_response`]). Bytes past it are lost: for one response at a
/// time.
pub async fn read_response<S: AsyncRead + Unpin>(
    io: &mut S,
    mut buf: Vec<u8>,
) -> Result<Answer, String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((answer, _)) = parse_response(&buf)? {
            return Ok(answer);
        }
        match io.read(&mut chunk).await {
            Ok(0) => return Err(format!("connection closed after {} bytes", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read failed after {} bytes: {e}", buf.len())),
        }
    }
}

/// An HTTP/1.1 response at the start of `buf` (status line, headers,
/// `Content-Length` body) and how many bytes it took; `Ok(None)` while it is
/// incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Answer, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let code: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?,
            HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?,
        );
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body_start = end + 4;
    if buf.len() < body_start + len {
        return Ok(None);
    }
    let answer = Answer {
        status: StatusCode::from_u16(code).map_err(|e| e.to_string())?,
        version: Version::HTTP_11,
        headers,
        body: Bytes::copy_from_slice(&buf[body_start..body_start + len]),
    };
    Ok(Some((answer, body_start + len)))
}

impl TestGateway {
    /// A fresh proof by `key` for `method` on `path`, bound to `token`, `iat` = now.
    pub fn proof(&self, key: &SigningKey, method: &str, path: &str, token: &str) -> String {
        let url = self.url(path);
        mint::proof(
            key,
            &ProofSpec {
                method,
                url: &url,
                token: Some(token),
                nonce: None,
                iat: self.now(),
            },
        )
        .unwrap()
    }

    /// `GET path` with `Authorization: DPoP token` and a fresh proof by `key`.
    pub fn dpop_request(&self, path: &str, token: &str, key: &SigningKey) -> Request<TestBody> {
        Request::get(self.url(path))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", self.proof(key, "GET", path, token))
            .body(empty())
            .unwrap()
    }

    /// Sends [`TestGateway::dpop_request`]; panics on a transport error.
    pub async fn dpop_get(
        &self,
        client: &TestClient,
        path: &str,
        token: &str,
        key: &SigningKey,
    ) -> Answer {
        client
            .send(self.dpop_request(path, token, key))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {}", error_chain(&*e)))
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub async fn bearer_get(&self, client: &TestClient, path: &str, token: &str) -> Answer {
        let req = Request::get(self.url(path))
            .header("authorization", format!("Bearer {token}"))
            .body(empty())
            .unwrap();
        client
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {}", error_chain(&*e)))
    }
}
