//! JWS signature verification with a [`PublicJwk`], done entirely by `ring`.
//!
//! * `alg` ↔ key consistency (rfc9449-checks B6, RFC 9449 §4.3 item 6): ES256 ↔ EC P-256,
//!   ES384 ↔ EC P-384, RS*/PS* ↔ RSA, EdDSA/Ed25519 ↔ OKP Ed25519; and the JWK's own `alg`, if
//!   present, must name the header's algorithm (policy, rfc9449-checks §6).
//! * ES* signatures are fixed-length `R || S` (RFC 7518 §3.4): 64 octets for ES256, 96 for
//!   ES384. A DER signature is rejected by length. `ring` rejects r = 0 or s = 0 and validates
//!   the public point (on the curve, not the identity) as part of verification.
//! * RS*: RSASSA-PKCS1-v1_5 (RFC 7518 §3.3); PS*: RSASSA-PSS with MGF1 of the same hash and a
//!   salt as long as the hash (RFC 7518 §3.5); both with 2048..=8192-bit moduli.
//! * EdDSA: Ed25519 (RFC 8037 §3.1); `ring` rejects a non-canonical `S`.

use ring::signature::{self, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey};

use super::alg::Alg;
use super::jwk::{Curve, JwkError, Material, PublicJwk};

impl PublicJwk {
    /// Whether `alg` works with this key type and curve (rfc9449-checks B6).
    pub fn is_compatible(&self, alg: Alg) -> bool {
        match (&self.material, alg) {
            (Material::Ec { curve, .. }, Alg::Es256) => *curve == Curve::P256,
            (Material::Ec { curve, .. }, Alg::Es384) => *curve == Curve::P384,
            (Material::Rsa { .. }, alg) => rsa_params(alg).is_some(),
            (Material::Ed25519 { .. }, Alg::EdDsa) => true,
            _ => false,
        }
    }

    /// Checks that the header algorithm `alg` may be used with this key: compatible with the
    /// key type, and equal to the JWK's own `alg` if it has one (`EdDSA` and `Ed25519` count
    /// as the same algorithm).
    pub fn check_alg(&self, alg: Alg) -> Result<(), JwkError> {
        if !self.is_compatible(alg) {
            return Err(JwkError::IncompatibleAlg {
                alg,
                key: self.describe(),
            });
        }
        match self.alg.as_deref() {
            Some(own) if Alg::from_jose(own) != Some(alg) => Err(JwkError::AlgMismatch {
                jwk: super::clip(own, 32),
                header: alg,
            }),
            _ => Ok(()),
        }
    }

    /// Verifies the signature of a JWS (RFC 7515 §5.2 step 8) over `signing_input`
    /// (`BASE64URL(header) || '.' || BASE64URL(payload)` as received).
    pub fn verify(&self, alg: Alg, signing_input: &[u8], sig: &[u8]) -> Result<(), JwkError> {
        self.check_alg(alg)?;
        let expect_len = |expected: usize| {
            if sig.len() == expected {
                Ok(())
            } else {
                Err(JwkError::SignatureLength {
                    alg,
                    expected,
                    got: sig.len(),
                })
            }
        };
        let verified = match &self.material {
            Material::Ec { curve, point } => {
                let algorithm = match curve {
                    Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                };
                expect_len(2 * curve.coordinate_len())?;
                UnparsedPublicKey::new(algorithm, point).verify(signing_input, sig)
            }
            Material::Rsa { n, e } => {
                // `check_alg` passed, so this is an RSA algorithm.
                let params = rsa_params(alg).ok_or(JwkError::BadSignature)?;
                expect_len(n.len())?;
                RsaPublicKeyComponents { n, e }.verify(params, signing_input, sig)
            }
            Material::Ed25519 { x } => {
                expect_len(64)?;
                UnparsedPublicKey::new(&signature::ED25519, x).verify(signing_input, sig)
            }
        };
        verified.map_err(|_| JwkError::BadSignature)
    }
}

