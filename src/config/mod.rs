//! Configuration: the TOML file (`raw`, read by `shape`, which reports every
//! unknown key, value of the wrong type and missing key at once), its typed,
//! validated form (this module's types; `validate` for server, admin and
//! routes, `policy` for `[dpop]` and `[replay]`, `issuers` for `[[issuers]]`)
//! and the errors that name the key path and line (`error`).
//!
//! Nothing outside this module sees a raw struct: the server, the router and
//! the pipeline work only with the types below, where an invalid state cannot
//! be represented (parse, don't validate).

mod error;
mod issuers;
mod limits;
mod policy;
pub(crate) mod raw;
mod shape;
mod validate;
mod warnings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderName;
use http::Uri;
use ipnet::IpNet;

use crate::jose::{AlgSet, ParseLimits};

pub use error::{ConfigError, ConfigProblem};
pub use issuers::plain_http_allowed;

/// Defaults, named so that docs, `config.example.toml` and code agree.
pub mod defaults {
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    pub const IDLE_TIMEOUT_SECS: u64 = 60;
    pub const UPSTREAM_TIMEOUT_SECS: u64 = 30;
    pub const MAX_CONNECTIONS: u64 = 10_000;
    pub const DRAIN_TIMEOUT_SECS: u64 = 30;
    pub const MAX_AGE_SECS: u64 = 60;
    pub const MAX_SKEW_SECS: u64 = 10;
    pub const NONCE_LIFETIME_SECS: u64 = 300;
    pub const MAX_ENTRIES: u64 = 10_000_000;
    pub const KEY_PREFIX: &str = "dpop-gateway:jti:";
    pub const JWKS_REFRESH_SECS: u64 = 300;
    pub const INTROSPECTION_CACHE_SECS: u64 = 300;
    pub const LEEWAY_SECS: u64 = 30;
    pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
    pub const MAX_HEADER_COUNT: u64 = 100;
    pub const MAX_DPOP_BYTES: u64 = 8 * 1024;
    pub const MAX_AUTHORIZATION_BYTES: u64 = 16 * 1024;
    pub const H2_MAX_CONCURRENT_STREAMS: u64 = 100;
    pub const H2_MAX_PENDING_RESET_STREAMS: u64 = 20;
    pub const H2_MAX_LOCAL_ERROR_RESET_STREAMS: u64 = 1024;
    pub const MAX_JWK_BYTES: u64 = crate::jose::limits::DEFAULT_MAX_JWK_BYTES as u64;
    pub const MAX_RSA_MODULUS_BITS: u64 = crate::jose::limits::DEFAULT_MAX_RSA_BITS as u64;
    pub const MAX_JSON_DEPTH: u64 = crate::jose::limits::DEFAULT_MAX_JSON_DEPTH as u64;
}

/// The whole, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was loaded from (for messages); `None` when loaded from a string.
    pub source: Option<PathBuf>,
    /// SHA-256 of the text it was loaded from (with `source`): a watcher
    /// compares the file with what is running, not with what it saw later.
    pub source_digest: Option<[u8; 32]>,
    pub server: ServerConfig,
    pub admin: Option<AdminConfig>,
    pub dpop: DpopConfig,
    pub replay: ReplayConfig,
    pub issuers: Vec<IssuerConfig>,
    pub routes: Vec<RouteConfig>,
    /// Every file the config names (TLS certificate and key, JWKS, secret
    /// and CA files), resolved against the config's folder, in the order of
    /// the file: what `watch_config` watches besides the config itself.
    pub files: Vec<PathBuf>,
    pub limits: Limits,
}

/// `[limits]`: how much one client may make the gateway read and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head: HTTP/1.1 read buffer (request line and headers; 431
    /// beyond it), HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub max_header_bytes: usize,
    /// Header fields of one request (431 beyond it).
    pub max_header_count: usize,
    /// Length of the `DPoP` header value (431 beyond it).
    pub max_dpop_bytes: usize,
    /// Length of the `Authorization` header value (431 beyond it).
    pub max_authorization_bytes: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub h2_max_concurrent_streams: u32,
    /// Streams a client may open and reset before the gateway accepted them
    /// (CVE-2023-44487, "rapid reset"); beyond it the connection gets
    /// GOAWAY `ENHANCE_YOUR_CALM`.
    pub h2_max_pending_reset_streams: usize,
    /// Streams the gateway may reset for a client's protocol errors on one
    /// connection before it closes it.
    pub h2_max_local_error_reset_streams: usize,
    /// `max_jwk_bytes`, `max_rsa_modulus_bits`, `max_json_depth`: what the
    /// JOSE parsers accept from proofs, tokens, key sets, introspection and
    /// discovery answers.
    pub parser: ParseLimits,
}

