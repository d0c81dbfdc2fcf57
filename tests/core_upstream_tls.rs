//! HTTPS upstreams: the gateway's upstream client verifies the upstream's
//! certificate against the webpki roots plus the route's `upstream_ca_file`,
//! and refuses (502) an upstream it cannot verify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{simple_tls_config, Alpn, TestGateway};
use dpop_gateway::demo::pki::DemoPki;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// An HTTPS upstream on 127.0.0.1 that answers with the path it received
/// and the protocol version; returns its address.
async fn tls_upstream(pki: &DemoPki, dir: &std::path::Path) -> SocketAddr {
    let files = pki.write(dir).unwrap();
    let tls = dpop_gateway::tls::server_config(&files.cert, &files.key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let version = format!("{:?}", req.version());
                    let host = req
                        .headers()
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let path = req.uri().path().to_string();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let text = format!("{path} {version} {host} {}", body.len());
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_its_ca_is_proxied() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::localhost().unwrap();
    let addr = tls_upstream(&pki, dir.path()).await;
    let ca = dir.path().join("ca.pem");
    let config = format!(
        "{}upstream_ca_file = \"{}\"\n",
        simple_tls_config("", &format!("https://localhost:{}", addr.port())),
        ca.display()
    );
    let gw = TestGateway::start(&config).await;
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let ans = gw.client(alpn).get(&gw.https_url("/secure/path")).await;
        assert_eq!(ans.status, 200, "{}", ans.text());
        let text = ans.text();
        // The path arrives intact and the authority is the upstream's.
        // ALPN to the upstream chose h2 (the client offers h2 and http/1.1).
        assert_eq!(
            text,
            format!("/secure/path HTTP/2.0 localhost:{} 0", addr.port())
        );
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_an_untrusted_certificate_is_502() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::localhost().unwrap();
    let addr = tls_upstream(&pki, dir.path()).await;
    // No upstream_ca_file: the webpki roots do not know this CA.
    let config = simple_tls_config("", &format!("https://localhost:{}", addr.port()));
    let gw = TestGateway::start(&config).await;
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/secure")).await;
    ans.assert_gateway_error(502, "bad_gateway");
    gw.shutdown().await;
}
