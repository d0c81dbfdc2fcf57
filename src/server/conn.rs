//! One accepted connection: TLS handshake (bounded by
//! `header_read_timeout_secs`), then HTTP/1.1 or HTTP/2 through hyper-util's
//! auto builder (ALPN or the h2 preface decides), with upgrades enabled. Its
//! timeouts (see `activity.rs`): an HTTP/1.1 request head must be complete
//! `header_read_timeout_secs` after its first byte, and a connection with
//! nothing in flight and no byte moving for `idle_timeout_secs` is closed
//! gracefully, as on the drain signal.
//!
//! HTTP/1.1 requests whose framing is ambiguous (`Content-Length` with
//! `Transfer-Encoding`, repeated `Content-Length`) are refused with `400`
//! before hyper reads them (`framing.rs`); the connection then closes after
//! the responses to the requests before them.
//!
//! A WebSocket upgrade ends hyper's part: once the `101` is written, the
//! connection becomes a tunnel that this task relays until either side
//! closes, no byte moves for `idle_timeout_secs`, or the drain timeout runs
//! out after the drain signal.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::uri::Scheme;
use http::{Method, Version};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::time::{sleep, sleep_until, Instant};

use super::activity::{Activity, ActivityIo};
use super::framing::FramingIo;
use super::Shared;
use crate::proxy::body::GuardedBody;
use crate::proxy::{ConnInfo, Tunnel};

/// Per-connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// After the drain signal: how long an upgraded connection may go on.
    pub drain_timeout: Duration,
    /// `[limits]`: request heads and HTTP/2 streams.
    pub limits: crate::config::Limits,
}

/// How often the idle timeout is looked at.
fn idle_tick(settings: ConnSettings) -> Duration {
    (settings.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
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
    let metrics = crate::metrics::metrics();
    let _open = metrics.connection_open();
    let state = shared.state.load_full();
    match state.tls.clone() {
        Some(acceptor) => {
            match tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream)).await
            {
                Ok(Ok(tls)) => {
                    let info = ConnInfo::new(peer, Scheme::HTTPS);
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    http(tls, h2, info, shared, settings, stop).await
                }
                Ok(Err(e)) => {
                    metrics.tls_handshake_failed();
                    tracing::debug!(%peer, error = %e, "TLS handshake failed")
                }
                Err(_) => {
                    metrics.tls_handshake_failed();
                    tracing::debug!(%peer, "TLS handshake timed out")
                }
            }
        }
        None => {
            let info = ConnInfo::new(peer, Scheme::HTTP);
            http(stream, false, info, shared, settings, stop).await
        }
    }
}

