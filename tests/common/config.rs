//! Config text for the gateways of the tests: the placeholders [`fill`]
//! replaces with paths of a test PKI, `[server.tls]` and routes.
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
    format!(
        "\n[[routes]]\nname = \"{name}\"\npath_prefix = \"{path_prefix}\"\nupstream = \"{upstream}\"\nauth = \"none\"\n"
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
