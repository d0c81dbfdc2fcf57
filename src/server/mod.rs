//! The listener: binds the configured address (and the admin one), accepts
//! connections up to `max_connections` (beyond that, new connections wait in
//! the kernel's backlog), and on shutdown stops accepting, lets in-flight
//! requests finish (up to `drain_timeout_secs`) and returns.
//!
//! The per-request state (routes, upstream clients, TLS certificate) sits
//! behind an [`ArcSwap`] so that a reload swaps it atomically without
//! dropping connections in flight. A gateway started from a config file
//! reloads it through one path ([`ConfigReload`], `reload.rs`) on SIGHUP,
//! on the admin `POST /reload` and, with `watch_config`, when the file or a
//! file it names changes (`files.rs`).

mod activity;
mod conn;
mod files;
mod framing;
mod reload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::admin;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::proxy::Pipeline;
use crate::readiness::Readiness;
use crate::replay::ReplayStore;

pub use conn::ConnSettings;
pub use reload::{ConfigReload, ReloadError, Trigger};

/// Failure to start or run the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("replay store: {0}")]
    Replay(String),
    #[error(transparent)]
    Build(#[from] crate::proxy::BuildError),
}

/// What a request needs that a reload may replace.
pub struct State {
    pub pipeline: Arc<Pipeline>,
    pub tls: Option<TlsAcceptor>,
}

/// What outlives a config reload: the clock and the replay store (a reload
/// must not forget which proofs were used).
#[derive(Clone)]
pub struct Services {
    pub clock: SharedClock,
    pub replay: ReplayStore,
}

impl Services {
    /// Must run inside the tokio runtime (the Redis client is created here).
    pub fn new(config: &Config, clock: SharedClock) -> Result<Services, ServeError> {
        Ok(Services {
            clock,
            replay: ReplayStore::from_config(&config.replay, replay_window_secs(config))
                .map_err(ServeError::Replay)?,
        })
    }
}

impl State {
    pub fn build(config: &Config, services: &Services) -> Result<State, ServeError> {
        let tls = match &config.server.tls {
            Some(files) => Some(TlsAcceptor::from(crate::tls::server_config(
                &files.cert,
                &files.key,
            )?)),
            None => None,
        };
        Ok(State {
            pipeline: Arc::new(Pipeline::new(
                config,
                services.clock.clone(),
                services.replay.clone(),
            )?),
            tls,
        })
    }
}

/// How long a used proof is remembered: max_age + max_skew (RFC 9449 §11.1).
pub fn replay_window_secs(config: &Config) -> i64 {
    i64::try_from(config.dpop.max_age_secs + config.dpop.max_skew_secs).unwrap_or(i64::MAX)
}

/// State shared by every connection.
pub struct Shared {
    pub state: ArcSwap<State>,
    pub services: Services,
    pub readiness: Readiness,
}

impl Shared {
    /// `/readyz`: the registered checks, then what the current pipeline
    /// (issuer keys) still waits for.
    pub fn ready(&self) -> Result<(), Vec<crate::readiness::NotReady>> {
        self.readiness.status().and_then(|()| {
            let failing = self.state.load().pipeline.not_ready();
            if failing.is_empty() {
                Ok(())
            } else {
                Err(failing.into_iter().map(Into::into).collect())
            }
        })
    }
}

/// A bound, not yet serving gateway. Binding first lets callers (tests, the
/// demo) learn the ephemeral ports before traffic starts.
pub struct Gateway {
    listener: TcpListener,
    admin: Option<TcpListener>,
    shared: Arc<Shared>,
    settings: ConnSettings,
    max_connections: usize,
    /// When started from a config file.
    config_reload: Option<ConfigReload>,
}

