//! Authorization server metadata (RFC 8414, and OpenID Connect Discovery as a
//! fallback): where an issuer publishes its keys (`jwks_uri`) and its
//! introspection endpoint. The document's `issuer` must equal the configured
//! one exactly (RFC 8414 §3.3), or it is refused.

use http::Uri;
use serde_json::Value;

use super::http::HttpClient;
use crate::jose::json;

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub jwks_uri: Option<Uri>,
    pub introspection_endpoint: Option<Uri>,
}

/// The well-known URLs to try for `issuer`, in order: RFC 8414 (the
/// well-known segment inserted before the issuer's path), then OpenID Connect
/// (appended after it).
pub fn well_known_urls(issuer: &str) -> Result<Vec<Uri>, String> {
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

/// Fetches and checks the issuer's metadata.
pub async fn discover(client: &HttpClient, issuer: &str) -> Result<Metadata, String> {
    let mut last_error = String::from("no metadata URL");
    for url in well_known_urls(issuer)? {
        match client.get(&url).await {
            Ok(body) => return parse(&body, issuer),
            Err(e) => last_error = format!("{url}: {e}"),
        }
    }
    Err(last_error)
}

/// Parses a metadata document and checks its `issuer`.
pub fn parse(body: &[u8], issuer: &str) -> Result<Metadata, String> {
    let doc = json::parse_object(body).map_err(|e| format!("metadata: {e}"))?;
    match doc.get("issuer").and_then(Value::as_str) {
        Some(i) if i == issuer => {}
        Some(i) => {
            return Err(format!(
                "metadata issuer {:?} differs from the configured {issuer:?}",
                crate::jose::clip(i, 128)
            ))
        }
        None => return Err("metadata has no issuer".into()),
    }
    let url = |name: &str| -> Result<Option<Uri>, String> {
        match doc.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let uri: Uri = s
                    .parse()
                    .map_err(|_| format!("metadata {name} is not a URL"))?;
                if uri.scheme_str() != Some("https") {
                    return Err(format!("metadata {name} must be https"));
                }
                Ok(Some(uri))
            }
            Some(_) => Err(format!("metadata {name} is not a string")),
        }
    };
    Ok(Metadata {
        jwks_uri: url("jwks_uri")?,
        introspection_endpoint: url("introspection_endpoint")?,
    })
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

    #[test]
    fn issuer_must_match() {
        let doc = br#"{"issuer":"https://as","jwks_uri":"https://as/jwks","introspection_endpoint":"https://as/i"}"#;
        let m = parse(doc, "https://as").unwrap();
        assert_eq!(m.jwks_uri.unwrap().to_string(), "https://as/jwks");
        assert!(parse(doc, "https://as/").is_err());
        assert!(parse(br#"{"jwks_uri":"https://as/jwks"}"#, "https://as").is_err());
        assert!(parse(
            br#"{"issuer":"https://as","jwks_uri":"http://as/jwks"}"#,
            "https://as"
        )
        .is_err());
    }
}
