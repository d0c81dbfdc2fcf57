//! SHA-256, the one hash of the protocol: `ath` (RFC 9449 §4.2), the
//! verified-token cache key (the same digest), and change detection of
//! watched files.

use ring::digest;

/// `SHA-256(token)` over the token exactly as sent (the `ath` input, §4.2).
pub fn sha256(token: &str) -> [u8; 32] {
    sha256_bytes(token.as_bytes())
}

/// SHA-256 of some bytes.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}
