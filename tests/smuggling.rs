//! Forwarding that cannot be smuggled (RFC 9112 §6.3, §11.2; RFC 9113
//! §8.1.1, §8.2.2, §8.3). Every request here is written byte for byte on a
//! socket, HTTP/1.1 over TLS or HTTP/2 frame by frame, to a catch-all
//! `auth = "none"` route (the one that forwards most): a request whose
//! framing, header syntax or host another reader could take differently is
//! refused (400 on HTTP/1.1; 400 or a stream reset on HTTP/2) and the
//! upstream receives nothing, neither it nor a request hidden behind it. The
//! upstream request is always the gateway's own serialisation: it never
//! carries the client's framing fields.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::h2raw::{status_of, H2Raw, StreamEnd};
use common::req::raw_h1;
use common::{simple_tls_config, TestGateway, Upstream};

async fn gateway() -> TestGateway {
    let up = Upstream::echo().await;
    TestGateway::builder(&simple_tls_config("", &up.url()))
        .upstream(up)
        .start()
        .await
}

/// A request that, read naively, hides a second one behind it.
fn hidden(authority: &str) -> String {
    format!("GET /smuggled HTTP/1.1\r\nHost: {authority}\r\n\r\n")
}

/// Waits a moment for anything in flight, then asserts the upstream got nothing.
async fn assert_nothing_forwarded(gw: &TestGateway, case: &str) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let up = gw.upstream();
    assert_eq!(
        up.arrived(),
        0,
        "{case}: the upstream received {:?}",
        up.requests()
            .iter()
            .map(|r| r.path_and_query().to_owned())
            .collect::<Vec<_>>()
    );
}