impl Gateway {
    pub async fn bind(config: &Config) -> Result<Gateway, ServeError> {
        Self::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Gateway::bind`], with the clock that every `iat` / `exp` check reads.
    pub async fn bind_with_clock(
        config: &Config,
        clock: SharedClock,
    ) -> Result<Gateway, ServeError> {
        let services = Services::new(config, clock)?;
        let state = State::build(config, &services)?;
        let shared = Arc::new({
            let readiness = Readiness::default();
            readiness.add(Arc::new(services.replay.clone()));
            Shared {
                state: ArcSwap::from_pointee(state),
                services,
                readiness,
            }
        });
        let config_reload = config
            .source
            .as_deref()
            .map(|path| ConfigReload::new(path, Reloader(shared.clone()), config));
        let listen = config.server.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let admin = match &config.admin {
            Some(a) => {
                Some(
                    TcpListener::bind(a.listen)
                        .await
                        .map_err(|source| ServeError::Bind {
                            addr: a.listen,
                            source,
                        })?,
                )
            }
            None => None,
        };
        Ok(Gateway {
            listener,
            admin,
            shared,
            settings: ConnSettings {
                header_read_timeout: config.server.header_read_timeout,
                idle_timeout: config.server.idle_timeout,
                drain_timeout: config.server.drain_timeout,
                limits: config.limits,
            },
            max_connections: config.server.max_connections,
            config_reload,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle to swap in a new config while serving.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.shared.clone())
    }

    /// Re-reads the config file (SIGHUP); `None` when the config did not
    /// come from a file.
    pub fn config_reload(&self) -> Option<ConfigReload> {
        self.config_reload.clone()
    }

    /// Serves until `shutdown` resolves, then drains and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Gateway {
            listener,
            admin,
            shared,
            settings,
            max_connections,
            config_reload,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        // The admin listener outlives the drain, so probes see /readyz 503
        // ("draining") instead of a refused connection.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        if let Some(admin) = admin {
            let probe = shared.clone();
            let endpoints = admin::Endpoints {
                ready: Arc::new(move || probe.ready()),
                reload: config_reload.clone().map(admin_reload),
            };
            tokio::spawn(admin::serve(admin, endpoints, admin_stop_rx));
        }
        let sweeper = tokio::spawn(maintain(shared.clone()));
        let watcher = config_reload.map(|r| tokio::spawn(files::watch(r)));
        let permits = u32::try_from(max_connections).unwrap_or(u32::MAX);
        let slots = Arc::new(Semaphore::new(permits as usize));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            tokio::spawn(conn::serve(
                stream,
                peer,
                shared.clone(),
                settings,
                stop_rx.clone(),
                permit,
            ));
        }
        drop(listener);
        shared.readiness.set_draining();
        let open = max_connections.saturating_sub(slots.available_permits());
        tracing::info!(
            open_connections = open,
            "shutting down: draining in-flight requests"
        );
        let _ = stop_tx.send(true);
        sweeper.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        let drained = tokio::time::timeout(settings.drain_timeout, slots.acquire_many(permits))
            .await
            .is_ok();
        if drained {
            tracing::info!("drained");
        } else {
            tracing::warn!(
                open_connections = max_connections.saturating_sub(slots.available_permits()),
                "drain timeout reached; closing remaining connections"
            );
        }
        let _ = admin_stop_tx.send(true);
    }
}

/// `POST /reload` on the admin listener: the same reload as SIGHUP.
fn admin_reload(reload: ConfigReload) -> admin::ReloadHook {
    Arc::new(move || {
        let reload = reload.clone();
        Box::pin(async move {
            reload
                .reload(Trigger::Admin)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Upkeep once a second: reclaim expired replay entries (or probe Redis so
/// that `/readyz` follows it), and pick up changed `jwks_file`s.
async fn maintain(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let services = &shared.services;
        services.replay.maintain(services.clock.now_unix()).await;
        shared.state.load().pipeline.maintain();
    }
}

/// Swaps the per-request state of a running gateway.
#[derive(Clone)]
pub struct Reloader(Arc<Shared>);

impl Reloader {
    /// Builds the new state first; on any error the running one stays.
    pub fn reload(&self, config: &Config) -> Result<(), ServeError> {
        let state = State::build(config, &self.0.services)?;
        state.pipeline.inherit(&self.0.state.load().pipeline);
        self.0.state.store(Arc::new(state));
        Ok(())
    }
}
