//! What a verified access token tells the gateway.

use serde_json::{Map, Value};

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
    /// Space-separated scopes as sent (RFC 9068 §2.2.3).
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

    /// A top-level string or number claim, rendered for a header value.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        match self.all.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}
