//! Reloading a running gateway (the binary): `watch_config` following a
//! Kubernetes ConfigMap / Secret volume update (an atomic `..data` symlink
//! swap) under continuous traffic, an invalid new config that is refused,
//! a certificate swap, the admin `POST /reload` (and that the public
//! listener has no such thing), SIGHUP, and `drain_timeout_secs` on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::configmap::ConfigMapVolume;
use common::wait::eventually;
use common::*;
use dpop_gateway::demo::pki::DemoPki;
use http::Request;

/// How long a change on disk may take to be served (a 1 s poll, a 250 ms
/// settle, the reload), with room for a loaded machine.
const PICKED_UP: Duration = Duration::from_secs(8);
const EVERY: Duration = Duration::from_millis(50);

/// `[server]` with `watch_config`, TLS from `tls` (a `[server.tls]` table),
/// an admin listener, then `routes`.
fn config(watch: bool, tls: &str, routes: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nwatch_config = {watch}\n{tls}\n[admin]\nlisten = \"127.0.0.1:0\"\n{routes}"
    )
}

/// Which upstream answered `GET path` (its `X-Upstream-Name`), or the
/// gateway's own status when it answered itself.
async fn served_by(client: &TestClient, url: &str) -> String {
    let ans = client.get(url).await;
    match ans.header(UPSTREAM_NAME_HEADER) {
        Some(name) if ans.status == 200 => name.to_owned(),
        _ => ans.status.as_u16().to_string(),
    }
}

/// Waits until `GET url` is served by `want`; panics after [`PICKED_UP`].
async fn wait_served_by(gw: &GatewayProcess, client: &TestClient, url: &str, want: &str) {
    let ok = eventually(PICKED_UP, EVERY, || async {
        served_by(client, url).await == want
    })
    .await;
    assert!(
        ok,
        "{url} was not served by {want} within {PICKED_UP:?}; stderr:\n{}",
        gw.stderr_text()
    );
}

/// The `config reloaded` / `invalid config` log lines so far: (message,
/// trigger).
fn reloads(gw: &GatewayProcess) -> Vec<(String, String)> {
    [
        "config reloaded",
        "invalid config; keeping the running config",
    ]
    .iter()
    .flat_map(|m| gw.logged(m))
    .map(|v| {
        (
            v["message"].as_str().unwrap_or_default().to_owned(),
            v["trigger"].as_str().unwrap_or_default().to_owned(),
        )
    })
    .collect()
}

/// Requests sent in a loop until stopped, some on one kept-alive HTTP/1.1
/// connection, some on one HTTP/2 connection, some on a new connection (a
/// new TLS handshake) each time; every answer that is not a 200 from
/// `want`, and every transport error, is a failure.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(gw: &GatewayProcess, path: &str, want: &str) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for kind in ["keep-alive h1", "h2", "new connection"] {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            let url = gw.https_url(path);
            let ca = gw.pki.ca_pem.clone();
            let want = want.to_owned();
            tasks.push(tokio::spawn(async move {
                let alpn = if kind == "h2" {
                    Alpn::Http2
                } else {
                    Alpn::Http1
                };
                let mut client = TestClient::https(&ca, TlsVersion::Any, alpn);
                while !stop.load(Ordering::SeqCst) {
                    if kind == "new connection" {
                        client = TestClient::https(&ca, TlsVersion::Any, alpn);
                    }
                    let req = Request::get(&url).body(empty()).unwrap();
                    let sent = tokio::time::timeout(Duration::from_secs(5), client.send(req)).await;
                    match sent {
                        Ok(Ok(ans))
                            if ans.status == 200
                                && ans.header(UPSTREAM_NAME_HEADER) == Some(want.as_str()) =>
                        {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Ok(ans)) => failures.lock().unwrap().push(format!(
                            "{kind}: {} {}",
                            ans.status,
                            ans.text()
                        )),
                        Ok(Err(e)) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{kind}: {}", error_chain(&*e))),
                        Err(_) => failures.lock().unwrap().push(format!("{kind}: timeout")),
                    }
                }
            }));
        }
        Traffic {
            stop,
            ok,
            failures,
            tasks,
        }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Stops the loop; returns (successes, failures).
    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failures)
    }
}

async fn wait_traffic(traffic: &Traffic, n: usize) {
    let ok = eventually(Duration::from_secs(10), EVERY, || async {
        traffic.ok() >= n
    })
    .await;
    assert!(ok, "the client loop did not get going");
}

