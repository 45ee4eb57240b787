//! [`DatabaseUrl`]: which database a store connects to, printable without its password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::redact;

/// What [`DatabaseUrl::parse`] accepts, for its error messages.
const ACCEPTED: &str = "sqlite://PATH (or sqlite:PATH), postgres://… or postgresql://…";

/// What replaces a password when a URL is printed.
const MASK: &str = "***";

/// The kind of database a [`DatabaseUrl`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    /// A SQLite file ([`SqliteStore`](crate::SqliteStore)).
    Sqlite,
    /// A PostgreSQL database ([`PgStore`](crate::PgStore)).
    Postgres,
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatabaseKind::Sqlite => "SQLite",
            DatabaseKind::Postgres => "PostgreSQL",
        })
    }
}

/// A database URL: `sqlite://PATH` (or `sqlite:PATH`), or `postgres://…` / `postgresql://…`
/// (the forms sqlx's PostgreSQL driver reads: user, password, host, port, database, and query
/// parameters such as `sslmode`).
///
/// `Display` and `Debug` print it with the password replaced by `***`, both the user
/// information's (`postgres://app:***@db/jwtx`) and a `password` query parameter's, so it can
/// be logged and shown in errors. [`expose`](Self::expose) gives the URL itself, to connect
/// with.
///
/// ```
/// use jwtx_sqlx::{DatabaseKind, DatabaseUrl};
///
/// let url = DatabaseUrl::parse("postgres://app:hunter2@db.internal:5432/jwtx").unwrap();
/// assert_eq!(url.kind(), DatabaseKind::Postgres);
/// assert_eq!(url.to_string(), "postgres://app:***@db.internal:5432/jwtx");
/// assert_eq!(url.expose(), "postgres://app:hunter2@db.internal:5432/jwtx");
///
/// let file = DatabaseUrl::parse("sqlite://jwtx-data/jwtx.db").unwrap();
/// assert_eq!(file.sqlite_path(), Some(std::path::Path::new("jwtx-data/jwtx.db")));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// The URL as given.
    raw: String,
    /// The URL with every password masked: what `Display` and `Debug` print.
    shown: String,
    kind: DatabaseKind,
    /// The file of a SQLite URL.
    sqlite_path: Option<PathBuf>,
}

impl DatabaseUrl {
    /// Parses a database URL.
    ///
    /// - `sqlite://PATH` and `sqlite:PATH`: everything after the prefix is the file's path, as
    ///   written (no percent-decoding; `sqlite:///srv/jwtx.db` is absolute,
    ///   `sqlite://jwtx-data/jwtx.db` relative). Query parameters are not accepted.
    /// - `postgres://…` and `postgresql://…`: a URL (RFC 3986); characters of the user name and
    ///   password that URLs reserve (`@`, `/`, `?`, `#`, `%`, `:` in a user name) must be
    ///   percent-encoded.
    ///
    /// The error says what was wrong and which forms are accepted; it never quotes the URL
    /// (which may hold a password).
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Self::parse_sqlite(url),
            Some("postgres" | "postgresql") => Self::parse_postgres(url),
            Some(s)
                if !s.is_empty()
                    && s.len() <= 32
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                Err(format!(
                    "unsupported database URL scheme {s:?}: expected {ACCEPTED}"
                ))
            }
            _ => Err(format!("not a database URL: expected {ACCEPTED}")),
        }
    }

    fn parse_sqlite(url: &str) -> Result<DatabaseUrl, String> {
        // "sqlite:" is ASCII, checked case-insensitively by `parse`.
        let rest = &url["sqlite:".len()..];
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(format!(
                "a SQLite URL needs a file path: expected {ACCEPTED}"
            ));
        }
        if path.contains('?') {
            return Err(
                "a SQLite URL takes no query parameters (sqlite://PATH, the path as written)"
                    .to_owned(),
            );
        }
        Ok(DatabaseUrl {
            raw: url.to_owned(),
            // A SQLite URL holds no password; masked anyway should one look like a URL's.
            shown: redact(url).into_owned(),
            kind: DatabaseKind::Sqlite,
            sqlite_path: Some(PathBuf::from(path)),
        })
    }

    fn parse_postgres(url: &str) -> Result<DatabaseUrl, String> {
        let parsed = url::Url::parse(url)
            .map_err(|e| format!("invalid PostgreSQL URL ({e}): expected {ACCEPTED}"))?;
        // An `@` in the path means user information with an unencoded `/`, `?` or `#` (the URL
        // then reads part of a password as host, port or path): refused rather than printed.
        if parsed.path().contains('@') {
            return Err(
                "invalid PostgreSQL URL: percent-encode the user name and password \
                 (an '@', '/', '?' or '#' in them must be written %40, %2F, %3F, %23)"
                    .to_owned(),
            );
        }
        Ok(DatabaseUrl {
            raw: url.to_owned(),
            shown: masked(parsed),
            kind: DatabaseKind::Postgres,
            sqlite_path: None,
        })
    }

    /// Which kind of database it names.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The file of a `sqlite:` URL; `None` for other kinds.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// The URL as given, password included: to connect with. Never log it; print the
    /// `DatabaseUrl` itself.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

