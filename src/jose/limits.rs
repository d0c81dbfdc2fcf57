//! [`ParseLimits`]: how much untrusted JOSE input the parsers accept, set by
//! `[limits]` (`max_jwk_bytes`, `max_rsa_modulus_bits`, `max_json_depth`) and
//! passed to every parser on the request path and to the issuer key sets.
//! `Default` is the documented defaults, for tests, fuzz targets and the CLI.

use serde_json::Value;

/// Default `max_jwk_bytes`: an RSA-4096 JWK with a certificate chain fits
/// (see [`jwk_size`]; a bare RSA-4096 JWK is 696, RSA-8192 1,379).
pub const DEFAULT_MAX_JWK_BYTES: usize = 8 * 1024;
/// Default `max_rsa_modulus_bits`: an RSA-8192 verification costs about four
/// times an RSA-4096 one, and authorization servers use 2048 to 4096 bits.
pub const DEFAULT_MAX_RSA_BITS: usize = 4096;
/// Default `max_json_depth`: four times the deepest real token shape
/// (Keycloak's `resource_access.<client>.roles`, depth 4).
pub const DEFAULT_MAX_JSON_DEPTH: usize = 16;
/// RFC 7518 §3.3 / §3.5: the smallest RSA modulus ever accepted (not configurable).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus `ring` verifies.
pub const MAX_RSA_BITS: usize = 8192;
/// The deepest nesting `serde_json` parses (its recursion limit is 128
/// containers, exclusive).
pub const MAX_JSON_DEPTH: usize = 127;

/// Bounds on untrusted JOSE input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest JWK, measured by [`jwk_size`].
    pub max_jwk_bytes: usize,
    /// Largest RSA modulus, in bits (`MIN_RSA_BITS..=MAX_RSA_BITS`).
    pub max_rsa_bits: usize,
    /// Deepest JSON nesting: the number of objects and arrays around the
    /// innermost value, the document's own object counting 1 (`{}` is 1,
    /// `{"cnf":{"jkt":"…"}}` is 2).
    pub max_json_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_jwk_bytes: DEFAULT_MAX_JWK_BYTES,
            max_rsa_bits: DEFAULT_MAX_RSA_BITS,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
        }
    }
}

impl ParseLimits {
    /// The widest bounds the parsers support: for keys the operator holds
    /// (the CLI's own signing keys), never for what a client sends.
    pub const WIDEST: ParseLimits = ParseLimits {
        max_jwk_bytes: usize::MAX,
        max_rsa_bits: MAX_RSA_BITS,
        max_json_depth: MAX_JSON_DEPTH,
    };
}

/// The size of a JWK as `max_jwk_bytes` counts it, without re-serialising:
/// the bytes of every member name and every string value at any depth (as
/// decoded from JSON, i.e. after unescaping), plus one byte for every other
/// value (number, `true`, `false`, `null`, and each object or array itself).
/// A bare RSA JWK `{"kty","n","e":"AQAB"}` is `13 + len(n)` (n: 683
/// characters for 4096 bits, 1,366 for 8192).
pub fn jwk_size(map: &serde_json::Map<String, Value>) -> usize {
    map.iter()
        .map(|(name, value)| name.len().saturating_add(value_size(value)))
        .fold(1, usize::saturating_add)
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(value_size).fold(1, usize::saturating_add),
        Value::Object(map) => jwk_size(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn size(v: Value) -> usize {
        jwk_size(v.as_object().unwrap())
    }

    #[test]
    fn jwk_size_counts_names_and_strings() {
        assert_eq!(size(json!({})), 1);
        // 1 (object) + "kty"+"RSA" + "n"+n + "e"+"AQAB"
        let n = "x".repeat(683);
        assert_eq!(size(json!({"kty":"RSA","n":n,"e":"AQAB"})), 1 + 6 + 684 + 5);
        // Escapes count as what they decode to.
        assert_eq!(size(json!({"k": "\u{e9}"})), 1 + 1 + 2);
        // Nested: the array (1) and its strings; other values 1 each.
        assert_eq!(
            size(json!({"x5c":["ab","cd"],"n":1,"t":true,"z":null,"o":{"a":"b"}})),
            1 + (3 + 1 + 4) + (1 + 1) + (1 + 1) + (1 + 1) + (1 + 1 + 2)
        );
    }

    #[test]
    fn defaults_fit_the_keys_they_are_meant_for() {
        let d = ParseLimits::default();
        // Bare RSA JWKs at the default and the widest modulus.
        for (bits, chars) in [(4096usize, 683usize), (8192, 1366)] {
            assert_eq!((bits / 8 * 4).div_ceil(3), chars);
            let n = "x".repeat(chars);
            assert!(size(json!({"kty":"RSA","n":n,"e":"AQAB"})) <= d.max_jwk_bytes);
        }
        assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&d.max_rsa_bits));
        assert!(d.max_json_depth <= MAX_JSON_DEPTH);
    }
}
