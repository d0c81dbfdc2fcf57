//! PEM keys (RFC 7468). Private: PKCS#8 `PRIVATE KEY` (EC P-256/P-384, Ed25519, RSA), SEC1
//! `EC PRIVATE KEY` and PKCS#1 `RSA PRIVATE KEY`; the first private-key section is used,
//! other sections (certificates) are skipped; encrypted keys are not supported. Public (for
//! thumbprints): SPKI `PUBLIC KEY` (the same key types) and PKCS#1 `RSA PUBLIC KEY`.

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{Map, Value};

use super::{der, rsa_parts, KeyError, KeyParts, PublicParts};
use crate::jose::jwk::Curve;

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

/// The public JWK members of the first public key in `pem` (`PUBLIC KEY`, else
/// `RSA PUBLIC KEY`); `None` when it has neither section.
pub(super) fn parse_public(pem: &str) -> Result<Option<Map<String, Value>>, KeyError> {
    if let Some(der) = section(pem, "PUBLIC KEY")? {
        return spki(&der).map(Some);
    }
    match section(pem, "RSA PUBLIC KEY")? {
        Some(der) => rsa_public(&der).map(Some),
        None => Ok(None),
    }
}

fn spki(der: &[u8]) -> Result<Map<String, Value>, KeyError> {
    let info = der::parse_spki(der)?;
    match info.alg {
        der::OID_EC_PUBLIC_KEY => {
            let curve = der::named_curve(info.curve_oid)?;
            ec_point(curve, info.key)?;
            Ok(PublicParts::Ec {
                curve,
                point: info.key,
            }
            .jwk())
        }
        der::OID_ED25519 => {
            if info.key.len() != 32 {
                return Err(KeyError::Pem("Ed25519 public key length".to_owned()));
            }
            Ok(PublicParts::Ed25519(info.key).jwk())
        }
        der::OID_RSA => rsa_public(info.key),
        _ => Err(KeyError::Unsupported(
            "public key algorithm (EC P-256/P-384, Ed25519 and RSA are supported)".to_owned(),
        )),
    }
}

/// Checks that `point` is an uncompressed point of `curve`: `0x04 || x || y`.
fn ec_point(curve: Curve, point: &[u8]) -> Result<(), KeyError> {
    match point.split_first() {
        Some((0x04, xy)) if xy.len() == 2 * curve.coordinate_len() => Ok(()),
        Some((0x02 | 0x03, _)) => Err(KeyError::Unsupported("compressed EC public key".to_owned())),
        _ => Err(KeyError::Pem("EC public key length".to_owned())),
    }
}

fn rsa_public(der: &[u8]) -> Result<Map<String, Value>, KeyError> {
    let (n, e) = der::parse_rsa_public_key(der)?;
    let (n, e) = (rsa_parts::minimal(n), rsa_parts::minimal(e));
    Ok(PublicParts::Rsa { n: &n, e: &e }.jwk())
}

/// The DER of the first `label` section (RFC 7468 §2: base64 between the encapsulation
/// boundaries), or `None` when there is none.
fn section(pem: &str, label: &str) -> Result<Option<Vec<u8>>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(body) = pem.split_once(&begin).map(|(_, rest)| rest) else {
        return Ok(None);
    };
    let Some((body, _)) = body.split_once(&end) else {
        return Err(KeyError::Pem(format!("{label} without its END line")));
    };
    let base64: String = body.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map(Some)
        .map_err(|e| KeyError::Pem(format!("{label}: {e}")))
}
