//! `jwtx store copy --from URL --to URL`: growing out of one machine. Copies a whole store
//! (users, roles, sessions, the revocation log, signing keys, stored secrets) into a fresh,
//! empty database with [`jwtx_sqlx::copy()`]: one read snapshot of the source, one transaction
//! on the target, checked by counting every table's rows on both sides before it commits.
//!
//! * From `sqlite://PATH`, the data directory is PATH's directory. The SQLite server keeps its
//!   generated HMAC secret there, in `secret_key`, beside the database rather than in it; the
//!   copy stores it in the target's `secrets` as `hmac` (unless the source's store has an
//!   `hmac` of its own), which is where servers on a PostgreSQL store read it. So tokens the
//!   SQLite server issued before the copy verify on servers using the target, and their
//!   refresh tokens still refresh. With `key_encryption_key` configured, the secret is sealed
//!   under it first, as a server on the target would have stored it. Private keys and stored
//!   secrets are copied as stored: sealed ones stay sealed under the key they were sealed with.
//! * The target is migrated first (a SQLite target's directory and file are created as
//!   `jwtx serve` creates them, 0700 and 0600); a target holding anything is refused (exit 2)
//!   and left as it was; a copy whose counts do not add up is rolled back (exit 3).
//! * URLs are only ever printed as [`DatabaseUrl`] prints them, without a password. One audit
//!   event (`store_copied`) with the counts.

use std::path::Path;

use jwtx::store::StoredSecret;
use jwtx_sqlx::{CopyError, CopyReport, DatabaseKind, DatabaseUrl};

use crate::cli::StoreCommand;
use crate::config::Config;
use crate::data::{DataDir, HMAC_SECRET};
use crate::error::CliError;

/// The file a SQLite server keeps its generated HMAC secret in, beside its database.
const SECRET_FILE: &str = "secret_key";

/// Runs one `jwtx store …` command; returns what to print on standard output.
pub(crate) fn run(config: &Config, command: &StoreCommand) -> Result<String, CliError> {
    match command {
        StoreCommand::Copy { from, to } => copy(config, from, to),
    }
}

fn copy(config: &Config, from: &str, to: &str) -> Result<String, CliError> {
    // Never quoted back: a URL may hold a password.
    let from = DatabaseUrl::parse(from).map_err(|e| CliError::usage(format!("--from: {e}")))?;
    let to = DatabaseUrl::parse(to).map_err(|e| CliError::usage(format!("--to: {e}")))?;

    // Before anything is created for the target.
    let data_dir = match from.sqlite_path() {
        Some(db) => {
            if !db.is_file() {
                return Err(CliError::usage(format!(
                    "--from: there is no SQLite database at {} (the `jwtx.db` in the old \
                     server's data directory, e.g. sqlite://jwtx-data/jwtx.db)",
                    db.display()
                )));
            }
            Some(directory_of(db))
        }
        None => None,
    };
    let file_secret = match data_dir {
        Some(dir) => read_secret_file(config, &dir.join(SECRET_FILE))?,
        None => None,
    };
    if let Some(db) = to.sqlite_path() {
        let file = db.file_name().ok_or_else(|| {
            CliError::usage(format!("--to: sqlite://{} names no file", db.display()))
        })?;
        DataDir::open_with(directory_of(db), file.as_ref())?;
    }

    crate::logging::init(config.log_format, "warn,audit=info");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    let had_file = file_secret.is_some();
    let extra: Vec<(&str, StoredSecret)> =
        file_secret.into_iter().map(|s| (HMAC_SECRET, s)).collect();
    let report = runtime
        .block_on(jwtx_sqlx::copy(&from, &to, &extra))
        .map_err(copy_error)?;
    tracing::info!(
        target: "audit",
        event = "store_copied",
        from = %from,
        to = %to,
        users = report.users,
        sessions = report.sessions,
        revocations = report.revocations,
        signing_keys = report.signing_keys,
        secrets = report.secrets,
        services = report.services,
        hmac_from_data_dir = report.added_secrets.iter().any(|n| n == HMAC_SECRET),
        source = "cli"
    );
    Ok(summary(&report, &from, &to, data_dir, had_file))
}

