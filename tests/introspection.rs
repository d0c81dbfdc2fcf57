//! Opaque access tokens validated by RFC 7662 introspection against a real
//! HTTPS endpoint on loopback (`common::auth_server::AuthServer`): the
//! request the gateway sends (POST, HTTP Basic with form-encoded
//! credentials, the token form-encoded), what an answer allows (active,
//! `cnf.jkt`, `token_type`, Bearer on a `dpop_or_bearer` route), the caches
//! (positive bounded by `exp` and `introspection_cache_secs`, negative for
//! 5 s, single flight) and the endpoint down (503, never 200).
//! Time-dependent tests move a `ManualClock` instead of sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::asserts::{assert_invalid_token, assert_ok, assert_unavailable};
use common::auth_server::{AuthServer, Availability, INTROSPECT_PATH, JWKS_PATH};
use common::form::{basic, form_encode, form_fields, unbasic};
use common::keys::{es256, jwks};
use common::tokens::{opaque, token_from, RFC7662_TOKEN};
use common::{issuer_table, routes, system_now, ClockMode, TestGateway, Upstream, AUDIENCE};
use dpop_gateway::jose::SigningKey;

common::form_self_tests!();

/// A client id and a secret that need form-encoding (RFC 6749 §2.3.1).
const CLIENT_ID: &str = "gateway client:1/é";
const SECRET: &str = "s3cr:t+/=&%~ ü";

/// The lines of an introspecting issuer for `as_` (`extra`: more settings).
fn introspection_source(as_: &AuthServer, extra: &str) -> String {
    // One trailing newline in the file is not part of the secret.
    let secret = as_.write_file("client.secret", &format!("{SECRET}\n"));
    format!(
        "introspection_url = \"{}\"\nintrospection_client_id = \"{CLIENT_ID}\"\nintrospection_client_secret_file = \"{}\"\n{extra}",
        as_.url(INTROSPECT_PATH),
        secret.display()
    )
}

/// A gateway (manual clock) whose only issuer introspects at `as_`.
async fn gateway(as_: &AuthServer, up: &Upstream, extra: &str) -> TestGateway {
    let text = format!(
        "{}{}",
        issuer_table(
            &as_.origin(),
            &as_.ca_file(),
            &introspection_source(as_, extra)
        ),
        routes(&up.url())
    );
    TestGateway::with_admin(&text, ClockMode::Manual(system_now())).await
}

/// An active answer bound to `key`, valid five minutes from `now`.
fn active_bound(as_: &AuthServer, key: &SigningKey, now: i64) -> Value {
    json!({
        "active": true,
        "iss": as_.origin(),
        "aud": AUDIENCE,
        "token_type": "DPoP",
        "cnf": {"jkt": key.jkt().to_string()},
        "sub": "bob",
        "client_id": "app-7",
        "scope": "read write",
        "exp": now + 300,
        "iat": now,
    })
}

// ---------------------------------------------------------------------------
// What is sent, what is accepted
// ---------------------------------------------------------------------------

/// An active token bound to the proof key is accepted. The introspection
/// request is a POST with `Content-Type: application/x-www-form-urlencoded`,
/// `Authorization: Basic base64(form(id) ":" form(secret))` and the token
/// form-encoded in `token=` (the RFC 7662 example token has `~`, which
/// form-encoding escapes); `sub`, `client_id` and `scope` from the answer
/// reach the upstream as identity headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_bound_token_accepted_and_request_is_rfc7662() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h1();

    for (i, t) in [RFC7662_TOKEN.to_owned(), opaque()].iter().enumerate() {
        as_.set_token(t, active_bound(&as_, &client, gw.now()));
        let a = gw.dpop_get(&http, "/orders?x=1", t, &client).await;
        assert_ok(&a);
        let calls = as_.calls();
        assert_eq!(calls.len(), i + 1, "one call per new token");
        let call = calls.last().unwrap();
        assert_eq!(call.method, http::Method::POST);
        assert_eq!(
            call.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let authz = call.authorization.as_deref().expect("no Authorization");
        assert_eq!(authz, basic(CLIENT_ID, SECRET));
        let (id, secret) = unbasic(authz);
        assert_eq!(id, "gateway+client%3A1%2F%C3%A9");
        assert_eq!(secret, "s3cr%3At%2B%2F%3D%26%25%7E+%C3%BC");
        let fields = form_fields(&call.body);
        let tokens: Vec<&str> = fields
            .iter()
            .filter(|(k, _)| k == "token")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tokens, vec![t.as_str()], "body {:?}", call.body);
        assert!(
            call.body
                .split('&')
                .any(|p| p == format!("token={}", form_encode(t))),
            "token not form-encoded in {:?}",
            call.body
        );
        let rec = up.last();
        assert_eq!(rec.path_and_query(), "/orders?x=1");
        assert_eq!(rec.header("x-auth-subject"), Some("bob"));
        assert_eq!(rec.header("x-auth-client-id"), Some("app-7"));
        assert_eq!(rec.header("x-auth-scope"), Some("read write"));
        assert!(rec.header("dpop").is_none());
    }
    let rfc = &as_.calls()[0];
    assert!(
        rfc.body
            .contains("token=Kz%7E8mXK1EalYznwH-LC-1fBAo.4Ljp%7EzsPE_NeO.gxU"),
        "{:?}",
        rfc.body
    );
    assert_eq!(up.count(), 2);
}

