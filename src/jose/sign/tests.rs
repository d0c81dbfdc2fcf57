#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, Ed25519KeyPair};
use serde_json::{json, Value};

use super::*;
use crate::jose::jws::CompactJws;
use crate::jose::test_vectors::{compact, generated_key, value, RSA2048_PRIVATE_JWK};

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Signs, then checks the signature with the public JWK exactly as a verifier would.
fn assert_signs(key: &SigningKey) {
    let token = key
        .sign_compact(&key.proof_header(), &json!({"hello": "world"}))
        .unwrap();
    let jws = CompactJws::parse(&token).unwrap();
    assert_eq!(jws.header()["alg"], key.alg().as_str());
    assert_eq!(jws.header()["typ"], "dpop+jwt");
    let jwk = PublicJwk::from_value(&jws.header()["jwk"], &Default::default()).unwrap();
    assert_eq!(jwk.thumbprint(), key.jkt());
    jwk.verify(key.alg(), jws.signing_input().as_bytes(), jws.signature())
        .unwrap();
}

fn rsa_fixture(alg: Option<Alg>) -> SigningKey {
    SigningKey::from_private_jwk(RSA2048_PRIVATE_JWK, alg).unwrap()
}

/// An RSA JWK member as an `rsa` crate integer.
fn rsa_int(jwk: &Value, name: &str) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(&b64::decode(jwk[name].as_str().unwrap()).unwrap())
}

#[test]
fn generated_keys_sign_and_round_trip_through_jwk() {
    for alg in [Alg::Es256, Alg::Es384, Alg::EdDsa, Alg::Ps256, Alg::Rs256] {
        let key = generated_key(alg);
        assert_eq!(key.alg(), alg);
        assert_signs(&key);
        let private = key.to_private_jwk();
        assert_eq!(private["alg"], alg.as_str());
        let reloaded =
            SigningKey::from_private_jwk(&serde_json::to_string(&private).unwrap(), None).unwrap();
        assert_eq!(reloaded.jkt(), key.jkt(), "{alg}");
        assert_eq!(reloaded.alg(), alg);
        assert_eq!(reloaded.public_jwk(), key.public_jwk());
        // The public JWK has the public members and nothing else.
        let public = key.public_jwk();
        let mut names: Vec<&str> = public
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        names.sort_unstable();
        let expected: &[&str] = match key.kty() {
            KeyType::Ec => &["crv", "kty", "x", "y"],
            KeyType::Okp => &["crv", "kty", "x"],
            KeyType::Rsa => &["e", "kty", "n"],
        };
        assert_eq!(names, expected);
    }
}

#[test]
fn every_rsa_alg_signs_with_one_key() {
    for alg in [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
    ] {
        assert_signs(&rsa_fixture(Some(alg)));
    }
    let key = rsa_fixture(None);
    assert_eq!(key.alg(), Alg::Ps256, "from the JWK's alg member");
}

