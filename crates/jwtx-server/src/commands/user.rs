//! `jwtx user add | list | roles | passwd | delete`: the server's accounts, in the same store
//! as `jwtx serve` (SQLite in WAL mode, so these run safely while a server runs).
//!
//! * Passwords never come from an argument: they are prompted for twice with echo off on a
//!   terminal (`stty -echo` on Unix), or read from the first line of standard input with
//!   `--password-stdin` (trailing newline stripped). A new password follows the one rule of
//!   [`jwtx_auth::passwords::check_new_password`], as for the server's `POST /password`: non-empty,
//!   at most [`MAX_PASSWORD_BYTES`] bytes and at least [`MIN_PASSWORD_CHARS`] characters as a
//!   person sees them; it is hashed in its NFKC form.
//! * `passwd` ends every session and token of the user, as `jwtx revoke --user` does, in the
//!   same transaction as the new hash and only if nobody changed the password since it was
//!   read (a login racing it cannot keep a session); `delete` deletes the user and their
//!   sessions and appends a cut-off for the user to the revocation log that includes the
//!   deletion's own second, so a running server drops their tokens within a second (its user
//!   loader refuses them within half a second too) and none comes back under a new user of
//!   the same name. Cut-offs are taken from the store's clock. A running server applies
//!   `roles` within half a
//!   second (its user loader keeps a user that long).
//! * Exit status 2 for every failure here (bad names or roles, an unknown or duplicate user,
//!   a refused password, the store): they are usage or configuration problems, not a token
//!   or credential failing verification.
//! * Each change is an audit event (target `audit`, on stderr; `RUST_LOG` filters, default
//!   `warn,audit=info`) with the user name and roles, never a password or hash.

use std::io::{BufRead, Read, Write};

use crate::data::Store;
use jwtx::store::{PasswordChange, StoreError, User};
use jwtx::{Clock, NumericDate, SystemClock};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::UserCommand;
use crate::config::Config;
use crate::error::CliError;
use jwtx_auth::MAX_NAME_BYTES;
use jwtx_auth::passwords::{MAX_PASSWORD_BYTES, Password, PasswordHasher};

/// Longest role, in bytes (roles travel in every access token).
pub(crate) const MAX_ROLE_BYTES: usize = 128;
/// Most roles per user (roles travel in every access token, which verifiers cap at 8 KiB).
pub(crate) const MAX_ROLES: usize = 32;

/// Runs one `jwtx user …` command; returns what to print on standard output.
pub(crate) fn run(config: &Config, command: &UserCommand) -> Result<String, CliError> {
    // Check the arguments before touching the data directory.
    match command {
        UserCommand::Add { name, roles, .. } => {
            check_name(name)?;
            check_roles(roles)?;
        }
        UserCommand::Roles { roles, .. } => {
            check_roles(roles)?;
        }
        UserCommand::List { .. } | UserCommand::Passwd { .. } | UserCommand::Delete { .. } => {}
    }
    with_store(config, |store| async move {
        match command {
            UserCommand::Add {
                name,
                roles,
                password_stdin,
            } => add(&store, config, name, &dedup(roles), *password_stdin).await,
            UserCommand::List { json } => list(&store, *json).await,
            UserCommand::Roles { name, roles, none } => {
                let roles = if *none { Vec::new() } else { dedup(roles) };
                set_roles(&store, name, &roles).await
            }
            UserCommand::Passwd {
                name,
                password_stdin,
            } => passwd(&store, config, name, *password_stdin).await,
            UserCommand::Delete { name } => delete(&store, config, name).await,
        }
    })
}

async fn add(
    store: &Store,
    config: &Config,
    name: &str,
    roles: &[String],
    password_stdin: bool,
) -> Result<String, CliError> {
    // Before asking for a password that would be thrown away.
    if store.get_user(name).await.map_err(store_error)?.is_some() {
        return Err(exists(name));
    }
    let password = read_new_password(name, password_stdin).await?;
    let hash = hash(config, password).await?;
    let user = User {
        name: name.to_owned(),
        password_hash: hash,
        roles: roles.to_vec(),
        created_at: SystemClock.now(),
        generation: 0,
        demo: false,
    };
    match store.create_user(user).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Err(exists(name)),
        Err(e) => return Err(store_error(e)),
    }
    tracing::info!(target: "audit", event = "user_created", user = name, roles = ?roles, source = "cli");
    Ok(format!(
        "created user {name} (roles: {})",
        show_roles(roles)
    ))
}

