//! Access-token validation. The [`TokenValidator`] routes a token to its
//! issuer, checks it once and caches the verdict by the token's SHA-256 (the
//! same digest the proof's `ath` is checked against), so a steady client
//! costs one signature verification per request (its proof), not two.
//!
//! Sources, per `[[issuers]]` entry:
//! - `jwks_file`: JWTs (RFC 9068) against a local key set, re-read on SIGHUP
//!   and when the file changes;
//! - `jwks_url` (or `discovery = true`): JWTs against a key set fetched over
//!   HTTPS, refreshed periodically and on an unknown `kid` ([`remote`]);
//! - `introspection_url` (or discovery with client credentials): opaque
//!   tokens through RFC 7662 ([`introspect`]).
//!
//! Routing: a JWT goes to the issuer named by its `iss`; anything else (an
//! opaque token, or a JWT whose `iss` is not configured) goes to the FIRST
//! issuer in the file that introspects, if any. Tokens are never sent to more
//! than one introspection endpoint.

pub mod claims;
pub mod discovery;
mod http;
pub mod introspect;
pub mod jwt;
pub mod remote;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;

pub use crate::jose::{JwksError, KeySet};
pub use claims::{Binding, TokenClaims};

use crate::config::{IssuerConfig, TokenProfile, TokenSource};
use crate::jose::{AlgSet, ParseLimits};
use http::HttpClient;
use introspect::{Introspector, IntrospectorSettings};
use remote::{Discovery, Endpoint, RemoteJwks};

/// One trusted authorization server.
#[derive(Debug)]
pub struct Issuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// The token's `aud` must contain one of these (if non-empty).
    pub audiences: Vec<String>,
    pub algs: AlgSet,
    pub leeway_secs: u64,
    /// What a JWT access token must look like.
    pub profile: TokenProfile,
    /// `[limits]` for its tokens and key sets.
    pub limits: ParseLimits,
    /// The verification keys (empty for an introspection-only issuer, and
    /// until a remote set is first loaded).
    pub keys: Arc<ArcSwap<KeySet>>,
    remote: Option<Arc<RemoteJwks>>,
    introspection: Option<Arc<Introspector>>,
    file: Option<WatchedFile>,
}

/// A `jwks_file` and the SHA-256 of the content last read (loaded or refused).
#[derive(Debug)]
struct WatchedFile {
    path: PathBuf,
    seen: Mutex<Option<[u8; 32]>>,
}

/// Largest `jwks_file` re-read by the watcher.
const MAX_JWKS_FILE: u64 = 1024 * 1024;

impl Issuer {
    /// An issuer with a fixed key set and the default `[limits]` (tests, benches).
    pub fn with_keys(
        issuer: &str,
        audiences: Vec<String>,
        algs: AlgSet,
        leeway_secs: u64,
        keys: KeySet,
    ) -> Issuer {
        Issuer {
            issuer: issuer.to_string(),
            audiences,
            algs,
            leeway_secs,
            profile: TokenProfile::Rfc9068,
            limits: ParseLimits::default(),
            keys: Arc::new(ArcSwap::from_pointee(keys)),
            remote: None,
            introspection: None,
            file: None,
        }
    }

    /// The same issuer with another token profile.
    pub fn with_profile(mut self, profile: TokenProfile) -> Issuer {
        self.profile = profile;
        self
    }

    /// The same issuer with other `[limits]`.
    pub fn with_limits(mut self, limits: ParseLimits) -> Issuer {
        self.limits = limits;
        self
    }

