//! Just enough DER (X.690) to take keys apart: PKCS#8 `PrivateKeyInfo` /
//! `OneAsymmetricKey` (RFC 5208 §5, RFC 5958 §2), SEC1 `ECPrivateKey` (RFC 5915 §3), the
//! Ed25519 `CurvePrivateKey` (RFC 8410 §7), and public keys: `SubjectPublicKeyInfo`
//! (RFC 5280 §4.1.2.7; EC RFC 5480 §2, Ed25519 RFC 8410 §4, RSA RFC 3279 §2.3.1) and the
//! PKCS#1 `RSAPublicKey` (RFC 8017 §A.1.1). Structure only, no cryptography; every read is
//! bounds-checked. RSA private keys are read by the `rsa` crate instead.

use super::KeyError;
use crate::jose::jwk::Curve;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
/// `[0]` constructed: SEC1 parameters, PKCS#8 attributes.
const CONTEXT_0: u8 = 0xa0;
/// `[1]` constructed: SEC1 public key.
const CONTEXT_1: u8 = 0xa1;
/// `[1] IMPLICIT`: PKCS#8 v2 public key.
const CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// id-ecPublicKey, 1.2.840.10045.2.1.
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519, 1.3.101.112.
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// rsaEncryption, 1.2.840.113549.1.1.1.
pub(super) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn bad(what: &str) -> KeyError {
    KeyError::Pem(format!("malformed DER: {what}"))
}

/// A cursor over DER TLVs.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one TLV: `(tag, contents)`. Definite lengths of up to 4 octets only.
    fn read(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
        let (&tag, rest) = self.rest.split_first().ok_or_else(|| bad("truncated"))?;
        let (&first, mut rest) = rest.split_first().ok_or_else(|| bad("truncated"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(bad("unsupported length"));
            }
            let (octets, tail) = rest
                .split_at_checked(count)
                .ok_or_else(|| bad("truncated"))?;
            rest = tail;
            octets
                .iter()
                .fold(0usize, |acc, octet| (acc << 8) | usize::from(*octet))
        };
        let (contents, tail) = rest.split_at_checked(len).ok_or_else(|| bad("truncated"))?;
        self.rest = tail;
        Ok((tag, contents))
    }

    /// Reads a TLV that must have `tag`.
    pub(super) fn expect(&mut self, tag: u8) -> Result<&'a [u8], KeyError> {
        match self.read()? {
            (got, contents) if got == tag => Ok(contents),
            _ => Err(bad("unexpected tag")),
        }
    }

    /// Reads a TLV with `tag` if it comes next.
    fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, KeyError> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The parts of a PKCS#8 private key we use.
pub(super) struct Pkcs8<'a> {
    /// The algorithm OID (contents octets).
    pub(super) alg: &'a [u8],
    /// The algorithm parameters, when they are an OID (the EC curve).
    pub(super) curve_oid: Option<&'a [u8]>,
    /// The `privateKey` OCTET STRING contents.
    pub(super) private_key: &'a [u8],
    /// The v2 `publicKey`, without its unused-bits octet.
    pub(super) public_key: Option<&'a [u8]>,
}

pub(super) fn parse_pkcs8(der: &[u8]) -> Result<Pkcs8<'_>, KeyError> {
    let mut info = Reader::new(Reader::new(der).expect(SEQUENCE)?);
    let version = info.expect(INTEGER)?;
    if version != [0] && version != [1] {
        return Err(bad("PKCS#8 version"));
    }
    let (alg, curve_oid) = algorithm(&mut info)?;
    let private_key = info.expect(OCTET_STRING)?;
    let _attributes = info.optional(CONTEXT_0)?;
    let public_key = info
        .optional(CONTEXT_1_PRIMITIVE)?
        .map(bit_string_octets)
        .transpose()?;
    Ok(Pkcs8 {
        alg,
        curve_oid,
        private_key,
        public_key,
    })
}

/// An `AlgorithmIdentifier` (RFC 5280 §4.1.1.2): the algorithm OID, and the parameters when
/// they are an OID (the EC curve; RSA's NULL and absent parameters read as `None`).
fn algorithm<'a>(outer: &mut Reader<'a>) -> Result<(&'a [u8], Option<&'a [u8]>), KeyError> {
    let mut alg_id = Reader::new(outer.expect(SEQUENCE)?);
    let alg = alg_id.expect(OID)?;
    Ok((alg, alg_id.optional(OID)?))
}

/// The curve a named-curve OID stands for (RFC 5480 §2.1.1.1).
pub(super) fn named_curve(oid: Option<&[u8]>) -> Result<Curve, KeyError> {
    match oid {
        Some(OID_P256) => Ok(Curve::P256),
        Some(OID_P384) => Ok(Curve::P384),
        Some(_) => Err(KeyError::Unsupported(
            "EC curve other than P-256/P-384".to_owned(),
        )),
        None => Err(bad("EC key without a named curve")),
    }
}

