//! The auth phase of the pipeline: decides, before anything reaches the
//! upstream, whether the caller proved possession of the key its access token
//! is bound to (RFC 9449 §4.3, §7).
//!
//! Order, cheapest first, so that a request failing a cheap check never costs
//! a signature verification and garbage never reaches the replay store:
//!
//! 1. request shape: one `Authorization`, one `DPoP`, token68, no token in
//!    the query (400 `invalid_request`);
//! 2. `SHA-256(token)`, computed once: it is both the `ath` to compare and
//!    the token-cache key;
//! 3. proof parsing and claims: `typ`, `alg` allow-list, public `jwk` and its
//!    thumbprint, `jti`, `htm`, `htu`, `iat`, `ath` (401 `invalid_dpop_proof`);
//!    with `nonce = "required"`, a missing, forged or expired server nonce (an
//!    HMAC check, microseconds) or an `iat` outside the window answers 401
//!    `use_dpop_nonce` with a fresh `DPoP-Nonce` (§9). The `iat` window still
//!    applies with nonces (rfc9449-checks case 54): a client whose clock is off
//!    by more than the window keeps getting `use_dpop_nonce`;
//! 4. access token (a cache hit in steady state) and its binding:
//!    `cnf.jkt` = thumbprint of the proof key (401 `invalid_token`);
//! 5. the proof's signature: the one expensive step (401 `invalid_dpop_proof`);
//! 6. the replay record of `(jkt, jti)`: atomic, last (401 on replay, 503
//!    when the store cannot answer);
//! 7. scope (403 `insufficient_scope`).

pub mod challenge;
pub mod credentials;
pub mod error;

use std::sync::Arc;

use http::HeaderMap;

pub use error::{AuthError, AuthFailure, Mechanism};

use crate::clock::SharedClock;
use crate::config::{AuthMode, Config, RouteConfig};
use crate::digest::sha256;
use crate::dpop::{self, Htu, ProofChecker, ProofPolicy, ProofRequest};
use crate::jose::Jkt;
use crate::nonce::{Freshness, NonceError, Nonces};
use crate::replay::{Recorded, ReplayKey, ReplayStore};
use crate::token::{Binding, Issuer, TokenClaims, TokenError, TokenValidator};
use credentials::Credentials;

#[cfg(test)]
mod vector_tests;

/// Who the request was authenticated as.
#[derive(Debug, Clone)]
pub enum Authenticated {
    /// `auth = "none"`.
    Anonymous,
    /// A valid DPoP proof for a token bound to its key. `next_nonce` is set
    /// when the proof's nonce is from the previous window (§8.2: the response
    /// carries the next one).
    Dpop {
        claims: Arc<TokenClaims>,
        jkt: Jkt,
        next_nonce: Option<String>,
    },
    /// An unbound Bearer token on a `dpop_or_bearer` route.
    Bearer { claims: Arc<TokenClaims> },
}

impl Authenticated {
    pub fn claims(&self) -> Option<&TokenClaims> {
        match self {
            Authenticated::Anonymous => None,
            Authenticated::Dpop { claims, .. } | Authenticated::Bearer { claims } => Some(claims),
        }
    }

    pub fn jkt(&self) -> Option<&Jkt> {
        match self {
            Authenticated::Dpop { jkt, .. } => Some(jkt),
            _ => None,
        }
    }

    /// The nonce to send with the response (§8.2), if any.
    pub fn next_nonce(&self) -> Option<&str> {
        match self {
            Authenticated::Dpop { next_nonce, .. } => next_nonce.as_deref(),
            _ => None,
        }
    }
}

/// What the auth phase needs from the request.
pub struct RequestView<'a> {
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

