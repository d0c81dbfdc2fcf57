//! The gateway in-process (over real TLS on `127.0.0.1:0`, with an admin
//! listener) with the clock a test chooses, plus helpers that send DPoP and
//! Bearer requests with fresh proofs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use dpop_gateway::clock::{Clock, ManualClock, SharedClock, SystemClock};
use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::DemoPki;
use dpop_gateway::jose::SigningKey;
use dpop_gateway::mint::{self, ProofSpec};
use dpop_gateway::server::{Gateway, Reloader};

use crate::common::{
    empty, error_chain, fill, write_pki, Alpn, Answer, TestBody, TestClient, TlsVersion, TLS_TABLE,
};

/// The identity headers the tests' routes set.
pub const IDENTITY: &str = "[routes.identity_headers]\nsub = \"X-Auth-Subject\"\nclient_id = \"X-Auth-Client-Id\"\nscope = \"X-Auth-Scope\"\n";

/// Two routes to `upstream`: `/dual` (`dpop_or_bearer`) and everything else
/// (`dpop`), both with [`IDENTITY`].
pub fn routes(upstream: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"dual\"\npath_prefix = \"/dual\"\nupstream = \"{upstream}\"\nauth = \"dpop_or_bearer\"\n{IDENTITY}\n\
         \n[[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"{upstream}\"\nauth = \"dpop\"\n{IDENTITY}\n"
    )
}

/// An `[[issuers]]` table: `issuer`, audiences [`super::keys::AUDIENCE`],
/// `ca_file`, then `extra` lines (the token source and its settings).
pub fn issuer_table(issuer: &str, ca_file: &std::path::Path, extra: &str) -> String {
    format!(
        "\n[[issuers]]\nissuer = \"{issuer}\"\naudiences = [\"{}\"]\nca_file = \"{}\"\n{extra}\n",
        super::keys::AUDIENCE,
        ca_file.display()
    )
}

/// Which clock the gateway reads.
#[derive(Debug, Clone, Copy)]
pub enum ClockMode {
    System,
    /// A [`ManualClock`] that starts at the system time.
    Manual,
}

pub struct Gw {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub pki: DemoPki,
    pub dir: tempfile::TempDir,
    pub manual: Option<Arc<ManualClock>>,
    pub config_text: String,
    reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}

impl Gw {
    /// Starts a TLS gateway with an admin listener; `rest` holds the
    /// `[[issuers]]` and `[[routes]]` (placeholders of [`fill`] allowed, `@DIR@`
    /// being the gateway's own temporary folder).
    pub async fn start(rest: &str, clock: ClockMode) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}\n[admin]\nlisten = \"127.0.0.1:0\"\n{rest}"
        );
        let text = fill(&text, &files, dir.path());
        let config = Config::from_toml(&text, dir.path()).unwrap_or_else(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("invalid config:\n{}\n---\n{text}", list.join("\n"))
        });
        let (manual, shared): (Option<Arc<ManualClock>>, SharedClock) = match clock {
            ClockMode::Manual => {
                let m = Arc::new(ManualClock::new(SystemClock.now_unix()));
                (Some(m.clone()), m)
            }
            ClockMode::System => (None, Arc::new(SystemClock)),
        };
        let gateway = Gateway::bind_with_clock(&config, shared).await.unwrap();
        let addr = gateway.local_addr().unwrap();
        let admin = gateway.admin_addr().unwrap();
        let reloader = gateway.reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        Gw {
            addr,
            admin,
            pki,
            dir,
            manual,
            config_text: text,
            reloader,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Reloads the same config text (what SIGHUP does); panics on error.
    pub fn reload(&self) {
        let config = Config::from_toml(&self.config_text, self.dir.path())
            .unwrap_or_else(|_| panic!("the config no longer parses"));
        self.reloader.reload(&config).unwrap();
    }

    /// The gateway's idea of now.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_unix(),
            None => SystemClock.now_unix(),
        }
    }

    /// Moves the manual clock; panics with the system clock.
    pub fn advance(&self, secs: i64) {
        self.manual
            .as_ref()
            .expect("not a manual clock")
            .advance(secs);
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// An HTTP/1.1 client trusting the gateway's CA.
    pub fn h1(&self) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, Alpn::Http1)
    }

    /// An HTTP/2 client (one connection, many streams).
    pub fn h2(&self) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, Alpn::Http2)
    }

    /// `GET /readyz` on the admin listener: status and JSON body.
    pub async fn readyz(&self) -> (u16, Value) {
        let a = TestClient::plain()
            .get(&format!("http://{}/readyz", self.admin))
            .await;
        (a.status.as_u16(), a.json())
    }

    /// Polls `/readyz` until it answers `status`; false after `timeout`.
    pub async fn wait_readyz(&self, status: u16, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.readyz().await.0 == status {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

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

    /// Sends [`Gw::dpop_request`]; panics on a transport error.
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

/// Asserts a gateway-made 503 `temporarily_unavailable` with `Retry-After`.
pub fn assert_unavailable(a: &Answer) {
    a.assert_gateway_error(503, "temporarily_unavailable");
    let retry = a.header("retry-after").unwrap_or_else(|| {
        panic!("503 without Retry-After: {:?}", a.headers);
    });
    assert!(
        retry.parse::<u64>().is_ok(),
        "Retry-After is not delay-seconds: {retry:?}"
    );
}

/// Asserts a gateway-made 401 `invalid_token` (body and challenge).
pub fn assert_invalid_token(a: &Answer) {
    a.assert_gateway_error(401, "invalid_token");
    let challenges = a
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        challenges.contains("error=\"invalid_token\""),
        "no invalid_token challenge: {challenges:?}"
    );
}

/// Asserts a 200 that came from the upstream.
pub fn assert_ok(a: &Answer) {
    assert_eq!(a.status.as_u16(), 200, "body: {}", a.text());
    assert!(
        a.headers.get(crate::common::UPSTREAM_NAME_HEADER).is_some(),
        "a 200 without the upstream's header: {:?}",
        a.headers
    );
}
