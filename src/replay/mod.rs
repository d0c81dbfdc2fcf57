//! Replay protection (RFC 9449 §11.1): a proof's `(jkt, jti)` may be used
//! once within the window in which the proof would be accepted.
//!
//! The key is `SHA-256(jkt ‖ 0x00 ‖ jti)`: fixed size, never the proof bytes
//! (ECDSA signatures are malleable, so the same claims can arrive as different
//! bytes) and never the raw jti (its length is capped before hashing by the
//! proof checks). The pipeline records a key only after every other check
//! passed, so unauthenticated junk never fills the store, and the record is
//! an atomic insert-if-absent, so parallel duplicates cannot both win.

mod memory;
mod redis;

use std::sync::Arc;

use ring::digest;

pub use memory::MemoryReplayStore;
pub use redis::RedisReplayStore;

use crate::jose::Jkt;

/// A fixed-size replay key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey([u8; 32]);

impl ReplayKey {
    /// `SHA-256(jkt ‖ 0x00 ‖ jti)`.
    pub fn new(jkt: &Jkt, jti: &str) -> ReplayKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(jkt.as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        ReplayKey(out)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The result of recording a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First use within the window: the request may proceed.
    Fresh,
    /// Seen before and not yet expired: a replay.
    Replayed,
}

/// The store cannot decide; the request must be refused (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("replay store full ({max_entries} live entries)")]
    Full { max_entries: usize },
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
}

/// The configured replay backend.
#[derive(Debug, Clone)]
pub enum ReplayStore {
    Memory(Arc<MemoryReplayStore>),
    Redis(Arc<RedisReplayStore>),
}

impl ReplayStore {
    /// Builds the configured backend (Redis is connected lazily).
    /// `window_secs` is how long an entry lives (max_age + max_skew).
    pub fn from_config(
        config: &crate::config::ReplayConfig,
        window_secs: i64,
    ) -> Result<ReplayStore, String> {
        Ok(match &config.backend {
            crate::config::ReplayBackend::Memory => ReplayStore::Memory(Arc::new(
                MemoryReplayStore::with_window(config.max_entries, window_secs),
            )),
            crate::config::ReplayBackend::Redis(redis) => ReplayStore::Redis(Arc::new(
                RedisReplayStore::single(redis, &config.key_prefix)?,
            )),
            crate::config::ReplayBackend::RedisCluster(redis) => ReplayStore::Redis(Arc::new(
                RedisReplayStore::cluster(redis, &config.key_prefix)?,
            )),
        })
    }

    /// Records `key` until `expires_at` (unix seconds) if it is absent.
    pub async fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, ReplayError> {
        match self {
            ReplayStore::Memory(m) => m.record(key, expires_at, now),
            ReplayStore::Redis(r) => {
                let ttl_secs = u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0);
                r.record(key, ttl_secs.saturating_mul(1000)).await
            }
        }
    }

    /// Periodic upkeep, once a second: sweep expired memory entries, or probe
    /// Redis so that `/readyz` follows it.
    pub async fn maintain(&self, now: i64) {
        let metrics = crate::metrics::metrics();
        match self {
            ReplayStore::Memory(m) => {
                m.sweep(now);
                metrics.set_replay_entries(m.len());
            }
            ReplayStore::Redis(r) => {
                r.probe().await;
            }
        }
        metrics.set_replay_backend_up(self.is_ready());
    }

    /// Whether the store can answer (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        match self {
            ReplayStore::Memory(_) => true,
            ReplayStore::Redis(r) => r.is_healthy(),
        }
    }
}

/// `/readyz`: the replay backend answers.
impl crate::readiness::ReadinessCheck for ReplayStore {
    fn name(&self) -> &str {
        "replay_backend"
    }

    fn is_ready(&self) -> bool {
        ReplayStore::is_ready(self)
    }

    fn detail(&self) -> Option<String> {
        match self {
            ReplayStore::Memory(_) => None,
            ReplayStore::Redis(r) => r.problem(),
        }
    }
}
