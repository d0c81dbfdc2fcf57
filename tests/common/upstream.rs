//! [`Upstream`]: an in-process plain-HTTP server (HTTP/1.1 with upgrades,
//! and h2c) on `127.0.0.1:0` that records every request it receives and
//! answers per a [`Behaviour`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE};
use http::uri::Uri;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::body::{BodyDigest, EventBody, PatternBody};

type UpBody = UnsyncBoxBody<Bytes, Infallible>;

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
    /// 200 `text/event-stream`: an event every `every`, `count` in all
    /// (see [`EventBody`]).
    Events { every: Duration, count: usize },
    /// Whatever the closure builds.
    Respond(Responder),
    /// A WebSocket opening handshake (RFC 6455 §4.2: `Upgrade: websocket`,
    /// `Sec-WebSocket-Version: 13`, a key) gets `101` with its
    /// `Sec-WebSocket-Accept`, then [`super::websocket::echo`] on the
    /// connection; any other request gets 400.
    WebSocketEcho,
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

    /// An upstream that answers `101` (`Upgrade: websocket`) to anything:
    /// a protocol error for a request that asked for no upgrade.
    pub async fn switching() -> Upstream {
        Self::start(Behaviour::Respond(Arc::new(|_| {
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(Bytes::new())
                .unwrap()
        })))
        .await
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
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
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
    let (mut parts, mut body) = req.into_parts();
    let on_upgrade = parts.extensions.remove::<OnUpgrade>();
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
        Behaviour::Events { every, count } => {
            let mut resp = Response::new(
                EventBody::new(*every, *count)
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            );
            let h = resp.headers_mut();
            h.insert(UPSTREAM_NAME_HEADER, name);
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert("cache-control", HeaderValue::from_static("no-cache"));
            resp
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
        Behaviour::WebSocketEcho => websocket_response(&rec, on_upgrade),
    }
}

/// [`Behaviour::WebSocketEcho`].
fn websocket_response(rec: &Recorded, on_upgrade: Option<OnUpgrade>) -> Response<UpBody> {
    let upgrade = rec.header("upgrade").unwrap_or("");
    let key = rec.header("sec-websocket-key");
    let (Some(key), Some(on_upgrade), true, Some("13")) = (
        key,
        on_upgrade,
        upgrade.eq_ignore_ascii_case("websocket"),
        rec.header("sec-websocket-version"),
    ) else {
        let mut resp =
            Response::new(Full::new(Bytes::from("not a WebSocket handshake")).boxed_unsync());
        *resp.status_mut() = http::StatusCode::BAD_REQUEST;
        return resp;
    };
    let accept = super::websocket::accept_key(key);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            super::websocket::echo(TokioIo::new(upgraded)).await;
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).unwrap(),
    );
    resp
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
