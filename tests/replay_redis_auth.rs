//! A Redis that requires a password (`redis-server --requirepass`):
//! `redis_password_file` (a secret file: its bytes, one trailing newline
//! ignored) and `user:password@` in `redis_url` both authenticate; a wrong
//! password fails closed (503 with `Retry-After`, `/readyz` not ready, never
//! a forward); and the password never appears in a log line of the gateway
//! binary, in an error, or in `check`'s output (interface.md `[replay]`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Request;

use common::asserts::{assert_ok, assert_replayed, assert_unavailable};
use common::redis_server::RedisServer;
use common::replica::{binary_config, check_replay, redis_key, Caller, PATH};
use common::wait::eventually;
use common::{
    empty, system_now, Alpn, ClockMode, Fixture, GatewayProcess, TestClient, TestGateway, Upstream,
};

/// The server's password: distinctive, so that a leak is unmistakable.
const PASSWORD: &str = "pw-Zq7-correct-horse-0d1e";
/// A wrong one, just as distinctive.
const WRONG: &str = "pw-Kx9-wrong-battery-77f2";
const READY_BOUND: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// Writes `text` + "\n" as a secret file in `dir`.
fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

fn replay_table(url: &str, password_file: Option<&Path>, prefix: &str) -> String {
    let file = password_file
        .map(|p| format!("redis_password_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!("backend = \"redis\"\nredis_url = \"{url}\"\n{file}key_prefix = \"{prefix}\"\n")
}

async fn becomes_ready(gw: &TestGateway) -> bool {
    eventually(
        READY_BOUND,
        POLL,
        || async move { gw.readyz().await.0 == 200 },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_file_or_url_authenticates_and_a_wrong_password_fails_closed() {
    let redis = RedisServer::start_with_password(PASSWORD);
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let good = secret_file(dir.path(), "redis", PASSWORD);
    let bad = secret_file(dir.path(), "redis-wrong", WRONG);
    let caller = Caller::new(&fx, system_now());

    // The password from the file: ready, accepts once, refuses the replay.
    let a = TestGateway::replica(
        &fx,
        "",
        &replay_table(&redis.url(), Some(&good), "auth:jti:"),
        ClockMode::System,
    )
    .await;
    assert!(becomes_ready(&a).await, "/readyz never 200 with the file");
    let p1 = caller.proof(None, a.now());
    assert_ok(&a.send(&caller.token, &p1).await);
    assert_replayed(&a.send(&caller.token, &p1).await);
    assert_eq!(a.upstream().count(), 1);
    let key = redis_key("auth:jti:", &caller.replay_key(&p1));
    assert_eq!(redis.get(&key).as_deref(), Some("1"), "no entry {key}");

    // The password in the URL (user `default`, as Redis 6+ ACLs name it),
    // sharing the window with the first gateway.
    let url = format!("redis://default:{PASSWORD}@127.0.0.1:{}/0", redis.port());
    let b = TestGateway::replica(
        &fx,
        "",
        &replay_table(&url, None, "auth:jti:"),
        ClockMode::System,
    )
    .await;
    assert!(
        becomes_ready(&b).await,
        "/readyz never 200 with user:password@"
    );
    assert_replayed(&b.send(&caller.token, &p1).await);
    assert_ok(&b.call(&caller, None).await);
    assert_eq!(b.upstream().count(), 1);
    assert_eq!(redis.scan("auth:jti:*").len(), 2);

    // A wrong password, from the file or in the URL: 503 with Retry-After,
    // never forwarded, and /readyz stays 503 (naming the replay backend).
    let wrong_url = format!("redis://:{WRONG}@127.0.0.1:{}/0", redis.port());
    for replay in [
        replay_table(&redis.url(), Some(&bad), "auth:jti:"),
        replay_table(&wrong_url, None, "auth:jti:"),
        replay_table(&redis.url(), None, "auth:jti:"),
    ] {
        let gw = TestGateway::replica(&fx, "", &replay, ClockMode::System).await;
        for _ in 0..3 {
            assert_unavailable(&gw.call(&caller, None).await);
        }
        assert_eq!(gw.upstream().count(), 0, "forwarded with {replay}");
        // Several probe rounds (one a second) later it is still not ready.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let (status, body) = gw.readyz().await;
        let body = body.to_string();
        assert_eq!(status, 503, "ready with {replay}: {body}");
        assert!(body.contains("replay"), "/readyz body {body}");
        assert!(!body.contains(WRONG), "/readyz shows the password: {body}");
    }
    assert_eq!(redis.scan("auth:jti:*").len(), 2, "a refused gateway wrote");
}

/// A gateway binary on `replay`; returns it once it listens.
async fn gateway_binary(fx: &Fixture, upstream: &Upstream, replay: &str) -> GatewayProcess {
    GatewayProcess::start(&binary_config(fx, replay, &upstream.url())).await
}

async fn send(proc: &GatewayProcess, caller: &Caller) -> common::client::Answer {
    let req = Request::get(proc.https_url(PATH))
        .header("authorization", format!("DPoP {}", caller.token))
        .header("dpop", caller.proof(None, system_now()))
        .body(empty())
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), proc.client(Alpn::Http1).send(req))
        .await
        .expect("no answer in 10 s")
        .expect("request failed")
}

fn assert_absent(lines: &[String], secrets: &[&str], what: &str) {
    for line in lines {
        for secret in secrets {
            assert!(!line.contains(secret), "{what} shows a password: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_reaches_a_log_line_or_check() {
    let redis = RedisServer::start_with_password(PASSWORD);
    let fx = Fixture::new();
    let upstream = Upstream::echo().await;
    let dir = tempfile::tempdir().unwrap();
    let good = secret_file(dir.path(), "redis", PASSWORD);
    let caller = Caller::new(&fx, system_now());
    let admin = TestClient::plain();

    // Right password from the file: it serves, and logs no password.
    let mut ok = gateway_binary(
        &fx,
        &upstream,
        &replay_table(&redis.url(), Some(&good), "bin:"),
    )
    .await;
    assert!(
        ok.wait_ready(READY_BOUND).await,
        "not ready; stderr:\n{}",
        ok.stderr_text()
    );
    assert_ok(&send(&ok, &caller).await);
    assert_eq!(upstream.count(), 1);

    // A wrong password in the URL: 503s, failing-probe log lines, and the
    // access log names the node (never the URL or either password).
    let wrong_url = format!("redis://app:{WRONG}@127.0.0.1:{}/0", redis.port());
    let mut bad = gateway_binary(&fx, &upstream, &replay_table(&wrong_url, None, "bin:")).await;
    for _ in 0..3 {
        assert_unavailable(&send(&bad, &caller).await);
    }
    assert_eq!(upstream.count(), 1, "forwarded without replay protection");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let ready = admin.get(&bad.admin_url("/readyz")).await;
    assert_eq!(ready.status.as_u16(), 503);
    assert!(!ready.text().contains(WRONG), "{}", ready.text());

    for proc in [&mut ok, &mut bad] {
        proc.sigterm();
        let status = proc.wait_exit(Duration::from_secs(10)).await;
        assert!(status.is_some_and(|s| s.success()), "exit {status:?}");
    }
    let lines = bad.stderr_lines();
    let node = format!("127.0.0.1:{}", redis.port());
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"status\":503"))
        .collect();
    assert_eq!(
        access.len(),
        3,
        "three 503 access lines; stderr:\n{}",
        bad.stderr_text()
    );
    for line in access {
        assert!(
            line.contains("redis") && line.contains(&node),
            "the access log does not name the failing node: {line}"
        );
    }
    assert_absent(&lines, &[PASSWORD, WRONG], "the gateway's log");
    assert_absent(&ok.stderr_lines(), &[PASSWORD, WRONG], "the gateway's log");

    // check: ok with the file, and problems that never echo a password.
    let cdir = tempfile::tempdir().unwrap();
    let check = |replay: String| {
        let out = check_replay(&fx, cdir.path(), &replay);
        let all: Vec<String> = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .map(String::from)
            .collect();
        assert_absent(&all, &[PASSWORD, WRONG], "check");
        (out.code(), out.stdout, out.stderr)
    };
    let (code, stdout, _) = check(replay_table(&redis.url(), Some(&good), "bin:"));
    assert_eq!((code, stdout.trim()), (Some(0), "ok"));
    let (code, _, stderr) = check(replay_table(&wrong_url, None, "bin:"));
    assert_eq!(
        code,
        Some(0),
        "a wrong password is not check's to know: {stderr}"
    );
    // Both a URL password and the file: refused, naming the key only.
    let (code, _, stderr) = check(replay_table(&wrong_url, Some(&good), "bin:"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("replay.redis_password_file"), "{stderr}");
    // A bad URL carrying a password: refused, the password masked.
    let bad_db = format!("redis://app:{WRONG}@127.0.0.1:{}/not-a-db", redis.port());
    let (code, _, stderr) = check(replay_table(&bad_db, None, "bin:"));
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("replay.redis_url") && stderr.contains("***@"),
        "{stderr}"
    );
    // A password file that is not there.
    let missing = cdir.path().join("no-such-secret");
    let (code, _, stderr) = check(replay_table(&redis.url(), Some(&missing), "bin:"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("replay.redis_password_file"), "{stderr}");
}
