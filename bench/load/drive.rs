//! One timed run: connections, the closed or open loop, latencies, statuses,
//! and the server's CPU over the window.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint::{self, ProofSpec};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::cpu;

#[derive(clap::Args)]
pub struct RunArgs {
    /// https://127.0.0.1:PORT/path
    #[arg(long)]
    url: String,
    /// The contender's name in the results.
    #[arg(long)]
    label: String,
    /// h1 (HTTP/1.1, one request at a time per connection) or h2.
    #[arg(long, default_value = "h1")]
    proto: String,
    /// Requests in flight (closed loop), or workers (open loop).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2: connections the requests are multiplexed over.
    #[arg(long, default_value_t = 4)]
    h2_connections: usize,
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Open loop: requests per second (else closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop at --rate-fraction of this label's last closed-loop rps
    /// (same proto) in --out.
    #[arg(long)]
    rate_of: Option<String>,
    #[arg(long, default_value_t = 0.5)]
    rate_fraction: f64,
    /// The setup directory: send `Authorization: DPoP <token>` and a fresh
    /// proof signed with client.jwk on every request.
    #[arg(long)]
    dpop: Option<PathBuf>,
    /// Proofs signed before the window (closed loop); the run ends early,
    /// and says so, if they run out.
    #[arg(long, default_value_t = 100_000)]
    proofs: usize,
    /// Stop after this many requests (else at --secs).
    #[arg(long)]
    requests: Option<usize>,
    /// The CA that signed the server certificate.
    #[arg(long)]
    ca: PathBuf,
    /// Server processes whose CPU (with all descendants) is measured.
    #[arg(long, value_delimiter = ',')]
    pids: Vec<u32>,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Run number, for the report.
    #[arg(long, default_value_t = 1)]
    run: u32,
    /// JSON lines file to append to.
    #[arg(long)]
    out: PathBuf,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// N fresh proofs for GET `url`, signed on every core.
fn sign_proofs(dir: &Path, url: &str, n: usize) -> (HeaderValue, Vec<HeaderValue>) {
    let token = std::fs::read_to_string(dir.join("token")).unwrap();
    let jwk = std::fs::read_to_string(dir.join("client.jwk")).unwrap();
    let key = SigningKey::from_private_jwk(&jwk, None).unwrap();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let iat = unix_now();
    let per = n.div_ceil(threads);
    let proofs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (key, token) = (&key, token.as_str());
                let count = per.min(n.saturating_sub(t * per));
                s.spawn(move || {
                    (0..count)
                        .map(|_| {
                            let spec = ProofSpec {
                                method: "GET",
                                url,
                                token: Some(token),
                                nonce: None,
                                iat,
                            };
                            let proof = mint::proof(key, &spec).unwrap();
                            HeaderValue::from_maybe_shared(Bytes::from(proof)).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let authorization = HeaderValue::from_str(&format!("DPoP {token}")).unwrap();
    (authorization, proofs)
}

fn client_tls(ca: &Path, alpn: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn send(
        &mut self,
        req: Request<Empty<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }
}

async fn connect(uri: &Uri, tls: &TlsConnector, h2: bool) -> Sender {
    let host = uri.host().unwrap().to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port)).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from(host).unwrap();
    let stream = tls.connect(name, tcp).await.unwrap();
    let negotiated = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(stream);
    if h2 {
        assert_eq!(negotiated.as_deref(), Some(&b"h2"[..]), "server refused h2");
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        Sender::H2(send)
    } else {
        let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        Sender::H1(send)
    }
}

struct Shared {
    next: AtomicUsize,
    start: Instant,
    deadline: Instant,
    rate: Option<f64>,
    max_requests: usize,
    uri: Uri,
    path: Uri,
    host: HeaderValue,
    h2: bool,
    dpop: Option<(HeaderValue, Vec<HeaderValue>)>,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    last: Option<Instant>,
    exhausted: bool,
}

async fn worker(mut sender: Sender, shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::default();
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let scheduled = match shared.rate {
            Some(rate) => shared.start + Duration::from_secs_f64(i as f64 / rate),
            None => Instant::now(),
        };
        if scheduled >= shared.deadline || i >= shared.max_requests {
            break;
        }
        let mut req = Request::get(if shared.h2 { &shared.uri } else { &shared.path });
        if !shared.h2 {
            req = req.header(HOST, shared.host.clone());
        }
        if let Some((authorization, proofs)) = &shared.dpop {
            let Some(proof) = proofs.get(i) else {
                stats.exhausted = true;
                break;
            };
            req = req
                .header(AUTHORIZATION, authorization.clone())
                .header("dpop", proof.clone());
        }
        let req = req.body(Empty::new()).unwrap();
        // Open loop: latency counts from the scheduled start whenever this
        // worker was still busy with its previous request then (the server's
        // slowness delayed the send: coordinated omission is not hidden). A
        // worker that was free sleeps until the start, and the timer wakes it
        // up to a millisecond late: that overshoot is the client's, so the
        // latency then counts from the actual send.
        let mut started = scheduled;
        if shared.rate.is_some() && Instant::now() < scheduled {
            tokio::time::sleep_until(scheduled.into()).await;
            started = Instant::now();
        }
        match sender.send(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if let Err(e) = resp.into_body().collect().await {
                    *stats.errors.entry(format!("body: {e}")).or_default() += 1;
                    break;
                }
                let done = Instant::now();
                let us = done.saturating_duration_since(started).as_micros();
                stats.latencies_us.push(us.min(u32::MAX as u128) as u32);
                *stats.statuses.entry(status).or_default() += 1;
                stats.last = Some(done);
            }
            Err(e) => {
                // The connection is gone: count it and stop this worker.
                *stats.errors.entry(e.to_string()).or_default() += 1;
                break;
            }
        }
    }
    stats
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// The last closed-loop rps of `label` over `proto` in the JSON lines at `out`.
fn last_rps(out: &Path, label: &str, proto: &str) -> f64 {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["label"] == label && v["proto"] == proto && v["mode"] == "closed")
        .find_map(|v| v["rps"].as_f64())
        .unwrap_or_else(|| panic!("no closed-loop run of {label} over {proto} in {out:?}"))
}

pub fn run(args: RunArgs) {
    let h2 = match args.proto.as_str() {
        "h1" => false,
        "h2" => true,
        other => panic!("--proto is h1 or h2, not {other}"),
    };
    let rate = match (&args.rate, &args.rate_of) {
        (Some(r), _) => Some(*r),
        (None, Some(label)) => Some(last_rps(&args.out, label, &args.proto) * args.rate_fraction),
        (None, None) => None,
    };
    let uri: Uri = args.url.parse().unwrap();
    let path: Uri = uri.path_and_query().unwrap().as_str().parse().unwrap();
    let host = HeaderValue::from_str(uri.authority().unwrap().as_str()).unwrap();
    let proofs = match rate {
        Some(r) => (r * args.secs * 1.05) as usize + 1000,
        None => args.requests.unwrap_or(args.proofs),
    };
    let dpop = args.dpop.as_ref().map(|dir| {
        let signed = Instant::now();
        let material = sign_proofs(dir, &args.url, proofs);
        eprintln!(
            "  signed {} proofs in {:.1} s",
            material.1.len(),
            signed.elapsed().as_secs_f64()
        );
        material
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    let tls = client_tls(&args.ca, if h2 { b"h2" } else { b"http/1.1" });
    let concurrency = args.concurrency.max(1);
    let (stats, elapsed, server_cpu, client_cpu) = runtime.block_on(async {
        let mut senders = Vec::with_capacity(concurrency);
        if h2 {
            let mut conns = Vec::new();
            for _ in 0..args.h2_connections.max(1) {
                conns.push(connect(&uri, &tls, true).await);
            }
            for i in 0..concurrency {
                let Sender::H2(s) = &conns[i % conns.len()] else {
                    unreachable!()
                };
                senders.push(Sender::H2(s.clone()));
            }
        } else {
            for _ in 0..concurrency {
                senders.push(connect(&uri, &tls, false).await);
            }
        }
        let cpu0 = cpu::tree_seconds(&args.pids);
        let client0 = cpu::tree_seconds(&[std::process::id()]);
        let start = Instant::now();
        let shared = Arc::new(Shared {
            next: AtomicUsize::new(0),
            start,
            deadline: start + Duration::from_secs_f64(args.secs),
            rate,
            max_requests: args.requests.unwrap_or(usize::MAX),
            uri: uri.clone(),
            path,
            host,
            h2,
            dpop,
        });
        let tasks: Vec<_> = senders
            .into_iter()
            .map(|s| tokio::spawn(worker(s, shared.clone())))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        let end = all.iter().filter_map(|s| s.last).max().unwrap_or(start);
        let server = cpu::tree_seconds(&args.pids) - cpu0;
        let client = cpu::tree_seconds(&[std::process::id()]) - client0;
        (all, end.duration_since(start), server, client)
    });
    // Connections close with the runtime, after the window.
    drop(runtime);

    let mut latencies: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for s in &stats {
        for (k, v) in &s.statuses {
            *statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &s.errors {
            *errors.entry(k.clone()).or_default() += v;
        }
    }
    let completed = latencies.len() as u64;
    let ok: u64 = statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let non2xx: BTreeMap<String, u64> = statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    let line = json!({
        "kind": "load",
        "run": args.run,
        "label": args.label,
        "proto": args.proto,
        "mode": if rate.is_some() { "open" } else { "closed" },
        "rate": rate,
        "concurrency": concurrency,
        "h2_connections": if h2 { Some(args.h2_connections) } else { None },
        "secs": secs,
        "requests": completed,
        "ok": ok,
        "rps": completed as f64 / secs,
        "p50_ms": percentile(&latencies, 50.0),
        "p90_ms": percentile(&latencies, 90.0),
        "p99_ms": percentile(&latencies, 99.0),
        "p999_ms": percentile(&latencies, 99.9),
        "max_ms": latencies.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
        "non2xx": non2xx,
        "errors": errors,
        "proofs_exhausted": stats.iter().any(|s| s.exhausted),
        "server_cpu_s": server_cpu,
        "cpu_us_per_req": if completed > 0 { server_cpu * 1e6 / completed as f64 } else { 0.0 },
        "client_cpu_us_per_req": if completed > 0 { client_cpu * 1e6 / completed as f64 } else { 0.0 },
    });
    eprintln!(
        "  {:<22} {} {:<6} {:>9.0} rps  p50 {:.2} p99 {:.2} p99.9 {:.2} ms  {:.1} CPU µs/req  non-2xx {} errors {}{}",
        args.label,
        args.proto,
        line["mode"].as_str().unwrap_or(""),
        line["rps"].as_f64().unwrap_or(0.0),
        line["p50_ms"].as_f64().unwrap_or(0.0),
        line["p99_ms"].as_f64().unwrap_or(0.0),
        line["p999_ms"].as_f64().unwrap_or(0.0),
        line["cpu_us_per_req"].as_f64().unwrap_or(0.0),
        line["non2xx"],
        line["errors"],
        if line["proofs_exhausted"] == true { " (proofs ran out: shortened)" } else { "" },
    );
    append(&args.out, &line);
}

fn append(out: &Path, line: &serde_json::Value) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// CPU µs of one ring ES256 verification of a real proof, on this thread.
pub fn floor(secs: f64, out: &Path) {
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let spec = ProofSpec {
        method: "GET",
        url: "https://127.0.0.1:8443/dpop/orders",
        token: Some("token"),
        nonce: None,
        iat: unix_now(),
    };
    let proof = mint::proof(&key, &spec).unwrap();
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let sig = dpop_gateway::jose::b64::decode(sig).unwrap();
    let jwk = key.public_jwk();
    let field = |k: &str| dpop_gateway::jose::b64::decode(jwk[k].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(field("x"));
    point.extend(field("y"));
    let public =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    let wall = Instant::now();
    let cpu0 = cpu::thread_ns();
    let mut n = 0u64;
    while wall.elapsed().as_secs_f64() < secs {
        for _ in 0..100 {
            public.verify(input.as_bytes(), &sig).unwrap();
        }
        n += 100;
    }
    let us = (cpu::thread_ns() - cpu0) as f64 / 1000.0 / n as f64;
    eprintln!("  bare ring ES256 verify: {us:.1} CPU µs");
    append(out, &json!({"kind": "floor", "es256_verify_us": us}));
}
