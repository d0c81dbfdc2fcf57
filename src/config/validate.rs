//! Raw → typed. Every check records its problem with the key path and goes
//! on, so that `check` can report all problems at once.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderName, Uri};
use ipnet::IpNet;

use super::error::{ConfigProblem, Problems};
use super::raw::{RawConfig, RawRoute, RawServer};
use super::{
    defaults, AdminConfig, AuthMode, Config, Mode, PublicUrl, RouteConfig, ServerConfig, TlsFiles,
    Upstream, UpstreamAuthorization,
};

pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, Vec<ConfigProblem>> {
    let mut p = Problems::default();
    let server = server(&raw.server, base, &mut p);
    let admin = raw.admin.as_ref().and_then(|a| {
        p.take("admin.listen", parse_addr(&a.listen))
            .map(|listen| AdminConfig { listen })
    });
    let dpop = super::policy::dpop(&raw, base, &mut p);
    let replay = super::policy::replay(&raw, base, &mut p);
    let limits = super::limits::limits(&raw.limits, &mut p);
    let issuers = super::issuers::issuers(&raw, base, limits.parser, &mut p);
    let mut routes = Vec::with_capacity(raw.routes.len());
    let mut names = HashSet::new();
    let mut matches = HashSet::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let key = format!("routes[{i}]");
        if !names.insert(r.name.as_str()) {
            p.push(
                format!("{key}.name"),
                format!("duplicate route name {:?}", r.name),
            );
        }
        if let Some(route) = route(r, &key, base, &mut p) {
            // Under case_insensitive_paths, "/api" and "/API" are one prefix.
            let prefix = if raw.server.case_insensitive_paths {
                route.path_prefix.to_ascii_lowercase()
            } else {
                route.path_prefix.clone()
            };
            if !matches.insert((route.host.clone(), prefix)) {
                p.push(
                    format!("{key}.path_prefix"),
                    format!(
                        "another route already matches host {:?} and path_prefix {:?}",
                        route.host.as_deref().unwrap_or("*"),
                        route.path_prefix
                    ),
                );
            }
            routes.push(route);
        }
    }
    if raw.routes.is_empty() {
        p.push("routes", "at least one [[routes]] entry is required");
    }
    if raw.issuers.is_empty() {
        if let Some(i) = routes.iter().position(|r| r.auth != AuthMode::None) {
            p.push(
                format!("routes[{i}].auth"),
                "a DPoP route needs at least one [[issuers]] entry to validate access tokens",
            );
        }
    }
    match (server, p.is_empty()) {
        (Some(server), true) => Ok(Config {
            source: None,
            source_digest: None,
            server,
            admin,
            dpop,
            replay,
            issuers,
            routes,
            files: named_files(&raw, base),
            limits,
        }),
        _ => Err(p.0),
    }
}

