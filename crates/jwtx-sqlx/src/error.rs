//! Mapping sqlx errors and stored values to [`StoreError`], without secrets.

use jwtx::NumericDate;
use jwtx::store::StoreError;
use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// SQLite's primary result codes for a damaged file and a file that is not a database.
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_NOTADB: i32 = 26;

/// Maps a sqlx error from operation `op` to a [`StoreError`].
///
/// Unique and foreign-key violations become [`StoreError::Conflict`] (callers that expect one
/// replace the text with a better one); values that do not decode, schema rejections and a
/// damaged file become [`StoreError::Corrupt`]; everything else (busy, I/O, pool timeouts,
/// a closed store) is [`StoreError::Unavailable`]. Configuration errors are reported without
/// their text, which could hold a connection string.
pub(crate) fn db_error(op: &'static str, e: sqlx::Error) -> StoreError {
    let err = match e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => StoreError::Conflict {
                what: format!("{op}: {}", db.message()),
            },
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => StoreError::Corrupt {
                detail: format!("{op}: rejected by the schema: {}", db.message()),
            },
            _ => {
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                if matches!(primary, Some(SQLITE_CORRUPT | SQLITE_NOTADB)) {
                    StoreError::Corrupt {
                        detail: format!("{op}: {}", db.message()),
                    }
                } else {
                    StoreError::Unavailable {
                        detail: format!("{op}: {}", db.message()),
                    }
                }
            }
        },
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt {
            detail: format!("{op}: {e}"),
        },
        sqlx::Error::PoolTimedOut => StoreError::Unavailable {
            detail: format!("{op}: timed out waiting for a database connection"),
        },
        sqlx::Error::PoolClosed => StoreError::Unavailable {
            detail: format!("{op}: the store is closed"),
        },
        sqlx::Error::Io(io) => StoreError::Unavailable {
            detail: format!("{op}: I/O error: {io}"),
        },
        sqlx::Error::Configuration(_) => StoreError::Unavailable {
            detail: format!("{op}: invalid database configuration"),
        },
        sqlx::Error::Migrate(m) => migrate_error(*m),
        other => StoreError::Unavailable {
            detail: format!("{op}: {other}"),
        },
    };
    tracing::debug!(operation = op, error = %err, "store operation failed");
    err
}

/// Maps a migration failure: a schema this version does not know is [`StoreError::Corrupt`].
pub(crate) fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => db_error("migrate", e),
        MigrateError::VersionMissing(v) => StoreError::Corrupt {
            detail: format!(
                "the database has schema migration {v}, which this version of jwtx does not \
                 know (it was written by a newer jwtx)"
            ),
        },
        MigrateError::VersionMismatch(v) => StoreError::Corrupt {
            detail: format!("schema migration {v} in the database differs from this version's"),
        },
        MigrateError::Dirty(v) => StoreError::Corrupt {
            detail: format!("schema migration {v} was left partly applied"),
        },
        other => StoreError::Corrupt {
            detail: format!("migrations: {other}"),
        },
    }
}

/// A time as stored: INTEGER seconds. Times beyond `i64::MAX` (far past
/// [`jwtx::MAX_NUMERIC_DATE`]) are stored as `i64::MAX`.
pub(crate) fn to_db(t: NumericDate) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// A stored time or id back; a negative value is [`StoreError::Corrupt`].
pub(crate) fn from_db(column: &'static str, v: i64) -> Result<NumericDate, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        detail: format!("negative value in {column}"),
    })
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
}
