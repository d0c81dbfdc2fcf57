//! Every negative case of rfc9449-checks section 7 that applies without
//! nonces or introspection (1–64, 70, 71, 74–78), as ONE table run against
//! one gateway over real TLS, once over HTTP/1.1 and once over HTTP/2.
//!
//! For every case: the status, the `error` of the right `WWW-Authenticate`
//! challenge (strictly parsed) and of the JSON body, `Content-Type:
//! application/json`, `algs` on the DPoP challenge, no `"` or `\` in any
//! value, and that the upstream recorded NOTHING (its request count and the
//! count of request heads that reached it are compared before and after).
//! Where a rejection could come from an earlier check than the one under
//! test, the case also names a word of the expected `error_description`
//! ("why"), and the token is bound to the proof's own `jwk` so that only the
//! mutated property can fail.
//!
//! `mutations_have_accepted_twins` shows that the un-mutated twins of the
//! subtlest cases are accepted, so those rejections are not accidents.
//! `path_aliases_of_a_dpop_route_do_not_bypass_it` tries to reach a DPoP
//! route through a public one with RFC 3986-equivalent spellings of its path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::check::{problems, Expect};
use common::jose::{
    ath, b64, b64_std, jkt_of, random_id, segments, sha256, sign_raw, signature_of, unb64,
    with_signature, Proof,
};
use common::keys;
use common::req::{send, Req, Via};
use common::tokens::{sign_token, token_claims, token_header};
use common::{hex, route_with, system_now, Answer, ClockMode, TestGateway, Upstream, DEFAULT_ALGS};
use dpop_gateway::jose::{Alg, SigningKey};
use serde_json::{json, Value};

common::rejection_self_tests!();

const API: &str = "/api/resource";
const SCOPED: &str = "/scoped/resource";
const DUAL: &str = "/dual/resource";

fn config(upstream: &str) -> String {
    [
        route_with("api", "/api", upstream, "auth = \"dpop\""),
        route_with(
            "scoped",
            "/scoped",
            upstream,
            "auth = \"dpop\"\nrequired_scopes = [\"orders:read\"]",
        ),
        route_with("dual", "/dual", upstream, "auth = \"dpop_or_bearer\""),
        route_with(
            "mapped",
            "/internal",
            upstream,
            "auth = \"dpop\"\npublic_url = \"https://api.test/public-api\"",
        ),
    ]
    .concat()
}

/// A loopback listener that counts connections: the gateway must never
/// fetch a key from `jku` / `x5u` (case 41).
struct FetchTrap {
    url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FetchTrap {
    async fn start() -> FetchTrap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        });
        FetchTrap { url, hits, task }
    }
}

impl Drop for FetchTrap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a case is sent.
enum Send {
    /// One request.
    One(Req),
    /// Raw HTTP/1.1 bytes (header-name case kept); run in the HTTP/1.1 pass.
    Raw(Req),
    /// `first` must be accepted (200, forwarded once); then `then` is the case.
    AfterAccepted { first: Req, then: Req },
    /// `n` copies in parallel: exactly one 200, the rest are the case.
    Parallel(Req, usize),
    /// May be refused by the HTTP layer (any 4xx, or a refused stream);
    /// a 401 must be the expected one. Never forwarded.
    Oversize(Req),
}

struct Case {
    id: &'static str,
    what: String,
    send: Send,
    expect: Expect,
}

/// Keys of one table build.
struct Keys {
    /// The client key the default token is bound to.
    es256: SigningKey,
    other_es256: SigningKey,
    es384: SigningKey,
    ed25519: SigningKey,
    /// The same RSA-2048 key, signing as RS256 (PKCS#1 v1.5) and PS256.
    rsa_rs256: SigningKey,
    rsa_ps256: SigningKey,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            es256: SigningKey::generate(Alg::Es256).unwrap(),
            other_es256: SigningKey::generate(Alg::Es256).unwrap(),
            es384: SigningKey::generate(Alg::Es384).unwrap(),
            ed25519: SigningKey::generate(Alg::EdDsa).unwrap(),
            rsa_rs256: keys::rsa_signing_key(Alg::Rs256),
            rsa_ps256: keys::rsa_signing_key(Alg::Ps256),
        }
    }
}

/// What the cases are built from.
struct Ctx<'a> {
    gw: &'a TestGateway,
    k: &'a Keys,
    now: i64,
    /// Bound to `k.es256`.
    token: String,
    upstream: String,
    trap: String,
}

impl Ctx<'_> {
    fn htu(&self, path: &str) -> String {
        self.gw.htu(path)
    }

    /// A valid proof builder for `GET path` with the default token and key.
    fn p(&self, path: &str) -> Proof<'_> {
        Proof::new(
            &self.k.es256,
            "GET",
            &self.htu(path),
            Some(&self.token),
            self.now,
        )
    }

    /// A proof builder for `key`, for `GET API`, bound to `token`.
    fn pk<'k>(&self, key: &'k SigningKey, token: &str) -> Proof<'k> {
        Proof::new(key, "GET", &self.htu(API), Some(token), self.now)
    }

    /// A token bound to the thumbprint of `jwk` (computed by hand).
    fn bound_to(&self, jwk: &Value) -> String {
        self.gw.token(Some(&jkt_of(jwk)), None)
    }

    /// `GET path` with the default token and `proof`.
    fn with(&self, path: &str, proof: &str) -> Req {
        Req::get(path).dpop(&self.token, proof)
    }

    /// `GET API` with the default token and `proof`.
    fn api(&self, proof: &str) -> Req {
        self.with(API, proof)
    }

    /// A fully valid request for `GET path`.
    fn ok(&self, path: &str) -> Req {
        self.with(path, &self.p(path).sign())
    }
}

fn one(req: Req) -> Send {
    Send::One(req)
}

/// A token (bound to `key`) whose `ath` contains `-` or `_`, so that its
/// standard-base64 spelling really differs in alphabet.
fn token_with_urlsafe_ath(c: &Ctx<'_>, key: &SigningKey) -> String {
    for _ in 0..200 {
        let t = c.gw.token(Some(key.jkt().as_str()), None);
        if ath(&t).contains(['-', '_']) {
            return t;
        }
    }
    panic!("no token with - or _ in its ath after 200 tries")
}

