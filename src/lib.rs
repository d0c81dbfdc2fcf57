//! dpop-gateway: a TLS-terminating reverse proxy that enforces OAuth 2.0 DPoP (RFC 9449).

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod digest;
pub mod dpop;
pub mod errors;
pub mod jose;
pub mod metrics;
pub mod mint;
pub mod nonce;
pub mod pem;
pub mod proxy;
pub mod readiness;
pub mod replay;
pub mod routing;
pub mod server;
pub mod systemd;
pub mod target;
pub mod telemetry;
pub mod tls;
pub mod token;
