//! rfc9449-checks §7 cases 32–41: the proof key and the signature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::test_support::*;
use super::ProofError;
use crate::jose::test_vectors::RSA1024_PUBLIC_JWK;
use crate::jose::{b64, Alg, JwkError};

/// DER-encodes a raw `R || S` ECDSA signature (RFC 3279 §2.2.3), as a confused client would.
fn der_signature(raw: &[u8]) -> Vec<u8> {
    let int = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            [vec![0], trimmed].concat()
        } else {
            trimmed
        };
        [vec![0x02, body.len() as u8], body].concat()
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// Replaces the signature segment of a compact JWS.
fn with_signature(proof: &str, sig: &[u8]) -> String {
    let (input, _) = proof.rsplit_once('.').unwrap();
    format!("{input}.{}", b64::encode(sig))
}

fn signature_of(proof: &str) -> Vec<u8> {
    b64::decode(proof.rsplit_once('.').unwrap().1).unwrap()
}

#[test]
fn key_and_signature_cases_32_to_41() {
    let a = key(Alg::Es256);
    let b = key(Alg::Es256);
    let h = header_of(&a);
    let c = claims;
    let jwk = |name: &str, value: Value| with(&h, "jwk", with(&h["jwk"], name, value));
    let ed = key(Alg::EdDsa);
    let ed_x = |len: usize| {
        with(
            &header_of(&ed),
            "jwk",
            with(
                &header_of(&ed)["jwk"],
                "x",
                json!(b64::encode(vec![1u8; len])),
            ),
        )
    };
    let small_rsa: Value = serde_json::from_str(RSA1024_PUBLIC_JWK).unwrap();
    let rs = rsa_fixture(Alg::Rs256);
    let ps = rsa_fixture(Alg::Ps256);
    let good = proof(&a, &c());
    let mut flipped = signature_of(&good);
    flipped[20] ^= 0x04;
    let kid_only = with(&without(&h, "jwk"), "kid", json!("some-key"));
    let jku_only = with(
        &without(&h, "jwk"),
        "jku",
        json!("https://attacker.example/jwks"),
    );
    let x5c_only = with(&without(&h, "jwk"), "x5c", json!(["MIIB"]));
    let x5u_only = with(
        &without(&h, "jwk"),
        "x5u",
        json!("https://attacker.example/cert"),
    );
    let all = Req {
        policy: all_algs(),
        ..Req::default()
    };
    expect_all(
        &all,
        vec![
            ("32 EC x number", sign(&a, &jwk("x", json!(1)), &c()), |e| {
                matches!(e, ProofError::BadJwk(JwkError::WrongType("x")))
            }),
            (
                "32 crv unknown",
                sign(&a, &jwk("crv", json!("P-999")), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::UnsupportedCurve(_))),
            ),
            (
                "32 crv non-string",
                sign(&a, &jwk("crv", json!(256)), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::WrongType("crv"))),
            ),
            (
                "32 kty non-string",
                sign(&a, &jwk("kty", json!(["EC"])), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::WrongType("kty"))),
            ),
            (
                "33 EC coordinate 31 bytes",
                sign(&a, &jwk("x", json!(b64::encode([5u8; 31]))), &c()),
                |e| {
                    matches!(
                        e,
                        ProofError::BadJwk(JwkError::Encoding { member: "x", .. })
                    )
                },
            ),
            (
                "34 point not on the curve",
                sign(&a, &jwk("y", json!(b64::encode([5u8; 32]))), &c()),
                |e| matches!(e, ProofError::BadSignature(JwkError::BadSignature)),
            ),
            (
                "35 RSA 1024 RS256",
                sign(&rs, &with(&header_of(&rs), "jwk", small_rsa.clone()), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::RsaModulusSize(1024))),
            ),
            (
                "35 RSA 1024 PS256",
                sign(&ps, &with(&header_of(&ps), "jwk", small_rsa), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::RsaModulusSize(1024))),
            ),
            ("36 Ed25519 x 31 bytes", sign(&ed, &ed_x(31), &c()), |e| {
                matches!(
                    e,
                    ProofError::BadJwk(JwkError::Encoding { member: "x", .. })
                )
            }),
            ("36 Ed25519 x 33 bytes", sign(&ed, &ed_x(33), &c()), |e| {
                matches!(
                    e,
                    ProofError::BadJwk(JwkError::Encoding { member: "x", .. })
                )
            }),
            ("37 one bit flipped", with_signature(&good, &flipped), |e| {
                matches!(e, ProofError::BadSignature(JwkError::BadSignature))
            }),
            (
                "38 DER ES256 signature",
                with_signature(&good, &der_signature(&signature_of(&good))),
                |e| {
                    matches!(
                        e,
                        ProofError::BadSignature(JwkError::SignatureLength { expected: 64, .. })
                    )
                },
            ),
            ("39 r = s = 0", with_signature(&good, &[0u8; 64]), |e| {
                matches!(e, ProofError::BadSignature(JwkError::BadSignature))
            }),
            ("40 signed by B, jwk of A", sign(&b, &h, &c()), |e| {
                matches!(e, ProofError::BadSignature(JwkError::BadSignature))
            }),
            ("41 kid without jwk", sign(&a, &kid_only, &c()), |e| {
                matches!(e, ProofError::MissingHeader("jwk"))
            }),
            ("41 jku without jwk", sign(&a, &jku_only, &c()), |e| {
                matches!(e, ProofError::MissingHeader("jwk"))
            }),
            ("41 x5c without jwk", sign(&a, &x5c_only, &c()), |e| {
                matches!(e, ProofError::MissingHeader("jwk"))
            }),
            ("41 x5u without jwk", sign(&a, &x5u_only, &c()), |e| {
                matches!(e, ProofError::MissingHeader("jwk"))
            }),
        ],
    );
    // The untouched proof passes, so each case above failed for its own reason.
    assert!(all.check(&good).is_ok());
}
