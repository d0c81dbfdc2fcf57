//! The request target: the one reading of a request's host and path that
//! every later decision uses (routing, `htu`, `X-Forwarded-Host`, the path
//! the upstream receives). Pure and allocation-light; it runs before routing.
//!
//! An auth gateway must assume its upstream is lenient, so a request whose
//! host or path another reader could resolve differently is refused (400),
//! never rewritten: see [`path`] for the path rules and [`host`] for the host
//! rules. Where the host comes from (interface "Hosts", RFC 9112 §3.2,
//! RFC 9113 §8.3.1):
//!
//! - HTTP/1.1: exactly one valid `Host` line is required, also with an
//!   absolute-form target, whose authority then decides (RFC 9112 §3.2.2);
//!   a `Host` that names another origin than that authority is refused, as
//!   a reader that ignores the absolute form (many do) would route by it.
//! - HTTP/1.0: the absolute-form authority, else `Host` if sent (at most one);
//!   both sent must agree.
//! - HTTP/2: `:authority`, else `Host`; one of them is required, and a `Host`
//!   that names another origin than `:authority` is refused.

pub mod host;
pub mod path;

use http::header::HOST;
use http::{HeaderMap, Uri, Version};

pub use host::{Host, HostError};
pub use path::{canonical_path, normalise_escapes, PathError};

/// Why a request target was refused (client error, 400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("request has no Host")]
    MissingHost,
    #[error("request has more than one Host")]
    DuplicateHost,
    #[error("Host disagrees with :authority")]
    HostMismatch,
    #[error("Host disagrees with the absolute-form target")]
    AbsoluteFormMismatch,
}

impl TargetError {
    /// The short, stable reason given to the client.
    pub fn description(self) -> &'static str {
        match self {
            TargetError::Path(e) => e.description(),
            TargetError::Host(e) => e.description(),
            TargetError::MissingHost => "request has no Host",
            TargetError::DuplicateHost => "request has more than one Host",
            TargetError::HostMismatch => "Host disagrees with :authority",
            TargetError::AbsoluteFormMismatch => "Host disagrees with the absolute-form target",
        }
    }
}

/// A request's host and path in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    /// `None` only for an HTTP/1.0 request that named no host.
    pub host: Option<Host>,
    /// The canonical path (see [`path`]): what routing matches, what `htu`
    /// is compared with, and what the upstream receives.
    pub path: String,
}

impl RequestTarget {
    /// Reads the target of a request. `default_port` is that of the scheme the
    /// client used (443 for https), to compare `Host` with `:authority`.
    pub fn read(
        version: Version,
        uri: &Uri,
        headers: &HeaderMap,
        default_port: u16,
    ) -> Result<RequestTarget, TargetError> {
        let path = canonical_path(uri.path())?.into_owned();
        let host = read_host(version, uri, headers, default_port)?;
        Ok(RequestTarget { host, path })
    }
}

