//! The proxy over real sockets: routing, what the upstream receives, header
//! rewriting in both directions, gateway-made errors and the admin listener.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};

/// `[server]` on an ephemeral port with TLS, plus `extra` server lines.
fn server(extra: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n{TLS_TABLE}")
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_precedence_over_real_requests() {
    let orders = Upstream::named("orders", Behaviour::Echo).await;
    let v2 = Upstream::named("orders-v2", Behaviour::Echo).await;
    let api = Upstream::named("api-orders", Behaviour::Echo).await;
    let config = format!(
        "{}{}{}\n[[routes]]\nname = \"api-orders\"\nhost = \"API.test\"\npath_prefix = \"/orders/\"\nupstream = \"{}\"\nauth = \"none\"\n",
        server(""),
        route("orders", "/orders", &orders.url()),
        route("orders-v2", "/orders/v2", &v2.url()),
        api.url()
    );
    let gw = TestGateway::start(&config).await;
    let client = gw.client(Alpn::Http1);
    let port = gw.addr.port();
    let own = gw.authority();

    // (Host header, path and query, expected upstream or None for 404)
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        (own.clone(), "/orders", Some("orders")),
        (own.clone(), "/orders/17?x=1", Some("orders")),
        (own.clone(), "/orders/", Some("orders")),
        (own.clone(), "/orders/v2", Some("orders-v2")),
        (own.clone(), "/orders/v2/9", Some("orders-v2")),
        (own.clone(), "/orders/v20", Some("orders")),
        (format!("api.test:{port}"), "/orders/1", Some("api-orders")),
        ("API.TEST".to_owned(), "/orders", Some("api-orders")),
        // A longer prefix beats a host-specific route.
        (
            format!("api.test:{port}"),
            "/orders/v2/1",
            Some("orders-v2"),
        ),
        // Another host falls back to the host-less routes.
        (format!("other.test:{port}"), "/orders/2", Some("orders")),
        // `/orders` does not match `/ordersX`, and nothing matches `/`.
        (own.clone(), "/ordersX", None),
        (own.clone(), "/orders.json", None),
        (own.clone(), "/", None),
        (format!("api.test:{port}"), "/ordersX/1", None),
    ];
    for (host, path, want) in &cases {
        let before = orders.count() + v2.count() + api.count();
        let req = Request::get(gw.https_url(path))
            .header("host", host.as_str())
            .body(empty())
            .unwrap();
        let ans = client.send(req).await.unwrap();
        let ctx = format!("Host {host} path {path}");
        match want {
            Some(name) => {
                assert_eq!(ans.status, 200, "{ctx}: {}", ans.text());
                assert_eq!(ans.header(UPSTREAM_NAME_HEADER), Some(*name), "{ctx}");
                let up = [&orders, &v2, &api]
                    .into_iter()
                    .find(|u| u.name() == *name)
                    .unwrap();
                assert_eq!(up.last().path_and_query(), *path, "{ctx}");
            }
            None => {
                ans.assert_gateway_error(404, "not_found");
                assert_eq!(
                    orders.count() + v2.count() + api.count(),
                    before,
                    "{ctx}: an unrouted request reached an upstream"
                );
            }
        }
    }
    assert_eq!(orders.count(), 5);
    assert_eq!(v2.count(), 3);
    assert_eq!(api.count(), 2);

    // Over HTTP/2 the host comes from :authority.
    let req = Request::get(format!("https://api.test:{port}/orders/5"))
        .body(empty())
        .unwrap();
    let (info, ans) = raw_request(
        gw.addr,
        gw.tls_config(TlsVersion::Any, Alpn::Http2),
        "localhost",
        req,
    )
    .await
    .unwrap();
    assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(ans.status, 200);
    assert_eq!(ans.header(UPSTREAM_NAME_HEADER), Some("api-orders"));
    assert_eq!(api.last().path(), "/orders/5");
    let ans = gw.client(Alpn::Http2).get(&gw.https_url("/nope")).await;
    assert_eq!(ans.version, Version::HTTP_2);
    ans.assert_gateway_error(404, "not_found");
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// What arrives upstream, and what comes back
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_path_query_headers_and_body_arrive_intact() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;
    let body: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 256) as u8).collect();
    // The path arrives as routed (escapes of unreserved characters decoded),
    // the query exactly as sent.
    let query = "?q=a%20b&x=%2F%3F%26;v=1&empty=&utf=%C3%A9&plus=1+2&q=dup";
    let pq = format!("/api/items/%7E42/a%40b,v=1{query}");
    let routed = format!("/api/items/~42/a%40b,v=1{query}");
    let pq = pq.as_str();

    for alpn in [Alpn::Http1, Alpn::Http2] {
        let req = Request::builder()
            .method(Method::PATCH)
            .uri(gw.https_url(pq))
            .header("content-type", "application/octet-stream")
            .header("x-custom", "Value with spaces; and=symbols, \"quoted\"")
            .header("x-multi", "first")
            .header("x-multi", "second")
            .header("authorization", "Bearer opaque-token")
            .body(full(body.clone()))
            .unwrap();
        let ans = gw.client(alpn).send(req).await.unwrap();
        assert_eq!(ans.status, 200, "{alpn:?}: {}", ans.text());

        let rec = up.last();
        assert_eq!(rec.method, Method::PATCH);
        assert_eq!(rec.path_and_query(), routed, "{alpn:?}");
        assert_eq!(rec.body.as_ref(), &body[..], "{alpn:?}");
        assert_eq!(rec.body_len, body.len() as u64);
        assert_eq!(rec.body_error, None);
        assert_eq!(
            rec.header("x-custom"),
            Some("Value with spaces; and=symbols, \"quoted\"")
        );
        assert_eq!(rec.header_all("x-multi"), ["first", "second"], "{alpn:?}");
        assert_eq!(rec.header("content-type"), Some("application/octet-stream"));
        assert_eq!(rec.header("authorization"), Some("Bearer opaque-token"));
        assert_eq!(rec.header("content-length"), Some("3000"), "{alpn:?}");
        // Host at the upstream is the upstream's own authority.
        assert_eq!(rec.header_all("host"), [up.authority()], "{alpn:?}");
    }

    // A method hyper does not know, without a body.
    let req = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri(gw.https_url("/cache/x"))
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(rec.method.as_str(), "PURGE");
    assert_eq!(rec.body_len, 0);
    assert_eq!(up.count(), 3);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_status_headers_and_body_reach_the_client() {
    let body: Vec<u8> = (0..=255u8).rev().collect();
    let sent = Bytes::from(body.clone());
    let up = Upstream::start(Behaviour::Respond(std::sync::Arc::new(move |_rec| {
        let mut resp = Response::new(sent.clone());
        *resp.status_mut() = StatusCode::IM_A_TEAPOT;
        let h = resp.headers_mut();
        h.insert("x-from-upstream", HeaderValue::from_static("teapot"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        h.insert("content-type", HeaderValue::from_static("image/x-teapot"));
        resp
    })))
    .await;
    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let ans = gw.client(alpn).get(&gw.https_url("/brew")).await;
        assert_eq!(ans.status, StatusCode::IM_A_TEAPOT);
        assert_eq!(ans.body.as_ref(), &body[..]);
        assert_eq!(ans.header("x-from-upstream"), Some("teapot"));
        assert_eq!(ans.header("content-type"), Some("image/x-teapot"));
        let cookies: Vec<_> = ans.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"], "{alpn:?}");
    }
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// Hop-by-hop fields
// ---------------------------------------------------------------------------

const REQUEST_HOP_BY_HOP: [&str; 6] = [
    "x-secret",
    "keep-alive",
    "te",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_request_fields_do_not_reach_the_upstream() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;

    // HTTP/1.1 carries every kind of connection-specific field.
    let hop_request = |url: String| {
        Request::get(url)
            .header("connection", "keep-alive, X-Secret")
            .header("x-secret", "s3cret")
            .header("keep-alive", "timeout=5, max=10")
            .header("te", "trailers")
            .header("upgrade", "websocket")
            .header("proxy-authorization", "Basic dXNlcjpwYXNz")
            .header("proxy-connection", "keep-alive")
            .header("x-kept", "yes")
            .body(empty())
            .unwrap()
    };
    // Control: sent straight to the upstream, every one of them arrives.
    let ans = TestClient::plain()
        .send(hop_request(format!("{}/direct", up.url())))
        .await
        .unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    for name in REQUEST_HOP_BY_HOP {
        assert!(rec.headers.get(name).is_some(), "control: {name} not sent");
    }

    let ans = gw
        .client(Alpn::Http1)
        .send(hop_request(gw.https_url("/h1")))
        .await
        .unwrap();
    assert_eq!(ans.status, 200, "{}", ans.text());
    let rec = up.last();
    assert_eq!(rec.path(), "/h1");
    for name in REQUEST_HOP_BY_HOP {
        assert!(
            rec.headers.get(name).is_none(),
            "{name} reached the upstream: {:?}",
            rec.headers
        );
    }
    for v in rec.header_all("connection") {
        assert!(
            !v.to_ascii_lowercase().contains("x-secret"),
            "Connection: {v} reached the upstream"
        );
    }
    assert_eq!(rec.header("x-kept"), Some("yes"));

    // HTTP/2 allows `te: trailers` and Proxy-Authorization; neither crosses.
    let req = Request::get(gw.https_url("/h2"))
        .header("te", "trailers")
        .header("proxy-authorization", "Basic dXNlcjpwYXNz")
        .header("x-kept", "yes")
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http2).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    assert_eq!(ans.version, Version::HTTP_2);
    let rec = up.last();
    assert_eq!(rec.path(), "/h2");
    assert!(rec.headers.get("te").is_none(), "{:?}", rec.headers);
    assert!(rec.headers.get("proxy-authorization").is_none());
    assert_eq!(rec.header("x-kept"), Some("yes"));
    gw.shutdown().await;
}

const RESPONSE_HOP_BY_HOP: [&str; 7] = [
    "x-up-secret",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "upgrade",
    "trailer",
    "transfer-encoding",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_response_fields_do_not_reach_the_client() {
    let up = Upstream::start(Behaviour::HopByHop).await;
    // The upstream really sends them (checked directly, without the gateway).
    let direct = TestClient::plain()
        .get(&format!("{}/direct", up.url()))
        .await;
    assert_eq!(direct.header("x-up-secret"), Some("leaked"));
    assert_eq!(direct.header("keep-alive"), Some("timeout=5, max=100"));
    assert_eq!(
        direct.header("proxy-authenticate"),
        Some("Basic realm=\"upstream\"")
    );

    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;
    // HTTP/1.1 to the client: hyper would strip connection-specific fields
    // from an HTTP/2 response by itself, so HTTP/1.1 is the telling case.
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/via")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.version, Version::HTTP_11);
    for name in RESPONSE_HOP_BY_HOP {
        assert!(
            ans.headers.get(name).is_none(),
            "{name} reached the client: {:?}",
            ans.headers
        );
    }
    for v in ans.headers.get_all("connection") {
        let v = v.to_str().unwrap().to_ascii_lowercase();
        assert!(
            !v.contains("x-up-secret"),
            "Connection: {v} reached the client"
        );
    }
    assert_eq!(ans.header("x-up-kept"), Some("yes"));
    assert_eq!(ans.json()["path"], "/via");

    let ans = gw.client(Alpn::Http2).get(&gw.https_url("/via2")).await;
    assert_eq!(ans.status, 200);
    assert!(ans.headers.get("x-up-secret").is_none());
    assert!(ans.headers.get("proxy-authenticate").is_none());
    assert_eq!(ans.header("x-up-kept"), Some("yes"));
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// X-Forwarded-*
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_replaced_for_an_untrusted_peer() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&simple_tls_config("", &up.url())).await;

    // Forged forwarding headers from a direct client.
    let req = Request::get(gw.https_url("/fwd"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-for", "7.7.7.7")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-port", "1")
        .header("forwarded", "for=6.6.6.6;proto=http;host=evil.example")
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(rec.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(rec.header_all("x-forwarded-proto"), ["https"]);
    assert_eq!(rec.header_all("x-forwarded-host"), [gw.authority()]);
    assert!(
        rec.headers.get("x-forwarded-port").is_none(),
        "{:?}",
        rec.headers
    );
    assert!(rec.headers.get("forwarded").is_none(), "{:?}", rec.headers);
    assert_eq!(rec.header_all("host"), [up.authority()]);

    // X-Forwarded-Host is the Host as routed: canonical (lower case, no
    // trailing dot), port included.
    let req = Request::get(gw.https_url("/fwd-host"))
        .header("host", "Shop.Example.:8443")
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(rec.header("x-forwarded-host"), Some("shop.example:8443"));
    assert_eq!(rec.header_all("host"), [up.authority()]);

    // HTTP/2: from :authority.
    let ans = gw.client(Alpn::Http2).get(&gw.https_url("/fwd-h2")).await;
    assert_eq!(ans.version, Version::HTTP_2);
    let rec = up.last();
    assert_eq!(rec.path(), "/fwd-h2");
    assert_eq!(rec.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(rec.header("x-forwarded-proto"), Some("https"));
    assert_eq!(
        rec.header("x-forwarded-host"),
        Some(gw.authority().as_str())
    );
    assert_eq!(rec.header_all("host"), [up.authority()]);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_extended_for_a_trusted_proxy() {
    let up = Upstream::echo().await;
    let gw = TestGateway::start(&simple_tls_config(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &up.url(),
    ))
    .await;

    // The chain (two lines) gets the peer appended; the proxy's proto and
    // host are kept.
    let req = Request::get(gw.https_url("/chain"))
        .header("x-forwarded-for", "1.1.1.1")
        .header("x-forwarded-for", "2.2.2.2, 3.3.3.3")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", "public.example")
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(
        rec.header_all("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]
    );
    assert_eq!(rec.header_all("x-forwarded-proto"), ["http"]);
    assert_eq!(rec.header_all("x-forwarded-host"), ["public.example"]);
    assert_eq!(rec.header_all("host"), [up.authority()]);

    // Without incoming forwarding headers they are set as for anyone.
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/bare")).await;
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(rec.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(rec.header_all("x-forwarded-proto"), ["https"]);
    assert_eq!(rec.header_all("x-forwarded-host"), [gw.authority()]);
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// Upstream failures
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_upstream_is_502_json() {
    let dead = unused_port();
    let gw = TestGateway::start(&simple_tls_config("", &format!("http://{dead}"))).await;
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let started = Instant::now();
        let ans = gw.client(alpn).get(&gw.https_url("/x")).await;
        ans.assert_gateway_error(502, "bad_gateway");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The reason does not reveal the upstream's address.
        assert!(
            !ans.text().contains(&dead.port().to_string()),
            "{}",
            ans.text()
        );
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_json_after_upstream_timeout() {
    let slow = Upstream::start(Behaviour::Delay(Duration::from_secs(3))).await;
    let gw = TestGateway::start(&simple_tls_config("upstream_timeout_secs = 1", &slow.url())).await;
    let started = Instant::now();
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/slow")).await;
    let took = started.elapsed();
    ans.assert_gateway_error(504, "gateway_timeout");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2900),
        "504 after {took:?}, want about 1 s"
    );
    // It was the upstream that was slow: the request had reached it.
    assert_eq!(slow.count(), 1);
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// Identity headers on auth = "none"
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_are_stripped_from_client_requests() {
    let up = Upstream::echo().await;
    let config = format!(
        "{}{}[routes.identity_headers]\nsub = \"X-Auth-Subject\"\nscope = \"x-auth-scope\"\n{}",
        server(""),
        route("open", "/open", &up.url()),
        route("plain", "/plain", &up.url()),
    );
    let gw = TestGateway::start(&config).await;
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let req = Request::get(gw.https_url("/open/me"))
            .header("x-auth-subject", "admin")
            .header("X-Auth-Subject", "root")
            .header("x-auth-scope", "everything")
            .header("x-other", "kept")
            .body(empty())
            .unwrap();
        let ans = gw.client(alpn).send(req).await.unwrap();
        assert_eq!(ans.status, 200);
        let rec = up.last();
        assert_eq!(rec.path(), "/open/me");
        assert!(
            rec.headers.get("x-auth-subject").is_none(),
            "{:?}",
            rec.headers
        );
        assert!(
            rec.headers.get("x-auth-scope").is_none(),
            "{:?}",
            rec.headers
        );
        assert_eq!(rec.header("x-other"), Some("kept"));
    }
    // A route without identity headers removes them too: the application
    // behind it trusts the header whichever route a request came through.
    let req = Request::get(gw.https_url("/plain/me"))
        .header("x-auth-subject", "admin")
        .header("x_auth_subject", "admin")
        .header("x-other", "kept")
        .body(empty())
        .unwrap();
    let ans = gw.client(Alpn::Http1).send(req).await.unwrap();
    assert_eq!(ans.status, 200);
    let rec = up.last();
    assert_eq!(rec.header("x-auth-subject"), None, "{:?}", rec.headers);
    assert_eq!(rec.header("x_auth_subject"), None, "{:?}", rec.headers);
    assert_eq!(rec.header("x-other"), Some("kept"));
    gw.shutdown().await;
}

// ---------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_healthz_and_readyz() {
    let up = Upstream::echo().await;
    let config = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\n{}",
        server(""),
        route("all", "/", &up.url())
    );
    let gw = TestGateway::start(&config).await;
    let admin = gw.admin.expect("admin listener");
    assert_ne!(admin, gw.addr);
    let client = TestClient::plain();

    let ans = client.get(&gw.admin_url("/healthz")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.header("content-type"), Some("application/json"));
    assert_eq!(ans.json()["status"], "ok");

    let ans = client.get(&gw.admin_url("/readyz")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(ans.header("content-type"), Some("application/json"));
    assert_eq!(ans.json()["status"], "ready");

    let ans = client.get(&gw.admin_url("/nope")).await;
    ans.assert_gateway_error(404, "not_found");

    // Admin paths are not served on the proxy listener (they are routed).
    let ans = gw.client(Alpn::Http1).get(&gw.https_url("/healthz")).await;
    assert_eq!(ans.status, 200);
    assert_eq!(up.last().path(), "/healthz");

    // The proxied request above is counted in /metrics.
    let ans = client.get(&gw.admin_url("/metrics")).await;
    assert_eq!(ans.status, 200);
    assert!(ans
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/openmetrics-text")));
    let text = ans.text();
    assert!(
        text.contains("dpop_gateway_requests_total{route=\"all\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("dpop_gateway_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("dpop_gateway_replay_backend_up"), "{text}");
    gw.shutdown().await;
}
