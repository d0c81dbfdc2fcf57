//! JWS signature algorithms and allow-lists of them.
//!
//! Only registered **asymmetric** algorithms exist here (RFC 7518 §3.3–§3.5, RFC 8037 §3.1):
//! a DPoP proof "MUST NOT" use `none` or a MAC (RFC 9449 §4.2, §11.6), so `none` and `HS*` are
//! not representable. `ES512` is left out because `ring` 0.17 cannot verify P-521 signatures;
//! `ES256K` and Ed448 likewise. `EdDSA` means Ed25519 only, and the RFC 9864 name `Ed25519` is
//! accepted as a synonym (both parse to [`Alg::EdDsa`]).
//!
//! [`AlgSet`] is the local allow-list of RFC 9449 §4.3 item 5; its `Display` is the value of
//! the `algs` challenge parameter (§7.1). When EdDSA is allowed it renders both `EdDSA` and
//! `Ed25519`, since clients following RFC 9864 look for the latter.

use std::fmt;

/// An asymmetric JWS algorithm we can verify with `ring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    Es256,
    /// ECDSA P-384 with SHA-384 (RFC 7518 §3.4).
    Es384,
    /// RSASSA-PSS with SHA-256 (RFC 7518 §3.5).
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// Ed25519 (RFC 8037 `EdDSA` with `crv` `Ed25519`; RFC 9864 `Ed25519`).
    EdDsa,
}

impl Alg {
    /// Every algorithm, in the order [`AlgSet`] renders them.
    pub const ALL: [Alg; 9] = [
        Alg::Es256,
        Alg::Es384,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::EdDsa,
    ];

    /// Parses a JOSE `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn from_jose(name: &str) -> Option<Alg> {
        Some(match name {
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "EdDSA" | "Ed25519" => Alg::EdDsa,
            _ => return None,
        })
    }

    /// The canonical JOSE name (`EdDSA` for Ed25519).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of algorithms: the allow-list for proofs or for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlgSet(u16);

impl AlgSet {
    /// The empty set.
    pub const EMPTY: AlgSet = AlgSet(0);

    /// The default proof allow-list: `ES256`, `PS256` and `EdDSA` (the FAPI 2.0 set,
    /// rfc9449-checks §6).
    pub fn default_proof() -> AlgSet {
        [Alg::Es256, Alg::Ps256, Alg::EdDsa].into_iter().collect()
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Alg) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Adds `alg`.
    pub fn insert(&mut self, alg: Alg) {
        self.0 |= alg.bit();
    }

    /// The set with `alg` added.
    #[must_use]
    pub fn with(mut self, alg: Alg) -> AlgSet {
        self.insert(alg);
        self
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Alg::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Alg> {
        Alg::ALL.into_iter().filter(move |alg| self.contains(*alg))
    }

    /// Parses a configured list of names. Rejects an empty list, `none`, MAC algorithms
    /// (`HS*`), algorithms we cannot verify (`ES512`, `ES256K`, `Ed448`) and unknown names,
    /// with a message fit for a config error.
    pub fn parse_list(names: &[String]) -> Result<AlgSet, String> {
        if names.is_empty() {
            return Err("the algorithm list is empty".to_owned());
        }
        let mut set = AlgSet::EMPTY;
        for name in names {
            match Alg::from_jose(name) {
                Some(alg) => set.insert(alg),
                None => return Err(reject_reason(name)),
            }
        }
        Ok(set)
    }
}

fn reject_reason(name: &str) -> String {
    let shown = super::clip(name, 32);
    if name.eq_ignore_ascii_case("none") {
        format!("\"{shown}\" is not allowed: proofs and tokens must be signed (RFC 9449 §11.6)")
    } else if name.to_ascii_uppercase().starts_with("HS") {
        format!(
            "\"{shown}\" is a symmetric MAC algorithm and is not allowed (RFC 9449 §4.2); \
             use ES256, PS256 or EdDSA"
        )
    } else if matches!(name, "ES512" | "ES256K" | "Ed448") {
        format!("\"{shown}\" is not supported by this build (ring cannot verify it)")
    } else if let Some(alg) = Alg::ALL
        .into_iter()
        .find(|alg| alg.as_str().eq_ignore_ascii_case(name))
    {
        format!("unknown algorithm \"{shown}\" (algorithm names are case-sensitive: did you mean \"{alg}\"?)")
    } else {
        let known: Vec<&str> = Alg::ALL.iter().map(|alg| alg.as_str()).collect();
        format!(
            "unknown algorithm \"{shown}\" (supported: {} Ed25519)",
            known.join(" ")
        )
    }
}

impl FromIterator<Alg> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Alg>>(iter: I) -> Self {
        let mut set = AlgSet::EMPTY;
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

/// The space-separated list for the `algs` challenge parameter (RFC 9449 §7.1), for example
/// `ES256 PS256 EdDSA Ed25519`.
impl fmt::Display for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for alg in self.iter() {
            let names: &[&str] = if alg == Alg::EdDsa {
                &["EdDSA", "Ed25519"]
            } else {
                &[alg.as_str()]
            };
            for name in names {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_round_trip() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_jose(alg.as_str()), Some(alg));
        }
        assert_eq!(Alg::from_jose("Ed25519"), Some(Alg::EdDsa));
        for bad in ["none", "HS256", "es256", "ES512", "", "EDDSA"] {
            assert_eq!(Alg::from_jose(bad), None, "{bad}");
        }
    }

    #[test]
    fn default_set_renders_for_the_challenge() {
        let set = AlgSet::default_proof();
        assert_eq!(set.to_string(), "ES256 PS256 EdDSA Ed25519");
        assert!(set.contains(Alg::Es256) && set.contains(Alg::EdDsa));
        assert!(!set.contains(Alg::Rs256));
        assert_eq!(AlgSet::EMPTY.with(Alg::Es256).to_string(), "ES256");
        assert_eq!(AlgSet::EMPTY.to_string(), "");
        assert_eq!(set.iter().count(), 3);
    }

    #[test]
    fn parse_list_accepts_and_rejects() {
        let set = AlgSet::parse_list(&names(&["Ed25519", "ES384", "RS256", "EdDSA"])).unwrap();
        assert_eq!(set.to_string(), "ES384 RS256 EdDSA Ed25519");
        for (bad, needle) in [
            (vec!["ES256", "none"], "not allowed"),
            (vec!["HS256"], "MAC"),
            (vec!["hs512"], "MAC"),
            (vec!["ES512"], "not supported"),
            (vec!["es256"], "did you mean \"ES256\""),
            (vec!["XYZ"], "unknown"),
            (vec![], "empty"),
        ] {
            let err = AlgSet::parse_list(&names(&bad)).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }
}
