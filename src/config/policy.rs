//! `[dpop]` and `[replay]`: proof policy, server nonces and their secrets,
//! and the replay backend.

use std::path::Path;

use super::error::Problems;
use super::raw::RawConfig;
use super::validate::resolve;
use super::{
    defaults, redact_redis_url, DpopConfig, NonceConfig, RedisConfig, ReplayBackend, ReplayConfig,
    Secret,
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
                ("redis_urls", r.redis_urls.is_some()),
                ("redis_ca_file", r.redis_ca_file.is_some()),
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
            if r.redis_urls.is_some() {
                p.push(
                    "replay.redis_urls",
                    "is for backend = \"redis_cluster\"; backend = \"redis\" takes redis_url",
                );
            }
            let urls = match &r.redis_url {
                Some(url) => vec![("replay.redis_url".to_string(), url.as_str())],
                None => {
                    p.push(
                        "replay.redis_url",
                        "is required when replay.backend = \"redis\"",
                    );
                    Vec::new()
                }
            };
            redis_config(r, base, &urls, false, p)
                .map(ReplayBackend::Redis)
                .unwrap_or(ReplayBackend::Memory)
        }
        Some("redis_cluster") => {
            if r.redis_url.is_some() {
                p.push(
                    "replay.redis_url",
                    "is for backend = \"redis\"; backend = \"redis_cluster\" takes redis_urls",
                );
            }
            let urls: Vec<(String, &str)> = match &r.redis_urls {
                Some(urls) if !urls.is_empty() => urls
                    .iter()
                    .enumerate()
                    .map(|(i, u)| (format!("replay.redis_urls[{i}]"), u.as_str()))
                    .collect(),
                _ => {
                    p.push(
                        "replay.redis_urls",
                        "is required when replay.backend = \"redis_cluster\": one or more seed nodes",
                    );
                    Vec::new()
                }
            };
            if key_prefix.contains('{') {
                p.push(
                    "replay.key_prefix",
                    "must not contain '{' with backend = \"redis_cluster\": a hash tag would put \
                     every replay key in one slot, on one node",
                );
            }
            redis_config(r, base, &urls, true, p)
                .map(ReplayBackend::RedisCluster)
                .unwrap_or(ReplayBackend::Memory)
        }
        Some(other) => {
            super::validate::one_of(
                p,
                "replay.backend",
                other,
                &["memory", "redis", "redis_cluster"],
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

/// What one Redis URL says, read with the same parser the gateway connects
/// with (nothing connects here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RedisUrl {
    has_password: bool,
    tls: bool,
    db: i64,
}

fn parse_redis_url(full: &str) -> Result<RedisUrl, String> {
    let shown = redact_redis_url(full);
    let url = shown.as_str();
    let tls = if url.starts_with("rediss://") {
        true
    } else if url.starts_with("redis://") {
        false
    } else {
        return Err(format!(
            "{url:?}: use redis://host:port/db, or rediss://host:port/db for TLS"
        ));
    };
    if url.contains('#') {
        return Err(format!(
            "{url:?}: a URL fragment such as #insecure (no certificate checks) is not accepted; \
             trust a private CA with redis_ca_file"
        ));
    }
    let client = redis::Client::open(full).map_err(|e| format!("{url:?}: {e}"))?;
    let info = client.get_connection_info();
    Ok(RedisUrl {
        has_password: info.redis_settings().password().is_some(),
        tls,
        db: info.redis_settings().db(),
    })
}

/// The URLs, `redis_password_file` and `redis_ca_file` of either Redis
/// backend; `None` (with the problems pushed) when any is unusable.
fn redis_config(
    r: &super::raw::RawReplay,
    base: &Path,
    urls: &[(String, &str)],
    cluster: bool,
    p: &mut Problems,
) -> Option<RedisConfig> {
    let before = p.len();
    let parsed: Vec<RedisUrl> = urls
        .iter()
        .filter_map(|(key, url)| p.take(key, parse_redis_url(url)))
        .collect();
    if cluster {
        for ((key, _), u) in urls.iter().zip(&parsed) {
            if u.db != 0 {
                p.push(
                    key.clone(),
                    "must use database 0: Redis Cluster has only one database",
                );
            }
        }
    }
    let tls = parsed.first().map(|u| u.tls);
    if parsed.iter().any(|u| Some(u.tls) != tls) {
        p.push(
            "replay.redis_urls",
            "mixes redis:// and rediss://; a cluster is reached one way",
        );
    }
    let url_password = parsed.iter().any(|u| u.has_password);
    let password = r.redis_password_file.as_deref().and_then(|f| {
        p.take(
            "replay.redis_password_file",
            read_redis_password(&resolve(base, f)),
        )
    });
    if url_password && r.redis_password_file.is_some() {
        let urls_key = if cluster { "redis_urls" } else { "redis_url" };
        p.push(
            "replay.redis_password_file",
            format!("is set but replay.{urls_key} also carries a password; keep one of them"),
        );
    }
    let ca_pem = r.redis_ca_file.as_deref().and_then(|f| {
        if tls == Some(false) {
            p.push(
                "replay.redis_ca_file",
                "is set but Redis is reached over plain redis://; use rediss:// for TLS",
            );
        }
        let path = resolve(base, f);
        p.take(
            "replay.redis_ca_file",
            crate::pem::load_certs(&path)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
                }),
        )
    });
    (p.len() == before && !urls.is_empty()).then(|| RedisConfig {
        urls: urls.iter().map(|(_, u)| (*u).to_string()).collect(),
        password,
        ca_pem,
    })
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
        let has_password = |url| parse_redis_url(url).map(|u| u.has_password);
        assert_eq!(has_password("redis://u:s3cret@127.0.0.1:6379/0"), Ok(true));
        assert_eq!(has_password("redis://u@127.0.0.1:6379/0"), Ok(false));
        assert_eq!(has_password("redis://127.0.0.1:6379/0"), Ok(false));
        let backend = ReplayBackend::Redis(RedisConfig {
            urls: vec!["rediss://u:s3cret@127.0.0.1:6379/0".into()],
            password: Some(Secret(b"f1le-pass".to_vec())),
            ca_pem: None,
        });
        let shown = format!("{backend:?}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("f1le-pass"),
            "{shown}"
        );
    }

    #[test]
    fn redis_urls_say_tls_and_database_and_refuse_insecure_fragments() {
        assert_eq!(
            parse_redis_url("rediss://:pw@10.0.0.1:6380/2"),
            Ok(RedisUrl {
                has_password: true,
                tls: true,
                db: 2
            })
        );
        assert_eq!(
            parse_redis_url("redis://10.0.0.1"),
            Ok(RedisUrl {
                has_password: false,
                tls: false,
                db: 0
            })
        );
        let err = parse_redis_url("rediss://:s3cret@10.0.0.1:6380/#insecure").unwrap_err();
        assert!(err.contains("redis_ca_file"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = parse_redis_url("http://10.0.0.1").unwrap_err();
        assert!(err.contains("rediss://"), "{err}");
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
