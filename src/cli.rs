//! The command line (clap derive). Global flags are accepted before or after
//! the subcommand. Exit codes: 0 success, 1 runtime failure, 2 bad usage or
//! invalid config.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "dpop-gateway",
    version,
    about = "A TLS-terminating reverse proxy that enforces OAuth 2.0 DPoP (RFC 9449) in front of unmodified HTTP APIs",
    propagate_version = true
)]
pub struct Cli {
    /// Log format; default: text on a terminal, json otherwise.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// RUST_LOG-style filter, e.g. "info" or "info,access=warn" [default: info; warn for demo].
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Run {
        /// The TOML config file.
        #[arg(long, env = "DPOP_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Load and validate a config (and the files it names); print `ok` or every problem.
    Check {
        /// The TOML config file.
        #[arg(long, env = "DPOP_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Start a throwaway CA, an echo upstream and the gateway on loopback, and play
    /// a scripted client against it.
    Demo {
        /// Keep running after the script and print a ready-to-paste curl command.
        #[arg(long)]
        serve: bool,
    },
}