async fn list(store: &Store, json: bool) -> Result<String, CliError> {
    let users = store.list_users().await.map_err(store_error)?;
    if json {
        let out: Vec<_> = users
            .iter()
            .map(|u| json!({"name": u.name, "roles": u.roles, "created_at": u.created_at}))
            .collect();
        return serde_json::to_string_pretty(&out)
            .map_err(|e| CliError::runtime(format!("cannot format the list: {e}")));
    }
    if users.is_empty() {
        return Ok("no users (add one with `jwtx user add NAME`)".to_owned());
    }
    let rows: Vec<[String; 3]> = users
        .iter()
        .map(|u| [u.name.clone(), show_roles(&u.roles), utc(u.created_at)])
        .collect();
    let header = ["NAME", "ROLES", "CREATED"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let line = |r: [&str; 3]| format!("{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]);
    let mut out = vec![line(header)];
    out.extend(rows.iter().map(|r| line([&r[0], &r[1], &r[2]])));
    Ok(out.join("\n"))
}

async fn set_roles(store: &Store, name: &str, roles: &[String]) -> Result<String, CliError> {
    if !store.set_roles(name, roles).await.map_err(store_error)? {
        return Err(no_such_user(name));
    }
    tracing::info!(target: "audit", event = "user_roles_changed", user = name, roles = ?roles, source = "cli");
    Ok(format!(
        "roles of {name}: {} (a running server applies them within half a second)",
        show_roles(roles)
    ))
}

async fn passwd(
    store: &Store,
    config: &Config,
    name: &str,
    password_stdin: bool,
) -> Result<String, CliError> {
    let Some(user) = store.get_user(name).await.map_err(store_error)? else {
        return Err(no_such_user(name));
    };
    let password = read_new_password(name, password_stdin).await?;
    let hash = hash(config, password).await?;
    // A compare-and-set on the generation read above, ending every session and appending one
    // cut-off (at the store's clock) in the same transaction: a login racing this reset
    // cannot keep a session.
    let ended = match store
        .change_password(
            name,
            &hash,
            user.generation,
            None,
            config.longest_token_lifetime(),
        )
        .await
        .map_err(store_error)?
    {
        PasswordChange::Changed { ended, .. } => ended,
        PasswordChange::Stale => {
            return Err(CliError::usage(format!(
                "the password of {name} was changed by someone else meanwhile; nothing was \
                 written: run the command again"
            )));
        }
        PasswordChange::NoSuchUser => return Err(no_such_user(name)),
    };
    crate::data::announce(config, store).await;
    tracing::info!(target: "audit", event = "password_change", result = "success", user = name, sessions_ended = ended, source = "cli");
    Ok(format!(
        "password of {name} changed; {ended} session(s) ended and every earlier token revoked"
    ))
}

async fn delete(store: &Store, config: &Config, name: &str) -> Result<String, CliError> {
    // The user, their sessions and a cut-off in one transaction. The cut-off, at the store's
    // clock, covers every token issued to them, in the deletion's own second too, so none
    // comes back if a user of the same name is created.
    let deleted = store
        .delete_user(name, config.longest_token_lifetime())
        .await
        .map_err(store_error)?;
    if deleted.is_none() {
        return Err(no_such_user(name));
    }
    crate::data::announce(config, store).await;
    tracing::info!(target: "audit", event = "user_deleted", user = name, source = "cli");
    Ok(format!(
        "deleted user {name}; their sessions are gone and their tokens revoked"
    ))
}

// ----- shared by the admin commands -----

/// Opens the data directory's store in a current-thread runtime, runs `f`, then closes the
/// store (whatever `f` returned).
pub(crate) fn with_store<F, Fut>(config: &Config, f: F) -> Result<String, CliError>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<String, CliError>>,
{
    with_store_and_dir(config, |store, _| f(store))
}

/// [`with_store`], also handing over the data directory (`None` on PostgreSQL).
pub(crate) fn with_store_and_dir<F, Fut>(config: &Config, f: F) -> Result<String, CliError>
where
    F: FnOnce(Store, Option<crate::data::DataDir>) -> Fut,
    Fut: std::future::Future<Output = Result<String, CliError>>,
{
    crate::logging::init(config.log_format, "warn,audit=info");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let (dir, store) = crate::data::open_store(config).await?;
        let result = f(store.clone(), dir).await;
        store.close().await;
        result
    })
}

/// A store failure: what failed, never a secret (a conflict exits 2, anything else 3).
pub(crate) fn store_error(e: StoreError) -> CliError {
    CliError::store("the store failed", e)
}