/// Proof policy, token validator, replay store and clock, built once per config.
pub struct Authenticator {
    /// Proof policy, and the headers of accepted proofs.
    proofs: ProofChecker,
    /// The `algs` challenge parameter.
    algs: String,
    tokens: TokenValidator,
    replay: ReplayStore,
    /// How long a `(jkt, jti)` is remembered: max_age + max_skew (§11.1).
    replay_window_secs: i64,
    /// Server nonces, when `nonce = "required"`.
    nonces: Option<Nonces>,
    clock: SharedClock,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// `replay` outlives config reloads (a reload must not forget used proofs).
    pub fn new(
        config: &Config,
        clock: SharedClock,
        replay: ReplayStore,
    ) -> Result<Authenticator, String> {
        let issuers = config
            .issuers
            .iter()
            .map(Issuer::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        let d = &config.dpop;
        Ok(Authenticator {
            proofs: ProofChecker::new(ProofPolicy {
                algs: d.algs,
                max_age_secs: d.max_age_secs,
                max_skew_secs: d.max_skew_secs,
                limits: config.limits.parser,
            }),
            algs: d.algs.to_string(),
            tokens: TokenValidator::new(issuers),
            replay,
            replay_window_secs: i64::try_from(d.max_age_secs + d.max_skew_secs).unwrap_or(i64::MAX),
            nonces: d.nonce.as_ref().map(Nonces::new),
            clock,
        })
    }

    /// After a config reload: keep the previous issuers' last good remote keys.
    pub fn inherit(&self, previous: &Authenticator) {
        self.tokens.inherit(&previous.tokens);
    }

    /// What keeps the gateway from being ready (issuer keys not loaded).
    pub fn not_ready(&self) -> Vec<String> {
        self.tokens.not_ready()
    }

    /// Periodic upkeep (changed `jwks_file`s).
    pub fn maintain(&self) {
        self.tokens.maintain();
    }

    pub fn replay_store(&self) -> &ReplayStore {
        &self.replay
    }

    /// The `algs` challenge parameter.
    pub fn algs(&self) -> &str {
        &self.algs
    }

    /// Runs the auth phase for a route. `htu` builds the expected target URI
    /// (only called for DPoP requests).
    pub async fn authenticate(
        &self,
        route: &RouteConfig,
        req: &RequestView<'_>,
        htu: impl FnOnce() -> Result<Htu, String>,
    ) -> Result<Authenticated, AuthFailure> {
        let dual = route.auth == AuthMode::DpopOrBearer;
        let fail = |error: AuthError, mechanism: Mechanism| AuthFailure {
            nonce: match (&error, &self.nonces) {
                (AuthError::UseNonce(_), Some(n)) => n.issue(self.clock.now_unix()),
                _ => None,
            },
            error,
            mechanism,
            dual,
            algs: self.algs.clone(),
            resource_metadata: None,
        };
        if route.auth == AuthMode::None {
            return Ok(Authenticated::Anonymous);
        }
        let creds = credentials::extract(req.headers, req.query).map_err(|e| {
            let mechanism = match e {
                credentials::ShapeError::MultipleAuthorization
                | credentials::ShapeError::TokenInQuery
                | credentials::ShapeError::ProofWithBearer => Mechanism::Unknown,
                _ => Mechanism::Dpop,
            };
            fail(AuthError::Shape(e), mechanism)
        })?;
        match creds {
            Credentials::None => Err(fail(AuthError::NoCredentials, Mechanism::Unknown)),
            Credentials::Bearer { token } => {
                if !dual {
                    return Err(fail(AuthError::DpopRequired, Mechanism::Dpop));
                }
                self.bearer(route, token)
                    .await
                    .map_err(|e| fail(e, Mechanism::Bearer))
            }
            Credentials::Dpop { token, proof } => self
                .dpop(route, req.method, token, proof, htu)
                .await
                .map_err(|e| fail(e, Mechanism::Dpop)),
        }
    }

    async fn bearer(&self, route: &RouteConfig, token: &str) -> Result<Authenticated, AuthError> {
        let now = self.clock.now_unix();
        let digest = sha256(token);
        let claims = self.tokens.validate(token, &digest, now).await?;
        let dpop_type = claims
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        match claims.binding {
            Binding::Unbound if !dpop_type => {}
            Binding::Unbound => return Err(AuthError::BoundAsBearer),
            // §7.2: a DPoP-bound token used as a bearer token MUST be rejected.
            Binding::Jkt(_) | Binding::Unsupported => return Err(AuthError::BoundAsBearer),
        }
        check_scopes(route, &claims)?;
        Ok(Authenticated::Bearer { claims })
    }

    async fn dpop(
        &self,
        route: &RouteConfig,
        method: &str,
        token: &str,
        proof: &str,
        htu: impl FnOnce() -> Result<Htu, String>,
    ) -> Result<Authenticated, AuthError> {
        let now = self.clock.now_unix();
        let digest = sha256(token);
        let htu = htu().map_err(AuthError::RequestUri)?;
        let request = ProofRequest {
            method,
            htu: &htu,
            token_sha256: Some(&digest),
        };
        let unverified = match self.proofs.precheck(proof, &request, now) {
            Ok(u) => u,
            Err(e) if e.is_freshness() && self.nonces.is_some() => {
                return Err(AuthError::UseNonce(NonceError::Clock {
                    future: matches!(e, dpop::ProofError::IatInFuture { .. }),
                }))
            }
            Err(e) => return Err(e.into()),
        };
        let next_nonce = match &self.nonces {
            None => None,
            Some(nonces) => {
                let presented = unverified.nonce().ok_or(NonceError::Missing)?;
                match nonces.check(presented, now)? {
                    Freshness::Current => None,
                    Freshness::Previous => nonces.issue(now),
                }
            }
        };
        let claims = self.tokens.validate(token, &digest, now).await?;
        // RFC 9449 §6.2: an introspected token_type, when present, must be DPoP.
        if let Some(token_type) = &claims.token_type {
            if !token_type.eq_ignore_ascii_case("dpop") {
                return Err(TokenError::TokenType(crate::jose::clip(token_type, 32)).into());
            }
        }
        match &claims.binding {
            Binding::Jkt(bound) if bound == unverified.jkt() => {}
            Binding::Jkt(bound) => {
                return Err(AuthError::KeyBinding {
                    token_jkt: bound.to_string(),
                    proof_jkt: unverified.jkt().to_string(),
                })
            }
            Binding::Unbound => return Err(AuthError::NotBound),
            Binding::Unsupported => return Err(AuthError::UnsupportedBinding),
        }
        let proof = unverified.verify_signature()?;
        let key = ReplayKey::new(proof.jkt(), proof.jti());
        let expires_at = now.saturating_add(self.replay_window_secs);
        match self.replay.record(key, expires_at, now).await? {
            Recorded::Fresh => {}
            Recorded::Replayed => return Err(AuthError::Replayed),
        }
        self.proofs.remember(&proof);
        check_scopes(route, &claims)?;
        Ok(Authenticated::Dpop {
            claims,
            jkt: proof.jkt().clone(),
            next_nonce,
        })
    }
}

fn check_scopes(route: &RouteConfig, claims: &TokenClaims) -> Result<(), AuthError> {
    if claims.has_scopes(&route.required_scopes) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            required: route.required_scopes.join(" "),
        })
    }
}
