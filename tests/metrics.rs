//! The metrics of the spec's "Metrics" table, read from the admin
//! listener's `/metrics` after known traffic against real gateways (TLS,
//! loopback upstreams, a fake HTTPS authorization server), as exact deltas:
//! one request per rejection `reason`, the clock-offset bucket a known
//! `iat` lands in, each upstream error kind, token-cache hits and misses,
//! key fetches, nonces, connections and TLS handshake failures. Then the
//! operator's side: a real Prometheus scrapes a gateway, and every
//! expression of the Grafana dashboard and of the alert rules (read from
//! the files) must return data; `promtool check rules` must pass.
//!
//! The registry is process-wide, so the tests of this binary take turns
//! ([`SERIAL`]) and compare values before and after their own traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::auth_server::{AuthServer, Availability, JWKS_PATH};
use common::jose::{ath, Proof};
use common::prometheus::{Prometheus, Samples, PROMTOOL};
use common::req::{send, Req, Via};
use common::tokens::{access_token, sign_token, token_claims, token_header};
use common::wait::eventually;
use common::{
    fixture_issuer_table, issuer_table, route, route_with, unused_port, Behaviour, ClockMode,
    Fixture, TestClient, TestGateway, Upstream, ISSUER, TLS_TABLE,
};
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The tests of this binary share the process-wide registry: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The manual clock of every gateway here.
const T0: i64 = 1_900_000_000;

const REJECTIONS: &str = "dpop_gateway_rejections_total";
const REQUESTS: &str = "dpop_gateway_requests_total";
const CLOCK_OFFSET: &str = "dpop_gateway_proof_clock_offset_seconds";

/// The nonce secret of the nonce gateway.
const NONCE_SECRET: &[u8] = b"metrics-nonce-secret-0123456789abcdef-0123";

/// The gateways and everything they talk to.
struct World {
    /// Routes `m-api` (dpop), `m-scoped` (dpop, scope `orders:read`),
    /// `m-report` (dpop, report mode), `m-connect` / `m-timeout` /
    /// `m-protocol` (no auth; an upstream that refuses, is slow, answers
    /// 101); issuers: the fixture's (jwks_file), `as_up` and `as_down`
    /// (jwks_url). Its admin listener serves `/metrics`.
    gw: TestGateway,
    /// `nonce = "required"`, route `m-nonce`.
    nonce_gw: TestGateway,
    /// `replay.max_entries = 1`, route `m-full`.
    full_gw: TestGateway,
    /// Redis replay backend on a port where nothing listens, route `m-redis`.
    redis_gw: TestGateway,
    as_up: AuthServer,
    as_up_key: SigningKey,
    as_down: AuthServer,
    key: SigningKey,
    other: SigningKey,
    admin: TestClient,
    _upstreams: Vec<Upstream>,
}

fn jwks_source(as_: &AuthServer) -> String {
    format!(
        "jwks_url = \"{}\"\njwks_refresh_secs = 3600",
        as_.url(JWKS_PATH)
    )
}

fn server(extra: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n\n{TLS_TABLE}")
}

/// A gateway on `fx` with one table (`[dpop]` or `[replay]`), the fixture's
/// issuer and one DPoP route `route` on `/api` to `echo`.
async fn side_gateway(fx: Fixture, table: &str, route: &str, echo: &Upstream) -> TestGateway {
    let config = [
        server(""),
        format!("\n{table}\n"),
        fixture_issuer_table(),
        route_with(route, "/api", &echo.url(), "auth = \"dpop\""),
    ]
    .concat();
    TestGateway::builder(&config)
        .fixture(&fx)
        .clock(ClockMode::Manual(T0))
        .start()
        .await
}

