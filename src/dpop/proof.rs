//! DPoP proof checking (RFC 9449 §4.3), split so that the expensive signature check runs last.
//!
//! The gateway pipeline calls, in order:
//!
//! 1. header shape checks (one `DPoP` header, §4.3 item 1; done by the caller);
//! 2. [`precheck`]: everything that needs no public-key operation, cheapest first —
//!    length cap → compact JWS (§4.3 item 2; `crit` refused) → `typ` (item 4) → `alg` against
//!    the allow-list (item 5) → `jwk` public, valid, fitting `alg` (items 6–7), thumbprint →
//!    claims `jti`, `htm`, `htu`, `iat`, `exp`/`nbf`, `ath`, `nonce` type (items 3, 8–12);
//! 3. access-token validation and binding: `cnf.jkt` == [`UnverifiedProof::jkt`] (§6, §7.1;
//!    done by the caller);
//! 4. [`UnverifiedProof::verify_signature`]: the signature under the `jwk` (item 6) — the only
//!    expensive step, and the only way to obtain a [`VerifiedProof`];
//! 5. the replay record keyed on `(jkt, jti)` (§11.1; done by the caller, last).
//!
//! Time is passed in (`now_unix`), never read here.

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;

use super::claims::{self, Expect};
use super::error::ProofError;
use super::header;
use super::htu::Htu;
use crate::jose::{Alg, AlgSet, Jkt, JwsError, ParseLimits, PublicJwk, Segments};

/// Longest accepted proof, checked before decoding (a PS512 proof with an 8192-bit key fits).
pub const MAX_PROOF_LEN: usize = crate::jose::jws::MAX_COMPACT_LEN;

/// Local proof policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofPolicy {
    /// Accepted `alg` values (§4.3 item 5); also the `algs` challenge parameter.
    pub algs: AlgSet,
    /// How old `iat` may be, in seconds (§11.1).
    pub max_age_secs: u64,
    /// How far in the future `iat` may be, in seconds (§11.1); also the leeway for `nbf`.
    pub max_skew_secs: u64,
    /// `[limits]`: JSON depth of header and claims, size and RSA modulus of the `jwk`.
    pub limits: ParseLimits,
}

impl Default for ProofPolicy {
    /// `ES256 PS256 EdDSA`, 60 s old, 10 s ahead (rfc9449-checks §4 recommended defaults),
    /// the default `[limits]`.
    fn default() -> Self {
        ProofPolicy {
            algs: AlgSet::default_proof(),
            max_age_secs: 60,
            max_skew_secs: 10,
            limits: ParseLimits::default(),
        }
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The request method as received; compared exactly (case-sensitive).
    pub method: &'a str,
    /// The expected `htu`, built by the caller from the client-visible URL.
    pub htu: &'a Htu,
    /// SHA-256 of the access token exactly as sent. `Some` makes `ath` required and checked.
    pub token_sha256: Option<&'a [u8; 32]>,
}

/// The key and `alg` of a proof header that passed every header check.
#[derive(Debug)]
struct ProofKey {
    alg: Alg,
    jwk: PublicJwk,
}

/// A proof that passed every check except the signature.
pub struct UnverifiedProof {
    key: Arc<ProofKey>,
    /// The header segment, when it was checked here rather than found among
    /// the known headers (what [`ProofChecker::remember`] stores).
    header: Option<Box<str>>,
    jti: String,
    iat: i64,
    nonce: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A proof whose every check, including the signature, passed.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    key: Arc<ProofKey>,
    header: Option<Box<str>>,
    jti: String,
    iat: i64,
    nonce: Option<String>,
}

/// Runs every proof check except the signature (see the module docs for the order).
pub fn precheck(
    proof: &str,
    req: &ProofRequest<'_>,
    policy: &ProofPolicy,
    now_unix: i64,
) -> Result<UnverifiedProof, ProofError> {
    check(split(proof)?, None, req, policy, now_unix)
}

/// The proof's three segments; the length cap is applied before anything is decoded.
fn split(proof: &str) -> Result<Segments<'_>, ProofError> {
    Segments::split(proof, MAX_PROOF_LEN).map_err(|e| match e {
        JwsError::TooLong { len, max } => ProofError::TooLong { len, max },
        other => ProofError::Malformed(other),
    })
}

/// `typ`, `alg` and `jwk` of a decoded header (§4.3 items 4–7), cheapest first.
fn check_header(
    header: &serde_json::Map<String, serde_json::Value>,
    policy: &ProofPolicy,
) -> Result<ProofKey, ProofError> {
    header::check_typ(header)?;
    let alg = header::check_alg(header, policy.algs)?;
    let jwk = header::check_jwk(header, alg, &policy.limits)?;
    Ok(ProofKey { alg, jwk })
}

/// A proof's header: already known to pass, or decoded and still to check.
enum Header {
    Known(Arc<ProofKey>),
    Decoded(serde_json::Map<String, serde_json::Value>),
}

