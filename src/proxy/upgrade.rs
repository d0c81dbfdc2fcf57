//! WebSocket through the gateway (RFC 6455 §4, RFC 9110 §7.8). An HTTP/1.1
//! `GET` with `Connection: upgrade` and `Upgrade: websocket` runs the whole
//! pipeline like any other request; only then does the upstream request keep
//! `Connection: upgrade` / `Upgrade: websocket` (the `Sec-WebSocket-*` fields
//! are end to end and pass anyway). Every other `Upgrade` (`h2c`, …) is
//! removed with the hop-by-hop fields.
//!
//! When the upstream answers `101 Switching Protocols`, the response goes
//! back with the same two fields and a [`Tunnel`]: the two halves of the
//! upgrade (hyper's `OnUpgrade` of the client request and of the upstream
//! response). The server runs it (`server/conn.rs`), because the connection's
//! idle timeout and the drain bound it: bytes are relayed both ways until
//! either side closes.

use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{Method, Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Whether `req` asks to become a WebSocket (RFC 6455 §4.1: HTTP/1.1, `GET`,
/// `Connection` lists `upgrade`, `Upgrade` lists `websocket`).
pub fn is_websocket<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.method() == Method::GET
        && lists(req.headers(), CONNECTION, "upgrade")
        && lists(req.headers(), UPGRADE, "websocket")
}

/// Whether a 101 response switches to WebSocket (`Upgrade: websocket`).
pub fn switches_to_websocket(headers: &HeaderMap) -> bool {
    lists(headers, UPGRADE, "websocket")
}

/// Puts back, after the hop-by-hop fields are gone, the two that carry the
/// upgrade to the next hop.
pub fn set_upgrade_fields(headers: &mut HeaderMap) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
}

/// Whether any comma-separated element of any `name` field is `token`
/// (ignoring ASCII case; protocol versions such as `websocket/13` do not
/// count).
fn lists(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// An accepted upgrade, to be relayed by whoever owns the client connection.
#[derive(Debug)]
pub struct Tunnel {
    client: OnUpgrade,
    upstream: OnUpgrade,
    route: String,
}

/// Why a tunnel ended other than by a clean close.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// One side's connection was not handed over after the 101.
    #[error("upgrade not completed: {0}")]
    Upgrade(#[from] hyper::Error),
    #[error("relay: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes relayed by a tunnel that closed cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    pub to_upstream: u64,
    pub to_client: u64,
}

impl Tunnel {
    pub fn new(client: OnUpgrade, upstream: OnUpgrade, route: &str) -> Tunnel {
        Tunnel {
            client,
            upstream,
            route: route.to_owned(),
        }
    }

    /// The route that accepted the upgrade, for the log.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// Waits for both connections to be handed over, then copies bytes both
    /// ways; when one side ends its stream, the other side's write half is
    /// shut down, and the tunnel ends when both directions have ended.
    pub async fn relay(self) -> Result<Relayed, TunnelError> {
        let (client, upstream) = tokio::try_join!(self.client, self.upstream)?;
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let (to_upstream, to_client) =
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        Ok(Relayed {
            to_upstream,
            to_client,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn req(version: Version, method: Method, fields: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).version(version).uri("/");
        for (k, v) in fields {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn websocket_requests_are_told_apart() {
        let ws = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert!(is_websocket(&req(Version::HTTP_11, Method::GET, &ws)));
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Version, Method, Fields); 6] = [
            (Version::HTTP_10, Method::GET, &ws),
            (Version::HTTP_2, Method::GET, &ws),
            (Version::HTTP_11, Method::POST, &ws),
            (Version::HTTP_11, Method::GET, &[("upgrade", "websocket")]),
            (
                Version::HTTP_11,
                Method::GET,
                &[("connection", "upgrade"), ("upgrade", "h2c")],
            ),
            (
                Version::HTTP_11,
                Method::GET,
                &[("connection", "upgrade"), ("upgrade", "websocket/13")],
            ),
        ];
        for (version, method, fields) in cases {
            assert!(
                !is_websocket(&req(version, method.clone(), fields)),
                "{version:?} {method} {fields:?}"
            );
        }
    }

    #[test]
    fn upgrade_fields_replace_what_was_there() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("close"));
        h.append(UPGRADE, HeaderValue::from_static("h2c"));
        set_upgrade_fields(&mut h);
        assert_eq!(h.get_all(CONNECTION).iter().count(), 1);
        assert_eq!(h[CONNECTION], "upgrade");
        assert_eq!(h[UPGRADE], "websocket");
        assert!(switches_to_websocket(&h));
    }
}
