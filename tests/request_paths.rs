//! Path differentials (interface "Request paths"): with a catch-all public
//! route and a protected one on the same upstream (a common layout), every
//! spelling that a lenient upstream reads as the protected path is refused
//! (400) or held to the protected route's policy (401 without credentials),
//! over raw HTTP/1.1 bytes, hyper's HTTP/1.1 and HTTP/2, and absolute-form
//! targets. The upstream records every request target it receives: none of
//! these ever reaches it, and ordinary paths still arrive exactly as routed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::req::{raw_h1, Req};
use common::{Alpn, Answer, TestGateway, Upstream, TLS_TABLE};
use http::Request;

/// What the gateway must do with a request target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 400 `invalid_request` made by the gateway, or by the HTTP parser
    /// before it (a target hyper cannot parse); never forwarded.
    Refused,
    /// Routed to the protected route: 401 without credentials.
    Protected,
    /// Forwarded on the public route with this path (and the query as sent).
    Public(&'static str),
}
use Want::*;

/// Every form of the issue table, and variants: double encoding, mixed-case
/// escapes, several slashes, `..;/`, encoded `;`, tabs, NUL.
const ATTACKS: &[(&str, Want)] = &[
    // empty segments (nginx merge_slashes, Go path cleaning, http.server)
    ("//api/x", Refused),
    ("///api/x", Refused),
    ("/api//x", Refused),
    ("//api", Refused),
    ("/.//api/x", Refused),
    // path parameters (Tomcat and other servlet containers)
    ("/api;a=b/x", Refused),
    ("/api;/x", Refused),
    ("/api;jsessionid=1", Refused),
    ("/public/..;/api/x", Refused),
    ("/..;/api/x", Refused),
    ("/api%3Bx/y", Refused),
    ("/api%3b/x", Refused),
    ("/api%253B/x", Refused),
    // encoded slashes and backslashes, dot segments (decode-before-route servers)
    ("/api%2Fx", Refused),
    ("/api%2fx", Refused),
    ("/public/..%2Fapi/x", Refused),
    ("/public/..%2fapi/x", Refused),
    ("/public/%2E%2E%2Fapi/x", Refused),
    ("/public/%2e%2E%2fapi/x", Refused),
    ("/public/%2e%2e/api/x", Refused),
    ("/public/../api/x", Refused),
    ("/public/./../api/x", Refused),
    ("/api/x/..", Refused),
    ("/public/..%5Capi/x", Refused),
    ("/public/..%5capi/x", Refused),
    ("/public\\..\\api/x", Refused),
    ("/api\\x", Refused),
    // double encoding
    ("/api%252Fx", Refused),
    ("/api%252fx", Refused),
    ("/public/%252E%252E/api/x", Refused),
    ("/api%25252Fx", Refused),
    ("/api%25%32%46x", Refused),
    // an encoded delimiter that a decoding server ends the path at
    ("/api%3Fx", Refused),
    ("/api%23x", Refused),
    // trailing dots and spaces (IIS)
    ("/api./x", Refused),
    ("/api../x", Refused),
    ("/api%2E/x", Refused),
    ("/api%2e", Refused),
    ("/api%20/x", Refused),
    ("/api%20", Refused),
    // control characters, raw and encoded
    ("/api%09/x", Refused),
    ("/api%00/x", Refused),
    ("/api%0a/x", Refused),
    ("/api\t/x", Refused),
    // overlong UTF-8 and fullwidth solidus
    ("/public%C0%AF..%C0%AFapi/x", Refused),
    ("/api%EF%BC%8Fx", Refused),
    // malformed escapes
    ("/api%zz/x", Refused),
    ("/api%", Refused),
    // unreserved escapes are the same path: held to the protected policy
    ("/%61pi/x", Protected),
    ("/%61%70%69", Protected),
    ("/ap%69/", Protected),
    ("/api/v1.0/items", Protected),
    ("/api", Protected),
    ("/api?x=../../public", Protected),
];

/// Ordinary paths that must keep working, with the path the upstream gets.
const ORDINARY: &[(&str, Want)] = &[
    ("/", Public("/")),
    ("/public/v1.0/items", Public("/public/v1.0/items")),
    ("/public/", Public("/public/")),
    (
        "/.well-known/openid-configuration",
        Public("/.well-known/openid-configuration"),
    ),
    ("/public/a%20b", Public("/public/a%20b")),
    ("/public/caf%C3%A9", Public("/public/caf%C3%A9")),
    ("/public/100%25", Public("/public/100%25")),
    ("/public/%7Euser", Public("/public/~user")),
    ("/apix", Public("/apix")),
    ("/api-docs/x", Public("/api-docs/x")),
    (
        "/public/search?path=%2Fapi%2Fx&p=;..;/&q=../../api",
        Public("/public/search"),
    ),
];

/// Forms that only a case-insensitive upstream reads as `/api`.
const CASE: &[&str] = &["/API/x", "/Api/x", "/aPi", "/%41PI/x"];

