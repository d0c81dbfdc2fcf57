//! The fake authorization server's accept loop (which follows the
//! availability switch) and its request handler.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{Availability, IntrospectionCall, State, INTROSPECT_PATH, MAX_REQUEST_BODY};
use crate::common::form::form_fields;

/// The service error that makes hyper drop the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

pub(super) async fn accept_loop(
    first: TcpListener,
    addr: SocketAddr,
    tls: TlsAcceptor,
    state: Arc<State>,
) {
    let mut rx = state.availability.subscribe();
    let mut next = Some(first);
    loop {
        // Closed while refusing; reopened on the same port afterwards.
        while *rx.borrow_and_update() == Availability::Refuse {
            // Also when Refuse was set before this task first ran.
            next = None;
            state.listening.send_replace(false);
            if rx.changed().await.is_err() {
                return;
            }
        }
        let listener = match next.take() {
            Some(l) => l,
            None => bind_again(addr).await,
        };
        state.listening.send_replace(true);
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let Ok((tcp, _)) = r else { continue };
                    *state.accepted.lock().unwrap() += 1;
                    state.changed.notify_waiters();
                    let tls = tls.clone();
                    let st = state.clone();
                    let task = tokio::spawn(async move {
                        let Ok(stream) = tls.accept(tcp).await else { return };
                        let service = service_fn(move |req| {
                            let st = st.clone();
                            async move { handle(st, req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    let mut conns = state.connections.lock().unwrap();
                    conns.retain(|c| !c.is_finished());
                    conns.push(task.abort_handle());
                }
                c = rx.changed() => {
                    if c.is_err() {
                        return;
                    }
                    if *rx.borrow() == Availability::Refuse {
                        break;
                    }
                }
            }
        }
        drop(listener);
        state.listening.send_replace(false);
    }
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("cannot listen again on {addr}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn json_response(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().unwrap());
    resp
}

fn bump(map: &Mutex<HashMap<String, usize>>, path: &str) {
    *map.lock().unwrap().entry(path.to_owned()).or_insert(0) += 1;
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    bump(&st.hits, &path);
    st.hit_times
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .push(std::time::Instant::now());
    st.changed.notify_waiters();
    let delay = *st.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let availability = *st.availability.borrow();
    let resp = match availability {
        Availability::Up => answer(&st, &parts.method, &path, &parts.headers, &body),
        Availability::Unavailable => json_response(503, r#"{"error":"down for the test"}"#),
        Availability::Drop | Availability::Refuse => return Err(DropConnection),
    };
    if resp.status() == StatusCode::OK {
        bump(&st.served, &path);
    }
    st.changed.notify_waiters();
    Ok(resp)
}

fn answer(
    st: &State,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Response<Full<Bytes>> {
    let text = |name: http::header::HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if path == INTROSPECT_PATH {
        let form = String::from_utf8_lossy(body).into_owned();
        let token = form_fields(&form)
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        st.calls.lock().unwrap().push(IntrospectionCall {
            method: method.clone(),
            authorization: text(AUTHORIZATION),
            content_type: text(CONTENT_TYPE),
            body: form,
            token: token.clone(),
        });
        if method != Method::POST {
            return json_response(405, r#"{"error":"invalid_request"}"#);
        }
        let known = token.and_then(|t| st.tokens.lock().unwrap().get(&t).cloned());
        return match known {
            Some((status, body)) => json_response(status, body),
            None => json_response(200, json!({"active": false}).to_string()),
        };
    }
    if method != Method::GET {
        return json_response(405, r#"{"error":"method"}"#);
    }
    match st.docs.lock().unwrap().get(path) {
        Some(doc) => json_response(200, doc.to_string()),
        None => json_response(404, r#"{"error":"not_found"}"#),
    }
}
