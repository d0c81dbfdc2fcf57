//! TLS termination over real sockets: protocol versions, ALPN, trust, and
//! plain HTTP when `[server.tls]` is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use http::{Request, Version};
use rustls::ProtocolVersion;

async fn tls_gateway() -> (Upstream, TestGateway) {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;
    (up, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_and_tls13_handshakes_succeed_and_proxy() {
    let (up, gw) = tls_gateway().await;
    for (offer, want) in [
        (TlsVersion::Tls12, ProtocolVersion::TLSv1_2),
        (TlsVersion::Tls13, ProtocolVersion::TLSv1_3),
    ] {
        // A raw connection, to see what was negotiated.
        let req = Request::get(gw.https_url(&format!("/raw/{want:?}?x=1")))
            .body(empty())
            .unwrap();
        let (info, ans) = raw_request(gw.addr, gw.tls_config(offer, Alpn::Http1), "localhost", req)
            .await
            .unwrap_or_else(|e| panic!("{offer:?}: {}", error_chain(&*e)));
        assert_eq!(info.version, want);
        assert_eq!(ans.status, 200, "{}", ans.text());
        assert_eq!(ans.json()["path"], format!("/raw/{want:?}"));
        assert_eq!(up.last().path_and_query(), format!("/raw/{want:?}?x=1"));

        // The pooled client restricted to that version works too.
        let ans = gw
            .client_with(offer, Alpn::Both)
            .get(&gw.https_url("/pooled"))
            .await;
        assert_eq!(ans.status, 200);
    }
    assert_eq!(up.count(), 4);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_gives_http2() {
    let (up, gw) = tls_gateway().await;

    // hyper-rustls offering only h2.
    let ans = gw.client(Alpn::Http2).get(&gw.https_url("/h2?q=2")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.version, Version::HTTP_2);
    let rec = up.last();
    assert_eq!(rec.path_and_query(), "/h2?q=2");
    // The gateway talks HTTP/1.1 to a plain-http upstream whatever the client spoke.
    assert_eq!(rec.version, Version::HTTP_11);

    // What the handshake negotiated, offering h2 alone and h2 + http/1.1
    // (the server prefers h2).
    for offer in [Alpn::Http2, Alpn::Both] {
        let req = Request::get(gw.https_url("/h2raw")).body(empty()).unwrap();
        let (info, ans) = raw_request(
            gw.addr,
            gw.tls_config(TlsVersion::Any, offer),
            "localhost",
            req,
        )
        .await
        .unwrap();
        assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]), "{offer:?}");
        assert_eq!(ans.version, Version::HTTP_2);
        assert_eq!(ans.status, 200);
    }
    assert_eq!(up.count(), 3);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_http11_and_no_alpn_give_http11() {
    let (up, gw) = tls_gateway().await;

    let req = Request::get(gw.https_url("/h1raw")).body(empty()).unwrap();
    let (info, ans) = raw_request(
        gw.addr,
        gw.tls_config(TlsVersion::Any, Alpn::Http1),
        "localhost",
        req,
    )
    .await
    .unwrap();
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(ans.version, Version::HTTP_11);
    assert_eq!(ans.status, 200);

    // No ALPN extension at all: HTTP/1.1.
    let req = Request::get(gw.https_url("/noalpn")).body(empty()).unwrap();
    let (info, ans) = raw_request(
        gw.addr,
        gw.tls_config(TlsVersion::Any, Alpn::None),
        "localhost",
        req,
    )
    .await
    .unwrap();
    assert_eq!(info.alpn, None);
    assert_eq!(ans.version, Version::HTTP_11);
    assert_eq!(ans.status, 200);

    // The pooled HTTP/1.1-only client.
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/h1")).await;
    assert_eq!(ans.version, Version::HTTP_11);
    assert_eq!(ans.status, 200);

    let paths: Vec<String> = up.requests().iter().map(|r| r.path().to_owned()).collect();
    assert_eq!(paths, ["/h1raw", "/noalpn", "/h1"]);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_fails_the_handshake_and_nothing_is_forwarded() {
    let (up, gw) = tls_gateway().await;
    let other = dpop_gateway::demo::pki::DemoPki::localhost().unwrap();

    // A client that trusts another CA (with the same subject name, so
    // rustls finds an issuer and the signature check fails) and one that
    // trusts nothing at all.
    let cfg = tls_client_config(&other.ca_pem, TlsVersion::Any, Alpn::Both);
    let err = tls_connect(gw.addr, cfg, "localhost")
        .await
        .map(|_| ())
        .expect_err("handshake with an untrusted certificate succeeded");
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            ))
        ),
        "unexpected error: {err:?}"
    );
    let cfg = tls_client_config("", TlsVersion::Any, Alpn::Both);
    let err = tls_connect(gw.addr, cfg, "localhost")
        .await
        .map(|_| ())
        .expect_err("handshake without any trusted root succeeded");
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "unexpected error: {err:?}"
    );

    // The pooled client fails the same way, before any request is sent.
    let client = TestClient::https(&other.ca_pem, TlsVersion::Any, Alpn::Both);
    let req = Request::get(gw.https_url("/secret")).body(empty()).unwrap();
    let err = client.send(req).await.expect_err("request succeeded");
    let chain = error_chain(&*err);
    assert!(chain.contains("invalid peer certificate"), "{chain}");

    // Trusted CA, but a name the certificate does not cover.
    let cfg = gw.tls_config(TlsVersion::Any, Alpn::Both);
    let err = tls_connect(gw.addr, cfg, "not-localhost.example")
        .await
        .map(|_| ())
        .expect_err("handshake for a wrong name succeeded");
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(_))
        ),
        "unexpected error: {err:?}"
    );

    assert_eq!(up.arrived(), 0, "the upstream received a request");
    assert_eq!(up.connections(), 0, "the gateway connected to the upstream");

    // The listener is unharmed by the failed handshakes.
    let ans = gw.client(Alpn::Both).get(&gw.https_url("/after")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(up.count(), 1);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_without_tls_table() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{}",
        route("all", "/", &up.url())
    ))
    .await;
    assert!(!gw.tls);

    let ans = TestClient::plain().get(&gw.http_url("/plain?a=1")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.version, Version::HTTP_11);
    let rec = up.last();
    assert_eq!(rec.path_and_query(), "/plain?a=1");
    assert_eq!(rec.header("x-forwarded-proto"), Some("http"));

    // h2c with prior knowledge.
    let ans = TestClient::plain_h2c().get(&gw.http_url("/h2c")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.version, Version::HTTP_2);
    assert_eq!(up.last().path(), "/h2c");

    // A TLS client gets no handshake from a plain listener.
    let cfg = tls_client_config(&gw.pki.ca_pem, TlsVersion::Any, Alpn::Both);
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        tls_connect(gw.addr, cfg, "localhost"),
    )
    .await
    .expect("TLS handshake attempt against a plain listener hung");
    assert!(res.is_err(), "TLS handshake succeeded on a plain listener");
    assert_eq!(up.count(), 2);
    gw.shutdown().await;
}
