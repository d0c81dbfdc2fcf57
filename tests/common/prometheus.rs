//! A real Prometheus for the integration tests, and the gateway's own
//! exposition read sample by sample.
//!
//! [`Prometheus`] runs Debian's `prometheus` (scripts/test.sh installs it)
//! as a child process on an ephemeral loopback port, with its config and
//! TSDB in a temporary folder, scraping one target every second and loading
//! rule files evaluated every second; it is killed on drop. Queries go
//! through its HTTP API. [`Samples`] parses `/metrics` text so that tests
//! can compare exact values before and after some traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::Request;
use serde_json::Value;

use super::body::full;
use super::client::TestClient;
use super::form::form_encode;
use super::upstream::unused_port;
use super::wait::eventually;

/// The binaries; CI installs them (scripts/test.sh).
pub const PROMETHEUS: &str = "prometheus";
pub const PROMTOOL: &str = "promtool";

/// How long Prometheus may take to become ready.
pub const START_BOUND: Duration = Duration::from_secs(20);

/// A `prometheus` child process scraping one target.
pub struct Prometheus {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Child,
    client: TestClient,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `http://target/metrics` every second with
    /// `rule_files` evaluated every second, and waits until it is ready.
    pub async fn start(target: SocketAddr, rule_files: &[&Path]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - \"{}\"\n", p.canonicalize().unwrap().display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\
             scrape_configs:\n  - job_name: dpop-gateway\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.concat()
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        // The port is released before Prometheus binds it: retry on a race.
        let client = TestClient::plain();
        for _ in 0..5 {
            let addr = unused_port();
            let mut child = Command::new(PROMETHEUS)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{PROMETHEUS} (scripts/test.sh installs it): {e}"));
            let url = format!("http://{addr}/-/ready");
            let ready = eventually(START_BOUND, Duration::from_millis(100), || async {
                client
                    .send(Request::get(url.as_str()).body(full(Vec::new())).unwrap())
                    .await
                    .is_ok_and(|a| a.status == 200)
            })
            .await;
            if ready {
                return Prometheus {
                    addr,
                    dir,
                    child,
                    client,
                };
            }
            let exited = child.try_wait().unwrap().is_some();
            let _ = child.kill();
            let _ = child.wait();
            assert!(exited, "prometheus did not become ready in {START_BOUND:?}");
        }
        panic!("prometheus did not start on any of 5 ports")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET an API path; the `data` of a `success` answer.
    pub async fn api_get(&self, path: &str) -> Value {
        let answer = self.client.get(&self.url(path)).await;
        let body = answer.json();
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// An instant query (`/api/v1/query`, POSTed as a form); the result
    /// vector (or scalar) of a `success` answer.
    pub async fn query(&self, promql: &str) -> Value {
        let req = Request::post(self.url("/api/v1/query"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(full(format!("query={}", form_encode(promql)).into_bytes()))
            .unwrap();
        let answer = self.client.send(req).await.unwrap();
        let body = answer.json();
        assert_eq!(body["status"], "success", "query {promql}: {body}");
        body["data"]["result"].clone()
    }

    /// The value of the first sample of a vector result.
    pub async fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).await;
        result[0]["value"][1].as_str().and_then(|v| v.parse().ok())
    }
}

/// A sample's identity: the metric name and its labels, sorted.
pub type Series = (String, BTreeMap<String, String>);

/// The samples of one `/metrics` exposition.
#[derive(Debug, Clone)]
pub struct Samples(pub BTreeMap<String, f64>);

impl Samples {
    /// Parses the text format (OpenMetrics as prometheus-client writes it):
    /// every line is `# …`, or `name{a="x",b="y"} value`; panics on anything
    /// else, on a duplicate series, and when `# EOF` is not the last line.
    pub fn parse(text: &str) -> Samples {
        let mut out = BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "exposition ends with # EOF");
        for line in lines {
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line:?}"));
            let (name, labels) = parse_series(series);
            let key = key(&name, &labels);
            assert!(out.insert(key, value).is_none(), "duplicate: {line:?}");
        }
        Samples(out)
    }

    /// The value of `name` with exactly `labels` (0 when absent).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.get(&key(name, &labels)).copied().unwrap_or(0.0)
    }

    /// Whether a series of `name` with exactly `labels` is exposed.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.contains_key(&key(name, &labels))
    }

    /// Every series whose value changed from `before` (or appeared), with
    /// the change.
    pub fn changes(&self, before: &Samples) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let old = before.0.get(k).copied().unwrap_or(0.0);
                (*v != old).then(|| (k.clone(), v - old))
            })
            .collect()
    }
}

/// The map key of a series: `name{a="x",b="y"}` with the labels sorted.
pub fn key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn parse_series(series: &str) -> (String, BTreeMap<String, String>) {
    let Some((name, rest)) = series.split_once('{') else {
        return (series.to_owned(), BTreeMap::new());
    };
    let body = rest
        .strip_suffix('}')
        .unwrap_or_else(|| panic!("unterminated labels: {series:?}"));
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (label, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {series:?}"));
        let end = after
            .find('"')
            .unwrap_or_else(|| panic!("unterminated label value in {series:?}"));
        labels.insert(label.to_owned(), after[..end].to_owned());
        rest = after[end + 1..].trim_start_matches(',');
    }
    (name.to_owned(), labels)
}
