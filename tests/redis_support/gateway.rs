//! In-process gateways for the Redis and nonce tests: several instances can
//! share one [`Fixture`] (the same PKI, issuer key and JWKS, secret files),
//! as replicas behind one load balancer would. Every instance has
//! `public_url = "https://api.test"`, so a proof made for one instance's
//! URL is also a proof for every other instance (the `htu` is the public one,
//! not the instance's loopback address): a refusal on another instance can
//! only come from the shared replay window or the nonce, never from `htu`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dpop_gateway::clock::{Clock, ManualClock, SharedClock, SystemClock};
use dpop_gateway::config::Config;
use dpop_gateway::demo::pki::{DemoPki, PkiFiles};
use dpop_gateway::jose::{b64, Alg, SigningKey};
use dpop_gateway::mint::{self, ProofSpec, TokenSpec};
use dpop_gateway::replay::ReplayKey;
use dpop_gateway::server::Gateway;
use http::Request;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{empty, write_pki, Alpn, Answer, TestClient, TlsVersion, Upstream};

pub const ISSUER: &str = "https://as.test";
pub const AUDIENCE: &str = "https://api.test";
/// The client-visible origin of every instance.
pub const PUBLIC_URL: &str = "https://api.test";
/// The path the tests request.
pub const PATH: &str = "/api/resource";
/// How long one request may take before the test fails.
pub const REQUEST_BOUND: Duration = Duration::from_secs(10);
/// How long the gateway may take to drain when an instance is dropped.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// `https://api.test/api/resource`: the `htu` of every proof.
pub fn htu() -> String {
    format!("{PUBLIC_URL}{PATH}")
}

/// Seconds since the epoch from the system clock.
pub fn system_now() -> i64 {
    SystemClock.now_unix()
}

