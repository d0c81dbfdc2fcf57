//! `[limits]`: every bound has a default and a range; a value outside it is
//! a problem at its key (`limits.max_header_bytes`), like any other.

use super::error::Problems;
use super::raw::RawLimits;
use super::{defaults, Limits};
use crate::jose::limits::{MAX_JSON_DEPTH, MAX_RSA_BITS, MIN_RSA_BITS};
use crate::jose::ParseLimits;

/// One key: its value or default, checked against `min..=max`.
fn bounded(p: &mut Problems, key: &str, v: Option<u64>, default: u64, min: u64, max: u64) -> u64 {
    let v = v.unwrap_or(default);
    if !(min..=max).contains(&v) {
        p.push(
            format!("limits.{key}"),
            format!("must be between {min} and {max}"),
        );
        return default;
    }
    v
}

fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

pub(super) fn limits(raw: &RawLimits, p: &mut Problems) -> Limits {
    // hyper's HTTP/1.1 read buffer is at least 8 KiB.
    let header_bytes = bounded(
        p,
        "max_header_bytes",
        raw.max_header_bytes,
        defaults::MAX_HEADER_BYTES,
        8 * 1024,
        1024 * 1024,
    );
    let header_count = bounded(
        p,
        "max_header_count",
        raw.max_header_count,
        defaults::MAX_HEADER_COUNT,
        16,
        1000,
    );
    // The proof and token parsers stop at 16 KiB whatever is set here.
    let dpop = bounded(
        p,
        "max_dpop_bytes",
        raw.max_dpop_bytes,
        defaults::MAX_DPOP_BYTES,
        1024,
        16 * 1024,
    );
    let authorization = bounded(
        p,
        "max_authorization_bytes",
        raw.max_authorization_bytes,
        defaults::MAX_AUTHORIZATION_BYTES,
        1024,
        16 * 1024,
    );
    let streams = bounded(
        p,
        "h2_max_concurrent_streams",
        raw.h2_max_concurrent_streams,
        defaults::H2_MAX_CONCURRENT_STREAMS,
        1,
        10_000,
    );
    let pending_resets = bounded(
        p,
        "h2_max_pending_reset_streams",
        raw.h2_max_pending_reset_streams,
        defaults::H2_MAX_PENDING_RESET_STREAMS,
        1,
        10_000,
    );
    let error_resets = bounded(
        p,
        "h2_max_local_error_reset_streams",
        raw.h2_max_local_error_reset_streams,
        defaults::H2_MAX_LOCAL_ERROR_RESET_STREAMS,
        1,
        100_000,
    );
    // The smallest setting still fits a bare RSA-8192 JWK (1,379 bytes), so
    // no max_rsa_modulus_bits contradicts it; the largest is four proofs'
    // worth (the proof and token parsers stop at 16 KiB).
    let jwk_bytes = bounded(
        p,
        "max_jwk_bytes",
        raw.max_jwk_bytes,
        defaults::MAX_JWK_BYTES,
        2048,
        64 * 1024,
    );
    // `ring` verifies 2048..=8192 bits; below 2048 is never accepted.
    let rsa_bits = bounded(
        p,
        "max_rsa_modulus_bits",
        raw.max_rsa_modulus_bits,
        defaults::MAX_RSA_MODULUS_BITS,
        MIN_RSA_BITS as u64,
        MAX_RSA_BITS as u64,
    );
    // A JWKS entry with an x5c chain is 4 deep ({"keys":[{"x5c":[…]}]}), and
    // so is Keycloak's resource_access.<client>.roles; serde_json stops at 127.
    let json_depth = bounded(
        p,
        "max_json_depth",
        raw.max_json_depth,
        defaults::MAX_JSON_DEPTH,
        4,
        MAX_JSON_DEPTH as u64,
    );
    Limits {
        max_header_bytes: size(header_bytes),
        max_header_count: size(header_count),
        max_dpop_bytes: size(dpop),
        max_authorization_bytes: size(authorization),
        h2_max_concurrent_streams: u32::try_from(streams).unwrap_or(u32::MAX),
        h2_max_pending_reset_streams: size(pending_resets),
        h2_max_local_error_reset_streams: size(error_resets),
        parser: ParseLimits {
            max_jwk_bytes: size(jwk_bytes),
            max_rsa_bits: size(rsa_bits),
            max_json_depth: size(json_depth),
        },
    }
}

impl Default for Limits {
    /// Every default, as `config.example.toml` documents them.
    fn default() -> Limits {
        let mut p = Problems::default();
        limits(&RawLimits::default(), &mut p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn parser_defaults_are_the_jose_defaults() {
        assert_eq!(Limits::default().parser, ParseLimits::default());
    }
}
