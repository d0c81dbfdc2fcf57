//! `[dpop]` and `[replay]`: proof policy, server nonces and their secrets,
//! and the replay backend.

use std::path::Path;

use super::error::Problems;
use super::raw::RawConfig;
use super::validate::resolve;
use super::{
    defaults, redact_redis_url, DpopConfig, NonceConfig, ReplayBackend, ReplayConfig, Secret,
};
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

pub(super) fn replay(raw: &RawConfig, base: &Path, p: &mut Problems) -> ReplayConfig {
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
            for (key, set) in [
                ("redis_url", r.redis_url.is_some()),
                ("redis_password_file", r.redis_password_file.is_some()),
            ] {
                if set {
                    p.push(
                        format!("replay.{key}"),
                        "is set but replay.backend is \"memory\"",
                    );
                }
            }
            ReplayBackend::Memory
        }
        Some("redis") => {
            let url = match r.redis_url.as_deref() {
                Some(url) => p
                    .take("replay.redis_url", parse_redis_url(url))
                    .map(|has_password| (url, has_password)),
                None => {
                    p.push(
                        "replay.redis_url",
                        "is required when replay.backend = \"redis\"",
                    );
                    None
                }
            };
            let password = r.redis_password_file.as_deref().and_then(|f| {
                p.take(
                    "replay.redis_password_file",
                    read_redis_password(&resolve(base, f)),
                )
            });
            match url {
                Some((_, true)) if r.redis_password_file.is_some() => {
                    p.push(
                        "replay.redis_password_file",
                        "is set but replay.redis_url also carries a password; keep one of them",
                    );
                    ReplayBackend::Memory
                }
                Some((url, _)) => ReplayBackend::Redis {
                    url: url.to_string(),
                    password,
                },
                None => ReplayBackend::Memory,
            }
        }
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

/// `redis_password_file`: a secret file holding UTF-8 text (Redis `AUTH`
/// takes a string).
fn read_redis_password(path: &Path) -> Result<Secret, String> {
    let secret = read_secret_min(path, 1)?;
    if std::str::from_utf8(&secret.0).is_err() {
        return Err(format!("{} is not UTF-8 text", path.display()));
    }
    Ok(secret)
}

/// The same parser the gateway connects with (it does not connect here).
/// Answers whether the URL carries a password.
fn parse_redis_url(full: &str) -> Result<bool, String> {
    let shown = redact_redis_url(full);
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
    let client = redis::Client::open(full).map_err(|e| format!("{url:?}: {e}"))?;
    Ok(client
        .get_connection_info()
        .redis_settings()
        .password()
        .is_some())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn redis_passwords_never_reach_messages() {
        assert_eq!(
            redact_redis_url("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_redis_url("redis://127.0.0.1/0"),
            "redis://127.0.0.1/0"
        );
        let err = parse_redis_url("redis://u:s3cret@127.0.0.1:6379/x").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert_eq!(
            parse_redis_url("redis://u:s3cret@127.0.0.1:6379/0"),
            Ok(true)
        );
        assert_eq!(parse_redis_url("redis://u@127.0.0.1:6379/0"), Ok(false));
        assert_eq!(parse_redis_url("redis://127.0.0.1:6379/0"), Ok(false));
        let backend = ReplayBackend::Redis {
            url: "redis://u:s3cret@127.0.0.1:6379/0".into(),
            password: Some(Secret(b"f1le-pass".to_vec())),
        };
        let shown = format!("{backend:?}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("f1le-pass"),
            "{shown}"
        );
    }

    #[test]
    fn redis_password_file_is_utf8_text_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis");
        std::fs::write(&path, "pa ss\n").unwrap();
        assert_eq!(read_redis_password(&path).unwrap().0, b"pa ss");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_redis_password(&path).is_err(), "an empty password");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = read_redis_password(&path).unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
    }
}
