//! The `application/x-www-form-urlencoded` rules (WHATWG URL §5, as RFC 6749
//! Appendix B requires) and HTTP Basic client credentials (RFC 6749
//! §2.3.1), written here independently of the crate's own encoder so that
//! the tests check it rather than repeat it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

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

/// The form rules checked against hand-worked examples; a test binary that
/// relies on them runs this as a test through [`form_self_tests`].
pub fn form_encoding_by_the_book() {
    assert_eq!(form_encode("a b+c/d~e*f"), "a+b%2Bc%2Fd%7Ee*f");
    assert_eq!(form_encode("é"), "%C3%A9");
    assert_eq!(form_decode("a+b%2Bc%2Fd%7Ee*f"), "a b+c/d~e*f");
    assert_eq!(
        form_decode(&form_encode(super::tokens::RFC7662_TOKEN)),
        super::tokens::RFC7662_TOKEN
    );
}

/// Declares the test of the form rules in the test binary that invokes it.
#[allow(unused_macros)] // only the binaries that rely on it invoke it
macro_rules! form_self_tests {
    () => {
        #[test]
        fn form_encoding_by_the_book() {
            $crate::common::form::form_encoding_by_the_book();
        }
    };
}
pub(crate) use form_self_tests;
