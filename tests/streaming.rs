//! Streaming (interface "Streaming"): Server-Sent Events through a DPoP
//! route reach the client as they are emitted, over HTTP/1.1 and HTTP/2,
//! though the stream outlives `idle_timeout_secs`; `upstream_timeout_secs`
//! bounds only the wait for response headers. Prints the delay the gateway
//! adds to each event next to the same stream read straight from the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::jose::jkt_of;
use common::{
    read_events, route_with, Alpn, Behaviour, ClockMode, TestClient, TestGateway, Upstream,
};
use dpop_gateway::jose::{Alg, SigningKey};
use http::Request;

/// One event every 500 ms for 5 s, as the issue asks.
const EVERY: Duration = Duration::from_millis(500);
const COUNT: usize = 10;
/// The most an event may lag behind its emission.
const BOUND_US: u128 = 100_000;

fn summary(delays: &[(usize, u128)]) -> String {
    let us: Vec<u128> = delays.iter().map(|(_, d)| *d).collect();
    let max = us.iter().max().copied().unwrap_or(0);
    let mean = us.iter().sum::<u128>() / us.len().max(1) as u128;
    format!("mean {mean} µs, max {max} µs over {} events", us.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_are_never_held_back() {
    let up = Upstream::start(Behaviour::Events {
        every: EVERY,
        count: COUNT,
    })
    .await;
    // idle 2 s and upstream 1 s: both shorter than the 5 s stream.
    let rest = route_with("events", "/events", &up.url(), "auth = \"dpop\"");
    let text = common::dpop_config(&rest).replacen(
        "listen = \"127.0.0.1:0\"\n",
        "listen = \"127.0.0.1:0\"\nidle_timeout_secs = 2\nupstream_timeout_secs = 1\n",
        1,
    );
    let gw = TestGateway::builder(&text)
        .clock(ClockMode::System)
        .start()
        .await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(&jkt_of(&key.public_jwk())), None);

    // Baseline: the same stream straight from the upstream, at the same time
    // as both protocols through the gateway (5 s of wall time in all).
    let direct_req = Request::get(format!("{}/events", up.url()))
        .body(common::empty())
        .unwrap();
    let direct = tokio::spawn(async move {
        let resp = TestClient::plain().request(direct_req).await.unwrap();
        read_events(resp.into_body()).await.unwrap()
    });
    let runs = [Alpn::Http1, Alpn::Http2].map(|alpn| {
        let client = gw.client(alpn);
        let req = gw.dpop_request("/events", &token, &key);
        tokio::spawn(async move {
            let resp = client.request(req).await.unwrap();
            let (status, version) = (resp.status(), resp.version());
            let ctype = resp.headers().get("content-type").cloned();
            let events = read_events(resp.into_body()).await.unwrap();
            (alpn, status, version, ctype, events)
        })
    });
    for run in runs {
        let (alpn, status, version, ctype, events) = run.await.unwrap();
        assert_eq!(status, 200, "{alpn:?}");
        assert_eq!(ctype.unwrap(), "text/event-stream", "{alpn:?}");
        eprintln!("gateway {version:?}: {}", summary(&events));
        let numbers: Vec<usize> = events.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            numbers,
            (0..COUNT).collect::<Vec<_>>(),
            "{alpn:?}: every event, in order"
        );
        for (n, delay) in &events {
            assert!(
                *delay < BOUND_US,
                "{alpn:?}: event {n} arrived {delay} µs after it was sent"
            );
        }
    }
    eprintln!("direct:           {}", summary(&direct.await.unwrap()));
    assert_eq!(up.count(), 3);
}
