//! Writes the manual pages of `dpop-gateway` into a folder: `dpop-gateway.1`
//! and one page per command (`dpop-gateway-run.1`, ...), rendered by
//! clap_mangen from the CLI definition itself, so they say what `--help`
//! says. scripts/package.sh runs it for the Debian package:
//!
//!     cargo run --example man -- target/package/man

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use dpop_gateway::cli::Cli;

/// Writes every page into `out_dir`, creating it when missing.
pub fn write_pages(out_dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    clap_mangen::generate_to(Cli::command(), out_dir)
}

fn main() -> ExitCode {
    let Some(out_dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: man OUT_DIR");
        return ExitCode::from(2);
    };
    match write_pages(&out_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write manual pages to {}: {e}", out_dir.display());
            ExitCode::from(1)
        }
    }
}
