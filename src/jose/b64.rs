//! Strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
//!
//! JOSE values are `BASE64URL(octets)` with the padding removed. Decoding here rejects `=`,
//! characters outside `A-Z a-z 0-9 - _`, impossible lengths and non-zero trailing bits, so
//! every octet string has exactly one accepted encoding (rfc9449-checks §8: lenient decoders
//! let the same proof arrive as different bytes).

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// The one engine used for every JOSE value.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Why a base64url value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum B64Error {
    /// Not canonical unpadded base64url.
    #[error("not canonical unpadded base64url")]
    Invalid,
    /// Well-formed, but the decoded length is not the one required.
    #[error("decodes to {got} bytes, expected {expected}")]
    Length {
        /// Required number of octets.
        expected: usize,
        /// Octets actually encoded.
        got: usize,
    },
}

/// Encodes octets as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STRICT.encode(bytes)
}

/// Decodes strict unpadded base64url.
pub fn decode(text: &str) -> Result<Vec<u8>, B64Error> {
    STRICT.decode(text).map_err(|_| B64Error::Invalid)
}

/// Length of the unpadded encoding of `n` octets.
pub const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Decodes exactly `n` octets. The text length is checked before decoding, so a value of the
/// wrong size is rejected without decoding it.
pub fn decode_exact(text: &str, n: usize) -> Result<Vec<u8>, B64Error> {
    if text.len() != encoded_len(n) {
        // Tell a wrong length from garbage, for clearer errors.
        return Err(match decode(text) {
            Ok(bytes) => B64Error::Length {
                expected: n,
                got: bytes.len(),
            },
            Err(e) => e,
        });
    }
    decode(text)
}

/// Decodes exactly `N` octets into an array (see [`decode_exact`]).
pub fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], B64Error> {
    decode_exact(text, N)?
        .try_into()
        .map_err(|bytes: Vec<u8>| B64Error::Length {
            expected: N,
            got: bytes.len(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn round_trip_and_lengths() {
        for n in 0..70 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&data);
            assert_eq!(text.len(), encoded_len(n));
            assert_eq!(decode(&text).unwrap(), data);
        }
        assert_eq!(encode([0xfb, 0xff]), "-_8");
    }

    #[test]
    fn rejects_non_canonical_input() {
        assert_eq!(decode("AQAB").unwrap(), vec![1, 0, 1]);
        for bad in [
            "AQ==",  // padding
            "AQ=",   // partial padding
            "A",     // impossible length
            "AQ+B",  // standard alphabet
            "AQ/B",  // standard alphabet
            "AQ B",  // space
            "AQ\nB", // newline
            "AR",    // non-zero trailing bits (canonical is "AQ")
            "AQAB.", // dot
            "ÄQAB",  // non-ASCII
        ] {
            assert_eq!(decode(bad), Err(B64Error::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn fixed_length() {
        let hash = [7u8; 32];
        let text = encode(hash);
        assert_eq!(decode_fixed::<32>(&text).unwrap(), hash);
        assert_eq!(
            decode_fixed::<32>(&encode([7u8; 31])),
            Err(B64Error::Length {
                expected: 32,
                got: 31
            })
        );
        assert_eq!(
            decode_fixed::<32>(&encode([7u8; 33])),
            Err(B64Error::Length {
                expected: 32,
                got: 33
            })
        );
        // Right length, wrong alphabet or trailing bits.
        let mut bad = text.clone();
        bad.replace_range(0..1, "+");
        assert_eq!(decode_fixed::<32>(&bad), Err(B64Error::Invalid));
        let mut bits = text;
        bits.replace_range(42..43, "x");
        assert_eq!(decode_fixed::<32>(&bits), Err(B64Error::Invalid));
        // 64 hex characters are not 32 bytes of base64url.
        assert!(decode_fixed::<32>(&"ab".repeat(32)).is_err());
    }
}
