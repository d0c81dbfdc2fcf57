//! Issuer key sets (RFC 7517 §5): the public signing keys of an
//! authorization server, looked up by `kid`. Keys marked `"use": "enc"` are
//! skipped; a private member anywhere is an error (a JWKS file must hold
//! public keys only).

use std::path::Path;

use serde_json::Value;

use super::{json, Alg, JwkError, PublicJwk};

/// One issuer's verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(Option<String>, PublicJwk)>,
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
    #[error("no signing key in the set")]
    Empty,
}

impl KeySet {
    /// Parses a JWKS document `{"keys": [...]}`.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc = json::parse_object(bytes).map_err(|e| JwksError::Format(e.to_string()))?;
        let Some(Value::Array(list)) = doc.get("keys") else {
            return Err(JwksError::Format("\"keys\" must be an array".into()));
        };
        let mut keys = Vec::with_capacity(list.len());
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
            let jwk =
                PublicJwk::from_map(map).map_err(|source| JwksError::Key { index, source })?;
            let kid = map.get("kid").and_then(Value::as_str).map(str::to_owned);
            keys.push((kid, jwk));
        }
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(KeySet { keys })
    }

    pub fn load(path: &Path) -> Result<KeySet, JwksError> {
        let bytes = std::fs::read(path).map_err(|source| JwksError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&bytes)
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

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
