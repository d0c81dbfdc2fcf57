//! What every gateway-made rejection must look like (RFC 6750 §3, RFC 9449
//! §7.1, rfc9449-checks sections 1F and 2, interface "Wire behaviour"):
//! the status; `Content-Type: application/json`; a JSON body
//! `{"error","error_description"}` whose `error` is the challenge's error
//! (or `invalid_request` when no credentials were sent); a `WWW-Authenticate`
//! that parses strictly, names exactly the expected schemes, puts `error`
//! and `error_description` in exactly the expected challenges, carries
//! `algs` on the DPoP challenge, repeats no parameter, and whose values hold
//! no `"` or `\`; and `WWW-Authenticate` is listed in
//! `Access-Control-Expose-Headers` (F6).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use super::challenge::{self, Challenge};
use super::client::Answer;
use super::upstream::UPSTREAM_NAME_HEADER;

/// The expected rejection.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: u16,
    /// The `error` code; `None` for "no credentials" (challenge without error).
    pub code: Option<&'static str>,
    /// The challenge schemes, in order: `["DPoP"]`, or `["Bearer", "DPoP"]`
    /// on a `dpop_or_bearer` route.
    pub schemes: &'static [&'static str],
    /// The schemes whose challenge carries `error`.
    pub carriers: &'static [&'static str],
    /// A case-insensitive substring of `error_description` that shows the
    /// intended check fired.
    pub why: Option<&'static str>,
    /// The `scope` parameter (403).
    pub scope: Option<&'static str>,
}

impl Expect {
    pub fn new(status: u16, code: Option<&'static str>) -> Expect {
        Expect {
            status,
            code,
            schemes: &["DPoP"],
            carriers: if code.is_some() { &["DPoP"] } else { &[] },
            why: None,
            scope: None,
        }
    }

    pub fn idp() -> Expect {
        Expect::new(401, Some("invalid_dpop_proof"))
    }

    pub fn it() -> Expect {
        Expect::new(401, Some("invalid_token"))
    }

    pub fn ir() -> Expect {
        Expect::new(400, Some("invalid_request"))
    }

    pub fn why(mut self, why: &'static str) -> Expect {
        self.why = Some(why);
        self
    }

    /// On a `dpop_or_bearer` route: `Bearer` and `DPoP` challenges.
    pub fn dual(mut self) -> Expect {
        self.schemes = &["Bearer", "DPoP"];
        self
    }

    /// The schemes whose challenge carries the error.
    pub fn carried_by(mut self, schemes: &'static [&'static str]) -> Expect {
        self.carriers = schemes;
        self
    }

    pub fn scope(mut self, scope: &'static str) -> Expect {
        self.scope = Some(scope);
        self
    }
}

/// Everything wrong with `ans` as the rejection `exp` (empty when right).
/// `algs` is the expected `algs` parameter; `head` skips the body checks.
pub fn problems(ans: &Answer, exp: &Expect, algs: &str, head: bool) -> Vec<String> {
    let mut p = Vec::new();
    if ans.status.as_u16() != exp.status {
        p.push(format!(
            "status {} (expected {}); body {}",
            ans.status,
            exp.status,
            ans.text()
        ));
        return p;
    }
    if ans.header("content-type") != Some("application/json") {
        p.push(format!("Content-Type {:?}", ans.header("content-type")));
    }
    if ans.headers.get(UPSTREAM_NAME_HEADER).is_some() {
        p.push("the response came from the upstream".into());
    }
    let body_code = exp.code.unwrap_or("invalid_request");
    let mut body_description = None;
    if !head {
        match serde_json::from_slice::<serde_json::Value>(&ans.body) {
            Err(e) => p.push(format!("body is not JSON ({e}): {}", ans.text())),
            Ok(v) => {
                if v["error"] != body_code {
                    p.push(format!("body error {} (expected {body_code})", v["error"]));
                }
                match v["error_description"].as_str() {
                    Some(d) if !d.is_empty() => {
                        if d.contains(['"', '\\']) {
                            p.push(format!("body error_description has \" or \\: {d:?}"));
                        }
                        if let Some(why) = exp.why {
                            if !d.to_ascii_lowercase().contains(&why.to_ascii_lowercase()) {
                                p.push(format!(
                                    "error_description {d:?} does not mention {why:?} (wrong check fired?)"
                                ));
                            }
                        }
                        body_description = Some(d.to_owned());
                    }
                    _ => p.push(format!("no error_description in {v}")),
                }
                let keys: Vec<&String> = v
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                if keys.len() != 2 {
                    p.push(format!(
                        "body has members {keys:?}, expected error and error_description"
                    ));
                }
            }
        }
    }
    // F6: browsers may only read the challenge if it is exposed.
    let exposed = ans
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !exposed.split(',').any(|h| h.trim() == "www-authenticate") {
        p.push(format!(
            "WWW-Authenticate not in Access-Control-Expose-Headers ({exposed:?})"
        ));
    }
    let lines: Vec<&http::HeaderValue> = ans.headers.get_all("www-authenticate").iter().collect();
    if lines.len() != 1 {
        p.push(format!("{} WWW-Authenticate lines", lines.len()));
        return p;
    }
    let Ok(text) = lines[0].to_str() else {
        p.push("WWW-Authenticate is not visible ASCII".into());
        return p;
    };
    let challenges = match challenge::parse(text) {
        Ok(c) => c,
        Err(e) => {
            p.push(format!("WWW-Authenticate {text:?} does not parse: {e}"));
            return p;
        }
    };
    let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
    if schemes != exp.schemes {
        p.push(format!(
            "challenge schemes {schemes:?} (expected {:?}) in {text:?}",
            exp.schemes
        ));
    }
    for c in &challenges {
        p.extend(challenge_problems(
            c,
            exp,
            algs,
            body_description.as_deref(),
            text,
        ));
    }
    p
}

