//! `WWW-Authenticate` challenges (RFC 9449 §7.1, RFC 6750 §3, rfc9449-checks
//! section 2). Parameter values are quoted strings made only of NQSCHAR
//! (no `"` and no `\`); anything else is dropped rather than escaped.

use super::error::Mechanism;

/// One challenge's error parameters.
pub struct ChallengeError<'a> {
    pub code: &'a str,
    pub description: &'a str,
}

/// Parameters every challenge of a response shares.
pub struct ChallengeParams<'a> {
    /// `algs` of the DPoP challenge, e.g. `ES256 EdDSA`.
    pub algs: &'a str,
    /// `scope` with `insufficient_scope`.
    pub scope: Option<&'a str>,
    /// RFC 9728 §5.1 `resource_metadata`: on every challenge of a protected
    /// route.
    pub resource_metadata: Option<&'a str>,
}

/// Builds the header value.
///
/// - no error: `DPoP algs="..."` (dual: `Bearer, DPoP algs="..."`);
/// - error on the DPoP mechanism (or ambiguous): in the DPoP challenge;
/// - error on the Bearer mechanism: in the Bearer challenge, DPoP with `algs` only;
/// - ambiguous on a dual route: both challenges carry it (Fig. 19);
/// - `resource_metadata`, when given, ends every challenge.
pub fn www_authenticate(
    dual: bool,
    mechanism: Mechanism,
    error: Option<ChallengeError<'_>>,
    params: &ChallengeParams<'_>,
) -> String {
    let error_params = |e: &ChallengeError<'_>| {
        let mut p = vec![
            format!("error=\"{}\"", nqs(e.code)),
            format!("error_description=\"{}\"", nqs(e.description)),
        ];
        if let Some(scope) = params.scope {
            p.push(format!("scope=\"{}\"", nqs(scope)));
        }
        p
    };
    let algs = format!("algs=\"{}\"", nqs(params.algs));
    // (Bearer challenge, if any; DPoP challenge), each as its parameters.
    let (bearer, dpop): (Option<Vec<String>>, Vec<String>) = match (&error, dual, mechanism) {
        (None, false, _) => (None, vec![algs]),
        (None, true, _) => (Some(vec![]), vec![algs]),
        (Some(e), true, Mechanism::Bearer) => (Some(error_params(e)), vec![algs]),
        (Some(e), true, Mechanism::Unknown) => (Some(error_params(e)), {
            let mut p = error_params(e);
            p.push(algs);
            p
        }),
        (Some(e), _, _) => (dual.then(Vec::new), {
            let mut p = error_params(e);
            p.push(algs);
            p
        }),
    };
    let metadata = params
        .resource_metadata
        .map(|url| format!("resource_metadata=\"{}\"", nqs(url)));
    let challenge = |scheme: &str, mut p: Vec<String>| {
        p.extend(metadata.clone());
        if p.is_empty() {
            scheme.to_owned()
        } else {
            format!("{scheme} {}", p.join(", "))
        }
    };
    match bearer {
        Some(b) => format!("{}, {}", challenge("Bearer", b), challenge("DPoP", dpop)),
        None => challenge("DPoP", dpop),
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

    fn p<'a>(algs: &'a str, resource_metadata: Option<&'a str>) -> ChallengeParams<'a> {
        ChallengeParams {
            algs,
            scope: None,
            resource_metadata,
        }
    }

    #[test]
    fn rfc_figures() {
        // Fig. 15
        assert_eq!(
            www_authenticate(false, Mechanism::Unknown, None, &p("ES256 PS256", None)),
            "DPoP algs=\"ES256 PS256\""
        );
        // Fig. 16
        let e = ChallengeError {
            code: "invalid_token",
            description: "Invalid DPoP key binding",
        };
        assert_eq!(
            www_authenticate(false, Mechanism::Dpop, Some(e), &p("ES256", None)),
            "DPoP error=\"invalid_token\", error_description=\"Invalid DPoP key binding\", algs=\"ES256\""
        );
        // Fig. 17
        assert_eq!(
            www_authenticate(true, Mechanism::Unknown, None, &p("ES256 PS256", None)),
            "Bearer, DPoP algs=\"ES256 PS256\""
        );
        // Fig. 18
        let e = ChallengeError {
            code: "invalid_token",
            description: "Invalid token",
        };
        assert_eq!(
            www_authenticate(true, Mechanism::Bearer, Some(e), &p("ES256 PS256", None)),
            "Bearer error=\"invalid_token\", error_description=\"Invalid token\", DPoP algs=\"ES256 PS256\""
        );
        // Fig. 19
        let e = ChallengeError {
            code: "invalid_request",
            description: "Multiple methods used to include access token",
        };
        assert_eq!(
            www_authenticate(true, Mechanism::Unknown, Some(e), &p("ES256 PS256", None)),
            "Bearer error=\"invalid_request\", error_description=\"Multiple methods used to include access token\", DPoP error=\"invalid_request\", error_description=\"Multiple methods used to include access token\", algs=\"ES256 PS256\""
        );
    }

    #[test]
    fn quotes_and_backslashes_never_escape() {
        let e = ChallengeError {
            code: "invalid_token",
            description: "a\"b\\c\nd",
        };
        let params = ChallengeParams {
            algs: "ES256",
            scope: Some("read \"x\""),
            resource_metadata: None,
        };
        let v = www_authenticate(false, Mechanism::Dpop, Some(e), &params);
        assert!(v.contains("error_description=\"abcd\""), "{v}");
        assert!(v.contains("scope=\"read x\""), "{v}");
    }

    #[test]
    fn resource_metadata_ends_every_challenge() {
        let url = "https://api.example/.well-known/oauth-protected-resource/orders";
        let rm = format!("resource_metadata=\"{url}\"");
        assert_eq!(
            www_authenticate(false, Mechanism::Unknown, None, &p("ES256", Some(url))),
            format!("DPoP algs=\"ES256\", {rm}")
        );
        assert_eq!(
            www_authenticate(true, Mechanism::Unknown, None, &p("ES256", Some(url))),
            format!("Bearer {rm}, DPoP algs=\"ES256\", {rm}")
        );
        let e = ChallengeError {
            code: "invalid_token",
            description: "Invalid token",
        };
        assert_eq!(
            www_authenticate(true, Mechanism::Bearer, Some(e), &p("ES256", Some(url))),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"Invalid token\", {rm}, \
                 DPoP algs=\"ES256\", {rm}"
            )
        );
        let e = ChallengeError {
            code: "invalid_dpop_proof",
            description: "bad",
        };
        assert_eq!(
            www_authenticate(false, Mechanism::Dpop, Some(e), &p("ES256", Some(url))),
            format!(
                "DPoP error=\"invalid_dpop_proof\", error_description=\"bad\", algs=\"ES256\", {rm}"
            )
        );
    }
}
