//! The request path, read once (interface "Request paths").
//!
//! The gateway decides on a path and an upstream acts on it, so both must read
//! it the same way. The upstream is assumed lenient: it may merge slashes
//! (nginx, Go), strip `;` parameters (servlet containers), decode `%2F` or
//! decode twice (WSGI and others), treat `\` as `/`, drop trailing dots and
//! spaces (IIS), or turn fullwidth forms into ASCII. So every path that such a
//! reader could resolve differently from the gateway is refused, never
//! rewritten:
//!
//! | refused | error |
//! |---|---|
//! | not starting with `/` (`*`, authority-form) | [`PathError::NotAbsolute`] |
//! | `%` not followed by two hex digits | [`PathError::BadEscape`] |
//! | raw `\`, or `%5C` | [`PathError::Backslash`] |
//! | `%2F` | [`PathError::EncodedSlash`] |
//! | raw `;`, or `%3B` | [`PathError::Semicolon`] |
//! | `%3F`, `%23` (an encoded `?` or `#` ends the path for a decoding reader) | [`PathError::EncodedDelimiter`] |
//! | `%25` followed by two hex digits (a double-encoded escape) | [`PathError::DoubleEncoded`] |
//! | a raw or encoded control character (`%00`–`%1F`, `%7F`) | [`PathError::Control`] |
//! | a raw byte outside ASCII, encoded bytes that are not UTF-8 (overlong `%C0%AF`), or an encoded fullwidth form (U+FF01–U+FF5E) | [`PathError::NonAscii`] |
//! | an empty segment (`//`; a trailing `/` is fine) | [`PathError::EmptySegment`] |
//! | a `.` or `..` segment, also as `%2e` | [`PathError::DotSegment`] |
//! | a segment ending in `.` or a space (also `%20`) | [`PathError::TrailingDotOrSpace`] |
//!
//! The checks run after escapes of unreserved characters are decoded
//! (RFC 3986 §6.2.2.2, `%61` → `a`, `%2e` → `.`): that decoded form is the
//! canonical path. Routing matches on it, the `htu` check compares with it,
//! and it is the path the upstream receives.

use std::borrow::Cow;

/// Why a request path was refused. Every variant is a client error (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request path does not start with \"/\"")]
    NotAbsolute,
    #[error("request path has an invalid percent-escape")]
    BadEscape,
    #[error("request path has a backslash")]
    Backslash,
    #[error("request path has an encoded slash")]
    EncodedSlash,
    #[error("request path has a \";\"")]
    Semicolon,
    #[error("request path has an encoded \"?\" or \"#\"")]
    EncodedDelimiter,
    #[error("request path has a double-encoded escape")]
    DoubleEncoded,
    #[error("request path has a control character")]
    Control,
    #[error("request path has characters outside ASCII that are not plain UTF-8")]
    NonAscii,
    #[error("request path has an empty segment")]
    EmptySegment,
    #[error("request path has a dot segment")]
    DotSegment,
    #[error("request path has a segment ending in a dot or a space")]
    TrailingDotOrSpace,
}

impl PathError {
    /// The short, stable reason given to the client.
    pub fn description(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "request path does not start with \"/\"",
            PathError::BadEscape => "request path has an invalid percent-escape",
            PathError::Backslash => "request path has a backslash",
            PathError::EncodedSlash => "request path has an encoded slash",
            PathError::Semicolon => "request path has a \";\"",
            PathError::EncodedDelimiter => "request path has an encoded \"?\" or \"#\"",
            PathError::DoubleEncoded => "request path has a double-encoded escape",
            PathError::Control => "request path has a control character",
            PathError::NonAscii => {
                "request path has characters outside ASCII that are not plain UTF-8"
            }
            PathError::EmptySegment => "request path has an empty segment",
            PathError::DotSegment => "request path has a dot segment",
            PathError::TrailingDotOrSpace => {
                "request path has a segment ending in a dot or a space"
            }
        }
    }
}

/// A `%` not followed by two hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadEscape;

