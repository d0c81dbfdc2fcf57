#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::config::Config;

/// Every problem of `text` as `(key, line)`, with its message.
fn problems(text: &str) -> Vec<(String, Option<usize>, String)> {
    let problems = match Config::from_toml(text, std::path::Path::new("/")) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    };
    problems
        .into_iter()
        .map(|p| (p.key, p.line, p.message))
        .collect()
}

/// `(key, line)` of every problem.
fn places(text: &str) -> Vec<(String, Option<usize>)> {
    problems(text).into_iter().map(|(k, l, _)| (k, l)).collect()
}

fn place(key: &str, line: usize) -> (String, Option<usize>) {
    (key.to_owned(), Some(line))
}

const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\n";
const ROUTE: &str = "[[routes]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:1\"\nauth = \"none\"\n";

#[test]
fn a_good_config_has_no_problems() {
    assert_eq!(problems(&format!("{SERVER}{ROUTE}")), vec![]);
}

#[test]
fn unknown_keys_and_tables_are_named_by_path_and_line() {
    for (text, key, line) in crate::config::error::tests::unknown_key_cases() {
        let (_, shape) = read(&text).unwrap();
        let found: Vec<_> = shape
            .problems
            .iter()
            .map(|p| (p.key.clone(), p.line))
            .collect();
        assert_eq!(found, vec![place(key, line)], "{text}");
        assert!(
            shape.problems[0].message.starts_with("unknown "),
            "{:?}",
            shape.problems
        );
    }
}

#[test]
fn an_unknown_key_and_a_bad_value_are_both_reported() {
    let text = format!("{SERVER}lisen = 1\nmax_connections = \"x\"\n{ROUTE}");
    let found = problems(&text);
    assert_eq!(
        places(&text),
        vec![place("server.lisen", 3), place("server.max_connections", 4)]
    );
    assert!(found[0].2.contains("unknown field `lisen`"), "{found:?}");
    assert!(found[0].2.contains("`listen`"), "{found:?}");
    assert!(
        found[1].2.contains("invalid type: string \"x\""),
        "{found:?}"
    );
}

#[test]
fn a_missing_or_mistyped_required_key_is_said_once_by_its_path() {
    let cases = [
        (
            format!("[server]\nmax_connections = 5\n{ROUTE}"),
            place("server.listen", 1),
            "the key `listen` is required",
        ),
        (
            ROUTE.to_owned(),
            ("server".to_owned(), None),
            "the [server] table is required",
        ),
        (
            format!("[server]\nlisten = 8443\n{ROUTE}"),
            place("server.listen", 2),
            "invalid type: integer `8443`",
        ),
    ];
    for (text, want, says) in cases {
        let found = problems(&text);
        assert_eq!(places(&text), vec![want], "{text}");
        assert!(found[0].2.contains(says), "{found:?}");
    }
}

#[test]
fn types_are_checked_in_every_table() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = \"10.0.0.0/8\"\ntls = 1\n\
         [dpop]\nalgs = [\"ES256\", true]\n\
         [admin]\nlisten = [1]\n\
         {ROUTE}[routes.identity_headers]\nsub = 1\n\
         [[issuers]]\nissuer = \"https://as\"\nleeway_secs = -1\n"
    );
    assert_eq!(
        places(&text),
        vec![
            place("server.trusted_proxies", 3),
            place("server.tls", 4),
            place("dpop.algs[1]", 6),
            place("admin.listen", 8),
            place("routes[0].identity_headers.sub", 15),
            place("issuers[0].leeway_secs", 18),
        ]
    );
}

#[test]
fn validation_problems_come_with_their_lines_and_shape_problems() {
    // A bad value validation finds, next to an unknown key the shape finds.
    let text = format!("[server]\nlisten = \"localhost:8443\"\nlisen = 1\n{ROUTE}");
    let found = problems(&text);
    assert_eq!(
        places(&text),
        vec![place("server.listen", 2), place("server.lisen", 3)]
    );
    assert!(found[0].2.contains("localhost:8443"), "{found:?}");

    // A problem about a key that is not there gets its table's line.
    let text = format!("{SERVER}[dpop]\nnonce = \"required\"\n{ROUTE}");
    assert_eq!(places(&text), vec![place("dpop.nonce_secret_file", 3)]);
}

