//! The admin listener (plain HTTP, meant for loopback or a pod network):
//!
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 when every readiness check passes (key sources loaded,
//!   replay backend answering), 503 otherwise and while draining.
//! - `GET /metrics`: Prometheus / OpenMetrics text (see `crate::metrics`).
//!
//! Anything else is 404.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::body::{full, ProxyBody};
use crate::proxy::respond::json_error;
use crate::server::Shared;

/// Something `/readyz` asks. Implementations must answer quickly (they are
/// read from cached state, never a network call per probe).
pub trait ReadinessCheck: Send + Sync + 'static {
    /// A short name for the body of `/readyz`.
    fn name(&self) -> &str;
    fn is_ready(&self) -> bool;
}

/// The set of readiness checks, plus the draining flag.
#[derive(Default)]
pub struct Readiness {
    draining: AtomicBool,
    checks: RwLock<Vec<Arc<dyn ReadinessCheck>>>,
}

impl Readiness {
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn add(&self, check: Arc<dyn ReadinessCheck>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.push(check);
        }
    }

    /// `Ok` when ready, else the names of what is not.
    pub fn status(&self) -> Result<(), Vec<String>> {
        let mut failing = Vec::new();
        if self.draining.load(Ordering::Acquire) {
            failing.push("draining".to_string());
        }
        match self.checks.read() {
            Ok(checks) => failing.extend(
                checks
                    .iter()
                    .filter(|c| !c.is_ready())
                    .map(|c| c.name().to_string()),
            ),
            Err(_) => failing.push("internal".to_string()),
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing)
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&req, &shared)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer<B>(req: &Request<B>, shared: &Shared) -> Response<ProxyBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use GET");
    }
    match req.uri().path() {
        "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        "/readyz" => match shared.readiness.status().and_then(|()| {
            let failing = shared.state.load().pipeline.not_ready();
            if failing.is_empty() {
                Ok(())
            } else {
                Err(failing)
            }
        }) {
            Ok(()) => json(StatusCode::OK, serde_json::json!({"status": "ready"})),
            Err(failing) => json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "not_ready", "failing": failing}),
            ),
        },
        "/metrics" => {
            let mut resp = Response::new(full(crate::metrics::metrics().encode()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        _ => json_error(StatusCode::NOT_FOUND, "not_found", "unknown admin endpoint"),
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response<ProxyBody> {
    let mut resp = Response::new(full(v.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