fn read_host(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
    default_port: u16,
) -> Result<Option<Host>, TargetError> {
    let mut lines = headers.get_all(HOST).iter();
    let header = lines.next();
    if lines.next().is_some() {
        return Err(TargetError::DuplicateHost);
    }
    let header = header
        .map(|v| Host::parse(v.to_str().map_err(|_| HostError::InvalidName)?))
        .transpose()?;
    let authority = uri
        .authority()
        .map(|a| Host::parse(a.as_str()))
        .transpose()?;
    match version {
        Version::HTTP_2 | Version::HTTP_3 => match (authority, header) {
            (Some(a), Some(h)) if !a.same_origin(&h, default_port) => {
                Err(TargetError::HostMismatch)
            }
            (Some(a), _) => Ok(Some(a)),
            (None, Some(h)) => Ok(Some(h)),
            (None, None) => Err(TargetError::MissingHost),
        },
        _ => match (authority, header) {
            (_, None) if version == Version::HTTP_11 => Err(TargetError::MissingHost),
            (Some(a), Some(h)) if !a.same_origin(&h, default_port) => {
                Err(TargetError::AbsoluteFormMismatch)
            }
            (Some(a), _) => Ok(Some(a)),
            (None, h) => Ok(h),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use http::HeaderValue;

    fn read(version: Version, uri: &str, hosts: &[&str]) -> Result<RequestTarget, TargetError> {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(HOST, HeaderValue::from_str(v).unwrap());
        }
        RequestTarget::read(version, &uri.parse().unwrap(), &h, 443)
    }

    fn host_of(t: Result<RequestTarget, TargetError>) -> Option<String> {
        t.unwrap().host.map(|h| h.to_string())
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        use TargetError::*;
        let v = Version::HTTP_11;
        assert_eq!(
            host_of(read(v, "/x", &["API.example."])),
            Some("api.example".into())
        );
        assert_eq!(read(v, "/x", &[]), Err(MissingHost));
        assert_eq!(read(v, "/x", &["a", "a"]), Err(DuplicateHost));
        assert_eq!(read(v, "/x", &["a", "b"]), Err(DuplicateHost));
        assert_eq!(
            read(v, "/x", &["user@admin"]),
            Err(Host(HostError::UserInfo))
        );
        // Absolute form: its authority decides, Host must still be there,
        // valid, and name the same origin.
        assert_eq!(
            host_of(read(
                v,
                "https://Admin.internal:8443/x",
                &["admin.internal.:8443"]
            )),
            Some("admin.internal:8443".into())
        );
        assert_eq!(
            read(v, "https://admin.internal/x", &["public.example"]),
            Err(AbsoluteFormMismatch)
        );
        assert_eq!(
            read(v, "https://admin.internal:8443/x", &["admin.internal"]),
            Err(AbsoluteFormMismatch)
        );
        assert_eq!(read(v, "https://admin.internal/x", &[]), Err(MissingHost));
        assert_eq!(
            read(v, "https://admin.internal/x", &["a%b"]),
            Err(Host(HostError::InvalidName))
        );
    }

    #[test]
    fn http10_host_is_optional() {
        assert_eq!(host_of(read(Version::HTTP_10, "/x", &[])), None);
        assert_eq!(
            host_of(read(Version::HTTP_10, "/x", &["a"])),
            Some("a".into())
        );
        assert_eq!(
            read(Version::HTTP_10, "/x", &["a", "a"]),
            Err(TargetError::DuplicateHost)
        );
        assert_eq!(
            host_of(read(Version::HTTP_10, "http://a/x", &[])),
            Some("a".into())
        );
        assert_eq!(
            read(Version::HTTP_10, "http://a/x", &["b"]),
            Err(TargetError::AbsoluteFormMismatch)
        );
    }

    #[test]
    fn http2_authority_and_host_must_agree() {
        let v = Version::HTTP_2;
        let uri = "https://api.example/x";
        assert_eq!(host_of(read(v, uri, &[])), Some("api.example".into()));
        assert_eq!(
            host_of(read(v, uri, &["API.example.:443"])),
            Some("api.example".into())
        );
        assert_eq!(
            read(v, uri, &["admin.example"]),
            Err(TargetError::HostMismatch)
        );
        assert_eq!(
            read(v, uri, &["api.example:8443"]),
            Err(TargetError::HostMismatch)
        );
        assert_eq!(
            host_of(read(v, "/x", &["b.example"])),
            Some("b.example".into())
        );
        assert_eq!(read(v, "/x", &[]), Err(TargetError::MissingHost));
    }

    #[test]
    fn path_errors_come_first() {
        assert_eq!(
            read(Version::HTTP_11, "//api/x", &["a"]),
            Err(TargetError::Path(PathError::EmptySegment))
        );
        assert_eq!(
            read(Version::HTTP_11, "/%61pi", &["a"]).unwrap().path,
            "/api"
        );
    }
}
