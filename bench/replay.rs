//! Replay store numbers: memory per live entry at 1 M and 10 M entries,
//! insert throughput of the memory store with 1 and 2 threads, and what one
//! record costs a request (latency p50/p99 and the gateway's own CPU time)
//! in memory, in Redis over TCP, in Redis over TLS, and in a three-node
//! Redis Cluster, all on loopback (real `redis-server`s started on
//! ephemeral ports, when the binary is installed; the cluster also needs
//! `redis-cli`).
//!
//! Run: `cargo bench --bench replay` (prints a table; takes ~1 minute).
//! `REPLAY_BENCH_MAX=1000000` skips the 10 M run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpop_gateway::config::RedisConfig;
use dpop_gateway::demo::pki::DemoPki;
use dpop_gateway::jose::Jkt;
use dpop_gateway::replay::{MemoryReplayStore, RedisReplayStore, ReplayKey, ReplayStore};

const WINDOW: i64 = 70;
const T0: i64 = 1_800_000_000;

fn keys(n: usize, salt: u8) -> Vec<ReplayKey> {
    let jkt = Jkt::from_digest([salt; 32]);
    (0..n)
        .map(|i| ReplayKey::new(&jkt, &i.to_string()))
        .collect()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Fills a store with `n` entries arriving evenly over one window, as a
/// steady stream of requests would, and reports bytes per entry.
fn memory_per_entry(n: usize) {
    let ks = keys(n, 1);
    let before = rss_kib();
    let store = MemoryReplayStore::with_window(n, WINDOW);
    for (i, k) in ks.iter().enumerate() {
        let now = T0 + (i as i64 * WINDOW) / n as i64;
        store.record(*k, now + WINDOW, now).unwrap();
    }
    let after = rss_kib();
    let rss = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    let heap = store.heap_bytes() as f64 / n as f64;
    println!(
        "memory store, {:>10} live entries: {:>5.1} bytes/entry (RSS delta), {:>5.1} bytes/entry (table capacity)",
        n, rss, heap
    );
    drop(store);
}

fn throughput(threads: usize, per_thread: usize) {
    let store = Arc::new(MemoryReplayStore::with_window(threads * per_thread, WINDOW));
    let sets: Vec<Vec<ReplayKey>> = (0..threads)
        .map(|t| keys(per_thread, 10 + t as u8))
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = sets
        .into_iter()
        .map(|ks| {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in ks {
                    store.record(k, T0 + WINDOW, T0).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let total = (threads * per_thread) as f64;
    println!(
        "memory store insert, {threads} thread(s): {:>6.2} M inserts/s ({:.0} ns per insert per thread)",
        total / secs / 1e6,
        secs * 1e9 * threads as f64 / total
    );
}

struct Redis(std::process::Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Option<u16> {
    Some(
        std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// A `redis-server` on `port` with `extra` arguments, in `dir`; `None` when
/// it is not installed or does not listen within 2 s.
fn start_redis(port: u16, dir: &std::path::Path, extra: &[String]) -> Option<Redis> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(redis);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// CPU time this thread has used (the bench runs its single-threaded
/// runtime, and so every Redis call, on the main thread).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// Records `n` fresh keys one after another; prints a table row: latency
/// (mean, p50, p99) and the CPU time of this process per record, in µs.
fn latency(name: &str, store: &ReplayStore, rt: &tokio::runtime::Runtime, n: usize) {
    let ks = keys(n, 99);
    let mut samples = Vec::with_capacity(n);
    let cpu_before = thread_cpu();
    rt.block_on(async {
        for k in ks {
            let start = Instant::now();
            store.record(k, T0 + WINDOW, T0).await.unwrap();
            samples.push(start.elapsed());
        }
    });
    let cpu = (thread_cpu() - cpu_before).as_secs_f64() * 1e6 / n as f64;
    samples.sort();
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e6;
    println!(
        "| {name:<22} | {mean:>7.1} | {:>7.1} | {:>7.1} | {cpu:>7.1} |",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

/// A Redis store on `config`, once its first probe succeeds (at most 30 s).
fn redis_store(
    rt: &tokio::runtime::Runtime,
    config: &RedisConfig,
    cluster: bool,
) -> Option<ReplayStore> {
    rt.block_on(async {
        let store = if cluster {
            RedisReplayStore::cluster(config, "bench:").ok()?
        } else {
            RedisReplayStore::single(config, "bench:").ok()?
        };
        for _ in 0..300 {
            if store.probe().await {
                return Some(ReplayStore::Redis(Arc::new(store)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    })
}

/// Three cluster-enabled primaries joined by `redis-cli --cluster create`.
fn start_cluster(dir: &std::path::Path) -> Option<(Vec<Redis>, Vec<String>)> {
    let mut nodes = Vec::new();
    for i in 0..3 {
        let node_dir = dir.join(format!("node{i}"));
        std::fs::create_dir_all(&node_dir).ok()?;
        let extra: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([free_port()?.to_string()])
        .collect();
        nodes.push(start_redis(free_port()?, &node_dir, &extra)?);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.1)).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    created.success().then_some(())?;
    let seeds = addrs.iter().map(|a| format!("redis://{a}")).collect();
    Some((nodes, seeds))
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let max: usize = std::env::var("REPLAY_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    for n in [1_000_000, 10_000_000] {
        if n <= max {
            memory_per_entry(n);
        }
    }
    throughput(1, 2_000_000);
    throughput(2, 1_000_000);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    println!("\none record per request, {n} sequential calls on loopback (µs):\n");
    println!("| backend                | mean    | p50     | p99     | CPU     |");
    println!("|------------------------|---------|---------|---------|---------|");
    let memory = ReplayStore::Memory(Arc::new(MemoryReplayStore::with_window(1_000_000, WINDOW)));
    latency("memory", &memory, &rt, n);

    let config = |urls: Vec<String>, ca_pem: Option<Vec<u8>>| RedisConfig {
        urls,
        password: None,
        ca_pem,
    };
    let port = free_port().unwrap();
    let _plain = start_redis(port, dir.path(), &[]);
    match redis_store(
        &rt,
        &config(vec![format!("redis://127.0.0.1:{port}/0")], None),
        false,
    ) {
        Some(store) => {
            latency("redis, TCP", &store, &rt, n);
        }
        None => println!("| redis, TCP             | redis-server not available"),
    }

    let pki = DemoPki::localhost().unwrap();
    let files = pki.write(dir.path()).unwrap();
    let tls_port = free_port().unwrap();
    let tls: Vec<String> = [
        "--tls-port".to_string(),
        tls_port.to_string(),
        "--tls-cert-file".to_string(),
        files.cert.display().to_string(),
        "--tls-key-file".to_string(),
        files.key.display().to_string(),
        "--tls-ca-cert-file".to_string(),
        files.ca.display().to_string(),
        "--tls-auth-clients".to_string(),
        "no".to_string(),
    ]
    .into();
    let _tls = start_redis(free_port().unwrap(), dir.path(), &tls);
    let url = format!("rediss://127.0.0.1:{tls_port}/0");
    match redis_store(
        &rt,
        &config(vec![url], Some(pki.ca_pem.clone().into_bytes())),
        false,
    ) {
        Some(store) => {
            latency("redis, TLS", &store, &rt, n);
        }
        None => println!("| redis, TLS             | redis-server with TLS not available"),
    }

    let cluster = start_cluster(dir.path());
    match cluster
        .as_ref()
        .and_then(|(_, seeds)| redis_store(&rt, &config(seeds[..1].to_vec(), None), true))
    {
        Some(store) => {
            latency("redis_cluster, 3 nodes", &store, &rt, n);
        }
        None => println!("| redis_cluster, 3 nodes | redis-server / redis-cli not available"),
    }
}
