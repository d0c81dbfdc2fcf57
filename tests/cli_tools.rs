//! The key and token tools as a user runs them: the real binary (`keygen`,
//! `thumbprint`, `token`, `proof`) against a gateway with a `jwks_file`.
//!
//! - `token --issuer-key` names the key in the header by the JWK's own `kid`,
//!   so a token verifies against the issuer's JWKS under that `kid`; a key
//!   without one (PEM) is named by its RFC 7638 thumbprint.
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
