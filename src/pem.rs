//! PEM files: certificate chains and private keys, read and checked. The
//! config layer uses this to prove that the files it names are usable; the
//! `tls` layer builds rustls configs from the same readers.

use std::path::Path;

use rustls::crypto::ring::default_provider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM file that cannot be used, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("cannot read certificates from {path}: {source}")]
    Certs {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate found in {0}")]
    NoCerts(String),
    #[error("cannot read a private key (PKCS#8, SEC1 or PKCS#1 PEM) from {path}: {source}")]
    Key {
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("the private key cannot be used with the certificate: {0}")]
    Pair(rustls::Error),
}

/// Reads every certificate of a PEM chain (leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| PemError::Certs {
            path: shown.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(PemError::NoCerts(shown));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| PemError::Key {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a chain and its key and proves they belong together: the key is one
/// the ring provider can sign with, and its public half is the leaf's.
pub fn check_pair(cert: &Path, key: &Path) -> Result<(), PemError> {
    let certs = load_certs(cert)?;
    let key = load_private_key(key)?;
    CertifiedKey::from_der(certs, key, &default_provider())
        .map(drop)
        .map_err(PemError::Pair)
}
