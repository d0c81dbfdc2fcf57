//! `WWW-Authenticate` challenges (RFC 9449 §7.1, RFC 6750 §3, rfc9449-checks
//! section 2). Parameter values are quoted strings made only of NQSCHAR
//! (no `"` and no `\`); anything else is dropped rather than escaped.

use super::error::Mechanism;

/// One challenge's error parameters.
pub struct ChallengeError<'a> {
    pub code: &'a str,
    pub description: &'a str,
}

/// Builds the header value.
///
/// - no error: `DPoP algs="..."` (dual: `Bearer, DPoP algs="..."`);
/// - error on the DPoP mechanism (or ambiguous): in the DPoP challenge;
/// - error on the Bearer mechanism: in the Bearer challenge, DPoP with `algs` only;
/// - ambiguous on a dual route: both challenges carry it (Fig. 19).
pub fn www_authenticate(
    dual: bool,
    mechanism: Mechanism,
    error: Option<ChallengeError<'_>>,
    algs: &str,
    scope: Option<&str>,
) -> String {
    let params = |e: &ChallengeError<'_>| {
        let mut p = format!(
            "error=\"{}\", error_description=\"{}\"",
            nqs(e.code),
            nqs(e.description)
        );
        if let Some(scope) = scope {
            p.push_str(&format!(", scope=\"{}\"", nqs(scope)));
        }
        p
    };
    let dpop_plain = format!("DPoP algs=\"{}\"", nqs(algs));
    match (&error, dual, mechanism) {
        (None, false, _) => dpop_plain,
        (None, true, _) => format!("Bearer, {dpop_plain}"),
        (Some(e), true, Mechanism::Bearer) => format!("Bearer {}, {dpop_plain}", params(e)),
        (Some(e), true, Mechanism::Unknown) => format!(
            "Bearer {}, DPoP {}, algs=\"{}\"",
            params(e),
            params(e),
            nqs(algs)
        ),
        (Some(e), _, _) => {
            let dpop = format!("DPoP {}, algs=\"{}\"", params(e), nqs(algs));
            if dual {
                format!("Bearer, {dpop}")
            } else {
                dpop
            }
        }
    }
}

/// Keeps only NQSCHAR (`%x20-21 / %x23-5B / %x5D-7E`).
fn nqs(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn rfc_figures() {
        // Fig. 15
        assert_eq!(
            www_authenticate(false, Mechanism::Unknown, None, "ES256 PS256", None),
            "DPoP algs=\"ES256 PS256\""
        );
        // Fig. 16
        let e = ChallengeError {
            code: "invalid_token",
            description: "Invalid DPoP key binding",
        };
        assert_eq!(
            www_authenticate(false, Mechanism::Dpop, Some(e), "ES256", None),
            "DPoP error=\"invalid_token\", error_description=\"Invalid DPoP key binding\", algs=\"ES256\""
        );
        // Fig. 17
        assert_eq!(
            www_authenticate(true, Mechanism::Unknown, None, "ES256 PS256", None),
            "Bearer, DPoP algs=\"ES256 PS256\""
        );
        // Fig. 18
        let e = ChallengeError {
            code: "invalid_token",
            description: "Invalid token",
        };
        assert_eq!(
            www_authenticate(true, Mechanism::Bearer, Some(e), "ES256 PS256", None),
            "Bearer error=\"invalid_token\", error_description=\"Invalid token\", DPoP algs=\"ES256 PS256\""
        );
        // Fig. 19
        let e = ChallengeError {
            code: "invalid_request",
            description: "Multiple methods used to include access token",
        };
        assert_eq!(
            www_authenticate(true, Mechanism::Unknown, Some(e), "ES256 PS256", None),
            "Bearer error=\"invalid_request\", error_description=\"Multiple methods used to include access token\", DPoP error=\"invalid_request\", error_description=\"Multiple methods used to include access token\", algs=\"ES256 PS256\""
        );
    }

    #[test]
    fn quotes_and_backslashes_never_escape() {
        let e = ChallengeError {
            code: "invalid_token",
            description: "a\"b\\c\nd",
        };
        let v = www_authenticate(false, Mechanism::Dpop, Some(e), "ES256", Some("read \"x\""));
        assert!(v.contains("error_description=\"abcd\""), "{v}");
        assert!(v.contains("scope=\"read x\""), "{v}");
    }
}