#[allow(clippy::vec_init_then_push)]
fn cases(c: &Ctx<'_>) -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    let mut add = |id: &'static str, what: &str, send: Send, expect: Expect| {
        v.push(Case {
            id,
            what: what.to_owned(),
            send,
            expect,
        })
    };
    let t = c.token.as_str();
    let k = c.k;
    let now = c.now;
    let idp = Expect::idp;
    let it = Expect::it;
    let ir = Expect::ir;

    // ---------------------------------------------------------------- shape
    add(
        "1",
        "no Authorization, no DPoP",
        one(Req::get(API)),
        Expect::new(401, None),
    );
    add(
        "1",
        "only a scheme the gateway does not serve (Basic)",
        one(Req::get(API).h("Authorization", "Basic YWxpY2U6c2VjcmV0")),
        Expect::new(401, None),
    );
    add(
        "1",
        "dpop_or_bearer route, no credentials (Fig. 17)",
        one(Req::get(DUAL)),
        Expect::new(401, None).dual(),
    );
    add(
        "2",
        "Authorization: DPoP and no DPoP header",
        one(Req::get(API).h("Authorization", format!("DPoP {t}"))),
        ir(),
    );
    let p = c.p(API).sign();
    add(
        "3",
        "the same valid proof in two DPoP lines",
        one(c.api(&p).h("DPoP", &p)),
        ir(),
    );
    add(
        "4",
        "two different valid proofs in two DPoP lines",
        one(c.api(&c.p(API).sign()).h("DPoP", c.p(API).sign())),
        ir(),
    );
    add(
        "4",
        "two valid proofs in lines named DPoP and dpop (raw HTTP/1.1)",
        Send::Raw(
            Req::get(API)
                .h("Authorization", format!("DPoP {t}"))
                .h("DPoP", c.p(API).sign())
                .h("dpop", c.p(API).sign()),
        ),
        ir(),
    );
    add(
        "5",
        "one DPoP line holding `proof1, proof2`",
        one(c.api(&format!("{}, {}", c.p(API).sign(), c.p(API).sign()))),
        ir(),
    );
    add(
        "5",
        "one DPoP line holding `proof1,proof2`",
        one(c.api(&format!("{},{}", c.p(API).sign(), c.p(API).sign()))),
        ir(),
    );
    add(
        "6",
        "Authorization: Bearer X and Authorization: DPoP X",
        one(Req::get(API)
            .h("Authorization", format!("Bearer {t}"))
            .dpop(t, &c.p(API).sign())),
        ir(),
    );
    add(
        "6",
        "two Authorization: DPoP lines",
        one(Req::get(API)
            .h("Authorization", format!("DPoP {t}"))
            .dpop(t, &c.p(API).sign())),
        ir(),
    );
    add(
        "6",
        "dpop_or_bearer route: Bearer and DPoP lines (Fig. 19, both challenges carry it)",
        one(Req::get(DUAL)
            .h("Authorization", format!("Bearer {t}"))
            .dpop(t, &c.p(DUAL).sign())),
        ir().dual().carried_by(&["Bearer", "DPoP"]),
    );
    add(
        "7",
        "token in the Authorization header and in ?access_token=",
        one(c.with(&format!("{API}?access_token={t}"), &c.p(API).sign())),
        ir(),
    );
    add(
        "7",
        "token in the header and in ?x=1&access_token=",
        one(c.with(&format!("{API}?x=1&access_token={t}"), &c.p(API).sign())),
        ir(),
    );
    add(
        "7",
        "dpop_or_bearer route: header and ?access_token= (both challenges carry it)",
        one(c.with(&format!("{DUAL}?access_token={t}"), &c.p(DUAL).sign())),
        ir().dual().carried_by(&["Bearer", "DPoP"]),
    );
    add(
        "8",
        "token only in ?access_token=, with a valid proof",
        one(Req::get(&format!("{API}?access_token={t}")).h("DPoP", c.p(API).sign())),
        ir(),
    );
    let post = Proof::new(&k.es256, "POST", &c.htu(API), Some(t), now).sign();
    add(
        "8",
        "token only in a form body, with a valid proof",
        one(Req::new("POST", API)
            .h("Content-Type", "application/x-www-form-urlencoded")
            .h("DPoP", post)
            .body(format!("access_token={t}"))),
        ir(),
    );
    add(
        "9",
        "DPoP-bound token with Authorization: Bearer, no proof",
        one(Req::get(API).h("Authorization", format!("Bearer {t}"))),
        it(),
    );
    add(
        "9",
        "dpop_or_bearer route: bound token as Bearer (downgrade, error in the Bearer challenge)",
        one(Req::get(DUAL).h("Authorization", format!("Bearer {t}"))),
        it().dual().carried_by(&["Bearer"]),
    );
    add(
        "10",
        "bound token with Authorization: Bearer and a valid DPoP proof",
        one(Req::get(API)
            .h("Authorization", format!("Bearer {t}"))
            .h("DPoP", c.p(API).sign())),
        ir(),
    );
    add(
        "10",
        "dpop_or_bearer route: Bearer scheme with a DPoP proof (section 2.2: dual, both carry it)",
        one(Req::get(DUAL)
            .h("Authorization", format!("Bearer {t}"))
            .h("DPoP", c.p(DUAL).sign())),
        ir().dual().carried_by(&["Bearer", "DPoP"]),
    );
    let unbound = c.gw.token(None, None);
    add(
        "11",
        "token without cnf, DPoP scheme, valid proof",
        one(Req::get(API).dpop(&unbound, &c.pk(&k.es256, &unbound).sign())),
        it().why("bound"),
    );
    add(
        "12",
        "Authorization: DPoP (no token) with a valid proof",
        one(Req::get(API)
            .h("Authorization", "DPoP")
            .h("DPoP", c.p(API).sign())),
        ir(),
    );
    add(
        "12",
        "Authorization: `DPoP ` (empty token) with a valid proof",
        one(Req::get(API)
            .h("Authorization", "DPoP ")
            .h("DPoP", c.p(API).sign())),
        ir(),
    );
    let (th, tp, ts) = segments(t);
    for (what, bad) in [
        ("a space", format!("{th}.{tp} {ts}")),
        ("a comma", format!("{th}.{tp},{ts}")),
        ("a double quote", format!("{th}.{tp}\"{ts}")),
        ("`=` before the end", format!("{th}=.{tp}.{ts}")),
    ] {
        let proof = c.pk(&k.es256, &bad).sign();
        add(
            "13",
            &format!("access token containing {what} (not token68)"),
            one(Req::get(API).dpop(&bad, &proof)),
            ir(),
        );
    }
    let good = c.p(API).sign();
    let (ph, pp, ps) = segments(&good);
    for (what, bad) in [
        (
            "inner whitespace",
            format!("{ph}.{} {}.{ps}", &pp[..10], &pp[10..]),
        ),
        ("a `+`", format!("{ph}.{pp}.{}+{}", &ps[..5], &ps[5..])),
        ("a `/`", format!("{ph}.{}/{}.{ps}", &pp[..7], &pp[7..])),
        ("`=` padding", format!("{ph}.{pp}.{ps}=")),
        ("a `!`", format!("{ph}!.{pp}.{ps}")),
    ] {
        add(
            "14",
            &format!("DPoP value with {what}"),
            one(c.api(&bad)),
            idp(),
        );
    }
    add("15", "empty DPoP header", one(c.api("")), ir());
    add("15", "whitespace-only DPoP header", one(c.api("   ")), ir());

    // ---------------------------------------------------- proof structure
    add("16", "DPoP: malformed", one(c.api("malformed")), idp());
    add(
        "17",
        "signature segment removed (two segments)",
        one(c.api(&format!("{ph}.{pp}"))),
        idp(),
    );
    add(
        "17",
        "empty signature segment",
        one(c.api(&format!("{ph}.{pp}."))),
        idp(),
    );
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM","typ":"dpop+jwt"}"#),
        b64([7u8; 256]),
        b64([1u8; 12]),
        b64(c.p(API).claims_json()),
        b64([2u8; 16])
    );
    add("18", "a 5-part JWE", one(c.api(&jwe)), idp());
    let base = c.p(API);
    let (hj, cj) = (base.header_json(), base.claims_json());
    for (what, h, p) in [
        ("header is a JSON array", "[]".to_owned(), cj.clone()),
        ("header is null", "null".to_owned(), cj.clone()),
        ("header is not JSON", "{\"typ\":".to_owned(), cj.clone()),
        ("payload is a JSON array", hj.clone(), "[1]".to_owned()),
        ("payload is null", hj.clone(), "null".to_owned()),
        ("payload is not JSON", hj.clone(), "jti=1".to_owned()),
    ] {
        add("19", what, one(c.api(&sign_raw(&k.es256, &h, &p))), idp());
    }
    let (good_htu, bad_htu) = (c.htu(API), c.htu("/api/other"));
    let dup = |first: &str, second: &str| {
        format!(
            r#"{{"jti":"{}","htm":"GET","htu":"{first}","htu":"{second}","iat":{now},"ath":"{}"}}"#,
            random_id(),
            ath(t)
        )
    };
    add(
        "20",
        "duplicate htu: first valid, last wrong",
        one(c.api(&sign_raw(&k.es256, &hj, &dup(&good_htu, &bad_htu)))),
        idp(),
    );
    add(
        "20",
        "duplicate htu: first wrong, last valid",
        one(c.api(&sign_raw(&k.es256, &hj, &dup(&bad_htu, &good_htu)))),
        idp(),
    );
    let escaped = format!(
        r#"{{"jti":"{}","htm":"GET","htu":"{bad_htu}","h\u0074u":"{good_htu}","iat":{now},"ath":"{}"}}"#,
        random_id(),
        ath(t)
    );
    add(
        "20",
        "duplicate htu spelled h\\u0074u (same name after unescaping)",
        one(c.api(&sign_raw(&k.es256, &hj, &escaped))),
        idp(),
    );
    let jwk = k.es256.public_jwk();
    let dup_alg = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"none","jwk":{jwk}}}"#);
    add(
        "20",
        "duplicate alg in the header",
        one(c.api(&sign_raw(&k.es256, &dup_alg, &cj))),
        idp(),
    );
    let dup_x = format!(
        r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{}","x":"{}","y":"{}"}}}}"#,
        jwk["x"].as_str().unwrap(),
        k.other_es256.public_jwk()["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    add(
        "20",
        "duplicate x inside the jwk",
        one(c.api(&sign_raw(&k.es256, &dup_x, &cj))),
        idp(),
    );
    add(
        "21",
        "crit: [\"foo\"]",
        one(c.api(
            &c.p(API)
                .header("crit", json!(["foo"]))
                .header("foo", json!(1))
                .sign(),
        )),
        idp(),
    );
    add(
        "21",
        "b64: false with crit: [\"b64\"]",
        one(c.api(
            &c.p(API)
                .header("b64", json!(false))
                .header("crit", json!(["b64"]))
                .sign(),
        )),
        idp(),
    );
    add(
        "22",
        "typ missing",
        one(c.api(&c.p(API).no_header("typ").sign())),
        idp().why("typ"),
    );
    for typ in [
        json!("JWT"),
        json!("at+jwt"),
        json!("secevent+jwt"),
        json!("dpop+jwt+wrongyousee"),
        json!(true),
        json!("application/jwt"),
    ] {
        add(
            "23",
            &format!("typ {typ}"),
            one(c.api(&c.p(API).header("typ", typ.clone()).sign())),
            idp().why("typ"),
        );
    }
    let none = c.p(API).header("alg", json!("none"));
    add(
        "24",
        "alg none with an empty signature",
        one(c.api(&format!("{}.", none.signing_input()))),
        idp(),
    );
    add(
        "24",
        "alg none with a signature",
        one(c.api(&none.sign())),
        idp(),
    );
    let secret = [42u8; 32];
    let hs = Proof::new(&k.es256, "GET", &c.htu(API), Some(t), now)
        .header("alg", json!("HS256"))
        .header("jwk", json!({"kty": "oct", "k": b64(secret)}));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        hs.signing_input().as_bytes(),
    );
    add(
        "25",
        "alg HS256 with an oct jwk, MAC keyed with its k",
        one(c.api(&format!("{}.{}", hs.signing_input(), b64(mac.as_ref())))),
        idp(),
    );
    let confused = c.p(API).header("alg", json!("HS256"));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwk.to_string().as_bytes()),
        confused.signing_input().as_bytes(),
    );
    add(
        "25",
        "alg HS256 keyed with the public EC jwk (key confusion)",
        one(c.api(&format!(
            "{}.{}",
            confused.signing_input(),
            b64(mac.as_ref())
        ))),
        idp(),
    );
    let mut renamed = c.p(API);
    let alg = renamed.header.remove("alg").unwrap();
    renamed = renamed.header("alg2", alg);
    add(
        "26",
        "alg renamed to alg2",
        one(c.api(&renamed.sign())),
        idp().why("alg"),
    );
    for alg in [
        json!(1),
        json!(true),
        json!("unsupported"),
        json!("es256"),
        json!("ES512"),
    ] {
        add(
            "26",
            &format!("alg {alg}"),
            one(c.api(&c.p(API).header("alg", alg.clone()).sign())),
            idp().why("alg"),
        );
    }
    let rsa_token = c.gw.token(Some(k.rsa_rs256.jkt().as_str()), None);
    add(
        "27",
        "valid RS256 proof, RS256 not in the allow-list",
        one(Req::get(API).dpop(&rsa_token, &c.pk(&k.rsa_rs256, &rsa_token).sign())),
        idp().why("not allowed"),
    );
    let p384_token = c.gw.token(Some(k.es384.jkt().as_str()), None);
    add(
        "27",
        "valid ES384 proof, ES384 not in the allow-list",
        one(Req::get(API).dpop(&p384_token, &c.pk(&k.es384, &p384_token).sign())),
        idp().why("not allowed"),
    );
    add(
        "28",
        "alg ES256 with a P-384 jwk",
        one(Req::get(API).dpop(
            &p384_token,
            &c.pk(&k.es384, &p384_token)
                .header("alg", json!("ES256"))
                .sign(),
        )),
        idp().why("match"),
    );
    add(
        "28",
        "alg PS256 with an EC jwk",
        one(c.api(&c.p(API).header("alg", json!("PS256")).sign())),
        idp().why("match"),
    );
    add(
        "28",
        "alg PS256 over an RSASSA-PKCS1-v1_5 signature (same RSA key)",
        one(Req::get(API).dpop(
            &rsa_token,
            &c.pk(&k.rsa_rs256, &rsa_token)
                .header("alg", json!("PS256"))
                .sign(),
        )),
        idp().why("signature"),
    );
    let ed_token = c.gw.token(Some(k.ed25519.jkt().as_str()), None);
    add(
        "28",
        "alg EdDSA with an OKP jwk of crv X25519",
        one(Req::get(API).dpop(
            &ed_token,
            &c.pk(&k.ed25519, &ed_token)
                .jwk_member("crv", json!("X25519"))
                .sign(),
        )),
        idp().why("jwk"),
    );
    add(
        "29",
        "jwk missing",
        one(c.api(&c.p(API).no_header("jwk").sign())),
        idp().why("jwk"),
    );
    for bad in [
        json!("error"),
        json!(""),
        json!(1),
        json!(true),
        Value::Null,
        json!([]),
    ] {
        add(
            "30",
            &format!("jwk is {bad}"),
            one(c.api(&c.p(API).header("jwk", bad.clone()).sign())),
            idp().why("jwk"),
        );
    }
    let d = k.es256.to_private_jwk()["d"].clone();
    add(
        "31",
        "EC jwk carrying its private d",
        one(c.api(&c.p(API).jwk_member("d", d).sign())),
        idp().why("public"),
    );
    let mut rsa_private = k.rsa_ps256.to_private_jwk();
    rsa_private.as_object_mut().unwrap().remove("alg");
    let rsa_ps_token = c.gw.token(Some(k.rsa_ps256.jkt().as_str()), None);
    add(
        "31",
        "full RSA private jwk (d p q dp dq qi)",
        one(Req::get(API).dpop(
            &rsa_ps_token,
            &c.pk(&k.rsa_ps256, &rsa_ps_token)
                .header("jwk", rsa_private)
                .sign(),
        )),
        idp().why("public"),
    );
    add(
        "31",
        "EC jwk with a symmetric k member",
        one(c.api(&c.p(API).jwk_member("k", json!(b64(secret))).sign())),
        idp().why("public"),
    );
    add(
        "31",
        "kty oct jwk with k, alg ES256",
        one(c.api(
            &c.p(API)
                .header("jwk", json!({"kty": "oct", "k": b64(secret)}))
                .sign(),
        )),
        idp(),
    );
    for (what, member, value) in [
        ("x as a number", "x", json!(123)),
        ("y as a number", "y", json!(456)),
        ("crv unknown", "crv", json!("P-999")),
        ("crv not a string", "crv", json!(256)),
        ("kty not a string", "kty", json!(1)),
    ] {
        add(
            "32",
            &format!("EC jwk {what}"),
            one(c.api(&c.p(API).jwk_member(member, value).sign())),
            idp().why("jwk"),
        );
    }
    let lz = keys::leading_zero_x_key();
    let lz_x = unb64(lz.public_jwk()["x"].as_str().unwrap());
    let lz_token = c.gw.token(Some(lz.jkt().as_str()), None);
    add(
        "33",
        "EC x of 31 octets (leading zero dropped and re-encoded)",
        one(Req::get(API).dpop(
            &lz_token,
            &c.pk(lz, &lz_token)
                .jwk_member("x", json!(b64(&lz_x[1..])))
                .sign(),
        )),
        idp().why("jwk"),
    );
    let mut y = unb64(jwk["y"].as_str().unwrap());
    y[31] ^= 1;
    let off_curve = c.p(API).jwk_member("y", json!(b64(&y)));
    let off_token = c.bound_to(&off_curve.jwk());
    let off_curve = Proof::new(&k.es256, "GET", &c.htu(API), Some(&off_token), now)
        .header("jwk", off_curve.jwk());
    add(
        "34",
        "EC point not on the curve (token bound to that jwk)",
        one(Req::get(API).dpop(&off_token, &off_curve.sign())),
        idp().why("signature"),
    );
    let zero = json!({"kty": "EC", "crv": "P-256", "x": b64([0u8; 32]), "y": b64([0u8; 32])});
    let zero_token = c.bound_to(&zero);
    add(
        "34",
        "EC point (0, 0) (token bound to that jwk)",
        one(Req::get(API).dpop(
            &zero_token,
            &c.pk(&k.es256, &zero_token).header("jwk", zero).sign(),
        )),
        idp().why("signature"),
    );
    let small = keys::rsa1024();
    let small_jwk = keys::rsa_jwk(small);
    let small_token = c.bound_to(&small_jwk);
    let small_proof = Proof::new(&k.es256, "GET", &c.htu(API), Some(&small_token), now)
        .header("alg", json!("PS256"))
        .header("jwk", small_jwk);
    let input = small_proof.signing_input();
    let sig = keys::ps256_by_hand(small, input.as_bytes());
    add(
        "35",
        "PS256 with a 1024-bit RSA key, correctly signed",
        one(Req::get(API).dpop(&small_token, &format!("{input}.{}", b64(sig)))),
        idp().why("jwk"),
    );
    let ed_x = unb64(k.ed25519.public_jwk()["x"].as_str().unwrap());
    let mut ed33 = ed_x.clone();
    ed33.push(0);
    for (what, x) in [("31", b64(&ed_x[..31])), ("33", b64(&ed33))] {
        add(
            "36",
            &format!("Ed25519 x of {what} octets"),
            one(Req::get(API).dpop(
                &ed_token,
                &c.pk(&k.ed25519, &ed_token).jwk_member("x", json!(x)).sign(),
            )),
            idp().why("jwk"),
        );
    }
    let valid = c.p(API).sign();
    let mut flipped = signature_of(&valid);
    flipped[10] ^= 0x01;
    add(
        "37",
        "one signature bit flipped",
        one(c.api(&with_signature(&valid, &flipped))),
        idp().why("signature"),
    );
    let valid = c.p(API).sign();
    let der = keys::ecdsa_der(&signature_of(&valid));
    assert!((68..=72).contains(&der.len()) && der[0] == 0x30);
    add(
        "38",
        "ES256 signature DER-encoded instead of R||S",
        one(c.api(&with_signature(&valid, &der))),
        idp().why("signature"),
    );
    add(
        "39",
        "ES256 signature of 64 zero octets (r = s = 0)",
        one(c.api(&with_signature(&c.p(API).sign(), &[0u8; 64]))),
        idp().why("signature"),
    );
    add(
        "40",
        "signed by key B, jwk holds key A (token bound to A)",
        one(c.api(&c.p(API).sign_with(&k.other_es256))),
        idp().why("signature"),
    );
    for (member, value) in [
        ("kid", json!(k.es256.jkt().to_string())),
        ("jku", json!(c.trap)),
        ("x5u", json!(c.trap)),
        ("x5c", json!([b64_std([0x30u8, 0x82, 0x01, 0x00])])),
    ] {
        add(
            "41",
            &format!("{member} present, jwk absent (no key fetch allowed)"),
            one(c.api(&c.p(API).no_header("jwk").header(member, value).sign())),
            idp().why("jwk"),
        );
    }

    // -------------------------------------------------------------- claims
    add(
        "42",
        "jti missing",
        one(c.api(&c.p(API).no_claim("jti").sign())),
        idp(),
    );
    for (what, jti) in [
        ("\"\"", json!("")),
        ("123", json!(123)),
        ("of 257 octets", json!("j".repeat(257))),
    ] {
        add(
            "42",
            &format!("jti {what}"),
            one(c.api(&c.p(API).claim("jti", jti.clone()).sign())),
            idp(),
        );
    }
    add(
        "43",
        "jti of 64 KiB",
        Send::Oversize(c.api(&c.p(API).claim("jti", json!("J".repeat(64 * 1024))).sign())),
        idp(),
    );
    add(
        "44",
        "htm missing",
        one(c.api(&c.p(API).no_claim("htm").sign())),
        idp(),
    );
    add(
        "44",
        "htm PUT for a GET",
        one(c.api(&c.p(API).claim("htm", json!("PUT")).sign())),
        idp().why("htm"),
    );
    add(
        "45",
        "htm get for a GET (case-sensitive)",
        one(c.api(&c.p(API).claim("htm", json!("get")).sign())),
        idp().why("htm"),
    );
    add(
        "45",
        "htm GET on a HEAD request",
        one(Req::new("HEAD", API).dpop(t, &c.p(API).sign())),
        idp(),
    );
    add(
        "46",
        "htu missing",
        one(c.api(&c.p(API).no_claim("htu").sign())),
        idp(),
    );
    for (what, htu) in [
        ("a number", json!(443)),
        ("relative", json!(API)),
        ("unparsable", json!(format!("https://[::1{API}"))),
        (
            "of another scheme",
            json!(format!("ftp://{}{API}", c.gw.authority())),
        ),
    ] {
        add(
            "46",
            &format!("htu {what}"),
            one(c.api(&c.p(API).claim("htu", htu.clone()).sign())),
            idp(),
        );
    }
    add(
        "47",
        "htu = the URL + ohnonotagain",
        one(c.api(
            &c.p(API)
                .claim("htu", json!(format!("{}ohnonotagain", c.htu(API))))
                .sign(),
        )),
        idp().why("htu"),
    );
    let other_port = if c.gw.port() == 8443 { 8444 } else { 8443 };
    for (what, htu) in [
        (
            "another host",
            format!("https://api.test:{}{API}", c.gw.port()),
        ),
        (
            "http instead of https",
            format!("http://{}{API}", c.gw.authority()),
        ),
        (
            "another port",
            format!("https://127.0.0.1:{other_port}{API}"),
        ),
    ] {
        add(
            "48",
            &format!("htu with {what}"),
            one(c.api(&c.p(API).claim("htu", json!(htu)).sign())),
            idp().why("htu"),
        );
    }
    add(
        "48",
        "htu of the origin named by X-Forwarded-* / Forwarded from an untrusted peer",
        one(c
            .api(
                &c.p(API)
                    .claim("htu", json!(format!("http://api.test:8080{API}")))
                    .sign(),
            )
            .h("X-Forwarded-Proto", "http")
            .h("X-Forwarded-Host", "api.test")
            .h("X-Forwarded-Port", "8080")
            .h("Forwarded", "proto=http;host=\"api.test:8080\"")),
        idp().why("htu"),
    );
    for (what, htu) in [
        ("a trailing slash", format!("{}/", c.htu(API))),
        ("other path case", c.htu("/api/Resource")),
        ("a double slash", c.htu("/api//resource")),
    ] {
        add(
            "49",
            &format!("htu with {what}"),
            one(c.api(&c.p(API).claim("htu", json!(htu)).sign())),
            idp().why("htu"),
        );
    }
    add(
        "50",
        "htu %2F where the request has /",
        one(c.with(
            "/api/a/b",
            &c.p("/api/a/b")
                .claim("htu", json!(c.htu("/api/a%2Fb")))
                .sign(),
        )),
        idp().why("htu"),
    );
    add(
        "50",
        "htu %40 where the request has @",
        one(c.with(
            "/api/u@x",
            &c.p("/api/u@x")
                .claim("htu", json!(c.htu("/api/u%40x")))
                .sign(),
        )),
        idp().why("htu"),
    );
    add(
        "51",
        "htu with userinfo",
        one(c.api(
            &c.p(API)
                .claim("htu", json!(format!("https://u@{}{API}", c.gw.authority())))
                .sign(),
        )),
        idp().why("htu"),
    );
    add(
        "52",
        "htu = the upstream URL",
        one(c.api(
            &c.p(API)
                .claim("htu", json!(format!("{}{API}", c.upstream)))
                .sign(),
        )),
        idp().why("htu"),
    );
    let mapped = "/internal/x";
    add(
        "52",
        "public_url route: htu = public origin + internal path",
        one(c.with(
            mapped,
            &c.p(mapped)
                .claim("htu", json!("https://api.test/internal/x"))
                .sign(),
        )),
        idp().why("htu"),
    );
    add(
        "52",
        "public_url route: htu = the URL the gateway was reached at",
        one(c.with(mapped, &c.p(mapped).sign())),
        idp().why("htu"),
    );
    add(
        "53",
        "iat missing",
        one(c.api(&c.p(API).no_claim("iat").sign())),
        idp(),
    );
    for iat in [json!(now.to_string()), Value::Null] {
        add(
            "53",
            &format!("iat {iat}"),
            one(c.api(&c.p(API).claim("iat", iat.clone()).sign())),
            idp(),
        );
    }
    for (what, delta) in [("1 h", -3600), ("301 s", -301), ("61 s (max_age 60)", -61)] {
        add(
            "54",
            &format!("iat {what} in the past"),
            one(c.api(&c.p(API).claim("iat", json!(now + delta)).sign())),
            idp().why("old"),
        );
    }
    for (what, delta) in [("1 h", 3600), ("61 s", 61), ("11 s (max_skew 10)", 11)] {
        add(
            "55",
            &format!("iat {what} in the future"),
            one(c.api(&c.p(API).claim("iat", json!(now + delta)).sign())),
            idp().why("future"),
        );
    }
    add(
        "56",
        "iat in milliseconds",
        one(c.api(&c.p(API).claim("iat", json!(now * 1000)).sign())),
        idp().why("iat"),
    );
    for (what, name, value) in [
        ("exp in the past", "exp", now - 1),
        ("exp = now", "exp", now),
        ("nbf 1 h in the future", "nbf", now + 3600),
        ("nbf beyond the skew", "nbf", now + 11),
    ] {
        add(
            "57",
            what,
            one(c.api(&c.p(API).claim(name, json!(value)).sign())),
            idp(),
        );
    }
    add(
        "58",
        "ath missing while a token is presented",
        one(c.api(&c.p(API).no_claim("ath").sign())),
        idp().why("ath"),
    );
    let t59 = token_with_urlsafe_ath(c, &k.es256);
    let h59 = sha256(&t59);
    let other = c.gw.token(Some(k.es256.jkt().as_str()), None);
    for (what, value) in [
        ("the hash of another token", ath(&other)),
        ("garbage", "not-a-hash".to_owned()),
        ("hex-encoded", hex(&h59)),
        ("standard base64 (+/ and =)", b64_std(h59)),
        ("base64url padded with =", format!("{}=", b64(h59))),
        ("of the token plus one character", ath(&format!("{t59}x"))),
    ] {
        add(
            "59",
            &format!("ath {what}"),
            one(Req::get(API).dpop(
                &t59,
                &c.pk(&k.es256, &t59).claim("ath", json!(value)).sign(),
            )),
            idp().why("ath"),
        );
    }
    add(
        "60",
        "ath over `DPoP <token>` (scheme included)",
        one(c.api(
            &c.p(API)
                .claim("ath", json!(ath(&format!("DPoP {t}"))))
                .sign(),
        )),
        idp().why("ath"),
    );

    // -------------------------------------------------------------- replay
    let p61 = c.p(API).sign();
    add(
        "61",
        "the same proof twice (second use)",
        Send::AfterAccepted {
            first: c.api(&p61),
            then: c.api(&p61),
        },
        idp().why("already used"),
    );
    let p62 = c.p(API).sign();
    let twin = with_signature(&p62, &keys::malleate_es256(&signature_of(&p62)));
    assert_ne!(twin, p62);
    verify_es256(&k.es256, &twin);
    add(
        "62",
        "malleated twin (s -> n - s, still a valid signature) after the original",
        Send::AfterAccepted {
            first: c.api(&p62),
            then: c.api(&twin),
        },
        idp().why("already used"),
    );
    let first = c.p(API);
    let again = first.clone().claim("iat", json!(now - 1));
    add(
        "63",
        "same jti, new iat, newly signed, same URI",
        Send::AfterAccepted {
            first: c.api(&first.sign()),
            then: c.api(&again.sign()),
        },
        idp().why("already used"),
    );
    add(
        "64",
        "20 identical requests in parallel",
        Send::Parallel(c.ok(API), 20),
        idp().why("already used"),
    );

    // ------------------------------------------------- token and binding
    add(
        "70",
        "proof signed by a different key than the token is bound to",
        one(c.api(&c.pk(&k.other_es256, t).sign())),
        it().why("binding"),
    );
    let mut x5t = token_claims(None, now);
    x5t.insert(
        "cnf".into(),
        json!({"x5t#S256": b64(sha256("certificate"))}),
    );
    let x5t = sign_token(&c.gw.issuer, &token_header(&c.gw.issuer), &x5t);
    add(
        "71",
        "token cnf with x5t#S256 only",
        one(Req::get(API).dpop(&x5t, &c.pk(&k.es256, &x5t).sign())),
        it(),
    );
    let jkt = k.es256.jkt().to_string();
    let issuer = &c.gw.issuer;
    let mut bad_tokens: Vec<(&str, String)> = Vec::new();
    let mut h = token_header(issuer);
    h.insert("typ".into(), json!("JWT"));
    bad_tokens.push((
        "74 token typ JWT",
        sign_token(issuer, &h, &token_claims(Some(&jkt), now)),
    ));
    let mut h = token_header(issuer);
    h.remove("typ");
    bad_tokens.push((
        "74 token typ missing",
        sign_token(issuer, &h, &token_claims(Some(&jkt), now)),
    ));
    let fig8 = json!({
        "sub": "someone@example.com",
        "iss": "https://as.test",
        "nbf": now - 5,
        "exp": now + 3600,
        "cnf": {"jkt": jkt},
    });
    bad_tokens.push((
        "74 token shaped like RFC 9449 Fig. 8 (no typ, aud, client_id, iat, jti)",
        issuer
            .sign_compact(
                &json!({"alg": "ES256", "kid": issuer.jkt().to_string()}),
                &fig8,
            )
            .unwrap(),
    ));
    bad_tokens.push((
        "75 token signed with the proof key (kid of the issuer)",
        sign_token(
            &k.es256,
            &token_header(issuer),
            &token_claims(Some(&jkt), now),
        ),
    ));
    let mut h = token_header(issuer);
    h.insert("kid".into(), json!(jkt));
    bad_tokens.push((
        "75 token signed with the proof key (kid of the proof key)",
        sign_token(&k.es256, &h, &token_claims(Some(&jkt), now)),
    ));
    let mut h = token_header(issuer);
    h.remove("kid");
    h.insert("jwk".into(), k.es256.public_jwk());
    bad_tokens.push((
        "75 token signed with the proof key, which it embeds as jwk",
        sign_token(&k.es256, &h, &token_claims(Some(&jkt), now)),
    ));
    let mut h = token_header(issuer);
    h.insert("alg".into(), json!("none"));
    bad_tokens.push((
        "75 token with alg none and no signature",
        format!(
            "{}.{}.",
            b64(Value::Object(h).to_string()),
            b64(Value::Object(token_claims(Some(&jkt), now)).to_string())
        ),
    ));
    bad_tokens.push(("76 a DPoP proof sent as the access token", c.p(API).sign()));
    let mut expired = token_claims(Some(&jkt), now - 1000);
    expired.insert("exp".into(), json!(now - 700));
    bad_tokens.push((
        "77 expired token",
        sign_token(issuer, &token_header(issuer), &expired),
    ));
    let mut aud = token_claims(Some(&jkt), now);
    aud.insert("aud".into(), json!("https://other-api.test"));
    bad_tokens.push((
        "77 token for another audience",
        sign_token(issuer, &token_header(issuer), &aud),
    ));
    let mut iss = token_claims(Some(&jkt), now);
    iss.insert("iss".into(), json!("https://evil.test"));
    bad_tokens.push((
        "77 token from an unknown issuer",
        sign_token(issuer, &token_header(issuer), &iss),
    ));
    let mut nbf = token_claims(Some(&jkt), now);
    nbf.insert("nbf".into(), json!(now + 3600));
    bad_tokens.push((
        "77 token not valid before 1 h from now",
        sign_token(issuer, &token_header(issuer), &nbf),
    ));
    for (what, token) in bad_tokens {
        let id: &'static str = match &what[..2] {
            "74" => "74",
            "75" => "75",
            "76" => "76",
            _ => "77",
        };
        add(
            id,
            &what[3..],
            one(Req::get(API).dpop(&token, &c.pk(&k.es256, &token).sign())),
            it(),
        );
    }
    for scope in [
        Some("orders:write"),
        None,
        Some("orders:readX"),
        Some("ORDERS:READ"),
        Some("orders"),
    ] {
        let token = c.gw.token(Some(&jkt), scope);
        let proof = Proof::new(&k.es256, "GET", &c.htu(SCOPED), Some(&token), now).sign();
        add(
            "78",
            &format!("route requires orders:read, token scope {scope:?}"),
            one(Req::get(SCOPED).dpop(&token, &proof)),
            Expect::new(403, Some("insufficient_scope")).scope("orders:read"),
        );
    }
    v
}

