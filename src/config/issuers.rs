//! `[[issuers]]`: trusted authorization servers and where their tokens are
//! checked (exactly one source each).

use std::collections::HashSet;
use std::path::Path;

use http::Uri;

use super::error::Problems;
use super::policy::read_secret_min;
use super::raw::{RawConfig, RawIssuer};
use super::validate::resolve;
use super::{defaults, IntrospectionClient, IssuerConfig, TokenProfile, TokenSource};
use crate::jose::KeySet;
use crate::jose::{Alg, AlgSet, ParseLimits};

pub(super) fn issuers(
    raw: &RawConfig,
    base: &Path,
    limits: ParseLimits,
    p: &mut Problems,
) -> Vec<IssuerConfig> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in raw.issuers.iter().enumerate() {
        let key = format!("issuers[{i}]");
        if r.issuer.is_empty() {
            p.push(format!("{key}.issuer"), "must not be empty");
        } else if !seen.insert(r.issuer.as_str()) {
            p.push(
                format!("{key}.issuer"),
                format!("duplicate issuer {:?}", r.issuer),
            );
        }
        let algs = match &r.algs {
            Some(names) => p.take(&format!("{key}.algs"), AlgSet::parse_list(names)),
            None => Some(
                [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa]
                    .into_iter()
                    .collect(),
            ),
        };
        let leeway_secs = r.leeway_secs.unwrap_or(defaults::LEEWAY_SECS);
        if leeway_secs > 300 {
            p.push(format!("{key}.leeway_secs"), "must be at most 300 seconds");
        }
        let ca_file = r.ca_file.as_deref().and_then(|f| {
            let path = resolve(base, f);
            p.take(&format!("{key}.ca_file"), crate::pem::load_certs(&path))
                .map(|_| path)
        });
        let profile = match r.profile.as_deref() {
            None | Some("rfc9068") => Some(TokenProfile::Rfc9068),
            Some("jwt") => Some(TokenProfile::Jwt),
            Some(other) => {
                super::validate::one_of(p, &format!("{key}.profile"), other, &["rfc9068", "jwt"]);
                None
            }
        };
        if profile == Some(TokenProfile::Jwt) && r.audiences.is_empty() {
            p.push(
                format!("{key}.audiences"),
                "profile = \"jwt\" needs at least one audience: with typ JWT nothing else \
                 tells an access token from an ID token of the same issuer",
            );
        }
        let allow_insecure_http = r.allow_insecure_http.unwrap_or(false);
        let source = token_source(r, &key, base, allow_insecure_http, &limits, p);
        if let (Some(algs), Some(source), Some(profile)) = (algs, source, profile) {
            out.push(IssuerConfig {
                issuer: r.issuer.clone(),
                audiences: r.audiences.clone(),
                algs,
                leeway_secs,
                profile,
                allow_insecure_http,
                source,
                ca_file,
                limits,
            });
        }
    }
    out
}

