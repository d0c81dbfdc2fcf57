//! A JWKS document (a `jwks_file`, a `jwks_url` answer).
#![no_main]

use dpop_gateway::jose::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::parse(data, &Default::default()) {
        assert_eq!(set.is_empty(), set.len() == 0);
    }
});
