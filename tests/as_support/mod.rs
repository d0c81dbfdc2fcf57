//! A fake authorization server for the token-source tests: a real hyper
//! HTTPS server (tokio-rustls, HTTP/1.1, a certificate from a fresh
//! [`DemoPki`] for `127.0.0.1`) on `127.0.0.1:0`, whose every answer a test
//! can change while it runs:
//!
//! - GET documents by path ([`AuthServer::set_doc`]): the JWKS at
//!   [`JWKS_PATH`] ([`AuthServer::publish`] swaps keys at runtime), metadata
//!   documents at their well-known paths, anything else → 404;
//! - `POST` [`INTROSPECT_PATH`]: a per-token table of answers (status and
//!   body; an unknown token answers `{"active": false}`), every call recorded
//!   with its method, `Authorization`, `Content-Type` and form body;
//! - counters per path ([`AuthServer::hits`]: every request that reached the
//!   handler, whatever was answered; [`AuthServer::served`]: answered 200);
//! - an availability switch ([`Availability`]): up, 503 to everything,
//!   connections dropped without an answer, or the listener closed
//!   (connection refused); going down also closes every open connection so
//!   that pooled keep-alive connections cannot bypass it;
//! - an optional delay before every answer.
//!
//! Submodules: [`gateway`] (the gateway in-process with an injectable clock,
//! plus DPoP request helpers) and [`keys`] (issuer keys, JWKS documents,
//! tokens, form encoding written independently of the crate).
//!
//! Uses `crate::common`: every test file that loads this module declares
//! `mod common;` first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod gateway;
pub mod keys;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_rustls::TlsAcceptor;

use dpop_gateway::demo::pki::DemoPki;

/// Where [`AuthServer::publish`] puts the key set.
pub const JWKS_PATH: &str = "/jwks";
/// Where the introspection endpoint answers `POST`s.
pub const INTROSPECT_PATH: &str = "/introspect";
/// Longest request body the fake server reads.
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// What the server does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Answers normally.
    Up,
    /// Answers every request with 503.
    Unavailable,
    /// Reads the request, then closes the connection without answering.
    Drop,
    /// The listener is closed: connections are refused.
    Refuse,
}

/// One call to the introspection endpoint, as received.
#[derive(Debug, Clone)]
pub struct IntrospectionCall {
    pub method: Method,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The raw form body.
    pub body: String,
    /// `token` from the form body, decoded (see [`keys::form_decode`]).
    pub token: Option<String>,
}

/// The service error that makes hyper drop the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

struct State {
    docs: Mutex<HashMap<String, Value>>,
    /// token → (status, body).
    tokens: Mutex<HashMap<String, (u16, String)>>,
    hits: Mutex<HashMap<String, usize>>,
    served: Mutex<HashMap<String, usize>>,
    calls: Mutex<Vec<IntrospectionCall>>,
    availability: watch::Sender<Availability>,
    /// Whether the listener is open (follows `availability` asynchronously).
    listening: watch::Sender<bool>,
    delay: Mutex<Duration>,
    connections: Mutex<Vec<AbortHandle>>,
    accepted: Mutex<usize>,
    changed: Notify,
}

/// The fake authorization server. Stops when dropped.
pub struct AuthServer {
    pub addr: SocketAddr,
    pub pki: DemoPki,
    /// Holds `as-ca.pem` and whatever else a test puts there (secrets).
    pub dir: tempfile::TempDir,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.accept.abort();
        for c in self.state.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl AuthServer {
    /// Starts the server, up, with no documents.
    pub async fn start() -> AuthServer {
        let dir = tempfile::tempdir().unwrap();
        let pki = DemoPki::localhost().unwrap();
        std::fs::write(dir.path().join("as-ca.pem"), &pki.ca_pem).unwrap();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(dpop_gateway::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(cfg));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            docs: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            availability: watch::Sender::new(Availability::Up),
            listening: watch::Sender::new(true),
            delay: Mutex::new(Duration::ZERO),
            connections: Mutex::new(Vec::new()),
            accepted: Mutex::new(0),
            changed: Notify::new(),
        });
        let accept = tokio::spawn(accept_loop(listener, addr, acceptor, state.clone()));
        AuthServer {
            addr,
            pki,
            dir,
            state,
            accept,
        }
    }

    /// `https://127.0.0.1:PORT` (the issuer identifier of the tests).
    pub fn origin(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The CA that signed this server's certificate, as a file (an issuer's `ca_file`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("as-ca.pem")
    }

    /// Writes `content` into this server's folder; returns the absolute path.
    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    // -- documents ----------------------------------------------------------

    /// Serves `doc` (200, JSON) for `GET path`.
    pub fn set_doc(&self, path: &str, doc: Value) {
        self.state.docs.lock().unwrap().insert(path.to_owned(), doc);
    }

    /// `GET path` answers 404 again.
    pub fn remove_doc(&self, path: &str) {
        self.state.docs.lock().unwrap().remove(path);
    }

    /// Serves `jwks` at [`JWKS_PATH`].
    pub fn publish(&self, jwks: Value) {
        self.set_doc(JWKS_PATH, jwks);
    }

    // -- introspection ------------------------------------------------------

    /// The introspection endpoint answers 200 with `answer` for `token`.
    pub fn set_token(&self, token: &str, answer: Value) {
        self.set_token_raw(token, 200, &answer.to_string());
    }

    /// The introspection endpoint answers `status` with `body` for `token`.
    pub fn set_token_raw(&self, token: &str, status: u16, body: &str) {
        self.state
            .tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), (status, body.to_owned()));
    }

    /// Every introspection call so far.
    pub fn calls(&self) -> Vec<IntrospectionCall> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Introspection calls that asked about `token`.
    pub fn calls_for(&self, token: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.token.as_deref() == Some(token))
            .count()
    }

    // -- counters -----------------------------------------------------------

    /// Requests for `path` that reached the handler (any method, any answer).
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `path` answered with 200.
    pub fn served(&self, path: &str) -> usize {
        self.state
            .served
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        *self.state.accepted.lock().unwrap()
    }

    /// Waits until `cond(self)` holds; false after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, cond: impl Fn(&AuthServer) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            if cond(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return cond(self);
            }
        }
    }

    /// Waits until `path` was hit at least `n` times; false after `timeout`.
    pub async fn wait_hits(&self, path: &str, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.hits(path) >= n).await
    }

    /// Waits until `path` was served (200) at least `n` times; false after `timeout`.
    pub async fn wait_served(&self, path: &str, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.served(path) >= n).await
    }

    // -- behaviour ----------------------------------------------------------

    /// Switches availability. Going down closes every open connection; with
    /// [`Availability::Refuse`] this returns once the listener is closed,
    /// and once it is open again when leaving it.
    pub async fn set_availability(&self, a: Availability) {
        self.state.availability.send_replace(a);
        if a != Availability::Up {
            for c in self.state.connections.lock().unwrap().drain(..) {
                c.abort();
            }
        }
        let want = a != Availability::Refuse;
        let mut rx = self.state.listening.subscribe();
        let reached = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|l| *l == want))
            .await
            .is_ok();
        assert!(reached, "the fake AS listener did not follow {a:?}");
    }

    pub fn availability(&self) -> Availability {
        *self.state.availability.borrow()
    }

    /// Waits this long before answering every request (zero: no delay).
    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }
}