/// Sends `answer` for a fresh token with the DPoP scheme (proof by
/// `client`) and returns what the gateway said; the upstream must see nothing.
async fn dpop_with_answer(answer: impl Fn(&AuthServer, i64) -> Value, client: &SigningKey) {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let t = opaque();
    as_.set_token(&t, answer(&as_, gw.now()));
    let a = gw.dpop_get(&gw.h1(), "/orders", &t, client).await;
    assert_invalid_token(&a);
    assert_eq!(as_.calls_for(&t), 1);
    assert_eq!(up.count(), 0, "the upstream saw a refused request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_token_refused() {
    let client = es256();
    dpop_with_answer(|_, _| json!({"active": false}), &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_token_bound_to_another_key_refused() {
    let client = es256();
    let other = es256();
    dpop_with_answer(|as_, now| active_bound(as_, &other, now), &client).await;
}

/// `active` but without `cnf` on a `dpop` route: not DPoP-bound, refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_unbound_token_refused_on_dpop_route() {
    let client = es256();
    dpop_with_answer(
        |as_, now| {
            let mut v = active_bound(as_, &es256(), now);
            let o = v.as_object_mut().unwrap();
            o.remove("cnf");
            o.remove("token_type");
            v
        },
        &client,
    )
    .await;
}

/// `token_type: Bearer` with a matching `cnf.jkt` on a DPoP request: the
/// type must be DPoP when present (RFC 9449 §6.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_type_bearer_refused_on_dpop_request() {
    let client = es256();
    let jkt_of_client = client.jkt().to_string();
    dpop_with_answer(
        move |as_, now| {
            let mut v = active_bound(as_, &es256(), now);
            v["token_type"] = json!("Bearer");
            v["cnf"] = json!({ "jkt": jkt_of_client });
            v
        },
        &client,
    )
    .await;
}

/// `active: true` but `iss` of another server, or `exp` already past: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_but_wrong_iss_or_expired_refused() {
    let client = es256();
    let jkt = client.jkt().to_string();
    let j = jkt.clone();
    dpop_with_answer(
        move |as_, now| {
            let mut v = active_bound(as_, &es256(), now);
            v["cnf"] = json!({ "jkt": j });
            v["iss"] = json!("https://other.example");
            v
        },
        &client,
    )
    .await;
    dpop_with_answer(
        move |as_, now| {
            let mut v = active_bound(as_, &es256(), now);
            v["cnf"] = json!({ "jkt": jkt });
            v["exp"] = json!(now - 3600);
            v
        },
        &client,
    )
    .await;
}

/// On a `dpop_or_bearer` route: an active unbound token sent as Bearer is
/// accepted (identity forwarded); a bound one (`cnf.jkt`), or one whose
/// `token_type` is DPoP, sent as Bearer is refused (RFC 9449 §7.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_route_unbound_bearer_accepted_bound_bearer_refused() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let http = gw.h1();
    let now = gw.now();

    let unbound = opaque();
    as_.set_token(
        &unbound,
        json!({"active": true, "token_type": "Bearer", "sub": "carol", "client_id": "legacy", "scope": "read", "exp": now + 300}),
    );
    let a = gw.bearer_get(&http, "/dual/x", &unbound).await;
    assert_ok(&a);
    assert_eq!(up.last().header("x-auth-subject"), Some("carol"));
    // The same unbound token on the dpop-only route, as Bearer: refused.
    let a = gw.bearer_get(&http, "/orders", &unbound).await;
    assert_invalid_token(&a);

    let bound = opaque();
    as_.set_token(&bound, active_bound(&as_, &es256(), now));
    assert_invalid_token(&gw.bearer_get(&http, "/dual/y", &bound).await);

    let dpop_typed = opaque();
    as_.set_token(
        &dpop_typed,
        json!({"active": true, "token_type": "DPoP", "sub": "dave", "exp": now + 300}),
    );
    assert_invalid_token(&gw.bearer_get(&http, "/dual/z", &dpop_typed).await);
    assert_eq!(up.count(), 1);
}

