//! Issuer key sources against a real HTTPS authorization server on loopback
//! (`common::auth_server::AuthServer`): `jwks_url` (load at start, `/readyz`,
//! rotation with the on-miss refetch, removal, the server down,
//! single-flight), discovery (RFC 8414 and OpenID Connect metadata, the
//! `issuer` check), a `jwks_file` changed on disk, and what `check` says
//! about the new keys.
//!
//! Timing: an unknown `kid` triggers a refetch only when the last on-miss
//! fetch is at least `MIN_REFETCH_INTERVAL` (10 s) old (periodic loads, the
//! initial one included, do not count: the first unknown `kid` fetches at
//! once), so a test that needs a second on-miss refetch waits 10 s. Three
//! tests wait about that long: rotation with the 100-request burst
//! (one test, one wait), the key server down, and the removal, which uses
//! `jwks_refresh_secs = 10` (the minimum) and the periodic refresh instead:
//! the same ~10 s, and it exercises the other path. Everything else polls
//! with bounds of a few seconds; the file runs in about 30 s on 2 cores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use common::asserts::{assert_invalid_token, assert_ok, assert_unavailable};
use common::auth_server::{AuthServer, Availability, JWKS_PATH};
use common::keys::{es256, jwks, kid};
use common::tokens::token_from;
use common::{
    fill, issuer_table, routes, run_bin, write_pki, BinOutput, ClockMode, TestGateway, Upstream,
};
use dpop_gateway::jose::SigningKey;
use dpop_gateway::token::remote::MIN_REFETCH_INTERVAL;

common::form_self_tests!();

/// Bound on any single wait for the gateway to catch up.
const BOUND: Duration = Duration::from_secs(5);

/// A gateway whose only issuer is `as_`'s origin with `source` lines.
async fn gateway(as_: &AuthServer, up: &Upstream, source: &str) -> TestGateway {
    let text = format!(
        "{}{}",
        issuer_table(&as_.origin(), &as_.ca_file(), source),
        routes(&up.url())
    );
    TestGateway::with_admin(&text, ClockMode::System).await
}

fn jwks_url(as_: &AuthServer) -> String {
    format!("jwks_url = \"{}\"", as_.url(JWKS_PATH))
}

/// A fresh token from `issuer_key` for `iss`, bound to `client`'s key.
fn fresh(gw: &TestGateway, issuer_key: &SigningKey, iss: &str, client: &SigningKey) -> String {
    token_from(issuer_key, iss, Some(client.jkt().as_str()), gw.now())
}

/// Waits until `MIN_REFETCH_INTERVAL` (plus a margin) has passed since `since`.
async fn past_refetch_interval(since: Instant) {
    let until = since + MIN_REFETCH_INTERVAL + Duration::from_millis(300);
    tokio::time::sleep_until(until.into()).await;
}

// ---------------------------------------------------------------------------
// jwks_url
// ---------------------------------------------------------------------------

/// `/readyz` is 503 (naming the issuer) while the key set cannot be loaded
/// and requests are 503, not 200; once the server answers, the retry (every
/// second until the first load) loads it, `/readyz` turns 200 and a token
/// signed by the published key is accepted with its identity forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_loaded_at_start_and_readyz_follows() {
    let as_ = AuthServer::start().await;
    let issuer_key = es256();
    as_.publish(jwks(&[&issuer_key]));
    as_.set_availability(Availability::Unavailable).await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let client = es256();
    let http = gw.h1();

    assert!(
        as_.wait_hits(JWKS_PATH, 1, BOUND).await,
        "no fetch at start"
    );
    let (status, body) = gw.readyz().await;
    assert_eq!(status, 503, "{body}");
    let failing = body["failing"].to_string();
    assert!(
        failing.contains(&format!("issuer_keys:{}", as_.origin())),
        "/readyz does not name the issuer: {body}"
    );
    let t = fresh(&gw, &issuer_key, &as_.origin(), &client);
    assert_unavailable(&gw.dpop_get(&http, "/orders", &t, &client).await);
    assert_eq!(up.count(), 0, "the upstream saw a request without keys");

    as_.set_availability(Availability::Up).await;
    assert!(
        gw.wait_readyz(200, BOUND).await,
        "/readyz not 200 after the server came back: {:?}",
        gw.readyz().await
    );
    assert!(as_.served(JWKS_PATH) >= 1);
    let t = fresh(&gw, &issuer_key, &as_.origin(), &client);
    let a = gw.dpop_get(&http, "/orders", &t, &client).await;
    assert_ok(&a);
    assert_eq!(up.count(), 1);
    let rec = up.last();
    assert_eq!(rec.header("x-auth-subject"), Some("alice"));
    assert_eq!(rec.header("x-auth-client-id"), Some("client-1"));
}

