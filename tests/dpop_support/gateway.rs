//! The gateway in-process, with the clock the tests choose, a fresh
//! localhost PKI, an issuer key and its JWKS file (`as.jwks.json`, relative
//! to the config's folder) in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use dpop_gateway::clock::{Clock, ManualClock, SharedClock, SystemClock};
use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::DemoPki;
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint;
use dpop_gateway::server::Gateway;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{fill, write_pki, Alpn, TestClient, TlsVersion, TLS_TABLE};

pub const ISSUER: &str = "https://as.test";
pub const AUDIENCE: &str = "https://api.test";
/// The `algs` challenge parameter for the default allow-list (ES256 PS256 EdDSA).
pub const DEFAULT_ALGS: &str = "ES256 PS256 EdDSA Ed25519";

/// Which clock the gateway reads.
#[derive(Debug, Clone, Copy)]
pub enum ClockMode {
    /// A [`ManualClock`] set to this many seconds since the epoch.
    Manual(i64),
    /// The system clock (needed when the CLI makes proofs).
    System,
}

/// Seconds since the epoch, from the system clock.
pub fn system_now() -> i64 {
    SystemClock.now_unix()
}

/// `[[issuers]]` for [`ISSUER`] / [`AUDIENCE`] with `as.jwks.json`.
pub fn issuer_table() -> String {
    format!(
        "\n[[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"as.jwks.json\"\n"
    )
}

/// A `[[routes]]` entry; `extra` holds more keys of the route table (and may
/// end with a `[routes.identity_headers]` table).
pub fn route(name: &str, prefix: &str, upstream: &str, extra: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"{name}\"\npath_prefix = \"{prefix}\"\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

/// The identity-header table used by the tests.
pub const IDENTITY: &str = "[routes.identity_headers]\nsub = \"X-Auth-Subject\"\nclient_id = \"X-Auth-Client-Id\"\nscope = \"X-Auth-Scope\"\njkt = \"X-Auth-Jkt\"\n";

pub struct DpopGateway {
    pub addr: SocketAddr,
    pub pki: DemoPki,
    pub dir: tempfile::TempDir,
    pub issuer: SigningKey,
    pub manual: Option<Arc<ManualClock>>,
    pub config_text: String,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for DpopGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}

impl DpopGateway {
    /// Starts a TLS gateway on `127.0.0.1:0` whose config is `[server]`,
    /// `[server.tls]`, the issuer and then `rest` (`[dpop]`, routes…).
    pub async fn start(rest: &str, clock: ClockMode) -> DpopGateway {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let issuer = SigningKey::generate(Alg::Es256).unwrap();
        std::fs::write(
            dir.path().join("as.jwks.json"),
            mint::jwks(&issuer).to_string(),
        )
        .unwrap();
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}{}\n{rest}",
            issuer_table()
        );
        let text = fill(&text, &files, dir.path());
        let config = Config::from_toml(&text, dir.path()).unwrap_or_else(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("invalid config:\n{}\n---\n{text}", list.join("\n"))
        });
        let (manual, shared): (Option<Arc<ManualClock>>, SharedClock) = match clock {
            ClockMode::Manual(now) => {
                let m = Arc::new(ManualClock::new(now));
                (Some(m.clone()), m)
            }
            ClockMode::System => (None, Arc::new(SystemClock)),
        };
        let gateway = Gateway::bind_with_clock(&config, shared).await.unwrap();
        let addr = gateway.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        DpopGateway {
            addr,
            pki,
            dir,
            issuer,
            manual,
            config_text: text,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// The gateway's idea of now.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_unix(),
            None => system_now(),
        }
    }

    /// Moves a manual clock; panics with the system clock.
    pub fn advance(&self, secs: i64) {
        self.manual
            .as_ref()
            .expect("not a manual clock")
            .advance(secs);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("https://{}", self.authority())
    }

    /// The URL of `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base())
    }

    /// The `htu` a client puts in a proof for `path_and_query`: the URL
    /// without query (what `mint::proof` and RFC 9449 §4.2 do).
    pub fn htu(&self, path_and_query: &str) -> String {
        let path = path_and_query.split(['?', '#']).next().unwrap_or("");
        self.url(path)
    }

    pub fn h1(&self) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, Alpn::Http1)
    }

    pub fn h2(&self) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, Alpn::Http2)
    }

    /// A token from this gateway's issuer, valid now, bound to `jkt` if given.
    pub fn token(&self, jkt: Option<&str>, scope: Option<&str>) -> String {
        super::jose::token(&self.issuer, jkt, scope, self.now())
    }
}
