//! Cost of reading the request target once per request (the path and host
//! checks that close path and host differentials), next to the routing it
//! feeds and to what `htu` normalisation costs for the same path.
//!
//! Run: `cargo bench --bench target`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dpop_gateway::dpop::Htu;
use dpop_gateway::target::{canonical_path, Host, RequestTarget};
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri, Version};

fn bench(c: &mut Criterion) {
    let plain = "/api/v1/orders/12345/items";
    let escaped = "/api/v1/%6Frders/12345/caf%C3%A9";
    c.bench_function("canonical path, plain", |b| {
        b.iter(|| canonical_path(black_box(plain)).unwrap())
    });
    c.bench_function("canonical path, with escapes", |b| {
        b.iter(|| canonical_path(black_box(escaped)).unwrap())
    });
    c.bench_function("host", |b| {
        b.iter(|| Host::parse(black_box("API.Example.com:8443")).unwrap())
    });
    let uri: Uri = "/api/v1/orders/12345/items?page=2".parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("api.example.com"));
    c.bench_function("request target (HTTP/1.1 path + Host)", |b| {
        b.iter(|| RequestTarget::read(Version::HTTP_11, black_box(&uri), &headers, 443).unwrap())
    });
    c.bench_function("htu of the same request", |b| {
        b.iter(|| Htu::from_origin_and_path("https", "api.example.com", black_box(plain)).unwrap())
    });
}

criterion_group! {
    name = target;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(target);
