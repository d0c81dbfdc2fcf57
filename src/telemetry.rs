//! Logging through `tracing` to stderr, as JSON lines or human text. The
//! access log uses the target `access`, one event per request.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. An invalid filter falls back to `info`
/// (and says so) rather than failing to start.
pub fn init(format: Option<LogFormat>, level: &str) {
    let (filter, bad_filter) = match EnvFilter::try_new(level) {
        Ok(f) => (f, false),
        Err(_) => (EnvFilter::new("info"), true),
    };
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    if bad_filter {
        tracing::warn!(filter = level, "invalid --log-level; using \"info\"");
    }
}
