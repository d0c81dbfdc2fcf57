//! Authentication failures. Each carries the detail for the log; the status,
//! `error` code, challenge and short client-facing description are decided
//! in one place, `proxy/respond.rs`.

use crate::dpop::ProofError;
use crate::metrics::Reason;
use crate::nonce::NonceError;
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

impl AuthError {
    /// The `reason` label of `dpop_gateway_rejections_total` (spec "Metrics").
    /// Every variant is listed (no wildcard), so a new failure kind cannot
    /// compile without being given a reason.
    pub fn reason(&self) -> Reason {
        match self {
            AuthError::NoCredentials => Reason::NoCredentials,
            AuthError::Shape(_) | AuthError::RequestUri(_) => Reason::BadRequest,
            AuthError::Proof(e) => proof_reason(e),
            AuthError::Replayed => Reason::Replay,
            AuthError::UseNonce(NonceError::Missing) => Reason::NonceMissing,
            AuthError::UseNonce(NonceError::Invalid | NonceError::Expired { .. }) => {
                Reason::NonceInvalid
            }
            AuthError::UseNonce(NonceError::Clock { future: false }) => Reason::IatStale,
            AuthError::UseNonce(NonceError::Clock { future: true }) => Reason::IatFuture,
            AuthError::Token(e) => token_reason(e),
            AuthError::KeyBinding { .. } | AuthError::UnsupportedBinding => Reason::KeyBinding,
            AuthError::NotBound => Reason::NotBound,
            AuthError::BoundAsBearer | AuthError::DpopRequired => Reason::BearerDowngrade,
            AuthError::InsufficientScope { .. } => Reason::InsufficientScope,
            AuthError::ReplayUnavailable(ReplayError::Full { .. }) => Reason::ReplayFull,
            AuthError::ReplayUnavailable(ReplayError::Unavailable(_)) => Reason::ReplayUnavailable,
        }
    }
}

fn proof_reason(e: &ProofError) -> Reason {
    match e {
        ProofError::TooLong { .. }
        | ProofError::Malformed(_)
        | ProofError::ClaimType { .. }
        | ProofError::BadJti { .. }
        | ProofError::BadIat(_) => Reason::MalformedProof,
        ProofError::MissingHeader("typ") | ProofError::BadTyp(_) => Reason::ProofTyp,
        ProofError::MissingHeader("jwk") | ProofError::JwkNotObject | ProofError::BadJwk(_) => {
            Reason::ProofJwk
        }
        ProofError::MissingHeader(_)
        | ProofError::AlgNotString
        | ProofError::AlgUnsupported(_)
        | ProofError::AlgNotAllowed(_) => Reason::ProofAlg,
        ProofError::MissingClaim("ath") | ProofError::BadAth | ProofError::AthMismatch => {
            Reason::AthMismatch
        }
        ProofError::MissingClaim(_) => Reason::MalformedProof,
        ProofError::HtmMismatch { .. } => Reason::HtmMismatch,
        ProofError::BadHtu { .. } | ProofError::HtuMismatch { .. } => Reason::HtuMismatch,
        ProofError::IatTooOld { .. } | ProofError::Expired { .. } => Reason::IatStale,
        ProofError::IatInFuture { .. } | ProofError::NotYetValid { .. } => Reason::IatFuture,
        ProofError::BadSignature(_) => Reason::ProofSignature,
    }
}

