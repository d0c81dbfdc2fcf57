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
    /// Load and validate a config (and the files it names); print `ok`, or every
    /// problem with its key path (e.g. `routes[0].auth`) and line, and exit 2.
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
    /// Generate a private key as a JWK and print its RFC 7638 thumbprint (jkt).
    Keygen {
        /// Signing algorithm of the key.
        #[arg(long, value_enum, default_value_t = KeyAlg::Es256)]
        alg: KeyAlg,
        /// Write the private JWK here (mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the public key as a JWKS document (for an issuer's jwks_file).
        #[arg(long)]
        jwks: Option<PathBuf>,
    },
    /// Print the jkt (RFC 7638 thumbprint) of a JWK or PEM key, private or public.
    Thumbprint {
        /// JWK (JSON, private or public) or PEM key file: a private key (PKCS#8, SEC1,
        /// PKCS#1) or a public one (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY").
        #[arg(long)]
        key: PathBuf,
    },
    /// Print a fresh DPoP proof JWT for one request, for use with curl.
    Proof {
        /// The client's private key: JWK or PEM.
        #[arg(long)]
        key: PathBuf,
        /// HTTP method, exactly as the request will send it (e.g. GET).
        #[arg(long)]
        method: String,
        /// The URL the client calls (query and fragment are ignored).
        #[arg(long)]
        url: String,
        /// The access token, to bind the proof to it (ath).
        #[arg(long, allow_hyphen_values = true)]
        token: Option<String>,
        /// A server-provided nonce.
        #[arg(long, allow_hyphen_values = true)]
        nonce: Option<String>,
        /// Print this many proofs, one per line, each with its own jti (for load tests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        count: u32,
    },
    /// Mint a TEST JWT access token (RFC 9068 shape, cnf.jkt set). For test
    /// environments only: real tokens come from your authorization server.
    ///
    /// The token header's kid is the issuer key's own kid when its JWK has one,
    /// so the token verifies against that issuer's JWKS; a key without one
    /// (e.g. PEM) is named by its RFC 7638 thumbprint, as `keygen --jwks`
    /// publishes it.
    Token {
        /// The issuer's private key: JWK or PEM. The header's kid is the JWK's
        /// kid, else the key's RFC 7638 thumbprint (publish its JWKS with `keygen --jwks`).
        #[arg(long)]
        issuer_key: PathBuf,
        /// The iss claim; must equal an [[issuers]] issuer.
        #[arg(long)]
        iss: String,
        /// The aud claim.
        #[arg(long)]
        aud: String,
        /// cnf.jkt: the thumbprint of the client's DPoP key.
        #[arg(long, allow_hyphen_values = true)]
        jkt: String,
        /// The sub claim.
        #[arg(long, default_value = "test-user")]
        sub: String,
        /// The client_id claim.
        #[arg(long, default_value = "test-client")]
        client_id: String,
        /// Space-separated scopes.
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 300)]
        ttl: i64,
    },
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    ///
    /// bash: `dpop-gateway completions bash > /etc/bash_completion.d/dpop-gateway`;
    /// zsh: into a directory of $fpath as `_dpop-gateway`; fish: into
    /// ~/.config/fish/completions/dpop-gateway.fish. The Debian package installs all three.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// The shells `completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// Algorithms `keygen` can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "ES384")]
    Es384,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "PS256")]
    Ps256,
    #[value(name = "RS256")]
    Rs256,
}

impl KeyAlg {
    pub fn alg(self) -> crate::jose::Alg {
        use crate::jose::Alg;
        match self {
            KeyAlg::Es256 => Alg::Es256,
            KeyAlg::Es384 => Alg::Es384,
            KeyAlg::EdDsa => Alg::EdDsa,
            KeyAlg::Ps256 => Alg::Ps256,
            KeyAlg::Rs256 => Alg::Rs256,
        }
    }
}
