//! Tests for [`super::jwk`]: parsing, key policy and thumbprints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use super::b64::{self, B64Error};
use super::jwk::*;
use super::test_vectors::{value, RSA1024_PUBLIC_JWK};

fn parse(value: Value) -> Result<PublicJwk, JwkError> {
    PublicJwk::from_value(&value, &Default::default())
}

fn rfc9449_key() -> Value {
    value("rfc9449_key")
}

#[test]
fn thumbprints_match_published_values() {
    let ec = parse(rfc9449_key()).unwrap();
    assert_eq!(ec.kty(), KeyType::Ec);
    assert_eq!(
        ec.thumbprint().as_str(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    // RFC 7638 §3.1; `alg` and `kid` are not hashed.
    let rsa = parse(value("rfc7638_rsa_key")).unwrap();
    assert_eq!(rsa.kty(), KeyType::Rsa);
    assert_eq!(rsa.alg(), Some("RS256"));
    assert_eq!(
        rsa.thumbprint().as_str(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // RFC 8037 A.3 (public members only: the vector file's `d` makes it private).
    let mut ed = value("rfc8037_ed25519_key");
    ed.as_object_mut().unwrap().remove("d");
    let ed = parse(ed).unwrap();
    assert_eq!(ed.kty(), KeyType::Okp);
    assert_eq!(
        ed.thumbprint().as_str(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn leading_zero_coordinate_is_hashed_as_received() {
    // go-dpop vector (rfc9449-checks §5.10, P13): x starts with a zero octet.
    let jwk = parse(json!({
        "kty": "EC",
        "x": "ABb3EarQ0HLccFyFmT-SeL4NKg17Pe8sxCZeYElmDTo",
        "y": "5kHQhze8V7fHtMmbO67KbCsNtTVhDOFZTM0YWtSeFE8",
        "crv": "P-256"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint().as_str(),
        "MEhdRysfC6YMBxMtlBzyLwTWHmLLusOkEh_ofH9GPjs"
    );
    assert_ne!(
        jwk.thumbprint().as_str(),
        value("go_dpop_leading_zero_wrong_jkt_if_reencoded")
    );
    // The stripped, re-encoded coordinate is 31 octets: rejected outright (case 33).
    let stripped = parse(json!({
        "kty": "EC",
        "x": "FvcRqtDQctxwXIWZP5J4vg0qDXs97yzEJl5gSWYNOg",
        "y": "5kHQhze8V7fHtMmbO67KbCsNtTVhDOFZTM0YWtSeFE8",
        "crv": "P-256"
    }));
    assert!(matches!(
        stripped,
        Err(JwkError::Encoding { member: "x", .. })
    ));
}

#[test]
fn extra_members_do_not_change_the_thumbprint() {
    // P12: kid, alg, use, key_ops and unknown members are ignored.
    let mut key = rfc9449_key();
    let plain = parse(key.clone()).unwrap();
    let map = key.as_object_mut().unwrap();
    map.insert("kid".into(), json!("k1"));
    map.insert("alg".into(), json!("ES256"));
    map.insert("use".into(), json!("sig"));
    map.insert("key_ops".into(), json!(["verify", "sign"]));
    map.insert("x5c".into(), json!(["MIIB"]));
    let extra = parse(key).unwrap();
    assert_eq!(extra.thumbprint(), plain.thumbprint());
    assert_eq!(extra.alg(), Some("ES256"));
}

fn with(base: &Value, name: &str, member: Value) -> Value {
    let mut out = base.clone();
    out.as_object_mut().unwrap().insert(name.into(), member);
    out
}

fn without(base: &Value, name: &str) -> Value {
    let mut out = base.clone();
    out.as_object_mut().unwrap().remove(name);
    out
}

#[test]
fn rejects_bad_keys() {
    let ec = rfc9449_key();
    let p384 = json!({"kty": "EC", "crv": "P-384",
        "x": "HZHiDcz44bAM1QwDoylhNPPPouCt2YnDg8y9etAyG5G-oco3HD43rpk5YQn5pgYi",
        "y": "tRioI66MACWlu45HZSvMGAWLIMlWuoRvKOXl49JFjolDkbMk7q_OZqsHRe2xcq3X"});
    parse(p384.clone()).unwrap();
    let rsa = value("rfc7638_rsa_key");
    let ed = json!({"kty": "OKP", "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let small_rsa: Value = serde_json::from_str(RSA1024_PUBLIC_JWK).unwrap();
    let b = |n: usize| b64::encode(vec![0x42u8; n]);
    let cases: Vec<(&str, Value, JwkError)> = vec![
        ("not an object", json!("error"), JwkError::NotAnObject),
        ("array", json!([]), JwkError::NotAnObject),
        (
            "EC d",
            with(&ec, "d", json!("AAAA")),
            JwkError::PrivateMember("d"),
        ),
        (
            "RSA p",
            with(&rsa, "p", json!("AAAA")),
            JwkError::PrivateMember("p"),
        ),
        (
            "RSA q",
            with(&rsa, "q", json!("AAAA")),
            JwkError::PrivateMember("q"),
        ),
        (
            "RSA dp",
            with(&rsa, "dp", json!("AAAA")),
            JwkError::PrivateMember("dp"),
        ),
        (
            "RSA dq",
            with(&rsa, "dq", json!("AAAA")),
            JwkError::PrivateMember("dq"),
        ),
        (
            "RSA qi",
            with(&rsa, "qi", json!("AAAA")),
            JwkError::PrivateMember("qi"),
        ),
        (
            "RSA oth",
            with(&rsa, "oth", json!([])),
            JwkError::PrivateMember("oth"),
        ),
        (
            "oct",
            json!({"kty": "oct", "k": "AAAA"}),
            JwkError::PrivateMember("k"),
        ),
        ("oct no k", json!({"kty": "oct"}), JwkError::SymmetricKey),
        ("kty missing", without(&ec, "kty"), JwkError::Missing("kty")),
        (
            "kty number",
            with(&ec, "kty", json!(1)),
            JwkError::WrongType("kty"),
        ),
        (
            "kty unknown",
            with(&ec, "kty", json!("XX")),
            JwkError::UnsupportedKty("XX".into()),
        ),
        (
            "crv unknown",
            with(&ec, "crv", json!("P-257")),
            JwkError::UnsupportedCurve("P-257".into()),
        ),
        (
            "crv P-521",
            with(&ec, "crv", json!("P-521")),
            JwkError::UnsupportedCurve("P-521".into()),
        ),
        (
            "crv number",
            with(&ec, "crv", json!(256)),
            JwkError::WrongType("crv"),
        ),
        (
            "x number",
            with(&ec, "x", json!(1)),
            JwkError::WrongType("x"),
        ),
        ("y missing", without(&ec, "y"), JwkError::Missing("y")),
        (
            "x 31 bytes",
            with(&ec, "x", json!(b(31))),
            JwkError::Encoding {
                member: "x",
                source: B64Error::Length {
                    expected: 32,
                    got: 31,
                },
            },
        ),
        (
            "y 33 bytes",
            with(&ec, "y", json!(b(33))),
            JwkError::Encoding {
                member: "y",
                source: B64Error::Length {
                    expected: 32,
                    got: 33,
                },
            },
        ),
        (
            "x padded",
            with(&ec, "x", json!(format!("{}=", b(32)))),
            JwkError::Encoding {
                member: "x",
                source: B64Error::Invalid,
            },
        ),
        (
            "P-384 with 32-byte x",
            with(&p384, "x", json!(b(32))),
            JwkError::Encoding {
                member: "x",
                source: B64Error::Length {
                    expected: 48,
                    got: 32,
                },
            },
        ),
        ("RSA 1024", small_rsa, JwkError::RsaModulusSize(1024)),
        (
            "RSA e even",
            with(&rsa, "e", json!("AQAA")),
            JwkError::RsaExponent,
        ),
        (
            "RSA e one",
            with(&rsa, "e", json!("AQ")),
            JwkError::RsaExponent,
        ),
        (
            "RSA e zero",
            with(&rsa, "e", json!("AA")),
            JwkError::RsaExponent,
        ),
        (
            "RSA e 5 bytes",
            with(&rsa, "e", json!(b64::encode([1, 0, 0, 0, 1]))),
            JwkError::RsaExponent,
        ),
        ("RSA n missing", without(&rsa, "n"), JwkError::Missing("n")),
        (
            "OKP X25519",
            with(&ed, "crv", json!("X25519")),
            JwkError::UnsupportedCurve("X25519".into()),
        ),
        (
            "OKP X448",
            with(&ed, "crv", json!("X448")),
            JwkError::UnsupportedCurve("X448".into()),
        ),
        (
            "Ed25519 31",
            with(&ed, "x", json!(b(31))),
            JwkError::Encoding {
                member: "x",
                source: B64Error::Length {
                    expected: 32,
                    got: 31,
                },
            },
        ),
        (
            "Ed25519 33",
            with(&ed, "x", json!(b(33))),
            JwkError::Encoding {
                member: "x",
                source: B64Error::Length {
                    expected: 32,
                    got: 33,
                },
            },
        ),
        (
            "use enc",
            with(&ec, "use", json!("enc")),
            JwkError::Use("enc".into()),
        ),
        (
            "use number",
            with(&ec, "use", json!(1)),
            JwkError::WrongType("use"),
        ),
        (
            "key_ops sign only",
            with(&ec, "key_ops", json!(["sign"])),
            JwkError::KeyOps,
        ),
        (
            "key_ops string",
            with(&ec, "key_ops", json!("verify")),
            JwkError::WrongType("key_ops"),
        ),
        (
            "key_ops numbers",
            with(&ec, "key_ops", json!(["verify", 1])),
            JwkError::WrongType("key_ops"),
        ),
        (
            "alg number",
            with(&ec, "alg", json!(1)),
            JwkError::WrongType("alg"),
        ),
    ];
    for (name, jwk, expected) in cases {
        assert_eq!(parse(jwk), Err(expected), "{name}");
    }
}

#[test]
fn rsa_modulus_leading_zero_is_not_counted() {
    let rsa = value("rfc7638_rsa_key");
    let n = b64::decode(rsa["n"].as_str().unwrap()).unwrap();
    let padded = with(&rsa, "n", json!(b64::encode([&[0u8][..], &n].concat())));
    let jwk = parse(padded).unwrap();
    assert_eq!(jwk.describe(), "RSA 2048-bit");
    assert_eq!(bit_len(&[0x01, 0xff]), 9);
    assert_eq!(bit_len(&[]), 0);
}

/// An RSA public JWK whose modulus has exactly `bits` bits (not a real key:
/// parsing looks at the size and the exponent only).
fn rsa_of_bits(bits: usize) -> Value {
    let mut n = vec![0u8; bits.div_ceil(8)];
    n[0] = 1 << ((bits - 1) % 8);
    json!({"kty": "RSA", "n": b64::encode(&n), "e": "AQAB"})
}

#[test]
fn rsa_modulus_limit_is_configurable_up_to_8192() {
    use super::limits::ParseLimits;
    let limits = |max_rsa_bits| ParseLimits {
        max_rsa_bits,
        ..ParseLimits::default()
    };
    let at = |bits, max| PublicJwk::from_value(&rsa_of_bits(bits), &limits(max));
    assert_eq!(at(4096, 4096).unwrap().describe(), "RSA 4096-bit");
    assert_eq!(
        at(4097, 4096),
        Err(JwkError::RsaModulusOverLimit {
            bits: 4097,
            max: 4096
        })
    );
    assert_eq!(
        parse(rsa_of_bits(4097)),
        at(4097, 4096),
        "the default is 4096"
    );
    assert!(at(8192, 8192).is_ok());
    assert!(at(2048, 2048).is_ok());
    // Never more than ring verifies, never less than 2048.
    assert_eq!(
        at(8193, 100_000),
        Err(JwkError::RsaModulusOverLimit {
            bits: 8193,
            max: 8192
        })
    );
    assert_eq!(at(2047, 2048), Err(JwkError::RsaModulusSize(2047)));
    let err = at(8192, 4096).unwrap_err();
    assert!(err.is_over_limit());
    assert_eq!(
        err.to_string(),
        "RSA modulus is 8192 bits, the limit (max_rsa_modulus_bits) is 4096"
    );
}

#[test]
fn jwk_size_limit_is_checked_first_and_exactly() {
    use super::limits::{jwk_size, ParseLimits};
    let key = rfc9449_key();
    let size = jwk_size(key.as_object().unwrap());
    let limits = |max_jwk_bytes| ParseLimits {
        max_jwk_bytes,
        ..ParseLimits::default()
    };
    assert!(PublicJwk::from_value(&key, &limits(size)).is_ok());
    let too_large = JwkError::TooLarge {
        size,
        max: size - 1,
    };
    assert_eq!(
        PublicJwk::from_value(&key, &limits(size - 1)),
        Err(too_large.clone())
    );
    assert!(too_large.is_over_limit());
    // Before any other check: a private key over the limit is "too large".
    let private = with(&key, "d", json!("x"));
    assert_eq!(
        PublicJwk::from_value(&private, &limits(size)),
        Err(JwkError::TooLarge {
            size: size + 2,
            max: size
        })
    );
}

#[test]
fn key_sets_skip_keys_over_the_limits_and_keep_the_others() {
    use super::jwks::{JwksError, KeySet};
    use super::limits::ParseLimits;
    let limits = ParseLimits::default();
    let mut ec = rfc9449_key();
    ec["kid"] = json!("ec");
    let mut big = rsa_of_bits(6144);
    big["kid"] = json!("big");
    let doc = json!({"keys": [ec.clone(), big.clone()]}).to_string();
    let set = KeySet::parse(doc.as_bytes(), &limits).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.skipped(),
        ["keys[1] (kid \"big\"): RSA modulus is 6144 bits, the limit (max_rsa_modulus_bits) is 4096"]
    );
    let wide = ParseLimits {
        max_rsa_bits: 8192,
        ..limits
    };
    let set = KeySet::parse(doc.as_bytes(), &wide).unwrap();
    assert_eq!((set.len(), set.skipped().len()), (2, 0));
    // Nothing usable left: refused, saying why.
    let only_big = json!({"keys": [big.clone()]}).to_string();
    let err = KeySet::parse(only_big.as_bytes(), &limits).unwrap_err();
    assert!(matches!(&err, JwksError::Empty(s) if s.len() == 1), "{err}");
    assert!(err.to_string().contains("kid \"big\""), "{err}");
    // Any other bad key still refuses the whole set.
    let private = json!({"keys": [ec.clone(), with(&rfc9449_key(), "d", json!("x"))]}).to_string();
    assert!(matches!(
        KeySet::parse(private.as_bytes(), &limits),
        Err(JwksError::Key { index: 1, .. })
    ));
    // The document's depth is bounded too ({"keys":[{"x5c":[…]}]} is 4).
    let mut deep = ec.clone();
    deep["x5c"] = json!(["AAAA"]);
    let doc = json!({"keys": [deep]}).to_string();
    let depth = |max_json_depth| ParseLimits {
        max_json_depth,
        ..limits
    };
    assert!(KeySet::parse(doc.as_bytes(), &depth(4)).is_ok());
    assert!(KeySet::parse(doc.as_bytes(), &depth(3)).is_err());
}