/// A gateway whose config is `config.toml` in a ConfigMap-style volume
/// (`vol`), first published with `files`.
async fn start_in_volume(
    first: &str,
    files: impl FnOnce(&std::path::Path) -> Vec<(String, Vec<u8>)>,
) -> (GatewayProcess, ConfigMapVolume) {
    let mut volume = None;
    let gw = GatewayProcess::start_with(first, |dir, text| {
        let mut vol = ConfigMapVolume::new(&dir.join("config"));
        let mut all = files(dir);
        all.push(("config.toml".into(), text.as_bytes().to_vec()));
        let borrowed: Vec<(&str, &[u8])> = all
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_slice()))
            .collect();
        vol.publish(&borrowed);
        let path = vol.path("config.toml");
        volume = Some(vol);
        path
    })
    .await;
    (gw, volume.unwrap())
}

/// Upstreams `a` and `b`, and a gateway with `watch_config` whose config
/// (route `/a` to `a`) is `config.toml` in a ConfigMap-style volume.
struct Watched {
    a: Upstream,
    b: Upstream,
    before: String,
    gw: GatewayProcess,
    vol: ConfigMapVolume,
    client: TestClient,
}

impl Watched {
    async fn start() -> Watched {
        let a = Upstream::named("a", Behaviour::Echo).await;
        let b = Upstream::named("b", Behaviour::Echo).await;
        let before = config(true, TLS_TABLE, &route("a", "/a", &a.url()));
        let (gw, vol) = start_in_volume(&before, |_| Vec::new()).await;
        let client = gw.client(Alpn::Http1);
        Watched {
            a,
            b,
            before,
            gw,
            vol,
            client,
        }
    }

    /// `before` plus a route `/b` to `b`.
    fn with_b(&self) -> String {
        self.before.clone() + &route("b", "/b", &self.b.url())
    }

    /// Publishes `text` (placeholders filled) as the new `config.toml`.
    fn publish(&mut self, text: &str) {
        let filled = fill(text, &self.gw.files, self.gw.dir.path());
        self.vol.publish(&[("config.toml", filled.as_bytes())]);
    }

