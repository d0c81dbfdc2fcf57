//! Hostile clients against a real gateway, bounded in time (a few seconds
//! each on two cores):
//!
//! - 10,000 random-garbage proofs (mutations of a valid one, random compact
//!   JWS shapes, random text) never get a 2xx or a 5xx and never reach the
//!   upstream;
//! - proofs with valid signatures and fresh `jti`s but a token that is not
//!   (yet) valid never enter the replay store: the very same proofs are
//!   accepted once the token becomes valid;
//! - 2,000 idle connections do not stop normal requests;
//! - the process's resident memory stays under a stated bound throughout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::jose::Proof;
use common::req::{send, Req, Via};
use common::tokens::{sign_token, token_claims, token_header};
use common::{keys, route_with, system_now, ClockMode, TestGateway, Upstream};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::json;

const PATH: &str = "/api/x";
/// Resident memory of this whole test process (gateway, upstream and
/// clients) must stay under this.
const RSS_BOUND_KIB: u64 = 512 * 1024;

async fn start() -> TestGateway {
    let up = Upstream::echo().await;
    TestGateway::builder(&common::dpop_config(&route_with(
        "api",
        "/api",
        &up.url(),
        "auth = \"dpop\"",
    )))
    .clock(ClockMode::Manual(system_now()))
    .upstream(up)
    .start()
    .await
}

/// A deterministic stream from `seed` (reproducible from the seed printed
/// on failure): proptest's seeded ChaCha generator.
fn seeded(seed: u64) -> TestRng {
    TestRng::from_seed(RngAlgorithm::ChaCha, &seed.to_le_bytes().repeat(4))
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A garbage proof: header-safe text (visible ASCII), of one of three kinds.
fn garbage(rng: &mut TestRng, valid: &str) -> String {
    let visible = |rng: &mut TestRng| (b'!' + rng.random_range(0..94) as u8) as char;
    match rng.random_range(0..3) {
        // A valid proof with 1 to 8 bytes changed, removed or inserted.
        0 => {
            let mut bytes = valid.as_bytes().to_vec();
            for _ in 0..1 + rng.random_range(0..8) {
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[at] = visible(rng) as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, B64URL[rng.random_range(0..64)]),
                }
            }
            String::from_utf8(bytes).unwrap()
        }
        // Three base64url segments of random lengths.
        1 => (0..3)
            .map(|_| {
                (0..rng.random_range(0..200))
                    .map(|_| B64URL[rng.random_range(0..64)] as char)
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("."),
        // Random visible text.
        _ => (0..1 + rng.random_range(0..300))
            .map(|_| visible(rng))
            .collect(),
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_garbage_proofs_never_pass_nor_fail_the_gateway() {
    let gw = start().await;
    let key = keys::es256();
    let token = gw.token(Some(key.jkt().as_str()), None);
    let valid = gw.proof(&key, "GET", PATH, &token);
    // ADVERSARIAL_SEED reproduces a run (the seed is in every failure).
    let seed = std::env::var("ADVERSARIAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(system_now() as u64 | 1);
    let mut rng = seeded(seed);
    // A mutation that happens to restore the valid proof is not garbage.
    let proofs: Vec<String> = std::iter::repeat_with(|| garbage(&mut rng, &valid))
        .filter(|p| *p != valid)
        .take(10_000)
        .collect();
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    let mut peak = rss_kib();
    // 16 streams at a time on one HTTP/2 connection.
    let client = gw.h2();
    for chunk in proofs.chunks(16) {
        let mut tasks = Vec::with_capacity(chunk.len());
        for proof in chunk {
            let req = Req::get(PATH).dpop(&token, proof).to_request(&gw.base());
            let (client, proof) = (client.clone(), proof.clone());
            tasks.push(tokio::spawn(async move { (client.send(req).await, proof) }));
        }
        for task in tasks {
            let (ans, proof) = task.await.unwrap();
            let ans = ans.unwrap_or_else(|e| panic!("seed {seed}: {proof:?}: {e}"));
            let s = ans.status.as_u16();
            assert!(
                (400..500).contains(&s),
                "seed {seed}: {proof:?} got {s} {}",
                ans.text()
            );
            *statuses.entry(s).or_insert(0u32) += 1;
        }
        peak = peak.max(rss_kib());
    }
    assert_eq!(gw.upstream().arrived(), 0);
    assert!(peak < RSS_BOUND_KIB, "RSS {peak} KiB");
    eprintln!(
        "10000 garbage proofs in {:?}: {statuses:?}, peak RSS {peak} KiB",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_tokens_never_grow_the_replay_store() {
    let gw = start().await;
    let key = keys::es256();
    let jkt = key.jkt().to_string();
    // Not valid yet: nbf 45 s ahead, past the 30 s leeway.
    let mut claims = token_claims(Some(&jkt), gw.now());
    claims.insert("nbf".into(), json!(gw.now() + 45));
    let token = sign_token(&gw.issuer, &token_header(&gw.issuer), &claims);
    let proofs: Vec<String> = (0..300)
        .map(|_| Proof::new(&key, "GET", &gw.htu(PATH), Some(&token), gw.now()).sign())
        .collect();
    for p in &proofs {
        let ans = send(&gw, Via::H2, &Req::get(PATH).dpop(&token, p))
            .await
            .unwrap();
        ans.assert_gateway_error(401, "invalid_token");
    }
    assert_eq!(gw.upstream().arrived(), 0);
    // 20 s later the token is valid and the proofs still fresh: had any been
    // recorded, it would now be refused as a replay.
    gw.advance(20);
    for p in &proofs {
        let ans = send(&gw, Via::H2, &Req::get(PATH).dpop(&token, p))
            .await
            .unwrap();
        assert_eq!(ans.status, 200, "{}", ans.text());
    }
    assert_eq!(gw.upstream().count(), proofs.len());
    // And now each is recorded: a second use is a replay.
    let ans = send(&gw, Via::H2, &Req::get(PATH).dpop(&token, &proofs[0]))
        .await
        .unwrap();
    ans.assert_gateway_error(401, "invalid_dpop_proof");
}

/// Raises this process's soft open-file limit to its hard limit (prlimit(1)).
fn raise_nofile(want: u64) {
    let pid = std::process::id().to_string();
    let out = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid,
            "--nofile",
            "--raw",
            "--noheadings",
            "--output",
            "HARD",
        ])
        .output()
        .expect("prlimit (util-linux)");
    let hard: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(want);
    let soft = want.min(hard);
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={soft}:{hard}")])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(soft >= want, "hard open-file limit {hard} is below {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_stop_requests() {
    // Each idle connection is two descriptors here (client and gateway side).
    raise_nofile(8192);
    let gw = start().await;
    let before = rss_kib();
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(tokio::net::TcpStream::connect(gw.addr).await.unwrap());
    }
    let key = keys::es256();
    let token = gw.token(Some(key.jkt().as_str()), None);
    let started = Instant::now();
    for via in [Via::H1, Via::H2, Via::Raw] {
        let proof = gw.proof(&key, "GET", PATH, &token);
        let ans = send(&gw, via, &Req::get(PATH).dpop(&token, &proof))
            .await
            .unwrap();
        assert_eq!(ans.status, 200, "{via:?}: {}", ans.text());
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let with_idle = rss_kib();
    assert!(with_idle < RSS_BOUND_KIB, "RSS {with_idle} KiB");
    eprintln!(
        "2000 idle connections: RSS {before} -> {with_idle} KiB, requests served in {:?}",
        started.elapsed()
    );
    drop(idle);
}
