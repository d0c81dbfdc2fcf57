//! `[[issuers]]`: trusted authorization servers and where their tokens are
//! checked (exactly one source each).

use std::collections::HashSet;
use std::path::Path;

use http::Uri;

use super::error::Problems;
use super::policy::read_secret_min;
use super::raw::{RawConfig, RawIssuer};
use super::validate::resolve;
use super::{defaults, IntrospectionClient, IssuerConfig, TokenSource};
use crate::jose::KeySet;
use crate::jose::{Alg, AlgSet};

pub(super) fn issuers(raw: &RawConfig, base: &Path, p: &mut Problems) -> Vec<IssuerConfig> {
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
        let source = token_source(r, &key, base, p);
        if let (Some(algs), Some(source)) = (algs, source) {
            out.push(IssuerConfig {
                issuer: r.issuer.clone(),
                audiences: r.audiences.clone(),
                algs,
                leeway_secs,
                source,
                ca_file,
            });
        }
    }
    out
}

/// Exactly one of `jwks_file`, `jwks_url`, `introspection_url`, or `discovery = true`.
fn token_source(r: &RawIssuer, key: &str, base: &Path, p: &mut Problems) -> Option<TokenSource> {
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
        p.take(&format!("{key}.jwks_file"), KeySet::load(&path))?;
        return Some(TokenSource::JwksFile { path });
    }
    if let Some(url) = r.jwks_url.as_deref() {
        let url = p.take(&format!("{key}.jwks_url"), https_url(url))?;
        return Some(TokenSource::JwksUrl { url, refresh_secs });
    }
    if let Some(url) = r.introspection_url.as_deref() {
        let url = p.take(&format!("{key}.introspection_url"), https_url(url))?;
        return Some(TokenSource::Introspection {
            url,
            client: client?,
        });
    }
    let metadata_urls = p.take(&format!("{key}.discovery"), well_known_urls(&r.issuer))?;
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

fn https_url(s: &str) -> Result<Uri, String> {
    let uri: Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") || uri.authority().is_none() {
        return Err(format!("{s:?} must be an https:// URL"));
    }
    Ok(uri)
}

/// The well-known URLs to try for `issuer`, in order: RFC 8414 (the
/// well-known segment inserted before the issuer's path), then OpenID Connect
/// (appended after it).
pub(super) fn well_known_urls(issuer: &str) -> Result<Vec<Uri>, String> {
    let uri: Uri = issuer
        .parse()
        .map_err(|_| format!("issuer {issuer:?} is not a URL"))?;
    let (Some("https"), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!(
            "issuer {issuer:?} must be an https URL for discovery"
        ));
    };
    if uri.query().is_some() {
        return Err(format!("issuer {issuer:?} must not have a query"));
    }
    let path = uri.path().trim_end_matches('/');
    let urls = [
        format!("https://{authority}/.well-known/oauth-authorization-server{path}"),
        format!("https://{authority}{path}/.well-known/openid-configuration"),
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
        let u = well_known_urls("https://as.example.com/tenant1").unwrap();
        assert_eq!(
            u[0].to_string(),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            u[1].to_string(),
            "https://as.example.com/tenant1/.well-known/openid-configuration"
        );
        let u = well_known_urls("https://as.example.com").unwrap();
        assert_eq!(
            u[0].to_string(),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
        assert!(well_known_urls("http://as.example.com").is_err());
    }
}