/// RFC 3986 §6.2.2.1–2: every `%xx` with upper-case hex digits, decoded when it
/// is an unreserved character (`A-Z a-z 0-9 - . _ ~`). With `lower`, letters
/// outside escapes are lower-cased too (hosts). Borrowed when nothing changes.
/// The `htu` check and request paths both normalise with this one function.
pub fn normalise_escapes(text: &str, lower: bool) -> Result<Cow<'_, str>, BadEscape> {
    let has_upper = lower && text.bytes().any(|b| b.is_ascii_uppercase());
    if !text.contains('%') && !has_upper {
        return Ok(Cow::Borrowed(text));
    }
    let case = |c: char| if lower { c.to_ascii_lowercase() } else { c };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(case(c));
            continue;
        }
        let (Some(hi), Some(lo)) = (chars.next(), chars.next()) else {
            return Err(BadEscape);
        };
        let (Some(h), Some(l)) = (hi.to_digit(16), lo.to_digit(16)) else {
            return Err(BadEscape);
        };
        let decoded = u8::try_from(h << 4 | l).map_err(|_| BadEscape)?;
        if is_unreserved(decoded) {
            out.push(case(char::from(decoded)));
        } else {
            out.push('%');
            out.push(hi.to_ascii_uppercase());
            out.push(lo.to_ascii_uppercase());
        }
    }
    Ok(Cow::Owned(out))
}

/// The canonical form of a request path (see the module docs), or why it is
/// refused. `raw` is the path as received, without the query.
pub fn canonical_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Raw bytes first: what a decoder never produces.
    for b in raw.bytes() {
        match b {
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::Semicolon),
            0..=0x20 | 0x7f => return Err(PathError::Control),
            0x80.. => return Err(PathError::NonAscii),
            _ => {}
        }
    }
    let path = normalise_escapes(raw, false).map_err(|BadEscape| PathError::BadEscape)?;
    check_escapes(path.as_bytes())?;
    check_segments(&path)?;
    Ok(path)
}

/// The escapes that remain after unreserved ones were decoded.
fn check_escapes(path: &[u8]) -> Result<(), PathError> {
    let mut i = 0;
    let mut non_ascii = false;
    while let Some(&b) = path.get(i) {
        if b != b'%' {
            i += 1;
            continue;
        }
        // `normalise_escapes` validated every escape.
        let byte = decode_at(path, i).ok_or(PathError::BadEscape)?;
        match byte {
            b'/' => return Err(PathError::EncodedSlash),
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::Semicolon),
            b'?' | b'#' => return Err(PathError::EncodedDelimiter),
            0..=0x1f | 0x7f => return Err(PathError::Control),
            // `%25` then two hex digits: a second decoding makes a new escape.
            // (An escape after `%25` cannot: an encoded hex digit is
            // unreserved and already decoded, and `%25%25xx` fails here on
            // the second `%25`.)
            b'%' if is_hex_pair(path, i + 3) => return Err(PathError::DoubleEncoded),
            0x80.. => non_ascii = true,
            _ => {}
        }
        i += 3;
    }
    if non_ascii {
        check_utf8(path)?;
    }
    Ok(())
}

/// Encoded non-ASCII bytes must be UTF-8 (no overlong `/`), and not a
/// fullwidth form that best-fit or NFKC readers map back to ASCII.
fn check_utf8(path: &[u8]) -> Result<(), PathError> {
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        match (b, decode_at(path, i)) {
            (b'%', Some(d)) => {
                decoded.push(d);
                i += 3;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let text = std::str::from_utf8(&decoded).map_err(|_| PathError::NonAscii)?;
    if text.chars().any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c)) {
        return Err(PathError::NonAscii);
    }
    Ok(())
}

fn check_segments(path: &str) -> Result<(), PathError> {
    // Skip the leading "/"; a trailing "/" leaves one empty last segment.
    let rest = path.get(1..).unwrap_or("");
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return if path.len() <= 1 {
            Ok(())
        } else {
            Err(PathError::EmptySegment) // "//"
        };
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(PathError::DotSegment);
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(PathError::TrailingDotOrSpace);
        }
    }
    Ok(())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_hex_pair(bytes: &[u8], at: usize) -> bool {
    let is_hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
    is_hex(at) && is_hex(at + 1)
}

