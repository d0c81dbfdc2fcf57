//! Shared helpers of the DPoP integration tests (`tests/dpop_*.rs`).
//!
//! - [`gateway`]: the gateway in-process with an injectable clock, an issuer
//!   key and its JWKS file, over real TLS on loopback.
//! - [`jose`]: base64url, SHA-256, RFC 7638 thumbprints computed by hand, and
//!   a proof builder whose header and claims a test mutates before signing.
//! - [`keys`]: keys made once per test binary (RSA is slow), a P-256 key
//!   whose `x` starts with a zero octet, ECDSA malleation (`s -> n - s`) and
//!   DER re-encoding, RSA PKCS#1 v1.5 / PSS encodings done by hand.
//! - [`req`]: a request description sent over HTTP/1.1, HTTP/2 or raw bytes.
//! - [`challenge`]: a strict `WWW-Authenticate` parser (RFC 9110 §11.6.1).
//! - [`check`]: the assertions every gateway-made rejection must pass.
//!
//! Uses `crate::common` (tests/common/mod.rs), which every test file that
//! loads this module also declares.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod challenge;
pub mod check;
pub mod gateway;
pub mod jose;
pub mod keys;
pub mod req;
