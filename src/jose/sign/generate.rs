//! Fresh keys for `keygen`, the demo and tests: EC and Ed25519 by `ring`, RSA (2048-bit,
//! e = 65537) by the `rsa` crate (see [`super::rsa_parts`]).

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair};

use super::{der, rsa_parts, KeyError, KeyParts, SigningKey};
use crate::jose::alg::Alg;

/// Modulus size of generated RSA keys.
const RSA_BITS: usize = 2048;

impl SigningKey {
    /// Generates a new key for `alg`. RSA generation takes a noticeable fraction of a second
    /// in release builds (seconds in debug builds).
    pub fn generate(alg: Alg) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let parts = match alg {
            Alg::Es256 | Alg::Es384 => {
                let signing = if alg == Alg::Es256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng)
                    .map_err(|_| KeyError::Rejected("EC key generation failed".to_owned()))?;
                let info = der::parse_pkcs8(pkcs8.as_ref())?;
                let (curve, d, point) =
                    der::parse_ec_private_key(info.private_key, info.curve_oid)?;
                KeyParts::Ec { curve, d, point }
            }
            Alg::EdDsa => {
                // An Ed25519 private key is 32 random octets (RFC 8032 §5.1.5).
                let mut seed = [0u8; 32];
                rng.fill(&mut seed)
                    .map_err(|_| KeyError::Rejected("no randomness".to_owned()))?;
                KeyParts::Ed25519 { seed, public: None }
            }
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyParts::Rsa(rsa_parts::generate(RSA_BITS)?)
            }
        };
        SigningKey::from_parts(parts, Some(alg))
    }
}
