//! One module per command group; each returns what to print or a [`CliError`].

pub(crate) mod jws;
pub(crate) mod keys;
pub(crate) mod revoke;
pub(crate) mod secret;
pub(crate) mod service;
pub(crate) mod store;
pub(crate) mod token;
pub(crate) mod user;

use std::io::Read;

use crate::error::CliError;

/// A verification failure: the client-facing message, plus the detail when it adds facts.
pub(crate) fn rejection(what: &str, e: &jwtx::Error) -> CliError {
    let (message, detail) = (e.message(), e.to_string());
    if detail == message {
        CliError::rejected(format!("{what} rejected: {message}"))
    } else {
        CliError::rejected(format!("{what} rejected: {message} ({detail})"))
    }
}

/// Reads `TOKEN`, or standard input for `-` (bounded, whitespace trimmed).
pub(crate) fn read_token(arg: &str) -> Result<String, CliError> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut buf = String::new();
    std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut buf)
        .map_err(|e| {
            CliError::runtime(format!("cannot read the token from standard input: {e}"))
        })?;
    Ok(buf.trim().to_owned())
}
