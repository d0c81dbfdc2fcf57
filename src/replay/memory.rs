//! The in-memory replay store: sharded, bounded, and reclaimed by whole
//! generations instead of entry-by-entry sweeps.
//!
//! - **Keys**: the first 16 bytes of the [`ReplayKey`] (SHA-256 output, so
//!   uniformly spread: 128 bits leave a collision chance of ~10^-25 at 10 M
//!   entries, and a collision could only refuse a proof, never accept one).
//! - **Shards**: 64 mutex-guarded shards picked by the key's high bits; a
//!   record locks one shard from lookup to insert, so it is atomic.
//! - **Generations**: each shard keeps a short queue of hash sets, one per
//!   expiry bucket (`bucket_secs`, about a quarter of the replay window). An
//!   entry goes into the bucket that ends at or after its expiry, so it is
//!   kept at least as long as required and at most one bucket longer. A
//!   bucket whose end has passed is dropped whole: no scan, no global pause.
//! - **Memory**: 16 bytes of key + 1 control byte per slot in a hash set
//!   with an identity hasher (the key is already a hash): 20–40 bytes per live
//!   entry depending on the table's fill (`bench/replay.rs` measures it).
//! - **Cap**: `max_entries` live entries across all shards. When full, new
//!   keys are refused (the gateway answers 503) and counted; a live entry is
//!   never dropped early, since that would reopen the replay window.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{Recorded, ReplayError, ReplayKey};

const SHARDS: usize = 64;
/// Expiry granularity when the window is not given.
const DEFAULT_BUCKET_SECS: i64 = 16;

/// Hashes a key that already is a uniformly distributed hash: use its bits.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

type KeySet = HashSet<u128, BuildHasherDefault<IdentityHasher>>;

/// The keys that expire by `end` (unix seconds).
#[derive(Debug)]
struct Generation {
    end: i64,
    keys: KeySet,
}

#[derive(Debug, Default)]
struct Shard {
    /// Ordered by `end`, oldest first.
    generations: VecDeque<Generation>,
}

impl Shard {
    /// Drops generations that ended at or before `now`; returns how many keys went.
    fn reclaim(&mut self, now: i64) -> usize {
        let mut freed = 0;
        while self.generations.front().is_some_and(|g| g.end <= now) {
            if let Some(g) = self.generations.pop_front() {
                freed += g.keys.len();
            }
        }
        freed
    }

    fn contains(&self, key: u128) -> bool {
        self.generations.iter().any(|g| g.keys.contains(&key))
    }

