//! A key set fetched over HTTPS (`jwks_url`, or the `jwks_uri` found by
//! discovery): loaded at start and every `jwks_refresh_secs`, and refetched
//! when a token names an unknown `kid`, at most once per
//! [`MIN_REFETCH_INTERVAL`] and single-flight (concurrent misses wait for one
//! fetch). A failed fetch keeps the last good set; it is logged and counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::Uri;

use super::discovery::{self, Metadata};
use super::http::HttpClient;
use super::KeySet;
use crate::jose::ParseLimits;

/// An unknown `kid` triggers at most one fetch per this interval.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Retry delay while the first load has not succeeded.
const RETRY_UNLOADED: Duration = Duration::from_secs(1);

/// A URL given in the config, or one found by discovery.
#[derive(Debug)]
pub enum Endpoint {
    Fixed(Uri),
    Discovered(Arc<Discovery>),
}

impl Endpoint {
    /// The URL: the fixed one, or `field` of the discovered metadata.
    pub async fn resolve(
        &self,
        field: &str,
        pick: impl FnOnce(&Metadata) -> Option<&Uri>,
    ) -> Result<Uri, String> {
        match self {
            Endpoint::Fixed(u) => Ok(u.clone()),
            Endpoint::Discovered(d) => pick(d.metadata().await?)
                .cloned()
                .ok_or_else(|| format!("the issuer's metadata has no {field}")),
        }
    }
}

/// Lazily fetched, then kept, issuer metadata.
#[derive(Debug)]
pub struct Discovery {
    pub issuer: String,
    pub client: HttpClient,
    urls: Vec<Uri>,
    allow_insecure_http: bool,
    max_json_depth: usize,
    cell: tokio::sync::OnceCell<Metadata>,
    fetches: crate::metrics::KeyFetches,
}

impl Discovery {
    pub fn new(
        issuer: &str,
        urls: &[Uri],
        allow_insecure_http: bool,
        client: HttpClient,
        max_json_depth: usize,
    ) -> Discovery {
        Discovery {
            issuer: issuer.to_string(),
            client,
            urls: urls.to_vec(),
            allow_insecure_http,
            max_json_depth,
            cell: tokio::sync::OnceCell::new(),
            fetches: crate::metrics::metrics().key_fetches(issuer),
        }
    }

    /// The metadata; a failed discovery is retried on the next call.
    pub async fn metadata(&self) -> Result<&Metadata, String> {
        self.cell
            .get_or_try_init(|| async {
                let found = discovery::discover(
                    &self.client,
                    &self.issuer,
                    &self.urls,
                    self.allow_insecure_http,
                    self.max_json_depth,
                )
                .await;
                self.fetches.record(found.is_ok());
                found
            })
            .await
    }
}

pub struct RemoteJwks {
    issuer: String,
    endpoint: Endpoint,
    client: HttpClient,
    keys: Arc<ArcSwap<KeySet>>,
    refresh: Duration,
    limits: ParseLimits,
    loaded: AtomicBool,
    /// Bumped on every successful load.
    generation: AtomicU64,
    failures: AtomicU64,
    fetches: crate::metrics::KeyFetches,
    /// Orders key-set stores against [`RemoteJwks::inherit`].
    store: std::sync::Mutex<()>,
    /// Held while fetching (single flight); the time of the last fetch
    /// triggered by an unknown `kid` (periodic loads do not count).
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("issuer", &self.issuer)
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    pub fn new(
        issuer: &str,
        endpoint: Endpoint,
        client: HttpClient,
        keys: Arc<ArcSwap<KeySet>>,
        refresh: Duration,
        limits: ParseLimits,
    ) -> RemoteJwks {
        RemoteJwks {
            issuer: issuer.to_string(),
            endpoint,
            client,
            keys,
            refresh,
            limits,
            loaded: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            fetches: crate::metrics::metrics().key_fetches(issuer),
            store: std::sync::Mutex::new(()),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Failed fetches since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    async fn url(&self) -> Result<Uri, String> {
        self.endpoint
            .resolve("jwks_uri", |m| m.jwks_uri.as_ref())
            .await
    }

    /// One fetch; on success the new set replaces the old one.
    async fn fetch(&self) -> Result<(), String> {
        let url = self.url().await?;
        let answer = async {
            let body = self
                .client
                .get(&url)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            KeySet::parse(&body, &self.limits).map_err(|e| format!("{url}: {e}"))
        }
        .await;
        self.fetches.record(answer.is_ok());
        let set = answer?;
        super::warn_skipped(&self.issuer, &set);
        tracing::info!(issuer = %self.issuer, keys = set.len(), "issuer keys loaded");
        let _order = self.store.lock().unwrap_or_else(|p| p.into_inner());
        self.keys.store(Arc::new(set));
        self.loaded.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn attempt(&self) -> bool {
        match self.fetch().await {
            Ok(()) => true,
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(issuer = %self.issuer, error = %e, "key set fetch failed; keeping the last good keys");
                false
            }
        }
    }

    /// The key-set generation; read it before verifying, pass it to
    /// [`RemoteJwks::refetch_on_miss`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called on an unknown `kid` seen with key-set generation `seen`: `true`
    /// when a newer key set is in place (fetched now, or by a concurrent miss
    /// or refresh that finished meanwhile).
    pub async fn refetch_on_miss(&self, seen: u64) -> bool {
        let mut last = self.last_attempt.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        self.attempt().await
    }

    /// Starts from the keys of the issuer this one replaces (a config reload),
    /// so a reload during an outage keeps the last good keys.
    pub fn inherit(&self, previous: &RemoteJwks) {
        if !previous.is_loaded() || previous.endpoint_id() != self.endpoint_id() {
            return;
        }
        let _order = self.store.lock().unwrap_or_else(|p| p.into_inner());
        // A fetch that already succeeded here has newer keys: keep them.
        if self.generation.load(Ordering::Acquire) == 0 {
            self.keys.store(previous.keys.load_full());
            self.loaded.store(true, Ordering::Release);
        }
    }

    fn endpoint_id(&self) -> String {
        match &self.endpoint {
            Endpoint::Fixed(u) => u.to_string(),
            Endpoint::Discovered(d) => format!("discovery:{}", d.issuer),
        }
    }

    /// Loads now and then every `refresh`, until the issuer is dropped (a
    /// reload builds new issuers and their own refreshers).
    pub fn spawn_refresher(self: &Arc<Self>) {
        let weak: Weak<RemoteJwks> = Arc::downgrade(self);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                loop {
                    let Some(me) = weak.upgrade() else { return };
                    let ok = {
                        // Single flight with on-miss fetches.
                        let _guard = me.last_attempt.lock().await;
                        me.attempt().await
                    };
                    let wait = if ok || me.is_loaded() {
                        me.refresh
                    } else {
                        RETRY_UNLOADED
                    };
                    drop(me);
                    tokio::time::sleep(wait).await;
                }
            });
        }
    }
}
