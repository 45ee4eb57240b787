//! Reading stored rows back into the store types, shared by the SQLite and PostgreSQL stores so
//! that both read (and refuse) alike: a value that does not decode, a negative time and an
//! unknown revocation kind are [`StoreError::Corrupt`].

use jwtx::store::{
    CredentialDigest, EntryError, KeyStatus, PrivateKeyPem, Revocation, Service, Session,
    SigningKey, StoreError, User,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::error::{db_error, from_db, from_db_opt};

/// The revocation kinds this version writes (the log's `kind` column).
pub(crate) const KIND_TOKEN: &str = "token";
pub(crate) const KIND_SESSION: &str = "session";
pub(crate) const KIND_USER: &str = "user";
pub(crate) const KIND_KEY: &str = "key";
pub(crate) const KIND_KEYS: &str = "keys";

/// A row's columns by name, as the store's types: integers (times, ids), text and flags.
pub(crate) trait Columns {
    /// A NOT NULL integer column.
    fn int(&self, column: &str, op: &'static str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str, op: &'static str) -> Result<Option<i64>, StoreError>;
    /// A NOT NULL text column.
    fn text(&self, column: &str, op: &'static str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, column: &str, op: &'static str) -> Result<Option<String>, StoreError>;
    /// A boolean column (SQLite: an INTEGER 0 or 1).
    fn flag(&self, column: &str, op: &'static str) -> Result<bool, StoreError>;
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn int(&self, column: &str, op: &'static str) -> Result<i64, StoreError> {
                self.try_get(column).map_err(|e| db_error(op, e))
            }
            fn opt_int(&self, column: &str, op: &'static str) -> Result<Option<i64>, StoreError> {
                self.try_get(column).map_err(|e| db_error(op, e))
            }
            fn text(&self, column: &str, op: &'static str) -> Result<String, StoreError> {
                self.try_get(column).map_err(|e| db_error(op, e))
            }
            fn opt_text(
                &self,
                column: &str,
                op: &'static str,
            ) -> Result<Option<String>, StoreError> {
                self.try_get(column).map_err(|e| db_error(op, e))
            }
            fn flag(&self, column: &str, op: &'static str) -> Result<bool, StoreError> {
                self.try_get(column).map_err(|e| db_error(op, e))
            }
        }
    };
}

columns!(SqliteRow);
columns!(PgRow);

/// Users from rows of (name, password_hash, created_at, generation, demo, role), grouped by
/// name in row order.
pub(crate) fn users_from_rows<R: Columns>(
    rows: &[R],
    op: &'static str,
) -> Result<Vec<User>, StoreError> {
    let mut users: Vec<User> = Vec::new();
    for row in rows {
        let name = row.text("name", op)?;
        let role = row.opt_text("role", op)?;
        match users.last_mut() {
            Some(u) if u.name == name => {}
            _ => {
                users.push(User {
                    name,
                    password_hash: row.text("password_hash", op)?,
                    roles: Vec::new(),
                    created_at: from_db("users.created_at", row.int("created_at", op)?)?,
                    generation: from_db("users.generation", row.int("generation", op)?)?,
                    demo: row.flag("demo", op)?,
                });
            }
        }
        if let (Some(role), Some(u)) = (role, users.last_mut()) {
            u.roles.push(role);
        }
    }
    Ok(users)
}

/// A session from a row of every `sessions` column.
pub(crate) fn session_from_row<R: Columns>(
    row: &R,
    op: &'static str,
) -> Result<Session, StoreError> {
    let previous = match (
        row.opt_text("previous_jti", op)?,
        from_db_opt("sessions.previous_at", row.opt_int("previous_at", op)?)?,
    ) {
        (Some(jti), Some(at)) => Some((jti, at)),
        (None, None) => None,
        _ => {
            return Err(StoreError::corrupt(
                "sessions.previous_jti and previous_at must be set together",
            ));
        }
    };
    Ok(Session {
        id: row.text("id", op)?,
        user: row.text("user_name", op)?,
        created_at: from_db("sessions.created_at", row.int("created_at", op)?)?,
        last_used_at: from_db("sessions.last_used_at", row.int("last_used_at", op)?)?,
        expires_at: from_db("sessions.expires_at", row.int("expires_at", op)?)?,
        user_agent: row.opt_text("user_agent", op)?,
        ip: row.opt_text("ip", op)?,
        current_jti: row.text("current_jti", op)?,
        previous,
        revoked_at: from_db_opt("sessions.revoked_at", row.opt_int("revoked_at", op)?)?,
    })
}

