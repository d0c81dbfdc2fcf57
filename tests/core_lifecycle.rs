//! The binary's lifecycle: graceful drain on SIGTERM, `check` on good and bad
//! configs, and the `demo` command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use http::{Request, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const SLOW: Duration = Duration::from_secs(2);

/// A new connection to `addr` must not be served: the connect is refused,
/// or the TLS handshake or the request fails.
async fn assert_not_served(addr: SocketAddr, cfg: rustls::ClientConfig) {
    let Ok(tcp) = TcpStream::connect(addr).await else {
        return;
    };
    drop(tcp);
    let attempt = async {
        let req = Request::get(format!("https://127.0.0.1:{}/late", addr.port()))
            .body(empty())
            .unwrap();
        raw_request(addr, cfg, "localhost", req).await
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Err(_) | Ok(Err(_)) => {}
        Ok(Ok((_, ans))) => panic!(
            "a connection opened after SIGTERM was served: {} {}",
            ans.status,
            ans.text()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_refuses_new_ones_and_exits_0() {
    let up = Upstream::start(Behaviour::Delay(SLOW)).await;
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}\n[admin]\nlisten = \"127.0.0.1:0\"\n{}",
        route("all", "/", &up.url())
    );
    let mut gw = GatewayProcess::start(&config).await;

    // A keep-alive admin connection, opened before the signal.
    let admin = TcpStream::connect(gw.admin.expect("admin address"))
        .await
        .unwrap();
    let (mut admin_tx, admin_conn) = hyper::client::conn::http1::handshake(TokioIo::new(admin))
        .await
        .unwrap();
    tokio::spawn(admin_conn);
    let readyz = || {
        Request::get("/readyz")
            .header("host", "admin")
            .body(empty())
            .unwrap()
    };
    let ans = Answer::read(admin_tx.send_request(readyz()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(ans.status, 200, "{}", ans.text());

    // Two slow requests in flight, over HTTP/1.1 and HTTP/2.
    let mut in_flight = Vec::new();
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let client = gw.client(alpn);
        let url = gw.https_url(&format!("/slow/{alpn:?}"));
        in_flight.push((
            alpn,
            tokio::spawn(async move { (client.get(&url).await, Instant::now()) }),
        ));
    }
    assert!(
        up.wait_recorded(2, Duration::from_secs(10)).await,
        "the slow requests did not reach the upstream"
    );

    let signalled = Instant::now();
    gw.sigterm();
    assert!(
        gw.wait_for_log("shutting down", Duration::from_secs(5))
            .await
            .is_some(),
        "no drain log line; stderr:\n{}",
        gw.stderr_text()
    );
    for (alpn, task) in &in_flight {
        assert!(
            !task.is_finished(),
            "{alpn:?} finished before the drain began"
        );
    }

    // New connections are not served while draining.
    assert_not_served(gw.addr, gw.tls_config(TlsVersion::Any, Alpn::Http1)).await;
    assert_not_served(gw.addr, gw.tls_config(TlsVersion::Any, Alpn::Http2)).await;
    // The admin connection opened earlier now reports not ready.
    let ans = Answer::read(admin_tx.send_request(readyz()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(ans.status, 503, "{}", ans.text());
    assert_eq!(ans.json()["status"], "not_ready");
    assert!(ans.text().contains("draining"), "{}", ans.text());

    // The in-flight requests complete in full.
    for (alpn, task) in in_flight {
        let (ans, done) = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("in-flight request did not complete")
            .unwrap();
        assert_eq!(ans.status, 200, "{alpn:?}: {}", ans.text());
        let want = if alpn == Alpn::Http2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        assert_eq!(ans.version, want);
        let v = ans.json();
        assert_eq!(v["path"], format!("/slow/{alpn:?}"));
        assert!(done > signalled);
    }

    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit 10 s after SIGTERM; stderr:\n{}", gw.stderr_text()));
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr_text());
    assert!(took < SLOW + Duration::from_secs(5), "exit took {took:?}");
    let log = gw.stderr_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("\"message\":\"drained\""), "{log}");
    assert_eq!(up.count(), 2, "a late request reached the upstream");
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

const BOUND: Duration = Duration::from_secs(30);

/// A tempdir with the test PKI and `text` (placeholders filled) as gateway.toml.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, files) = write_pki(dir.path());
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, fill(text, &files, dir.path())).unwrap();
    (dir, path)
}

fn check(path: &Path) -> BinOutput {
    run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        BOUND,
    )
}

/// Asserts exit 2, nothing on stdout, and a stderr line naming `key` that
/// contains every one of `words`; returns that line.
fn assert_problem(out: &BinOutput, key: &str, words: &[&str]) -> String {
    assert_eq!(
        out.code(),
        Some(2),
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains("ok"), "stdout: {}", out.stdout);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(&format!(": {key}:")) || l.contains(&format!(": {key} (line")))
        .unwrap_or_else(|| panic!("no problem names {key}; stderr:\n{}", out.stderr));
    for w in words {
        assert!(line.contains(w), "{line:?} does not say {w:?}");
    }
    line.to_owned()
}

fn line_of(text: &str, starts_with: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(starts_with))
        .unwrap()
        + 1
}

const GOOD: &str = r#"# a valid config; TLS files are relative to this file
[server]
listen = "127.0.0.1:0"
trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
upstream_timeout_secs = 5

[server.tls]
cert = "server.crt"
key = "server.key"

[admin]
listen = "127.0.0.1:0"

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "http://127.0.0.1:8080"
auth = "none"

[[routes]]
name = "catch-all"
path_prefix = "/"
upstream = "https://127.0.0.1:8443"
upstream_ca_file = "ca.pem"
auth = "none"
[routes.identity_headers]
sub = "X-Auth-Subject"
"#;