fn server(raw: &RawServer, base: &Path, p: &mut Problems) -> Option<ServerConfig> {
    let listen = p.take("server.listen", parse_addr(&raw.listen));
    let public_url = raw
        .public_url
        .as_deref()
        .and_then(|u| p.take("server.public_url", parse_public_url(u, false)));
    let mut trusted_proxies = Vec::new();
    for (i, cidr) in raw.trusted_proxies.iter().enumerate() {
        if let Some(net) = p.take(&format!("server.trusted_proxies[{i}]"), parse_cidr(cidr)) {
            trusted_proxies.push(net);
        }
    }
    let header_read_timeout = secs(
        p,
        "server.header_read_timeout_secs",
        raw.header_read_timeout_secs,
        defaults::HEADER_READ_TIMEOUT_SECS,
    );
    let idle_timeout = secs(
        p,
        "server.idle_timeout_secs",
        raw.idle_timeout_secs,
        defaults::IDLE_TIMEOUT_SECS,
    );
    let upstream_timeout = secs(
        p,
        "server.upstream_timeout_secs",
        raw.upstream_timeout_secs,
        defaults::UPSTREAM_TIMEOUT_SECS,
    );
    let max_connections = raw.max_connections.unwrap_or(defaults::MAX_CONNECTIONS);
    if max_connections == 0 || max_connections > 1_000_000 {
        p.push("server.max_connections", "must be between 1 and 1000000");
    }
    let drain_timeout = raw
        .drain_timeout_secs
        .unwrap_or(defaults::DRAIN_TIMEOUT_SECS);
    if drain_timeout > 3_600 {
        p.push(
            "server.drain_timeout_secs",
            "must be between 0 and 3600 seconds",
        );
    }
    let tls = raw.tls.as_ref().and_then(|t| {
        let cert = resolve(base, &t.cert);
        let key = resolve(base, &t.key);
        let certs_ok = p
            .take("server.tls.cert", crate::pem::load_certs(&cert))
            .is_some();
        let key_ok = p
            .take("server.tls.key", crate::pem::load_private_key(&key))
            .is_some();
        if certs_ok && key_ok {
            p.take("server.tls", crate::pem::check_pair(&cert, &key))?;
        }
        Some(TlsFiles { cert, key })
    });
    Some(ServerConfig {
        listen: listen?,
        public_url,
        trusted_proxies,
        header_read_timeout,
        idle_timeout,
        upstream_timeout,
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        drain_timeout: Duration::from_secs(drain_timeout),
        watch_config: raw.watch_config,
        case_insensitive_paths: raw.case_insensitive_paths,
        tls,
    })
}

fn route(r: &RawRoute, key: &str, base: &Path, p: &mut Problems) -> Option<RouteConfig> {
    if r.name.trim().is_empty() {
        p.push(format!("{key}.name"), "must not be empty");
    }
    let host = r
        .host
        .as_deref()
        .and_then(|h| p.take(&format!("{key}.host"), parse_route_host(h)));
    let path_prefix = p.take(&format!("{key}.path_prefix"), parse_prefix(&r.path_prefix));
    let public_url = r
        .public_url
        .as_deref()
        .and_then(|u| p.take(&format!("{key}.public_url"), parse_public_url(u, true)));
    let ca_file = r.upstream_ca_file.as_deref().and_then(|f| {
        let path = resolve(base, f);
        p.take(
            &format!("{key}.upstream_ca_file"),
            crate::pem::load_certs(&path),
        )
        .map(|_| path)
    });
    let upstream = p
        .take(&format!("{key}.upstream"), parse_upstream(&r.upstream))
        .map(|(scheme, authority)| Upstream {
            scheme,
            authority,
            ca_file,
        });
    let auth = match r.auth.as_deref().unwrap_or("dpop") {
        "none" => Some(AuthMode::None),
        "dpop" => Some(AuthMode::Dpop),
        "dpop_or_bearer" => Some(AuthMode::DpopOrBearer),
        other => {
            p.push(
                format!("{key}.auth"),
                format!("must be \"dpop\", \"dpop_or_bearer\" or \"none\", not {other:?}"),
            );
            None
        }
    };
    let mode = match r.mode.as_deref() {
        None | Some("enforce") => Some(Mode::Enforce),
        Some("report") => Some(Mode::Report),
        Some(other) => {
            one_of(p, &format!("{key}.mode"), other, &["enforce", "report"]);
            None
        }
    };
    let upstream_authorization = match r.upstream_authorization.as_deref() {
        None | Some("preserve") => Some(UpstreamAuthorization::Preserve),
        Some("bearer") => Some(UpstreamAuthorization::Bearer),
        Some("strip") => Some(UpstreamAuthorization::Strip),
        Some(other) => {
            let key = format!("{key}.upstream_authorization");
            one_of(p, &key, other, &["preserve", "bearer", "strip"]);
            None
        }
    };
    let scopes_supported = r
        .scopes_supported
        .clone()
        .unwrap_or_else(|| r.required_scopes.clone());
    for (name, list) in [
        ("required_scopes", &r.required_scopes),
        ("scopes_supported", &scopes_supported),
    ] {
        for (j, scope) in list.iter().enumerate() {
            if scope.is_empty() || scope.contains([' ', '"', '\\']) {
                p.push(
                    format!("{key}.{name}[{j}]"),
                    "a scope is a non-empty token without spaces or quotes",
                );
            }
        }
    }
    if let Some(doc) = &r.resource_documentation {
        let ok = doc.parse::<Uri>().is_ok_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()
        });
        if !ok {
            p.push(
                format!("{key}.resource_documentation"),
                format!("{doc:?} is not an http(s) URL"),
            );
        }
    }
    let mut identity_headers = Vec::new();
    for (claim, header) in &r.identity_headers {
        let hkey = format!("{key}.identity_headers.{claim}");
        match HeaderName::from_bytes(header.as_bytes()) {
            Ok(h) if is_reserved_header(&h) => p.push(
                hkey,
                format!("{header:?} cannot be used as an identity header"),
            ),
            Ok(h) => identity_headers.push((claim.clone(), h)),
            Err(_) => p.push(hkey, format!("{header:?} is not a valid header name")),
        }
    }
    if r.max_body_bytes == Some(0) {
        p.push(format!("{key}.max_body_bytes"), "must be at least 1");
    }
    Some(RouteConfig {
        name: r.name.clone(),
        host,
        path_prefix: path_prefix?,
        public_url,
        upstream: upstream?,
        auth: auth?,
        mode: mode?,
        required_scopes: r.required_scopes.clone(),
        upstream_authorization: upstream_authorization?,
        identity_headers,
        resource_name: r.resource_name.clone(),
        resource_documentation: r.resource_documentation.clone(),
        scopes_supported,
        max_body_bytes: r.max_body_bytes,
    })
}

