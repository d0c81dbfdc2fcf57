//! dpop-gateway: a TLS-terminating reverse proxy that enforces OAuth 2.0 DPoP (RFC 9449).

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dpop;
pub mod jose;
pub mod proxy;
pub mod routing;
pub mod server;
pub mod systemd;
pub mod telemetry;
pub mod tls;
