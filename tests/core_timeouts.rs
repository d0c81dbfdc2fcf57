//! Connection timeouts over real TLS, with `header_read_timeout_secs = 1`
//! and `idle_timeout_secs = 4`: a kept-alive HTTP/1.1 connection waits for
//! its next request as long as the idle timeout (not the header timeout), a
//! request head must be complete one second after its first byte, and an
//! HTTP/2 connection is never cut by the header timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::asserts::assert_ok;
use common::req::read_response;
use common::*;
use http::Request;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

async fn gateway() -> TestGateway {
    let up = Upstream::echo().await;
    let config = simple_tls_config(
        "header_read_timeout_secs = 1\nidle_timeout_secs = 4",
        &up.url(),
    );
    TestGateway::builder(&config).upstream(up).start().await
}

fn get(gw: &TestGateway, path: &str) -> Request<TestBody> {
    Request::get(gw.https_url(path)).body(empty()).unwrap()
}

/// Reads until the server ends the connection (end of stream or an error);
/// returns how long that took. Panics on data or after `bound`.
async fn closed_within<S: AsyncRead + Unpin>(io: &mut S, bound: Duration) -> Duration {
    let began = Instant::now();
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(bound, io.read(&mut buf)).await {
        Err(_) => panic!("still open after {bound:?}"),
        Ok(Ok(n)) if n > 0 => panic!("{n} unexpected bytes: {:?}", &buf[..n]),
        Ok(_) => began.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_waits_for_the_idle_timeout_not_the_header_timeout() {
    let gw = gateway().await;
    let mut conn = Conn::http1(gw.addr, gw.tls_config(TlsVersion::Any, Alpn::Http1))
        .await
        .unwrap();
    assert_ok(&conn.send(get(&gw, "/one")).await.unwrap());

    // Idle twice the header timeout, half the idle timeout: still served,
    // on the same connection.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!conn.closed.is_finished(), "closed while idle 2 s");
    assert_ok(&conn.send(get(&gw, "/two")).await.unwrap());
    assert_eq!(gw.upstream().count(), 2);

    // Then idle past idle_timeout_secs: closed, at about 4 s.
    let idle = Instant::now();
    tokio::time::timeout(Duration::from_secs(8), &mut conn.closed)
        .await
        .expect("an idle connection stayed open 8 s")
        .unwrap()
        .unwrap();
    let after = idle.elapsed();
    println!("idle connection closed after {after:?}");
    assert!(
        after >= Duration::from_millis(3800) && after < Duration::from_secs(6),
        "closed after {after:?}, idle_timeout_secs = 4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_cut_after_the_header_timeout() {
    let gw = gateway().await;
    let half = format!(
        "GET /stalled HTTP/1.1\r\nHost: {}\r\nX-Slow:",
        gw.authority()
    );

    // On a fresh connection.
    let cfg = gw.tls_config(TlsVersion::Any, Alpn::Http1);
    let mut fresh = tls_connect(gw.addr, cfg.clone(), "localhost")
        .await
        .unwrap();
    fresh.write_all(half.as_bytes()).await.unwrap();
    fresh.flush().await.unwrap();
    let fresh_cut = closed_within(&mut fresh, Duration::from_secs(3));

    // On a kept-alive connection, after an idle wait longer than the header
    // timeout: the clock starts at the head's first byte, not at the wait.
    let kept = async {
        let mut tls = tls_connect(gw.addr, cfg, "localhost").await.unwrap();
        let first = format!("GET /first HTTP/1.1\r\nHost: {}\r\n\r\n", gw.authority());
        tls.write_all(first.as_bytes()).await.unwrap();
        assert_ok(&read_response(&mut tls, Vec::new()).await.unwrap());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tls.write_all(half.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        closed_within(&mut tls, Duration::from_secs(3)).await
    };

    let (fresh_cut, kept_cut) = tokio::join!(fresh_cut, kept);
    println!("stalled heads cut after {fresh_cut:?} (fresh), {kept_cut:?} (kept alive)");
    for cut in [fresh_cut, kept_cut] {
        assert!(
            cut >= Duration::from_millis(900) && cut < Duration::from_secs(3),
            "cut after {cut:?}, header_read_timeout_secs = 1"
        );
    }
    assert!(gw
        .upstream()
        .requests()
        .iter()
        .all(|r| r.path() != "/stalled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_frames_between_requests_are_no_request_head() {
    let gw = gateway().await;
    let cfg = gw.tls_config(TlsVersion::Any, Alpn::Http2);
    let mut conn = Conn::http2(gw.addr, cfg, Duration::from_millis(300))
        .await
        .unwrap();
    assert_ok(&conn.send(get(&gw, "/one")).await.unwrap());
    // PINGs flow while no request is open, for twice the header timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!conn.closed.is_finished(), "the HTTP/2 connection was cut");
    let ans = conn.send(get(&gw, "/two")).await.unwrap();
    assert_ok(&ans);
    assert_eq!(ans.version, http::Version::HTTP_2);
}