    /// Builds an issuer and starts its background refresh, if any. Must run
    /// inside the tokio runtime when the source is remote.
    pub fn from_config(c: &IssuerConfig) -> Result<Issuer, String> {
        let mut issuer = Issuer::with_keys(
            &c.issuer,
            c.audiences.clone(),
            c.algs,
            c.leeway_secs,
            KeySet::default(),
        )
        .with_profile(c.profile)
        .with_limits(c.limits);
        let client = || {
            HttpClient::new(c.ca_file.as_deref()).map_err(|e| format!("issuer {}: {e}", c.issuer))
        };
        match &c.source {
            TokenSource::JwksFile { path, .. } => {
                let failed = |e: &dyn std::fmt::Display| format!("issuer {}: {e}", c.issuer);
                let bytes = std::fs::read(path)
                    .map_err(|e| failed(&format!("cannot read {}: {e}", path.display())))?;
                let keys = KeySet::parse(&bytes, &c.limits).map_err(|e| failed(&e))?;
                warn_skipped(&c.issuer, &keys);
                issuer.keys.store(Arc::new(keys));
                issuer.file = Some(WatchedFile {
                    path: path.clone(),
                    seen: Mutex::new(Some(crate::digest::sha256_bytes(&bytes))),
                });
            }
            TokenSource::JwksUrl { url, refresh_secs } => {
                issuer.remote = Some(remote_jwks(
                    c,
                    Endpoint::Fixed(url.clone()),
                    client()?,
                    &issuer.keys,
                    *refresh_secs,
                ));
            }
            TokenSource::Introspection { url, client: creds } => {
                issuer.introspection = Some(Arc::new(introspector(
                    c,
                    Endpoint::Fixed(url.clone()),
                    client()?,
                    creds,
                )?));
            }
            TokenSource::Discovery {
                metadata_urls,
                refresh_secs,
                client: creds,
            } => {
                let http = client()?;
                let discovery = Arc::new(Discovery::new(
                    &c.issuer,
                    metadata_urls,
                    c.allow_insecure_http,
                    http.clone(),
                    c.limits.max_json_depth,
                ));
                match creds {
                    Some(creds) => {
                        issuer.introspection = Some(Arc::new(introspector(
                            c,
                            Endpoint::Discovered(discovery),
                            http,
                            creds,
                        )?));
                    }
                    None => {
                        issuer.remote = Some(remote_jwks(
                            c,
                            Endpoint::Discovered(discovery),
                            http,
                            &issuer.keys,
                            *refresh_secs,
                        ));
                    }
                }
            }
        }
        Ok(issuer)
    }

    /// Not ready until a remote key set has been loaded once.
    pub fn is_ready(&self) -> bool {
        self.remote.as_ref().is_none_or(|r| r.is_loaded())
    }

    /// Re-reads a changed `jwks_file` (compared by content, not timestamps,
    /// so a fixed file is picked up even with an unchanged mtime); a file that
    /// no longer parses is logged once and the loaded keys stay.
    pub fn reload_file_if_changed(&self) {
        let Some(file) = &self.file else { return };
        if std::fs::metadata(&file.path).map_or(true, |m| m.len() > MAX_JWKS_FILE) {
            return;
        }
        let Ok(bytes) = std::fs::read(&file.path) else {
            return;
        };
        let digest = crate::digest::sha256_bytes(&bytes);
        let Ok(mut seen) = file.seen.lock() else {
            return;
        };
        if *seen == Some(digest) {
            return;
        }
        *seen = Some(digest);
        match KeySet::parse(&bytes, &self.limits) {
            Ok(keys) => {
                warn_skipped(&self.issuer, &keys);
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "jwks_file changed; keys reloaded");
                self.keys.store(Arc::new(keys));
            }
            Err(e) => {
                tracing::error!(issuer = %self.issuer, error = %e, "jwks_file changed but is invalid; keeping the loaded keys")
            }
        }
    }

    /// After a config reload: keep the last good remote keys of the issuer
    /// this one replaces until the new fetcher loads.
    pub fn inherit(&self, previous: &Issuer) {
        if let (Some(new), Some(old)) = (&self.remote, &previous.remote) {
            new.inherit(old);
        }
    }
}

/// Logs each key of `keys` left out for exceeding `[limits]`.
fn warn_skipped(issuer: &str, keys: &KeySet) {
    for key in keys.skipped() {
        tracing::warn!(issuer = %issuer, key = %key, "issuer key skipped: it exceeds [limits]");
    }
}

fn remote_jwks(
    c: &IssuerConfig,
    endpoint: Endpoint,
    client: HttpClient,
    keys: &Arc<ArcSwap<KeySet>>,
    refresh_secs: u64,
) -> Arc<RemoteJwks> {
    let remote = Arc::new(RemoteJwks::new(
        &c.issuer,
        endpoint,
        client,
        keys.clone(),
        Duration::from_secs(refresh_secs),
        c.limits,
    ));
    remote.spawn_refresher();
    remote
}

