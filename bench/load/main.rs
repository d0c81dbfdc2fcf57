//! The load generator of `bench/run.sh`: one client for every contender
//! (nginx, the gateway's `auth = "none"` and `auth = "dpop"` routes, Apache +
//! mod_oauth2), so the comparison differs only in the server.
//!
//! - `setup DIR`: a throwaway CA and server certificate (rcgen), an issuer
//!   key (private JWK, JWKS, and the bare public JWK for mod_oauth2), a
//!   client key and a DPoP-bound access token.
//! - `run`: keep-alive HTTP/1.1 or HTTP/2 over TLS 1.3 against one URL, at a
//!   set concurrency (closed loop) or a set request rate (open loop, latency
//!   from each request's scheduled start when a stall of the server delayed
//!   it, so a stall is not hidden; else from its send, so the client's own
//!   timer, which wakes up to a millisecond late, is not counted). With
//!   `--dpop`, N unique proofs are signed before the timed window (a proof
//!   is single-use). CPU of the server's processes is read from /proc before
//!   and after the window. Appends one JSON line to `--out`.
//! - `floor`: the bare ring ES256 verification, CPU µs per call on one core.
//! - `report`: medians over the runs, the budgets, results.md/.json and the
//!   SVG chart.
//!
//! Built by `cargo bench --bench load --no-run`; never part of `cargo test`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cpu;
mod drive;
mod report;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use dpop_gateway::demo::pki::DemoPki;
use dpop_gateway::jose::{Alg, SigningKey};
use dpop_gateway::mint::{self, TokenSpec};

#[derive(Parser)]
#[command(about = "Load generator and report for bench/run.sh")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the TLS material, keys and the access token into DIR.
    Setup { dir: PathBuf },
    /// One timed load run against one URL.
    Run(Box<drive::RunArgs>),
    /// CPU µs of one bare ring ES256 verification.
    Floor {
        #[arg(long, default_value_t = 2.0)]
        secs: f64,
        /// JSON lines file to append to.
        #[arg(long)]
        out: PathBuf,
    },
    /// Medians, budgets, markdown, JSON and SVG from the JSON lines of the runs.
    Report {
        /// JSON lines written by `run` and `floor`.
        input: PathBuf,
        /// Directory for results.md, results.json, chart.svg.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() {
    // `cargo bench` appends `--bench`; it means nothing here.
    let args = std::env::args().filter(|a| a != "--bench");
    let cli = Cli::parse_from(args);
    match cli.command {
        Some(Command::Setup { dir }) => setup(&dir),
        Some(Command::Run(args)) => drive::run(*args),
        Some(Command::Floor { secs, out }) => drive::floor(secs, &out),
        Some(Command::Report { input, out }) => report::write(&input, &out),
        // A plain `cargo bench` runs every bench target: nothing to do here.
        None => eprintln!("load: the load generator of bench/run.sh (see --help)"),
    }
}

pub const ISSUER: &str = "https://as.bench";
pub const AUDIENCE: &str = "https://api.bench";

fn setup(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    DemoPki::localhost().unwrap().write(dir).unwrap();
    let issuer = SigningKey::generate(Alg::Es256).unwrap();
    let client = SigningKey::generate(Alg::Es256).unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    write("as.jwks.json", mint::jwks(&issuer).to_string());
    let mut public = issuer.public_jwk();
    public["kid"] = serde_json::Value::String(issuer.key_id());
    write("as.public.jwk", public.to_string());
    write("client.jwk", client.to_private_jwk().to_string());
    let spec = TokenSpec {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jkt: Some(client.jkt().to_string()),
        sub: "bench".into(),
        client_id: "bench".into(),
        scope: None,
        ttl_secs: 3 * 3600,
    };
    let token = mint::access_token(&issuer, &spec, drive::unix_now()).unwrap();
    write("token", token);
}
