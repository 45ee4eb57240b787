//! # jwtx-sqlx
//!
//! SQL implementations of the [`jwtx::store`] traits ([`UserStore`](jwtx::store::UserStore),
//! [`SessionStore`](jwtx::store::SessionStore), [`RevocationStore`](jwtx::store::RevocationStore),
//! [`KeyStore`](jwtx::store::KeyStore)): [`SqliteStore`] today, PostgreSQL later.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jwtx::store::StoreError> {
//! use jwtx::store::{Revocation, RevocationStore};
//! use jwtx_sqlx::SqliteStore;
//!
//! let store = SqliteStore::open("jwtx-data/jwtx.db").await?;
//! store.ready().await?;
//! let id = store
//!     .revoke(Revocation::Token { jti: "…".into(), until: 1_700_000_900 })
//!     .await?;
//! # let _ = id;
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees
//!
//! - **Durable writes**: a write whose future resolved `Ok` is committed with
//!   `synchronous=FULL` in WAL mode, so it survives a killed process and a power loss.
//! - **Atomic rotation**: [`rotate`](jwtx::store::SessionStore::rotate) reads, judges (with
//!   [`jwtx::store::judge_rotation`], as every store does) and writes in one transaction that
//!   holds SQLite's write lock from its first statement (`BEGIN IMMEDIATE`), so of any number
//!   of concurrent presentations of one refresh token, across processes too, exactly one
//!   rotates.
//! - **Session ends logged atomically**: every end of a session (one, or all of a user's, with
//!   a password change or a deletion too) is one `BEGIN IMMEDIATE` transaction that also
//!   appends its one log entry; ending every session of a user is one UPDATE and one entry
//!   whatever their number, at the database's clock (`unixepoch()` inside the transaction).
//! - **Atomic key rotation**: [`rotate_in`](jwtx::store::KeyStore::rotate_in) demotes the
//!   active signing key and inserts the new one in one `BEGIN IMMEDIATE` transaction, and
//!   [`insert_initial`](jwtx::store::KeyStore::insert_initial) checks and inserts under the
//!   same lock; a partial unique index allows at most one active key whatever happens.
//! - **Errors** are [`StoreError`](jwtx::store::StoreError)s: `Conflict` for a taken user
//!   name, session id or key `kid` (and a session for a user that does not exist), `Corrupt` for stored
//!   data or a schema this version cannot use, `Unavailable` for everything else (locked past
//!   the busy timeout, I/O, a closed store). Messages carry no connection strings, passwords
//!   or password hashes.
//!
//! ## Schema and migrations
//!
//! `migrations/sqlite/*.sql` are embedded in the binary and applied by sqlx's migrator when
//! a store opens (recorded in `_sqlx_migrations`); see the migrations module source for why
//! not `sqlx::migrate!`. Tables: `users(name, password_hash, created_at, generation, demo,
//! tokens_cut_at)`, `user_roles(user_name, position, role)`, `sessions(id, user_name,
//! created_at, last_used_at, expires_at, user_agent, ip, current_jti, previous_jti,
//! previous_at, revoked_at)`, `revocations(id, kind, subject, cutoff, until, except_session)`
//! (the log; since migration 4 `kind` is unconstrained, so entries of a later version's kinds
//! can be stored, and reading one is [`StoreError::Corrupt`](jwtx::store::StoreError)),
//! `signing_keys(kid, alg, status, private_pem, created_at, demoted_at, retired_at)`,
//! `counters(name, value)`. Times are INTEGER
//! seconds since the Unix epoch; users' roles and sessions are deleted with the user. The
//! private keys are stored as PKCS#8 PEM in the clear, like the data directory's HMAC secret:
//! protect the database file (the data directory is created mode 0700).

mod error;
mod migrations;
mod rows;
mod sqlite;
mod url;

pub use sqlite::SqliteStore;
pub use url::{DatabaseKind, DatabaseUrl};

/// The schema version a store is at after [`SqliteStore::open`]: the highest embedded
/// migration.
pub const SQLITE_SCHEMA_VERSION: i64 = {
    let m = migrations::SQLITE;
    m[m.len() - 1].0
};

