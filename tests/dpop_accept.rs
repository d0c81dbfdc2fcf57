//! What the gateway must ACCEPT (rfc9449-checks section 7, P1–P14 and P16;
//! P15 needs nonces) and what the upstream then receives, over real TLS.
//!
//! For every accepted request: 200 from the upstream, the upstream recorded
//! exactly one request, and that request is the one sent: same method, path
//! and query, body and `Authorization`; no `DPoP` header; and the identity
//! headers taken from the verified token, with `X-Auth-Jkt` equal to the
//! thumbprint of the proof key computed by hand (RFC 7638).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::check::{problems, Expect};
use common::jose::{jkt_of, unb64, Proof};
use common::keys;
use common::req::{send, Req, Via};
use common::{
    route_with, system_now, ClockMode, Recorded, TestGateway, Upstream, DEFAULT_ALGS, IDENTITY,
};
use dpop_gateway::jose::{Alg, SigningKey};
use serde_json::{json, Value};

common::rejection_self_tests!();

fn config(up: &str) -> String {
    [
        route_with("root", "/", up, "auth = \"dpop\""),
        route_with("api", "/api", up, &format!("auth = \"dpop\"\n{IDENTITY}")),
        route_with(
            "legacy",
            "/legacy",
            up,
            &format!("auth = \"dpop\"\nupstream_authorization = \"bearer\"\n{IDENTITY}"),
        ),
        route_with(
            "strip",
            "/strip",
            up,
            "auth = \"dpop\"\nupstream_authorization = \"strip\"",
        ),
        route_with("open", "/open", up, &format!("auth = \"none\"\n{IDENTITY}")),
        route_with(
            "dual",
            "/dual",
            up,
            &format!("auth = \"dpop_or_bearer\"\n{IDENTITY}"),
        ),
        route_with(
            "report",
            "/report",
            up,
            &format!("auth = \"dpop\"\nmode = \"report\"\n{IDENTITY}"),
        ),
        route_with(
            "scoped",
            "/scoped",
            up,
            &format!("auth = \"dpop\"\nrequired_scopes = [\"orders:read\", \"orders:write\"]\n{IDENTITY}"),
        ),
        route_with(
            "mapped",
            "/internal",
            up,
            "auth = \"dpop\"\npublic_url = \"https://api.test/public-api\"",
        ),
    ]
    .concat()
}

const IDENTITY_HEADERS: [&str; 4] = [
    "x-auth-subject",
    "x-auth-client-id",
    "x-auth-scope",
    "x-auth-jkt",
];

async fn start() -> (Upstream, TestGateway) {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(&config(&up.url()), ClockMode::Manual(system_now())).await;
    (up, gw)
}

/// The header of `name` on the upstream side: exactly one line, or none.
fn single(rec: &Recorded, name: &str) -> Option<String> {
    let all = rec.header_all(name);
    assert!(
        all.len() <= 1,
        "{name} arrived {} times: {all:?}",
        all.len()
    );
    all.into_iter().next()
}