impl World {
    async fn start() -> World {
        let echo = Upstream::start(Behaviour::Echo).await;
        let slow = Upstream::start(Behaviour::Delay(Duration::from_millis(1500))).await;
        let switching = Upstream::switching().await;
        let as_up = AuthServer::start().await;
        let as_up_key = SigningKey::generate(Alg::Es256).unwrap();
        as_up.publish(json!({ "keys": [mint::jwks(&as_up_key)["keys"][0]] }));
        let as_down = AuthServer::start().await;
        as_down.set_availability(Availability::Unavailable).await;

        let dpop = "auth = \"dpop\"";
        let config = [
            server("upstream_timeout_secs = 1"),
            "\n[admin]\nlisten = \"127.0.0.1:0\"\n".to_owned(),
            fixture_issuer_table(),
            issuer_table(&as_up.origin(), &as_up.ca_file(), &jwks_source(&as_up)),
            issuer_table(
                &as_down.origin(),
                &as_down.ca_file(),
                &jwks_source(&as_down),
            ),
            route_with("m-api", "/api", &echo.url(), dpop),
            route_with(
                "m-scoped",
                "/scoped",
                &echo.url(),
                "auth = \"dpop\"\nrequired_scopes = [\"orders:read\"]",
            ),
            route_with(
                "m-report",
                "/report",
                &echo.url(),
                "auth = \"dpop\"\nmode = \"report\"",
            ),
            route(
                "m-connect",
                "/connect",
                &format!("http://{}", unused_port()),
            ),
            route("m-timeout", "/timeout", &slow.url()),
            route("m-protocol", "/protocol", &switching.url()),
        ]
        .concat();
        let gw = TestGateway::builder(&config)
            .clock(ClockMode::Manual(T0))
            .start()
            .await;

        let fx = Fixture::default();
        fx.write("nonce-secret", NONCE_SECRET);
        let nonce_table = "[dpop]\nnonce = \"required\"\nnonce_secret_file = \"nonce-secret\"";
        let nonce_gw = side_gateway(fx, nonce_table, "m-nonce", &echo).await;
        let full_gw = side_gateway(
            Fixture::default(),
            "[replay]\nmax_entries = 1",
            "m-full",
            &echo,
        )
        .await;
        let redis = format!(
            "[replay]\nbackend = \"redis\"\nredis_url = \"redis://{}/0\"",
            unused_port()
        );
        let redis_gw = side_gateway(Fixture::default(), &redis, "m-redis", &echo).await;
        World {
            gw,
            nonce_gw,
            full_gw,
            redis_gw,
            as_up,
            as_up_key,
            as_down,
            key: SigningKey::generate(Alg::Es256).unwrap(),
            other: SigningKey::generate(Alg::Es256).unwrap(),
            admin: TestClient::plain(),
            _upstreams: vec![echo, slow, switching],
        }
    }

    async fn scrape(&self) -> Samples {
        let ans = self.admin.get(&self.gw.admin_url("/metrics")).await;
        assert_eq!(ans.status, 200);
        Samples::parse(&ans.text())
    }

    fn jkt(&self) -> String {
        self.key.jkt().to_string()
    }

    /// A token from the fixture's issuer bound to `key`.
    fn token(&self) -> String {
        self.gw.token(Some(&self.jkt()), None)
    }

    /// A valid proof builder by `key` for `GET path` on `gw`, bound to `token`.
    fn proof<'k>(&'k self, gw: &TestGateway, path: &str, token: &str) -> Proof<'k> {
        Proof::new(&self.key, "GET", &gw.htu(path), Some(token), gw.now())
    }

    /// `GET path` on `gw` with `token` and a proof built by `edit`.
    fn req(
        &self,
        gw: &TestGateway,
        path: &str,
        token: &str,
        edit: impl FnOnce(Proof<'_>) -> String,
    ) -> Req {
        Req::get(path).dpop(token, &edit(self.proof(gw, path, token)))
    }

    /// A valid request for `GET path` on `gw` with a fresh token.
    fn ok(&self, gw: &TestGateway, path: &str) -> Req {
        let token = gw.token(Some(&self.jkt()), None);
        self.req(gw, path, &token, |p| p.sign())
    }
}

