//! Mapping sqlx errors and stored values to [`StoreError`], without secrets: the sqlx error
//! is kept as the source, its text redacted ([`redact`]).

use std::borrow::Cow;
use std::fmt;

use jwtx::NumericDate;
use jwtx::store::StoreError;
use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// SQLite's primary result codes for a damaged file and a file that is not a database.
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_NOTADB: i32 = 26;
/// PostgreSQL's SQLSTATEs for damaged storage.
const PG_DATA_CORRUPTED: &str = "XX001";
const PG_INDEX_CORRUPTED: &str = "XX002";

/// Maps a sqlx error from operation `op` to a [`StoreError`].
///
/// Unique and foreign-key violations become [`StoreError::Conflict`] (callers that expect one
/// replace the text with a better one); values that do not decode, schema rejections and
/// damaged storage become [`StoreError::Corrupt`]; everything else (busy, I/O, pool timeouts,
/// a statement timeout, a server shutting down, a closed store) is
/// [`StoreError::Unavailable`]. The sqlx error is kept as the source, as
/// [`Redacted`] text: every text passes through [`redact`], and configuration errors keep
/// their text out of `Display` altogether.
pub(crate) fn db_error(op: &'static str, e: sqlx::Error) -> StoreError {
    let e = match e {
        sqlx::Error::Migrate(m) => return migrate_error(*m),
        e => e,
    };
    let source = Redacted::of(&e);
    let err = match &e {
        sqlx::Error::Database(db) => {
            let message = redact(db.message());
            match db.kind() {
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => {
                    StoreError::Conflict {
                        what: format!("{op}: {message}"),
                    }
                }
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    StoreError::corrupt(format!("{op}: rejected by the schema: {message}"))
                }
                _ if is_damaged(db.as_ref()) => StoreError::corrupt(format!("{op}: {message}")),
                _ => StoreError::unavailable(format!("{op}: {message}")),
            }
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => {
            StoreError::corrupt(format!("{op}: {}", redact(&e.to_string())))
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::unavailable(format!("{op}: timed out waiting for a database connection"))
        }
        sqlx::Error::PoolClosed => StoreError::unavailable(format!("{op}: the store is closed")),
        sqlx::Error::Io(io) => {
            StoreError::unavailable(format!("{op}: I/O error: {}", redact(&io.to_string())))
        }
        sqlx::Error::Configuration(_) => {
            StoreError::unavailable(format!("{op}: invalid database configuration"))
        }
        other => StoreError::unavailable(format!("{op}: {}", redact(&other.to_string()))),
    }
    .with_source(source);
    tracing::debug!(operation = op, error = %err, "store operation failed");
    err
}

/// Whether the database reports damaged storage: SQLite's SQLITE_CORRUPT or SQLITE_NOTADB
/// (primary result codes), PostgreSQL's `data_corrupted` or `index_corrupted` (SQLSTATE
/// XX001, XX002). Codes are read per driver: SQLite's are numbers, PostgreSQL's SQLSTATEs.
fn is_damaged(db: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    let code = db.code();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let primary = code.and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
        matches!(primary, Some(SQLITE_CORRUPT | SQLITE_NOTADB))
    } else if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        matches!(
            code.as_deref(),
            Some(PG_DATA_CORRUPTED | PG_INDEX_CORRUPTED)
        )
    } else {
        false
    }
}

/// Maps a migration failure: a schema this version does not know is [`StoreError::Corrupt`].
pub(crate) fn migrate_error(e: MigrateError) -> StoreError {
    let source = Redacted::of(&e);
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            return db_error("migrate", e);
        }
        MigrateError::VersionMissing(v) => StoreError::corrupt(format!(
            "the database has schema migration {v}, which this version of jwtx does not know \
             (it was written by a newer jwtx)"
        )),
        MigrateError::VersionMismatch(v) => StoreError::corrupt(format!(
            "schema migration {v} in the database differs from this version's"
        )),
        MigrateError::Dirty(v) => {
            StoreError::corrupt(format!("schema migration {v} was left partly applied"))
        }
        other => StoreError::corrupt(format!("migrations: {}", redact(&other.to_string()))),
    }
    .with_source(source)
}

