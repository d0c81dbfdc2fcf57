//! A real `redis-server` for the integration tests.
//!
//! [`RedisServer`] runs `redis-server` as a child process on an ephemeral
//! loopback port, with its working directory in a temporary folder, no
//! persistence and no daemonizing. It can be killed (SIGKILL, like a crash)
//! and restarted on the same port, and it is always killed on drop.
//! [`command`] speaks RESP over a plain `TcpStream`, so the tests can inspect
//! keys without any client library in between.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::upstream::unused_port;

/// The binary; CI installs it (scripts/test.sh).
pub const REDIS_SERVER: &str = "redis-server";

/// How long `redis-server` may take to answer `PING` after it is spawned.
pub const START_BOUND: Duration = Duration::from_secs(10);

/// Connect and I/O timeout of one [`command`].
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// A simple or bulk string as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Resp::Simple(s) => Some(s.clone()),
            Resp::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Resp::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// Sends one command to `127.0.0.1:port` on a fresh connection and reads its reply.
pub fn command(port: u16, args: &[&str]) -> std::io::Result<Resp> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, COMMAND_TIMEOUT)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    (&stream).write_all(&encode(args))?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader)
}

/// Sends several commands on one connection (e.g. `SELECT` then `SCAN`)
/// and returns every reply.
pub fn commands(port: u16, cmds: &[&[&str]]) -> std::io::Result<Vec<Resp>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, COMMAND_TIMEOUT)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut replies = Vec::with_capacity(cmds.len());
    for args in cmds {
        (&stream).write_all(&encode(args))?;
        replies.push(read_reply(&mut reader)?);
    }
    Ok(replies)
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bad(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    line.strip_suffix("\r\n")
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("unterminated RESP line {line:?}")))
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let num = || {
        rest.parse::<i64>()
            .map_err(|_| bad(format!("bad RESP number {line:?}")))
    };
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(num()?),
        "$" => match num()? {
            n if n < 0 => Resp::Bulk(None),
            n => {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
        },
        "*" => match num()? {
            n if n < 0 => Resp::Array(None),
            n => {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(read_reply(r)?);
                }
                Resp::Array(Some(items))
            }
        },
        _ => return Err(bad(format!("unknown RESP reply {line:?}"))),
    })
}

/// Whether a Redis on `127.0.0.1:port` answers `PING`: `PONG`, or
/// `NOAUTH` from one that requires a password.
pub fn pings(port: u16) -> bool {
    match command(port, &["PING"]) {
        Ok(Resp::Simple(s)) => s == "PONG",
        Ok(Resp::Error(e)) => e.starts_with("NOAUTH"),
        _ => false,
    }
}

