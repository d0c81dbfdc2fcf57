//! The TOML config loader: shape checking (unknown keys, types, missing
//! keys, lines) and validation. Files it names are looked up under a
//! folder that does not exist.
#![no_main]

use std::path::Path;

use dpop_gateway::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Absolute paths would reach real files (/dev/zero); keep to the base.
    if text.contains("\"/") || text.contains("'/") {
        return;
    }
    if let Err(problems) = Config::from_toml(text, Path::new("/nonexistent/dpop-gateway-fuzz")) {
        assert!(!problems.is_empty());
    }
});
