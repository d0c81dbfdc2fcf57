//! The Redis replay backend against a real `redis-server` (RFC 9449 §11.1;
//! rfc9449-checks §4 "jti replay", §7 cases 61–64; interface.md: the 503 row
//! and `/readyz`).
//!
//! Store level: `SET <prefix><key> 1 NX PX ttl` gives Fresh then Replayed,
//! expires after its TTL, uses the configured prefix, is atomic under
//! concurrency, fails closed when Redis is gone and recovers when it is back.
//! Gateway level: replicas sharing one Redis share one replay window (also
//! with nonces on, and for parallel copies of one proof); entries live
//! `max_age_secs + max_skew_secs`; a dead or hung Redis answers 503 within
//! the call timeout (never a forward, never a 401) and `/readyz` follows
//! Redis down and up again without a gateway restart; a gateway (the binary)
//! started while Redis is down keeps running and becomes ready with it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpop_gateway::config::{RedisConfig, ReplayBackend, ReplayConfig};
use dpop_gateway::jose::{Alg, Jkt, SigningKey};
use dpop_gateway::replay::{Recorded, RedisReplayStore, ReplayError, ReplayKey, ReplayStore};
use http::Request;

use common::asserts::{assert_ok, assert_replayed, assert_unavailable, assert_use_nonce};
use common::redis_server::{commands, RedisServer, Resp};
use common::replica::{binary_config, redis_key, Caller, PATH};
use common::wait::eventually;
use common::{
    empty, system_now, Alpn, ClockMode, Fixture, GatewayProcess, TestClient, TestGateway, Upstream,
};

/// The gateway's default replay window: `max_age_secs + max_skew_secs`.
const WINDOW_MS: i64 = (60 + 10) * 1000;
/// Bound for one store call while Redis is down (the store's own timeout
/// is 500 ms; this leaves room for a loaded CI machine).
const DOWN_CALL_BOUND: Duration = Duration::from_secs(3);
/// Bound for the gateway / store to notice Redis is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

fn a_jkt() -> Jkt {
    SigningKey::generate(Alg::Es256).unwrap().jkt().clone()
}

fn redis_replay_table(url: &str, prefix: &str) -> String {
    format!("backend = \"redis\"\nredis_url = \"{url}\"\nkey_prefix = \"{prefix}\"\n")
}

