//! The layers of `src/` point one way. Every top-level module has a layer;
//! a module may use only modules of lower layers (never its own layer's
//! siblings, never a layer above). Read from the source text: every
//! `crate::x` path (also inside `use crate::{a, b::c}` groups, and
//! `super::super::x` paths that climb to the crate root), in every file,
//! tests included.
//!
//! When two modules need each other, the shared piece moves down (as
//! `digest`, `pem`, `readiness` and `target` did); this test keeps the
//! import graph free of cycles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. The one table of the allowed layers.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations: pure helpers, no knowledge of the gateway's config",
        &[
            "jose",
            "clock",
            "digest",
            "errors",
            "target",
            "pem",
            "metrics",
            "readiness",
            "systemd",
        ],
    ),
    ("config: plain typed data plus validation", &["config"]),
    (
        "components built from typed config",
        &["tls", "routing", "dpop", "nonce", "replay", "mint"],
    ),
    ("token sources (their HTTPS clients use tls)", &["token"]),
    ("the auth phase", &["auth"]),
    ("the request pipeline", &["proxy"]),
    ("the admin listener", &["admin"]),
    ("the server", &["server"]),
    ("the CLI definition and the demo", &["cli", "demo"]),
    ("the commands", &["app", "telemetry"]),
    ("the tool commands", &["commands"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The top-level module a file belongs to, and its module path depth below
/// the crate root (`src/a.rs` and `src/a/mod.rs` → 1, `src/a/b.rs` → 2).
fn module_of(rel: &Path) -> (String, usize) {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_owned();
    let last = parts.last().unwrap();
    let depth = if last == "mod.rs" {
        parts.len() - 1
    } else {
        parts.len()
    };
    (top, depth)
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The top-level identifiers of a `{a, b::c, d::{e, f}}` group.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    at_item_start = true;
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                at_item_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 1 && at_item_start && !c.is_whitespace() {
            if let Some(id) = ident_at(&s[i..]) {
                heads.push(id.to_owned());
            }
            at_item_start = false;
        }
    }
    heads
}

/// Every top-level module named by a `crate::` path in `text`, and by
/// `super::` chains that climb to the crate root from a file at `depth`.
fn imports(text: &str, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code: String = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with("/*") || t.starts_with('*'))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        // `$crate::` and `dpop_crate::` are not this crate's root.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if after.starts_with('{') {
            out.extend(group_heads(after));
        } else if let Some(id) = ident_at(after) {
            out.insert(id.to_owned());
        }
    }
    let climb = "super::".repeat(depth);
    let mut rest = code.as_str();
    while let Some(at) = rest.find(&climb) {
        let before = rest[..at].chars().last();
        let after = &rest[at + climb.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // From a nested inline module (`mod tests { use super::x; }`) the
        // same chain stops short of the root: count only real module names.
        let heads = if after.starts_with('{') {
            group_heads(after)
        } else {
            ident_at(after).map(str::to_owned).into_iter().collect()
        };
        out.extend(heads.into_iter().filter(|h| layer_of(h).is_some()));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the modules it imports (the crate's own top-level modules only).
fn graph(sources: &[(PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in sources {
        let (top, depth) = module_of(rel);
        if top == "lib" || top == "main" {
            continue;
        }
        let deps = g.entry(top.clone()).or_default();
        for dep in imports(text, depth) {
            if dep != top && dep != "self" && dep != "super" {
                deps.insert(dep);
            }
        }
    }
    g
}

/// Every import that does not point strictly down, as readable lines.
fn violations(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (module, deps) in g {
        let Some(mine) = layer_of(module) else {
            out.push(format!("{module}: not in the LAYERS table"));
            continue;
        };
        for dep in deps {
            match layer_of(dep) {
                None => out.push(format!(
                    "{module} -> {dep}: {dep} is not in the LAYERS table"
                )),
                Some(theirs) if theirs >= mine => out.push(format!(
                    "{module} (layer {mine}: {}) -> {dep} (layer {theirs}: {})",
                    LAYERS[mine].0, LAYERS[theirs].0
                )),
                Some(_) => {}
            }
        }
    }
    out
}

fn src_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f.strip_prefix(&src).unwrap().to_path_buf(), text)
        })
        .collect()
}

#[test]
fn layers_point_one_way() {
    let g = graph(&src_sources());
    let bad = violations(&g);
    let table: Vec<String> = g
        .iter()
        .map(|(m, d)| {
            format!(
                "  {m} -> {}",
                d.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "imports that point up or sideways:\n  {}\n\nthe module graph:\n{}",
        bad.join("\n  "),
        table.join("\n")
    );
    // Every declared module is in the table, and the table names no ghosts.
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let tabled: BTreeSet<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    assert_eq!(declared, tabled, "src/lib.rs modules vs the LAYERS table");
}

/// The checker sees through every way of writing an import, and would
/// have failed on each tie that once knotted the modules together.
#[test]
fn the_checker_catches_the_old_ties() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let cases = [
        // config held runtime objects from the token and tls layers
        file("config/mod.rs", "use crate::token::KeySet;"),
        file(
            "config/validate.rs",
            "p.take(k, crate::tls::server_config(&c, &k))?;",
        ),
        file(
            "config/issuers.rs",
            "crate::token::discovery::well_known_urls(&r.issuer)",
        ),
        // token used auth's hashing
        file("token/jwt.rs", "let d = crate::auth::sha256(&t);"),
        // replay implemented an admin trait; admin and server used each other
        file(
            "replay/mod.rs",
            "impl crate::admin::ReadinessCheck for ReplayStore {}",
        ),
        file("admin/mod.rs", "use crate::server::Shared;"),
        // grouped and climbing forms
        file("nonce.rs", "use crate::{jose::b64, auth::Authenticated};"),
        file("dpop/claims.rs", "use super::super::proxy::ConnInfo;"),
        file("dpop/mod.rs", "use super::{token::X};"),
    ];
    for case in cases {
        let g = graph(std::slice::from_ref(&case));
        assert!(
            !violations(&g).is_empty(),
            "not caught: {} {:?}",
            case.0.display(),
            case.1
        );
    }
    // ... and lets downward imports, doc comments and other crates through.
    let fine = [
        file(
            "token/mod.rs",
            "use crate::config::IssuerConfig;\nuse crate::{jose::KeySet, digest::sha256};",
        ),
        file(
            "auth/mod.rs",
            "/// see crate::proxy for the caller\nuse super::credentials;",
        ),
        file(
            "proxy/mod.rs",
            "let x = $crate::server::y; use dpop_gateway::server;",
        ),
    ];
    for case in fine {
        let g = graph(std::slice::from_ref(&case));
        assert_eq!(violations(&g), Vec::<String>::new(), "{}", case.1);
    }
}
