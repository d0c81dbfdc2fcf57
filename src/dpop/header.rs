//! Checks on the proof's JOSE header (RFC 9449 §4.2, §4.3 items 4–7), cheapest first:
//! `typ`, then `alg`, then `jwk` (whose thumbprint is computed here, once).
//!
//! `crit` was already refused by the JWS parser (RFC 7515 §4.1.11). Unknown header
//! parameters are ignored (rfc9449-checks C6); `kid`, `jku`, `x5u` and `x5c` are never used to
//! find a key (§4.3 item 6: only the `jwk` header counts).

use serde_json::{Map, Value};

use super::error::{ProofError, MAX_SHOWN};
use crate::jose::{clip, Alg, AlgSet, ParseLimits, PublicJwk};

/// `typ` (§4.3 item 4). Policy (rfc9449-checks B4a): the media type `dpop+jwt` in any case,
/// with or without the `application/` prefix (RFC 7515 §4.1.9); never missing or another type.
pub(super) fn check_typ(header: &Map<String, Value>) -> Result<(), ProofError> {
    match header.get("typ") {
        None => Err(ProofError::MissingHeader("typ")),
        Some(Value::String(typ))
            if typ.eq_ignore_ascii_case("dpop+jwt")
                || typ.eq_ignore_ascii_case("application/dpop+jwt") =>
        {
            Ok(())
        }
        Some(other) => Err(ProofError::BadTyp(clip(&other.to_string(), MAX_SHOWN))),
    }
}

/// `alg` (§4.3 item 5, §11.6): a string naming a supported asymmetric algorithm that the
/// policy allows. `none` and `HS*` are not representable as [`Alg`], so they fail here.
pub(super) fn check_alg(header: &Map<String, Value>, allowed: AlgSet) -> Result<Alg, ProofError> {
    let name = match header.get("alg") {
        None => return Err(ProofError::MissingHeader("alg")),
        Some(Value::String(name)) => name,
        Some(_) => return Err(ProofError::AlgNotString),
    };
    let alg = Alg::from_jose(name).ok_or_else(|| ProofError::AlgUnsupported(clip(name, 32)))?;
    if allowed.contains(alg) {
        Ok(alg)
    } else {
        Err(ProofError::AlgNotAllowed(alg))
    }
}

/// `jwk` (§4.2, §4.3 items 6–7): a JSON object holding a valid public key that fits `alg`,
/// within `limits` (`max_jwk_bytes`, `max_rsa_modulus_bits`).
pub(super) fn check_jwk(
    header: &Map<String, Value>,
    alg: Alg,
    limits: &ParseLimits,
) -> Result<PublicJwk, ProofError> {
    let map = match header.get("jwk") {
        None => return Err(ProofError::MissingHeader("jwk")),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ProofError::JwkNotObject),
    };
    let jwk = PublicJwk::from_map(map, limits).map_err(ProofError::BadJwk)?;
    jwk.check_alg(alg).map_err(ProofError::BadJwk)?;
    Ok(jwk)
}