fn token_reason(e: &TokenError) -> Reason {
    match e {
        TokenError::Expired { .. } => Reason::TokenExpired,
        TokenError::UnknownIssuer(_) => Reason::TokenIssuer,
        TokenError::Audience => Reason::TokenAudience,
        TokenError::Unavailable(_) => Reason::IntrospectionUnavailable,
        TokenError::NotJwt
        | TokenError::Malformed(_)
        | TokenError::Typ(_)
        | TokenError::Alg(_)
        | TokenError::UnknownKey { .. }
        | TokenError::BadSignature
        | TokenError::NotYetValid { .. }
        | TokenError::MissingClaim(_)
        | TokenError::ClaimType(_)
        | TokenError::Inactive
        | TokenError::TokenType(_) => Reason::TokenInvalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Alg, JwkError, JwsError};
    use std::collections::HashSet;

    /// One failure of every kind (every variant, and every sub-variant that
    /// decides the reason), with the reason it is counted under.
    fn every_failure() -> Vec<(AuthError, Reason)> {
        use crate::dpop::HtuError;
        use Reason as R;
        let proof = |e: ProofError, r: Reason| (AuthError::Proof(e), r);
        let token = |e: TokenError, r: Reason| (AuthError::Token(e), r);
        vec![
            (AuthError::NoCredentials, R::NoCredentials),
            (
                AuthError::Shape(ShapeError::MultipleAuthorization),
                R::BadRequest,
            ),
            (AuthError::Shape(ShapeError::MissingProof), R::BadRequest),
            (AuthError::RequestUri("no Host".into()), R::BadRequest),
            proof(ProofError::TooLong { len: 9, max: 8 }, R::MalformedProof),
            proof(ProofError::Malformed(JwsError::Jwe), R::MalformedProof),
            proof(ProofError::MissingHeader("typ"), R::ProofTyp),
            proof(ProofError::BadTyp("jwt".into()), R::ProofTyp),
            proof(ProofError::MissingHeader("alg"), R::ProofAlg),
            proof(ProofError::AlgNotString, R::ProofAlg),
            proof(ProofError::AlgUnsupported("none".into()), R::ProofAlg),
            proof(ProofError::AlgNotAllowed(Alg::Es256), R::ProofAlg),
            proof(ProofError::MissingHeader("jwk"), R::ProofJwk),
            proof(ProofError::JwkNotObject, R::ProofJwk),
            proof(ProofError::BadJwk(JwkError::SymmetricKey), R::ProofJwk),
            proof(ProofError::MissingClaim("jti"), R::MalformedProof),
            proof(ProofError::MissingClaim("ath"), R::AthMismatch),
            proof(
                ProofError::ClaimType {
                    claim: "htm",
                    expected: "a string",
                },
                R::MalformedProof,
            ),
            proof(ProofError::BadJti { len: 0, max: 256 }, R::MalformedProof),
            proof(
                ProofError::HtmMismatch {
                    expected: "GET".into(),
                    got: "POST".into(),
                },
                R::HtmMismatch,
            ),
            proof(
                ProofError::BadHtu {
                    got: "x".into(),
                    source: HtuError::NotAbsolute,
                },
                R::HtuMismatch,
            ),
            proof(
                ProofError::HtuMismatch {
                    expected: "https://a/".into(),
                    got: "https://b/".into(),
                },
                R::HtuMismatch,
            ),
            proof(ProofError::BadIat("1e12".into()), R::MalformedProof),
            proof(
                ProofError::IatTooOld {
                    iat: 0,
                    now: 100,
                    max_age: 60,
                },
                R::IatStale,
            ),
            proof(ProofError::Expired { exp: 1.0, now: 2 }, R::IatStale),
            proof(
                ProofError::IatInFuture {
                    iat: 100,
                    now: 0,
                    max_skew: 10,
                },
                R::IatFuture,
            ),
            proof(ProofError::NotYetValid { nbf: 100.0, now: 0 }, R::IatFuture),
            proof(ProofError::BadAth, R::AthMismatch),
            proof(ProofError::AthMismatch, R::AthMismatch),
            proof(
                ProofError::BadSignature(JwkError::SymmetricKey),
                R::ProofSignature,
            ),
            (AuthError::Replayed, R::Replay),
            (AuthError::UseNonce(NonceError::Missing), R::NonceMissing),
            (AuthError::UseNonce(NonceError::Invalid), R::NonceInvalid),
            (
                AuthError::UseNonce(NonceError::Expired {
                    window: 1,
                    current: 3,
                }),
                R::NonceInvalid,
            ),
            (
                AuthError::UseNonce(NonceError::Clock { future: false }),
                R::IatStale,
            ),
            (
                AuthError::UseNonce(NonceError::Clock { future: true }),
                R::IatFuture,
            ),
            token(TokenError::NotJwt, R::TokenInvalid),
            token(TokenError::Malformed("x".into()), R::TokenInvalid),
            token(TokenError::Typ("jwt".into()), R::TokenInvalid),
            token(TokenError::UnknownIssuer("x".into()), R::TokenIssuer),
            token(TokenError::Alg("HS256".into()), R::TokenInvalid),
            token(TokenError::UnknownKey { kid: None }, R::TokenInvalid),
            token(TokenError::BadSignature, R::TokenInvalid),
            token(TokenError::Expired { exp: 1, now: 2 }, R::TokenExpired),
            token(TokenError::NotYetValid { nbf: 2, now: 1 }, R::TokenInvalid),
            token(TokenError::Audience, R::TokenAudience),
            token(TokenError::MissingClaim("exp"), R::TokenInvalid),
            token(TokenError::ClaimType("exp"), R::TokenInvalid),
            token(TokenError::Inactive, R::TokenInvalid),
            token(TokenError::TokenType("Bearer".into()), R::TokenInvalid),
            token(
                TokenError::Unavailable("down".into()),
                R::IntrospectionUnavailable,
            ),
            (
                AuthError::KeyBinding {
                    token_jkt: "a".into(),
                    proof_jkt: "b".into(),
                },
                R::KeyBinding,
            ),
            (AuthError::UnsupportedBinding, R::KeyBinding),
            (AuthError::NotBound, R::NotBound),
            (AuthError::BoundAsBearer, R::BearerDowngrade),
            (AuthError::DpopRequired, R::BearerDowngrade),
            (
                AuthError::InsufficientScope {
                    required: "read".into(),
                },
                R::InsufficientScope,
            ),
            (
                AuthError::ReplayUnavailable(ReplayError::Full { max_entries: 1 }),
                R::ReplayFull,
            ),
            (
                AuthError::ReplayUnavailable(ReplayError::Unavailable("down".into())),
                R::ReplayUnavailable,
            ),
        ]
    }

    #[test]
    fn every_failure_maps_to_its_reason() {
        for (error, reason) in every_failure() {
            assert_eq!(error.reason(), reason, "{error:?}");
        }
    }

    #[test]
    fn every_reason_is_produced_by_some_failure() {
        let produced: HashSet<Reason> = every_failure().iter().map(|(e, _)| e.reason()).collect();
        for reason in Reason::ALL {
            assert!(
                produced.contains(&reason),
                "{} is never produced",
                reason.as_str()
            );
        }
        assert_eq!(produced.len(), Reason::ALL.len());
    }
}