/// Removal: with `jwks_refresh_secs = 10`, a key dropped from the published
/// set is refused (401 `invalid_token`, never 503: keys are loaded) after
/// the periodic refresh, while the remaining key is accepted without a fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_removed_key_refused_after_periodic_refresh() {
    let as_ = AuthServer::start().await;
    let (k1, k2) = (es256(), es256());
    as_.publish(jwks(&[&k1, &k2]));
    let up = Upstream::echo().await;
    let source = format!("{}\njwks_refresh_secs = 10", jwks_url(&as_));
    let gw = gateway(&as_, &up, &source).await;
    let iss = as_.origin();
    let client = es256();
    let http = gw.h1();

    assert!(gw.wait_readyz(200, BOUND).await);
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );
    assert_ok(
        &gw.dpop_get(&http, "/b", &fresh(&gw, &k2, &iss, &client), &client)
            .await,
    );

    as_.publish(jwks(&[&k2]));
    assert!(
        as_.wait_served(JWKS_PATH, 2, Duration::from_secs(15)).await,
        "no periodic refresh within 15 s"
    );
    // The new set is stored just after the server answered: poll briefly.
    let deadline = Instant::now() + BOUND;
    let refused = loop {
        let a = gw
            .dpop_get(&http, "/c", &fresh(&gw, &k1, &iss, &client), &client)
            .await;
        if a.status.as_u16() != 200 || Instant::now() >= deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_invalid_token(&refused);
    let fetches = as_.hits(JWKS_PATH);
    assert_ok(
        &gw.dpop_get(&http, "/d", &fresh(&gw, &k2, &iss, &client), &client)
            .await,
    );
    assert_eq!(as_.hits(JWKS_PATH), fetches, "a known kid caused a fetch");
    assert_eq!(gw.readyz().await.0, 200);
}

/// The key server down (connections dropped without an answer): a refetch
/// for an unknown `kid` fails, the token is refused with 401 (not 200, not
/// 503: the last good keys are loaded), and tokens signed by the known key
/// keep being accepted; `/readyz` stays 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_server_down_last_good_keys_still_used() {
    let as_ = AuthServer::start().await;
    let (k1, k2) = (es256(), es256());
    as_.publish(jwks(&[&k1]));
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let iss = as_.origin();
    let client = es256();
    let http = gw.h1();

    assert!(gw.wait_readyz(200, BOUND).await);
    let loaded_at = Instant::now();
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );

    as_.set_availability(Availability::Drop).await;
    as_.publish(jwks(&[&k1, &k2]));
    past_refetch_interval(loaded_at).await;
    let before = as_.hits(JWKS_PATH);
    let a = gw
        .dpop_get(&http, "/b", &fresh(&gw, &k2, &iss, &client), &client)
        .await;
    assert_invalid_token(&a);
    assert_eq!(
        as_.hits(JWKS_PATH),
        before + 1,
        "the unknown kid should have caused one (failed) fetch"
    );
    assert_eq!(as_.served(JWKS_PATH), 1);

    for path in ["/c", "/d", "/e"] {
        let a = gw
            .dpop_get(&http, path, &fresh(&gw, &k1, &iss, &client), &client)
            .await;
        assert_ok(&a);
    }
    assert_eq!(gw.readyz().await.0, 200);
    assert_eq!(up.count(), 4);
}