/// `known`: what the header segment is already known to hold.
fn check(
    segments: Segments<'_>,
    known: Option<Arc<ProofKey>>,
    req: &ProofRequest<'_>,
    policy: &ProofPolicy,
    now_unix: i64,
) -> Result<UnverifiedProof, ProofError> {
    let header = match known {
        Some(key) => Header::Known(key),
        None => Header::Decoded(
            segments
                .decode_header(policy.limits.max_json_depth)
                .map_err(ProofError::Malformed)?,
        ),
    };
    let (payload, signature) = segments
        .decode_rest(policy.limits.max_json_depth)
        .map_err(ProofError::Malformed)?;
    // Client clock skew shows here before it turns into rejections: every
    // parsed proof with a plausible integer `iat` counts, whatever its verdict.
    if let Some(iat) = payload
        .get("iat")
        .and_then(serde_json::Value::as_i64)
        .filter(|iat| (0..=claims::MAX_IAT).contains(iat))
    {
        crate::metrics::metrics().proof_clock_offset(iat.saturating_sub(now_unix));
    }

    let (key, header) = match header {
        Header::Known(key) => (key, None),
        Header::Decoded(header) => (
            Arc::new(check_header(&header, policy)?),
            Some(segments.header().into()),
        ),
    };

    let claims = claims::check(
        &payload,
        &Expect {
            method: req.method,
            htu: req.htu,
            token_sha256: req.token_sha256,
            now: now_unix,
            max_age: policy.max_age_secs,
            max_skew: policy.max_skew_secs,
        },
    )?;

    Ok(UnverifiedProof {
        key,
        header,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
        signing_input: segments.signing_input().to_owned(),
        signature,
    })
}

/// Most clients sign every proof with one key, so the header segment of
/// their proofs repeats byte for byte. The checker remembers the headers of
/// proofs that were accepted, keyed by that segment exactly as received, and
/// skips decoding and checking them again (`typ`, `alg`, `jwk`, thumbprint):
/// those checks depend only on the segment and on the policy, which is fixed
/// for the checker's life (a new config builds a new checker). Every claim,
/// the signature and the replay record are still checked on every proof.
///
/// Bounded: past [`KNOWN_HEADERS`] entries the set is emptied and refilled.
/// Only accepted proofs (valid signature under a key an access token is
/// bound to) add entries, so filling it takes valid tokens, and a full set
/// only costs the full check again.
pub struct ProofChecker {
    policy: ProofPolicy,
    known: DashMap<Box<str>, Arc<ProofKey>>,
}

/// How many proof headers a [`ProofChecker`] remembers.
pub const KNOWN_HEADERS: usize = 4096;

impl ProofChecker {
    pub fn new(policy: ProofPolicy) -> ProofChecker {
        ProofChecker {
            policy,
            known: DashMap::new(),
        }
    }

    pub fn policy(&self) -> &ProofPolicy {
        &self.policy
    }

    /// [`precheck`] under this checker's policy, with the header's checks
    /// skipped when an accepted proof had exactly the same header segment.
    pub fn precheck(
        &self,
        proof: &str,
        req: &ProofRequest<'_>,
        now_unix: i64,
    ) -> Result<UnverifiedProof, ProofError> {
        let segments = split(proof)?;
        let known = self
            .known
            .get(segments.header())
            .map(|key| Arc::clone(key.value()));
        check(segments, known, req, &self.policy, now_unix)
    }

    /// Remembers the header of an accepted proof.
    pub fn remember(&self, proof: &VerifiedProof) {
        let Some(header) = &proof.header else {
            return;
        };
        if self.known.len() >= KNOWN_HEADERS {
            self.known.clear();
        }
        self.known.insert(header.clone(), Arc::clone(&proof.key));
    }

    /// How many headers are remembered.
    pub fn known_headers(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
impl ProofChecker {
    /// Learns the header of `proof` as if a proof with that header had been
    /// accepted, when it passes the header checks; for tests that run every
    /// case through a warm checker too.
    pub(crate) fn learn(&self, proof: &str) -> bool {
        let learned = split(proof).ok().and_then(|s| {
            let header = s.decode_header(self.policy.limits.max_json_depth).ok()?;
            Some((s.header(), check_header(&header, &self.policy).ok()?))
        });
        match learned {
            Some((segment, key)) => {
                self.known.insert(segment.into(), Arc::new(key));
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for ProofChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofChecker")
            .field("policy", &self.policy)
            .field("known_headers", &self.known.len())
            .finish()
    }
}

/// Shows the identifying claims only, never the signed bytes.
impl fmt::Debug for UnverifiedProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedProof")
            .field("alg", &self.key.alg)
            .field("jkt", self.jkt())
            .field("jti", &self.jti)
            .field("iat", &self.iat)
            .finish_non_exhaustive()
    }
}

impl UnverifiedProof {
    /// The RFC 7638 thumbprint of the proof key, to compare with the token's `cnf.jkt`.
    pub fn jkt(&self) -> &Jkt {
        self.key.jwk.thumbprint()
    }

    /// The `jti` claim (1..=256 bytes).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The `iat` claim.
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// The `nonce` claim, if present.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// The header `alg`.
    pub fn alg(&self) -> Alg {
        self.key.alg
    }

    /// Verifies the signature with the proof's `jwk` (§4.3 item 6). The only expensive step.
    pub fn verify_signature(self) -> Result<VerifiedProof, ProofError> {
        self.key
            .jwk
            .verify(self.key.alg, self.signing_input.as_bytes(), &self.signature)
            .map_err(ProofError::BadSignature)?;
        Ok(VerifiedProof {
            key: self.key,
            header: self.header,
            jti: self.jti,
            iat: self.iat,
            nonce: self.nonce,
        })
    }
}

impl VerifiedProof {
    /// The RFC 7638 thumbprint of the key that signed the proof.
    pub fn jkt(&self) -> &Jkt {
        self.key.jwk.thumbprint()
    }

    /// The `jti` claim: with [`VerifiedProof::jkt`], the replay key (§11.1).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The `iat` claim: the replay entry must live until `iat + max_age` at least.
    pub fn iat(&self) -> i64 {
        self.iat
    }

    /// The `nonce` claim, if present.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// The header `alg`.
    pub fn alg(&self) -> Alg {
        self.key.alg
    }
}
