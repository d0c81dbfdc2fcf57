//! RFC 9728 protected resource metadata (interface "Protected resource
//! metadata"): one document per protected route at the path-suffixed
//! well-known URL, served without credentials; none for `auth = "none"`;
//! `resource` is exactly what clients put in `htu` (a proof for it is
//! accepted); every 401 challenge names the document with
//! `resource_metadata`, over HTTP/1.1 and HTTP/2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::jose::jkt_of;
use common::{route_with, Alpn, Answer, ClockMode, TestGateway, Upstream, AUDIENCE};
use dpop_gateway::jose::{Alg, SigningKey};
use http::Request;
use serde_json::{json, Value};

const WK: &str = "/.well-known/oauth-protected-resource";
const ALGS: [&str; 4] = ["ES256", "PS256", "EdDSA", "Ed25519"];

async fn start(server_public_url: Option<&str>) -> (Upstream, TestGateway) {
    let up = Upstream::echo().await;
    let u = up.url();
    let rest = format!(
        "[[issuers]]\nissuer = \"https://as2.test\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"as.jwks.json\"\n{}{}{}{}",
        route_with("root", "/", &u, "auth = \"dpop\"\nresource_name = \"Root API\"\nscopes_supported = [\"a\", \"b\"]"),
        route_with(
            "orders",
            "/orders",
            &u,
            "auth = \"dpop_or_bearer\"\nrequired_scopes = [\"orders:read\"]\nresource_documentation = \"https://docs.example.com/orders\"",
        ),
        route_with("public", "/public", &u, "auth = \"none\""),
        route_with("mapped", "/internal", &u, "auth = \"dpop\"\npublic_url = \"https://api.test/orders-api\""),
    );
    let text = common::dpop_config(&rest);
    let text = match server_public_url {
        Some(url) => text.replacen(
            "listen = \"127.0.0.1:0\"\n",
            &format!("listen = \"127.0.0.1:0\"\npublic_url = \"{url}\"\n"),
            1,
        ),
        None => text,
    };
    let gw = TestGateway::builder(&text)
        .clock(ClockMode::System)
        .start()
        .await;
    (up, gw)
}

async fn get(gw: &TestGateway, alpn: Alpn, path: &str) -> Answer {
    gw.client(alpn).get(&gw.https_url(path)).await
}

fn document(a: &Answer) -> Value {
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("content-type"), Some("application/json"));
    a.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_route_has_its_document() {
    let (up, gw) = start(None).await;
    let origin = format!("https://{}", gw.authority());
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let root = document(&get(&gw, alpn, WK).await);
        assert_eq!(
            root,
            json!({
                "resource": format!("{origin}/"),
                "authorization_servers": ["https://as.test", "https://as2.test"],
                "bearer_methods_supported": ["header"],
                "dpop_signing_alg_values_supported": ALGS,
                "dpop_bound_access_tokens_required": true,
                "scopes_supported": ["a", "b"],
                "resource_name": "Root API",
            })
        );
        let orders = document(&get(&gw, alpn, &format!("{WK}/orders")).await);
        assert_eq!(
            orders,
            json!({
                "resource": format!("{origin}/orders"),
                "authorization_servers": ["https://as.test", "https://as2.test"],
                "bearer_methods_supported": ["header"],
                "dpop_signing_alg_values_supported": ALGS,
                "dpop_bound_access_tokens_required": false,
                "scopes_supported": ["orders:read"],
                "resource_documentation": "https://docs.example.com/orders",
            })
        );
        // A route with its own public_url: its public path and origin.
        let mapped = document(&get(&gw, alpn, &format!("{WK}/orders-api")).await);
        assert_eq!(mapped["resource"], "https://api.test/orders-api");
        assert_eq!(mapped["dpop_bound_access_tokens_required"], true);
        assert!(mapped.get("scopes_supported").is_none(), "{mapped}");
    }
    // No document for a public route: the request is routed as any other
    // (here to the protected catch-all, which wants credentials).
    let a = get(&gw, Alpn::Http1, &format!("{WK}/public")).await;
    a.assert_gateway_error(401, "invalid_request");
    // Nor for a path that is no route's public path.
    let a = get(&gw, Alpn::Http1, &format!("{WK}/orders/x")).await;
    assert_eq!(a.status, 401);
    // HEAD: the headers without a body.
    let head = Request::head(gw.https_url(WK))
        .body(common::empty())
        .unwrap();
    let a = gw.client(Alpn::Http2).send(head).await.unwrap();
    assert_eq!((a.status.as_u16(), a.body.len()), (200, 0));
    assert_eq!(up.count(), 0, "the upstream saw {:?}", up.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_is_what_clients_use_in_htu() {
    let (up, gw) = start(None).await;
    let orders = document(&get(&gw, Alpn::Http1, &format!("{WK}/orders")).await);
    let resource = orders["resource"].as_str().unwrap().to_owned();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(&jkt_of(&key.public_jwk())), Some("orders:read"));
    let proof = dpop_gateway::mint::proof(
        &key,
        &dpop_gateway::mint::ProofSpec {
            method: "GET",
            url: &format!("{resource}/42"),
            token: Some(&token),
            nonce: None,
            iat: gw.now(),
        },
    )
    .unwrap();
    let req = Request::get(gw.https_url("/orders/42"))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(common::empty())
        .unwrap();
    let a = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(up.last().path(), "/orders/42");
}

/// The `resource_metadata` parameter of every challenge in a 401.
fn metadata_params(a: &Answer) -> Vec<(String, String)> {
    let header = a
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {a:?}"));
    common::challenge::parse(header)
        .unwrap_or_else(|e| panic!("{header}: {e}"))
        .into_iter()
        .map(|c| {
            let url = c.param("resource_metadata").unwrap_or_default().to_owned();
            (c.scheme.to_ascii_lowercase(), url)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_points_to_the_document() {
    let (up, gw) = start(None).await;
    let origin = format!("https://{}", gw.authority());
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let a = get(&gw, alpn, "/anything").await;
        a.assert_gateway_error(401, "invalid_request");
        assert_eq!(
            metadata_params(&a),
            [("dpop".into(), format!("{origin}{WK}"))]
        );

        // dpop_or_bearer: both the Bearer and the DPoP challenge.
        let want = format!("{origin}{WK}/orders");
        let a = get(&gw, alpn, "/orders/1").await;
        assert_eq!(
            metadata_params(&a),
            [
                ("bearer".into(), want.clone()),
                ("dpop".into(), want.clone())
            ]
        );
        let bearer = Request::get(gw.https_url("/orders/1"))
            .header("authorization", "Bearer not-a-token")
            .body(common::empty())
            .unwrap();
        let a = gw.client(alpn).send(bearer).await.unwrap();
        a.assert_gateway_error(401, "invalid_token");
        assert_eq!(
            metadata_params(&a),
            [("bearer".into(), want.clone()), ("dpop".into(), want)]
        );

        let a = get(&gw, alpn, "/internal/x").await;
        assert_eq!(
            metadata_params(&a),
            [("dpop".into(), format!("https://api.test{WK}/orders-api"))]
        );
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_public_url_is_the_origin() {
    let (_up, gw) = start(Some("https://API.Example.com:443")).await;
    let orders = document(&get(&gw, Alpn::Http1, &format!("{WK}/orders")).await);
    assert_eq!(orders["resource"], "https://api.example.com/orders");
    let a = get(&gw, Alpn::Http1, "/orders/1").await;
    assert_eq!(
        metadata_params(&a)[0].1,
        format!("https://api.example.com{WK}/orders")
    );
}
