//! JOSE primitives for DPoP proofs, access tokens and the CLI.
//!
//! * [`b64`]: strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
//! * [`json`]: JSON objects with duplicate member names rejected (RFC 7515 §5.2, RFC 7519 §4),
//!   nested at most `max_json_depth` deep.
//! * [`limits`]: [`ParseLimits`], the `[limits]` bounds on untrusted JOSE input (JWK size, RSA
//!   modulus bits, JSON depth).
//! * [`alg`]: the asymmetric JWS algorithms we verify (RFC 7518 §3, RFC 8037, RFC 9864) and
//!   allow-lists of them (RFC 9449 §4.3 item 5, §11.6).
//! * [`jwk`]: public JWKs (RFC 7517, RFC 7518 §6, RFC 8037 §2); `verify.rs` adds signature
//!   verification with them (RFC 7515 §5.2, RFC 7518 §3).
//! * [`thumbprint`]: RFC 7638 JWK thumbprints (`jkt`, RFC 9449 §6).
//! * [`jws`]: compact JWS parsing (RFC 7515 §7.1).
//! * [`jwks`]: JWK sets (RFC 7517 §5): an issuer's public keys by `kid`.
//! * [`sign`]: private keys and signing, for the CLI, the demo and tests (not the request path).
//!
//! All signature work is done by `ring`; nothing here implements cryptography.

pub mod alg;
pub mod b64;
pub mod json;
pub mod jwk;
pub mod jwks;
pub mod jws;
pub mod limits;
pub mod sign;
pub mod thumbprint;
mod verify;

#[cfg(test)]
mod jwk_tests;
#[cfg(test)]
pub(crate) mod test_vectors;

pub use alg::{Alg, AlgSet};
pub use jwk::{JwkError, KeyType, PublicJwk};
pub use jwks::{JwksError, KeySet};
pub use jws::{CompactJws, JwsError, Segments};
pub use limits::ParseLimits;
pub use sign::{KeyError, SigningKey};
pub use thumbprint::Jkt;

/// Shortens untrusted text for error messages and logs: at most `max` bytes, cut on a
/// character boundary, with `…` appended when something was cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::clip;

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("aé", 2), "a…");
        assert_eq!(clip("", 0), "");
    }
}
