//! Waiting for a condition that other tasks or processes make true.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::time::Duration;

/// Polls `cond` every `every` until it holds or `timeout` passes; returns
/// whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, every: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() + every > deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}
