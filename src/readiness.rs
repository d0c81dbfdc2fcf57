//! Readiness: what `/readyz` reports. A plain registry of checks plus the
//! draining flag, low in the layers so that components (the replay store)
//! can register without knowing the admin listener.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Something `/readyz` asks. Implementations must answer quickly (they are
/// read from cached state, never a network call per probe).
pub trait ReadinessCheck: Send + Sync + 'static {
    /// A short name for the body of `/readyz`.
    fn name(&self) -> &str;
    fn is_ready(&self) -> bool;
}

/// The set of readiness checks, plus the draining flag.
#[derive(Default)]
pub struct Readiness {
    draining: AtomicBool,
    checks: RwLock<Vec<Arc<dyn ReadinessCheck>>>,
}

impl Readiness {
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn add(&self, check: Arc<dyn ReadinessCheck>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.push(check);
        }
    }

    /// `Ok` when ready, else the names of what is not.
    pub fn status(&self) -> Result<(), Vec<String>> {
        let mut failing = Vec::new();
        if self.draining.load(Ordering::Acquire) {
            failing.push("draining".to_string());
        }
        match self.checks.read() {
            Ok(checks) => failing.extend(
                checks
                    .iter()
                    .filter(|c| !c.is_ready())
                    .map(|c| c.name().to_string()),
            ),
            Err(_) => failing.push("internal".to_string()),
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing)
        }
    }
}
