//! The Redis replay backends, for replicas that must share one replay
//! window: `SET <prefix><key> 1 NX PX <ttl>` is an atomic insert-if-absent on
//! the server, so of two gateways that see the same proof at once exactly one
//! gets `OK`.
//!
//! - `redis`: one primary (`redis://` or `rediss://`), through a
//!   multiplexed connection that reconnects by itself.
//! - `redis_cluster`: a Redis Cluster reached from its seed nodes; the
//!   client learns the slot map, follows `MOVED`/`ASK`, and sends each `SET`
//!   to the primary owning the key's slot. Keys carry no hash tag, so they
//!   spread over every slot and node. Each key lives on exactly one primary,
//!   so the insert-if-absent stays one atomic decision.
//!
//! Consistency: Redis replication is asynchronous, so a failover can lose
//! the last writes: a proof recorded just before a primary died could be
//! accepted once more after its replica is promoted, within the rest of its
//! window (at most `max_age_secs + max_skew_secs`).
//!
//! Failure is closed: a timeout, a refused connection, a TLS or `AUTH`
//! failure, a slot without a reachable owner answer
//! [`ReplayError::Unavailable`] (the gateway answers 503) naming the backend
//! and the node, never a password. A probe once a second keeps `/readyz`
//! and `dpop_gateway_replay_backend_up` honest: for a cluster it reads the
//! slot map, checks that every slot has an owner, and pings every primary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionInfo, IntoConnectionInfo, TlsCertificates, Value};

use super::{Recorded, ReplayError, ReplayKey};
use crate::config::{redact_redis_url, RedisConfig};
use crate::jose::b64;

/// How long one Redis call may take before the request gets 503.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A range of hash slots and the `host:port` of the primary that owns it,
/// as the last probe read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SlotRange {
    first: u16,
    last: u16,
    primary: String,
}

pub struct RedisReplayStore {
    conn: Connection,
    /// `redis` or `redis_cluster`.
    backend: &'static str,
    /// `host:port` of the server or the seeds, for messages (never a URL:
    /// it may carry a password).
    nodes: String,
    prefix: String,
    healthy: AtomicBool,
    /// Why the backend is not healthy, for `/readyz` (no secrets).
    problem: Mutex<Option<String>>,
    /// Cluster: the slot map of the last probe, to name the node a failed
    /// call went to.
    slots: ArcSwap<Vec<SlotRange>>,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("backend", &self.backend)
            .field("nodes", &self.nodes)
            .field("prefix", &self.prefix)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

/// The URL parsed, with the password from `redis_password_file` in place
/// of any in the URL.
fn connection_info(url: &str, password: Option<&str>) -> Result<ConnectionInfo, String> {
    let mut info = url
        .into_connection_info()
        .map_err(|e| format!("redis URL {:?}: {e}", redact_redis_url(url)))?;
    if let Some(password) = password {
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    Ok(info)
}

/// The `redis` crate builds its rustls config with `ClientConfig::builder()`,
/// which takes the process-wide provider: make it ring, the gateway's one
/// crypto provider (rustls is built without aws-lc). Installing twice is a
/// no-op.
fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn tls_certificates(ca_pem: Option<&[u8]>) -> Option<TlsCertificates> {
    ca_pem.map(|pem| TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    })
}

impl RedisReplayStore {
    /// One Redis primary at `url` (no TLS roots of its own, no password
    /// file). Prepares the connection without waiting for Redis. Must be
    /// called inside a tokio runtime.
    pub fn new(url: &str, prefix: &str) -> Result<RedisReplayStore, String> {
        Self::single(
            &RedisConfig {
                urls: vec![url.to_string()],
                password: None,
                ca_pem: None,
            },
            prefix,
        )
    }

    /// The `redis` backend: one primary. A gateway whose Redis is down at
    /// start keeps running, not ready, until Redis answers.
    pub fn single(config: &RedisConfig, prefix: &str) -> Result<RedisReplayStore, String> {
        let url = config
            .urls
            .first()
            .ok_or_else(|| "redis: no URL".to_string())?;
        install_ring_provider();
        let info = connection_info(url, password_text(config)?)?;
        let node = info.addr().to_string();
        let client = match tls_certificates(config.ca_pem.as_deref()) {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
        .map_err(|e| format!("redis {node}: {e}"))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| format!("redis {node}: {e}"))?;
        Ok(Self::with_connection(
            Connection::Single(conn),
            "redis",
            node,
            prefix,
        ))
    }

