//! Access-token validation. The [`TokenValidator`] checks a token once and
//! caches the verified claims by the token's SHA-256 (the same digest the
//! proof's `ath` is checked against) until the token's `exp`, so a steady
//! client costs one signature verification per request (its proof), not two.
//!
//! Sources: JWT access tokens (RFC 9068) verified against each issuer's
//! `jwks_file`. The key set sits behind an `ArcSwap`, so a refreshed set
//! (reload, or a fetched `jwks_url`) replaces it without locking requests.

pub mod claims;
mod jwks;
pub mod jwt;

use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;

pub use claims::{Binding, TokenClaims};
pub use jwks::{JwksError, KeySet};

use crate::jose::AlgSet;

/// One trusted authorization server.
#[derive(Debug)]
pub struct Issuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// The token's `aud` must contain one of these (if non-empty).
    pub audiences: Vec<String>,
    pub algs: AlgSet,
    pub leeway_secs: u64,
    pub keys: ArcSwap<KeySet>,
}

/// Why a token was refused (all: 401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a JWT (an opaque token needs an introspection issuer)")]
    NotJwt,
    #[error("token malformed: {0}")]
    Malformed(String),
    #[error("token typ {0:?} is not at+jwt")]
    Typ(String),
    #[error("token issuer {0:?} is not configured")]
    UnknownIssuer(String),
    #[error("token alg {0:?} not allowed for its issuer")]
    Alg(String),
    #[error("no issuer key for kid {kid:?}")]
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
}

impl TokenError {
    /// Short, stable, client-facing reason (no quotes or backslashes).
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::NotJwt | TokenError::Malformed(_) => "Malformed access token",
            TokenError::Typ(_) => "Access token typ must be at+jwt",
            TokenError::UnknownIssuer(_) => "Access token issuer not accepted",
            TokenError::Alg(_) => "Access token alg not accepted",
            TokenError::UnknownKey { .. } | TokenError::BadSignature => {
                "Access token signature invalid"
            }
            TokenError::Expired { .. } => "Access token expired",
            TokenError::NotYetValid { .. } => "Access token not yet valid",
            TokenError::Audience => "Access token audience not accepted",
            TokenError::MissingClaim(_) | TokenError::ClaimType(_) => "Access token claims invalid",
        }
    }
}

/// Most verified tokens kept; beyond this, tokens are verified every time
/// until expired entries are swept.
const CACHE_CAP: usize = 100_000;

/// Validates access tokens, with a cache of verified ones.
#[derive(Debug)]
pub struct TokenValidator {
    issuers: Vec<Issuer>,
    cache: DashMap<[u8; 32], Arc<TokenClaims>>,
}

impl TokenValidator {
    pub fn new(issuers: Vec<Issuer>) -> TokenValidator {
        TokenValidator {
            issuers,
            cache: DashMap::new(),
        }
    }

    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// Validates `token` (whose SHA-256 is `digest`) at time `now`.
    pub fn validate(
        &self,
        token: &str,
        digest: &[u8; 32],
        now: i64,
    ) -> Result<Arc<TokenClaims>, TokenError> {
        if let Some(hit) = self.cache.get(digest) {
            let claims = hit.value().clone();
            drop(hit);
            return self.still_valid(claims, now);
        }
        let claims = Arc::new(jwt::verify(token, &self.issuers, now)?);
        if self.cache.len() >= CACHE_CAP {
            self.cache.retain(|_, c| c.exp > now);
        }
        if self.cache.len() < CACHE_CAP {
            self.cache.insert(*digest, claims.clone());
        }
        Ok(claims)
    }

    /// A cached token is re-checked against the clock on every use: never a
    /// stale accept after `exp`.
    fn still_valid(
        &self,
        claims: Arc<TokenClaims>,
        now: i64,
    ) -> Result<Arc<TokenClaims>, TokenError> {
        let leeway = self
            .issuers
            .iter()
            .find(|i| i.issuer == claims.iss)
            .map_or(0, |i| i64::try_from(i.leeway_secs).unwrap_or(0));
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if let Some(nbf) = claims.nbf {
            if nbf > now.saturating_add(leeway) {
                return Err(TokenError::NotYetValid { nbf, now });
            }
        }
        Ok(claims)
    }
}
