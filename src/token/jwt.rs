//! JWT access tokens (RFC 9068 §4), verified with the issuer's keys only:
//!
//! 1. compact JWS, strict base64url, JSON objects without duplicate members;
//! 2. header `typ` (case-insensitive): `at+jwt` or `application/at+jwt`;
//!    under the `jwt` profile also `JWT` or none (never `dpop+jwt`,
//!    `id_token+jwt` or any other type); `crit` is refused;
//! 3. `iss` names a configured issuer (exact match);
//! 4. header `alg` is in that issuer's allow-list (never `none` or a MAC);
//! 5. the signature verifies under one of the issuer's keys (by `kid`);
//!    never the DPoP proof's key (RFC 9449 §11.5);
//! 6. `exp` / `nbf` / `iat` against the clock with `leeway_secs`;
//! 7. `aud` contains one of the issuer's `audiences` (when configured; the
//!    `jwt` profile requires them);
//! 8. `rfc9068`: the §2.2 claims `iss exp aud sub client_id iat jti` are
//!    present; `jwt`: `iss exp aud` (the rest when present must be well-formed);
//! 9. the client (`client_id`, else under `jwt` `azp`, `cid`, `appid`) and
//!    the scopes (`scope`, else `scp`; string or array) are resolved;
//! 10. `cnf` is read into a [`Binding`] (members besides `jkt` are ignored).

use serde_json::{Map, Value};

use super::claims::{first_string, scopes, Binding, TokenClaims};
use super::{Issuer, TokenError};
use crate::config::TokenProfile;
use crate::jose::{Alg, CompactJws, Jkt};

/// Longest token accepted (bytes), checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The `iss` of something that parses as a JWS with a JSON payload nested at
/// most `max_json_depth` deep, before any verification (used only to pick
/// the issuer).
pub fn peek_iss(token: &str, max_json_depth: usize) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN || token.matches('.').count() != 2 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let payload = crate::jose::b64::decode(payload).ok()?;
    let claims = crate::jose::json::parse_object(&payload, max_json_depth).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Verifies a JWT access token against the configured issuers.
pub fn verify(token: &str, issuers: &[Issuer], now: i64) -> Result<TokenClaims, TokenError> {
    let depth = issuers.iter().map(|i| i.limits.max_json_depth).max();
    let depth = depth.unwrap_or(crate::jose::limits::DEFAULT_MAX_JSON_DEPTH);
    let iss = peek_iss(token, depth).ok_or(TokenError::NotJwt)?;
    let issuer = issuers
        .iter()
        .find(|i| i.issuer == iss)
        .ok_or_else(|| TokenError::UnknownIssuer(crate::jose::clip(&iss, 64)))?;
    verify_for(token, issuer, now)
}

/// Verifies a JWT access token issued by `issuer`.
pub fn verify_for(token: &str, issuer: &Issuer, now: i64) -> Result<TokenClaims, TokenError> {
    if token.matches('.').count() != 2 {
        return Err(TokenError::NotJwt);
    }
    let jws = CompactJws::parse_with_limit(token, MAX_TOKEN_LEN, issuer.limits.max_json_depth)
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
    let header = jws.header();
    let claims = jws.payload();

    check_typ(header.get("typ"), issuer.profile)?;
    if header.contains_key("crit") {
        return Err(TokenError::Malformed("crit is not supported".into()));
    }
    let iss = str_claim(claims, "iss")?;
    if iss != issuer.issuer {
        return Err(TokenError::UnknownIssuer(crate::jose::clip(iss, 64)));
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = Alg::from_jose(alg_name)
        .filter(|a| issuer.algs.contains(*a))
        .ok_or_else(|| TokenError::Alg(crate::jose::clip(alg_name, 64)))?;
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = issuer.keys.load();
    let mut candidates = keys.candidates(kid, alg).peekable();
    if candidates.peek().is_none() {
        return Err(TokenError::UnknownKey {
            kid: kid.map(|k| crate::jose::clip(k, 64)),
        });
    }
    let verified = candidates.any(|k| {
        k.verify(alg, jws.signing_input().as_bytes(), jws.signature())
            .is_ok()
    });
    if !verified {
        return Err(TokenError::BadSignature);
    }

    let leeway = i64::try_from(issuer.leeway_secs).unwrap_or(i64::MAX);
    let exp = int_claim(claims, "exp")?;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired { exp, now });
    }
    let nbf = optional_int(claims, "nbf")?;
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid { nbf, now });
        }
    }
    let iat = match issuer.profile {
        TokenProfile::Rfc9068 => Some(int_claim(claims, "iat")?),
        TokenProfile::Jwt => optional_int(claims, "iat")?,
    };
    if let Some(iat) = iat.filter(|iat| *iat > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid { nbf: iat, now });
    }
    check_audience(claims, &issuer.audiences)?;
    let client_id = match issuer.profile {
        TokenProfile::Rfc9068 => {
            for required in ["sub", "client_id", "jti"] {
                str_claim(claims, required)?;
            }
            first_string(claims, &["client_id"])
        }
        TokenProfile::Jwt => {
            for optional in ["sub", "jti", "client_id"] {
                if claims.contains_key(optional) {
                    str_claim(claims, optional)?;
                }
            }
            first_string(claims, &["client_id", "azp", "cid", "appid"])
        }
    };
    Ok(TokenClaims {
        iss: iss.to_owned(),
        exp,
        nbf,
        binding: binding(claims)?,
        client_id,
        scope: scopes(claims)?,
        token_type: None,
        all: claims.clone(),
    })
}

