//! The key and token tools as a user runs them: the real binary (`keygen`,
//! `thumbprint`, `token`, `proof`) against a gateway with a `jwks_file`.
//!
//! - `token --issuer-key` names the key in the header by the JWK's own `kid`,
//!   so a token verifies against the issuer's JWKS under that `kid`; a key
//!   without one (PEM) is named by its RFC 7638 thumbprint.
//! - `thumbprint` of a public PEM key (SPKI `PUBLIC KEY` for P-256, P-384,
//!   Ed25519 and RSA; PKCS#1 `RSA PUBLIC KEY`) is the thumbprint of the same
//!   key as a JWK.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use http::Request;
use serde_json::{json, Value};

use common::{empty, run_bin, Alpn, BinOutput, TestGateway, Upstream, TLS_TABLE};

/// Bound on one run of the binary (RSA key generation included).
const BOUND: Duration = Duration::from_secs(60);

/// Runs the binary, asserts exit 0 and returns its trimmed stdout.
fn ok(args: &[&str]) -> String {
    let out: BinOutput = run_bin(args, BOUND);
    assert_eq!(
        out.code(),
        Some(0),
        "{args:?}: stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    out.stdout.trim().to_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `token` for issuer `https://as.test` and audience `https://api.test`.
fn mint(issuer_key: &Path, jkt: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "--issuer-key",
        path_str(issuer_key),
        "--iss",
        "https://as.test",
        "--aud",
        "https://api.test",
        "--jkt",
        jkt,
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// The decoded JOSE header of a compact JWT.
fn jwt_header(jwt: &str) -> Value {
    let first = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn b64url(jwk: &Value, member: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk[member].as_str().unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_names_the_issuer_key_by_its_own_kid_and_passes_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let issuer_key = dir.path().join("as.jwk");
    let jwks = dir.path().join("as.jwks.json");
    let client_key = dir.path().join("client.jwk");

    // An issuer key with its own kid, as an authorization server publishes it.
    ok(&["keygen", "--out", path_str(&issuer_key)]);
    let mut private = read_json(&issuer_key);
    private["kid"] = json!("my-key-1");
    std::fs::write(&issuer_key, private.to_string()).unwrap();
    let public = json!({
        "kty": private["kty"], "crv": private["crv"], "x": private["x"], "y": private["y"],
        "kid": "my-key-1", "use": "sig", "alg": "ES256",
    });
    std::fs::write(&jwks, json!({ "keys": [public] }).to_string()).unwrap();

    let up = Upstream::echo().await;
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}\n\
         [[issuers]]\nissuer = \"https://as.test\"\naudiences = [\"https://api.test\"]\njwks_file = \"{}\"\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"{}\"\nauth = \"dpop\"\n\
         [routes.identity_headers]\nsub = \"X-Auth-Subject\"\njkt = \"X-Auth-Jkt\"\n",
        jwks.display(),
        up.url()
    );
    let gw = TestGateway::start(&config).await;

    let jkt = ok(&["keygen", "--out", path_str(&client_key)]);
    let token = mint(&issuer_key, &jkt, &["--sub", "alice"]);
    assert_eq!(jwt_header(&token)["kid"], "my-key-1", "token {token}");

    let url = gw.https_url("/api/orders");
    let proof = ok(&[
        "proof",
        "--key",
        path_str(&client_key),
        "--method",
        "GET",
        "--url",
        &url,
        "--token",
        &token,
    ]);
    let req = Request::get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200, "body: {}", ans.text());
    assert_eq!(up.count(), 1);
    let got = up.last();
    assert_eq!(got.path(), "/api/orders");
    assert_eq!(got.header("x-auth-subject"), Some("alice"));
    assert_eq!(got.header("x-auth-jkt"), Some(jkt.as_str()));
    assert!(
        got.header("dpop").is_none(),
        "the proof reached the upstream"
    );
}

#[test]
fn a_pem_issuer_key_is_named_by_its_thumbprint() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("as.pem");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(&pem, key.serialize_pem()).unwrap();
    let thumbprint = ok(&["thumbprint", "--key", path_str(&pem)]);
    // A --jkt value that begins with "-" is still one argument.
    let token = mint(&pem, "-0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4", &[]);
    assert_eq!(jwt_header(&token)["kid"], thumbprint.as_str());
}

#[test]
fn token_help_says_where_the_kid_comes_from() {
    let help = ok(&["token", "--help"]);
    assert!(help.contains("kid"), "{help}");
    assert!(help.contains("thumbprint"), "{help}");
    assert!(help.contains("test environments only"), "{help}");
}

