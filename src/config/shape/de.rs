//! The deserializer over the tree: serde tells it each struct's keys, it
//! hides and reports the unknown ones, and it records every value that does
//! not fit at the value's own path (see the parent module).

use std::fmt;
use std::ops::Range;

use serde::de::{
    self, value::StrDeserializer, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};

use super::tree::{Element, Entry, Node, Scalar};
use super::{join, Walk};

impl Walk<'_> {
    /// Records why the value at `path` could not be read, sets it aside for
    /// the next walk, and says it was reported.
    fn fail(&self, path: &str, line: Option<usize>, fail: Fail) -> Fail {
        match fail {
            Fail::Reported => {}
            Fail::Message(message) => {
                self.report(path.to_owned(), line, message);
                self.state.borrow_mut().aside.insert(path.to_owned());
            }
            Fail::Missing(field) => self.missing(path, line, field),
        }
        Fail::Reported
    }
}

/// Why a value could not be read.
#[derive(Debug)]
pub(super) enum Fail {
    /// From serde: a value of the wrong type or out of range.
    Message(String),
    /// A struct lacks this required field.
    Missing(&'static str),
    /// Already recorded deeper down.
    Reported,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Message(message) => f.write_str(message),
            Fail::Missing(field) => write!(f, "the key `{field}` is required"),
            Fail::Reported => f.write_str("reported"),
        }
    }
}

impl std::error::Error for Fail {}

impl de::Error for Fail {
    fn custom<T: fmt::Display>(msg: T) -> Fail {
        Fail::Message(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Fail {
        Fail::Missing(field)
    }
}

/// A deserializer for one node of the tree, at its key path.
pub(super) struct At<'w> {
    walk: &'w Walk<'w>,
    node: &'w Node,
    path: String,
    line: Option<usize>,
}

impl<'w> At<'w> {
    pub(super) fn root(walk: &'w Walk<'w>, node: &'w Node) -> At<'w> {
        At {
            walk,
            node,
            path: String::new(),
            line: None,
        }
    }

    fn child(
        walk: &'w Walk<'w>,
        node: &'w Node,
        path: String,
        span: &Option<Range<usize>>,
    ) -> At<'w> {
        At {
            walk,
            node,
            path,
            line: walk.line(span),
        }
    }

    /// Reads this node with `seed`; a failure is recorded here.
    fn read<'de, S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Fail> {
        let (walk, path, line) = (self.walk, self.path.clone(), self.line);
        if let Some(line) = line {
            walk.state.borrow_mut().lines.insert(path.clone(), line);
        }
        seed.deserialize(self)
            .map_err(|fail| walk.fail(&path, line, fail))
    }
}

impl<'de> Deserializer<'de> for At<'_> {
    type Error = Fail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fail> {
        match self.node {
            Node::Scalar(Scalar::Str(s)) => visitor.visit_str(s),
            Node::Scalar(Scalar::Int(i)) => visitor.visit_i64(*i),
            Node::Scalar(Scalar::Float(x)) => visitor.visit_f64(*x),
            Node::Scalar(Scalar::Bool(b)) => visitor.visit_bool(*b),
            Node::Scalar(Scalar::Datetime) => Err(de::Error::invalid_type(
                Unexpected::Other("date-time"),
                &visitor,
            )),
            Node::Table(entries) => visitor.visit_map(Entries::new(self, entries, None)),
            Node::Array(elements) => visitor.visit_seq(Elements {
                walk: self.walk,
                path: self.path,
                elements: elements.iter().enumerate(),
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fail> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fail> {
        let Node::Table(entries) = self.node else {
            return Err(Fail::Message(format!(
                "invalid type: {}, expected a table",
                self.node.kind()
            )));
        };
        for entry in entries.iter().filter(|e| !fields.contains(&e.key.as_str())) {
            self.walk.unknown(&self.path, entry, fields);
        }
        let (walk, path, line) = (self.walk, self.path.clone(), self.line);
        match visitor.visit_map(Entries::new(self, entries, Some(fields))) {
            Err(Fail::Missing(field)) => {
                walk.missing(&path, line, field);
                Err(Fail::Reported)
            }
            other => other,
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct
        map enum identifier ignored_any
    }
}

/// A table's entries; for a struct only its known keys.
struct Entries<'w> {
    walk: &'w Walk<'w>,
    path: String,
    entries: std::slice::Iter<'w, Entry>,
    fields: Option<&'static [&'static str]>,
    current: Option<&'w Entry>,
}

impl<'w> Entries<'w> {
    fn new(table: At<'w>, entries: &'w [Entry], fields: Option<&'static [&'static str]>) -> Self {
        Entries {
            walk: table.walk,
            path: table.path,
            entries: entries.iter(),
            fields,
            current: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Fail;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fail> {
        for entry in self.entries.by_ref() {
            let known = self
                .fields
                .is_none_or(|fields| fields.contains(&entry.key.as_str()));
            if known && !self.walk.is_aside(&join(&self.path, &entry.key)) {
                self.current = Some(entry);
                return seed
                    .deserialize(StrDeserializer::<Fail>::new(&entry.key))
                    .map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Fail> {
        let entry = self
            .current
            .take()
            .ok_or_else(|| Fail::Message("a value without its key".to_owned()))?;
        At::child(
            self.walk,
            &entry.node,
            join(&self.path, &entry.key),
            &entry.span,
        )
        .read(seed)
    }
}

/// An array's elements, but those set aside.
struct Elements<'w> {
    walk: &'w Walk<'w>,
    path: String,
    elements: std::iter::Enumerate<std::slice::Iter<'w, Element>>,
}

impl<'de> SeqAccess<'de> for Elements<'_> {
    type Error = Fail;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Fail> {
        for (i, element) in self.elements.by_ref() {
            let path = format!("{}[{i}]", self.path);
            if !self.walk.is_aside(&path) {
                let at = At::child(self.walk, &element.node, path, &element.span);
                return at.read(seed).map(Some);
            }
        }
        Ok(None)
    }
}
