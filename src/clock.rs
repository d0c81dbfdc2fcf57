//! Injectable wall clock.
//!
//! Every time-dependent check (DPoP proof `iat`, RFC 9449 §4.3 item 11 and §11.1; token
//! `exp`/`nbf`; nonce windows, §9) takes the current time from a [`Clock`] instead of reading
//! the system time itself, so tests can pin time to the 2019 RFC vectors.
//! [`SystemClock`] is the production clock; [`ManualClock`] is set by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z (negative before the epoch).
    fn now_unix(&self) -> i64;
}

/// A clock shared across tasks.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A [`SharedClock`] backed by the system time.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => {
                i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs)
            }
        }
    }
}

/// A clock that only moves when told to; for tests and the demo.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `now_unix` until it is changed.
    pub fn new(now_unix: i64) -> Self {
        Self {
            now: AtomicI64::new(now_unix),
        }
    }

    /// Sets the current time.
    pub fn set(&self, now_unix: i64) {
        self.now.store(now_unix, Ordering::SeqCst);
    }

    /// Moves the clock by `secs` (negative moves it back).
    pub fn advance(&self, secs: i64) {
        // `fetch_update` with a saturating add, so a test cannot wrap the clock around.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_562_262_618);
        assert_eq!(clock.now_unix(), 1_562_262_618);
        clock.advance(60);
        assert_eq!(clock.now_unix(), 1_562_262_678);
        clock.advance(-100);
        assert_eq!(clock.now_unix(), 1_562_262_578);
        clock.set(5);
        assert_eq!(clock.now_unix(), 5);
        clock.set(i64::MAX);
        clock.advance(1);
        assert_eq!(clock.now_unix(), i64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020_and_shareable() {
        let shared: SharedClock = SystemClock::shared();
        assert!(shared.now_unix() > 1_577_836_800);
        let manual: SharedClock = Arc::new(ManualClock::new(7));
        assert_eq!(manual.now_unix(), 7);
    }
}
