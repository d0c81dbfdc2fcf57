//! Routing: request host and path → route. Pure and crypto-free, so it runs
//! first in the pipeline, on the canonical host and path of
//! [`crate::target`] (never on raw bytes: routing on one spelling while the
//! upstream or the `htu` check reads another is an authentication bypass).
//!
//! Rules: a route with a `host` matches only that host (both canonical: lower
//! case, no trailing dot; the port is ignored); a route without one matches
//! any host. `path_prefix = "/orders"` matches `/orders` and `/orders/...`,
//! never `/ordersX`; with `server.case_insensitive_paths` it also matches
//! `/ORDERS/...` (ASCII case ignored), for upstreams that route that way.
//! Among the matches the longest prefix wins; at equal length a
//! host-specific route beats a host-less one.

use std::sync::Arc;

use crate::config::RouteConfig;
use crate::target::Host;

/// The routing table, built once per config.
#[derive(Debug)]
pub struct Router {
    /// Sorted by prefix length (longest first), then host-specific first.
    routes: Vec<Arc<RouteConfig>>,
    case_insensitive: bool,
}

impl Router {
    pub fn new(routes: Vec<RouteConfig>, case_insensitive_paths: bool) -> Router {
        let mut routes: Vec<Arc<RouteConfig>> = routes.into_iter().map(Arc::new).collect();
        routes.sort_by(|a, b| {
            b.path_prefix
                .len()
                .cmp(&a.path_prefix.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        Router {
            routes,
            case_insensitive: case_insensitive_paths,
        }
    }

    /// Finds the route for a request's canonical host and path.
    pub fn route(&self, host: Option<&Host>, path: &str) -> Option<&Arc<RouteConfig>> {
        self.routes.iter().find(|r| {
            let host_ok = match (&r.host, host) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got.name(),
                (Some(_), None) => false,
            };
            host_ok && prefix_matches(&r.path_prefix, path, self.case_insensitive)
        })
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<RouteConfig>> {
        self.routes.iter()
    }
}

fn prefix_matches(prefix: &str, path: &str, case_insensitive: bool) -> bool {
    if prefix == "/" {
        return true;
    }
    let Some(head) = path.get(..prefix.len()) else {
        return false;
    };
    let same = if case_insensitive {
        head.eq_ignore_ascii_case(prefix)
    } else {
        head == prefix
    };
    same && path
        .get(prefix.len()..)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod lenient_tests;

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
        Router::new(cfg.routes, false)
    }

    fn name<'a>(r: &'a Router, host: Option<&str>, path: &str) -> Option<&'a str> {
        let host = host.map(|h| Host::parse(h).unwrap());
        r.route(host.as_ref(), path).map(|r| r.name.as_str())
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
            (Some("ADMIN.example.com."), "/x", Some("admin-host")),
            (Some("admin.example.com.:8443"), "/x", Some("admin-host")),
            (Some("admin.example.com"), "/ORDERS", Some("admin-host")),
            (Some("x.example"), "/ORDERS/1", Some("root")),
        ];
        for (host, path, want) in cases {
            assert_eq!(name(&r, *host, path), *want, "host {host:?} path {path:?}");
        }
    }

    #[test]
    fn case_insensitive_prefixes() {
        let cfg = Config::from_toml(
            r#"
            [server]
            listen = "127.0.0.1:0"
            case_insensitive_paths = true
            [[routes]]
            name = "root"
            path_prefix = "/"
            upstream = "http://127.0.0.1:1"
            auth = "none"
            [[routes]]
            name = "api"
            path_prefix = "/api/V1"
            upstream = "http://127.0.0.1:2"
            auth = "none"
            "#,
            std::path::Path::new("."),
        )
        .unwrap();
        let r = Router::new(cfg.routes, cfg.server.case_insensitive_paths);
        for path in ["/api/v1", "/API/V1/x", "/Api/v1/", "/aPI/v1/Orders"] {
            assert_eq!(name(&r, Some("h"), path), Some("api"), "{path}");
        }
        for path in ["/api/v1x", "/api", "/ap", "/\u{e9}pi/v1"] {
            assert_eq!(name(&r, Some("h"), path), Some("root"), "{path}");
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
        let r = Router::new(cfg.routes, false);
        assert_eq!(name(&r, Some("h"), "/b"), None);
        assert_eq!(name(&r, Some("h"), "/"), None);
        assert_eq!(name(&r, None, "/a"), Some("a"));
    }
}
