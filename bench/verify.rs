//! The cost of one full DPoP check at steady state (token cache hit) next to
//! the bare ring signature verification it is built around, for ES256,
//! EdDSA and PS256.
//!
//! "full check" is `Authenticator::authenticate` on a DPoP route: request
//! shape, SHA-256 of the token, proof parsing and claims (typ, alg, jwk and
//! its thumbprint, jti, htm, htu, iat, ath), the token-cache lookup and
//! binding, the proof signature, the replay-store insert and the scope check.
//! Every proof is fresh (distinct jti); a new replay store is swapped in each
//! time the pre-signed pool is used up, outside the timed section.
//!
//! Run: `cargo bench --bench verify`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "material.rs"]
mod material;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dpop_gateway::auth::{Authenticator, RequestView};
use dpop_gateway::clock::{ManualClock, SharedClock};
use dpop_gateway::config::Config;
use dpop_gateway::jose::{b64, Alg};
use dpop_gateway::replay::{MemoryReplayStore, ReplayStore};
use http::HeaderMap;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

const NOW: i64 = 1_800_000_000;
const URL: &str = "https://api.example.com/orders/42";
const POOL: usize = 2000;

struct Setup {
    config: Config,
    clock: SharedClock,
    token: String,
    proofs: Vec<String>,
    _dir: tempfile::TempDir,
}

fn setup(alg: Alg) -> Setup {
    let m = material::material(alg, Some("read"), NOW);
    let text = r#"
        [server]
        listen = "127.0.0.1:0"
        public_url = "https://api.example.com"
        [dpop]
        algs = ["ES256", "EdDSA", "PS256"]
        [[issuers]]
        issuer = "https://as.example.com"
        audiences = ["https://api.example.com"]
        jwks_file = "as.jwks.json"
        [[routes]]
        name = "orders"
        path_prefix = "/orders"
        upstream = "http://127.0.0.1:9"
        auth = "dpop"
        required_scopes = ["read"]
        "#;
    let config = Config::from_toml(text, m.dir.path()).unwrap();
    let proofs = m.proofs(URL, NOW, POOL);
    Setup {
        config,
        clock: Arc::new(ManualClock::new(NOW)),
        token: m.token,
        proofs,
        _dir: m.dir,
    }
}

fn full_check(c: &mut Criterion, name: &str, alg: Alg) {
    let s = setup(alg);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let route = s.config.routes[0].clone();
    let uri: http::Uri = "/orders/42".parse().unwrap();
    let authorization = format!("DPoP {}", s.token);
    let requests: Vec<HeaderMap> = s
        .proofs
        .iter()
        .map(|p| {
            let mut h = HeaderMap::new();
            h.insert("authorization", authorization.parse().unwrap());
            h.insert("dpop", p.parse().unwrap());
            h.insert("host", "api.example.com".parse().unwrap());
            h
        })
        .collect();
    let fresh = || {
        let store = ReplayStore::Memory(Arc::new(MemoryReplayStore::new(1_000_000)));
        let auth = Authenticator::new(&s.config, s.clock.clone(), store).unwrap();
        // Warm the token cache, as a steady client would.
        let warm = s.proofs[0].clone();
        let mut h = requests[0].clone();
        h.insert("dpop", warm.parse().unwrap());
        let view = RequestView {
            method: "GET",
            headers: &h,
            query: uri.query(),
        };
        let htu = || dpop_gateway::dpop::Htu::parse(URL).map_err(|e| e.to_string());
        assert!(rt.block_on(auth.authenticate(&route, &view, htu)).is_ok());
        auth
    };
    c.bench_function(&format!("full check (proof + cached token) {name}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let auth = fresh();
                // Proof 0 warmed the cache and is spent; use the rest.
                let n = (iters - done).min(POOL as u64 - 1) as usize;
                let start = Instant::now();
                for h in &requests[1..=n] {
                    let view = RequestView {
                        method: "GET",
                        headers: h,
                        query: uri.query(),
                    };
                    let htu = || dpop_gateway::dpop::Htu::parse(URL).map_err(|e| e.to_string());
                    let r = rt.block_on(auth.authenticate(&route, &view, htu));
                    debug_assert!(r.is_ok());
                    criterion::black_box(r.is_ok());
                }
                total += start.elapsed();
                done += n as u64;
            }
            total
        })
    });
}

/// The proof signature alone, verified with ring directly.
fn bare_verify(c: &mut Criterion, name: &str, alg: Alg) {
    let s = setup(alg);
    let proof = &s.proofs[0];
    let (input, sig) = proof.rsplit_once('.').unwrap();
    let sig = b64::decode(sig).unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&b64::decode(input.split('.').next().unwrap()).unwrap()).unwrap();
    let jwk = &header["jwk"];
    let field = |k: &str| b64::decode(jwk[k].as_str().unwrap()).unwrap();
    let input = input.as_bytes().to_vec();
    c.bench_function(&format!("bare ring verify {name}"), |b| match alg {
        Alg::Es256 => {
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point);
            b.iter(|| key.verify(&input, &sig).unwrap())
        }
        Alg::EdDsa => {
            let key = UnparsedPublicKey::new(&signature::ED25519, field("x"));
            b.iter(|| key.verify(&input, &sig).unwrap())
        }
        _ => {
            let key = RsaPublicKeyComponents {
                n: field("n"),
                e: field("e"),
            };
            b.iter(|| {
                key.verify(&signature::RSA_PSS_2048_8192_SHA256, &input, &sig)
                    .unwrap()
            })
        }
    });
}

fn benches(c: &mut Criterion) {
    for (name, alg) in [
        ("ES256", Alg::Es256),
        ("EdDSA", Alg::EdDsa),
        ("PS256", Alg::Ps256),
    ] {
        bare_verify(c, name, alg);
        full_check(c, name, alg);
    }
}

criterion_group! {
    name = verify;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(verify);
