//! Routing: request host and path → route. Pure and crypto-free, so it runs
//! first in the pipeline.
//!
//! Rules: a route with a `host` matches only that host (compared
//! case-insensitively, port ignored); a route without one matches any host.
//! `path_prefix = "/orders"` matches `/orders` and `/orders/...`, never
//! `/ordersX`. Among the matches the longest prefix wins; at equal length a
//! host-specific route beats a host-less one.

use std::sync::Arc;

use crate::config::RouteConfig;

/// The routing table, built once per config.
#[derive(Debug)]
pub struct Router {
    /// Sorted by prefix length (longest first), then host-specific first.
    routes: Vec<Arc<RouteConfig>>,
}

impl Router {
    pub fn new(routes: Vec<RouteConfig>) -> Router {
        let mut routes: Vec<Arc<RouteConfig>> = routes.into_iter().map(Arc::new).collect();
        routes.sort_by(|a, b| {
            b.path_prefix
                .len()
                .cmp(&a.path_prefix.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        Router { routes }
    }

    /// Finds the route for a request. `host` is the request's host without
    /// port (any case); `path` is the request path as received.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<&Arc<RouteConfig>> {
        self.routes.iter().find(|r| {
            let host_ok = match (&r.host, host) {
                (None, _) => true,
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            };
            host_ok && prefix_matches(&r.path_prefix, path)
        })
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<RouteConfig>> {
        self.routes.iter()
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Splits a `Host` / `:authority` value into its host part, without the port.
/// IPv6 literals keep their brackets.
pub fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::Config;

    fn router() -> Router {
        let cfg = Config::from_toml(
            r#"
            [server]
            listen = "127.0.0.1:0"
            [[routes]]
            name = "root"
            path_prefix = "/"
            upstream = "http://127.0.0.1:1"
            auth = "none"
            [[routes]]
            name = "orders"
            path_prefix = "/orders"
            upstream = "http://127.0.0.1:2"
            auth = "none"
            [[routes]]
            name = "orders-v2"
            path_prefix = "/orders/v2/"
            upstream = "http://127.0.0.1:3"
            auth = "none"
            [[routes]]
            name = "api-orders"
            host = "API.example.com"
            path_prefix = "/orders"
            upstream = "http://127.0.0.1:4"
            auth = "none"
            [[routes]]
            name = "admin-host"
            host = "admin.example.com"
            path_prefix = "/"
            upstream = "http://127.0.0.1:5"
            auth = "none"
            "#,
            std::path::Path::new("."),
        )
        .unwrap();
        Router::new(cfg.routes)
    }

    #[test]
    fn precedence_table() {
        let r = router();
        let cases: &[(Option<&str>, &str, Option<&str>)] = &[
            (None, "/", Some("root")),
            (Some("x.example"), "/anything", Some("root")),
            (Some("x.example"), "/orders", Some("orders")),
            (Some("x.example"), "/orders/1", Some("orders")),
            (Some("x.example"), "/ordersX", Some("root")),
            (Some("x.example"), "/orders/v2", Some("orders-v2")),
            (Some("x.example"), "/orders/v2/7", Some("orders-v2")),
            (Some("x.example"), "/orders/v20", Some("orders")),
            (Some("api.example.com"), "/orders/1", Some("api-orders")),
            (Some("API.EXAMPLE.COM"), "/orders", Some("api-orders")),
            (Some("api.example.com"), "/orders/v2/1", Some("orders-v2")),
            (Some("admin.example.com"), "/x", Some("admin-host")),
            (Some("admin.example.com"), "/orders", Some("orders")),
        ];
        for (host, path, want) in cases {
            let got = r.route(*host, path).map(|r| r.name.as_str());
            assert_eq!(got, *want, "host {host:?} path {path:?}");
        }
    }

    #[test]
    fn no_catch_all_means_none() {
        let cfg = Config::from_toml(
            r#"
            [server]
            listen = "127.0.0.1:0"
            [[routes]]
            name = "a"
            path_prefix = "/a"
            upstream = "http://127.0.0.1:1"
            auth = "none"
            "#,
            std::path::Path::new("."),
        )
        .unwrap();
        let r = Router::new(cfg.routes);
        assert!(r.route(Some("h"), "/b").is_none());
        assert!(r.route(Some("h"), "/").is_none());
    }

    #[test]
    fn host_port_split() {
        assert_eq!(host_without_port("a.example:8443"), "a.example");
        assert_eq!(host_without_port("a.example"), "a.example");
        assert_eq!(host_without_port("[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }
}
