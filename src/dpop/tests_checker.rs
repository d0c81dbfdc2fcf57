//! [`ProofChecker`]: what a remembered proof header skips, and what it never
//! skips. (Every case of the other proof tests also runs through a checker
//! that knows the proof's header, and must end the same way: see
//! `test_support::Req::check`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use super::test_support::*;
use super::{Htu, ProofChecker, ProofError, ProofPolicy, ProofRequest, KNOWN_HEADERS};
use crate::jose::test_vectors::RFC_TOKEN;
use crate::jose::Alg;

fn run(
    checker: &ProofChecker,
    proof: &str,
    method: &str,
) -> Result<super::VerifiedProof, ProofError> {
    let htu = Htu::parse(RESOURCE).unwrap();
    let hash = sha256(RFC_TOKEN);
    let req = ProofRequest {
        method,
        htu: &htu,
        token_sha256: Some(&hash),
    };
    checker.precheck(proof, &req, NOW)?.verify_signature()
}

#[test]
fn accepted_headers_are_remembered_and_claims_are_still_checked() {
    let checker = ProofChecker::new(ProofPolicy::default());
    let a = key(Alg::Es256);
    let first = run(&checker, &proof(&a, &claims()), "GET").unwrap();
    assert_eq!(
        checker.known_headers(),
        0,
        "nothing is remembered before acceptance"
    );
    checker.remember(&first);
    assert_eq!(checker.known_headers(), 1);

    // The same header: claims, signature and every per-proof check still run.
    let second = run(&checker, &proof(&a, &claims()), "GET").unwrap();
    assert_eq!(second.jkt(), first.jkt());
    assert_ne!(second.jti(), first.jti());
    checker.remember(&second);
    assert_eq!(
        checker.known_headers(),
        1,
        "a known header is not stored twice"
    );
    let c = claims();
    for (case, proof, method, want) in [
        ("wrong method", proof(&a, &c), "POST", "htm"),
        (
            "wrong htu",
            proof(&a, &with(&c, "htu", json!("https://other.example/x"))),
            "GET",
            "htu",
        ),
        (
            "old iat",
            proof(&a, &with(&c, "iat", json!(NOW - 3600))),
            "GET",
            "iat",
        ),
        (
            "wrong ath",
            proof(&a, &with(&c, "ath", json!(ath("other")))),
            "GET",
            "ath",
        ),
        ("no jti", proof(&a, &without(&c, "jti")), "GET", "jti"),
    ] {
        let err = run(&checker, &proof, method).unwrap_err();
        assert!(err.to_string().contains(want), "{case}: {err}");
    }

    // The header of key A with a signature by key B: refused at the signature.
    let b = key(Alg::Es256);
    let forged = sign(&b, &header_of(&a), &claims());
    assert!(forged.starts_with(&proof(&a, &claims())[..20]));
    assert!(matches!(
        run(&checker, &forged, "GET"),
        Err(ProofError::BadSignature(_))
    ));
    // A tampered payload under a remembered header: refused at the signature.
    let valid = proof(&a, &claims());
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.rsplit_once('.').unwrap();
    let swapped = format!(
        "{head}.{}.{signature}",
        crate::jose::b64::encode(serde_json::to_vec(&claims()).unwrap())
    );
    assert!(matches!(
        run(&checker, &swapped, "GET"),
        Err(ProofError::BadSignature(_))
    ));
}

#[test]
fn a_header_differing_by_one_byte_is_checked_afresh() {
    let checker = ProofChecker::new(ProofPolicy::default());
    let a = key(Alg::Es256);
    checker.remember(&run(&checker, &proof(&a, &claims()), "GET").unwrap());
    // Same key, `typ` spelled differently: another segment, checked in full.
    let h = with(&header_of(&a), "typ", json!("application/dpop+jwt"));
    let other = run(&checker, &sign(&a, &h, &claims()), "GET").unwrap();
    checker.remember(&other);
    assert_eq!(checker.known_headers(), 2);
    // And a header that fails its checks is refused whether or not the key
    // behind it is known.
    let h = with(&header_of(&a), "typ", json!("jwt"));
    assert!(matches!(
        run(&checker, &sign(&a, &h, &claims()), "GET"),
        Err(ProofError::BadTyp(_))
    ));
}

#[test]
fn the_policy_is_the_checkers_own() {
    // ES256 not allowed: a header naming it never passes, so it is never
    // remembered, whatever another checker knows.
    let policy = ProofPolicy {
        algs: [Alg::Ps256].into_iter().collect(),
        ..ProofPolicy::default()
    };
    let strict = ProofChecker::new(policy);
    let a = key(Alg::Es256);
    assert!(!strict.learn(&proof(&a, &claims())));
    assert!(matches!(
        run(&strict, &proof(&a, &claims()), "GET"),
        Err(ProofError::AlgNotAllowed(Alg::Es256))
    ));
}

#[test]
fn the_set_is_bounded() {
    let checker = ProofChecker::new(ProofPolicy::default());
    let a = key(Alg::Es256);
    for i in 0..KNOWN_HEADERS + 10 {
        // One key, a distinct header segment each time (`kid` differs).
        let h = with(&header_of(&a), "kid", json!(format!("k{i}")));
        let accepted = run(&checker, &sign(&a, &h, &claims()), "GET").unwrap();
        checker.remember(&accepted);
        assert!(checker.known_headers() <= KNOWN_HEADERS);
    }
    assert!(checker.known_headers() >= 10);
}