/// The changes between two scrapes among series named `name`, keyed by
/// their labels as `a=x,b=y` (sorted).
fn changed(after: &Samples, before: &Samples, name: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{");
    after
        .changes(before)
        .into_iter()
        .filter_map(|(k, v)| {
            let labels = k.strip_prefix(&prefix)?.strip_suffix('}')?;
            Some((labels.replace('"', ""), v))
        })
        .collect()
}

fn one(labels: &str) -> BTreeMap<String, f64> {
    BTreeMap::from([(labels.to_owned(), 1.0)])
}

/// One rejection case: which gateway, the requests (all but the last are
/// set-up requests that must be accepted), the expected status of the last.
struct Case {
    reason: &'static str,
    route: &'static str,
    gw: &'static str,
    reqs: Vec<Req>,
    status: u16,
}

fn cases(w: &World) -> Vec<Case> {
    let gw = &w.gw;
    let now = gw.now();
    let token = w.token();
    let api = "/api/r";
    let p = |edit: &dyn Fn(Proof<'_>) -> String| w.req(gw, api, &token, edit);
    let with_token = |t: &str| w.req(gw, api, t, |p| p.sign());
    let jkt = w.jkt();
    let mut aud = token_claims(Some(&jkt), now);
    aud.insert("aud".into(), json!("https://elsewhere.test"));
    let replayed = p(&|p| p.sign());
    let ntoken = w.nonce_gw.token(Some(&jkt), None);
    let case = |reason, route, gw, reqs: Vec<Req>, status| Case {
        reason,
        route,
        gw,
        reqs,
        status,
    };
    vec![
        case("no_credentials", "m-api", "main", vec![Req::get(api)], 401),
        case(
            "bad_request",
            "m-api",
            "main",
            vec![Req::get(api)
                .h("Authorization", format!("DPoP {token}"))
                .h("Authorization", format!("DPoP {token}"))],
            400,
        ),
        case(
            "malformed_proof",
            "m-api",
            "main",
            vec![Req::get(api).dpop(&token, "not-a-jws")],
            401,
        ),
        case(
            "proof_typ",
            "m-api",
            "main",
            vec![p(&|p| p.header("typ", json!("jwt")).sign())],
            401,
        ),
        case(
            "proof_alg",
            "m-api",
            "main",
            vec![p(&|p| p.header("alg", json!("HS256")).sign())],
            401,
        ),
        case(
            "proof_jwk",
            "m-api",
            "main",
            vec![p(&|p| p.no_header("jwk").sign())],
            401,
        ),
        case(
            "htm_mismatch",
            "m-api",
            "main",
            vec![p(&|p| p.claim("htm", json!("POST")).sign())],
            401,
        ),
        case(
            "htu_mismatch",
            "m-api",
            "main",
            vec![p(&|p| p.claim("htu", json!(gw.htu("/api/other"))).sign())],
            401,
        ),
        case(
            "iat_stale",
            "m-api",
            "main",
            vec![p(&|p| p.claim("iat", json!(now - 600)).sign())],
            401,
        ),
        case(
            "iat_future",
            "m-api",
            "main",
            vec![p(&|p| p.claim("iat", json!(now + 600)).sign())],
            401,
        ),
        case(
            "ath_mismatch",
            "m-api",
            "main",
            vec![p(&|p| p.claim("ath", json!(ath("another token"))).sign())],
            401,
        ),
        case(
            "proof_signature",
            "m-api",
            "main",
            vec![p(&|p| p.sign_with(&w.other))],
            401,
        ),
        case(
            "replay",
            "m-api",
            "main",
            vec![replayed.clone(), replayed],
            401,
        ),
        case(
            "token_invalid",
            "m-api",
            "main",
            vec![with_token("not-a-jwt")],
            401,
        ),
        case(
            "token_expired",
            "m-api",
            "main",
            vec![with_token(&access_token(
                &gw.issuer,
                ISSUER,
                Some(&jkt),
                None,
                300,
                now - 1200,
            ))],
            401,
        ),
        case(
            "token_issuer",
            "m-api",
            "main",
            vec![with_token(&access_token(
                &gw.issuer,
                "https://unknown.test",
                Some(&jkt),
                None,
                300,
                now,
            ))],
            401,
        ),
        case(
            "token_audience",
            "m-api",
            "main",
            vec![with_token(&sign_token(
                &gw.issuer,
                &token_header(&gw.issuer),
                &aud,
            ))],
            401,
        ),
        case(
            "key_binding",
            "m-api",
            "main",
            vec![with_token(
                &gw.token(Some(&w.other.jkt().to_string()), None),
            )],
            401,
        ),
        case(
            "not_bound",
            "m-api",
            "main",
            vec![with_token(&gw.token(None, None))],
            401,
        ),
        case(
            "bearer_downgrade",
            "m-api",
            "main",
            vec![Req::get(api).h("Authorization", format!("Bearer {}", gw.token(None, None)))],
            401,
        ),
        case(
            "insufficient_scope",
            "m-scoped",
            "main",
            vec![w.req(gw, "/scoped/r", &token, |p| p.sign())],
            403,
        ),
        case(
            "introspection_unavailable",
            "m-api",
            "main",
            vec![with_token(&access_token(
                &w.as_up_key,
                &w.as_down.origin(),
                Some(&jkt),
                None,
                300,
                now,
            ))],
            503,
        ),
        case(
            "nonce_missing",
            "m-nonce",
            "nonce",
            vec![w.ok(&w.nonce_gw, api)],
            401,
        ),
        case(
            "nonce_invalid",
            "m-nonce",
            "nonce",
            vec![w.req(&w.nonce_gw, api, &ntoken, |p| {
                p.claim("nonce", json!("bogus")).sign()
            })],
            401,
        ),
        // With nonces, an `iat` outside the window is answered with a fresh
        // nonce, and still counted by its direction.
        case(
            "iat_stale",
            "m-nonce",
            "nonce",
            vec![w.req(&w.nonce_gw, api, &ntoken, |p| {
                p.claim("iat", json!(now - 600)).sign()
            })],
            401,
        ),
        case(
            "iat_future",
            "m-nonce",
            "nonce",
            vec![w.req(&w.nonce_gw, api, &ntoken, |p| {
                p.claim("iat", json!(now + 600)).sign()
            })],
            401,
        ),
        case(
            "replay_full",
            "m-full",
            "full",
            vec![w.ok(&w.full_gw, api), w.ok(&w.full_gw, api)],
            503,
        ),
        case(
            "replay_unavailable",
            "m-redis",
            "redis",
            vec![w.ok(&w.redis_gw, api)],
            503,
        ),
    ]
}

/// One request per reason: exactly that reason's counter of that route
/// moves, by one, and the request is counted under its final status. Every
/// reason of the spec's set is covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reason_counts_exactly_one_rejection() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    let cases = cases(&w);
    let mut covered: Vec<&str> = cases.iter().map(|c| c.reason).collect();
    covered.sort_unstable();
    covered.dedup();
    let spec: Vec<&str> = {
        let mut s: Vec<&str> = SPEC_REASONS.to_vec();
        s.sort_unstable();
        s
    };
    assert_eq!(covered, spec, "one case per reason of the spec");

    for case in &cases {
        let gw = match case.gw {
            "main" => &w.gw,
            "nonce" => &w.nonce_gw,
            "full" => &w.full_gw,
            _ => &w.redis_gw,
        };
        let before = w.scrape().await;
        let (last, setup) = case.reqs.split_last().unwrap();
        let mut statuses = BTreeMap::<String, f64>::new();
        for req in setup {
            let ans = send(gw, Via::H1, req).await.unwrap();
            assert_eq!(
                ans.status,
                200,
                "{}: set-up request: {}",
                case.reason,
                ans.text()
            );
            *statuses.entry("200".into()).or_default() += 1.0;
        }
        let ans = send(gw, Via::H1, last).await.unwrap();
        assert_eq!(ans.status, case.status, "{}: {}", case.reason, ans.text());
        *statuses.entry(case.status.to_string()).or_default() += 1.0;
        let after = w.scrape().await;

        assert_eq!(
            changed(&after, &before, REJECTIONS),
            one(&format!("reason={},route={}", case.reason, case.route)),
            "{}",
            case.reason
        );
        let expected: BTreeMap<String, f64> = statuses
            .into_iter()
            .map(|(s, n)| (format!("route={},status={s}", case.route), n))
            .collect();
        assert_eq!(
            changed(&after, &before, REQUESTS),
            expected,
            "{}",
            case.reason
        );
    }
}

/// The spec's `reason` set, as written there.
const SPEC_REASONS: [&str; 26] = [
    "no_credentials",
    "bad_request",
    "malformed_proof",
    "proof_typ",
    "proof_alg",
    "proof_jwk",
    "htm_mismatch",
    "htu_mismatch",
    "iat_stale",
    "iat_future",
    "ath_mismatch",
    "proof_signature",
    "replay",
    "nonce_missing",
    "nonce_invalid",
    "token_invalid",
    "token_expired",
    "token_issuer",
    "token_audience",
    "key_binding",
    "not_bound",
    "bearer_downgrade",
    "insufficient_scope",
    "replay_unavailable",
    "replay_full",
    "introspection_unavailable",
];

/// Every route exposes a zero series for every reason from the start, and
/// a report-mode route counts the failed verdict of a request it forwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_counts_failed_verdicts_and_reasons_start_at_zero() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    let before = w.scrape().await;
    for reason in SPEC_REASONS {
        for route in ["m-api", "m-report", "m-connect"] {
            assert!(
                before.has(REJECTIONS, &[("route", route), ("reason", reason)]),
                "{route} {reason}"
            );
        }
    }
    let ans = send(&w.gw, Via::H1, &Req::get("/report/r")).await.unwrap();
    assert_eq!(ans.status, 200, "report mode forwards");
    let ans = send(
        &w.gw,
        Via::H1,
        &w.req(&w.gw, "/report/r", &w.token(), |p| p.sign_with(&w.other)),
    )
    .await
    .unwrap();
    assert_eq!(ans.status, 200, "report mode forwards");
    let after = w.scrape().await;
    assert_eq!(
        changed(&after, &before, REJECTIONS),
        BTreeMap::from([
            ("reason=no_credentials,route=m-report".to_owned(), 1.0),
            ("reason=proof_signature,route=m-report".to_owned(), 1.0),
        ])
    );
    assert_eq!(
        changed(&after, &before, REQUESTS),
        one_n("route=m-report,status=200", 2.0)
    );
}

