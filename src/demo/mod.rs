//! `dpop-gateway demo`: the embedded default. In one process and on loopback
//! ephemeral ports it starts a throwaway CA and server certificate, a demo
//! issuer key, an echo upstream and the gateway (over real TLS), then plays a
//! scripted client and prints one line per case: what was sent, the status,
//! and the reason the gateway gave. It returns `false` if any case did not
//! get its expected outcome. With `--serve` it keeps running and prints a
//! ready-to-paste `curl` command.

pub mod client;
pub mod echo;
pub mod pki;

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::jose::{Alg, SigningKey};
use crate::mint::{self, ProofSpec, TokenSpec};
use crate::proxy::BoxError;
use crate::server::Gateway;
use client::{Answer, DemoClient};

const ISSUER: &str = "https://issuer.demo.invalid";
const AUDIENCE: &str = "https://api.demo.invalid";

/// One scripted request and what it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// `Authorization` and `DPoP` values, if any.
    authorization: Option<String>,
    proof: Option<String>,
    expect_status: u16,
    expect_error: Option<&'static str>,
}

/// The demo's keys and tokens.
struct Material {
    issuer: SigningKey,
    client: SigningKey,
    token: String,
    other_key_token: String,
}

impl Material {
    fn new(dir: &Path) -> Result<Material, BoxError> {
        let issuer = SigningKey::generate(Alg::Es256)?;
        let client = SigningKey::generate(Alg::Es256)?;
        let other = SigningKey::generate(Alg::EdDsa)?;
        std::fs::write(
            dir.join("issuer.jwks.json"),
            mint::jwks(&issuer).to_string(),
        )?;
        std::fs::write(dir.join("issuer.jwk"), issuer.to_private_jwk().to_string())?;
        std::fs::write(dir.join("client.jwk"), client.to_private_jwk().to_string())?;
        let now = SystemClock.now_unix();
        let spec = |jkt: String| TokenSpec {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jkt: Some(jkt),
            sub: "demo-user".into(),
            client_id: "demo-client".into(),
            scope: Some("orders:read".into()),
            ttl_secs: 3600,
        };
        let token = mint::access_token(&issuer, &spec(client.jkt().to_string()), now)?;
        let other_key_token = mint::access_token(&issuer, &spec(other.jkt().to_string()), now)?;
        Ok(Material {
            issuer,
            client,
            token,
            other_key_token,
        })
    }

    fn proof(&self, method: &str, url: &str, token: &str) -> Result<String, BoxError> {
        let spec = ProofSpec {
            method,
            url,
            token: Some(token),
            nonce: None,
            iat: SystemClock.now_unix(),
        };
        Ok(mint::proof(&self.client, &spec)?)
    }
}

/// Runs the demo; `Ok(true)` when every case got its expected outcome.
pub async fn run(serve: bool) -> Result<bool, BoxError> {
    let dir = tempfile::Builder::new()
        .prefix("dpop-gateway-demo-")
        .tempdir()?;
    let pki = pki::DemoPki::localhost()?;
    let files = pki.write(dir.path())?;
    let material = Material::new(dir.path())?;
    let echo = echo::spawn().await?;
    let dead = unused_port()?;
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, config_text(echo, dead))?;
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
    println!("dpop-gateway demo");
    println!(
        "  gateway   {base} (TLS; throwaway CA {})",
        files.ca.display()
    );
    println!("  upstream  http://{echo} (echoes what it receives)");
    println!("  issuer    {ISSUER} (key {})", material.issuer.jkt());
    println!("  client    DPoP key {} (ES256)", material.client.jkt());
    println!();
    let client = DemoClient::new(&pki.ca_pem)?;
    let mut all_ok = true;
    for case in cases(&material, &base)? {
        let mut req = Request::builder()
            .method(case.method)
            .uri(format!("{base}{}", case.path));
        if let Some(a) = &case.authorization {
            req = req.header("authorization", a);
        }
        if let Some(p) = &case.proof {
            req = req.header("dpop", p);
        }
        let req = req.body(Full::new(Bytes::new()))?;
        let sent = match (&case.authorization, &case.proof) {
            (Some(a), Some(_)) => format!("{} + proof", scheme_of(a)),
            (Some(a), None) => scheme_of(a).to_string(),
            _ => "no credentials".to_string(),
        };
        let line = match client.send(req).await {
            Ok(answer) => {
                let ok = outcome_ok(&case, &answer);
                all_ok &= ok;
                format!(
                    "{}  {:<30} {:<5} {:<18} {:<16} -> {} {}",
                    if ok { "PASS" } else { "FAIL" },
                    case.name,
                    case.method,
                    case.path,
                    sent,
                    answer.status,
                    describe(&answer)
                )
            }
            Err(e) => {
                all_ok = false;
                format!(
                    "FAIL  {:<30} {} {} -> error: {e}",
                    case.name, case.method, case.path
                )
            }
        };
        println!("{line}");
    }
    println!();
    println!(
        "{}",
        if all_ok {
            "all cases got their expected outcome"
        } else {
            "SOME CASES DID NOT GET THEIR EXPECTED OUTCOME"
        }
    );

    if serve {
        print_try_it(dir.path(), &files.ca, &base, &material.token);
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop_tx.send(());
    let _ = served.await;
    Ok(all_ok)
}