// ---------------------------------------------------------------------------
// thumbprint of public PEM keys
// ---------------------------------------------------------------------------

/// One DER TLV with a short or long-form length.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) with the algorithm OID, an
/// optional parameter OID, and the key as the BIT STRING.
fn spki(alg_oid: &[u8], param_oid: Option<&[u8]>, key: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, alg_oid);
    if let Some(param) = param_oid {
        alg.extend(tlv(0x06, param));
    }
    let bits = [&[0u8][..], key].concat();
    tlv(0x30, &[tlv(0x30, &alg), tlv(0x03, &bits)].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    rsa::pkcs8::der::pem::encode_string(label, rsa::pkcs8::LineEnding::LF, der).unwrap()
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The public PEM forms of a private JWK as `keygen` writes it.
fn public_pems(jwk: &Value) -> Vec<(&'static str, String)> {
    match jwk["kty"].as_str().unwrap() {
        "EC" => {
            let curve = match jwk["crv"].as_str().unwrap() {
                "P-256" => OID_P256,
                "P-384" => OID_P384,
                other => panic!("curve {other}"),
            };
            let point = [vec![0x04], b64url(jwk, "x"), b64url(jwk, "y")].concat();
            vec![(
                "SPKI",
                pem("PUBLIC KEY", &spki(OID_EC_PUBLIC_KEY, Some(curve), &point)),
            )]
        }
        "OKP" => vec![(
            "SPKI",
            pem("PUBLIC KEY", &spki(OID_ED25519, None, &b64url(jwk, "x"))),
        )],
        "RSA" => {
            use rsa::pkcs1::EncodeRsaPublicKey;
            use rsa::pkcs8::{EncodePublicKey, LineEnding};
            let int = |m: &str| rsa::BigUint::from_bytes_be(&b64url(jwk, m));
            let key = rsa::RsaPublicKey::new(int("n"), int("e")).unwrap();
            vec![
                ("SPKI", key.to_public_key_pem(LineEnding::LF).unwrap()),
                ("PKCS#1", key.to_pkcs1_pem(LineEnding::LF).unwrap()),
            ]
        }
        other => panic!("kty {other}"),
    }
}

#[test]
fn the_thumbprint_of_a_public_pem_is_the_thumbprint_of_its_jwk() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["ES256", "ES384", "EdDSA", "RS256"] {
        let jwk_path = dir.path().join(format!("{alg}.jwk"));
        let jkt = ok(&["keygen", "--alg", alg, "--out", path_str(&jwk_path)]);
        assert_eq!(ok(&["thumbprint", "--key", path_str(&jwk_path)]), jkt);
        let jwk = read_json(&jwk_path);
        for (form, text) in public_pems(&jwk) {
            assert!(text.starts_with("-----BEGIN "), "{text}");
            let pem_path = dir
                .path()
                .join(format!("{alg}-{form}.pem").replace('#', ""));
            std::fs::write(&pem_path, &text).unwrap();
            assert_eq!(
                ok(&["thumbprint", "--key", path_str(&pem_path)]),
                jkt,
                "{alg} {form}:\n{text}"
            );
        }
    }
}

#[test]
fn a_public_pem_that_is_no_usable_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A compressed P-256 point, and an SPKI of an unknown algorithm (X25519).
    let compressed = spki(
        OID_EC_PUBLIC_KEY,
        Some(OID_P256),
        &[&[0x02][..], &[7; 32]].concat(),
    );
    let x25519 = spki(&[0x2b, 0x65, 0x6e], None, &[7; 32]);
    for (name, der, says) in [
        ("compressed", compressed, "compressed"),
        ("x25519", x25519, "unsupported"),
    ] {
        let path = dir.path().join(format!("{name}.pem"));
        std::fs::write(&path, pem("PUBLIC KEY", &der)).unwrap();
        let out = run_bin(["thumbprint", "--key", path_str(&path)], BOUND);
        assert_eq!(out.code(), Some(1), "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        assert!(out.stderr.contains(says), "{name}: {}", out.stderr);
    }
}

#[test]
fn public_and_private_pems_of_one_key_have_one_thumbprint() {
    // Both PEMs as another library writes them (rcgen: PKCS#8 and SPKI).
    let dir = tempfile::tempdir().unwrap();
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let private = dir.path().join("private.pem");
        let public = dir.path().join("public.pem");
        std::fs::write(&private, key.serialize_pem()).unwrap();
        std::fs::write(&public, key.public_key_pem()).unwrap();
        assert_eq!(
            ok(&["thumbprint", "--key", path_str(&public)]),
            ok(&["thumbprint", "--key", path_str(&private)]),
            "{alg:?}"
        );
    }
}
