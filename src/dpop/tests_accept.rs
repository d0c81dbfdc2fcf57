//! rfc9449-checks §7 must-accept cases P4–P12, P14 and P16, and the precheck / verify split.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::test_support::*;
use super::{ProofError, ProofPolicy};
use crate::jose::test_vectors::RFC_TOKEN;
use crate::jose::Alg;

#[test]
fn must_accept_cases() {
    let a = key(Alg::Es256);
    let c = claims();
    let h = header_of(&a);
    let p = |claims: Value| proof(&a, &claims);
    let htu = |value: &str| p(with(&c, "htu", json!(value)));
    let jkt = a.jkt().clone();
    let accepted: Vec<(&str, String)> = vec![
        (
            "P4 htu with query and fragment",
            htu(&format!("{RESOURCE}?a=b#frag")),
        ),
        (
            "P5 upper-case scheme and host",
            htu("HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource"),
        ),
        (
            "P6 explicit default port",
            htu("https://resource.example.org:443/protectedresource"),
        ),
        (
            "P7 %70 for p",
            htu("https://resource.example.org/%70rotectedresource"),
        ),
        (
            "P9 extra header parameters and claims",
            sign(
                &a,
                &with(&with(&h, "kid", json!("k")), "x-extra", json!({"a": [1]})),
                &with(&with(&c, "extra", json!(true)), "nonce", json!("n-1")),
            ),
        ),
        ("P10 iat 10 s ago", p(with(&c, "iat", json!(NOW - 10)))),
        ("P10 iat 8 s ahead", p(with(&c, "iat", json!(NOW + 8)))),
        ("P10 iat 10 s ahead", p(with(&c, "iat", json!(NOW + 10)))),
        (
            "P11 nbf now, exp now + 300",
            p(with(&with(&c, "nbf", json!(NOW)), "exp", json!(NOW + 300))),
        ),
        (
            "P11 fractional exp",
            p(with(&c, "exp", json!(NOW as f64 + 0.5))),
        ),
        (
            "P12 jwk with kid, alg and use",
            sign(
                &a,
                &with(
                    &h,
                    "jwk",
                    with(
                        &with(&with(&h["jwk"], "kid", json!("k1")), "alg", json!("ES256")),
                        "use",
                        json!("sig"),
                    ),
                ),
                &c,
            ),
        ),
        (
            "P16 typ application/dpop+jwt",
            sign(&a, &with(&h, "typ", json!("application/dpop+jwt")), &c),
        ),
        (
            "P16 typ DPoP+JWT",
            sign(&a, &with(&h, "typ", json!("DPoP+JWT")), &c),
        ),
    ];
    for (name, proof) in accepted {
        let verified = check(&proof).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.jkt(), &jkt, "{name}");
    }
    // P7: %7E in the claim, ~ in the request path.
    let tilde = Req {
        htu: "https://resource.example.org/~user/x".into(),
        ..Req::default()
    };
    for claim in [
        "https://resource.example.org/%7Euser/x",
        "https://resource.example.org/%7euser/x",
    ] {
        assert!(tilde.check(&htu(claim)).is_ok(), "{claim}");
    }
    // P8: the request is https://rs.example/ and the claim has an empty path.
    let root = Req {
        htu: "https://rs.example/".into(),
        ..Req::default()
    };
    assert!(root.check(&htu("https://rs.example")).is_ok());
    // P9: the nonce claim comes back to the caller.
    let nonce = check(&p(with(&c, "nonce", json!("n-2")))).unwrap();
    assert_eq!(nonce.nonce(), Some("n-2"));
    assert!(matches!(
        check(&p(with(&c, "nonce", json!(123)))),
        Err(ProofError::ClaimType { claim: "nonce", .. })
    ));
    // P14: alg "Ed25519" as well as "EdDSA".
    let ed = key(Alg::EdDsa);
    for name in ["EdDSA", "Ed25519"] {
        let proof = sign(&ed, &with(&header_of(&ed), "alg", json!(name)), &claims());
        assert_eq!(check(&proof).unwrap().jkt(), ed.jkt(), "{name}");
    }
}

#[test]
fn unverified_proof_exposes_the_binding_before_the_signature() {
    let a = key(Alg::Es256);
    let b = key(Alg::Es256);
    // Signed by B under A's jwk: precheck passes and reports A's thumbprint, so the caller
    // can compare it with cnf.jkt before paying for the signature check, which then fails.
    let forged = sign(&b, &header_of(&a), &with(&claims(), "nonce", json!("n")));
    let htu = super::Htu::parse(RESOURCE).unwrap();
    let hash = sha256(RFC_TOKEN);
    let req = super::ProofRequest {
        method: "GET",
        htu: &htu,
        token_sha256: Some(&hash),
    };
    let unverified = super::precheck(&forged, &req, &ProofPolicy::default(), NOW).unwrap();
    assert_eq!(unverified.jkt(), a.jkt());
    assert_eq!(unverified.iat(), NOW);
    assert_eq!(unverified.nonce(), Some("n"));
    assert!(unverified.jti().starts_with("test-jti-"));
    assert_eq!(unverified.alg(), Alg::Es256);
    assert!(matches!(
        unverified.verify_signature(),
        Err(ProofError::BadSignature(_))
    ));
}
