//! Stateless server nonces (RFC 9449 §9, with §8 and §11.1–§11.3).
//!
//! A nonce is `base64url(version ‖ window ‖ random ‖ HMAC-SHA256(secret,
//! context ‖ version ‖ window ‖ random))`, where `window = now /
//! nonce_lifetime_secs`. Every replica that shares the secret file accepts
//! every other replica's nonces without shared state. A nonce is accepted in
//! the window it was issued in and the next one, so it lives between one and
//! two lifetimes; the 12 random bytes make it unpredictable (§8 MUST).
//!
//! Rotation: the current secret signs, and a previous secret (listed during a
//! rollover) still verifies, so nonces issued before the switch stay valid.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::NonceConfig;
use crate::jose::b64;

const VERSION: u8 = 1;
const CONTEXT: &[u8] = b"dpop-gateway nonce v1";
const RANDOM_LEN: usize = 12;
/// version (1) ‖ window (8) ‖ random (12).
const BODY_LEN: usize = 1 + 8 + RANDOM_LEN;
const TAG_LEN: usize = 32;
const NONCE_LEN: usize = BODY_LEN + TAG_LEN;

/// Why a nonce was not accepted (all answered with `use_dpop_nonce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("proof has no nonce")]
    Missing,
    #[error("nonce is not one of ours (malformed or forged)")]
    Invalid,
    #[error("nonce expired (issued in window {window}, now {current})")]
    Expired { window: u64, current: u64 },
    /// `future`: the `iat` is ahead of the window (else behind it).
    #[error("proof iat outside the accepted window")]
    Clock { future: bool },
}

/// How fresh an accepted nonce is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Issued in the current window.
    Current,
    /// Issued in the previous window: still valid, but the response carries
    /// the next nonce (§8.2).
    Previous,
}

/// Issues and checks nonces.
pub struct Nonces {
    /// The first key signs; all verify.
    keys: Vec<hmac::Key>,
    lifetime_secs: u64,
    rng: SystemRandom,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("keys", &self.keys.len())
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

impl Nonces {
    pub fn new(config: &NonceConfig) -> Nonces {
        Nonces {
            keys: config
                .secrets
                .iter()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, &s.0))
                .collect(),
            lifetime_secs: config.lifetime_secs.max(1),
            rng: SystemRandom::new(),
        }
    }

    fn window(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.lifetime_secs
    }

    /// A fresh nonce for the current window; `None` only if the system has
    /// no randomness (then no nonce is handed out: a predictable one would
    /// break §8's MUST, and the request is refused anyway).
    pub fn issue(&self, now: i64) -> Option<String> {
        let mut body = [0u8; BODY_LEN];
        body[0] = VERSION;
        body[1..9].copy_from_slice(&self.window(now).to_be_bytes());
        self.rng.fill(&mut body[9..]).ok()?;
        let key = self.keys.first()?;
        let mut out = Vec::with_capacity(NONCE_LEN);
        out.extend_from_slice(&body);
        out.extend_from_slice(tag(key, &body).as_ref());
        crate::metrics::metrics().nonce_issued();
        Some(b64::encode(out))
    }

    /// Checks a nonce presented in a proof.
    pub fn check(&self, nonce: &str, now: i64) -> Result<Freshness, NonceError> {
        let raw = b64::decode(nonce).map_err(|_| NonceError::Invalid)?;
        if raw.len() != NONCE_LEN || raw.first() != Some(&VERSION) {
            return Err(NonceError::Invalid);
        }
        let (body, mac) = raw.split_at(BODY_LEN);
        let mut window = [0u8; 8];
        window.copy_from_slice(body.get(1..9).ok_or(NonceError::Invalid)?);
        let window = u64::from_be_bytes(window);
        let signed_by_us = self
            .keys
            .iter()
            .any(|key| hmac::verify(key, &signed_input(body), mac).is_ok());
        if !signed_by_us {
            return Err(NonceError::Invalid);
        }
        let current = self.window(now);
        if window == current {
            Ok(Freshness::Current)
        } else if window.checked_add(1) == Some(current) {
            Ok(Freshness::Previous)
        } else {
            Err(NonceError::Expired { window, current })
        }
    }
}

fn signed_input(body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(CONTEXT.len() + body.len());
    input.extend_from_slice(CONTEXT);
    input.extend_from_slice(body);
    input
}

fn tag(key: &hmac::Key, body: &[u8]) -> hmac::Tag {
    hmac::sign(key, &signed_input(body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::Secret;

    fn nonces(secrets: &[&[u8]]) -> Nonces {
        Nonces::new(&NonceConfig {
            secrets: secrets.iter().map(|s| Secret(s.to_vec())).collect(),
            lifetime_secs: 300,
        })
    }

    const A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"fedcba9876543210fedcba9876543210";
    const T: i64 = 1_800_000_100; // window 6_000_000, 100 s in

    #[test]
    fn windows() {
        let n = nonces(&[A]);
        let nonce = n.issue(T).unwrap();
        assert_eq!(n.check(&nonce, T), Ok(Freshness::Current));
        assert_eq!(n.check(&nonce, T + 199), Ok(Freshness::Current));
        assert_eq!(n.check(&nonce, T + 200), Ok(Freshness::Previous));
        assert_eq!(n.check(&nonce, T + 499), Ok(Freshness::Previous));
        assert!(matches!(
            n.check(&nonce, T + 500),
            Err(NonceError::Expired { .. })
        ));
        // A nonce from the future (clock rolled back) is not accepted.
        assert!(matches!(
            n.check(&nonce, T - 101),
            Err(NonceError::Expired { .. })
        ));
    }

    #[test]
    fn unpredictable_and_well_formed() {
        let n = nonces(&[A]);
        let (a, b) = (n.issue(T).unwrap(), n.issue(T).unwrap());
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn forged_malformed_and_foreign_nonces_are_invalid() {
        let n = nonces(&[A]);
        let good = n.issue(T).unwrap();
        let mut raw = b64::decode(&good).unwrap();
        raw[3] ^= 1; // move the window
        assert_eq!(n.check(&b64::encode(&raw), T), Err(NonceError::Invalid));
        for bad in [
            "",
            "abc",
            "eyJ7S_zG.eyJH0-Z.HX4w-7v",
            &good[..good.len() - 2],
        ] {
            assert_eq!(n.check(bad, T), Err(NonceError::Invalid), "{bad}");
        }
        let other = nonces(&[B]);
        assert_eq!(other.check(&good, T), Err(NonceError::Invalid));
    }

    #[test]
    fn rollover_accepts_the_previous_secret() {
        let old = nonces(&[A]);
        let issued_before = old.issue(T).unwrap();
        let rolled = nonces(&[B, A]);
        assert_eq!(rolled.check(&issued_before, T), Ok(Freshness::Current));
        let issued_after = rolled.issue(T).unwrap();
        // Replicas not yet rolled over do not know B.
        assert_eq!(old.check(&issued_after, T), Err(NonceError::Invalid));
        // Once A is dropped, its nonces are refused.
        assert_eq!(
            nonces(&[B]).check(&issued_before, T),
            Err(NonceError::Invalid)
        );
    }
}
