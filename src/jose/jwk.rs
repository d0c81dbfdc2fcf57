//! Public JWKs: parsing, key policy and thumbprint input (verification is in `verify.rs`).
//!
//! Implements, for the `jwk` header of a DPoP proof (RFC 9449 §4.2, §4.3 items 6 and 7) and for
//! JWKS keys of an access-token issuer:
//!
//! * private members (`d p q dp dq qi oth k`) are rejected (§4.2 "MUST NOT", §4.3 item 7), and
//!   so is `kty` `oct` (a symmetric key proves nothing);
//! * EC: `crv` `P-256` or `P-384`, `x`/`y` strict base64url of the **full** coordinate length
//!   (RFC 7518 §6.2.1.2–3). P-521 is unsupported because `ring` 0.17 cannot verify it. Whether
//!   the point is on the curve (and not the identity) is checked by `ring` when the signature
//!   is verified, not at parse time: `ring` has no cheaper public check, so an off-curve key
//!   fails as [`JwkError::BadSignature`];
//! * size: at most `max_jwk_bytes` as [`super::limits::jwk_size`] counts it, checked first;
//! * RSA: modulus at least 2048 bits after stripping leading zero octets (RFC 7518 §3.3, §3.5)
//!   and at most `max_rsa_modulus_bits` (≤ 8192, `ring`'s bound; the limit bounds the CPU an
//!   untrusted key can cost), checked before any signature work; `e` odd, ≥ 3, at most 4 octets;
//! * OKP: `crv` `Ed25519` only, `x` exactly 32 octets (RFC 8037 §2); `X25519`/`X448` are key
//!   agreement curves and rejected;
//! * policy (rfc9449-checks §6): `use`, if present, is `sig`; `key_ops`, if present, includes
//!   `verify`; `alg`, if present, names the same algorithm as the JWS header (checked by
//!   [`PublicJwk::check_alg`]).
//!
//! Unknown members (`kid`, `x5c`, …) are ignored and never used to find or fetch a key.
//! The RFC 7638 thumbprint is computed once, at parse time, from the member strings as
//! received.

use std::fmt;

use serde_json::{Map, Value};

