//! `[limits]`: every bound has a default and a range; a value outside it is
//! a problem at its key (`limits.max_header_bytes`), like any other.

use super::error::Problems;
use super::raw::RawLimits;
use super::{defaults, Limits};

/// One key: its value or default, checked against `min..=max`.
fn bounded(p: &mut Problems, key: &str, v: Option<u64>, default: u64, min: u64, max: u64) -> u64 {
    let v = v.unwrap_or(default);
    if !(min..=max).contains(&v) {
        p.push(
            format!("limits.{key}"),
            format!("must be between {min} and {max}"),
        );
        return default;
    }
    v
}

fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

pub(super) fn limits(raw: &RawLimits, p: &mut Problems) -> Limits {
    // hyper's HTTP/1.1 read buffer is at least 8 KiB.
    let header_bytes = bounded(
        p,
        "max_header_bytes",
        raw.max_header_bytes,
        defaults::MAX_HEADER_BYTES,
        8 * 1024,
        1024 * 1024,
    );
    let header_count = bounded(
        p,
        "max_header_count",
        raw.max_header_count,
        defaults::MAX_HEADER_COUNT,
        16,
        1000,
    );
    // The proof and token parsers stop at 16 KiB whatever is set here.
    let dpop = bounded(
        p,
        "max_dpop_bytes",
        raw.max_dpop_bytes,
        defaults::MAX_DPOP_BYTES,
        1024,
        16 * 1024,
    );
    let authorization = bounded(
        p,
        "max_authorization_bytes",
        raw.max_authorization_bytes,
        defaults::MAX_AUTHORIZATION_BYTES,
        1024,
        16 * 1024,
    );
    let streams = bounded(
        p,
        "h2_max_concurrent_streams",
        raw.h2_max_concurrent_streams,
        defaults::H2_MAX_CONCURRENT_STREAMS,
        1,
        10_000,
    );
    let pending_resets = bounded(
        p,
        "h2_max_pending_reset_streams",
        raw.h2_max_pending_reset_streams,
        defaults::H2_MAX_PENDING_RESET_STREAMS,
        1,
        10_000,
    );
    let error_resets = bounded(
        p,
        "h2_max_local_error_reset_streams",
        raw.h2_max_local_error_reset_streams,
        defaults::H2_MAX_LOCAL_ERROR_RESET_STREAMS,
        1,
        100_000,
    );
    Limits {
        max_header_bytes: size(header_bytes),
        max_header_count: size(header_count),
        max_dpop_bytes: size(dpop),
        max_authorization_bytes: size(authorization),
        h2_max_concurrent_streams: u32::try_from(streams).unwrap_or(u32::MAX),
        h2_max_pending_reset_streams: size(pending_resets),
        h2_max_local_error_reset_streams: size(error_resets),
    }
}

impl Default for Limits {
    /// Every default, as `config.example.toml` documents them.
    fn default() -> Limits {
        let mut p = Problems::default();
        limits(&RawLimits::default(), &mut p)
    }
}
