//! Replay protection under concurrency (RFC 9449 §11.1; rfc9449-checks D3
//! and case 64): 64 requests carrying the same proof, released together
//! over pre-opened HTTP/1.1 connections and one multiplexed HTTP/2
//! connection, yield exactly one 200; the other 63 are 401
//! `invalid_dpop_proof` replays and the upstream records exactly one request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::check::{problems, Expect};
use common::jose::{signature_of, with_signature, Proof};
use common::keys;
use common::req::Req;
use common::{
    empty, route_with, system_now, Answer, ClockMode, TestClient, TestGateway, Upstream,
    DEFAULT_ALGS,
};
use dpop_gateway::jose::{Alg, SigningKey};
use http::Request;
use serde_json::json;
use tokio::sync::Barrier;

common::rejection_self_tests!();

const N: usize = 64;
const PATH: &str = "/api/race";

async fn start() -> (Upstream, TestGateway) {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(
        &route_with("api", "/api", &up.url(), "auth = \"dpop\""),
        ClockMode::Manual(system_now()),
    )
    .await;
    (up, gw)
}

/// Opens `n` pooled connections on `client` with requests that never reach
/// the upstream (no credentials: 401).
async fn warm(gw: &TestGateway, client: &TestClient, n: usize) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = client.clone();
        let req = Request::get(gw.url(PATH)).body(empty()).unwrap();
        tasks.push(tokio::spawn(async move {
            client.send(req).await.unwrap().status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
}

/// Sends the requests all at once (half over HTTP/1.1, half over HTTP/2).
async fn race(gw: &TestGateway, reqs: Vec<Req>) -> Vec<Answer> {
    let (h1, h2) = (gw.h1(), gw.h2());
    warm(gw, &h1, reqs.len() / 2).await;
    warm(gw, &h2, 1).await;
    let barrier = Arc::new(Barrier::new(reqs.len()));
    let mut tasks = Vec::new();
    for (i, req) in reqs.iter().enumerate() {
        let client = if i % 2 == 0 { h1.clone() } else { h2.clone() };
        let request = req.to_request(&gw.base());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.send(request).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("transport error: {e}")),
        );
    }
    out
}

/// Exactly one 200 and `n - 1` replay rejections; the upstream got one.
fn assert_one_winner(answers: &[Answer], up: &Upstream, before: (usize, usize), what: &str) {
    let winners = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(
        winners,
        1,
        "{what}: {winners} of {} accepted",
        answers.len()
    );
    for a in answers.iter().filter(|a| a.status != 200) {
        let p = problems(a, &Expect::idp().why("already used"), DEFAULT_ALGS, false);
        assert!(p.is_empty(), "{what}: {p:?}");
    }
    assert_eq!(up.count(), before.0 + 1, "{what}: upstream records");
    assert_eq!(up.arrived(), before.1 + 1, "{what}: upstream request heads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_proof_64_times_in_parallel_exactly_one_wins() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(key.jkt().as_str()), None);
    for round in 0..3 {
        let proof = Proof::new(&key, "GET", &gw.htu(PATH), Some(&token), gw.now()).sign();
        let reqs = vec![Req::get(PATH).dpop(&token, &proof); N];
        let before = (up.count(), up.arrived());
        let answers = race(&gw, reqs).await;
        assert_one_winner(&answers, &up, before, &format!("round {round}"));
    }
}

/// 64 DIFFERENT byte strings for one `(jkt, jti)`: re-signed with other
/// `iat`s and their ECDSA-malleated twins. Still exactly one winner: the
/// replay key is the claims, not the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_jti_in_64_different_encodings_exactly_one_wins() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(key.jkt().as_str()), None);
    let base = Proof::new(&key, "GET", &gw.htu(PATH), Some(&token), gw.now());
    let mut proofs = Vec::new();
    for i in 0..(N / 2) as i64 {
        let p = base.clone().claim("iat", json!(gw.now() - i)).sign();
        let twin = with_signature(&p, &keys::malleate_es256(&signature_of(&p)));
        proofs.push(p);
        proofs.push(twin);
    }
    let distinct: std::collections::HashSet<&String> = proofs.iter().collect();
    assert_eq!(distinct.len(), N);
    let reqs = proofs
        .iter()
        .map(|p| Req::get(PATH).dpop(&token, p))
        .collect();
    let before = (up.count(), up.arrived());
    let answers = race(&gw, reqs).await;
    assert_one_winner(&answers, &up, before, "one jti, 64 encodings");
}

/// Control: 64 distinct valid proofs in parallel are all accepted, so the
/// 63 refusals above are replays, not load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_64_distinct_proofs_in_parallel_all_win() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(key.jkt().as_str()), None);
    let reqs: Vec<Req> = (0..N)
        .map(|_| {
            let p = Proof::new(&key, "GET", &gw.htu(PATH), Some(&token), gw.now()).sign();
            Req::get(PATH).dpop(&token, &p)
        })
        .collect();
    let before = up.count();
    let answers = race(&gw, reqs).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.text());
    }
    assert_eq!(up.count(), before + N);
}
