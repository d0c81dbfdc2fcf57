//! Valid but risky settings. `check` prints them (and still says `ok`);
//! `run` logs them once at start.

use super::{AuthMode, Config, TokenSource};

impl Config {
    /// What an operator should know about this config, one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let unpinned: Vec<&str> = self
            .routes
            .iter()
            .filter(|r| r.auth != AuthMode::None && r.public_url.is_none() && r.host.is_none())
            .map(|r| r.name.as_str())
            .collect();
        if self.server.public_url.is_none() && !unpinned.is_empty() {
            out.push(format!(
                "no public_url: the htu host of routes {unpinned:?} is taken from the request's \
                 Host header; set server.public_url (or the route's) so proofs are bound to your \
                 real origin"
            ));
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            if let TokenSource::JwksFile { skipped, .. } = &issuer.source {
                for key in skipped {
                    out.push(format!(
                        "issuers[{i}].jwks_file: {key}; the key is skipped, tokens it signed \
                         are refused (raise the limit in [limits] to use it)"
                    ));
                }
            }
            if issuer.allow_insecure_http {
                out.push(format!(
                    "issuers[{i}] ({:?}) has allow_insecure_http = true: its keys or token \
                     verdicts may travel over plain http:// beyond this host, where anyone on the \
                     path can forge them",
                    issuer.issuer
                ));
            }
        }
        out.extend(shared_upstreams(self));
        out
    }
}

/// A public route and a protected one with the same upstream: the public one
/// reaches the same application without credentials, so the application must
/// not serve anything sensitive under the public route's paths.
fn shared_upstreams(config: &Config) -> Vec<String> {
    let origin = |i: usize| {
        config.routes.get(i).map(|r| {
            format!("{}://{}", r.upstream.scheme, r.upstream.authority).to_ascii_lowercase()
        })
    };
    let mut out = Vec::new();
    for (i, public) in config.routes.iter().enumerate() {
        if public.auth != AuthMode::None {
            continue;
        }
        let protected: Vec<String> = config
            .routes
            .iter()
            .enumerate()
            .filter(|(j, r)| r.auth != AuthMode::None && origin(*j) == origin(i))
            .map(|(j, r)| format!("routes[{j}] ({:?})", r.name))
            .collect();
        if let (false, Some(upstream)) = (protected.is_empty(), origin(i)) {
            out.push(format!(
                "routes[{i}] ({:?}, auth = \"none\") and {} share upstream {upstream}: the \
                 public route reaches the same application without credentials",
                public.name,
                protected.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        public_url = "https://api.example"
        [[issuers]]
        issuer = "https://as.example"
        jwks_file = "examples/keys/as.jwks.json"
    "#;

    fn route(name: &str, prefix: &str, upstream: &str, auth: &str) -> String {
        format!(
            "[[routes]]\nname = \"{name}\"\npath_prefix = \"{prefix}\"\nupstream = \"{upstream}\"\nauth = \"{auth}\"\n"
        )
    }

    fn warnings(routes: &[String]) -> Vec<String> {
        let text = format!("{BASE}{}", routes.concat());
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        Config::from_toml(&text, base).unwrap().warnings()
    }

    #[test]
    fn a_public_route_sharing_a_protected_upstream_is_named() {
        let w = warnings(&[
            route("site", "/", "http://127.0.0.1:8080", "none"),
            route("api", "/api", "http://127.0.0.1:8080/", "dpop"),
            route("admin", "/admin", "HTTP://127.0.0.1:8080", "dpop_or_bearer"),
            route("other", "/other", "http://127.0.0.1:9090", "dpop"),
        ]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("routes[0] (\"site\", auth = \"none\")"),
            "{w:?}"
        );
        assert!(
            w[0].contains("routes[1] (\"api\"), routes[2] (\"admin\")"),
            "{w:?}"
        );
        assert!(w[0].contains("http://127.0.0.1:8080"), "{w:?}");
        assert!(!w[0].contains("other"), "{w:?}");
    }

    #[test]
    fn separate_upstreams_warn_nothing() {
        let w = warnings(&[
            route("site", "/", "http://127.0.0.1:8080", "none"),
            route("api", "/api", "http://127.0.0.1:9090", "dpop"),
        ]);
        assert!(w.is_empty(), "{w:?}");
    }
}
