//! A throwaway PKI for the demo and the tests: a CA and a server certificate
//! for `localhost` / `127.0.0.1` / `::1`, made with rcgen (ECDSA P-256).
//! Nothing here is meant for production.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM strings of a fresh CA and a server certificate it signed.
pub struct DemoPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Paths of the PEM files written by [`DemoPki::write`].
pub struct PkiFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl DemoPki {
    /// A new CA and a server certificate for `names` (DNS names or IP addresses).
    pub fn generate(names: &[&str]) -> Result<DemoPki, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dpop-gateway throwaway CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "dpop-gateway throwaway server");
        let cert = params.signed_by(&key, &issuer)?;
        Ok(DemoPki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// For `localhost`, `127.0.0.1` and `::1`.
    pub fn localhost() -> Result<DemoPki, rcgen::Error> {
        Self::generate(&["localhost", "127.0.0.1", "::1"])
    }

    /// Writes `ca.pem`, `server.crt` and `server.key` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<PkiFiles> {
        let files = PkiFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, &self.ca_pem)?;
        std::fs::write(&files.cert, &self.cert_pem)?;
        std::fs::write(&files.key, &self.key_pem)?;
        Ok(files)
    }
}
