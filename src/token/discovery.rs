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

/// Fetches and checks the issuer's metadata from the first of `urls` (the
/// well-known URLs the config computed) that answers.
pub async fn discover(
    client: &HttpClient,
    issuer: &str,
    urls: &[Uri],
    allow_insecure_http: bool,
    max_json_depth: usize,
) -> Result<Metadata, String> {
    let mut last_error = String::from("no metadata URL");
    for url in urls {
        match client.get(url).await {
            Ok(body) => return parse(&body, issuer, allow_insecure_http, max_json_depth),
            Err(e) => last_error = format!("{url}: {e}"),
        }
    }
    Err(last_error)
}

/// Parses a metadata document and checks its `issuer`. Its endpoints must be
/// `https://`, or `http://` where the issuer's config allows it
/// ([`crate::config::plain_http_allowed`]). Nested at most `max_json_depth` deep.
pub fn parse(
    body: &[u8],
    issuer: &str,
    allow_insecure_http: bool,
    max_json_depth: usize,
) -> Result<Metadata, String> {
    let doc = json::parse_object(body, max_json_depth).map_err(|e| format!("metadata: {e}"))?;
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
                let allowed = match uri.scheme_str() {
                    Some("https") => true,
                    Some("http") => crate::config::plain_http_allowed(&uri, allow_insecure_http),
                    _ => false,
                };
                if !allowed {
                    return Err(format!(
                        "metadata {name} must be https (http only on a loopback host)"
                    ));
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
    fn issuer_must_match() {
        let doc = br#"{"issuer":"https://as","jwks_uri":"https://as/jwks","introspection_endpoint":"https://as/i"}"#;
        let m = parse(doc, "https://as", false, 16).unwrap();
        assert_eq!(m.jwks_uri.unwrap().to_string(), "https://as/jwks");
        assert!(parse(doc, "https://as/", false, 16).is_err());
        assert!(parse(
            br#"{"jwks_uri":"https://as/jwks"}"#,
            "https://as",
            false,
            16
        )
        .is_err());
        assert!(parse(
            br#"{"issuer":"https://as","jwks_uri":"http://as/jwks"}"#,
            "https://as",
            false,
            16
        )
        .is_err());
    }

    #[test]
    fn http_endpoints_only_where_allowed() {
        let local = br#"{"issuer":"http://127.0.0.1:8080/realms/r","jwks_uri":"http://127.0.0.1:8080/certs"}"#;
        let m = parse(local, "http://127.0.0.1:8080/realms/r", false, 16).unwrap();
        assert_eq!(
            m.jwks_uri.unwrap().to_string(),
            "http://127.0.0.1:8080/certs"
        );
        let remote = br#"{"issuer":"https://as","jwks_uri":"http://as.internal/certs"}"#;
        assert!(parse(remote, "https://as", false, 16).is_err());
        assert!(parse(remote, "https://as", true, 16).is_ok());
    }

    #[test]
    fn nesting_is_bounded_by_max_json_depth() {
        // Depth 3: the document, "mtls_endpoint_aliases", its array.
        let doc = br#"{"issuer":"https://as","mtls_endpoint_aliases":{"x":["y"]}}"#;
        assert!(parse(doc, "https://as", false, 3).is_ok());
        let err = parse(doc, "https://as", false, 2).unwrap_err();
        assert!(err.contains("nested deeper than 2"), "{err}");
    }
}
