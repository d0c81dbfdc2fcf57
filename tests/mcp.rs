//! A real MCP server and client behind the gateway. The official MCP Python
//! SDK (`tests/mcp/`, pinned in `tests/mcp/requirements.txt`, installed by
//! `scripts/python-env.sh`) serves one tool, `add`, over streamable HTTP on
//! loopback; the gateway fronts it on `/mcp` with `auth = "dpop"`. The SDK's
//! client, with an auth hook that puts a fresh proof from `dpop-gateway
//! proof` on every request, initializes a session, lists the tools and calls
//! `add` through the gateway. The same client without DPoP gets the DPoP
//! challenge, and follows it to the protected resource metadata (RFC 9728)
//! with the SDK's own discovery code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::challenge;
use common::python::{run_python, PythonServer};
use common::wait::eventually;
use common::{bin_path, route_with, run_bin, ClockMode, TestGateway, DEFAULT_ALGS, IDENTITY};
use serde_json::{json, Value};

/// How long one run of the client may take (it starts the interpreter,
/// imports the SDK and runs `dpop-gateway proof` once per request).
const CLIENT_BOUND: Duration = Duration::from_secs(45);

/// The MCP server and the gateway in front of it.
struct Mcp {
    server: PythonServer,
    gw: TestGateway,
}

impl Mcp {
    async fn start() -> Mcp {
        let server = PythonServer::start("tests/mcp/server.py", &[]).await;
        let route = route_with(
            "mcp",
            "/mcp",
            &server.url(),
            &format!("auth = \"dpop\"\n{IDENTITY}"),
        );
        let gw = TestGateway::dpop(&route, ClockMode::System).await;
        Mcp { server, gw }
    }

    /// The MCP endpoint as clients know it.
    fn endpoint(&self) -> String {
        self.gw.https_url("/mcp")
    }

    /// Runs `tests/mcp/client.py` against the endpoint, trusting the
    /// gateway's CA, with `args`; panics unless it exits 0, and returns the
    /// JSON line it printed last.
    async fn client(&self, args: &[&str]) -> Value {
        let ca = self.gw.files.ca.display().to_string();
        let mut all: Vec<String> = vec!["--url".into(), self.endpoint(), "--ca".into(), ca];
        all.extend(args.iter().map(|a| a.to_string()));
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            run_python("tests/mcp/client.py", &args, CLIENT_BOUND)
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "client.py failed ({}); stdout:\n{}\nstderr:\n{}\nMCP server stderr:\n{}",
            out.status,
            out.stdout,
            out.stderr,
            self.server.stderr_text()
        );
        let line = out.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("client.py printed no JSON ({e}): {}", out.stdout))
    }

    /// Every HTTP request the MCP server received, as it logged them.
    fn received(&self) -> Vec<Value> {
        self.server
            .stdout_lines()
            .iter()
            .filter_map(|l| l.strip_prefix("REQUEST "))
            .map(|j| serde_json::from_str(j).unwrap())
            .collect()
    }
}

/// Runs the binary off the async workers.
async fn bin(args: Vec<String>) -> common::BinOutput {
    tokio::task::spawn_blocking(move || run_bin(&args, Duration::from_secs(30)))
        .await
        .unwrap()
}

fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request["headers"][name].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_initializes_lists_and_calls_a_tool_with_dpop() {
    let mcp = Mcp::start().await;
    let key = mcp.gw.dir.path().join("client.jwk");
    let out = bin(vec![
        "keygen".into(),
        "--out".into(),
        key.display().to_string(),
    ])
    .await;
    assert_eq!(out.code(), Some(0), "keygen: {}", out.stderr);
    let jkt = out.stdout.trim().to_owned();
    let token = mcp.gw.token(Some(&jkt), None);

    let result = mcp
        .client(&[
            "--gateway-bin",
            bin_path(),
            "--key",
            &key.display().to_string(),
            "--token",
            &token,
        ])
        .await;

    // The session worked end to end.
    assert_eq!(result["server"], "adder", "{result}");
    assert_eq!(result["tools"], json!(["add"]), "{result}");
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["text"], json!(["42"]), "{result}");

    // Every request the client made carried a proof for the endpoint and
    // was answered by the MCP server (2xx), some of them as an event stream.
    let sent = result["requests"].as_array().unwrap();
    let posts = sent.iter().filter(|r| r["method"] == "POST").count();
    // initialize, notifications/initialized, tools/list, tools/call
    assert!(posts >= 4, "{sent:?}");
    // Closing the session is a DELETE, with its own proof too.
    assert!(sent.iter().any(|r| r["method"] == "DELETE"), "{sent:?}");
    for r in sent {
        assert_eq!(r["htu"], mcp.endpoint().as_str(), "{r}");
        let status = r["status"].as_u64().unwrap();
        assert!((200..300).contains(&status), "{r}");
    }
    assert!(
        sent.iter().any(|r| r["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/event-stream")),
        "no SSE response came through: {sent:?}"
    );

    // The MCP server saw each of those POSTs, each through the gateway and
    // verified: forwarded over https, the proof removed, the identity the
    // gateway set from the token, Host rewritten to the upstream (which the
    // SDK's DNS-rebinding protection requires).
    let all_posts_arrived = eventually(Duration::from_secs(5), Duration::from_millis(20), || {
        let n = mcp
            .received()
            .iter()
            .filter(|r| r["method"] == "POST")
            .count();
        async move { n == posts }
    })
    .await;
    let received = mcp.received();
    assert!(all_posts_arrived, "sent {sent:?}, received {received:?}");
    let upstream_host = format!("127.0.0.1:{}", mcp.server.port);
    let gateway_host = mcp.gw.authority();
    for r in &received {
        assert_eq!(r["path"], "/mcp", "{r}");
        assert_eq!(header(r, "x-forwarded-proto"), Some("https"), "{r}");
        assert_eq!(
            header(r, "x-forwarded-host"),
            Some(gateway_host.as_str()),
            "{r}"
        );
        assert_eq!(header(r, "x-auth-jkt"), Some(jkt.as_str()), "{r}");
        assert_eq!(header(r, "x-auth-subject"), Some("alice"), "{r}");
        assert_eq!(header(r, "host"), Some(upstream_host.as_str()), "{r}");
        assert_eq!(header(r, "dpop"), None, "{r}");
    }
    // Mcp-Session-Id went both ways: the server's answer to initialize
    // reached the client, which sent it back on every later request.
    assert_eq!(header(&received[0], "mcp-session-id"), None, "{received:?}");
    let session = header(&received[1], "mcp-session-id").expect("no session id");
    for r in &received[1..] {
        assert_eq!(header(r, "mcp-session-id"), Some(session), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_without_dpop_gets_a_dpop_challenge() {
    let mcp = Mcp::start().await;
    let result = mcp.client(&["--no-dpop"]).await;

    assert_eq!(result["status"], 401, "{result}");
    let www = result["www_authenticate"].as_str().unwrap();
    assert!(www.starts_with("DPoP"), "{www}");
    let challenges = challenge::parse(www).unwrap();
    assert_eq!(challenges.len(), 1, "{www}");
    assert_eq!(challenges[0].scheme, "DPoP", "{www}");
    assert_eq!(challenges[0].param("error"), None, "{www}");
    assert_eq!(challenges[0].param("algs"), Some(DEFAULT_ALGS), "{www}");
    // Nothing reached the MCP server.
    assert_eq!(mcp.received(), Vec::<Value>::new());
}

/// The protected resource metadata of the `/mcp` route (RFC 9728 §2).
fn assert_metadata(doc: &Value, gw: &TestGateway) {
    assert_eq!(doc["resource"], gw.https_url("/mcp").as_str(), "{doc}");
    assert_eq!(
        doc["authorization_servers"],
        json!(["https://as.test"]),
        "{doc}"
    );
    assert_eq!(doc["dpop_bound_access_tokens_required"], true, "{doc}");
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]), "{doc}");
    let algs = doc["dpop_signing_alg_values_supported"].as_array();
    assert!(algs.is_some_and(|a| a.contains(&json!("ES256"))), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_discovers_the_metadata() {
    let mcp = Mcp::start().await;
    let metadata_url = mcp
        .gw
        .https_url("/.well-known/oauth-protected-resource/mcp");
    let result = mcp.client(&["--no-dpop"]).await;

    // The challenge names the metadata (RFC 9728 §5.1), and the SDK reads it.
    assert_eq!(result["status"], 401, "{result}");
    let www = result["www_authenticate"].as_str().unwrap();
    let challenges = challenge::parse(www).unwrap();
    assert_eq!(
        challenges[0].param("resource_metadata"),
        Some(metadata_url.as_str()),
        "{www}"
    );
    assert_eq!(
        result["resource_metadata"],
        metadata_url.as_str(),
        "{result}"
    );
    // The SDK fetched it first, got it and accepted it.
    assert_eq!(
        result["tried"][0],
        json!({ "url": metadata_url, "status": 200 }),
        "{result}"
    );
    assert_eq!(result["sdk_accepts_metadata"], true, "{result}");
    assert_metadata(&result["metadata"], &mcp.gw);

    // A plain GET without credentials gets the same document.
    let answer = mcp.gw.h1().get(&metadata_url).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        answer.headers
    );
    assert_metadata(&answer.json(), &mcp.gw);
    // Nothing reached the MCP server.
    assert_eq!(mcp.received(), Vec::<Value>::new());
}
