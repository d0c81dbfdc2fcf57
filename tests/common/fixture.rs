//! [`Fixture`]: the files a gateway runs on, in a temporary folder: a fresh
//! localhost PKI and an issuer key whose public half is `as.jwks.json`.
//! Several in-process gateways may share one, as replicas behind one load
//! balancer would (the same certificate, the same trusted issuer, the same
//! secret files).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use dpop_gateway::demo::pki::{DemoPki, PkiFiles};
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint;

use super::config::{write_pki, ISSUER};
use super::tokens::access_token;

/// The files one gateway or several replicas share; cheap to clone.
#[derive(Clone)]
pub struct Fixture {
    /// The folder; a gateway's config reads relative paths and `@DIR@` here.
    pub dir: Arc<tempfile::TempDir>,
    pub pki: Arc<DemoPki>,
    pub files: Arc<PkiFiles>,
    /// The authorization server's key; `as.jwks.json` holds its public half.
    pub issuer: Arc<SigningKey>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let issuer = SigningKey::generate(Alg::Es256).unwrap();
        std::fs::write(
            dir.path().join("as.jwks.json"),
            mint::jwks(&issuer).to_string(),
        )
        .unwrap();
        Fixture {
            dir: Arc::new(dir),
            pki: Arc::new(pki),
            files: Arc::new(files),
            issuer: Arc::new(issuer),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to `name` in the fixture's folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// An access token from the fixture's issuer, bound to `client`, valid
    /// for an hour from `now`.
    pub fn token(&self, client: &SigningKey, now: i64) -> String {
        let jkt = client.jkt().to_string();
        access_token(&self.issuer, ISSUER, Some(&jkt), Some("read"), 3600, now)
    }
}
