//! rfc9449-checks §7 cases 42–60: claims against the request, freshness and `ath`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::test_support::*;
use super::{ProofError, ProofPolicy, MAX_JTI_LEN};
use crate::jose::Alg;

#[test]
fn claim_cases_42_to_53() {
    let a = key(Alg::Es256);
    let c = claims();
    let p = |claims: Value| proof(&a, &claims);
    let htu = |value: &str| p(with(&c, "htu", json!(value)));
    expect_all(
        &Req::default(),
        vec![
            ("42 jti missing", p(without(&c, "jti")), |e| {
                matches!(e, ProofError::MissingClaim("jti"))
            }),
            ("42 jti empty", p(with(&c, "jti", json!(""))), |e| {
                matches!(e, ProofError::BadJti { len: 0, .. })
            }),
            ("42 jti number", p(with(&c, "jti", json!(123))), |e| {
                matches!(e, ProofError::ClaimType { claim: "jti", .. })
            }),
            (
                "43 jti 64 KiB",
                p(with(&c, "jti", json!("j".repeat(64 * 1024)))),
                |e| matches!(e, ProofError::TooLong { .. }),
            ),
            (
                "43 jti 257 bytes",
                p(with(&c, "jti", json!("j".repeat(MAX_JTI_LEN + 1)))),
                |e| matches!(e, ProofError::BadJti { len: 257, .. }),
            ),
            ("44 htm missing", p(without(&c, "htm")), |e| {
                matches!(e, ProofError::MissingClaim("htm"))
            }),
            (
                "44 htm PUT for GET",
                p(with(&c, "htm", json!("PUT"))),
                |e| matches!(e, ProofError::HtmMismatch { .. }),
            ),
            ("45 htm lower case", p(with(&c, "htm", json!("get"))), |e| {
                matches!(e, ProofError::HtmMismatch { .. })
            }),
            ("44 htm number", p(with(&c, "htm", json!(1))), |e| {
                matches!(e, ProofError::ClaimType { claim: "htm", .. })
            }),
            ("46 htu missing", p(without(&c, "htu")), |e| {
                matches!(e, ProofError::MissingClaim("htu"))
            }),
            ("46 htu non-string", p(with(&c, "htu", json!(["x"]))), |e| {
                matches!(e, ProofError::ClaimType { claim: "htu", .. })
            }),
            ("46 htu relative", htu("/protectedresource"), |e| {
                matches!(e, ProofError::BadHtu { .. })
            }),
            (
                "46 htu unparsable",
                htu("https://resource.example.org:x/"),
                |e| matches!(e, ProofError::BadHtu { .. }),
            ),
            (
                "47 htu + ohnonotagain",
                htu(&format!("{RESOURCE}ohnonotagain")),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            (
                "48 other host",
                htu("https://other.example.org/protectedresource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            (
                "48 http",
                htu("http://resource.example.org/protectedresource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            (
                "48 port 8443",
                htu("https://resource.example.org:8443/protectedresource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            ("49 trailing slash", htu(&format!("{RESOURCE}/")), |e| {
                matches!(e, ProofError::HtuMismatch { .. })
            }),
            (
                "49 path case",
                htu("https://resource.example.org/ProtectedResource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            (
                "50 %2F for /",
                htu("https://resource.example.org/protected%2Fresource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            (
                "51 userinfo",
                htu("https://u@resource.example.org/protectedresource"),
                |e| matches!(e, ProofError::BadHtu { .. }),
            ),
            (
                "52 upstream URL",
                htu("http://127.0.0.1:8080/protectedresource"),
                |e| matches!(e, ProofError::HtuMismatch { .. }),
            ),
            ("53 iat missing", p(without(&c, "iat")), |e| {
                matches!(e, ProofError::MissingClaim("iat"))
            }),
            (
                "53 iat string",
                p(with(&c, "iat", json!("1562262618"))),
                |e| matches!(e, ProofError::ClaimType { claim: "iat", .. }),
            ),
            ("53 iat null", p(with(&c, "iat", Value::Null)), |e| {
                matches!(e, ProofError::ClaimType { claim: "iat", .. })
            }),
        ],
    );
    // 45: GET on a HEAD request.
    let head = Req {
        method: "HEAD",
        ..Req::default()
    };
    expect_all(
        &head,
        vec![("45 GET on HEAD", p(c.clone()), |e| {
            matches!(e, ProofError::HtmMismatch { .. })
        })],
    );
    // 50: %40 in the claim, @ in the request path.
    let at_sign = Req {
        htu: "https://resource.example.org/a@b".into(),
        ..Req::default()
    };
    expect_all(
        &at_sign,
        vec![(
            "50 %40 for @",
            htu("https://resource.example.org/a%40b"),
            |e| matches!(e, ProofError::HtuMismatch { .. }),
        )],
    );
}

#[test]
fn freshness_cases_54_to_57() {
    let a = key(Alg::Es256);
    let c = claims();
    let p = |claims: Value| proof(&a, &claims);
    let iat = |offset: i64| p(with(&c, "iat", json!(NOW + offset)));
    let wide = Req {
        policy: ProofPolicy {
            max_age_secs: 300,
            max_skew_secs: 60,
            ..ProofPolicy::default()
        },
        ..Req::default()
    };
    expect_all(
        &wide,
        vec![
            ("54 one hour old", iat(-3600), |e| {
                matches!(e, ProofError::IatTooOld { .. }) && e.is_freshness()
            }),
            ("54 301 s old", iat(-301), |e| {
                matches!(e, ProofError::IatTooOld { .. }) && e.is_freshness()
            }),
            ("55 one hour ahead", iat(3600), |e| {
                matches!(e, ProofError::IatInFuture { .. }) && e.is_freshness()
            }),
            ("55 61 s ahead", iat(61), |e| {
                matches!(e, ProofError::IatInFuture { .. }) && e.is_freshness()
            }),
            (
                "56 milliseconds",
                p(with(&c, "iat", json!(1_562_262_618_000_i64))),
                |e| matches!(e, ProofError::BadIat(_)) && !e.is_freshness(),
            ),
            (
                "56 fraction",
                p(with(&c, "iat", json!(1_562_262_618.5))),
                |e| matches!(e, ProofError::BadIat(_)),
            ),
            ("56 negative", p(with(&c, "iat", json!(-1))), |e| {
                matches!(e, ProofError::BadIat(_))
            }),
            ("56 huge", p(with(&c, "iat", json!(u64::MAX))), |e| {
                matches!(e, ProofError::BadIat(_))
            }),
            (
                "57 exp in the past",
                p(with(&c, "exp", json!(NOW - 1))),
                |e| matches!(e, ProofError::Expired { .. }) && !e.is_freshness(),
            ),
            ("57 exp now", p(with(&c, "exp", json!(NOW))), |e| {
                matches!(e, ProofError::Expired { .. })
            }),
            (
                "57 nbf in the future",
                p(with(&c, "nbf", json!(NOW + 3600))),
                |e| matches!(e, ProofError::NotYetValid { .. }),
            ),
            ("57 exp string", p(with(&c, "exp", json!("never"))), |e| {
                matches!(e, ProofError::ClaimType { claim: "exp", .. })
            }),
        ],
    );
    // The edges of the default window (60 s back, 10 s ahead) are inside.
    for offset in [-60, 0, 10] {
        assert!(check(&iat(offset)).is_ok(), "{offset}");
    }
    for offset in [-61, 11] {
        assert!(check(&iat(offset)).unwrap_err().is_freshness(), "{offset}");
    }
}

/// A token whose SHA-256 has `-` or `_` in base64url, so its standard base64 form differs.
fn token_with_url_only_chars() -> String {
    (0..)
        .map(|i| format!("token-{i}"))
        .find(|t| ath(t).contains(['-', '_']))
        .unwrap()
}

#[test]
fn ath_cases_58_to_60() {
    use base64::Engine;
    let a = key(Alg::Es256);
    let token = token_with_url_only_chars();
    let c = with(&claims(), "ath", json!(ath(&token)));
    let p = |claims: Value| proof(&a, &claims);
    let digest = sha256(&token);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest);
    let padded = base64::engine::general_purpose::URL_SAFE.encode(digest);
    let req = Req {
        token: Some(token.clone()),
        ..Req::default()
    };
    assert!(req.check(&p(c.clone())).is_ok());
    expect_all(
        &req,
        vec![
            ("58 ath missing", p(without(&c, "ath")), |e| {
                matches!(e, ProofError::MissingClaim("ath"))
            }),
            ("58 ath number", p(with(&c, "ath", json!(1))), |e| {
                matches!(e, ProofError::ClaimType { claim: "ath", .. })
            }),
            (
                "59 other token",
                p(with(&c, "ath", json!(ath("other")))),
                |e| matches!(e, ProofError::AthMismatch),
            ),
            ("59 garbage", p(with(&c, "ath", json!("garbage"))), |e| {
                matches!(e, ProofError::BadAth)
            }),
            ("59 hex", p(with(&c, "ath", json!(hex))), |e| {
                matches!(e, ProofError::BadAth)
            }),
            (
                "59 standard base64",
                p(with(&c, "ath", json!(standard))),
                |e| matches!(e, ProofError::BadAth),
            ),
            ("59 padded", p(with(&c, "ath", json!(padded))), |e| {
                matches!(e, ProofError::BadAth)
            }),
            (
                "60 hash over the scheme",
                p(with(&c, "ath", json!(ath(&format!("DPoP {token}"))))),
                |e| matches!(e, ProofError::AthMismatch),
            ),
        ],
    );
    // No token presented: ath is not required, and one that is present is ignored.
    let no_token = Req {
        token: None,
        ..Req::default()
    };
    assert!(no_token.check(&p(without(&c, "ath"))).is_ok());
    assert!(no_token
        .check(&p(with(&c, "ath", json!("garbage"))))
        .is_ok());
}
