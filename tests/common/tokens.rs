//! Access tokens for the tests: minted by the crate ([`mint::access_token`],
//! RFC 9068: `typ: at+jwt`, `kid` = the issuer key's thumbprint, `sub`
//! alice, `client_id` client-1), or made by hand from a header and claims a
//! test changes before signing; and opaque tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use dpop_gateway::jose::SigningKey;
use dpop_gateway::mint::{self, TokenSpec};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};

use super::config::{AUDIENCE, ISSUER};
use super::jose::{b64, random_id};

/// A token from `issuer` for `iss` and [`AUDIENCE`], bound to `jkt` if
/// given, valid for `ttl_secs` from `now`. Every call makes a new token
/// (new `jti`).
pub fn access_token(
    issuer: &SigningKey,
    iss: &str,
    jkt: Option<&str>,
    scope: Option<&str>,
    ttl_secs: i64,
    now: i64,
) -> String {
    let spec = TokenSpec {
        iss: iss.into(),
        aud: AUDIENCE.into(),
        jkt: jkt.map(str::to_owned),
        sub: "alice".into(),
        client_id: "client-1".into(),
        scope: scope.map(str::to_owned),
        ttl_secs,
    };
    mint::access_token(issuer, &spec, now).unwrap()
}

/// A token from [`ISSUER`], valid for five minutes from `now`.
pub fn token(issuer: &SigningKey, jkt: Option<&str>, scope: Option<&str>, now: i64) -> String {
    access_token(issuer, ISSUER, jkt, scope, 300, now)
}

/// A token from `issuer_key` for `iss` with scope `read`, valid for five
/// minutes from `now`.
pub fn token_from(issuer_key: &SigningKey, iss: &str, jkt: Option<&str>, now: i64) -> String {
    access_token(issuer_key, iss, jkt, Some("read"), 300, now)
}

/// The header of a hand-made access token, as [`token`] would make it.
pub fn token_header(issuer: &SigningKey) -> Map<String, Value> {
    let Value::Object(h) = json!({
        "typ": "at+jwt",
        "alg": issuer.alg().as_str(),
        "kid": issuer.jkt().to_string(),
    }) else {
        panic!()
    };
    h
}

/// The claims of a hand-made access token, valid at `now`.
pub fn token_claims(jkt: Option<&str>, now: i64) -> Map<String, Value> {
    let Value::Object(mut c) = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "client_id": "client-1",
        "iat": now,
        "exp": now + 300,
        "jti": random_id(),
    }) else {
        panic!()
    };
    if let Some(jkt) = jkt {
        c.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    c
}

/// Signs a hand-made token with `key`.
pub fn sign_token(
    key: &SigningKey,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> String {
    key.sign_compact(
        &Value::Object(header.clone()),
        &Value::Object(claims.clone()),
    )
    .unwrap()
}

/// A random opaque token: 32 random octets, base64url (43 characters).
pub fn opaque() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).unwrap();
    b64(bytes)
}

/// The example access token of RFC 7662 §2.1 (it has `~` and two dots).
pub const RFC7662_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
