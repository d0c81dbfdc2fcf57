//! Config errors: every problem names the file, the key path (`routes[0].auth`)
//! and, where it is known, the line.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key path in the form `server.listen` or `routes[0].auth`.
    pub key: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found while loading one config file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {}): {}", self.key, line, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.problems {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{}: {}", self.file.display(), p)?;
        }
        Ok(())
    }
}

/// Collects problems while validating, so that `check` reports all of them at once.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<ConfigProblem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            line: None,
            message: message.into(),
        });
    }

    /// Records the error of `r` (if any) under `key` and returns the value.
    pub fn take<T, E: fmt::Display>(&mut self, key: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(key, e.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems so far (to tell whether a step added any).
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Turns a TOML error into a problem with the line the parser reports and the
/// key path of that place. `check` uses it for syntax errors, where the parser
/// stops; unknown keys and values of the wrong type are found, all of them, by
/// `shape`.
pub fn from_toml(source: &str, err: &toml::de::Error) -> ConfigProblem {
    let line = err
        .span()
        .map(|span| prefix(source, span.start).matches('\n').count() + 1);
    let message = err.message().trim().replace('\n', "; ");
    ConfigProblem {
        key: key_path_at(source, err.span().map(|s| s.start)),
        line,
        message,
    }
}

/// Best-effort key path of the error at byte offset `at`: the table that
/// contains it (`routes[1]`, `server.tls`) and the key on that line, or, when
/// the error line is itself a table header (an unknown table), that table.
fn key_path_at(source: &str, at: Option<usize>) -> String {
    let Some(at) = at else {
        return "(document)".to_string();
    };
    let upto = prefix(source, at);
    let line_start = upto.rfind('\n').map_or(0, |i| i + 1);
    let line = source
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("")
        .trim();
    let mut tables = TablePath::default();
    for complete in prefix(source, line_start).lines() {
        tables.header(complete);
    }
    if tables.header(line) {
        return tables.current;
    }
    let key = line
        .split('=')
        .next()
        .map(str::trim)
        .filter(|k| !k.is_empty() && line.contains('='));
    match (tables.current.is_empty(), key) {
        (true, Some(k)) => k.to_string(),
        (true, None) => "(document)".to_string(),
        (false, Some(k)) => format!("{}.{k}", tables.current),
        (false, None) => tables.current,
    }
}

/// Follows `[table]` and `[[array]]` headers, numbering array elements.
#[derive(Default)]
struct TablePath {
    current: String,
    counts: std::collections::HashMap<String, usize>,
}

impl TablePath {
    /// Reads one line; `true` if it was a table header.
    fn header(&mut self, line: &str) -> bool {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = self.counts.entry(name.clone()).or_insert(0);
            self.current = format!("{name}[{n}]");
            *n += 1;
            true
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            let name = name.trim();
            // A sub-table of the last array element: `[routes.identity_headers]`.
            self.current = match name.split_once('.') {
                Some((head, rest)) => match self.counts.get(head) {
                    Some(n) => format!("{head}[{}].{rest}", n.saturating_sub(1)),
                    None => name.to_string(),
                },
                None => name.to_string(),
            };
            true
        } else {
            false
        }
    }
}

fn prefix(source: &str, at: usize) -> &str {
    source.get(..at).unwrap_or(source)
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn path_of(text: &str) -> (String, Option<usize>) {
        let err = toml::from_str::<crate::config::raw::RawConfig>(text).unwrap_err();
        let p = from_toml(text, &err);
        (p.key, p.line)
    }

    /// Configs with one unknown key or table, and the key path and line that
    /// name it (`check` finds them through `shape`, which has its own test).
    pub(in crate::config) fn unknown_key_cases() -> Vec<(String, &'static str, usize)> {
        let base = "[server]\nlisten = \"x\"\n[[routes]]\nname = \"a\"\npath_prefix = \"/\"\nupstream = \"u\"\n";
        vec![
            ("[server]\nlisten = \"x\"\nlisen = 1\n".to_owned(), "server.lisen", 3),
            (format!("{base}[metrics]\nx = 1\n"), "metrics", 7),
            (format!("{base}[server.extra]\n"), "server.extra", 7),
            (format!("{base}[[routes]]\nname = \"b\"\npath_prefix = \"/b\"\nupstream = \"u\"\n[routes.identity_headerz]\n"), "routes[1].identity_headerz", 11),
            (format!("{base}[[routs]]\n"), "routs[0]", 7),
            (format!("{base}pth = 1\n"), "routes[0].pth", 7),
        ]
    }

    #[test]
    fn unknown_keys_and_tables_are_named() {
        for (text, key, line) in unknown_key_cases() {
            assert_eq!(path_of(&text), (key.to_string(), Some(line)), "{text}");
        }
    }

    #[test]
    fn a_syntax_error_is_named_by_its_line_on_one_line() {
        let text = "[server]\nlisten = \"x\"\n[server\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let p = from_toml(text, &err);
        assert_eq!(p.line, Some(3));
        assert!(!p.message.contains('\n'), "{:?}", p.message);
    }
}
