//! TLS with rustls and the ring provider only (no aws-lc, no OpenSSL):
//! the listener's `ServerConfig` (TLS 1.2 + 1.3, ALPN `h2` and
//! `http/1.1`) and the client config used for https upstreams (webpki roots
//! plus an optional extra CA).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring as ring_provider;
use rustls::crypto::CryptoProvider;

pub use crate::pem::{load_certs, load_private_key, PemError};

/// A TLS set-up failure, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Pem(#[from] PemError),
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The one crypto provider the gateway uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring_provider::default_provider())
}

/// Builds the listener's TLS config from PEM files (the key must match the
/// certificate, as [`crate::pem::check_pair`] proves for `check`).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = load_certs(cert)?;
    let key = load_private_key(key)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Client config for https upstreams: the webpki roots, plus `extra_ca` when given.
pub fn client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in load_certs(path)? {
            roots.add(cert)?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
