//! Hostile clients against a real gateway, bounded in time (a few seconds
//! each on two cores; the key-set flood waits out one 10 s refetch
//! interval):
//!
//! - 10,000 random-garbage proofs (mutations of a valid one, random compact
//!   JWS shapes, random text) never get a 2xx or a 5xx and never reach the
//!   upstream;
//! - proofs with valid signatures and fresh `jti`s but a token that is not
//!   (yet) valid never enter the replay store: the very same proofs are
//!   accepted once the token becomes valid;
//! - 2,000 idle connections do not stop normal requests;
//! - the process's resident memory stays under a stated bound throughout;
//! - a flood of access tokens naming unknown `kid`s (and known `kid`s with the
//!   wrong key, and no `kid`) against an issuer whose keys come from a real
//!   HTTPS `jwks_url` makes at most the rate-limited key-set fetches, and a
//!   key rotated in during the flood is still picked up within one interval;
//! - RSA-8192 proofs in a loop cost the gateway process a bounded CPU time
//!   per request, accepted, replayed or badly signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::asserts::{assert_invalid_proof, assert_invalid_token, assert_ok, assert_replayed};
use common::auth_server::{AuthServer, JWKS_PATH};
use common::jose::{ath, b64, jkt_of, random_id, signature_of, Proof};
use common::prometheus::Samples;
use common::req::{send, Req, Via};
use common::tokens::{self, sign_token, token_claims, token_header};
use common::{
    admin_config, fixture_issuer_table, issuer_table, keys, route_with, system_now, Alpn, Answer,
    ClockMode, GatewayProcess, TestClient, TestGateway, Upstream, TLS_TABLE,
};
use dpop_gateway::jose::SigningKey;
use dpop_gateway::token::remote::MIN_REFETCH_INTERVAL;
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

// ---------------------------------------------------------------------------
// Unknown-kid flood against a jwks_url issuer
// ---------------------------------------------------------------------------

/// Requests in the flood, and how many are in flight at once.
const FLOOD: usize = 3000;
const FLOOD_IN_FLIGHT: usize = 48;
/// Slack for the network and scheduling between the gateway starting a fetch
/// and the key server seeing it, when comparing the gaps between fetches
/// with [`MIN_REFETCH_INTERVAL`].
const ARRIVAL_SLACK: Duration = Duration::from_secs(1);
/// How late past one interval a rotated key may be picked up on a busy
/// machine (the first miss after the interval has to be scheduled, and its
/// fetch to arrive).
const ROTATION_SLACK: Duration = Duration::from_secs(3);

/// The three kinds of token in the flood, all signed by a key the issuer
/// never published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Forged {
    /// A fresh random `kid` (a key-set miss: may trigger a refetch).
    UnknownKid,
    /// The `kid` of the issuer's real key (a bad signature, no refetch).
    RealKidWrongKey,
    /// No `kid` (every key tried, a bad signature, no refetch).
    NoKid,
}

/// A token for `iss` bound to `client`, signed by `signer` with `kid`.
fn token_with_kid(iss: &str, signer: &SigningKey, kid: Option<&str>, client: &str) -> String {
    let mut header = token_header(signer);
    match kid {
        Some(k) => header.insert("kid".into(), json!(k)),
        None => header.remove("kid"),
    };
    let mut claims = token_claims(Some(client), system_now());
    claims.insert("iss".into(), json!(iss));
    sign_token(signer, &header, &claims)
}

/// A DPoP request on `path` with `token` and a fresh proof by `client`.
fn forged_request(gw: &TestGateway, path: &str, token: &str, client: &SigningKey) -> Req {
    Req::get(path).dpop(token, &gw.proof(client, "GET", path, token))
}

