//! The admin listener (plain HTTP, meant for loopback or a pod network):
//!
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 when every readiness check passes (key sources loaded,
//!   replay backend answering), 503 otherwise and while draining.
//! - `GET /metrics`: Prometheus / OpenMetrics text (see `crate::metrics`).
//!
//! Anything else is 404.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::body::{full, ProxyBody};
use crate::proxy::respond::json_error;
use crate::readiness::NotReady;

/// What `/readyz` asks: `Ok` when ready, else what is not (and why).
/// The server layer builds it; it must answer from cached state, quickly.
pub type ReadyProbe = Arc<dyn Fn() -> Result<(), Vec<NotReady>> + Send + Sync>;

pub(crate) async fn serve(
    listener: TcpListener,
    ready: ReadyProbe,
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
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let ready = ready.clone();
                async move { Ok::<_, Infallible>(answer(&req, &*ready)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer<B>(
    req: &Request<B>,
    ready: &(dyn Fn() -> Result<(), Vec<NotReady>> + Send + Sync),
) -> Response<ProxyBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use GET");
    }
    match req.uri().path() {
        "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        "/readyz" => match ready() {
            Ok(()) => json(StatusCode::OK, serde_json::json!({"status": "ready"})),
            Err(failing) => {
                let names: Vec<&str> = failing.iter().map(|f| f.name.as_str()).collect();
                let details: serde_json::Map<String, serde_json::Value> = failing
                    .iter()
                    .filter_map(|f| Some((f.name.clone(), f.detail.clone()?.into())))
                    .collect();
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"status": "not_ready", "failing": names, "details": details}),
                )
            }
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
