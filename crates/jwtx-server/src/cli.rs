//! The command line (docs/cli.md), parsed with clap. Usage errors exit 2.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::keys::duration_arg;

/// jwtx: JWT authentication for Rust web APIs.
#[derive(Debug, Parser)]
#[command(name = "jwtx", version, about, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (flags > JWTX_* environment > file > defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./jwtx-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store every instance shares: sqlite://PATH (default <data_dir>/jwtx.db) or
    /// postgres://… (or JWTX_DATABASE_URL; prefer the environment for a URL with a password).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the auth server (login, refresh, logout, sessions, JWKS) on the data directory.
    Serve {
        /// Listening address (default 127.0.0.1:5000, or JWTX_BIND).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Create the seed documents' demo users (loopback addresses only).
        #[arg(long)]
        demo: bool,
    },
    /// HMAC secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Mint, verify and inspect tokens with the configured key.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The JWS layer alone: header rules and signature, no claim rules.
    #[command(subcommand)]
    Jws(JwsCommand),
    /// Manage the server's user accounts (works while `jwtx serve` runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Revoke one token or every token of a user; a running server drops it within a second.
    Revoke(RevokeArgs),
    /// Asymmetric signing keys in the store (ES256, ES384, EdDSA, RS*, PS*): list, create the
    /// first, rotate. A running server uses a new key from its next start.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The store as a whole: copy it into a fresh database (SQLite to PostgreSQL, or back).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Services allowed to read the revocation feed (`GET /revocations`) with a credential.
    #[command(subcommand)]
    Service(ServiceCommand),
}

