//! The one map from a gateway failure to a response. The matches are
//! exhaustive with no catch-all arm, so a new error variant does not compile
//! until it has a decided status code. Bodies are
//! `{"error": "<code>", "error_description": "<short reason>"}`; the detail
//! goes to the log, never to the client.

use http::header::{
    HeaderValue, ACCESS_CONTROL_EXPOSE_HEADERS, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use http::{Response, StatusCode};

use super::body::{full, ProxyBody};
use super::error::GatewayError;
use crate::auth::challenge::{www_authenticate, ChallengeError, ChallengeParams};
use crate::auth::{AuthError, AuthFailure};
use crate::token::TokenError;

/// Status, `error` code and short client-facing description for a failure.
pub fn classify(err: &GatewayError) -> (StatusCode, &'static str, &'static str) {
    match err {
        GatewayError::NoRoute { .. } => (
            StatusCode::NOT_FOUND,
            "not_found",
            "no route matches this request",
        ),
        GatewayError::Auth(f) => classify_auth(&f.error),
        GatewayError::Target(e) => (StatusCode::BAD_REQUEST, "invalid_request", e.description()),
        GatewayError::BadRequest(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
        GatewayError::HeadTooLarge(why) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            why,
        ),
        GatewayError::BodyTooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        ),
        GatewayError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal gateway error",
        ),
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

/// The decisions of rfc9449-checks section 2.2 / the interface's rejection table.
pub fn classify_auth(err: &AuthError) -> (StatusCode, &'static str, &'static str) {
    const IDP: &str = "invalid_dpop_proof";
    const IT: &str = "invalid_token";
    match err {
        AuthError::NoCredentials => (
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "DPoP access token and proof required",
        ),
        AuthError::Shape(e) => (StatusCode::BAD_REQUEST, "invalid_request", e.description()),
        AuthError::RequestUri(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Request target cannot be checked",
        ),
        AuthError::Proof(e) => (StatusCode::UNAUTHORIZED, IDP, e.description()),
        AuthError::Replayed => (StatusCode::UNAUTHORIZED, IDP, "DPoP proof already used"),
        AuthError::UseNonce(_) => (
            StatusCode::UNAUTHORIZED,
            "use_dpop_nonce",
            "Resource server requires nonce in DPoP proof",
        ),
        AuthError::Token(e @ TokenError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.description(),
        ),
        AuthError::Token(e) => (StatusCode::UNAUTHORIZED, IT, e.description()),
        AuthError::KeyBinding { .. } => (StatusCode::UNAUTHORIZED, IT, "Invalid DPoP key binding"),
        AuthError::NotBound => (
            StatusCode::UNAUTHORIZED,
            IT,
            "Access token is not DPoP-bound",
        ),
        AuthError::UnsupportedBinding => (
            StatusCode::UNAUTHORIZED,
            IT,
            "Access token binding not supported",
        ),
        AuthError::BoundAsBearer => (
            StatusCode::UNAUTHORIZED,
            IT,
            "DPoP-bound access token requires the DPoP scheme",
        ),
        AuthError::DpopRequired => (
            StatusCode::UNAUTHORIZED,
            IT,
            "This resource requires the DPoP scheme",
        ),
        AuthError::InsufficientScope { .. } => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Access token scope insufficient",
        ),
        AuthError::ReplayUnavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Replay protection unavailable, retry later",
        ),
    }
}

/// The response for a failure.
pub fn error_response(err: &GatewayError) -> Response<ProxyBody> {
    let (status, code, description) = classify(err);
    let mut resp = json_error(status, code, description);
    if let GatewayError::Auth(f) = err {
        add_auth_headers(&mut resp, f, status, code, description);
    }
    resp
}

fn add_auth_headers(
    resp: &mut Response<ProxyBody>,
    f: &AuthFailure,
    status: StatusCode,
    code: &str,
    description: &str,
) {
    let headers = resp.headers_mut();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return;
    }
    let error = match f.error {
        AuthError::NoCredentials => None,
        _ => Some(ChallengeError { code, description }),
    };
    let scope = match &f.error {
        AuthError::InsufficientScope { required } => Some(required.as_str()),
        _ => None,
    };
    let params = ChallengeParams {
        algs: &f.algs,
        scope,
        resource_metadata: f.resource_metadata.as_deref(),
    };
    let challenge = www_authenticate(f.dual, f.mechanism, error, &params);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        headers.insert(WWW_AUTHENTICATE, v);
    }
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"),
    );
    // Exactly one fresh nonce (§8: at most one DPoP-Nonce; no-store is set above).
    if let Some(v) = f
        .nonce
        .as_deref()
        .and_then(|n| HeaderValue::from_str(n).ok())
    {
        headers.insert(DPOP_NONCE.clone(), v);
    }
}

/// The `DPoP-Nonce` response header (RFC 9449 §8.1).
pub static DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

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

    #[test]
    fn no_route_is_logged_in_words() {
        let with_host = GatewayError::NoRoute {
            host: Some("api.example".into()),
            path: "/x".into(),
        };
        assert_eq!(
            with_host.to_string(),
            "no route matches path \"/x\" on host \"api.example\""
        );
        let without = GatewayError::NoRoute {
            host: None,
            path: "/x".into(),
        };
        assert_eq!(
            without.to_string(),
            "no route matches path \"/x\" without a host"
        );
    }
}
