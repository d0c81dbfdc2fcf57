//! Every proof algorithm of the allow-list, end to end, with keys and
//! signatures made WITHOUT the crate's JOSE code: keys from raw `ring`
//! (`EcdsaKeyPair`, `Ed25519KeyPair`) and from the `rsa` crate (exported as
//! PKCS#8 DER and signed by `ring::signature::RsaKeyPair`), JWK members and
//! the RFC 7638 thumbprint written by hand, header and claims serialised by
//! hand. The gateway's `X-Auth-Jkt` identity header must equal that
//! independent thumbprint. Also: proofs made by the real CLI from keys made
//! by `dpop-gateway keygen`, and algorithms outside the allow-list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::check::{problems, Expect};
use common::jose::{ath, b64, jkt_of, random_id};
use common::keys;
use common::req::{send, Req, Via};
use common::{route_with, run_bin, system_now, ClockMode, TestGateway, Upstream, IDENTITY};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

common::rejection_self_tests!();

const ALL_ALGS: &str =
    "algs = [\"ES256\", \"ES384\", \"EdDSA\", \"PS256\", \"RS256\", \"PS384\", \"PS512\", \"RS384\", \"RS512\"]";
const ALL_ALGS_CHALLENGE: &str = "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519";

fn config(up: &str, algs: &str) -> String {
    format!(
        "[dpop]\n{algs}\n{}",
        route_with("api", "/api", up, &format!("auth = \"dpop\"\n{IDENTITY}"))
    )
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
}

/// A client key made outside the crate, its hand-written public JWK and
/// hand-computed thumbprint.
struct RawClient {
    alg: &'static str,
    jwk: Value,
    jkt: String,
    pair: Pair,
}