#[test]
fn check_accepts_a_valid_config() {
    let (dir, path) = config_file(GOOD);
    let out = check(&path);
    assert_eq!(out.code(), Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "ok");
    drop(dir);
}

#[test]
fn check_names_an_unknown_key_and_its_line() {
    // In a route.
    let text = GOOD.replace(
        "path_prefix = \"/orders\"",
        "path_prefix = \"/orders\"\nupstreem_timeout = 3",
    );
    let (_dir, path) = config_file(&text);
    let line = line_of(&text, "upstreem_timeout");
    assert_problem(
        &check(&path),
        "routes[0].upstreem_timeout",
        &[&format!("(line {line})"), "unknown field"],
    );

    // In [server].
    let text = GOOD.replace(
        "upstream_timeout_secs = 5",
        "upstream_timeout_secs = 5\nheader_read_timout_secs = 5",
    );
    let (_dir, path) = config_file(&text);
    let line = line_of(&text, "header_read_timout_secs");
    assert_problem(
        &check(&path),
        "server.header_read_timout_secs",
        &[&format!("(line {line})")],
    );

    // In a sub-table of the second route.
    let text = GOOD.replace(
        "sub = \"X-Auth-Subject\"",
        "sub = \"X-Auth-Subject\"\nsubb = 1",
    );
    let (_dir, path) = config_file(&text);
    let line = line_of(&text, "subb");
    assert_problem(
        &check(&path),
        "routes[1].identity_headers.subb",
        &[&format!("(line {line})")],
    );
}

#[test]
fn check_names_an_unknown_table() {
    // (table added at the end, the key path `check` must name)
    let cases = [
        ("[metrics]\nenabled = true\n", "metrics"),
        ("[server.extra]\nx = 1\n", "server.extra"),
        (
            "[routes.identity_headerz]\nsub = \"X\"\n",
            "routes[1].identity_headerz",
        ),
    ];
    let mut wrong = Vec::new();
    for (table, key) in cases {
        let text = format!("{GOOD}\n{table}");
        let (_dir, path) = config_file(&text);
        let out = check(&path);
        assert_eq!(out.code(), Some(2), "{table}: {}", out.stderr);
        let header = table.lines().next().unwrap();
        let want = format!(": {key} (line {}):", line_of(&text, header));
        if !out.stderr.contains(&want) {
            wrong.push(format!(
                "{header}: want {want:?}, got {:?}",
                out.stderr.trim()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "unknown tables misnamed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn check_rejects_a_bad_listen_address() {
    let (_dir, path) = config_file(&GOOD.replace(
        "listen = \"127.0.0.1:0\"\ntrusted",
        "listen = \"localhost:8443\"\ntrusted",
    ));
    assert_problem(&check(&path), "server.listen", &["localhost:8443"]);
}

#[test]
fn check_rejects_a_missing_cert_file() {
    let (_dir, path) = config_file(&GOOD.replace("\"server.crt\"", "\"missing.crt\""));
    assert_problem(&check(&path), "server.tls.cert", &["missing.crt"]);
}

#[test]
fn check_rejects_a_duplicate_route_name() {
    let (_dir, path) = config_file(&GOOD.replace("\"catch-all\"", "\"orders\""));
    assert_problem(&check(&path), "routes[1].name", &["duplicate", "orders"]);
}

#[test]
fn check_rejects_a_dpop_route_without_issuers() {
    // A DPoP route with no issuer to validate tokens against is a config
    // error, never a route that forwards unauthenticated traffic.
    let (_dir, path) = config_file(&GOOD.replacen("auth = \"none\"", "auth = \"dpop\"", 1));
    assert_problem(&check(&path), "routes[0].auth", &["[[issuers]]"]);
}

#[test]
fn check_refuses_incomplete_dpop_and_replay_settings() {
    let text = format!(
        "{GOOD}\n[dpop]\nnonce = \"required\"\nalgs = [\"HS256\"]\n[replay]\nbackend = \"redis\"\n\n[[issuers]]\nissuer = \"https://as\"\njwks_url = \"http://as/jwks\"\n"
    );
    let (_dir, path) = config_file(&text);
    let out = check(&path);
    assert_problem(&out, "dpop.nonce_secret_file", &["required"]);
    assert_problem(&out, "dpop.algs", &["HS256"]);
    assert_problem(&out, "replay.redis_url", &["required"]);
    assert_problem(&out, "issuers[0].jwks_url", &["https"]);
}

#[test]
fn check_reports_every_problem_at_once() {
    let text = GOOD
        .replace(
            "listen = \"127.0.0.1:0\"\ntrusted",
            "listen = \"localhost:8443\"\ntrusted",
        )
        .replace("\"server.crt\"", "\"missing.crt\"")
        .replace("\"catch-all\"", "\"orders\"");
    let (_dir, path) = config_file(&text);
    let out = check(&path);
    assert_problem(&out, "server.listen", &[]);
    assert_problem(&out, "server.tls.cert", &[]);
    assert_problem(&out, "routes[1].name", &[]);
}

// ---------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------

#[test]
fn demo_passes_every_case() {
    let out = run_bin(["demo"], Duration::from_secs(60));
    assert_eq!(
        out.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let pass = out.stdout.lines().filter(|l| l.starts_with("PASS")).count();
    let fail: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(pass >= 3, "only {pass} PASS lines:\n{}", out.stdout);
    assert!(fail.is_empty(), "FAIL lines: {fail:?}");
}

#[test]
fn check_accepts_the_example_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let out = run_bin(["check", "--config", path], Duration::from_secs(30));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "ok");
}
