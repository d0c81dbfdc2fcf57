//! Properties, over generated input (proptest): `htu` normalisation is
//! idempotent, maps URIs that RFC 3986 §6.2.2–6.2.3 call equivalent to one
//! form and keeps different ones apart; the `htu` of a request path as
//! received equals the `htu` of the canonical path that routing reads and
//! the upstream receives; and a single-byte change to a valid proof is
//! refused or decodes to the same claims (base64url padding bits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::collection::vec;
use proptest::prelude::*;

use super::test_support::*;
use super::Htu;
use crate::jose::Alg;
use crate::target::canonical_path;

const UNRESERVED: &[u8] = b"abcxyzABCXYZ0129-._~";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A path segment of unreserved characters that is not `.` or `..`.
fn segment() -> impl Strategy<Value = String> {
    vec(proptest::sample::select(UNRESERVED), 1..6)
        .prop_map(|b| String::from_utf8(b).unwrap())
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

/// A URI in normal form: lower-case scheme and host, no default port,
/// unreserved path characters unencoded, no dot segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Canonical {
    https: bool,
    host: Vec<String>,
    port: Option<u16>,
    path: Vec<String>,
}

impl Canonical {
    fn text(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = if self.path.is_empty() {
            "/".to_string()
        } else {
            format!("/{}", self.path.join("/"))
        };
        format!("{scheme}://{}{port}{path}", self.host.join("."))
    }
}

fn canonical() -> impl Strategy<Value = Canonical> {
    let label = vec(proptest::sample::select(b"abz09".as_slice()), 1..5)
        .prop_map(|b| String::from_utf8(b).unwrap());
    (
        any::<bool>(),
        vec(label, 1..4),
        proptest::option::of(1024u16..65535),
        vec(segment(), 0..4),
    )
        .prop_map(|(https, host, port, path)| Canonical {
            https,
            host,
            port,
            path,
        })
}

/// An equivalent spelling of `c`, steered by `choices`: letters of the
/// scheme and host in either case, the default port written out, unreserved
/// path characters percent-encoded (hex digits in either case), and `.` and
/// `x/..` segments inserted.
fn spelling(c: &Canonical, choices: &[u8]) -> String {
    let mut pick = choices.iter().cycle().copied();
    let mut flip_case = |s: &str| -> String {
        s.chars()
            .map(|ch| {
                if pick.next().unwrap_or(0) % 2 == 1 {
                    ch.to_ascii_uppercase()
                } else {
                    ch
                }
            })
            .collect()
    };
    let scheme = flip_case(if c.https { "https" } else { "http" });
    let host = flip_case(&c.host.join("."));
    let mut pick = choices.iter().rev().cycle().copied();
    let port = match (c.port, pick.next().unwrap_or(0) % 2) {
        (Some(p), _) => format!(":{p}"),
        (None, 1) => format!(":{}", if c.https { 443 } else { 80 }),
        (None, _) => String::new(),
    };
    let mut path = String::new();
    for seg in &c.path {
        match pick.next().unwrap_or(0) % 4 {
            0 => path.push_str("/."),
            1 => path.push_str("/zz/.."),
            _ => {}
        }
        path.push('/');
        for b in seg.bytes() {
            match pick.next().unwrap_or(0) % 3 {
                0 => path.push_str(&format!("%{b:02X}")),
                1 => path.push_str(&format!("%{b:02x}")),
                _ => path.push(char::from(b)),
            }
        }
    }
    if path.is_empty() && pick.next().unwrap_or(0) % 2 == 1 {
        path.push('/');
    }
    format!("{scheme}://{host}{port}{path}")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn equivalent_uris_normalise_to_one_form(c in canonical(), choices in vec(any::<u8>(), 1..64)) {
        let written = spelling(&c, &choices);
        let htu = Htu::parse(&written).unwrap();
        prop_assert_eq!(htu.as_str(), c.text(), "from {}", written);
        prop_assert_eq!(Htu::parse(htu.as_str()).unwrap(), htu);
    }

    #[test]
    fn different_uris_stay_apart(a in canonical(), b in canonical()) {
        prop_assume!(a != b);
        prop_assert_ne!(Htu::parse(&a.text()).unwrap(), Htu::parse(&b.text()).unwrap());
    }

    #[test]
    fn normalisation_is_idempotent(
        rest in vec(proptest::sample::select(b"aZ09.-_~%2eEfF/:@[]!$&'()*+,;=".as_slice()), 0..40)
    ) {
        let uri = format!("https://{}", String::from_utf8(rest).unwrap());
        if let Ok(htu) = Htu::parse(&uri) {
            prop_assert_eq!(Htu::parse(htu.as_str()).unwrap(), htu, "from {}", uri);
        }
    }

    #[test]
    fn the_path_routing_reads_has_the_htu_of_the_path_received(
        rest in vec(proptest::sample::select(b"aZ09.-_~%2eE5cCfF/;".as_slice()), 0..30)
    ) {
        let path = format!("/{}", String::from_utf8(rest).unwrap());
        if let Ok(canonical) = canonical_path(&path) {
            let received = Htu::from_origin_and_path("https", "api.test", &path);
            let routed = Htu::from_origin_and_path("https", "api.test", &canonical);
            prop_assert!(received.is_ok(), "{} routes as {} but has no htu", path, canonical);
            prop_assert_eq!(received.unwrap(), routed.unwrap(), "{} routes as {}", path, canonical);
        }
    }
}

#[test]
fn a_single_byte_change_to_a_proof_is_refused_or_changes_nothing() {
    let key = key(Alg::Es256);
    let valid = proof(&key, &claims());
    let good = check(&valid).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&(0..valid.len(), 0x21u8..0x7f), |(at, byte)| {
            let mut bytes = valid.clone().into_bytes();
            prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            let mutated = String::from_utf8(bytes).unwrap();
            if let Ok(v) = check(&mutated) {
                // Only the unused low bits of a base64url segment's last
                // character can change without changing what it decodes to.
                prop_assert_eq!(v.jti(), good.jti());
                prop_assert_eq!(v.iat(), good.iat());
                prop_assert_eq!(v.jkt(), good.jkt());
                prop_assert_eq!(v.alg(), good.alg());
            }
            Ok(())
        })
        .unwrap();
}