/// The byte of the escape `%xx` at `at`, if there is one.
fn decode_at(bytes: &[u8], at: usize) -> Option<u8> {
    if bytes.get(at) != Some(&b'%') || !is_hex_pair(bytes, at + 1) {
        return None;
    }
    let digit = |j: usize| {
        let d = char::from(*bytes.get(j)?).to_digit(16)?;
        u8::try_from(d).ok()
    };
    Some(digit(at + 1)? << 4 | digit(at + 2)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn ordinary_paths_are_kept() {
        for path in [
            "/",
            "/api",
            "/api/",
            "/api/v1.0/items",
            "/.well-known/oauth-protected-resource",
            "/a-b_c~d/e.json",
            "/a%40b",
            "/files/100%25",
            "/files/100%25x",
            "/caf%C3%A9",
            "/a%20b",
            "/a,b=c&d",
        ] {
            assert_eq!(canonical_path(path).unwrap(), path, "{path}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_hex_upper_cased() {
        assert_eq!(canonical_path("/%61pi/%7e/x").unwrap(), "/api/~/x");
        assert_eq!(canonical_path("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canonical_path("/v1%2E0").unwrap(), "/v1.0");
    }

    #[test]
    fn every_listed_form_is_refused() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", NotAbsolute),
            ("*", NotAbsolute),
            ("api", NotAbsolute),
            ("//api/x", EmptySegment),
            ("/api//x", EmptySegment),
            ("///", EmptySegment),
            ("//", EmptySegment),
            ("/./api", DotSegment),
            ("/public/../api/x", DotSegment),
            ("/api/.", DotSegment),
            ("/api/..", DotSegment),
            ("/api/../", DotSegment),
            ("/%2e%2e/api", DotSegment),
            ("/%2E/api", DotSegment),
            ("/.%2e/api", DotSegment),
            ("/api%2Fx", EncodedSlash),
            ("/api%2fx", EncodedSlash),
            ("/public/..%2Fapi/x", EncodedSlash),
            ("/public/%2E%2E%2Fapi/x", EncodedSlash),
            ("/a%5Cb", Backslash),
            ("/a%5cb", Backslash),
            ("/a\\b", Backslash),
            ("/api;a=b/x", Semicolon),
            ("/api;/x", Semicolon),
            ("/public/..;/api", Semicolon),
            ("/api%3Bx", Semicolon),
            ("/api%3bx", Semicolon),
            ("/api%3Fx", EncodedDelimiter),
            ("/api%23x", EncodedDelimiter),
            ("/api%252Fx", DoubleEncoded),
            ("/api%252fx", DoubleEncoded),
            ("/api%25%32%46x", DoubleEncoded),
            ("/api%25%252Fx", DoubleEncoded),
            ("/api%25%25%32%46x", DoubleEncoded),
            ("/a%00b", Control),
            ("/a%09b", Control),
            ("/a%0Ab", Control),
            ("/a%7Fb", Control),
            ("/a\tb", Control),
            ("/a b", Control),
            ("/api./x", TrailingDotOrSpace),
            ("/api%2E/x", TrailingDotOrSpace),
            ("/api.", TrailingDotOrSpace),
            ("/api.../x", TrailingDotOrSpace),
            ("/api%20/x", TrailingDotOrSpace),
            ("/api%20", TrailingDotOrSpace),
            ("/a%zzb", BadEscape),
            ("/a%2", BadEscape),
            ("/a%", BadEscape),
            ("/a%C0%AFb", NonAscii),
            ("/a%FFb", NonAscii),
            ("/api%EF%BC%8Fx", NonAscii),
            ("/caf\u{e9}", NonAscii),
        ];
        for (path, want) in cases {
            assert_eq!(canonical_path(path), Err(*want), "{path:?}");
        }
    }

    #[test]
    fn escapes_normalise_like_rfc3986() {
        assert_eq!(normalise_escapes("/a%2fb", false).unwrap(), "/a%2Fb");
        assert_eq!(normalise_escapes("Ex%41mple", true).unwrap(), "example");
        assert!(matches!(
            normalise_escapes("plain", false).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(normalise_escapes("%4", false), Err(BadEscape));
        assert_eq!(normalise_escapes("%4\u{e9}", false), Err(BadEscape));
        assert_eq!(normalise_escapes("\u{c9}%41", true).unwrap(), "\u{c9}a");
    }
}