    async fn served_by(&self, path: &str) -> String {
        served_by(&self.client, &self.gw.https_url(path)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_swap_adds_a_route_with_no_failed_request_under_load() {
    let mut w = Watched::start().await;
    assert_eq!(w.served_by("/b/x").await, "404");

    let traffic = Traffic::start(&w.gw, "/a/loop", "a");
    wait_traffic(&traffic, 30).await;
    let swapped = Instant::now();
    w.publish(&w.with_b());
    wait_served_by(&w.gw, &w.client, &w.gw.https_url("/b/x"), "b").await;
    let took = swapped.elapsed();
    // Keep the loop going a little past the swap.
    let at_swap = traffic.ok();
    wait_traffic(&traffic, at_swap + 30).await;
    let (ok, failures) = traffic.finish().await;

    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert!(ok >= 60, "only {ok} requests");
    assert!(took < Duration::from_secs(5), "the new route took {took:?}");
    assert_eq!(w.served_by("/a/y").await, "a");
    assert_eq!(
        reloads(&w.gw),
        vec![("config reloaded".to_owned(), "file change".to_owned())],
        "one reload, by the watcher"
    );
    assert!(w.b.requests().iter().all(|r| r.path() == "/b/x"));
    assert!(w.a.requests().iter().all(|r| r.path().starts_with("/a/")));
    eprintln!("new route served {took:?} after the swap; {ok} requests, none failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_swapped_config_keeps_the_running_one_and_a_later_valid_one_is_taken() {
    let mut w = Watched::start().await;
    // Adds route b, but with a drain timeout out of range: all or nothing.
    let invalid = w.with_b().replace(
        "watch_config = true",
        "watch_config = true\ndrain_timeout_secs = 99999",
    );
    w.publish(&invalid);
    let gw = &w.gw;
    let refused = eventually(PICKED_UP, EVERY, || async { !reloads(gw).is_empty() }).await;
    assert!(
        refused,
        "no reload outcome logged; stderr:\n{}",
        gw.stderr_text()
    );
    let line = gw
        .logged("invalid config; keeping the running config")
        .pop()
        .unwrap_or_else(|| panic!("not refused: {:?}", reloads(gw)));
    assert_eq!(line["trigger"], "file change");
    assert_eq!(line["level"], "ERROR");
    let error = line["error"].as_str().unwrap();
    assert!(
        error.contains("server.drain_timeout_secs") && error.contains("config.toml"),
        "{error}"
    );
    assert_eq!(w.served_by("/a/x").await, "a");
    assert_eq!(w.served_by("/b/x").await, "404");
    // Not retried while nothing changes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reloads(&w.gw).len(), 1, "{:?}", reloads(&w.gw));
    assert_eq!(w.served_by("/b/x").await, "404");
    assert_eq!(w.b.count(), 0);

    w.publish(&w.with_b());
    wait_served_by(&w.gw, &w.client, &w.gw.https_url("/b/x"), "b").await;
    assert_eq!(w.served_by("/a/x").await, "a");
    assert_eq!(
        reloads(&w.gw),
        vec![
            ("config reloaded".to_owned(), "file change".to_owned()),
            (
                "invalid config; keeping the running config".to_owned(),
                "file change".to_owned()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_swap_in_a_secret_volume_is_served_on_new_connections() {
    let a = Upstream::named("a", Behaviour::Echo).await;
    // The config names its certificate and key relative to itself: the
    // visible names in the volume. Only those two files change.
    let tls = "[server.tls]\ncert = \"tls.crt\"\nkey = \"tls.key\"\n";
    let text = config(true, tls, &route("a", "/", &a.url()));
    let first = DemoPki::localhost().unwrap();
    let (gw, mut vol) = start_in_volume(&text, |_| {
        vec![
            ("tls.crt".into(), first.cert_pem.clone().into_bytes()),
            ("tls.key".into(), first.key_pem.clone().into_bytes()),
        ]
    })
    .await;
    // A new client each time: a new connection and handshake.
    let trusting = |pki: &DemoPki| TestClient::https(&pki.ca_pem, TlsVersion::Any, Alpn::Http1);
    let url = gw.https_url("/x");
    assert_eq!(served_by(&trusting(&first), &url).await, "a");

    let second = DemoPki::localhost().unwrap();
    let config_text = std::fs::read(vol.path("config.toml")).unwrap();
    vol.publish(&[
        ("config.toml", &config_text),
        ("tls.crt", second.cert_pem.as_bytes()),
        ("tls.key", second.key_pem.as_bytes()),
    ]);
    let switched = eventually(PICKED_UP, EVERY, || async {
        let req = Request::get(&url).body(empty()).unwrap();
        trusting(&second)
            .send(req)
            .await
            .is_ok_and(|a| a.status == 200)
    })
    .await;
    assert!(
        switched,
        "the new certificate was not served; stderr:\n{}",
        gw.stderr_text()
    );
    let req = Request::get(&url).body(empty()).unwrap();
    let old = trusting(&first).send(req).await;
    assert!(old.is_err(), "the old certificate is still served");
    assert_eq!(
        reloads(&gw),
        vec![("config reloaded".to_owned(), "file change".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_on_admin_reloads_and_the_public_listener_has_no_reload() {
    let a = Upstream::named("a", Behaviour::Echo).await;
    let b = Upstream::named("b", Behaviour::Echo).await;
    let before = config(false, TLS_TABLE, &route("all", "/", &a.url()));
    let mut gw = GatewayProcess::start(&before).await;
    let client = gw.client(Alpn::Http1);
    let admin = TestClient::plain();
    let write = |gw: &GatewayProcess, text: &str| {
        std::fs::write(&gw.config_path, fill(text, &gw.files, gw.dir.path())).unwrap();
    };
    let with_b = before.clone() + &route("b", "/b", &b.url());
    write(&gw, &with_b);

    // On the public listener, POST /reload is a request like any other: the
    // catch-all route forwards it, and nothing is reloaded.
    let req = Request::post(gw.https_url("/reload"))
        .body(empty())
        .unwrap();
    let ans = client.send(req).await.unwrap();
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(ans.header(UPSTREAM_NAME_HEADER), Some("a"));
    let rec = a.last();
    assert_eq!((rec.method.as_str(), rec.path()), ("POST", "/reload"));
    assert_eq!(served_by(&client, &gw.https_url("/b/x")).await, "a");
    assert!(reloads(&gw).is_empty(), "{:?}", reloads(&gw));

    // Only POST on the admin listener.
    let ans = admin.get(&gw.admin_url("/reload")).await;
    assert_eq!(ans.status, 405, "{}", ans.text());
    assert_eq!(ans.header("allow"), Some("POST"));
    assert_eq!(served_by(&client, &gw.https_url("/b/x")).await, "a");

    let post = |gw: &GatewayProcess| {
        let url = gw.admin_url("/reload");
        let admin = admin.clone();
        async move {
            admin
                .send(Request::post(url).body(empty()).unwrap())
                .await
                .unwrap()
        }
    };
    let ans = post(&gw).await;
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(ans.header("content-type"), Some("application/json"));
    assert_eq!(ans.json(), serde_json::json!({"reloaded": true}));
    // Live when the answer comes.
    assert_eq!(served_by(&client, &gw.https_url("/b/x")).await, "b");

    // An invalid config: 422 with the problems, and the running one stays.
    let invalid = with_b.clone() + &route("c", "/c", "ftp://127.0.0.1:1");
    write(&gw, &invalid);
    let ans = post(&gw).await;
    assert_eq!(ans.status, 422, "{}", ans.text());
    let v = ans.json();
    assert_eq!(v["error"], "invalid_config");
    let description = v["error_description"].as_str().unwrap();
    assert!(description.contains("routes[2].upstream"), "{description}");
    assert_eq!(served_by(&client, &gw.https_url("/b/x")).await, "b");
    assert_eq!(served_by(&client, &gw.https_url("/c/x")).await, "a");

    // SIGHUP takes the same path. A setting only a restart applies is
    // said to be so.
    write(
        &gw,
        &before.replace("watch_config = false", "drain_timeout_secs = 7"),
    );
    gw.sighup();
    wait_served_by(&gw, &client, &gw.https_url("/b/x"), "a").await;
    let restart = gw.logged("changed, but only a restart applies it");
    let keys: Vec<&str> = restart.iter().filter_map(|v| v["key"].as_str()).collect();
    assert_eq!(keys, ["server.drain_timeout_secs"]);
    assert_eq!(
        reloads(&gw),
        vec![
            ("config reloaded".to_owned(), "POST /reload".to_owned()),
            ("config reloaded".to_owned(), "SIGHUP".to_owned()),
            (
                "invalid config; keeping the running config".to_owned(),
                "POST /reload".to_owned()
            ),
        ]
    );
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_finish_within_the_drain_timeout_and_exits_at_it() {
    const DRAIN: Duration = Duration::from_secs(2);
    let quick = Upstream::named("quick", Behaviour::Delay(Duration::from_millis(800))).await;
    let slow = Upstream::named("slow", Behaviour::Delay(Duration::from_secs(20))).await;
    let routes = route("quick", "/quick", &quick.url()) + &route("slow", "/slow", &slow.url());
    let text = config(false, TLS_TABLE, &routes).replace(
        "watch_config = false",
        &format!("drain_timeout_secs = {}", DRAIN.as_secs()),
    );
    let mut gw = GatewayProcess::start(&text).await;
    let send = |path: &str| {
        let client = gw.client(Alpn::Http1);
        let url = gw.https_url(path);
        tokio::spawn(async move {
            let req = Request::get(url).body(empty()).unwrap();
            let ans = client.send(req).await;
            (ans.map_err(|e| error_chain(&*e)), Instant::now())
        })
    };
    let slow_req = send("/slow/x");
    assert!(slow.wait_arrived(1, Duration::from_secs(10)).await);
    let quick_req = send("/quick/x");
    assert!(quick.wait_arrived(1, Duration::from_secs(10)).await);

    let signalled = Instant::now();
    gw.sigterm();
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no exit; stderr:\n{}", gw.stderr_text()));
    let exited = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", gw.stderr_text());

    // Shorter than the drain timeout: answered in full.
    let (ans, at) = quick_req.await.unwrap();
    let ans = ans.unwrap();
    assert_eq!(ans.status, 200, "{}", ans.text());
    assert_eq!(ans.header(UPSTREAM_NAME_HEADER), Some("quick"));
    assert!(at > signalled);
    // Longer: cut when the drain timeout runs out, and the process exits then.
    let (ans, _) = slow_req.await.unwrap();
    assert!(
        ans.is_err(),
        "the slow request was answered: {:?}",
        ans.map(|a| a.status)
    );
    assert!(
        exited >= DRAIN && exited < DRAIN + Duration::from_millis(1500),
        "exit {exited:?} after SIGTERM with a {DRAIN:?} drain timeout"
    );
    let log = gw.stderr_text();
    assert!(log.contains("drain timeout reached"), "{log}");
    eprintln!("exited {exited:?} after SIGTERM (drain_timeout_secs = 2)");
}