fn rsa_params(alg: Alg) -> Option<&'static RsaParameters> {
    Some(match alg {
        Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        Alg::Es256 | Alg::Es384 | Alg::EdDsa => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::jose::jws::CompactJws;
    use crate::jose::test_vectors::{compact, value};
    use serde_json::json;

    /// `(jwk, alg, signing input, signature)` of a vector.
    fn parts(name: &str) -> (PublicJwk, Alg, String, Vec<u8>) {
        let text = compact(name);
        let jws = CompactJws::parse(&text).unwrap();
        let jwk = PublicJwk::from_value(&jws.header()["jwk"], &Default::default()).unwrap();
        let alg = Alg::from_jose(jws.header()["alg"].as_str().unwrap()).unwrap();
        (
            jwk,
            alg,
            jws.signing_input().to_owned(),
            jws.signature().to_vec(),
        )
    }

    #[test]
    fn vectors_verify() {
        for name in [
            "rfc9449_fig2_token_request_proof",
            "rfc9449_fig14_resource_proof",
            "derived_fig14_malleated_twin",
            "derived_ed25519_eddsa_proof",
            "derived_ed25519_alg_ed25519_proof",
            "go_dpop_leading_zero_x",
            "go_dpop_eddsa",
            "go_dpop_es384",
            "go_dpop_ps256",
        ] {
            let (jwk, alg, input, sig) = parts(name);
            assert_eq!(jwk.verify(alg, input.as_bytes(), &sig), Ok(()), "{name}");
        }
        let (jwk, alg, input, sig) = parts("go_dpop_bad_signature");
        assert_eq!(
            jwk.verify(alg, input.as_bytes(), &sig),
            Err(JwkError::BadSignature)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let (jwk, alg, input, sig) = parts("rfc9449_fig14_resource_proof");
        let mut flipped = sig.clone();
        flipped[10] ^= 0x01;
        assert_eq!(
            jwk.verify(alg, input.as_bytes(), &flipped),
            Err(JwkError::BadSignature)
        );
        let mut other_input = input.clone().into_bytes();
        other_input[0] ^= 0x01;
        assert_eq!(
            jwk.verify(alg, &other_input, &sig),
            Err(JwkError::BadSignature)
        );
        // r = s = 0 ("psychic signature", CVE-2022-21449).
        assert_eq!(
            jwk.verify(alg, input.as_bytes(), &[0u8; 64]),
            Err(JwkError::BadSignature)
        );
        // A DER-encoded signature has the wrong length.
        assert_eq!(
            jwk.verify(alg, input.as_bytes(), &[0x30; 72]),
            Err(JwkError::SignatureLength {
                alg: Alg::Es256,
                expected: 64,
                got: 72
            })
        );
        // PS256 signature checked as RS256 (same key, other padding).
        let (rsa, _, input, sig) = parts("go_dpop_ps256");
        assert_eq!(
            rsa.verify(Alg::Rs256, input.as_bytes(), &sig),
            Err(JwkError::BadSignature)
        );
    }

    #[test]
    fn alg_must_fit_the_key() {
        let ec = PublicJwk::from_value(&value("rfc9449_key"), &Default::default()).unwrap();
        let rsa = PublicJwk::from_value(&value("rfc7638_rsa_key"), &Default::default()).unwrap();
        let (ed, _, _, _) = parts("go_dpop_eddsa");
        let (p384, _, _, _) = parts("go_dpop_es384");
        assert!(ec.is_compatible(Alg::Es256));
        assert!(!ec.is_compatible(Alg::Es384));
        assert!(p384.is_compatible(Alg::Es384) && !p384.is_compatible(Alg::Es256));
        assert!(!ec.is_compatible(Alg::Ps256));
        assert!(ed.is_compatible(Alg::EdDsa) && !ed.is_compatible(Alg::Es256));
        for alg in [
            Alg::Rs256,
            Alg::Rs384,
            Alg::Rs512,
            Alg::Ps256,
            Alg::Ps384,
            Alg::Ps512,
        ] {
            assert!(rsa.is_compatible(alg));
            assert!(!ec.is_compatible(alg) && !ed.is_compatible(alg));
        }
        assert_eq!(
            p384.check_alg(Alg::Es256),
            Err(JwkError::IncompatibleAlg {
                alg: Alg::Es256,
                key: "EC P-384".into()
            })
        );
        // The RFC 7638 key says alg RS256: PS256 in the header is a mismatch.
        assert_eq!(rsa.check_alg(Alg::Rs256), Ok(()));
        assert_eq!(
            rsa.check_alg(Alg::Ps256),
            Err(JwkError::AlgMismatch {
                jwk: "RS256".into(),
                header: Alg::Ps256
            })
        );
        // `Ed25519` and `EdDSA` name the same algorithm.
        let mut named = value("rfc8037_ed25519_key");
        let map = named.as_object_mut().unwrap();
        map.remove("d");
        map.insert("alg".into(), json!("Ed25519"));
        let named = PublicJwk::from_value(&named, &Default::default()).unwrap();
        assert_eq!(named.check_alg(Alg::EdDsa), Ok(()));
    }
}
