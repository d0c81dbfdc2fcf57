//! JOSE helpers written independently of the crate's own `jose` module:
//! base64url with the `base64` crate (strict, no padding), SHA-256 with
//! `ring`, RFC 7638 thumbprints from hand-built canonical JSON, compact JWS
//! segments, and a DPoP proof builder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use dpop_gateway::jose::SigningKey;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};

/// base64url without padding (RFC 7515 §2).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding (`+`, `/`, `=`): the wrong alphabet for JOSE.
pub fn b64_std(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Strict base64url decoding (no padding, no trailing bits).
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("not base64url: {text:?}: {e}"))
}

pub fn sha256(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `ath` for `token`: base64url(SHA-256(ASCII(token))) (RFC 9449 §4.2).
pub fn ath(token: &str) -> String {
    b64(sha256(token))
}

/// 18 random octets, base64url.
pub fn random_id() -> String {
    let mut bytes = [0u8; 18];
    SystemRandom::new().fill(&mut bytes).unwrap();
    b64(bytes)
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, computed by hand: only
/// the required members, in lexicographic order, no whitespace, the member
/// values exactly as they appear in `jwk`.
pub fn jkt_of(jwk: &Value) -> String {
    let s = |name: &str| {
        jwk[name]
            .as_str()
            .unwrap_or_else(|| panic!("jwk member {name} is not a string: {jwk}"))
            .to_owned()
    };
    let canonical = match s("kty").as_str() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        other => panic!("no thumbprint rule for kty {other}"),
    };
    b64(sha256(canonical))
}

/// `b64(header).b64(payload).b64(signature)` from raw bytes.
pub fn compact(header: &[u8], payload: &[u8], signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64(signature))
}

/// The three segments of a compact JWS.
pub fn segments(jws: &str) -> (String, String, String) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {jws}");
    (parts[0].into(), parts[1].into(), parts[2].into())
}

/// Replaces the signature segment of `jws` by `signature`.
pub fn with_signature(jws: &str, signature: &[u8]) -> String {
    let (h, p, _) = segments(jws);
    format!("{h}.{p}.{}", b64(signature))
}

/// The decoded signature of `jws`.
pub fn signature_of(jws: &str) -> Vec<u8> {
    unb64(&segments(jws).2)
}

/// Signs `header.payload` bytes exactly as given with `key`.
pub fn sign_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    key.sign_segments(header.as_bytes(), payload.as_bytes())
        .unwrap()
}

/// A DPoP proof under construction: the header starts as
/// `{"typ":"dpop+jwt","alg":…,"jwk":…}` of `key`, the claims as
/// `{"jti","htm","htu","iat"[,"ath"]}`; a test changes either, then signs
/// with `key` (whatever the header now says).
#[derive(Clone)]
pub struct Proof<'k> {
    pub key: &'k SigningKey,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl<'k> Proof<'k> {
    pub fn new(
        key: &'k SigningKey,
        method: &str,
        htu: &str,
        token: Option<&str>,
        iat: i64,
    ) -> Proof<'k> {
        let Value::Object(header) = key.proof_header() else {
            panic!("proof header is not an object")
        };
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(random_id()));
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(iat));
        if let Some(token) = token {
            claims.insert("ath".into(), json!(ath(token)));
        }
        Proof {
            key,
            header,
            claims,
        }
    }

    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    pub fn no_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn no_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets a member of the header's `jwk`.
    pub fn jwk_member(mut self, name: &str, value: Value) -> Self {
        let jwk = self
            .header
            .get_mut("jwk")
            .and_then(Value::as_object_mut)
            .expect("the header has no jwk object");
        jwk.insert(name.into(), value);
        self
    }

    pub fn jwk(&self) -> Value {
        self.header["jwk"].clone()
    }

    pub fn header_json(&self) -> String {
        Value::Object(self.header.clone()).to_string()
    }

    pub fn claims_json(&self) -> String {
        Value::Object(self.claims.clone()).to_string()
    }

    pub fn sign(&self) -> String {
        sign_raw(self.key, &self.header_json(), &self.claims_json())
    }

    /// Signs with another key (the header is kept as it is).
    pub fn sign_with(&self, other: &SigningKey) -> String {
        sign_raw(other, &self.header_json(), &self.claims_json())
    }

    /// `b64(header).b64(claims)`: what a signature covers.
    pub fn signing_input(&self) -> String {
        format!("{}.{}", b64(self.header_json()), b64(self.claims_json()))
    }
}
