//! # jwtx-server
//!
//! The `jwtx` binary as a library: the command line ([`cli`]), configuration ([`config`]) and
//! the commands. `main.rs` only parses arguments and calls [`execute`].
//!
//! `jwtx serve` ([`server`]) is the auth server of docs/http-api.md on a SQLite store; the admin
//! commands (`jwtx user …`, `jwtx revoke`, `jwtx keys …`) act on the same data directory,
//! also while the server runs; `jwtx store copy` moves a whole store into a fresh database.
//! The token commands mint, verify and inspect tokens (`jwtx token …`), check bare JWS
//! (`jwtx jws verify`) and generate secrets (`jwtx secret generate`).

// Public: what `main.rs` and the integration tests use. The rest is the binary's own.
pub mod cli;
mod commands;
pub mod config;
mod data;
pub mod error;
mod keys;
mod logging;
pub mod server;

use std::io::Write;
use std::process::ExitCode;

use cli::{Cli, Command, JwsCommand, KeyArgs, SecretCommand, TokenCommand};
use config::{Config, Overrides, Secret};
use error::CliError;

fn load_config(cli: &Cli, key: Option<&KeyArgs>) -> Result<Config, CliError> {
    let flags = Overrides {
        data_dir: cli.data_dir.clone(),
        secret_key: key.and_then(|k| k.secret.clone()).map(Secret::new),
        algorithm: key.and_then(|k| k.alg.clone()),
        bind: None,
        database_url: cli.database_url.clone().map(Secret::new),
    };
    Ok(Config::load(cli.config.as_deref(), &flags)?)
}

/// Runs one command and returns what it prints on standard output.
pub fn run(cli: &Cli) -> Result<String, CliError> {
    match &cli.command {
        Command::Serve { bind, demo } => {
            let flags = Overrides {
                data_dir: cli.data_dir.clone(),
                bind: bind.clone(),
                database_url: cli.database_url.clone().map(Secret::new),
                ..Overrides::default()
            };
            let config = Config::load(cli.config.as_deref(), &flags)?;
            server::run(&config, *demo)?;
            Ok(String::new())
        }
        Command::Secret(SecretCommand::Generate) => Ok(commands::secret::generate()),
        Command::Token(TokenCommand::Mint {
            sub,
            kind,
            fresh,
            expires,
            claims,
            key,
        }) => {
            let config = load_config(cli, Some(key))?;
            let claims = commands::token::parse_claims(claims)?;
            let codec = keys::codec(&config, keys::keyset(&config, key.key.as_deref())?);
            commands::token::mint(&codec, sub, *kind, *fresh, *expires, claims)
        }
        Command::Token(TokenCommand::Verify { kind, token, key }) => {
            let config = load_config(cli, Some(key))?;
            let codec = keys::codec(&config, keys::keyset(&config, key.key.as_deref())?);
            let token = commands::read_token(token)?;
            commands::token::verify(&codec, &token, *kind)
        }
        Command::Token(TokenCommand::Inspect { token }) => {
            commands::token::inspect(&commands::read_token(token)?)
        }
        Command::Jws(JwsCommand::Verify { key, alg, token }) => {
            let flags = KeyArgs {
                key: Some(key.clone()),
                secret: None,
                alg: alg.clone(),
            };
            let config = load_config(cli, Some(&flags))?;
            let keys = keys::read_key_file(key, config.algorithm)?;
            commands::jws::verify(&keys, &commands::read_token(token)?)
        }
        Command::User(command) => commands::user::run(&load_config(cli, None)?, command),
        Command::Revoke(args) => commands::revoke::run(&load_config(cli, None)?, args),
        Command::Keys(command) => commands::keys::run(&load_config(cli, None)?, command),
        Command::Store(command) => commands::store::run(&load_config(cli, None)?, command),
        Command::Service(command) => commands::service::run(&load_config(cli, None)?, command),
    }
}

/// Runs a parsed command line: prints the result, or the error on stderr with its exit status.
pub fn execute(cli: &Cli) -> ExitCode {
    match run(cli) {
        Ok(out) if out.is_empty() => ExitCode::SUCCESS,
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{out}").is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jwtx: {e}");
            e.exit_code()
        }
    }
}
