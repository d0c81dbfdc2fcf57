//! RFC 7638 JWK thumbprints: the `jkt` that binds a token to a proof key (RFC 9449 §6, §6.1).
//!
//! The thumbprint is SHA-256 over the JSON object of the key's **required** members only
//! (EC `crv kty x y`, RSA `e kty n`, OKP `crv kty x`), sorted by name, without whitespace,
//! with the member values **exactly as received** (RFC 7638 §3; rfc9449-checks E7: a leading
//! zero byte in a coordinate must not be stripped and re-encoded). [`crate::jose::jwk`] builds
//! that input; this module hashes it and carries the result.

use std::fmt;

use ring::digest::{digest, SHA256};
use serde_json::Value;

use super::b64::{self, B64Error};

/// A JWK SHA-256 thumbprint. Public data: compared with plain equality.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Jkt {
    digest: [u8; 32],
    text: String,
}

impl Jkt {
    /// Wraps a SHA-256 digest.
    pub fn from_digest(digest: [u8; 32]) -> Jkt {
        Jkt {
            digest,
            text: b64::encode(digest),
        }
    }

    /// Hashes an RFC 7638 canonical JSON member list (see [`canonical_json`]).
    pub fn of_canonical_json(canonical: &str) -> Jkt {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, canonical.as_bytes()).as_ref());
        Jkt::from_digest(out)
    }

    /// Parses a `cnf.jkt` or `dpop_jkt` value: strict base64url of exactly 32 octets.
    pub fn from_b64(text: &str) -> Result<Jkt, B64Error> {
        b64::decode_fixed::<32>(text).map(Jkt::from_digest)
    }

    /// The digest octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The base64url form, as it appears in `cnf.jkt`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Jkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jkt({})", self.text)
    }
}

/// The RFC 7638 §3.2 hash input for `members`, which must be the key type's required members
/// as `(name, value as received)`, in lexicographic order of name. Values are JSON-escaped
/// (a no-op for base64url and curve names).
pub fn canonical_json(members: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(*name).to_string());
        out.push(':');
        out.push_str(&Value::from(*value).to_string());
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn rfc9449_key() {
        let input = canonical_json(&[
            ("crv", "P-256"),
            ("kty", "EC"),
            ("x", "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"),
            ("y", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"),
        ]);
        assert_eq!(
            input,
            r#"{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}"#
        );
        let jkt = Jkt::of_canonical_json(&input);
        assert_eq!(jkt.as_str(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        assert_eq!(jkt.to_string(), jkt.as_str());
        assert_eq!(Jkt::from_b64(jkt.as_str()).unwrap(), jkt);
    }

    #[test]
    fn from_b64_is_strict() {
        let good = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        for bad in [
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=",
            "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4",
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J",
            "",
        ] {
            assert!(Jkt::from_b64(bad).is_err(), "{bad}");
        }
        assert!(Jkt::from_b64(good).is_ok());
    }
}
