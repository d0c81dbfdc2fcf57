//! HTTPS clients that trust only a test CA, with the TLS version and ALPN
//! forced: [`TestClient`] (pooled, hyper-util over hyper-rustls) and the
//! rustls configs behind it; [`Answer`], a response read whole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::body::{empty, BoxError, TestBody};
use super::upstream::UPSTREAM_NAME_HEADER;

/// Which TLS versions a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Any,
    Tls12,
    Tls13,
}

/// Which application protocols a client offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// No ALPN extension at all.
    None,
    /// `http/1.1` only. (Through [`TestClient`], hyper-rustls sends no ALPN
    /// for an HTTP/1.1-only client; use [`raw_request`] to offer `http/1.1`.)
    Http1,
    /// `h2` only.
    Http2,
    /// `h2`, `http/1.1`.
    Both,
}

impl Alpn {
    pub fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::None => vec![],
            Alpn::Http1 => vec![b"http/1.1".to_vec()],
            Alpn::Http2 => vec![b"h2".to_vec()],
            Alpn::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// A root store holding only the certificates of `ca_pem`.
pub fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A rustls client config (ring provider) that trusts only `ca_pem`, offers
/// only `version` and the `alpn` protocols.
pub fn tls_client_config(ca_pem: &str, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match version {
        TlsVersion::Any => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls12 => &[&rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(dpop_gateway::tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.protocols();
    cfg
}

/// A response read whole (for small bodies).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub async fn read(resp: Response<Incoming>) -> Result<Answer, BoxError> {
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}); status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// Asserts a gateway-made error: `status`, `Content-Type:
    /// application/json`, `{"error": code, "error_description": "..."}`.
    pub fn assert_gateway_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "headers: {:?}",
            self.headers
        );
        let v = self.json();
        assert_eq!(v["error"], code, "body: {v}");
        let desc = v["error_description"].as_str().unwrap_or("");
        assert!(!desc.is_empty(), "no error_description: {v}");
        assert!(
            self.headers.get(UPSTREAM_NAME_HEADER).is_none(),
            "a gateway-made response carries an upstream header: {:?}",
            self.headers
        );
    }
}

/// A pooled client (hyper-util legacy over hyper-rustls). It speaks https
/// with the given TLS config and plain http.
#[derive(Clone)]
pub struct TestClient {
    client: Client<HttpsConnector<HttpConnector>, TestBody>,
}

impl TestClient {
    /// Trusts only `ca_pem`, offers only `version`. `alpn`: `Http1` or `None`
    /// → HTTP/1.1 only, no ALPN sent; `Http2` → h2 only (also h2c prior
    /// knowledge for plain http); `Both` → ALPN `h2, http/1.1`.
    pub fn https(ca_pem: &str, version: TlsVersion, alpn: Alpn) -> TestClient {
        Self::with_tls(tls_client_config(ca_pem, version, Alpn::None), alpn)
    }

    /// `tls` must have no ALPN protocols set (the connector sets them).
    pub fn with_tls(tls: rustls::ClientConfig, alpn: Alpn) -> TestClient {
        let b = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = match alpn {
            Alpn::None | Alpn::Http1 => b.enable_http1().build(),
            Alpn::Http2 => b.enable_http2().build(),
            Alpn::Both => b.enable_all_versions().build(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_only(alpn == Alpn::Http2)
            .build(connector);
        TestClient { client }
    }

    /// Plain HTTP/1.1 (it trusts nothing for https).
    pub fn plain() -> TestClient {
        Self::with_tls(
            tls_client_config("", TlsVersion::Any, Alpn::None),
            Alpn::Http1,
        )
    }

    /// Plain HTTP/2 with prior knowledge (h2c).
    pub fn plain_h2c() -> TestClient {
        Self::with_tls(
            tls_client_config("", TlsVersion::Any, Alpn::None),
            Alpn::Http2,
        )
    }

    /// Sends a request; the body is left to the caller.
    pub async fn request(&self, req: Request<TestBody>) -> Result<Response<Incoming>, BoxError> {
        Ok(self.client.request(req).await?)
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, req: Request<TestBody>) -> Result<Answer, BoxError> {
        Answer::read(self.request(req).await?).await
    }

    /// GET `url`; panics on a transport error.
    pub async fn get(&self, url: &str) -> Answer {
        let req = Request::get(url).body(empty()).unwrap();
        self.send(req)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {}", error_chain(&*e)))
    }
}

/// An error and its sources, joined with `: ` (the gateway's own formatter).
pub use dpop_gateway::errors::error_chain;
