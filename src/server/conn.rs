//! One accepted connection: TLS handshake (bounded by
//! `header_read_timeout_secs`), then HTTP/1.1 or HTTP/2 through hyper-util's
//! auto builder (ALPN or the h2 preface decides), with the idle timeout and
//! graceful shutdown on the drain signal.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::activity::{Activity, ActivityIo};
use super::Shared;
use crate::proxy::body::{GuardedBody, InFlight};
use crate::proxy::ConnInfo;

/// Per-connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    settings: ConnSettings,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = ActivityIo::new(stream, activity.clone());
    let state = shared.state.load_full();
    match state.tls.clone() {
        Some(acceptor) => {
            match tokio::time::timeout(settings.header_read_timeout, acceptor.accept(io)).await {
                Ok(Ok(tls)) => {
                    let info = ConnInfo {
                        peer,
                        scheme: Scheme::HTTPS,
                    };
                    http(tls, info, shared, settings, activity, stop).await
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
        None => {
            let info = ConnInfo {
                peer,
                scheme: Scheme::HTTP,
            };
            http(io, info, shared, settings, activity, stop).await
        }
    }
}

async fn http<I>(
    io: I,
    info: ConnInfo,
    shared: Arc<Shared>,
    settings: ConnSettings,
    activity: Activity,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let in_flight = InFlight::default();
    let counter = in_flight.clone();
    let service = service_fn(move |req| {
        let guard = counter.enter();
        let pipeline = shared.state.load().pipeline.clone();
        let info = info.clone();
        async move {
            let resp = pipeline.handle(req, &info).await;
            Ok::<_, Infallible>(resp.map(|b| GuardedBody::new(b, guard)))
        }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);

    let tick =
        (settings.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(tick);
    let mut closing = *stop.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed(), if !closing => {
                if changed.is_err() || *stop.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = ticker.tick(), if !closing => {
                if in_flight.count() == 0 && activity.idle_for() >= settings.idle_timeout {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