fn cases(m: &Material, base: &str) -> Result<Vec<Case>, BoxError> {
    let orders = format!("{base}/api/orders");
    let dpop = |t: &str| Some(format!("DPoP {t}"));
    let valid_proof = m.proof("GET", &orders, &m.token)?;
    Ok(vec![
        Case {
            name: "valid DPoP request",
            method: "GET",
            path: "/api/orders",
            authorization: dpop(&m.token),
            proof: Some(valid_proof.clone()),
            expect_status: 200,
            expect_error: None,
        },
        Case {
            name: "same proof again (replay)",
            method: "GET",
            path: "/api/orders",
            authorization: dpop(&m.token),
            proof: Some(valid_proof),
            expect_status: 401,
            expect_error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "wrong method (htm)",
            method: "POST",
            path: "/api/orders",
            authorization: dpop(&m.token),
            proof: Some(m.proof("GET", &orders, &m.token)?),
            expect_status: 401,
            expect_error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "wrong URL (htu)",
            method: "GET",
            path: "/api/orders",
            authorization: dpop(&m.token),
            proof: Some(m.proof("GET", &format!("{base}/api/invoices"), &m.token)?),
            expect_status: 401,
            expect_error: Some("invalid_dpop_proof"),
        },
        Case {
            name: "token bound to another key",
            method: "GET",
            path: "/api/orders",
            authorization: dpop(&m.other_key_token),
            proof: Some(m.proof("GET", &orders, &m.other_key_token)?),
            expect_status: 401,
            expect_error: Some("invalid_token"),
        },
        Case {
            name: "bound token sent as Bearer",
            method: "GET",
            path: "/mixed/orders",
            authorization: Some(format!("Bearer {}", m.token)),
            proof: None,
            expect_status: 401,
            expect_error: Some("invalid_token"),
        },
        Case {
            name: "no credentials",
            method: "GET",
            path: "/api/orders",
            authorization: None,
            proof: None,
            expect_status: 401,
            expect_error: Some("invalid_request"),
        },
        Case {
            name: "no matching route",
            method: "GET",
            path: "/nowhere",
            authorization: None,
            proof: None,
            expect_status: 404,
            expect_error: Some("not_found"),
        },
        Case {
            name: "dead upstream",
            method: "GET",
            path: "/down/status",
            authorization: None,
            proof: None,
            expect_status: 502,
            expect_error: Some("bad_gateway"),
        },
    ])
}

fn scheme_of(authorization: &str) -> &str {
    authorization.split(' ').next().unwrap_or("")
}

fn print_try_it(dir: &Path, ca: &Path, base: &str, token: &str) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "dpop-gateway".into());
    let url = format!("{base}/api/orders");
    println!();
    println!(
        "serving until Ctrl-C. Try it (token valid for one hour, one fresh proof per request):"
    );
    println!();
    println!("  TOKEN={token}");
    println!(
        "  curl --cacert {ca} -H \"Authorization: DPoP $TOKEN\" -H \"DPoP: $({exe} proof --key {key} --method GET --url {url} --token $TOKEN)\" {url}",
        ca = ca.display(),
        key = dir.join("client.jwk").display(),
    );
    println!();
    println!("  config: {}", dir.join("gateway.toml").display());
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
            "(upstream saw {} {}, X-Auth-Subject: {}, X-Auth-Jkt: {})",
            v["method"].as_str().unwrap_or("?"),
            v["path"].as_str().unwrap_or("?"),
            v["headers"]["x-auth-subject"].as_str().unwrap_or("-"),
            v["headers"]["x-auth-jkt"].as_str().unwrap_or("-"),
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

[[issuers]]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_file = "issuer.jwks.json"

[[routes]]
name = "api"
path_prefix = "/api"
upstream = "http://{echo}"
auth = "dpop"
required_scopes = ["orders:read"]
[routes.identity_headers]
sub = "X-Auth-Subject"
jkt = "X-Auth-Jkt"

[[routes]]
name = "mixed"
path_prefix = "/mixed"
upstream = "http://{echo}"
auth = "dpop_or_bearer"

[[routes]]
name = "down"
path_prefix = "/down"
upstream = "http://{dead}"
auth = "none"
"#
    )
}
