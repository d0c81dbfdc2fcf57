//! JSON objects for JOSE headers, claims sets and JWKs, with duplicate member names rejected.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 let a parser either reject duplicate member names or keep the
//! last one. `serde_json::Value` silently keeps the last one, which lets a proof say two
//! different things to two different parsers (rfc9449-checks B2, case 20). This parser
//! **rejects** duplicates at every depth. Input must be UTF-8 (RFC 8259 §8.1) and, for
//! [`parse_object`], a JSON object. Nesting is bounded by `serde_json`'s recursion limit (128).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a JSON document was rejected.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Invalid JSON, invalid UTF-8, too deep, or a duplicate member name.
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("JSON value is {0}, not an object")]
    NotAnObject(&'static str),
}

/// Parses bytes into a JSON object, rejecting duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        other => Err(JsonError::NotAnObject(kind(&other))),
    }
}

/// Parses bytes into any JSON value, rejecting duplicate member names at any depth.
pub fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A short name of the JSON type of `value`, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds a `serde_json::Value` like `Value::deserialize`, except that a repeated member name
/// is an error.
#[derive(Clone, Copy)]
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name {:?}",
                    super::clip(&key, 64)
                )));
            }
            let value = access.next_value_seed(StrictValue)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn parses_objects_like_serde_json() {
        let text =
            br#"{"a":1,"b":[true,null,"x",-2,1.5],"c":{"d":"e"},"big":18446744073709551615}"#;
        let strict = Value::Object(parse_object(text).unwrap());
        let lax: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(strict, lax);
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        for text in [
            r#"{"htu":"a","htu":"b"}"#,
            r#"{"a":{"x":1,"x":1}}"#,
            r#"{"a":[{"k":1,"k":2}]}"#,
            r#"{"jwk":{"kty":"EC","kty":"EC"}}"#,
            // Same name after JSON unescaping.
            r#"{"htu":"a","\u0068tu":"b"}"#,
        ] {
            let err = parse_object(text.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("duplicate"), "{text}: {err}");
        }
    }

    #[test]
    fn rejects_non_objects_and_bad_input() {
        for (text, what) in [
            (&b"[]"[..], "an array"),
            (b"null", "null"),
            (b"1", "a number"),
            (b"\"x\"", "a string"),
            (b"true", "a boolean"),
        ] {
            match parse_object(text) {
                Err(JsonError::NotAnObject(kind)) => assert_eq!(kind, what),
                other => panic!("{other:?}"),
            }
        }
        for bad in [
            &b""[..],
            b"{",
            b"{}x",
            b"{} {}",
            b"{'a':1}",
            b"{\"a\":\"\xff\"}",
            b"\xef\xbb\xbf{}",
        ] {
            assert!(
                matches!(parse_object(bad), Err(JsonError::Syntax(_))),
                "{bad:?}"
            );
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse_value(deep.as_bytes()).is_err());
    }
}