/// Rotation, and single flight: after the key server publishes a new key,
/// 100 concurrent requests (HTTP/2 streams), each with its own token signed
/// by that key (so one unknown `kid`) and its own proof, are all accepted
/// and the key server sees exactly ONE extra fetch; the server answers after
/// 300 ms, so the misses really overlap that fetch. Afterwards both keys
/// work without further fetches, and a kid published right after the
/// refetch (or any random unknown kid) is refused with 401 without a fetch
/// (at most one refetch per `MIN_REFETCH_INTERVAL`).
///
/// (One test for both, because each costs a 10 s wait: the initial load
/// counts as the last fetch attempt, so no refetch can happen before.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_rotation_new_kid_accepted_after_one_shared_refetch() {
    let as_ = AuthServer::start().await;
    let (k1, k2, k3) = (es256(), es256(), es256());
    as_.publish(jwks(&[&k1]));
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let iss = as_.origin();
    let http = gw.h2();
    let client = es256();

    assert!(gw.wait_readyz(200, BOUND).await);
    let loaded_at = Instant::now();
    assert_eq!(as_.hits(JWKS_PATH), 1);
    // Also opens the HTTP/2 connection, so that the burst is only streams.
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );
    // The 100 requests, built beforehand (proofs stay valid for 60 s).
    let mut requests = Vec::new();
    for i in 0..100 {
        let own = es256();
        let t = fresh(&gw, &k2, &iss, &own);
        requests.push(gw.dpop_request(&format!("/burst/{i}"), &t, &own));
    }
    past_refetch_interval(loaded_at).await;
    as_.publish(jwks(&[&k1, &k2]));
    as_.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let http = http.clone();
            tokio::spawn(async move { http.send(r).await.map(|a| (a.status.as_u16(), a.text())) })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        let (status, body) = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("transport: {e}"));
        statuses.entry(status).or_insert_with(Vec::new).push(body);
    }
    let took = started.elapsed();
    as_.set_delay(Duration::ZERO);
    assert_eq!(
        as_.hits(JWKS_PATH),
        2,
        "100 misses on one new kid must share one fetch"
    );
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "not all accepted: {statuses:?}"
    );
    assert!(took < Duration::from_secs(10), "the burst took {took:?}");

    // Both keys are now known: no further fetch.
    assert_ok(
        &gw.dpop_get(&http, "/c", &fresh(&gw, &k2, &iss, &client), &client)
            .await,
    );
    assert_ok(
        &gw.dpop_get(&http, "/d", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );
    // A kid published right after that refetch waits for the next interval,
    // and a stream of random unknown kids causes no fetch storm.
    as_.publish(jwks(&[&k1, &k2, &k3]));
    assert_invalid_token(
        &gw.dpop_get(&http, "/e", &fresh(&gw, &k3, &iss, &client), &client)
            .await,
    );
    for i in 0..10 {
        let stranger = es256();
        let t = fresh(&gw, &stranger, &iss, &client);
        assert_invalid_token(&gw.dpop_get(&http, &format!("/f{i}"), &t, &client).await);
    }
    assert_eq!(
        as_.hits(JWKS_PATH),
        2,
        "a second refetch within MIN_REFETCH_INTERVAL"
    );
    assert_eq!(up.count(), 103);
    assert_ne!(kid(&k2), kid(&k3));
}

/// Keys never loadable (connection refused, then a document that is not a
/// JWKS): every request is 503 `temporarily_unavailable` with Retry-After,
/// never 200, nothing reaches the upstream, `/readyz` stays 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_never_loadable_is_503_never_200() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    as_.set_availability(Availability::Refuse).await;
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let iss = as_.origin();
    let client = es256();
    let http = gw.h1();

    for i in 0..4 {
        let a = gw
            .dpop_get(
                &http,
                &format!("/r{i}"),
                &fresh(&gw, &k1, &iss, &client),
                &client,
            )
            .await;
        assert_unavailable(&a);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(gw.readyz().await.0, 503);

    // The server answers, but with something that is not a key set.
    as_.set_doc(JWKS_PATH, json!({"keys": "not a list"}));
    as_.set_availability(Availability::Up).await;
    assert!(as_.wait_served(JWKS_PATH, 2, BOUND).await, "no retry");
    for i in 0..3 {
        let a = gw
            .dpop_get(
                &http,
                &format!("/s{i}"),
                &fresh(&gw, &k1, &iss, &client),
                &client,
            )
            .await;
        assert_unavailable(&a);
    }
    let (status, body) = gw.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(up.count(), 0, "the upstream saw a request");
}

