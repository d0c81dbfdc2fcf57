//! `[[issuers]] profile` end to end: tokens shaped like those of Keycloak,
//! Okta and Microsoft Entra ID (shared/vectors/as-token-shapes.md, after the
//! vendors' documented formats) pass a `profile = "jwt"` issuer with the
//! resolved client and scopes in the identity headers and in the scope
//! check, and the same tokens from an issuer with the default `rfc9068`
//! profile are refused. Both issuers share one key set; the token's `iss`
//! picks the profile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::jose::jkt_of;
use common::tokens::sign_token;
use common::{route_with, system_now, Alpn, ClockMode, TestGateway, Upstream, AUDIENCE, IDENTITY};
use dpop_gateway::jose::{Alg, SigningKey};
use serde_json::{json, Map, Value};

/// The issuer with `profile = "jwt"`; the fixture's `https://as.test` keeps
/// the default profile.
const JWT_ISSUER: &str = "https://jwt.as.test";

async fn start() -> (Upstream, TestGateway) {
    let up = Upstream::echo().await;
    let rest = format!(
        "[[issuers]]\nissuer = \"{JWT_ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\nprofile = \"jwt\"\njwks_file = \"as.jwks.json\"\n{}{}{}",
        route_with("api", "/api", &up.url(), &format!("auth = \"dpop\"\n{IDENTITY}")),
        route_with(
            "scoped",
            "/scoped",
            &up.url(),
            &format!("auth = \"dpop\"\nrequired_scopes = [\"orders:read\"]\n{IDENTITY}"),
        ),
        route_with("dual", "/dual", &up.url(), &format!("auth = \"dpop_or_bearer\"\n{IDENTITY}")),
    );
    let gw = TestGateway::dpop(&rest, ClockMode::System).await;
    (up, gw)
}

fn object(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else {
        panic!("not an object")
    };
    m
}

fn header(gw: &TestGateway, typ: Option<&str>) -> Map<String, Value> {
    let mut h = json!({"alg": gw.issuer.alg().as_str(), "kid": gw.issuer.jkt().to_string()});
    if let Some(typ) = typ {
        h["typ"] = json!(typ);
    }
    object(h)
}

/// Keycloak 26: typ JWT, azp, scope string, aud with `account`, payload
/// typ DPoP, an extra member in cnf.
fn keycloak(iss: &str, jkt: &str) -> Map<String, Value> {
    let now = system_now();
    object(json!({
        "exp": now + 300, "iat": now, "jti": "onrtac:7b1e", "iss": iss,
        "aud": [AUDIENCE, "account"], "sub": "f:1d2e:alice", "typ": "DPoP",
        "azp": "orders-web", "sid": "c0ffee", "scope": "openid orders:read",
        "cnf": {"jkt": jkt, "x5t#S256": "extra-member"}
    }))
}

/// Okta custom AS: no header typ, cid, scp array.
fn okta(jkt: &str, scopes: &[&str]) -> Map<String, Value> {
    let now = system_now();
    object(json!({
        "ver": 1, "jti": "AT.x1", "iss": JWT_ISSUER, "aud": AUDIENCE, "iat": now,
        "exp": now + 300, "cid": "0oa1b2c3", "uid": "00u1", "scp": scopes,
        "sub": "alice@example.com", "cnf": {"jkt": jkt}
    }))
}

/// Entra ID v2.0: typ JWT, azp, scp string, no cnf (Entra binds no token).
fn entra() -> Map<String, Value> {
    let now = system_now();
    object(json!({
        "aud": AUDIENCE, "iss": JWT_ISSUER, "iat": now, "nbf": now, "exp": now + 300,
        "azp": "6e74172b", "scp": "orders:read orders:write", "sub": "AAAAAAAA", "ver": "2.0"
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_profile_accepts_authorization_server_tokens() {
    let (up, gw) = start().await;
    let client = gw.client(Alpn::Http1);
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());

    let t = sign_token(
        &gw.issuer,
        &header(&gw, Some("JWT")),
        &keycloak(JWT_ISSUER, &jkt),
    );
    let a = gw.dpop_get(&client, "/api/orders", &t, &key).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let rec = up.last();
    assert_eq!(rec.header("x-auth-client-id"), Some("orders-web"));
    assert_eq!(rec.header("x-auth-scope"), Some("openid orders:read"));
    assert_eq!(rec.header("x-auth-subject"), Some("f:1d2e:alice"));
    assert_eq!(rec.header("x-auth-jkt"), Some(jkt.as_str()));

    // Okta: scopes from the scp array meet required_scopes; without them, 403.
    let t = sign_token(
        &gw.issuer,
        &header(&gw, None),
        &okta(&jkt, &["openid", "orders:read"]),
    );
    let a = gw.dpop_get(&client, "/scoped/orders", &t, &key).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let rec = up.last();
    assert_eq!(rec.header("x-auth-client-id"), Some("0oa1b2c3"));
    assert_eq!(rec.header("x-auth-scope"), Some("openid orders:read"));
    let t = sign_token(&gw.issuer, &header(&gw, None), &okta(&jkt, &["openid"]));
    let a = gw.dpop_get(&client, "/scoped/orders", &t, &key).await;
    a.assert_gateway_error(403, "insufficient_scope");

    // Entra: unbound, so Bearer on a dpop_or_bearer route, never as DPoP.
    let t = sign_token(&gw.issuer, &header(&gw, Some("JWT")), &entra());
    let a = gw.bearer_get(&client, "/dual/orders", &t).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(up.last().header("x-auth-client-id"), Some("6e74172b"));
    assert_eq!(
        up.last().header("x-auth-scope"),
        Some("orders:read orders:write")
    );
    let a = gw.dpop_get(&client, "/api/orders", &t, &key).await;
    a.assert_gateway_error(401, "invalid_token");
    assert_eq!(up.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_profile_and_foreign_types_are_refused() {
    let (up, gw) = start().await;
    let client = gw.client(Alpn::Http1);
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    // The same Keycloak shape from the rfc9068 issuer.
    let t = sign_token(
        &gw.issuer,
        &header(&gw, Some("JWT")),
        &keycloak("https://as.test", &jkt),
    );
    let a = gw.dpop_get(&client, "/api/orders", &t, &key).await;
    a.assert_gateway_error(401, "invalid_token");
    // Token types that are never access tokens, under the jwt profile too.
    for typ in ["dpop+jwt", "id_token+jwt", "JOSE+JSON"] {
        let t = sign_token(
            &gw.issuer,
            &header(&gw, Some(typ)),
            &keycloak(JWT_ISSUER, &jkt),
        );
        let a = gw.dpop_get(&client, "/api/orders", &t, &key).await;
        a.assert_gateway_error(401, "invalid_token");
        assert!(
            a.header("www-authenticate")
                .unwrap_or("")
                .contains("invalid_token"),
            "{typ}"
        );
    }
    // A foreign audience (an ID token for another client) is refused.
    let mut claims = keycloak(JWT_ISSUER, &jkt);
    claims.insert("aud".into(), json!("orders-web"));
    let t = sign_token(&gw.issuer, &header(&gw, Some("JWT")), &claims);
    let a = gw.dpop_get(&client, "/api/orders", &t, &key).await;
    a.assert_gateway_error(401, "invalid_token");
    assert_eq!(up.count(), 0);
}
