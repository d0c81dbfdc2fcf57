//! The whole request path in-process, without a client network: a request
//! handed to `Pipeline::handle` is routed, read (host and path checks),
//! authenticated (`auth = "dpop"`: proof parsing and claims, token cache,
//! binding, ES256 signature, replay record), forwarded over a pooled
//! keep-alive connection to an upstream in the same process (hyper, on
//! loopback), and its response body read. The `auth = "none"` route is the
//! same path without the DPoP check, so the difference is the check's cost
//! as the server pays it.
//!
//! Every proof is fresh (distinct jti); a new pipeline (replay store, token
//! cache warmed by one request) is built whenever the pre-signed pool is
//! used up, outside the timed section.
//!
//! Run: `cargo bench --bench pipeline`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "material.rs"]
mod material;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use dpop_gateway::clock::{ManualClock, SharedClock};
use dpop_gateway::config::Config;
use dpop_gateway::jose::Alg;
use dpop_gateway::proxy::{ConnInfo, Pipeline};
use dpop_gateway::replay::{MemoryReplayStore, ReplayStore};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://api.example.com/orders/42";
const POOL: usize = 2000;

/// An upstream answering every request with a small JSON body, keep-alive.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tcp.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        br#"{"ok":true}"#,
                    ))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

struct Setup {
    config: Config,
    clock: SharedClock,
    authorization: HeaderValue,
    proofs: Vec<HeaderValue>,
    _dir: tempfile::TempDir,
}

fn setup(upstream: SocketAddr) -> Setup {
    let m = material::material(Alg::Es256, None, NOW);
    let text = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [dpop]
        algs = ["ES256"]
        [[issuers]]
        issuer = "https://as.example.com"
        audiences = ["https://api.example.com"]
        jwks_file = "as.jwks.json"
        [[routes]]
        name = "orders"
        path_prefix = "/orders"
        upstream = "http://{upstream}"
        auth = "dpop"
        [[routes]]
        name = "open"
        path_prefix = "/open"
        upstream = "http://{upstream}"
        auth = "none"
        "#
    );
    let config = Config::from_toml(&text, m.dir.path()).unwrap();
    let proofs = m
        .proofs(URL, NOW, POOL)
        .iter()
        .map(|p| HeaderValue::from_str(p).unwrap())
        .collect();
    Setup {
        config,
        clock: Arc::new(ManualClock::new(NOW)),
        authorization: HeaderValue::from_str(&format!("DPoP {}", m.token)).unwrap(),
        proofs,
        _dir: m.dir,
    }
}

fn request(path: &str, dpop: Option<(&HeaderValue, &HeaderValue)>) -> Request<Empty<Bytes>> {
    let mut req = Request::get(path).header("host", "api.example.com");
    if let Some((authorization, proof)) = dpop {
        req = req
            .header("authorization", authorization.clone())
            .header("dpop", proof.clone());
    }
    req.body(Empty::new()).unwrap()
}

async fn send(pipeline: &Pipeline, conn: &ConnInfo, req: Request<Empty<Bytes>>) -> u16 {
    let (resp, _) = pipeline.handle(req, conn).await;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.as_ref(), br#"{"ok":true}"#, "status {status}");
    status
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(upstream());
    let s = setup(addr);
    let conn = ConnInfo::new("127.0.0.1:40000".parse().unwrap(), http::uri::Scheme::HTTPS);
    let fresh = || {
        let store = ReplayStore::Memory(Arc::new(MemoryReplayStore::new(1_000_000)));
        let pipeline = Pipeline::new(&s.config, s.clock.clone(), store).unwrap();
        // Warm the token cache and the upstream connection, as a steady client would.
        let warm = request("/orders/42", Some((&s.authorization, &s.proofs[0])));
        assert_eq!(rt.block_on(send(&pipeline, &conn, warm)), 200);
        pipeline
    };

    c.bench_function("request path, auth = none (route, forward, respond)", |b| {
        let pipeline = fresh();
        b.iter(|| {
            let status = rt.block_on(send(&pipeline, &conn, request("/open/42", None)));
            debug_assert_eq!(status, 200);
        })
    });

    c.bench_function(
        "request path, auth = dpop ES256 (route, check, verify, replay, forward)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let pipeline = fresh();
                    // Proof 0 warmed the cache and is spent; use the rest.
                    let n = (iters - done).min(POOL as u64 - 1) as usize;
                    let start = Instant::now();
                    for proof in &s.proofs[1..=n] {
                        let req = request("/orders/42", Some((&s.authorization, proof)));
                        let status = rt.block_on(send(&pipeline, &conn, req));
                        debug_assert_eq!(status, 200);
                    }
                    total += start.elapsed();
                    done += n as u64;
                }
                total
            })
        },
    );
}

criterion_group! {
    name = pipeline;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(pipeline);