/// The path and query as the upstream must receive them: the path as routed
/// (escapes of unreserved characters decoded, other escapes with upper-case
/// hex; RFC 3986 §6.2.2), the query as sent.
fn routed(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out = String::new();
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = &rest[at + 1..at + 3];
        let byte = u8::from_str_radix(hex, 16).unwrap();
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push_str(&hex.to_ascii_uppercase());
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Sends `req`, expects it accepted and forwarded once, unchanged but for the
/// path's canonical form (see [`routed`]); returns what the upstream recorded.
async fn accepted(gw: &TestGateway, up: &Upstream, via: Via, req: &Req, what: &str) -> Recorded {
    let (count, arrived) = (up.count(), up.arrived());
    let ans = send(gw, via, req)
        .await
        .unwrap_or_else(|e| panic!("{what} [{via:?}]: transport error {e}"));
    assert_eq!(ans.status, 200, "{what} [{via:?}]: {}", ans.text());
    assert_eq!(up.count(), count + 1, "{what}: not recorded exactly once");
    assert_eq!(
        up.arrived(),
        arrived + 1,
        "{what}: not forwarded exactly once"
    );
    let rec = up.last();
    assert_eq!(rec.method.as_str(), req.method, "{what}");
    assert_eq!(rec.path_and_query(), routed(&req.path), "{what}");
    assert_eq!(rec.body.as_ref(), req.body.as_slice(), "{what}");
    assert!(
        rec.header_all("dpop").is_empty(),
        "{what}: DPoP reached the upstream"
    );
    rec
}

/// Also checks `Authorization` arrived exactly as sent and the identity of
/// a DPoP request from `key` (`X-Auth-Jkt` = its hand-computed thumbprint).
fn assert_identity(rec: &Recorded, req: &Req, jkt: &str, what: &str) {
    let sent: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        rec.header_all("authorization"),
        sent,
        "{what}: Authorization changed"
    );
    assert_eq!(single(rec, "x-auth-jkt").as_deref(), Some(jkt), "{what}");
    assert_eq!(
        single(rec, "x-auth-subject").as_deref(),
        Some("alice"),
        "{what}"
    );
    assert_eq!(
        single(rec, "x-auth-client-id").as_deref(),
        Some("client-1"),
        "{what}"
    );
}

