//! RFC 7662 introspection answers: the JSON body and its verdict.
#![no_main]

use dpop_gateway::jose::json;
use dpop_gateway::token::introspect::Answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = json::parse_object(data, dpop_gateway::jose::limits::DEFAULT_MAX_JSON_DEPTH) else {
        return;
    };
    let audiences = vec!["https://api.example.com".to_string()];
    for (issuer, audiences) in [
        ("https://server.example.com", &audiences[..]),
        ("https://server.example.com", &[][..]),
    ] {
        let answer = Answer {
            issuer,
            audiences,
            leeway_secs: 30,
        };
        if let Ok(claims) = answer.judge(&doc, 1_562_262_700) {
            assert_eq!(doc.get("active"), Some(&serde_json::Value::Bool(true)));
            assert_eq!(claims.iss, issuer);
        }
    }
});
