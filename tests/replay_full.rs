//! A full memory replay store refuses new proofs with 503 and `Retry-After`
//! (fail closed), counts it, and never drops a live entry early: the proofs
//! it holds stay replays, and room comes back only when entries expire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::jose::{jkt_of, Proof};
use common::prometheus::Samples;
use common::req::{send, Req, Via};
use common::{route_with, system_now, ClockMode, TestGateway, Upstream};
use dpop_gateway::jose::{Alg, SigningKey};

common::rejection_self_tests!();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_store_answers_503_and_keeps_its_entries() {
    let up = Upstream::echo().await;
    let rest = format!(
        "[dpop]\nmax_age_secs = 60\nmax_skew_secs = 10\n[replay]\nmax_entries = 2\n{}",
        route_with("api", "/api", &up.url(), "auth = \"dpop\"")
    );
    let gw = TestGateway::dpop(&rest, ClockMode::Manual(system_now())).await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(&jkt_of(&key.public_jwk())), None);
    let proof = |gw: &TestGateway| {
        Proof::new(&key, "GET", &gw.htu("/api/x"), Some(&token), gw.now()).sign()
    };

    let first = proof(&gw);
    for p in [first.clone(), proof(&gw)] {
        let ans = send(&gw, Via::H1, &Req::get("/api/x").dpop(&token, &p))
            .await
            .unwrap();
        assert_eq!(ans.status, 200);
    }
    assert_eq!(up.count(), 2);

    // Full: a third valid proof is refused, fail closed, and not forwarded.
    let ans = send(&gw, Via::H1, &Req::get("/api/x").dpop(&token, &proof(&gw)))
        .await
        .unwrap();
    assert_eq!(ans.status, 503, "{}", ans.text());
    assert_eq!(ans.header("retry-after"), Some("1"));
    assert_eq!(ans.json()["error"], "temporarily_unavailable");
    assert!(ans.header("www-authenticate").is_none());
    assert_eq!(up.count(), 2);

    // The held entries were not evicted: the first proof is still a replay.
    let ans = send(&gw, Via::H2, &Req::get("/api/x").dpop(&token, &first))
        .await
        .unwrap();
    assert_eq!(ans.status, 401);
    assert_eq!(up.count(), 2);

    // Once the window (70 s, in buckets) has passed, there is room again.
    gw.advance(200);
    let ans = send(&gw, Via::H1, &Req::get("/api/x").dpop(&token, &proof(&gw)))
        .await
        .unwrap();
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(up.count(), 3);
    // Counted once, under its reason.
    let samples = Samples::parse(&dpop_gateway::metrics::metrics().encode());
    let full = [("route", "api"), ("reason", "replay_full")];
    assert_eq!(samples.get("dpop_gateway_rejections_total", &full), 1.0);
}
