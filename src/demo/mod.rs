//! `dpop-gateway demo`: the embedded default. In one process and on loopback
//! ephemeral ports it starts a throwaway CA and server certificate, an echo
//! upstream and the gateway (over real TLS), then plays a scripted client and
//! prints one line per case. It returns `false` if any case did not get its
//! expected outcome. With `--serve` it keeps running and prints what to try.

pub mod client;
pub mod echo;
pub mod pki;

use std::net::SocketAddr;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::config::Config;
use crate::proxy::BoxError;
use crate::server::Gateway;
use client::{Answer, DemoClient};

/// One scripted request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    expect_status: u16,
    expect_error: Option<&'static str>,
}

/// Runs the demo; `Ok(true)` when every case got its expected outcome.
pub async fn run(serve: bool) -> Result<bool, BoxError> {
    let dir = tempfile::Builder::new()
        .prefix("dpop-gateway-demo-")
        .tempdir()?;
    let pki = pki::DemoPki::localhost()?;
    let files = pki.write(dir.path())?;
    let echo = echo::spawn().await?;
    let dead = unused_port()?;
    let text = config_text(echo, dead);
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, &text)?;
    let config = Config::load(&config_path)?;
    let gateway = Gateway::bind(&config).await?;
    let addr = gateway
        .local_addr()
        .ok_or("the gateway has no local address")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gateway.serve(async {
        let _ = stop_rx.await;
    }));

    let base = format!("https://localhost:{}", addr.port());
    println!(
        "dpop-gateway demo: gateway {base} (TLS, demo CA {}), echo upstream http://{echo}",
        files.ca.display()
    );
    let client = DemoClient::new(&pki.ca_pem)?;
    let mut all_ok = true;
    for case in cases() {
        let req = Request::builder()
            .method(case.method)
            .uri(format!("{base}{}", case.path))
            .body(Full::new(Bytes::new()))?;
        let line = match client.send(req).await {
            Ok(answer) => {
                let ok = outcome_ok(&case, &answer);
                all_ok &= ok;
                format!(
                    "{}  {:<28} {} {:<22} -> {} {}",
                    if ok { "PASS" } else { "FAIL" },
                    case.name,
                    case.method,
                    case.path,
                    answer.status,
                    describe(&answer)
                )
            }
            Err(e) => {
                all_ok = false;
                format!(
                    "FAIL  {:<28} {} {} -> error: {e}",
                    case.name, case.method, case.path
                )
            }
        };
        println!("{line}");
    }
    println!(
        "{}",
        if all_ok {
            "all cases got their expected outcome"
        } else {
            "SOME CASES FAILED"
        }
    );

    if serve {
        println!();
        println!("serving until Ctrl-C; try:");
        println!("  curl --cacert {} {base}/api/hello", files.ca.display());
        println!("  config: {}", config_path.display());
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop_tx.send(());
    let _ = served.await;
    Ok(all_ok)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "proxied request",
            method: "GET",
            path: "/api/hello?x=1".into(),
            expect_status: 200,
            expect_error: None,
        },
        Case {
            name: "no matching route",
            method: "GET",
            path: "/nowhere".into(),
            expect_status: 404,
            expect_error: Some("not_found"),
        },
        Case {
            name: "dead upstream",
            method: "GET",
            path: "/down/status".into(),
            expect_status: 502,
            expect_error: Some("bad_gateway"),
        },
    ]
}

fn outcome_ok(case: &Case, answer: &Answer) -> bool {
    if answer.status != case.expect_status {
        return false;
    }
    match case.expect_error {
        Some(code) => json_field(&answer.body, "error").as_deref() == Some(code),
        None => true,
    }
}

/// What the gateway said: its error and reason, or what the upstream saw.
fn describe(answer: &Answer) -> String {
    if let Some(err) = json_field(&answer.body, "error") {
        let why = json_field(&answer.body, "error_description").unwrap_or_default();
        return format!("{err}: {why}");
    }
    match serde_json::from_slice::<serde_json::Value>(&answer.body) {
        Ok(v) => format!(
            "(upstream saw {} {}{})",
            v["method"].as_str().unwrap_or("?"),
            v["path"].as_str().unwrap_or("?"),
            v["query"]
                .as_str()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ),
        Err(_) => String::new(),
    }
}

fn json_field(body: &[u8], field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get(field)?.as_str().map(str::to_owned)
}

/// A loopback port with nothing listening (bound, then released).
fn unused_port() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

fn config_text(echo: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"# Written by `dpop-gateway demo`; throwaway.
[server]
listen = "127.0.0.1:0"
upstream_timeout_secs = 5

[server.tls]
cert = "server.crt"
key = "server.key"

[[routes]]
name = "echo"
path_prefix = "/api"
upstream = "http://{echo}"
auth = "none"

[[routes]]
name = "down"
path_prefix = "/down"
upstream = "http://{dead}"
auth = "none"
"#
    )
}
