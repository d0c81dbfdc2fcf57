//! [`TestGateway`]: the gateway in-process, bound to ephemeral loopback
//! ports, on a [`Fixture`] (a fresh one, or one that several replicas
//! share), reading the clock a test chooses.
//!
//! [`TestGateway::start`] takes a whole config text; [`TestGateway::builder`]
//! adds the options (clock, shared fixture, an upstream the gateway owns);
//! [`TestGateway::dpop`] and [`TestGateway::with_admin`] wrap `rest` in the
//! usual configs ([`dpop_config`], [`admin_config`]). Replicas and the DPoP
//! request helpers are in `replica.rs` and `req.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dpop_gateway::clock::{Clock, ManualClock, SharedClock, SystemClock};
use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::{DemoPki, PkiFiles};
use dpop_gateway::jose::SigningKey;
use dpop_gateway::server::{Gateway, Reloader};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::{tls_client_config, Alpn, TestClient, TlsVersion};
use super::config::{admin_config, dpop_config, fill};
use super::fixture::Fixture;
use super::tokens;
use super::upstream::Upstream;

/// How long a test waits for the gateway to drain on shutdown.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// How long one request to a gateway may take before the test fails.
pub const REQUEST_BOUND: Duration = Duration::from_secs(10);

/// Which clock the gateway reads.
#[derive(Debug, Clone)]
pub enum ClockMode {
    /// The system clock (needed when the CLI makes proofs).
    System,
    /// A fresh [`ManualClock`] set to this many seconds since the epoch.
    Manual(i64),
    /// This [`ManualClock`], which several gateways may share.
    Shared(Arc<ManualClock>),
}

/// Seconds since the epoch, from the system clock.
pub fn system_now() -> i64 {
    SystemClock.now_unix()
}

/// How to start a [`TestGateway`]; see [`TestGateway::builder`].
pub struct GatewayBuilder {
    config: String,
    clock: ClockMode,
    fixture: Option<Fixture>,
    upstream: Option<Upstream>,
}

impl GatewayBuilder {
    /// The clock the gateway reads (the system clock unless set).
    pub fn clock(mut self, clock: ClockMode) -> Self {
        self.clock = clock;
        self
    }

    /// Runs on `fixture` (shared with other gateways) instead of a fresh one.
    pub fn fixture(mut self, fixture: &Fixture) -> Self {
        self.fixture = Some(fixture.clone());
        self
    }

    /// Hands `upstream` to the gateway, which keeps it alive
    /// ([`TestGateway::upstream`]).
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Starts serving; panics on error.
    pub async fn start(self) -> TestGateway {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    /// Fills the placeholders of the config (see [`fill`]) with the
    /// fixture's files and folder, binds and starts serving.
    pub async fn try_start(self) -> Result<TestGateway, String> {
        let fixture = self.fixture.unwrap_or_default();
        let text = fill(&self.config, &fixture.files, fixture.dir.path());
        let cfg = Config::from_toml(&text, fixture.dir.path()).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            format!("invalid config:\n{}\n---\n{text}", list.join("\n"))
        })?;
        let (manual, clock): (Option<Arc<ManualClock>>, SharedClock) = match self.clock {
            ClockMode::System => (None, Arc::new(SystemClock)),
            ClockMode::Manual(now) => {
                let m = Arc::new(ManualClock::new(now));
                (Some(m.clone()), m)
            }
            ClockMode::Shared(m) => (Some(m.clone()), m),
        };
        let gateway = Gateway::bind_with_clock(&cfg, clock)
            .await
            .map_err(|e| e.to_string())?;
        let addr = gateway.local_addr().ok_or("no local address")?;
        let admin = gateway.admin_addr();
        let reloader = gateway.reloader();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        Ok(TestGateway {
            addr,
            admin,
            tls: cfg.server.tls.is_some(),
            pki: fixture.pki,
            files: fixture.files,
            config_text: text,
            dir: fixture.dir,
            issuer: fixture.issuer,
            manual,
            upstream: self.upstream,
            reloader,
            pooled: OnceLock::new(),
            stop: Some(stop),
            served: Some(served),
        })
    }
}

/// The gateway, in-process, bound to ephemeral loopback ports. Dropping it
/// stops it.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub tls: bool,
    pub pki: Arc<DemoPki>,
    pub files: Arc<PkiFiles>,
    pub config_text: String,
    /// The fixture's folder: relative paths of the config and `@DIR@`.
    pub dir: Arc<tempfile::TempDir>,
    /// The fixture's issuer key (`as.jwks.json` in [`TestGateway::dir`]).
    pub issuer: Arc<SigningKey>,
    /// The clock, unless the gateway reads the system clock.
    pub manual: Option<Arc<ManualClock>>,
    upstream: Option<Upstream>,
    reloader: Reloader,
    pooled: OnceLock<TestClient>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}

