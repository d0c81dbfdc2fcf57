//! One request on a raw connection: a TLS handshake to an address with a
//! given rustls config, then hyper's connection-level HTTP/1.1 or HTTP/2
//! client on it (no pool, nothing negotiated behind the test's back); and
//! [`Conn`], many requests on one such connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HOST;
use http::{HeaderValue, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ProtocolVersion;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use super::body::{BoxError, TestBody};
use super::client::Answer;

/// What a raw TLS connection negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: ProtocolVersion,
    pub alpn: Option<Vec<u8>>,
}

/// Connects to `addr` and completes a TLS handshake for `server_name`.
pub async fn tls_connect(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    server_name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
}

/// The rustls error inside a failed handshake, if that is what it was.
pub fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

/// One request on a fresh TLS connection to `addr`, with hyper's
/// connection-level client: HTTP/2 when ALPN chose `h2`, else HTTP/1.1. For
/// HTTP/1.1 an absolute URI becomes origin-form plus a `Host` header (unless
/// one is set); for HTTP/2 it becomes `:authority`.
pub async fn raw_request(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    server_name: &str,
    req: Request<TestBody>,
) -> Result<(TlsInfo, Answer), BoxError> {
    let tls = tls_connect(addr, cfg, server_name).await?;
    let conn = tls.get_ref().1;
    let info = TlsInfo {
        version: conn
            .protocol_version()
            .ok_or("no protocol version after the handshake")?,
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    };
    let answer = if info.alpn.as_deref() == Some(b"h2") {
        http2_on(tls, req).await?
    } else {
        http1_on(tls, req).await?
    };
    Ok((info, answer))
}

/// One HTTP/1.1 request on an established connection.
pub async fn http1_on<I>(io: I, mut req: Request<TestBody>) -> Result<Answer, BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    origin_form(&mut req)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    Answer::read(sender.send_request(req).await?).await
}

/// HTTP/1.1: an absolute URI becomes origin-form plus a `Host` header
/// (unless one is set).
fn origin_form(req: &mut Request<TestBody>) -> Result<(), BoxError> {
    if let Some(auth) = req.uri().authority().cloned() {
        if !req.headers().contains_key(HOST) {
            req.headers_mut()
                .insert(HOST, HeaderValue::from_str(auth.as_str())?);
        }
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        *req.uri_mut() = pq.parse()?;
    }
    Ok(())
}

/// One HTTP/2 request on an established connection (`req` needs an absolute URI).
pub async fn http2_on<I>(io: I, req: Request<TestBody>) -> Result<Answer, BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await?;
    tokio::spawn(conn);
    Answer::read(sender.send_request(req).await?).await
}

/// One TLS connection with hyper's connection-level client on it: every
/// request goes on this connection, never on another.
pub struct Conn<S> {
    pub sender: S,
    /// Ends when the connection does (the server closed it, or it failed).
    pub closed: JoinHandle<Result<(), hyper::Error>>,
}

impl Conn<hyper::client::conn::http1::SendRequest<TestBody>> {
    /// HTTP/1.1 (keep-alive) on a fresh TLS connection to `addr`.
    pub async fn http1(addr: SocketAddr, cfg: rustls::ClientConfig) -> Result<Self, BoxError> {
        let tls = tls_connect(addr, cfg, "localhost").await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        Ok(Conn {
            sender,
            closed: tokio::spawn(conn),
        })
    }

    /// Sends `req` (origin-form target and `Host` made from an absolute URI)
    /// and reads the whole answer.
    pub async fn send(&mut self, mut req: Request<TestBody>) -> Result<Answer, BoxError> {
        origin_form(&mut req)?;
        self.sender.ready().await?;
        Answer::read(self.sender.send_request(req).await?).await
    }
}

impl Conn<hyper::client::conn::http2::SendRequest<TestBody>> {
    /// HTTP/2 on a fresh TLS connection to `addr` (`cfg` must offer `h2`),
    /// sending a PING every `ping` even while no request is open.
    pub async fn http2(
        addr: SocketAddr,
        cfg: rustls::ClientConfig,
        ping: std::time::Duration,
    ) -> Result<Self, BoxError> {
        let tls = tls_connect(addr, cfg, "localhost").await?;
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(ping)
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(tls))
            .await?;
        Ok(Conn {
            sender,
            closed: tokio::spawn(conn),
        })
    }

    /// Sends `req` (an absolute URI) and reads the whole answer.
    pub async fn send(&mut self, req: Request<TestBody>) -> Result<Answer, BoxError> {
        self.sender.ready().await?;
        Answer::read(self.sender.send_request(req).await?).await
    }
}
