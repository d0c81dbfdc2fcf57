//! The shape of the file, checked against the serde mirror in `raw.rs`: every
//! unknown key or table, every value of the wrong type and every missing
//! required key is reported by its key path (`routes[0].auth`; an unknown table
//! by its name) and line, not only the first one.
//!
//! How: `RawConfig` is deserialized from the [`tree`] of the file
//! by a deserializer that learns each table's keys from serde (the field names
//! `deserialize_struct` is given), reports and hides the keys it does not know,
//! and records a value that does not fit under its own path. serde gives up on
//! a struct at its first bad value, so the walk is repeated with every value
//! that failed set aside (read as if it were not in the file), until a walk
//! completes or sets nothing new aside: each walk but the last sets at least
//! one more value aside.

mod de;
mod tree;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;

use super::error::ConfigProblem;
use super::raw::RawConfig;
use de::{At, Fail};
use tree::{Entry, Node};

/// What the walk found besides the raw config.
#[derive(Debug)]
pub(super) struct Shape {
    /// Every shape problem, in the order of the file.
    pub(super) problems: Vec<ConfigProblem>,
    /// Tables (and arrays) that had a value set aside: validation problems in
    /// them may come from the value that is missing, so they are not reported.
    tainted: Vec<String>,
    /// The line of every key path walked.
    lines: BTreeMap<String, usize>,
}

impl Shape {
    /// Adds what validation found about the config with the values set aside:
    /// each problem gets the line of its key (or of the nearest table around
    /// it), and problems in a table that had a value set aside are dropped.
    /// All problems are then in the order of the file.
    pub(super) fn add_validation(&mut self, found: Vec<ConfigProblem>) {
        for mut problem in found {
            let key = problem.key.as_str();
            if self
                .tainted
                .iter()
                .any(|t| within(key, t) || within(t, key))
            {
                continue;
            }
            if problem.line.is_none() {
                problem.line = self.line_of(key);
            }
            self.problems.push(problem);
        }
        sort_by_line(&mut self.problems);
    }

    fn line_of(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some(line) = self.lines.get(key) {
                return Some(*line);
            }
            key = key.get(..key.rfind(['.', '['])?)?;
        }
    }
}

/// Reads `text` into the raw config (with the values that do not fit set
/// aside) and every shape problem. The raw config is `None` when a required
/// key is missing. A TOML syntax error is the one problem (the parser stops
/// there).
pub(super) fn read(text: &str) -> Result<(Option<RawConfig>, Shape), ConfigProblem> {
    let root = tree::parse(text).map_err(|e| super::error::from_toml(text, &e))?;
    let walk = Walk {
        text,
        state: RefCell::default(),
    };
    let raw = loop {
        let set_aside = walk.state.borrow().aside.len();
        match RawConfig::deserialize(At::root(&walk, &root)) {
            Ok(raw) => break Some(raw),
            Err(Fail::Message(message)) => {
                walk.report("(document)".into(), None, message);
                break None;
            }
            Err(Fail::Missing(_) | Fail::Reported) => {
                let state = walk.state.borrow();
                if state.aside.contains("") || state.aside.len() == set_aside {
                    break None;
                }
            }
        }
    };
    let mut state = walk.state.into_inner();
    sort_by_line(&mut state.problems);
    let raw = raw.filter(|_| !state.incomplete);
    let tainted = state.aside.iter().map(|path| table_of(path)).collect();
    Ok((
        raw,
        Shape {
            problems: state.problems,
            tainted,
            lines: state.lines,
        },
    ))
}

/// In the order of the file; problems without a line last, in the order found.
fn sort_by_line(problems: &mut [ConfigProblem]) {
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
}

/// Whether `key` is `table` or inside it (`routes[0].auth` is inside `routes[0]` and `routes`).
fn within(key: &str, table: &str) -> bool {
    match key.strip_prefix(table) {
        Some(rest) => rest.is_empty() || rest.starts_with(['.', '[']),
        None => false,
    }
}

/// The table a set-aside value belongs to: `routes[0]` for `routes[0].auth`,
/// `server` for `server.trusted_proxies[1]`; a top-level key stands for itself.
fn table_of(path: &str) -> String {
    let mut path = path;
    while let Some((array, _)) = path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
        path = array;
    }
    match path.rsplit_once('.') {
        Some((table, _)) => table.to_owned(),
        None => path.to_owned(),
    }
}

fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    }
}

/// `expected one of `a`, `b`` for the keys a table takes.
fn expected(fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [] => "this table takes no keys".to_owned(),
        [one] => format!("expected {one}"),
        _ => format!("expected one of {}", quoted.join(", ")),
    }
}

#[derive(Default)]
struct State {
    problems: Vec<ConfigProblem>,
    /// Paths of values read as if they were not in the file.
    aside: BTreeSet<String>,
    /// A table lacks a required key, so the config cannot be validated.
    incomplete: bool,
    lines: BTreeMap<String, usize>,
}

/// One file's walks.
struct Walk<'t> {
    text: &'t str,
    state: RefCell<State>,
}

impl Walk<'_> {
    fn line(&self, span: &Option<Range<usize>>) -> Option<usize> {
        span.as_ref().map(|s| tree::line_at(self.text, s.start))
    }

    /// Records a problem once (later walks find the unknown keys again).
    fn report(&self, key: String, line: Option<usize>, message: String) {
        let mut state = self.state.borrow_mut();
        if !state
            .problems
            .iter()
            .any(|p| p.key == key && p.message == message)
        {
            state.problems.push(ConfigProblem { key, line, message });
        }
    }

    fn is_aside(&self, path: &str) -> bool {
        self.state.borrow().aside.contains(path)
    }

    fn unknown(&self, table: &str, entry: &Entry, fields: &[&str]) {
        let path = join(table, &entry.key);
        let (path, what) = match &entry.node {
            Node::Table(_) => (path, "table"),
            Node::Array(items)
                if !items.is_empty() && items.iter().all(|i| matches!(i.node, Node::Table(_))) =>
            {
                (format!("{path}[0]"), "table")
            }
            _ => (path, "field"),
        };
        let message = format!("unknown {what} `{}`, {}", entry.key, expected(fields));
        self.report(path, self.line(&entry.span), message);
    }

    /// The table at `path` lacks `field`: said once, unless a problem was
    /// already reported at or under it (a value of the wrong type, set aside).
    fn missing(&self, path: &str, line: Option<usize>, field: &str) {
        let key = join(path, field);
        let covered = self.is_aside(&key)
            || self
                .state
                .borrow()
                .problems
                .iter()
                .any(|p| within(&p.key, &key));
        if !covered {
            let message = if path.is_empty() {
                format!("the [{field}] table is required")
            } else {
                format!("the key `{field}` is required")
            };
            self.report(key, line, message);
        }
        let mut state = self.state.borrow_mut();
        state.aside.insert(path.to_owned());
        state.incomplete = true;
    }
}

#[cfg(test)]
mod tests;
