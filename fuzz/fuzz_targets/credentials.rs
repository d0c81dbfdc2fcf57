//! `Authorization` / `DPoP` header extraction: request shape before any
//! cryptography. Input: `name: value` lines, then an optional `?query` line.
#![no_main]

use dpop_gateway::auth::credentials::{extract, Credentials};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut query = None;
    for line in data.split(|b| *b == b'\n') {
        if let Some(q) = line.strip_prefix(b"?") {
            query = std::str::from_utf8(q).ok();
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value.trim_ascii()),
        ) {
            headers.append(n, v);
        }
    }
    match extract(&headers, query) {
        Ok(Credentials::Dpop { token, proof }) => {
            assert!(!token.is_empty() && !proof.is_empty());
            assert_eq!(headers.get_all("dpop").iter().count(), 1);
        }
        Ok(Credentials::Bearer { token }) => {
            assert!(!token.is_empty());
            assert_eq!(headers.get_all("dpop").iter().count(), 0);
        }
        Ok(Credentials::None) | Err(_) => {}
    }
});