use super::alg::Alg;
use super::b64::{self, B64Error};
use super::limits::{jwk_size, ParseLimits, MAX_RSA_BITS, MIN_RSA_BITS};
use super::thumbprint::{canonical_json, Jkt};

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWK was rejected, or why a signature did not verify under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// The JWK is not a JSON object.
    #[error("jwk is not a JSON object")]
    NotAnObject,
    /// A private-key member is present.
    #[error("jwk contains the private member {0:?}")]
    PrivateMember(&'static str),
    /// `kty` is `oct`.
    #[error("jwk is a symmetric key (kty oct)")]
    SymmetricKey,
    /// A required member is missing.
    #[error("jwk member {0:?} is missing")]
    Missing(&'static str),
    /// A member has the wrong JSON type.
    #[error("jwk member {0:?} has the wrong type")]
    WrongType(&'static str),
    /// `kty` is not EC, RSA or OKP.
    #[error("unsupported kty {0:?}")]
    UnsupportedKty(String),
    /// `crv` is not supported for the key type.
    #[error("unsupported crv {0:?}")]
    UnsupportedCurve(String),
    /// A key member is not strict base64url of the right length.
    #[error("jwk member {member:?}: {source}")]
    Encoding {
        /// The member name.
        member: &'static str,
        /// What was wrong.
        source: B64Error,
    },
    /// The JWK is larger than `max_jwk_bytes`.
    #[error("jwk is {size} bytes, the limit (max_jwk_bytes) is {max}")]
    TooLarge {
        /// Its size as [`super::limits::jwk_size`] counts it.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The RSA modulus is below 2048 bits.
    #[error("RSA modulus is {0} bits, at least 2048 are required")]
    RsaModulusSize(usize),
    /// The RSA modulus is above `max_rsa_modulus_bits`.
    #[error("RSA modulus is {bits} bits, the limit (max_rsa_modulus_bits) is {max}")]
    RsaModulusOverLimit {
        /// The modulus size.
        bits: usize,
        /// The limit.
        max: usize,
    },
    /// The RSA public exponent is unusable.
    #[error("RSA exponent must be odd, at least 3 and at most 4 octets")]
    RsaExponent,
    /// `use` is present and not `sig`.
    #[error("jwk use is {0:?}, not \"sig\"")]
    Use(String),
    /// `key_ops` is present and lacks `verify`.
    #[error("jwk key_ops does not include \"verify\"")]
    KeyOps,
    /// `alg` in the JWK differs from the JWS header's.
    #[error("jwk alg {jwk:?} differs from the header alg {header}")]
    AlgMismatch {
        /// The JWK's `alg` (clipped).
        jwk: String,
        /// The header's algorithm.
        header: Alg,
    },
    /// The algorithm needs a different kind of key.
    #[error("alg {alg} cannot be used with an {key} key")]
    IncompatibleAlg {
        /// The header's algorithm.
        alg: Alg,
        /// The key, e.g. `EC P-384`.
        key: String,
    },
    /// The signature has the wrong length for the algorithm (e.g. a DER-encoded ECDSA one).
    #[error("signature is {got} octets, {alg} needs {expected}")]
    SignatureLength {
        /// The algorithm.
        alg: Alg,
        /// Required length.
        expected: usize,
        /// Received length.
        got: usize,
    },
    /// The signature does not verify (or, for EC, the point is not a valid public key).
    #[error("signature does not verify under the jwk")]
    BadSignature,
}

impl JwkError {
    /// The key is well-formed but larger than `[limits]` allow: an issuer key set skips such a
    /// key (with a warning) instead of refusing the whole set.
    pub fn is_over_limit(&self) -> bool {
        matches!(
            self,
            JwkError::TooLarge { .. } | JwkError::RsaModulusOverLimit { .. }
        )
    }
}

/// The JWK key type (RFC 7518 §6.1, RFC 8037 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Elliptic curve (`EC`).
    Ec,
    /// RSA (`RSA`).
    Rsa,
    /// Octet key pair (`OKP`), Ed25519 here.
    Okp,
}

impl KeyType {
    /// The `kty` value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ec => "EC",
            KeyType::Rsa => "RSA",
            KeyType::Okp => "OKP",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A supported NIST curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

impl Curve {
    pub(super) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Material {
    /// Uncompressed SEC1 point `0x04 || x || y`.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    /// Big-endian modulus and exponent, leading zero octets stripped.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519 {
        x: [u8; 32],
    },
}

/// A validated public JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub(super) material: Material,
    pub(super) alg: Option<String>,
    jkt: Jkt,
}

impl PublicJwk {
    /// Parses a JWK given as a JSON value (it must be an object).
    pub fn from_value(value: &Value, limits: &ParseLimits) -> Result<PublicJwk, JwkError> {
        match value {
            Value::Object(map) => PublicJwk::from_map(map, limits),
            _ => Err(JwkError::NotAnObject),
        }
    }

    /// Parses and validates the members of a public JWK within `limits` and computes its
    /// thumbprint.
    pub fn from_map(map: &Map<String, Value>, limits: &ParseLimits) -> Result<PublicJwk, JwkError> {
        let size = jwk_size(map);
        if size > limits.max_jwk_bytes {
            return Err(JwkError::TooLarge {
                size,
                max: limits.max_jwk_bytes,
            });
        }
        if let Some(name) = PRIVATE_MEMBERS.into_iter().find(|m| map.contains_key(*m)) {
            return Err(JwkError::PrivateMember(name));
        }
        let kty = required(map, "kty")?;
        check_use(map)?;
        let alg = optional(map, "alg")?.map(str::to_owned);
        let (material, canonical) = match kty {
            "EC" => parse_ec(map)?,
            "RSA" => parse_rsa(map, limits.max_rsa_bits)?,
            "OKP" => parse_okp(map)?,
            "oct" => return Err(JwkError::SymmetricKey),
            other => return Err(JwkError::UnsupportedKty(super::clip(other, 32))),
        };
        Ok(PublicJwk {
            material,
            alg,
            jkt: Jkt::of_canonical_json(&canonical),
        })
    }

    /// The key type.
    pub fn kty(&self) -> KeyType {
        match self.material {
            Material::Ec { .. } => KeyType::Ec,
            Material::Rsa { .. } => KeyType::Rsa,
            Material::Ed25519 { .. } => KeyType::Okp,
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, computed from the members as received.
    pub fn thumbprint(&self) -> &Jkt {
        &self.jkt
    }

    /// The JWK's own `alg` member, if any.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// A short description of the key for error messages, e.g. `EC P-384`.
    pub(super) fn describe(&self) -> String {
        match &self.material {
            Material::Ec { curve, .. } => format!("EC {}", curve.name()),
            Material::Rsa { n, .. } => format!("RSA {}-bit", bit_len(n)),
            Material::Ed25519 { .. } => "OKP Ed25519".to_owned(),
        }
    }
}

/// `(material, RFC 7638 canonical JSON)`.
type Parsed = (Material, String);

fn parse_ec(map: &Map<String, Value>) -> Result<Parsed, JwkError> {
    let crv = required(map, "crv")?;
    let curve = match crv {
        "P-256" => Curve::P256,
        "P-384" => Curve::P384,
        other => return Err(JwkError::UnsupportedCurve(super::clip(other, 32))),
    };
    let x = required(map, "x")?;
    let y = required(map, "y")?;
    let len = curve.coordinate_len();
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend(decode_member("x", x, Some(len))?);
    point.extend(decode_member("y", y, Some(len))?);
    let canonical = canonical_json(&[("crv", crv), ("kty", "EC"), ("x", x), ("y", y)]);
    Ok((Material::Ec { curve, point }, canonical))
}

fn parse_rsa(map: &Map<String, Value>, max_bits: usize) -> Result<Parsed, JwkError> {
    let max_bits = max_bits.min(MAX_RSA_BITS);
    let n_text = required(map, "n")?;
    let e_text = required(map, "e")?;
    let n = strip_leading_zeros(decode_member("n", n_text, None)?);
    let bits = bit_len(&n);
    if bits < MIN_RSA_BITS {
        return Err(JwkError::RsaModulusSize(bits));
    }
    if bits > max_bits {
        return Err(JwkError::RsaModulusOverLimit {
            bits,
            max: max_bits,
        });
    }
    let e = strip_leading_zeros(decode_member("e", e_text, None)?);
    let odd = e.last().is_some_and(|low| low & 1 == 1);
    if e.is_empty() || e.len() > 4 || !odd || e == [1] {
        return Err(JwkError::RsaExponent);
    }
    let canonical = canonical_json(&[("e", e_text), ("kty", "RSA"), ("n", n_text)]);
    Ok((Material::Rsa { n, e }, canonical))
}

fn parse_okp(map: &Map<String, Value>) -> Result<Parsed, JwkError> {
    let crv = required(map, "crv")?;
    if crv != "Ed25519" {
        return Err(JwkError::UnsupportedCurve(super::clip(crv, 32)));
    }
    let x_text = required(map, "x")?;
    let x = b64::decode_fixed::<32>(x_text).map_err(|source| JwkError::Encoding {
        member: "x",
        source,
    })?;
    let canonical = canonical_json(&[("crv", crv), ("kty", "OKP"), ("x", x_text)]);
    Ok((Material::Ed25519 { x }, canonical))
}

/// `use` must be `sig` and `key_ops` must include `verify`, when present (RFC 7517 §4.2–4.3).
fn check_use(map: &Map<String, Value>) -> Result<(), JwkError> {
    if let Some(usage) = optional(map, "use")? {
        if usage != "sig" {
            return Err(JwkError::Use(super::clip(usage, 32)));
        }
    }
    match map.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) => {
            if ops.iter().any(|op| !op.is_string()) {
                Err(JwkError::WrongType("key_ops"))
            } else if ops.iter().any(|op| op.as_str() == Some("verify")) {
                Ok(())
            } else {
                Err(JwkError::KeyOps)
            }
        }
        Some(_) => Err(JwkError::WrongType("key_ops")),
    }
}

fn optional<'m>(
    map: &'m Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'m str>, JwkError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::WrongType(name)),
    }
}

fn required<'m>(map: &'m Map<String, Value>, name: &'static str) -> Result<&'m str, JwkError> {
    optional(map, name)?.ok_or(JwkError::Missing(name))
}

fn decode_member(
    member: &'static str,
    text: &str,
    len: Option<usize>,
) -> Result<Vec<u8>, JwkError> {
    match len {
        Some(len) => b64::decode_exact(text, len),
        None => b64::decode(text),
    }
    .map_err(|source| JwkError::Encoding { member, source })
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Bit length of a big-endian unsigned integer without leading zero octets.
pub(super) fn bit_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(top) => bytes.len() * 8 - top.leading_zeros() as usize,
    }
}