impl RawClient {
    fn ec(alg: &'static str) -> RawClient {
        let rng = SystemRandom::new();
        let (signing, crv, len) = match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => panic!("{alg}"),
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 1 + 2 * len);
        assert_eq!(point[0], 4, "uncompressed point");
        let jwk = json!({
            "kty": "EC",
            "crv": crv,
            "x": b64(&point[1..1 + len]),
            "y": b64(&point[1 + len..]),
        });
        RawClient {
            alg,
            jkt: jkt_of(&jwk),
            jwk,
            pair: Pair::Ec(pair),
        }
    }

    fn ed25519(alg: &'static str) -> RawClient {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        RawClient {
            alg,
            jkt: jkt_of(&jwk),
            jwk,
            pair: Pair::Ed(pair),
        }
    }

    fn rsa(alg: &'static str, key: &rsa::RsaPrivateKey) -> RawClient {
        let encoding: &'static dyn signature::RsaEncoding = match alg {
            "RS256" => &signature::RSA_PKCS1_SHA256,
            "RS384" => &signature::RSA_PKCS1_SHA384,
            "RS512" => &signature::RSA_PKCS1_SHA512,
            "PS256" => &signature::RSA_PSS_SHA256,
            "PS384" => &signature::RSA_PSS_SHA384,
            "PS512" => &signature::RSA_PSS_SHA512,
            _ => panic!("{alg}"),
        };
        let pair = RsaKeyPair::from_pkcs8(&keys::rsa_pkcs8_der(key)).unwrap();
        let jwk = json!({
            "kty": "RSA",
            "n": b64(key.n().to_bytes_be()),
            "e": b64(key.e().to_bytes_be()),
        });
        // ring and the rsa crate agree on the modulus.
        assert_eq!(pair.public().modulus_len(), key.size());
        RawClient {
            alg,
            jkt: jkt_of(&jwk),
            jwk,
            pair: Pair::Rsa(pair, encoding),
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Ec(p) => p.sign(&rng, input).unwrap().as_ref().to_vec(),
            Pair::Ed(p) => p.sign(input).as_ref().to_vec(),
            Pair::Rsa(p, encoding) => {
                let mut sig = vec![0u8; p.public().modulus_len()];
                p.sign(*encoding, &rng, input, &mut sig).unwrap();
                sig
            }
        }
    }

    /// A proof with header alg `alg` (normally `self.alg`), JSON by hand.
    fn proof_as(&self, alg: &str, method: &str, htu: &str, token: &str, iat: i64) -> String {
        let header = format!(r#"{{"typ":"dpop+jwt","alg":"{alg}","jwk":{}}}"#, self.jwk);
        let claims = format!(
            r#"{{"jti":"{}","htm":"{method}","htu":"{htu}","iat":{iat},"ath":"{}"}}"#,
            random_id(),
            ath(token)
        );
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    fn proof(&self, method: &str, htu: &str, token: &str, iat: i64) -> String {
        self.proof_as(self.alg, method, htu, token, iat)
    }
}

fn clients() -> Vec<RawClient> {
    let rsa = keys::rsa2048();
    vec![
        RawClient::ec("ES256"),
        RawClient::ec("ES384"),
        RawClient::ed25519("EdDSA"),
        RawClient::ed25519("Ed25519"),
        RawClient::rsa("PS256", rsa),
        RawClient::rsa("RS256", rsa),
        RawClient::rsa("PS384", rsa),
        RawClient::rsa("PS512", rsa),
        RawClient::rsa("RS384", rsa),
        RawClient::rsa("RS512", rsa),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_allowed_alg_with_independently_made_keys() {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(
        &config(&up.url(), ALL_ALGS),
        ClockMode::Manual(system_now()),
    )
    .await;
    let mut seen = Vec::new();
    for (i, client) in clients().iter().enumerate() {
        let via = if i % 2 == 0 { Via::H1 } else { Via::H2 };
        let token = gw.token(Some(&client.jkt), None);
        let path = format!("/api/{}", client.alg);
        let proof = client.proof("POST", &gw.htu(&path), &token, gw.now());
        let req = Req::new("POST", &path).dpop(&token, &proof).body("{}");
        let before = up.count();
        let ans = send(&gw, via, &req).await.unwrap();
        assert_eq!(ans.status, 200, "{} [{via:?}]: {}", client.alg, ans.text());
        assert_eq!(up.count(), before + 1);
        let rec = up.last();
        assert_eq!(rec.path(), path);
        assert_eq!(
            rec.header("x-auth-jkt"),
            Some(client.jkt.as_str()),
            "{}: the gateway's thumbprint differs from RFC 7638 by hand",
            client.alg
        );
        assert!(rec.header_all("dpop").is_empty());
        seen.push(client.alg);
    }
    assert_eq!(seen.len(), 10, "{seen:?}");
}

/// Algorithm confusion within RSA, and an undersized key, where the header
/// algorithm IS allowed: only the signature (or key) check can refuse them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_padding_hash_and_size_confusion_is_refused() {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(
        &config(&up.url(), ALL_ALGS),
        ClockMode::Manual(system_now()),
    )
    .await;
    let rsa = keys::rsa2048();
    let path = "/api/confusion";
    let htu = gw.htu(path);
    let mut cases: Vec<(String, String, String, &str)> = Vec::new();
    for (signed_as, header_alg) in [
        ("PS256", "RS256"),
        ("RS256", "PS256"),
        ("PS256", "PS384"),
        ("RS256", "RS512"),
        ("PS512", "PS256"),
    ] {
        let client = RawClient::rsa(signed_as, rsa);
        let token = gw.token(Some(&client.jkt), None);
        let proof = client.proof_as(header_alg, "GET", &htu, &token, gw.now());
        cases.push((
            format!("header {header_alg} over a {signed_as} signature"),
            token,
            proof,
            "signature",
        ));
    }
    // rfc9449-checks case 35 with RS256 allowed: a 1024-bit key, signed
    // correctly by hand (ring cannot sign with it).
    let small = keys::rsa1024();
    let jwk = keys::rsa_jwk(small);
    let token = gw.token(Some(&jkt_of(&jwk)), None);
    let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}).to_string();
    let claims =
        json!({"jti": random_id(), "htm": "GET", "htu": htu, "iat": gw.now(), "ath": ath(&token)})
            .to_string();
    let input = format!("{}.{}", b64(header), b64(claims));
    let proof = format!(
        "{input}.{}",
        b64(keys::rs256_by_hand(small, input.as_bytes()))
    );
    cases.push(("RS256 with a 1024-bit key".into(), token, proof, "jwk"));
    for (what, token, proof, why) in cases {
        let before = (up.count(), up.arrived());
        let ans = send(&gw, Via::H1, &Req::get(path).dpop(&token, &proof))
            .await
            .unwrap();
        let p = problems(&ans, &Expect::idp().why(why), ALL_ALGS_CHALLENGE, false);
        assert!(p.is_empty(), "{what}: {p:?}");
        assert_eq!((up.count(), up.arrived()), before, "{what}: forwarded");
    }
    // Control: the hand-made RS256 signer is right (2048-bit key accepted).
    let jwk = keys::rsa_jwk(rsa);
    let token = gw.token(Some(&jkt_of(&jwk)), None);
    let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}).to_string();
    let claims =
        json!({"jti": random_id(), "htm": "GET", "htu": htu, "iat": gw.now(), "ath": ath(&token)})
            .to_string();
    let input = format!("{}.{}", b64(header), b64(claims));
    let proof = format!(
        "{input}.{}",
        b64(keys::rs256_by_hand(rsa, input.as_bytes()))
    );
    let ans = send(&gw, Via::H1, &Req::get(path).dpop(&token, &proof))
        .await
        .unwrap();
    assert_eq!(ans.status, 200, "hand-made RS256, 2048-bit: {}", ans.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alg_outside_the_allow_list_is_refused() {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(
        &config(&up.url(), "algs = [\"PS512\", \"ES384\"]"),
        ClockMode::Manual(system_now()),
    )
    .await;
    let allowed = "ES384 PS512";
    let rsa = keys::rsa2048();
    let path = "/api/narrow";
    for client in [
        RawClient::ec("ES256"),
        RawClient::ed25519("EdDSA"),
        RawClient::ed25519("Ed25519"),
        RawClient::rsa("RS256", rsa),
        RawClient::rsa("PS256", rsa),
    ] {
        let token = gw.token(Some(&client.jkt), None);
        let proof = client.proof("GET", &gw.htu(path), &token, gw.now());
        let before = (up.count(), up.arrived());
        let ans = send(&gw, Via::H1, &Req::get(path).dpop(&token, &proof))
            .await
            .unwrap();
        let p = problems(&ans, &Expect::idp().why("not allowed"), allowed, false);
        assert!(p.is_empty(), "{}: {p:?}", client.alg);
        assert_eq!(
            (up.count(), up.arrived()),
            before,
            "{}: forwarded",
            client.alg
        );
    }
    // The listed ones pass on the same gateway.
    for client in [RawClient::ec("ES384"), RawClient::rsa("PS512", rsa)] {
        let token = gw.token(Some(&client.jkt), None);
        let proof = client.proof("GET", &gw.htu(path), &token, gw.now());
        let ans = send(&gw, Via::H2, &Req::get(path).dpop(&token, &proof))
            .await
            .unwrap();
        assert_eq!(ans.status, 200, "{}: {}", client.alg, ans.text());
        assert_eq!(up.last().header("x-auth-jkt"), Some(client.jkt.as_str()));
    }
    // No credentials: the challenge advertises exactly the allow-list.
    let ans = send(&gw, Via::H1, &Req::get(path)).await.unwrap();
    let p = problems(&ans, &Expect::new(401, None), allowed, false);
    assert!(p.is_empty(), "{p:?}");
}

/// Runs the binary off the async workers.
async fn bin(args: Vec<String>) -> common::BinOutput {
    tokio::task::spawn_blocking(move || run_bin(&args, Duration::from_secs(60)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keygen_and_proof_are_accepted() {
    let up = Upstream::echo().await;
    // The CLI stamps proofs with the system clock.
    let gw = TestGateway::dpop(&config(&up.url(), ALL_ALGS), ClockMode::System).await;
    let dir = tempfile::tempdir().unwrap();
    for alg in ["ES256", "ES384", "EdDSA", "PS256", "RS256"] {
        let file = dir.path().join(format!("{alg}.jwk.json"));
        let file_arg = file.display().to_string();
        let out = bin(vec![
            "keygen".into(),
            "--alg".into(),
            alg.into(),
            "--out".into(),
            file_arg.clone(),
        ])
        .await;
        assert_eq!(out.code(), Some(0), "keygen {alg}: {}", out.stderr);
        let printed = out.stdout.trim().to_owned();
        // The key file is a private JWK; its public members give the same
        // thumbprint by hand.
        let jwk: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(jwk.get("d").is_some(), "keygen wrote no private key");
        assert_eq!(jkt_of(&jwk), printed, "keygen {alg}: printed jkt");
        let out = bin(vec!["thumbprint".into(), "--key".into(), file_arg.clone()]).await;
        assert_eq!(out.stdout.trim(), printed, "thumbprint {alg}");

        let token = gw.token(Some(&printed), None);
        let path = format!("/api/cli/{alg}?q=1");
        let out = bin(vec![
            "proof".into(),
            "--key".into(),
            file_arg,
            "--method".into(),
            "GET".into(),
            "--url".into(),
            gw.url(&path),
            "--token".into(),
            token.clone(),
        ])
        .await;
        assert_eq!(out.code(), Some(0), "proof {alg}: {}", out.stderr);
        let proof = out.stdout.trim().to_owned();
        assert_eq!(proof.matches('.').count(), 2, "{proof}");
        let ans = send(&gw, Via::H2, &Req::get(&path).dpop(&token, &proof))
            .await
            .unwrap();
        assert_eq!(ans.status, 200, "CLI proof {alg}: {}", ans.text());
        let rec = up.last();
        assert_eq!(rec.path_and_query(), path);
        assert_eq!(rec.header("x-auth-jkt"), Some(printed.as_str()));
        // The CLI's proof is single-use like any other.
        let ans = send(&gw, Via::H1, &Req::get(&path).dpop(&token, &proof))
            .await
            .unwrap();
        let p = problems(
            &ans,
            &Expect::idp().why("already used"),
            ALL_ALGS_CHALLENGE,
            false,
        );
        assert!(p.is_empty(), "CLI proof {alg} replayed: {p:?}");
    }
}
