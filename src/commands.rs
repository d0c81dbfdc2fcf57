//! `keygen`, `thumbprint`, `proof` and `token`: the tools an operator uses to
//! test a deployment with curl, and `completions`, the shell completion
//! scripts clap_complete writes from the CLI definition. Output goes to
//! stdout; errors to stderr with exit 1 (a key that cannot be read or used).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell, KeyAlg};
use crate::jose::{sign::thumbprint_of_key, SigningKey};
use crate::mint::{self, ProofSpec, TokenSpec};

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{what}: {e}");
    ExitCode::from(crate::app::EXIT_RUNTIME)
}

fn now() -> i64 {
    use crate::clock::{Clock, SystemClock};
    SystemClock.now_unix()
}

/// Writes `text` to `path`, readable by the owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

pub fn keygen(alg: KeyAlg, out: Option<&Path>, jwks: Option<&Path>) -> ExitCode {
    let key = match SigningKey::generate(alg.alg()) {
        Ok(k) => k,
        Err(e) => return fail("keygen", e),
    };
    let private = format!("{:#}\n", key.to_private_jwk());
    if let Some(path) = jwks {
        let doc = format!("{:#}\n", mint::jwks(&key));
        if let Err(e) = std::fs::write(path, doc) {
            return fail(&format!("cannot write {}", path.display()), e);
        }
    }
    match out {
        Some(path) => {
            if let Err(e) = write_private(path, &private) {
                return fail(&format!("cannot write {}", path.display()), e);
            }
            println!("{}", key.jkt());
        }
        None => {
            print!("{private}");
            eprintln!("jkt: {}", key.jkt());
        }
    }
    ExitCode::SUCCESS
}

pub fn thumbprint(key: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(key) {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}", key.display()), e),
    };
    match thumbprint_of_key(&text) {
        Ok(jkt) => {
            println!("{jkt}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("thumbprint", e),
    }
}

pub fn proof(
    key: &Path,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
    count: u32,
) -> ExitCode {
    let key = match SigningKey::load(key, None) {
        Ok(k) => k,
        Err(e) => return fail("proof", e),
    };
    let spec = ProofSpec {
        method,
        url,
        token,
        nonce,
        iat: now(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..count {
        let proof = match mint::proof(&key, &spec) {
            Ok(p) => p,
            Err(e) => return fail("proof", e),
        };
        if let Err(e) = writeln!(out, "{proof}") {
            return fail("proof", e);
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("proof", e),
    }
}

pub fn token(issuer_key: &Path, spec: &TokenSpec) -> ExitCode {
    let key = match SigningKey::load(issuer_key, None) {
        Ok(k) => k,
        Err(e) => return fail("token", e),
    };
    match mint::access_token(&key, spec, now()) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("token", e),
    }
}

/// `completions SHELL`: the completion script for `shell`, on stdout.
pub fn completions(shell: CompletionShell) -> ExitCode {
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "dpop-gateway", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("cannot write the completion script", e),
    }
}
