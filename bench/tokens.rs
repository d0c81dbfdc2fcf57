//! Per-request cost of a cached token verdict: a JWT access token (verified
//! once, then a cache hit) next to an opaque token whose introspection answer
//! is cached. The introspection endpoint is a real HTTPS server on loopback,
//! asked once to warm the cache.
//!
//! Run: `cargo bench --bench tokens`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::DemoPki;
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint::{self, TokenSpec};
use dpop_gateway::token::{Issuer, TokenValidator};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

const NOW: i64 = 1_800_000_000;

async fn introspection_server(pki: &DemoPki) -> std::net::SocketAddr {
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write(dir.path()).unwrap();
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
                let svc = service_fn(|_req| async {
                    let body = format!(
                        r#"{{"active":true,"sub":"bench","client_id":"bench","scope":"read","exp":{},"cnf":{{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}}}"#,
                        NOW + 3600
                    );
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::localhost().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    let as_key = SigningKey::generate(Alg::Es256).unwrap();
    std::fs::write(
        dir.path().join("as.jwks.json"),
        mint::jwks(&as_key).to_string(),
    )
    .unwrap();
    let addr = rt.block_on(introspection_server(&pki));
    let text = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [[issuers]]
        issuer = "https://jwt.bench"
        audiences = ["https://api.bench"]
        jwks_file = "as.jwks.json"
        [[issuers]]
        issuer = "https://opaque.bench"
        introspection_url = "https://localhost:{}/introspect"
        introspection_client_id = "gateway"
        introspection_client_secret_file = "secret"
        ca_file = "ca.pem"
        [[routes]]
        name = "r"
        path_prefix = "/"
        upstream = "http://127.0.0.1:9"
        auth = "dpop"
        "#,
        addr.port()
    );
    let config = Config::from_toml(&text, dir.path()).unwrap();
    let validator = rt.block_on(async {
        TokenValidator::new(
            config
                .issuers
                .iter()
                .map(|i| Issuer::from_config(i).unwrap())
                .collect(),
        )
    });
    let spec = TokenSpec {
        iss: "https://jwt.bench".into(),
        aud: "https://api.bench".into(),
        jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        sub: "bench".into(),
        client_id: "bench".into(),
        scope: Some("read".into()),
        ttl_secs: 3600,
    };
    let jwt = mint::access_token(&as_key, &spec, NOW).unwrap();
    let opaque = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".to_string();
    let digest = |t: &str| dpop_gateway::digest::sha256(t);
    let (jd, od) = (digest(&jwt), digest(&opaque));
    // Warm both caches (the second is one real HTTPS introspection call).
    rt.block_on(async {
        validator.validate(&jwt, &jd, NOW).await.unwrap();
        validator.validate(&opaque, &od, NOW).await.unwrap();
    });
    let validator = Arc::new(validator);
    c.bench_function("cached JWT access token", |b| {
        b.iter(|| rt.block_on(validator.validate(&jwt, &jd, NOW)).unwrap())
    });
    c.bench_function("cached introspection result", |b| {
        b.iter(|| rt.block_on(validator.validate(&opaque, &od, NOW)).unwrap())
    });
    c.bench_function("sha256 of the token (ath / cache key)", |b| {
        b.iter(|| digest(criterion::black_box(&jwt)))
    });
}

criterion_group! {
    name = tokens;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(tokens);
