//! Request identity (interface "Hosts" and "Identity headers cannot be
//! forged"): a public route and protected ones in front of one upstream that
//! records every request, as a legacy app is usually put behind a gateway.
//!
//! - No client-sent spelling of any route's identity header (any case, `_`
//!   for `-`, the way CGI-style servers read them) reaches the upstream
//!   through any route; ordinary headers do.
//! - An HTTP/1.1 request with no `Host`, two `Host` lines or an invalid one
//!   gets 400 and reaches nothing; spellings of a protected host (case, port,
//!   trailing dot) are held to its route; an absolute-form authority decides
//!   the route and a Host naming another origin gets 400; on HTTP/2 `:authority` decides, and a `Host` that disagrees
//!   with it gets 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::req::{raw_h1, Req};
use common::{raw_request, Alpn, Answer, Recorded, TestGateway, TlsVersion, Upstream, TLS_TABLE};
use http::Request;

/// Identity header names of the config, folded (lower case, `_` as `-`).
const IDENTITY: &[&str] = &["x-remote-user", "x-auth-client-id", "x-auth-scope"];

fn config(upstream: &str) -> String {
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/keys/as.jwks.json");
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{TLS_TABLE}\n\
         [[issuers]]\nissuer = \"https://as.test\"\naudiences = [\"https://api.test\"]\njwks_file = \"{jwks}\"\n\
         [[routes]]\nname = \"public\"\npath_prefix = \"/\"\nupstream = \"{u}\"\nauth = \"none\"\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"{u}\"\nauth = \"dpop\"\n\
         [routes.identity_headers]\nsub = \"X-Remote-User\"\nclient_id = \"X-Auth-Client-Id\"\n\
         [[routes]]\nname = \"admin\"\nhost = \"Admin.Internal\"\npath_prefix = \"/\"\nupstream = \"{u}\"\nauth = \"dpop\"\n\
         [routes.identity_headers]\nscope = \"X_Auth_Scope\"\n",
        u = upstream
    )
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The headers of `rec` that any reader could take for an identity header.
fn forged(rec: &Recorded) -> Vec<String> {
    rec.headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| IDENTITY.contains(&fold(k).as_str()))
        .collect()
}

async fn raw(gw: &TestGateway, bytes: &[u8]) -> Answer {
    raw_h1(gw.addr, gw.ca_pem(), bytes)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(bytes)))
}

/// Every spelling of every identity header, as raw header lines.
fn spellings() -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for name in ["X-Remote-User", "X-Auth-Client-Id", "X-Auth-Scope"] {
        let variants = [
            name.to_owned(),
            name.to_ascii_lowercase(),
            name.to_ascii_uppercase(),
            name.replace('-', "_"),
            name.to_ascii_lowercase().replace('-', "_"),
            name.replacen('-', "_", 1),
        ];
        for v in variants {
            lines.push((v, "admin".to_owned()));
        }
    }
    lines
}

/// Ordinary headers that must pass, including near-misses of the identity names.
const ORDINARY: &[(&str, &str)] = &[
    ("X-Request-Id", "r-1"),
    ("X-Remote-Users", "kept"),
    ("Remote-User", "kept"),
    ("X-Remote", "kept"),
    ("X-Auth-Scopes", "kept"),
    ("Accept", "application/json"),
];

#[tokio::test]
async fn identity_headers_are_removed_on_every_route() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let mut req = Req::get("/public/page?x=1");
    for (name, value) in spellings() {
        req = req.h(&name, value);
    }
    for (name, value) in ORDINARY {
        req = req.h(name, *value);
    }

    // HTTP/1.1 bytes: header names exactly as written.
    let a = raw(&gw, &req.to_raw_h1(&gw.authority())).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text());
    let rec = up.last();
    assert_eq!(forged(&rec), Vec::<String>::new());
    for (name, value) in ORDINARY {
        assert_eq!(rec.header_all(name), vec![value.to_string()], "{name}");
    }

    // HTTP/2 (names are lower case on the wire).
    let a = gw
        .client(Alpn::Http2)
        .send(req.to_request(&gw.https_url("")))
        .await
        .unwrap();
    assert_eq!((a.status.as_u16(), a.version), (200, http::Version::HTTP_2));
    let rec = up.last();
    assert_eq!(forged(&rec), Vec::<String>::new());
    assert_eq!(rec.header("x-request-id"), Some("r-1"));
    assert_eq!(up.count(), 2);

    // A protected route without credentials: refused, nothing forwarded.
    let mut denied = Req::get("/api/me");
    for (name, value) in spellings() {
        denied = denied.h(&name, value);
    }
    let a = raw(&gw, &denied.to_raw_h1(&gw.authority())).await;
    a.assert_gateway_error(401, "invalid_request");
    assert_eq!(up.count(), 2);
}

