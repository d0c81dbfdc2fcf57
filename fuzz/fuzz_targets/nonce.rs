//! Server nonces as clients send them back: decoding and the HMAC check.
#![no_main]

use std::sync::OnceLock;

use dpop_gateway::config::{NonceConfig, Secret};
use dpop_gateway::nonce::Nonces;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_100;

fn nonces() -> &'static Nonces {
    static NONCES: OnceLock<Nonces> = OnceLock::new();
    NONCES.get_or_init(|| {
        Nonces::new(&NonceConfig {
            secrets: vec![Secret(b"0123456789abcdef0123456789abcdef".to_vec())],
            lifetime_secs: 300,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nonces().check(text, NOW);
    if let Some(fresh) = nonces().issue(NOW) {
        assert!(nonces().check(&fresh, NOW).is_ok());
    }
});
