//! Log lines on stderr for `jwtx serve` and the admin commands: text or JSON, colours only on
//! a terminal, `RUST_LOG` filtering (else `default_filter`).

use crate::config::LogFormat;

/// Installs the global subscriber once; a second call (tests) keeps the first.
pub(crate) fn init(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
