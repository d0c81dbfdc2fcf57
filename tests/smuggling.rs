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
use common::req::{raw_h1, raw_h1_connect, read_response, read_until_closed};
use common::{simple_tls_config, TestGateway, Upstream};
use tokio::io::AsyncWriteExt;

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

/// Framing that hyper would resolve silently (dropping the
/// `Content-Length` beside `Transfer-Encoding`, keeping one of identical
/// `Content-Length` lines), as header lines after the request line and
/// `Host`. Each is followed by a chunked body ([`CHUNKED`]) and a hidden
/// request.
const AMBIGUOUS: &[(&str, &str)] = &[
    (
        "Content-Length then Transfer-Encoding",
        "Content-Length: 30\r\nTransfer-Encoding: chunked\r\n",
    ),
    (
        "Transfer-Encoding then Content-Length",
        "Transfer-Encoding: chunked\r\nContent-Length: 30\r\n",
    ),
    (
        "Content-Length: 0 and Transfer-Encoding",
        "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
    ),
    (
        "Transfer-Encoding and a Content-Length equal to the chunked body",
        "transfer-encoding: chunked\r\ncontent-length: 15\r\n",
    ),
    (
        "Transfer-Encoding and a Content-Length of the decoded body",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ),
    ("Content-Length: 5, 5", "Content-Length: 5, 5\r\n"),
    (
        "two Content-Length: 5 lines",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
    ),
];

const CHUNKED: &str = "5\r\nhello\r\n0\r\n\r\n";

/// An ambiguous request (`fields` from [`AMBIGUOUS`]) with its body and a
/// hidden request behind it.
fn ambiguous(a: &str, fields: &str) -> String {
    format!(
        "POST /ambiguous HTTP/1.1\r\nHost: {a}\r\n{fields}\r\n{CHUNKED}{}",
        hidden(a)
    )
}

/// Asserts `ans` is the gateway's refusal of ambiguous framing.
fn assert_refused(ans: &common::client::Answer, case: &str) {
    assert_eq!(ans.status.as_u16(), 400, "{case}: {}", ans.text());
    assert_eq!(ans.header("connection"), Some("close"), "{case}");
    assert_eq!(
        ans.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    let json: serde_json::Value = serde_json::from_slice(&ans.body).unwrap();
    assert_eq!(json["error"], "invalid_request", "{case}");
    assert_eq!(
        json["error_description"], "ambiguous message framing",
        "{case}"
    );
}

/// Writes `bytes` on a fresh connection; every response until it closes.
async fn exchange(gw: &TestGateway, bytes: &[u8]) -> Vec<common::client::Answer> {
    let mut tls = raw_h1_connect(gw.addr, gw.ca_pem()).await.unwrap();
    tls.write_all(bytes).await.unwrap();
    tls.flush().await.unwrap();
    let (answers, rest) = read_until_closed(&mut tls, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    answers
}

/// RFC 9112 §6.3 items 3 and 5 say how a recipient may resolve these; the
/// gateway does not guess: 400, the connection closes, and neither the
/// request nor the one behind it reaches the upstream.
#[tokio::test]
async fn h1_ambiguous_framing_gets_400_and_closes() {
    let gw = gateway().await;
    let a = gw.authority();
    for (case, fields) in AMBIGUOUS {
        let answers = exchange(&gw, ambiguous(&a, fields).as_bytes()).await;
        assert_eq!(answers.len(), 1, "{case}: one answer, then closed");
        assert_refused(&answers[0], case);
    }
    assert_nothing_forwarded(&gw, "ambiguous framing").await;
}

/// The same as the second request of a kept-alive connection, sent after
/// the first one's response or pipelined behind it: the first is served
/// once, with its body, and the second refused.
#[tokio::test]
async fn h1_ambiguous_framing_after_a_valid_request_on_the_same_connection() {
    let gw = gateway().await;
    let a = gw.authority();
    let firsts = [
        (
            "Content-Length body",
            format!("POST /first HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\n\r\nhello"),
        ),
        (
            "chunked body with extensions and trailers",
            format!(
                "POST /first HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n\
                 2;a=1\r\nhe\r\n3 ; b=\"x\"\r\nllo\r\n0\r\nX-Trailer: t\r\n\r\n"
            ),
        ),
    ];
    let up = gw.upstream();
    for (first_case, first) in &firsts {
        for (case, fields) in AMBIGUOUS {
            for pipelined in [false, true] {
                let case = format!("{first_case}, then {case}, pipelined: {pipelined}");
                let before = up.count();
                let bad = ambiguous(&a, fields);
                let mut tls = raw_h1_connect(gw.addr, gw.ca_pem()).await.unwrap();
                let mut answers = Vec::new();
                if pipelined {
                    tls.write_all(format!("{first}{bad}").as_bytes())
                        .await
                        .unwrap();
                } else {
                    tls.write_all(first.as_bytes()).await.unwrap();
                    tls.flush().await.unwrap();
                    answers.push(read_response(&mut tls, Vec::new()).await.unwrap());
                    tls.write_all(bad.as_bytes()).await.unwrap();
                }
                tls.flush().await.unwrap();
                let (rest, tail) = read_until_closed(&mut tls, Duration::from_secs(10))
                    .await
                    .unwrap();
                answers.extend(rest);
                assert!(tail.is_empty(), "{case}");
                assert_eq!(answers.len(), 2, "{case}");
                assert_eq!(answers[0].status.as_u16(), 200, "{case}");
                assert_refused(&answers[1], &case);
                assert_eq!(up.count(), before + 1, "{case}: {:?}", up.requests());
                let rec = up.last();
                assert_eq!(rec.path(), "/first", "{case}");
                assert_eq!(&rec.body[..], b"hello", "{case}");
            }
        }
    }
    assert!(
        up.requests().iter().all(|r| r.path() == "/first"),
        "{:?}",
        up.requests()
    );
}

/// Every request pipelined before a refused one is served and answered in
/// order; the `400` comes last.
#[tokio::test]
async fn h1_requests_pipelined_before_a_refused_one_are_all_answered() {
    let gw = gateway().await;
    let a = gw.authority();
    let bytes = format!(
        "GET /one HTTP/1.1\r\nHost: {a}\r\n\r\n\
         POST /two HTTP/1.1\r\nHost: {a}\r\nContent-Length: 3\r\n\r\ntwo\
         PUT /three HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n{}",
        ambiguous(&a, AMBIGUOUS[1].1)
    );
    let answers = exchange(&gw, bytes.as_bytes()).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 400]);
    assert_refused(&answers[3], "behind three");
    let got: Vec<(String, Vec<u8>)> = gw
        .upstream()
        .requests()
        .iter()
        .map(|r| (r.path().to_owned(), r.body.to_vec()))
        .collect();
    assert_eq!(
        got,
        [
            ("/one".to_owned(), b"".to_vec()),
            ("/two".to_owned(), b"two".to_vec()),
            ("/three".to_owned(), b"three".to_vec()),
        ]
    );
}