/// `jwtx service …`: the credentials downstream services read the revocation feed with, in
/// the same store as `jwtx serve` (works while it runs).
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add a service and print its new credential on standard output, alone and only this
    /// once (the store keeps its SHA-256 digest, never the credential).
    Add {
        /// The service's name: 1 to 128 letters, digits, `.`, `_` or `-`.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// List the services: name and creation time (never a credential or its digest).
    List {
        /// Print a JSON array of {name, created_at} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a service: its credential is refused from then on, and its open streams end
    /// within a heartbeat.
    Remove {
        /// The service's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `jwtx store …`: the store as a whole, whichever `database_url` the other commands use.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every user, session, revocation, signing key, stored secret and service into a fresh,
    /// empty database, in one transaction checked by counting rows; from a SQLite file, its
    /// data directory's generated HMAC secret (`secret_key`) too. Stop the servers first.
    Copy {
        /// The store to copy: sqlite://PATH (e.g. sqlite://jwtx-data/jwtx.db) or postgres://….
        #[arg(long, value_name = "URL")]
        from: String,
        /// The fresh database to copy into: postgres://… (give the password in PGPASSWORD) or
        /// sqlite://PATH. Refused unless empty.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// `jwtx keys …`: the server's asymmetric signing keys, in the same store as `jwtx serve`.
/// HMAC secrets are not store keys: they come from `secret_key` or the data directory.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, algorithm, status, creation time and how long a passive key
    /// still verifies (never private key material).
    List {
        /// Print a JSON array of {kid, alg, status, created_at, demoted_at, retired_at,
        /// verify_until} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create the first signing key, active at once. Refused when a key is active already:
    /// `jwtx keys rotate` replaces it without invalidating any token.
    Generate {
        /// The algorithm: ES256, ES384, EdDSA, RS256, RS384, RS512, PS256, PS384 or PS512.
        #[arg(long, value_name = "ALG")]
        alg: String,
    },
    /// Make a new signing key: published in the JWKS at once, signing after
    /// key_publish_lead; the previous one then turns passive and keeps verifying until every
    /// token it signed has expired. Running servers pick the change up without a restart.
    Rotate {
        /// The new key's algorithm (default: the active key's, else `algorithm`).
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        /// Sign with the new key at once, skipping key_publish_lead (an emergency: verifiers
        /// that cached the JWKS meet an unknown kid until they fetch it again).
        #[arg(long)]
        now: bool,
    },
    /// End a compromised key and every token it signed, in running servers and in downstream
    /// services following the revocation feed. Retiring the active key rotates at once.
    Retire {
        /// The key's kid (`jwtx keys list`). A kid is base64url and may begin with `-`: it is
        /// taken as the kid, not as a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// `jwtx user …`. Passwords are never taken from arguments: they are prompted for without
/// echo on a terminal, or read from standard input with `--password-stdin`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (prompts for the password twice, or reads it with --password-stdin).
    Add {
        /// The user name (the tokens' `sub`): no whitespace or control characters, at most 256 bytes.
        #[arg(value_name = "NAME")]
        name: String,
        /// A role (repeatable): no commas or whitespace.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: name, roles and creation time (never password hashes).
    List {
        /// Print a JSON array of {name, roles, created_at} instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's roles (a running server applies them within half a second).
    Roles {
        /// The user name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The new roles, replacing the old ones.
        #[arg(value_name = "ROLE", required_unless_present = "none")]
        roles: Vec<String>,
        /// Remove every role instead.
        #[arg(long, conflicts_with = "roles")]
        none: bool,
    },
    /// Set a user's password and end every session and token of the user.
    Passwd {
        /// The user name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user, their sessions and every token of theirs.
    Delete {
        /// The user name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `jwtx revoke`: exactly one of `--jti` and `--user`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["jti", "user"])))]
pub struct RevokeArgs {
    /// Revoke the token with this `jti`.
    #[arg(long, value_name = "JTI")]
    pub jti: Option<String>,
    /// How long the --jti revocation is kept: the token's `exp` as Unix seconds, or a duration
    /// from now (e.g. 15m). Default: the longest token lifetime configured.
    #[arg(
        long,
        value_name = "DURATION|EPOCH",
        requires = "jti",
        conflicts_with = "user"
    )]
    pub until: Option<String>,
    /// Revoke every token and session of this user issued until now.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// `jwtx secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Print a new random 256-bit HMAC secret, hex (use it as JWTX_SECRET_KEY).
    Generate,
}

/// Where the key comes from (default: JWTX_SECRET_KEY / JWTX_ALGORITHM or the config file).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Key file: PEM (PKCS#8, SPKI, PKCS#1, SEC1), JWK or JWK set.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// HMAC secret (visible to other local users in the process list; prefer JWTX_SECRET_KEY).
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// Algorithm (default HS256, or JWTX_ALGORITHM).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
}

/// Token types for minting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MintType {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

/// Token types a verification accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyType {
    /// Access tokens only (anything but `refresh`).
    Access,
    /// Refresh tokens only.
    Refresh,
    /// Either.
    Any,
}

/// `jwtx token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token and print it.
    Mint {
        /// The identity (`sub`).
        #[arg(long, value_name = "NAME")]
        sub: String,
        /// Token type.
        #[arg(long = "type", value_enum, default_value_t = MintType::Access)]
        kind: MintType,
        /// Mark the access token fresh.
        #[arg(long)]
        fresh: bool,
        /// Lifetime, e.g. 15m (default: access_token_expires / refresh_token_expires).
        #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
        expires: Option<Duration>,
        /// An application claim, KEY=JSON (e.g. --claim 'roles=["admin"]'); repeatable.
        #[arg(long = "claim", value_name = "KEY=JSON")]
        claims: Vec<String>,
        /// Key selection.
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Verify a token; print its claims as JSON, or the reason on stderr and exit 1.
    Verify {
        /// Which token types to accept.
        #[arg(long = "type", value_enum, default_value_t = VerifyType::Any)]
        kind: VerifyType,
        /// The token, or - to read it from standard input.
        #[arg(value_name = "TOKEN")]
        token: String,
        /// Key selection.
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Decode a token WITHOUT verifying it and print its header and claims.
    Inspect {
        /// The token, or - to read it from standard input.
        #[arg(value_name = "TOKEN")]
        token: String,
    },
}

/// `jwtx jws …`
#[derive(Debug, Subcommand)]
pub enum JwsCommand {
    /// Check a compact JWS's header rules and signature with a key file; print the payload.
    Verify {
        /// Key file: PEM (with --alg), JWK or JWK set.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Algorithm for a PEM key.
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        /// The token, or - to read it from standard input.
        #[arg(value_name = "TOKEN")]
        token: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A kid is base64url: one beginning with `-` is still the kid, not a flag.
    #[test]
    fn keys_retire_takes_a_kid_beginning_with_a_hyphen() {
        let cli = Cli::try_parse_from(["jwtx", "keys", "retire", "-9zQx"]).unwrap();
        match cli.command {
            Command::Keys(KeysCommand::Retire { kid }) => assert_eq!(kid, "-9zQx"),
            other => panic!("parsed as {other:?}"),
        }
    }
}