fn one_n(labels: &str, n: f64) -> BTreeMap<String, f64> {
    BTreeMap::from([(labels.to_owned(), n)])
}

/// `iat - now` lands in the bucket the spec's bounds say, whatever the
/// verdict (a proof refused for its `htm` counts too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_offset_histogram_buckets_known_iats() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    let now = w.gw.now();
    // (iat offset, accepted, the tightest bucket it is in, the next lower bound)
    for (offset, status, le, below) in [
        (-7, 200, "-5.0", "-10.0"),
        (3, 200, "5.0", "2.0"),
        (0, 200, "0.0", "-1.0"),
        (-40, 401, "-30.0", "-60.0"),
    ] {
        let before = w.scrape().await;
        let token = w.token();
        let req = w.req(&w.gw, "/api/r", &token, |p| {
            let p = p.claim("iat", json!(now + offset));
            if status == 401 {
                p.claim("htm", json!("PUT")).sign()
            } else {
                p.sign()
            }
        });
        let ans = send(&w.gw, Via::H1, &req).await.unwrap();
        assert_eq!(ans.status, status, "offset {offset}: {}", ans.text());
        let after = w.scrape().await;
        let d = |name: &str, labels: &[(&str, &str)]| {
            after.get(name, labels) - before.get(name, labels)
        };
        let bucket = format!("{CLOCK_OFFSET}_bucket");
        assert_eq!(d(&bucket, &[("le", le)]), 1.0, "offset {offset} in le={le}");
        assert_eq!(
            d(&bucket, &[("le", below)]),
            0.0,
            "offset {offset} not in le={below}"
        );
        assert_eq!(d(&bucket, &[("le", "+Inf")]), 1.0);
        assert_eq!(d(&format!("{CLOCK_OFFSET}_count"), &[]), 1.0);
        assert_eq!(d(&format!("{CLOCK_OFFSET}_sum"), &[]), offset as f64);
    }
    // The spec's bucket bounds, all of them.
    let s = w.scrape().await;
    for le in [
        "-300.0", "-120.0", "-60.0", "-30.0", "-10.0", "-5.0", "-2.0", "-1.0", "0.0", "1.0", "2.0",
        "5.0", "10.0", "30.0", "60.0", "120.0", "300.0", "+Inf",
    ] {
        assert!(
            s.has(&format!("{CLOCK_OFFSET}_bucket"), &[("le", le)]),
            "{le}"
        );
    }
}

