//! Request shape (rfc9449-checks A1–A5): which credentials a request carries,
//! before any cryptography.
//!
//! - Header names are case-insensitive (`DPoP`, `DPOP`, `dpop`; RFC 9449 §4.1):
//!   `HeaderMap` stores them lower-cased, and every count uses `get_all`, never
//!   `get` (which silently returns only the first line).
//! - `Authorization` is `scheme 1*SP token68`; the scheme is case-insensitive
//!   (RFC 9110 §11.1).
//! - One token method only: two `Authorization` lines or an `access_token` query
//!   parameter are refused (RFC 6750 §2, FAPI 2.0 §5.3.4).
//! - At most one `DPoP` line, and a comma-joined value is not a proof (§4.3 item 1).

use http::header::{HeaderMap, HeaderName, AUTHORIZATION};

/// The `DPoP` request header (RFC 9449 §4.1).
pub static DPOP: HeaderName = HeaderName::from_static("dpop");

/// Credentials found on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// No `Authorization` (or one with a scheme we do not serve).
    None,
    /// `Authorization: DPoP <token>` with exactly one `DPoP` proof.
    Dpop { token: &'a str, proof: &'a str },
    /// `Authorization: Bearer <token>` and no `DPoP` header.
    Bearer { token: &'a str },
}

/// Why the request's shape is refused (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("more than one Authorization header")]
    MultipleAuthorization,
    #[error("access token in the query string")]
    TokenInQuery,
    #[error("more than one DPoP header")]
    MultipleProofs,
    #[error("DPoP header holds more than one proof")]
    JoinedProofs,
    #[error("empty DPoP header")]
    EmptyProof,
    #[error("Authorization header is malformed")]
    MalformedAuthorization,
    #[error("DPoP scheme without a DPoP proof header")]
    MissingProof,
    #[error("DPoP proof sent with the Bearer scheme")]
    ProofWithBearer,
    #[error("DPoP proof without an access token")]
    ProofWithoutToken,
}

impl ShapeError {
    /// Short, stable, client-facing reason.
    pub fn description(self) -> &'static str {
        match self {
            ShapeError::MultipleAuthorization => "Multiple methods used to include access token",
            ShapeError::TokenInQuery => "Access tokens must be sent in the Authorization header",
            ShapeError::MultipleProofs | ShapeError::JoinedProofs => {
                "Exactly one DPoP header is required"
            }
            ShapeError::EmptyProof => "Empty DPoP header",
            ShapeError::MalformedAuthorization => "Malformed Authorization header",
            ShapeError::MissingProof => "DPoP proof header required with the DPoP scheme",
            ShapeError::ProofWithBearer => {
                "Authorization scheme must be DPoP when a DPoP proof is sent"
            }
            ShapeError::ProofWithoutToken => "DPoP proof sent without an access token",
        }
    }
}