/// The fetched document is capped at 512 KiB: a key set padded to 600 KiB
/// is never loaded (503, `/readyz` 503), the same set padded to 400 KiB is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_document_over_the_size_cap_is_refused() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    let padded = |kib: usize| {
        let mut doc = jwks(&[&k1]);
        doc["padding"] = json!("x".repeat(kib * 1024));
        doc
    };
    as_.publish(padded(600));
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let iss = as_.origin();
    let client = es256();
    let http = gw.h1();

    assert!(as_.wait_served(JWKS_PATH, 2, BOUND).await, "no retry");
    assert_eq!(gw.readyz().await.0, 503);
    assert_unavailable(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );

    as_.publish(padded(400));
    assert!(gw.wait_readyz(200, BOUND).await, "{:?}", gw.readyz().await);
    assert_ok(
        &gw.dpop_get(&http, "/b", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );
}

/// A config reload (SIGHUP; here `Reloader::reload` with the same config)
/// while the key server is down must keep using the last good keys: a token
/// with a known `kid` stays accepted and `/readyz` stays 200. Today the
/// reload builds new issuers with empty key sets that must be fetched again,
/// so during an outage every request becomes 503 and the gateway turns
/// not-ready until the key server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_reload_while_server_down_keeps_last_good_keys() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    as_.publish(jwks(&[&k1]));
    let up = Upstream::echo().await;
    let gw = gateway(&as_, &up, &jwks_url(&as_)).await;
    let iss = as_.origin();
    let client = es256();
    let http = gw.h1();
    assert!(gw.wait_readyz(200, BOUND).await);
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );

    as_.set_availability(Availability::Refuse).await;
    gw.reload();
    let a = gw
        .dpop_get(&http, "/b", &fresh(&gw, &k1, &iss, &client), &client)
        .await;
    let ready = gw.readyz().await;
    assert_eq!(
        a.status.as_u16(),
        200,
        "after a reload with the key server down, a token signed by a known key \
         is refused: {} (readyz {ready:?})",
        a.text()
    );
    assert_eq!(ready.0, 200, "{ready:?}");

    // And once the server is back, everything works again in any case.
    as_.set_availability(Availability::Up).await;
    assert!(gw.wait_readyz(200, BOUND).await);
    assert_ok(
        &gw.dpop_get(&http, "/c", &fresh(&gw, &k1, &iss, &client), &client)
            .await,
    );
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// RFC 8414 metadata at `/.well-known/oauth-authorization-server/tenant1`
/// (the issuer has a path) with the right `issuer`: its `jwks_uri` is
/// fetched and tokens are accepted; the OpenID Connect URL is not needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_rfc8414_metadata_gives_jwks_uri() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    let iss = as_.url("/tenant1");
    as_.set_doc("/tenant1/keys", jwks(&[&k1]));
    let rfc8414 = "/.well-known/oauth-authorization-server/tenant1";
    let oidc = "/tenant1/.well-known/openid-configuration";
    as_.set_doc(
        rfc8414,
        json!({"issuer": iss, "jwks_uri": as_.url("/tenant1/keys")}),
    );
    let up = Upstream::echo().await;
    let text = format!(
        "{}{}",
        issuer_table(&iss, &as_.ca_file(), "discovery = true"),
        routes(&up.url())
    );
    let gw = TestGateway::with_admin(&text, ClockMode::System).await;
    let client = es256();

    assert!(gw.wait_readyz(200, BOUND).await, "{:?}", gw.readyz().await);
    let a = gw
        .dpop_get(&gw.h1(), "/x", &fresh(&gw, &k1, &iss, &client), &client)
        .await;
    assert_ok(&a);
    assert_eq!(as_.served(rfc8414), 1);
    assert_eq!(as_.hits(oidc), 0);
    assert_eq!(as_.served("/tenant1/keys"), 1);
}