/// Sends a [`forged_request`] on `http`; panics on a transport error.
async fn send_forged(
    gw: &TestGateway,
    http: &TestClient,
    path: &str,
    token: &str,
    client: &SigningKey,
) -> Answer {
    let req = forged_request(gw, path, token, client).to_request(&gw.base());
    http.send(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {}", common::error_chain(&*e)))
}

/// The gateway's `/metrics`, from its admin listener.
async fn scrape(gw: &TestGateway) -> Samples {
    let ans = TestClient::plain().get(&gw.admin_url("/metrics")).await;
    assert_eq!(ans.status, 200);
    Samples::parse(&ans.text())
}

/// What the limits say for a `jwks_url` issuer (`src/token/remote.rs`): the
/// key set is loaded at start and every `jwks_refresh_secs` (here an hour,
/// so never during the test), and a token naming an unknown `kid` triggers
/// a refetch at most once per [`MIN_REFETCH_INTERVAL`] (10 s), single
/// flight. A token with a known `kid` or none never triggers one.
///
/// So a flood of 3,000 forged tokens (two thirds unknown `kid`s, fresh each
/// time; the rest the real `kid` with the wrong key, or no `kid`) over a few
/// seconds makes at most ceil(duration / interval) + 1 fetches (one while
/// the flood is shorter than an interval): every forged token is 401
/// `invalid_token`, never 2xx or 5xx, nothing reaches the upstream, and
/// `dpop_gateway_key_fetches_total` moves by exactly the fetches the key
/// server counted. A key published at the
/// start of the flood (right after the flood's first fetch) is accepted
/// with the next fetch the limit allows, one interval later (plus
/// [`ROTATION_SLACK`] for a busy machine): the limit delays a rotation, it
/// does not lock it out. Fetches reach the server at least one interval
/// apart throughout (less [`ARRIVAL_SLACK`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_fetches_keys_only_as_the_rate_limit_allows() {
    let as_ = AuthServer::start().await;
    let (k1, k2) = (keys::es256(), keys::es256());
    as_.publish(keys::jwks(&[&k1]));
    let iss = as_.origin();
    let up = Upstream::echo().await;
    let source = format!(
        "jwks_url = \"{}\"\njwks_refresh_secs = 3600",
        as_.url(JWKS_PATH)
    );
    let text = issuer_table(&iss, &as_.ca_file(), &source)
        + &route_with("api", "/api", &up.url(), "auth = \"dpop\"");
    let gw = TestGateway::builder(&admin_config(&text))
        .upstream(up)
        .start()
        .await;
    assert!(gw.wait_readyz(200, Duration::from_secs(5)).await);
    assert_eq!(as_.hits(JWKS_PATH), 1, "one fetch at start");
    let fetches = |s: &Samples, result: &str| {
        s.get(
            "dpop_gateway_key_fetches_total",
            &[("issuer", iss.as_str()), ("result", result)],
        )
    };
    let before = scrape(&gw).await;
    assert_eq!(fetches(&before, "ok"), 1.0);

    // The flood, built beforehand: a stranger key signs every token.
    let client = keys::es256();
    let jkt = client.jkt().to_string();
    let stranger = keys::es256();
    let real_kid = keys::kid(&k1);
    let flood: Vec<(Forged, Req)> = (0..FLOOD)
        .map(|i| {
            let (kind, kid) = match i % 6 {
                0..=3 => (Forged::UnknownKid, Some(random_id())),
                4 => (Forged::RealKidWrongKey, Some(real_kid.clone())),
                _ => (Forged::NoKid, None),
            };
            let token = token_with_kid(&iss, &stranger, kid.as_deref(), &jkt);
            let path = format!("/api/flood/{i}");
            (kind, forged_request(&gw, &path, &token, &client))
        })
        .collect();
    let clients: Vec<TestClient> = (0..4).map(|_| gw.h2()).collect();
    let base = gw.base();
    let started = Instant::now();
    let flood_task = tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let mut answers = Vec::with_capacity(FLOOD);
        for (i, (kind, req)) in flood.into_iter().enumerate() {
            if tasks.len() >= FLOOD_IN_FLIGHT {
                answers.push(tasks.join_next().await.unwrap().unwrap());
            }
            let client = clients[i % clients.len()].clone();
            let req = req.to_request(&base);
            tasks.spawn(async move { (kind, client.send(req).await.map_err(|e| e.to_string())) });
        }
        while let Some(done) = tasks.join_next().await {
            answers.push(done.unwrap());
        }
        (answers, Instant::now())
    });

    // Rotation during the flood: once the flood's first miss has fetched the
    // key set, the server publishes k2; a token signed by k2 is polled for
    // (each poll with two more unknown kids) until it is accepted.
    assert!(
        as_.wait_served(JWKS_PATH, 2, Duration::from_secs(10)).await,
        "the flood's unknown kids never triggered a refetch"
    );
    as_.publish(keys::jwks(&[&k1, &k2]));
    let published = Instant::now();
    let poller = gw.h2();
    let mut polls = 0;
    let accepted = loop {
        for _ in 0..2 {
            let t = token_with_kid(&iss, &stranger, Some(&random_id()), &jkt);
            let ans = send_forged(&gw, &poller, "/api/trickle", &t, &client).await;
            assert_invalid_token(&ans);
        }
        let t = token_with_kid(&iss, &k2, Some(&keys::kid(&k2)), &jkt);
        let ans = send_forged(&gw, &poller, "/api/rotated", &t, &client).await;
        polls += 1;
        if ans.status == 200 {
            break Instant::now();
        }
        assert_invalid_token(&ans);
        assert!(
            published.elapsed() < MIN_REFETCH_INTERVAL + 2 * ROTATION_SLACK,
            "the rotated key is still refused {:?} after it was published",
            published.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let (answers, flood_end) = flood_task.await.unwrap();
    let flood_took = flood_end - started;
    let mut tally = std::collections::BTreeMap::new();
    for (kind, ans) in &answers {
        let ans = ans
            .as_ref()
            .unwrap_or_else(|e| panic!("{kind:?}: transport: {e}"));
        assert_invalid_token(ans);
        *tally.entry(*kind).or_insert(0usize) += 1;
    }
    assert_eq!(answers.len(), FLOOD);
    // Only the rotated key's token reached the upstream.
    assert_eq!(gw.upstream().arrived(), 1);
    assert_eq!(gw.upstream().last().path(), "/api/rotated");

    // The fetches, as the key server saw them: the start, then at most one
    // per interval, whatever the flood did.
    let times = as_.hit_times(JWKS_PATH);
    let on_miss = &times[1..];
    for pair in on_miss.windows(2) {
        assert!(
            pair[1] - pair[0] + ARRIVAL_SLACK >= MIN_REFETCH_INTERVAL,
            "two refetches {:?} apart",
            pair[1] - pair[0]
        );
    }
    let during_flood = on_miss
        .iter()
        .filter(|t| **t >= started && **t <= flood_end)
        .count();
    let allowed = flood_took.as_secs_f64() / MIN_REFETCH_INTERVAL.as_secs_f64();
    let allowed = allowed.ceil() as usize + 1;
    assert!(
        during_flood <= allowed.min(5),
        "{during_flood} fetches during a {flood_took:?} flood (at most {allowed})"
    );
    // The rotated key came with the next allowed fetch, within one interval
    // of publishing, and the first poll after that fetch was accepted.
    let rotation_fetch = *on_miss
        .iter()
        .find(|t| **t > published)
        .expect("no fetch after the rotation");
    assert!(rotation_fetch - published <= MIN_REFETCH_INTERVAL + ROTATION_SLACK);
    assert!(accepted - rotation_fetch < ROTATION_SLACK);
    // And it stays known: no further fetch for it.
    let hits = as_.hits(JWKS_PATH);
    let t = token_with_kid(&iss, &k2, Some(&keys::kid(&k2)), &jkt);
    let ans = send_forged(&gw, &poller, "/api/rotated", &t, &client).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(as_.hits(JWKS_PATH), hits);
    assert_eq!(gw.upstream().count(), 2);

    // The metric moved by exactly the fetches the server counted (all 200).
    let after = scrape(&gw).await;
    assert_eq!(as_.served(JWKS_PATH), hits);
    assert_eq!(
        fetches(&after, "ok") - fetches(&before, "ok"),
        (hits - 1) as f64
    );
    assert_eq!(fetches(&after, "error"), 0.0);
    eprintln!(
        "unknown-kid flood: {FLOOD} requests {tally:?} in {flood_took:?}, {during_flood} key-set \
         fetch(es) during it (allowed {allowed}); {} fetches in all (start included) over {:?}; \
         rotated key fetched {:?} and accepted {:?} after publishing ({polls} polls)",
        hits,
        times[hits - 1] - times[0],
        rotation_fetch - published,
        accepted - published
    );
}

// ---------------------------------------------------------------------------
// RSA-8192 proofs in a loop
// ---------------------------------------------------------------------------

/// Extra config of the RSA-8192 gateway: the default `max_rsa_modulus_bits`
/// (4096) refuses 8192-bit proof keys before any signature work
/// (`tests/limits.rs`); this loop measures what accepting them costs.
const RSA8192_LIMITS: &str = "\n[limits]\nmax_rsa_modulus_bits = 8192\n";
/// How much more gateway CPU time (user + system, all threads of the
/// process) a request with an RSA-8192 proof may cost than one with an
/// ES256 proof, accepted, replayed or badly signed: the one bound of the
/// loop. One RSA-8192 public-key operation is about 0.3–1 ms (more in a
/// busy debug build); the bound is several times that, so it catches a
/// pathological cost (a key parsed or checked again and again, a second
/// verification, a retry loop), not noise. It is relative to the ES256
/// baseline because the fixed work of a request (TLS records, parsing, the
/// cached token, proxying, the access log) is itself a few milliseconds in
/// a debug build.
const RSA8192_EXTRA_CPU_PER_REQUEST: Duration = Duration::from_millis(5);
/// Requests in each of the three loops.
const RSA8192_LOOP: usize = 200;

/// A DPoP proof by [`keys::rsa8192`] (PS256) for `GET htu`, bound to
/// `token`, with a fresh `jti`; its signature replaced by `signature` if
/// given (one made over other claims: well-formed, wrong).
fn rsa8192_proof(htu: &str, token: &str, iat: i64, signature: Option<&[u8]>) -> String {
    let header = json!({
        "typ": "dpop+jwt",
        "alg": "PS256",
        "jwk": keys::rsa_jwk(keys::rsa8192()),
    });
    let claims = json!({
        "jti": random_id(),
        "htm": "GET",
        "htu": htu,
        "iat": iat,
        "ath": ath(token),
    });
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = match signature {
        Some(s) => s.to_vec(),
        None => keys::rsa8192_ps256(input.as_bytes()),
    };
    format!("{input}.{}", b64(signature))
}

/// Signs `count` RSA-8192 proofs for `htu(i)` on two threads (the CRT
/// private operation is a few milliseconds each).
fn rsa8192_proofs(count: usize, htu: impl Fn(usize) -> String + Sync, token: &str) -> Vec<String> {
    let now = system_now();
    let half = count.div_ceil(2);
    std::thread::scope(|s| {
        let htu = &htu;
        let halves: Vec<_> = [0..half, half..count]
            .into_iter()
            .map(|range| {
                s.spawn(move || {
                    range
                        .map(|i| rsa8192_proof(&htu(i), token, now, None))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Sends `proofs[i]` with `token` to `path(i)`, one after the other, each
/// answer checked by `check`; returns the gateway process's CPU time over
/// them.
async fn cpu_of(
    gw: &GatewayProcess,
    http: &TestClient,
    token: &str,
    proofs: &[String],
    path: impl Fn(usize) -> String,
    check: fn(&Answer),
) -> Duration {
    let base = format!("https://{}", gw.authority());
    let before = gw.cpu_time();
    for (i, proof) in proofs.iter().enumerate() {
        let req = Req::get(&path(i)).dpop(token, proof).to_request(&base);
        let ans = http
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", path(i), common::error_chain(&*e)));
        check(&ans);
    }
    gw.cpu_time() - before
}

/// What the limits say for RSA proof keys: a modulus of at most 8192 bits
/// (RFC 7518 §3.5 sets the floor at 2048; `src/jose/jwk.rs` the ceiling), a
/// proof of at most 16 KiB (`MAX_COMPACT_LEN`; an RSA-8192 proof is about
/// 3.4 KiB), and one public-key verification per proof, done once. So a
/// client sending RSA-8192 proofs in a loop costs the gateway one
/// RSA-8192 verification plus the fixed work of a request, per request: at
/// most [`RSA8192_EXTRA_CPU_PER_REQUEST`] more CPU than an ES256 proof,
/// measured on the gateway process (`/proc/PID/stat`) over 200 requests of
/// each kind, sent in turns of 20 of each:
///
/// - 200 fresh ES256 proofs by another client, each 200: the baseline;
/// - 200 fresh proofs bound to one token (`cnf.jkt` = the RSA key's
///   thumbprint): each 200, each reaching the upstream exactly once;
/// - the same 200 proofs again: each refused as a replay, none reaching
///   the upstream;
/// - 200 fresh proofs whose signature is another proof's: each 401
///   `invalid_dpop_proof`, none reaching the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa8192_proofs_in_a_loop_cost_what_the_limits_say() {
    let up = Upstream::echo().await;
    let issuer = keys::es256();
    let jwks = keys::jwks(&[&issuer]).to_string();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}{}{}{RSA8192_LIMITS}",
        fixture_issuer_table(),
        route_with("api", "/api", &up.url(), "auth = \"dpop\"")
    );
    let gw = GatewayProcess::start_with(&config, |dir, text| {
        std::fs::write(dir.join("as.jwks.json"), &jwks).unwrap();
        let path = dir.join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        path
    })
    .await;
    let base = format!("https://{}", gw.authority());
    let jkt = jkt_of(&keys::rsa_jwk(keys::rsa8192()));
    let token = tokens::token(&issuer, Some(&jkt), None, system_now());
    let path: fn(usize) -> String = |i| format!("/api/rsa/{i}");

    let signing = Instant::now();
    // One more than the loop: the last one caches the token's verdict,
    // outside the measurement.
    let proofs = rsa8192_proofs(RSA8192_LOOP + 1, |i| format!("{base}{}", path(i)), &token);
    let bad_path: fn(usize) -> String = |i| format!("/api/bad/{i}");
    let bad: Vec<String> = (0..RSA8192_LOOP)
        .map(|i| {
            let other = signature_of(&proofs[(i + 1) % RSA8192_LOOP]);
            let htu = format!("{base}{}", bad_path(i));
            rsa8192_proof(&htu, &token, system_now(), Some(&other))
        })
        .collect();
    let signing = signing.elapsed();

    // The baseline: ES256 proofs by another client, with its own token.
    let client = keys::es256();
    let es_token = tokens::token(&issuer, Some(client.jkt().as_str()), None, system_now());
    let es_path: fn(usize) -> String = |i| format!("/api/es/{i}");
    let es_proofs: Vec<String> = (0..=RSA8192_LOOP)
        .map(|i| {
            let htu = format!("{base}{}", es_path(i));
            Proof::new(&client, "GET", &htu, Some(&es_token), system_now()).sign()
        })
        .collect();

    // Warm-up, not measured: the connection, both tokens' verdicts cached.
    let http = gw.client(Alpn::Http2);
    let last = |path: fn(usize) -> String| move |_| path(RSA8192_LOOP);
    let warm = &es_proofs[RSA8192_LOOP..];
    cpu_of(&gw, &http, &es_token, warm, last(es_path), assert_ok).await;
    let warm = &proofs[RSA8192_LOOP..];
    cpu_of(&gw, &http, &token, warm, last(path), assert_ok).await;

    // The four kinds in turns of 20, so that a change in the machine's load
    // falls on all of them alike: ES256, RSA-8192, the same RSA-8192 proofs
    // again, RSA-8192 with the wrong signature.
    let mut cpu = [Duration::ZERO; 4];
    for start in (0..RSA8192_LOOP).step_by(20) {
        let turn = start..(start + 20).min(RSA8192_LOOP);
        let at = |path: fn(usize) -> String| move |i| path(start + i);
        let (es, rsa) = (&es_proofs[turn.clone()], &proofs[turn.clone()]);
        cpu[0] += cpu_of(&gw, &http, &es_token, es, at(es_path), assert_ok).await;
        cpu[1] += cpu_of(&gw, &http, &token, rsa, at(path), assert_ok).await;
        cpu[2] += cpu_of(&gw, &http, &token, rsa, at(path), assert_replayed).await;
        let bad = &bad[turn];
        cpu[3] += cpu_of(&gw, &http, &token, bad, at(bad_path), assert_invalid_proof).await;
    }
    let [baseline, accepted, replayed, refused] = cpu.map(|d| d / RSA8192_LOOP as u32);

    let all = 2 * (RSA8192_LOOP + 1);
    assert!(up.wait_recorded(all, Duration::from_secs(5)).await);
    assert_eq!(up.arrived(), all);
    let mut seen: Vec<String> = up.requests().iter().map(|r| r.path().to_owned()).collect();
    seen.sort();
    let mut expected: Vec<String> = (0..=RSA8192_LOOP)
        .flat_map(|i| [path(i), es_path(i)])
        .collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "each accepted proof reached the upstream exactly once, nothing else did"
    );
    eprintln!(
        "gateway CPU per request over {RSA8192_LOOP}: ES256 accepted {baseline:?}; RSA-8192 \
         accepted {accepted:?}, replayed {replayed:?}, bad signature {refused:?} (bound: \
         baseline + {RSA8192_EXTRA_CPU_PER_REQUEST:?}; {} RSA-8192 proofs signed in {signing:?})",
        RSA8192_LOOP + 1
    );
    for (what, cost) in [
        ("accepted", accepted),
        ("replayed", replayed),
        ("bad signature", refused),
    ] {
        assert!(
            cost <= baseline + RSA8192_EXTRA_CPU_PER_REQUEST,
            "{what}: {cost:?} of gateway CPU per RSA-8192 request, ES256 {baseline:?}"
        );
    }
}