/// HTTP/1.1 heads (up to the blank line, exclusive) that are refused with
/// 400: `{a}` is the gateway's authority. Each is followed by a body and a
/// pipelined request that must never be read as one.
const H1_REFUSED: &[(&str, &str)] = &[
    (
        "duplicate Content-Length, different values",
        "POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
    ),
    (
        "Content-Length list",
        "POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5, 5\r\n",
    ),
    (
        "Content-Length with a sign",
        "POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: +5\r\n",
    ),
    (
        "Content-Length in hex",
        "POST / HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0x5\r\n",
    ),
    (
        "Transfer-Encoding not ending in chunked",
        "POST / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked, gzip\r\n",
    ),
    (
        "Transfer-Encoding: an unknown coding",
        "POST / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: xchunked\r\n",
    ),
    (
        "Transfer-Encoding: chunked then another line",
        "POST / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    ),
    (
        "Transfer-Encoding on HTTP/1.0",
        "POST / HTTP/1.0\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n",
    ),
    (
        "whitespace before the colon",
        "POST / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding : chunked\r\n",
    ),
    (
        "obs-fold",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-Folded: a\r\n b\r\n",
    ),
    (
        "obs-fold of Transfer-Encoding",
        "POST / HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: identity\r\n chunked\r\n",
    ),
    (
        "obs-fold with a tab",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-Folded: a\r\n\tb\r\n",
    ),
    (
        "bare CR in a value",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-A: a\rb\r\n",
    ),
    (
        "bare CR ending a line",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-A: a\rTransfer-Encoding: chunked\r\n",
    ),
    (
        "NUL in a value",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-A: a\0b\r\n",
    ),
    (
        "NUL in a name",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-\0A: b\r\n",
    ),
    (
        "space in a name",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX A: b\r\n",
    ),
    (
        "separator in a name",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX(A): b\r\n",
    ),
    (
        "empty name",
        "GET / HTTP/1.1\r\nHost: {a}\r\n: b\r\n",
    ),
    (
        "non-ASCII name",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-\u{e9}: b\r\n",
    ),
    (
        "DEL in a name",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-\u{7f}: b\r\n",
    ),
    (
        "control character in a value",
        "GET / HTTP/1.1\r\nHost: {a}\r\nX-A: a\u{1}b\r\n",
    ),
    (
        "two spaces in the request line",
        "GET  / HTTP/1.1\r\nHost: {a}\r\n",
    ),
    (
        "absolute form whose authority is another host",
        "GET https://other.example/ HTTP/1.1\r\nHost: {a}\r\n",
    ),
    (
        "absolute form whose authority has another port",
        "GET https://localhost:1/ HTTP/1.1\r\nHost: {a}\r\n",
    ),
    (
        "absolute form with userinfo",
        "GET https://user@{a}/ HTTP/1.1\r\nHost: {a}\r\n",
    ),
    ("Host with userinfo", "GET / HTTP/1.1\r\nHost: user@{a}\r\n"),
    (
        "Host with user and password",
        "GET / HTTP/1.1\r\nHost: user:pw@{a}\r\n",
    ),
    ("two Host lines", "GET / HTTP/1.1\r\nHost: {a}\r\nHost: {a}\r\n"),
    ("no Host", "GET / HTTP/1.1\r\n"),
    ("Host with a path", "GET / HTTP/1.1\r\nHost: {a}/x\r\n"),
];

#[tokio::test]
async fn h1_ambiguous_requests_get_400_and_reach_nothing() {
    let gw = gateway().await;
    let a = gw.authority();
    let mut failures = Vec::new();
    for (case, head) in H1_REFUSED {
        let bytes = format!(
            "{}\r\n5\r\nhello\r\n0\r\n\r\n{}",
            head.replace("{a}", &a),
            hidden(&a)
        );
        match raw_h1(gw.addr, gw.ca_pem(), bytes.as_bytes()).await {
            Ok(ans) if ans.status.as_u16() == 400 => {}
            Ok(ans) => failures.push(format!("{case}: {} {}", ans.status, ans.text())),
            Err(e) => failures.push(format!("{case}: no response: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_nothing_forwarded(&gw, "HTTP/1.1").await;
}

#[test]
fn h2_status_decoding() {
    assert_eq!(status_of(&[0x88]), Some(200));
    assert_eq!(status_of(&[0x8c]), Some(400));
    assert_eq!(status_of(&[0x48, 0x03, b'4', b'1', b'3']), Some(413));
    // "413" Huffman-coded: 011010 00001 011001, padded with ones.
    assert_eq!(status_of(&[0x48, 0x83, 0x68, 0x2c, 0xff]), Some(413));
}

/// Framing that RFC 9112 resolves one way only, as hyper's parser does before
/// the gateway sees the request: `Transfer-Encoding: chunked` overrides a
/// `Content-Length` (§6.3 item 3), which is dropped, and the connection is
/// closed after the response, so nothing pipelined behind it is read;
/// repeated identical `Content-Length` lines are one (RFC 9110 §8.6). The
/// upstream gets the gateway's own serialisation: the decoded body, framed
/// once, never the client's framing fields.
#[tokio::test]
async fn h1_resolved_framing_is_reframed_and_nothing_rides_behind() {
    let gw = gateway().await;
    let a = gw.authority();
    let chunked = "5\r\nhello\r\n0\r\n\r\n";
    for (case, head) in [
        (
            "Content-Length then Transfer-Encoding",
            "POST /cl-te HTTP/1.1\r\nHost: {a}\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "Transfer-Encoding then Content-Length",
            "POST /te-cl HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n",
        ),
        (
            "Content-Length: 0 and Transfer-Encoding",
            "POST /cl0-te HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n",
        ),
    ] {
        let before = gw.upstream().count();
        let bytes = format!("{}\r\n{chunked}{}", head.replace("{a}", &a), hidden(&a));
        let ans = raw_h1(gw.addr, gw.ca_pem(), bytes.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(ans.status.as_u16(), 200, "{case}: {}", ans.text());
        assert_eq!(
            ans.header("connection"),
            Some("close"),
            "{case}: the connection must not carry another request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let up = gw.upstream();
        assert_eq!(up.count(), before + 1, "{case}: {:?}", up.requests());
        let rec = up.last();
        assert_eq!(&rec.body[..], b"hello", "{case}");
        let framing = rec.header_all("content-length").len() + rec.header_all("transfer-encoding").len();
        assert_eq!(framing, 1, "{case}: framed once: {:?}", rec.headers);
        if let Some(cl) = rec.header("content-length") {
            assert_eq!(cl, "5", "{case}");
        }
    }
    // Identical Content-Length lines are one length; the body is exactly it
    // and the request behind it is an ordinary, separate one.
    let bytes = format!(
        "POST /cl-cl HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    let ans = raw_h1(gw.addr, gw.ca_pem(), bytes.as_bytes())
        .await
        .unwrap();
    assert_eq!(ans.status.as_u16(), 200, "{}", ans.text());
    let rec = gw.upstream().last();
    assert_eq!(rec.path(), "/cl-cl");
    assert_eq!(&rec.body[..], b"hello");
    assert_eq!(rec.header_all("content-length"), vec!["5".to_owned()]);
    assert!(
        gw.upstream()
            .requests()
            .iter()
            .all(|r| r.path() != "/smuggled"),
        "{:?}",
        gw.upstream().requests()
    );
}

/// What the gateway must do with an HTTP/2 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H2Expect {
    /// 400 `invalid_request` from the gateway.
    BadRequest,
    /// A malformed request (RFC 9113 §8.1.1): RST_STREAM PROTOCOL_ERROR.
    Reset,
    /// A header block that is not valid field syntax at all (RFC 9113
    /// §8.2.1): the connection ends, GOAWAY PROTOCOL_ERROR.
    GoAway,
}

/// PROTOCOL_ERROR.
const PROTOCOL_ERROR: u32 = 0x1;

/// One HTTP/2 request on a fresh connection, its header block as given
/// (`{a}` is the gateway's authority), then `data` if any; how it ended.
async fn h2_case(gw: &TestGateway, fields: &[(&str, &str)], data: Option<&[u8]>) -> StreamEnd {
    let a = gw.authority();
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.replace("{a}", &a)))
        .collect();
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut h2 = H2Raw::connect(gw.addr, gw.ca_pem()).await;
    h2.headers(1, &refs, data.is_none()).await.unwrap();
    if let Some(d) = data {
        h2.data(1, d, true).await.unwrap();
    }
    h2.outcome(1, Duration::from_secs(5)).await
}

/// An HTTP/2 header block, field by field.
type Fields = Vec<(&'static str, &'static str)>;

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "{a}"),
    (":path", "/"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Fields {
    GET.iter().chain(extra).copied().collect()
}

#[tokio::test]
async fn h2_ambiguous_requests_are_refused_and_reach_nothing() {
    let gw = gateway().await;
    use H2Expect::*;
    let cases: Vec<(&str, Fields, H2Expect)> = vec![
        (
            "Host disagrees with :authority",
            with(&[("host", "other.example")]),
            BadRequest,
        ),
        (
            "Host with another port",
            with(&[("host", "localhost:1")]),
            BadRequest,
        ),
        (
            "Host with userinfo",
            with(&[("host", "user@{a}")]),
            BadRequest,
        ),
        (
            "two Host fields",
            with(&[("host", "{a}"), ("host", "{a}")]),
            BadRequest,
        ),
        (
            ":authority with userinfo",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "user@{a}"),
                (":path", "/"),
            ],
            BadRequest,
        ),
        (
            "no :authority, Host with userinfo",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("host", "user@{a}"),
            ],
            BadRequest,
        ),
        (
            "no :authority, no Host",
            vec![(":method", "GET"), (":scheme", "https"), (":path", "/")],
            BadRequest,
        ),
        (
            "transfer-encoding",
            with(&[("transfer-encoding", "chunked")]),
            Reset,
        ),
        ("connection", with(&[("connection", "keep-alive")]), Reset),
        ("keep-alive", with(&[("keep-alive", "timeout=5")]), Reset),
        (
            "proxy-connection",
            with(&[("proxy-connection", "keep-alive")]),
            Reset,
        ),
        ("upgrade", with(&[("upgrade", "h2c")]), Reset),
        ("te other than trailers", with(&[("te", "gzip")]), Reset),
        ("upper-case name", with(&[("X-Upper", "a")]), GoAway),
        (
            "CR LF in a value",
            with(&[("x-a", "a\r\nTransfer-Encoding: chunked")]),
            GoAway,
        ),
        ("NUL in a value", with(&[("x-a", "a\0b")]), GoAway),
        ("space in a name", with(&[("x a", "b")]), GoAway),
        ("colon in a name", with(&[("x:a", "b")]), GoAway),
        ("duplicate :path", with(&[(":path", "/other")]), Reset),
        (
            "duplicate :authority",
            with(&[(":authority", "other.example")]),
            Reset,
        ),
        (
            "pseudo-header after a regular one",
            {
                let mut f = vec![(":method", "GET"), (":scheme", "https"), ("x-a", "b")];
                f.extend([(":authority", "{a}"), (":path", "/")]);
                f
            },
            Reset,
        ),
        ("unknown pseudo-header", with(&[(":foo", "bar")]), GoAway),
        ("response pseudo-header", with(&[(":status", "200")]), Reset),
        (
            "no :path",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "{a}"),
            ],
            Reset,
        ),
        (
            "no :method",
            vec![(":scheme", "https"), (":authority", "{a}"), (":path", "/")],
            Reset,
        ),
        (
            "empty :path",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "{a}"),
                (":path", ""),
            ],
            Reset,
        ),
        (
            "request line in :method",
            vec![
                (":method", "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"),
                (":scheme", "https"),
                (":authority", "{a}"),
                (":path", "/"),
            ],
            GoAway,
        ),
        (
            "space in :path",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "{a}"),
                (":path", "/a HTTP/1.1"),
            ],
            Reset,
        ),
    ];
    let mut failures = Vec::new();
    for (case, fields, expect) in &cases {
        let got = h2_case(&gw, fields, None).await;
        let ok = match expect {
            BadRequest => got == StreamEnd::Status(400),
            Reset => got == StreamEnd::Reset(PROTOCOL_ERROR),
            GoAway => got == StreamEnd::GoAway(PROTOCOL_ERROR),
        };
        if !ok {
            failures.push(format!("{case}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_nothing_forwarded(&gw, "HTTP/2").await;
}

#[tokio::test]
async fn h2_content_length_must_match_the_data() {
    let gw = gateway().await;
    let post = |cl: &'static str| {
        vec![
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "{a}"),
            (":path", "/upload"),
            ("content-length", cl),
        ]
    };
    let mut failures = Vec::new();
    for (case, fields, data) in [
        (
            "more DATA than content-length",
            post("5"),
            &b"hello, world"[..],
        ),
        ("less DATA than content-length", post("50"), &b"hello"[..]),
        ("content-length not a number", post("5x"), &b"hello"[..]),
        ("two content-length values", post("5, 5"), &b"hello"[..]),
    ] {
        let got = h2_case(&gw, &fields, Some(data)).await;
        let status_ok = matches!(
            got,
            StreamEnd::Reset(PROTOCOL_ERROR) | StreamEnd::Status(400)
        );
        if !status_ok {
            failures.push(format!("{case}: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_nothing_forwarded(&gw, "HTTP/2 content-length").await;

    // Bodies stream: when the excess DATA comes after the head went on, the
    // upstream request is cut before its declared length, never completed
    // and never followed by anything on that upstream connection.
    let mut h2 = H2Raw::connect(gw.addr, gw.ca_pem()).await;
    let a = gw.authority();
    let fields = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", a.as_str()),
        (":path", "/late"),
        ("content-length", "5"),
    ];
    h2.headers(1, &fields, false).await.unwrap();
    h2.data(1, b"hel", false).await.unwrap();
    let up = gw.upstream();
    assert!(up.wait_arrived(1, Duration::from_secs(5)).await);
    h2.data(1, b"lo, world", true).await.unwrap();
    assert_eq!(
        h2.outcome(1, Duration::from_secs(5)).await,
        StreamEnd::Reset(PROTOCOL_ERROR)
    );
    assert!(up.wait_recorded(1, Duration::from_secs(5)).await);
    let rec = up.last();
    assert_eq!(rec.path(), "/late");
    assert!(rec.body_error.is_some(), "{rec:?}");
    assert!(rec.body_len < 5, "{rec:?}");
    assert_eq!(up.count(), 1);
}
