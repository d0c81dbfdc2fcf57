//! Redis over TLS (`rediss://`), as managed Redis services offer it: a real
//! `redis-server --tls-port` with a certificate from the test CA and a
//! password. Two gateways trusting that CA (`redis_ca_file`) share one
//! replay window through it; a gateway that trusts another CA, or only the
//! webpki roots, fails closed (503 with `Retry-After`, `/readyz` not ready
//! and naming the backend and the node, never a forward); `check` refuses
//! what would weaken TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::asserts::{assert_ok, assert_replayed, assert_unavailable};
use common::redis_server::RedisServer;
use common::replica::{check_replay, redis_key, Caller};
use common::wait::eventually;
use common::{system_now, ClockMode, Fixture, TestGateway};
use dpop_gateway::demo::pki::DemoPki;

const PASSWORD: &str = "tls-pw-7Hq-staple-93c1";
const READY_BOUND: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// A TLS Redis that requires [`PASSWORD`], with the fixture's localhost
/// certificate (signed by the fixture's CA).
fn tls_redis(fx: &Fixture) -> RedisServer {
    RedisServer::start_tls(&fx.files.cert, &fx.files.key, &fx.files.ca, Some(PASSWORD))
}

fn replay_table(url: &str, ca: Option<&Path>, password_file: &Path) -> String {
    let ca = ca
        .map(|p| format!("redis_ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!(
        "backend = \"redis\"\nredis_url = \"{url}\"\n{ca}redis_password_file = \"{}\"\n\
         key_prefix = \"tls:jti:\"\n",
        password_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_a_tls_redis_and_an_unknown_ca_fails_closed() {
    let fx = Fixture::new();
    let redis = tls_redis(&fx);
    let secret = fx.write("redis-password", format!("{PASSWORD}\n").as_bytes());
    let caller = Caller::new(&fx, system_now());
    let table = replay_table(&redis.tls_url(), Some(&fx.files.ca), &secret);

    let a = TestGateway::replica(&fx, "", &table, ClockMode::System).await;
    let b = TestGateway::replica(&fx, "", &table, ClockMode::System).await;
    for gw in [&a, &b] {
        assert!(
            gw.wait_readyz(200, READY_BOUND).await,
            "/readyz never 200 over TLS: {:?}",
            gw.readyz().await
        );
    }
    let p1 = caller.proof(None, a.now());
    assert_ok(&a.send(&caller.token, &p1).await);
    assert_replayed(&b.send(&caller.token, &p1).await);
    assert_replayed(&a.send(&caller.token, &p1).await);
    let p2 = caller.proof(None, b.now());
    assert_ok(&b.send(&caller.token, &p2).await);
    assert_replayed(&a.send(&caller.token, &p2).await);
    assert_eq!((a.upstream().count(), b.upstream().count()), (1, 1));
    // The entries went over TLS into this server (read back on its plain port).
    for p in [&p1, &p2] {
        let key = redis_key("tls:jti:", &caller.replay_key(p));
        assert_eq!(redis.get(&key).as_deref(), Some("1"), "no entry {key}");
    }

    // A CA that did not sign Redis's certificate, and the webpki roots
    // alone: the handshake fails, so every proof gets 503, none is
    // forwarded, and /readyz says which backend and node.
    let other = DemoPki::localhost().unwrap();
    let other_ca = fx.write("other-ca.pem", other.ca_pem.as_bytes());
    let node = format!("127.0.0.1:{}", redis.tls_port().unwrap());
    for ca in [Some(other_ca.as_path()), None] {
        let table = replay_table(&redis.tls_url(), ca, &secret);
        let gw = TestGateway::replica(&fx, "", &table, ClockMode::System).await;
        for _ in 0..3 {
            assert_unavailable(&gw.call(&caller, None).await);
        }
        assert_eq!(gw.upstream().count(), 0, "forwarded with CA {ca:?}");
        let named = eventually(READY_BOUND, POLL, || async {
            let (status, body) = gw.readyz().await;
            let detail = body["details"]["replay_backend"].as_str().unwrap_or("");
            status == 503 && detail.starts_with("redis ") && detail.contains(&node)
        })
        .await;
        let (status, body) = gw.readyz().await;
        assert!(named, "/readyz does not name the node: {status} {body}");
        assert!(!body.to_string().contains(PASSWORD), "{body}");
    }
    assert_eq!(redis.scan("tls:jti:*").len(), 2, "a refused gateway wrote");
}

#[test]
fn check_accepts_rediss_and_refuses_what_would_weaken_it() {
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let check = |replay: &str| {
        let out = check_replay(&fx, dir.path(), replay);
        assert!(
            !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
            "check shows the password: {}{}",
            out.stdout,
            out.stderr
        );
        (out.code(), format!("{}{}", out.stdout, out.stderr))
    };
    let ca = ca.display();
    let url = format!("rediss://app:{PASSWORD}@redis.example.com:6380/0");

    let ok = format!("backend = \"redis\"\nredis_url = \"{url}\"\nredis_ca_file = \"{ca}\"\n");
    let (code, out) = check(&ok);
    assert!(code == Some(0) && out.starts_with("ok\n"), "{out}");
    let webpki = format!("backend = \"redis\"\nredis_url = \"{url}\"\n");
    assert_eq!(check(&webpki).0, Some(0));

    for (replay, key, says) in [
        (
            format!("backend = \"redis\"\nredis_url = \"{url}#insecure\"\n"),
            "replay.redis_url",
            "#insecure",
        ),
        (
            format!(
                "backend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\nredis_ca_file = \"{ca}\"\n"
            ),
            "replay.redis_ca_file",
            "rediss://",
        ),
        (
            format!("backend = \"redis\"\nredis_url = \"{url}\"\nredis_ca_file = \"no-such.pem\"\n"),
            "replay.redis_ca_file",
            "no-such.pem",
        ),
        (
            format!("backend = \"redis\"\nredis_url = \"{url}\"\nredis_ca_file = \"gateway.toml\"\n"),
            "replay.redis_ca_file",
            "",
        ),
    ] {
        let (code, out) = check(&replay);
        assert_eq!(code, Some(2), "{replay}: {out}");
        assert!(out.contains(key) && out.contains(says), "{replay}: {out}");
    }
}