/// Reads the credentials of a request.
pub fn extract<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
) -> Result<Credentials<'a>, ShapeError> {
    let mut auth_lines = headers.get_all(AUTHORIZATION).iter();
    let auth = auth_lines.next();
    if auth_lines.next().is_some() {
        return Err(ShapeError::MultipleAuthorization);
    }
    if query.is_some_and(has_access_token_param) {
        return Err(ShapeError::TokenInQuery);
    }
    let mut proof_lines = headers.get_all(&DPOP).iter();
    let proof = proof_lines.next();
    if proof_lines.next().is_some() {
        return Err(ShapeError::MultipleProofs);
    }
    let proof = match proof {
        None => None,
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ShapeError::MalformedAuthorization)?
                .trim();
            if s.is_empty() {
                return Err(ShapeError::EmptyProof);
            }
            if s.contains(',') {
                return Err(ShapeError::JoinedProofs);
            }
            Some(s)
        }
    };
    let Some(auth) = auth else {
        return match proof {
            Some(_) => Err(ShapeError::ProofWithoutToken),
            None => Ok(Credentials::None),
        };
    };
    let auth = auth
        .to_str()
        .map_err(|_| ShapeError::MalformedAuthorization)?;
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let token = rest.trim_start_matches(' ');
    let is_dpop = scheme.eq_ignore_ascii_case("dpop");
    let is_bearer = scheme.eq_ignore_ascii_case("bearer");
    if !is_dpop && !is_bearer {
        // A scheme we do not serve (e.g. Basic) counts as no credentials (RFC 6750 §3.1).
        return match proof {
            Some(_) => Err(ShapeError::ProofWithBearer),
            None => Ok(Credentials::None),
        };
    }
    if !is_token68(token) {
        return Err(ShapeError::MalformedAuthorization);
    }
    match (is_dpop, proof) {
        (true, Some(proof)) => Ok(Credentials::Dpop { token, proof }),
        (true, None) => Err(ShapeError::MissingProof),
        (false, Some(_)) => Err(ShapeError::ProofWithBearer),
        (false, None) => Ok(Credentials::Bearer { token }),
    }
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 9110 §11.2).
pub fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn has_access_token_param(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next().is_some_and(|k| k == "access_token"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
        Result<Credentials<'a>, ShapeError>,
    );

    #[test]
    fn shapes() {
        use Credentials as C;
        use ShapeError as E;
        let cases: &[Case<'_>] = &[
            (&[], None, Ok(C::None)),
            (&[("authorization", "Basic abc")], None, Ok(C::None)),
            (
                &[("authorization", "DPoP tok"), ("DPoP", "p.r.s")],
                None,
                Ok(C::Dpop {
                    token: "tok",
                    proof: "p.r.s",
                }),
            ),
            (
                &[("authorization", "dPoP  tok"), ("DPOP", "p.r.s")],
                None,
                Ok(C::Dpop {
                    token: "tok",
                    proof: "p.r.s",
                }),
            ),
            (
                &[("authorization", "Bearer tok")],
                None,
                Ok(C::Bearer { token: "tok" }),
            ),
            (&[("authorization", "DPoP tok")], None, Err(E::MissingProof)),
            (
                &[("authorization", "DPoP tok"), ("dpop", "a"), ("dpop", "b")],
                None,
                Err(E::MultipleProofs),
            ),
            (
                &[("authorization", "DPoP tok"), ("dpop", "a, b")],
                None,
                Err(E::JoinedProofs),
            ),
            (
                &[("authorization", "DPoP tok"), ("dpop", "")],
                None,
                Err(E::EmptyProof),
            ),
            (
                &[("authorization", "Bearer x"), ("authorization", "DPoP x")],
                None,
                Err(E::MultipleAuthorization),
            ),
            (
                &[("authorization", "Bearer tok"), ("dpop", "p.r.s")],
                None,
                Err(E::ProofWithBearer),
            ),
            (
                &[("authorization", "DPoP")],
                None,
                Err(E::MalformedAuthorization),
            ),
            (
                &[("authorization", "DPoP ")],
                None,
                Err(E::MalformedAuthorization),
            ),
            (
                &[("authorization", "DPoP a b")],
                None,
                Err(E::MalformedAuthorization),
            ),
            (
                &[("authorization", "DPoP a,b")],
                None,
                Err(E::MalformedAuthorization),
            ),
            (
                &[("authorization", "DPoP tok")],
                Some("x=1&access_token=t"),
                Err(E::TokenInQuery),
            ),
            (&[], Some("access_token=t"), Err(E::TokenInQuery)),
            (&[("dpop", "p.r.s")], None, Err(E::ProofWithoutToken)),
        ];
        for (h, q, want) in cases {
            let h = headers(h);
            assert_eq!(&extract(&h, *q), want, "{h:?} {q:?}");
        }
    }

    #[test]
    fn token68() {
        assert!(is_token68("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"));
        assert!(is_token68("abc=="));
        assert!(!is_token68("=="));
        assert!(!is_token68("a\"b"));
        assert!(!is_token68("a=b"));
    }
}
