//! Server nonces (RFC 9449 §8, §9, §11.1–§11.3; rfc9449-checks §2.5 and §7
//! cases 54, 55, 61, 63, 65–69, P15) through in-process gateways with
//! `nonce = "required"`, secret files in a temporary folder and a
//! `ManualClock`, plus `check` of the binary for the nonce and Redis keys.
//!
//! The nonce lifetime is 300 s and the clock starts 10 s into a window, so
//! "window W" below is `[T0, T0 + 300)`; a nonce from window W is accepted
//! until `T0 + 600` (its window and the next one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dpop_gateway::clock::ManualClock;
use dpop_gateway::config::{NonceConfig, Secret};
use dpop_gateway::mint;
use dpop_gateway::nonce::Nonces;
use serde_json::{json, Value};

use common::asserts::{
    assert_invalid_proof, assert_no_store, assert_ok, assert_replayed, assert_use_nonce, nonces_of,
};
use common::replica::{jti_of, Caller};
use common::{
    run_bin, unused_port, Behaviour, BinOutput, ClockMode, Fixture, Recorded, TestGateway,
    Upstream, AUDIENCE, ISSUER, UPSTREAM_NAME_HEADER,
};

/// Start of window W (a multiple of the lifetime).
const T0: i64 = 1_800_000_000;
const LIFETIME: i64 = 300;
const SECRET_A: &[u8] = b"nonce-secret-A-0123456789abcdef-0123456789";
const SECRET_B: &[u8] = b"nonce-secret-B-fedcba9876543210-fedcba9876";
/// The nonce of RFC 9449 Fig. 24: an authorization server's, never ours (§9).
const AS_NONCE: &str = "eyJ7S_zG.eyJH0-Z.HX4w-7v";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0 + 10))
}

/// `[dpop]` with required nonces signed by `current` (and verified by `previous`).
fn nonce_table(current: &str, previous: Option<&str>) -> String {
    let mut t = format!(
        "nonce = \"required\"\nnonce_secret_file = \"{current}\"\nnonce_lifetime_secs = {LIFETIME}\n"
    );
    if let Some(p) = previous {
        t.push_str(&format!("nonce_previous_secret_file = \"{p}\"\n"));
    }
    t
}

/// A gateway with `nonce_secret_file = secret` (a file in the fixture).
async fn gateway(fx: &Fixture, secret: &str, clock: &Arc<ManualClock>) -> TestGateway {
    TestGateway::replica(
        fx,
        &nonce_table(secret, None),
        "",
        ClockMode::Shared(clock.clone()),
    )
    .await
}

/// A fixture with `secret-a` (SECRET_A) and `secret-b` (SECRET_B).
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write("secret-a", SECRET_A);
    fx.write("secret-b", SECRET_B);
    fx
}

/// A nonce obtained the way a client gets one: a nonce-less proof, a 401.
async fn fetch_nonce(gw: &TestGateway, caller: &Caller) -> String {
    let before = gw.upstream().count();
    let nonce = assert_use_nonce(&gw.call(caller, None).await);
    assert_eq!(
        gw.upstream().count(),
        before,
        "a use_dpop_nonce answer was forwarded"
    );
    nonce
}

/// A nonce from the library with the given secrets (as another deployment would make).
fn library_nonce(secret: &[u8], now: i64) -> String {
    Nonces::new(&NonceConfig {
        secrets: vec![Secret(secret.to_vec())],
        lifetime_secs: LIFETIME as u64,
    })
    .issue(now)
    .expect("the system has randomness")
}

