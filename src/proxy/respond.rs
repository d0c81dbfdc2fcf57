//! The one map from a gateway failure to a response. The `match` is
//! exhaustive with no catch-all arm, so a new error variant does not compile
//! until it has a decided status code. Bodies are
//! `{"error": "<code>", "error_description": "<short reason>"}`; the detail
//! goes to the log, never to the client.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::body::{full, ProxyBody};
use super::error::GatewayError;

/// Status, `error` code and short client-facing description for a failure.
pub fn classify(err: &GatewayError) -> (StatusCode, &'static str, &'static str) {
    match err {
        GatewayError::NoRoute { .. } => (
            StatusCode::NOT_FOUND,
            "not_found",
            "no route matches this request",
        ),
        GatewayError::BadRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
        GatewayError::UpstreamConnect { .. } => (
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the upstream service is unreachable",
        ),
        GatewayError::UpstreamProtocol { .. } => (
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the upstream service failed to answer",
        ),
        GatewayError::UpstreamTimeout { .. } => (
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "the upstream service did not answer in time",
        ),
    }
}

/// The response for a failure.
pub fn error_response(err: &GatewayError) -> Response<ProxyBody> {
    let (status, code, description) = classify(err);
    json_error(status, code, description)
}

/// A gateway-made JSON error response.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "error": code, "error_description": description });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn bodies_are_json_with_code() {
        let resp = error_response(&GatewayError::UpstreamTimeout {
            upstream: "http://10.0.0.1".into(),
            secs: 3,
        });
        assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "gateway_timeout");
        assert!(!v["error_description"]
            .as_str()
            .unwrap()
            .contains("10.0.0.1"));
    }
}
