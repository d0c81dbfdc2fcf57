//! `[limits]` on a request, checked before anything parses it: the number of
//! header fields (HTTP/1.1 heads are also bounded by hyper's read buffer;
//! this counts HTTP/2 ones too), the lengths of the credential headers
//! (before the proof and token parsers see them), and a route's
//! `max_body_bytes` (a declared `Content-Length` at once; a streamed body
//! when it passes the limit, which cuts the upstream request).

use http::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH};
use http_body_util::LengthLimitError;

use super::error::GatewayError;
use crate::config::Limits;

pub fn check_head(limits: &Limits, headers: &HeaderMap) -> Result<(), GatewayError> {
    if headers.len() > limits.max_header_count {
        return Err(GatewayError::HeadTooLarge("too many header fields"));
    }
    let longest = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.len())
            .max()
            .unwrap_or(0)
    };
    if longest(AUTHORIZATION.as_str()) > limits.max_authorization_bytes {
        return Err(GatewayError::HeadTooLarge("Authorization header too long"));
    }
    if longest("dpop") > limits.max_dpop_bytes {
        return Err(GatewayError::HeadTooLarge("DPoP header too long"));
    }
    Ok(())
}

/// A `Content-Length` over the route's limit (413 before anything else).
pub fn check_declared_body(max: Option<u64>, headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(limit) = max else {
        return Ok(());
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => Err(GatewayError::BodyTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Whether an upstream request failed because its body passed the limit.
pub fn body_over_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<LengthLimitError>() {
            return true;
        }
        cur = e.source();
    }
    false
}
