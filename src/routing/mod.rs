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

/// Whether a request path can be routed safely. Routing compares prefixes,
/// so a path that another reader resolves differently could reach a DPoP
/// route through a public one (`/public/../api`). Refused (400), never
/// rewritten:
///
/// - not starting with `/`;
/// - a `.` or `..` segment (also percent-encoded), or one starting with
///   `.;` / `..;` (servlet containers strip path parameters first);
/// - a malformed `%xx` escape, an encoded backslash or NUL, or a raw backslash
///   (some servers treat it as `/`).
///
/// Escapes of unreserved characters (`%61` for `a`, `%7E` for `~`) are legal
/// aliases (RFC 3986 §6.2.2.2): [`routing_path`] decodes them before matching.
pub fn is_canonical_path(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return false;
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            match decode_escape(bytes, i) {
                Some(b'\\' | 0) | None => return false,
                Some(_) => i += 3,
            }
        } else {
            i += 1;
        }
    }
    !routing_path(path)
        .split('/')
        .any(|seg| seg == "." || seg == ".." || seg.starts_with(".;") || seg.starts_with("..;"))
}

fn decode_escape(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
    let (hi, lo) = (hex(at + 1)?, hex(at + 2)?);
    u8::try_from(hi * 16 + lo).ok()
}

/// The path as routing sees it: escapes of unreserved characters decoded
/// (RFC 3986 §6.2.2.2), everything else as received. The `htu` check
/// normalises the same way, so both agree on which route a request is for.
pub fn routing_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let Some(d) = decode_escape(bytes, i) {
                if d.is_ascii_alphanumeric() || matches!(d, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(d));
                    i += 3;
                    continue;
                }
            }
        }
        out.push(char::from(b));
        i += 1;
    }
    std::borrow::Cow::Owned(out)
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
    fn canonical_paths() {
        let ok = [
            "/",
            "/api/x",
            "/a%2Fb",
            "/a%40b",
            "/a/b/",
            "//a",
            "/a.b/c..d",
            "/.well-known/x",
            "/a;b",
            "/%61pi/x",
            "/a%7Eb",
        ];
        for path in ok {
            assert!(is_canonical_path(path), "{path}");
        }
        let bad = [
            "",
            "*",
            "api",
            "/./api",
            "/public/../api/x",
            "/api/.",
            "/api/..",
            "/public/..;/api",
            "/.;x/api",
            "/%2e%2e/api",
            "/%2E/api",
            "/public/%2e%2e/api",
            "/a%5Cb",
            "/a\\b",
            "/a%00b",
            "/a%zzb",
            "/a%2",
            "/a%",
        ];
        for path in bad {
            assert!(!is_canonical_path(path), "{path}");
        }
        assert_eq!(routing_path("/%61pi/%7e/%2F"), "/api/~/%2F");
        assert_eq!(routing_path("/plain"), "/plain");
    }

    #[test]
    fn host_port_split() {
        assert_eq!(host_without_port("a.example:8443"), "a.example");
        assert_eq!(host_without_port("a.example"), "a.example");
        assert_eq!(host_without_port("[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }
}
