//! The request pipeline. Phases, in order, and why:
//!
//! 0. **limits**: `[limits]` on the head (field count, `DPoP` and
//!    `Authorization` lengths; 431) before anything parses it, and after
//!    routing a route's `max_body_bytes` (413).
//! 1. **route**: read the request target once ([`crate::target`]: a host or
//!    path that a lenient upstream could read differently is refused, 400),
//!    then canonical host + path → route (404 otherwise). Cheap and
//!    crypto-free, so unroutable traffic costs nothing else, and first, so
//!    every later phase (and the upstream) sees the one reading that routed.
//! 2. **auth**: the route's authentication phase (`crate::auth`): request
//!    shape, proof claims, token and binding, proof signature, replay record,
//!    scope, in that order. `auth = "none"` passes through. In `report` mode a
//!    failure is logged and the request forwarded without identity.
//! 3. **forward**: build the upstream request (the canonical path and the
//!    query as received; hop-by-hop fields and `DPoP` removed, except that a
//!    WebSocket upgrade keeps `Connection: upgrade` / `Upgrade: websocket`
//!    and goes over HTTP/1.1, see `upgrade.rs`; every client
//!    header that spells any route's identity header removed, on every route;
//!    `Authorization` per `upstream_authorization`; `X-Forwarded-*` set;
//!    `Host` = upstream authority; the route's identity headers set from
//!    verified claims) and stream both bodies; `upstream_timeout_secs` → 504,
//!    connection failure → 502.
//! 4. **respond**: strip the upstream's hop-by-hop fields; on `101` to a
//!    WebSocket request, keep the upgrade fields and hand back a [`Tunnel`]
//!    for the server to relay (a `101` to anything else is a 502).
//! 5. **log**: always, success or failure: one access-log line (for an
//!    upgrade, the line of its `101`).
//!
//! The service never returns an error to hyper: every failure becomes a
//! response in `respond.rs`.

pub mod body;
mod error;
mod headers;
mod limits;
pub mod metadata;
pub mod respond;
mod upgrade;
mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION, HOST};
use http::uri::{PathAndQuery, Scheme, Uri};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use ipnet::IpNet;

pub use body::{BoxError, ProxyBody};
pub use error::GatewayError;
pub use upgrade::{Relayed, Tunnel, TunnelError};

use crate::auth::{Authenticated, Authenticator, RequestView};
use crate::clock::SharedClock;
use crate::config::{Config, Mode, PublicUrl, RouteConfig, UpstreamAuthorization};
use crate::dpop::Htu;
use crate::errors::error_chain;
use crate::metrics::{RouteMetrics, UpstreamError};
use crate::replay::ReplayStore;
use crate::routing::Router;
use crate::target::{Host, RequestTarget};

/// What the pipeline knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// `https` when the listener terminates TLS, else `http`.
    pub scheme: Scheme,
    /// The peer's address as an `X-Forwarded-For` element, rendered once.
    peer_value: HeaderValue,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, scheme: Scheme) -> ConnInfo {
        ConnInfo {
            peer,
            scheme,
            peer_value: headers::peer_value(peer.ip()),
        }
    }
}

/// Everything a request needs, built once per config.
#[derive(Debug)]
pub struct Pipeline {
    router: Router,
    /// RFC 9728 documents of the protected routes.
    metadata: metadata::ResourceMetadata,
    /// Every route's identity header names: removed from every request.
    identity_names: headers::IdentityNames,
    upstreams: upstream::Upstreams,
    auth: Authenticator,
    public_url: Option<PublicUrl>,
    trusted_proxies: Vec<IpNet>,
    upstream_timeout: Duration,
    /// Each route's metric series, by route name; `unrouted` counts the
    /// requests no route took (route `-`).
    route_metrics: HashMap<Arc<str>, RouteMetrics>,
    unrouted: RouteMetrics,
    limits: crate::config::Limits,
}

/// Why a pipeline could not be built from a (valid) config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Issuer(String),
}

/// The outcome of one request, for the access log.
#[derive(Default)]
struct Outcome<'a> {
    route: Option<&'a str>,
    metrics: Option<&'a RouteMetrics>,
    upstream_status: Option<u16>,
    error: Option<String>,
    jkt: Option<String>,
    /// Whether the access log is written (its fields are only copied then).
    logged: bool,
    /// `report` mode: the verdict that was not enforced.
    reported: Option<String>,
}