/// The directory of a database file (`.` for a bare file name).
fn directory_of(db: &Path) -> &Path {
    match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The SQLite server's generated HMAC secret, from its data directory, as it is to be stored:
/// sealed under `key_encryption_key` if one is configured. `None` if there is no such file.
fn read_secret_file(config: &Config, file: &Path) -> Result<Option<StoredSecret>, CliError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::runtime(format!(
                "cannot read {}: {e}",
                file.display()
            )));
        }
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err(CliError::usage(format!(
            "{} is empty; remove it, or put the old server's HMAC secret in it",
            file.display()
        )));
    }
    match &config.key_encryption_key {
        // The place SealedKeys binds a stored secret to (`secret:<name>`), so that servers
        // on the target with the same key open it.
        Some(kek) => kek
            .seal(&format!("secret:{HMAC_SECRET}"), secret)
            .map(|sealed| Some(StoredSecret::new(sealed)))
            .map_err(|e| CliError::runtime(format!("cannot seal {}: {e}", file.display()))),
        None => Ok(Some(StoredSecret::new(secret))),
    }
}

/// The exit status of a failed copy: a target that is not fresh, or the wrong source, is the
/// user's to change (2); a store that fails, or counts that do not add up, a failure at run
/// time (3).
fn copy_error(e: CopyError) -> CliError {
    match e {
        CopyError::Store { context, error } => CliError::store(&context, error),
        e @ CopyError::Mismatch { .. } => CliError::runtime(e.to_string()),
        e => CliError::usage(e.to_string()),
    }
}

/// `SQLite PATH` or `PostgreSQL postgres://user:***@host/db`.
fn describe(url: &DatabaseUrl) -> String {
    match (url.kind(), url.sqlite_path()) {
        (DatabaseKind::Sqlite, Some(path)) => format!("SQLite {}", path.display()),
        _ => format!("{} {url}", url.kind()),
    }
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary(
    report: &CopyReport,
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    data_dir: Option<&Path>,
    had_file: bool,
) -> String {
    let mut out = format!(
        "copied {} ({}), {}, {}, {}, {}, {} from {} to {}",
        count(report.users, "user", "users"),
        count(report.roles, "role", "roles"),
        count(report.sessions, "session", "sessions"),
        count(report.revocations, "revocation", "revocations"),
        count(report.signing_keys, "signing key", "signing keys"),
        count(report.secrets, "secret", "secrets"),
        count(report.services, "service", "services"),
        describe(from),
        describe(to),
    );
    if to.kind() == DatabaseKind::Sqlite {
        out.push_str(&format!(
            "\na server on a SQLite store signs with the {SECRET_FILE} file in its data \
             directory (or a configured secret_key), not a stored `{HMAC_SECRET}` secret"
        ));
    }
    let Some(dir) = data_dir else {
        return out;
    };
    let file = dir.join(SECRET_FILE);
    if report.added_secrets.iter().any(|n| n == HMAC_SECRET) {
        out.push_str(&format!(
            "\nthe HMAC secret in {} is the target's `{HMAC_SECRET}` secret: tokens the old \
             server issued verify on servers using the target (unless they configure a \
             secret_key of their own)",
            file.display()
        ));
    } else if had_file {
        out.push_str(&format!(
            "\n{} was not copied: the source already stores an `{HMAC_SECRET}` secret, which \
             was copied instead",
            file.display()
        ));
    } else {
        out.push_str(&format!(
            "\nno {} beside the database: if the old server had secret_key configured, \
             configure the same one on the servers using the target",
            file.display()
        ));
    }
    out
}
