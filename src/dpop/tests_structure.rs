//! rfc9449-checks §7 cases 16–31: the proof's JWS structure and header, re-signed with keys
//! generated here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ring::hmac;
use serde_json::{json, Value};

use super::test_support::*;
use super::{ProofError, ProofPolicy};
use crate::jose::test_vectors::RFC_TOKEN;
use crate::jose::{b64, Alg, AlgSet, JwkError, JwsError};

#[test]
fn structure_cases_16_to_21() {
    let a = key(Alg::Es256);
    let good = proof(&a, &claims());
    let header = serde_json::to_vec(&header_of(&a)).unwrap();
    let payload = serde_json::to_vec(&claims()).unwrap();
    let (h64, rest) = good.split_once('.').unwrap();
    let (p64, _) = rest.split_once('.').unwrap();
    let dup = |first: &str, second: &str| {
        format!(
            r#"{{"jti":"{}","htm":"GET","htu":"{first}","htu":"{second}","iat":{NOW},"ath":"{}"}}"#,
            jti(),
            ath(RFC_TOKEN)
        )
    };
    let wrong = "https://attacker.example/x";
    let crit = with(&header_of(&a), "crit", json!(["foo"]));
    let b64_crit = with(
        &with(&header_of(&a), "b64", json!(false)),
        "crit",
        json!(["b64"]),
    );
    expect_all(
        &Req::default(),
        vec![
            ("16 not a JWS", "malformed".into(), |e| {
                matches!(e, ProofError::Malformed(JwsError::Segments(1)))
            }),
            ("17 two segments", format!("{h64}.{p64}"), |e| {
                matches!(e, ProofError::Malformed(JwsError::Segments(2)))
            }),
            ("17 empty signature", format!("{h64}.{p64}."), |e| {
                matches!(e, ProofError::Malformed(JwsError::EmptySignature))
            }),
            ("18 JWE", format!("{h64}.{p64}.AAAA.AAAA.AAAA"), |e| {
                matches!(e, ProofError::Malformed(JwsError::Jwe))
            }),
            ("14 inner whitespace", good.replacen('.', ". ", 1), |e| {
                matches!(e, ProofError::Malformed(JwsError::Base64("payload")))
            }),
            (
                "19 header array",
                a.sign_segments(b"[]", &payload).unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json { part: "header", .. })
                    )
                },
            ),
            (
                "19 header null",
                a.sign_segments(b"null", &payload).unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json { part: "header", .. })
                    )
                },
            ),
            (
                "19 payload array",
                a.sign_segments(&header, b"[1]").unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json {
                            part: "payload",
                            ..
                        })
                    )
                },
            ),
            (
                "19 payload not JSON",
                a.sign_segments(&header, b"htu=x").unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json {
                            part: "payload",
                            ..
                        })
                    )
                },
            ),
            (
                "20 duplicate htu, last wrong",
                a.sign_segments(&header, dup(RESOURCE, wrong).as_bytes())
                    .unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json {
                            part: "payload",
                            ..
                        })
                    )
                },
            ),
            (
                "20 duplicate htu, first wrong",
                a.sign_segments(&header, dup(wrong, RESOURCE).as_bytes())
                    .unwrap(),
                |e| {
                    matches!(
                        e,
                        ProofError::Malformed(JwsError::Json {
                            part: "payload",
                            ..
                        })
                    )
                },
            ),
            ("21 crit foo", sign(&a, &crit, &claims()), |e| {
                matches!(e, ProofError::Malformed(JwsError::Crit))
            }),
            ("21 crit b64", sign(&a, &b64_crit, &claims()), |e| {
                matches!(e, ProofError::Malformed(JwsError::Crit))
            }),
        ],
    );
}

