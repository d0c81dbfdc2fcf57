//! A JWK (as in a proof's `jwk` header or a JWKS): parsing into a public
//! key and its RFC 7638 thumbprint, which must not depend on member order.
#![no_main]

use dpop_gateway::jose::{json, ParseLimits, PublicJwk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits::default();
    let Ok(value) = json::parse_value(data, limits.max_json_depth) else {
        return;
    };
    let Ok(jwk) = PublicJwk::from_value(&value, &limits) else {
        return;
    };
    // The same members in another order are the same key.
    if let serde_json::Value::Object(map) = &value {
        let mut reversed = serde_json::Map::new();
        for (k, v) in map.iter().rev() {
            reversed.insert(k.clone(), v.clone());
        }
        let again = PublicJwk::from_map(&reversed, &limits).expect("same members, same verdict");
        assert_eq!(jwk.thumbprint(), again.thumbprint());
    }
    assert_eq!(jwk.thumbprint().as_str().len(), 43);
});
