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
//!   handler, whatever was answered, and [`AuthServer::hit_times`]: when;
//!   [`AuthServer::served`]: answered 200);
//! - an availability switch ([`Availability`]): up, 503 to everything,
//!   connections dropped without an answer, or the listener closed
//!   (connection refused); going down also closes every open connection so
//!   that pooled keep-alive connections cannot bypass it;
//! - an optional delay before every answer.
//!
//! The server itself (accepting, availability, answering) is in [`serve`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

mod serve;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_rustls::TlsAcceptor;

use dpop_gateway::demo::pki::DemoPki;

use serve::accept_loop;

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
    /// `token` from the form body, decoded (see [`crate::common::form::form_decode`]).
    pub token: Option<String>,
}

struct State {
    docs: Mutex<HashMap<String, Value>>,
    /// token → (status, body).
    tokens: Mutex<HashMap<String, (u16, String)>>,
    hits: Mutex<HashMap<String, usize>>,
    /// When each of `hits` reached the handler.
    hit_times: Mutex<HashMap<String, Vec<Instant>>>,
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
            hit_times: Mutex::new(HashMap::new()),
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

    /// When each request for `path` reached the handler, oldest first (as
    /// many as [`AuthServer::hits`]).
    pub fn hit_times(&self, path: &str) -> Vec<Instant> {
        self.state
            .hit_times
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
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
