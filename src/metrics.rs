//! Prometheus metrics (`GET /metrics` on the admin listener, text format).
//! Labels are bounded: route names come from the config, status codes and
//! error codes from fixed sets, issuers from the config.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `dpop_gateway_requests_total` | route, status | every request, after the response was decided |
//! | `dpop_gateway_request_duration_seconds` | route | time to response headers |
//! | `dpop_gateway_auth_failures_total` | route, error | refused (or reported) authentications by `error` code |
//! | `dpop_gateway_replay_full_total` | | proofs refused because the memory replay store was full |
//! | `dpop_gateway_replay_entries` | | live entries in the memory replay store |
//! | `dpop_gateway_replay_backend_up` | | 1 when the replay backend answers |
//! | `dpop_gateway_jwks_fetch_failures_total` | issuer | failed key-set fetches |

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteError {
    pub route: String,
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuerLabel {
    pub issuer: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub duration: Family<RouteLabel, Histogram>,
    pub auth_failures: Family<RouteError, Counter>,
    pub replay_full: Counter,
    pub replay_entries: Gauge,
    pub replay_up: Gauge,
    pub jwks_fetch_failures: Family<IssuerLabel, Counter>,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        30.0,
    ])
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dpop_gateway");
        let requests = Family::<RouteStatus, Counter>::default();
        let duration = Family::<RouteLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let auth_failures = Family::<RouteError, Counter>::default();
        let replay_full = Counter::default();
        let replay_entries = Gauge::default();
        let replay_up = Gauge::default();
        let jwks_fetch_failures = Family::<IssuerLabel, Counter>::default();
        registry.register("requests", "Requests by route and status", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time to response headers",
            duration.clone(),
        );
        registry.register(
            "auth_failures",
            "Authentication failures by route and error code",
            auth_failures.clone(),
        );
        registry.register(
            "replay_full",
            "Proofs refused because the replay store was full",
            replay_full.clone(),
        );
        registry.register(
            "replay_entries",
            "Live entries in the memory replay store",
            replay_entries.clone(),
        );
        registry.register(
            "replay_backend_up",
            "1 when the replay backend answers",
            replay_up.clone(),
        );
        registry.register(
            "jwks_fetch_failures",
            "Failed key-set fetches by issuer",
            jwks_fetch_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            auth_failures,
            replay_full,
            replay_entries,
            replay_up,
            jwks_fetch_failures,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
