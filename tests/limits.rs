//! `[limits]` and a route's `max_body_bytes`, each at the edge: a request
//! just inside a limit is forwarded, one just past it gets its status (431
//! for the head, 413 for the body) and the upstream receives nothing of it;
//! HTTP/2 advertises its limits and ends a connection that opens and resets
//! streams in a loop (CVE-2023-44487) after bounded work; `check` names a
//! value out of range by its key. The JOSE parser limits (`max_jwk_bytes`,
//! `max_rsa_modulus_bits`, `max_json_depth`) at their edges through real
//! gateways: proofs and tokens just past them are refused and never reach
//! the upstream, those at them are forwarded; an issuer key past them is
//! skipped while the issuer's other keys keep working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::asserts::{assert_invalid_proof, assert_invalid_token};
use common::h2raw::{self, frame, H2Raw, StreamEnd};
use common::jose::{b64, jkt_of, Proof};
use common::req::{raw_h1, send, Req, Via};
use common::{keys, tokens};
use common::{
    route_with, run_bin, system_now, write_pki, Answer, Behaviour, ClockMode, Fixture, TestGateway,
    Upstream, TLS_TABLE,
};
use dpop_gateway::jose::SigningKey;
use serde_json::{json, Map, Value};

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

/// A DPoP config trusting the fixture's issuer, with `limits` (a `[limits]`
/// body) and one `dpop` route to `upstream`.
fn limits_config(limits: &str, upstream: &str) -> String {
    let route = route_with("api", "/", upstream, "auth = \"dpop\"");
    common::dpop_config(&format!("[limits]\n{limits}\n{route}"))
}

/// A gateway on `fixture` running [`limits_config`] with an echo upstream.
async fn dpop_gateway(limits: &str, fixture: &Fixture) -> TestGateway {
    let up = Upstream::echo().await;
    TestGateway::builder(&limits_config(limits, &up.url()))
        .fixture(fixture)
        .clock(ClockMode::Manual(system_now()))
        .upstream(up)
        .start()
        .await
}

/// Reloads `gw` (from [`dpop_gateway`]) with other `limits`.
fn reload_limits(gw: &TestGateway, limits: &str) {
    gw.reload_text(&limits_config(limits, &gw.upstream().url()));
}

async fn get(gw: &TestGateway, token: &str, proof: &str) -> Answer {
    send(gw, Via::H1, &Req::get("/api").dpop(token, proof))
        .await
        .unwrap()
}

/// 401 `invalid_dpop_proof` whose description names the `[limits]` key,
/// and nothing forwarded yet.
fn assert_proof_refused_for(ans: &Answer, key: &str, gw: &TestGateway) {
    assert_invalid_proof(ans);
    let description = ans.json()["error_description"].as_str().map(str::to_owned);
    assert!(
        description.is_some_and(|d| d.contains(key)),
        "{}",
        ans.text()
    );
    assert_eq!(gw.upstream().count(), 0);
}

/// A proof for `GET /api` whose `jwk` is the public half of the RSA-8192
/// fixture key, signed PS256 by hand, and a token bound to that key.
fn rsa8192_request(gw: &TestGateway, carrier: &SigningKey) -> (String, String) {
    let key = keys::rsa8192();
    let jwk = keys::rsa_jwk(key);
    let token = gw.token(Some(&jkt_of(&jwk)), None);
    let proof = Proof::new(carrier, "GET", &gw.htu("/api"), Some(&token), gw.now())
        .header("alg", json!("PS256"))
        .header("jwk", jwk);
    let input = proof.signing_input();
    let signature = keys::ps256_by_hand(key, input.as_bytes());
    (token, format!("{input}.{}", b64(signature)))
}

#[tokio::test]
async fn rsa_modulus_limit_refuses_proof_keys_before_signature_work() {
    let fixture = Fixture::new();
    let carrier = keys::es256();
    let gw = dpop_gateway("", &fixture).await;
    let (token, proof) = rsa8192_request(&gw, &carrier);
    let ans = get(&gw, &token, &proof).await;
    assert_proof_refused_for(&ans, "max_rsa_modulus_bits", &gw);

    // The same kind of request once a reload set max_rsa_modulus_bits = 8192.
    reload_limits(&gw, "max_rsa_modulus_bits = 8192");
    let (token, proof) = rsa8192_request(&gw, &carrier);
    let ans = get(&gw, &token, &proof).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(gw.upstream().count(), 1);
}

/// [`dpop_gateway`]'s JWK size, counted by hand as the README defines it,
/// for a JWK of string members only: one for the object, then each member
/// name and value.
fn jwk_size(jwk: &Map<String, Value>) -> usize {
    1 + jwk
        .iter()
        .map(|(k, v)| k.len() + v.as_str().unwrap().len())
        .sum::<usize>()
}

