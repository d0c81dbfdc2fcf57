//! The `dpop-gateway` binary: parse the CLI, start logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use dpop_gateway::cli::{Cli, Command};
use dpop_gateway::{app, telemetry};

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
    }
}
