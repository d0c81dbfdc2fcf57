//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for every route with
//! `auth` other than `none`: served by the gateway, unauthenticated, at
//! `/.well-known/oauth-protected-resource` + the route's public path (§3.1:
//! the well-known segment goes between the host and the path; a route at `/`
//! has the bare well-known path). The 401 challenges of such a route point to
//! it with `resource_metadata` (§5.1).
//!
//! Members: `resource` (the route's public URL, as clients use it in `htu`),
//! `authorization_servers` (the configured issuers), `bearer_methods_supported`
//! `["header"]`, `dpop_signing_alg_values_supported` (`[dpop] algs`),
//! `dpop_bound_access_tokens_required` (true for `dpop`, false for
//! `dpop_or_bearer`), and, when set, `scopes_supported`, `resource_name`,
//! `resource_documentation`.

use std::sync::Arc;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};

use super::body::{full, ProxyBody};
use crate::config::{AuthMode, Config, RouteConfig};
use crate::target::Host;

/// The well-known path prefix (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path that stands for a route's `path_prefix` where clients see it:
/// the path of its `public_url`, else the prefix; empty for the root.
pub fn public_base(route: &RouteConfig) -> &str {
    match &route.public_url {
        Some(public) => public.path.as_str(),
        None if route.path_prefix == "/" => "",
        None => route.path_prefix.as_str(),
    }
}

/// The documents of every protected route, built once per config (all but
/// `resource`, which depends on the origin the client used).
#[derive(Debug, Default)]
pub struct ResourceMetadata {
    entries: Vec<Entry>,
    case_insensitive: bool,
}

#[derive(Debug)]
pub struct Entry {
    pub route: Arc<RouteConfig>,
    doc: Map<String, Value>,
}

impl ResourceMetadata {
    /// `algs`: the accepted proof algorithms by their JOSE names.
    pub fn new<'a>(
        config: &Config,
        routes: impl Iterator<Item = &'a Arc<RouteConfig>>,
        algs: &[&str],
    ) -> ResourceMetadata {
        let servers: Vec<&str> = config.issuers.iter().map(|i| i.issuer.as_str()).collect();
        let entries = routes
            .filter(|r| r.auth != AuthMode::None)
            .map(|route| {
                let mut doc = Map::new();
                doc.insert("authorization_servers".into(), json!(servers));
                doc.insert("bearer_methods_supported".into(), json!(["header"]));
                doc.insert("dpop_signing_alg_values_supported".into(), json!(algs));
                doc.insert(
                    "dpop_bound_access_tokens_required".into(),
                    json!(route.auth == AuthMode::Dpop),
                );
                if !route.scopes_supported.is_empty() {
                    doc.insert("scopes_supported".into(), json!(route.scopes_supported));
                }
                if let Some(name) = &route.resource_name {
                    doc.insert("resource_name".into(), json!(name));
                }
                if let Some(url) = &route.resource_documentation {
                    doc.insert("resource_documentation".into(), json!(url));
                }
                Entry {
                    route: route.clone(),
                    doc,
                }
            })
            .collect();
        ResourceMetadata {
            entries,
            case_insensitive: config.server.case_insensitive_paths,
        }
    }

    /// The protected route whose metadata `path` (canonical) asks for on `host`.
    pub fn find(&self, host: Option<&Host>, path: &str) -> Option<&Entry> {
        let suffix = path.strip_prefix(WELL_KNOWN)?;
        self.entries.iter().find(|e| {
            let base = public_base(&e.route);
            let same_path = if self.case_insensitive {
                suffix.eq_ignore_ascii_case(base)
            } else {
                suffix == base
            };
            let same_host = match (&e.route.host, host) {
                (None, _) => true,
                (Some(want), Some(got)) => want == got.name(),
                (Some(_), None) => false,
            };
            same_path && same_host
        })
    }
}

/// A route's client-visible origin, normalised as `htu` is
/// (`https://api.example.com`, no trailing slash).
pub fn resource_url(origin: &str, route: &RouteConfig) -> String {
    match public_base(route) {
        "" => format!("{origin}/"),
        base => format!("{origin}{base}"),
    }
}

/// The metadata URL of a route for clients at `origin`.
pub fn metadata_url(origin: &str, route: &RouteConfig) -> String {
    format!("{origin}{WELL_KNOWN}{}", public_base(route))
}

/// The `200 application/json` document for `entry` seen from `origin`.
pub fn response(entry: &Entry, origin: &str) -> Response<ProxyBody> {
    let mut doc = Map::with_capacity(entry.doc.len() + 1);
    doc.insert("resource".into(), json!(resource_url(origin, &entry.route)));
    doc.extend(entry.doc.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut resp = Response::new(full(Value::Object(doc).to_string()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Public and stable for a config; a short cache spares the gateway.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    resp
}
