//! Re-reading the config file while serving. One path for SIGHUP, the
//! `watch_config` watcher (`watch.rs`) and the admin `POST /reload`:
//! reloads are serialised (two never interleave), the new config is read and
//! validated in full, and only then swapped in ([`Reloader::reload`]); an
//! invalid config is logged with the problems `check` would print and the
//! running one stays. Each outcome is logged once, with what triggered it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::{Reloader, ServeError};
use crate::config::{Config, ConfigError};

/// What asked for a reload (named in the outcome's log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP (`systemctl reload`).
    Signal,
    /// `watch_config`: the config file or a file it names changed.
    Watch,
    /// `POST /reload` on the admin listener.
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Watch => "file change",
            Trigger::Admin => "POST /reload",
        }
    }
}

/// Why a reload left the running config in place.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("{0}")]
    Build(#[from] ServeError),
    #[error("the config could not be read: {0}")]
    Task(String),
}

struct Inner {
    path: PathBuf,
    reloader: Reloader,
    /// Held for the whole of a reload.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// The files the running config names.
    files: Mutex<Vec<PathBuf>>,
    /// The running config's `watch_config`.
    watching: AtomicBool,
    /// Digest of the config text running now.
    running_digest: Mutex<Option<[u8; 32]>>,
    /// The settings a reload cannot change, as the process started.
    fixed: Vec<(&'static str, String)>,
}

/// The settings fixed at start: the listeners, the accept loop, the replay
/// store.
fn fixed(config: &Config) -> Vec<(&'static str, String)> {
    let s = &config.server;
    vec![
        ("server.listen", s.listen.to_string()),
        (
            "admin.listen",
            config
                .admin
                .as_ref()
                .map_or("-".into(), |a| a.listen.to_string()),
        ),
        (
            "server.header_read_timeout_secs",
            s.header_read_timeout.as_secs().to_string(),
        ),
        (
            "server.idle_timeout_secs",
            s.idle_timeout.as_secs().to_string(),
        ),
        ("server.max_connections", s.max_connections.to_string()),
        (
            "server.drain_timeout_secs",
            s.drain_timeout.as_secs().to_string(),
        ),
        ("replay", format!("{:?}", config.replay)),
    ]
}

/// Reloads a running gateway from its config file. Cheap to clone.
#[derive(Clone)]
pub struct ConfigReload(Arc<Inner>);

impl ConfigReload {
    /// For a gateway running `config`, which was loaded from `path`.
    pub fn new(path: &Path, reloader: Reloader, config: &Config) -> ConfigReload {
        ConfigReload(Arc::new(Inner {
            path: path.to_path_buf(),
            reloader,
            one_at_a_time: tokio::sync::Mutex::new(()),
            files: Mutex::new(config.files.clone()),
            watching: AtomicBool::new(config.server.watch_config),
            running_digest: Mutex::new(config.source_digest),
            fixed: fixed(config),
        }))
    }

    /// The config file, then every file the running config names.
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.0.path.clone()];
        if let Ok(files) = self.0.files.lock() {
            paths.extend(files.iter().cloned());
        }
        paths
    }

    /// The config file's path and the digest of the text running now.
    pub fn running(&self) -> (PathBuf, Option<[u8; 32]>) {
        let digest = self.0.running_digest.lock().ok().and_then(|d| *d);
        (self.0.path.clone(), digest)
    }

    /// Whether the running config has `watch_config = true`.
    pub fn watching(&self) -> bool {
        self.0.watching.load(Ordering::Relaxed)
    }

    /// Reads the config file and swaps it in, or logs why not and keeps the
    /// running one. Waits for a reload already under way to finish first.
    pub async fn reload(&self, trigger: Trigger) -> Result<(), ReloadError> {
        let _one = self.0.one_at_a_time.lock().await;
        crate::systemd::notify("RELOADING=1");
        let outcome = self.load_and_swap().await;
        match &outcome {
            Ok(config) => {
                tracing::info!(
                    trigger = trigger.as_str(),
                    routes = config.routes.len(),
                    issuers = config.issuers.len(),
                    "config reloaded"
                );
                if let Ok(mut files) = self.0.files.lock() {
                    files.clone_from(&config.files);
                }
                if let Ok(mut digest) = self.0.running_digest.lock() {
                    *digest = config.source_digest;
                }
                self.0
                    .watching
                    .store(config.server.watch_config, Ordering::Relaxed);
                let now = fixed(config);
                for ((key, was), (_, wants)) in self.0.fixed.iter().zip(&now) {
                    if was != wants {
                        tracing::warn!(key = *key, "changed, but only a restart applies it");
                    }
                }
            }
            Err(e) => tracing::error!(
                trigger = trigger.as_str(),
                error = %e,
                "invalid config; keeping the running config"
            ),
        }
        crate::systemd::notify("READY=1");
        outcome.map(|_| ())
    }

    async fn load_and_swap(&self) -> Result<Config, ReloadError> {
        let path = self.0.path.clone();
        // Reads and parses files: off the request threads.
        let config = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| ReloadError::Task(e.to_string()))??;
        self.0.reloader.reload(&config)?;
        Ok(config)
    }
}