#[test]
fn validation_sees_only_what_the_shape_problems_leave_intact() {
    let bad_auth = ROUTE.replace("auth = \"none\"", "auth = 1");
    let cases = [
        // Without its `auth`, the route would read as a DPoP route without
        // issuers: validation problems in a table with a value set aside are
        // not reported.
        (
            format!("{SERVER}{bad_auth}"),
            vec![place("routes[0].auth", 7)],
        ),
        // Other tables are still validated.
        (
            format!("[server]\nlisten = \"nowhere\"\n{bad_auth}"),
            vec![place("server.listen", 2), place("routes[0].auth", 7)],
        ),
        // Without `issuer`, the issuer is set aside; validating would say the
        // DPoP route has no issuer, which is not the problem: a missing key
        // stops validation, but not the shape check.
        (
            format!(
                "{SERVER}{}[[issuers]]\njwks_file = \"x\"\nbogus = 1\n",
                ROUTE.replace("\"none\"", "\"dpop\"")
            ),
            vec![place("issuers[0].issuer", 8), place("issuers[0].bogus", 10)],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(places(&text), want, "{text}");
    }
}

#[test]
fn helpers() {
    assert!(within("routes[0].auth", "routes[0]"));
    assert!(within("routes[0].auth", "routes"));
    assert!(within("routes", "routes"));
    assert!(!within("routes_x", "routes"));
    assert!(!within("routes", "routes[0]"));
    assert_eq!(table_of("routes[0].auth"), "routes[0]");
    assert_eq!(table_of("server.trusted_proxies[1]"), "server");
    assert_eq!(table_of("routes[3].required_scopes[1]"), "routes[3]");
    assert_eq!(table_of("admin"), "admin");
    assert_eq!(table_of("routes[2]"), "routes");
    assert_eq!(expected(&[]), "this table takes no keys");
    assert_eq!(expected(&["a"]), "expected `a`");
    assert_eq!(expected(&["a", "b"]), "expected one of `a`, `b`");
}

#[test]
fn drain_timeout_and_watch_config_are_typed_and_ranged() {
    let text = format!("{SERVER}drain_timeout_secs = \"x\"\nwatch_config = \"yes\"\n{ROUTE}");
    assert_eq!(
        places(&text),
        vec![
            place("server.drain_timeout_secs", 3),
            place("server.watch_config", 4)
        ]
    );
    let text = format!("{SERVER}drain_timeout_secs = 3601\n{ROUTE}");
    let found = problems(&text);
    assert_eq!(places(&text), vec![place("server.drain_timeout_secs", 3)]);
    assert!(found[0].2.contains("between 0 and 3600"), "{found:?}");
    let text = format!("{SERVER}drain_timeout_secs = 0\nwatch_config = true\n{ROUTE}");
    let config = Config::from_toml(&text, std::path::Path::new("/")).unwrap();
    assert_eq!(config.server.drain_timeout, std::time::Duration::ZERO);
    assert!(config.server.watch_config);
    let config = Config::from_toml(&format!("{SERVER}{ROUTE}"), std::path::Path::new("/")).unwrap();
    assert_eq!(config.server.drain_timeout.as_secs(), 30);
    assert!(!config.server.watch_config);
}

#[test]
fn every_named_file_is_listed_once_resolved_against_the_base() {
    let text = "[server]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncert = \"tls/c.pem\"\nkey = \"/abs/k.pem\"\n[dpop]\nnonce = \"required\"\nnonce_secret_file = \"s/nonce\"\n[[issuers]]\nissuer = \"https://as\"\njwks_file = \"as.jwks.json\"\nca_file = \"tls/c.pem\"\n[[routes]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"https://127.0.0.1:1\"\nupstream_ca_file = \"up.pem\"\n";
    let (raw, _) = read(text).unwrap();
    let files =
        crate::config::validate::named_files(&raw.unwrap(), std::path::Path::new("/etc/gw"));
    let want: Vec<std::path::PathBuf> = [
        "/etc/gw/tls/c.pem",
        "/abs/k.pem",
        "/etc/gw/s/nonce",
        "/etc/gw/as.jwks.json",
        "/etc/gw/up.pem",
    ]
    .iter()
    .map(Into::into)
    .collect();
    assert_eq!(files, want);
}
