//! Compact JWS parsing (RFC 7515 §7.1), without signature verification.
//!
//! Accepts exactly `BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature)`
//! (rfc9449-checks B1):
//!
//! * the input length is capped before anything is decoded;
//! * exactly three segments; five segments is a JWE (RFC 7516 §7.1) and rejected;
//! * each segment strict base64url ([`super::b64`]); the signature non-empty (so `alg: none`
//!   tokens never parse);
//! * header and payload are JSON **objects** without duplicate member names
//!   ([`super::json`], RFC 7515 §5.2 step 3–4, rfc9449-checks B2), nested at most
//!   `max_depth` deep;
//! * `crit` present at all is rejected: we implement no extensions, so every critical
//!   extension, including `b64` (RFC 7797), is unsupported (RFC 7515 §4.1.11 MUST).
//!
//! The signing input is kept **as received** for verification.

use serde_json::{Map, Value};

use super::b64;
use super::json::{self, JsonError};

/// Default cap on a compact JWS, in bytes (a DPoP proof with a 4096-bit RSA key is ~2 KiB).
pub const MAX_COMPACT_LEN: usize = 16 * 1024;

/// Why a compact JWS was rejected.
#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    /// Longer than the cap.
    #[error("JWS is {len} bytes, the limit is {max}")]
    TooLong {
        /// Input length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Five segments: an encrypted JWT.
    #[error("JWE (5 segments) where a JWS was expected")]
    Jwe,
    /// Not three segments.
    #[error("JWS has {0} segments, 3 are required")]
    Segments(usize),
    /// A segment is not strict base64url.
    #[error("JWS {0} segment is not canonical base64url")]
    Base64(&'static str),
    /// The signature segment is empty.
    #[error("JWS signature is empty")]
    EmptySignature,
    /// The header or payload is not a JSON object without duplicates.
    #[error("JWS {part}: {source}")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
        /// The parse error.
        source: JsonError,
    },
    /// The header has a `crit` parameter.
    #[error("JWS header has a crit parameter; no extensions are supported")]
    Crit,
}

