//! Private keys and JWS signing, for the CLI (`keygen`, `thumbprint`, `proof`, `token`), the
//! demo, tests and benches. Not used on the request path.
//!
//! A [`SigningKey`] is made by [`SigningKey::generate`] or loaded from a private JWK
//! (RFC 7517, RFC 7518 §6.2.2 / §6.3.2, RFC 8037 §2) or PEM (PKCS#8, SEC1 EC, PKCS#1 RSA). Its
//! algorithm is, in order: the override passed by the caller, the JWK's `alg` member, or the
//! key type's default (EC P-256 → ES256, P-384 → ES384, OKP → EdDSA, RSA → PS256).
//!
//! `ring` does all signing: ES* produce fixed-length `R || S` (RFC 7518 §3.4), RSA uses `ring`'s
//! system RNG. `ring` cannot generate RSA keys, so RSA key **generation** (and reading RSA key
//! files into their components) uses the RustCrypto `rsa` crate; the resulting components are
//! loaded into `ring`'s `RsaKeyPair`.

mod der;
mod generate;
mod load;
mod pem;
mod rsa_parts;

use std::fmt;

use ring::rand::SystemRandom;
use ring::rsa::{KeyPairComponents, PublicKeyComponents};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};

use super::alg::Alg;
use super::b64;
use super::jwk::{Curve, JwkError, KeyType, PublicJwk};
use super::thumbprint::Jkt;

pub use load::thumbprint_of_key;

