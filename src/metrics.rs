//! Prometheus metrics (`GET /metrics` on the admin listener, text format).
//! Names and labels are part of the interface (spec "Metrics"): dashboards
//! and alerts are written against them.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `dpop_gateway_requests_total` | counter | route, status | every request, by final status |
//! | `dpop_gateway_request_duration_seconds` | histogram | route | whole request, gateway-side |
//! | `dpop_gateway_rejections_total` | counter | route, reason | refused requests (and failed verdicts in report mode), by [`Reason`] |
//! | `dpop_gateway_proof_clock_offset_seconds` | histogram | | `iat - now` of every proof whose JWS and claims parse |
//! | `dpop_gateway_upstream_duration_seconds` | histogram | route | time to upstream response headers |
//! | `dpop_gateway_upstream_errors_total` | counter | route, kind | [`UpstreamError`]: `connect`, `timeout`, `protocol` |
//! | `dpop_gateway_connections_open` | gauge | | client connections now open |
//! | `dpop_gateway_tls_handshake_failures_total` | counter | | |
//! | `dpop_gateway_token_cache_total` | counter | result | `hit`, `miss` |
//! | `dpop_gateway_key_fetches_total` | counter | issuer, result | JWKS / discovery / introspection calls: `ok`, `error` |
//! | `dpop_gateway_replay_entries` | gauge | | memory backend: live entries |
//! | `dpop_gateway_replay_backend_up` | gauge | | 1 when the replay backend answers |
//! | `dpop_gateway_nonces_issued_total` | counter | | |
//! | `dpop_gateway_build_info` | gauge | version | always 1 |
//!
//! Labels are bounded: route names and issuers come from the config, status
//! codes, reasons, kinds and results from fixed sets.
//!
//! The request path allocates nothing to count: [`RouteMetrics`] (built once
//! per route when the config loads) and [`KeyFetches`] (once per issuer) hold
//! handles to their series, which share the registry's counters. Only a rare
//! status code outside [`COMMON_STATUSES`] goes through the family lookup.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Why a request was refused: the `reason` label of
/// `dpop_gateway_rejections_total`, a fixed set (spec "Metrics").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NoCredentials,
    BadRequest,
    MalformedProof,
    ProofTyp,
    ProofAlg,
    ProofJwk,
    HtmMismatch,
    HtuMismatch,
    IatStale,
    IatFuture,
    AthMismatch,
    ProofSignature,
    Replay,
    NonceMissing,
    NonceInvalid,
    TokenInvalid,
    TokenExpired,
    TokenIssuer,
    TokenAudience,
    KeyBinding,
    NotBound,
    BearerDowngrade,
    InsufficientScope,
    ReplayUnavailable,
    ReplayFull,
    IntrospectionUnavailable,
}

