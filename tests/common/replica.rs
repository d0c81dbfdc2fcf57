//! Replicas: in-process gateways on one shared [`Fixture`] (the same PKI,
//! issuer key and JWKS, secret files), as behind one load balancer, each in
//! front of its own echo upstream. Every replica has `public_url =
//! "https://api.test"`, so a proof made for one replica's URL is also a
//! proof for every other one (the `htu` is the public one, not the
//! replica's loopback address): a refusal on another replica can only come
//! from the shared replay window or the nonce, never from `htu`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use dpop_gateway::jose::{b64, Alg, SigningKey};
use dpop_gateway::mint::{self, ProofSpec};
use dpop_gateway::replay::ReplayKey;
use http::Request;
use serde_json::Value;

use super::body::empty;
use super::client::Answer;
use super::config::{fill, write_pki, AUDIENCE, ISSUER, TLS_TABLE};
use super::fixture::Fixture;
use super::gateway::{ClockMode, TestGateway, REQUEST_BOUND};
use super::process::{run_bin, BinOutput};
use super::upstream::Upstream;

/// The client-visible origin of every replica.
pub const PUBLIC_URL: &str = "https://api.test";
/// The path the tests request.
pub const PATH: &str = "/api/resource";

/// `https://api.test/api/resource`: the `htu` of every proof.
pub fn htu() -> String {
    format!("{PUBLIC_URL}{PATH}")
}

/// The config of one replica: TLS on `127.0.0.1:0`, an admin listener on
/// `127.0.0.1:0`, the given `[dpop]` and `[replay]` bodies, the fixture's
/// issuer and one `auth = "dpop"` route to `upstream`.
pub fn replica_config(fx: &Fixture, dpop: &str, replay: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\n\n\
         [server.tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [dpop]\n{dpop}\n\n\
         [replay]\n{replay}\n\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\n\
         jwks_file = \"{jwks}\"\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"{upstream}\"\nauth = \"dpop\"\n",
        cert = fx.files.cert.display(),
        key = fx.files.key.display(),
        jwks = fx.path("as.jwks.json").display(),
    )
}

/// The config of a replica run as the binary ([`super::GatewayProcess`]):
/// TLS from the process's own PKI, an admin listener, the given `[replay]`
/// body, the fixture's issuer and one `auth = "dpop"` route to `upstream`.
pub fn binary_config(fx: &Fixture, replay: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\n\n{TLS_TABLE}\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [replay]\n{replay}\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"{jwks}\"\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"{upstream}\"\nauth = \"dpop\"\n",
        jwks = fx.path("as.jwks.json").display(),
    )
}

/// Runs `dpop-gateway check` on a config in `dir` (which gets its own PKI)
/// whose `[replay]` table is `replay`, with the fixture's issuer and one
/// route.
pub fn check_replay(fx: &Fixture, dir: &std::path::Path, replay: &str) -> BinOutput {
    let (_pki, files) = write_pki(dir);
    let path = dir.join("gateway.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}\n[replay]\n{replay}\n\
         [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"{jwks}\"\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"dpop\"\n",
        jwks = fx.path("as.jwks.json").display(),
    );
    std::fs::write(&path, fill(&text, &files, dir)).unwrap();
    run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        std::time::Duration::from_secs(20),
    )
}

impl TestGateway {
    /// A replica on `fx` in front of a new echo upstream.
    pub async fn replica(fx: &Fixture, dpop: &str, replay: &str, clock: ClockMode) -> TestGateway {
        Self::replica_with(fx, dpop, replay, clock, Upstream::echo().await).await
    }

    /// A replica on `fx` in front of `upstream`, which it keeps.
    pub async fn replica_with(
        fx: &Fixture,
        dpop: &str,
        replay: &str,
        clock: ClockMode,
        upstream: Upstream,
    ) -> TestGateway {
        Self::builder(&replica_config(fx, dpop, replay, &upstream.url()))
            .fixture(fx)
            .clock(clock)
            .upstream(upstream)
            .start()
            .await
    }

    /// `GET /api/resource` with `Authorization: DPoP <token>` and `DPoP:
    /// <proof>` on the gateway's own client; panics without an answer
    /// within [`REQUEST_BOUND`].
    pub async fn send(&self, token: &str, proof: &str) -> Answer {
        let req = Request::get(self.url(PATH))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(empty())
            .unwrap();
        tokio::time::timeout(REQUEST_BOUND, self.pooled().send(req))
            .await
            .unwrap_or_else(|_| panic!("no answer within {REQUEST_BOUND:?}"))
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// A fresh proof from `caller` (iat = the gateway's now), sent.
    pub async fn call(&self, caller: &Caller, nonce: Option<&str>) -> Answer {
        let proof = caller.proof(nonce, self.now());
        self.send(&caller.token, &proof).await
    }
}

/// A client key and a token bound to it.
pub struct Caller {
    pub key: SigningKey,
    pub token: String,
}

impl Caller {
    /// A fresh ES256 key and a token for it, issued at `now`.
    pub fn new(fx: &Fixture, now: i64) -> Caller {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let token = fx.token(&key, now);
        Caller { key, token }
    }

    /// A fresh proof (new random `jti`) for `GET https://api.test/api/resource`.
    pub fn proof(&self, nonce: Option<&str>, iat: i64) -> String {
        mint::proof(
            &self.key,
            &ProofSpec {
                method: "GET",
                url: &htu(),
                token: Some(&self.token),
                nonce,
                iat,
            },
        )
        .unwrap()
    }

    /// A proof whose claims are exactly `claims` (signed with the caller's key).
    pub fn proof_with_claims(&self, claims: &Value) -> String {
        self.key
            .sign_compact(&self.key.proof_header(), claims)
            .unwrap()
    }

    /// The claims [`Caller::proof`] would make (with a fixed `jti`).
    pub fn claims(&self, jti: &str, nonce: Option<&str>, iat: i64) -> Value {
        let ath = b64::encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.token.as_bytes(),
        ));
        let mut claims = serde_json::json!({
            "jti": jti,
            "htm": "GET",
            "htu": htu(),
            "iat": iat,
            "ath": ath,
        });
        if let Some(n) = nonce {
            claims["nonce"] = Value::String(n.to_owned());
        }
        claims
    }

    /// The replay key the gateway stores for `proof`: `SHA-256(jkt ‖ 0 ‖ jti)`.
    pub fn replay_key(&self, proof: &str) -> ReplayKey {
        ReplayKey::new(self.key.jkt(), &jti_of(proof))
    }
}

/// The `jti` claim of a compact proof.
pub fn jti_of(proof: &str) -> String {
    let payload = proof.split('.').nth(1).expect("a compact JWS");
    let claims: Value = serde_json::from_slice(&b64::decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().expect("a string jti").to_owned()
}

/// The Redis key of a replay key under `prefix`.
pub fn redis_key(prefix: &str, key: &ReplayKey) -> String {
    format!("{prefix}{}", b64::encode(key.as_bytes()))
}