/// Each upstream failure is counted under its kind (and its status), a
/// forwarded request observes the upstream latency, a token verified once
/// is a cache hit afterwards, and key fetches count per issuer and result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_token_cache_and_key_fetches() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    for (path, route, kind, status) in [
        ("/connect/x", "m-connect", "connect", 502),
        ("/timeout/x", "m-timeout", "timeout", 504),
        ("/protocol/x", "m-protocol", "protocol", 502),
    ] {
        let before = w.scrape().await;
        let ans = send(&w.gw, Via::H1, &Req::get(path)).await.unwrap();
        assert_eq!(ans.status, status, "{path}");
        let after = w.scrape().await;
        assert_eq!(
            changed(&after, &before, "dpop_gateway_upstream_errors_total"),
            one(&format!("kind={kind},route={route}"))
        );
        assert_eq!(
            changed(&after, &before, REQUESTS),
            one(&format!("route={route},status={status}"))
        );
    }

    // Token cache: a fresh token is a miss, then a hit.
    let before = w.scrape().await;
    let token = w.token();
    for _ in 0..2 {
        let req = w.req(&w.gw, "/api/r", &token, |p| p.sign());
        let ans = send(&w.gw, Via::H1, &req).await.unwrap();
        assert_eq!(ans.status, 200, "{}", ans.text());
    }
    let after = w.scrape().await;
    assert_eq!(
        changed(&after, &before, "dpop_gateway_token_cache_total"),
        BTreeMap::from([
            ("result=hit".to_owned(), 1.0),
            ("result=miss".to_owned(), 1.0)
        ])
    );
    assert_eq!(
        changed(
            &after,
            &before,
            "dpop_gateway_upstream_duration_seconds_count"
        ),
        one_n("route=m-api", 2.0)
    );
    assert_eq!(
        changed(
            &after,
            &before,
            "dpop_gateway_request_duration_seconds_count"
        ),
        one_n("route=m-api", 2.0)
    );

    // Key fetches: `as_up` loaded its key set once at start; a token
    // naming an unknown kid makes one more fetch, which fails while the
    // server answers 503.
    let up = w.as_up.origin();
    let fetches = |s: &Samples, result: &str| {
        s.get(
            "dpop_gateway_key_fetches_total",
            &[("issuer", up.as_str()), ("result", result)],
        )
    };
    let loaded = || async { fetches(&w.scrape().await, "ok") == 1.0 };
    assert!(eventually(Duration::from_secs(5), Duration::from_millis(20), loaded).await);
    let before = w.scrape().await;
    assert_eq!(w.as_up.served(JWKS_PATH), 1);
    assert_eq!(fetches(&before, "ok"), 1.0);
    assert_eq!(fetches(&before, "error"), 0.0);
    w.as_up.set_availability(Availability::Unavailable).await;
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    let token = access_token(&stranger, &up, Some(&w.jkt()), None, 300, w.gw.now());
    let ans = send(
        &w.gw,
        Via::H1,
        &w.req(&w.gw, "/api/r", &token, |p| p.sign()),
    )
    .await
    .unwrap();
    assert_eq!(ans.status, 401, "{}", ans.text());
    let after = w.scrape().await;
    assert_eq!(fetches(&after, "ok"), 1.0);
    assert_eq!(fetches(&after, "error"), 1.0);
    // The issuer that never answers keeps failing (retried every second).
    let down = w.as_down.origin();
    assert!(
        after.get(
            "dpop_gateway_key_fetches_total",
            &[("issuer", down.as_str()), ("result", "error")]
        ) >= 1.0
    );
    assert_eq!(
        after.get(
            "dpop_gateway_key_fetches_total",
            &[("issuer", down.as_str()), ("result", "ok")]
        ),
        0.0
    );
    // jwks_file issuers make no calls.
    assert!(!after
        .0
        .keys()
        .any(|k| k.starts_with("dpop_gateway_key_fetches_total") && k.contains("as.test")));
}

