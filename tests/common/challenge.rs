//! A strict parser for `WWW-Authenticate` (RFC 9110 §11.6.1, §11.2):
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! ```
//!
//! Stricter than RFC 9110 where RFC 6750 §3 is: a quoted-string containing a
//! backslash (a quoted-pair) is an error, since `error` and
//! `error_description` may only hold NQSCHAR. Parameters of one challenge
//! must be separated by commas; a token not followed by `=` after a comma
//! starts the next challenge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

/// One challenge: its scheme as sent and its parameters (names lower-cased,
/// values unquoted), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A parameter named twice (RFC 6750 §3: each attribute at most once).
    pub fn duplicate_param(&self) -> Option<&str> {
        self.params.iter().enumerate().find_map(|(i, (n, _))| {
            self.params[..i]
                .iter()
                .any(|(m, _)| m == n)
                .then_some(n.as_str())
        })
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Optional whitespace, then any run of commas, each with the optional
    /// whitespace after it (empty list elements, RFC 9110 §5.6.1).
    fn commas(&mut self) {
        self.ows();
        while self.peek() == Some(b',') {
            self.i += 1;
            self.ows();
        }
    }

    fn token(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a token at offset {start}"));
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated quoted-string at offset {start}")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    return Err(format!(
                        "backslash (quoted-pair) in a quoted-string at offset {}",
                        self.i
                    ))
                }
                Some(c) if c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80 => {
                    out.push(c);
                    self.i += 1;
                }
                Some(c) => return Err(format!("control character {c:#04x} in a quoted-string")),
            }
        }
    }
}

/// Parses a `WWW-Authenticate` value into its challenges.
pub fn parse(value: &str) -> Result<Vec<Challenge>, String> {
    let mut c = Cursor {
        b: value.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        c.commas();
        if c.peek().is_none() {
            break;
        }
        let scheme = c.token()?;
        let mut ch = Challenge {
            scheme,
            params: Vec::new(),
        };
        // After the scheme: end, a comma (next challenge), or 1*SP params.
        let had_space = matches!(c.peek(), Some(b' '));
        c.ows();
        let mut first = true;
        loop {
            match c.peek() {
                None => break,
                Some(b',') => {
                    c.i += 1;
                    c.commas();
                    if c.peek().is_none() {
                        break;
                    }
                    let start = c.i;
                    let name = c.token()?;
                    c.ows();
                    if c.peek() == Some(b'=') {
                        if first {
                            return Err(format!("parameter {name} after a comma but the challenge {} has no first parameter", ch.scheme));
                        }
                        c.i += 1;
                        c.ows();
                        let v = value_of(&mut c)?;
                        ch.params.push((name.to_ascii_lowercase(), v));
                    } else {
                        // The next challenge's scheme: read it again.
                        c.i = start;
                        break;
                    }
                }
                Some(_) if first => {
                    if !had_space {
                        return Err(format!("no space after the scheme {}", ch.scheme));
                    }
                    let name = c.token()?;
                    c.ows();
                    if c.peek() != Some(b'=') {
                        return Err(format!("token68 or garbage after the scheme {}", ch.scheme));
                    }
                    c.i += 1;
                    c.ows();
                    let v = value_of(&mut c)?;
                    ch.params.push((name.to_ascii_lowercase(), v));
                    first = false;
                }
                Some(b) => {
                    return Err(format!(
                        "unexpected {:?} at offset {} (parameters must be comma-separated)",
                        char::from(b),
                        c.i
                    ))
                }
            }
            c.ows();
        }
        out.push(ch);
    }
    Ok(out)
}

fn value_of(c: &mut Cursor<'_>) -> Result<String, String> {
    if c.peek() == Some(b'"') {
        c.quoted()
    } else {
        c.token()
    }
}

/// The parser against the figures of RFC 9449 and its own error cases; a
/// test binary that relies on it runs this as a test through
/// [`super::check::rejection_self_tests`].
pub fn challenge_parser_reads_the_rfc_figures() {
    let fig19 = "Bearer error=\"invalid_request\", error_description=\"Multiple methods used to include access token\", DPoP algs=\"ES256 PS256\", error=\"invalid_request\", error_description=\"Multiple methods used to include access token\"";
    let v = parse(fig19).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].scheme, "Bearer");
    assert_eq!(v[0].param("error"), Some("invalid_request"));
    assert_eq!(v[1].scheme, "DPoP");
    assert_eq!(v[1].param("algs"), Some("ES256 PS256"));
    assert_eq!(v[1].param("error"), Some("invalid_request"));
    let fig17 = parse("Bearer, DPoP algs=\"ES256 PS256\"").unwrap();
    assert_eq!(fig17.len(), 2);
    assert!(fig17[0].params.is_empty());
    assert_eq!(
        parse("DPoP algs=ES256").unwrap()[0].param("algs"),
        Some("ES256")
    );
    assert!(parse("DPoP error=\"a\\\"b\"").is_err());
    assert!(parse("DPoP error=\"a\" algs=\"b\"").is_err());
    assert!(parse("DPoP error=\"a").is_err());
    let dup = parse("DPoP error=\"a\", error=\"b\"").unwrap();
    assert_eq!(dup[0].duplicate_param(), Some("error"));
}