// ---------------------------------------------------------------------------
// Caches
// ---------------------------------------------------------------------------

/// Five requests with one token (a fresh proof each) cost one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_answer_cached_across_requests() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h1();
    let t = opaque();
    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    for i in 0..5 {
        assert_ok(&gw.dpop_get(&http, &format!("/r{i}"), &t, &client).await);
        gw.advance(10);
    }
    assert_eq!(as_.calls_for(&t), 1);
    assert_eq!(up.count(), 5);
}

/// A positive answer with `exp` = now + 2 and `introspection_cache_secs =
/// 3600` (`leeway_secs = 0`): reused before `exp`; at `exp` the gateway asks
/// again (the cache never outlives `exp`) and, the endpoint repeating the
/// now-past `exp`, refuses: never a stale 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_cache_never_outlives_exp() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(
        &as_,
        &up,
        "introspection_cache_secs = 3600\nleeway_secs = 0",
    )
    .await;
    let client = es256();
    let http = gw.h1();
    let t = opaque();
    let mut answer = active_bound(&as_, &client, gw.now());
    answer["exp"] = json!(gw.now() + 2);
    as_.set_token(&t, answer);

    assert_ok(&gw.dpop_get(&http, "/a", &t, &client).await);
    gw.advance(1);
    assert_ok(&gw.dpop_get(&http, "/b", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1, "not reused before exp");

    gw.advance(1); // now == exp
    let a = gw.dpop_get(&http, "/c", &t, &client).await;
    assert_invalid_token(&a);
    assert_eq!(as_.calls_for(&t), 2, "the cached answer was used at exp");
    gw.advance(5);
    assert_invalid_token(&gw.dpop_get(&http, "/d", &t, &client).await);
    assert_eq!(up.count(), 2);
}

/// Same with the default leeway (30 s): after `exp` the gateway asks again
/// rather than reuse its cached answer, and follows what the endpoint says
/// now (inactive: refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_cache_expires_at_exp_with_default_leeway() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "introspection_cache_secs = 3600").await;
    let client = es256();
    let http = gw.h1();
    let t = opaque();
    let mut answer = active_bound(&as_, &client, gw.now());
    answer["exp"] = json!(gw.now() + 2);
    as_.set_token(&t, answer);

    assert_ok(&gw.dpop_get(&http, "/a", &t, &client).await);
    as_.set_token(&t, json!({"active": false}));
    gw.advance(3);
    let a = gw.dpop_get(&http, "/b", &t, &client).await;
    assert_eq!(as_.calls_for(&t), 2, "the cached answer was used after exp");
    assert_invalid_token(&a);
    assert_eq!(up.count(), 1);
}

