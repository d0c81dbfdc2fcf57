//! Proof checks against the published vectors (rfc9449-checks §5) and signing round trips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::test_support::*;
use super::{ProofError, ProofPolicy};
use crate::jose::test_vectors::{compact, value, RFC_TOKEN};
use crate::jose::{Alg, AlgSet, JwkError};

const TOKEN_ENDPOINT: &str = "https://server.example.com/token";

fn at_token_endpoint(now: i64) -> Req {
    Req {
        method: "POST",
        htu: TOKEN_ENDPOINT.to_owned(),
        token: None,
        policy: all_algs(),
        now,
    }
}

#[test]
fn ath_of_the_rfc_token() {
    assert_eq!(
        ath(RFC_TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    assert_eq!(ath(RFC_TOKEN), value("rfc9449_access_token_ath"));
}

#[test]
fn rfc_fig14_proof_is_accepted() {
    let proof = check(&compact("rfc9449_fig14_resource_proof")).unwrap();
    assert_eq!(
        proof.jkt().as_str(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    assert_eq!(proof.jti(), "e1j3V_bKic8-LAEB");
    assert_eq!(proof.iat(), 1_562_262_618);
    assert_eq!(proof.nonce(), None);
    assert_eq!(proof.alg(), Alg::Es256);
}

#[test]
fn malleated_twin_verifies_with_the_same_replay_key() {
    let original_text = compact("rfc9449_fig14_resource_proof");
    let twin_text = compact("derived_fig14_malleated_twin");
    assert_ne!(original_text, twin_text);
    let original = check(&original_text).unwrap();
    let twin = check(&twin_text).unwrap();
    // Same (jkt, jti): a replay store keyed on them rejects the twin.
    assert_eq!(twin.jkt(), original.jkt());
    assert_eq!(twin.jti(), original.jti());
}

#[test]
fn derived_ed25519_proofs_are_accepted() {
    for name in [
        "derived_ed25519_eddsa_proof",
        "derived_ed25519_alg_ed25519_proof",
    ] {
        let proof = check(&compact(name)).unwrap();
        assert_eq!(
            proof.jkt().as_str(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(proof.jti(), "dpop-vector-ed25519-1");
        assert_eq!(proof.alg(), Alg::EdDsa);
    }
    // Not allowed when the policy lacks EdDSA.
    let es_only = Req {
        policy: ProofPolicy {
            algs: AlgSet::EMPTY.with(Alg::Es256),
            ..ProofPolicy::default()
        },
        ..Req::default()
    };
    assert!(matches!(
        es_only.check(&compact("derived_ed25519_alg_ed25519_proof")),
        Err(ProofError::AlgNotAllowed(Alg::EdDsa))
    ));
}

#[test]
fn rfc_token_request_proofs_fail_at_the_resource_server() {
    for name in [
        "rfc9449_fig2_token_request_proof",
        "rfc9449_fig7_refresh_proof",
    ] {
        let proof = compact(name);
        // GET to the resource: htm is POST.
        assert!(
            matches!(check(&proof), Err(ProofError::HtmMismatch { .. })),
            "{name}"
        );
    }
    let fig2 = compact("rfc9449_fig2_token_request_proof");
    // POST to the resource: htu is the token endpoint.
    let post = Req {
        method: "POST",
        ..Req::default()
    };
    assert!(matches!(
        post.check(&fig2),
        Err(ProofError::HtuMismatch { .. })
    ));
    // POST to the token endpoint with a token presented: no ath.
    let with_token = Req {
        token: Some(RFC_TOKEN.to_owned()),
        ..at_token_endpoint(1_562_262_616)
    };
    assert!(matches!(
        with_token.check(&fig2),
        Err(ProofError::MissingClaim("ath"))
    ));
    // Where it belongs, it is fine.
    assert!(at_token_endpoint(1_562_262_616).check(&fig2).is_ok());
}

#[test]
fn go_dpop_valid_vectors_are_accepted() {
    for (name, iat, jkt) in [
        (
            "go_dpop_leading_zero_x",
            1_732_087_606,
            "MEhdRysfC6YMBxMtlBzyLwTWHmLLusOkEh_ofH9GPjs",
        ),
        (
            "go_dpop_eddsa",
            1_686_204_997,
            "fzvxQWIz9-CmxXGQOJ3zPFeI2qKryLJf25eYdNHGaZc",
        ),
        (
            "go_dpop_es384",
            1_686_146_911,
            "Gy9N56M7zIW1_QXVn6p0MNAurBtcknWH9uI11ffB0Qo",
        ),
        (
            "go_dpop_ps256",
            1_893_452_400,
            "cGP1YhPOH5jSb75v7ZywTINFqvF2sXFbOeEoTKqOLCA",
        ),
    ] {
        let proof = at_token_endpoint(iat).check(&compact(name)).unwrap();
        assert_eq!(proof.jkt().as_str(), jkt, "{name}");
        assert_eq!(proof.iat(), iat);
    }
    // The leading-zero proof carries an ath: ignored without a token, checked with one.
    let leading_zero = compact("go_dpop_leading_zero_x");
    let other_token = Req {
        token: Some("some-other-token".to_owned()),
        ..at_token_endpoint(1_732_087_606)
    };
    assert!(matches!(
        other_token.check(&leading_zero),
        Err(ProofError::AthMismatch)
    ));
    // ES384 is off by default.
    let default_policy = Req {
        policy: ProofPolicy::default(),
        ..at_token_endpoint(1_686_146_911)
    };
    assert!(matches!(
        default_policy.check(&compact("go_dpop_es384")),
        Err(ProofError::AlgNotAllowed(Alg::Es384))
    ));
}

#[test]
fn go_dpop_invalid_vectors_are_rejected() {
    let at = |name: &str, iat: i64| at_token_endpoint(iat).check(&compact(name)).unwrap_err();
    assert!(matches!(
        at("go_dpop_missing_typ", 1_686_147_683),
        ProofError::MissingHeader("typ")
    ));
    match at("go_dpop_hs256_oct", 1_893_452_400) {
        ProofError::AlgUnsupported(alg) => assert_eq!(alg, "HS256"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        at("go_dpop_bad_signature", 1_686_147_553),
        ProofError::BadSignature(JwkError::BadSignature)
    ));
    assert!(matches!(
        at("go_dpop_jwk_is_string", 1_686_146_487),
        ProofError::JwkNotObject
    ));
    assert!(matches!(
        at("go_dpop_missing_claims", 1_686_147_736),
        ProofError::MissingClaim("jti")
    ));
}

#[test]
fn every_generated_key_signs_an_accepted_proof() {
    let req = Req {
        policy: all_algs(),
        ..Req::default()
    };
    for alg in Alg::ALL {
        let key = key(alg);
        let verified = req.check(&proof(&key, &claims())).unwrap();
        assert_eq!(verified.jkt(), key.jkt(), "{alg}");
        assert_eq!(verified.alg(), alg);
    }
}
