//! JWT access tokens under both token profiles (`rfc9068`, `jwt`), against
//! the example issuer's keys.
#![no_main]

use std::sync::OnceLock;

use dpop_gateway::config::TokenProfile;
use dpop_gateway::jose::{Alg, AlgSet, KeySet};
use dpop_gateway::token::jwt::{peek_iss, verify_for};
use dpop_gateway::token::Issuer;
use libfuzzer_sys::fuzz_target;

const JWKS: &[u8] = include_bytes!("../../examples/keys/as.jwks.json");
const NOW: i64 = 1_800_000_000;

fn issuers() -> &'static [Issuer; 2] {
    static ISSUERS: OnceLock<[Issuer; 2]> = OnceLock::new();
    ISSUERS.get_or_init(|| {
        let make = |profile| {
            let keys = KeySet::parse(JWKS, &Default::default()).expect("example JWKS");
            Issuer::with_keys(
                "https://as.example.com",
                vec!["https://api.example.com".into()],
                AlgSet::EMPTY
                    .with(Alg::Rs256)
                    .with(Alg::Ps256)
                    .with(Alg::Es256)
                    .with(Alg::EdDsa),
                30,
                keys,
            )
            .with_profile(profile)
        };
        [make(TokenProfile::Rfc9068), make(TokenProfile::Jwt)]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = peek_iss(token, dpop_gateway::jose::limits::DEFAULT_MAX_JSON_DEPTH);
    for issuer in issuers() {
        if let Ok(claims) = verify_for(token, issuer, NOW) {
            assert_eq!(claims.iss, issuer.issuer);
        }
    }
});