/// No RFC 8414 document (404): the OpenID Connect document
/// (`{issuer}/.well-known/openid-configuration`) is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_falls_back_to_openid_configuration() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    let iss = as_.url("/tenant1");
    as_.set_doc("/jwks-of-tenant1", jwks(&[&k1]));
    let oidc = "/tenant1/.well-known/openid-configuration";
    as_.set_doc(
        oidc,
        json!({"issuer": iss, "jwks_uri": as_.url("/jwks-of-tenant1")}),
    );
    let up = Upstream::echo().await;
    let text = format!(
        "{}{}",
        issuer_table(&iss, &as_.ca_file(), "discovery = true"),
        routes(&up.url())
    );
    let gw = TestGateway::with_admin(&text, ClockMode::System).await;
    let client = es256();

    assert!(gw.wait_readyz(200, BOUND).await, "{:?}", gw.readyz().await);
    let a = gw
        .dpop_get(&gw.h1(), "/x", &fresh(&gw, &k1, &iss, &client), &client)
        .await;
    assert_ok(&a);
    assert!(as_.hits("/.well-known/oauth-authorization-server/tenant1") >= 1);
    assert_eq!(as_.served(oidc), 1);
}

/// Metadata whose `issuer` differs from the configured one (here: another
/// tenant of the same server) is refused: its `jwks_uri` is never fetched,
/// requests are 503 (never 200), `/readyz` stays 503 across retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_wrong_issuer_never_accepted() {
    let as_ = AuthServer::start().await;
    let k1 = es256();
    let iss = as_.url("/tenant1");
    as_.set_doc("/keys", jwks(&[&k1]));
    let rfc8414 = "/.well-known/oauth-authorization-server/tenant1";
    as_.set_doc(
        rfc8414,
        json!({"issuer": as_.url("/tenant2"), "jwks_uri": as_.url("/keys")}),
    );
    let up = Upstream::echo().await;
    let text = format!(
        "{}{}",
        issuer_table(&iss, &as_.ca_file(), "discovery = true"),
        routes(&up.url())
    );
    let gw = TestGateway::with_admin(&text, ClockMode::System).await;
    let client = es256();
    let http = gw.h1();

    // Several discovery attempts (one a second until the first load).
    assert!(as_.wait_served(rfc8414, 3, BOUND).await, "no retries");
    for i in 0..3 {
        let a = gw
            .dpop_get(
                &http,
                &format!("/{i}"),
                &fresh(&gw, &k1, &iss, &client),
                &client,
            )
            .await;
        assert_unavailable(&a);
    }
    let (status, body) = gw.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body["failing"].to_string().contains(&iss), "{body}");
    assert_eq!(
        as_.hits("/keys"),
        0,
        "the jwks_uri of a wrong issuer was fetched"
    );
    assert_eq!(up.count(), 0);
}

// ---------------------------------------------------------------------------
// jwks_file
// ---------------------------------------------------------------------------