/// The header `typ` a profile accepts (compared ignoring ASCII case).
fn check_typ(typ: Option<&Value>, profile: TokenProfile) -> Result<(), TokenError> {
    let refused = |t: &str| Err(TokenError::Typ(crate::jose::clip(t, 64)));
    match (typ, profile) {
        (None, TokenProfile::Jwt) => Ok(()),
        (None, TokenProfile::Rfc9068) => refused(""),
        (Some(Value::String(t)), _) => {
            let at_jwt =
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt");
            let jwt = profile == TokenProfile::Jwt && t.eq_ignore_ascii_case("jwt");
            if at_jwt || jwt {
                Ok(())
            } else {
                refused(t)
            }
        }
        (Some(other), _) => refused(&other.to_string()),
    }
}

fn str_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, TokenError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(TokenError::ClaimType(name)),
        None => Err(TokenError::MissingClaim(name)),
    }
}

fn int_claim(claims: &Map<String, Value>, name: &'static str) -> Result<i64, TokenError> {
    optional_int(claims, name)?.ok_or(TokenError::MissingClaim(name))
}

/// NumericDate (RFC 7519 §2): integer seconds; fractions are truncated.
fn optional_int(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(TokenError::ClaimType(name)),
        Some(_) => Err(TokenError::ClaimType(name)),
    }
}

fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), TokenError> {
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(TokenError::ClaimType("aud")),
        None => return Err(TokenError::MissingClaim("aud")),
    };
    if audiences.is_empty() || aud.iter().any(|a| audiences.iter().any(|want| want == a)) {
        Ok(())
    } else {
        Err(TokenError::Audience)
    }
}

