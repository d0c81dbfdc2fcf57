//! `[limits]` and a route's `max_body_bytes`, each at the edge: a request
//! just inside a limit is forwarded, one just past it gets its status (431
//! for the head, 413 for the body) and the upstream receives nothing of it;
//! HTTP/2 advertises its limits and ends a connection that opens and resets
//! streams in a loop (CVE-2023-44487) after bounded work; `check` names a
//! value out of range by its key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::h2raw::{self, frame, H2Raw, StreamEnd};
use common::req::{raw_h1, send, Req, Via};
use common::{route_with, run_bin, write_pki, Behaviour, TestGateway, Upstream, TLS_TABLE};

/// GOAWAY error code for a peer that generates excessive load.
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_HEADER_LIST_SIZE.
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
const MAX_HEADER_LIST_SIZE: u16 = 0x6;

const LIMITS: &str = "[limits]\nmax_header_bytes = 16384\nmax_header_count = 40\n\
    max_dpop_bytes = 2048\nmax_authorization_bytes = 4096\nh2_max_concurrent_streams = 7\n\
    h2_max_pending_reset_streams = 10\n";

async fn gateway(behaviour: Behaviour) -> TestGateway {
    let up = Upstream::start(behaviour).await;
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}{LIMITS}{}{}",
        route_with(
            "small",
            "/small",
            &up.url(),
            "auth = \"none\"\nmax_body_bytes = 1000"
        ),
        route_with("all", "/", &up.url(), "auth = \"none\""),
    );
    TestGateway::builder(&config).upstream(up).start().await
}

async fn status(gw: &TestGateway, via: Via, req: &Req) -> u16 {
    send(gw, via, req)
        .await
        .unwrap_or_else(|e| panic!("{via:?} {}: {e}", req.path))
        .status
        .as_u16()
}

#[tokio::test]
async fn header_limits_are_431_at_the_edge_on_both_protocols() {
    let gw = gateway(Behaviour::Echo).await;
    let up = gw.upstream();
    for via in [Via::Raw, Via::H2] {
        // Field count: 40 with the client's own (host, content-length,
        // connection on HTTP/1.1; none on HTTP/2 besides :authority).
        let own = if via == Via::Raw { 3 } else { 0 };
        let mut fits = Req::get("/count");
        for i in 0..(40 - own) {
            fits = fits.h(&format!("x-f{i}"), "v");
        }
        assert_eq!(status(&gw, via, &fits).await, 200, "{via:?}");
        let over = fits.clone().h("x-one-more", "v");
        assert_eq!(status(&gw, via, &over).await, 431, "{via:?}");

        let dpop = |n: usize| Req::get("/dpop").h("DPoP", "a".repeat(n));
        assert_eq!(status(&gw, via, &dpop(2048)).await, 200, "{via:?}");
        assert_eq!(status(&gw, via, &dpop(2049)).await, 431, "{via:?}");
        let authz = |n: usize| {
            Req::get("/authz").h("Authorization", format!("Bearer {}", "a".repeat(n - 7)))
        };
        assert_eq!(status(&gw, via, &authz(4096)).await, 200, "{via:?}");
        assert_eq!(status(&gw, via, &authz(4097)).await, 431, "{via:?}");
    }
    assert_eq!(up.count(), 6, "only the requests inside the limits");

    // The head as a whole: hyper's read buffer on HTTP/1.1 (431), the
    // advertised header list size on HTTP/2 (431 from the HTTP/2 layer).
    let big = Req::get("/big").h("x-big", "b".repeat(17 * 1024));
    assert_eq!(status(&gw, Via::Raw, &big).await, 431);
    let ok = Req::get("/big").h("x-big", "b".repeat(12 * 1024));
    assert_eq!(status(&gw, Via::Raw, &ok).await, 200);
    assert_eq!(status(&gw, Via::H2, &ok).await, 200);
    let mut h2 = H2Raw::connect(gw.addr, gw.ca_pem()).await;
    let value = "b".repeat(17 * 1024);
    let fields = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/big"),
        ("x-big", value.as_str()),
    ];
    // Over two frames: one HEADERS frame may not pass 16 KiB (RFC 9113 §4.2).
    let block = h2raw::block(&fields);
    let (first, rest) = block.split_at(8 * 1024);
    let mut bytes = frame(h2raw::HEADERS, h2raw::END_STREAM, 1, first);
    bytes.extend(frame(h2raw::CONTINUATION, h2raw::END_HEADERS, 1, rest));
    h2.send(&bytes).await.unwrap();
    let end = h2.outcome(1, Duration::from_secs(5)).await;
    assert_eq!(end, StreamEnd::Status(431));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        up.count(),
        8,
        "{:?}",
        up.requests().last().map(|r| r.path().to_owned())
    );
}