/// A parsed, unverified compact JWS.
#[derive(Debug)]
pub struct CompactJws<'a> {
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Parses with the default length cap [`MAX_COMPACT_LEN`] and the default JSON depth.
    pub fn parse(compact: &'a str) -> Result<CompactJws<'a>, JwsError> {
        let depth = super::limits::DEFAULT_MAX_JSON_DEPTH;
        CompactJws::parse_with_limit(compact, MAX_COMPACT_LEN, depth)
    }

    /// Parses a compact JWS of at most `max_len` bytes whose header and payload are nested at
    /// most `max_depth` deep.
    pub fn parse_with_limit(
        compact: &'a str,
        max_len: usize,
        max_depth: usize,
    ) -> Result<CompactJws<'a>, JwsError> {
        let segments = Segments::split(compact, max_len)?;
        let header = segments.decode_header(max_depth)?;
        let (payload, signature) = segments.decode_rest(max_depth)?;
        Ok(CompactJws {
            header,
            payload,
            signing_input: segments.signing_input,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The payload (claims set) as a JSON object.
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// `header '.' payload` exactly as received: the signed bytes.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The decoded signature octets.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Takes the parts apart: `(header, payload, signing input, signature)`.
    pub fn into_parts(self) -> (Map<String, Value>, Map<String, Value>, &'a str, Vec<u8>) {
        (
            self.header,
            self.payload,
            self.signing_input,
            self.signature,
        )
    }
}

/// The three segments of a compact JWS, split but not decoded: the first
/// half of [`CompactJws::parse_with_limit`], for a caller that already knows
/// what a header segment decodes to (the same bytes always decode, and pass
/// or fail the header checks, the same way).
#[derive(Debug, Clone, Copy)]
pub struct Segments<'a> {
    header: &'a str,
    payload: &'a str,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> Segments<'a> {
    /// Applies the length cap, then splits into exactly three segments.
    pub fn split(compact: &'a str, max_len: usize) -> Result<Segments<'a>, JwsError> {
        if compact.len() > max_len {
            return Err(JwsError::TooLong {
                len: compact.len(),
                max: max_len,
            });
        }
        let Some((signing_input, signature)) = compact.rsplit_once('.') else {
            return Err(JwsError::Segments(1));
        };
        match signing_input.split_once('.') {
            Some((header, payload)) if !payload.contains('.') => Ok(Segments {
                header,
                payload,
                signing_input,
                signature,
            }),
            _ => Err(match compact.matches('.').count() + 1 {
                5 => JwsError::Jwe,
                n => JwsError::Segments(n),
            }),
        }
    }

    /// The header segment, base64url as received.
    pub fn header(&self) -> &'a str {
        self.header
    }

    /// `header '.' payload` exactly as received: the signed bytes.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// Decodes the header: a JSON object without duplicates and without `crit`, nested at
    /// most `max_depth` deep.
    pub fn decode_header(&self, max_depth: usize) -> Result<Map<String, Value>, JwsError> {
        let header = decode_object("header", self.header, max_depth)?;
        if header.contains_key("crit") {
            return Err(JwsError::Crit);
        }
        Ok(header)
    }

    /// Decodes the payload (a JSON object without duplicates, nested at most
    /// `max_depth` deep) and the signature (non-empty, strict base64url).
    pub fn decode_rest(&self, max_depth: usize) -> Result<(Map<String, Value>, Vec<u8>), JwsError> {
        let payload = decode_object("payload", self.payload, max_depth)?;
        if self.signature.is_empty() {
            return Err(JwsError::EmptySignature);
        }
        let signature = b64::decode(self.signature).map_err(|_| JwsError::Base64("signature"))?;
        Ok((payload, signature))
    }
}

fn decode_object(
    part: &'static str,
    segment: &str,
    max_depth: usize,
) -> Result<Map<String, Value>, JwsError> {
    let bytes = b64::decode(segment).map_err(|_| JwsError::Base64(part))?;
    json::parse_object(&bytes, max_depth).map_err(|source| JwsError::Json { part, source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn seg(json: &str) -> String {
        b64::encode(json)
    }

    fn jws(header: &str, payload: &str, sig: &str) -> String {
        format!("{}.{}.{}", seg(header), seg(payload), sig)
    }

    #[test]
    fn parses_and_keeps_signing_input() {
        let text = jws(r#"{"alg":"ES256"}"#, r#"{"a":1}"#, "AQAB");
        let parsed = CompactJws::parse(&text).unwrap();
        assert_eq!(parsed.header()["alg"], "ES256");
        assert_eq!(parsed.payload()["a"], 1);
        assert_eq!(parsed.signature(), &[1, 0, 1]);
        assert_eq!(parsed.signing_input(), &text[..text.len() - ".AQAB".len()]);
    }

    #[test]
    fn rejects_bad_shapes() {
        let h = seg(r#"{"alg":"ES256"}"#);
        let p = seg(r#"{"a":1}"#);
        let cases: Vec<(String, &str)> = vec![
            ("malformed".into(), "segments"),
            (format!("{h}.{p}"), "segments"),
            (format!("{h}.{p}."), "empty"),
            (format!("{h}.{p}.AQAB.AQAB"), "segments"),
            (format!("{h}.{p}.AQAB.AQAB.AQAB"), "JWE"),
            (format!("{h}.{p}.AQ=="), "signature segment"),
            (format!("{h}=.{p}.AQAB"), "header segment"),
            (format!("{h}.{p} .AQAB"), "payload segment"),
            (format!("{}.{p}.AQAB", seg("[]")), "not an object"),
            (format!("{h}.{}.AQAB", seg("null")), "not an object"),
            (format!("{h}.{}.AQAB", seg("{")), "invalid JSON"),
            (format!(".{p}.AQAB"), "invalid JSON"),
            (jws(r#"{"a":1,"a":2}"#, "{}", "AQAB"), "duplicate"),
            (jws("{}", r#"{"htu":"x","htu":"y"}"#, "AQAB"), "duplicate"),
            (jws(r#"{"crit":["foo"],"foo":1}"#, "{}", "AQAB"), "crit"),
            (jws(r#"{"b64":false,"crit":["b64"]}"#, "{}", "AQAB"), "crit"),
            (jws(r#"{"crit":[]}"#, "{}", "AQAB"), "crit"),
        ];
        for (text, needle) in cases {
            let err = CompactJws::parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn length_cap_applies_before_decoding() {
        let big = "A".repeat(MAX_COMPACT_LEN + 1);
        assert!(matches!(
            CompactJws::parse(&big),
            Err(JwsError::TooLong { .. })
        ));
        let text = jws("{}", "{}", "AQAB");
        assert!(CompactJws::parse_with_limit(&text, text.len(), 1).is_ok());
        assert!(CompactJws::parse_with_limit(&text, text.len() - 1, 1).is_err());
    }

    #[test]
    fn depth_applies_to_header_and_payload() {
        for (header, payload, part) in [
            (r#"{"a":[[1]]}"#, "{}", "header"),
            ("{}", r#"{"a":{"b":[2]}}"#, "payload"),
        ] {
            let text = jws(header, payload, "AQAB");
            assert!(CompactJws::parse_with_limit(&text, MAX_COMPACT_LEN, 3).is_ok());
            let err = CompactJws::parse_with_limit(&text, MAX_COMPACT_LEN, 2).unwrap_err();
            assert!(
                matches!(&err, JwsError::Json { part: p, source: JsonError::TooDeep { max: 2 } } if *p == part),
                "{err}"
            );
        }
    }
}
