//! Issuer key sets (RFC 7517 §5): the public signing keys of an
//! authorization server, looked up by `kid`. Keys marked `"use": "enc"` are
//! skipped; so is a key larger than `[limits]` allow (`max_jwk_bytes`,
//! `max_rsa_modulus_bits`), which is reported in [`KeySet::skipped`] for the
//! caller to log: one oversized key must not take the issuer's other keys
//! down. Any other bad key, and a private member anywhere, refuses the set (a
//! JWKS must hold public keys only).

use std::path::Path;

use serde_json::Value;

use super::{json, Alg, JwkError, ParseLimits, PublicJwk};

/// One issuer's verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(Option<String>, PublicJwk)>,
    skipped: Vec<String>,
}

/// Why a JWKS document was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not a JWKS document: {0}")]
    Format(String),
    #[error("keys[{index}]: {source}")]
    Key { index: usize, source: JwkError },
    #[error("no usable signing key in the set{}", skipped_note(.0))]
    Empty(Vec<String>),
}

fn skipped_note(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" (skipped: {})", skipped.join("; "))
    }
}

impl KeySet {
    /// Parses a JWKS document `{"keys": [...]}` within `limits`.
    pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<KeySet, JwksError> {
        let doc = json::parse_object(bytes, limits.max_json_depth)
            .map_err(|e| JwksError::Format(e.to_string()))?;
        let Some(Value::Array(list)) = doc.get("keys") else {
            return Err(JwksError::Format("\"keys\" must be an array".into()));
        };
        let mut keys = Vec::with_capacity(list.len());
        let mut skipped = Vec::new();
        for (index, v) in list.iter().enumerate() {
            let Value::Object(map) = v else {
                return Err(JwksError::Key {
                    index,
                    source: JwkError::NotAnObject,
                });
            };
            if map.get("use").and_then(Value::as_str) == Some("enc") {
                continue;
            }
            let kid = map.get("kid").and_then(Value::as_str).map(str::to_owned);
            match PublicJwk::from_map(map, limits) {
                Ok(jwk) => keys.push((kid, jwk)),
                Err(source) if source.is_over_limit() => skipped.push(match &kid {
                    Some(kid) => {
                        format!("keys[{index}] (kid {:?}): {source}", super::clip(kid, 64))
                    }
                    None => format!("keys[{index}] (no kid): {source}"),
                }),
                Err(source) => return Err(JwksError::Key { index, source }),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::Empty(skipped));
        }
        Ok(KeySet { keys, skipped })
    }

    pub fn load(path: &Path, limits: &ParseLimits) -> Result<KeySet, JwksError> {
        let bytes = std::fs::read(path).map_err(|source| JwksError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&bytes, limits)
    }

    /// The keys that may verify a token with this `kid` (if any) and `alg`.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Alg,
    ) -> impl Iterator<Item = &'a PublicJwk> + 'a {
        self.keys
            .iter()
            .filter(move |(k, _)| kid.is_none() || k.as_deref() == kid)
            .map(|(_, jwk)| jwk)
            .filter(move |jwk| jwk.check_alg(alg).is_ok())
    }

    /// The keys left out for exceeding a limit, one line each (`keys[i] (kid "…"): why`).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