impl TestGateway {
    /// Starts `config` on a fresh fixture with the system clock (see
    /// [`GatewayBuilder::try_start`]). Panics on error.
    pub async fn start(config: &str) -> TestGateway {
        Self::builder(config).start().await
    }

    pub async fn try_start(config: &str) -> Result<TestGateway, String> {
        Self::builder(config).try_start().await
    }

    /// A gateway for `config`, to be given options and started.
    pub fn builder(config: &str) -> GatewayBuilder {
        GatewayBuilder {
            config: config.to_owned(),
            clock: ClockMode::System,
            fixture: None,
            upstream: None,
        }
    }

    /// [`dpop_config`]`(rest)` (TLS, the fixture's issuer) with `clock`.
    pub async fn dpop(rest: &str, clock: ClockMode) -> TestGateway {
        Self::builder(&dpop_config(rest)).clock(clock).start().await
    }

    /// [`admin_config`]`(rest)` (TLS and an admin listener) with `clock`.
    pub async fn with_admin(rest: &str, clock: ClockMode) -> TestGateway {
        Self::builder(&admin_config(rest))
            .clock(clock)
            .start()
            .await
    }

    /// The upstream handed over with [`GatewayBuilder::upstream`]; panics
    /// without one.
    pub fn upstream(&self) -> &Upstream {
        self.upstream
            .as_ref()
            .expect("the gateway owns no upstream")
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("https://{}", self.authority())
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

    /// The `htu` a client puts in a proof for `path_and_query`: the URL
    /// without query (what `mint::proof` and RFC 9449 §4.2 do).
    pub fn htu(&self, path_and_query: &str) -> String {
        let path = path_and_query.split(['?', '#']).next().unwrap_or("");
        self.url(path)
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

    /// A client config for [`super::raw_request`] trusting the test CA.
    pub fn tls_config(&self, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
        tls_client_config(self.ca_pem(), version, alpn)
    }

    /// A new HTTP/1.1 client trusting the gateway's CA.
    pub fn h1(&self) -> TestClient {
        self.client(Alpn::Http1)
    }

    /// A new HTTP/2 client (one connection, many streams).
    pub fn h2(&self) -> TestClient {
        self.client(Alpn::Http2)
    }

    /// The gateway's own HTTP/1.1 client: made once, so its connections
    /// are reused from request to request.
    pub fn pooled(&self) -> &TestClient {
        self.pooled.get_or_init(|| self.h1())
    }

    /// The gateway's idea of now.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_unix(),
            None => system_now(),
        }
    }

    /// Moves the manual clock; panics with the system clock.
    pub fn advance(&self, secs: i64) {
        self.manual
            .as_ref()
            .expect("not a manual clock")
            .advance(secs);
    }

    /// A token from the fixture's issuer, valid now, bound to `jkt` if given.
    pub fn token(&self, jkt: Option<&str>, scope: Option<&str>) -> String {
        tokens::token(&self.issuer, jkt, scope, self.now())
    }

    /// `GET /readyz` on the admin listener: status and JSON body. Panics
    /// without an answer within [`REQUEST_BOUND`].
    pub async fn readyz(&self) -> (u16, Value) {
        let url = self.admin_url("/readyz");
        let a = tokio::time::timeout(REQUEST_BOUND, TestClient::plain().get(&url))
            .await
            .unwrap_or_else(|_| panic!("/readyz did not answer within {REQUEST_BOUND:?}"));
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

    /// Reloads the same config text (what SIGHUP does); panics on error.
    pub fn reload(&self) {
        let config = Config::from_toml(&self.config_text, self.dir.path())
            .unwrap_or_else(|_| panic!("the config no longer parses"));
        self.reloader.reload(&config).unwrap();
    }

    /// Reloads `text` (placeholders filled from the gateway's fixture)
    /// instead of the config it started with; panics on error.
    pub fn reload_text(&self, text: &str) {
        let text = fill(text, &self.files, self.dir.path());
        let config = Config::from_toml(&text, self.dir.path())
            .unwrap_or_else(|p| panic!("the new config does not parse: {p:?}"));
        self.reloader.reload(&config).unwrap();
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