/// Nonces issued, open connections, TLS handshake failures, the replay
/// gauges and build_info.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_connections_handshakes_and_gauges() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    // First, before any request of this test: a client connection is
    // counted while it is open.
    let open = "dpop_gateway_connections_open";
    let base = w.scrape().await.get(open, &[]);
    let mut conn = tokio::net::TcpStream::connect(w.gw.addr).await.unwrap();
    assert!(
        eventually(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async { w.scrape().await.get(open, &[]) == base + 1.0 }
        )
        .await,
        "connections_open did not go up by one"
    );
    // Plain text on the TLS port: a failed handshake, then the connection ends.
    let failures = "dpop_gateway_tls_handshake_failures_total";
    let before = w.scrape().await.get(failures, &[]);
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
    drop(conn);
    assert!(
        eventually(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async {
                let s = w.scrape().await;
                s.get(failures, &[]) == before + 1.0 && s.get(open, &[]) == base
            }
        )
        .await,
        "one handshake failure, and the connection no longer counted"
    );

    let nonces = "dpop_gateway_nonces_issued_total";

    // Two use_dpop_nonce challenges: two nonces.
    let before = w.scrape().await;
    for _ in 0..2 {
        let ans = send(&w.nonce_gw, Via::H1, &w.ok(&w.nonce_gw, "/api/r"))
            .await
            .unwrap();
        assert_eq!(ans.status, 401);
        assert!(ans.header("dpop-nonce").is_some());
    }
    let after = w.scrape().await;
    assert_eq!(after.get(nonces, &[]) - before.get(nonces, &[]), 2.0);

    let s = w.scrape().await;
    assert!(s.has("dpop_gateway_replay_entries", &[]));
    assert!(s.has("dpop_gateway_replay_backend_up", &[]));
    assert_eq!(
        s.get(
            "dpop_gateway_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn promtool_checks_the_alert_rules() {
    let file = repo_file("deploy/prometheus/alerts.yaml");
    let out = std::process::Command::new(PROMTOOL)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{PROMTOOL} (scripts/test.sh installs it): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert!(alerts >= 5);
    assert!(
        stdout.contains(&format!("SUCCESS: {alerts} rules found")),
        "{stdout}"
    );
}

/// Every `expr` of every panel target (rows included) of the dashboard.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(panels: &Value, out: &mut Vec<String>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_owned());
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The Grafana JSON model: what Grafana needs to import it.
#[test]
fn dashboard_is_a_grafana_model() {
    let text = std::fs::read_to_string(repo_file("deploy/grafana/dpop-gateway.json")).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 30);
    assert!(d["title"].is_string() && d["uid"].is_string());
    let vars = d["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let panels = d["panels"].as_array().unwrap();
    let mut ids = std::collections::HashSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "{}: gridPos.{k}", p["title"]);
        }
        assert!(p["gridPos"]["x"].as_u64().unwrap() + p["gridPos"]["w"].as_u64().unwrap() <= 24);
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(!p["targets"].as_array().unwrap().is_empty());
        }
    }
    let heatmap = panels
        .iter()
        .find(|p| p["type"] == "heatmap")
        .expect("a heatmap panel");
    let target = &heatmap["targets"][0];
    assert_eq!(target["format"], "heatmap");
    assert!(target["expr"]
        .as_str()
        .unwrap()
        .contains(&format!("{CLOCK_OFFSET}_bucket")));
    assert!(dashboard_exprs(&d).len() >= 10);
}

