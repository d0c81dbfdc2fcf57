//! Assertions on gateway answers: a 200 from the upstream, the DPoP
//! challenges (`invalid_dpop_proof`, a replay, `use_dpop_nonce` with its
//! fresh nonce), `invalid_token`, and a 503 `temporarily_unavailable`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use super::client::Answer;
use super::upstream::UPSTREAM_NAME_HEADER;

/// Every `DPoP-Nonce` value of an answer.
pub fn nonces_of(a: &Answer) -> Vec<String> {
    a.headers
        .get_all("dpop-nonce")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// 200 from the upstream (the echo's `X-Upstream-Name` is present).
pub fn assert_ok(a: &Answer) {
    assert_eq!(
        a.status.as_u16(),
        200,
        "expected 200; headers {:?} body {}",
        a.headers,
        a.text()
    );
    assert!(
        a.headers.get(UPSTREAM_NAME_HEADER).is_some(),
        "a 200 that did not come from the upstream: {:?}",
        a.headers
    );
}

/// A 401 whose DPoP challenge carries `error="<code>"`.
pub fn assert_challenge(a: &Answer, code: &str) {
    a.assert_gateway_error(401, code);
    let www = a
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("401 without WWW-Authenticate: {:?}", a.headers));
    assert!(www.starts_with("DPoP "), "not a DPoP challenge: {www}");
    assert!(
        www.contains(&format!("error=\"{code}\"")),
        "challenge without error=\"{code}\": {www}"
    );
}

/// 401 `invalid_dpop_proof`.
pub fn assert_invalid_proof(a: &Answer) {
    assert_challenge(a, "invalid_dpop_proof");
}

/// 401 `invalid_dpop_proof` for a replayed proof.
pub fn assert_replayed(a: &Answer) {
    assert_invalid_proof(a);
    let desc = a.json()["error_description"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        desc.contains("already used") || desc.contains("replay"),
        "not refused as a replay: {}",
        a.text()
    );
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E.
pub fn is_nqchar_string(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// 401 `use_dpop_nonce` with exactly one well-formed `DPoP-Nonce`,
/// `Cache-Control: no-store` and the nonce exposed to CORS; returns the nonce.
pub fn assert_use_nonce(a: &Answer) -> String {
    assert_challenge(a, "use_dpop_nonce");
    let nonces = nonces_of(a);
    assert_eq!(
        nonces.len(),
        1,
        "exactly one DPoP-Nonce expected: {:?}",
        a.headers
    );
    let nonce = nonces[0].clone();
    assert!(
        is_nqchar_string(&nonce),
        "DPoP-Nonce is not 1*NQCHAR: {nonce:?}"
    );
    assert_no_store(a);
    let expose = a
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        expose.contains("dpop-nonce"),
        "DPoP-Nonce not exposed to CORS: {:?}",
        a.headers
    );
    nonce
}

/// Exactly one `Cache-Control`, and it says `no-store`.
pub fn assert_no_store(a: &Answer) {
    let cc: Vec<_> = a.headers.get_all("cache-control").iter().collect();
    assert_eq!(cc.len(), 1, "one Cache-Control expected: {:?}", a.headers);
    assert!(
        cc[0].to_str().unwrap_or("").contains("no-store"),
        "Cache-Control without no-store: {:?}",
        a.headers
    );
}

/// 503 `temporarily_unavailable` with a `Retry-After` in seconds and no challenge.
pub fn assert_unavailable(a: &Answer) {
    a.assert_gateway_error(503, "temporarily_unavailable");
    let retry = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 without Retry-After: {:?}", a.headers));
    assert!(
        retry.parse::<u64>().is_ok(),
        "Retry-After is not delay-seconds: {retry:?}"
    );
    assert!(
        a.headers.get("www-authenticate").is_none(),
        "a 503 with a challenge: {:?}",
        a.headers
    );
}

/// A gateway-made 401 `invalid_token` (body and challenge).
pub fn assert_invalid_token(a: &Answer) {
    a.assert_gateway_error(401, "invalid_token");
    let challenges = a
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        challenges.contains("error=\"invalid_token\""),
        "no invalid_token challenge: {challenges:?}"
    );
}
