//! The `dpop-gateway` binary as a child process: [`run_bin`] runs a command
//! to completion ([`run_command`] any other program); [`GatewayProcess`]
//! runs the gateway itself (its own RSS, real signals, exit codes, its JSON
//! log); [`collect_lines`] keeps what a child prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpop_gateway::demo::pki::{DemoPki, PkiFiles};

use super::client::{tls_client_config, Alpn, TestClient, TlsVersion};
use super::config::{fill, write_pki};

/// Path of the `dpop-gateway` binary under test.
pub fn bin_path() -> &'static str {
    env!("CARGO_BIN_EXE_dpop-gateway")
}

/// A command for the binary with a clean environment for its own variables.
pub fn bin_command() -> Command {
    let mut cmd = Command::new(bin_path());
    cmd.env_remove("DPOP_GATEWAY_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Output of a finished run of the binary.
#[derive(Debug)]
pub struct BinOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl BinOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the binary to completion; kills it and panics after `timeout`.
pub fn run_bin<I, S>(args: I, timeout: Duration) -> BinOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = bin_command();
    cmd.args(args);
    run_command(cmd, timeout)
}

/// Runs `cmd` to completion with its output captured; kills it and panics
/// after `timeout`.
pub fn run_command(mut cmd: Command, timeout: Duration) -> BinOutput {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let out = read_all_in_thread(child.stdout.take());
    let err = read_all_in_thread(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?} (killed); stdout:\n{}\nstderr:\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    BinOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn read_all_in_thread<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

/// The lines a child prints on `r` (its stdout or stderr), collected by a
/// thread as they come.
pub fn collect_lines<R: Read + Send + 'static>(r: R) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// `getconf CLK_TCK`: the unit of the CPU times in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf (libc-bin)");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK is not a number")
    })
}

/// `dpop-gateway --log-format json run --config FILE` as a child process.
/// Killed (SIGKILL) on drop if still running.
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub pki: DemoPki,
    pub files: PkiFiles,
    pub config_path: PathBuf,
    pub dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long the child may take to log that it listens.
pub const STARTUP_BOUND: Duration = Duration::from_secs(20);

impl GatewayProcess {
    /// Writes a fresh PKI and the filled `config` (see [`fill`]) into a
    /// temporary directory, starts the binary and waits for its
    /// `dpop-gateway listening` log line to learn the bound addresses.
    pub async fn start(config: &str) -> GatewayProcess {
        Self::start_with(config, |dir, text| {
            let path = dir.join("gateway.toml");
            std::fs::write(&path, text).unwrap();
            path
        })
        .await
    }

    /// As [`GatewayProcess::start`], with the config laid out by `layout`:
    /// it gets the temporary directory (holding the PKI) and the filled
    /// config text, writes what it likes and returns the path to run.
    pub async fn start_with(
        config: &str,
        layout: impl FnOnce(&Path, &str) -> PathBuf,
    ) -> GatewayProcess {
        let dir = tempfile::tempdir().unwrap();
        let (pki, files) = write_pki(dir.path());
        let config_path = layout(dir.path(), &fill(config, &files, dir.path()));
        let mut child = bin_command()
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot spawn the binary");
        let lines = collect_lines(child.stderr.take().expect("piped stderr"));
        let mut proc = GatewayProcess {
            child,
            // Replaced below by the address the child logs.
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin: None,
            pki,
            files,
            config_path,
            dir,
            lines,
            exit: None,
        };
        let line = proc
            .wait_for_log("\"message\":\"dpop-gateway listening\"", STARTUP_BOUND)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "the gateway did not log that it listens; exit {:?}; stderr:\n{}",
                    proc.exit,
                    proc.stderr_text()
                )
            });
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        proc.addr = v["listen"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {line}"));
        proc.admin = v["admin"].as_str().and_then(|s| s.parse().ok());
        proc
    }

    /// The JSON lines of the access log (target `access`) so far.
    pub fn access_lines(&self) -> Vec<serde_json::Value> {
        self.stderr_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "access")
            .collect()
    }

    /// Polls until there are at least `n` access-log lines or `timeout`
    /// passed; returns the lines there are.
    pub async fn wait_access_lines(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let lines = self.access_lines();
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr_lines().join("\n")
    }

    /// Waits for a stderr line containing `needle` and returns it; `None`
    /// on timeout or when the process exits first (all of its stderr is
    /// searched after the exit).
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.poll_exit().is_some();
            if exited {
                // Let the reader thread drain what is left in the pipe.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(line.clone());
            }
            if exited || Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// A `VmXxx` field of `/proc/PID/status`, in KiB.
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("cannot read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// CPU time the process used so far, user and system, all threads
    /// (`utime` + `stime` of `/proc/PID/stat`, in clock ticks of
    /// `getconf CLK_TCK`).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("cannot read /proc/PID/stat");
        // Fields after the parenthesised command name, from field 3 (state).
        let after = &stat[stat.rfind(')').expect("no comm in /proc/PID/stat") + 1..];
        let fields: Vec<u64> = after
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // utime and stime are fields 14 and 15.
        let ticks = fields[10] + fields[11];
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
    }

    /// Resident set size now, KiB.
    pub fn vm_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS")
    }

    /// Peak resident set size so far, KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM")
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    pub fn sighup(&self) {
        self.signal("HUP");
    }

    /// `kill -NAME PID`.
    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// The JSON log lines whose `message` is `message`.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.stderr_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message || v["message"] == message)
            .collect()
    }

    /// Waits for the process to exit; `None` on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.poll_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.authority())
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.expect("no [admin] listener"))
    }

    /// Polls `/readyz` until it is 200; false after `bound`.
    pub async fn wait_ready(&self, bound: Duration) -> bool {
        let admin = TestClient::plain();
        let url = self.admin_url("/readyz");
        let deadline = Instant::now() + bound;
        loop {
            if admin.get(&url).await.status.as_u16() == 200 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn client(&self, alpn: Alpn) -> TestClient {
        TestClient::https(&self.pki.ca_pem, TlsVersion::Any, alpn)
    }

    pub fn tls_config(&self, version: TlsVersion, alpn: Alpn) -> rustls::ClientConfig {
        tls_client_config(&self.pki.ca_pem, version, alpn)
    }
}