/// An alert expression without its final threshold comparison: the series
/// the alert judges. All of them are written `<base> <op> <number>`.
fn alert_base(expr: &str) -> String {
    let (rest, threshold) = expr
        .trim()
        .rsplit_once(char::is_whitespace)
        .unwrap_or_else(|| panic!("{expr}: no threshold"));
    assert!(
        threshold.parse::<f64>().is_ok(),
        "{expr}: no threshold at the end"
    );
    let rest = rest.trim_end();
    for op in [">=", "<=", "==", "!=", ">", "<"] {
        if let Some(base) = rest.strip_suffix(op) {
            let base = base.trim_end();
            assert!(!base.is_empty(), "{expr}");
            return base.to_owned();
        }
    }
    panic!("{expr}: no comparison before the threshold")
}

#[test]
fn alert_base_strips_the_threshold() {
    assert_eq!(alert_base("max(up) == 0"), "max(up)");
    assert_eq!(
        alert_base("sum by (a) (rate(x[5m]))\n  / sum(rate(y[5m]))\n  > 0.05"),
        "sum by (a) (rate(x[5m]))\n  / sum(rate(y[5m]))"
    );
    assert_eq!(alert_base("x > 8000000"), "x");
    // As Prometheus prints it back.
    assert_eq!(
        alert_base("max by (instance) (x) > 8e+06"),
        "max by (instance) (x)"
    );
}

