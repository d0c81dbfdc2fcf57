//! Config text for the gateways of the tests: the placeholders [`fill`]
//! replaces with paths of a test PKI, `[server.tls]`, routes, issuers, and
//! whole configs for the shapes the tests use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;

use dpop_gateway::demo::pki::{DemoPki, PkiFiles};

/// Placeholders [`fill`] replaces with absolute paths of the test PKI.
pub const CERT: &str = "@CERT@";
pub const KEY: &str = "@KEY@";
pub const CA: &str = "@CA@";
pub const DIR: &str = "@DIR@";

/// `[server.tls]` naming the test certificate and key.
pub const TLS_TABLE: &str = "[server.tls]\ncert = \"@CERT@\"\nkey = \"@KEY@\"\n";

/// Replaces `@CERT@`, `@KEY@`, `@CA@` and `@DIR@` in a config text.
pub fn fill(text: &str, files: &PkiFiles, dir: &Path) -> String {
    text.replace(CERT, &files.cert.display().to_string())
        .replace(KEY, &files.key.display().to_string())
        .replace(CA, &files.ca.display().to_string())
        .replace(DIR, &dir.display().to_string())
}

/// A `[[routes]]` entry with `auth = "none"`.
pub fn route(name: &str, path_prefix: &str, upstream: &str) -> String {
    route_with(name, path_prefix, upstream, "auth = \"none\"")
}

/// A `[[routes]]` entry; `extra` holds more keys of the route table (and may
/// end with a `[routes.identity_headers]` table).
pub fn route_with(name: &str, prefix: &str, upstream: &str, extra: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"{name}\"\npath_prefix = \"{prefix}\"\nupstream = \"{upstream}\"\n{extra}\n"
    )
}

/// A minimal TLS config on `127.0.0.1:0` with `server_extra` lines in
/// `[server]` and one catch-all route to `upstream`.
pub fn simple_tls_config(server_extra: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server_extra}\n{TLS_TABLE}{}",
        route("all", "/", upstream)
    )
}

/// A fresh localhost PKI written into `dir`.
pub fn write_pki(dir: &Path) -> (DemoPki, PkiFiles) {
    let pki = DemoPki::localhost().unwrap();
    let files = pki.write(dir).unwrap();
    (pki, files)
}

/// The issuer of the tests' access tokens (the fixture's key).
pub const ISSUER: &str = "https://as.test";
/// The audience every test issuer is configured with.
pub const AUDIENCE: &str = "https://api.test";
/// The `algs` challenge parameter for the default allow-list (ES256 PS256 EdDSA).
pub const DEFAULT_ALGS: &str = "ES256 PS256 EdDSA Ed25519";

/// The identity-header table of the DPoP tests' routes.
pub const IDENTITY: &str = "[routes.identity_headers]\nsub = \"X-Auth-Subject\"\nclient_id = \"X-Auth-Client-Id\"\nscope = \"X-Auth-Scope\"\njkt = \"X-Auth-Jkt\"\n";

/// The identity headers of [`routes`] (no `jkt`).
const ROUTES_IDENTITY: &str = "[routes.identity_headers]\nsub = \"X-Auth-Subject\"\nclient_id = \"X-Auth-Client-Id\"\nscope = \"X-Auth-Scope\"\n";

/// `[[issuers]]` for [`ISSUER`] / [`AUDIENCE`] with `jwks_file =
/// "as.jwks.json"`: the fixture's key set, relative to the config's folder.
pub fn fixture_issuer_table() -> String {
    format!(
        "\n[[issuers]]\nissuer = \"{ISSUER}\"\naudiences = [\"{AUDIENCE}\"]\njwks_file = \"as.jwks.json\"\n"
    )
}

/// An `[[issuers]]` table: `issuer`, audiences [`AUDIENCE`], `ca_file`, then
/// `extra` lines (the token source and its settings).
pub fn issuer_table(issuer: &str, ca_file: &Path, extra: &str) -> String {
    format!(
        "\n[[issuers]]\nissuer = \"{issuer}\"\naudiences = [\"{AUDIENCE}\"]\nca_file = \"{}\"\n{extra}\n",
        ca_file.display()
    )
}

/// Two routes to `upstream`: `/dual` (`dpop_or_bearer`) and everything else
/// (`dpop`), both with identity headers (no `jkt`).
pub fn routes(upstream: &str) -> String {
    let dual = format!("auth = \"dpop_or_bearer\"\n{ROUTES_IDENTITY}");
    let api = format!("auth = \"dpop\"\n{ROUTES_IDENTITY}");
    route_with("dual", "/dual", upstream, &dual) + &route_with("api", "/", upstream, &api)
}

/// A TLS gateway on `127.0.0.1:0` trusting the fixture's issuer
/// ([`fixture_issuer_table`]), then `rest` (`[dpop]`, routes…).
pub fn dpop_config(rest: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}{}\n{rest}",
        fixture_issuer_table()
    )
}

/// A TLS gateway on `127.0.0.1:0` with an admin listener on `127.0.0.1:0`,
/// then `rest` (`[[issuers]]`, `[[routes]]`…).
pub fn admin_config(rest: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n{TLS_TABLE}\n[admin]\nlisten = \"127.0.0.1:0\"\n{rest}"
    )
}
