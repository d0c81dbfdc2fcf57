//! Test material for operators, the demo, the tests and the benchmarks:
//! DPoP proofs (RFC 9449 §4.2), JWT access tokens in the RFC 9068 shape with
//! `cnf.jkt` (§6.1), and JWKS documents. Never used on the request path.
//! Minted access tokens are for test environments only: a real deployment
//! gets its tokens from its authorization server.

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};

use crate::jose::{b64, KeyError, SigningKey};

/// A random, unguessable `jti`: 16 random octets, base64url.
pub fn random_id() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Sign)?;
    Ok(b64::encode(bytes))
}

/// What a proof is for.
#[derive(Debug, Clone, Copy)]
pub struct ProofSpec<'a> {
    pub method: &'a str,
    /// The request URL; its query and fragment are dropped (§4.2).
    pub url: &'a str,
    /// The access token, to bind with `ath`.
    pub token: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub iat: i64,
}

/// Signs a fresh DPoP proof (new random `jti`).
pub fn proof(key: &SigningKey, spec: &ProofSpec<'_>) -> Result<String, KeyError> {
    let htu = spec.url.split(['?', '#']).next().unwrap_or(spec.url);
    let mut claims = Map::new();
    claims.insert("jti".into(), Value::String(random_id()?));
    claims.insert("htm".into(), Value::String(spec.method.to_owned()));
    claims.insert("htu".into(), Value::String(htu.to_owned()));
    claims.insert("iat".into(), json!(spec.iat));
    if let Some(token) = spec.token {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        claims.insert("ath".into(), Value::String(b64::encode(digest.as_ref())));
    }
    if let Some(nonce) = spec.nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    key.sign_compact(&key.proof_header(), &Value::Object(claims))
}

/// What an access token says.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub iss: String,
    pub aud: String,
    /// `cnf.jkt`; `None` mints an unbound (bearer) token.
    pub jkt: Option<String>,
    pub sub: String,
    pub client_id: String,
    pub scope: Option<String>,
    pub ttl_secs: i64,
}

/// Signs an RFC 9068 access token (`typ: at+jwt`, `kid` = the issuer key's
/// own `kid`, else its RFC 7638 thumbprint; claims `iss sub aud exp iat jti
/// client_id`, plus `scope` and `cnf.jkt`).
pub fn access_token(issuer: &SigningKey, spec: &TokenSpec, now: i64) -> Result<String, KeyError> {
    let header = json!({
        "typ": "at+jwt",
        "alg": issuer.alg().as_str(),
        "kid": issuer.key_id(),
    });
    let mut claims = json!({
        "iss": spec.iss,
        "sub": spec.sub,
        "aud": spec.aud,
        "iat": now,
        "exp": now.saturating_add(spec.ttl_secs),
        "jti": random_id()?,
        "client_id": spec.client_id,
    });
    if let Some(obj) = claims.as_object_mut() {
        if let Some(scope) = &spec.scope {
            obj.insert("scope".into(), Value::String(scope.clone()));
        }
        if let Some(jkt) = &spec.jkt {
            obj.insert("cnf".into(), json!({ "jkt": jkt }));
        }
    }
    issuer.sign_compact(&header, &claims)
}

/// A JWKS document with the public half of `key` (`kid` = the key's own
/// `kid`, else its thumbprint, as in the tokens [`access_token`] signs), as
/// `jwks_file` expects.
pub fn jwks(key: &SigningKey) -> Value {
    let mut jwk = key.public_jwk();
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), Value::String(key.key_id()));
        obj.insert("alg".into(), Value::String(key.alg().as_str().to_owned()));
        obj.insert("use".into(), Value::String("sig".into()));
    }
    json!({ "keys": [jwk] })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::jose::{Alg, CompactJws};

    fn spec() -> TokenSpec {
        TokenSpec {
            iss: "https://as.test".into(),
            aud: "https://api.test".into(),
            jkt: None,
            sub: "alice".into(),
            client_id: "app".into(),
            scope: None,
            ttl_secs: 60,
        }
    }

    /// The `kid` of the token's header and of the JWKS entry.
    fn kids(key: &SigningKey) -> (Value, Value) {
        let token = access_token(key, &spec(), 1_800_000_000).unwrap();
        let header = CompactJws::parse(&token).unwrap().header()["kid"].clone();
        (header, jwks(key)["keys"][0]["kid"].clone())
    }

    #[test]
    fn tokens_name_the_issuer_key_by_its_own_kid() {
        let mut jwk = SigningKey::generate(Alg::Es256).unwrap().to_private_jwk();
        jwk["kid"] = json!("my-key-1");
        let key = SigningKey::from_private_jwk(&jwk.to_string(), None).unwrap();
        assert_eq!(kids(&key), (json!("my-key-1"), json!("my-key-1")));
    }

    #[test]
    fn a_key_without_kid_is_named_by_its_thumbprint() {
        let key = SigningKey::generate(Alg::EdDsa).unwrap();
        let jkt = json!(key.jkt().to_string());
        assert_eq!(kids(&key), (jkt.clone(), jkt));
    }
}