    fn insert(&mut self, key: u128, end: i64) {
        // Usually the newest generation; otherwise find or create in order.
        let pos = self.generations.iter().rposition(|g| g.end <= end);
        match pos {
            Some(i) if self.generations.get(i).is_some_and(|g| g.end == end) => {
                if let Some(g) = self.generations.get_mut(i) {
                    g.keys.insert(key);
                }
            }
            _ => {
                let at = pos.map_or(0, |i| i + 1);
                let mut keys = KeySet::default();
                keys.insert(key);
                self.generations.insert(at, Generation { end, keys });
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.generations
            .iter()
            .map(|g| {
                // hashbrown: one slot (16 bytes) + one control byte per bucket, plus a group of control bytes.
                let buckets = (g.keys.capacity() * 8 / 7).next_power_of_two();
                buckets * 17 + 16
            })
            .sum::<usize>()
            + self.generations.capacity() * std::mem::size_of::<Generation>()
    }
}

/// The sharded, bounded in-memory replay store.
#[derive(Debug)]
pub struct MemoryReplayStore {
    shards: Box<[Mutex<Shard>]>,
    live: AtomicUsize,
    max_entries: usize,
    bucket_secs: i64,
    refused_full: AtomicU64,
}

impl MemoryReplayStore {
    /// A store for at most `max_entries` live entries.
    pub fn new(max_entries: usize) -> MemoryReplayStore {
        Self::with_bucket_secs(max_entries, DEFAULT_BUCKET_SECS)
    }

    /// As [`MemoryReplayStore::new`], with buckets of about a quarter of the
    /// replay window (at most one bucket of extra retention, at most five
    /// generations to look through).
    pub fn with_window(max_entries: usize, window_secs: i64) -> MemoryReplayStore {
        Self::with_bucket_secs(max_entries, (window_secs / 4).clamp(1, 60))
    }

    fn with_bucket_secs(max_entries: usize, bucket_secs: i64) -> MemoryReplayStore {
        MemoryReplayStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            live: AtomicUsize::new(0),
            max_entries,
            bucket_secs: bucket_secs.max(1),
            refused_full: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, Shard> {
        let index = ((key >> 64) as usize) % SHARDS;
        // A poisoned shard still holds a consistent set: keep using it.
        match self.shards.get(index).unwrap_or(&self.shards[0]).lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Atomic insert-if-absent of `key` until at least `expires_at`.
    pub fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, ReplayError> {
        let mut k = [0u8; 16];
        k.copy_from_slice(&key.as_bytes()[..16]);
        let key = u128::from_be_bytes(k);
        let mut shard = self.shard(key);
        let freed = shard.reclaim(now);
        if freed > 0 {
            self.live.fetch_sub(freed, Ordering::AcqRel);
        }
        if shard.contains(key) {
            return Ok(Recorded::Replayed);
        }
        // Reserve a slot first so that the cap holds across shards.
        if !self.reserve() {
            // Expired generations in other shards may still be counted: reclaim
            // them all (cheap: whole buckets, no scan) and look again.
            drop(shard);
            self.sweep(now);
            shard = self.shard(key);
            if shard.contains(key) {
                return Ok(Recorded::Replayed);
            }
            if !self.reserve() {
                self.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(ReplayError::Full {
                    max_entries: self.max_entries,
                });
            }
        }
        let end = expires_at.div_euclid(self.bucket_secs) * self.bucket_secs
            + if expires_at.rem_euclid(self.bucket_secs) == 0 {
                0
            } else {
                self.bucket_secs
            };
        shard.insert(key, end.max(now + 1));
        Ok(Recorded::Fresh)
    }

    /// Takes one slot under the cap; `false` when the store is full.
    fn reserve(&self) -> bool {
        if self.live.fetch_add(1, Ordering::AcqRel) >= self.max_entries {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Drops every generation that ended at or before `now`, shard by shard;
    /// returns how many entries went.
    pub fn sweep(&self, now: i64) -> usize {
        let mut freed = 0;
        for shard in self.shards.iter() {
            let mut shard = match shard.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            freed += shard.reclaim(now);
        }
        self.live.fetch_sub(freed, Ordering::AcqRel);
        freed
    }

    /// Entries not yet reclaimed (live, plus expired ones in a bucket that has
    /// not ended).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records refused because the store was full, since start.
    pub fn refused_full(&self) -> u64 {
        self.refused_full.load(Ordering::Relaxed)
    }

    /// The heap the key sets occupy, computed from their capacities.
    pub fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(g) => g.heap_bytes(),
                Err(poisoned) => poisoned.into_inner().heap_bytes(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::jose::Jkt;

    fn key(jti: &str) -> ReplayKey {
        ReplayKey::new(&Jkt::from_digest([7; 32]), jti)
    }

    /// Buckets of 10 s: an entry expiring at 100 is kept until exactly 100.
    fn store(max: usize) -> MemoryReplayStore {
        MemoryReplayStore::with_bucket_secs(max, 10)
    }

    #[test]
    fn second_record_is_a_replay_until_expiry() {
        let s = store(10);
        assert_eq!(s.record(key("a"), 100, 0), Ok(Recorded::Fresh));
        assert_eq!(s.record(key("a"), 100, 50), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("a"), 100, 99), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("a"), 200, 100), Ok(Recorded::Fresh));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn entries_are_never_dropped_before_their_expiry() {
        // Expiry 95 rounds up to the bucket ending at 100: kept longer, never shorter.
        let s = store(10);
        assert_eq!(s.record(key("a"), 95, 0), Ok(Recorded::Fresh));
        assert_eq!(s.sweep(94), 0);
        assert_eq!(s.record(key("a"), 195, 94), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("a"), 195, 99), Ok(Recorded::Replayed));
        assert_eq!(s.sweep(100), 1);
        assert_eq!(s.record(key("a"), 195, 100), Ok(Recorded::Fresh));
    }

    #[test]
    fn keys_differ_by_jkt_and_jti() {
        let a = ReplayKey::new(&Jkt::from_digest([1; 32]), "x");
        let b = ReplayKey::new(&Jkt::from_digest([2; 32]), "x");
        assert_ne!(a, b);
        assert_ne!(key("x"), key("y"));
    }

    #[test]
    fn full_store_refuses_and_keeps_live_entries() {
        let s = store(2);
        s.record(key("a"), 100, 0).unwrap();
        s.record(key("b"), 100, 0).unwrap();
        assert_eq!(
            s.record(key("c"), 100, 0),
            Err(ReplayError::Full { max_entries: 2 })
        );
        assert_eq!(s.refused_full(), 1);
        // Nothing live was dropped: both are still replays.
        assert_eq!(s.record(key("a"), 100, 1), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("b"), 100, 1), Ok(Recorded::Replayed));
        // After expiry and a sweep there is room again.
        assert_eq!(s.sweep(100), 2);
        assert_eq!(s.record(key("c"), 200, 100), Ok(Recorded::Fresh));
    }

    #[test]
    fn a_full_store_reclaims_expired_entries_before_refusing() {
        let s = store(1);
        s.record(key("a"), 10, 0).unwrap();
        assert!(s.record(key("b"), 20, 5).is_err());
        // No sweep ran; "a" (likely in another shard) expired at 10.
        assert_eq!(s.record(key("b"), 20, 10), Ok(Recorded::Fresh));
    }

    #[test]
    fn generations_stay_ordered() {
        let s = store(100);
        for (i, exp) in [50, 30, 70, 30, 10].into_iter().enumerate() {
            s.record(key(&i.to_string()), exp, 0).unwrap();
        }
        assert_eq!(s.sweep(30), 3);
        assert_eq!(s.sweep(70), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn concurrent_duplicates_have_one_winner() {
        // 16 threads x 10,000 records; every key is recorded by two threads.
        let s = std::sync::Arc::new(MemoryReplayStore::new(1_000_000));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let pair = t / 2;
                    (0..10_000)
                        .filter(|i| {
                            let k = key(&format!("{pair}-{i}"));
                            s.record(k, 100, 0) == Ok(Recorded::Fresh)
                        })
                        .count()
                })
            })
            .collect();
        let fresh: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(fresh, 8 * 10_000, "exactly one winner per key");
        assert_eq!(s.len(), 8 * 10_000);
    }
}