/// A signing key from a row of every `signing_keys` column.
pub(crate) fn key_from_row<R: Columns>(
    row: &R,
    op: &'static str,
) -> Result<SigningKey, StoreError> {
    let kid = row.text("kid", op)?;
    let status = row.text("status", op)?;
    let status = KeyStatus::parse(&status).ok_or_else(|| {
        StoreError::corrupt(format!("signing key {kid}: unknown status {status:?}"))
    })?;
    Ok(SigningKey {
        alg: row.text("alg", op)?,
        status,
        private_key: row.opt_text("private_pem", op)?.map(PrivateKeyPem::new),
        created_at: from_db("signing_keys.created_at", row.int("created_at", op)?)?,
        activates_at: from_db_opt(
            "signing_keys.activates_at",
            row.opt_int("activates_at", op)?,
        )?,
        demoted_at: from_db_opt("signing_keys.demoted_at", row.opt_int("demoted_at", op)?)?,
        retired_at: from_db_opt("signing_keys.retired_at", row.opt_int("retired_at", op)?)?,
        kid,
    })
}

/// A log entry and its id from a row of every `revocations` column. A kind this version does
/// not know, or a known kind with columns it does not have, is [`StoreError::Corrupt`]: never
/// skipped, so the reader fails closed (`docs/revocation-log.md`).
pub(crate) fn revocation_from_row<R: Columns>(
    row: &R,
    op: &'static str,
) -> Result<(u64, Revocation), StoreError> {
    let id = row.int("id", op)?;
    let kind = row.text("kind", op)?;
    let subject = row.text("subject", op)?;
    let cutoff = row.opt_int("cutoff", op)?;
    let until = from_db("revocations.until", row.int("until", op)?)?;
    let except = row.opt_text("except_session", op)?;
    let revocation = match (kind.as_str(), cutoff, except) {
        (KIND_TOKEN, None, None) => Revocation::Token {
            jti: subject,
            until,
        },
        (KIND_SESSION, None, None) => Revocation::Session { id: subject, until },
        (KIND_USER, Some(cutoff), except) => Revocation::User {
            user: subject,
            cutoff: from_db("revocations.cutoff", cutoff)?,
            until,
            except,
        },
        (KIND_KEY, None, None) => Revocation::Key {
            kid: subject,
            until,
        },
        (KIND_KEYS, None, None) => Revocation::KeysChanged {
            kid: subject,
            until,
        },
        (KIND_TOKEN | KIND_SESSION | KIND_USER | KIND_KEY | KIND_KEYS, cutoff, except) => {
            return Err(StoreError::corrupt(format!(
                "revocation {id}: kind {kind:?} with cutoff {cutoff:?} and except_session \
                 {except:?}"
            )));
        }
        // A kind a newer version wrote.
        _ => {
            return Err(StoreError::corrupt(format!(
                "revocation {id}: {}",
                EntryError::UnknownKind(kind)
            )));
        }
    };
    Ok((from_db("revocations.id", id)?, revocation))
}

/// The columns an entry is stored in: (kind, subject, cutoff, except_session); `until` is
/// [`Revocation::until`].
pub(crate) fn revocation_columns(
    revocation: &Revocation,
) -> (&'static str, &str, Option<i64>, Option<&str>) {
    match revocation {
        Revocation::Token { jti, .. } => (KIND_TOKEN, jti, None, None),
        Revocation::Session { id, .. } => (KIND_SESSION, id, None, None),
        Revocation::Key { kid, .. } => (KIND_KEY, kid, None, None),
        Revocation::KeysChanged { kid, .. } => (KIND_KEYS, kid, None, None),
        Revocation::User {
            user,
            cutoff,
            except,
            ..
        } => (
            KIND_USER,
            user,
            Some(crate::error::to_db(*cutoff)),
            except.as_deref(),
        ),
    }
}

/// A service from a row of (name, digest, created_at); a digest not in its stored form (64
/// lowercase hex digits) is [`StoreError::Corrupt`].
pub(crate) fn service_from_row<R: Columns>(
    row: &R,
    op: &'static str,
) -> Result<Service, StoreError> {
    let name = row.text("name", op)?;
    let digest = CredentialDigest::from_hex(&row.text("digest", op)?).ok_or_else(|| {
        StoreError::corrupt(format!(
            "{op}: the credential digest of service {name:?} is damaged"
        ))
    })?;
    Ok(Service {
        name,
        digest,
        created_at: from_db("services.created_at", row.int("created_at", op)?)?,
    })
}

/// The conflict of an `INSERT INTO services` that broke a unique constraint: the name's, or
/// the digest's (`message` is the database's, naming the column or constraint).
pub(crate) fn service_conflict(name: &str, message: &str) -> StoreError {
    let what = if message.contains("digest") {
        "a service has this credential already".to_owned()
    } else {
        format!("service {name:?} exists")
    };
    StoreError::Conflict { what }
}