/// Sends fresh tokens by `key` every 100 ms until one is accepted; the time
/// it took, or `None` after `bound`.
async fn until_accepted(
    gw: &TestGateway,
    key: &SigningKey,
    iss: &str,
    bound: Duration,
) -> Option<Duration> {
    let client = es256();
    let http = gw.h1();
    let started = Instant::now();
    loop {
        let a = gw
            .dpop_get(&http, "/poll", &fresh(gw, key, iss, &client), &client)
            .await;
        if a.status.as_u16() == 200 {
            return Some(started.elapsed());
        }
        assert_invalid_token(&a);
        if started.elapsed() >= bound {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn jwks_file_issuer(path: &Path) -> String {
    format!(
        "\n[[issuers]]\nissuer = \"https://as.file.test\"\naudiences = [\"{}\"]\njwks_file = \"{}\"\n",
        common::AUDIENCE,
        path.display()
    )
}

/// A `jwks_file` rewritten with a new key is picked up by the maintenance
/// tick (once a second) without a restart: a token signed by the new key is
/// accepted within ~2 s, and the key no longer in the file is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_change_picked_up_without_restart() {
    let keys_dir = tempfile::tempdir().unwrap();
    let path = keys_dir.path().join("issuer.jwks.json");
    let (k1, k2) = (es256(), es256());
    std::fs::write(&path, jwks(&[&k1]).to_string()).unwrap();
    let up = Upstream::echo().await;
    let gw = TestGateway::with_admin(
        &format!("{}{}", jwks_file_issuer(&path), routes(&up.url())),
        ClockMode::System,
    )
    .await;
    let iss = "https://as.file.test";
    let client = es256();
    let http = gw.h1();
    assert_eq!(gw.readyz().await.0, 200);
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, iss, &client), &client)
            .await,
    );
    assert_invalid_token(
        &gw.dpop_get(&http, "/b", &fresh(&gw, &k2, iss, &client), &client)
            .await,
    );

    // Write a new file and rename it over the old one (what deploy tools do).
    let tmp = keys_dir.path().join("issuer.jwks.json.new");
    std::fs::write(&tmp, jwks(&[&k2]).to_string()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let took = until_accepted(&gw, &k2, iss, Duration::from_secs(3))
        .await
        .expect("the new key was not picked up within 3 s");
    assert!(took <= Duration::from_millis(2500), "took {took:?}");
    assert_invalid_token(
        &gw.dpop_get(&http, "/c", &fresh(&gw, &k1, iss, &client), &client)
            .await,
    );

    // And once more in place (truncate and write).
    let k3 = es256();
    std::fs::write(&path, jwks(&[&k3]).to_string()).unwrap();
    until_accepted(&gw, &k3, iss, Duration::from_secs(3))
        .await
        .expect("the in-place rewrite was not picked up within 3 s");

    // A broken write is ignored (the loaded keys stay), its fix is picked up.
    std::fs::write(&path, "{\"keys\": [").unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_ok(
        &gw.dpop_get(&http, "/d", &fresh(&gw, &k3, iss, &client), &client)
            .await,
    );
    let k4 = es256();
    std::fs::write(&path, jwks(&[&k4]).to_string()).unwrap();
    until_accepted(&gw, &k4, iss, Duration::from_secs(3))
        .await
        .expect("the fixed file was not picked up within 3 s");
}

/// A broken `jwks_file` (say, read between the truncate and the write of
/// an in-place rewrite) followed by the fixed file with the SAME
/// modification time (timestamps are coarse on many filesystems; `cp -p`,
/// `rsync -t` and `tar` preserve them): the fixed keys must still be
/// loaded. Today the reload records the modification time before parsing,
/// so the broken version marks that time as seen and the fixed file is
/// never read again (until another change or SIGHUP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_fixed_with_the_same_mtime_as_a_broken_version_is_loaded() {
    let keys_dir = tempfile::tempdir().unwrap();
    let path = keys_dir.path().join("issuer.jwks.json");
    let (k1, k2) = (es256(), es256());
    std::fs::write(&path, jwks(&[&k1]).to_string()).unwrap();
    let up = Upstream::echo().await;
    let gw = TestGateway::with_admin(
        &format!("{}{}", jwks_file_issuer(&path), routes(&up.url())),
        ClockMode::System,
    )
    .await;
    let iss = "https://as.file.test";
    let client = es256();
    let http = gw.h1();

    std::fs::write(&path, "").unwrap();
    let broken_mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_ok(
        &gw.dpop_get(&http, "/a", &fresh(&gw, &k1, iss, &client), &client)
            .await,
    );

    std::fs::write(&path, jwks(&[&k2]).to_string()).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(broken_mtime)
        .unwrap();
    let picked = until_accepted(&gw, &k2, iss, Duration::from_secs(3)).await;
    assert!(
        picked.is_some(),
        "the fixed jwks_file (same mtime as the broken one) was never loaded"
    );
}