/// The error for a user name that is not in the store.
pub(crate) fn no_such_user(name: &str) -> CliError {
    CliError::usage(format!(
        "there is no user {name:?}; `jwtx user list` shows the users"
    ))
}

fn exists(name: &str) -> CliError {
    CliError::usage(format!(
        "user {name:?} exists already; pick another name, or change it with \
         `jwtx user passwd` / `jwtx user roles`"
    ))
}

/// Checks a new user name: non-empty, at most [`MAX_NAME_BYTES`], no whitespace or control
/// characters.
pub(crate) fn check_name(name: &str) -> Result<(), CliError> {
    if name.is_empty() {
        return Err(CliError::usage("the user name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(CliError::usage(format!(
            "the user name is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::usage(format!(
            "the user name {name:?} contains whitespace or a control character; use e.g. \
             letters, digits, '.', '_', '-' or '@'"
        )));
    }
    Ok(())
}

/// Checks roles: each non-empty, at most [`MAX_ROLE_BYTES`], without commas, whitespace or
/// control characters; at most [`MAX_ROLES`] different ones.
pub(crate) fn check_roles(roles: &[String]) -> Result<(), CliError> {
    for role in roles {
        if role.is_empty() {
            return Err(CliError::usage("a role must not be empty"));
        }
        if role.len() > MAX_ROLE_BYTES {
            return Err(CliError::usage(format!(
                "the role {role:?} is longer than {MAX_ROLE_BYTES} bytes"
            )));
        }
        if role
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
        {
            return Err(CliError::usage(format!(
                "the role {role:?} contains a comma, whitespace or a control character; give \
                 each role on its own (--role admin --role user)"
            )));
        }
    }
    if dedup(roles).len() > MAX_ROLES {
        return Err(CliError::usage(format!(
            "at most {MAX_ROLES} roles per user"
        )));
    }
    Ok(())
}

/// Roles without duplicates, in the order first given.
pub(crate) fn dedup(roles: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for r in roles {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

fn show_roles(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(",")
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
pub(crate) fn utc(t: NumericDate) -> String {
    let (days, secs) = (t / 86_400, t % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), in unsigned arithmetic:
    // shift the epoch to 0000-03-01 so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// ----- passwords -----

/// Hashes with the configured Argon2id parameters (`argon2_*`), as the server does.
async fn hash(config: &Config, password: Password) -> Result<String, CliError> {
    let hasher = PasswordHasher::new(config.argon2).map_err(|e| CliError::usage(e.to_string()))?;
    hasher
        .hash(password)
        .await
        .map_err(|e| CliError::runtime(format!("cannot hash the password: {e}")))
}

/// Reads a new password: the first line of standard input with `--password-stdin`, else a
/// prompt without echo (twice) on a terminal. Refuses a password that breaks the rules.
async fn read_new_password(name: &str, password_stdin: bool) -> Result<Password, CliError> {
    let password = if password_stdin {
        read_line(&mut std::io::stdin().lock())?.ok_or_else(|| {
            CliError::usage("no password on standard input (--password-stdin reads one line)")
        })?
    } else {
        prompt(name).await?
    };
    check_new_password(&password)?;
    Ok(password)
}

/// The rules for a new password: [`jwtx_auth::passwords::check_new_password`], as the server's.
pub(crate) fn check_new_password(password: &Password) -> Result<(), CliError> {
    jwtx_auth::passwords::check_new_password(password).map_err(|e| CliError::usage(e.to_string()))
}

/// Reads one line (at most a little more than [`MAX_PASSWORD_BYTES`]; longer input is kept
/// long enough to be refused by the length rule), without its `\n` or `\r\n`. `None` at the
/// end of input. The buffer is wiped.
pub(crate) fn read_line(input: &mut impl BufRead) -> Result<Option<Password>, CliError> {
    let mut buf = Zeroizing::new(Vec::new());
    let limit = u64::try_from(MAX_PASSWORD_BYTES + 3).unwrap_or(u64::MAX);
    input
        .take(limit)
        .read_until(b'\n', &mut buf)
        .map_err(|e| CliError::runtime(format!("cannot read the password: {e}")))?;
    if buf.is_empty() {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| CliError::usage("the password is not valid UTF-8"))?;
    Ok(Some(Password::from(Zeroizing::new(text.to_owned()))))
}

/// Prompts on the terminal with echo off, twice.
#[cfg(unix)]
async fn prompt(name: &str) -> Result<Password, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(not_a_terminal());
    }
    let label = format!("New password for {name}: ");
    let read = tokio::task::spawn_blocking(move || prompt_twice(&label));
    tokio::select! {
        r = read => r.map_err(|_| CliError::runtime("reading the password failed"))?,
        _ = tokio::signal::ctrl_c() => {
            // The reading thread is blocked in read(): turn echo back on before leaving.
            let _ = stty("echo");
            eprintln!();
            std::process::exit(130)
        }
    }
}

/// No prompt without echo here: only `--password-stdin`.
#[cfg(not(unix))]
async fn prompt(_name: &str) -> Result<Password, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(not_a_terminal());
    }
    Err(CliError::usage(
        "cannot prompt for a password without echo on this system; pipe it in with \
         --password-stdin",
    ))
}

