//! Why a DPoP proof was rejected (RFC 9449 §4.3; all are `invalid_dpop_proof`, §7.1).
//!
//! Two renderings: [`ProofError::description`] is a short, stable, client-facing reason built
//! only from NQSCHAR (RFC 6750 §3: no `"` and no `\`), for `error_description`; `Display` is
//! the detailed reason for the log. Neither ever contains the whole proof; claim values in
//! `Display` are clipped to [`MAX_SHOWN`] bytes.

use crate::jose::json::JsonError;
use crate::jose::{Alg, JwkError, JwsError};

use super::htu::HtuError;

/// Longest claim value copied into a log message, in bytes.
pub const MAX_SHOWN: usize = 128;

/// A rejected proof.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Longer than the cap, checked before any decoding.
    #[error("proof is {len} bytes, the limit is {max}")]
    TooLong {
        /// Length received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not one compact JWS with object header and payload, or has `crit` (§4.3 items 2–3).
    #[error("malformed proof: {0}")]
    Malformed(#[source] JwsError),
    /// A required header parameter (`typ`, `alg`, `jwk`) is missing (§4.2).
    #[error("proof header has no {0}")]
    MissingHeader(&'static str),
    /// `typ` is not `dpop+jwt` (§4.3 item 4).
    #[error("proof typ is {0}, not dpop+jwt")]
    BadTyp(String),
    /// `alg` is not a string.
    #[error("proof alg is not a string")]
    AlgNotString,
    /// `alg` is `none`, a MAC, or not an algorithm we support (§4.3 item 5, §11.6).
    #[error("proof alg {0:?} is not a supported asymmetric algorithm")]
    AlgUnsupported(String),
    /// `alg` is supported but not in the local allow-list (§4.3 item 5).
    #[error("proof alg {0} is not in the allow-list")]
    AlgNotAllowed(Alg),
    /// `jwk` is not a JSON object (§4.2).
    #[error("proof jwk is not a JSON object")]
    JwkNotObject,
    /// `jwk` is private, malformed, unsupported or does not fit `alg` (§4.3 items 6–7).
    #[error("proof jwk rejected: {0}")]
    BadJwk(#[source] JwkError),
    /// A required claim is missing (§4.2, §4.3 item 3; `ath` per §7).
    #[error("proof has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type.
    #[error("proof claim {claim} is not {expected}")]
    ClaimType {
        /// The claim.
        claim: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `jti` is empty or longer than allowed (§11.1).
    #[error("proof jti is {len} bytes, 1 to {max} are accepted")]
    BadJti {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `htm` differs from the request method (§4.3 item 8, case-sensitive).
    #[error("proof htm {got:?} does not match the request method {expected:?}")]
    HtmMismatch {
        /// The request method.
        expected: String,
        /// The claim (clipped).
        got: String,
    },
    /// `htu` is not an absolute http(s) URI (§4.3 item 9).
    #[error("proof htu {got:?} is unusable: {source}")]
    BadHtu {
        /// The claim (clipped).
        got: String,
        /// Why.
        source: HtuError,
    },
    /// `htu` differs from the request URI after normalisation (§4.3 item 9).
    #[error("proof htu {got:?} does not match the request URI {expected:?}")]
    HtuMismatch {
        /// The normalised request URI.
        expected: String,
        /// The normalised claim (clipped).
        got: String,
    },
    /// `iat` is not an integer NumericDate in range (e.g. milliseconds).
    #[error("proof iat {0} is not a plausible integer NumericDate")]
    BadIat(String),
    /// `iat` is older than the acceptance window (§4.3 item 11, §11.1).
    #[error("proof iat {iat} is {} s old, the limit is {max_age} s", now.saturating_sub(*iat))]
    IatTooOld {
        /// The claim.
        iat: i64,
        /// The verifier's time.
        now: i64,
        /// The policy limit.
        max_age: u64,
    },
    /// `iat` is further in the future than the allowed skew (§11.1).
    #[error("proof iat {iat} is {} s in the future, the limit is {max_skew} s", iat.saturating_sub(*now))]
    IatInFuture {
        /// The claim.
        iat: i64,
        /// The verifier's time.
        now: i64,
        /// The policy limit.
        max_skew: u64,
    },
    /// An optional `exp` has passed (RFC 7519 §4.1.4).
    #[error("proof exp {exp} is not after now ({now})")]
    Expired {
        /// The claim.
        exp: f64,
        /// The verifier's time.
        now: i64,
    },
    /// An optional `nbf` is in the future (RFC 7519 §4.1.5).
    #[error("proof nbf {nbf} is after now ({now}) plus the allowed skew")]
    NotYetValid {
        /// The claim.
        nbf: f64,
        /// The verifier's time.
        now: i64,
    },
    /// `ath` is not base64url of a SHA-256 hash (§4.2).
    #[error("proof ath is not base64url of 32 octets")]
    BadAth,
    /// `ath` is not the hash of the presented access token (§4.3 item 12, §7).
    #[error("proof ath does not match the access token")]
    AthMismatch,
    /// The signature does not verify under the proof's `jwk` (§4.3 item 6).
    #[error("proof signature rejected: {0}")]
    BadSignature(#[source] JwkError),
}

impl ProofError {
    /// A short, stable reason for `error_description`. NQSCHAR only; no internals, no claim
    /// values.
    pub fn description(&self) -> &'static str {
        match self {
            ProofError::TooLong { .. } => "DPoP proof too large",
            ProofError::Malformed(JwsError::Crit) => "DPoP proof has an unsupported crit header",
            ProofError::Malformed(JwsError::Json {
                source: JsonError::TooDeep { .. },
                ..
            }) => "DPoP proof JSON is nested deeper than max_json_depth",
            ProofError::Malformed(_) => "DPoP proof is not a well-formed JWS",
            ProofError::MissingHeader("typ") | ProofError::BadTyp(_) => {
                "DPoP proof typ must be dpop+jwt"
            }
            ProofError::MissingHeader("jwk") | ProofError::JwkNotObject => {
                "DPoP proof jwk header missing or invalid"
            }
            ProofError::MissingHeader(_)
            | ProofError::AlgNotString
            | ProofError::AlgUnsupported(_) => "DPoP proof alg not supported",
            ProofError::AlgNotAllowed(_) => "DPoP proof alg not allowed",
            ProofError::BadJwk(JwkError::PrivateMember(_) | JwkError::SymmetricKey) => {
                "DPoP proof jwk must be a public key"
            }
            ProofError::BadJwk(JwkError::IncompatibleAlg { .. } | JwkError::AlgMismatch { .. }) => {
                "DPoP proof alg does not match the jwk"
            }
            ProofError::BadJwk(JwkError::TooLarge { .. }) => {
                "DPoP proof jwk is larger than max_jwk_bytes"
            }
            ProofError::BadJwk(JwkError::RsaModulusOverLimit { .. }) => {
                "DPoP proof jwk RSA modulus has more bits than max_rsa_modulus_bits"
            }
            ProofError::BadJwk(_) => "DPoP proof jwk header missing or invalid",
            ProofError::MissingClaim("ath") => "DPoP proof ath missing",
            ProofError::MissingClaim(_) => "DPoP proof lacks a required claim",
            ProofError::ClaimType { .. } => "DPoP proof claim has the wrong type",
            ProofError::BadJti { .. } => "DPoP proof jti invalid",
            ProofError::HtmMismatch { .. } => "DPoP proof htm mismatch",
            ProofError::BadHtu { .. } | ProofError::HtuMismatch { .. } => "DPoP proof htu mismatch",
            ProofError::BadIat(_) => "DPoP proof iat invalid",
            ProofError::IatTooOld { .. } => "DPoP proof is too old",
            ProofError::IatInFuture { .. } => "DPoP proof iat is in the future",
            ProofError::Expired { .. } => "DPoP proof has expired",
            ProofError::NotYetValid { .. } => "DPoP proof is not yet valid",
            ProofError::BadAth | ProofError::AthMismatch => "DPoP proof ath mismatch",
            ProofError::BadSignature(_) => "DPoP proof signature invalid",
        }
    }

    /// Whether the proof failed only the `iat` window: with RS nonces on, the caller answers
    /// `use_dpop_nonce` with a fresh nonce instead, so clients with a skewed clock can recover
    /// (rfc9449-checks D1, RFC 9449 §9).
    pub fn is_freshness(&self) -> bool {
        matches!(
            self,
            ProofError::IatTooOld { .. } | ProofError::IatInFuture { .. }
        )
    }
}