/// No false positives: one kept-alive connection carries 50 pipelined
/// requests of every framing (none, `Content-Length`, chunked with
/// extensions and trailers, bare-LF line ends), half of them written one
/// byte per TLS record, the rest in uneven pieces. All are served, in
/// order, and the upstream receives exactly their bodies.
#[tokio::test]
async fn h1_pipelined_mixed_framing_is_all_served() {
    let gw = gateway().await;
    let a = gw.authority();
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for i in 0..50 {
        let body = format!("body {i} {}", "x".repeat(i % 7));
        let close = if i == 49 { "Connection: close\r\n" } else { "" };
        let req = match i % 5 {
            0 => {
                expected.push((format!("/p{i}"), String::new()));
                format!("GET /p{i}?q={i} HTTP/1.1\r\nHost: {a}\r\n{close}\r\n")
            }
            1 => {
                expected.push((format!("/p{i}"), body.clone()));
                format!(
                    "POST /p{i} HTTP/1.1\r\nHost: {a}\r\ncontent-length: {}\r\n{close}\r\n{body}",
                    body.len()
                )
            }
            2 => {
                let (x, y) = body.split_at(4);
                expected.push((format!("/p{i}"), body.clone()));
                format!(
                    "PUT /p{i} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n{close}\r\n\
                     {:x};ext=\"a b\"\r\n{x}\r\n{:X} ;n=1;m\r\n{y}\r\n0\r\nX-Sum: {i}\r\nX-More: 1\r\n\r\n",
                    x.len(),
                    y.len()
                )
            }
            3 => {
                expected.push((format!("/p{i}"), body.clone()));
                format!(
                    "POST /p{i} HTTP/1.1\nHost: {a}\nContent-Length: {}\n{}\n{body}",
                    body.len(),
                    close.replace("\r\n", "\n")
                )
            }
            _ => {
                expected.push((format!("/p{i}"), body.clone()));
                format!(
                    "PATCH /p{i} HTTP/1.1\r\nHost: {a}\r\ntransfer-encoding: chunked\r\n{close}\r\n\
                     {:04x}\r\n{body}\r\n000\r\n\r\n",
                    body.len()
                )
            }
        };
        stream.extend_from_slice(req.as_bytes());
    }
    let mut tls = raw_h1_connect(gw.addr, gw.ca_pem()).await.unwrap();
    let half = stream.len() / 2;
    for b in &stream[..half] {
        tls.write_all(std::slice::from_ref(b)).await.unwrap();
        tls.flush().await.unwrap();
    }
    let mut at = half;
    let mut size = 1;
    while at < stream.len() {
        let end = (at + size).min(stream.len());
        tls.write_all(&stream[at..end]).await.unwrap();
        tls.flush().await.unwrap();
        at = end;
        size = size % 97 + 13;
    }
    let (answers, rest) = read_until_closed(&mut tls, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, vec![200; 50]);
    let got: Vec<(String, String)> = gw
        .upstream()
        .requests()
        .iter()
        .map(|r| {
            (
                r.path().to_owned(),
                String::from_utf8(r.body.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

/// A request that asks for an upgrade ends the framing check for its
/// connection (what follows its head may be a tunnel); when it is not
/// upgraded, the connection closes after its response, so nothing behind
/// it is read as a request.
#[tokio::test]
async fn h1_a_refused_upgrade_closes_the_connection() {
    let gw = gateway().await;
    let a = gw.authority();
    let bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n{}",
        ambiguous(&a, AMBIGUOUS[0].1)
    );
    let answers = exchange(&gw, bytes.as_bytes()).await;
    assert_eq!(answers.len(), 1, "{:?}", answers);
    assert_ne!(answers[0].status.as_u16(), 101);
    assert_eq!(answers[0].header("connection"), Some("close"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let paths: Vec<String> = gw
        .upstream()
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert!(paths.iter().all(|p| p == "/ws"), "{paths:?}");
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