// ---------------------------------------------------------------------------
// Store level
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_records_fresh_then_replayed_under_the_configured_prefix() {
    let redis = RedisServer::start();
    let jkt = a_jkt();
    let key = ReplayKey::new(&jkt, "jti-1");

    // Through the config, as the server builds it.
    let config = ReplayConfig {
        backend: ReplayBackend::Redis(RedisConfig {
            urls: vec![redis.url()],
            password: None,
            ca_pem: None,
        }),
        max_entries: 10,
        key_prefix: "tenant-a:jti:".into(),
    };
    let store = ReplayStore::from_config(&config, 70).unwrap();
    let now = system_now();
    assert_eq!(store.record(key, now + 70, now).await, Ok(Recorded::Fresh));
    assert_eq!(
        store.record(key, now + 70, now).await,
        Ok(Recorded::Replayed)
    );
    assert_eq!(
        store.record(key, now + 70, now).await,
        Ok(Recorded::Replayed),
        "a replay stays a replay"
    );

    // Exactly one key, `<prefix><base64url(SHA-256(jkt ‖ 0 ‖ jti))>`, value 1,
    // expiring after the requested 70 s (never persistent).
    let expected = redis_key("tenant-a:jti:", &key);
    assert_eq!(redis.scan("*"), vec![expected.clone()]);
    assert_eq!(redis.get(&expected).as_deref(), Some("1"));
    let pttl = redis.pttl(&expected);
    assert!(
        (69_000..=70_000).contains(&pttl),
        "PTTL {pttl} ms for a 70 s window"
    );

    // Another prefix is another namespace: the same replay key is fresh there.
    let other = RedisReplayStore::new(&redis.url(), "tenant-b:jti:").unwrap();
    assert_eq!(other.record(key, 70_000).await, Ok(Recorded::Fresh));
    assert_eq!(other.record(key, 70_000).await, Ok(Recorded::Replayed));
    assert_eq!(
        redis.scan("*"),
        vec![expected, redis_key("tenant-b:jti:", &key)]
    );

    // The database index of redis_url is honoured.
    let db3 = RedisReplayStore::new(
        &format!("redis://127.0.0.1:{}/3", redis.port()),
        "tenant-a:jti:",
    )
    .unwrap();
    assert_eq!(
        db3.record(key, 70_000).await,
        Ok(Recorded::Fresh),
        "db 3 is empty"
    );
    let replies = commands(redis.port(), &[&["SELECT", "3"], &["DBSIZE"]]).unwrap();
    assert_eq!(replies[1], Resp::Int(1), "the db-3 entry is not in db 3");
    assert_eq!(redis.cmd(&["DBSIZE"]), Resp::Int(2), "db 0 changed");

    // Different jti, same key: fresh; the jkt is part of the key too.
    let next = ReplayKey::new(&jkt, "jti-2");
    assert_eq!(store.record(next, now + 70, now).await, Ok(Recorded::Fresh));
    let other_key = ReplayKey::new(&a_jkt(), "jti-1");
    assert_eq!(
        store.record(other_key, now + 70, now).await,
        Ok(Recorded::Fresh)
    );
    assert!(store.is_ready(), "a store that just answered is ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_entry_expires_after_its_ttl() {
    let redis = RedisServer::start();
    let jkt = a_jkt();
    let direct = RedisReplayStore::new(&redis.url(), "ttl:").unwrap();
    let k1 = ReplayKey::new(&jkt, "short-1");
    assert_eq!(direct.record(k1, 1_000).await, Ok(Recorded::Fresh));
    assert_eq!(direct.record(k1, 1_000).await, Ok(Recorded::Replayed));
    let pttl = redis.pttl(&redis_key("ttl:", &k1));
    assert!((1..=1_000).contains(&pttl), "PTTL {pttl} for a 1 s TTL");

    // The same through ReplayStore: expires_at - now = 1 s.
    let config = ReplayConfig {
        backend: ReplayBackend::Redis(RedisConfig {
            urls: vec![redis.url()],
            password: None,
            ca_pem: None,
        }),
        max_entries: 10,
        key_prefix: "ttl:".into(),
    };
    let store = ReplayStore::from_config(&config, 70).unwrap();
    let k2 = ReplayKey::new(&jkt, "short-2");
    let now = system_now();
    assert_eq!(store.record(k2, now + 1, now).await, Ok(Recorded::Fresh));
    assert_eq!(store.record(k2, now + 1, now).await, Ok(Recorded::Replayed));
    let pttl = redis.pttl(&redis_key("ttl:", &k2));
    assert!((1..=1_000).contains(&pttl), "PTTL {pttl} for a 1 s window");

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(redis.pttl(&redis_key("ttl:", &k1)), -2, "key 1 still there");
    assert_eq!(direct.record(k1, 1_000).await, Ok(Recorded::Fresh));
    assert_eq!(
        store.record(k2, now + 61, now + 60).await,
        Ok(Recorded::Fresh)
    );
    assert_eq!(
        store.record(k2, now + 61, now + 60).await,
        Ok(Recorded::Replayed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_records_atomically_under_concurrency() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 500;
    const GROUPS: usize = TASKS / 2;
    let redis = RedisServer::start();
    // Two stores (two connections), as two gateway replicas would have.
    let stores = [
        Arc::new(RedisReplayStore::new(&redis.url(), "conc:").unwrap()),
        Arc::new(RedisReplayStore::new(&redis.url(), "conc:").unwrap()),
    ];
    let jkt = a_jkt();
    let keys: Arc<Vec<ReplayKey>> = Arc::new(
        (0..GROUPS * PER_TASK)
            .map(|i| ReplayKey::new(&jkt, &format!("jti-{i}")))
            .collect(),
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for t in 0..TASKS {
        // Tasks 2g and 2g+1 record the same 500 keys, in the same order,
        // through different connections.
        let group = t / 2;
        let store = stores[t % 2].clone();
        let keys = keys.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let mut out = Vec::with_capacity(PER_TASK);
            for i in group * PER_TASK..(group + 1) * PER_TASK {
                out.push((i, store.record(keys[i], 60_000).await));
            }
            out
        });
    }
    let mut fresh: HashMap<usize, usize> = HashMap::new();
    let mut replayed: HashMap<usize, usize> = HashMap::new();
    while let Some(done) = tokio::time::timeout(Duration::from_secs(30), tasks.join_next())
        .await
        .expect("the concurrent recorders did not finish in 30 s")
    {
        for (i, r) in done.unwrap() {
            match r {
                Ok(Recorded::Fresh) => *fresh.entry(i).or_default() += 1,
                Ok(Recorded::Replayed) => *replayed.entry(i).or_default() += 1,
                Err(e) => panic!("key {i}: {e}"),
            }
        }
    }
    let elapsed = started.elapsed();
    let total = GROUPS * PER_TASK;
    for i in 0..total {
        assert_eq!(fresh.get(&i), Some(&1), "key {i}: fresh count");
        assert_eq!(replayed.get(&i), Some(&1), "key {i}: replayed count");
    }
    assert_eq!(redis.scan("conc:*").len(), total);
    eprintln!("{} concurrent records in {elapsed:?}", TASKS * PER_TASK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_fails_closed_while_redis_is_down_and_recovers() {
    let mut redis = RedisServer::start();
    // Database 3, so that a reconnect that forgot the SELECT would show.
    let url = format!("redis://127.0.0.1:{}/3", redis.port());
    let store = RedisReplayStore::new(&url, "fc:").unwrap();
    let jkt = a_jkt();
    assert!(store.probe().await, "PING through the store");
    assert!(store.is_healthy());
    let used = ReplayKey::new(&jkt, "before");
    assert_eq!(store.record(used, 60_000).await, Ok(Recorded::Fresh));

    redis.kill();
    for n in 0..3 {
        let t = Instant::now();
        let r = store.record(ReplayKey::new(&jkt, "during"), 60_000).await;
        assert!(
            matches!(r, Err(ReplayError::Unavailable(_))),
            "call {n} with Redis down: {r:?}"
        );
        assert!(
            t.elapsed() < DOWN_CALL_BOUND,
            "call {n} took {:?}",
            t.elapsed()
        );
        assert!(!store.is_healthy(), "healthy after a failed call");
    }
    let t = Instant::now();
    assert!(!store.probe().await, "PING answered with Redis down");
    assert!(
        t.elapsed() < DOWN_CALL_BOUND,
        "probe took {:?}",
        t.elapsed()
    );
    assert!(!store.is_healthy());

    redis.restart();
    let fresh = ReplayKey::new(&jkt, "after");
    let s = &store;
    let recovered = eventually(RECOVERY_BOUND, POLL, || async move {
        s.record(fresh, 60_000).await.is_ok()
    })
    .await;
    assert!(
        recovered,
        "the store did not reconnect within {RECOVERY_BOUND:?}"
    );
    assert!(store.probe().await);
    assert!(store.is_healthy());
    // The connection now works normally.
    let k = ReplayKey::new(&jkt, "after-2");
    assert_eq!(store.record(k, 60_000).await, Ok(Recorded::Fresh));
    assert_eq!(store.record(k, 60_000).await, Ok(Recorded::Replayed));
    // The reconnected client still writes to database 3.
    let replies = commands(redis.port(), &[&["SELECT", "3"], &["DBSIZE"]]).unwrap();
    assert_eq!(replies[1], Resp::Int(2), "entries after the restart, db 3");
    assert_eq!(
        redis.cmd(&["DBSIZE"]),
        Resp::Int(0),
        "entries landed in db 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_for_a_redis_that_is_not_up_yet_is_built_at_once_and_connects_later() {
    let mut redis = RedisServer::reserve();
    let t = Instant::now();
    let store = RedisReplayStore::new(&redis.url(), "late:").unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "new() waited for Redis"
    );
    assert!(!store.is_healthy(), "healthy before Redis ever answered");
    let key = ReplayKey::new(&a_jkt(), "late");
    let t = Instant::now();
    assert!(matches!(
        store.record(key, 60_000).await,
        Err(ReplayError::Unavailable(_))
    ));
    assert!(t.elapsed() < DOWN_CALL_BOUND);
    assert!(!store.probe().await);

    redis.restart();
    let s = &store;
    assert!(
        eventually(RECOVERY_BOUND, POLL, || async move { s.probe().await }).await,
        "the store never connected"
    );
    assert_eq!(store.record(key, 60_000).await, Ok(Recorded::Fresh));
    assert_eq!(store.record(key, 60_000).await, Ok(Recorded::Replayed));
}

// ---------------------------------------------------------------------------
// Gateways sharing one Redis
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_share_one_replay_window() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let replay = redis_replay_table(&redis.url(), "gw:jti:");
    let a = TestGateway::replica(&fx, "", &replay, ClockMode::System).await;
    let b = TestGateway::replica(&fx, "", &replay, ClockMode::System).await;
    let caller = Caller::new(&fx, system_now());

    // Used on A, refused on B (and on A again); B's upstream sees nothing.
    let p1 = caller.proof(None, a.now());
    assert_ok(&a.send(&caller.token, &p1).await);
    assert_eq!(a.upstream().count(), 1);
    let key = redis_key("gw:jti:", &caller.replay_key(&p1));
    assert_eq!(
        redis.get(&key).as_deref(),
        Some("1"),
        "no Redis entry {key}"
    );
    let pttl = redis.pttl(&key);
    assert!(
        pttl > WINDOW_MS - 10_000 && pttl <= WINDOW_MS,
        "the entry must live max_age + max_skew = {WINDOW_MS} ms; PTTL {pttl}"
    );
    assert_replayed(&b.send(&caller.token, &p1).await);
    assert_eq!(b.upstream().count(), 0, "B forwarded a replayed proof");
    assert_replayed(&a.send(&caller.token, &p1).await);
    assert_eq!(a.upstream().count(), 1);

    // Used on B first, refused on A.
    let p2 = caller.proof(None, b.now());
    assert_ok(&b.send(&caller.token, &p2).await);
    assert_eq!(b.upstream().count(), 1);
    assert_replayed(&a.send(&caller.token, &p2).await);
    assert_eq!(a.upstream().count(), 1, "A forwarded a replayed proof");

    // The refusals were about those jti only: fresh proofs pass on both.
    assert_ok(&a.call(&caller, None).await);
    assert_ok(&b.call(&caller, None).await);
    assert_eq!((a.upstream().count(), b.upstream().count()), (2, 2));
    assert_eq!(redis.scan("gw:jti:*").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_entries_live_max_age_plus_max_skew() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let gw = TestGateway::replica(
        &fx,
        "max_age_secs = 120\nmax_skew_secs = 30\n",
        &redis_replay_table(&redis.url(), "win:"),
        ClockMode::System,
    )
    .await;
    let caller = Caller::new(&fx, system_now());
    let proof = caller.proof(None, system_now());
    assert_ok(&gw.send(&caller.token, &proof).await);
    let pttl = redis.pttl(&redis_key("win:", &caller.replay_key(&proof)));
    assert!(
        pttl > 140_000 && pttl <= 150_000,
        "entry must live max_age + max_skew = 150 s; PTTL {pttl} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_proof_sent_to_two_replicas_in_parallel_succeeds_once() {
    const COPIES: usize = 20;
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let replay = redis_replay_table(&redis.url(), "par:jti:");
    let a = Arc::new(TestGateway::replica(&fx, "", &replay, ClockMode::System).await);
    let b = Arc::new(TestGateway::replica(&fx, "", &replay, ClockMode::System).await);
    let caller = Caller::new(&fx, system_now());
    let proof = caller.proof(None, system_now());
    let barrier = Arc::new(tokio::sync::Barrier::new(COPIES));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..COPIES {
        let gw = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (token, proof, barrier) = (caller.token.clone(), proof.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            gw.send(&token, &proof).await
        });
    }
    let mut ok = 0;
    while let Some(answer) = set.join_next().await {
        let answer = answer.unwrap();
        if answer.status.as_u16() == 200 {
            ok += 1;
        } else {
            assert_replayed(&answer);
        }
    }
    assert_eq!(ok, 1, "exactly one of {COPIES} copies may pass (case 64)");
    assert_eq!(a.upstream().count() + b.upstream().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_nonces_share_the_secret_and_the_replay_window() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    fx.write("nonce.key", b"a shared nonce secret of 32+ bytes!!");
    let dpop = "nonce = \"required\"\nnonce_secret_file = \"nonce.key\"\n";
    let replay = redis_replay_table(&redis.url(), "nr:jti:");
    let a = TestGateway::replica(&fx, dpop, &replay, ClockMode::System).await;
    let b = TestGateway::replica(&fx, dpop, &replay, ClockMode::System).await;
    let caller = Caller::new(&fx, system_now());

    let nonce = assert_use_nonce(&a.call(&caller, None).await);
    // B accepts A's nonce; the proof B accepted is then a replay on A.
    let proof = caller.proof(Some(&nonce), system_now());
    assert_ok(&b.send(&caller.token, &proof).await);
    assert_replayed(&a.send(&caller.token, &proof).await);
    assert_eq!((a.upstream().count(), b.upstream().count()), (0, 1));
    assert_ok(&a.call(&caller, Some(&nonce)).await);
    assert_eq!(redis.scan("nr:jti:*").len(), 2);
}

// ---------------------------------------------------------------------------
// Outages
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_answers_503_and_the_gateway_recovers_without_restart() {
    let mut redis = RedisServer::start();
    let fx = Fixture::new();
    let gw = TestGateway::replica(
        &fx,
        "",
        &redis_replay_table(&redis.url(), "out:jti:"),
        ClockMode::System,
    )
    .await;
    let caller = Caller::new(&fx, system_now());
    let g = &gw;
    assert!(
        eventually(Duration::from_secs(5), POLL, || async move {
            g.readyz().await.0 == 200
        })
        .await,
        "/readyz never became 200 with Redis up"
    );
    assert_ok(&gw.call(&caller, None).await);
    assert_eq!(gw.upstream().count(), 1);

    redis.kill();
    let t = Instant::now();
    let answer = gw.call(&caller, None).await;
    assert!(t.elapsed() < DOWN_CALL_BOUND, "503 took {:?}", t.elapsed());
    assert_unavailable(&answer);
    assert_eq!(
        gw.upstream().count(),
        1,
        "forwarded without replay protection"
    );
    // Every request fails closed while Redis is down, each one bounded.
    for _ in 0..3 {
        let t = Instant::now();
        assert_unavailable(&gw.call(&caller, None).await);
        assert!(t.elapsed() < DOWN_CALL_BOUND);
    }
    assert_eq!(gw.upstream().count(), 1);
    assert!(
        eventually(Duration::from_secs(5), POLL, || async move {
            g.readyz().await.0 == 503
        })
        .await,
        "/readyz still 200 five seconds after Redis died"
    );

    redis.restart();
    assert!(
        eventually(
            RECOVERY_BOUND,
            POLL,
            || async move { g.readyz().await.0 == 200 }
        )
        .await,
        "/readyz did not recover within {RECOVERY_BOUND:?} of Redis coming back"
    );
    // Ready means the store answers: the next fresh request passes.
    assert_ok(&gw.call(&caller, None).await);
    assert_eq!(gw.upstream().count(), 2);
    assert_eq!(
        redis.scan("out:jti:*").len(),
        1,
        "the new entry is in the new Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_redis_answers_503_within_the_call_timeout_and_recovers() {
    let mut redis = RedisServer::start();
    let fx = Fixture::new();
    let gw = TestGateway::replica(
        &fx,
        "",
        &redis_replay_table(&redis.url(), "hang:jti:"),
        ClockMode::System,
    )
    .await;
    let caller = Caller::new(&fx, system_now());
    let g = &gw;
    assert!(
        eventually(Duration::from_secs(5), POLL, || async move {
            g.readyz().await.0 == 200
        })
        .await,
        "/readyz never became 200 with Redis up"
    );
    assert_ok(&gw.call(&caller, None).await);

    // SIGSTOP: connections are accepted, nothing answers.
    redis.pause();
    for n in 0..3 {
        let t = Instant::now();
        let answer = gw.call(&caller, None).await;
        let took = t.elapsed();
        assert_unavailable(&answer);
        assert!(
            took < DOWN_CALL_BOUND,
            "request {n} waited {took:?} on a hung Redis"
        );
    }
    assert_eq!(
        gw.upstream().count(),
        1,
        "forwarded without replay protection"
    );
    assert!(
        eventually(Duration::from_secs(5), POLL, || async move {
            g.readyz().await.0 == 503
        })
        .await,
        "/readyz still 200 five seconds into the hang"
    );

    redis.resume();
    assert!(
        eventually(
            RECOVERY_BOUND,
            POLL,
            || async move { g.readyz().await.0 == 200 }
        )
        .await,
        "/readyz did not recover within {RECOVERY_BOUND:?} of Redis resuming"
    );
    let c = &caller;
    assert!(
        eventually(RECOVERY_BOUND, POLL, || async move {
            let a = g.call(c, None).await;
            match a.status.as_u16() {
                200 => true,
                503 => false,
                other => panic!("unexpected {other} after the hang: {}", a.text()),
            }
        })
        .await,
        "requests did not pass again after Redis resumed"
    );
    assert_eq!(gw.upstream().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_binary_started_while_redis_is_down_waits_for_it() {
    let mut redis = RedisServer::reserve();
    let fx = Fixture::new();
    let upstream = Upstream::echo().await;
    let config = binary_config(
        &fx,
        &redis_replay_table(&redis.url(), "bin:jti:"),
        &upstream.url(),
    );
    let mut proc = GatewayProcess::start(&config).await;
    let admin = TestClient::plain();
    let client = proc.client(Alpn::Http1);
    let caller = Caller::new(&fx, system_now());
    let url = proc.https_url(PATH);
    let send = |client: TestClient, url: String, token: String, proof: String| async move {
        let req = Request::get(url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(empty())
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), client.send(req))
            .await
            .expect("no answer in 10 s")
            .expect("request failed")
    };

    let ready = admin.get(&proc.admin_url("/readyz")).await;
    assert_eq!(
        ready.status.as_u16(),
        503,
        "ready without Redis: {}",
        ready.text()
    );
    let failing = ready.json()["failing"].to_string();
    assert!(
        failing.contains("replay"),
        "/readyz does not name the replay backend: {failing}"
    );
    let answer = send(
        client.clone(),
        url.clone(),
        caller.token.clone(),
        caller.proof(None, system_now()),
    )
    .await;
    assert_unavailable(&answer);
    assert_eq!(upstream.count(), 0);

    // It keeps running (and retrying) rather than exiting.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        proc.wait_exit(Duration::ZERO).await.is_none(),
        "the gateway exited while Redis was down; stderr:\n{}",
        proc.stderr_text()
    );
    assert_eq!(
        admin.get(&proc.admin_url("/readyz")).await.status.as_u16(),
        503
    );

    redis.restart();
    assert!(
        proc.wait_ready(RECOVERY_BOUND).await,
        "/readyz did not turn 200 after Redis started; stderr:\n{}",
        proc.stderr_text()
    );
    let answer = send(
        client.clone(),
        url.clone(),
        caller.token.clone(),
        caller.proof(None, system_now()),
    )
    .await;
    assert_ok(&answer);
    assert_eq!(upstream.count(), 1);
    assert_eq!(redis.scan("bin:jti:*").len(), 1);

    proc.sigterm();
    let status = proc
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("no exit within 10 s of SIGTERM");
    assert!(status.success(), "exit {status:?}");
}
