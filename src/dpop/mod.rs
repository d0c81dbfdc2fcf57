//! DPoP proof checking at a resource server (RFC 9449 §4.3, §7).
//!
//! * [`htu`]: the `htu` claim and the expected request URI, normalised per RFC 3986 §6.2.2–3
//!   (§4.3 item 9).
//! * [`proof`]: [`precheck`] (every check but the signature, cheapest first) and
//!   [`UnverifiedProof::verify_signature`] (last, the expensive one), so the caller can check
//!   the token binding in between (§4.3 item 12, §6, §7.1).
//! * [`error`]: [`ProofError`], with a client-facing description and a log-facing `Display`.
//!
//! Replay detection (§11.1) and nonces (§9) are the caller's: a [`VerifiedProof`] carries the
//! `(jkt, jti)` replay key, the `iat` and the `nonce`.

pub mod claims;
pub mod error;
mod header;
pub mod htu;
pub mod proof;

pub use claims::{MAX_IAT, MAX_JTI_LEN};
pub use error::ProofError;
pub use htu::{Htu, HtuError};
pub use proof::{
    precheck, ProofChecker, ProofPolicy, ProofRequest, UnverifiedProof, VerifiedProof,
    KNOWN_HEADERS, MAX_PROOF_LEN,
};

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_accept;
#[cfg(test)]
mod tests_checker;
#[cfg(test)]
mod tests_claims;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_properties;
#[cfg(test)]
mod tests_structure;
#[cfg(test)]
mod tests_vectors;
