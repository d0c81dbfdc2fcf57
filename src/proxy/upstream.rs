//! Upstream clients: one pooled hyper-util client per distinct TLS trust set
//! (keep-alive connections are pooled per upstream origin inside it), http and
//! https (rustls, webpki roots plus an optional `upstream_ca_file`).

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

/// Clients keyed by the route's extra CA file.
#[derive(Debug)]
pub struct Upstreams {
    clients: HashMap<Option<PathBuf>, UpstreamClient>,
}

impl Upstreams {
    pub fn new<'a>(
        routes: impl Iterator<Item = &'a RouteConfig>,
        connect_timeout: Duration,
    ) -> Result<Upstreams, TlsError> {
        let mut clients = HashMap::new();
        for route in routes {
            if let Entry::Vacant(slot) = clients.entry(route.upstream.ca_file.clone()) {
                let client = build(route.upstream.ca_file.as_deref(), connect_timeout)?;
                slot.insert(client);
            }
        }
        Ok(Upstreams { clients })
    }

    pub fn get(&self, route: &RouteConfig) -> Option<&UpstreamClient> {
        self.clients.get(&route.upstream.ca_file)
    }
}

fn build(
    ca: Option<&std::path::Path>,
    connect_timeout: Duration,
) -> Result<UpstreamClient, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client_config(ca)?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}