/// `h2`: HTTP/2 was chosen by ALPN; otherwise the h2 preface or HTTP/1.1.
async fn http<I>(
    io: I,
    h2: bool,
    info: ConnInfo,
    shared: Arc<Shared>,
    settings: ConnSettings,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = info.peer;
    let activity = Activity::new();
    // The activity sees every byte as it arrives (a head held back below
    // is still timed from its first byte).
    let io = ActivityIo::new(io, activity.clone());
    let limits = settings.limits;
    let (io, refusals) = if h2 {
        FramingIo::off(io)
    } else {
        FramingIo::new(io, limits.max_header_bytes, limits.max_header_count)
    };
    // At most one: on HTTP/1.1 an upgrade is the connection's last request.
    let (tunnels, mut tunnel) = mpsc::unbounded_channel::<Tunnel>();
    let service = {
        let activity = activity.clone();
        service_fn(move |req| {
            let guard = activity.request();
            let pipeline = shared.state.load().pipeline.clone();
            let info = info.clone();
            let tunnels = tunnels.clone();
            async move {
                let asks_upgrade = asks_upgrade(&req);
                let (mut resp, upgraded) = pipeline.handle(req, &info).await;
                if let Some(t) = upgraded {
                    // Fails only when the connection is gone; the tunnel then drops.
                    let _ = tunnels.send(t);
                } else if asks_upgrade {
                    // The framing check stopped at this request (its bytes
                    // after the head could have been a tunnel); as it was
                    // not upgraded, no request after it is read.
                    resp.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(resp.map(|b| GuardedBody::new(b, guard)))
            }
        })
    };

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Timed here instead (activity.rs): hyper's timer also runs while a
        // kept-alive connection waits for its next request.
        .header_read_timeout(None)
        .keep_alive(true)
        // A head larger than the buffer, or with more fields, gets 431.
        .max_buf_size(settings.limits.max_header_bytes)
        .max_headers(settings.limits.max_header_count);
    let header_list = u32::try_from(settings.limits.max_header_bytes).unwrap_or(u32::MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(header_list)
        .max_concurrent_streams(settings.limits.h2_max_concurrent_streams)
        // CVE-2023-44487: streams opened and reset before they were served
        // count against this; past it, GOAWAY and the connection ends.
        .max_pending_accept_reset_streams(settings.limits.h2_max_pending_reset_streams)
        .max_local_error_reset_streams(settings.limits.h2_max_local_error_reset_streams);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);

    // A head is seen at most half the header timeout after its first byte,
    // so the wake-up that cuts it comes at the exact deadline.
    let tick = idle_tick(settings)
        .min(settings.header_read_timeout / 2)
        .max(Duration::from_millis(50));
    let check = sleep(tick);
    tokio::pin!(check);
    let mut refused = false;
    let mut stopped = stop.borrow().then(Instant::now);
    let mut closing = stopped.is_some();
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
            () = refusals.refused(), if !refused => {
                refused = true;
                tracing::debug!(%peer, "ambiguous request framing refused; closing");
                if !closing {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            changed = stop.changed(), if stopped.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    stopped = Some(Instant::now());
                    if !closing {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            () = &mut check => {
                let mut next = tick;
                if let Some(took) = activity.head_for() {
                    if took >= settings.header_read_timeout {
                        tracing::debug!(%peer, "request headers not received in time; closing");
                        return;
                    }
                    next = next.min(settings.header_read_timeout - took);
                }
                if !closing
                    && activity.in_flight() == 0
                    && activity.idle_for() >= settings.idle_timeout
                {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                check.as_mut().reset(Instant::now() + next);
            }
        }
    }
    if let Ok(t) = tunnel.try_recv() {
        activity.stop_timing_heads();
        relay(t, peer, &activity, settings, stop, stopped).await;
    }
}

/// Whether hyper takes `req` as asking for an upgrade (role.rs: `CONNECT`,
/// or `Upgrade` on HTTP/1.1); on HTTP/2 nothing is.
fn asks_upgrade<B>(req: &http::Request<B>) -> bool {
    match req.version() {
        Version::HTTP_11 => req.method() == Method::CONNECT || req.headers().contains_key(UPGRADE),
        Version::HTTP_10 | Version::HTTP_09 => req.method() == Method::CONNECT,
        _ => false,
    }
}

/// Relays an upgraded connection until it closes, goes idle, or outlives
/// the drain (`stopped`: when the drain signal came, if it did).
async fn relay(
    tunnel: Tunnel,
    peer: SocketAddr,
    activity: &Activity,
    settings: ConnSettings,
    mut stop: watch::Receiver<bool>,
    stopped: Option<Instant>,
) {
    let route = tunnel.route().to_owned();
    let relayed = tunnel.relay();
    tokio::pin!(relayed);
    let mut cut_at = stopped.map(|at| at + settings.drain_timeout);
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let tick = idle_tick(settings);
    loop {
        tokio::select! {
            res = relayed.as_mut() => {
                match res {
                    Ok(n) => tracing::debug!(
                        %peer, route, to_upstream = n.to_upstream, to_client = n.to_client,
                        "tunnel closed"
                    ),
                    Err(e) => tracing::debug!(%peer, route, error = %e, "tunnel failed"),
                }
                return;
            }
            changed = stop.changed(), if cut_at.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    cut_at = Some(Instant::now() + settings.drain_timeout);
                }
            }
            () = sleep(tick) => {
                if activity.idle_for() >= settings.idle_timeout {
                    tracing::debug!(%peer, route, "tunnel idle; closing");
                    return;
                }
            }
            () = sleep_until(cut_at.unwrap_or(far)), if cut_at.is_some() => {
                tracing::info!(%peer, route, "drain timeout reached; closing the tunnel");
                return;
            }
        }
    }
}