fn introspector(
    c: &IssuerConfig,
    endpoint: Endpoint,
    client: HttpClient,
    creds: &crate::config::IntrospectionClient,
) -> Result<Introspector, String> {
    Introspector::new(IntrospectorSettings {
        issuer: &c.issuer,
        audiences: &c.audiences,
        leeway_secs: c.leeway_secs,
        endpoint,
        client,
        client_id: &creds.client_id,
        client_secret: &creds.secret.0,
        cache_secs: creds.cache_secs,
        max_json_depth: c.limits.max_json_depth,
    })
}

/// Why a token was refused (all: 401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a JWT (an opaque token needs an introspection issuer)")]
    NotJwt,
    #[error("token malformed: {0}")]
    Malformed(String),
    #[error("token typ {0:?} not accepted by the issuer's profile")]
    Typ(String),
    #[error("token issuer {0:?} is not configured")]
    UnknownIssuer(String),
    #[error("token alg {0:?} not allowed for its issuer")]
    Alg(String),
    #[error(
        "no issuer key for {}",
        crate::errors::optional("kid", kid.as_deref(), "a token without kid")
    )]
    UnknownKey { kid: Option<String> },
    #[error("token signature invalid")]
    BadSignature,
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("token audience not accepted")]
    Audience,
    #[error("token claim {0} missing")]
    MissingClaim(&'static str),
    #[error("token claim {0} has the wrong type or value")]
    ClaimType(&'static str),
    #[error("token is not active (introspection)")]
    Inactive,
    #[error("token_type {0:?} is not DPoP")]
    TokenType(String),
    /// The key set or introspection endpoint cannot answer: 503, never 200.
    #[error("token source unavailable: {0}")]
    Unavailable(String),
}

impl TokenError {
    /// Short, stable, client-facing reason (no quotes or backslashes).
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::NotJwt | TokenError::Malformed(_) => "Malformed access token",
            TokenError::Typ(_) => "Access token typ not accepted",
            TokenError::UnknownIssuer(_) => "Access token issuer not accepted",
            TokenError::Alg(_) => "Access token alg not accepted",
            TokenError::UnknownKey { .. } | TokenError::BadSignature => {
                "Access token signature invalid"
            }
            TokenError::Expired { .. } => "Access token expired",
            TokenError::NotYetValid { .. } => "Access token not yet valid",
            TokenError::Audience => "Access token audience not accepted",
            TokenError::MissingClaim(_) | TokenError::ClaimType(_) => "Access token claims invalid",
            TokenError::Inactive => "Access token is not active",
            TokenError::TokenType(_) => "Access token type must be DPoP",
            TokenError::Unavailable(_) => "Token validation unavailable, retry later",
        }
    }
}

/// Most verified tokens kept; beyond this, tokens are verified every time
/// until expired entries are swept.
const CACHE_CAP: usize = 100_000;

/// Validates access tokens, with a cache of verified JWTs.
#[derive(Debug)]
pub struct TokenValidator {
    issuers: Vec<Issuer>,
    /// `[limits] max_json_depth` for reading a token's `iss` before its
    /// issuer is known (every issuer of one config has the same limits).
    json_depth: usize,
    cache: DashMap<[u8; 32], CachedJwt>,
}

/// A verified JWT and the key set it was verified with: when the issuer's key
/// set is replaced (rotation, refresh, changed file), the token is verified
/// again, so a removed key stops working for tokens already seen.
#[derive(Debug, Clone)]
struct CachedJwt {
    claims: Arc<TokenClaims>,
    keys: Arc<KeySet>,
}

impl TokenValidator {
    pub fn new(issuers: Vec<Issuer>) -> TokenValidator {
        let json_depth = issuers
            .iter()
            .map(|i| i.limits.max_json_depth)
            .max()
            .unwrap_or(ParseLimits::default().max_json_depth);
        TokenValidator {
            issuers,
            json_depth,
            cache: DashMap::new(),
        }
    }

    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// After a config reload: start from the previous validator's remote keys.
    pub fn inherit(&self, previous: &TokenValidator) {
        for issuer in &self.issuers {
            if let Some(old) = previous.issuers.iter().find(|o| o.issuer == issuer.issuer) {
                issuer.inherit(old);
            }
        }
    }

