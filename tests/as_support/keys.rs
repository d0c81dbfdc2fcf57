//! Issuer keys, JWKS documents, access tokens and opaque tokens, and the
//! `application/x-www-form-urlencoded` rules (WHATWG URL §5, as RFC 6749
//! Appendix B requires), written here independently of the crate's own
//! encoder so that the tests check it rather than repeat it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint::{self, TokenSpec};

/// The audience every test issuer is configured with.
pub const AUDIENCE: &str = "https://api.test";

/// A fresh ES256 key (fast to make).
pub fn es256() -> SigningKey {
    SigningKey::generate(Alg::Es256).unwrap()
}

/// The `kid` [`mint::access_token`] puts in a token: the key's thumbprint.
pub fn kid(key: &SigningKey) -> String {
    key.jkt().to_string()
}

/// A JWKS document holding the public halves of `keys` (each with `kid` =
/// its thumbprint, `alg`, `use: sig`).
pub fn jwks(keys: &[&SigningKey]) -> Value {
    let list: Vec<Value> = keys
        .iter()
        .flat_map(|k| mint::jwks(k)["keys"].as_array().cloned().unwrap())
        .collect();
    json!({ "keys": list })
}

/// An RFC 9068 access token from `issuer_key` for `iss`, bound to `jkt`,
/// valid for five minutes from `now`. Every call makes a new token (new `jti`).
pub fn token(issuer_key: &SigningKey, iss: &str, jkt: Option<&str>, now: i64) -> String {
    let spec = TokenSpec {
        iss: iss.to_owned(),
        aud: AUDIENCE.to_owned(),
        jkt: jkt.map(str::to_owned),
        sub: "alice".to_owned(),
        client_id: "client-1".to_owned(),
        scope: Some("read".to_owned()),
        ttl_secs: 300,
    };
    mint::access_token(issuer_key, &spec, now).unwrap()
}

/// A random opaque token: 32 random octets, base64url (43 characters).
pub fn opaque() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The example access token of RFC 7662 §2.1 (it has `~` and two dots).
pub const RFC7662_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

/// Form-encodes one value: ASCII alphanumerics and `*-._` as they are,
/// space as `+`, every other UTF-8 byte as `%XX` (upper-case hex).
pub fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"*-._".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes one form-encoded value (`+` is a space, `%XX` a byte); panics on
/// a malformed escape or bytes that are not UTF-8.
pub fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The `name=value` pairs of a form body, decoded.
pub fn form_fields(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// `Basic base64(form(id) ":" form(secret))` (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)))
    )
}

/// Decodes `Basic xxx` into its two (still form-encoded) halves.
pub fn unbasic(header: &str) -> (String, String) {
    let b64 = header
        .strip_prefix("Basic ")
        .unwrap_or_else(|| panic!("not Basic: {header:?}"));
    let text = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
    let (id, secret) = text.split_once(':').unwrap();
    (id.to_owned(), secret.to_owned())
}

#[test]
fn form_encoding_by_the_book() {
    assert_eq!(form_encode("a b+c/d~e*f"), "a+b%2Bc%2Fd%7Ee*f");
    assert_eq!(form_encode("é"), "%C3%A9");
    assert_eq!(form_decode("a+b%2Bc%2Fd%7Ee*f"), "a b+c/d~e*f");
    assert_eq!(form_decode(&form_encode(RFC7662_TOKEN)), RFC7662_TOKEN);
}
