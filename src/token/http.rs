//! The HTTP(S) client for key sets, discovery documents and introspection:
//! rustls (webpki roots plus the issuer's optional `ca_file`), a connect and
//! total timeout, and a cap on the response size. Bodies are read into memory
//! only up to that cap.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// Whole-exchange time limit for one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest document accepted.
pub const MAX_BODY: usize = 512 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response larger than {MAX_BODY} bytes or unreadable")]
    Body,
}

#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(ca_file: Option<&Path>) -> Result<HttpClient, crate::tls::TlsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config(ca_file)?)
            // http:// only reaches here for URLs the config allowed
            // (loopback, or allow_insecure_http); see config::plain_http_allowed.
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// `GET url` expecting 200 and JSON.
    pub async fn get(&self, url: &Uri) -> Result<Bytes, FetchError> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(url.clone())
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        self.send(req).await
    }

    /// `POST url` with a form body and an `Authorization` value.
    pub async fn post_form(
        &self,
        url: &Uri,
        authorization: &HeaderValue,
        form: String,
    ) -> Result<Bytes, FetchError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, authorization.clone())
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        self.send(req).await
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Bytes, FetchError> {
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::Transport(crate::errors::error_chain(&e)))?;
            let status = resp.status();
            if status != http::StatusCode::OK {
                return Err(FetchError::Status(status.as_u16()));
            }
            Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|_| FetchError::Body)
        };
        tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .map_err(|_| FetchError::Timeout(FETCH_TIMEOUT))?
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a+b/c=d~e f"), "a%2Bb%2Fc%3Dd%7Ee+f");
        assert_eq!(form_encode("Kz~8m.x-_"), "Kz%7E8m.x-_");
    }
}
