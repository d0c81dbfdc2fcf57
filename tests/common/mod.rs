//! The one harness of the integration tests; everything runs over real
//! loopback sockets. Every test file declares `mod common;` and uses
//! `common::…`; since each test binary compiles this whole tree, items a
//! binary does not use are allowed to be dead.
//!
//! The gateway and what it talks to:
//! - [`gateway`]: [`TestGateway`], the gateway in-process on ephemeral ports,
//!   started from a config text or through [`GatewayBuilder`] (clock, shared
//!   [`Fixture`], an upstream it owns); [`replica`]: replicas of one fixture
//!   behind one public URL.
//! - [`configmap`]: a folder updated the way Kubernetes updates a
//!   ConfigMap / Secret volume (an atomic `..data` symlink swap).
//! - [`fixture`]: a temporary folder with a fresh PKI and an issuer key
//!   with its JWKS file; [`config`]: config text and its placeholders.
//! - [`process`]: the `dpop-gateway` binary as a child process
//!   ([`GatewayProcess`], [`run_bin`]).
//! - [`upstream`]: [`Upstream`], a recording plain-HTTP server (also a
//!   WebSocket echo, [`websocket`]).
//! - [`auth_server`]: a fake HTTPS authorization server (JWKS, metadata,
//!   introspection) whose answers and availability a test changes.
//! - [`redis_server`]: a `redis-server` child on an ephemeral port;
//!   [`prometheus`]: a `prometheus` child scraping the gateway, and the
//!   gateway's `/metrics` read sample by sample.
//! - [`python`]: Python programs (the MCP SDK's server and client) run by
//!   the virtual environment `scripts/python-env.sh` makes.
//!
//! Talking to it:
//! - [`client`]: [`TestClient`] and [`Answer`]; [`h2raw`]: HTTP/2 written frame
//!   by frame; [`conn`]: one request on a
//!   raw TLS connection ([`raw_request`]); [`req`]: requests as data, DPoP
//!   and Bearer requests with fresh proofs; [`body`]: streamed bodies;
//!   [`websocket`]: RFC 6455 by hand, and an upgrade through the gateway.
//! - [`jose`], [`keys`], [`form`]: base64url, thumbprints and DPoP proofs,
//!   keys and hand-made signatures, form encoding, written independently of
//!   the crate; [`tokens`]: access tokens minted by the crate or by hand.
//!
//! Judging the answers: [`asserts`] (accepted, challenges, 503),
//! [`check`] (every property of a rejection) with the strict
//! `WWW-Authenticate` parser of [`challenge`]; [`wait`]: polling. A test
//! binary that relies on the checkers runs their own tests by invoking
//! `common::rejection_self_tests!()` (and `common::form_self_tests!()` for
//! the form rules).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod asserts;
pub mod auth_server;
pub mod body;
pub mod challenge;
pub mod check;
pub mod client;
pub mod config;
pub mod configmap;
pub mod conn;
pub mod fixture;
pub mod form;
pub mod gateway;
pub mod h2raw;
pub mod jose;
pub mod keys;
pub mod process;
pub mod prometheus;
pub mod python;
pub mod redis_server;
pub mod replica;
pub mod req;
pub mod tokens;
pub mod upstream;
pub mod wait;
pub mod websocket;

// Re-exported so that a test names `common::TestGateway` and the like; a
// binary that uses none of a module's items would call its re-export unused.
#[allow(unused_imports)]
pub use self::{
    body::*, client::*, config::*, conn::*, fixture::Fixture, gateway::*, process::*, upstream::*,
};
#[allow(unused_imports)]
pub(crate) use self::{check::rejection_self_tests, form::form_self_tests};
