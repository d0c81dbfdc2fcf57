//! The `htu` normaliser and the canonical path that routing reads: a
//! normalised htu is a fixed point, and every canonical path routes to the
//! same route as its own canonical form.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use dpop_gateway::config::Config;
use dpop_gateway::dpop::Htu;
use dpop_gateway::routing::Router;
use dpop_gateway::target::{canonical_path, Host};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
[[routes]]
name = "root"
path_prefix = "/"
upstream = "http://127.0.0.1:1"
auth = "none"
[[routes]]
name = "api"
path_prefix = "/api"
upstream = "http://127.0.0.1:1"
auth = "none"
[[routes]]
name = "deep"
path_prefix = "/api/v1/x~y"
upstream = "http://127.0.0.1:1"
auth = "none"
[[routes]]
name = "admin"
host = "admin.example"
path_prefix = "/"
upstream = "http://127.0.0.1:1"
auth = "none"
"#;

fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let cfg = Config::from_toml(CONFIG, Path::new("/")).expect("fuzz config");
        Router::new(cfg.routes, false)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(htu) = Htu::parse(text) {
        let again = Htu::parse(htu.as_str()).expect("a normalised htu parses");
        assert_eq!(again, htu, "normalisation is idempotent");
    }
    let (host, path) = text.split_once('|').unwrap_or(("", text));
    // A request's path as hyper gives it never holds a query or fragment.
    if path.contains(['?', '#']) {
        return;
    }
    let host = Host::parse(host).ok();
    if let Ok(canonical) = canonical_path(path) {
        let again = canonical_path(&canonical).expect("a canonical path is canonical");
        assert_eq!(again, canonical);
        let first = router()
            .route(host.as_ref(), &canonical)
            .map(|r| r.name.clone());
        let second = router()
            .route(host.as_ref(), &again)
            .map(|r| r.name.clone());
        assert_eq!(first, second);
        // The htu built from the canonical path routes as that path does.
        if let Ok(htu) = Htu::from_origin_and_path("https", "api.example", &canonical) {
            let htu_path = htu.as_str().trim_start_matches("https://api.example");
            if let Ok(p) = canonical_path(htu_path) {
                assert_eq!(
                    router().route(host.as_ref(), &p).map(|r| r.name.clone()),
                    first,
                    "htu path {htu_path:?} vs canonical {canonical:?}"
                );
            }
        }
    }
});
