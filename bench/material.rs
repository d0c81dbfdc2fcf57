//! Test material shared by the criterion benches (included with `#[path]`):
//! an issuer whose JWKS is written to `as.jwks.json` in a temporary
//! directory (the config's `jwks_file`), a client key, a DPoP-bound access
//! token and a pool of fresh proofs.

use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint::{self, ProofSpec, TokenSpec};

pub const ISSUER: &str = "https://as.example.com";
pub const AUDIENCE: &str = "https://api.example.com";

pub struct Material {
    /// Holds `as.jwks.json`; relative paths of a config resolve here.
    pub dir: tempfile::TempDir,
    pub client: SigningKey,
    /// Bound to `client` (`cnf.jkt`), issued at `now`, valid for an hour.
    pub token: String,
}

/// An ES256 issuer and a client key of `alg`; the token carries `scope`.
pub fn material(alg: Alg, scope: Option<&str>, now: i64) -> Material {
    let dir = tempfile::tempdir().unwrap();
    let issuer = SigningKey::generate(Alg::Es256).unwrap();
    std::fs::write(
        dir.path().join("as.jwks.json"),
        mint::jwks(&issuer).to_string(),
    )
    .unwrap();
    let client = SigningKey::generate(alg).unwrap();
    let spec = TokenSpec {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jkt: Some(client.jkt().to_string()),
        sub: "bench".into(),
        client_id: "bench".into(),
        scope: scope.map(str::to_owned),
        ttl_secs: 3600,
    };
    let token = mint::access_token(&issuer, &spec, now).unwrap();
    Material { dir, client, token }
}

impl Material {
    /// `n` proofs for GET `url`, each with its own jti, bound to the token.
    pub fn proofs(&self, url: &str, now: i64, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let p = ProofSpec {
                    method: "GET",
                    url,
                    token: Some(&self.token),
                    nonce: None,
                    iat: now,
                };
                mint::proof(&self.client, &p).unwrap()
            })
            .collect()
    }
}