fn binding(claims: &Map<String, Value>) -> Result<Binding, TokenError> {
    match claims.get("cnf") {
        None => Ok(Binding::Unbound),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            Some(Value::String(jkt)) => Jkt::from_b64(jkt)
                .map(Binding::Jkt)
                .map_err(|_| TokenError::ClaimType("cnf.jkt")),
            Some(_) => Err(TokenError::ClaimType("cnf.jkt")),
            None => Ok(Binding::Unsupported),
        },
        Some(_) => Err(TokenError::ClaimType("cnf")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::TokenProfile;
    use crate::jose::{Alg, AlgSet, SigningKey};
    use crate::token::KeySet;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    struct Fixture {
        as_key: SigningKey,
        issuers: Vec<Issuer>,
    }

    fn fixture() -> Fixture {
        let as_key = SigningKey::generate(Alg::Es256).unwrap();
        let jwks = crate::mint::jwks(&as_key).to_string();
        let issuers = vec![Issuer::with_keys(
            "https://as.test",
            vec!["https://api.test".into()],
            AlgSet::EMPTY.with(Alg::Es256).with(Alg::EdDsa),
            30,
            KeySet::parse(jwks.as_bytes(), &Default::default()).unwrap(),
        )];
        Fixture { as_key, issuers }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://as.test", "sub": "alice", "aud": "https://api.test",
            "client_id": "app", "iat": NOW - 10, "exp": NOW + 300, "jti": "t1",
            "scope": "read write",
            "cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
        })
    }

    fn header(f: &Fixture) -> Value {
        json!({"typ": "at+jwt", "alg": "ES256", "kid": f.as_key.jkt().to_string()})
    }

    fn sign(f: &Fixture, header: &Value, claims: &Value) -> String {
        f.as_key.sign_compact(header, claims).unwrap()
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn valid_token_yields_claims_and_binding() {
        let f = fixture();
        let t = verify(&sign(&f, &header(&f), &claims()), &f.issuers, NOW).unwrap();
        assert_eq!(t.iss, "https://as.test");
        assert_eq!(t.scope.as_deref(), Some("read write"));
        assert_eq!(
            t.binding,
            Binding::Jkt(Jkt::from_b64("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").unwrap())
        );
        assert!(t.has_scopes(&["read".into()]));
        assert!(!t.has_scopes(&["admin".into()]));
    }

    #[test]
    fn header_variants() {
        let f = fixture();
        let h = header(&f);
        for typ in ["at+JWT", "application/at+jwt"] {
            let t = sign(&f, &with(h.clone(), "typ", json!(typ)), &claims());
            assert!(verify(&t, &f.issuers, NOW).is_ok(), "{typ}");
        }
        type Check = fn(&TokenError) -> bool;
        let cases: Vec<(Value, Check)> = vec![
            (with(h.clone(), "typ", json!("JWT")), |e| {
                matches!(e, TokenError::Typ(_))
            }),
            (with(h.clone(), "typ", json!("dpop+jwt")), |e| {
                matches!(e, TokenError::Typ(_))
            }),
            (without(h.clone(), "typ"), |e| {
                matches!(e, TokenError::Typ(_))
            }),
            (with(h.clone(), "alg", json!("none")), |e| {
                matches!(e, TokenError::Alg(_))
            }),
            (with(h.clone(), "alg", json!("HS256")), |e| {
                matches!(e, TokenError::Alg(_))
            }),
            (with(h.clone(), "kid", json!("other")), |e| {
                matches!(e, TokenError::UnknownKey { .. })
            }),
            (with(h.clone(), "crit", json!(["exp"])), |e| {
                matches!(e, TokenError::Malformed(_))
            }),
        ];
        for (header, check) in cases {
            let t = sign(&f, &header, &claims());
            let err = verify(&t, &f.issuers, NOW).unwrap_err();
            assert!(check(&err), "{header}: {err:?}");
        }
    }

    #[test]
    fn an_unknown_key_is_named_in_words() {
        let f = fixture();
        let t = sign(&f, &with(header(&f), "kid", json!("other")), &claims());
        let err = verify(&t, &f.issuers, NOW).unwrap_err();
        assert_eq!(err.to_string(), "no issuer key for kid \"other\"");

        // EdDSA is allowed, but the key set has no Ed25519 key.
        let ed = SigningKey::generate(Alg::EdDsa).unwrap();
        let h = json!({"typ": "at+jwt", "alg": "EdDSA"});
        let t = ed.sign_compact(&h, &claims()).unwrap();
        let err = verify(&t, &f.issuers, NOW).unwrap_err();
        assert_eq!(err.to_string(), "no issuer key for a token without kid");
    }

    #[test]
    fn signed_by_another_key_is_refused() {
        // E.g. the DPoP proof's own key (RFC 9449 §11.5).
        let f = fixture();
        let other = SigningKey::generate(Alg::Es256).unwrap();
        let t = other.sign_compact(&header(&f), &claims()).unwrap();
        assert_eq!(
            verify(&t, &f.issuers, NOW).err(),
            Some(TokenError::BadSignature)
        );
    }

    #[test]
    fn claim_variants() {
        let f = fixture();
        let h = header(&f);
        let c = claims();
        let cases: Vec<(Value, TokenError)> = vec![
            (
                with(c.clone(), "exp", json!(NOW - 31)),
                TokenError::Expired {
                    exp: NOW - 31,
                    now: NOW,
                },
            ),
            (
                with(c.clone(), "nbf", json!(NOW + 31)),
                TokenError::NotYetValid {
                    nbf: NOW + 31,
                    now: NOW,
                },
            ),
            (
                with(c.clone(), "iss", json!("https://evil")),
                TokenError::UnknownIssuer("https://evil".into()),
            ),
            (
                with(c.clone(), "aud", json!("https://other")),
                TokenError::Audience,
            ),
            (
                with(c.clone(), "aud", json!(["a", "b"])),
                TokenError::Audience,
            ),
            (without(c.clone(), "aud"), TokenError::MissingClaim("aud")),
            (without(c.clone(), "sub"), TokenError::MissingClaim("sub")),
            (
                without(c.clone(), "client_id"),
                TokenError::MissingClaim("client_id"),
            ),
            (without(c.clone(), "jti"), TokenError::MissingClaim("jti")),
            (without(c.clone(), "exp"), TokenError::MissingClaim("exp")),
            (
                with(c.clone(), "exp", json!("soon")),
                TokenError::ClaimType("exp"),
            ),
            (
                with(c.clone(), "cnf", json!({"jkt": "short"})),
                TokenError::ClaimType("cnf.jkt"),
            ),
            (
                with(c.clone(), "cnf", json!("x")),
                TokenError::ClaimType("cnf"),
            ),
        ];
        for (claims, want) in cases {
            let t = sign(&f, &h, &claims);
            assert_eq!(verify(&t, &f.issuers, NOW).err(), Some(want), "{claims}");
        }
        // Leeway: 29 s past exp still valid.
        let t = sign(&f, &h, &with(c.clone(), "exp", json!(NOW - 29)));
        assert!(verify(&t, &f.issuers, NOW).is_ok());
        // aud as an array containing ours.
        let t = sign(
            &f,
            &h,
            &with(c.clone(), "aud", json!(["x", "https://api.test"])),
        );
        assert!(verify(&t, &f.issuers, NOW).is_ok());
    }

    #[test]
    fn bindings() {
        let f = fixture();
        let h = header(&f);
        let t = sign(&f, &h, &without(claims(), "cnf"));
        assert_eq!(
            verify(&t, &f.issuers, NOW).unwrap().binding,
            Binding::Unbound
        );
        let t = sign(&f, &h, &with(claims(), "cnf", json!({"x5t#S256": "abc"})));
        assert_eq!(
            verify(&t, &f.issuers, NOW).unwrap().binding,
            Binding::Unsupported
        );
    }

    #[test]
    fn non_jwt_and_fig8_are_refused() {
        let f = fixture();
        // The RFC's opaque token has two dots but is not a JWT.
        assert!(verify(
            "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
            &f.issuers,
            NOW
        )
        .is_err());
        assert_eq!(
            verify("opaque", &f.issuers, NOW).err(),
            Some(TokenError::NotJwt)
        );
        // RFC 9449 Fig. 8: no typ at+jwt → refused (RFC 9068).
        let fig8 = crate::jose::test_vectors::compact("rfc9449_fig8_jwt_access_token");
        assert!(matches!(
            verify(&fig8, &f.issuers, NOW),
            Err(TokenError::UnknownIssuer(_))
        ));
        assert!(matches!(
            verify_for(&fig8, &f.issuers[0], NOW),
            Err(TokenError::Typ(_))
        ));
    }

    #[test]
    fn cache_never_serves_an_expired_token() {
        let f = fixture();
        let t = sign(&f, &header(&f), &with(claims(), "exp", json!(NOW + 60)));
        let v = crate::token::TokenValidator::new(f.issuers);
        let d = crate::digest::sha256(&t);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(v.validate(&t, &d, NOW)).is_ok());
        assert!(
            rt.block_on(v.validate(&t, &d, NOW + 60)).is_ok(),
            "within leeway"
        );
        assert!(matches!(
            rt.block_on(v.validate(&t, &d, NOW + 90)),
            Err(TokenError::Expired { .. })
        ));
    }

    /// Token shapes of common authorization servers, after their vendors'
    /// documentation (shared/vectors/as-token-shapes.md): Keycloak 26 access
    /// tokens, Okta custom authorization server tokens, Auth0 (default and
    /// RFC 9068 profiles), Microsoft Entra ID v1.0 / v2.0 access tokens, Spring
    /// Authorization Server. (name, header typ, claims, client, scopes)
    fn as_shapes() -> Vec<(
        &'static str,
        Option<&'static str>,
        Value,
        &'static str,
        &'static str,
    )> {
        const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let base = |extra: Value| {
            let mut v = json!({
                "iss": "https://as.test", "exp": NOW + 300, "iat": NOW - 10,
                "sub": "f:0c1d:alice", "aud": "https://api.test"
            });
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            v
        };
        vec![
            (
                "keycloak",
                Some("JWT"),
                base(json!({
                    "jti": "onrtac:1f2e", "typ": "DPoP", "azp": "orders-web",
                    "aud": ["https://api.test", "account"], "scope": "openid profile orders:read",
                    "sid": "b3c0", "cnf": {"jkt": JKT, "x5t#S256": "ignored-extra-member"}
                })),
                "orders-web",
                "openid profile orders:read",
            ),
            (
                "okta",
                None,
                base(json!({
                    "ver": 1, "jti": "AT.abc", "cid": "0oa1b2c3", "uid": "00u1",
                    "scp": ["orders:read", "openid"], "cnf": {"jkt": JKT}
                })),
                "0oa1b2c3",
                "orders:read openid",
            ),
            (
                "auth0 default",
                Some("JWT"),
                base(json!({
                    "azp": "auth0-client", "scope": "openid orders:read",
                    "aud": ["https://api.test", "https://as.test/userinfo"],
                    "permissions": ["read:orders"], "cnf": {"jkt": JKT}
                })),
                "auth0-client",
                "openid orders:read",
            ),
            (
                "auth0 rfc9068",
                Some("at+jwt"),
                base(json!({
                    "client_id": "auth0-client", "jti": "j1", "scope": "orders:read",
                    "cnf": {"jkt": JKT}
                })),
                "auth0-client",
                "orders:read",
            ),
            (
                "entra v2.0",
                Some("JWT"),
                base(json!({
                    "azp": "6e74172b", "scp": "Orders.Read Orders.Write", "ver": "2.0",
                    "oid": "00000000-0000-0000-0000-000000000001", "tid": "72f988bf"
                })),
                "6e74172b",
                "Orders.Read Orders.Write",
            ),
            (
                "entra v1.0",
                Some("JWT"),
                base(json!({
                    "appid": "6e74172b", "scp": "Orders.Read", "ver": "1.0"
                })),
                "6e74172b",
                "Orders.Read",
            ),
            (
                "spring",
                None,
                base(json!({
                    "scope": ["orders:read", "orders:write"], "nbf": NOW - 10,
                    "cnf": {"jkt": JKT}
                })),
                "",
                "orders:read orders:write",
            ),
        ]
    }

    fn jwt_issuers(f: &Fixture) -> Vec<Issuer> {
        let jwks = crate::mint::jwks(&f.as_key).to_string();
        vec![Issuer::with_keys(
            "https://as.test",
            vec!["https://api.test".into()],
            AlgSet::EMPTY.with(Alg::Es256),
            30,
            KeySet::parse(jwks.as_bytes(), &Default::default()).unwrap(),
        )
        .with_profile(TokenProfile::Jwt)]
    }

    fn shaped_header(f: &Fixture, typ: Option<&str>) -> Value {
        let mut h = json!({"alg": "ES256", "kid": f.as_key.jkt().to_string()});
        if let Some(typ) = typ {
            h["typ"] = json!(typ);
        }
        h
    }

    #[test]
    fn jwt_profile_reads_the_tokens_of_common_authorization_servers() {
        let f = fixture();
        let jwt = jwt_issuers(&f);
        for (name, typ, claims, client, scope) in as_shapes() {
            let token = sign(&f, &shaped_header(&f, typ), &claims);
            let t = verify(&token, &jwt, NOW).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want_client = (!client.is_empty()).then(|| client.to_owned());
            assert_eq!(t.client_id, want_client, "{name}");
            assert_eq!(t.claim_text("client_id"), want_client, "{name}");
            assert_eq!(t.scope.as_deref(), Some(scope), "{name}");
            assert_eq!(t.claim_text("scope").as_deref(), Some(scope), "{name}");
            let first = scope.split(' ').next().unwrap().to_owned();
            assert!(t.has_scopes(&[first]), "{name}");
            assert!(!t.has_scopes(&["admin".into()]), "{name}");
            let bound = claims.get("cnf").is_some();
            assert_eq!(matches!(t.binding, Binding::Jkt(_)), bound, "{name}");
            // The strict default refuses all but the RFC 9068-shaped one.
            let strict = verify(&token, &f.issuers, NOW);
            if name == "auth0 rfc9068" {
                assert!(strict.is_ok(), "{name}: {strict:?}");
            } else {
                assert!(strict.is_err(), "{name} passed the rfc9068 profile");
            }
        }
    }

    #[test]
    fn both_profiles_refuse_other_token_types_and_audiences() {
        let f = fixture();
        let jwt = jwt_issuers(&f);
        let (_, _, keycloak, _, _) = as_shapes().remove(0);
        for (issuers, label) in [(&f.issuers, "rfc9068"), (&jwt, "jwt")] {
            for typ in ["dpop+jwt", "id_token+jwt", "JOSE", "secevent+jwt", ""] {
                let token = sign(
                    &f,
                    &shaped_header(&f, Some(typ)),
                    &with(claims(), "jti", json!("x")),
                );
                assert!(
                    matches!(verify(&token, issuers, NOW), Err(TokenError::Typ(_))),
                    "{label}: typ {typ:?}"
                );
            }
            let header = json!({"alg": "ES256", "typ": 7, "kid": f.as_key.jkt().to_string()});
            let token = sign(&f, &header, &claims());
            assert!(
                matches!(verify(&token, issuers, NOW), Err(TokenError::Typ(_))),
                "{label}"
            );
            for (claims, want) in [
                (
                    without(keycloak.clone(), "aud"),
                    TokenError::MissingClaim("aud"),
                ),
                (
                    with(keycloak.clone(), "aud", json!("https://other.test")),
                    TokenError::Audience,
                ),
                (
                    with(keycloak.clone(), "aud", json!(["account"])),
                    TokenError::Audience,
                ),
            ] {
                let token = sign(&f, &shaped_header(&f, Some("at+jwt")), &claims);
                let got = verify(&token, issuers, NOW).err();
                // rfc9068 may stop earlier (missing client_id); never accepts.
                assert!(got.is_some(), "{label}: accepted {claims}");
                if label == "jwt" {
                    assert_eq!(got, Some(want), "{label}: {claims}");
                }
            }
        }
    }

    #[test]
    fn jwt_profile_claim_rules() {
        let f = fixture();
        let jwt = jwt_issuers(&f);
        let h = shaped_header(&f, Some("JWT"));
        let minimal = json!({"iss": "https://as.test", "exp": NOW + 60, "aud": "https://api.test"});
        let t = verify(&sign(&f, &h, &minimal), &jwt, NOW).unwrap();
        assert_eq!((t.client_id, t.scope), (None, None));
        let cases = [
            (
                without(minimal.clone(), "exp"),
                TokenError::MissingClaim("exp"),
            ),
            (
                with(minimal.clone(), "iat", json!(NOW + 3600)),
                TokenError::NotYetValid {
                    nbf: NOW + 3600,
                    now: NOW,
                },
            ),
            (
                with(minimal.clone(), "sub", json!(42)),
                TokenError::ClaimType("sub"),
            ),
            (
                with(minimal.clone(), "scope", json!(42)),
                TokenError::ClaimType("scope"),
            ),
            (
                with(minimal.clone(), "scp", json!(["a", 1])),
                TokenError::ClaimType("scp"),
            ),
            (
                with(minimal.clone(), "scp", json!(["a b"])),
                TokenError::ClaimType("scp"),
            ),
        ];
        for (claims, want) in cases {
            let got = verify(&sign(&f, &h, &claims), &jwt, NOW).err();
            assert_eq!(got, Some(want), "{claims}");
        }
        // scope wins over scp; the first of client_id, azp, cid, appid wins.
        let both = with(
            with(minimal.clone(), "scope", json!("a")),
            "scp",
            json!(["b"]),
        );
        let both = with(
            with(with(both, "azp", json!("z")), "client_id", json!("c")),
            "cid",
            json!("x"),
        );
        let t = verify(&sign(&f, &h, &both), &jwt, NOW).unwrap();
        assert_eq!(
            (t.scope.as_deref(), t.client_id.as_deref()),
            (Some("a"), Some("c"))
        );
    }
}
