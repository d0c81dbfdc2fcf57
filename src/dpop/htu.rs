//! The `htu` claim and the request URI it must match (RFC 9449 §4.2, §4.3 item 9).
//!
//! Both sides are normalised the same way before a byte comparison (rfc9449-checks §3), using
//! RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based normalisation, as §4.3 recommends:
//!
//! 1. ASCII only; no spaces or control characters. The scheme is `http` or `https`
//!    (compared case-insensitively) and an authority is required: relative references and
//!    other schemes are rejected. Userinfo (`user@`) is rejected (policy).
//! 2. The query and the fragment are dropped (§4.2: "without query and fragment parts").
//! 3. Scheme and host are lower-cased, and one trailing dot of the host is removed (the same
//!    DNS name); `%xx` hex digits are upper-cased (§6.2.2.1).
//! 4. `%xx` is decoded only for unreserved characters `A-Z a-z 0-9 - . _ ~` (§6.2.2.2), so
//!    `%2F` ≠ `/` and `%40` ≠ `@`. Invalid escapes are rejected.
//! 5. Dot segments are removed (§6.2.2.3, RFC 3986 §5.2.4).
//! 6. An empty path becomes `/`; a default (`:443`, `:80`) or empty port is removed (§6.2.3).
//!    Other ports must be 1..=65535 and are written without leading zeros.
//! 7. Everything else is kept byte for byte: path case, trailing slashes, double slashes.
//!
//! IPv6 literals (`[::1]`) are kept, lower-cased. Path characters other than the delimiters
//! are kept as received (some clients send `|` or `{` raw), so the claim and the request line
//! compare equal exactly when they were sent the same way.

use std::fmt;

/// Why a URI could not be used as an `htu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HtuError {
    /// Non-ASCII, whitespace or control characters.
    #[error("URI contains non-ASCII, whitespace or control characters")]
    InvalidCharacter,
    /// No scheme and authority (a relative reference).
    #[error("URI is not absolute")]
    NotAbsolute,
    /// The scheme is not http or https.
    #[error("URI scheme is not http or https")]
    UnsupportedScheme,
    /// `user@` in the authority.
    #[error("URI has userinfo")]
    UserInfo,
    /// The host is empty or malformed.
    #[error("URI host is empty or malformed")]
    InvalidHost,
    /// The port is not a number in 1..=65535.
    #[error("URI port is invalid")]
    InvalidPort,
    /// A `%` is not followed by two hex digits.
    #[error("URI has an invalid percent-encoding")]
    InvalidPercentEncoding,
    /// The request path does not start with `/`.
    #[error("request path is not absolute")]
    PathNotAbsolute,
}

/// A normalised absolute `http(s)` URI without query or fragment. Equality is byte equality
/// of the normalised form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Htu(String);