/// An error's chain as text, each level passed through [`redact`]: what a [`StoreError`]
/// keeps as its source instead of the sqlx error, whose `Debug` and `Display` could print a
/// connection string with its password. `Display` is this level's text; `source` the next.
#[derive(Debug)]
pub(crate) struct Redacted {
    text: String,
    source: Option<Box<Redacted>>,
}

impl Redacted {
    /// At most this many levels of a chain are kept.
    const MAX_DEPTH: usize = 16;

    /// `e` and its sources, redacted.
    pub(crate) fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        let texts: Vec<String> = std::iter::successors(Some(e), |e| e.source())
            .take(Self::MAX_DEPTH)
            .map(|e| redact(&e.to_string()).into_owned())
            .collect();
        let mut chain = None;
        for text in texts.into_iter().rev() {
            chain = Some(Redacted {
                text,
                source: chain.map(Box::new),
            });
        }
        chain.unwrap_or(Redacted {
            text: String::new(),
            source: None,
        })
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Redacted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `text` with the secrets a database error may quote masked as `***`: the password of every
/// URL's user information (`postgres://user:pass@host` → `postgres://user:***@host`) and the
/// value of every `password=` parameter (a query string's or a libpq connection string's,
/// quoted or not). A user name alone is kept.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    const MASK: &str = "***";
    // Byte ranges to replace, in order and disjoint.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    let ends_value = |b: u8| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>');
    // URL user information: after `://`, up to the authority's last `@`.
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        let end = bytes[start..]
            .iter()
            .position(|&b| ends_value(b) || matches!(b, b'/' | b'?' | b'#'))
            .map_or(bytes.len(), |n| start + n);
        if let Some(at) = text[start..end].rfind('@')
            && let Some(colon) = text[start..start + at].find(':')
        {
            spans.push((start + colon + 1, start + at));
        }
        from = end.max(start);
    }
    // `password=` values.
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password=") {
        let start = from + i + "password=".len();
        let end = if bytes.get(start) == Some(&b'\'') {
            bytes[start + 1..]
                .iter()
                .position(|&b| b == b'\'')
                .map_or(bytes.len(), |n| start + 1 + n + 1)
        } else {
            bytes[start..]
                .iter()
                .position(|&b| ends_value(b) || matches!(b, b'&' | b';' | b','))
                .map_or(bytes.len(), |n| start + n)
        };
        spans.push((start, end));
        from = end.max(start);
    }
    spans.retain(|(s, e)| s < e);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e) in spans {
        if s < at {
            // Overlaps a span already masked (a URL whose query holds `password=`).
            at = at.max(e);
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(MASK);
        at = e;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// A time as stored: INTEGER seconds. Times beyond `i64::MAX` (far past
/// [`jwtx::MAX_NUMERIC_DATE`]) are stored as `i64::MAX`.
pub(crate) fn to_db(t: NumericDate) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// A stored time or id back; a negative value is [`StoreError::Corrupt`].
pub(crate) fn from_db(column: &'static str, v: i64) -> Result<NumericDate, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::corrupt(format!("negative value in {column}")))
}

/// A stored optional time back.
pub(crate) fn from_db_opt(
    column: &'static str,
    v: Option<i64>,
) -> Result<Option<NumericDate>, StoreError> {
    v.map(|v| from_db(column, v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_and_saturate() {
        assert_eq!(to_db(0), 0);
        assert_eq!(to_db(jwtx::MAX_NUMERIC_DATE), 1 << 53);
        assert_eq!(to_db(u64::MAX), i64::MAX);
        assert_eq!(from_db("t", 5), Ok(5));
        assert!(matches!(from_db("t", -1), Err(StoreError::Corrupt { .. })));
        assert_eq!(from_db_opt("t", None), Ok(None));
    }

    #[test]
    fn errors_map_without_configuration_text() {
        let e = db_error(
            "open",
            sqlx::Error::Configuration("postgres://u:hunter2@db/x".into()),
        );
        assert!(matches!(e, StoreError::Unavailable { .. }));
        assert!(!e.to_string().contains("hunter2"));
        assert!(matches!(
            db_error("x", sqlx::Error::PoolTimedOut),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            db_error("x", sqlx::Error::ColumnNotFound("c".into())),
            StoreError::Corrupt { .. }
        ));
        assert!(matches!(
            migrate_error(MigrateError::VersionMissing(9)),
            StoreError::Corrupt { .. }
        ));
    }

    #[test]
    fn redact_masks_url_passwords_and_password_parameters() {
        for (text, want) in [
            ("postgres://user:pass@host", "postgres://user:***@host"),
            (
                "cannot connect to postgres://app:s3cr%40t@db:5432/jwtx?sslmode=require: refused",
                "cannot connect to postgres://app:***@db:5432/jwtx?sslmode=require: refused",
            ),
            // An unescaped `@` in the password: up to the authority's last one.
            ("mysql://u:p@ss@h/db", "mysql://u:***@h/db"),
            ("redis://token@cache:6379", "redis://token@cache:6379"),
            ("sqlite://data/jwtx.db", "sqlite://data/jwtx.db"),
            (
                "host=db user=app password=hunter2 dbname=x",
                "host=db user=app password=*** dbname=x",
            ),
            ("host=db PASSWORD='two words' x", "host=db PASSWORD=*** x"),
            (
                "postgres://h/db?user=a&password=hunter2&ssl=1",
                "postgres://h/db?user=a&password=***&ssl=1",
            ),
            (
                "postgres://a:b@h/?password=c",
                "postgres://a:***@h/?password=***",
            ),
            ("no secrets here", "no secrets here"),
        ] {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    /// A failure whose text quotes a connection string, under another error.
    #[derive(Debug)]
    struct Quoting(&'static str, Option<std::io::Error>);

    impl fmt::Display for Quoting {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        std::iter::successors(Some(e), |e| e.source())
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn store_errors_keep_a_redacted_source_chain() {
        let errors = [
            db_error(
                "open",
                sqlx::Error::Configuration(Box::new(Quoting(
                    "bad url postgres://u:hunter2@db/x",
                    None,
                ))),
            ),
            db_error(
                "open",
                sqlx::Error::Io(std::io::Error::other(Quoting(
                    "connect postgres://u:hunter2@db/x",
                    None,
                ))),
            ),
            db_error(
                "query",
                sqlx::Error::Protocol("server said: password=hunter2 is wrong".into()),
            ),
            db_error(
                "open",
                sqlx::Error::Tls(Box::new(Quoting(
                    "handshake with postgres://u:hunter2@db failed",
                    Some(std::io::Error::other("peer reset, password=hunter2")),
                ))),
            ),
        ];
        for e in &errors {
            assert!(matches!(e, StoreError::Unavailable { .. }), "{e:?}");
            let texts = chain(e);
            assert!(
                texts.len() >= 2,
                "the sqlx error is kept as the source: {texts:?}"
            );
            for text in &texts {
                assert!(!text.contains("hunter2"), "{text}");
            }
            assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
            assert!(!format!("{:?}", std::error::Error::source(e)).contains("hunter2"));
        }
        // The configuration error's text stays out of Display, but its redacted text is the
        // source; the TLS error's own cause is still below it.
        assert_eq!(
            errors[0].to_string(),
            "store unavailable: open: invalid database configuration"
        );
        assert!(chain(&errors[0])[1].contains("postgres://u:***@db/x"));
        let tls = chain(&errors[3]);
        assert_eq!(
            tls.last().map(String::as_str),
            Some("peer reset, password=***")
        );
        // Clones share the source.
        assert_eq!(errors[1].clone(), errors[1]);
    }
}