/// Records that `value` is not one of `allowed`.
pub(super) fn one_of(p: &mut Problems, key: &str, value: &str, allowed: &[&str]) {
    let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    p.push(
        key,
        format!("must be one of {}, not {value:?}", list.join(", ")),
    );
}

/// Headers the gateway manages itself; an identity header may not reuse them.
fn is_reserved_header(h: &HeaderName) -> bool {
    use http::header::*;
    [
        HOST,
        AUTHORIZATION,
        CONNECTION,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        TE,
        UPGRADE,
    ]
    .contains(h)
        || h.as_str() == "dpop"
        || h.as_str().starts_with("x-forwarded-")
}

fn secs(p: &mut Problems, key: &str, v: Option<u64>, default: u64) -> Duration {
    let v = v.unwrap_or(default);
    if v == 0 || v > 86_400 {
        p.push(key, "must be between 1 and 86400 seconds");
    }
    Duration::from_secs(v)
}

/// Every file the config names, resolved, each once, in the order of the
/// file (whether or not it is valid: a watcher looks at what is named).
pub(super) fn named_files(raw: &RawConfig, base: &Path) -> Vec<PathBuf> {
    let tls = raw.server.tls.iter().flat_map(|t| [&t.cert, &t.key]);
    let dpop = [
        &raw.dpop.nonce_secret_file,
        &raw.dpop.nonce_previous_secret_file,
    ];
    let replay = [&raw.replay.redis_password_file, &raw.replay.redis_ca_file];
    let issuers = raw.issuers.iter().flat_map(|i| {
        [
            &i.jwks_file,
            &i.introspection_client_secret_file,
            &i.ca_file,
        ]
    });
    let routes = raw.routes.iter().map(|r| &r.upstream_ca_file);
    let optional = dpop.into_iter().chain(replay).chain(issuers).chain(routes);
    let mut files: Vec<PathBuf> = Vec::new();
    for name in tls.chain(optional.flatten()) {
        let path = resolve(base, name);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

pub(super) fn resolve(base: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not a socket address like \"0.0.0.0:8443\" or \"[::]:8443\"")
    })
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a CIDR like \"10.0.0.0/8\" or an IP address"))
}