/// `introspection_cache_secs = 1` bounds reuse even when `exp` is an hour away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_cache_secs_bounds_reuse() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "introspection_cache_secs = 1").await;
    let client = es256();
    let http = gw.h1();
    let t = opaque();
    let mut answer = active_bound(&as_, &client, gw.now());
    answer["exp"] = json!(gw.now() + 3600);
    as_.set_token(&t, answer);

    assert_ok(&gw.dpop_get(&http, "/a", &t, &client).await);
    assert_ok(&gw.dpop_get(&http, "/b", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1);
    gw.advance(1);
    assert_ok(&gw.dpop_get(&http, "/c", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 2);
    // Revoked at the server: noticed within the cache time.
    as_.set_token(&t, json!({"active": false}));
    gw.advance(1);
    assert_invalid_token(&gw.dpop_get(&http, "/d", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 3);
}

/// An inactive answer is remembered briefly (5 s): asked twice quickly, one
/// call, even if the token became active meanwhile; asked again after
/// that, a new call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answer_cached_briefly() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h1();
    let t = opaque();
    as_.set_token(&t, json!({"active": false}));

    assert_invalid_token(&gw.dpop_get(&http, "/a", &t, &client).await);
    assert_invalid_token(&gw.dpop_get(&http, "/b", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1);

    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    gw.advance(4);
    assert_invalid_token(&gw.dpop_get(&http, "/c", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1);
    gw.advance(2);
    assert_ok(&gw.dpop_get(&http, "/d", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 2);
}

/// 50 concurrent requests (HTTP/2 streams, a fresh proof each) with one new
/// token: exactly one introspection call (the endpoint answers after 300
/// ms, so they really overlap), and all 50 accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_one_introspection_call() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h2();
    // Open the HTTP/2 connection first.
    let warm = opaque();
    as_.set_token(&warm, active_bound(&as_, &client, gw.now()));
    assert_ok(&gw.dpop_get(&http, "/warm", &warm, &client).await);

    let t = opaque();
    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    as_.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let req = gw.dpop_request(&format!("/burst/{i}"), &t, &client);
            let http = http.clone();
            tokio::spawn(async move { http.send(req).await.map(|a| a.status.as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(
            task.await
                .unwrap()
                .unwrap_or_else(|e| panic!("transport: {e}")),
        );
    }
    assert_eq!(as_.calls_for(&t), 1, "50 concurrent requests, one token");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(up.count(), 51);
}

// ---------------------------------------------------------------------------
// Endpoint down
// ---------------------------------------------------------------------------

/// The endpoint answering 503, dropping connections, refusing them, or
/// answering something that is not JSON: 503 `temporarily_unavailable` with
/// `Retry-After`, the upstream sees nothing, and the failure is not cached:
/// once the endpoint is back, the same token is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_is_503_then_recovers() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h1();

    let mut accepted = 0;
    for mode in [
        Availability::Unavailable,
        Availability::Drop,
        Availability::Refuse,
    ] {
        let t = opaque();
        as_.set_token(&t, active_bound(&as_, &client, gw.now()));
        as_.set_availability(mode).await;
        for i in 0..2 {
            let a = gw
                .dpop_get(&http, &format!("/{mode:?}/{i}"), &t, &client)
                .await;
            assert_unavailable(&a);
        }
        assert_eq!(up.count(), accepted, "{mode:?}: the upstream saw a request");
        as_.set_availability(Availability::Up).await;
        assert_ok(&gw.dpop_get(&http, "/back", &t, &client).await);
        accepted += 1;
        assert_eq!(up.count(), accepted, "{mode:?}");
    }

    let t = opaque();
    as_.set_token_raw(&t, 200, "this is not JSON");
    assert_unavailable(&gw.dpop_get(&http, "/garbage", &t, &client).await);
    as_.set_token_raw(&t, 500, "{}");
    assert_unavailable(&gw.dpop_get(&http, "/error", &t, &client).await);
    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    assert_ok(&gw.dpop_get(&http, "/fixed", &t, &client).await);
}

/// Limits of the endpoint's answer: one slower than the 5 s fetch timeout,
/// or larger than 512 KiB, is 503 (never 200), and the upstream sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_oversized_answer_is_503() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h1();

    let big = opaque();
    let mut answer = active_bound(&as_, &client, gw.now());
    answer["padding"] = json!("x".repeat(600 * 1024));
    as_.set_token(&big, answer);
    assert_unavailable(&gw.dpop_get(&http, "/big", &big, &client).await);

    let slow = opaque();
    as_.set_token(&slow, active_bound(&as_, &client, gw.now()));
    as_.set_delay(Duration::from_secs(7));
    let started = std::time::Instant::now();
    let a = gw.dpop_get(&http, "/slow", &slow, &client).await;
    let took = started.elapsed();
    assert_unavailable(&a);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(7),
        "answered after {took:?}"
    );
    assert_eq!(up.count(), 0);
    as_.set_delay(Duration::ZERO);
    assert_ok(&gw.dpop_get(&http, "/slow-again", &slow, &client).await);
}

/// Concurrent requests with one token while the endpoint fails share the
/// one failed call: 20 requests, one call, twenty 503s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_failed_call() {
    let as_ = AuthServer::start().await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, "").await;
    let client = es256();
    let http = gw.h2();
    let warm = opaque();
    as_.set_token(&warm, active_bound(&as_, &client, gw.now()));
    assert_ok(&gw.dpop_get(&http, "/warm", &warm, &client).await);

    let t = opaque();
    as_.set_token_raw(&t, 503, "{}");
    as_.set_delay(Duration::from_millis(300));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let req = gw.dpop_request(&format!("/f/{i}"), &t, &client);
            let http = http.clone();
            tokio::spawn(async move { http.send(req).await.map(|a| a.status.as_u16()) })
        })
        .collect();
    for task in tasks {
        let status = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("transport: {e}"));
        assert_eq!(status, 503);
    }
    assert_eq!(as_.calls_for(&t), 1);
    assert_eq!(up.count(), 1);
}