fn not_a_terminal() -> CliError {
    CliError::usage(
        "standard input is not a terminal, so the password cannot be prompted for; give it on \
         standard input with --password-stdin (one line), never as an argument",
    )
}

#[cfg(unix)]
fn prompt_twice(label: &str) -> Result<Password, CliError> {
    let _echo = EchoOff::new()?;
    let ask = |label: &str| -> Result<Password, CliError> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{label}");
        let _ = err.flush();
        let line = read_line(&mut std::io::stdin().lock());
        let _ = writeln!(err);
        line?.ok_or_else(|| CliError::usage("no password given"))
    };
    let first = ask(label)?;
    // Rules first, so a bad password is not typed twice for nothing.
    check_new_password(&first)?;
    let second = ask("Repeat it: ")?;
    if first.expose() != second.expose() {
        return Err(CliError::usage(
            "the passwords do not match; nothing changed",
        ));
    }
    Ok(first)
}

/// Terminal echo off for as long as it lives (`stty -echo`, restored with `stty echo`).
#[cfg(unix)]
struct EchoOff;

#[cfg(unix)]
impl EchoOff {
    fn new() -> Result<EchoOff, CliError> {
        stty("-echo").map_err(|e| {
            CliError::usage(format!(
                "cannot turn off the terminal's echo to read the password ({e}); pipe it in \
                 with --password-stdin"
            ))
        })?;
        Ok(EchoOff)
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = stty("echo");
    }
}

/// Runs `stty ARG` on the terminal that is standard input.
#[cfg(unix)]
fn stty(arg: &str) -> std::io::Result<()> {
    let status = std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "stty {arg} failed: {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59:59 UTC");
    }

    #[test]
    fn lines_lose_only_their_newline() {
        let read = |s: &[u8]| {
            read_line(&mut &s[..])
                .unwrap()
                .map(|p| p.expose().to_owned())
        };
        assert_eq!(read(b""), None);
        assert_eq!(read(b"\n").as_deref(), Some(""));
        assert_eq!(
            read(b" pass word \r\nnext\n").as_deref(),
            Some(" pass word ")
        );
        assert_eq!(read(b"no newline").as_deref(), Some("no newline"));
        let long = vec![b'x'; 5000];
        let got = read(&long).unwrap();
        assert!(got.len() > MAX_PASSWORD_BYTES && got.len() < 1100);
        assert!(read_line(&mut &b"\xff\xfe\n"[..]).is_err());
    }

    #[test]
    fn password_rules() {
        let ok = |s: &str| check_new_password(&Password::new(s)).is_ok();
        assert!(!ok(""));
        assert!(!ok("1234567"));
        assert!(ok("12345678"));
        assert!(ok("ééééééé€")); // characters, not bytes
        assert!(!ok(&"\u{301}".repeat(8))); // what a person sees, not code points
        assert!(ok(&"x".repeat(MAX_PASSWORD_BYTES)));
        assert!(!ok(&"x".repeat(MAX_PASSWORD_BYTES + 1)));
    }

    #[test]
    fn names_and_roles() {
        assert!(check_name("alice@example.com").is_ok());
        for bad in ["", "a b", "a\tb", "a\u{7}", &"n".repeat(257)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_roles(&roles(&["admin", "user", "admin"])).is_ok());
        for bad in [&["a,b"][..], &[""], &["a b"], &["x\n"]] {
            assert!(check_roles(&roles(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            dedup(&roles(&["b", "a", "b", "c", "a"])),
            roles(&["b", "a", "c"])
        );
        let many: Vec<String> = (0..=MAX_ROLES).map(|i| format!("r{i}")).collect();
        assert!(check_roles(&many).is_err());
    }
}