impl Reason {
    /// Every reason, in the spec's order.
    pub const ALL: [Reason; 26] = [
        Reason::NoCredentials,
        Reason::BadRequest,
        Reason::MalformedProof,
        Reason::ProofTyp,
        Reason::ProofAlg,
        Reason::ProofJwk,
        Reason::HtmMismatch,
        Reason::HtuMismatch,
        Reason::IatStale,
        Reason::IatFuture,
        Reason::AthMismatch,
        Reason::ProofSignature,
        Reason::Replay,
        Reason::NonceMissing,
        Reason::NonceInvalid,
        Reason::TokenInvalid,
        Reason::TokenExpired,
        Reason::TokenIssuer,
        Reason::TokenAudience,
        Reason::KeyBinding,
        Reason::NotBound,
        Reason::BearerDowngrade,
        Reason::InsufficientScope,
        Reason::ReplayUnavailable,
        Reason::ReplayFull,
        Reason::IntrospectionUnavailable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoCredentials => "no_credentials",
            Reason::BadRequest => "bad_request",
            Reason::MalformedProof => "malformed_proof",
            Reason::ProofTyp => "proof_typ",
            Reason::ProofAlg => "proof_alg",
            Reason::ProofJwk => "proof_jwk",
            Reason::HtmMismatch => "htm_mismatch",
            Reason::HtuMismatch => "htu_mismatch",
            Reason::IatStale => "iat_stale",
            Reason::IatFuture => "iat_future",
            Reason::AthMismatch => "ath_mismatch",
            Reason::ProofSignature => "proof_signature",
            Reason::Replay => "replay",
            Reason::NonceMissing => "nonce_missing",
            Reason::NonceInvalid => "nonce_invalid",
            Reason::TokenInvalid => "token_invalid",
            Reason::TokenExpired => "token_expired",
            Reason::TokenIssuer => "token_issuer",
            Reason::TokenAudience => "token_audience",
            Reason::KeyBinding => "key_binding",
            Reason::NotBound => "not_bound",
            Reason::BearerDowngrade => "bearer_downgrade",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::ReplayUnavailable => "replay_unavailable",
            Reason::ReplayFull => "replay_full",
            Reason::IntrospectionUnavailable => "introspection_unavailable",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a call to an upstream failed: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamError {
    Connect,
    Timeout,
    Protocol,
}

impl UpstreamError {
    pub const ALL: [UpstreamError; 3] = [
        UpstreamError::Connect,
        UpstreamError::Timeout,
        UpstreamError::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Protocol => "protocol",
        }
    }
}

/// A route or issuer name from the config, shared by every series that
/// carries it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Name(Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: Name,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteReason {
    route: Name,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteKind {
    route: Name,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerResult {
    issuer: Name,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Status codes whose series every route creates up front.
pub const COMMON_STATUSES: [u16; 16] = [
    101, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 500, 502, 503, 504,
];

/// Upper bounds (s) of the proof clock-offset buckets (spec "Metrics").
pub const CLOCK_OFFSET_BUCKETS: [f64; 17] = [
    -300.0, -120.0, -60.0, -30.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        30.0,
    ])
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The process-wide registry and its series.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    request_duration: HistogramFamily<RouteLabel>,
    rejections: Family<RouteReason, Counter>,
    proof_clock_offset: Histogram,
    upstream_duration: HistogramFamily<RouteLabel>,
    upstream_errors: Family<RouteKind, Counter>,
    connections_open: Gauge,
    tls_handshake_failures: Counter,
    token_cache_hit: Counter,
    token_cache_miss: Counter,
    key_fetches: Family<IssuerResult, Counter>,
    replay_entries: Gauge,
    replay_backend_up: Gauge,
    nonces_issued: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dpop_gateway");
        let requests = Family::<RouteStatus, Counter>::default();
        let request_duration =
            HistogramFamily::<RouteLabel>::new_with_constructor(duration_histogram);
        let rejections = Family::<RouteReason, Counter>::default();
        let proof_clock_offset = Histogram::new(CLOCK_OFFSET_BUCKETS);
        let upstream_duration =
            HistogramFamily::<RouteLabel>::new_with_constructor(duration_histogram);
        let upstream_errors = Family::<RouteKind, Counter>::default();
        let token_cache = Family::<ResultLabel, Counter>::default();
        let key_fetches = Family::<IssuerResult, Counter>::default();
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let token_cache_hit = token_cache
            .get_or_create(&ResultLabel { result: "hit" })
            .clone();
        let token_cache_miss = token_cache
            .get_or_create(&ResultLabel { result: "miss" })
            .clone();
        let m = Metrics {
            registry: Registry::default(),
            requests,
            request_duration,
            rejections,
            proof_clock_offset,
            upstream_duration,
            upstream_errors,
            connections_open: Gauge::default(),
            tls_handshake_failures: Counter::default(),
            token_cache_hit,
            token_cache_miss,
            key_fetches,
            replay_entries: Gauge::default(),
            replay_backend_up: Gauge::default(),
            nonces_issued: Counter::default(),
        };
        registry.register(
            "requests",
            "Every request, by route and final status",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Whole request, gateway-side, by route",
            m.request_duration.clone(),
        );
        registry.register(
            "rejections",
            "Refused requests (and failed verdicts in report mode) by route and reason",
            m.rejections.clone(),
        );
        registry.register(
            "proof_clock_offset_seconds",
            "iat - now of every proof whose JWS and claims parse",
            m.proof_clock_offset.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time to upstream response headers, by route",
            m.upstream_duration.clone(),
        );
        registry.register(
            "upstream_errors",
            "Failed upstream calls by route and kind (connect, timeout, protocol)",
            m.upstream_errors.clone(),
        );
        registry.register(
            "connections_open",
            "Client connections now open",
            m.connections_open.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Client TLS handshakes that failed or timed out",
            m.tls_handshake_failures.clone(),
        );
        registry.register(
            "token_cache",
            "Access-token verdicts served from the cache (hit) or computed (miss)",
            token_cache,
        );
        registry.register(
            "key_fetches",
            "JWKS, discovery and introspection calls by issuer and result (ok, error)",
            m.key_fetches.clone(),
        );
        registry.register(
            "replay_entries",
            "Memory replay backend: live entries",
            m.replay_entries.clone(),
        );
        registry.register(
            "replay_backend_up",
            "1 when the replay backend answers",
            m.replay_backend_up.clone(),
        );
        registry.register(
            "nonces_issued",
            "Server nonces issued",
            m.nonces_issued.clone(),
        );
        registry.register("build_info", "Always 1; the version label", build_info);
        Metrics { registry, ..m }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The handles of one route (every reason, kind and common status
    /// created now, so their series exist from the start).
    pub fn route(&self, name: &str) -> RouteMetrics {
        let route = Name(Arc::from(name));
        let statuses = COMMON_STATUSES.map(|status| {
            self.requests
                .get_or_create(&RouteStatus {
                    route: route.clone(),
                    status,
                })
                .clone()
        });
        let rejections = Reason::ALL.map(|reason| {
            self.rejections
                .get_or_create(&RouteReason {
                    route: route.clone(),
                    reason: reason.as_str(),
                })
                .clone()
        });
        let upstream_errors = UpstreamError::ALL.map(|kind| {
            self.upstream_errors
                .get_or_create(&RouteKind {
                    route: route.clone(),
                    kind: kind.as_str(),
                })
                .clone()
        });
        let label = RouteLabel {
            route: route.clone(),
        };
        RouteMetrics {
            duration: self.request_duration.get_or_create(&label).clone(),
            upstream_duration: self.upstream_duration.get_or_create(&label).clone(),
            route,
            statuses,
            rejections,
            upstream_errors,
        }
    }

    /// The `ok` / `error` handles of one issuer's remote calls.
    pub fn key_fetches(&self, issuer: &str) -> KeyFetches {
        let issuer = Name(Arc::from(issuer));
        let series = |result| {
            self.key_fetches
                .get_or_create(&IssuerResult {
                    issuer: issuer.clone(),
                    result,
                })
                .clone()
        };
        KeyFetches {
            ok: series("ok"),
            error: series("error"),
        }
    }

    /// `iat - now` of a proof whose JWS and claims parse.
    pub fn proof_clock_offset(&self, offset_secs: i64) {
        // An i64 of seconds is exact in an f64 up to 2^53.
        #[allow(clippy::cast_precision_loss)]
        self.proof_clock_offset.observe(offset_secs as f64);
    }

    /// An access-token verdict from the cache (`true`) or computed.
    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.token_cache_hit.inc();
        } else {
            self.token_cache_miss.inc();
        }
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.inc();
    }