/// An HTTP/1.1 request head with the given lines (no Host unless given).
fn head(target: &str, lines: &[&str]) -> Vec<u8> {
    let mut out = format!("GET {target} HTTP/1.1\r\n");
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

#[tokio::test]
async fn invalid_or_duplicate_hosts_get_400_over_http1() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let cases: &[(&str, &[&str])] = &[
        ("no Host", &[]),
        (
            "two Host lines",
            &["Host: public.example", "Host: public.example"],
        ),
        (
            "two Hosts",
            &["Host: public.example", "Host: admin.internal"],
        ),
        ("userinfo", &["Host: user@admin.internal"]),
        ("empty userinfo", &["Host: @admin.internal"]),
        ("percent", &["Host: admin%2Einternal"]),
        ("percent in port", &["Host: admin.internal:%34%34%33"]),
        ("non-numeric port", &["Host: admin.internal:https"]),
        ("empty port", &["Host: admin.internal:"]),
        ("port out of range", &["Host: admin.internal:65536"]),
        ("two ports", &["Host: admin.internal:443:443"]),
        ("comma", &["Host: public.example,admin.internal"]),
        ("space", &["Host: admin internal"]),
        ("empty", &["Host: "]),
        ("two trailing dots", &["Host: admin.internal.."]),
        ("empty label", &["Host: admin..internal"]),
        ("broken IPv6", &["Host: [::1"]),
        ("IPv6 zone", &["Host: [fe80::1%25eth0]"]),
        ("slash", &["Host: admin.internal/x"]),
    ];
    for (what, lines) in cases {
        let a = raw(&gw, &head("/x", lines)).await;
        assert_eq!(a.status.as_u16(), 400, "{what}: {}", a.text());
        if a.header("content-type").is_some() {
            a.assert_gateway_error(400, "invalid_request");
        }
    }
    // Absolute form: the Host line is still required and must be valid.
    let abs = format!("https://{}/x", gw.authority());
    for lines in [&[][..], &["Host: a@b"][..], &["Host: a", "Host: a"][..]] {
        let a = raw(&gw, &head(&abs, lines)).await;
        a.assert_gateway_error(400, "invalid_request");
    }
    assert_eq!(up.count(), 0, "{:?}", up.requests());

    // HTTP/1.0 may omit Host: routed by path alone, to the host-less route.
    let a = raw(&gw, b"GET /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text());
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn spellings_of_a_protected_host_are_held_to_its_route() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up.url())).await;
    for host in [
        "admin.internal",
        "ADMIN.internal",
        "Admin.Internal",
        "admin.internal.",
        "ADMIN.INTERNAL.",
        "admin.internal:443",
        "admin.internal.:8443",
        "admin.internal:1",
    ] {
        let a = raw(&gw, &head("/x", &[&format!("Host: {host}")])).await;
        a.assert_gateway_error(401, "invalid_request");
    }
    // Absolute form: its authority decides, and a Host line naming another
    // origin gets 400 (a reader ignoring the absolute form would route by it).
    let a = raw(
        &gw,
        &head("https://Admin.Internal./x", &["Host: admin.internal"]),
    )
    .await;
    a.assert_gateway_error(401, "invalid_request");
    for (target, host) in [
        ("https://Admin.Internal./x", "Host: public.example"),
        ("https://public.example/x", "Host: admin.internal"),
    ] {
        let a = raw(&gw, &head(target, &[host])).await;
        a.assert_gateway_error(400, "invalid_request");
    }
    assert_eq!(up.count(), 0, "{:?}", up.requests());

    let a = raw(
        &gw,
        &head("https://public.example/x", &["Host: Public.Example"]),
    )
    .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text());
    let rec = up.last();
    assert_eq!(rec.path_and_query(), "/x");
    assert_eq!(rec.header("x-forwarded-host"), Some("public.example"));

    // X-Forwarded-Host carries the canonical host (and the port as sent).
    let a = raw(&gw, &head("/y", &["Host: Public.Example.:8443"])).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text());
    assert_eq!(
        up.last().header("x-forwarded-host"),
        Some("public.example:8443")
    );
    assert_eq!(up.count(), 2);
}

/// One HTTP/2 request to the gateway with `:authority` from `uri` and extra headers.
async fn h2(gw: &TestGateway, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut b = Request::get(uri);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    let cfg = gw.tls_config(TlsVersion::Any, Alpn::Http2);
    let (info, answer) = raw_request(gw.addr, cfg, "localhost", b.body(common::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]));
    answer
}

#[tokio::test]
async fn http2_authority_decides_and_a_disagreeing_host_is_refused() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up.url())).await;
    let a = h2(&gw, "https://admin.internal/x", &[]).await;
    a.assert_gateway_error(401, "invalid_request");
    let a = h2(
        &gw,
        "https://ADMIN.internal.:443/x",
        &[("host", "admin.internal")],
    )
    .await;
    a.assert_gateway_error(401, "invalid_request");
    for (authority, host) in [
        ("public.example", "admin.internal"),
        ("admin.internal", "public.example"),
        ("public.example", "public.example:8443"),
        ("public.example", "user@public.example"),
    ] {
        let a = h2(&gw, &format!("https://{authority}/x"), &[("host", host)]).await;
        a.assert_gateway_error(400, "invalid_request");
        let desc = a.json()["error_description"].as_str().unwrap().to_owned();
        assert!(desc.contains("Host"), "{authority} / {host}: {desc}");
    }
    assert_eq!(up.count(), 0, "{:?}", up.requests());

    let a = h2(
        &gw,
        "https://public.example:443/x",
        &[("host", "Public.Example.")],
    )
    .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text());
    assert_eq!(
        up.last().header("x-forwarded-host"),
        Some("public.example:443")
    );
}

#[test]
fn check_warns_when_a_public_route_shares_a_protected_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = common::write_pki(dir.path());
    let path = dir.path().join("gateway.toml");
    let text = common::fill(&config("http://127.0.0.1:9"), &files, dir.path());
    std::fs::write(&path, text).unwrap();
    let out = common::run_bin(
        ["check", "--config", path.to_str().unwrap()],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "ok");
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("share upstream"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stderr));
    assert!(
        warning.contains("routes[0] (\"public\", auth = \"none\")"),
        "{warning}"
    );
    assert!(warning.contains("routes[1] (\"api\")"), "{warning}");
    assert!(warning.contains("routes[2] (\"admin\")"), "{warning}");
}