impl Htu {
    /// Parses and normalises an `htu` claim value (or any absolute http(s) URI).
    pub fn parse(uri: &str) -> Result<Htu, HtuError> {
        if !uri.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HtuError::InvalidCharacter);
        }
        // Step 2: drop the fragment, then the query.
        let uri = uri.split('#').next().unwrap_or_default();
        let uri = uri.split('?').next().unwrap_or_default();

        let (scheme, rest) = uri.split_once("://").ok_or(HtuError::NotAbsolute)?;
        if !is_scheme(scheme) {
            return Err(HtuError::NotAbsolute);
        }
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(HtuError::UnsupportedScheme),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let authority = normalise_authority(authority, default_port)?;
        let path = remove_dot_segments(&normalise_percent(path, false)?);
        let path = if path.is_empty() { "/" } else { &path };
        Ok(Htu(format!("{scheme}://{authority}{path}")))
    }

    /// Builds the expected `htu` of a request from the client-visible scheme and authority
    /// (e.g. `https` and the `Host` header or the configured public URL) and the request path
    /// as received on the wire (origin-form, RFC 9112 §3.2.1; a query is dropped).
    pub fn from_origin_and_path(
        scheme: &str,
        authority: &str,
        path: &str,
    ) -> Result<Htu, HtuError> {
        if !path.starts_with('/') {
            return Err(HtuError::PathNotAbsolute);
        }
        if authority.contains(['/', '?', '#']) {
            return Err(HtuError::InvalidHost);
        }
        Htu::parse(&format!("{scheme}://{authority}{path}"))
    }

    /// The normalised URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Htu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Htu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Htu({})", self.0)
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Lower-cased host, then `:port` unless it is empty or the default.
fn normalise_authority(authority: &str, default_port: u16) -> Result<String, HtuError> {
    if authority.contains('@') {
        return Err(HtuError::UserInfo);
    }
    let (host, port) = if let Some(literal) = authority.strip_prefix('[') {
        // IP-literal (RFC 3986 §3.2.2); IPvFuture and zone IDs are not supported.
        let (inside, after) = literal.split_once(']').ok_or(HtuError::InvalidHost)?;
        let valid = !inside.is_empty()
            && inside.contains(':')
            && inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(HtuError::InvalidHost);
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(HtuError::InvalidHost)?),
        };
        (format!("[{}]", inside.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b));
        if host.is_empty() || !valid {
            return Err(HtuError::InvalidHost);
        }
        // One trailing dot names the same host (interface "Hosts"), after
        // decoding (`%2E` is a dot); an empty label (`a..b`, `a..`) is no
        // host, so that the normal form is a fixed point.
        let decoded = normalise_percent(host, true)?;
        let host = decoded
            .strip_suffix('.')
            .filter(|h| !h.is_empty())
            .unwrap_or(&decoded);
        if host.split('.').any(str::is_empty) {
            return Err(HtuError::InvalidHost);
        }
        (host.to_owned(), port)
    };
    match port {
        None | Some("") => Ok(host),
        Some(digits) => {
            let number = if digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits.parse::<u16>().ok()
            } else {
                None
            };
            match number {
                Some(n) if n == default_port => Ok(host),
                Some(n) if n > 0 => Ok(format!("{host}:{n}")),
                _ => Err(HtuError::InvalidPort),
            }
        }
    }
}

/// RFC 3986 §6.2.2.1–2, by the same function that reads request paths
/// ([`crate::target::normalise_escapes`]), so `htu` and routing agree.
fn normalise_percent(text: &str, lower: bool) -> Result<String, HtuError> {
    crate::target::normalise_escapes(text, lower)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| HtuError::InvalidPercentEncoding)
}

