//! `dpop-gateway check` reports every problem of a config at once, each by its
//! key path (`server.listen`, `routes[2].name`; an unknown table by its name)
//! and line: unknown keys and tables, values of the wrong type, missing
//! required keys and tables, and invalid values, not only the first one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{fill, run_bin, write_pki, BinOutput, TLS_TABLE};

const BOUND: Duration = Duration::from_secs(30);

/// One problem as `check` prints it: key path, line, message.
type Problem = (String, Option<usize>, String);

/// Writes `text` (placeholders filled, with the test PKI beside it) and runs
/// `check` on it; asserts exit 2 and nothing on stdout, and returns every
/// problem printed.
fn check(text: &str) -> Vec<Problem> {
    let (out, path, _dir) = run_check(text);
    let result = (out.code(), out.stdout.as_str());
    assert_eq!(result, (Some(2), ""), "stderr: {}", out.stderr);
    parse(&out, &path)
}

/// Writes `text` as [`check`] does and runs `check` on it: its output, the
/// config's path, and the folder that holds it.
fn run_check(text: &str) -> (BinOutput, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, files) = write_pki(dir.path());
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, fill(text, &files, dir.path())).unwrap();
    let out = run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        BOUND,
    );
    (out, path, dir)
}

/// `FILE: key (line N): message` or `FILE: key: message`, one per line.
fn parse(out: &BinOutput, file: &Path) -> Vec<Problem> {
    let prefix = format!("{}: ", file.display());
    out.stderr
        .lines()
        .map(|line| {
            let rest = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{line:?} does not name the file"));
            let (place, message) = rest.split_once(": ").unwrap();
            let (key, line) = match place.split_once(" (line ") {
                Some((key, n)) => (key, Some(n.trim_end_matches(')').parse().unwrap())),
                None => (place, None),
            };
            (key.to_owned(), line, message.to_owned())
        })
        .collect()
}

/// `(key, line)` of every problem.
fn places(problems: &[Problem]) -> Vec<(&str, Option<usize>)> {
    problems.iter().map(|(k, l, _)| (k.as_str(), *l)).collect()
}

/// Asserts that `found` is one problem, at `key` and `line`, that says `says`.
fn assert_only(found: &[Problem], key: &str, line: Option<usize>, says: &str) {
    assert_eq!(places(found), vec![(key, line)], "{found:?}");
    assert!(found[0].2.contains(says), "{found:?}");
}

fn line_of(text: &str, starts_with: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(starts_with))
        .unwrap_or_else(|| panic!("no line starts with {starts_with:?}"))
        + 1
}

fn server(extra: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n{TLS_TABLE}\n")
}

fn route(name: &str, prefix: &str, extra: &str) -> String {
    format!(
        "[[routes]]\nname = \"{name}\"\npath_prefix = \"{prefix}\"\nupstream = \"http://127.0.0.1:8080\"\nauth = \"none\"\n{extra}\n"
    )
}

/// `server_part` and one catch-all route.
fn one_route(server_part: &str) -> String {
    format!("{server_part}{}", route("a", "/", ""))
}

#[test]
fn an_unknown_key_and_a_bad_value_are_both_reported() {
    let text = one_route(&server("idle_timout_secs = 5").replace("127.0.0.1:0", "localhost:8443"));
    let found = check(&text);
    assert_eq!(
        places(&found),
        vec![
            ("server.listen", Some(2)),
            ("server.idle_timout_secs", Some(3)),
        ],
        "{found:?}"
    );
    assert!(found[0].2.contains("localhost:8443"), "{found:?}");
    assert!(found[1].2.contains("unknown field"), "{found:?}");
    assert!(found[1].2.contains("`idle_timeout_secs`"), "{found:?}");
}

#[test]
fn a_missing_listen_is_named_server_listen() {
    let text = one_route(&server("").replace("listen = \"127.0.0.1:0\"\n", ""));
    assert_only(
        &check(&text),
        "server.listen",
        Some(1),
        "the key `listen` is required",
    );
}