/// The canonical host a route matches (the same form requests are read in).
fn parse_route_host(h: &str) -> Result<String, String> {
    let host = crate::target::Host::parse(h).map_err(|e| format!("{h:?}: {e}"))?;
    if host.port().is_some() {
        return Err(format!(
            "{h:?}: give the host only (the port is ignored when matching)"
        ));
    }
    Ok(host.name().to_owned())
}

/// A prefix must itself be a canonical request path: one that requests are
/// refused for could never match.
fn parse_prefix(s: &str) -> Result<String, String> {
    if s.contains(['?', '#']) {
        return Err(format!("{s:?} must be a plain path (no query or fragment)"));
    }
    let path = crate::target::canonical_path(s).map_err(|e| format!("{s:?}: {e}"))?;
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    })
}

fn parse_upstream(s: &str) -> Result<(Scheme, Authority), String> {
    let uri: Uri = s
        .parse()
        .map_err(|_| format!("{s:?} is not a URL like \"http://127.0.0.1:8080\""))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::HTTP,
        Some("https") => Scheme::HTTPS,
        _ => return Err(format!("{s:?}: the scheme must be http or https")),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{s:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{s:?}: credentials in the URL are not supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "{s:?}: give the origin only; the request path and query are forwarded as received"
        ));
    }
    Ok((scheme, authority))
}

fn parse_public_url(s: &str, allow_path: bool) -> Result<PublicUrl, String> {
    let uri: Uri = s
        .parse()
        .map_err(|_| format!("{s:?} is not a URL like \"https://api.example.com\""))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::HTTP,
        Some("https") => Scheme::HTTPS,
        _ => return Err(format!("{s:?}: the scheme must be http or https")),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{s:?} has no host"))?;
    if authority.as_str().contains('@') || uri.query().is_some() {
        return Err(format!("{s:?}: no userinfo or query allowed"));
    }
    let path = uri.path().trim_end_matches('/').to_string();
    if !allow_path && !path.is_empty() {
        return Err(format!(
            "{s:?}: server.public_url is an origin (scheme://host[:port]) without a path"
        ));
    }
    Ok(PublicUrl {
        scheme,
        authority,
        path,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(parse_prefix("/").unwrap(), "/");
        assert_eq!(parse_prefix("/a/").unwrap(), "/a");
        assert!(parse_prefix("a").is_err());
        assert!(parse_prefix("/a?b").is_err());
        // Prefixes are canonical request paths.
        assert_eq!(parse_prefix("/%61pi/v1/").unwrap(), "/api/v1");
        for bad in ["/a//b", "/a;b", "/a/../b", "/a%2Fb", "/a./b", "/a b"] {
            assert!(parse_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstreams_are_origins() {
        let (s, a) = parse_upstream("https://Example.com:8443").unwrap();
        assert_eq!(s, Scheme::HTTPS);
        assert_eq!(a.port_u16(), Some(8443));
        assert!(parse_upstream("ftp://x").is_err());
        assert!(parse_upstream("http://x/base").is_err());
        assert!(parse_upstream("http://u:p@x").is_err());
        assert!(parse_upstream("127.0.0.1:80").is_err());
    }

    #[test]
    fn cidrs_and_hosts() {
        assert!(parse_cidr("10.0.0.0/8").is_ok());
        assert_eq!(parse_cidr("127.0.0.1").unwrap().prefix_len(), 32);
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert_eq!(
            parse_route_host("API.example.com").unwrap(),
            "api.example.com"
        );
        assert!(parse_route_host("api.example.com:443").is_err());
        assert_eq!(
            parse_route_host("Admin.Internal.").unwrap(),
            "admin.internal"
        );
        assert_eq!(parse_route_host("[0::1]").unwrap(), "[::1]");
        assert!(parse_route_host("user@admin").is_err());
        assert!(parse_route_host("a%2eb").is_err());
    }
}