/// RFC 3986 §5.2.4 `remove_dot_segments`.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest; // A
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest; // A
        } else if input.starts_with("/./") {
            input = &input[2..]; // B: "/./x" → "/x"
        } else if input == "/." {
            input = "/"; // B
        } else if input.starts_with("/../") {
            input = &input[3..]; // C: "/../x" → "/x"
            pop_segment(&mut output);
        } else if input == "/.." {
            input = "/"; // C
            pop_segment(&mut output);
        } else if input == "." || input == ".." {
            input = ""; // D
        } else {
            // E: move the first segment, with its leading "/", to the output.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// Removes the last segment and its preceding `/` (if any) from `output`.
fn pop_segment(output: &mut String) {
    let cut = output.rfind('/').unwrap_or(0);
    output.truncate(cut);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const RESOURCE: &str = "https://resource.example.org/protectedresource";

    fn norm(uri: &str) -> String {
        Htu::parse(uri).unwrap().as_str().to_owned()
    }

    #[test]
    fn must_accept_cases_p4_to_p8() {
        let expected = Htu::parse(RESOURCE).unwrap();
        for same in [
            // P4: query and fragment are ignored on either side.
            "https://resource.example.org/protectedresource?query=1#frag",
            "https://resource.example.org/protectedresource#frag",
            "https://resource.example.org/protectedresource?",
            // P5: scheme and host case.
            "HTTPS://RESOURCE.EXAMPLE.ORG/protectedresource",
            "hTTps://Resource.Example.Org/protectedresource",
            // P6: explicit default port, empty port.
            "https://resource.example.org:443/protectedresource",
            "https://resource.example.org:/protectedresource",
            // Unreserved characters percent-encoded.
            "https://resource.example.org/%70rotectedresource",
            "https://resource.example.org/a/../protectedresource",
            "https://resource.example.org/./protectedresource",
        ] {
            assert_eq!(Htu::parse(same).unwrap(), expected, "{same}");
        }
        let wire =
            Htu::from_origin_and_path("https", "resource.example.org", "/protectedresource?x=1")
                .unwrap();
        assert_eq!(wire, expected);
        // P7: %7E / %7e / ~ are one; %2f and %2F differ only in hex case.
        assert_eq!(
            norm("https://rs.example/%7Euser"),
            "https://rs.example/~user"
        );
        assert_eq!(
            norm("https://rs.example/%7euser"),
            "https://rs.example/~user"
        );
        assert_eq!(norm("https://rs.example/a%2fb"), "https://rs.example/a%2Fb");
        assert_eq!(
            norm("https://rs.example/a%2Fb"),
            norm("https://rs.example/a%2fb")
        );
        // P8: an empty path is "/".
        for same in [
            "https://rs.example",
            "https://rs.example/",
            "https://rs.example:/",
            "https://rs.example:443/",
            "https://rs.example?x",
        ] {
            assert_eq!(norm(same), "https://rs.example/", "{same}");
        }
        assert_eq!(norm("http://rs.example:80"), "http://rs.example/");
        assert_eq!(norm("http://rs.example:8080/a"), "http://rs.example:8080/a");
        assert_eq!(
            norm("https://rs.example:08443/a"),
            "https://rs.example:8443/a"
        );
        assert_eq!(norm("https://[::1]:8443/a"), "https://[::1]:8443/a");
        assert_eq!(norm("https://[FE80::1]/a"), "https://[fe80::1]/a");
        assert_eq!(norm("https://[::1]:443"), "https://[::1]/");
        assert_eq!(norm("https://127.0.0.1/a"), "https://127.0.0.1/a");
        assert_eq!(norm("https://ex%41mple.com/"), "https://example.com/");
        // One trailing dot is the same host, as for routing.
        assert_eq!(norm("https://RS.example.:443/a"), "https://rs.example/a");
        assert_eq!(norm("https://ex%2fmple.com/"), "https://ex%2Fmple.com/");
        assert_eq!(norm("https://rs.example%2E/a"), "https://rs.example/a");
    }

    /// Found by the htu_routing fuzz target: `example..` normalised to
    /// `example.`, which normalised again to `example`.
    #[test]
    fn empty_host_labels_are_refused_so_normalising_is_idempotent() {
        for bad in [
            "HTTPS://Server.Example../euEsr/./b/../c?q#f",
            "https://a..b/",
            "https://.a/",
            "https://./",
            "https://a.%2E/",
        ] {
            assert!(Htu::parse(bad).is_err(), "{bad}");
        }
        for ok in ["https://Server.Example./x", "https://a.b.c:8443/./y"] {
            let once = Htu::parse(ok).unwrap();
            assert_eq!(Htu::parse(once.as_str()).unwrap(), once, "{ok}");
        }
    }

    #[test]
    fn negative_cases_46_to_52() {
        let expected = Htu::parse(RESOURCE).unwrap();
        // 46: relative or unparsable.
        for bad in [
            "/protectedresource",
            "resource.example.org/protectedresource",
            "//resource.example.org/protectedresource",
            "https:/resource.example.org/protectedresource",
            "https:resource.example.org",
            "",
            "https://",
            "https:///path",
            "1https://resource.example.org/",
        ] {
            assert!(Htu::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Htu::parse("ftp://rs.example/"),
            Err(HtuError::UnsupportedScheme)
        );
        assert_eq!(
            Htu::parse("wss://rs.example/"),
            Err(HtuError::UnsupportedScheme)
        );
        // 47, 48, 49, 50: well-formed but different.
        for different in [
            "https://resource.example.org/protectedresourceohnonotagain",
            "https://other.example.org/protectedresource",
            "http://resource.example.org/protectedresource",
            "https://resource.example.org:8443/protectedresource",
            "https://resource.example.org/protectedresource/",
            "https://resource.example.org/ProtectedResource",
            "https://resource.example.org//protectedresource",
            "https://resource.example.org/protected%2Fresource",
            "https://resource.example.org/protectedresource%2F",
        ] {
            assert_ne!(Htu::parse(different).unwrap(), expected, "{different}");
        }
        assert_ne!(
            norm("https://rs.example/a%40b"),
            norm("https://rs.example/a@b")
        );
        assert_ne!(
            norm("https://rs.example/a%3Ab"),
            norm("https://rs.example/a:b")
        );
        // 51: userinfo.
        assert_eq!(
            Htu::parse("https://u@resource.example.org/protectedresource"),
            Err(HtuError::UserInfo)
        );
        assert_eq!(
            Htu::parse("https://u:p@resource.example.org/"),
            Err(HtuError::UserInfo)
        );
        // 52: the upstream URL after a rewrite is a different URI.
        let public = Htu::from_origin_and_path("https", "api.example.com", "/orders/1").unwrap();
        assert_ne!(Htu::parse("http://127.0.0.1:8080/1").unwrap(), public);
        assert_ne!(Htu::parse("https://api.example.com/1").unwrap(), public);
    }

    #[test]
    fn rejects_malformed_input() {
        for (bad, err) in [
            ("https://rs.example/a b", HtuError::InvalidCharacter),
            ("https://rs.example/a\tb", HtuError::InvalidCharacter),
            ("https://rs.example/a\u{7f}", HtuError::InvalidCharacter),
            ("https://rs.example/é", HtuError::InvalidCharacter),
            (" https://rs.example/", HtuError::InvalidCharacter),
            ("https://rs.example/%", HtuError::InvalidPercentEncoding),
            ("https://rs.example/%4", HtuError::InvalidPercentEncoding),
            ("https://rs.example/%zz", HtuError::InvalidPercentEncoding),
            ("https://rs.example:0/", HtuError::InvalidPort),
            ("https://rs.example:65536/", HtuError::InvalidPort),
            ("https://rs.example:443443/", HtuError::InvalidPort),
            ("https://rs.example:-1/", HtuError::InvalidPort),
            ("https://rs.example:x/", HtuError::InvalidPort),
            ("https://rs.example:1:2/", HtuError::InvalidPort),
            ("https://[::1/", HtuError::InvalidHost),
            ("https://[]/", HtuError::InvalidHost),
            ("https://[v1.x]/", HtuError::InvalidHost),
            ("https://[::1]x/", HtuError::InvalidHost),
            ("https://rs\"example/", HtuError::InvalidHost),
            ("https://:443/", HtuError::InvalidHost),
        ] {
            assert_eq!(Htu::parse(bad), Err(err), "{bad}");
        }
        assert_eq!(
            Htu::from_origin_and_path("https", "rs.example", "*"),
            Err(HtuError::PathNotAbsolute)
        );
        assert_eq!(
            Htu::from_origin_and_path("https", "rs.example/x", "/"),
            Err(HtuError::InvalidHost)
        );
    }

    #[test]
    fn removes_dot_segments_like_rfc3986() {
        // RFC 3986 §5.2.4 examples and §5.4 results, applied to paths.
        for (input, output) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("mid/content=5/../6", "mid/6"),
            ("/../a", "/a"),
            ("/a/..", "/"),
            ("/a/../..", "/"),
            ("/a/.", "/a/"),
            ("/a/./b/", "/a/b/"),
            ("/a/b/../../../c", "/c"),
            ("/a/..b/c.", "/a/..b/c."),
            ("/.../a", "/.../a"),
            ("//a/../b", "//b"),
            ("", ""),
        ] {
            assert_eq!(remove_dot_segments(input), output, "{input}");
        }
        // Encoded dots are decoded first (unreserved), then removed.
        assert_eq!(
            norm("https://rs.example/a/%2E%2E/b"),
            "https://rs.example/b"
        );
    }
}
