//! The request host, read once (interface "Hosts").
//!
//! A host is valid when it is a reg-name of letters, digits, `-`, `.`, `_`
//! and `~` (RFC 3986 §3.2.2, without percent-escapes and sub-delimiters,
//! which no DNS name has) or an IPv6 literal in brackets, optionally followed
//! by `:` and a port of 1 to 5 digits (1–65535). Userinfo (`user@`), a `%`,
//! an empty or non-numeric port, and empty labels (`a..b`, `.a`) are refused.
//!
//! Canonical form: lower case, one trailing dot removed (`Admin.Example.` is
//! `admin.example`: the same DNS name), IPv6 in its compressed form. Routing,
//! `htu`, `X-Forwarded-Host` and the metadata URL all read this form.

use std::fmt;
use std::net::Ipv6Addr;

/// Why a `Host` / `:authority` value was refused (client error, 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("Host has userinfo")]
    UserInfo,
    #[error("Host is empty or has characters outside a host name")]
    InvalidName,
    #[error("Host port is not a number from 1 to 65535")]
    InvalidPort,
}

impl HostError {
    /// The short, stable reason given to the client.
    pub fn description(self) -> &'static str {
        match self {
            HostError::UserInfo => "Host has userinfo",
            HostError::InvalidName => "Host is empty or has characters outside a host name",
            HostError::InvalidPort => "Host port is not a number from 1 to 65535",
        }
    }
}

/// A validated host in canonical form, with the port as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    name: String,
    port: Option<u16>,
}

impl Host {
    /// Parses a `Host` header or an authority (`host[:port]`).
    pub fn parse(value: &str) -> Result<Host, HostError> {
        if value.contains('@') {
            return Err(HostError::UserInfo);
        }
        let (name, port) = if let Some(literal) = value.strip_prefix('[') {
            let (inside, after) = literal.split_once(']').ok_or(HostError::InvalidName)?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| HostError::InvalidName)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(HostError::InvalidName)?),
            };
            (format!("[{ip}]"), port)
        } else {
            let (name, port) = match value.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (value, None),
            };
            (canonical_name(name)?, port)
        };
        let port = port.map(parse_port).transpose()?;
        Ok(Host { name, port })
    }

    /// The canonical host name, without port (IPv6 in brackets).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port, if the request named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether two hosts name the same origin for `scheme`: same name, and
    /// the same port once a missing one is read as the scheme's default.
    pub fn same_origin(&self, other: &Host, default_port: u16) -> bool {
        self.name == other.name
            && self.port.unwrap_or(default_port) == other.port.unwrap_or(default_port)
    }
}

/// `name[:port]`, canonical.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Lower case, one trailing dot removed; refuses anything that is not a
/// plain DNS-style name.
pub fn canonical_name(name: &str) -> Result<String, HostError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.split('.').all(|label| !label.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return Err(HostError::InvalidName);
    }
    Ok(name.to_ascii_lowercase())
}

fn parse_port(digits: &str) -> Result<u16, HostError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::InvalidPort);
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(HostError::InvalidPort),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("api.example.com", "api.example.com", None),
            ("API.Example.COM", "api.example.com", None),
            ("api.example.com.", "api.example.com", None),
            ("api.example.com.:8443", "api.example.com", Some(8443)),
            ("Admin.Internal:443", "admin.internal", Some(443)),
            ("127.0.0.1:8080", "127.0.0.1", Some(8080)),
            ("[::1]", "[::1]", None),
            ("[0:0::1]:8443", "[::1]", Some(8443)),
            ("[FE80::A]", "[fe80::a]", None),
            ("svc_a.ns.svc", "svc_a.ns.svc", None),
            ("localhost", "localhost", None),
        ];
        for (raw, name, port) in cases {
            let h = Host::parse(raw).unwrap();
            assert_eq!((h.name(), h.port()), (name, port), "{raw}");
        }
        assert_eq!(
            Host::parse("A.example.:8443").unwrap().to_string(),
            "a.example:8443"
        );
    }

    #[test]
    fn invalid_hosts() {
        use HostError::*;
        let cases = [
            ("", InvalidName),
            (".", InvalidName),
            ("a..b", InvalidName),
            (".a", InvalidName),
            ("a.example..", InvalidName),
            ("user@admin.internal", UserInfo),
            ("@admin.internal", UserInfo),
            ("admin%2einternal", InvalidName),
            ("admin internal", InvalidName),
            ("admin,internal", InvalidName),
            ("admin;x", InvalidName),
            ("a/b", InvalidName),
            ("a\\b", InvalidName),
            ("admin.internal:", InvalidPort),
            ("admin.internal:http", InvalidPort),
            ("admin.internal:80x", InvalidPort),
            ("admin.internal:+80", InvalidPort),
            ("admin.internal:0", InvalidPort),
            ("admin.internal:65536", InvalidPort),
            ("admin.internal:000080", InvalidPort),
            ("a:1:2", InvalidPort),
            ("[::1", InvalidName),
            ("[not-ip]", InvalidName),
            ("[::1%25eth0]", InvalidName),
            ("[::1]x", InvalidName),
            ("[::1]:", InvalidPort),
            ("caf\u{e9}.example", InvalidName),
        ];
        for (raw, want) in cases {
            assert_eq!(Host::parse(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn origins_compare_with_default_ports() {
        let a = Host::parse("api.example").unwrap();
        let b = Host::parse("API.example.:443").unwrap();
        let c = Host::parse("api.example:8443").unwrap();
        assert!(a.same_origin(&b, 443));
        assert!(!a.same_origin(&b, 80));
        assert!(!a.same_origin(&c, 443));
    }
}
