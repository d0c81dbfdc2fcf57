//! Upstream clients: one pooled hyper-util client per distinct TLS trust set
//! (keep-alive connections are pooled per upstream origin inside it), http and
//! https (rustls, webpki roots plus an optional `upstream_ca_file`). Each
//! trust set has a second client that speaks only HTTP/1.1 (it offers no
//! ALPN), for upgrades: an HTTP/2 connection cannot carry one.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::ProxyBody;
use crate::config::RouteConfig;
use crate::tls::TlsError;

pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, ProxyBody>;

/// Which HTTP versions an upstream connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// HTTP/1.1, or HTTP/2 where TLS negotiates it.
    Any,
    /// HTTP/1.1 only: upgrades (WebSocket).
    Http1,
}

/// The two clients of one trust set.
#[derive(Debug)]
struct Pair {
    any: UpstreamClient,
    http1: UpstreamClient,
}

/// Clients keyed by the route's extra CA file.
#[derive(Debug)]
pub struct Upstreams {
    clients: HashMap<Option<PathBuf>, Pair>,
}

impl Upstreams {
    pub fn new<'a>(
        routes: impl Iterator<Item = &'a RouteConfig>,
        connect_timeout: Duration,
    ) -> Result<Upstreams, TlsError> {
        let mut clients = HashMap::new();
        for route in routes {
            if let Entry::Vacant(slot) = clients.entry(route.upstream.ca_file.clone()) {
                let ca = route.upstream.ca_file.as_deref();
                slot.insert(Pair {
                    any: build(ca, connect_timeout, Versions::Any)?,
                    http1: build(ca, connect_timeout, Versions::Http1)?,
                });
            }
        }
        Ok(Upstreams { clients })
    }

    pub fn get(&self, route: &RouteConfig, versions: Versions) -> Option<&UpstreamClient> {
        let pair = self.clients.get(&route.upstream.ca_file)?;
        Some(match versions {
            Versions::Any => &pair.any,
            Versions::Http1 => &pair.http1,
        })
    }
}

fn build(
    ca: Option<&std::path::Path>,
    connect_timeout: Duration,
    versions: Versions,
) -> Result<UpstreamClient, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client_config(ca)?)
        .https_or_http()
        .enable_http1();
    let https = match versions {
        Versions::Any => builder.enable_http2().wrap_connector(http),
        Versions::Http1 => builder.wrap_connector(http),
    };
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}
