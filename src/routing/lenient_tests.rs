//! Property: a path the gateway forwards on a public route is never, by any
//! lenient reading of the path the upstream receives, a protected path.
//!
//! The lenient readings are those of real servers: percent-decoding (once or
//! repeatedly), `\` as `/`, `;` parameters stripped (servlet containers),
//! slashes merged (nginx, Go), dot segments removed, trailing dots and spaces
//! of a segment dropped (IIS), a decoded `?` or `#` ending the path, and, when
//! `case_insensitive_paths` is on, lower-casing. Every subset of these, applied
//! in a fixed order until nothing changes, is one reading.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};

use super::Router;
use crate::config::{AuthMode, Config};
use crate::target::canonical_path;

/// Pieces that path differentials are made of, plus ordinary ones.
const PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "api",
    "API",
    "Api",
    "public",
    "x",
    "a",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "\\",
    ";",
    "%3b",
    "%3B",
    ";a=b",
    "%25",
    "%252f",
    "%252e",
    "%2525",
    "%20",
    "%09",
    "%00",
    "%3f",
    "%23",
    "%61",
    "%41",
    "%70i",
    "~",
    "-",
    "_",
    "v1.0",
    "%C0%AF",
    "%EF%BC%8F",
    "%c3%a9",
    "..;",
    "2f",
    "2F",
    "5c",
    "e",
];

fn generate(rng: &mut TestRng) -> String {
    let mut path = String::from("/");
    for _ in 0..1 + rng.random_range(0..7) {
        path.push_str(PIECES[rng.random_range(0..PIECES.len())]);
    }
    path
}

/// One pass of strict `%xx` decoding, on bytes (a decoded byte may not be UTF-8).
fn decode(path: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(h), Some(l)) = (hex(path[i + 1]), hex(path[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap());
                i += 3;
                continue;
            }
        }
        out.push(path[i]);
        i += 1;
    }
    out
}

fn cut_at_delimiter(path: &[u8]) -> Vec<u8> {
    let end = path.iter().position(|&b| b == b'?' || b == b'#');
    path[..end.unwrap_or(path.len())].to_vec()
}

fn backslash_as_slash(path: &[u8]) -> Vec<u8> {
    path.iter()
        .map(|&b| if b == b'\\' { b'/' } else { b })
        .collect()
}

fn strip_parameters(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipping = false;
    for &b in path {
        match b {
            b';' => skipping = true,
            b'/' => {
                skipping = false;
                out.push(b);
            }
            _ if !skipping => out.push(b),
            _ => {}
        }
    }
    out
}

fn merge_slashes(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for &b in path {
        if !(b == b'/' && out.last() == Some(&b'/')) {
            out.push(b);
        }
    }
    out
}

fn segments(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/').map(<[u8]>::to_vec).collect()
}

fn remove_dots(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let parts = segments(path);
    let last = parts.len().saturating_sub(1);
    for (i, seg) in parts.into_iter().enumerate() {
        match seg.as_slice() {
            b"." => {
                if i == last {
                    out.push(Vec::new());
                }
            }
            b".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push(Vec::new());
                }
            }
            _ => out.push(seg),
        }
    }
    out.join(&b'/')
}

fn trim_dots_and_spaces(path: &[u8]) -> Vec<u8> {
    let trimmed: Vec<Vec<u8>> = segments(path)
        .into_iter()
        .map(|mut seg| {
            while seg.last().is_some_and(|&b| b == b'.' || b == b' ') {
                seg.pop();
            }
            seg
        })
        .collect();
    trimmed.join(&b'/')
}

fn lower(path: &[u8]) -> Vec<u8> {
    path.to_ascii_lowercase()
}

type Reading = fn(&[u8]) -> Vec<u8>;

/// Every lenient reading of `path`.
fn readings(path: &str, case_insensitive: bool) -> Vec<Vec<u8>> {
    let mut ops: Vec<Reading> = vec![
        decode,
        cut_at_delimiter,
        backslash_as_slash,
        strip_parameters,
        merge_slashes,
        remove_dots,
        trim_dots_and_spaces,
    ];
    if case_insensitive {
        ops.push(lower);
    }
    let mut out = Vec::new();
    for mask in 0u32..(1 << ops.len()) {
        let mut p = path.as_bytes().to_vec();
        for _round in 0..4 {
            let before = p.clone();
            for (i, op) in ops.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    p = op(&p);
                }
            }
            if p == before {
                break;
            }
        }
        out.push(p);
    }
    out
}

fn is_protected(reading: &[u8], prefix: &[u8]) -> bool {
    reading.starts_with(prefix) && matches!(reading.get(prefix.len()), None | Some(b'/'))
}

fn router(case_insensitive: bool) -> Router {
    let text = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        case_insensitive_paths = {case_insensitive}
        [[issuers]]
        issuer = "https://as.example"
        jwks_file = "examples/keys/as.jwks.json"
        [[routes]]
        name = "public"
        path_prefix = "/"
        upstream = "http://127.0.0.1:1"
        auth = "none"
        [[routes]]
        name = "api"
        path_prefix = "/api"
        upstream = "http://127.0.0.1:1"
        auth = "dpop"
        "#
    );
    let cfg = Config::from_toml(&text, std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    Router::new(cfg.routes, case_insensitive)
}

fn check(case_insensitive: bool, seed: u64) {
    let router = router(case_insensitive);
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed.to_le_bytes().repeat(4));
    let (mut public, mut protected, mut refused) = (0, 0, 0);
    for _ in 0..20_000 {
        let raw = generate(&mut rng);
        let Ok(path) = canonical_path(&raw) else {
            refused += 1;
            continue;
        };
        let route = router.route(None, &path).unwrap();
        if route.auth != AuthMode::None {
            protected += 1;
            continue;
        }
        public += 1;
        // What the upstream receives is the canonical path; the raw one is
        // read too, in case a future change forwards it.
        for forwarded in [path.as_ref(), raw.as_str()] {
            for reading in readings(forwarded, case_insensitive) {
                assert!(
                    !is_protected(&reading, b"/api"),
                    "{raw:?} was forwarded without credentials, and a lenient server reads it as \
                     {:?}",
                    String::from_utf8_lossy(&reading)
                );
            }
        }
    }
    // Not vacuous: all three outcomes occur often.
    assert!(public > 2_000, "public {public}");
    assert!(protected > 50, "protected {protected}");
    assert!(refused > 2_000, "refused {refused}");
}

#[test]
fn no_lenient_reading_of_a_public_path_is_protected() {
    check(false, 0x9E37_79B9_7F4A_7C15);
}

#[test]
fn no_lenient_reading_is_protected_when_case_is_ignored() {
    check(true, 0xD1B5_4A32_D192_ED03);
}

#[test]
fn the_readings_are_lenient() {
    let all = |p: &str| -> Vec<String> {
        readings(p, true)
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .collect()
    };
    for (path, reading) in [
        ("//api/x", "/api/x"),
        ("/api;a=b/x", "/api/x"),
        ("/api%2Fx", "/api/x"),
        ("/public/%2E%2E%2Fapi/x", "/api/x"),
        ("/api%252Fx", "/api/x"),
        ("/api./x", "/api/x"),
        ("/api%20/x", "/api/x"),
        ("/API/x", "/api/x"),
        ("/public\\..\\api/x", "/api/x"),
        ("/api%3Fx", "/api"),
    ] {
        assert!(
            all(path).iter().any(|r| r == reading),
            "{path}: {:?}",
            all(path)
        );
    }
}