#[tokio::test]
async fn jwk_size_limit_is_exact() {
    let fixture = Fixture::new();
    let gw = dpop_gateway("max_jwk_bytes = 2048", &fixture).await;
    let key = keys::es256();
    let token = gw.token(Some(&key.jkt().to_string()), None);
    // An extra member ("pad") sized so that the JWK is `size` bytes.
    let proof_of = |size: usize| {
        let base = Proof::new(&key, "GET", &gw.htu("/api"), Some(&token), gw.now());
        let bare = jwk_size(base.jwk().as_object().unwrap());
        let proof = base.jwk_member("pad", json!("p".repeat(size - bare - 3)));
        assert_eq!(jwk_size(proof.jwk().as_object().unwrap()), size);
        proof.sign()
    };
    let ans = get(&gw, &token, &proof_of(2049)).await;
    assert_proof_refused_for(&ans, "max_jwk_bytes", &gw);
    let ans = get(&gw, &token, &proof_of(2048)).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(gw.upstream().count(), 1);
}

/// A value `levels` containers deep: arrays inside arrays around a number.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

#[tokio::test]
async fn json_depth_limit_applies_to_proof_and_token_claims() {
    let fixture = Fixture::new();
    let gw = dpop_gateway("max_json_depth = 6", &fixture).await;
    let up = gw.upstream();
    let key = keys::es256();
    let jkt = key.jkt().to_string();
    let token = gw.token(Some(&jkt), None);
    // The claims object is depth 1; an extra claim of 5 arrays makes 6.
    let proof = |levels: usize, token: &str| {
        Proof::new(&key, "GET", &gw.htu("/api"), Some(token), gw.now())
            .claim("x-extra", nested(levels))
            .sign()
    };
    let ans = get(&gw, &token, &proof(6, &token)).await;
    assert_proof_refused_for(&ans, "max_json_depth", &gw);
    let ans = get(&gw, &token, &proof(5, &token)).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(up.count(), 1);

    // The access token's claims, signed by the fixture's issuer.
    let token_with = |levels: usize| {
        let mut claims = tokens::token_claims(Some(&jkt), gw.now());
        claims.insert("x-extra".into(), nested(levels));
        tokens::sign_token(
            &fixture.issuer,
            &tokens::token_header(&fixture.issuer),
            &claims,
        )
    };
    let deep = token_with(6);
    let ans = get(&gw, &deep, &proof(1, &deep)).await;
    assert_invalid_token(&ans);
    assert_eq!(up.count(), 1);
    let at_limit = token_with(5);
    let ans = get(&gw, &at_limit, &proof(1, &at_limit)).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(up.count(), 2);
}

/// An access token signed PS256 by hand with the RSA-8192 fixture key.
fn token_signed_by_rsa8192(kid: &str, jkt: &str, now: i64) -> String {
    let header = json!({"typ": "at+jwt", "alg": "PS256", "kid": kid});
    let claims = Value::Object(tokens::token_claims(Some(jkt), now));
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = keys::ps256_by_hand(keys::rsa8192(), input.as_bytes());
    format!("{input}.{}", b64(signature))
}

#[tokio::test]
async fn issuer_key_over_the_rsa_limit_is_skipped_and_the_others_work() {
    let fixture = Fixture::new();
    let mut big = keys::rsa_jwk(keys::rsa8192());
    big["kid"] = json!("big");
    big["alg"] = json!("PS256");
    let mut set = keys::jwks(&[&fixture.issuer]);
    set["keys"].as_array_mut().unwrap().push(big);
    fixture.write("as.jwks.json", set.to_string().as_bytes());

    // `check` says which key it leaves out, and still says ok.
    let text = common::fill(
        &limits_config("", "http://127.0.0.1:9"),
        &fixture.files,
        fixture.dir.path(),
    );
    let path = fixture.write("gateway.toml", text.as_bytes());
    let out = run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        Duration::from_secs(30),
    );
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (Some(0), "ok\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("warning: issuers[0].jwks_file: keys[1]")
                && l.contains("kid \"big\"")
                && l.contains("8192 bits, the limit (max_rsa_modulus_bits) is 4096")),
        "{}",
        out.stderr
    );

    let gw = dpop_gateway("", &fixture).await;
    let client = keys::es256();
    let jkt = client.jkt().to_string();
    let proof =
        |token: &str| Proof::new(&client, "GET", &gw.htu("/api"), Some(token), gw.now()).sign();
    let refused = token_signed_by_rsa8192("big", &jkt, gw.now());
    let ans = get(&gw, &refused, &proof(&refused)).await;
    assert_invalid_token(&ans);
    assert_eq!(gw.upstream().count(), 0);
    let good = gw.token(Some(&jkt), None);
    let ans = get(&gw, &good, &proof(&good)).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(gw.upstream().count(), 1);

    // Reloaded with 8192 bits, the key set is read again and the key verifies.
    reload_limits(&gw, "max_rsa_modulus_bits = 8192");
    let accepted = token_signed_by_rsa8192("big", &jkt, gw.now());
    let ans = get(&gw, &accepted, &proof(&accepted)).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(gw.upstream().count(), 2);
}
