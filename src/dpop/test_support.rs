//! Helpers for the proof tests: keys, a default request, and a one-call check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use super::{precheck, Htu, ProofChecker, ProofError, ProofPolicy, ProofRequest, VerifiedProof};
use crate::jose::test_vectors::{generated_key, RFC_TOKEN, RSA2048_PRIVATE_JWK};
use crate::jose::{b64, Alg, AlgSet, SigningKey};

/// The RFC 9449 Fig. 13 resource.
pub(super) const RESOURCE: &str = "https://resource.example.org/protectedresource";

/// Two seconds after the Fig. 14 proof's `iat`.
pub(super) const NOW: i64 = 1_562_262_620;

pub(super) use crate::digest::sha256;

/// `ath` for a token.
pub(super) fn ath(token: &str) -> String {
    b64::encode(sha256(token))
}

/// A policy allowing every algorithm.
pub(super) fn all_algs() -> ProofPolicy {
    ProofPolicy {
        algs: crate::jose::Alg::ALL.into_iter().collect::<AlgSet>(),
        ..ProofPolicy::default()
    }
}

/// A fresh key for `alg` (see [`generated_key`]).
pub(super) fn key(alg: Alg) -> SigningKey {
    generated_key(alg)
}

/// The fixed RSA test key, with `alg`.
pub(super) fn rsa_fixture(alg: Alg) -> SigningKey {
    SigningKey::from_private_jwk(RSA2048_PRIVATE_JWK, Some(alg)).unwrap()
}

/// A new `jti` for every call.
pub(super) fn jti() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("test-jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Claims for GET [`RESOURCE`] at [`NOW`], bound to the RFC token.
pub(super) fn claims() -> Value {
    json!({
        "jti": jti(),
        "htm": "GET",
        "htu": RESOURCE,
        "iat": NOW,
        "ath": ath(RFC_TOKEN),
    })
}

/// `value` with `name` set.
pub(super) fn with(value: &Value, name: &str, member: Value) -> Value {
    let mut out = value.clone();
    out.as_object_mut().unwrap().insert(name.to_owned(), member);
    out
}

/// `value` without `name`.
pub(super) fn without(value: &Value, name: &str) -> Value {
    let mut out = value.clone();
    out.as_object_mut().unwrap().remove(name);
    out
}

/// A request to check a proof against.
pub(super) struct Req {
    pub(super) method: &'static str,
    pub(super) htu: String,
    pub(super) token: Option<String>,
    pub(super) policy: ProofPolicy,
    pub(super) now: i64,
}

impl Default for Req {
    /// GET [`RESOURCE`] with the RFC token, default policy, at [`NOW`].
    fn default() -> Self {
        Req {
            method: "GET",
            htu: RESOURCE.to_owned(),
            token: Some(RFC_TOKEN.to_owned()),
            policy: ProofPolicy::default(),
            now: NOW,
        }
    }
}

impl Req {
    /// `precheck` then `verify_signature`.
    pub(super) fn check(&self, proof: &str) -> Result<VerifiedProof, ProofError> {
        let htu = Htu::parse(&self.htu).unwrap();
        let hash = self.token.as_deref().map(sha256);
        let req = ProofRequest {
            method: self.method,
            htu: &htu,
            token_sha256: hash.as_ref(),
        };
        let cold = precheck(proof, &req, &self.policy, self.now)
            .and_then(|unverified| unverified.verify_signature());
        // The same proof through a checker that already knows its header (when
        // the header passes): every case must end the same way.
        let checker = ProofChecker::new(self.policy);
        if checker.learn(proof) {
            let warm = checker
                .precheck(proof, &req, self.now)
                .and_then(|unverified| unverified.verify_signature());
            match (&cold, &warm) {
                (Ok(c), Ok(w)) => assert_eq!(
                    (c.jkt(), c.jti(), c.iat(), c.nonce(), c.alg()),
                    (w.jkt(), w.jti(), w.iat(), w.nonce(), w.alg()),
                    "{proof}"
                ),
                (Err(c), Err(w)) => assert_eq!(c.to_string(), w.to_string(), "{proof}"),
                _ => panic!("{proof}: cold {cold:?}, with its header known {warm:?}"),
            }
        }
        cold
    }
}

/// Checks `proof` against the default request.
pub(super) fn check(proof: &str) -> Result<VerifiedProof, ProofError> {
    Req::default().check(proof)
}

/// Signs `claims` under `header` with `key`.
pub(super) fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    key.sign_compact(header, claims).unwrap()
}

/// A valid proof by `key` for the default request, with `claims`.
pub(super) fn proof(key: &SigningKey, claims: &Value) -> String {
    sign(key, &key.proof_header(), claims)
}

pub(super) type Matcher = fn(&ProofError) -> bool;

/// Runs each `(case, proof, expected error)` against `req`, and checks what every rejection
/// tells the client and the log.
pub(super) fn expect_all(req: &Req, cases: Vec<(&str, String, Matcher)>) {
    for (name, proof, matches) in cases {
        let err = match req.check(&proof) {
            Ok(_) => panic!("case {name}: accepted"),
            Err(err) => err,
        };
        assert!(matches(&err), "case {name}: wrong error {err:?}");
        let description = err.description();
        assert!(
            description
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
            "case {name}: description {description:?} is not NQSCHAR"
        );
        assert!(
            proof.len() < 40 || !err.to_string().contains(&proof),
            "case {name}"
        );
    }
}

pub(super) fn header_of(key: &SigningKey) -> Value {
    key.proof_header()
}
