//! The binary's access log for DPoP decisions (`--log-format json`): one
//! line per request with the precise reason (for example the expected and
//! the received `htu`), and never a whole access token, a whole proof, a
//! signature segment of either, or a private key member.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::jose::{segments, Proof};
use common::req::{send_to, Req};
use common::tokens::token;
use common::{fixture_issuer_table, route_with, system_now, GatewayProcess, IDENTITY, TLS_TABLE};
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint;
use serde_json::{json, Value};

common::rejection_self_tests!();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_precise_reasons_and_no_secrets() {
    let up = common::Upstream::echo().await;
    let keys_dir = tempfile::tempdir().unwrap();
    let issuer = SigningKey::generate(Alg::Es256).unwrap();
    let jwks = keys_dir.path().join("as.jwks.json");
    std::fs::write(&jwks, mint::jwks(&issuer).to_string()).unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}{}{}",
        fixture_issuer_table().replace("as.jwks.json", &jwks.display().to_string()),
        route_with(
            "api",
            "/api",
            &up.url(),
            &format!("auth = \"dpop\"\n{IDENTITY}")
        )
    );
    let gw = GatewayProcess::start(&config).await;
    let base = format!("https://{}", gw.authority());
    let htu = |path: &str| format!("{base}{path}");

    let client = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = client.jkt().to_string();
    let now = system_now();
    let at = token(&issuer, Some(&jkt), Some("orders:read"), now);
    assert!(at.starts_with("ey") && at.len() > 200);

    // 1. valid; 2. the same proof again; 3. htu for another path;
    // 4. a token whose signature is wrong; 5. a proof whose jwk holds `d`.
    let valid = Proof::new(&client, "GET", &htu("/api/ok"), Some(&at), now).sign();
    let wrong_htu = Proof::new(&client, "GET", &htu("/api/other"), Some(&at), now).sign();
    let bad_token = format!("{}AAAA", &at[..at.len() - 4]);
    assert_ne!(bad_token, at);
    let for_bad_token =
        Proof::new(&client, "GET", &htu("/api/token"), Some(&bad_token), now).sign();
    let d = client.to_private_jwk()["d"].as_str().unwrap().to_owned();
    let private_jwk = Proof::new(&client, "GET", &htu("/api/private"), Some(&at), now)
        .jwk_member("d", json!(d))
        .sign();
    let requests = [
        ("/api/ok", at.as_str(), valid.as_str(), 200),
        ("/api/ok", at.as_str(), valid.as_str(), 401),
        ("/api/x", at.as_str(), wrong_htu.as_str(), 401),
        (
            "/api/token",
            bad_token.as_str(),
            for_bad_token.as_str(),
            401,
        ),
        ("/api/private", at.as_str(), private_jwk.as_str(), 401),
    ];
    let ca = gw.pki.ca_pem.clone();
    for (path, token, proof, status) in requests {
        let ans = send_to(&ca, &base, &Req::get(path).dpop(token, proof))
            .await
            .unwrap();
        assert_eq!(ans.status, status, "{path}: {}", ans.text());
    }

    // Wait for the five access-log lines.
    let access = gw
        .wait_access_lines(requests.len(), Duration::from_secs(10))
        .await;
    let text = gw.stderr_text();
    assert_eq!(access.len(), requests.len(), "access lines:\n{text}");
    for line in gw.stderr_lines() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    let field = |i: usize, name: &str| access[i][name].clone();
    let error = |i: usize| field(i, "error").as_str().unwrap_or("").to_owned();

    // 1. accepted: who, and no error.
    assert_eq!(field(0, "status"), 200, "{}", access[0]);
    assert_eq!(field(0, "path"), "/api/ok");
    assert_eq!(field(0, "route"), "api");
    assert_eq!(field(0, "jkt"), jkt.as_str(), "{}", access[0]);
    assert!(
        matches!(access[0].get("error"), None | Some(Value::Null)),
        "{}",
        access[0]
    );
    // 2. replay.
    assert_eq!(field(1, "status"), 401);
    assert!(error(1).contains("replayed"), "{}", access[1]);
    // 3. htu: both the expected and the received URI.
    assert_eq!(field(2, "status"), 401);
    assert!(error(2).contains("htu"), "{}", access[2]);
    assert!(
        error(2).contains(&htu("/api/x")),
        "expected htu missing: {}",
        access[2]
    );
    assert!(
        error(2).contains(&htu("/api/other")),
        "received htu missing: {}",
        access[2]
    );
    // 4. token signature.
    assert_eq!(field(3, "status"), 401);
    assert!(
        error(3).contains("token") && error(3).contains("signature"),
        "{}",
        access[3]
    );
    // 5. private key in the jwk.
    assert_eq!(field(4, "status"), 401);
    assert!(error(4).contains("private"), "{}", access[4]);

    // Nothing secret or replayable, anywhere in stderr.
    let issuer_d = issuer.to_private_jwk()["d"].as_str().unwrap().to_owned();
    let mut secrets: Vec<(String, String)> = vec![
        ("the access token".into(), at.clone()),
        ("the bad access token".into(), bad_token.clone()),
        ("the token's signature".into(), segments(&at).2),
        ("the proof key's d".into(), d.clone()),
        ("the issuer key's d".into(), issuer_d),
    ];
    for (name, proof) in [
        ("valid proof", &valid),
        ("htu proof", &wrong_htu),
        ("bad-token proof", &for_bad_token),
        ("private-jwk proof", &private_jwk),
    ] {
        secrets.push((format!("the {name}"), proof.clone()));
        secrets.push((format!("the {name}'s signature"), segments(proof).2));
    }
    for (name, secret) in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the log contains {name}:\n{text}"
        );
    }
}