    /// The `redis_cluster` backend: the seeds' slot map is learnt in the
    /// background; until a probe has seen every slot owned and every
    /// primary answer, the store is not ready.
    pub fn cluster(config: &RedisConfig, prefix: &str) -> Result<RedisReplayStore, String> {
        install_ring_provider();
        let password = password_text(config)?;
        let infos = config
            .urls
            .iter()
            .map(|url| connection_info(url, password))
            .collect::<Result<Vec<_>, _>>()?;
        let nodes = infos
            .iter()
            .map(|i| i.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut builder = ClusterClientBuilder::new(infos)
            .connection_timeout(CALL_TIMEOUT)
            .response_timeout(CALL_TIMEOUT)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(100);
        if let Some(password) = password {
            builder = builder.password(password);
        }
        if let Some(certs) = tls_certificates(config.ca_pem.as_deref()) {
            builder = builder.certs(certs);
        }
        let client = builder
            .build()
            .map_err(|e| format!("redis_cluster {nodes}: {e}"))?;
        let conn = client.get_pending_async_connection_with_config(
            ClusterConfig::new()
                .set_connection_timeout(CALL_TIMEOUT)
                .set_response_timeout(CALL_TIMEOUT),
        );
        Ok(Self::with_connection(
            Connection::Cluster(conn),
            "redis_cluster",
            nodes,
            prefix,
        ))
    }

    fn with_connection(
        conn: Connection,
        backend: &'static str,
        nodes: String,
        prefix: &str,
    ) -> RedisReplayStore {
        RedisReplayStore {
            conn,
            backend,
            problem: Mutex::new(Some(format!("{backend} {nodes}: not connected yet"))),
            nodes,
            prefix: prefix.to_string(),
            healthy: AtomicBool::new(false),
            slots: ArcSwap::from_pointee(Vec::new()),
        }
    }

    fn key(&self, key: &ReplayKey) -> String {
        format!("{}{}", self.prefix, b64::encode(key.as_bytes()))
    }

    /// `SET key 1 NX PX ttl_ms`: `OK` → fresh, nil → replayed.
    pub async fn record(&self, key: ReplayKey, ttl_ms: u64) -> Result<Recorded, ReplayError> {
        let key = self.key(&key);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(1).arg("NX").arg("PX").arg(ttl_ms.max(1));
        let call = async {
            match &self.conn {
                Connection::Single(c) => cmd.query_async::<Option<String>>(&mut c.clone()).await,
                Connection::Cluster(c) => cmd.query_async::<Option<String>>(&mut c.clone()).await,
            }
        };
        let failure = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(Some(_))) => {
                if matches!(self.conn, Connection::Single(_)) {
                    self.set_health(Ok(()));
                }
                return Ok(Recorded::Fresh);
            }
            Ok(Ok(None)) => return Ok(Recorded::Replayed),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "call timed out".to_string(),
        };
        let message = format!("{} {}: {failure}", self.backend, self.node_of(&key));
        self.set_health(Err(message.clone()));
        Err(ReplayError::Unavailable(message))
    }

    /// The node a key's call went to: the server, or the owner of its slot
    /// in the last slot map read (the seeds when none is known yet).
    fn node_of(&self, key: &str) -> String {
        if matches!(self.conn, Connection::Single(_)) {
            return self.nodes.clone();
        }
        let slot = key_slot(key.as_bytes());
        self.slots
            .load()
            .iter()
            .find(|r| (r.first..=r.last).contains(&slot))
            .map(|r| format!("{} (slot {slot})", r.primary))
            .unwrap_or_else(|| format!("{} (slot {slot}, owner unknown)", self.nodes))
    }