/// Files several gateway instances share.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pki: DemoPki,
    pub files: PkiFiles,
    /// The authorization server's key; `as.jwks.json` holds its public half.
    pub issuer: SigningKey,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let issuer = SigningKey::generate(Alg::Es256).unwrap();
        std::fs::write(
            dir.path().join("as.jwks.json"),
            mint::jwks(&issuer).to_string(),
        )
        .unwrap();
        Fixture {
            dir,
            pki,
            files,
            issuer,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to `name` in the fixture's folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// An access token from the fixture's issuer, bound to `client`, valid
    /// for an hour from `now`.
    pub fn token(&self, client: &SigningKey, now: i64) -> String {
        let spec = TokenSpec {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jkt: Some(client.jkt().to_string()),
            sub: "alice".into(),
            client_id: "client-1".into(),
            scope: Some("read".into()),
            ttl_secs: 3600,
        };
        mint::access_token(&self.issuer, &spec, now).unwrap()
    }

    /// The config of one instance: TLS on `127.0.0.1:0`, an admin listener
    /// on `127.0.0.1:0`, the given `[dpop]` and `[replay]` bodies, the
    /// fixture's issuer and one `auth = "dpop"` route to `upstream`.
    pub fn config(&self, dpop: &str, replay: &str, upstream: &str) -> String {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"{PUBLIC_URL}\"\n\n\
             [server.tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [dpop]\n{dpop}\n\n\
             [replay]\n{replay}\n\n\
             [[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\n\
             jwks_file = \"{jwks}\"\n\n\
             [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"{upstream}\"\nauth = \"dpop\"\n",
            cert = self.files.cert.display(),
            key = self.files.key.display(),
            jwks = self.path("as.jwks.json").display(),
        )
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

/// One running in-process gateway and its own echo upstream.
pub struct Instance {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub upstream: Upstream,
    pub config_text: String,
    pub manual: Option<Arc<ManualClock>>,
    client: TestClient,
    admin_client: TestClient,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}

impl Instance {
    /// Starts an instance with the system clock (`manual: None`) or the
    /// given manual clock (which several instances may share).
    pub async fn start(
        fx: &Fixture,
        dpop: &str,
        replay: &str,
        manual: Option<Arc<ManualClock>>,
    ) -> Instance {
        Self::start_with(fx, dpop, replay, manual, Upstream::echo().await).await
    }

    /// As [`Instance::start`], in front of the given upstream.
    pub async fn start_with(
        fx: &Fixture,
        dpop: &str,
        replay: &str,
        manual: Option<Arc<ManualClock>>,
        upstream: Upstream,
    ) -> Instance {
        let text = fx.config(dpop, replay, &upstream.url());
        let config = Config::from_toml(&text, fx.dir.path()).unwrap_or_else(|problems| {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("invalid config:\n{}\n---\n{text}", list.join("\n"))
        });
        let clock: SharedClock = match &manual {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        let gateway = Gateway::bind_with_clock(&config, clock)
            .await
            .unwrap_or_else(|e| panic!("gateway did not bind: {e}"));
        let addr = gateway.local_addr().unwrap();
        let admin = gateway.admin_addr().expect("an admin listener");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(async {
            let _ = stopped.await;
        }));
        Instance {
            addr,
            admin,
            upstream,
            config_text: text,
            manual,
            client: TestClient::https(&fx.pki.ca_pem, TlsVersion::Any, Alpn::Http1),
            admin_client: TestClient::plain(),
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops serving and waits (bounded) for the drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = tokio::time::timeout(STOP_BOUND, served).await;
        }
    }

    /// The instance's idea of now.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_unix(),
            None => system_now(),
        }
    }

    /// `https://127.0.0.1:PORT/api/resource`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}{PATH}", self.addr.port())
    }

    /// `GET /api/resource` with `Authorization: DPoP <token>` and `DPoP: <proof>`.
    pub async fn send(&self, token: &str, proof: &str) -> Answer {
        let req = Request::get(self.url())
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(empty())
            .unwrap();
        tokio::time::timeout(REQUEST_BOUND, self.client.send(req))
            .await
            .unwrap_or_else(|_| panic!("no answer within {REQUEST_BOUND:?}"))
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// A fresh proof from `caller` (iat = the instance's now), sent.
    pub async fn call(&self, caller: &Caller, nonce: Option<&str>) -> Answer {
        let proof = caller.proof(nonce, self.now());
        self.send(&caller.token, &proof).await
    }

    /// Status of `GET /readyz` on the admin listener.
    pub async fn readyz(&self) -> u16 {
        let req = Request::get(format!("http://{}/readyz", self.admin))
            .body(empty())
            .unwrap();
        match tokio::time::timeout(REQUEST_BOUND, self.admin_client.send(req)).await {
            Ok(Ok(a)) => a.status.as_u16(),
            Ok(Err(e)) => panic!("/readyz failed: {e}"),
            Err(_) => panic!("/readyz did not answer within {REQUEST_BOUND:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Assertions on gateway answers
// ---------------------------------------------------------------------------

/// Every `DPoP-Nonce` value of an answer.
pub fn nonces_of(a: &Answer) -> Vec<String> {
    a.headers
        .get_all("dpop-nonce")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// 200 from the upstream (the echo's `X-Upstream-Name` is present).
pub fn assert_ok(a: &Answer) {
    assert_eq!(
        a.status.as_u16(),
        200,
        "expected 200; headers {:?} body {}",
        a.headers,
        a.text()
    );
    assert!(
        a.headers.get(crate::common::UPSTREAM_NAME_HEADER).is_some(),
        "a 200 that did not come from the upstream: {:?}",
        a.headers
    );
}

/// A 401 whose DPoP challenge carries `error="<code>"`.
pub fn assert_challenge(a: &Answer, code: &str) {
    a.assert_gateway_error(401, code);
    let www = a
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("401 without WWW-Authenticate: {:?}", a.headers));
    assert!(www.starts_with("DPoP "), "not a DPoP challenge: {www}");
    assert!(
        www.contains(&format!("error=\"{code}\"")),
        "challenge without error=\"{code}\": {www}"
    );
}

/// 401 `invalid_dpop_proof`.
pub fn assert_invalid_proof(a: &Answer) {
    assert_challenge(a, "invalid_dpop_proof");
}

/// 401 `invalid_dpop_proof` for a replayed proof.
pub fn assert_replayed(a: &Answer) {
    assert_invalid_proof(a);
    let desc = a.json()["error_description"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        desc.contains("already used") || desc.contains("replay"),
        "not refused as a replay: {}",
        a.text()
    );
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E.
pub fn is_nqchar_string(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// 401 `use_dpop_nonce` with exactly one well-formed `DPoP-Nonce`,
/// `Cache-Control: no-store` and the nonce exposed to CORS; returns the nonce.
pub fn assert_use_nonce(a: &Answer) -> String {
    assert_challenge(a, "use_dpop_nonce");
    let nonces = nonces_of(a);
    assert_eq!(
        nonces.len(),
        1,
        "exactly one DPoP-Nonce expected: {:?}",
        a.headers
    );
    let nonce = nonces[0].clone();
    assert!(
        is_nqchar_string(&nonce),
        "DPoP-Nonce is not 1*NQCHAR: {nonce:?}"
    );
    assert_no_store(a);
    let expose = a
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        expose.contains("dpop-nonce"),
        "DPoP-Nonce not exposed to CORS: {:?}",
        a.headers
    );
    nonce
}

/// Exactly one `Cache-Control`, and it says `no-store`.
pub fn assert_no_store(a: &Answer) {
    let cc: Vec<_> = a.headers.get_all("cache-control").iter().collect();
    assert_eq!(cc.len(), 1, "one Cache-Control expected: {:?}", a.headers);
    assert!(
        cc[0].to_str().unwrap_or("").contains("no-store"),
        "Cache-Control without no-store: {:?}",
        a.headers
    );
}

/// 503 `temporarily_unavailable` with a `Retry-After` in seconds and no challenge.
pub fn assert_unavailable(a: &Answer) {
    a.assert_gateway_error(503, "temporarily_unavailable");
    let retry = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 without Retry-After: {:?}", a.headers));
    assert!(
        retry.parse::<u64>().is_ok(),
        "Retry-After is not delay-seconds: {retry:?}"
    );
    assert!(
        a.headers.get("www-authenticate").is_none(),
        "a 503 with a challenge: {:?}",
        a.headers
    );
}
