//! Error text for logs: an error and every source behind it, and optional
//! values said in words (never `Some(…)` / `None`).

/// An error and its sources, joined with ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// An optional value for a message: `label "value"` (quoted and escaped) when
/// there is one, else the words `absent`. Error and log text must never show
/// Rust's `Some("…")` or `None`.
pub fn optional(label: &str, value: Option<&str>, absent: &str) -> String {
    match value {
        Some(v) => format!("{label} {v:?}"),
        None => absent.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::optional;

    #[test]
    fn optional_values_read_as_words() {
        assert_eq!(optional("kid", Some("abc"), "no kid"), "kid \"abc\"");
        assert_eq!(
            optional("kid", Some("a\"b\n"), "no kid"),
            "kid \"a\\\"b\\n\""
        );
        assert_eq!(optional("kid", None, "no kid"), "no kid");
    }
}
