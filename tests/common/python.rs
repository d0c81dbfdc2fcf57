//! Python programs as children of the tests, run by the interpreter of the
//! virtual environment `scripts/python-env.sh` makes (`./scripts/test.sh`
//! runs it): [`PythonServer`], a server that prints `READY <port>` once it
//! listens, and [`run_python`], a script run to completion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process::{collect_lines, run_command, BinOutput};

/// The virtual environment's interpreter, relative to the repository.
pub const VENV_PYTHON: &str = "target/mcp-venv/bin/python";

/// How long a [`PythonServer`] may take to print its ready line (importing
/// the MCP SDK takes a few seconds on a busy machine).
pub const PYTHON_STARTUP_BOUND: Duration = Duration::from_secs(30);

/// `path` in the repository.
pub fn repo_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The virtual environment's interpreter; panics, saying how to make it,
/// when it is missing.
pub fn venv_python() -> PathBuf {
    let python = repo_path(VENV_PYTHON);
    assert!(
        python.is_file(),
        "{} is missing: run ./scripts/python-env.sh (./scripts/test.sh runs it) to create the \
         Python environment with the packages of tests/mcp/requirements.txt",
        python.display()
    );
    python
}

/// `python SCRIPT ARGS…`, the script named relative to the repository.
pub fn python_command(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo_path(script))
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs a script to completion; kills it and panics after `timeout`.
pub fn run_python(script: &str, args: &[&str], timeout: Duration) -> BinOutput {
    run_command(python_command(script, args), timeout)
}

/// A Python server on loopback that prints `READY <port>` once it listens;
/// its stdout and stderr lines are kept. Killed (SIGKILL) on drop.
pub struct PythonServer {
    child: Child,
    pub port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PythonServer {
    /// Starts `script` and waits (at most [`PYTHON_STARTUP_BOUND`]) for its
    /// ready line; panics, with what it printed, when it exits or is late.
    pub async fn start(script: &str, args: &[&str]) -> PythonServer {
        let mut child = python_command(script, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdout = collect_lines(child.stdout.take().unwrap());
        let stderr = collect_lines(child.stderr.take().unwrap());
        let mut server = PythonServer {
            child,
            port: 0,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + PYTHON_STARTUP_BOUND;
        loop {
            let ready = server
                .stdout_lines()
                .iter()
                .find_map(|l| l.strip_prefix("READY ")?.trim().parse().ok());
            if let Some(port) = ready {
                server.port = port;
                return server;
            }
            let exited = server.child.try_wait().unwrap();
            if exited.is_some() || Instant::now() >= deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!(
                    "{script} did not print READY within {PYTHON_STARTUP_BOUND:?} (exit {exited:?}); \
                     stdout:\n{}\nstderr:\n{}",
                    server.stdout_lines().join("\n"),
                    server.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}
