//! [`TestGateway`]: the gateway in-process, bound to ephemeral loopback
//! ports, with a fresh PKI in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::{DemoPki, PkiFiles};
use dpop_gateway::server::Gateway;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::{tls_client_config, Alpn, TestClient, TlsVersion};
use super::config::{fill, write_pki};

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