#[test]
fn header_cases_22_to_31() {
    let a = key(Alg::Es256);
    let h = header_of(&a);
    let c = claims;
    let p384 = key(Alg::Es384);
    let ed = key(Alg::EdDsa);
    let rsa = rsa_fixture(Alg::Ps256);
    let hs256 = {
        // A MAC "proof" keyed with the k from its own header (case 25).
        let k = [7u8; 32];
        let header = json!({"typ": "dpop+jwt", "alg": "HS256",
            "jwk": {"kty": "oct", "k": b64::encode(k)}});
        let input = format!(
            "{}.{}",
            b64::encode(header.to_string()),
            b64::encode(c().to_string())
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), input.as_bytes());
        format!("{input}.{}", b64::encode(tag.as_ref()))
    };
    let none = format!(
        "{}.{}.",
        b64::encode(with(&h, "alg", json!("none")).to_string()),
        b64::encode(c().to_string())
    );
    let x25519 = with(
        &h,
        "jwk",
        json!({"kty": "OKP", "crv": "X25519", "x": b64::encode([9u8; 32])}),
    );
    let x25519 = with(&x25519, "alg", json!("EdDSA"));
    let mut private_ec = a.to_private_jwk();
    private_ec.as_object_mut().unwrap().remove("alg");
    let mut private_rsa = rsa.to_private_jwk();
    private_rsa.as_object_mut().unwrap().remove("alg");
    let with_k = with(&h["jwk"], "k", json!("AAAA"));
    let all = Req {
        policy: ProofPolicy {
            algs: Alg::ALL.into_iter().collect::<AlgSet>(),
            ..ProofPolicy::default()
        },
        ..Req::default()
    };
    expect_all(
        &all,
        vec![
            ("22 typ missing", sign(&a, &without(&h, "typ"), &c()), |e| {
                matches!(e, ProofError::MissingHeader("typ"))
            }),
            (
                "23 typ JWT",
                sign(&a, &with(&h, "typ", json!("JWT")), &c()),
                |e| matches!(e, ProofError::BadTyp(_)),
            ),
            (
                "23 typ at+jwt",
                sign(&a, &with(&h, "typ", json!("at+jwt")), &c()),
                |e| matches!(e, ProofError::BadTyp(_)),
            ),
            (
                "23 typ secevent+jwt",
                sign(&a, &with(&h, "typ", json!("secevent+jwt")), &c()),
                |e| matches!(e, ProofError::BadTyp(_)),
            ),
            (
                "23 typ dpop+jwt+wrongyousee",
                sign(&a, &with(&h, "typ", json!("dpop+jwt+wrongyousee")), &c()),
                |e| matches!(e, ProofError::BadTyp(_)),
            ),
            (
                "23 typ true",
                sign(&a, &with(&h, "typ", json!(true)), &c()),
                |e| matches!(e, ProofError::BadTyp(_)),
            ),
            ("24 alg none, no signature", none, |e| {
                matches!(e, ProofError::Malformed(JwsError::EmptySignature))
            }),
            (
                "24 alg none, signed",
                sign(&a, &with(&h, "alg", json!("none")), &c()),
                |e| matches!(e, ProofError::AlgUnsupported(alg) if alg == "none"),
            ),
            (
                "25 HS256 with oct jwk",
                hs256,
                |e| matches!(e, ProofError::AlgUnsupported(alg) if alg == "HS256"),
            ),
            (
                "26 alg renamed alg2",
                sign(&a, &with(&without(&h, "alg"), "alg2", json!("ES256")), &c()),
                |e| matches!(e, ProofError::MissingHeader("alg")),
            ),
            (
                "26 alg 1",
                sign(&a, &with(&h, "alg", json!(1)), &c()),
                |e| matches!(e, ProofError::AlgNotString),
            ),
            (
                "26 alg true",
                sign(&a, &with(&h, "alg", json!(true)), &c()),
                |e| matches!(e, ProofError::AlgNotString),
            ),
            (
                "26 alg unsupported",
                sign(&a, &with(&h, "alg", json!("unsupported")), &c()),
                |e| matches!(e, ProofError::AlgUnsupported(_)),
            ),
            (
                "26 alg ES512",
                sign(&a, &with(&h, "alg", json!("ES512")), &c()),
                |e| matches!(e, ProofError::AlgUnsupported(_)),
            ),
            (
                "28 ES256 with a P-384 jwk",
                sign(&p384, &with(&header_of(&p384), "alg", json!("ES256")), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::IncompatibleAlg { .. })),
            ),
            (
                "28 PS256 with an EC jwk",
                sign(&a, &with(&h, "alg", json!("PS256")), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::IncompatibleAlg { .. })),
            ),
            (
                "28 RS256 header over a PSS signature",
                sign(&rsa, &with(&header_of(&rsa), "alg", json!("RS256")), &c()),
                |e| matches!(e, ProofError::BadSignature(JwkError::BadSignature)),
            ),
            ("28 EdDSA with X25519", sign(&ed, &x25519, &c()), |e| {
                matches!(e, ProofError::BadJwk(JwkError::UnsupportedCurve(_)))
            }),
            (
                "28 jwk alg differs",
                sign(
                    &a,
                    &with(&h, "jwk", with(&h["jwk"], "alg", json!("ES384"))),
                    &c(),
                ),
                |e| matches!(e, ProofError::BadJwk(JwkError::AlgMismatch { .. })),
            ),
            ("29 jwk missing", sign(&a, &without(&h, "jwk"), &c()), |e| {
                matches!(e, ProofError::MissingHeader("jwk"))
            }),
            (
                "30 jwk string",
                sign(&a, &with(&h, "jwk", json!("error")), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "30 jwk empty string",
                sign(&a, &with(&h, "jwk", json!("")), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "30 jwk 1",
                sign(&a, &with(&h, "jwk", json!(1)), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "30 jwk true",
                sign(&a, &with(&h, "jwk", json!(true)), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "30 jwk null",
                sign(&a, &with(&h, "jwk", Value::Null), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "30 jwk array",
                sign(&a, &with(&h, "jwk", json!([])), &c()),
                |e| matches!(e, ProofError::JwkNotObject),
            ),
            (
                "31 EC private d",
                sign(&a, &with(&h, "jwk", private_ec), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::PrivateMember("d"))),
            ),
            (
                "31 RSA private key",
                sign(&rsa, &with(&header_of(&rsa), "jwk", private_rsa), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::PrivateMember(_))),
            ),
            (
                "31 symmetric k",
                sign(&a, &with(&h, "jwk", with_k), &c()),
                |e| matches!(e, ProofError::BadJwk(JwkError::PrivateMember("k"))),
            ),
        ],
    );
    // 27: a valid alg that the policy does not list.
    expect_all(
        &Req::default(),
        vec![(
            "27 RS256 not allow-listed",
            proof(&rsa_fixture(Alg::Rs256), &c()),
            |e| matches!(e, ProofError::AlgNotAllowed(Alg::Rs256)),
        )],
    );
}