impl Pipeline {
    /// Builds the pipeline for `config`. The clock and the replay store are
    /// passed in because they outlive a config reload.
    pub fn new(
        config: &Config,
        clock: SharedClock,
        replay: ReplayStore,
    ) -> Result<Pipeline, BuildError> {
        let connect_timeout = config.server.upstream_timeout.min(Duration::from_secs(10));
        let upstreams = upstream::Upstreams::new(config.routes.iter(), connect_timeout)?;
        let router = Router::new(config.routes.clone(), config.server.case_insensitive_paths);
        let auth = Authenticator::new(config, clock, replay).map_err(BuildError::Issuer)?;
        let algs: Vec<&str> = auth.algs().split(' ').collect();
        let metrics = crate::metrics::metrics();
        let route_metrics = config
            .routes
            .iter()
            .map(|r| (Arc::from(r.name.as_str()), metrics.route(&r.name)))
            .collect();
        Ok(Pipeline {
            route_metrics,
            unrouted: metrics.route("-"),
            metadata: metadata::ResourceMetadata::new(config, router.routes(), &algs),
            router,
            identity_names: headers::IdentityNames::new(
                config
                    .routes
                    .iter()
                    .flat_map(|r| r.identity_headers.iter().map(|(_, name)| name)),
            ),
            upstreams,
            auth,
            public_url: config.server.public_url.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
            upstream_timeout: config.server.upstream_timeout,
            limits: config.limits,
        })
    }

    /// After a config reload: carry over what the previous pipeline learned
    /// (remote issuer keys), so a reload during an outage changes nothing.
    pub fn inherit(&self, previous: &Pipeline) {
        self.auth.inherit(&previous.auth);
    }

    /// What keeps this pipeline from being ready, for `/readyz`.
    pub fn not_ready(&self) -> Vec<String> {
        self.auth.not_ready()
    }

    /// Periodic upkeep, once a second.
    pub fn maintain(&self) {
        self.auth.maintain();
    }

