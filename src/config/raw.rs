//! The serde mirror of the TOML file: field names are the public config keys
//! (`shared/spec/interface.md`), every table denies unknown keys, and nothing
//! here has logic. `validate.rs` turns these into the typed [`super::Config`].
// Keys of features this build refuses (redis, nonces, jwks_url, introspection)
// are parsed, so that typos are caught, and rejected in validate.rs.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub dpop: RawDpop,
    #[serde(default)]
    pub replay: RawReplay,
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub limits: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_header_bytes: Option<u64>,
    pub max_header_count: Option<u64>,
    pub max_dpop_bytes: Option<u64>,
    pub max_authorization_bytes: Option<u64>,
    pub h2_max_concurrent_streams: Option<u64>,
    pub h2_max_pending_reset_streams: Option<u64>,
    pub h2_max_local_error_reset_streams: Option<u64>,
    pub max_jwk_bytes: Option<u64>,
    pub max_rsa_modulus_bits: Option<u64>,
    pub max_json_depth: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: String,
    pub public_url: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub upstream_timeout_secs: Option<u64>,
    pub max_connections: Option<u64>,
    pub drain_timeout_secs: Option<u64>,
    #[serde(default)]
    pub watch_config: bool,
    #[serde(default)]
    pub case_insensitive_paths: bool,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDpop {
    pub algs: Option<Vec<String>>,
    pub max_age_secs: Option<u64>,
    pub max_skew_secs: Option<u64>,
    pub nonce: Option<String>,
    pub nonce_secret_file: Option<String>,
    pub nonce_previous_secret_file: Option<String>,
    pub nonce_lifetime_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub backend: Option<String>,
    pub max_entries: Option<u64>,
    pub redis_url: Option<String>,
    pub redis_urls: Option<Vec<String>>,
    pub redis_ca_file: Option<String>,
    pub redis_password_file: Option<String>,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub issuer: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub jwks_refresh_secs: Option<u64>,
    pub introspection_url: Option<String>,
    pub introspection_client_id: Option<String>,
    pub introspection_client_secret_file: Option<String>,
    pub introspection_cache_secs: Option<u64>,
    pub discovery: Option<bool>,
    pub ca_file: Option<String>,
    pub algs: Option<Vec<String>>,
    pub leeway_secs: Option<u64>,
    pub profile: Option<String>,
    pub allow_insecure_http: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: String,
    pub public_url: Option<String>,
    pub upstream: String,
    pub auth: Option<String>,
    pub mode: Option<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    pub upstream_authorization: Option<String>,
    pub upstream_ca_file: Option<String>,
    pub resource_name: Option<String>,
    pub resource_documentation: Option<String>,
    pub scopes_supported: Option<Vec<String>>,
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub identity_headers: BTreeMap<String, String>,
}
