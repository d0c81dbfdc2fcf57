//! The README's "With your authorization server" snippets are valid configs:
//! each, after a minimal `[server]` table, passes `dpop-gateway check`, and
//! the same snippet with its `audiences` removed is refused (a `jwt` profile
//! issuer without audiences would let ID tokens through).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

/// (heading, TOML) of every snippet in the section.
fn snippets() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("## With your authorization server")
        .expect("README has no \"With your authorization server\" section");
    let section = &readme[start + 3..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("#### ") {
            heading = h.to_owned();
        } else if line == "```toml" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((heading.clone(), body.join("\n")));
        }
    }
    out
}

fn check(text: &str) -> common::BinOutput {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"127.0.0.1:0\"\n\n{text}\n"),
    )
    .unwrap();
    common::run_bin(
        ["check", "--config", path.to_str().unwrap()],
        Duration::from_secs(20),
    )
}

#[test]
fn every_authorization_server_snippet_passes_check() {
    let snippets = snippets();
    let names: Vec<&str> = snippets.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        names,
        [
            "Keycloak",
            "Okta",
            "Auth0",
            "Microsoft Entra ID",
            "Spring Authorization Server"
        ]
    );
    for (name, toml) in &snippets {
        assert!(toml.contains("profile = \"jwt\""), "{name}");
        let out = check(toml);
        assert_eq!(out.code(), Some(0), "{name}: {}{}", out.stdout, out.stderr);
        assert_eq!(out.stdout.trim(), "ok", "{name}");

        let without: String = toml
            .lines()
            .filter(|l| !l.starts_with("audiences"))
            .collect::<Vec<_>>()
            .join("\n");
        let out = check(&without);
        assert_eq!(
            out.code(),
            Some(2),
            "{name} without audiences: {}",
            out.stdout
        );
        assert!(
            out.stderr.contains("issuers[0].audiences"),
            "{name}: {}",
            out.stderr
        );
    }
}

#[test]
fn plain_http_authorization_servers_only_on_loopback() {
    let issuer = |url: &str, extra: &str| {
        format!(
            "[[issuers]]\nissuer = \"https://as.test\"\naudiences = [\"api\"]\njwks_url = \"{url}\"\n{extra}\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:1\"\n"
        )
    };
    for url in [
        "http://127.0.0.1:8080/certs",
        "http://[::1]:8080/certs",
        "http://localhost/certs",
    ] {
        let out = check(&issuer(url, ""));
        assert_eq!(out.code(), Some(0), "{url}: {}", out.stderr);
    }
    let out = check(&issuer("http://keycloak.auth.svc:8080/certs", ""));
    assert_eq!(out.code(), Some(2), "{}", out.stdout);
    assert!(out.stderr.contains("issuers[0].jwks_url"), "{}", out.stderr);
    assert!(out.stderr.contains("allow_insecure_http"), "{}", out.stderr);

    let out = check(&issuer(
        "http://keycloak.auth.svc:8080/certs",
        "allow_insecure_http = true",
    ));
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: issuers[0]") && out.stderr.contains("allow_insecure_http"),
        "{}",
        out.stderr
    );
}
