//! CLI errors and their exit statuses (docs/cli.md): 1 for a token or credential that fails
//! verification, 2 for bad usage or configuration, 3 for a failure at run time (a store that
//! cannot be opened or does not answer, I/O).

use std::fmt;
use std::process::ExitCode;

/// A command failure with its exit status.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Bad usage or configuration: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// A failure at run time, which the same command may get past when tried again: a store
    /// that cannot be opened or does not answer, stored data this version cannot use, I/O on
    /// the data directory or standard input, a runtime or thread that cannot start: exit 3.
    pub fn runtime(message: impl Into<String>) -> Self {
        CliError {
            code: 3,
            message: message.into(),
        }
    }

    /// A store failure, after `context`: a conflict is the command's to word and is bad usage
    /// (exit 2); anything else is a runtime failure (exit 3).
    pub fn store(context: &str, e: jwtx::store::StoreError) -> Self {
        let message = format!("{context}: {e}");
        match e {
            jwtx::store::StoreError::Conflict { .. } => CliError::usage(message),
            _ => CliError::runtime(message),
        }
    }

    /// A token or credential that fails verification: exit 1.
    pub fn rejected(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// Whether this is bad usage (exit 2): for a store write, a conflict.
    pub fn is_usage(&self) -> bool {
        self.code == 2
    }

    /// The exit status.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::usage(e.to_string())
    }
}
