//! Replay store numbers: memory per live entry at 1 M and 10 M entries,
//! insert throughput of the memory store with 1 and 2 threads, and the latency
//! one Redis record adds to a request on loopback (a real `redis-server`
//! started on an ephemeral port, when the binary is installed).
//!
//! Run: `cargo bench --bench replay` (prints a table; takes ~1 minute).
//! `REPLAY_BENCH_MAX=1000000` skips the 10 M run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn start_redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
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

fn latency(name: &str, store: &ReplayStore, rt: &tokio::runtime::Runtime, n: usize) -> f64 {
    let ks = keys(n, 99);
    let mut samples = Vec::with_capacity(n);
    rt.block_on(async {
        for k in ks {
            let start = Instant::now();
            store.record(k, T0 + WINDOW, T0).await.unwrap();
            samples.push(start.elapsed());
        }
    });
    samples.sort();
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64 * 1e6;
    println!(
        "{name:<28} record latency: mean {mean:>7.1} µs, p50 {:>7.1} µs, p99 {:>7.1} µs ({n} sequential calls)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
    mean
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
    let memory = ReplayStore::Memory(Arc::new(MemoryReplayStore::with_window(1_000_000, WINDOW)));
    let mem = latency("memory", &memory, &rt, 20_000);
    match start_redis() {
        Some(redis) => {
            let store = rt.block_on(async {
                let url = format!("redis://127.0.0.1:{}/0", redis.1);
                let s = RedisReplayStore::new(&url, "bench:").unwrap();
                assert!(s.probe().await, "redis answers");
                ReplayStore::Redis(Arc::new(s))
            });
            let red = latency("redis (loopback)", &store, &rt, 20_000);
            println!(
                "redis backend adds {:.1} µs per request over the memory store",
                red - mem
            );
        }
        None => println!("redis-server not found: Redis latency skipped"),
    }
}