#[test]
fn rfc8037_key_reproduces_the_derived_ed25519_vector() {
    // Ed25519 is deterministic: re-signing the vector's exact bytes gives the same JWS.
    let jwk = value("rfc8037_ed25519_key");
    let key = SigningKey::from_private_jwk(&jwk.to_string(), None).unwrap();
    assert_eq!(key.alg(), Alg::EdDsa);
    assert_eq!(
        key.jkt().as_str(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    let expected = compact("derived_ed25519_eddsa_proof");
    let jws = CompactJws::parse(&expected).unwrap();
    let (header, payload) = jws.signing_input().split_once('.').unwrap();
    let again = key
        .sign_segments(
            &b64::decode(header).unwrap(),
            &b64::decode(payload).unwrap(),
        )
        .unwrap();
    assert_eq!(again, expected);
}

#[test]
fn alg_override_and_mismatch() {
    let p256 = SigningKey::generate(Alg::Es256).unwrap();
    let text = p256.to_private_jwk().to_string();
    assert!(matches!(
        SigningKey::from_private_jwk(&text, Some(Alg::Es384)),
        Err(KeyError::AlgMismatch {
            alg: Alg::Es384,
            kty: KeyType::Ec
        })
    ));
    assert!(matches!(
        SigningKey::from_private_jwk(&text, Some(Alg::Ps256)),
        Err(KeyError::AlgMismatch { .. })
    ));
    let mut bad_alg = p256.to_private_jwk();
    bad_alg["alg"] = json!("HS256");
    assert!(matches!(
        SigningKey::from_private_jwk(&bad_alg.to_string(), None),
        Err(KeyError::Member { member: "alg", .. })
    ));
    // The override wins over the JWK's own alg.
    assert_eq!(rsa_fixture(Some(Alg::Rs256)).alg(), Alg::Rs256);
    assert_eq!(
        rsa_fixture(Some(Alg::Rs256)).to_private_jwk()["alg"],
        "RS256"
    );
}

#[test]
fn rejects_unusable_jwks() {
    let public = value("rfc9449_key").to_string();
    assert!(matches!(
        SigningKey::from_private_jwk(&public, None),
        Err(KeyError::NotPrivate)
    ));
    let oct = json!({"kty": "oct", "k": "AAAA"}).to_string();
    assert!(matches!(
        SigningKey::from_private_jwk(&oct, None),
        Err(KeyError::Unsupported(_))
    ));
    let mut wrong = SigningKey::generate(Alg::Es256).unwrap().to_private_jwk();
    wrong["d"] = json!(b64::encode([1u8; 32]));
    assert!(matches!(
        SigningKey::from_private_jwk(&wrong.to_string(), None),
        Err(KeyError::Rejected(_))
    ));
    let mut short = SigningKey::generate(Alg::EdDsa).unwrap().to_private_jwk();
    short["d"] = json!(b64::encode([1u8; 31]));
    assert!(matches!(
        SigningKey::from_private_jwk(&short.to_string(), None),
        Err(KeyError::Member { member: "d", .. })
    ));
    assert!(matches!(
        SigningKey::from_private_jwk("[1]", None),
        Err(KeyError::Json(_))
    ));
}

#[test]
fn loads_pkcs8_ec_pem() {
    let rng = SystemRandom::new();
    for (signing, alg) in [
        (&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, Alg::Es256),
        (&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING, Alg::Es384),
    ] {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let key = SigningKey::from_pem(&pem("PRIVATE KEY", pkcs8.as_ref()), None).unwrap();
        assert_eq!(key.alg(), alg);
        assert_signs(&key);
        let reference = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
        assert_eq!(
            key.public_jwk()["x"],
            b64::encode(
                &reference.public_key().as_ref()
                    [1..1 + (reference.public_key().as_ref().len() / 2)]
            )
        );
    }
}

#[test]
fn loads_sec1_ec_pem() {
    // Rebuild the key as SEC1 ECPrivateKey with the curve named inside (RFC 5915 §3).
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jwk = key.to_private_jwk();
    let field = |name: &str| b64::decode(jwk[name].as_str().unwrap()).unwrap();
    let point = [vec![0x04], field("x"), field("y")].concat();
    let tlv = |tag: u8, body: &[u8]| [vec![tag, body.len() as u8], body.to_vec()].concat();
    let p256_oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let body = [
        tlv(0x02, &[1]),
        tlv(0x04, &field("d")),
        tlv(0xa0, &tlv(0x06, &p256_oid)),
        tlv(0xa1, &tlv(0x03, &[&[0u8][..], &point].concat())),
    ]
    .concat();
    let sec1 = tlv(0x30, &body);
    let loaded = SigningKey::from_pem(&pem("EC PRIVATE KEY", &sec1), None).unwrap();
    assert_eq!(loaded.jkt(), key.jkt());
    assert_signs(&loaded);
}

#[test]
fn loads_pkcs8_ed25519_pem() {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let text = format!("some preamble\n{}", pem("PRIVATE KEY", pkcs8.as_ref()));
    let key = SigningKey::from_text(&text, None).unwrap();
    assert_eq!(key.alg(), Alg::EdDsa);
    let reference = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    assert_eq!(
        key.public_jwk()["x"],
        b64::encode(reference.public_key().as_ref())
    );
    assert_signs(&key);
}

#[test]
fn loads_rsa_pem_in_both_encodings() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let fixture = rsa_fixture(None);
    let jwk = fixture.to_private_jwk();
    let int = |name: &str| rsa_int(&jwk, name);
    let key =
        rsa::RsaPrivateKey::from_components(int("n"), int("e"), int("d"), vec![int("p"), int("q")])
            .unwrap();
    let pkcs1 = key.to_pkcs1_der().unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap();
    for text in [
        pem("RSA PRIVATE KEY", pkcs1.as_bytes()),
        pem("PRIVATE KEY", pkcs8.as_bytes()),
    ] {
        let loaded = SigningKey::from_text(&text, Some(Alg::Rs256)).unwrap();
        assert_eq!(loaded.jkt(), fixture.jkt());
        assert_eq!(loaded.to_private_jwk()["qi"], jwk["qi"]);
        assert_signs(&loaded);
    }
}

#[test]
fn rejects_bad_pem() {
    for text in [
        "",
        "not a key",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert!(
            matches!(SigningKey::from_pem(text, None), Err(KeyError::Pem(_))),
            "{text}"
        );
    }
    let garbage = pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    assert!(SigningKey::from_pem(&garbage, None).is_err());
}

#[test]
fn thumbprint_of_any_key_text() {
    let rfc = value("rfc9449_key").to_string();
    assert_eq!(
        thumbprint_of_key(&rfc).unwrap().as_str(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    let private = value("rfc8037_ed25519_key").to_string();
    assert_eq!(
        thumbprint_of_key(&private).unwrap().as_str(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let text = pem("PRIVATE KEY", pkcs8.as_ref());
    assert_eq!(
        &thumbprint_of_key(&text).unwrap(),
        SigningKey::from_pem(&text, None).unwrap().jkt()
    );
}

#[test]
fn load_reads_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.jwk");
    let key = SigningKey::generate(Alg::EdDsa).unwrap();
    std::fs::write(&path, key.to_private_jwk().to_string()).unwrap();
    assert_eq!(SigningKey::load(&path, None).unwrap().jkt(), key.jkt());
    let missing = SigningKey::load(dir.path().join("nope"), None).unwrap_err();
    assert!(matches!(missing, KeyError::Io { .. }));
    assert!(missing.to_string().contains("nope"));
    let _: Value = key.public_jwk();
}

#[test]
fn a_jwk_keeps_its_kid_and_pem_has_none() {
    let mut jwk = generated_key(Alg::Es256).to_private_jwk();
    jwk["kid"] = json!("my-key-1");
    let key = SigningKey::from_private_jwk(&jwk.to_string(), None).unwrap();
    assert_eq!(key.kid(), Some("my-key-1"));
    assert_eq!(key.key_id(), "my-key-1");
    assert_eq!(key.to_private_jwk()["kid"], "my-key-1");
    assert!(key.public_jwk().get("kid").is_none());

    let plain = generated_key(Alg::Es256);
    assert_eq!(plain.kid(), None);
    assert_eq!(plain.key_id(), plain.jkt().to_string());

    jwk["kid"] = json!(7);
    let err = SigningKey::from_private_jwk(&jwk.to_string(), None).unwrap_err();
    assert!(
        matches!(err, KeyError::Member { member: "kid", .. }),
        "{err}"
    );
}

#[test]
fn thumbprint_of_public_pem() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::EncodePublicKey;
    let fixture = rsa_fixture(None);
    let jwk = fixture.public_jwk();
    let int = |name: &str| rsa_int(&jwk, name);
    let key = rsa::RsaPublicKey::new(int("n"), int("e")).unwrap();
    let spki = key.to_public_key_der().unwrap();
    let pkcs1 = key.to_pkcs1_der().unwrap();
    for text in [
        pem("PUBLIC KEY", spki.as_bytes()),
        format!("a note\n{}", pem("RSA PUBLIC KEY", pkcs1.as_bytes())),
    ] {
        assert_eq!(&thumbprint_of_key(&text).unwrap(), fixture.jkt(), "{text}");
    }
    // Broken sections are errors, not "no key".
    let unterminated = pem("PUBLIC KEY", spki.as_bytes()).replace("-----END PUBLIC KEY-----", "");
    let garbage = pem("RSA PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01]);
    let bad_base64 = "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n";
    for text in [unterminated.as_str(), garbage.as_str(), bad_base64] {
        assert!(
            matches!(thumbprint_of_key(text), Err(KeyError::Pem(_))),
            "{text}"
        );
    }
}