#[tokio::test]
async fn h2_settings_carry_the_limits() {
    let gw = gateway(Behaviour::Echo).await;
    let mut h2 = H2Raw::connect(gw.addr, gw.ca_pem()).await;
    let settings = loop {
        let (kind, flags, _, payload) = h2.next_frame(Duration::from_secs(5)).await.unwrap();
        if kind == h2raw::SETTINGS && flags & h2raw::ACK == 0 {
            break payload;
        }
    };
    let mut seen = std::collections::HashMap::new();
    for s in settings.chunks(6) {
        let id = u16::from_be_bytes([s[0], s[1]]);
        let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
        seen.insert(id, v);
    }
    assert_eq!(seen.get(&MAX_CONCURRENT_STREAMS), Some(&7), "{seen:?}");
    assert_eq!(seen.get(&MAX_HEADER_LIST_SIZE), Some(&16384), "{seen:?}");
}

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line (11, 12 here).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[tokio::test]
async fn rapid_reset_ends_the_connection_after_bounded_work() {
    // An upstream that holds each request, so streams stay unserved.
    let gw = gateway(Behaviour::Delay(Duration::from_secs(2))).await;
    let a = gw.authority();
    let fields = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", a.as_str()),
        (":path", "/reset"),
    ];
    let block = h2raw::block(&fields);
    let mut h2 = H2Raw::connect(gw.addr, gw.ca_pem()).await;
    let cpu = cpu_time();
    let started = Instant::now();
    // 5,000 streams opened and cancelled, written in bursts of 100 pairs.
    let mut sent = 0u32;
    let mut write_failed = false;
    'outer: for burst in 0..50u32 {
        let mut bytes = Vec::new();
        for i in 0..100u32 {
            let id = 2 * (burst * 100 + i) + 1;
            bytes.extend(frame(h2raw::HEADERS, h2raw::END_HEADERS, id, &block));
            bytes.extend(frame(
                h2raw::RST_STREAM,
                0,
                id,
                &h2raw::CANCEL.to_be_bytes(),
            ));
        }
        if h2.send(&bytes).await.is_err() {
            write_failed = true;
            break 'outer;
        }
        sent += 100;
    }
    // The gateway answers with GOAWAY ENHANCE_YOUR_CALM and closes.
    let mut goaway = None;
    while let Some((kind, _, _, payload)) = h2.next_frame(Duration::from_secs(5)).await {
        if kind == h2raw::GOAWAY {
            goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            break;
        }
    }
    assert_eq!(
        goaway,
        Some(ENHANCE_YOUR_CALM),
        "sent {sent}, write failed {write_failed}"
    );
    assert!(h2.closed_within(Duration::from_secs(5)).await);
    let took = started.elapsed();
    let spent = cpu_time().saturating_sub(cpu);
    // Bounded work: far fewer requests served than streams opened, and the
    // whole exchange (both ends in this process) costs little CPU.
    let arrived = gw.upstream().arrived();
    eprintln!(
        "rapid reset: {sent} streams sent, {arrived} reached the upstream, CPU {spent:?}, {took:?}"
    );
    assert!(arrived <= 20, "{arrived} requests reached the upstream");
    assert!(spent < Duration::from_secs(3), "CPU {spent:?} in {took:?}");
    // Other connections are served as before.
    assert_eq!(status(&gw, Via::H2, &Req::get("/after")).await, 200);
}

#[tokio::test]
async fn max_body_bytes_is_413_declared_or_streamed() {
    let gw = gateway(Behaviour::Echo).await;
    let up = gw.upstream();
    let post = |n: usize| Req::new("POST", "/small/upload").body(vec![b'x'; n]);
    for via in [Via::Raw, Via::H1, Via::H2] {
        assert_eq!(status(&gw, via, &post(1000)).await, 200, "{via:?}");
        assert_eq!(status(&gw, via, &post(1001)).await, 413, "{via:?}");
    }
    // Only the routes that set it.
    assert_eq!(
        status(
            &gw,
            Via::H1,
            &Req::new("POST", "/other").body(vec![b'x'; 5000])
        )
        .await,
        200
    );
    assert_eq!(up.count(), 4);

    // Chunked, no declared length: cut where it passes the limit.
    let a = gw.authority();
    let mut bytes = format!(
        "POST /small/stream HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..3 {
        bytes.extend_from_slice(format!("{:x}\r\n", 600).as_bytes());
        bytes.extend_from_slice(&[b'y'; 600]);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    let ans = raw_h1(gw.addr, gw.ca_pem(), &bytes).await.unwrap();
    assert_eq!(ans.status.as_u16(), 413, "{}", ans.text());
    ans.assert_gateway_error(413, "invalid_request");
    // The upstream saw a request whose body broke off before the limit.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut: Vec<_> = up
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/small/stream")
        .collect();
    assert!(
        cut.iter()
            .all(|r| r.body_error.is_some() && r.body_len <= 1000),
        "{cut:?}"
    );
}

#[test]
fn check_names_a_limit_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, files) = write_pki(dir.path());
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}\n[limits]\nmax_header_bytes = 100\nh2_max_concurrent_streams = 0\n{}",
        route_with("a", "/", "http://127.0.0.1:8080", "auth = \"none\"\nmax_body_bytes = 0")
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, common::fill(&text, &files, dir.path())).unwrap();
    let out = run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        Duration::from_secs(30),
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    for (key, says) in [
        (
            "limits.max_header_bytes",
            "must be between 8192 and 1048576",
        ),
        (
            "limits.h2_max_concurrent_streams",
            "must be between 1 and 10000",
        ),
        ("routes[0].max_body_bytes", "must be at least 1"),
    ] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains(key) && l.contains(says)),
            "{key}: {}",
            out.stderr
        );
    }
    assert_eq!(out.stderr.lines().count(), 3, "{}", out.stderr);
}
