//! Checks on the proof's claims against the request (RFC 9449 §4.2, §4.3 items 3 and 8–12),
//! in this order: `jti`, `htm`, `htu`, `iat`, `exp`/`nbf`, `ath`, `nonce`.
//!
//! * `jti`: non-empty string of at most [`MAX_JTI_LEN`] bytes (§11.1: reject oversized values).
//! * `htm`: equal to the request method, case-sensitively (§4.3 item 8; RFC 9110 §9.1).
//! * `htu`: parsed and normalised ([`Htu`]), equal to the request URI (§4.3 item 9).
//! * `iat`: a JSON integer in `0..=`[`MAX_IAT`] (larger values are milliseconds), inside
//!   `[now - max_age, now + max_skew]` (§4.3 item 11, §11.1).
//! * `exp` / `nbf`: not defined by DPoP; when present they must be numbers and follow RFC 7519
//!   §4.1.4–5: `exp` must be after now, `nbf` at most `max_skew` ahead (rfc9449-checks C7).
//! * `ath`: required when an access token is presented (§4.2, §7): strict base64url of exactly
//!   32 octets equal to SHA-256 of the token (§4.3 item 12). **Policy:** when no token is
//!   presented an `ath` is ignored (it is only defined for requests that carry a token).
//! * `nonce`: if present, a string (§4.2); whether it is required and valid is the caller's
//!   business (§4.3 item 10, §9).
//!
//! Unknown claims are ignored (rfc9449-checks C6).

use serde_json::{Map, Value};

use super::error::{ProofError, MAX_SHOWN};
use super::htu::Htu;
use crate::jose::{b64, clip};

/// Longest accepted `jti`, in bytes.
pub const MAX_JTI_LEN: usize = 256;

/// Largest plausible `iat` (year 5138): anything above is a millisecond timestamp.
pub const MAX_IAT: i64 = 100_000_000_000;

/// What the request looks like, and the freshness policy: the inputs of the claim checks.
pub(super) struct Expect<'a> {
    pub(super) method: &'a str,
    pub(super) htu: &'a Htu,
    pub(super) token_sha256: Option<&'a [u8; 32]>,
    pub(super) now: i64,
    pub(super) max_age: u64,
    pub(super) max_skew: u64,
}

/// The claims a caller needs after the checks.
pub(super) struct Claims {
    pub(super) jti: String,
    pub(super) iat: i64,
    pub(super) nonce: Option<String>,
}

pub(super) fn check(
    claims: &Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<Claims, ProofError> {
    let jti = string(claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(ProofError::BadJti {
            len: jti.len(),
            max: MAX_JTI_LEN,
        });
    }

    let htm = string(claims, "htm")?;
    if htm != expect.method {
        return Err(ProofError::HtmMismatch {
            expected: clip(expect.method, MAX_SHOWN),
            got: clip(htm, MAX_SHOWN),
        });
    }

    let htu_claim = string(claims, "htu")?;
    // Most clients send the URI in its normal form, which is byte for byte
    // the expected one: normalising is idempotent (tests_properties), so the
    // claim then normalises to exactly that and need not be parsed.
    if htu_claim != expect.htu.as_str() {
        let htu = Htu::parse(htu_claim).map_err(|source| ProofError::BadHtu {
            got: clip(htu_claim, MAX_SHOWN),
            source,
        })?;
        if &htu != expect.htu {
            return Err(ProofError::HtuMismatch {
                expected: expect.htu.to_string(),
                got: clip(htu.as_str(), MAX_SHOWN),
            });
        }
    }

    let iat = check_iat(claims, expect)?;
    check_exp_nbf(claims, expect)?;

    if let Some(token_hash) = expect.token_sha256 {
        let ath = string(claims, "ath")?;
        let ath = b64::decode_fixed::<32>(ath).map_err(|_| ProofError::BadAth)?;
        // Public values (the hash of a token the client sent): no constant-time need.
        if &ath != token_hash {
            return Err(ProofError::AthMismatch);
        }
    }

    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => {
            return Err(ProofError::ClaimType {
                claim: "nonce",
                expected: "a string",
            })
        }
    };

    Ok(Claims {
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

fn check_iat(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<i64, ProofError> {
    let iat = match claims.get("iat") {
        None => return Err(ProofError::MissingClaim("iat")),
        Some(Value::Number(number)) => number,
        Some(_) => {
            return Err(ProofError::ClaimType {
                claim: "iat",
                expected: "a number",
            })
        }
    };
    let iat = match iat.as_i64() {
        Some(iat) if (0..=MAX_IAT).contains(&iat) => iat,
        _ => return Err(ProofError::BadIat(clip(&iat.to_string(), 32))),
    };
    let now = expect.now;
    let max_age = i64::try_from(expect.max_age).unwrap_or(i64::MAX);
    let max_skew = i64::try_from(expect.max_skew).unwrap_or(i64::MAX);
    if iat < now.saturating_sub(max_age) {
        return Err(ProofError::IatTooOld {
            iat,
            now,
            max_age: expect.max_age,
        });
    }
    if iat > now.saturating_add(max_skew) {
        return Err(ProofError::IatInFuture {
            iat,
            now,
            max_skew: expect.max_skew,
        });
    }
    Ok(iat)
}

fn check_exp_nbf(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), ProofError> {
    let now = expect.now as f64;
    if let Some(exp) = number(claims, "exp")? {
        if exp <= now {
            return Err(ProofError::Expired {
                exp,
                now: expect.now,
            });
        }
    }
    if let Some(nbf) = number(claims, "nbf")? {
        if nbf > now + expect.max_skew as f64 {
            return Err(ProofError::NotYetValid {
                nbf,
                now: expect.now,
            });
        }
    }
    Ok(())
}

fn string<'m>(claims: &'m Map<String, Value>, name: &'static str) -> Result<&'m str, ProofError> {
    match claims.get(name) {
        None => Err(ProofError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProofError::ClaimType {
            claim: name,
            expected: "a string",
        }),
    }
}

fn number(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, ProofError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ProofError::ClaimType {
            claim: name,
            expected: "a number",
        }),
    }
}