/// Checks, with `ring` directly, that `proof` verifies under `key` (so a
/// rejection of it can only be a replay).
fn verify_es256(key: &SigningKey, proof: &str) {
    let jwk = key.public_jwk();
    let mut point = vec![4u8];
    point.extend(unb64(jwk["x"].as_str().unwrap()));
    point.extend(unb64(jwk["y"].as_str().unwrap()));
    let (h, p, s) = segments(proof);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(format!("{h}.{p}").as_bytes(), &unb64(&s))
        .expect("the malleated signature must be valid");
}

/// Request-count snapshot of the upstream.
fn seen(up: &Upstream) -> (usize, usize) {
    (up.count(), up.arrived())
}

async fn run_case(gw: &TestGateway, up: &Upstream, via: Via, case: &Case) -> Vec<String> {
    let check =
        |ans: &Answer, req: &Req| problems(ans, &case.expect, DEFAULT_ALGS, req.method == "HEAD");
    let mut p = Vec::new();
    match &case.send {
        Send::One(req) | Send::Raw(req) => {
            let via = if matches!(case.send, Send::Raw(_)) {
                Via::Raw
            } else {
                via
            };
            let before = seen(up);
            match send(gw, via, req).await {
                Ok(ans) => p.extend(check(&ans, req)),
                Err(e) => p.push(format!("transport error: {e}")),
            }
            if seen(up) != before {
                p.push(format!(
                    "the upstream received it: {:?} -> {:?}",
                    before,
                    seen(up)
                ));
            }
        }
        Send::AfterAccepted { first, then } => {
            let before = seen(up);
            match send(gw, via, first).await {
                Ok(ans) if ans.status == 200 => {}
                Ok(ans) => p.push(format!(
                    "first request not accepted: {} {}",
                    ans.status,
                    ans.text()
                )),
                Err(e) => p.push(format!("first request: transport error: {e}")),
            }
            if up.count() != before.0 + 1 {
                p.push("the accepted first request was not forwarded exactly once".into());
            }
            let before = seen(up);
            match send(gw, via, then).await {
                Ok(ans) => p.extend(check(&ans, then)),
                Err(e) => p.push(format!("transport error: {e}")),
            }
            if seen(up) != before {
                p.push(format!(
                    "the upstream received it: {:?} -> {:?}",
                    before,
                    seen(up)
                ));
            }
        }
        Send::Parallel(req, n) => {
            let before = seen(up);
            let client = if via == Via::H2 { gw.h2() } else { gw.h1() };
            let barrier = Arc::new(tokio::sync::Barrier::new(*n));
            let mut tasks = Vec::new();
            for _ in 0..*n {
                let (client, barrier) = (client.clone(), barrier.clone());
                let request = req.to_request(&gw.base());
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    client.send(request).await.map_err(|e| e.to_string())
                }));
            }
            let mut accepted = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Ok(ans) if ans.status == 200 => accepted += 1,
                    Ok(ans) => p.extend(check(&ans, req)),
                    Err(e) => p.push(format!("transport error: {e}")),
                }
            }
            if accepted != 1 {
                p.push(format!(
                    "{accepted} of {n} parallel copies accepted (exactly 1 expected)"
                ));
            }
            if up.count() != before.0 + 1 || up.arrived() != before.1 + 1 {
                p.push(format!(
                    "the upstream received {:?} -> {:?}, expected exactly one",
                    before,
                    seen(up)
                ));
            }
        }
        Send::Oversize(req) => {
            let before = seen(up);
            match send(gw, via, req).await {
                Ok(ans) if ans.status == 401 => p.extend(check(&ans, req)),
                Ok(ans) if ans.status.is_client_error() => {}
                Ok(ans) => p.push(format!("status {} (a 4xx refusal expected)", ans.status)),
                // HTTP/2: a header list above the peer's SETTINGS_MAX_HEADER_LIST_SIZE
                // may be refused before a response (stream reset).
                Err(e) if via == Via::H2 && e.contains("header_list") => {
                    eprintln!("case {}: refused by HTTP/2: {e}", case.id)
                }
                Err(e) => p.push(format!("transport error: {e}")),
            }
            if seen(up) != before {
                p.push(format!(
                    "the upstream received it: {:?} -> {:?}",
                    before,
                    seen(up)
                ));
            }
        }
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9449_section7_negative_cases() {
    let up = Upstream::echo().await;
    let trap = FetchTrap::start().await;
    let gw = TestGateway::dpop(&config(&up.url()), ClockMode::Manual(system_now())).await;
    let k = Keys::new();
    let mut failures = Vec::new();
    let mut counted = 0;
    for via in [Via::H1, Via::H2] {
        let c = Ctx {
            gw: &gw,
            k: &k,
            now: gw.now(),
            token: gw.token(Some(k.es256.jkt().as_str()), Some("orders:write")),
            upstream: up.url(),
            trap: trap.url.clone(),
        };
        // The baseline the cases mutate is accepted.
        let base = c.ok(API);
        let ans = send(&gw, via, &base).await.unwrap();
        assert_eq!(
            ans.status,
            200,
            "[{via:?}] baseline not accepted: {}",
            ans.text()
        );
        let table = cases(&c);
        for case in &table {
            if via == Via::H2 && matches!(case.send, Send::Raw(_)) {
                continue;
            }
            counted += 1;
            for problem in run_case(&gw, &up, via, case).await {
                failures.push(format!(
                    "[{via:?}] case {} ({}): {problem}",
                    case.id, case.what
                ));
            }
        }
        // Every numbered case applicable here is in the table.
        let ids: std::collections::BTreeSet<u32> =
            table.iter().map(|c| c.id.parse::<u32>().unwrap()).collect();
        let want: std::collections::BTreeSet<u32> =
            (1..=64).chain([70, 71, 74, 75, 76, 77, 78]).collect();
        assert_eq!(ids, want, "numbered cases covered");
    }
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "the gateway connected to a jku/x5u URL"
    );
    assert!(
        failures.is_empty(),
        "{} of {counted} case runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The un-mutated twins of the subtlest negative cases are accepted, so
/// their rejections come from the mutated property alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_have_accepted_twins() {
    let up = Upstream::echo().await;
    let gw = TestGateway::dpop(&config(&up.url()), ClockMode::Manual(system_now())).await;
    let now = gw.now();
    let key = SigningKey::generate(Alg::Es256).unwrap();
    let token = gw.token(Some(key.jkt().as_str()), None);
    let htu = gw.htu(API);
    let p = || Proof::new(&key, "GET", &htu, Some(&token), now);
    let mut accepted: Vec<(&str, Req)> = Vec::new();

    // 35: the same hand-made PS256 encoding with a 2048-bit key.
    let big_jwk = keys::rsa_jwk(keys::rsa2048());
    let big_token = gw.token(Some(&jkt_of(&big_jwk)), None);
    let big = Proof::new(&key, "GET", &htu, Some(&big_token), now)
        .header("alg", json!("PS256"))
        .header("jwk", big_jwk);
    let input = big.signing_input();
    let sig = keys::ps256_by_hand(keys::rsa2048(), input.as_bytes());
    accepted.push((
        "35 twin: hand-made PS256, 2048-bit key",
        Req::get(API).dpop(&big_token, &format!("{input}.{}", b64(sig))),
    ));
    // 33: the leading-zero key with its full 32-octet x.
    let lz = keys::leading_zero_x_key();
    let lz_token = gw.token(Some(&jkt_of(&lz.public_jwk())), None);
    accepted.push((
        "33 twin: leading-zero x, full length",
        Req::get(API).dpop(
            &lz_token,
            &Proof::new(lz, "GET", &htu, Some(&lz_token), now).sign(),
        ),
    ));
    // 42 / 54 / 55 / 57: the limits themselves.
    accepted.push((
        "42 twin: jti of 256 octets",
        Req::get(API).dpop(&token, &p().claim("jti", json!("j".repeat(256))).sign()),
    ));
    accepted.push((
        "54 twin: iat exactly max_age (60 s) old",
        Req::get(API).dpop(&token, &p().claim("iat", json!(now - 60)).sign()),
    ));
    accepted.push((
        "55 twin: iat exactly max_skew (10 s) ahead",
        Req::get(API).dpop(&token, &p().claim("iat", json!(now + 10)).sign()),
    ));
    accepted.push((
        "57 twin: nbf at the skew limit, exp 1 s ahead",
        Req::get(API).dpop(
            &token,
            &p().claim("nbf", json!(now + 10))
                .claim("exp", json!(now + 1))
                .sign(),
        ),
    ));
    // 45: HEAD with htm HEAD.
    accepted.push((
        "45 twin: HEAD with htm HEAD",
        Req::new("HEAD", API).dpop(&token, &p().claim("htm", json!("HEAD")).sign()),
    ));
    // 52: the public_url route with the client-visible URL.
    accepted.push((
        "52 twin: public_url route, htu = public URL",
        Req::get("/internal/x").dpop(
            &token,
            &p().claim("htu", json!("https://api.test/public-api/x"))
                .sign(),
        ),
    ));
    // 50: the same octets on both sides. (A request path with %2F is refused
    // before routing, interface "Request paths": the reserved escape here is %40.)
    accepted.push((
        "50 twin: %40 on both sides",
        Req::get("/api/a%40b").dpop(
            &token,
            &p().claim("htu", json!(gw.htu("/api/a%40b"))).sign(),
        ),
    ));
    for (what, req) in &accepted {
        let before = up.count();
        let ans = send(&gw, Via::H1, req).await.unwrap();
        assert_eq!(ans.status, 200, "{what}: {}", ans.text());
        assert_eq!(up.count(), before + 1, "{what}: not forwarded once");
        assert_eq!(up.last().path_and_query(), req.path, "{what}");
    }

    // 62: the malleated twin alone is a valid proof: sent FIRST it is
    // accepted, and then the original is the replay.
    let original = p().sign();
    let twin = with_signature(&original, &keys::malleate_es256(&signature_of(&original)));
    verify_es256(&key, &twin);
    let ans = send(&gw, Via::H1, &Req::get(API).dpop(&token, &twin))
        .await
        .unwrap();
    assert_eq!(ans.status, 200, "62 twin first: {}", ans.text());
    let ans = send(&gw, Via::H1, &Req::get(API).dpop(&token, &original))
        .await
        .unwrap();
    assert!(
        problems(
            &ans,
            &Expect::idp().why("already used"),
            DEFAULT_ALGS,
            false
        )
        .is_empty(),
        "62: original after its twin: {} {}",
        ans.status,
        ans.text()
    );
    // 61 is keyed on (jkt, jti), not on the URI alone: the same jti from
    // ANOTHER key is a different proof and is accepted.
    let jti = random_id();
    let other = SigningKey::generate(Alg::Es256).unwrap();
    let other_token = gw.token(Some(other.jkt().as_str()), None);
    for (k, t) in [(&key, &token), (&other, &other_token)] {
        let proof = Proof::new(k, "GET", &htu, Some(t), now)
            .claim("jti", json!(jti))
            .sign();
        let ans = send(&gw, Via::H1, &Req::get(API).dpop(t, &proof))
            .await
            .unwrap();
        assert_eq!(ans.status, 200, "same jti, key {}: {}", k.jkt(), ans.text());
    }
    // The hand-made thumbprint agrees with the crate's.
    assert_eq!(jkt_of(&key.public_jwk()), key.jkt().to_string());
}

