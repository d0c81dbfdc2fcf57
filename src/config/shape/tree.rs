//! The config text as a TOML tree that remembers the line of every key and
//! array element (from the spans the `toml` parser reports), so that a
//! problem found anywhere can be named by its line.

use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// One TOML value.
#[derive(Debug)]
pub(super) enum Node {
    /// A table, its entries in document order.
    Table(Vec<Entry>),
    Array(Vec<Element>),
    Scalar(Scalar),
}

/// A key of a table and its value.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: String,
    /// Where the key is written (for a table, a header that names it; for an
    /// `[[array]]`, its first header).
    pub(super) span: Option<Range<usize>>,
    pub(super) node: Node,
}

/// An array element.
#[derive(Debug)]
pub(super) struct Element {
    /// Where the element is written (for an `[[array]]` table, its header).
    pub(super) span: Option<Range<usize>>,
    pub(super) node: Node,
}

#[derive(Debug)]
pub(super) enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A TOML date-time, which no config key takes.
    Datetime,
}

impl Node {
    /// What kind of value this is, for messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Table(_) => "table",
            Node::Array(_) => "array",
            Node::Scalar(Scalar::Str(_)) => "string",
            Node::Scalar(Scalar::Int(_)) => "integer",
            Node::Scalar(Scalar::Float(_)) => "float",
            Node::Scalar(Scalar::Bool(_)) => "boolean",
            Node::Scalar(Scalar::Datetime) => "date-time",
        }
    }
}

/// Parses `text`. A syntax error is the `toml` parser's. Spans are read where the parser
/// gives them; when it cannot (say, a date-time value), the tree is read again without them.
pub(super) fn parse(text: &str) -> Result<Node, toml::de::Error> {
    match toml::from_str::<Node>(text) {
        Ok(node) => Ok(node),
        Err(_) => toml::from_str::<toml::Table>(text).map(|t| from_value(toml::Value::Table(t))),
    }
}

/// The 1-based line of byte offset `at` in `text`.
pub(super) fn line_at(text: &str, at: usize) -> usize {
    text.get(..at)
        .unwrap_or(text)
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// A tree without spans.
fn from_value(value: toml::Value) -> Node {
    match value {
        toml::Value::String(s) => Node::Scalar(Scalar::Str(s)),
        toml::Value::Integer(i) => Node::Scalar(Scalar::Int(i)),
        toml::Value::Float(f) => Node::Scalar(Scalar::Float(f)),
        toml::Value::Boolean(b) => Node::Scalar(Scalar::Bool(b)),
        toml::Value::Datetime(_) => Node::Scalar(Scalar::Datetime),
        toml::Value::Array(items) => Node::Array(
            items
                .into_iter()
                .map(|v| Element {
                    span: None,
                    node: from_value(v),
                })
                .collect(),
        ),
        toml::Value::Table(table) => Node::Table(
            table
                .into_iter()
                .map(|(key, v)| Entry {
                    key,
                    span: None,
                    node: from_value(v),
                })
                .collect(),
        ),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Int(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| Node::Scalar(Scalar::Int(v)))
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Float(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Str(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Str(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = seq.next_element::<Spanned<Node>>()? {
            elements.push(Element {
                span: Some(element.span()),
                node: element.into_inner(),
            });
        }
        Ok(Node::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let span = Some(key.span());
            entries.push(Entry {
                key: key.into_inner(),
                span,
                node: map.next_value()?,
            });
        }
        Ok(Node::Table(entries))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn entry<'n>(node: &'n Node, key: &str) -> &'n Entry {
        let Node::Table(entries) = node else {
            panic!("not a table: {node:?}")
        };
        entries.iter().find(|e| e.key == key).unwrap()
    }

    fn line(text: &str, span: &Option<Range<usize>>) -> usize {
        line_at(text, span.clone().unwrap().start)
    }

    #[test]
    fn keys_and_elements_know_their_lines() {
        let text = "[server.tls]\ncert = \"c\"\n\n[server]\nlisten = \"x\"\nlist = [\n  1,\n  \"two\",\n]\n\
                    [[routes]]\nname = \"a\"\n[[routes]]\nname = \"b\"\n[routes.identity_headers]\nsub = \"X\"\n\
                    dotted.key = true\n";
        let root = parse(text).unwrap();
        let server = entry(&root, "server");
        assert_eq!(line(text, &server.span), 4, "its own header");
        assert_eq!(line(text, &entry(&server.node, "tls").span), 1);
        assert_eq!(line(text, &entry(&server.node, "listen").span), 5);
        let Node::Array(list) = &entry(&server.node, "list").node else {
            panic!()
        };
        assert_eq!(line(text, &list[1].span), 8);
        assert!(matches!(list[1].node, Node::Scalar(Scalar::Str(_))));
        let routes = entry(&root, "routes");
        assert_eq!(line(text, &routes.span), 10);
        let Node::Array(routes) = &routes.node else {
            panic!()
        };
        assert_eq!(line(text, &routes[1].span), 12);
        let headers = entry(&routes[1].node, "identity_headers");
        assert_eq!(line(text, &headers.span), 14);
        assert_eq!(line(text, &entry(&headers.node, "dotted").span), 16);
    }

    #[test]
    fn a_date_time_is_read_without_spans() {
        let root = parse("[server]\nwhen = 1979-05-27T07:32:00Z\n").unwrap();
        let when = entry(&entry(&root, "server").node, "when");
        assert!(matches!(when.node, Node::Scalar(Scalar::Datetime)));
        assert_eq!(when.node.kind(), "date-time");
    }

    #[test]
    fn syntax_errors_are_the_parsers() {
        let err = parse("[server]\nlisten = \n").unwrap_err();
        assert!(err.span().is_some());
    }
}
