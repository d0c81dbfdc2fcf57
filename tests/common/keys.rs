//! Key material for the tests: fresh ES256 keys and JWKS documents, keys
//! made once per test binary where it is slow, and signature manipulations
//! done by hand (no crate code involved):
//! ECDSA malleation over the P-256 group order, DER re-encoding of a raw
//! `R || S` signature, and RSA signatures built from EMSA-PKCS1-v1_5 /
//! EMSA-PSS encodings (RFC 8017 §9) and a bare modular exponentiation, so
//! that even a 1024-bit key (which `ring` refuses to sign with) can make a
//! correctly signed proof.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::OnceLock;

use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint;
use ring::rand::{SecureRandom, SystemRandom};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{json, Value};

use super::jose::{b64, sha256, unb64};

/// A fresh ES256 key (fast to make).
pub fn es256() -> SigningKey {
    SigningKey::generate(Alg::Es256).unwrap()
}

/// The `kid` [`mint::access_token`] puts in a token: the key's thumbprint.
pub fn kid(key: &SigningKey) -> String {
    key.jkt().to_string()
}

/// A JWKS document holding the public halves of `keys` (each with `kid` =
/// its thumbprint, `alg`, `use: sig`).
pub fn jwks(keys: &[&SigningKey]) -> Value {
    let list: Vec<Value> = keys
        .iter()
        .flat_map(|k| mint::jwks(k)["keys"].as_array().cloned().unwrap())
        .collect();
    json!({ "keys": list })
}

/// A 2048-bit RSA key from the `rsa` crate, generated once per test binary.
pub fn rsa2048() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
}

/// A 1024-bit RSA key (too small for RFC 7518 §3.3/§3.5), once per binary.
pub fn rsa1024() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
}

/// The 8192-bit RSA key of `tests/fixtures/jose/rsa8192.private.jwk.json`
/// (generating one takes far too long in a test), read once per binary.
/// `ring` cannot sign with it: sign by hand ([`ps256_by_hand`]).
pub fn rsa8192() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let jwk: Value =
            serde_json::from_str(include_str!("../fixtures/jose/rsa8192.private.jwk.json"))
                .unwrap();
        let int = |m: &str| BigUint::from_bytes_be(&unb64(jwk[m].as_str().unwrap()));
        let primes = vec![int("p"), int("q")];
        RsaPrivateKey::from_components(int("n"), int("e"), int("d"), primes).unwrap()
    })
}

/// The public JWK of an RSA key, members written by hand.
pub fn rsa_jwk(key: &RsaPrivateKey) -> Value {
    json!({
        "kty": "RSA",
        "n": b64(key.n().to_bytes_be()),
        "e": b64(key.e().to_bytes_be()),
    })
}

/// PKCS#8 DER of an RSA key (for `ring::signature::RsaKeyPair::from_pkcs8`).
pub fn rsa_pkcs8_der(key: &RsaPrivateKey) -> Vec<u8> {
    key.to_pkcs8_der().unwrap().as_bytes().to_vec()
}

/// The crate's signer loaded with [`rsa2048`], signing as `alg`.
pub fn rsa_signing_key(alg: Alg) -> SigningKey {
    let pem = rsa2048().to_pkcs8_pem(LineEnding::LF).unwrap();
    SigningKey::from_pem(&pem, Some(alg)).unwrap()
}

/// A P-256 key whose public `x` coordinate starts with a zero octet (so its
/// base64url starts with `AA`..`AD`), found by generating keys; once per binary.
pub fn leading_zero_x_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        for _ in 0..50_000 {
            let key = SigningKey::generate(Alg::Es256).unwrap();
            let x = unb64(key.public_jwk()["x"].as_str().unwrap());
            if x.len() == 32 && x[0] == 0 {
                return key;
            }
        }
        panic!("no P-256 key with a leading zero x octet in 50000 tries")
    })
}

/// The order `n` of the P-256 group (SEC 2 / FIPS 186-4), big-endian.
pub const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// `a - b` on 32-octet big-endian integers; panics if `b > a`.
pub fn sub_be32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0, "subtraction underflow");
    out
}

/// The other valid ES256 signature of the same message: `r || (n - s)`.
pub fn malleate_es256(sig: &[u8]) -> Vec<u8> {
    assert_eq!(sig.len(), 64, "ES256 signatures are 64 octets");
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    let mut out = sig[..32].to_vec();
    out.extend_from_slice(&sub_be32(&P256_ORDER, &s));
    out
}

fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut v = bytes[start..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    let mut out = vec![0x02, v.len() as u8];
    out.extend(v);
    out
}

/// `R || S` re-encoded as the DER `ECDSA-Sig-Value` (what X.509 uses and
/// JWS forbids, RFC 7518 §3.4).
pub fn ecdsa_der(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// EMSA-PKCS1-v1_5 with SHA-256 for a `k`-octet modulus (RFC 8017 §9.2).
pub fn emsa_pkcs1_sha256(msg: &[u8], k: usize) -> Vec<u8> {
    let mut t = SHA256_DIGEST_INFO.to_vec();
    t.extend(sha256(msg));
    let mut em = vec![0x00, 0x01];
    em.extend(vec![0xffu8; k - t.len() - 3]);
    em.push(0x00);
    em.extend(t);
    em
}

fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut input = seed.to_vec();
        input.extend(counter.to_be_bytes());
        out.extend(sha256(input));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// EMSA-PSS-ENCODE with SHA-256, MGF1-SHA-256 and a 32-octet salt
/// (RFC 8017 §9.1.1; the PS256 parameters of RFC 7518 §3.5).
pub fn emsa_pss_sha256(msg: &[u8], mod_bits: usize) -> Vec<u8> {
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let mut salt = [0u8; 32];
    SystemRandom::new().fill(&mut salt).unwrap();
    let mut m_prime = vec![0u8; 8];
    m_prime.extend(sha256(msg));
    m_prime.extend(salt);
    let h = sha256(m_prime);
    let mut db = vec![0u8; em_len - 32 - 32 - 2];
    db.push(0x01);
    db.extend(salt);
    for (d, m) in db.iter_mut().zip(mgf1_sha256(&h, em_len - 32 - 1)) {
        *d ^= m;
    }
    db[0] &= 0xff >> (8 * em_len - em_bits);
    let mut em = db;
    em.extend(h);
    em.push(0xbc);
    em
}

/// RSASP1 (`m^d mod n`), output as many octets as the modulus.
pub fn rsa_private_op(key: &RsaPrivateKey, em: &[u8]) -> Vec<u8> {
    let s = BigUint::from_bytes_be(em).modpow(key.d(), key.n());
    let bytes = s.to_bytes_be();
    let mut out = vec![0u8; key.size() - bytes.len()];
    out.extend(bytes);
    out
}

/// A PS256 signature over `msg`, made by hand.
pub fn ps256_by_hand(key: &RsaPrivateKey, msg: &[u8]) -> Vec<u8> {
    rsa_private_op(key, &emsa_pss_sha256(msg, key.n().bits()))
}

/// An RS256 signature over `msg`, made by hand.
pub fn rs256_by_hand(key: &RsaPrivateKey, msg: &[u8]) -> Vec<u8> {
    rsa_private_op(key, &emsa_pkcs1_sha256(msg, key.size()))
}
