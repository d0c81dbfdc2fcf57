//! Shared harness for the integration tests: everything runs over real
//! loopback sockets.
//!
//! - [`Upstream`]: an in-process plain-HTTP server (HTTP/1.1 and h2c) that
//!   records every request it receives and answers per a [`Behaviour`].
//! - [`TestClient`] and [`raw_request`]: HTTPS clients (hyper-util over
//!   rustls) that trust only the test CA, with the TLS version and ALPN forced.
//! - [`TestGateway`]: the gateway in-process, on ephemeral ports, with a fresh
//!   PKI in a temporary directory.
//! - [`GatewayProcess`] and [`run_bin`]: the `dpop-gateway` binary as a child
//!   process (its own RSS, real signals, exit codes).
//!
//! Bodies of any size stream: [`PatternBody`] generates a deterministic byte
//! pattern chunk by chunk, and [`BodyDigest`] counts and hashes bytes as they
//! pass, so a test never holds a large body whole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::convert::Infallible;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE, HOST};
use http::uri::Uri;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ProtocolVersion;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::{DemoPki, PkiFiles};
use dpop_gateway::server::Gateway;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body type of every test client.
pub type TestBody = UnsyncBoxBody<Bytes, BoxError>;

type UpBody = UnsyncBoxBody<Bytes, Infallible>;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Upstream
// ---------------------------------------------------------------------------

/// How much of each request body an [`Upstream`] keeps (the rest is only
/// counted and hashed).
pub const BODY_KEEP: usize = 1024 * 1024;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// The request target as received (origin-form: path and query).
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    /// The first [`BODY_KEEP`] bytes of the body.
    pub body: Bytes,
    pub body_len: u64,
    pub body_sha256: String,
    /// Set when reading the body failed (client or gateway aborted it).
    pub body_error: Option<String>,
    pub peer: SocketAddr,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("", |p| p.as_str())
    }

    /// The first value of `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

/// Builds a whole response for [`Behaviour::Respond`].
pub type Responder = Arc<dyn Fn(&Recorded) -> Response<Bytes> + Send + Sync>;

/// What an [`Upstream`] answers. Every behaviour first reads the request body
/// to the end (counting and hashing it) and records the request.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 with a JSON description of the request (see [`echo_json`]).
    Echo,
    /// Waits this long, then answers as [`Behaviour::Echo`].
    Delay(Duration),
    /// 200 with a body of this many pattern bytes, streamed in chunks
    /// (with a Content-Length).
    Download(u64),
    /// [`Behaviour::Echo`] plus hop-by-hop fields in the response:
    /// `Connection: X-Up-Secret, Keep-Alive`, `X-Up-Secret`, `Keep-Alive`,
    /// `Proxy-Connection`, `Proxy-Authenticate`, `Upgrade`, `Trailer`; and the
    /// end-to-end `X-Up-Kept: yes`.
    HopByHop,
    /// Whatever the closure builds.
    Respond(Responder),
}

/// Response header every upstream (except [`Behaviour::Respond`]) sets to its name.
pub const UPSTREAM_NAME_HEADER: &str = "x-upstream-name";

struct UpState {
    name: String,
    behaviour: Behaviour,
    records: Mutex<Vec<Recorded>>,
    /// Requests whose head arrived (bumped before the body is read).
    arrived: AtomicUsize,
    connections: AtomicUsize,
    changed: Notify,
}

