//! A `DPoP` header value: compact JWS parsing, every precheck (typ, alg,
//! jwk, claims, htm, htu, iat, ath), then the signature.
#![no_main]

use dpop_gateway::dpop::{precheck, Htu, ProofPolicy, ProofRequest};
use dpop_gateway::jose::CompactJws;
use libfuzzer_sys::fuzz_target;

// The RFC 9449 examples' time and resource, so that seeds from its figures
// reach the later checks.
const NOW: i64 = 1_562_262_616;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = CompactJws::parse(text);
    let policy = ProofPolicy::default();
    for (method, url) in [
        ("GET", "https://resource.example.org/protectedresource"),
        ("POST", "https://server.example.com/token"),
    ] {
        let Ok(htu) = Htu::parse(url) else {
            return;
        };
        let ath = [7u8; 32];
        for token_sha256 in [None, Some(&ath)] {
            let req = ProofRequest {
                method,
                htu: &htu,
                token_sha256,
            };
            if let Ok(proof) = precheck(text, &req, &policy, NOW) {
                let jkt = proof.jkt().clone();
                if let Ok(verified) = proof.verify_signature() {
                    assert_eq!(verified.jkt(), &jkt);
                }
            }
        }
    }
});
