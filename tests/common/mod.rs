//! Shared harness for the integration tests: everything runs over real
//! loopback sockets.
//!
//! - [`upstream`]: [`Upstream`], an in-process plain-HTTP server (HTTP/1.1
//!   and h2c) that records every request it receives and answers per a
//!   [`Behaviour`].
//! - [`client`] and [`conn`]: HTTPS clients (hyper-util over rustls) that
//!   trust only the test CA, with the TLS version and ALPN forced
//!   ([`TestClient`], [`raw_request`]).
//! - [`gateway`]: [`TestGateway`], the gateway in-process, on ephemeral
//!   ports, with a fresh PKI in a temporary directory; [`config`]: its
//!   config text.
//! - [`process`]: the `dpop-gateway` binary as a child process
//!   ([`GatewayProcess`], [`run_bin`]: its own RSS, real signals, exit
//!   codes).
//! - [`body`]: bodies of any size, streamed and hashed as they pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod body;
pub mod client;
pub mod config;
pub mod conn;
pub mod gateway;
pub mod process;
pub mod upstream;

// Re-exported so that a test names `common::TestGateway` and the like; a
// binary that uses none of a module's items would call its re-export unused.
#[allow(unused_imports)]
pub use self::{body::*, client::*, config::*, conn::*, gateway::*, process::*, upstream::*};
