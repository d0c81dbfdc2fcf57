//! WebSocket through the gateway (RFC 6455 over TLS): an upgrade is
//! authenticated like any other request on its route and reaches the
//! upstream only when every check passed; then frames go both ways until
//! either side closes. Any other `Upgrade` is removed as hop-by-hop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::asserts::{assert_ok, assert_replayed};
use common::keys::es256;
use common::req::{send, Req, Via};
use common::websocket::{accept_key, open_tls, BINARY, CLOSE, PING, PONG, TEXT};
use common::*;
use dpop_gateway::jose::SigningKey;
use http::{StatusCode, Version};

/// A gateway with `/ws` (dpop, identity headers) and `/pub` (no auth) to a
/// WebSocket echo upstream that it owns, `/api` (dpop) to an echo upstream
/// (`plain`) and `/odd` (no auth) to one that answers `101` to anything;
/// and a client key with a token bound to it.
struct World {
    gw: TestGateway,
    plain: Upstream,
    odd: Upstream,
    key: SigningKey,
    token: String,
}

impl World {
    async fn start() -> World {
        let (plain, odd) = (Upstream::echo().await, Upstream::switching().await);
        let ws = Upstream::start(Behaviour::WebSocketEcho).await;
        let dpop = format!("auth = \"dpop\"\n{IDENTITY}");
        let routes = route_with("ws", "/ws", &ws.url(), &dpop)
            + &route("pub", "/pub", &ws.url())
            + &route_with("api", "/api", &plain.url(), &dpop)
            + &route("odd", "/odd", &odd.url());
        let gw = TestGateway::builder(&dpop_config(&routes))
            .upstream(ws)
            .start()
            .await;
        let key = es256();
        let token = gw.token(Some(&key.jkt().to_string()), Some("chat"));
        World {
            gw,
            plain,
            odd,
            key,
            token,
        }
    }

    /// `method path` with the token and a fresh proof for `htm` on `path`.
    fn dpop(&self, method: &str, htm: &str, path: &str) -> Req {
        let proof = self.gw.proof(&self.key, htm, path, &self.token);
        Req::new(method, path).dpop(&self.token, &proof)
    }
}

