//! `[dpop]` and `[replay]`: proof policy, server nonces and their secrets,
//! and the replay backend.

use std::path::Path;

use super::error::Problems;
use super::raw::RawConfig;
use super::validate::resolve;
use super::{defaults, DpopConfig, NonceConfig, ReplayBackend, ReplayConfig, Secret};
use crate::jose::AlgSet;

pub(super) fn dpop(raw: &RawConfig, base: &Path, p: &mut Problems) -> DpopConfig {
    let d = &raw.dpop;
    let algs = match &d.algs {
        Some(names) => p
            .take("dpop.algs", AlgSet::parse_list(names))
            .unwrap_or_default(),
        None => AlgSet::default_proof(),
    };
    let max_age_secs = d.max_age_secs.unwrap_or(defaults::MAX_AGE_SECS);
    if !(1..=3600).contains(&max_age_secs) {
        p.push("dpop.max_age_secs", "must be between 1 and 3600 seconds");
    }
    let max_skew_secs = d.max_skew_secs.unwrap_or(defaults::MAX_SKEW_SECS);
    if max_skew_secs > 60 {
        p.push(
            "dpop.max_skew_secs",
            "must be at most 60 seconds (RFC 9449 §11.1: seconds or minutes; FAPI 2.0 caps it at 60)",
        );
    }
    let lifetime_secs = d
        .nonce_lifetime_secs
        .unwrap_or(defaults::NONCE_LIFETIME_SECS);
    if !(10..=86_400).contains(&lifetime_secs) {
        p.push(
            "dpop.nonce_lifetime_secs",
            "must be between 10 and 86400 seconds",
        );
    }
    let nonce = match d.nonce.as_deref() {
        None | Some("off") => {
            for (key, set) in [
                ("nonce_secret_file", d.nonce_secret_file.is_some()),
                (
                    "nonce_previous_secret_file",
                    d.nonce_previous_secret_file.is_some(),
                ),
            ] {
                if set {
                    p.push(format!("dpop.{key}"), "is set but dpop.nonce is \"off\"");
                }
            }
            None
        }
        Some("required") => {
            let current = match d.nonce_secret_file.as_deref() {
                Some(f) => p.take("dpop.nonce_secret_file", read_secret(&resolve(base, f))),
                None => {
                    p.push(
                        "dpop.nonce_secret_file",
                        "is required when dpop.nonce = \"required\"",
                    );
                    None
                }
            };
            let previous = d.nonce_previous_secret_file.as_deref().and_then(|f| {
                p.take(
                    "dpop.nonce_previous_secret_file",
                    read_secret(&resolve(base, f)),
                )
            });
            current.map(|current| NonceConfig {
                secrets: std::iter::once(current).chain(previous).collect(),
                lifetime_secs,
            })
        }
        Some(other) => {
            p.push(
                "dpop.nonce",
                format!("must be \"off\" or \"required\", not {other:?}"),
            );
            None
        }
    };
    DpopConfig {
        algs,
        max_age_secs,
        max_skew_secs,
        nonce,
    }
}

/// Minimum length of a nonce secret, in bytes.
const MIN_SECRET_LEN: usize = 32;

/// A secret file: its bytes, with one trailing newline ignored.
fn read_secret(path: &Path) -> Result<Secret, String> {
    read_secret_min(path, MIN_SECRET_LEN)
}

pub(super) fn read_secret_min(path: &Path, min_len: usize) -> Result<Secret, String> {
    let mut bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() < min_len {
        return Err(format!(
            "{} holds {} bytes; this secret needs at least {min_len} \
             (e.g. head -c 32 /dev/urandom | base64 > FILE)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(Secret(bytes))
}

pub(super) fn replay(raw: &RawConfig, p: &mut Problems) -> ReplayConfig {
    let r = &raw.replay;
    let max_entries = r.max_entries.unwrap_or(defaults::MAX_ENTRIES);
    if max_entries == 0 {
        p.push("replay.max_entries", "must be at least 1");
    }
    let key_prefix = r
        .key_prefix
        .clone()
        .unwrap_or_else(|| defaults::KEY_PREFIX.to_string());
    if key_prefix.is_empty() {
        p.push("replay.key_prefix", "must not be empty");
    }
    let backend = match r.backend.as_deref() {
        None | Some("memory") => {
            if r.redis_url.is_some() {
                p.push(
                    "replay.redis_url",
                    "is set but replay.backend is \"memory\"",
                );
            }
            ReplayBackend::Memory
        }
        Some("redis") => match r.redis_url.as_deref() {
            Some(url) => match p.take("replay.redis_url", parse_redis_url(url)) {
                Some(()) => ReplayBackend::Redis {
                    url: url.to_string(),
                },
                None => ReplayBackend::Memory,
            },
            None => {
                p.push(
                    "replay.redis_url",
                    "is required when replay.backend = \"redis\"",
                );
                ReplayBackend::Memory
            }
        },
        Some(other) => {
            p.push(
                "replay.backend",
                format!("must be \"memory\" or \"redis\", not {other:?}"),
            );
            ReplayBackend::Memory
        }
    };
    ReplayConfig {
        backend,
        max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
        key_prefix,
    }
}

/// `url` with any password replaced, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!(
                "{}://***{}",
                url.get(..scheme_end).unwrap_or(""),
                url.get(at..).unwrap_or("")
            )
        }
        _ => url.to_string(),
    }
}

/// The same parser the gateway connects with (it does not connect here).
fn parse_redis_url(full: &str) -> Result<(), String> {
    let shown = redact_url(full);
    let url = shown.as_str();
    if url.starts_with("rediss://") {
        return Err(format!(
            "{url:?}: TLS to Redis is not supported by this build; use redis:// over a \
             private network or a local TLS tunnel"
        ));
    }
    if !url.starts_with("redis://") {
        return Err(format!("{url:?}: use redis://host:port/db"));
    }
    redis::Client::open(full)
        .map(|_| ())
        .map_err(|e| format!("{url:?}: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn redis_passwords_never_reach_messages() {
        assert_eq!(
            redact_url("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(redact_url("redis://127.0.0.1/0"), "redis://127.0.0.1/0");
        let err = parse_redis_url("redis://u:s3cret@127.0.0.1:6379/x").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(parse_redis_url("redis://u:s3cret@127.0.0.1:6379/0").is_ok());
    }
}