/// A `redis-server` child process on a fixed loopback port.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra `redis-server` arguments (kept for restarts).
    args: Vec<String>,
    /// `--requirepass`: [`RedisServer::cmd`] authenticates with it.
    password: Option<String>,
    /// `--tls-port`, beside the plain port the tests inspect through.
    tls_port: Option<u16>,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped (SIGSTOP) process.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl RedisServer {
    /// Starts a server on a fresh ephemeral port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        Self::start_with(None)
    }

    /// Starts a server that requires `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> RedisServer {
        Self::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> RedisServer {
        Self::start_configured(|server| {
            if let Some(password) = password {
                server.args = vec!["--requirepass".into(), password.into()];
                server.password = Some(password.into());
            }
        })
    }

    /// A server that also speaks TLS on a second port ([`RedisServer::tls_url`])
    /// with `cert`/`key`; clients need no certificate of their own. The plain
    /// port stays for the tests' own inspection.
    /// With `password`, it also requires `AUTH`.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path, password: Option<&str>) -> RedisServer {
        Self::start_configured(|server| {
            let tls_port = unused_port().port();
            server.tls_port = Some(tls_port);
            server.args = tls_args(tls_port, cert, key, ca);
            if let Some(password) = password {
                server
                    .args
                    .extend(["--requirepass".into(), password.into()]);
                server.password = Some(password.into());
            }
        })
    }

    /// Starts a server prepared by `prepare` (arguments, password) on a
    /// fresh port, retrying on another port when the first was taken.
    pub fn start_configured(prepare: impl Fn(&mut RedisServer)) -> RedisServer {
        // Another process may grab the released port before redis binds it:
        // then redis exits at once, and we try another port.
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = Self::reserve();
            prepare(&mut server);
            match server.try_start() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not start: {last}")
    }

    /// Picks a port and a directory but starts nothing (for "Redis is down
    /// at start"); [`RedisServer::restart`] starts it later on that port.
    pub fn reserve() -> RedisServer {
        RedisServer {
            port: unused_port().port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            args: Vec::new(),
            password: None,
            tls_port: None,
        }
    }

    /// `rediss://127.0.0.1:TLS_PORT/0` of a server from [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("not started with TLS");
        format!("rediss://127.0.0.1:{port}/0")
    }

    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// SIGKILL (a crash: no shutdown, no save) and reap; then waits
    /// (bounded) until the port refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + START_BOUND;
        while pings(self.port) {
            assert!(
                Instant::now() < deadline,
                "port {} still answers after SIGKILL",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP: the process stays, its socket accepts connections, nothing
    /// answers (a hung or partitioned Redis). [`RedisServer::resume`] undoes it.
    pub fn pause(&mut self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`RedisServer::pause`].
    pub fn resume(&mut self) {
        self.signal("-CONT");
    }

    fn signal(&mut self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .expect("redis-server is not running");
        let ok = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {pid} failed");
    }

    /// Starts the server again on the same port (it must not be running);
    /// panics if it does not answer `PING` within [`START_BOUND`].
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "redis-server is already running");
        // The port was ours a moment ago; a short retry covers a slow release.
        let mut last = String::new();
        for _ in 0..3 {
            match self.try_start() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("redis-server did not restart on port {}: {last}", self.port)
    }

    fn try_start(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(REDIS_SERVER)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--daemonize")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn {REDIS_SERVER} (is it installed?): {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_BOUND;
        loop {
            if pings(self.port) {
                return Ok(());
            }
            if !self.is_running() {
                if let Some(mut child) = self.child.take() {
                    let _ = child.wait();
                }
                return Err(format!(
                    "redis-server exited on port {}; log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(format!(
                    "no PONG on port {} within {START_BOUND:?}; log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One command (after `AUTH` when the server requires a password);
    /// panics on a transport error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("redis {args:?} on port {}: {e}", self.port))
    }

    /// As [`RedisServer::cmd`], with transport errors returned.
    pub fn try_cmd(&self, args: &[&str]) -> std::io::Result<Resp> {
        let mut replies = match &self.password {
            Some(pw) => commands(self.port, &[&["AUTH", pw], args])?,
            None => commands(self.port, &[args])?,
        };
        replies.pop().ok_or_else(|| bad("no reply".to_string()))
    }

    /// Every key matching `pattern` (`SCAN` until the cursor returns to 0).
    pub fn scan(&self, pattern: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        for _ in 0..100_000 {
            let reply = self.cmd(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]);
            let Resp::Array(Some(parts)) = reply else {
                panic!("unexpected SCAN reply {reply:?}")
            };
            cursor = parts[0].text().expect("SCAN cursor");
            let Resp::Array(Some(batch)) = &parts[1] else {
                panic!("unexpected SCAN batch {:?}", parts[1])
            };
            keys.extend(batch.iter().filter_map(Resp::text));
            if cursor == "0" {
                keys.sort();
                keys.dedup();
                return keys;
            }
        }
        panic!("SCAN did not finish")
    }

    /// `PTTL key`: milliseconds left, -1 without expiry, -2 when absent.
    pub fn pttl(&self, key: &str) -> i64 {
        let reply = self.cmd(&["PTTL", key]);
        reply
            .int()
            .unwrap_or_else(|| panic!("unexpected PTTL reply {reply:?}"))
    }

    /// `GET key` as text (`None` when absent).
    pub fn get(&self, key: &str) -> Option<String> {
        self.cmd(&["GET", key]).text()
    }
}

/// `redis-server` arguments for TLS on `tls_port` with a server certificate,
/// and no client certificates required.
pub fn tls_args(tls_port: u16, cert: &Path, key: &Path, ca: &Path) -> Vec<String> {
    vec![
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        cert.display().to_string(),
        "--tls-key-file".into(),
        key.display().to_string(),
        "--tls-ca-cert-file".into(),
        ca.display().to_string(),
        "--tls-auth-clients".into(),
        "no".into(),
    ]
}

/// How long a new cluster may take to agree that every slot is served.
pub const CLUSTER_BOUND: Duration = Duration::from_secs(30);

/// A Redis Cluster of real `redis-server` nodes on loopback, each a
/// primary (no replicas), joined with `redis-cli --cluster create`. Every
/// node keeps its keys in an append-only file fsynced on every write, so a
/// node killed and restarted comes back with its keys and its slots.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// `n` primaries; `extra` arguments go to every node. With
    /// `cluster-require-full-coverage no`, the slots of live nodes stay
    /// served while another is down, so a test can tell them apart.
    pub fn start(n: usize) -> RedisCluster {
        Self::start_with(n, None, None)
    }

    /// As [`RedisCluster::start`], with clients, the cluster bus and
    /// `redis-cli` on TLS (`tls-cluster yes`) with `(cert, key, ca)`, and
    /// `password` required of clients and between nodes, as managed
    /// clusters run; each node keeps its plain port for the tests' own
    /// inspection.
    pub fn start_tls(n: usize, cert: &Path, key: &Path, ca: &Path, password: &str) -> RedisCluster {
        Self::start_with(n, Some((cert, key, ca)), Some(password))
    }

    fn start_with(
        n: usize,
        tls: Option<(&Path, &Path, &Path)>,
        password: Option<&str>,
    ) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..n)
            .map(|_| {
                RedisServer::start_configured(|server| {
                    if let Some((cert, key, ca)) = tls {
                        let tls_port = unused_port().port();
                        server.tls_port = Some(tls_port);
                        server.args = tls_args(tls_port, cert, key, ca);
                        server.args.extend(
                            ["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from),
                        );
                    }
                    if let Some(password) = password {
                        server.password = Some(password.into());
                        server.args.extend(
                            ["--requirepass", password, "--masterauth", password].map(String::from),
                        );
                    }
                    server.args.extend(
                        [
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            "nodes.conf",
                            "--cluster-node-timeout",
                            "2000",
                            "--cluster-require-full-coverage",
                            "no",
                            "--appendonly",
                            "yes",
                            "--appendfsync",
                            "always",
                            "--cluster-port",
                        ]
                        .iter()
                        .map(|a| a.to_string())
                        .chain([unused_port().port().to_string()]),
                    );
                })
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.tls_port.unwrap_or(n.port())))
            .collect();
        let mut cli = Command::new("redis-cli");
        if let Some((_, _, ca)) = tls {
            cli.arg("--tls").arg("--cacert").arg(ca);
        }
        if let Some(password) = password {
            cli.args(["-a", password, "--no-auth-warning"]);
        }
        let out = cli
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run redis-cli (package redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(CLUSTER_BOUND);
        cluster
    }

    /// `redis://127.0.0.1:PORT` of node `i` (`rediss://` and its TLS port
    /// for a TLS cluster): a seed.
    pub fn seed(&self, i: usize) -> String {
        match self.nodes[i].tls_port {
            Some(port) => format!("rediss://127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{}", self.nodes[i].port()),
        }
    }

    /// Waits (bounded) until every running node says `cluster_state:ok`
    /// and knows every slot.
    pub fn wait_ok(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        loop {
            let ok = self.nodes.iter().all(|n| {
                matches!(n.try_cmd(&["CLUSTER", "INFO"]), Ok(r)
                    if r.text().is_some_and(|t| t.contains("cluster_state:ok")
                        && t.contains("cluster_slots_assigned:16384")))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "cluster not ok within {bound:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the node that owns `key`'s slot (`CLUSTER KEYSLOT`,
    /// then `CLUSTER SLOTS`, both asked of a running node).
    pub fn owner_of(&self, key: &str) -> usize {
        let ask = self
            .nodes
            .iter()
            .find(|n| pings(n.port()))
            .expect("no node answers");
        let slot = ask
            .cmd(&["CLUSTER", "KEYSLOT", key])
            .int()
            .expect("KEYSLOT");
        let Resp::Array(Some(ranges)) = ask.cmd(&["CLUSTER", "SLOTS"]) else {
            panic!("unexpected CLUSTER SLOTS reply")
        };
        for range in ranges {
            let Resp::Array(Some(parts)) = range else {
                panic!("unexpected slot range")
            };
            let (first, last) = (parts[0].int().unwrap(), parts[1].int().unwrap());
            if (first..=last).contains(&slot) {
                let Resp::Array(Some(node)) = &parts[2] else {
                    panic!("unexpected node entry")
                };
                let port = node[1].int().unwrap();
                return self
                    .nodes
                    .iter()
                    .position(|n| {
                        i64::from(n.port()) == port
                            || n.tls_port.is_some_and(|t| i64::from(t) == port)
                    })
                    .expect("owner is one of ours");
            }
        }
        panic!("slot {slot} has no owner")
    }

    /// How many keys match `pattern` on each node.
    pub fn keys_per_node(&self, pattern: &str) -> Vec<usize> {
        self.nodes.iter().map(|n| n.scan(pattern).len()).collect()
    }
}
