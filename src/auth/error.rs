//! Authentication failures. Each carries the detail for the log; the status,
//! `error` code, challenge and short client-facing description are decided
//! in one place, `proxy/respond.rs`.

use crate::dpop::ProofError;
use crate::replay::ReplayError;
use crate::token::TokenError;

use super::credentials::ShapeError;

/// Which mechanism the client used, so the challenge carries the error in the
/// right scheme (RFC 9449 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// No credentials, or the mechanism is ambiguous.
    Unknown,
    Dpop,
    Bearer,
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials at all: 401 with a challenge and no error (RFC 6750 §3.1).
    #[error("no credentials")]
    NoCredentials,
    /// Malformed request shape: 400 `invalid_request`.
    #[error("request shape: {0}")]
    Shape(#[from] ShapeError),
    /// The expected `htu` cannot be built from the request (no Host, bad path).
    #[error("cannot build the request URI: {0}")]
    RequestUri(String),
    /// Proof checks (RFC 9449 §4.3): 401 `invalid_dpop_proof`.
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
    /// The `(jkt, jti)` pair was seen within the window (§11.1).
    #[error("proof replayed: jti already used with this key")]
    Replayed,
    /// Nonce mode: the proof's nonce is missing, not ours, expired, or its
    /// `iat` is outside the window: 401 `use_dpop_nonce` with a fresh nonce (§9).
    #[error("nonce: {0}")]
    UseNonce(#[from] crate::nonce::NonceError),
    /// Access token checks: 401 `invalid_token`.
    #[error("token: {0}")]
    Token(#[from] TokenError),
    /// `cnf.jkt` differs from the proof key's thumbprint (§4.3 item 12, §6).
    #[error("token bound to jkt {token_jkt}, proof key is {proof_jkt}")]
    KeyBinding {
        token_jkt: String,
        proof_jkt: String,
    },
    /// A token without `cnf` presented with the DPoP scheme (policy, §7.1).
    #[error("token is not DPoP-bound")]
    NotBound,
    /// `cnf` holds only confirmation methods we cannot check.
    #[error("token cnf has no jkt")]
    UnsupportedBinding,
    /// A DPoP-bound token presented as a Bearer token (downgrade, §7.2).
    #[error("DPoP-bound token sent with the Bearer scheme")]
    BoundAsBearer,
    /// A Bearer token on a DPoP-only route.
    #[error("Bearer scheme on a DPoP-only route")]
    DpopRequired,
    /// Scope insufficient: 403 `insufficient_scope`.
    #[error("missing scope(s): {required}")]
    InsufficientScope { required: String },
    /// The replay store cannot decide: 503 (fail closed).
    #[error("{0}")]
    ReplayUnavailable(#[from] ReplayError),
}

/// An authentication failure with the context its response needs.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AuthFailure {
    pub error: AuthError,
    pub mechanism: Mechanism,
    /// The route also accepts Bearer tokens: advertise both schemes.
    pub dual: bool,
    /// The `algs` challenge parameter, e.g. `ES256 EdDSA PS256`.
    pub algs: String,
    /// A fresh nonce for the `DPoP-Nonce` header (`use_dpop_nonce` only).
    pub nonce: Option<String>,
    /// RFC 9728 §5.1: the route's metadata URL, set by the pipeline, which
    /// knows the client-visible origin.
    pub resource_metadata: Option<String>,
}
