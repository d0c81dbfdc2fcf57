//! Token introspection (RFC 7662) for opaque access tokens: `POST token=…`
//! with HTTP Basic client authentication (RFC 6749 §2.3.1: id and secret
//! form-encoded, then base64).
//!
//! - `active` must be `true`; `iss` and `aud`, when present, must match;
//!   `cnf.jkt` gives the binding; `token_type` is kept for the caller (a DPoP
//!   request requires `DPoP` when present, RFC 9449 §6.2).
//! - Positive results are cached by the token's SHA-256 until the earlier of
//!   its `exp` and `introspection_cache_secs` (RFC 7662 §4: never beyond
//!   `exp`); negative ones for [`NEGATIVE_CACHE_SECS`].
//! - Concurrent requests with one token share one call (single flight).
//! - The endpoint down, slow or answering garbage is [`TokenError::Unavailable`]
//!   (503), never a success, and is not cached.

use std::sync::Arc;

use base64::Engine;
use dashmap::DashMap;
use http::header::HeaderValue;
use http::Uri;
use serde_json::{Map, Value};

use super::claims::{Binding, TokenClaims};
use super::http::{form_encode, HttpClient};
use super::remote::Endpoint;
use super::TokenError;
use crate::jose::{json, Jkt};

/// How long an inactive or invalid token's verdict is remembered.
pub const NEGATIVE_CACHE_SECS: i64 = 5;
/// Most cached verdicts; beyond that, expired ones are dropped first.
const CACHE_CAP: usize = 100_000;

/// An introspection verdict: the token's claims, or why it is refused.
pub type Verdict = Result<Arc<TokenClaims>, TokenError>;

#[derive(Debug, Clone)]
struct Cached {
    verdict: Verdict,
    until: i64,
}

pub struct Introspector {
    issuer: String,
    audiences: Vec<String>,
    leeway_secs: i64,
    endpoint: Endpoint,
    client: HttpClient,
    authorization: HeaderValue,
    cache_secs: i64,
    max_json_depth: usize,
    cache: DashMap<[u8; 32], Cached>,
    inflight: DashMap<[u8; 32], Arc<tokio::sync::OnceCell<Result<Cached, String>>>>,
    fetches: crate::metrics::KeyFetches,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Settings of one introspecting issuer.
pub struct IntrospectorSettings<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub leeway_secs: u64,
    pub endpoint: Endpoint,
    pub client: HttpClient,
    pub client_id: &'a str,
    pub client_secret: &'a [u8],
    pub cache_secs: u64,
    /// `[limits] max_json_depth` for the answers.
    pub max_json_depth: usize,
}