/// `[dpop]`: proof policy (RFC 9449 §4.3, §11.1).
#[derive(Debug, Clone)]
pub struct DpopConfig {
    /// Accepted proof algorithms (default ES256, EdDSA, PS256).
    pub algs: AlgSet,
    /// A proof's `iat` may be at most this old (default 60).
    pub max_age_secs: u64,
    /// ... and at most this far in the future (default 10).
    pub max_skew_secs: u64,
    /// Stateless server nonces (`nonce = "required"`, RFC 9449 §9).
    pub nonce: Option<NonceConfig>,
}

/// `nonce = "required"`: HMAC secrets and the nonce window.
#[derive(Clone)]
pub struct NonceConfig {
    /// The current secret first, then the previous one during a rollover.
    pub secrets: Vec<Secret>,
    /// Length of one nonce window (default 300): a nonce is accepted in the
    /// window it was issued in and the next one.
    pub lifetime_secs: u64,
}

impl std::fmt::Debug for NonceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceConfig")
            .field("secrets", &self.secrets.len())
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

/// Secret bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `[replay]`: where used `(jkt, jti)` pairs are remembered.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub backend: ReplayBackend,
    /// Hard cap on live entries of the memory store (default 10,000,000).
    pub max_entries: usize,
    /// Prefix of Redis keys (default `dpop-gateway:jti:`).
    pub key_prefix: String,
}

/// Which replay store.
#[derive(Clone, PartialEq, Eq)]
pub enum ReplayBackend {
    /// In this process: sharded, bounded.
    Memory,
    /// Shared by every replica: `SET key 1 NX PX ttl` on one Redis primary
    /// (`redis_url`).
    Redis(RedisConfig),
    /// Shared by every replica: the same command on whichever primary of a
    /// Redis Cluster owns the key's slot (`redis_urls` are the seeds).
    RedisCluster(RedisConfig),
}

impl ReplayBackend {
    /// The `backend` value, for messages and `/readyz`.
    pub fn name(&self) -> &'static str {
        match self {
            ReplayBackend::Memory => "memory",
            ReplayBackend::Redis(_) => "redis",
            ReplayBackend::RedisCluster(_) => "redis_cluster",
        }
    }
}

/// How to reach Redis: the URLs (`redis://` or `rediss://`, possibly with
/// `user:password@`), the password from `redis_password_file` (used instead
/// of one in the URL), and the trust roots for `rediss://`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// One URL for `redis`; the seed nodes for `redis_cluster`.
    pub urls: Vec<String>,
    pub password: Option<Secret>,
    /// PEM certificates from `redis_ca_file`: the only trust roots for
    /// `rediss://` when set; else the webpki roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ReplayBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayBackend::Memory => f.write_str("Memory"),
            ReplayBackend::Redis(r) => f.debug_tuple("Redis").field(r).finish(),
            ReplayBackend::RedisCluster(r) => f.debug_tuple("RedisCluster").field(r).finish(),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact_redis_url(u)).collect();
        f.debug_struct("RedisConfig")
            .field("urls", &urls)
            .field("password", &self.password)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A Redis URL with any `user:password@` replaced by `***@`, for messages
/// and logs.
pub fn redact_redis_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!(
                "{}://***{}",
                url.get(..scheme_end).unwrap_or(""),
                url.get(at..).unwrap_or("")
            )
        }
        _ => url.to_string(),
    }
}

/// One `[[issuers]]` entry: a trusted authorization server.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub issuer: String,
    pub audiences: Vec<String>,
    /// Accepted token algorithms (default RS256, PS256, ES256, EdDSA).
    pub algs: AlgSet,
    /// Tolerance for `exp` / `nbf` (default 30).
    pub leeway_secs: u64,
    /// What a JWT access token must look like (default [`TokenProfile::Rfc9068`]).
    pub profile: TokenProfile,
    /// `http://` key and introspection URLs allowed beyond loopback hosts.
    pub allow_insecure_http: bool,
    /// Where the issuer's keys or verdicts come from.
    pub source: TokenSource,
    /// Extra trust root for the issuer's HTTPS endpoints.
    pub ca_file: Option<PathBuf>,
    /// `[limits]` for its tokens, key sets and endpoint answers.
    pub limits: ParseLimits,
}

