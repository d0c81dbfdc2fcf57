//! `backend = "redis_cluster"` on a real Redis Cluster: three
//! `redis-server --cluster-enabled yes` primaries on loopback joined with
//! `redis-cli --cluster create`, and three gateway replicas given one seed
//! each (the rest is discovered). Every proof is accepted exactly once
//! across the replicas, every replay of it is refused on every replica, 50
//! parallel sends of one proof give exactly one 200, and the keys spread
//! over all three nodes. With one node stopped mid-load, no proof is ever
//! accepted twice and the proofs whose slot lives on that node get 503
//! (never another 5xx); once it is back, they get 200 again within seconds,
//! with no restart of any gateway. (A proof refused with 503 was never
//! accepted: its record failed, so a later send may be its one acceptance.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::asserts::{assert_ok, assert_replayed, assert_unavailable};
use common::redis_server::RedisCluster;
use common::replica::{redis_key, Caller};
use common::wait::eventually;
use common::{system_now, ClockMode, Fixture, TestGateway};

const PREFIX: &str = "cl:jti:";
const READY_BOUND: Duration = Duration::from_secs(15);
/// How soon after a node is back the gateways must serve its slots again.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

fn replay_table(seed: &str) -> String {
    format!("backend = \"redis_cluster\"\nredis_urls = [\"{seed}\"]\nkey_prefix = \"{PREFIX}\"\n")
}

/// One replica per node, each knowing only that node as its seed.
async fn replicas(fx: &Fixture, cluster: &RedisCluster) -> Vec<Arc<TestGateway>> {
    let mut out = Vec::new();
    for i in 0..cluster.nodes.len() {
        let gw =
            TestGateway::replica(fx, "", &replay_table(&cluster.seed(i)), ClockMode::System).await;
        assert!(
            gw.wait_readyz(200, READY_BOUND).await,
            "replica {i} never ready: {:?}",
            gw.readyz().await
        );
        out.push(Arc::new(gw));
    }
    out
}

/// Sends every `(replica, proof)` pair, at most `parallel` at a time, and
/// returns the statuses in order.
async fn send_all(
    gws: &[Arc<TestGateway>],
    token: &str,
    sends: Vec<(usize, String)>,
    parallel: usize,
) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(sends.len());
    for chunk in sends.chunks(parallel) {
        let mut set = tokio::task::JoinSet::new();
        for (n, (gw, proof)) in chunk.iter().enumerate() {
            let gw = gws[*gw].clone();
            let (token, proof) = (token.to_string(), proof.clone());
            set.spawn(async move { (n, gw.send(&token, &proof).await.status.as_u16()) });
        }
        let mut got = vec![0u16; chunk.len()];
        while let Some(r) = set.join_next().await {
            let (n, status) = r.unwrap();
            got[n] = status;
        }
        statuses.extend(got);
    }
    statuses
}

/// Proof `i` to replica `i % 3`.
fn round_robin(proofs: &[String]) -> Vec<(usize, String)> {
    spread(proofs, 3, 0)
}

/// Proof `i` to replica `(i + offset) % n`.
fn spread(proofs: &[String], n: usize, offset: usize) -> Vec<(usize, String)> {
    proofs
        .iter()
        .enumerate()
        .map(|(i, p)| ((i + offset) % n, p.clone()))
        .collect()
}