/// The parts of a `SubjectPublicKeyInfo` we use.
pub(super) struct Spki<'a> {
    /// The algorithm OID (contents octets).
    pub(super) alg: &'a [u8],
    /// The algorithm parameters, when they are an OID (the EC curve).
    pub(super) curve_oid: Option<&'a [u8]>,
    /// The `subjectPublicKey` BIT STRING without its unused-bits octet: an EC point, the
    /// Ed25519 key, or a DER `RSAPublicKey`.
    pub(super) key: &'a [u8],
}

pub(super) fn parse_spki(der: &[u8]) -> Result<Spki<'_>, KeyError> {
    let mut info = Reader::new(Reader::new(der).expect(SEQUENCE)?);
    let (alg, curve_oid) = algorithm(&mut info)?;
    let key = bit_string_octets(info.expect(BIT_STRING)?)?;
    Ok(Spki {
        alg,
        curve_oid,
        key,
    })
}

/// A PKCS#1 `RSAPublicKey`: the modulus and the public exponent, as big-endian INTEGER
/// contents (possibly with a leading zero octet).
pub(super) fn parse_rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let mut key = Reader::new(Reader::new(der).expect(SEQUENCE)?);
    let n = key.expect(INTEGER)?;
    let e = key.expect(INTEGER)?;
    Ok((n, e))
}

/// An SEC1 `ECPrivateKey`: `(curve, d, uncompressed point)`. `outer_curve` is the curve named
/// by an enclosing PKCS#8 structure, if any.
pub(super) fn parse_ec_private_key(
    der: &[u8],
    outer_curve: Option<&[u8]>,
) -> Result<(Curve, Vec<u8>, Vec<u8>), KeyError> {
    let mut key = Reader::new(Reader::new(der).expect(SEQUENCE)?);
    if key.expect(INTEGER)? != [1] {
        return Err(bad("ECPrivateKey version"));
    }
    let d = key.expect(OCTET_STRING)?;
    let inner_curve = match key.optional(CONTEXT_0)? {
        Some(params) => Some(Reader::new(params).expect(OID)?),
        None => None,
    };
    let point = match key.optional(CONTEXT_1)? {
        Some(public) => bit_string_octets(Reader::new(public).expect(BIT_STRING)?)?,
        None => {
            return Err(KeyError::Unsupported(
                "EC private key without its public key".to_owned(),
            ))
        }
    };
    let curve = named_curve(inner_curve.or(outer_curve))?;
    // SEC1 says d is fixed-length, but some encoders drop leading zeros: pad back.
    let len = curve.coordinate_len();
    if d.len() > len || d.is_empty() {
        return Err(bad("EC private scalar length"));
    }
    let mut scalar = vec![0u8; len - d.len()];
    scalar.extend_from_slice(d);
    Ok((curve, scalar, point.to_vec()))
}

/// The 32-octet seed inside a PKCS#8 Ed25519 `privateKey` (an OCTET STRING in an OCTET STRING).
pub(super) fn ed25519_seed(private_key: &[u8]) -> Result<[u8; 32], KeyError> {
    Reader::new(private_key)
        .expect(OCTET_STRING)?
        .try_into()
        .map_err(|_| bad("Ed25519 seed length"))
}

/// BIT STRING contents without the unused-bits octet, which must be 0.
fn bit_string_octets(contents: &[u8]) -> Result<&[u8], KeyError> {
    match contents.split_first() {
        Some((0, octets)) => Ok(octets),
        _ => Err(bad("BIT STRING")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let long = [&[0x04, 0x81, 0x80][..], &[7u8; 0x80]].concat();
        let mut r = Reader::new(&long);
        assert_eq!(r.expect(OCTET_STRING).unwrap().len(), 0x80);
        assert!(Reader::new(&[0x04, 0x02, 0x00])
            .expect(OCTET_STRING)
            .is_err());
        assert!(Reader::new(&[0x04, 0x85, 0, 0, 0, 0, 1])
            .expect(OCTET_STRING)
            .is_err());
        assert!(Reader::new(&[0x04]).expect(OCTET_STRING).is_err());
        assert!(Reader::new(&[0x02, 0x00]).expect(OCTET_STRING).is_err());
    }

    #[test]
    fn rejects_truncated_pkcs8() {
        for cut in 0..20 {
            let der = [
                0x30, 0x10, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
            ];
            let _ = parse_pkcs8(&der[..cut.min(der.len())]);
        }
        assert!(parse_pkcs8(&[]).is_err());
    }
}