/// What a JWT access token must look like (`[[issuers]] profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProfile {
    /// RFC 9068: header `typ` `at+jwt`; `iss exp aud sub client_id iat jti`
    /// required.
    Rfc9068,
    /// The tokens Keycloak, Entra ID, Okta, Auth0 and Spring Authorization
    /// Server issue by default: header `typ` absent, `JWT` or `at+jwt`;
    /// `iss exp aud` required, with `audiences` configured; the client from
    /// `client_id`, `azp`, `cid` or `appid`; scopes from `scope` or `scp`.
    Jwt,
}

/// How an issuer's tokens are checked.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// JWTs against a local JWKS file (validated here; loaded by the token
    /// layer, re-read on SIGHUP and when it changes).
    JwksFile {
        path: PathBuf,
        /// Keys of the file left out for exceeding `[limits]`, as read by
        /// validation (for `check`'s warnings).
        skipped: Vec<String>,
    },
    /// JWTs against a JWKS fetched over HTTPS.
    JwksUrl { url: Uri, refresh_secs: u64 },
    /// Opaque tokens through RFC 7662 introspection.
    Introspection {
        url: Uri,
        client: IntrospectionClient,
    },
    /// `discovery = true`: RFC 8414 / OIDC metadata gives `jwks_uri`, and
    /// `introspection_endpoint` when client credentials are configured.
    Discovery {
        /// Where the metadata is looked for, in order: RFC 8414, then
        /// OpenID Connect Discovery.
        metadata_urls: Vec<Uri>,
        refresh_secs: u64,
        client: Option<IntrospectionClient>,
    },
}

/// Credentials and cache policy for introspection.
#[derive(Debug, Clone)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub secret: Secret,
    /// Longest a positive answer is reused (never beyond the token's `exp`).
    pub cache_secs: u64,
}

#[derive(Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Client-visible origin used for `htu` (RFC 9449 §4.3 item 9).
    pub public_url: Option<PublicUrl>,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Also bounds the TLS handshake.
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub upstream_timeout: Duration,
    pub max_connections: usize,
    /// On SIGTERM: how long in-flight requests may finish before exit.
    pub drain_timeout: Duration,
    /// Reload when the config file, or a file it names, changes on disk.
    pub watch_config: bool,
    /// `path_prefix` matches ignoring ASCII case (for upstreams that do).
    pub case_insensitive_paths: bool,
    pub tls: Option<TlsFiles>,
}

/// PEM files of the server certificate chain and its private key. Both were
/// read and parsed during validation.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

/// A client-visible `scheme://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Path prefix without a trailing slash; empty for the origin itself.
    pub path: String,
}

/// How a route authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: DPoP` with a valid proof and a bound token.
    Dpop,
    /// DPoP as above, or a plain Bearer token that carries no `cnf`.
    DpopOrBearer,
    /// No check: the request is forwarded as is (identity headers still stripped).
    None,
}

/// What an authentication failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse the request.
    Enforce,
    /// Log and count the verdict, forward anyway (for rolling DPoP out).
    Report,
}

/// What the upstream receives in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAuthorization {
    /// As the client sent it.
    Preserve,
    /// `Bearer <token>`, for legacy upstreams that parse the header.
    Bearer,
    /// Removed.
    Strip,
}

/// A routing entry.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub name: String,
    /// Canonical host without port (lower case, no trailing dot; see
    /// [`crate::target::host`]).
    pub host: Option<String>,
    /// A canonical path ([`crate::target::path`]) without a trailing slash,
    /// unless it is exactly `/`.
    pub path_prefix: String,
    pub public_url: Option<PublicUrl>,
    pub upstream: Upstream,
    pub auth: AuthMode,
    pub mode: Mode,
    /// Every one must be in the token's `scope`.
    pub required_scopes: Vec<String>,
    pub upstream_authorization: UpstreamAuthorization,
    /// Header names the gateway sets from verified claims; client-sent
    /// headers with these names are always removed.
    pub identity_headers: Vec<(String, HeaderName)>,
    /// RFC 9728 metadata: `resource_name`.
    pub resource_name: Option<String>,
    /// RFC 9728 metadata: `resource_documentation` (an http(s) URL).
    pub resource_documentation: Option<String>,
    /// RFC 9728 metadata: `scopes_supported` (default: `required_scopes`).
    pub scopes_supported: Vec<String>,
    /// Longest request body forwarded (413 beyond it); `None`: no limit.
    pub max_body_bytes: Option<u64>,
}

