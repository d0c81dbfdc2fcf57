//! The in-memory replay store: a sharded concurrent map (dashmap) from
//! [`ReplayKey`] to expiry, with a hard cap on live entries. When the cap is
//! reached new keys are refused (the caller answers 503); a live entry is
//! never dropped early, since that would reopen the replay window.
//! Expired entries are reclaimed by [`MemoryReplayStore::sweep`], shard by
//! shard (no global pause), and lazily when a key is seen again.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::{Recorded, ReplayError, ReplayKey};

#[derive(Debug)]
pub struct MemoryReplayStore {
    map: DashMap<[u8; 32], i64>,
    live: AtomicUsize,
    max_entries: usize,
}

impl MemoryReplayStore {
    pub fn new(max_entries: usize) -> MemoryReplayStore {
        MemoryReplayStore {
            map: DashMap::new(),
            live: AtomicUsize::new(0),
            max_entries,
        }
    }

    /// Atomic insert-if-absent: the shard's lock is held from the lookup to
    /// the insert, so of two concurrent records of one key exactly one is
    /// [`Recorded::Fresh`].
    pub fn record(
        &self,
        key: ReplayKey,
        expires_at: i64,
        now: i64,
    ) -> Result<Recorded, ReplayError> {
        match self.map.entry(*key.as_bytes()) {
            Entry::Occupied(mut e) => {
                if *e.get() > now {
                    Ok(Recorded::Replayed)
                } else {
                    // Expired but not yet swept: reuse the slot.
                    e.insert(expires_at);
                    Ok(Recorded::Fresh)
                }
            }
            Entry::Vacant(e) => {
                // Reserve a slot first so that the cap holds under concurrency.
                let before = self.live.fetch_add(1, Ordering::AcqRel);
                if before >= self.max_entries {
                    self.live.fetch_sub(1, Ordering::AcqRel);
                    return Err(ReplayError::Full {
                        max_entries: self.max_entries,
                    });
                }
                e.insert(expires_at);
                Ok(Recorded::Fresh)
            }
        }
    }

    /// Removes every entry that expired at or before `now`; returns how many.
    pub fn sweep(&self, now: i64) -> usize {
        let mut removed = 0usize;
        self.map.retain(|_, exp| {
            let keep = *exp > now;
            if !keep {
                removed += 1;
            }
            keep
        });
        self.live.fetch_sub(removed, Ordering::AcqRel);
        removed
    }

    /// Live entries (including expired ones not yet swept).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn second_record_is_a_replay_until_expiry() {
        let s = MemoryReplayStore::new(10);
        assert_eq!(s.record(key("a"), 100, 0), Ok(Recorded::Fresh));
        assert_eq!(s.record(key("a"), 100, 50), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("a"), 200, 100), Ok(Recorded::Fresh));
        assert_eq!(s.len(), 1);
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
        let s = MemoryReplayStore::new(2);
        s.record(key("a"), 100, 0).unwrap();
        s.record(key("b"), 100, 0).unwrap();
        assert_eq!(
            s.record(key("c"), 100, 0),
            Err(ReplayError::Full { max_entries: 2 })
        );
        // Nothing live was dropped: both are still replays.
        assert_eq!(s.record(key("a"), 100, 1), Ok(Recorded::Replayed));
        assert_eq!(s.record(key("b"), 100, 1), Ok(Recorded::Replayed));
        // After expiry and a sweep there is room again.
        assert_eq!(s.sweep(100), 2);
        assert_eq!(s.record(key("c"), 200, 100), Ok(Recorded::Fresh));
    }

    #[test]
    fn concurrent_duplicates_have_one_winner() {
        let s = std::sync::Arc::new(MemoryReplayStore::new(1_000_000));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..2000)
                        .filter(|i| s.record(key(&i.to_string()), 100, 0) == Ok(Recorded::Fresh))
                        .count()
                })
            })
            .collect();
        let fresh: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(fresh, 2000);
        assert_eq!(s.len(), 2000);
    }
}

/// RFC vectors through the proof checks and into the store: the malleated
/// twin of the Fig. 14 proof (same claims, `s` → `n − s`, different bytes,
/// valid signature) must be a replay of the original.
#[cfg(test)]
mod vector_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::dpop::{precheck, Htu, ProofPolicy, ProofRequest};
    use crate::jose::test_vectors::compact;

    #[test]
    fn malleated_twin_is_a_replay_of_fig14() {
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        let digest = crate::auth::sha256(token);
        let htu = Htu::parse("https://resource.example.org/protectedresource").unwrap();
        let req = ProofRequest {
            method: "GET",
            htu: &htu,
            token_sha256: Some(&digest),
        };
        let now = 1_562_262_620;
        let store = MemoryReplayStore::new(100);
        let mut outcomes = Vec::new();
        let mut bytes = Vec::new();
        for name in [
            "rfc9449_fig14_resource_proof",
            "derived_fig14_malleated_twin",
        ] {
            let proof = compact(name);
            let verified = precheck(&proof, &req, &ProofPolicy::default(), now)
                .unwrap()
                .verify_signature()
                .unwrap();
            assert_eq!(
                verified.jkt().as_str(),
                "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
            );
            let key = ReplayKey::new(verified.jkt(), verified.jti());
            outcomes.push(store.record(key, now + 70, now).unwrap());
            bytes.push(proof);
        }
        assert_ne!(bytes[0], bytes[1], "the twin differs byte for byte");
        assert_eq!(outcomes, vec![Recorded::Fresh, Recorded::Replayed]);
    }
}
