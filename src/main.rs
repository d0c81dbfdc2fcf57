//! The `dpop-gateway` binary: parse the CLI, start logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use dpop_gateway::cli::{Cli, Command};
use dpop_gateway::mint::TokenSpec;
use dpop_gateway::{app, commands, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    telemetry::init(
        cli.log_format,
        cli.log_level.as_deref().unwrap_or(default_level),
    );
    match cli.command {
        Command::Check { config } => app::check(&config),
        Command::Run { config } => app::run(&config),
        Command::Demo { serve } => app::demo(serve),
        Command::Keygen { alg, out, jwks } => {
            commands::keygen(alg, out.as_deref(), jwks.as_deref())
        }
        Command::Thumbprint { key } => commands::thumbprint(&key),
        Command::Completions { shell } => commands::completions(shell),
        Command::Proof {
            key,
            method,
            url,
            token,
            nonce,
            count,
        } => commands::proof(
            &key,
            &method,
            &url,
            token.as_deref(),
            nonce.as_deref(),
            count,
        ),
        Command::Token {
            issuer_key,
            iss,
            aud,
            jkt,
            sub,
            client_id,
            scope,
            ttl,
        } => commands::token(
            &issuer_key,
            &TokenSpec {
                iss,
                aud,
                jkt: Some(jkt),
                sub,
                client_id,
                scope,
                ttl_secs: ttl,
            },
        ),
    }
}