fn config(up: &Upstream, case_insensitive: bool) -> String {
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/keys/as.jwks.json");
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ncase_insensitive_paths = {case_insensitive}\n{TLS_TABLE}\n\
         [[issuers]]\nissuer = \"https://as.test\"\naudiences = [\"https://api.test\"]\njwks_file = \"{jwks}\"\n\
         [[routes]]\nname = \"public\"\npath_prefix = \"/\"\nupstream = \"{u}\"\nauth = \"none\"\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstream = \"{u}\"\nauth = \"dpop\"\n",
        u = up.url()
    )
}

/// How a request travels.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// Written byte for byte (origin-form).
    Raw,
    /// Written byte for byte in absolute-form (`GET https://host/path`).
    RawAbsolute,
    /// hyper's HTTP/1.1 client.
    H1,
    /// hyper's HTTP/2 client (`:path`).
    H2,
}

async fn send(gw: &TestGateway, via: Via, target: &str) -> Option<Answer> {
    match via {
        Via::Raw => Some(raw(gw, target).await),
        Via::RawAbsolute => Some(raw(gw, &gw.https_url(target)).await),
        Via::H1 | Via::H2 => {
            // Targets that http::Uri cannot hold cannot be sent by hyper.
            let Ok(req) = Request::get(gw.https_url(target)).body(common::empty()) else {
                return None;
            };
            let alpn = if matches!(via, Via::H2) {
                Alpn::Http2
            } else {
                Alpn::Http1
            };
            Some(gw.client(alpn).send(req).await.unwrap())
        }
    }
}

async fn raw(gw: &TestGateway, target: &str) -> Answer {
    let bytes = Req::get(target).to_raw_h1(&gw.authority());
    raw_h1(gw.addr, gw.ca_pem(), &bytes)
        .await
        .unwrap_or_else(|e| panic!("{target:?}: {e}"))
}

/// Sends every case over every way and checks the answer; returns the paths
/// the upstream must have received, in order.
async fn run_table(gw: &TestGateway, cases: &[(&str, Want)]) -> Vec<String> {
    let mut forwarded = Vec::new();
    for via in [Via::Raw, Via::RawAbsolute, Via::H1, Via::H2] {
        for &(target, want) in cases {
            let Some(a) = send(gw, via, target).await else {
                continue;
            };
            let what = format!("{via:?} {target:?}: {} {}", a.status, a.text());
            match want {
                Refused => {
                    assert_eq!(a.status.as_u16(), 400, "{what}");
                    // The gateway's own refusal, unless hyper's parser refused first.
                    if a.header("content-type").is_some() {
                        a.assert_gateway_error(400, "invalid_request");
                    }
                }
                Protected => {
                    a.assert_gateway_error(401, "invalid_request");
                    let challenge = a.header("www-authenticate").unwrap_or("");
                    assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
                }
                Public(path) => {
                    assert_eq!(a.status.as_u16(), 200, "{what}");
                    let query = target.split_once('?').map(|(_, q)| q);
                    forwarded.push(match query {
                        Some(q) => format!("{path}?{q}"),
                        None => path.to_owned(),
                    });
                }
            }
        }
    }
    forwarded
}

fn received(up: &Upstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| r.path_and_query().to_owned())
        .collect()
}

#[tokio::test]
async fn path_differentials_never_reach_the_upstream() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up, false)).await;
    let mut cases: Vec<(&str, Want)> = ATTACKS.to_vec();
    cases.extend_from_slice(ORDINARY);
    let forwarded = run_table(&gw, &cases).await;
    assert_eq!(received(&up), forwarded);
    assert!(forwarded.len() >= ORDINARY.len() * 3, "{forwarded:?}");
}

#[tokio::test]
async fn case_variants_follow_case_insensitive_paths() {
    // Off (the default): the upstream is taken to match case exactly, so
    // /API/x is another path and the public route forwards it as sent.
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up, false)).await;
    let sensitive: Vec<(&str, Want)> = vec![
        ("/API/x", Public("/API/x")),
        ("/Api/x", Public("/Api/x")),
        ("/aPi", Public("/aPi")),
        ("/%41PI/x", Public("/API/x")),
    ];
    let forwarded = run_table(&gw, &sensitive).await;
    assert_eq!(received(&up), forwarded);

    // On: every case variant is held to the /api route's policy.
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&config(&up, true)).await;
    let mut cases: Vec<(&str, Want)> = CASE.iter().map(|p| (*p, Protected)).collect();
    cases.extend_from_slice(ATTACKS);
    cases.extend_from_slice(ORDINARY);
    let forwarded = run_table(&gw, &cases).await;
    assert_eq!(received(&up), forwarded);
}

#[tokio::test]
async fn check_refuses_a_prefix_no_request_could_match() {
    let up = Upstream::echo().await;
    for prefix in [
        "/api//v1",
        "/api;v=1",
        "/api/../admin",
        "/api%2Fv1",
        "/api./x",
    ] {
        let text = config(&up, false).replace(
            "path_prefix = \"/api\"",
            &format!("path_prefix = \"{prefix}\""),
        );
        let err = TestGateway::try_start(&text)
            .await
            .err()
            .unwrap_or_default();
        assert!(err.contains("routes[1].path_prefix"), "{prefix}: {err}");
    }
}
