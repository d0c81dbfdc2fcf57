//! Header rewriting between client and upstream: hop-by-hop removal
//! (RFC 9110 §7.6.1, including every field named in `Connection`), the
//! removal of forged identity headers, and the `X-Forwarded-*` set.

use std::net::IpAddr;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use ipnet::IpNet;

static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Fields that describe one hop and never cross the gateway (RFC 9110 §7.6.1,
/// plus the legacy `Keep-Alive` / `Proxy-Connection` and the proxy
/// authentication fields, which are meant for the gateway itself). Names,
/// not strings: removing by `&str` parses and hashes the name every time.
static HOP_BY_HOP: [&HeaderName; 9] = [
    &CONNECTION,
    &PROXY_CONNECTION,
    &KEEP_ALIVE,
    &TE,
    &TRAILER,
    &TRANSFER_ENCODING,
    &UPGRADE,
    &PROXY_AUTHORIZATION,
    &PROXY_AUTHENTICATE,
];

/// Removes the hop-by-hop fields and every field listed in `Connection`.
/// One pass over the (few) names first: most messages carry none of them.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| HOP_BY_HOP.contains(&name)) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The identity header names of every route, as CGI-style servers read
/// them: case-insensitive, with `_` the same as `-` (PHP, WSGI behind Apache
/// and Perl map `X-Remote-User` and `X_Remote_User` to one
/// `HTTP_X_REMOTE_USER`). Built once per config.
#[derive(Debug, Default)]
pub struct IdentityNames(Vec<String>);

impl IdentityNames {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a HeaderName>) -> IdentityNames {
        let mut folded: Vec<String> = names.into_iter().map(|n| fold(n.as_str())).collect();
        folded.sort();
        folded.dedup();
        IdentityNames(folded)
    }

    /// Removes every header that any route's identity header could be read
    /// as, so that no route (`auth = "none"` included) forwards a forged one.
    pub fn remove_spellings(&self, headers: &mut HeaderMap) {
        if self.0.is_empty() {
            return;
        }
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|name| self.0.iter().any(|id| same_cgi_name(id, name.as_str())))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
    }
}

/// Lower case with `_` read as `-`.
fn fold(name: &str) -> String {
    name.bytes()
        .map(|b| {
            char::from(if b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            })
        })
        .collect()
}

/// `folded` (see [`fold`]) and `name` are one CGI variable.
fn same_cgi_name(folded: &str, name: &str) -> bool {
    folded.len() == name.len()
        && folded.bytes().zip(name.bytes()).all(|(f, b)| {
            let b = if b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            };
            f == b
        })
}

/// Whether `peer` is one of the configured trusted proxies.
pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&peer))
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Sets `X-Forwarded-For/Proto/Host`. From a trusted proxy the incoming chain
/// is extended and its proto/host are kept; from anyone else every
/// forwarding header is replaced, so a client cannot forge its origin.
///
/// `peer` is the peer's address as a header value ([`peer_value`]).
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    trusted: bool,
    proto: &str,
    host: Option<&str>,
) {
    let prior_xff = if trusted {
        let parts: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    } else {
        for name in [
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &X_FORWARDED_PORT,
            &FORWARDED,
        ] {
            headers.remove(name);
        }
        None
    };
    let xff = match prior_xff {
        Some(prior) => {
            HeaderValue::from_str(&format!("{prior}, {}", peer.to_str().unwrap_or_default())).ok()
        }
        None => Some(peer.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(scheme_value(proto)),
        );
    }
    if !headers.contains_key(&X_FORWARDED_HOST) {
        if let Some(v) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(X_FORWARDED_HOST.clone(), v);
        }
    }
}

/// An address as an `X-Forwarded-For` element.
pub fn peer_value(ip: IpAddr) -> HeaderValue {
    // An address's text is ASCII digits, dots, colons and hex: always a valid value.
    HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The last (nearest hop's) value of a possibly repeated, comma-separated field.
pub fn last_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
}

fn scheme_value(proto: &str) -> &'static str {
    if proto == "https" {
        "https"
    } else {
        "http"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn connection_listed_fields_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X-Secret, bogus header"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("yes"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn each_hop_by_hop_field_alone_is_removed_and_others_are_kept() {
        for name in HOP_BY_HOP {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), HeaderValue::from_static("x"));
            h.insert("x-kept", HeaderValue::from_static("yes"));
            remove_hop_by_hop(&mut h);
            assert_eq!(h.len(), 1, "{name}");
            assert_eq!(h["x-kept"], "yes");
        }
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("yes"));
        h.append("x-kept", HeaderValue::from_static("again"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.get_all("x-kept").iter().count(), 2);
    }

    #[test]
    fn every_spelling_of_an_identity_header_is_removed() {
        let names = [
            HeaderName::from_static("x-remote-user"),
            HeaderName::from_static("x_auth_scope"),
            HeaderName::from_static("x-remote-user"),
        ];
        let ids = IdentityNames::new(&names);
        assert_eq!(ids.0, ["x-auth-scope", "x-remote-user"]);
        let mut h = HeaderMap::new();
        for name in [
            "x-remote-user",
            "x_remote_user",
            "x-remote_user",
            "x-auth-scope",
            "x_auth_scope",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("admin"),
            );
        }
        h.append("x-remote-user", HeaderValue::from_static("second"));
        for kept in ["x-remote-users", "x-remote", "remote-user", "x-auth-scopes"] {
            h.insert(
                HeaderName::from_bytes(kept.as_bytes()).unwrap(),
                HeaderValue::from_static("kept"),
            );
        }
        ids.remove_spellings(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            ["remote-user", "x-auth-scopes", "x-remote", "x-remote-users"]
        );
        IdentityNames::default().remove_spellings(&mut h);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn untrusted_forwarding_headers_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil"));
        h.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
        set_forwarded(
            &mut h,
            &peer_value("127.0.0.1".parse().unwrap()),
            false,
            "https",
            Some("api:8443"),
        );
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api:8443");
        assert!(!h.contains_key("forwarded"));
    }

    #[test]
    fn trusted_chain_is_extended() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        set_forwarded(
            &mut h,
            &peer_value("10.0.0.9".parse().unwrap()),
            true,
            "http",
            Some("internal"),
        );
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "internal");
    }

    #[test]
    fn trust_matches_cidrs_and_mapped_v4() {
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(is_trusted("10.1.2.3".parse().unwrap(), &nets));
        assert!(is_trusted("::ffff:10.1.2.3".parse().unwrap(), &nets));
        assert!(!is_trusted("11.1.2.3".parse().unwrap(), &nets));
    }
}