#[test]
fn a_missing_server_table_is_named_server() {
    assert_only(
        &check(&route("a", "/", "")),
        "server",
        None,
        "the [server] table is required",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_its_line() {
    let text = one_route(&server("max_connections = \"x\""));
    assert_only(
        &check(&text),
        "server.max_connections",
        Some(line_of(&text, "max_connections")),
        "invalid type: string \"x\"",
    );
}

#[test]
fn every_route_with_problems_is_named() {
    let text = format!(
        "{}{}{}{}{}",
        server(""),
        route("ok", "/", ""),
        // Three values of the wrong type in one table.
        route("b", "/b", "mode = true\nrequired_scopes = \"read\"")
            .replace("auth = \"none\"", "auth = 1"),
        route("c", "/c", "").replace("name = \"c\"\n", ""),
        route(
            "d",
            "/d",
            "required_scopes = [\"read\", 7]\n[routes.identity_headerz]\nsub = \"X\"",
        ),
    );
    let found = check(&text);
    let after = |table: usize, key: &str| {
        let start = text.match_indices("[[routes]]").nth(table).unwrap().0;
        line_of(&text[start..], key) + text[..start].lines().count()
    };
    assert_eq!(
        places(&found),
        vec![
            ("routes[1].auth", Some(after(1, "auth"))),
            ("routes[1].mode", Some(after(1, "mode"))),
            (
                "routes[1].required_scopes",
                Some(after(1, "required_scopes"))
            ),
            ("routes[2].name", Some(after(2, "[[routes]]"))),
            (
                "routes[3].required_scopes[1]",
                Some(after(3, "required_scopes"))
            ),
            (
                "routes[3].identity_headerz",
                Some(after(3, "[routes.identity_headerz]"))
            ),
        ],
        "{found:?}"
    );
    assert!(found[3].2.contains("`name` is required"), "{found:?}");
    assert!(
        found[4].2.contains("invalid type: integer `7`"),
        "{found:?}"
    );
    assert!(found[5].2.contains("unknown table"), "{found:?}");
}

#[test]
fn a_syntax_error_is_named_with_its_line() {
    let text = format!("{}{}", server("idle_timeout_secs = "), route("a", "/", ""));
    let found = check(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].1,
        Some(line_of(&text, "idle_timeout_secs")),
        "{found:?}"
    );
    assert!(found[0].0.starts_with("server"), "{found:?}");
}

/// The JOSE parser limits: each key's range, its edges accepted, one past
/// either edge a problem at `limits.<key>`; absent, the documented default.
#[test]
fn parser_limits_have_ranges_and_defaults() {
    let limits = |jwk: u64, rsa: u64, depth: u64| {
        one_route(&format!(
            "{}[limits]\nmax_jwk_bytes = {jwk}\nmax_rsa_modulus_bits = {rsa}\nmax_json_depth = {depth}\n",
            server("")
        ))
    };
    for (jwk, rsa, depth) in [(2048, 2048, 4), (65536, 8192, 127)] {
        let (out, _, _dir) = run_check(&limits(jwk, rsa, depth));
        let result = (out.code(), out.stdout.as_str());
        assert_eq!(result, (Some(0), "ok\n"), "{}", out.stderr);
    }
    for (jwk, rsa, depth) in [(2047, 2047, 3), (65537, 8193, 128)] {
        let text = limits(jwk, rsa, depth);
        let found = check(&text);
        assert_eq!(
            places(&found),
            vec![
                (
                    "limits.max_jwk_bytes",
                    Some(line_of(&text, "max_jwk_bytes"))
                ),
                (
                    "limits.max_rsa_modulus_bits",
                    Some(line_of(&text, "max_rsa_modulus_bits"))
                ),
                (
                    "limits.max_json_depth",
                    Some(line_of(&text, "max_json_depth"))
                ),
            ],
            "{found:?}"
        );
        for ((_, _, message), range) in
            found
                .iter()
                .zip(["2048 and 65536", "2048 and 8192", "4 and 127"])
        {
            assert_eq!(message, &format!("must be between {range}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (_pki, files) = write_pki(dir.path());
    let text = fill(&one_route(&server("")), &files, dir.path());
    let config = dpop_gateway::config::Config::from_toml(&text, dir.path()).unwrap();
    let parser = config.limits.parser;
    assert_eq!(
        (
            parser.max_jwk_bytes,
            parser.max_rsa_bits,
            parser.max_json_depth
        ),
        (8192, 4096, 16)
    );
}