    /// Counts an open client connection until the guard drops.
    pub fn connection_open(&self) -> OpenConnection {
        self.connections_open.inc();
        OpenConnection {
            gauge: self.connections_open.clone(),
        }
    }

    pub fn nonce_issued(&self) {
        self.nonces_issued.inc();
    }

    /// Memory replay backend: the number of live entries.
    pub fn set_replay_entries(&self, entries: usize) {
        self.replay_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Whether the replay backend answers.
    pub fn set_replay_backend_up(&self, up: bool) {
        self.replay_backend_up.set(i64::from(up));
    }
}

/// One route's series, built when the config loads: counting a request
/// allocates nothing.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    route: Name,
    statuses: [Counter; COMMON_STATUSES.len()],
    duration: Histogram,
    upstream_duration: Histogram,
    rejections: [Counter; Reason::ALL.len()],
    upstream_errors: [Counter; UpstreamError::ALL.len()],
}

impl RouteMetrics {
    /// A finished request: its final status and how long it took.
    pub fn request(&self, status: u16, secs: f64) {
        match COMMON_STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                if let Some(c) = self.statuses.get(i) {
                    c.inc();
                }
            }
            None => {
                metrics()
                    .requests
                    .get_or_create(&RouteStatus {
                        route: self.route.clone(),
                        status,
                    })
                    .inc();
            }
        }
        self.duration.observe(secs);
    }

    pub fn rejection(&self, reason: Reason) {
        if let Some(c) = self.rejections.get(reason.index()) {
            c.inc();
        }
    }

    pub fn upstream_error(&self, kind: UpstreamError) {
        if let Some(c) = self.upstream_errors.get(kind as usize) {
            c.inc();
        }
    }

    /// Time to the upstream's response headers.
    pub fn upstream_duration(&self, secs: f64) {
        self.upstream_duration.observe(secs);
    }
}

/// One issuer's `dpop_gateway_key_fetches_total` series.
#[derive(Debug, Clone)]
pub struct KeyFetches {
    ok: Counter,
    error: Counter,
}

impl KeyFetches {
    /// One call to the issuer (JWKS, discovery or introspection) and whether
    /// it answered.
    pub fn record(&self, ok: bool) {
        if ok {
            self.ok.inc();
        } else {
            self.error.inc();
        }
    }
}

/// An open client connection, counted in `dpop_gateway_connections_open`
/// until dropped.
#[derive(Debug)]
pub struct OpenConnection {
    gauge: Gauge,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reasons_are_distinct_and_in_index_order() {
        let names: std::collections::HashSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        for (i, k) in UpstreamError::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }

    #[test]
    fn route_handles_share_the_registry_series() {
        let m = metrics();
        let r = m.route("metrics-unit-route");
        r.request(200, 0.01);
        r.request(418, 0.01);
        r.rejection(Reason::ReplayFull);
        r.upstream_error(UpstreamError::Timeout);
        let text = m.encode();
        for line in [
            "dpop_gateway_requests_total{route=\"metrics-unit-route\",status=\"200\"} 1",
            "dpop_gateway_requests_total{route=\"metrics-unit-route\",status=\"418\"} 1",
            "dpop_gateway_requests_total{route=\"metrics-unit-route\",status=\"503\"} 0",
            "dpop_gateway_rejections_total{route=\"metrics-unit-route\",reason=\"replay_full\"} 1",
            "dpop_gateway_rejections_total{route=\"metrics-unit-route\",reason=\"replay\"} 0",
            "dpop_gateway_upstream_errors_total{route=\"metrics-unit-route\",kind=\"timeout\"} 1",
            "dpop_gateway_request_duration_seconds_count{route=\"metrics-unit-route\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let version = format!(
            "dpop_gateway_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.lines().any(|l| l == version), "{text}");
    }
}