struct Case {
    id: &'static str,
    what: String,
    req: Req,
    /// Thumbprint of the proof key (by hand).
    jkt: String,
    /// Raw bytes or a forged Host: HTTP/1.1 only.
    h1_only: bool,
    raw: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn must_accept_p1_to_p16() {
    let (up, gw) = start().await;
    let now = gw.now();
    let port = gw.port();
    let es = SigningKey::generate(Alg::Es256).unwrap();
    let ed = SigningKey::generate(Alg::EdDsa).unwrap();
    let lz = keys::leading_zero_x_key();
    let mut executed = 0;
    for via in [Via::H1, Via::H2] {
        let mut cases: Vec<Case> = Vec::new();
        let jkt = jkt_of(&es.public_jwk());
        let t = gw.token(Some(&jkt), Some("orders:read"));
        let proof = |method: &str, htu: &str| Proof::new(&es, method, htu, Some(&t), now);
        let std = |path: &str| proof("GET", &gw.htu(path));
        let mut add =
            |id: &'static str, what: &str, req: Req, jkt: &str, h1_only: bool, raw: bool| {
                cases.push(Case {
                    id,
                    what: what.into(),
                    req,
                    jkt: jkt.into(),
                    h1_only,
                    raw,
                })
            };
        for name in ["DPOP", "dpop", "DpOp"] {
            let path = "/api/p1";
            add(
                "P1",
                &format!("proof header named {name} (raw HTTP/1.1)"),
                Req::get(path)
                    .h("Authorization", format!("DPoP {t}"))
                    .h(name, std(path).sign()),
                &jkt,
                true,
                true,
            );
        }
        for scheme in ["dpop", "DPOP", "dPoP"] {
            let path = "/api/p2";
            add(
                "P2",
                &format!("scheme {scheme}"),
                Req::get(path)
                    .h("Authorization", format!("{scheme} {t}"))
                    .h("DPoP", std(path).sign()),
                &jkt,
                false,
                false,
            );
        }
        for spaces in ["  ", "   "] {
            let path = "/api/p3";
            add(
                "P3",
                &format!("{} spaces between scheme and token", spaces.len()),
                Req::get(path)
                    .h("Authorization", format!("DPoP{spaces}{t}"))
                    .h("DPoP", std(path).sign()),
                &jkt,
                false,
                false,
            );
        }
        let path = "/api/p4";
        add(
            "P4",
            "htu carries ?query#frag, the request has none",
            Req::get(path).dpop(
                &t,
                &proof("GET", &format!("{}?a=1#frag", gw.htu(path))).sign(),
            ),
            &jkt,
            false,
            false,
        );
        add(
            "P4",
            "the request has a query, htu has none",
            Req::get("/api/p4?a=1&b=two").dpop(&t, &std(path).sign()),
            &jkt,
            false,
            false,
        );
        add(
            "P4",
            "different queries on both sides",
            Req::get("/api/p4?y=2")
                .dpop(&t, &proof("GET", &format!("{}?x=1", gw.htu(path))).sign()),
            &jkt,
            false,
            false,
        );
        let path = "/api/p5";
        add(
            "P5",
            "htu scheme upper-case",
            Req::get(path).dpop(
                &t,
                &proof("GET", &format!("HTTPS://127.0.0.1:{port}{path}")).sign(),
            ),
            &jkt,
            false,
            false,
        );
        add(
            "P5",
            "htu scheme and host upper-case (Host: localhost)",
            Req::get(path).h("Host", format!("localhost:{port}")).dpop(
                &t,
                &proof("GET", &format!("HTTPS://LOCALHOST:{port}{path}")).sign(),
            ),
            &jkt,
            true,
            false,
        );
        let path = "/api/p6";
        add(
            "P6",
            "htu with :443 for a request to https://localhost (no port)",
            Req::get(path).h("Host", "localhost").dpop(
                &t,
                &proof("GET", &format!("https://localhost:443{path}")).sign(),
            ),
            &jkt,
            true,
            false,
        );
        add(
            "P6",
            "htu without port for Host: localhost:443",
            Req::get(path).h("Host", "localhost:443").dpop(
                &t,
                &proof("GET", &format!("https://localhost{path}")).sign(),
            ),
            &jkt,
            true,
            false,
        );
        for (what, wire, claim) in [
            ("%7E for ~", "/api/~user/p7", "/api/%7Euser/p7"),
            ("%7e for ~", "/api/~user/p7", "/api/%7euser/p7"),
            ("~ for %7E", "/api/%7Euser/p7", "/api/~user/p7"),
            // Hex case only (a %2F path is refused before routing, see
            // tests/request_paths.rs, so the reserved escape here is %3A).
            ("%3A for %3a", "/api/a%3ab", "/api/a%3Ab"),
            ("%3a for %3A", "/api/a%3Ab", "/api/a%3ab"),
        ] {
            add(
                "P7",
                &format!("htu {what}"),
                Req::get(wire).dpop(&t, &proof("GET", &gw.url(claim)).sign()),
                &jkt,
                false,
                false,
            );
        }
        add(
            "P8",
            "htu https://host:port (empty path) for a request to /",
            Req::get("/").dpop(&t, &proof("GET", &gw.base()).sign()),
            &jkt,
            false,
            false,
        );
        let path = "/api/p9";
        add(
            "P9",
            "extra non-critical header parameters and extra claims",
            Req::get(path).dpop(
                &t,
                &std(path)
                    .header("kid", json!("client-key-1"))
                    .header("x-vendor", json!({"nested": [1, 2, {"a": null}]}))
                    .claim("extra", json!("ignored"))
                    .claim("scope", json!(["admin"]))
                    .claim("nonce_hint", json!(17))
                    .sign(),
            ),
            &jkt,
            false,
            false,
        );
        for delta in [-10, -60, 8, 10] {
            let path = "/api/p10";
            add(
                "P10",
                &format!("iat now{delta:+} s (window -60..+10)"),
                Req::get(path).dpop(&t, &std(path).claim("iat", json!(now + delta)).sign()),
                &jkt,
                false,
                false,
            );
        }
        let path = "/api/p11";
        add(
            "P11",
            "nbf = now and exp = now + 300",
            Req::get(path).dpop(
                &t,
                &std(path)
                    .claim("nbf", json!(now))
                    .claim("exp", json!(now + 300))
                    .sign(),
            ),
            &jkt,
            false,
            false,
        );
        let path = "/api/p12";
        add(
            "P12",
            "jwk with extra kid, alg, use and key_ops (thumbprint unchanged)",
            Req::get(path).dpop(
                &t,
                &std(path)
                    .jwk_member("kid", json!("k1"))
                    .jwk_member("alg", json!("ES256"))
                    .jwk_member("use", json!("sig"))
                    .jwk_member("key_ops", json!(["verify"]))
                    .sign(),
            ),
            &jkt,
            false,
            false,
        );
        let lz_jwk = lz.public_jwk();
        let lz_x = lz_jwk["x"].as_str().unwrap();
        assert!(lz_x.starts_with('A') && unb64(lz_x)[0] == 0);
        let lz_jkt = jkt_of(&lz_jwk);
        let lz_token = gw.token(Some(&lz_jkt), None);
        let path = "/api/p13";
        add(
            "P13",
            &format!("EC x with a leading zero octet ({}…)", &lz_x[..4]),
            Req::get(path).dpop(
                &lz_token,
                &Proof::new(lz, "GET", &gw.htu(path), Some(&lz_token), now).sign(),
            ),
            &lz_jkt,
            false,
            false,
        );
        let ed_jkt = jkt_of(&ed.public_jwk());
        let ed_token = gw.token(Some(&ed_jkt), None);
        for alg in ["Ed25519", "EdDSA"] {
            let path = "/api/p14";
            add(
                "P14",
                &format!("alg {alg}"),
                Req::get(path).dpop(
                    &ed_token,
                    &Proof::new(&ed, "GET", &gw.htu(path), Some(&ed_token), now)
                        .header("alg", json!(alg))
                        .sign(),
                ),
                &ed_jkt,
                false,
                false,
            );
        }
        for typ in ["application/dpop+jwt", "DPoP+JWT", "APPLICATION/DPOP+JWT"] {
            let path = "/api/p16";
            add(
                "P16",
                &format!("typ {typ}"),
                Req::get(path).dpop(&t, &std(path).header("typ", json!(typ)).sign()),
                &jkt,
                false,
                false,
            );
        }
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let path = "/api/items/7?v=2";
            add(
                "-",
                &format!("{method} with a body, htm {method}"),
                Req::new(method, path)
                    .h("Content-Type", "application/json")
                    .dpop(&t, &proof(method, &gw.htu(path)).sign())
                    .body(format!("{{\"method\":\"{method}\"}}")),
                &jkt,
                false,
                false,
            );
        }
        for case in &cases {
            if via == Via::H2 && case.h1_only {
                continue;
            }
            let how = if case.raw { Via::Raw } else { via };
            let what = format!("{} {}", case.id, case.what);
            let rec = accepted(&gw, &up, how, &case.req, &what).await;
            executed += 1;
            if case.req.path.starts_with("/api") {
                assert_identity(&rec, &case.req, &case.jkt, &what);
            }
        }
    }
    // 38 cases over HTTP/1.1, 32 of them also over HTTP/2.
    assert_eq!(executed, 70, "cases run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_sees_verified_identity_never_client_claims() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    let t = gw.token(Some(&jkt), Some("orders:read orders:write"));
    let path = "/api/me";
    let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
    let req = Req::get(path)
        .dpop(&t, &proof)
        .h("X-Auth-Subject", "admin")
        .h("X-Auth-Subject", "root")
        .h("X-Auth-Jkt", "forged")
        .h("X-Auth-Scope", "admin")
        .h("x-auth-client-id", "evil")
        // CGI-style servers read these as the same variables.
        .h("X_Auth_Subject", "admin")
        .h("x_auth-jkt", "forged");
    for via in [Via::H1, Via::H2] {
        let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
        let mut req = req.clone();
        for h in req.headers.iter_mut().filter(|(n, _)| n == "DPoP") {
            h.1 = proof.clone();
        }
        let rec = accepted(&gw, &up, via, &req, "identity").await;
        assert_identity(&rec, &req, &jkt, "identity");
        for spelling in ["x_auth_subject", "x_auth-jkt"] {
            assert!(rec.header(spelling).is_none(), "{spelling} forwarded");
        }
        assert_eq!(
            single(&rec, "x-auth-scope").as_deref(),
            Some("orders:read orders:write")
        );
        assert_eq!(
            rec.header("authorization"),
            Some(format!("DPoP {t}").as_str()),
            "preserve: Authorization forwarded as sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_authorization_preserve_bearer_strip() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    let t = gw.token(Some(&jkt), None);
    // (path, Authorization sent, Authorization the upstream must get)
    let cases = [
        ("/api/x", format!("DPoP {t}"), Some(format!("DPoP {t}"))),
        ("/api/x", format!("dpop  {t}"), Some(format!("dpop  {t}"))),
        (
            "/legacy/x",
            format!("DPoP {t}"),
            Some(format!("Bearer {t}")),
        ),
        (
            "/legacy/x",
            format!("dPoP   {t}"),
            Some(format!("Bearer {t}")),
        ),
        ("/strip/x", format!("DPoP {t}"), None),
    ];
    for via in [Via::H1, Via::H2] {
        for (path, sent, want) in &cases {
            let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
            let req = Req::get(path).h("Authorization", sent).h("DPoP", proof);
            let what = format!("{path} with {:?}", &sent[..6]);
            let rec = accepted(&gw, &up, via, &req, &what).await;
            assert_eq!(
                rec.header_all("authorization"),
                want.iter().cloned().collect::<Vec<_>>(),
                "{what}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_none_route_removes_client_identity_headers() {
    let (up, gw) = start().await;
    for via in [Via::H1, Via::H2] {
        let req = Req::get("/open/x")
            .h("X-Auth-Subject", "admin")
            .h("X-Auth-Jkt", "forged")
            .h("X-Auth-Scope", "admin")
            .h("X-Auth-Client-Id", "evil");
        let rec = accepted(&gw, &up, via, &req, "open route").await;
        for name in IDENTITY_HEADERS {
            assert!(
                rec.header_all(name).is_empty(),
                "{name} reached the upstream"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_or_bearer_route() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    let unbound = gw.token(None, Some("orders:read"));
    let bound = gw.token(Some(&jkt), None);
    for via in [Via::H1, Via::H2] {
        // An unbound Bearer token is accepted; no jkt identity.
        let req = Req::get("/dual/x")
            .h("Authorization", format!("Bearer {unbound}"))
            .h("X-Auth-Jkt", "forged");
        let rec = accepted(&gw, &up, via, &req, "unbound Bearer").await;
        assert_eq!(
            rec.header("authorization"),
            Some(format!("Bearer {unbound}").as_str())
        );
        assert_eq!(single(&rec, "x-auth-subject").as_deref(), Some("alice"));
        assert_eq!(single(&rec, "x-auth-scope").as_deref(), Some("orders:read"));
        assert!(
            rec.header_all("x-auth-jkt").is_empty(),
            "a Bearer request has no jkt"
        );
        // A bound token as Bearer: 401 invalid_token, error in the Bearer challenge.
        let before = (up.count(), up.arrived());
        let req = Req::get("/dual/x").h("Authorization", format!("Bearer {bound}"));
        let ans = send(&gw, via, &req).await.unwrap();
        let p = problems(
            &ans,
            &Expect::it().dual().carried_by(&["Bearer"]),
            DEFAULT_ALGS,
            false,
        );
        assert!(p.is_empty(), "bound token as Bearer [{via:?}]: {p:?}");
        let www = ans.header("www-authenticate").unwrap();
        assert!(www.starts_with("Bearer error=\"invalid_token\""), "{www}");
        assert_eq!(
            (up.count(), up.arrived()),
            before,
            "forwarded a downgraded token"
        );
        // The same bound token with DPoP is accepted.
        let proof = Proof::new(&key, "GET", &gw.htu("/dual/x"), Some(&bound), gw.now()).sign();
        let req = Req::get("/dual/x").dpop(&bound, &proof);
        let rec = accepted(&gw, &up, via, &req, "bound DPoP on dual").await;
        assert_identity(&rec, &req, &jkt, "bound DPoP on dual");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_forwards_failures_without_identity() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    let t = gw.token(Some(&jkt), None);
    let path = "/report/x";
    for via in [Via::H1, Via::H2] {
        let forged = |r: Req| r.h("X-Auth-Subject", "admin").h("X-Auth-Jkt", "forged");
        let wrong_htu =
            Proof::new(&key, "GET", &gw.htu("/report/other"), Some(&t), gw.now()).sign();
        let bad_sig = {
            let p = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
            format!("{}AAAA", &p[..p.len() - 4])
        };
        for (what, req) in [
            (
                "invalid proof (htu)",
                forged(Req::get(path).dpop(&t, &wrong_htu)),
            ),
            (
                "invalid signature",
                forged(Req::get(path).dpop(&t, &bad_sig)),
            ),
            ("no credentials", forged(Req::get(path))),
        ] {
            let rec = accepted(&gw, &up, via, &req, what).await;
            for name in IDENTITY_HEADERS {
                assert!(
                    rec.header_all(name).is_empty(),
                    "{what}: {name} reached the upstream"
                );
            }
        }
        let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
        let req = forged(Req::get(path).dpop(&t, &proof));
        let rec = accepted(&gw, &up, via, &req, "valid in report mode").await;
        assert_eq!(single(&rec, "x-auth-jkt").as_deref(), Some(jkt.as_str()));
        assert_eq!(single(&rec, "x-auth-subject").as_deref(), Some("alice"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_scopes_met() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    // The identity header carries the resolved scopes, single-spaced.
    for (scope, header) in [
        ("orders:read orders:write", "orders:read orders:write"),
        (
            "orders:write extra orders:read",
            "orders:write extra orders:read",
        ),
        ("a  orders:read orders:write", "a orders:read orders:write"),
    ] {
        let t = gw.token(Some(&jkt), Some(scope));
        let path = "/scoped/x";
        let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
        let req = Req::get(path).dpop(&t, &proof);
        let rec = accepted(&gw, &up, Via::H1, &req, scope).await;
        assert_eq!(single(&rec, "x-auth-scope").as_deref(), Some(header));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_route_checks_the_client_visible_url() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let t = gw.token(Some(&jkt_of(&key.public_jwk())), None);
    for via in [Via::H1, Via::H2] {
        let proof = Proof::new(
            &key,
            "GET",
            "https://api.test/public-api/orders/1",
            Some(&t),
            gw.now(),
        )
        .sign();
        let req = Req::get("/internal/orders/1?x=1").dpop(&t, &proof);
        accepted(&gw, &up, via, &req, "public_url").await;
    }
}

/// The token cache (keyed by the token's SHA-256) serves the same token for
/// several fresh proofs, and never past the token's `exp`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cache_same_token_fresh_proofs_then_expiry() {
    let (up, gw) = start().await;
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let jkt = jkt_of(&key.public_jwk());
    let t = gw.token(Some(&jkt), None); // exp = now + 300
    let path = "/api/cached";
    for (i, via) in [Via::H1, Via::H2, Via::H1].into_iter().enumerate() {
        let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
        let req = Req::get(path).dpop(&t, &proof);
        let rec = accepted(&gw, &up, via, &req, &format!("proof {i}")).await;
        assert_identity(&rec, &req, &jkt, "cached token");
    }
    // Past exp + leeway (30 s): the cached entry must not be served.
    gw.advance(300 + 30 + 1);
    let proof = Proof::new(&key, "GET", &gw.htu(path), Some(&t), gw.now()).sign();
    let before = up.count();
    let ans = send(&gw, Via::H1, &Req::get(path).dpop(&t, &proof))
        .await
        .unwrap();
    let p = problems(&ans, &Expect::it().why("expired"), DEFAULT_ALGS, false);
    assert!(p.is_empty(), "expired cached token: {p:?}");
    assert_eq!(up.count(), before);
}

#[test]
fn hand_thumbprint_matches_rfc7638_example() {
    // RFC 7638 §3.1: the hand-made canonical JSON and hash give the
    // published value, so every jkt the tests compute is trustworthy.
    let jwk: Value = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(jkt_of(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    let ed =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(jkt_of(&ed), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    let ec = json!({"kty": "EC", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA", "crv": "P-256"});
    assert_eq!(jkt_of(&ec), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    let lz = json!({"kty": "EC", "crv": "P-256", "x": "ABb3EarQ0HLccFyFmT-SeL4NKg17Pe8sxCZeYElmDTo", "y": "5kHQhze8V7fHtMmbO67KbCsNtTVhDOFZTM0YWtSeFE8"});
    assert_eq!(jkt_of(&lz), "MEhdRysfC6YMBxMtlBzyLwTWHmLLusOkEh_ofH9GPjs");
}
