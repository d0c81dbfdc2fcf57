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
    /// When not ready: why, in one line for operators (what failed and
    /// where; never a secret).
    fn detail(&self) -> Option<String> {
        None
    }
}

/// One thing that is not ready: its name (stable, for probes and
/// dashboards) and, where known, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub name: String,
    pub detail: Option<String>,
}

impl From<String> for NotReady {
    fn from(name: String) -> Self {
        NotReady { name, detail: None }
    }
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

    /// `Ok` when ready, else what is not.
    pub fn status(&self) -> Result<(), Vec<NotReady>> {
        let mut failing = Vec::new();
        if self.draining.load(Ordering::Acquire) {
            failing.push(NotReady::from("draining".to_string()));
        }
        match self.checks.read() {
            Ok(checks) => {
                failing.extend(checks.iter().filter(|c| !c.is_ready()).map(|c| NotReady {
                    name: c.name().to_string(),
                    detail: c.detail(),
                }))
            }
            Err(_) => failing.push(NotReady::from("internal".to_string())),
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing)
        }
    }
}