/// `url` printed with its password masked: the user information's, and the value of every
/// query parameter whose name contains `password` (`password`, libpq's `sslpassword`).
fn masked(mut url: url::Url) -> String {
    if url.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = url.set_password(Some(MASK));
    }
    let secret_key = |k: &str| k.to_ascii_lowercase().contains("password");
    if url.query_pairs().any(|(k, _)| secret_key(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // And the text-level masking error messages get, should the URL crate have printed a
    // form it did not parse as user information.
    redact(url.as_str()).into_owned()
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(s)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.shown).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        for (text, path) in [
            ("sqlite://jwtx-data/jwtx.db", "jwtx-data/jwtx.db"),
            ("sqlite:jwtx-data/jwtx.db", "jwtx-data/jwtx.db"),
            ("sqlite:///srv/jwtx/jwtx.db", "/srv/jwtx/jwtx.db"),
            ("SQLite://a b/ü.db", "a b/ü.db"),
        ] {
            let url = DatabaseUrl::parse(text).unwrap();
            assert_eq!(url.kind(), DatabaseKind::Sqlite);
            assert_eq!(url.sqlite_path(), Some(Path::new(path)), "{text}");
            assert_eq!(url.expose(), text);
            assert_eq!(url.to_string(), text);
            assert_eq!(text.parse::<DatabaseUrl>(), Ok(url));
        }
        for bad in ["sqlite:", "sqlite://", "sqlite://x.db?mode=ro"] {
            let err = DatabaseUrl::parse(bad).unwrap_err();
            assert!(err.contains("SQLite URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn postgres_urls() {
        for text in [
            "postgres://app@db.internal:5432/jwtx",
            "postgresql://db/jwtx?sslmode=require",
            "postgres:///jwtx?host=/var/run/postgresql",
            "postgres://localhost",
        ] {
            let url = DatabaseUrl::parse(text).unwrap();
            assert_eq!(url.kind(), DatabaseKind::Postgres);
            assert_eq!(url.sqlite_path(), None);
            assert_eq!(url.expose(), text);
            assert_eq!(url.to_string(), text, "nothing to mask");
        }
    }

    #[test]
    fn other_urls_name_the_accepted_forms() {
        for (bad, says) in [
            (
                "mysql://u:hunter2@db/x",
                "unsupported database URL scheme \"mysql\"",
            ),
            ("jwtx.db", "not a database URL"),
            ("", "not a database URL"),
            ("hunter2 is not a url: at all", "not a database URL"),
            ("postgres://u:hunter2@db:port/x", "invalid PostgreSQL URL"),
            ("postgres://u:123/hunter2@db/x", "percent-encode"),
        ] {
            let err = DatabaseUrl::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains(ACCEPTED) || err.contains("%40"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    /// A password never appears in Display or Debug, however it is written.
    #[test]
    fn passwords_are_never_printed() {
        for (text, shown, secrets) in [
            (
                "postgres://app:hunter2@db:5432/jwtx",
                "postgres://app:***@db:5432/jwtx",
                &["hunter2"][..],
            ),
            (
                "postgresql://app:hun%40ter%2F2@db/jwtx",
                "postgresql://app:***@db/jwtx",
                &["hun%40ter%2F2", "hun@ter/2", "hun", "ter"][..],
            ),
            // No user name, only a password.
            (
                "postgres://:hunter2@db/jwtx",
                "postgres://:***@db/jwtx",
                &["hunter2"][..],
            ),
            // An unencoded `@` or `:` in the password.
            (
                "postgres://app:hun@ter2@db/jwtx",
                "postgres://app:***@db/jwtx",
                &["hun", "ter2"][..],
            ),
            (
                "postgres://app:hun:ter2@db/jwtx",
                "postgres://app:***@db/jwtx",
                &["hun:", "ter2"][..],
            ),
            (
                "postgres://app:pässwörd@db/jwtx",
                "postgres://app:***@db/jwtx",
                &["pässwörd", "p%C3%A4ssw"][..],
            ),
            // Query parameters.
            (
                "postgres://db/jwtx?user=app&password=hunter2&sslmode=require",
                "postgres://db/jwtx?user=app&password=***&sslmode=require",
                &["hunter2"][..],
            ),
            (
                "postgres://app:one@db/jwtx?PassWord=two%20words&sslpassword=three",
                "postgres://app:***@db/jwtx?PassWord=***&sslpassword=***",
                &["one", "two", "words", "three"][..],
            ),
        ] {
            let url = DatabaseUrl::parse(text).unwrap();
            assert_eq!(url.expose(), text);
            let printed = format!("{url} {url:?} {:?}", Some(&url));
            for secret in secrets {
                assert!(!printed.contains(secret), "{secret:?} in {printed}");
            }
            assert_eq!(url.to_string(), shown, "{text}");
            assert_eq!(format!("{url:?}"), format!("DatabaseUrl({shown:?})"));
        }
    }
}