/// `nonce` with one character in the middle replaced by another base64url one.
fn flip_middle(nonce: &str) -> String {
    let mut chars: Vec<char> = nonce.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_request_without_nonce_gets_use_dpop_nonce_and_the_retry_passes() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());

    // Case 65: a valid proof without a nonce.
    let first = gw.call(&caller, None).await;
    let nonce = assert_use_nonce(&first);
    let www = first.header("www-authenticate").unwrap();
    assert!(www.contains("algs=\""), "challenge without algs: {www}");
    assert_eq!(gw.upstream().count(), 0, "forwarded without a nonce");

    // §9: the retry is a new proof carrying the nonce.
    let retry = gw.call(&caller, Some(&nonce)).await;
    assert_ok(&retry);
    assert_eq!(gw.upstream().count(), 1);
    assert!(
        nonces_of(&retry).is_empty(),
        "a current nonce needs no replacement yet: {:?}",
        retry.headers
    );
    // The proof and nonce stay between client and gateway.
    let up = gw.upstream().last();
    assert!(up.header("dpop").is_none(), "DPoP header forwarded");

    // Each challenge carries a new, unpredictable nonce.
    let again = fetch_nonce(&gw, &caller).await;
    assert_ne!(again, nonce, "the same nonce twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_nonce_serves_many_proofs_but_each_proof_only_once() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());
    let nonce = fetch_nonce(&gw, &caller).await;

    // P15: one nonce, several proofs with different jti.
    for i in 0..5 {
        let answer = gw.call(&caller, Some(&nonce)).await;
        assert_ok(&answer);
        assert_eq!(gw.upstream().count(), i + 1);
    }

    // Case 61 with nonces: the same proof twice.
    let proof = caller.proof(Some(&nonce), gw.now());
    assert_ok(&gw.send(&caller.token, &proof).await);
    assert_replayed(&gw.send(&caller.token, &proof).await);
    assert_eq!(gw.upstream().count(), 6);

    // Case 63: the same jti, newly signed with a new iat and the valid nonce.
    clock.advance(2);
    let resigned =
        caller.proof_with_claims(&caller.claims(&jti_of(&proof), Some(&nonce), gw.now()));
    assert_replayed(&gw.send(&caller.token, &resigned).await);
    assert_eq!(gw.upstream().count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_foreign_and_expired_nonces_get_a_new_nonce_that_works() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());
    let good = fetch_nonce(&gw, &caller).await;
    assert_ok(&gw.call(&caller, Some(&good)).await);

    // Control: a nonce the library makes with our secret is ours.
    assert_ok(
        &gw.call(&caller, Some(&library_nonce(SECRET_A, gw.now())))
            .await,
    );
    let mut forwarded = gw.upstream().count();

    let refused = [
        ("forged (one character flipped)", flip_middle(&good)),
        ("truncated", good[..good.len() - 4].to_owned()),
        ("AS-issued (RFC 9449 Fig. 24)", AS_NONCE.to_owned()),
        (
            "made with another secret",
            library_nonce(SECRET_B, gw.now()),
        ),
        ("empty", String::new()),
    ];
    for (what, bad) in &refused {
        assert_ne!(bad, &good);
        let answer = gw.call(&caller, Some(bad)).await;
        let fresh = assert_use_nonce(&answer);
        assert_ne!(&fresh, bad, "{what}: the refused nonce was handed back");
        assert_eq!(gw.upstream().count(), forwarded, "{what}: forwarded");
        assert_ok(&gw.call(&caller, Some(&fresh)).await);
        forwarded += 1;
        assert_eq!(gw.upstream().count(), forwarded, "{what}");
    }

    // Expired: more than two lifetimes later, the nonce from window W is
    // refused with a new one (the token is still valid: it lives an hour).
    clock.advance(2 * LIFETIME + 1);
    let answer = gw.call(&caller, Some(&good)).await;
    let fresh = assert_use_nonce(&answer);
    assert_ne!(fresh, good);
    assert_eq!(gw.upstream().count(), forwarded, "expired nonce forwarded");
    let retry = gw.call(&caller, Some(&fresh)).await;
    assert_ok(&retry);
    assert!(nonces_of(&retry).is_empty(), "a brand-new nonce is current");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_lives_for_its_window_and_the_next_and_rotates_on_success() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());
    let n1 = fetch_nonce(&gw, &caller).await; // issued at T0 + 10: window W

    // Last second of window W: current, no rotation.
    clock.set(T0 + LIFETIME - 1);
    let answer = gw.call(&caller, Some(&n1)).await;
    assert_ok(&answer);
    assert!(nonces_of(&answer).is_empty(), "{:?}", answer.headers);

    // Window W+1: still accepted, and the 200 carries the next nonce (§8.2)
    // on a response that must not be cached.
    clock.set(T0 + LIFETIME);
    let answer = gw.call(&caller, Some(&n1)).await;
    assert_ok(&answer);
    let rotated = nonces_of(&answer);
    assert_eq!(
        rotated.len(),
        1,
        "exactly one DPoP-Nonce on rotation: {:?}",
        answer.headers
    );
    let n2 = rotated[0].clone();
    assert_ne!(n2, n1);
    assert_no_store(&answer);

    // The rotated nonce is current: accepted without a further rotation.
    let answer = gw.call(&caller, Some(&n2)).await;
    assert_ok(&answer);
    assert!(nonces_of(&answer).is_empty(), "{:?}", answer.headers);

    // Last second of window W+1: n1 still works (and keeps rotating).
    clock.set(T0 + 2 * LIFETIME - 1);
    let answer = gw.call(&caller, Some(&n1)).await;
    assert_ok(&answer);
    assert_eq!(nonces_of(&answer).len(), 1);

    // Window W+2: n1 is expired; n2 is now the previous window's.
    clock.set(T0 + 2 * LIFETIME);
    let before = gw.upstream().count();
    let fresh = assert_use_nonce(&gw.call(&caller, Some(&n1)).await);
    assert_eq!(gw.upstream().count(), before);
    let answer = gw.call(&caller, Some(&n2)).await;
    assert_ok(&answer);
    assert_eq!(nonces_of(&answer).len(), 1);
    assert_no_store(&answer);
    assert_ok(&gw.call(&caller, Some(&fresh)).await);

    // A nonce from the future (the clock went back) is not accepted.
    clock.set(T0 + 10);
    let future = fresh;
    assert_use_nonce(&gw.call(&caller, Some(&future)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_nonce_is_never_cacheable_and_never_doubled() {
    // An upstream that marks its answers cacheable and sends a DPoP-Nonce of
    // its own: on rotation the gateway's nonce and no-store must win, once each.
    let upstream = Upstream::start(Behaviour::Respond(Arc::new(|_rec: &Recorded| {
        http::Response::builder()
            .status(200)
            .header(UPSTREAM_NAME_HEADER, "cacheable")
            .header("cache-control", "public, max-age=3600")
            .header("dpop-nonce", "upstream-nonce")
            .body(bytes::Bytes::from_static(b"{}"))
            .unwrap()
    })))
    .await;
    let fx = fixture();
    let clock = clock();
    let gw = TestGateway::replica_with(
        &fx,
        &nonce_table("secret-a", None),
        "",
        ClockMode::Shared(clock.clone()),
        upstream,
    )
    .await;
    let caller = Caller::new(&fx, gw.now());
    let n1 = fetch_nonce(&gw, &caller).await;
    clock.advance(LIFETIME);
    let answer = gw.call(&caller, Some(&n1)).await;
    assert_ok(&answer);
    let nonces = nonces_of(&answer);
    assert_eq!(
        nonces.len(),
        1,
        "one DPoP-Nonce on rotation: {:?}",
        answer.headers
    );
    assert_ne!(
        nonces[0], "upstream-nonce",
        "the upstream's nonce won over the gateway's"
    );
    assert_no_store(&answer);
    // The rotated nonce is the gateway's own.
    assert_ok(&gw.call(&caller, Some(&nonces[0])).await);
}

// ---------------------------------------------------------------------------
// Proof errors around the nonce
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_type_and_iat_errors() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());
    let nonce = fetch_nonce(&gw, &caller).await;
    let now = gw.now();

    // Case 67: `nonce: 123`.
    let mut claims = caller.claims(&mint::random_id().unwrap(), None, now);
    claims["nonce"] = json!(123);
    assert_invalid_proof(
        &gw.send(&caller.token, &caller.proof_with_claims(&claims))
            .await,
    );

    // `nonce: null` and `nonce: ["…"]` are not strings either.
    for bad in [Value::Null, json!([nonce.clone()])] {
        let mut claims = caller.claims(&mint::random_id().unwrap(), None, now);
        claims["nonce"] = bad;
        assert_invalid_proof(
            &gw.send(&caller.token, &caller.proof_with_claims(&claims))
                .await,
        );
    }

    // Case 68: a valid nonce does not replace `iat`.
    let mut claims = caller.claims(&mint::random_id().unwrap(), Some(&nonce), now);
    claims.as_object_mut().unwrap().remove("iat");
    assert_invalid_proof(
        &gw.send(&caller.token, &caller.proof_with_claims(&claims))
            .await,
    );

    // Case 53 with a nonce: `iat` as a string.
    let mut claims = caller.claims(&mint::random_id().unwrap(), Some(&nonce), now);
    claims["iat"] = json!(now.to_string());
    assert_invalid_proof(
        &gw.send(&caller.token, &caller.proof_with_claims(&claims))
            .await,
    );

    // Cases 54 / 55 with nonces on: an iat an hour off, with a valid nonce,
    // answers use_dpop_nonce with a new nonce (clients with a skewed clock recover).
    for (what, iat) in [("an hour old", now - 3600), ("an hour ahead", now + 3600)] {
        let proof = caller.proof(Some(&nonce), iat);
        let answer = gw.send(&caller.token, &proof).await;
        let fresh = assert_use_nonce(&answer);
        assert_ne!(fresh, nonce, "{what}");
    }
    assert_eq!(gw.upstream().count(), 0, "a refused proof was forwarded");

    // The nonce itself is fine.
    assert_ok(&gw.call(&caller, Some(&nonce)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_downgrade_to_nonce_less_proofs_after_a_nonce_was_handed_out() {
    let fx = fixture();
    let clock = clock();
    let gw = gateway(&fx, "secret-a", &clock).await;
    let caller = Caller::new(&fx, gw.now());
    let nonce = fetch_nonce(&gw, &caller).await;
    assert_ok(&gw.call(&caller, Some(&nonce)).await);

    // Case 69: a nonce-less proof with a fresh iat.
    clock.advance(1);
    let answer = gw.call(&caller, None).await;
    assert_use_nonce(&answer);
    assert_eq!(gw.upstream().count(), 1);

    // The same for a key that never saw a nonce: nonces are required of everyone.
    let other = Caller::new(&fx, gw.now());
    assert_use_nonce(&gw.call(&other, None).await);
    assert_eq!(gw.upstream().count(), 1);

    // The refused attempts cost the client nothing: its nonce still works.
    assert_ok(&gw.call(&caller, Some(&nonce)).await);
}

// ---------------------------------------------------------------------------
// Replicas and secret rollover
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_the_secret_accept_each_others_nonces() {
    let fx = fixture();
    // The same secret with one trailing newline (ignored, per interface.md).
    let mut with_newline = SECRET_A.to_vec();
    with_newline.push(b'\n');
    fx.write("secret-a-nl", &with_newline);
    let clock = clock();
    let a = gateway(&fx, "secret-a", &clock).await;
    let b = gateway(&fx, "secret-a-nl", &clock).await;
    let c = gateway(&fx, "secret-b", &clock).await;
    let caller = Caller::new(&fx, a.now());

    let from_a = fetch_nonce(&a, &caller).await;
    let from_b = fetch_nonce(&b, &caller).await;
    assert_ok(&b.call(&caller, Some(&from_a)).await);
    assert_ok(&a.call(&caller, Some(&from_b)).await);
    assert_ok(&a.call(&caller, Some(&from_a)).await);
    assert_eq!((a.upstream().count(), b.upstream().count()), (2, 1));

    // Another secret: each side refuses the other's nonces with a new one of its own.
    let fresh = assert_use_nonce(&c.call(&caller, Some(&from_a)).await);
    assert_eq!(c.upstream().count(), 0);
    assert_use_nonce(&a.call(&caller, Some(&fresh)).await);
    assert_eq!(a.upstream().count(), 2);
    assert_ok(&c.call(&caller, Some(&fresh)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_rollover_accepts_nonces_of_the_previous_secret() {
    let fx = fixture();
    let clock = clock();
    // A has not rolled over yet (S1 = secret-a); B has (S2 = secret-b, previous S1);
    // C has finished the rollover (S2 only).
    let a = gateway(&fx, "secret-a", &clock).await;
    let b = TestGateway::replica(
        &fx,
        &nonce_table("secret-b", Some("secret-a")),
        "",
        ClockMode::Shared(clock.clone()),
    )
    .await;
    let c = gateway(&fx, "secret-b", &clock).await;
    let caller = Caller::new(&fx, a.now());

    let from_a = fetch_nonce(&a, &caller).await;
    assert_ok(&b.call(&caller, Some(&from_a)).await);

    // B signs with S2: A does not know it, B and C do.
    let from_b = fetch_nonce(&b, &caller).await;
    assert_use_nonce(&a.call(&caller, Some(&from_b)).await);
    assert_eq!(a.upstream().count(), 0);
    assert_ok(&b.call(&caller, Some(&from_b)).await);
    assert_ok(&c.call(&caller, Some(&from_b)).await);

    // Once S1 is dropped, its nonces are refused.
    assert_use_nonce(&c.call(&caller, Some(&from_a)).await);

    // In the next window B still accepts A's nonce, and rotates it to one
    // signed with S2 (so A refuses the rotated one).
    clock.advance(LIFETIME);
    let answer = b.call(&caller, Some(&from_a)).await;
    assert_ok(&answer);
    let rotated = nonces_of(&answer);
    assert_eq!(rotated.len(), 1, "{:?}", answer.headers);
    assert_ok(&c.call(&caller, Some(&rotated[0])).await);
    assert_use_nonce(&a.call(&caller, Some(&rotated[0])).await);
}

// ---------------------------------------------------------------------------
// `check`
// ---------------------------------------------------------------------------

const CHECK_BOUND: Duration = Duration::from_secs(20);

/// Writes a plain-HTTP config with the given `[dpop]` and `[replay]` bodies
/// (and the issuer's JWKS) into `dir`; returns its path.
fn write_check_config(dir: &Path, dpop: &str, replay: &str) -> std::path::PathBuf {
    let fx_key = dpop_gateway::jose::SigningKey::generate(dpop_gateway::jose::Alg::Es256).unwrap();
    std::fs::write(dir.join("as.jwks.json"), mint::jwks(&fx_key).to_string()).unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[dpop]\n{dpop}\n\n[replay]\n{replay}\n\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"as.jwks.json\"\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"dpop\"\n"
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(dpop: &str, replay: &str, files: &[(&str, &[u8])]) -> BinOutput {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let path = write_check_config(dir.path(), dpop, replay);
    run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        CHECK_BOUND,
    )
}

fn assert_check_ok(out: &BinOutput, what: &str) {
    assert_eq!(
        out.code(),
        Some(0),
        "{what}: expected ok; stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "ok", "{what}");
}

fn assert_check_names(out: &BinOutput, key: &str, what: &str) {
    assert_eq!(
        out.code(),
        Some(2),
        "{what}: expected exit 2; stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(key), "{what}: {key} not named in {all:?}");
}

const S32: &[u8] = b"0123456789abcdef0123456789abcdef";

#[test]
fn check_requires_a_long_enough_nonce_secret() {
    let required = "nonce = \"required\"\nnonce_secret_file = \"nonce.key\"\n";
    let mut s32_nl = S32.to_vec();
    s32_nl.push(b'\n');
    assert_check_ok(
        &check(required, "", &[("nonce.key", S32)]),
        "32-byte secret",
    );
    assert_check_ok(
        &check(required, "", &[("nonce.key", &s32_nl)]),
        "32-byte secret and a newline",
    );

    assert_check_names(
        &check("nonce = \"required\"\n", "", &[]),
        "dpop.nonce_secret_file",
        "no secret file",
    );
    assert_check_names(
        &check(required, "", &[("nonce.key", b"0123456789")]),
        "dpop.nonce_secret_file",
        "10-byte secret",
    );
    let mut s31_nl = S32[..31].to_vec();
    s31_nl.push(b'\n');
    assert_check_names(
        &check(required, "", &[("nonce.key", &s31_nl)]),
        "dpop.nonce_secret_file",
        "31 bytes and a newline (the newline does not count)",
    );
    assert_check_names(
        &check(required, "", &[]),
        "dpop.nonce_secret_file",
        "secret file missing",
    );
    assert_check_names(
        &check(
            "nonce = \"required\"\nnonce_secret_file = \"nonce.key\"\nnonce_previous_secret_file = \"old.key\"\n",
            "",
            &[("nonce.key", S32), ("old.key", b"short")],
        ),
        "dpop.nonce_previous_secret_file",
        "short previous secret",
    );
    assert_check_ok(
        &check(
            "nonce = \"required\"\nnonce_secret_file = \"nonce.key\"\nnonce_previous_secret_file = \"old.key\"\n",
            "",
            &[("nonce.key", S32), ("old.key", SECRET_B)],
        ),
        "rollover pair",
    );
}

#[test]
fn check_bounds_the_nonce_lifetime() {
    let with = |secs: u64| {
        format!("nonce = \"required\"\nnonce_secret_file = \"nonce.key\"\nnonce_lifetime_secs = {secs}\n")
    };
    for ok in [10, 86_400] {
        assert_check_ok(
            &check(&with(ok), "", &[("nonce.key", S32)]),
            &format!("{ok} s"),
        );
    }
    for bad in [9, 86_401] {
        assert_check_names(
            &check(&with(bad), "", &[("nonce.key", S32)]),
            "dpop.nonce_lifetime_secs",
            &format!("{bad} s"),
        );
    }
}

#[test]
fn check_requires_a_redis_url_for_the_redis_backend() {
    assert_check_names(
        &check("", "backend = \"redis\"\n", &[]),
        "replay.redis_url",
        "redis without redis_url",
    );
    assert_check_names(
        &check(
            "",
            "backend = \"redis\"\nredis_url = \"http://127.0.0.1:6379\"\n",
            &[],
        ),
        "replay.redis_url",
        "redis_url that is not redis://",
    );
    // `check` validates, it does not connect: nothing listens on this port.
    let url = format!("redis://127.0.0.1:{}/0", unused_port().port());
    assert_check_ok(
        &check(
            "",
            &format!("backend = \"redis\"\nredis_url = \"{url}\"\n"),
            &[],
        ),
        "redis with a URL",
    );
}

/// `check` and `run` must agree on `replay.redis_url`: a URL that `check`
/// calls ok must not stop the gateway from starting (interface.md: `check`
/// "prints every problem ... and exits 2"; exit 2 is for invalid config,
/// 1 for runtime failures). Nothing needs to listen: Redis is connected lazily.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_accepts_only_redis_urls_the_gateway_can_start_with() {
    let port = unused_port().port();
    let urls = [
        format!("redis://127.0.0.1:{port}/0"),
        format!("redis://127.0.0.1:{port}"),
        // TLS, but this build has no TLS support in the redis client.
        format!("rediss://127.0.0.1:{port}/0"),
        // Not a database number.
        format!("redis://127.0.0.1:{port}/orders"),
        // A wildcard address cannot be connected to.
        format!("redis://0.0.0.0:{port}/0"),
    ];
    let mut disagreements = Vec::new();
    for url in &urls {
        let dir = tempfile::tempdir().unwrap();
        let path = write_check_config(
            dir.path(),
            "",
            &format!("backend = \"redis\"\nredis_url = \"{url}\"\n"),
        );
        let checked = tokio::task::block_in_place(|| {
            run_bin(
                ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
                CHECK_BOUND,
            )
        });
        match checked.code() {
            Some(2) => assert!(
                format!("{}{}", checked.stdout, checked.stderr).contains("replay.redis_url"),
                "{url}: exit 2 without naming replay.redis_url: {checked:?}"
            ),
            Some(0) => {
                let config = dpop_gateway::config::Config::load(&path)
                    .unwrap_or_else(|e| panic!("{url}: check said ok, load failed: {e}"));
                if let Err(e) = dpop_gateway::server::Gateway::bind(&config).await {
                    disagreements.push(format!(
                        "{url}: `check` exits 0 (ok) but the gateway refuses to start: {e}"
                    ));
                }
            }
            other => panic!("{url}: check exited {other:?}: {checked:?}"),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