fn challenge_problems(
    c: &Challenge,
    exp: &Expect,
    algs: &str,
    body_description: Option<&str>,
    text: &str,
) -> Vec<String> {
    let mut p = Vec::new();
    if let Some(dup) = c.duplicate_param() {
        p.push(format!("{} challenge repeats {dup}: {text:?}", c.scheme));
    }
    for (name, value) in &c.params {
        if value.contains(['"', '\\']) {
            p.push(format!("{name} holds \" or \\"));
        }
    }
    if c.scheme == "DPoP" && c.param("algs") != Some(algs) {
        p.push(format!(
            "DPoP challenge algs {:?} (expected {algs:?}): {text:?}",
            c.param("algs")
        ));
    }
    let carries = exp.carriers.contains(&c.scheme.as_str());
    match (carries, c.param("error")) {
        (true, Some(code)) if Some(code) == exp.code => match c.param("error_description") {
            None | Some("") => p.push(format!("{} challenge has no error_description", c.scheme)),
            Some(d) => {
                if let Some(body) = body_description {
                    if d != body {
                        p.push(format!(
                            "challenge error_description {d:?} differs from the body's {body:?}"
                        ));
                    }
                }
            }
        },
        (true, got) => p.push(format!(
            "{} challenge error {got:?} (expected {:?}): {text:?}",
            c.scheme, exp.code
        )),
        (false, Some(got)) => p.push(format!(
            "{} challenge carries error {got:?} but should not: {text:?}",
            c.scheme
        )),
        (false, None) => {
            if c.param("error_description").is_some() {
                p.push(format!(
                    "{} challenge has error_description without error",
                    c.scheme
                ));
            }
        }
    }
    if carries && c.param("scope") != exp.scope {
        p.push(format!(
            "{} challenge scope {:?} (expected {:?})",
            c.scheme,
            c.param("scope"),
            exp.scope
        ));
    }
    p
}

/// The checker is not vacuous: each kind of defect is reported. A test
/// binary that relies on it runs this as a test through
/// [`rejection_self_tests`].
pub fn rejection_checker_reports_each_defect() {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode, Version};
    let answer = |status: u16, ctype: &str, www: Option<&str>, body: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_str(ctype).unwrap());
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"),
        );
        if let Some(w) = www {
            headers.insert("www-authenticate", HeaderValue::from_str(w).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            version: Version::HTTP_11,
            headers,
            body: Bytes::from(body.to_owned()),
        }
    };
    let algs = "ES256";
    let body = r#"{"error":"invalid_dpop_proof","error_description":"bad proof"}"#;
    let www = r#"DPoP error="invalid_dpop_proof", error_description="bad proof", algs="ES256""#;
    let good = answer(401, "application/json", Some(www), body);
    assert!(problems(&good, &Expect::idp(), algs, false).is_empty());
    assert!(!problems(&good, &Expect::idp().why("signature"), algs, false).is_empty());
    assert!(!problems(&good, &Expect::it(), algs, false).is_empty());
    assert!(!problems(&good, &Expect::idp().dual(), algs, false).is_empty());
    assert!(!problems(&good, &Expect::idp(), "ES256 PS256", false).is_empty());
    let defects = [
        answer(400, "application/json", Some(www), body),
        answer(401, "text/plain", Some(www), body),
        answer(401, "application/json", None, body),
        answer(
            401,
            "application/json",
            Some("Bearer error=\"invalid_dpop_proof\""),
            body,
        ),
        answer(
            401,
            "application/json",
            Some(&www.replace("bad proof", "bad \\\"proof")),
            body,
        ),
        answer(
            401,
            "application/json",
            Some(&www.replace("bad proof", "other")),
            body,
        ),
        answer(
            401,
            "application/json",
            Some(&format!("{www}, error=\"x\"")),
            body,
        ),
        answer(
            401,
            "application/json",
            Some(www),
            &body.replace("bad proof", "bad \\\"proof"),
        ),
        answer(
            401,
            "application/json",
            Some(www),
            r#"{"error":"invalid_token","error_description":"bad proof"}"#,
        ),
        answer(401, "application/json", Some(www), "not json"),
    ];
    for (i, a) in defects.iter().enumerate() {
        assert!(
            !problems(a, &Expect::idp(), algs, false).is_empty(),
            "defect {i} not reported"
        );
    }
    let none = answer(
        401,
        "application/json",
        Some(r#"DPoP algs="ES256""#),
        r#"{"error":"invalid_request","error_description":"no credentials"}"#,
    );
    assert!(problems(&none, &Expect::new(401, None), algs, false).is_empty());
    assert!(!problems(&good, &Expect::new(401, None), algs, false).is_empty());
}

/// Declares, in the test binary that invokes it, the tests of the two
/// checkers its assertions rely on: the `WWW-Authenticate` parser and
/// [`problems`].
#[allow(unused_macros)] // only the binaries that rely on it invoke it
macro_rules! rejection_self_tests {
    () => {
        #[test]
        fn challenge_parser_reads_the_rfc_figures() {
            $crate::common::challenge::challenge_parser_reads_the_rfc_figures();
        }

        #[test]
        fn rejection_checker_reports_each_defect() {
            $crate::common::check::rejection_checker_reports_each_defect();
        }
    };
}
pub(crate) use rejection_self_tests;