/// An in-process plain-HTTP upstream on `127.0.0.1:0` (HTTP/1.1 and h2c).
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<UpState>,
    accept: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Upstream {
    pub async fn echo() -> Upstream {
        Self::start(Behaviour::Echo).await
    }

    pub async fn start(behaviour: Behaviour) -> Upstream {
        Self::named("upstream", behaviour).await
    }

    /// An upstream whose responses carry `X-Upstream-Name: <name>` (and
    /// `"upstream": name` in echo JSON), to tell routes apart.
    pub async fn named(name: &str, behaviour: Behaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(UpState {
            name: name.to_owned(),
            behaviour,
            records: Mutex::new(Vec::new()),
            arrived: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(upstream_handle(st, peer, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            state,
            accept,
        }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// `http://127.0.0.1:PORT`, for a route's `upstream`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`: the `Host` the gateway must send.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Every request recorded so far (a request is recorded once its body was read).
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.records.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.records.lock().unwrap().len()
    }

    /// Requests whose head arrived, recorded or not yet.
    pub fn arrived(&self) -> usize {
        self.state.arrived.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The last recorded request; panics when there is none.
    pub fn last(&self) -> Recorded {
        self.state
            .records
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream received no request")
    }

    /// Waits until at least `n` requests are recorded; false on timeout.
    pub async fn wait_recorded(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(|| self.count() >= n, timeout).await
    }

    /// Waits until at least `n` request heads arrived; false on timeout.
    pub async fn wait_arrived(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(|| self.arrived() >= n, timeout).await
    }

    async fn wait_until(&self, cond: impl Fn() -> bool, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so no wake-up is lost.
            let changed = self.state.changed.notified();
            if cond() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return cond();
            }
        }
    }
}

async fn upstream_handle(
    st: Arc<UpState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<UpBody> {
    st.arrived.fetch_add(1, Ordering::SeqCst);
    st.changed.notify_waiters();
    let (parts, mut body) = req.into_parts();
    let mut digest = BodyDigest::new();
    let mut kept: Vec<u8> = Vec::new();
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    digest.update(&data);
                    let room = BODY_KEEP.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    let rec = Recorded {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body: Bytes::from(kept),
        body_len: digest.len,
        body_sha256: digest.sha256_hex(),
        body_error,
        peer,
    };
    st.records.lock().unwrap().push(rec.clone());
    st.changed.notify_waiters();

    let name = HeaderValue::from_str(&st.name).unwrap();
    match &st.behaviour {
        Behaviour::Echo => echo_response(&st.name, &rec),
        Behaviour::Delay(d) => {
            tokio::time::sleep(*d).await;
            echo_response(&st.name, &rec)
        }
        Behaviour::Download(len) => {
            let mut resp = Response::new(
                PatternBody::new(*len)
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            );
            let h = resp.headers_mut();
            h.insert(UPSTREAM_NAME_HEADER, name);
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        Behaviour::HopByHop => {
            let mut resp = echo_response(&st.name, &rec);
            let h = resp.headers_mut();
            for (k, v) in [
                ("connection", "X-Up-Secret, Keep-Alive"),
                ("x-up-secret", "leaked"),
                ("keep-alive", "timeout=5, max=100"),
                ("proxy-connection", "keep-alive"),
                ("proxy-authenticate", "Basic realm=\"upstream\""),
                ("upgrade", "h2c"),
                ("trailer", "X-Up-Trailer"),
                ("x-up-kept", "yes"),
            ] {
                h.insert(
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            resp
        }
        Behaviour::Respond(f) => f(&rec).map(|b| Full::new(b).boxed_unsync()),
    }
}

/// The JSON an echoing upstream answers with: `upstream`, `method`, `path`,
/// `query`, `version`, `headers` (name → list of values), `body_len`,
/// `body_sha256`.
pub fn echo_json(name: &str, rec: &Recorded) -> serde_json::Value {
    let mut headers = serde_json::Map::new();
    for name in rec.headers.keys() {
        headers.insert(
            name.as_str().to_owned(),
            serde_json::Value::from(rec.header_all(name.as_str())),
        );
    }
    serde_json::json!({
        "upstream": name,
        "method": rec.method.as_str(),
        "path": rec.path(),
        "query": rec.query(),
        "version": format!("{:?}", rec.version),
        "headers": headers,
        "body_len": rec.body_len,
        "body_sha256": rec.body_sha256,
    })
}

fn echo_response(name: &str, rec: &Recorded) -> Response<UpBody> {
    let body = echo_json(name, rec).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(UPSTREAM_NAME_HEADER, HeaderValue::from_str(name).unwrap());
    resp
}

/// A loopback address where nothing listens (bound, then released).
pub fn unused_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// Which TLS versions a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Any,
    Tls12,
    Tls13,
}

/// Which application protocols a client offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// No ALPN extension at all.
    None,
    /// `http/1.1` only. (Through [`TestClient`], hyper-rustls sends no ALPN
    /// for an HTTP/1.1-only client; use [`raw_request`] to offer `http/1.1`.)
    Http1,
    /// `h2` only.
    Http2,
    /// `h2`, `http/1.1`.
    Both,
}

impl Alpn {
    pub fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::None => vec![],
            Alpn::Http1 => vec![b"http/1.1".to_vec()],
            Alpn::Http2 => vec![b"h2".to_vec()],
            Alpn::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// A root store holding only the certificates of `ca_pem`.
pub fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A rustls client config (ring provider) that trusts only `ca_pem`, offers
/// only `version` and the `alpn` protocols.
pub fn tls_client_config(ca_pem: &str, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match version {
        TlsVersion::Any => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls12 => &[&rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(dpop_gateway::tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.protocols();
    cfg
}

/// A response read whole (for small bodies).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub async fn read(resp: Response<Incoming>) -> Result<Answer, BoxError> {
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}); status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// Asserts a gateway-made error: `status`, `Content-Type:
    /// application/json`, `{"error": code, "error_description": "..."}`.
    pub fn assert_gateway_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "headers: {:?}",
            self.headers
        );
        let v = self.json();
        assert_eq!(v["error"], code, "body: {v}");
        let desc = v["error_description"].as_str().unwrap_or("");
        assert!(!desc.is_empty(), "no error_description: {v}");
        assert!(
            self.headers.get(UPSTREAM_NAME_HEADER).is_none(),
            "a gateway-made response carries an upstream header: {:?}",
            self.headers
        );
    }
}

/// A pooled client (hyper-util legacy over hyper-rustls). It speaks https
/// with the given TLS config and plain http.
#[derive(Clone)]
pub struct TestClient {
    client: Client<HttpsConnector<HttpConnector>, TestBody>,
}

impl TestClient {
    /// Trusts only `ca_pem`, offers only `version`. `alpn`: `Http1` or `None`
    /// → HTTP/1.1 only, no ALPN sent; `Http2` → h2 only (also h2c prior
    /// knowledge for plain http); `Both` → ALPN `h2, http/1.1`.
    pub fn https(ca_pem: &str, version: TlsVersion, alpn: Alpn) -> TestClient {
        Self::with_tls(tls_client_config(ca_pem, version, Alpn::None), alpn)
    }

    /// `tls` must have no ALPN protocols set (the connector sets them).
    pub fn with_tls(tls: rustls::ClientConfig, alpn: Alpn) -> TestClient {
        let b = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = match alpn {
            Alpn::None | Alpn::Http1 => b.enable_http1().build(),
            Alpn::Http2 => b.enable_http2().build(),
            Alpn::Both => b.enable_all_versions().build(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_only(alpn == Alpn::Http2)
            .build(connector);
        TestClient { client }
    }

    /// Plain HTTP/1.1 (it trusts nothing for https).
    pub fn plain() -> TestClient {
        Self::with_tls(
            tls_client_config("", TlsVersion::Any, Alpn::None),
            Alpn::Http1,
        )
    }

    /// Plain HTTP/2 with prior knowledge (h2c).
    pub fn plain_h2c() -> TestClient {
        Self::with_tls(
            tls_client_config("", TlsVersion::Any, Alpn::None),
            Alpn::Http2,
        )
    }

    /// Sends a request; the body is left to the caller.
    pub async fn request(&self, req: Request<TestBody>) -> Result<Response<Incoming>, BoxError> {
        Ok(self.client.request(req).await?)
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, req: Request<TestBody>) -> Result<Answer, BoxError> {
        Answer::read(self.request(req).await?).await
    }

    /// GET `url`; panics on a transport error.
    pub async fn get(&self, url: &str) -> Answer {
        let req = Request::get(url).body(empty()).unwrap();
        self.send(req)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {}", error_chain(&*e)))
    }
}

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
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    Answer::read(sender.send_request(req).await?).await
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

/// An error and its sources, joined with `: `.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

// ---------------------------------------------------------------------------
// Config text
// ---------------------------------------------------------------------------

/// Placeholders [`fill`] replaces with absolute paths of the test PKI.
pub const CERT: &str = "@CERT@";
pub const KEY: &str = "@KEY@";
pub const CA: &str = "@CA@";
pub const DIR: &str = "@DIR@";

/// `[server.tls]` naming the test certificate and key.
pub const TLS_TABLE: &str = "[server.tls]\ncert = \"@CERT@\"\nkey = \"@KEY@\"\n";

/// Replaces `@CERT@`, `@KEY@`, `@CA@` and `@DIR@` in a config text.
pub fn fill(text: &str, files: &PkiFiles, dir: &Path) -> String {
    text.replace(CERT, &files.cert.display().to_string())
        .replace(KEY, &files.key.display().to_string())
        .replace(CA, &files.ca.display().to_string())
        .replace(DIR, &dir.display().to_string())
}

/// A `[[routes]]` entry with `auth = "none"`.
pub fn route(name: &str, path_prefix: &str, upstream: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"{name}\"\npath_prefix = \"{path_prefix}\"\nupstream = \"{upstream}\"\nauth = \"none\"\n"
    )
}

/// A minimal TLS config on `127.0.0.1:0` with `server_extra` lines in
/// `[server]` and one catch-all route to `upstream`.
pub fn simple_tls_config(server_extra: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server_extra}\n{TLS_TABLE}{}",
        route("all", "/", upstream)
    )
}

/// A fresh localhost PKI written into `dir`.
pub fn write_pki(dir: &Path) -> (DemoPki, PkiFiles) {
    let pki = DemoPki::localhost().unwrap();
    let files = pki.write(dir).unwrap();
    (pki, files)
}

// ---------------------------------------------------------------------------
// In-process gateway
// ---------------------------------------------------------------------------

/// How long a test waits for the gateway to drain on shutdown.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// The gateway, in-process, bound to ephemeral loopback ports.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub tls: bool,
    pub pki: DemoPki,
    pub files: PkiFiles,
    pub config_text: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestGateway {
    /// Writes a fresh PKI into a temporary directory, fills the placeholders
    /// of `config` (see [`fill`]), binds and starts serving. Panics on error.
    pub async fn start(config: &str) -> TestGateway {
        Self::try_start(config)
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    pub async fn try_start(config: &str) -> Result<TestGateway, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (pki, files) = write_pki(dir.path());
        let text = fill(config, &files, dir.path());
        let cfg = Config::from_toml(&text, dir.path()).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            format!("invalid config:\n{}\n---\n{text}", list.join("\n"))
        })?;
        let gateway = Gateway::bind(&cfg).await.map_err(|e| e.to_string())?;
        let addr = gateway.local_addr().ok_or("no local address")?;
        let admin = gateway.admin_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        Ok(TestGateway {
            addr,
            admin,
            tls: cfg.server.tls.is_some(),
            pki,
            files,
            config_text: text,
            dir,
            stop: Some(stop),
            served: Some(served),
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.authority())
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority())
    }

    /// https or http, whichever the listener speaks.
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            self.https_url(path)
        } else {
            self.http_url(path)
        }
    }

    /// `http://ADMIN{path}`; panics without `[admin]`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.expect("no [admin] listener"))
    }

    /// A client trusting the test CA, any TLS version.
    pub fn client(&self, alpn: Alpn) -> TestClient {
        TestClient::https(self.ca_pem(), TlsVersion::Any, alpn)
    }

    pub fn client_with(&self, version: TlsVersion, alpn: Alpn) -> TestClient {
        TestClient::https(self.ca_pem(), version, alpn)
    }

    /// A client config for [`raw_request`] trusting the test CA.
    pub fn tls_config(&self, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
        tls_client_config(self.ca_pem(), version, alpn)
    }

    /// Signals shutdown and waits (at most [`SHUTDOWN_BOUND`]) for the drain
    /// to finish; returns how long it took.
    pub async fn shutdown(mut self) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(SHUTDOWN_BOUND, served)
                .await
                .expect("the gateway did not drain in time")
                .expect("the serve task panicked");
        }
        started.elapsed()
    }
}

