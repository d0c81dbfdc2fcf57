//! The Redis replay backend, for replicas that must share one replay window:
//! `SET <prefix><key> 1 NX PX <ttl>` is an atomic insert-if-absent on the
//! server, so of two gateways that see the same proof at once exactly one
//! gets `OK`.
//!
//! Consistency: this relies on a single Redis primary (or a cluster where one
//! key lives on one primary). Redis replication is asynchronous, so a
//! failover can lose the last writes: a proof recorded just before the
//! primary died could be accepted once more after the replica is promoted,
//! within its remaining window (seconds). Run Redis with persistence off or
//! on; entries are short-lived either way.
//!
//! Failure is closed: a timeout, a refused connection or any error answers
//! [`ReplayError::Unavailable`] (the gateway answers 503). The multiplexed
//! connection reconnects by itself; a health probe keeps `/readyz` honest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::IntoConnectionInfo;

use super::{Recorded, ReplayError, ReplayKey};
use crate::jose::b64;

/// How long one Redis call may take before the request gets 503.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

pub struct RedisReplayStore {
    conn: ConnectionManager,
    /// `host:port` of the server, for messages (never the URL: it may
    /// carry a password).
    node: String,
    prefix: String,
    healthy: AtomicBool,
}

impl std::fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("node", &self.node)
            .field("prefix", &self.prefix)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Prepares the connection without waiting for Redis: a gateway whose
    /// Redis is down at start keeps running, not ready, until Redis answers.
    /// Must be called inside a tokio runtime.
    pub fn new(url: &str, prefix: &str) -> Result<RedisReplayStore, String> {
        Self::with_password(url, None, prefix)
    }

    /// As [`RedisReplayStore::new`], with `password` (from
    /// `redis_password_file`) instead of one in the URL. The username, if
    /// any, stays the URL's.
    pub fn with_password(
        url: &str,
        password: Option<&str>,
        prefix: &str,
    ) -> Result<RedisReplayStore, String> {
        let mut info = url
            .into_connection_info()
            .map_err(|e| format!("redis_url {:?}: {e}", crate::config::redact_redis_url(url)))?;
        if let Some(password) = password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let node = info.addr().to_string();
        let client = redis::Client::open(info).map_err(|e| format!("redis {node}: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("redis {node}: {e}"))?;
        Ok(RedisReplayStore {
            conn,
            node,
            prefix: prefix.to_string(),
            healthy: AtomicBool::new(false),
        })
    }

    fn key(&self, key: &ReplayKey) -> String {
        format!("{}{}", self.prefix, b64::encode(key.as_bytes()))
    }

    /// `SET key 1 NX PX ttl_ms`: `OK` → fresh, nil → replayed.
    pub async fn record(&self, key: ReplayKey, ttl_ms: u64) -> Result<Recorded, ReplayError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1));
        let answer =
            tokio::time::timeout(CALL_TIMEOUT, cmd.query_async::<Option<String>>(&mut conn)).await;
        let result = match answer {
            Ok(Ok(Some(_))) => Ok(Recorded::Fresh),
            Ok(Ok(None)) => Ok(Recorded::Replayed),
            Ok(Err(e)) => Err(ReplayError::Unavailable(format!(
                "redis {}: {e}",
                self.node
            ))),
            Err(_) => Err(ReplayError::Unavailable(format!(
                "redis {}: call timed out",
                self.node
            ))),
        };
        self.healthy.store(result.is_ok(), Ordering::Release);
        result
    }

    /// `PING`, bounded by [`CALL_TIMEOUT`]; updates the health flag.
    pub async fn probe(&self) -> bool {
        let mut conn = self.conn.clone();
        let ok = matches!(
            tokio::time::timeout(
                CALL_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        );
        self.healthy.store(ok, Ordering::Release);
        ok
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }
}
