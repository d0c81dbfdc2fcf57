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

use ring::digest;

pub use memory::MemoryReplayStore;

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
    Memory(std::sync::Arc<MemoryReplayStore>),
}

impl ReplayStore {
    /// Records `key` until `expires_at` (unix seconds) if it is absent.
    pub async fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, ReplayError> {
        match self {
            ReplayStore::Memory(m) => m.record(key, expires_at, now),
        }
    }
}