    /// Once a second: `PING` the server, or, for a cluster, read the slot
    /// map, check that every slot has an owner, and `PING` every primary.
    /// Updates the health flag and what `/readyz` says.
    pub async fn probe(&self) -> bool {
        let result = match &self.conn {
            Connection::Single(c) => {
                let mut c = c.clone();
                match tokio::time::timeout(
                    CALL_TIMEOUT,
                    redis::cmd("PING").query_async::<String>(&mut c),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("redis {}: {e}", self.nodes)),
                    Err(_) => Err(format!("redis {}: PING timed out", self.nodes)),
                }
            }
            Connection::Cluster(c) => self.probe_cluster(c).await,
        };
        let ok = result.is_ok();
        self.set_health(result);
        ok
    }

    async fn probe_cluster(&self, conn: &ClusterConnection) -> Result<(), String> {
        let slots = self.read_slot_map(conn).await?;
        let gap = unowned(&slots);
        let mut primaries: Vec<String> = slots.iter().map(|r| r.primary.clone()).collect();
        self.slots.store(Arc::new(slots));
        if let Some(gap) = gap {
            return Err(format!("redis_cluster {}: {gap}", self.nodes));
        }
        primaries.sort();
        primaries.dedup();
        let mut pings = tokio::task::JoinSet::new();
        for primary in primaries {
            let mut conn = conn.clone();
            pings.spawn(async move {
                let (host, port) = match primary.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), p.parse::<u16>().unwrap_or(0)),
                    None => (primary.clone(), 0),
                };
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.trim_matches(['[', ']']).to_string(),
                    port,
                });
                let answer = tokio::time::timeout(
                    CALL_TIMEOUT,
                    conn.route_command(redis::cmd("PING"), routing),
                )
                .await;
                match answer {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("node {primary}: {e}")),
                    Err(_) => Err(format!("node {primary}: PING timed out")),
                }
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = pings.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(format!("probe task: {e}")),
            }
        }
        failures.sort();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!("redis_cluster: {}", failures.join("; ")))
        }
    }

    /// `CLUSTER SLOTS` from any node that answers (a few tries: a random
    /// pick may be the node that is down).
    async fn read_slot_map(&self, conn: &ClusterConnection) -> Result<Vec<SlotRange>, String> {
        let mut last = String::from("no answer");
        for _ in 0..3 {
            let mut conn = conn.clone();
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SLOTS");
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
            match tokio::time::timeout(CALL_TIMEOUT, conn.route_command(cmd, routing)).await {
                Ok(Ok(value)) => return parse_cluster_slots(&value),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "CLUSTER SLOTS timed out".to_string(),
            }
        }
        Err(format!("redis_cluster {}: {last}", self.nodes))
    }

    fn set_health(&self, result: Result<(), String>) {
        let now_ok = result.is_ok();
        let was_ok = self.healthy.swap(now_ok, Ordering::AcqRel);
        let problem = result.err();
        match (&problem, was_ok, now_ok) {
            (Some(p), true, false) => {
                tracing::warn!(backend = self.backend, problem = %p, "replay backend unavailable")
            }
            (None, false, true) => {
                tracing::info!(backend = self.backend, nodes = %self.nodes, "replay backend answers")
            }
            _ => {}
        }
        if let Ok(mut slot) = self.problem.lock() {
            *slot = problem;
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Why the backend is not healthy (backend and node), for `/readyz`.
    pub fn problem(&self) -> Option<String> {
        if self.is_healthy() {
            return None;
        }
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    /// `redis` or `redis_cluster`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }
}

fn password_text(config: &RedisConfig) -> Result<Option<&str>, String> {
    config
        .password
        .as_ref()
        .map(|secret| {
            std::str::from_utf8(&secret.0)
                .map_err(|_| "redis_password_file is not UTF-8 text".to_string())
        })
        .transpose()
}

/// The hash slot of a key without a hash tag: CRC16 (XMODEM) mod 16384,
/// as the Redis Cluster specification defines it.
fn key_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(key) % SLOTS
}

/// `CLUSTER SLOTS`: `[[first, last, [host, port, id, ...], replicas...], ...]`.
fn parse_cluster_slots(value: &Value) -> Result<Vec<SlotRange>, String> {
    let bad = || "redis_cluster: unexpected CLUSTER SLOTS answer".to_string();
    let Value::Array(ranges) = value else {
        return Err(bad());
    };
    let slot = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok().filter(|s| *s < SLOTS),
        _ => None,
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(bad());
        };
        let (Some(first), Some(last), Some(Value::Array(node))) = (
            parts.first().and_then(slot),
            parts.get(1).and_then(slot),
            parts.get(2),
        ) else {
            return Err(bad());
        };
        let host = match node.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => return Err(bad()),
        };
        let Some(Value::Int(port)) = node.get(1) else {
            return Err(bad());
        };
        let primary = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        out.push(SlotRange {
            first,
            last,
            primary,
        });
    }
    out.sort_by_key(|r| r.first);
    Ok(out)
}

/// The first range of slots without an owner, if any.
fn unowned(ranges: &[SlotRange]) -> Option<String> {
    let mut next: u32 = 0;
    let gap = |from: u32, to: u32| {
        if from == to {
            format!("slot {from} has no owner")
        } else {
            format!("slots {from}-{to} have no owner")
        }
    };
    for r in ranges {
        if u32::from(r.first) > next {
            return Some(gap(next, u32::from(r.first) - 1));
        }
        next = next.max(u32::from(r.last) + 1);
    }
    (next < u32::from(SLOTS)).then(|| gap(next, u32::from(SLOTS) - 1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn key_slots_follow_the_cluster_specification() {
        // The examples of the Redis Cluster specification.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
    }

    fn range(first: u16, last: u16, primary: &str) -> SlotRange {
        SlotRange {
            first,
            last,
            primary: primary.into(),
        }
    }

    #[test]
    fn slot_maps_parse_and_gaps_are_named() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let answer = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7004),
            ]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), node("::1", 7000)]),
        ]);
        let slots = parse_cluster_slots(&answer).unwrap();
        assert_eq!(
            slots,
            vec![
                range(0, 5460, "[::1]:7000"),
                range(5461, 16383, "127.0.0.1:7001")
            ]
        );
        assert_eq!(unowned(&slots), None);
        assert_eq!(
            unowned(&[range(0, 99, "a:1"), range(101, 16383, "b:1")]).as_deref(),
            Some("slot 100 has no owner")
        );
        assert_eq!(
            unowned(&[range(10, 16000, "a:1")]).as_deref(),
            Some("slots 0-9 have no owner")
        );
        assert_eq!(
            unowned(&[range(0, 16000, "a:1")]).as_deref(),
            Some("slots 16001-16383 have no owner")
        );
        assert_eq!(unowned(&[]).as_deref(), Some("slots 0-16383 have no owner"));
        assert!(parse_cluster_slots(&Value::Array(vec![Value::Int(1)])).is_err());
        assert!(parse_cluster_slots(&Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16384),
            node("h", 1)
        ])]))
        .is_err());
    }
}
