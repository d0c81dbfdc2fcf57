//! What a verified access token tells the gateway.

use serde_json::{Map, Value};

use super::TokenError;
use crate::jose::Jkt;

/// The token's confirmation method (RFC 9449 §6, RFC 7800).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// No `cnf`: a plain bearer token.
    Unbound,
    /// `cnf.jkt`: bound to the DPoP key with this thumbprint.
    Jkt(Jkt),
    /// `cnf` present without `jkt` (e.g. only `x5t#S256`): a binding we cannot check.
    Unsupported,
}

/// The verified claims of an access token.
#[derive(Debug, Clone)]
pub struct TokenClaims {
    pub iss: String,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub binding: Binding,
    /// The client the token was issued to: `client_id` (RFC 9068 §2.2,
    /// RFC 7662 §2.2), else `azp`, `cid` or `appid` under the `jwt` profile.
    pub client_id: Option<String>,
    /// The granted scopes, space-separated: `scope` (RFC 9068 §2.2.3), else
    /// `scp`; either a space-separated string or an array of strings.
    pub scope: Option<String>,
    /// Introspection's `token_type` (RFC 7662 §2.2), when given.
    pub token_type: Option<String>,
    /// Every top-level claim, for identity headers.
    pub all: Map<String, Value>,
}

impl TokenClaims {
    /// Whether every scope in `required` is granted.
    pub fn has_scopes(&self, required: &[String]) -> bool {
        let granted: Vec<&str> = self
            .scope
            .as_deref()
            .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        required.iter().all(|r| granted.contains(&r.as_str()))
    }

    /// A top-level string or number claim, rendered for a header value;
    /// `client_id` and `scope` are the resolved client and scopes.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        match name {
            "client_id" => return self.client_id.clone(),
            "scope" => return self.scope.clone(),
            _ => {}
        }
        match self.all.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// The first of `names` that is a non-empty string claim.
pub fn first_string(claims: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| match claims.get(*name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// The scopes of `scope`, else `scp`: a space-separated string or an array of
/// strings, joined with single spaces. Any other shape is refused (a scope
/// check must never pass on a claim it could not read).
pub fn scopes(claims: &Map<String, Value>) -> Result<Option<String>, TokenError> {
    for name in ["scope", "scp"] {
        let joined = match claims.get(name) {
            None => continue,
            Some(Value::String(s)) => s
                .split(' ')
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            Some(Value::Array(list)) => {
                let mut parts = Vec::with_capacity(list.len());
                for item in list {
                    match item {
                        Value::String(s) if !s.is_empty() && !s.contains(' ') => {
                            parts.push(s.as_str())
                        }
                        _ => {
                            return Err(TokenError::ClaimType(if name == "scope" {
                                "scope"
                            } else {
                                "scp"
                            }))
                        }
                    }
                }
                parts.join(" ")
            }
            Some(_) => {
                return Err(TokenError::ClaimType(if name == "scope" {
                    "scope"
                } else {
                    "scp"
                }))
            }
        };
        return Ok(Some(joined));
    }
    Ok(None)
}