impl Introspector {
    pub fn new(s: IntrospectorSettings<'_>) -> Result<Introspector, String> {
        let secret = std::str::from_utf8(s.client_secret)
            .map_err(|_| "introspection_client_secret_file is not UTF-8".to_string())?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_encode(s.client_id),
            form_encode(secret)
        ));
        let authorization = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| "introspection credentials are not header-safe".to_string())?;
        Ok(Introspector {
            issuer: s.issuer.to_string(),
            audiences: s.audiences.to_vec(),
            leeway_secs: i64::try_from(s.leeway_secs).unwrap_or(0),
            endpoint: s.endpoint,
            client: s.client,
            authorization,
            cache_secs: i64::try_from(s.cache_secs).unwrap_or(i64::MAX),
            max_json_depth: s.max_json_depth,
            cache: DashMap::new(),
            inflight: DashMap::new(),
            fetches: crate::metrics::metrics().key_fetches(s.issuer),
        })
    }

    /// A remembered verdict for the token with this SHA-256, if still fresh.
    pub fn cached(&self, digest: &[u8; 32], now: i64) -> Option<Verdict> {
        let hit = self.cache.get(digest)?;
        (hit.until > now).then(|| hit.verdict.clone())
    }

    /// The verdict for `token` (whose SHA-256 is `digest`) at `now`.
    pub async fn introspect(&self, token: &str, digest: &[u8; 32], now: i64) -> Verdict {
        if let Some(verdict) = self.cached(digest, now) {
            return verdict;
        }
        let cell = self
            .inflight
            .entry(*digest)
            .or_insert_with(|| Arc::new(tokio::sync::OnceCell::new()))
            .clone();
        let outcome = cell
            .get_or_init(|| async { self.call(token, now).await })
            .await
            .clone();
        // Cache first, then leave the flight, so no request slips between.
        if let Ok(cached) = &outcome {
            if self.cache.len() >= CACHE_CAP {
                self.cache.retain(|_, c| c.until > now);
            }
            if self.cache.len() < CACHE_CAP {
                self.cache.insert(*digest, cached.clone());
            }
        }
        self.inflight
            .remove_if(digest, |_, current| Arc::ptr_eq(current, &cell));
        match outcome {
            Ok(cached) => cached.verdict,
            Err(reason) => Err(TokenError::Unavailable(reason)),
        }
    }

    async fn url(&self) -> Result<Uri, String> {
        self.endpoint
            .resolve("introspection_endpoint", |m| {
                m.introspection_endpoint.as_ref()
            })
            .await
    }

    /// One call to the endpoint; `Err` only when it could not answer.
    async fn call(&self, token: &str, now: i64) -> Result<Cached, String> {
        let url = self.url().await?;
        let form = format!("token={}&token_type_hint=access_token", form_encode(token));
        let answer = async {
            let body = self
                .client
                .post_form(&url, &self.authorization, form)
                .await
                .map_err(|e| format!("introspection {url}: {e}"))?;
            json::parse_object(&body, self.max_json_depth)
                .map_err(|e| format!("introspection response: {e}"))
        }
        .await;
        self.fetches.record(answer.is_ok());
        let doc = answer?;
        let verdict = self.answer().judge(&doc, now);
        let until = match &verdict {
            Ok(claims) => claims.exp.min(now.saturating_add(self.cache_secs)),
            Err(_) => now.saturating_add(NEGATIVE_CACHE_SECS),
        };
        Ok(Cached { verdict, until })
    }

    fn answer(&self) -> Answer<'_> {
        Answer {
            issuer: &self.issuer,
            audiences: &self.audiences,
            leeway_secs: self.leeway_secs,
        }
    }
}

/// What an introspection answer is judged against: the issuer it came from.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub leeway_secs: i64,
}

impl Answer<'_> {
    /// The verdict of one RFC 7662 answer (a JSON object) at `now`.
    pub fn judge(&self, doc: &Map<String, Value>, now: i64) -> Verdict {
        if doc.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError::Inactive);
        }
        let num = |name: &'static str| match doc.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(TokenError::ClaimType(name)),
            Some(_) => Err(TokenError::ClaimType(name)),
        };
        let exp = num("exp")?;
        if let Some(exp) = exp {
            if now >= exp.saturating_add(self.leeway_secs) {
                return Err(TokenError::Expired { exp, now });
            }
        }
        let nbf = num("nbf")?;
        if let Some(nbf) = nbf {
            if nbf > now.saturating_add(self.leeway_secs) {
                return Err(TokenError::NotYetValid { nbf, now });
            }
        }
        match doc.get("iss") {
            None => {}
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err(TokenError::UnknownIssuer("introspection iss".into())),
        }
        if !self.audiences.is_empty() {
            let aud: Vec<&str> = match doc.get("aud") {
                None => Vec::new(),
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                Some(_) => return Err(TokenError::ClaimType("aud")),
            };
            if doc.contains_key("aud") && !aud.iter().any(|a| self.audiences.iter().any(|w| w == a))
            {
                return Err(TokenError::Audience);
            }
        }
        let binding = match doc.get("cnf") {
            None => Binding::Unbound,
            Some(Value::Object(cnf)) => match cnf.get("jkt") {
                Some(Value::String(j)) => {
                    Binding::Jkt(Jkt::from_b64(j).map_err(|_| TokenError::ClaimType("cnf.jkt"))?)
                }
                Some(_) => return Err(TokenError::ClaimType("cnf.jkt")),
                None => Binding::Unsupported,
            },
            Some(_) => return Err(TokenError::ClaimType("cnf")),
        };
        let token_type = match doc.get("token_type") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(TokenError::ClaimType("token_type")),
        };
        Ok(Arc::new(TokenClaims {
            iss: self.issuer.to_string(),
            // No exp: the cache's own limit bounds how long the answer is used.
            exp: exp.unwrap_or(i64::MAX),
            nbf,
            binding,
            client_id: super::claims::first_string(doc, &["client_id"]),
            scope: super::claims::scopes(doc)?,
            token_type,
            all: doc.clone(),
        }))
    }
}