async fn accept_loop(first: TcpListener, addr: SocketAddr, tls: TlsAcceptor, state: Arc<State>) {
    let mut rx = state.availability.subscribe();
    let mut next = Some(first);
    loop {
        // Closed while refusing; reopened on the same port afterwards.
        while *rx.borrow_and_update() == Availability::Refuse {
            // Also when Refuse was set before this task first ran.
            next = None;
            state.listening.send_replace(false);
            if rx.changed().await.is_err() {
                return;
            }
        }
        let listener = match next.take() {
            Some(l) => l,
            None => bind_again(addr).await,
        };
        state.listening.send_replace(true);
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let Ok((tcp, _)) = r else { continue };
                    *state.accepted.lock().unwrap() += 1;
                    state.changed.notify_waiters();
                    let tls = tls.clone();
                    let st = state.clone();
                    let task = tokio::spawn(async move {
                        let Ok(stream) = tls.accept(tcp).await else { return };
                        let service = service_fn(move |req| {
                            let st = st.clone();
                            async move { handle(st, req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    let mut conns = state.connections.lock().unwrap();
                    conns.retain(|c| !c.is_finished());
                    conns.push(task.abort_handle());
                }
                c = rx.changed() => {
                    if c.is_err() {
                        return;
                    }
                    if *rx.borrow() == Availability::Refuse {
                        break;
                    }
                }
            }
        }
        drop(listener);
        state.listening.send_replace(false);
    }
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("cannot listen again on {addr}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn json_response(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().unwrap());
    resp
}

fn bump(map: &Mutex<HashMap<String, usize>>, path: &str) {
    *map.lock().unwrap().entry(path.to_owned()).or_insert(0) += 1;
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    bump(&st.hits, &path);
    st.changed.notify_waiters();
    let delay = *st.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let availability = *st.availability.borrow();
    let resp = match availability {
        Availability::Up => answer(&st, &parts.method, &path, &parts.headers, &body),
        Availability::Unavailable => json_response(503, r#"{"error":"down for the test"}"#),
        Availability::Drop | Availability::Refuse => return Err(DropConnection),
    };
    if resp.status() == StatusCode::OK {
        bump(&st.served, &path);
    }
    st.changed.notify_waiters();
    Ok(resp)
}

fn answer(
    st: &State,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Response<Full<Bytes>> {
    let text = |name: http::header::HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if path == INTROSPECT_PATH {
        let form = String::from_utf8_lossy(body).into_owned();
        let token = keys::form_fields(&form)
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        st.calls.lock().unwrap().push(IntrospectionCall {
            method: method.clone(),
            authorization: text(AUTHORIZATION),
            content_type: text(CONTENT_TYPE),
            body: form,
            token: token.clone(),
        });
        if method != Method::POST {
            return json_response(405, r#"{"error":"invalid_request"}"#);
        }
        let known = token.and_then(|t| st.tokens.lock().unwrap().get(&t).cloned());
        return match known {
            Some((status, body)) => json_response(status, body),
            None => json_response(200, json!({"active": false}).to_string()),
        };
    }
    if method != Method::GET {
        return json_response(405, r#"{"error":"method"}"#);
    }
    match st.docs.lock().unwrap().get(path) {
        Some(doc) => json_response(200, doc.to_string()),
        None => json_response(404, r#"{"error":"not_found"}"#),
    }
}