/// Why a key could not be generated, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JWK text is not a JSON object without duplicates.
    #[error("key JWK: {0}")]
    Json(#[from] super::json::JsonError),
    /// A JWK member is missing, mistyped or badly encoded.
    #[error("key JWK member {member:?}: {problem}")]
    Member {
        /// The member name.
        member: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The public half failed the public-JWK checks.
    #[error("public key: {0}")]
    Public(#[from] JwkError),
    /// The PEM or DER structure could not be read.
    #[error("PEM key: {0}")]
    Pem(String),
    /// The key kind or algorithm is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key has no private part.
    #[error("the key has no private part (a public JWK cannot sign)")]
    NotPrivate,
    /// The algorithm does not fit the key.
    #[error("alg {alg} cannot be used with an {kty} key")]
    AlgMismatch {
        /// The requested algorithm.
        alg: Alg,
        /// The key type.
        kty: KeyType,
    },
    /// `ring` rejected the key material.
    #[error("key rejected: {0}")]
    Rejected(String),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// Private key material in the form every loader produces.
enum KeyParts {
    /// `d` and the uncompressed point `0x04 || x || y`.
    Ec {
        curve: Curve,
        d: Vec<u8>,
        point: Vec<u8>,
    },
    /// The 32-octet seed, and the public key when the source had it.
    Ed25519 {
        seed: [u8; 32],
        public: Option<[u8; 32]>,
    },
    Rsa(rsa_parts::RsaParts),
}

impl KeyParts {
    fn default_alg(&self) -> Alg {
        match self {
            KeyParts::Ec {
                curve: Curve::P256, ..
            } => Alg::Es256,
            KeyParts::Ec {
                curve: Curve::P384, ..
            } => Alg::Es384,
            KeyParts::Ed25519 { .. } => Alg::EdDsa,
            KeyParts::Rsa(_) => Alg::Ps256,
        }
    }

    fn kty(&self) -> KeyType {
        match self {
            KeyParts::Ec { .. } => KeyType::Ec,
            KeyParts::Ed25519 { .. } => KeyType::Okp,
            KeyParts::Rsa(_) => KeyType::Rsa,
        }
    }
}

/// Public key material, as a public JWK holds it (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2).
enum PublicParts<'a> {
    /// The uncompressed point `0x04 || x || y`.
    Ec { curve: Curve, point: &'a [u8] },
    /// The 32-octet public key.
    Ed25519(&'a [u8]),
    /// Modulus and exponent, minimal big-endian.
    Rsa { n: &'a [u8], e: &'a [u8] },
}

impl PublicParts<'_> {
    /// The public JWK members (`kty`, `crv`, `x`, `y`, `n`, `e`).
    fn jwk(&self) -> Map<String, Value> {
        let mut public = Map::new();
        match self {
            PublicParts::Ec { curve, point } => {
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                put(&mut public, "kty", "EC");
                put(&mut public, "crv", curve.name());
                put(&mut public, "x", b64::encode(x));
                put(&mut public, "y", b64::encode(y));
            }
            PublicParts::Ed25519(x) => {
                put(&mut public, "kty", "OKP");
                put(&mut public, "crv", "Ed25519");
                put(&mut public, "x", b64::encode(x));
            }
            PublicParts::Rsa { n, e } => {
                put(&mut public, "kty", "RSA");
                put(&mut public, "n", b64::encode(n));
                put(&mut public, "e", b64::encode(e));
            }
        }
        public
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key with its algorithm, JWKs, thumbprint and, when its JWK had one, `kid`.
pub struct SigningKey {
    alg: Alg,
    kid: Option<String>,
    pair: Pair,
    public_jwk: Map<String, Value>,
    private_jwk: Map<String, Value>,
    jkt: Jkt,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The signing algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key type.
    pub fn kty(&self) -> KeyType {
        match self.pair {
            Pair::Ecdsa(_) => KeyType::Ec,
            Pair::Ed25519(_) => KeyType::Okp,
            Pair::Rsa(_) => KeyType::Rsa,
        }
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> &Jkt {
        &self.jkt
    }

    /// The key's own `kid`, when it was loaded from a JWK that has one (a PEM key has none).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key ID a token header and a JWKS name this key by: its own `kid`, else its
    /// RFC 7638 thumbprint.
    pub fn key_id(&self) -> String {
        match &self.kid {
            Some(kid) => kid.clone(),
            None => self.jkt.to_string(),
        }
    }

    /// The public JWK: only the public members (`kty`, `crv`, `x`, `y`, `n`, `e`).
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.public_jwk.clone())
    }

    /// The private JWK, with `alg` (and `kid` if the key has one), as `keygen` writes it and
    /// `from_private_jwk` reads it.
    pub fn to_private_jwk(&self) -> Value {
        Value::Object(self.private_jwk.clone())
    }

    /// A DPoP proof header: `{"typ":"dpop+jwt","alg":…,"jwk":…}` (RFC 9449 §4.2).
    pub fn proof_header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg.as_str(), "jwk": self.public_jwk()})
    }

    /// Signs `message` with the key's algorithm.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_SHA512,
                    Alg::Ps256 => &signature::RSA_PSS_SHA256,
                    Alg::Ps384 => &signature::RSA_PSS_SHA384,
                    Alg::Ps512 => &signature::RSA_PSS_SHA512,
                    Alg::Es256 | Alg::Es384 | Alg::EdDsa => return Err(KeyError::Sign),
                };
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
        }
    }

    /// Serialises `header` and `claims` and signs them as a compact JWS. The header is used
    /// as given (use [`SigningKey::proof_header`] for a DPoP proof).
    pub fn sign_compact(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let header = serde_json::to_vec(header).map_err(|_| KeyError::Sign)?;
        let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        self.sign_segments(&header, &claims)
    }

    /// Signs raw header and payload bytes as a compact JWS (for tests that need exact bytes,
    /// such as duplicate member names).
    pub fn sign_segments(&self, header: &[u8], payload: &[u8]) -> Result<String, KeyError> {
        let signing_input = format!("{}.{}", b64::encode(header), b64::encode(payload));
        let sig = self.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64::encode(sig)))
    }

    /// Builds the key from its parts, with `alg` or the key type's default.
    fn from_parts(parts: KeyParts, alg: Option<Alg>) -> Result<SigningKey, KeyError> {
        let alg = alg.unwrap_or_else(|| parts.default_alg());
        let mismatch = KeyError::AlgMismatch {
            alg,
            kty: parts.kty(),
        };
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected(e.to_string());
        let mut private = Map::new();
        let (pair, public) = match parts {
            KeyParts::Ec { curve, d, point } => {
                let signing = match (curve, alg) {
                    (Curve::P256, Alg::Es256) => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    (Curve::P384, Alg::Es384) => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    _ => return Err(mismatch),
                };
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_private_key_and_public_key(signing, &d, &point, &rng)
                    .map_err(rejected)?;
                put(&mut private, "d", b64::encode(&d));
                let public = PublicParts::Ec {
                    curve,
                    point: &point,
                };
                (Pair::Ecdsa(pair), public.jwk())
            }
            KeyParts::Ed25519 { seed, public: x } => {
                if alg != Alg::EdDsa {
                    return Err(mismatch);
                }
                let pair = match x {
                    Some(x) => Ed25519KeyPair::from_seed_and_public_key(&seed, &x),
                    None => Ed25519KeyPair::from_seed_unchecked(&seed),
                }
                .map_err(rejected)?;
                put(&mut private, "d", b64::encode(seed));
                let public = PublicParts::Ed25519(pair.public_key().as_ref()).jwk();
                (Pair::Ed25519(pair), public)
            }
            KeyParts::Rsa(parts) => {
                if !matches!(
                    alg,
                    Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512
                ) {
                    return Err(mismatch);
                }
                let pair = RsaKeyPair::from_components(&KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: &parts.n,
                        e: &parts.e,
                    },
                    d: &parts.d,
                    p: &parts.p,
                    q: &parts.q,
                    dP: &parts.dp,
                    dQ: &parts.dq,
                    qInv: &parts.qi,
                })
                .map_err(rejected)?;
                for (name, value) in [
                    ("d", &parts.d),
                    ("p", &parts.p),
                    ("q", &parts.q),
                    ("dp", &parts.dp),
                    ("dq", &parts.dq),
                    ("qi", &parts.qi),
                ] {
                    put(&mut private, name, b64::encode(value));
                }
                let public = PublicParts::Rsa {
                    n: &parts.n,
                    e: &parts.e,
                };
                (Pair::Rsa(pair), public.jwk())
            }
        };
        let jkt = PublicJwk::from_map(&public, &super::ParseLimits::WIDEST)?
            .thumbprint()
            .clone();
        let mut private_jwk = public.clone();
        private_jwk.extend(private);
        put(&mut private_jwk, "alg", alg.as_str());
        Ok(SigningKey {
            alg,
            kid: None,
            pair,
            public_jwk: public,
            private_jwk,
            jkt,
        })
    }
}

fn put(map: &mut Map<String, Value>, name: &str, value: impl Into<String>) {
    map.insert(name.to_owned(), Value::String(value.into()));
}

#[cfg(test)]
mod tests;