/// Where a route forwards to.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Extra trust root for an https upstream.
    pub ca_file: Option<PathBuf>,
}

impl Config {
    /// Reads, parses and validates a config file. Relative paths in it are
    /// resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            problems: vec![ConfigProblem {
                key: "(file)".into(),
                line: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut cfg = Self::from_toml(&text, base).map_err(|problems| ConfigError {
            file: path.to_path_buf(),
            problems,
        })?;
        cfg.source = Some(path.to_path_buf());
        cfg.source_digest = Some(crate::digest::sha256_bytes(text.as_bytes()));
        Ok(cfg)
    }

    /// Parses and validates TOML text; relative paths resolve against `base`.
    /// On failure, every problem found: each unknown key, each value of the
    /// wrong type, each missing required key (see `shape`), and what validation
    /// finds in the rest, each with its key path and line.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, Vec<ConfigProblem>> {
        let (raw, mut shape) = shape::read(text).map_err(|syntax| vec![syntax])?;
        let Some(raw) = raw else {
            return Err(shape.problems);
        };
        match validate::validate(raw, base) {
            Ok(config) if shape.problems.is_empty() => Ok(config),
            Ok(_) => Err(shape.problems),
            Err(found) => {
                shape.add_validation(found);
                Err(shape.problems)
            }
        }
    }
}

/// `config.example.toml` and the config structs stay in step: every key the
/// example documents (commented or not) is a real key, and every real key is
/// documented there.
#[cfg(test)]
mod example_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    const EXAMPLE: &str = include_str!("../../config.example.toml");

    /// The example with every `# key = value` line uncommented.
    fn uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|l| {
                let t = l.trim_start();
                match t.strip_prefix("# ") {
                    Some(rest)
                        if rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                    {
                        rest.to_string()
                    }
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_documented_key_is_a_real_key() {
        let text = uncommented();
        if let Err(e) = toml::from_str::<super::raw::RawConfig>(&text) {
            panic!("config.example.toml documents a key the gateway does not know: {e}");
        }
    }

    /// The field names serde expects in `table`, read from the error for an
    /// unknown key.
    fn fields(table: &str) -> Vec<String> {
        // After the first line that IS the table header (comments may name it).
        let mut inserted = false;
        let probe: Vec<String> = uncommented()
            .lines()
            .flat_map(|l| {
                let mut out = vec![l.to_string()];
                if !inserted && l.trim() == table {
                    inserted = true;
                    out.push("zzz_probe = 1".into());
                }
                out
            })
            .collect();
        assert!(inserted, "no {table} header in config.example.toml");
        let probe = probe.join("\n");
        let err = toml::from_str::<super::raw::RawConfig>(&probe)
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        let list = err.split("expected").nth(1).unwrap_or("");
        list.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, f)| f.to_string())
            .collect()
    }

    #[test]
    fn every_real_key_is_documented() {
        let documented = uncommented();
        for table in [
            "[server]",
            "[server.tls]",
            "[admin]",
            "[dpop]",
            "[replay]",
            "[limits]",
            "[[issuers]]",
            "[[routes]]",
        ] {
            let names = fields(table);
            assert!(!names.is_empty(), "no fields read for {table}");
            for name in names {
                let shown = documented.lines().any(|l| {
                    l.trim_start().starts_with(&format!("{name} ="))
                        || l.trim_start().starts_with(&format!("[{name}]"))
                        || l.trim_start().starts_with(&format!("[routes.{name}]"))
                        || l.trim_start().starts_with(&format!("[server.{name}]"))
                        || l.trim_start().starts_with(&format!("[[{name}]]"))
                });
                assert!(shown, "{table} key {name} is not in config.example.toml");
            }
        }
    }
}
