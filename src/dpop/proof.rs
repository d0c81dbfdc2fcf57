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

use super::claims::{self, Expect};
use super::error::ProofError;
use super::header;
use super::htu::Htu;
use crate::jose::{Alg, AlgSet, CompactJws, Jkt, JwsError, ParseLimits, PublicJwk};

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

/// A proof that passed every check except the signature.
pub struct UnverifiedProof {
    alg: Alg,
    jwk: PublicJwk,
    jti: String,
    iat: i64,
    nonce: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A proof whose every check, including the signature, passed.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    alg: Alg,
    jkt: Jkt,
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
    // The length cap is applied by the parser before anything is decoded.
    let depth = policy.limits.max_json_depth;
    let jws = CompactJws::parse_with_limit(proof, MAX_PROOF_LEN, depth).map_err(|e| match e {
        JwsError::TooLong { len, max } => ProofError::TooLong { len, max },
        other => ProofError::Malformed(other),
    })?;
    let (header, payload, signing_input, signature) = jws.into_parts();
    // Client clock skew shows here before it turns into rejections: every
    // parsed proof with a plausible integer `iat` counts, whatever its verdict.
    if let Some(iat) = payload
        .get("iat")
        .and_then(serde_json::Value::as_i64)
        .filter(|iat| (0..=claims::MAX_IAT).contains(iat))
    {
        crate::metrics::metrics().proof_clock_offset(iat.saturating_sub(now_unix));
    }

    header::check_typ(&header)?;
    let alg = header::check_alg(&header, policy.algs)?;
    let jwk = header::check_jwk(&header, alg, &policy.limits)?;

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
        alg,
        jwk,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
        signing_input: signing_input.to_owned(),
        signature,
    })
}

/// Shows the identifying claims only, never the signed bytes.
impl fmt::Debug for UnverifiedProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedProof")
            .field("alg", &self.alg)
            .field("jkt", self.jkt())
            .field("jti", &self.jti)
            .field("iat", &self.iat)
            .finish_non_exhaustive()
    }
}

impl UnverifiedProof {
    /// The RFC 7638 thumbprint of the proof key, to compare with the token's `cnf.jkt`.
    pub fn jkt(&self) -> &Jkt {
        self.jwk.thumbprint()
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
        self.alg
    }

    /// Verifies the signature with the proof's `jwk` (§4.3 item 6). The only expensive step.
    pub fn verify_signature(self) -> Result<VerifiedProof, ProofError> {
        self.jwk
            .verify(self.alg, self.signing_input.as_bytes(), &self.signature)
            .map_err(ProofError::BadSignature)?;
        Ok(VerifiedProof {
            alg: self.alg,
            jkt: self.jwk.thumbprint().clone(),
            jti: self.jti,
            iat: self.iat,
            nonce: self.nonce,
        })
    }
}

impl VerifiedProof {
    /// The RFC 7638 thumbprint of the key that signed the proof.
    pub fn jkt(&self) -> &Jkt {
        &self.jkt
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
        self.alg
    }
}