#[test]
fn accept_key_is_the_rfc_6455_example() {
    // RFC 6455 §1.3.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_with_a_valid_proof_echoes_frames_both_ways() {
    let w = World::start().await;
    let (head, mut ws) =
        w.gw.websocket(&w.dpop("GET", "GET", "/ws/chat"))
            .await
            .unwrap()
            .switched();
    assert_eq!(head.status, StatusCode::SWITCHING_PROTOCOLS);
    assert!(
        head.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("upgrade")),
        "{:?}",
        head.headers
    );

    let text = ws.round_trip(TEXT, b"hello through DPoP").await;
    assert_eq!(
        (text.opcode, text.text()),
        (TEXT, "hello through DPoP".into())
    );
    // 64-bit length (§5.2), both ways.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let echoed = ws.round_trip(BINARY, &big).await;
    assert_eq!(echoed.opcode, BINARY);
    assert!(echoed.payload == big, "the binary frame came back altered");
    let pong = ws.round_trip(PING, b"are you there").await;
    assert_eq!((pong.opcode, pong.text()), (PONG, "are you there".into()));
    let close = ws.close().await;
    assert_eq!(close.opcode, CLOSE);
    assert_eq!(close.payload, 1000u16.to_be_bytes());

    // The upstream saw one upgrade, with the checked identity and no proof.
    let up = w.gw.upstream();
    assert_eq!(up.count(), 1);
    let rec = up.last();
    assert_eq!(rec.method, "GET");
    assert_eq!(rec.path_and_query(), "/ws/chat");
    assert_eq!(rec.version, Version::HTTP_11);
    assert_eq!(rec.header("upgrade"), Some("websocket"));
    assert_eq!(rec.header("connection"), Some("upgrade"));
    assert_eq!(rec.header("sec-websocket-version"), Some("13"));
    assert!(rec.header("sec-websocket-key").is_some());
    assert_eq!(rec.header("x-auth-subject"), Some("alice"));
    assert_eq!(
        rec.header("x-auth-jkt"),
        Some(w.key.jkt().to_string().as_str())
    );
    assert_eq!(rec.header("dpop"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_never_reach_the_upstream() {
    let w = World::start().await;
    let gw = &w.gw;

    // No credentials: 401 with the bare challenge.
    let ans = gw.websocket(&Req::get("/ws/chat")).await.unwrap().refused();
    ans.assert_gateway_error(401, "invalid_request");
    assert!(
        ans.header("www-authenticate")
            .is_some_and(|w| w.starts_with("DPoP ")),
        "{:?}",
        ans.headers
    );
    // A proof for another method: an upgrade is a GET.
    let ans = gw
        .websocket(&w.dpop("GET", "POST", "/ws/chat"))
        .await
        .unwrap()
        .refused();
    ans.assert_gateway_error(401, "invalid_dpop_proof");

    assert_eq!(gw.upstream().arrived(), 0);
    assert_eq!(gw.upstream().connections(), 0, "the upstream was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_upgrade_proof_gets_401_and_the_upstream_sees_only_the_first() {
    let w = World::start().await;
    let gw = &w.gw;
    let req = w.dpop("GET", "GET", "/ws/chat");

    let (_, mut ws) = gw.websocket(&req).await.unwrap().switched();
    assert_eq!(ws.round_trip(TEXT, b"first").await.text(), "first");
    assert_eq!(ws.close().await.opcode, CLOSE);

    let again = gw.websocket(&req).await.unwrap().refused();
    assert_replayed(&again);
    assert_eq!(gw.upstream().count(), 1);
    assert_eq!(gw.upstream().arrived(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_upgrades_are_removed_as_hop_by_hop() {
    let w = World::start().await;

    // An h2c upgrade on a normal request.
    let h2c = w
        .dpop("GET", "GET", "/api/h2c")
        .h("Connection", "Upgrade, HTTP2-Settings")
        .h("Upgrade", "h2c")
        .h("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA");
    assert_ok(&send(&w.gw, Via::Raw, &h2c).await.unwrap());
    // `Upgrade: websocket` on a POST is no WebSocket handshake either.
    let post = w
        .dpop("POST", "POST", "/api/post")
        .h("Connection", "upgrade")
        .h("Upgrade", "websocket")
        .body("payload");
    assert_ok(&send(&w.gw, Via::Raw, &post).await.unwrap());

    let recs = w.plain.requests();
    assert_eq!(recs.len(), 2);
    for rec in &recs {
        for name in ["upgrade", "http2-settings", "connection"] {
            assert_eq!(rec.header(name), None, "{name} reached {}", rec.path());
        }
    }
    assert_eq!(recs[1].body.as_ref(), b"payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_on_a_public_route() {
    let w = World::start().await;
    let (_, mut ws) =
        w.gw.websocket(&Req::get("/pub/feed?since=3").h("X-Auth-Subject", "forged"))
            .await
            .unwrap()
            .switched();
    let f = ws.round_trip(TEXT, "é public".as_bytes()).await;
    assert_eq!((f.opcode, f.text()), (TEXT, "é public".into()));
    assert_eq!(ws.close().await.opcode, CLOSE);
    let rec = w.gw.upstream().last();
    assert_eq!(rec.path_and_query(), "/pub/feed?since=3");
    assert_eq!(rec.header("upgrade"), Some("websocket"));
    assert_eq!(rec.header("x-auth-subject"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_answers_other_than_a_websocket_101() {
    let w = World::start().await;

    // An upstream that declines the upgrade: its answer comes back as it is.
    let req = w.dpop("GET", "GET", "/api/no-ws");
    let ans = w.gw.websocket(&req).await.unwrap().refused();
    assert_ok(&ans);
    assert_eq!(ans.json()["headers"]["upgrade"][0], "websocket");

    // A 101 to a request that asked for no upgrade is the upstream's fault.
    let ans = send(&w.gw, Via::H1, &Req::get("/odd/x")).await.unwrap();
    ans.assert_gateway_error(502, "bad_gateway");
    assert_eq!(w.odd.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_keeps_a_tunnel_past_the_idle_timeout_and_silence_closes_it() {
    let up = Upstream::start(Behaviour::WebSocketEcho).await;
    let gw = TestGateway::builder(&simple_tls_config(
        "idle_timeout_secs = 2\nheader_read_timeout_secs = 1",
        &up.url(),
    ))
    .upstream(up)
    .start()
    .await;
    let (_, mut ws) = gw.websocket(&Req::get("/live")).await.unwrap().switched();
    let began = Instant::now();
    for i in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let msg = format!("tick {i}");
        assert_eq!(ws.round_trip(TEXT, msg.as_bytes()).await.text(), msg);
    }
    assert!(began.elapsed() > Duration::from_secs(3));

    let quiet = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(6), ws.recv())
        .await
        .expect("an idle tunnel stayed open");
    let after = quiet.elapsed();
    assert!(end.is_err(), "a frame came on a silent tunnel: {end:?}");
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_secs(4),
        "closed after {after:?}, idle_timeout_secs = 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_writes_one_access_line() {
    let up = Upstream::start(Behaviour::WebSocketEcho).await;
    let gw = GatewayProcess::start(&simple_tls_config("", &up.url())).await;
    let cfg = gw.tls_config(TlsVersion::Any, Alpn::Http1);
    let (_, mut ws) = open_tls(gw.addr, cfg, &Req::get("/chat"))
        .await
        .unwrap()
        .switched();
    assert_eq!(
        ws.round_trip(TEXT, b"logged once").await.text(),
        "logged once"
    );
    assert_eq!(ws.close().await.opcode, CLOSE);

    gw.wait_access_lines(1, Duration::from_secs(10)).await;
    // Give a second line, if there were one, the time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = gw.access_lines();
    assert_eq!(lines.len(), 1, "access lines: {lines:?}");
    assert_eq!(lines[0]["status"], 101, "{}", lines[0]);
    assert_eq!(lines[0]["upstream_status"], 101, "{}", lines[0]);
    assert_eq!(lines[0]["path"], "/chat", "{}", lines[0]);
}
