//! PEM private keys (RFC 7468): PKCS#8 `PRIVATE KEY` (EC P-256/P-384, Ed25519, RSA), SEC1
//! `EC PRIVATE KEY` and PKCS#1 `RSA PRIVATE KEY`. The first private-key section is used;
//! other sections (certificates) are skipped. Encrypted keys are not supported.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

use super::{der, rsa_parts, KeyError, KeyParts};

/// Reads the first private key in `pem`.
pub(super) fn parse(pem: &str) -> Result<KeyParts, KeyError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| KeyError::Pem(format!("no usable private key: {e}")))?;
    match &key {
        PrivateKeyDer::Pkcs1(der) => {
            rsa_parts::from_pkcs1_der(der.secret_pkcs1_der()).map(KeyParts::Rsa)
        }
        PrivateKeyDer::Sec1(der) => ec(der.secret_sec1_der(), None),
        PrivateKeyDer::Pkcs8(der) => pkcs8(der.secret_pkcs8_der()),
        _ => Err(KeyError::Unsupported(
            "unknown PEM private key kind".to_owned(),
        )),
    }
}

fn pkcs8(der: &[u8]) -> Result<KeyParts, KeyError> {
    let info = der::parse_pkcs8(der)?;
    match info.alg {
        der::OID_EC_PUBLIC_KEY => ec(info.private_key, info.curve_oid),
        der::OID_ED25519 => {
            let seed = der::ed25519_seed(info.private_key)?;
            let public = match info.public_key {
                Some(public) => Some(
                    public
                        .try_into()
                        .map_err(|_| KeyError::Pem("Ed25519 public key length".to_owned()))?,
                ),
                None => None,
            };
            Ok(KeyParts::Ed25519 { seed, public })
        }
        der::OID_RSA => rsa_parts::from_pkcs8_der(der).map(KeyParts::Rsa),
        _ => Err(KeyError::Unsupported(
            "PKCS#8 key algorithm (EC P-256/P-384, Ed25519 and RSA are supported)".to_owned(),
        )),
    }
}

fn ec(der: &[u8], outer_curve: Option<&[u8]>) -> Result<KeyParts, KeyError> {
    let (curve, d, point) = der::parse_ec_private_key(der, outer_curve)?;
    Ok(KeyParts::Ec { curve, d, point })
}
