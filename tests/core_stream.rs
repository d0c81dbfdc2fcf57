//! Large bodies stream through the gateway in both directions without being
//! buffered: the binary runs as a child process so that its own peak RSS
//! (VmHWM) can be compared with the body size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::{Method, Request, Version};

const SIZE: u64 = 32 * MIB;
/// The gateway's peak RSS may grow by at most this much over its warmed-up
/// baseline while 2 x 32 MiB pass through it.
const MAX_GROWTH_KIB: u64 = 16 * 1024;
/// Per transfer; generous for a debug build.
const TRANSFER_BOUND: Duration = Duration::from_secs(30);

async fn start(up: &Upstream) -> GatewayProcess {
    GatewayProcess::start(&simple_tls_config("", &up.url())).await
}

/// One small request per protocol, so that lazily allocated per-protocol
/// state (h2 tables, buffers, pools) is part of the baseline.
async fn warm_up(gw: &GatewayProcess) {
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let req = Request::post(gw.https_url("/warm-up"))
            .body(pattern(64 * KIB))
            .unwrap();
        let ans = gw.client(alpn).send(req).await.unwrap();
        assert_eq!(ans.status, 200, "warm-up {alpn:?}: {}", ans.text());
    }
}

fn assert_bounded_growth(what: &str, base_kib: u64, peak_kib: u64) {
    let growth = peak_kib.saturating_sub(base_kib);
    eprintln!(
        "{what}: gateway VmHWM {base_kib} KiB after warm-up -> {peak_kib} KiB (+{growth} KiB) for 2 x {} MiB",
        SIZE / MIB
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "{what}: the gateway's peak RSS grew by {growth} KiB (limit {MAX_GROWTH_KIB} KiB): \
         the body looks buffered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_32_mib_streams_through_without_buffering() {
    let up = Upstream::echo().await;
    let mut gw = start(&up).await;
    warm_up(&gw).await;
    let base = gw.vm_hwm_kib();
    let want_sha = pattern_sha256(SIZE);

    // HTTP/1.1 chunked (no length known up front), then HTTP/2 with a length.
    for (alpn, body, chunked) in [
        (Alpn::Http1, pattern_unsized(SIZE), true),
        (Alpn::Http2, pattern(SIZE), false),
    ] {
        let started = Instant::now();
        let req = Request::builder()
            .method(Method::PUT)
            .uri(gw.https_url(&format!("/upload/{alpn:?}")))
            .header("content-type", "application/octet-stream")
            .body(body)
            .unwrap();
        let ans = tokio::time::timeout(TRANSFER_BOUND, gw.client(alpn).send(req))
            .await
            .expect("upload timed out")
            .unwrap();
        assert_eq!(ans.status, 200, "{alpn:?}: {}", ans.text());
        eprintln!("upload {alpn:?}: {:?}", started.elapsed());

        let rec = up.last();
        assert_eq!(rec.path(), format!("/upload/{alpn:?}"));
        assert_eq!(rec.body_error, None);
        assert_eq!(rec.body_len, SIZE, "{alpn:?}: upstream byte count");
        assert_eq!(rec.body_sha256, want_sha, "{alpn:?}: upstream checksum");
        if chunked {
            assert_eq!(rec.header("content-length"), None);
        } else {
            assert_eq!(
                rec.header("content-length"),
                Some(SIZE.to_string().as_str())
            );
        }
        // The echo is about the same body.
        let v = ans.json();
        assert_eq!(v["body_len"], SIZE);
        assert_eq!(v["body_sha256"], want_sha.as_str());
    }
    assert_bounded_growth("upload", base, gw.vm_hwm_kib());

    gw.sigterm();
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("no exit");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_32_mib_streams_through_without_buffering() {
    let up = Upstream::start(Behaviour::Download(SIZE)).await;
    let mut gw = start(&up).await;
    // Warm up against the same upstream with tiny requests: the download
    // behaviour answers every request with SIZE bytes, so warm up with HEAD.
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let req = Request::head(gw.https_url("/warm-up"))
            .body(empty())
            .unwrap();
        let ans = gw.client(alpn).send(req).await.unwrap();
        assert_eq!(ans.status, 200);
        assert!(ans.body.is_empty());
    }
    let base = gw.vm_hwm_kib();
    let want_sha = pattern_sha256(SIZE);

    for (alpn, version) in [
        (Alpn::Http1, Version::HTTP_11),
        (Alpn::Http2, Version::HTTP_2),
    ] {
        let started = Instant::now();
        let client = gw.client(alpn);
        let read = async {
            let resp = client
                .request(
                    Request::get(gw.https_url("/download"))
                        .body(empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.version(), version);
            assert_eq!(
                resp.headers()
                    .get("content-length")
                    .map(|v| v.to_str().unwrap()),
                Some(SIZE.to_string().as_str()),
                "{alpn:?}: the length is passed on"
            );
            digest_body(resp.into_body()).await.unwrap()
        };
        let got = tokio::time::timeout(TRANSFER_BOUND, read)
            .await
            .expect("download timed out");
        eprintln!(
            "download {alpn:?}: {:?}, {} frames, largest {} bytes",
            started.elapsed(),
            got.frames,
            got.max_frame
        );
        assert_eq!(got.len, SIZE, "{alpn:?}: bytes received");
        assert_eq!(got.sha256_hex(), want_sha, "{alpn:?}: checksum");
        // Streamed in frames, not handed over as one buffered blob.
        assert!(
            got.max_frame <= 4 * MIB as usize,
            "{alpn:?}: a frame of {} bytes",
            got.max_frame
        );
    }
    assert_bounded_growth("download", base, gw.vm_hwm_kib());
    assert_eq!(up.count(), 4);

    gw.sigterm();
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("no exit");
    assert_eq!(status.code(), Some(0));
}
