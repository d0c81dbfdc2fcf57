//! JSON objects for JOSE headers, claims sets and JWKs, with duplicate member names rejected.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 let a parser either reject duplicate member names or keep the
//! last one. `serde_json::Value` silently keeps the last one, which lets a proof say two
//! different things to two different parsers (rfc9449-checks B2, case 20). This parser
//! **rejects** duplicates at every depth. Input must be UTF-8 (RFC 8259 §8.1) and, for
//! [`parse_object`], a JSON object. Nesting is bounded by the caller's `max_depth` (`[limits]
//! max_json_depth`), counted by this parser itself: the document's own object or array is depth
//! 1, each container inside adds one; a container past the limit stops the parse there.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a JSON document was rejected.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Invalid JSON, invalid UTF-8, too deep, or a duplicate member name.
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    /// Valid JSON so far, but nested deeper than the limit.
    #[error("JSON nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Valid JSON, but not an object.
    #[error("JSON value is {0}, not an object")]
    NotAnObject(&'static str),
}

/// Parses bytes into a JSON object nested at most `max_depth` deep, rejecting duplicate
/// member names at any depth.
pub fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes, max_depth)? {
        Value::Object(map) => Ok(map),
        other => Err(JsonError::NotAnObject(kind(&other))),
    }
}

/// Parses bytes into any JSON value nested at most `max_depth` deep, rejecting duplicate
/// member names at any depth.
pub fn parse_value(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    let too_deep = Cell::new(false);
    let seed = StrictValue {
        remaining: max_depth,
        too_deep: &too_deep,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed.deserialize(&mut de).and_then(|value| {
        de.end()?;
        Ok(value)
    });
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if too_deep.get() => Err(JsonError::TooDeep { max: max_depth }),
        Err(e) => Err(JsonError::Syntax(e)),
    }
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
/// is an error, and so is a container when `remaining` is 0 (then `too_deep` is set).
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    /// Containers that may still be opened around the value being read.
    remaining: usize,
    too_deep: &'a Cell<bool>,
}

impl<'a> StrictValue<'a> {
    /// The seed for the members of a container being opened here.
    fn inner<E: de::Error>(self) -> Result<StrictValue<'a>, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(StrictValue {
                remaining,
                too_deep: self.too_deep,
            }),
            None => {
                self.too_deep.set(true);
                Err(E::custom("JSON nested too deep"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
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
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name {:?}",
                    super::clip(&key, 64)
                )));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const D: usize = crate::jose::limits::DEFAULT_MAX_JSON_DEPTH;

    fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
        super::parse_object(bytes, D)
    }

    /// An object whose member `x` holds arrays and objects alternately, `depth` containers in
    /// all (the outer object included), the innermost holding `inner`.
    fn nested(depth: usize, inner: &str) -> String {
        let mut text = inner.to_owned();
        for level in (2..=depth).rev() {
            text = if level % 2 == 0 {
                format!("[{text}]")
            } else {
                format!("{{\"k\":{text}}}")
            };
        }
        format!("{{\"x\":{text}}}")
    }

    #[test]
    fn depth_is_counted_by_the_parser() {
        assert!(super::parse_object(b"{}", 1).is_ok());
        assert!(super::parse_object(br#"{"a":1,"b":"c"}"#, 1).is_ok());
        assert!(matches!(
            super::parse_object(br#"{"a":[]}"#, 1),
            Err(JsonError::TooDeep { max: 1 })
        ));
        assert!(super::parse_value(b"7", 0).is_ok());
        for max in [1, 4, D, 32, 100] {
            let at = nested(max, "1");
            assert!(
                super::parse_object(at.as_bytes(), max).is_ok(),
                "{max}: {at}"
            );
            let past = nested(max + 1, "1");
            match super::parse_object(past.as_bytes(), max) {
                Err(JsonError::TooDeep { max: m }) => assert_eq!(m, max),
                other => panic!("{max}: {other:?}"),
            }
            // Siblings do not add up: many containers side by side at the limit.
            let wide = format!("{{\"a\":{},\"b\":{}}}", nested(max, "1"), nested(max, "2"));
            assert!(
                super::parse_value(wide.as_bytes(), max + 1).is_ok(),
                "{max}"
            );
        }
    }

    #[test]
    fn depth_limit_does_not_hide_duplicates_and_reaches_serde_json_bound() {
        // A duplicate in an object at exactly the limit is still a duplicate.
        let dup = nested(D - 1, r#"{"k":1,"k":2}"#);
        match parse_object(dup.as_bytes()) {
            Err(JsonError::Syntax(e)) => assert!(e.to_string().contains("duplicate"), "{e}"),
            other => panic!("{other:?}"),
        }
        // The widest setting parses what serde_json itself accepts, and no more.
        let max = crate::jose::limits::MAX_JSON_DEPTH;
        let deep = format!("{}{}", "[".repeat(max), "]".repeat(max));
        assert!(super::parse_value(deep.as_bytes(), max).is_ok());
        let deeper = format!("{}{}", "[".repeat(max + 1), "]".repeat(max + 1));
        assert!(super::parse_value(deeper.as_bytes(), max + 1).is_err());
    }

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
        assert!(super::parse_value(deep.as_bytes(), D).is_err());
    }
}