    /// Handles one request end to end and writes its access-log line. An
    /// accepted WebSocket upgrade also returns its [`Tunnel`], which the
    /// caller relays once the `101` is sent.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        conn: &ConnInfo,
    ) -> (Response<ProxyBody>, Option<Tunnel>)
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let method = req.method().clone();
        // The access log's own copies, only when it is written.
        let logged = tracing::enabled!(target: "access", tracing::Level::INFO);
        let path = logged.then(|| req.uri().path().to_owned());
        let mut outcome = Outcome {
            logged,
            ..Outcome::default()
        };
        let (resp, tunnel) = match self.run(req, conn, &mut outcome).await {
            Ok(forwarded) => forwarded,
            Err(err) => {
                outcome.error = Some(err.to_string());
                let resp = respond::error_response(&err);
                let resp = if method == http::Method::HEAD {
                    // HTTP/2 clients treat DATA on a HEAD response as a protocol error.
                    let (parts, _) = resp.into_parts();
                    Response::from_parts(parts, body::full(bytes::Bytes::new()))
                } else {
                    resp
                };
                (resp, None)
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let latency_ms = elapsed * 1000.0;
        outcome
            .metrics
            .unwrap_or(&self.unrouted)
            .request(resp.status().as_u16(), elapsed);
        tracing::info!(
            target: "access",
            route = outcome.route.unwrap_or("-"),
            method = %method,
            path = %path.as_deref().unwrap_or("-"),
            status = resp.status().as_u16(),
            latency_ms = (latency_ms * 1000.0).round() / 1000.0,
            upstream_status = outcome.upstream_status,
            peer = %conn.peer.ip(),
            jkt = outcome.jkt.as_deref(),
            error = outcome.error.as_deref(),
            reported = outcome.reported.as_deref(),
        );
        (resp, tunnel)
    }

    async fn run<'a, B>(
        &'a self,
        mut req: Request<B>,
        conn: &ConnInfo,
        outcome: &mut Outcome<'a>,
    ) -> Result<(Response<ProxyBody>, Option<Tunnel>), GatewayError>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // 0. limits: what the head may hold, before anything reads it
        limits::check_head(&self.limits, req.headers())?;

        // 1. route, on the one reading of host and path (crate::target)
        let default_port = if conn.scheme == Scheme::HTTPS {
            443
        } else {
            80
        };
        let target = RequestTarget::read(req.version(), req.uri(), req.headers(), default_port)?;
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            if let Some(entry) = self.metadata.find(target.host.as_ref(), &target.path) {
                outcome.route = Some(entry.route.name.as_str());
                outcome.metrics = self.route_metrics.get(entry.route.name.as_str());
                let origin = self
                    .client_origin(&entry.route, &target, req.headers(), conn)
                    .ok_or(GatewayError::BadRequest("request has no usable Host"))?;
                let resp = metadata::response(entry, &origin);
                let resp = if *req.method() == Method::HEAD {
                    // HTTP/2 clients treat DATA on a HEAD response as an error.
                    resp.map(|_| body::full(bytes::Bytes::new()))
                } else {
                    resp
                };
                return Ok((resp, None));
            }
        }
        let route = self
            .router
            .route(target.host.as_ref(), &target.path)
            .ok_or_else(|| GatewayError::NoRoute {
                host: target.host.as_ref().map(Host::to_string),
                path: target.path.clone(),
            })?;
        outcome.route = Some(route.name.as_str());
        let metrics = self
            .route_metrics
            .get(route.name.as_str())
            .unwrap_or(&self.unrouted);
        outcome.metrics = Some(metrics);
        limits::check_declared_body(route.max_body_bytes, req.headers())?;

        // 2. auth
        let view = RequestView {
            method: req.method().as_str(),
            headers: req.headers(),
            query: req.uri().query(),
        };
        let verdict = self
            .auth
            .authenticate(route, &view, || {
                self.expected_htu(route, &target, req.headers(), conn)
            })
            .await;
        // Counted in both modes: in `report` mode the failed verdict is
        // what the operator watches before enforcing.
        if let Err(failure) = &verdict {
            metrics.rejection(failure.error.reason());
        }
        let identity = match (verdict, route.mode) {
            (Ok(identity), _) => identity,
            (Err(mut failure), Mode::Enforce) => {
                // RFC 9728 §5.1: every challenge points to the metadata.
                failure.resource_metadata = self
                    .client_origin(route, &target, req.headers(), conn)
                    .map(|origin| metadata::metadata_url(&origin, route));
                return Err(failure.into());
            }
            (Err(failure), Mode::Report) => {
                outcome.reported = Some(failure.to_string());
                Authenticated::Anonymous
            }
        };
        if outcome.logged {
            outcome.jkt = identity.jkt().map(|j| j.to_string());
        }

        // 3. forward; an upgrade only now, after every check passed
        let client_upgrade = upgrade::is_websocket(&req).then(|| hyper::upgrade::on(&mut req));
        let versions = match client_upgrade {
            Some(_) => upstream::Versions::Http1,
            None => upstream::Versions::Any,
        };
        let upstream_req = self.upstream_request(
            req,
            route,
            conn,
            &target,
            &identity,
            client_upgrade.is_some(),
        )?;
        let client = self
            .upstreams
            .get(route, versions)
            .ok_or(GatewayError::Internal("no upstream client for this route"))?;
        let upstream_name = || format!("{}://{}", route.upstream.scheme, route.upstream.authority);
        let upstream_failed = |kind: UpstreamError, err: GatewayError| {
            metrics.upstream_error(kind);
            Err(err)
        };
        let asked = Instant::now();
        let resp =
            match tokio::time::timeout(self.upstream_timeout, client.request(upstream_req)).await {
                Err(_) => {
                    return upstream_failed(
                        UpstreamError::Timeout,
                        GatewayError::UpstreamTimeout {
                            upstream: upstream_name(),
                            secs: self.upstream_timeout.as_secs(),
                        },
                    )
                }
                Ok(Err(e)) if e.is_connect() => {
                    return upstream_failed(
                        UpstreamError::Connect,
                        GatewayError::UpstreamConnect {
                            upstream: upstream_name(),
                            reason: error_chain(&e),
                        },
                    )
                }
                Ok(Err(e)) if limits::body_over_limit(&e) => {
                    return Err(GatewayError::BodyTooLarge {
                        limit: route.max_body_bytes.unwrap_or(0),
                    })
                }
                Ok(Err(e)) => {
                    return upstream_failed(
                        UpstreamError::Protocol,
                        GatewayError::UpstreamProtocol {
                            upstream: upstream_name(),
                            reason: error_chain(&e),
                        },
                    )
                }
                Ok(Ok(resp)) => resp,
            };
        metrics.upstream_duration(asked.elapsed().as_secs_f64());
        outcome.upstream_status = Some(resp.status().as_u16());

        // 4. respond
        let mut resp = resp;
        let tunnel = match (
            resp.status() == StatusCode::SWITCHING_PROTOCOLS,
            client_upgrade,
        ) {
            (false, _) => None,
            (true, Some(client)) if upgrade::switches_to_websocket(resp.headers()) => {
                let upstream = hyper::upgrade::on(&mut resp);
                Some(Tunnel::new(client, upstream, &route.name))
            }
            (true, requested) => {
                let reason = if requested.is_some() {
                    "101 without Upgrade: websocket"
                } else {
                    "101 to a request that asked for no upgrade"
                };
                return upstream_failed(
                    UpstreamError::Protocol,
                    GatewayError::UpstreamProtocol {
                        upstream: upstream_name(),
                        reason: reason.to_owned(),
                    },
                );
            }
        };
        let (mut parts, body) = resp.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers);
        if tunnel.is_some() {
            upgrade::set_upgrade_fields(&mut parts.headers);
        }
        // Nonces are the gateway's: an upstream's would break "at most one" (§8).
        parts.headers.remove(&respond::DPOP_NONCE);
        if let Some(v) = identity
            .next_nonce()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            // §8.2: the next nonce, on a response that must not be cached.
            parts.headers.insert(respond::DPOP_NONCE.clone(), v);
            parts.headers.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
        }
        Ok((Response::from_parts(parts, body::boxed(body)), tunnel))
    }

    /// The upstream request; `websocket`: an accepted upgrade, whose
    /// `Connection` / `Upgrade` fields go on.
    fn upstream_request<B>(
        &self,
        req: Request<B>,
        route: &RouteConfig,
        conn: &ConnInfo,
        target: &RequestTarget,
        identity: &Authenticated,
        websocket: bool,
    ) -> Result<Request<ProxyBody>, GatewayError>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = req.into_parts();
        // The path as routed (canonical), the query as received.
        let path_and_query = match (parts.uri.path_and_query(), parts.uri.query()) {
            (Some(pq), _) if pq.path() == target.path => pq.clone(),
            (_, Some(query)) => PathAndQuery::try_from(format!("{}?{query}", target.path))
                .map_err(|_| GatewayError::BadRequest("request target cannot be forwarded"))?,
            (_, None) => PathAndQuery::try_from(target.path.as_str())
                .map_err(|_| GatewayError::BadRequest("request target cannot be forwarded"))?,
        };
        parts.uri = Uri::builder()
            .scheme(route.upstream.scheme.clone())
            .authority(route.upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("request target cannot be forwarded"))?;
        parts.version = Version::HTTP_11;

        let h = &mut parts.headers;
        headers::remove_hop_by_hop(h);
        if websocket {
            upgrade::set_upgrade_fields(h);
        }
        h.remove(&crate::auth::credentials::DPOP);
        rewrite_authorization(h, route.upstream_authorization);
        // Before the route's own: no route lets a client speak for the gateway.
        self.identity_names.remove_spellings(h);
        set_identity(h, route, identity);
        let trusted = headers::is_trusted(conn.peer.ip(), &self.trusted_proxies);
        let host = target.host.as_ref().map(Host::to_string);
        headers::set_forwarded(
            h,
            &conn.peer_value,
            trusted,
            conn.scheme.as_str(),
            host.as_deref(),
        );
        let upstream_host = HeaderValue::from_str(route.upstream.authority.as_str())
            .map_err(|_| GatewayError::BadRequest("invalid upstream authority"))?;
        h.insert(HOST, upstream_host);
        let body = match route.max_body_bytes {
            Some(max) => body::boxed(http_body_util::Limited::new(
                body,
                usize::try_from(max).unwrap_or(usize::MAX),
            )),
            None => body::boxed(body),
        };
        Ok(Request::from_parts(parts, body))
    }
}