/// `active` must be the JSON boolean `true`: `"true"` (a string) or `1` is
/// not active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_must_be_the_boolean_true() {
    for active in [json!("true"), json!(1)] {
        let client = es256();
        let jkt = client.jkt().to_string();
        dpop_with_answer(
            move |as_, now| {
                let mut v = active_bound(as_, &es256(), now);
                v["cnf"] = json!({ "jkt": jkt });
                v["active"] = active.clone();
                v
            },
            &client,
        )
        .await;
    }
}

// ---------------------------------------------------------------------------
// Several issuers, discovery
// ---------------------------------------------------------------------------

/// Two issuers: JWTs go to their issuer by `iss` (verified with its keys, no
/// introspection call), opaque tokens and JWTs of an unknown `iss` to the
/// introspecting issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_routed_by_iss_opaque_to_the_introspecting_issuer() {
    let as_ = AuthServer::start().await;
    let issuer_key = es256();
    as_.publish(jwks(&[&issuer_key]));
    let up = Upstream::echo().await;
    let jwt_iss = as_.url("/jwt");
    let text = format!(
        "{}{}{}",
        issuer_table(
            &jwt_iss,
            &as_.ca_file(),
            &format!("jwks_url = \"{}\"", as_.url(JWKS_PATH))
        ),
        issuer_table(
            &as_.origin(),
            &as_.ca_file(),
            &introspection_source(&as_, "")
        ),
        routes(&up.url())
    );
    let gw = TestGateway::with_admin(&text, ClockMode::Manual(system_now())).await;
    let client = es256();
    let http = gw.h1();
    assert!(gw.wait_readyz(200, Duration::from_secs(5)).await);

    let jwt = token_from(&issuer_key, &jwt_iss, Some(client.jkt().as_str()), gw.now());
    assert_ok(&gw.dpop_get(&http, "/jwt", &jwt, &client).await);
    assert_eq!(
        as_.calls().len(),
        0,
        "a JWT of a jwks issuer was introspected"
    );

    let t = opaque();
    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    assert_ok(&gw.dpop_get(&http, "/opaque", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1);

    let stranger = token_from(
        &issuer_key,
        "https://unknown.example",
        Some(client.jkt().as_str()),
        gw.now(),
    );
    assert_invalid_token(&gw.dpop_get(&http, "/stranger", &stranger, &client).await);
    assert_eq!(as_.calls_for(&stranger), 1);
    assert_eq!(up.count(), 2);
}

/// `discovery = true` with client credentials: the introspection endpoint
/// comes from the metadata (RFC 8414 `introspection_endpoint`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_the_introspection_endpoint() {
    let as_ = AuthServer::start().await;
    as_.set_doc(
        "/.well-known/oauth-authorization-server",
        json!({"issuer": as_.origin(), "introspection_endpoint": as_.url(INTROSPECT_PATH)}),
    );
    let secret = as_.write_file("client.secret", SECRET);
    let up = Upstream::echo().await;
    let source = format!(
        "discovery = true\nintrospection_client_id = \"{CLIENT_ID}\"\nintrospection_client_secret_file = \"{}\"",
        secret.display()
    );
    let text = format!(
        "{}{}",
        issuer_table(&as_.origin(), &as_.ca_file(), &source),
        routes(&up.url())
    );
    let gw = TestGateway::with_admin(&text, ClockMode::Manual(system_now())).await;
    let client = es256();
    let t = opaque();
    as_.set_token(&t, active_bound(&as_, &client, gw.now()));
    assert_ok(&gw.dpop_get(&gw.h1(), "/x", &t, &client).await);
    assert_eq!(as_.calls_for(&t), 1);
    assert_eq!(
        as_.calls()[0].authorization.as_deref(),
        Some(basic(CLIENT_ID, SECRET).as_str())
    );
}