/// Exactly one of `jwks_file`, `jwks_url`, `introspection_url`, or `discovery = true`.
fn token_source(
    r: &RawIssuer,
    key: &str,
    base: &Path,
    allow_insecure_http: bool,
    limits: &ParseLimits,
    p: &mut Problems,
) -> Option<TokenSource> {
    let discovery = r.discovery.unwrap_or(false);
    let chosen = [
        r.jwks_file.is_some(),
        r.jwks_url.is_some(),
        r.introspection_url.is_some(),
        discovery,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen != 1 {
        p.push(
            key,
            "needs exactly one of jwks_file, jwks_url, introspection_url or discovery = true",
        );
        return None;
    }
    let refresh_secs = r.jwks_refresh_secs.unwrap_or(defaults::JWKS_REFRESH_SECS);
    if !(10..=86_400).contains(&refresh_secs) {
        p.push(
            format!("{key}.jwks_refresh_secs"),
            "must be between 10 and 86400 seconds",
        );
    }
    let has_client =
        r.introspection_client_id.is_some() || r.introspection_client_secret_file.is_some();
    let client = if r.introspection_url.is_some() || (discovery && has_client) {
        introspection_client(r, key, base, p)
    } else {
        for (name, set) in [
            (
                "introspection_client_id",
                r.introspection_client_id.is_some(),
            ),
            (
                "introspection_client_secret_file",
                r.introspection_client_secret_file.is_some(),
            ),
            (
                "introspection_cache_secs",
                r.introspection_cache_secs.is_some(),
            ),
        ] {
            if set {
                p.push(
                    format!("{key}.{name}"),
                    "applies only with introspection_url or discovery",
                );
            }
        }
        None
    };
    if r.jwks_refresh_secs.is_some() && r.jwks_url.is_none() && !discovery {
        p.push(
            format!("{key}.jwks_refresh_secs"),
            "applies only with jwks_url or discovery",
        );
    }
    if let Some(file) = r.jwks_file.as_deref() {
        let path = resolve(base, file);
        let keys = p.take(&format!("{key}.jwks_file"), KeySet::load(&path, limits))?;
        let skipped = keys.skipped().to_vec();
        return Some(TokenSource::JwksFile { path, skipped });
    }
    if let Some(url) = r.jwks_url.as_deref() {
        let url = p.take(&format!("{key}.jwks_url"), as_url(url, allow_insecure_http))?;
        return Some(TokenSource::JwksUrl { url, refresh_secs });
    }
    if let Some(url) = r.introspection_url.as_deref() {
        let url = p.take(
            &format!("{key}.introspection_url"),
            as_url(url, allow_insecure_http),
        )?;
        return Some(TokenSource::Introspection {
            url,
            client: client?,
        });
    }
    let metadata_urls = p.take(
        &format!("{key}.discovery"),
        well_known_urls(&r.issuer, allow_insecure_http),
    )?;
    Some(TokenSource::Discovery {
        metadata_urls,
        refresh_secs,
        client,
    })
}

fn introspection_client(
    r: &RawIssuer,
    key: &str,
    base: &Path,
    p: &mut Problems,
) -> Option<IntrospectionClient> {
    let client_id = match r.introspection_client_id.as_deref() {
        Some(id) if !id.is_empty() => Some(id.to_string()),
        _ => {
            p.push(
                format!("{key}.introspection_client_id"),
                "is required for introspection",
            );
            None
        }
    };
    let secret = match r.introspection_client_secret_file.as_deref() {
        Some(f) => p.take(
            &format!("{key}.introspection_client_secret_file"),
            read_secret_min(&resolve(base, f), 1),
        ),
        None => {
            p.push(
                format!("{key}.introspection_client_secret_file"),
                "is required for introspection",
            );
            None
        }
    };
    let cache_secs = r
        .introspection_cache_secs
        .unwrap_or(defaults::INTROSPECTION_CACHE_SECS);
    if cache_secs > 86_400 {
        p.push(
            format!("{key}.introspection_cache_secs"),
            "must be at most 86400 seconds",
        );
    }
    Some(IntrospectionClient {
        client_id: client_id?,
        secret: secret?,
        cache_secs,
    })
}

/// An authorization-server URL: `https://`, or `http://` on a loopback host
/// (an in-pod or same-host AS) or with `allow_insecure_http`.
fn as_url(s: &str, allow_insecure_http: bool) -> Result<Uri, String> {
    let uri: Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    if uri.authority().is_none() {
        return Err(format!("{s:?} must be an https:// URL"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if plain_http_allowed(&uri, allow_insecure_http) => Ok(uri),
        Some("http") => Err(format!(
            "{s:?}: http:// is allowed only on a loopback host (127.0.0.0/8, [::1], \
             localhost); use https://, or set allow_insecure_http = true"
        )),
        _ => Err(format!("{s:?} must be an https:// URL")),
    }
}

/// Whether an `http://` authorization-server URL may be used: always on a
/// loopback host (127.0.0.0/8, `[::1]`, `localhost`), elsewhere only when the
/// issuer sets `allow_insecure_http`. The token layer applies the same rule
/// to URLs found by discovery.
pub fn plain_http_allowed(uri: &Uri, allow_insecure_http: bool) -> bool {
    if allow_insecure_http {
        return true;
    }
    let host = uri.host().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The well-known URLs to try for `issuer`, in order: RFC 8414 (the
/// well-known segment inserted before the issuer's path), then OpenID Connect
/// (appended after it).
pub(super) fn well_known_urls(issuer: &str, allow_insecure_http: bool) -> Result<Vec<Uri>, String> {
    let uri: Uri = issuer
        .parse()
        .map_err(|_| format!("issuer {issuer:?} is not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some("http") if plain_http_allowed(&uri, allow_insecure_http) => "http",
        Some("https") => "https",
        _ => {
            return Err(format!(
                "issuer {issuer:?} must be an https URL for discovery (http:// only on a \
                 loopback host, or with allow_insecure_http = true)"
            ))
        }
    };
    let Some(authority) = uri.authority() else {
        return Err(format!("issuer {issuer:?} has no host"));
    };
    if uri.query().is_some() {
        return Err(format!("issuer {issuer:?} must not have a query"));
    }
    let path = uri.path().trim_end_matches('/');
    let urls = [
        format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}"),
        format!("{scheme}://{authority}{path}/.well-known/openid-configuration"),
    ];
    urls.iter()
        .map(|u| u.parse().map_err(|_| format!("cannot build {u:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn well_known_placement() {
        let u = well_known_urls("https://as.example.com/tenant1", false).unwrap();
        assert_eq!(
            u[0].to_string(),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            u[1].to_string(),
            "https://as.example.com/tenant1/.well-known/openid-configuration"
        );
        let u = well_known_urls("https://as.example.com", false).unwrap();
        assert_eq!(
            u[0].to_string(),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
        assert!(well_known_urls("http://as.example.com", false).is_err());
        assert_eq!(
            well_known_urls("http://127.0.0.1:8080/realms/x", false).unwrap()[1].to_string(),
            "http://127.0.0.1:8080/realms/x/.well-known/openid-configuration"
        );
        assert!(well_known_urls("http://keycloak.auth.svc:8080", true).is_ok());
    }

    #[test]
    fn http_only_on_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/jwks",
            "http://127.5.6.7/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:9000/jwks",
            "https://as.example.com/jwks",
        ] {
            assert!(as_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://as.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.com/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "http://[::2]/jwks",
            "ftp://127.0.0.1/jwks",
            "/jwks",
        ] {
            assert!(as_url(url, false).is_err(), "{url}");
        }
        assert!(as_url("http://keycloak.auth.svc:8080/jwks", true).is_ok());
        assert!(as_url("ftp://as.example.com/jwks", true).is_err());
    }

    fn problems(issuer_lines: &str) -> Vec<String> {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[[issuers]]\nissuer = \"https://as.test\"\n{issuer_lines}\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:1\"\n"
        );
        match crate::config::Config::from_toml(&text, Path::new(env!("CARGO_MANIFEST_DIR"))) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        }
    }

    #[test]
    fn profiles_and_plain_http() {
        let jwks = "jwks_file = \"examples/keys/as.jwks.json\"";
        assert_eq!(problems(jwks), Vec::<String>::new());
        let p = problems(&format!("profile = \"jwt\"\n{jwks}"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("issuers[0].audiences: profile = \"jwt\" needs"),
            "{p:?}"
        );
        let ok = format!("profile = \"jwt\"\naudiences = [\"https://api.test\"]\n{jwks}");
        assert_eq!(problems(&ok), Vec::<String>::new());
        let p = problems(&format!("profile = \"keycloak\"\n{jwks}"));
        assert!(
            p[0].starts_with("issuers[0].profile: must be one of"),
            "{p:?}"
        );

        assert_eq!(
            problems("jwks_url = \"http://127.0.0.1:8080/certs\""),
            Vec::<String>::new()
        );
        let p = problems("jwks_url = \"http://keycloak.auth.svc:8080/certs\"");
        assert!(p[0].starts_with("issuers[0].jwks_url: "), "{p:?}");
        assert!(p[0].contains("allow_insecure_http"), "{p:?}");
        let allowed =
            "jwks_url = \"http://keycloak.auth.svc:8080/certs\"\nallow_insecure_http = true";
        assert_eq!(problems(allowed), Vec::<String>::new());
        let p = problems("introspection_url = \"http://as.example/introspect\"\nintrospection_client_id = \"g\"\nintrospection_client_secret_file = \"x\"");
        assert!(
            p.iter()
                .any(|p| p.starts_with("issuers[0].introspection_url: ")),
            "{p:?}"
        );
    }
}
