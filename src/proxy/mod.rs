//! The request pipeline. Phases, in order, and why:
//!
//! 1. **route**: host + path → route (404 otherwise). Cheap and crypto-free,
//!    so unroutable traffic costs nothing else.
//! 2. **auth**: the route's authentication phase (`auth = "none"` passes
//!    through; DPoP is checked here before anything reaches the upstream).
//! 3. **forward**: build the upstream request (hop-by-hop fields removed,
//!    `X-Forwarded-*` set, `Host` = upstream authority, identity headers
//!    replaced) and stream both bodies; `upstream_timeout_secs` → 504,
//!    connection failure → 502.
//! 4. **respond**: strip the upstream's hop-by-hop fields.
//! 5. **log**: always, success or failure: one access-log line.
//!
//! The service never returns an error to hyper: every failure becomes a
//! response in `respond.rs`.

pub mod body;
mod error;
mod headers;
pub mod respond;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, HOST};
use http::uri::{PathAndQuery, Scheme, Uri};
use http::{Request, Response, Version};
use http_body::Body;
use ipnet::IpNet;

pub use body::{BoxError, ProxyBody};
pub use error::GatewayError;

use crate::config::{AuthMode, Config, RouteConfig};
use crate::routing::{host_without_port, Router};

/// What the pipeline knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// `https` when the listener terminates TLS, else `http`.
    pub scheme: Scheme,
}

/// Everything a request needs, built once per config.
#[derive(Debug)]
pub struct Pipeline {
    router: Router,
    upstreams: upstream::Upstreams,
    trusted_proxies: Vec<IpNet>,
    upstream_timeout: Duration,
}

/// The outcome of one request, for the access log.
struct Outcome<'a> {
    route: Option<&'a str>,
    upstream_status: Option<u16>,
    error: Option<String>,
}

impl Pipeline {
    pub fn new(config: &Config) -> Result<Pipeline, crate::tls::TlsError> {
        let connect_timeout = config.server.upstream_timeout.min(Duration::from_secs(10));
        let routes: Vec<RouteConfig> = config.routes.iter().map(clone_route).collect();
        let upstreams = upstream::Upstreams::new(routes.iter(), connect_timeout)?;
        Ok(Pipeline {
            router: Router::new(routes),
            upstreams,
            trusted_proxies: config.server.trusted_proxies.clone(),
            upstream_timeout: config.server.upstream_timeout,
        })
    }

    /// Handles one request end to end and writes its access-log line.
    pub async fn handle<B>(&self, req: Request<B>, conn: &ConnInfo) -> Response<ProxyBody>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut outcome = Outcome {
            route: None,
            upstream_status: None,
            error: None,
        };
        let resp = match self.run(req, conn, &mut outcome).await {
            Ok(resp) => resp,
            Err(err) => {
                outcome.error = Some(err.to_string());
                respond::error_response(&err)
            }
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "access",
            route = outcome.route.unwrap_or("-"),
            method = %method,
            path = %path,
            status = resp.status().as_u16(),
            latency_ms = (latency_ms * 1000.0).round() / 1000.0,
            upstream_status = outcome.upstream_status,
            peer = %conn.peer.ip(),
            error = outcome.error.as_deref(),
        );
        resp
    }

    async fn run<'a, B>(
        &'a self,
        req: Request<B>,
        conn: &ConnInfo,
        outcome: &mut Outcome<'a>,
    ) -> Result<Response<ProxyBody>, GatewayError>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // 1. route
        let authority = request_authority(&req);
        let host = authority.as_deref().map(host_without_port);
        let route =
            self.router
                .route(host, req.uri().path())
                .ok_or_else(|| GatewayError::NoRoute {
                    host: host.map(str::to_owned),
                    path: req.uri().path().to_owned(),
                })?;
        outcome.route = Some(route.name.as_str());

        // 2. auth
        match route.auth {
            AuthMode::None => {}
        }

        // 3. forward
        let upstream_req = self.upstream_request(req, route, conn, authority.as_deref())?;
        let client = self.upstreams.get(route).ok_or(GatewayError::BadRequest(
            "no upstream client for this route",
        ))?;
        let upstream_name = format!("{}://{}", route.upstream.scheme, route.upstream.authority);
        let resp =
            match tokio::time::timeout(self.upstream_timeout, client.request(upstream_req)).await {
                Err(_) => {
                    return Err(GatewayError::UpstreamTimeout {
                        upstream: upstream_name,
                        secs: self.upstream_timeout.as_secs(),
                    })
                }
                Ok(Err(e)) if e.is_connect() => {
                    return Err(GatewayError::UpstreamConnect {
                        upstream: upstream_name,
                        reason: error_chain(&e),
                    })
                }
                Ok(Err(e)) => {
                    return Err(GatewayError::UpstreamProtocol {
                        upstream: upstream_name,
                        reason: error_chain(&e),
                    })
                }
                Ok(Ok(resp)) => resp,
            };
        outcome.upstream_status = Some(resp.status().as_u16());

        // 4. respond
        let (mut parts, body) = resp.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, body::boxed(body)))
    }

    fn upstream_request<B>(
        &self,
        req: Request<B>,
        route: &RouteConfig,
        conn: &ConnInfo,
        authority: Option<&str>,
    ) -> Result<Request<ProxyBody>, GatewayError>
    where
        B: Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = req.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.uri = Uri::builder()
            .scheme(route.upstream.scheme.clone())
            .authority(route.upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("request target cannot be forwarded"))?;
        parts.version = Version::HTTP_11;

        let h = &mut parts.headers;
        headers::remove_hop_by_hop(h);
        for (_, name) in &route.identity_headers {
            h.remove(name);
        }
        let trusted = headers::is_trusted(conn.peer.ip(), &self.trusted_proxies);
        headers::set_forwarded(h, conn.peer.ip(), trusted, conn.scheme.as_str(), authority);
        let upstream_host = HeaderValue::from_str(route.upstream.authority.as_str())
            .map_err(|_| GatewayError::BadRequest("invalid upstream authority"))?;
        h.insert(HOST, upstream_host);
        Ok(Request::from_parts(parts, body::boxed(body)))
    }
}

/// The authority the client addressed: `:authority` (HTTP/2, absolute-form)
/// or the `Host` header.
fn request_authority<B>(req: &Request<B>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str().to_owned());
    }
    req.headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

fn clone_route(r: &RouteConfig) -> RouteConfig {
    RouteConfig {
        name: r.name.clone(),
        host: r.host.clone(),
        path_prefix: r.path_prefix.clone(),
        public_url: r.public_url.clone(),
        upstream: r.upstream.clone(),
        auth: r.auth,
        identity_headers: r.identity_headers.clone(),
    }
}

/// Shared handle used by the server's per-connection service.
pub type SharedPipeline = Arc<Pipeline>;