fn histogram(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut h = BTreeMap::new();
    for s in statuses {
        *h.entry(*s).or_insert(0) += 1;
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_seed_each_accept_every_proof_exactly_once() {
    let cluster = RedisCluster::start(3);
    let fx = Fixture::new();
    let gws = replicas(&fx, &cluster).await;
    let caller = Caller::new(&fx, system_now());

    // 1,000 distinct proofs, each sent once, spread over the replicas.
    let proofs: Vec<String> = (0..1_000)
        .map(|_| caller.proof(None, system_now()))
        .collect();
    let statuses = send_all(&gws, &caller.token, round_robin(&proofs), 24).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(200, 1_000)]));
    let forwarded: usize = gws.iter().map(|g| g.upstream().count()).sum();
    assert_eq!(forwarded, 1_000);

    // Every replay, on each of the two other replicas: refused.
    let replays: Vec<(usize, String)> = proofs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [((i + 1) % 3, p.clone()), ((i + 2) % 3, p.clone())])
        .collect();
    let statuses = send_all(&gws, &caller.token, replays, 24).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(401, 2_000)]));
    let forwarded: usize = gws.iter().map(|g| g.upstream().count()).sum();
    assert_eq!(forwarded, 1_000, "a replay reached an upstream");

    // One entry per proof, on whichever node owns its slot: all three hold some.
    let per_node = cluster.keys_per_node(&format!("{PREFIX}*"));
    assert_eq!(per_node.iter().sum::<usize>(), 1_000, "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 150),
        "keys not spread: {per_node:?}"
    );
    for p in proofs.iter().take(20) {
        let key = redis_key(PREFIX, &caller.replay_key(p));
        let owner = cluster.owner_of(&key);
        assert_eq!(cluster.nodes[owner].get(&key).as_deref(), Some("1"));
    }

    // 50 parallel sends of one proof across the replicas: exactly one 200.
    let proof = caller.proof(None, system_now());
    let race: Vec<(usize, String)> = (0..50).map(|i| (i % 3, proof.clone())).collect();
    let statuses = send_all(&gws, &caller.token, race, 50).await;
    assert_eq!(
        histogram(&statuses),
        BTreeMap::from([(200, 1), (401, 49)]),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_fails_its_slots_closed_and_they_recover_without_a_restart() {
    let mut cluster = RedisCluster::start(3);
    let fx = Fixture::new();
    let gws = replicas(&fx, &cluster).await;
    let caller = Arc::new(Caller::new(&fx, system_now()));

    // Proofs accepted before the fault, to replay during and after it.
    let before: Vec<String> = (0..60).map(|_| caller.proof(None, system_now())).collect();
    let statuses = send_all(&gws, &caller.token, round_robin(&before), 12).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(200, 60)]));

    // A load of fresh proofs, each followed by its replay on another
    // replica, runs through the fault: a proof accepted once must never get
    // 200 again, and nothing may answer a 5xx other than 503.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<(u16, u16)>::new()));
    let load = {
        let (gws, caller, stop, seen) = (gws.clone(), caller.clone(), stop.clone(), seen.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Acquire) {
                let proof = caller.proof(None, system_now());
                let fresh = gws[i % 3].send(&caller.token, &proof).await.status.as_u16();
                let replay = gws[(i + 1) % 3]
                    .send(&caller.token, &proof)
                    .await
                    .status
                    .as_u16();
                seen.lock().unwrap().push((fresh, replay));
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Node 1 crashes (SIGKILL).
    let down = 1;
    cluster.nodes[down].kill();
    let node = format!("127.0.0.1:{}", cluster.nodes[down].port());

    // Every replica stops being ready, naming the node.
    for (i, gw) in gws.iter().enumerate() {
        let named = eventually(READY_BOUND, POLL, || async {
            let (status, body) = gw.readyz().await;
            let detail = body["details"]["replay_backend"].as_str().unwrap_or("");
            status == 503 && detail.starts_with("redis_cluster") && detail.contains(&node)
        })
        .await;
        assert!(named, "replica {i} /readyz: {:?}", gw.readyz().await);
    }

    // Fresh proofs: 503 exactly when their slot lives on the dead node.
    let mut on_down = 0;
    for i in 0..30 {
        let proof = caller.proof(None, system_now());
        let owner = cluster.owner_of(&redis_key(PREFIX, &caller.replay_key(&proof)));
        let answer = gws[i % 3].send(&caller.token, &proof).await;
        if owner == down {
            on_down += 1;
            assert_unavailable(&answer);
            assert!(
                answer.text().contains("Replay protection unavailable"),
                "{}",
                answer.text()
            );
        } else {
            assert_ok(&answer);
        }
    }
    assert!(on_down > 0, "no proof landed on the stopped node");
    // Replays of the proofs from before: 503 on the dead node's slots, 401
    // elsewhere, never 200.
    for (i, proof) in before.iter().enumerate() {
        let owner = cluster.owner_of(&redis_key(PREFIX, &caller.replay_key(proof)));
        let answer = gws[(i + 1) % 3].send(&caller.token, proof).await;
        if owner == down {
            assert_unavailable(&answer);
        } else {
            assert_replayed(&answer);
        }
    }

    // The node comes back with its keys (append-only file): the replicas
    // become ready again and serve its slots, with no restart.
    cluster.nodes[down].restart();
    cluster.wait_ok(Duration::from_secs(30));
    for (i, gw) in gws.iter().enumerate() {
        assert!(
            gw.wait_readyz(200, RECOVERY_BOUND).await,
            "replica {i} not ready {RECOVERY_BOUND:?} after the node came back: {:?}",
            gw.readyz().await
        );
    }
    let mut served = 0;
    for i in 0..30 {
        let proof = caller.proof(None, system_now());
        let owner = cluster.owner_of(&redis_key(PREFIX, &caller.replay_key(&proof)));
        assert_ok(&gws[i % 3].send(&caller.token, &proof).await);
        assert_replayed(&gws[(i + 2) % 3].send(&caller.token, &proof).await);
        served += usize::from(owner == down);
    }
    assert!(served > 0, "no proof landed on the recovered node");
    // Proofs recorded on that node before it crashed are still refused.
    for proof in &before {
        assert_replayed(&gws[0].send(&caller.token, proof).await);
    }

    stop.store(true, Ordering::Release);
    load.await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "the load loop hardly ran: {}", seen.len());
    let fresh = histogram(&seen.iter().map(|(f, _)| *f).collect::<Vec<_>>());
    let replay = histogram(&seen.iter().map(|(_, r)| *r).collect::<Vec<_>>());
    assert!(
        fresh.keys().all(|s| [200, 503].contains(s)),
        "fresh proofs under the fault: {fresh:?}"
    );
    assert!(
        replay.keys().all(|s| [200, 401, 503].contains(s)),
        "replays under the fault: {replay:?}"
    );
    // Each proof is accepted at most once: a second send gets 200 only when
    // the first was refused with 503 (its record failed, so it was never
    // accepted); after an accepted first use, never.
    for (f, r) in seen.iter() {
        assert!(
            *r != 200 || *f == 503,
            "a proof accepted twice, or after {f}: {:?}",
            seen.iter().filter(|(_, r)| *r == 200).collect::<Vec<_>>()
        );
    }
    assert!(
        fresh.contains_key(&503),
        "the fault was never seen: {fresh:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_with_a_password_shares_the_window_and_an_unknown_ca_fails_closed() {
    let fx = Fixture::new();
    const PASSWORD: &str = "cluster-pw-4Rt-lantern-5e0a";
    let cluster = RedisCluster::start_tls(3, &fx.files.cert, &fx.files.key, &fx.files.ca, PASSWORD);
    let secret = fx.write("redis-password", format!("{PASSWORD}\n").as_bytes());
    let table = |seed: &str, ca: &std::path::Path| {
        format!(
            "{}redis_ca_file = \"{}\"\nredis_password_file = \"{}\"\n",
            replay_table(seed),
            ca.display(),
            secret.display()
        )
    };
    let mut gws = Vec::new();
    for i in 0..2 {
        let gw = TestGateway::replica(
            &fx,
            "",
            &table(&cluster.seed(i), &fx.files.ca),
            ClockMode::System,
        )
        .await;
        assert!(
            gw.wait_readyz(200, READY_BOUND).await,
            "TLS replica {i} never ready: {:?}",
            gw.readyz().await
        );
        gws.push(Arc::new(gw));
    }
    let caller = Caller::new(&fx, system_now());
    let proofs: Vec<String> = (0..60).map(|_| caller.proof(None, system_now())).collect();
    let statuses = send_all(&gws, &caller.token, spread(&proofs, 2, 0), 12).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(200, 60)]));
    let statuses = send_all(&gws, &caller.token, spread(&proofs, 2, 1), 12).await;
    assert_eq!(histogram(&statuses), BTreeMap::from([(401, 60)]));
    let per_node = cluster.keys_per_node(&format!("{PREFIX}*"));
    assert_eq!(per_node.iter().sum::<usize>(), 60, "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 0),
        "keys not spread: {per_node:?}"
    );

    // Trusting another CA: not ready, 503, nothing forwarded.
    let other = dpop_gateway::demo::pki::DemoPki::localhost().unwrap();
    let other_ca = fx.write("other-ca.pem", other.ca_pem.as_bytes());
    let gw = TestGateway::replica(
        &fx,
        "",
        &table(&cluster.seed(0), &other_ca),
        ClockMode::System,
    )
    .await;
    for _ in 0..3 {
        assert_unavailable(&gw.call(&caller, None).await);
    }
    assert_eq!(gw.upstream().count(), 0);
    let (status, body) = gw.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains(PASSWORD), "{body}");
}