/// Where a client sees a route: scheme and authority (a `public_url`'s, or
/// the request's) and the path that stands for the route's `path_prefix`.
struct ClientView<'a> {
    scheme: &'a str,
    authority: String,
    base: &'a str,
}

impl Pipeline {
    /// The route as the client addressed it (RFC 9110 §7.1): the route's
    /// `public_url` (standing for its `path_prefix`), else `server.public_url`,
    /// else the listener's scheme and the request's canonical host;
    /// `X-Forwarded-Proto/Host/Port` count only from a trusted proxy.
    fn client_view<'a>(
        &'a self,
        route: &'a RouteConfig,
        target: &RequestTarget,
        headers: &'a HeaderMap,
        conn: &'a ConnInfo,
    ) -> Result<ClientView<'a>, String> {
        let base = metadata::public_base(route);
        if let Some(public) = route.public_url.as_ref().or(self.public_url.as_ref()) {
            return Ok(ClientView {
                scheme: public.scheme.as_str(),
                authority: public.authority.as_str().to_owned(),
                base,
            });
        }
        let trusted = headers::is_trusted(conn.peer.ip(), &self.trusted_proxies);
        let fwd = |name: &str| {
            trusted
                .then(|| headers::last_value(headers, name))
                .flatten()
        };
        let scheme = fwd("x-forwarded-proto").unwrap_or(conn.scheme.as_str());
        let authority = match (fwd("x-forwarded-host"), fwd("x-forwarded-port")) {
            (Some(h), Some(port)) if !h.contains(':') => format!("{h}:{port}"),
            (Some(h), _) => h.to_owned(),
            (None, _) => target
                .host
                .as_ref()
                .ok_or("the request has no Host")?
                .to_string(),
        };
        Ok(ClientView {
            scheme,
            authority,
            base,
        })
    }

    /// The target URI the client addressed, as `htu` must name it (RFC 9449
    /// §4.3 item 9): the client view's origin and base, then the rest of the
    /// canonical path that routed.
    fn expected_htu(
        &self,
        route: &RouteConfig,
        target: &RequestTarget,
        headers: &HeaderMap,
        conn: &ConnInfo,
    ) -> Result<Htu, String> {
        let view = self.client_view(route, target, headers, conn)?;
        let path = target.path.as_str();
        let rest = if route.path_prefix == "/" {
            path
        } else {
            path.get(route.path_prefix.len()..).unwrap_or("")
        };
        let joined = format!("{}{rest}", view.base);
        Htu::from_origin_and_path(view.scheme, &view.authority, &joined).map_err(|e| e.to_string())
    }

    /// The client-visible origin of a route, normalised as `htu` is
    /// (`https://api.example.com`): for RFC 9728 metadata URLs.
    fn client_origin(
        &self,
        route: &RouteConfig,
        target: &RequestTarget,
        headers: &HeaderMap,
        conn: &ConnInfo,
    ) -> Option<String> {
        let view = self.client_view(route, target, headers, conn).ok()?;
        let root = Htu::from_origin_and_path(view.scheme, &view.authority, "/").ok()?;
        root.as_str().strip_suffix('/').map(str::to_owned)
    }
}

/// `Authorization` as the route's `upstream_authorization` says.
fn rewrite_authorization(h: &mut HeaderMap, policy: UpstreamAuthorization) {
    match policy {
        UpstreamAuthorization::Preserve => {}
        UpstreamAuthorization::Strip => {
            h.remove(AUTHORIZATION);
        }
        UpstreamAuthorization::Bearer => {
            let token = h
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop"))
                .map(|(_, token)| format!("Bearer {}", token.trim_start_matches(' ')));
            if let Some(v) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
                h.insert(AUTHORIZATION, v);
            }
        }
    }
}

/// Sets the route's identity headers from the verified claims (`jkt` is the
/// proof key's thumbprint). Values that are not valid header text are skipped.
fn set_identity(h: &mut HeaderMap, route: &RouteConfig, identity: &Authenticated) {
    let Some(claims) = identity.claims() else {
        return;
    };
    for (claim, name) in &route.identity_headers {
        let value = if claim == "jkt" {
            identity.jkt().map(|j| j.to_string())
        } else {
            claims.claim_text(claim)
        };
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name.clone(), v);
        }
    }
}

/// Shared handle used by the server's per-connection service.
pub type SharedPipeline = Arc<Pipeline>;
