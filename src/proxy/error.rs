//! The gateway's own failures. Each variant says whose fault it was; the ONE
//! place that turns them into responses is `respond.rs`.

/// A request the gateway answers itself instead of forwarding.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No route matches the host and path (client: 404).
    #[error(
        "no route matches path {path:?} {}",
        crate::errors::optional("on host", host.as_deref(), "without a host")
    )]
    NoRoute { host: Option<String>, path: String },
    /// Authentication failed (client: 400/401/403; replay store: 503).
    /// Boxed: the failure carries its challenge parameters.
    #[error(transparent)]
    Auth(Box<crate::auth::AuthFailure>),
    /// The host or path could be read differently by another server (client: 400).
    #[error("bad request target: {0}")]
    Target(#[from] crate::target::TargetError),
    /// The request cannot be turned into an upstream request (client: 400).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A `[limits]` bound on the request head was passed (client: 431).
    #[error("request head over a limit: {0}")]
    HeadTooLarge(&'static str),
    /// The body is longer than the route's `max_body_bytes` (client: 413).
    #[error("request body over the route's limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// A gateway bug or inconsistent state (ours: 500).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The upstream did not accept a connection (upstream: 502).
    #[error("upstream {upstream} unreachable: {reason}")]
    UpstreamConnect { upstream: String, reason: String },
    /// The connection broke or the upstream answered garbage (upstream: 502).
    #[error("upstream {upstream} failed: {reason}")]
    UpstreamProtocol { upstream: String, reason: String },
    /// No response headers within `upstream_timeout_secs` (upstream: 504).
    #[error("upstream {upstream} timed out after {secs} s")]
    UpstreamTimeout { upstream: String, secs: u64 },
}

impl From<crate::auth::AuthFailure> for GatewayError {
    fn from(f: crate::auth::AuthFailure) -> GatewayError {
        GatewayError::Auth(Box::new(f))
    }
}