    /// Validates `token` (whose SHA-256 is `digest`) at time `now`.
    pub async fn validate(
        &self,
        token: &str,
        digest: &[u8; 32],
        now: i64,
    ) -> Result<Arc<TokenClaims>, TokenError> {
        let hit = self.cache.get(digest).map(|h| h.value().clone());
        let cache = |hit: bool| crate::metrics::metrics().token_cache(hit);
        if let Some(hit) = hit {
            if let Some(verdict) = self.still_valid(&hit, now) {
                cache(true);
                return verdict;
            }
        }
        // A remembered introspection verdict needs no routing (no payload parse).
        for introspection in self.issuers.iter().filter_map(|i| i.introspection.as_ref()) {
            if let Some(verdict) = introspection.cached(digest, now) {
                cache(true);
                return verdict;
            }
        }
        cache(false);
        let by_iss = jwt::peek_iss(token, self.json_depth)
            .and_then(|iss| self.issuers.iter().find(|i| i.issuer == iss));
        let issuer = match by_iss {
            Some(i) => i,
            None => match self.issuers.iter().find(|i| i.introspection.is_some()) {
                Some(i) => i,
                // Neither a JWT from a known issuer nor an introspecting issuer.
                None => return Err(self.unroutable(token)),
            },
        };
        if let Some(introspection) = &issuer.introspection {
            return introspection.introspect(token, digest, now).await;
        }
        let generation = issuer.remote.as_ref().map(|r| r.generation());
        let mut result = jwt::verify_for(token, issuer, now);
        if let (Err(TokenError::UnknownKey { .. }), Some(remote), Some(seen)) =
            (&result, &issuer.remote, generation)
        {
            if remote.refetch_on_miss(seen).await {
                result = jwt::verify_for(token, issuer, now);
            } else if !remote.is_loaded() {
                return Err(TokenError::Unavailable(format!(
                    "keys of {} not loaded yet",
                    issuer.issuer
                )));
            }
        }
        let claims = Arc::new(result?);
        if self.cache.len() >= CACHE_CAP {
            self.cache.retain(|_, c| c.claims.exp > now);
        }
        if self.cache.len() < CACHE_CAP {
            let keys = issuer.keys.load_full();
            self.cache.insert(
                *digest,
                CachedJwt {
                    claims: claims.clone(),
                    keys,
                },
            );
        }
        Ok(claims)
    }

    fn unroutable(&self, token: &str) -> TokenError {
        match jwt::peek_iss(token, self.json_depth) {
            Some(iss) => TokenError::UnknownIssuer(crate::jose::clip(&iss, 64)),
            None => TokenError::NotJwt,
        }
    }

    /// A cached token is re-checked against the clock on every use (never a
    /// stale accept after `exp`); `None` when its issuer's key set changed
    /// since it was verified, so it must be verified again.
    fn still_valid(
        &self,
        hit: &CachedJwt,
        now: i64,
    ) -> Option<Result<Arc<TokenClaims>, TokenError>> {
        let claims = &hit.claims;
        let issuer = self.issuers.iter().find(|i| i.issuer == claims.iss)?;
        if !Arc::ptr_eq(&issuer.keys.load(), &hit.keys) {
            return None;
        }
        let leeway = i64::try_from(issuer.leeway_secs).unwrap_or(0);
        if now >= claims.exp.saturating_add(leeway) {
            return Some(Err(TokenError::Expired {
                exp: claims.exp,
                now,
            }));
        }
        if let Some(nbf) = claims.nbf {
            if nbf > now.saturating_add(leeway) {
                return Some(Err(TokenError::NotYetValid { nbf, now }));
            }
        }
        Some(Ok(claims.clone()))
    }

    /// Issuers whose keys are not loaded yet (for `/readyz`).
    pub fn not_ready(&self) -> Vec<String> {
        self.issuers
            .iter()
            .filter(|i| !i.is_ready())
            .map(|i| format!("issuer_keys:{}", i.issuer))
            .collect()
    }

    /// Periodic upkeep: pick up changed `jwks_file`s.
    pub fn maintain(&self) {
        for issuer in &self.issuers {
            issuer.reload_file_if_changed();
        }
    }
}
