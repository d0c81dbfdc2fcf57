//! Test-only access to the fixtures in `tests/fixtures/jose/` (see the README there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

/// Verbatim copy of `shared/vectors/rfc9449.json`.
const VECTORS_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jose/rfc9449.json"
));

/// A throwaway 2048-bit RSA private JWK (alg PS256).
pub(crate) const RSA2048_PRIVATE_JWK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jose/rsa2048.private.jwk.json"
));

/// A 1024-bit RSA public JWK.
pub(crate) const RSA1024_PUBLIC_JWK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/jose/rsa1024.public.jwk.json"
));

/// The RFC 9449 example access token (§5.5 of rfc9449-checks).
pub(crate) const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

/// The whole vectors document.
pub(crate) fn vectors() -> Value {
    serde_json::from_str(VECTORS_JSON).unwrap()
}

/// A top-level member of the vectors document.
pub(crate) fn value(name: &str) -> Value {
    vectors()[name].clone()
}

/// The `compact` JWS of the named entry in the `jws` list.
pub(crate) fn compact(name: &str) -> String {
    let doc = vectors();
    let entry = doc["jws"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    entry["compact"].as_str().unwrap().to_owned()
}

/// A key made by [`crate::jose::SigningKey::generate`] for `alg`. RSA keys are generated once
/// per test run (PS256) and reloaded with `alg`, because RSA generation takes seconds in
/// debug builds.
pub(crate) fn generated_key(alg: crate::jose::Alg) -> crate::jose::SigningKey {
    use crate::jose::{Alg, SigningKey};
    static RSA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match alg {
        Alg::Es256 | Alg::Es384 | Alg::EdDsa => SigningKey::generate(alg).unwrap(),
        _ => {
            let jwk = RSA.get_or_init(|| {
                SigningKey::generate(Alg::Ps256)
                    .unwrap()
                    .to_private_jwk()
                    .to_string()
            });
            SigningKey::from_private_jwk(jwk, Some(alg)).unwrap()
        }
    }
}