/// A real Prometheus scrapes the gateway every second and loads the alert
/// rules; after known traffic, every dashboard expression (with Grafana's
/// `$route` as "all routes" and `$__rate_interval` as 1m) and every alert
/// expression returns data. Alerts are judged on the series they compare
/// (the expression without its final threshold, see [`alert_base`]): the
/// whole expression returns data only while the alert fires, and a
/// misspelt metric or label returns nothing either way. The rules
/// themselves are read back from Prometheus, which parsed the file, and
/// each must have been evaluated without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alert_expressions_return_data_in_prometheus() {
    let _turn = SERIAL.lock().await;
    let w = World::start().await;
    let alerts_file = repo_file("deploy/prometheus/alerts.yaml");
    let prom = Prometheus::start(w.gw.admin.unwrap(), &[&alerts_file]).await;

    // The target is up and its exposition parsed.
    let up = || async { prom.value("up{job=\"dpop-gateway\"}").await == Some(1.0) };
    assert!(
        eventually(Duration::from_secs(15), Duration::from_millis(200), up).await,
        "target never up: {}",
        prom.api_get("/api/v1/targets").await
    );
    let targets = prom.api_get("/api/v1/targets").await;
    assert_eq!(targets["activeTargets"][0]["health"], "up", "{targets}");
    assert_eq!(targets["activeTargets"][0]["lastError"], "", "{targets}");

    // Known traffic: accepted requests, one rejection per kind of check,
    // an upstream error.
    for _ in 0..3 {
        let ans = send(&w.gw, Via::H1, &w.ok(&w.gw, "/api/r")).await.unwrap();
        assert_eq!(ans.status, 200);
    }
    for req in [Req::get("/api/r"), Req::get("/connect/x")] {
        send(&w.gw, Via::H1, &req).await.unwrap();
    }
    let scraped = || async {
        prom.value("dpop_gateway_requests_total{route=\"m-api\",status=\"200\"}")
            .await
            == Some(3.0)
    };
    assert!(
        eventually(Duration::from_secs(10), Duration::from_millis(200), scraped).await,
        "the traffic never showed in Prometheus"
    );
    // One more scrape, so every rate window holds the increase.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let rate = prom
        .value("sum(rate(dpop_gateway_requests_total{route=\"m-api\",status=\"200\"}[1m]))")
        .await
        .unwrap();
    assert!(rate > 0.0, "rate {rate}");

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/dpop-gateway.json")).unwrap(),
    )
    .unwrap();
    let exprs = dashboard_exprs(&dashboard);
    let mut empty = Vec::new();
    for expr in &exprs {
        let q = expr
            .replace("$__rate_interval", "1m")
            .replace("$route", ".*");
        assert!(!q.contains('$'), "unknown dashboard variable in {expr}");
        if prom.query(&q).await.as_array().is_none_or(Vec::is_empty) {
            empty.push(q);
        }
    }
    // The route variable's own query.
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(def) = var["definition"].as_str() {
            let metric = def
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .unwrap();
            if prom
                .query(metric)
                .await
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                empty.push(metric.to_owned());
            }
        }
    }

    // The rules as Prometheus loaded them, after an evaluation.
    let file_alerts = std::fs::read_to_string(&alerts_file)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let evaluated = || async {
        let groups = prom.api_get("/api/v1/rules").await;
        groups["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            })
    };
    assert!(
        eventually(
            Duration::from_secs(10),
            Duration::from_millis(200),
            evaluated
        )
        .await
    );
    let groups = prom.api_get("/api/v1/rules").await;
    let rules: Vec<Value> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap())
        .collect();
    assert_eq!(rules.len(), file_alerts, "{groups}");
    for rule in &rules {
        assert_eq!(rule["type"], "alerting");
        assert_eq!(rule["health"], "ok", "{rule}");
        let base = alert_base(rule["query"].as_str().unwrap());
        if prom.query(&base).await.as_array().is_none_or(Vec::is_empty) {
            empty.push(format!("{} (alert {})", base, rule["name"]));
        }
    }
    assert!(
        empty.is_empty(),
        "expressions without data:\n{}",
        empty.join("\n")
    );
    assert!(exprs.len() >= 10);
}
