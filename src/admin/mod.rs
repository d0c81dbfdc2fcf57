//! The admin listener (plain HTTP, meant for loopback or a pod network):
//!
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 when every readiness check passes (key sources loaded,
//!   replay backend answering), 503 otherwise and while draining.
//! - `GET /metrics`: Prometheus / OpenMetrics text (see `crate::metrics`).
//! - `POST /reload`: re-read the config, as SIGHUP does: 200
//!   `{"reloaded": true}`, or 422 `invalid_config` with the problems (the
//!   running config stays). Present when the server hands in a [`ReloadHook`]
//!   (a gateway started from a config file).
//!
//! Another method on a known path is 405; anything else is 404.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
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

/// What `POST /reload` runs: the server layer's one reload path (shared with
/// SIGHUP and the config watcher). `Err` carries the problems, as `check`
/// would print them (never a secret).
pub type ReloadHook =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What the admin endpoints answer from.
#[derive(Clone)]
pub struct Endpoints {
    pub ready: ReadyProbe,
    pub reload: Option<ReloadHook>,
}

pub(crate) async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
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
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let endpoints = endpoints.clone();
                async move { Ok::<_, Infallible>(answer(&req, &endpoints).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer<B>(req: &Request<B>, endpoints: &Endpoints) -> Response<ProxyBody> {
    let path = req.uri().path();
    if path == "/reload" {
        if let Some(reload) = &endpoints.reload {
            return if req.method() == Method::POST {
                reloaded(reload().await)
            } else {
                not_allowed("POST")
            };
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return not_allowed("GET, HEAD");
    }
    match path {
        "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        "/readyz" => match (endpoints.ready)() {
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

fn reloaded(outcome: Result<(), String>) -> Response<ProxyBody> {
    match outcome {
        Ok(()) => json(StatusCode::OK, serde_json::json!({"reloaded": true})),
        Err(problems) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            &problems,
        ),
    }
}

/// 405 with the methods the path takes.
fn not_allowed(allow: &'static str) -> Response<ProxyBody> {
    let mut resp = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        &format!("use {allow}"),
    );
    resp.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    resp
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