/// A key removed from the key set must be refused for EVERY token it
/// signed, including one accepted (and so cached) before the removal: the
/// set no longer vouches for it. Today the verified-token cache of
/// `TokenValidator` answers from the cache (checking only `exp`/`nbf`), so
/// a token signed by a removed key stays accepted until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_removed_key_refused_even_for_a_token_accepted_before() {
    let keys_dir = tempfile::tempdir().unwrap();
    let path = keys_dir.path().join("issuer.jwks.json");
    let (k1, k2) = (es256(), es256());
    std::fs::write(&path, jwks(&[&k1]).to_string()).unwrap();
    let up = Upstream::echo().await;
    let gw = TestGateway::with_admin(
        &format!("{}{}", jwks_file_issuer(&path), routes(&up.url())),
        ClockMode::System,
    )
    .await;
    let iss = "https://as.file.test";
    let client = es256();
    let http = gw.h1();
    let seen = fresh(&gw, &k1, iss, &client);
    assert_ok(&gw.dpop_get(&http, "/a", &seen, &client).await);

    // k1 replaced by k2; k2 accepted means the new set is in place.
    std::fs::write(&path, jwks(&[&k2]).to_string()).unwrap();
    until_accepted(&gw, &k2, iss, Duration::from_secs(3))
        .await
        .expect("the new key set was not picked up within 3 s");
    // A new token signed by the removed key: refused.
    assert_invalid_token(
        &gw.dpop_get(&http, "/b", &fresh(&gw, &k1, iss, &client), &client)
            .await,
    );
    // The token accepted before the removal, with a fresh proof.
    let a = gw.dpop_get(&http, "/c", &seen, &client).await;
    assert_eq!(
        a.status.as_u16(),
        401,
        "a token signed by a key removed from the set is still accepted \
         (served from the verified-token cache): {}",
        a.text()
    );
    assert_invalid_token(&a);
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

/// Writes `issuer` (an `[[issuers]]` table) with a server and a DPoP route
/// into a temporary folder and runs `dpop-gateway check` on it.
fn check(issuer: &str) -> BinOutput {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, files) = write_pki(dir.path());
    std::fs::write(dir.path().join("keys.json"), jwks(&[&es256()]).to_string()).unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{}\n{issuer}\n[[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"http://127.0.0.1:9\"\nauth = \"dpop\"\n",
        common::TLS_TABLE
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, fill(&text, &files, dir.path())).unwrap();
    run_bin(
        ["check".as_ref(), "--config".as_ref(), path.as_os_str()],
        Duration::from_secs(30),
    )
}

/// Asserts exit 2 and a stderr line naming exactly `key` (as `: key:` or
/// `: key (line`); returns that line.
fn assert_names(out: &BinOutput, key: &str) -> String {
    assert_eq!(
        out.code(),
        Some(2),
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    out.stderr
        .lines()
        .find(|l| l.contains(&format!(": {key}:")) || l.contains(&format!(": {key} (line")))
        .unwrap_or_else(|| panic!("no problem names {key}; stderr:\n{}", out.stderr))
        .to_owned()
}

#[test]
fn check_accepts_the_new_sources() {
    for source in [
        "jwks_url = \"https://as.test/jwks\"\njwks_refresh_secs = 60",
        "discovery = true",
        "jwks_file = \"keys.json\"",
    ] {
        let out = check(&format!(
            "[[issuers]]\nissuer = \"https://as.test\"\nca_file = \"@CA@\"\n{source}\n"
        ));
        assert_eq!(out.code(), Some(0), "{source}: {}", out.stderr);
    }
}

#[test]
fn check_refuses_a_plain_http_jwks_url() {
    let out =
        check("[[issuers]]\nissuer = \"https://as.test\"\njwks_url = \"http://as.test/jwks\"\n");
    let line = assert_names(&out, "issuers[0].jwks_url");
    assert!(line.contains("https"), "{line}");
}

#[test]
fn check_refuses_two_token_sources() {
    let out = check(
        "[[issuers]]\nissuer = \"https://as.test\"\njwks_file = \"keys.json\"\njwks_url = \"https://as.test/jwks\"\n",
    );
    let line = assert_names(&out, "issuers[0]");
    assert!(line.contains("exactly one"), "{line}");
}

#[test]
fn check_refuses_introspection_without_client_credentials() {
    let out = check(
        "[[issuers]]\nissuer = \"https://as.test\"\nintrospection_url = \"https://as.test/introspect\"\n",
    );
    assert_names(&out, "issuers[0].introspection_client_id");
    assert_names(&out, "issuers[0].introspection_client_secret_file");
}