/// A DPoP route cannot be reached through a less-protected route by
/// spelling its path differently. The gateway's own `htu` comparison treats
/// `/./api/x`, `/open/../api/x` and `/%61pi/x` as `/api/x` (RFC 3986
/// §6.2.2), and so does any upstream that normalises paths; so must the
/// router, or such a request must be refused. Each alias, sent WITHOUT
/// credentials, must be refused (4xx) and never forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_aliases_of_a_dpop_route_do_not_bypass_it() {
    let up = Upstream::echo().await;
    let config = [
        route_with("public", "/", &up.url(), "auth = \"none\""),
        route_with("api", "/api", &up.url(), "auth = \"dpop\""),
    ]
    .concat();
    let gw = TestGateway::dpop(&config, ClockMode::Manual(system_now())).await;
    // Controls: the public route forwards, the DPoP route demands a proof.
    let ans = send(&gw, Via::H1, &Req::get("/public/x")).await.unwrap();
    assert_eq!(ans.status, 200);
    let ans = send(&gw, Via::H1, &Req::get("/api/x")).await.unwrap();
    assert!(problems(&ans, &Expect::new(401, None), DEFAULT_ALGS, false).is_empty());
    let mut failures = Vec::new();
    for alias in [
        "/public/../api/x",
        "/./api/x",
        "/public/%2e%2e/api/x",
        "/%61pi/x",
        "/%2e/api/x",
    ] {
        for via in [Via::H1, Via::H2] {
            let before = seen(&up);
            match send(&gw, via, &Req::get(alias)).await {
                Ok(ans) if ans.status.is_client_error() && seen(&up) == before => {}
                Ok(ans) => failures.push(format!(
                    "[{via:?}] {alias}: {} and the upstream received {:?}",
                    ans.status,
                    up.requests().last().map(|r| r.path_and_query().to_owned())
                )),
                Err(e) => failures.push(format!("[{via:?}] {alias}: transport error {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "aliases of /api/x reached the upstream without DPoP:\n{}",
        failures.join("\n")
    );
}