// ---------------------------------------------------------------------------
// The binary as a child process
// ---------------------------------------------------------------------------

/// Path of the `dpop-gateway` binary under test.
pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_dpop-gateway")
}

/// A command for the binary with a clean environment for its own variables.
pub fn bin_command() -> Command {
    let mut cmd = Command::new(bin_path());
    cmd.env_remove("DPOP_GATEWAY_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Output of a finished run of the binary.
#[derive(Debug)]
pub struct BinOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl BinOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the binary to completion; kills it and panics after `timeout`.
pub fn run_bin<I, S>(args: I, timeout: Duration) -> BinOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = bin_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot spawn the binary");
    let out = read_all_in_thread(child.stdout.take());
    let err = read_all_in_thread(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary did not finish within {timeout:?} (killed); stdout:\n{}\nstderr:\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    BinOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn read_all_in_thread<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

/// `dpop-gateway --log-format json run --config FILE` as a child process.
/// Killed (SIGKILL) on drop if still running.
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub pki: DemoPki,
    pub files: PkiFiles,
    pub config_path: PathBuf,
    pub dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long the child may take to log that it listens.
pub const STARTUP_BOUND: Duration = Duration::from_secs(20);

impl GatewayProcess {
    /// Writes a fresh PKI and the filled `config` (see [`fill`]) into a
    /// temporary directory, starts the binary and waits for its
    /// `dpop-gateway listening` log line to learn the bound addresses.
    pub async fn start(config: &str) -> GatewayProcess {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, fill(config, &files, dir.path())).unwrap();
        let mut child = bin_command()
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot spawn the binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut proc = GatewayProcess {
            child,
            // Replaced below by the address the child logs.
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin: None,
            pki,
            files,
            config_path,
            dir,
            lines,
            exit: None,
        };
        let line = proc
            .wait_for_log("\"message\":\"dpop-gateway listening\"", STARTUP_BOUND)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "the gateway did not log that it listens; exit {:?}; stderr:\n{}",
                    proc.exit,
                    proc.stderr_text()
                )
            });
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        proc.addr = v["listen"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {line}"));
        proc.admin = v["admin"].as_str().and_then(|s| s.parse().ok());
        proc
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr_lines().join("\n")
    }

    /// Waits for a stderr line containing `needle` and returns it; `None`
    /// on timeout or when the process exits first (all of its stderr is
    /// searched after the exit).
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.poll_exit().is_some();
            if exited {
                // Let the reader thread drain what is left in the pipe.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(line.clone());
            }
            if exited || Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// A `VmXxx` field of `/proc/PID/status`, in KiB.
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("cannot read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Resident set size now, KiB.
    pub fn vm_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS")
    }

    /// Peak resident set size so far, KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM")
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM {} failed", self.pid());
    }

    /// Waits for the process to exit; `None` on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.poll_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.authority())
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.expect("no [admin] listener"))
    }

    pub fn client(&self, alpn: Alpn) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, alpn)
    }

    pub fn tls_config(&self, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
        tls_client_config(&self.pki.ca_pem, version, alpn)
    }
}
