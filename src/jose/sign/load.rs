//! Loading keys: private JWKs (RFC 7517; EC RFC 7518 §6.2.2, RSA §6.3.2, OKP RFC 8037 §2), PEM
//! (see [`super::pem`]), or either from a file. Also the thumbprint of any key file, public or
//! private, JWK or PEM, for the CLI's `thumbprint` command.

use std::path::Path;

use serde_json::{Map, Value};

use super::{pem, put, rsa_parts, KeyError, KeyParts, SigningKey};
use crate::jose::alg::Alg;
use crate::jose::b64;
use crate::jose::json;
use crate::jose::jwk::{Curve, PublicJwk};
use crate::jose::limits::ParseLimits;
use crate::jose::thumbprint::Jkt;

/// The operator's own keys (CLI, demo): the widest bounds the parsers support.
const OWN: ParseLimits = ParseLimits::WIDEST;

/// Private members whose presence makes a JWK private.
const PRIVATE_MEMBERS: [&str; 3] = ["d", "p", "k"];

impl SigningKey {
    /// Loads a private JWK (JSON text). The algorithm is `alg` if given, else the JWK's `alg`
    /// member, else the key type's default.
    pub fn from_private_jwk(jwk: &str, alg: Option<Alg>) -> Result<SigningKey, KeyError> {
        let map = json::parse_object(jwk.as_bytes(), OWN.max_json_depth)?;
        SigningKey::from_private_jwk_map(&map, alg)
    }

    /// Loads a private JWK from its members; its `kid`, if any, is kept.
    pub fn from_private_jwk_map(
        map: &Map<String, Value>,
        alg: Option<Alg>,
    ) -> Result<SigningKey, KeyError> {
        let alg = match (alg, map.contains_key("alg")) {
            (Some(alg), _) => Some(alg),
            (None, true) => {
                let name = member(map, "alg")?;
                Some(Alg::from_jose(name).ok_or_else(|| KeyError::Member {
                    member: "alg",
                    problem: format!("unsupported algorithm {:?}", crate::jose::clip(name, 32)),
                })?)
            }
            (None, false) => None,
        };
        let kid = match map.get("kid") {
            None => None,
            Some(_) => Some(member(map, "kid")?.to_owned()),
        };
        let mut key = SigningKey::from_parts(parts_from_jwk(map)?, alg)?;
        if let Some(kid) = kid {
            put(&mut key.private_jwk, "kid", kid.as_str());
            key.kid = Some(kid);
        }
        Ok(key)
    }

    /// Loads a PEM private key (PKCS#8, SEC1 or PKCS#1), with `alg` or the key type's default.
    pub fn from_pem(pem: &str, alg: Option<Alg>) -> Result<SigningKey, KeyError> {
        SigningKey::from_parts(pem::parse(pem)?, alg)
    }

    /// Loads a private key from text that is either a JWK (starts with `{`) or PEM.
    pub fn from_text(text: &str, alg: Option<Alg>) -> Result<SigningKey, KeyError> {
        if text.trim_start().starts_with('{') {
            SigningKey::from_private_jwk(text, alg)
        } else {
            SigningKey::from_pem(text, alg)
        }
    }

    /// Loads a private key file: a JWK (JSON) or PEM.
    pub fn load(path: impl AsRef<Path>, alg: Option<Alg>) -> Result<SigningKey, KeyError> {
        SigningKey::from_text(&read(path.as_ref())?, alg)
    }
}

/// The RFC 7638 thumbprint of a key given as text: a public JWK, a private JWK, or a PEM
/// key, public (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`) or private.
pub fn thumbprint_of_key(text: &str) -> Result<Jkt, KeyError> {
    if !text.trim_start().starts_with('{') {
        return match pem::parse_public(text)? {
            Some(public) => Ok(PublicJwk::from_map(&public, &OWN)?.thumbprint().clone()),
            None => Ok(SigningKey::from_pem(text, None)?.jkt().clone()),
        };
    }
    let map = json::parse_object(text.as_bytes(), OWN.max_json_depth)?;
    if PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)) {
        Ok(SigningKey::from_private_jwk_map(&map, None)?.jkt().clone())
    } else {
        Ok(PublicJwk::from_map(&map, &OWN)?.thumbprint().clone())
    }
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn parts_from_jwk(map: &Map<String, Value>) -> Result<KeyParts, KeyError> {
    match member(map, "kty")? {
        "EC" => {
            let curve = match member(map, "crv")? {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                other => return Err(unsupported_curve(other)),
            };
            let len = curve.coordinate_len();
            let d = bytes(map, "d", Some(len))?;
            let mut point = vec![0x04];
            point.extend(bytes(map, "x", Some(len))?);
            point.extend(bytes(map, "y", Some(len))?);
            Ok(KeyParts::Ec { curve, d, point })
        }
        "OKP" => {
            let crv = member(map, "crv")?;
            if crv != "Ed25519" {
                return Err(unsupported_curve(crv));
            }
            Ok(KeyParts::Ed25519 {
                seed: fixed32(map, "d")?,
                public: Some(fixed32(map, "x")?),
            })
        }
        "RSA" => {
            if map.contains_key("oth") {
                return Err(KeyError::Unsupported("multi-prime RSA key".to_owned()));
            }
            let int = |name| bytes(map, name, None).map(|v| rsa_parts::minimal(&v));
            Ok(KeyParts::Rsa(rsa_parts::RsaParts {
                n: int("n")?,
                e: int("e")?,
                d: int("d")?,
                p: int("p")?,
                q: int("q")?,
                dp: int("dp")?,
                dq: int("dq")?,
                qi: int("qi")?,
            }))
        }
        "oct" => Err(KeyError::Unsupported(
            "symmetric (oct) keys cannot sign DPoP proofs".to_owned(),
        )),
        other => Err(KeyError::Unsupported(format!(
            "kty {:?}",
            crate::jose::clip(other, 32)
        ))),
    }
}

fn unsupported_curve(crv: &str) -> KeyError {
    KeyError::Unsupported(format!("crv {:?}", crate::jose::clip(crv, 32)))
}

fn member<'m>(map: &'m Map<String, Value>, name: &'static str) -> Result<&'m str, KeyError> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(KeyError::Member {
            member: name,
            problem: "not a string".to_owned(),
        }),
        None if name == "d" => Err(KeyError::NotPrivate),
        None => Err(KeyError::Member {
            member: name,
            problem: "missing".to_owned(),
        }),
    }
}

fn fixed32(map: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], KeyError> {
    b64::decode_fixed::<32>(member(map, name)?).map_err(|e| KeyError::Member {
        member: name,
        problem: e.to_string(),
    })
}

fn bytes(
    map: &Map<String, Value>,
    name: &'static str,
    len: Option<usize>,
) -> Result<Vec<u8>, KeyError> {
    let text = member(map, name)?;
    match len {
        Some(len) => b64::decode_exact(text, len),
        None => b64::decode(text),
    }
    .map_err(|e| KeyError::Member {
        member: name,
        problem: e.to_string(),
    })
}
