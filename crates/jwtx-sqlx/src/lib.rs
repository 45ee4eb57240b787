//! # jwtx-sqlx
//!
//! SQLite and PostgreSQL stores: SQL implementations of the [`jwtx::store`] traits
//! ([`UserStore`](jwtx::store::UserStore), [`SessionStore`](jwtx::store::SessionStore),
//! [`RevocationStore`](jwtx::store::RevocationStore), [`KeyStore`](jwtx::store::KeyStore),
//! [`ServiceStore`](jwtx::store::ServiceStore)).
//! [`SqliteStore`] keeps everything in one file, for one machine (the server and the admin CLI
//! sharing it); [`PgStore`] in one PostgreSQL database, for any number of instances. Both pass
//! the same conformance suite (`jwtx_test::all`), judge rotations with the same
//! [`jwtx::store::judge_rotation`], and map errors alike. [`DatabaseUrl`] names either
//! (`sqlite://PATH`, `postgres://…`) and prints without its password. [`copy()`] moves a
//! whole store into a fresh database of either kind (SQLite to PostgreSQL when one machine is
//! outgrown), in one transaction checked by counting rows.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jwtx::store::StoreError> {
//! use jwtx::store::{Revocation, RevocationStore};
//! use jwtx_sqlx::{DatabaseUrl, PgOptions, PgStore, SqliteStore};
//!
//! let store = SqliteStore::open("jwtx-data/jwtx.db").await?;
//! store.ready().await?;
//! let id = store
//!     .revoke(Revocation::Token { jti: "…".into(), until: 1_700_000_900 })
//!     .await?;
//! # let _ = id;
//!
//! let url = DatabaseUrl::parse("postgres://jwtx:secret@db.internal/jwtx").expect("a URL");
//! let shared = PgStore::connect(&url, PgOptions::default()).await?;
//! shared.ready().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees: SQLite
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
//!   Appends are serialized by the write lock, so log ids are committed in order.
//! - **Atomic key rotation**: [`rotate_in`](jwtx::store::KeyStore::rotate_in) demotes the
//!   active signing key (and retires a pending one) and inserts the new one in one
//!   `BEGIN IMMEDIATE` transaction; [`insert_initial`](jwtx::store::KeyStore::insert_initial),
//!   [`add_pending`](jwtx::store::KeyStore::add_pending),
//!   [`activate_due`](jwtx::store::KeyStore::activate_due) and
//!   [`retire_key`](jwtx::store::KeyStore::retire_key) check and write under the same lock, so
//!   of processes scheduling or promoting a key at once one does; partial unique indexes allow
//!   at most one active and one pending key whatever happens.
//!
//! ## Guarantees: PostgreSQL
//!
//! The [`postgres`] module says how each operation is made atomic; in short:
//!
//! - **Durable writes**: a write whose future resolved `Ok` is committed, as durable as the
//!   server's `synchronous_commit` makes a commit (as the server has it; by default `on`:
//!   flushed to its write-ahead log, and to a synchronous standby if one is configured).
//! - **Atomic rotation** by a row lock: `rotate` reads the session `FOR UPDATE`, so of any
//!   number of concurrent presentations of one refresh token, across instances (pools),
//!   exactly one rotates. Logins, ends of every session, password changes and deletions of
//!   one user lock the user's row, so they see each other as on SQLite (the cut-off at the
//!   database's clock, `TooEarly`, the credential generation, the session cap).
//! - **Log order** by [`LOG_APPEND_LOCK`]: every append takes that transaction-scoped advisory
//!   lock just before its INSERT, so ids are committed in the order they are handed out and a
//!   follower reading `revocations_since(cursor)` never skips an entry.
//! - **Starting at once**: migrations run under an advisory lock, once; every change of the
//!   active or pending signing key ([`insert_initial`](jwtx::store::KeyStore::insert_initial),
//!   [`rotate_in`](jwtx::store::KeyStore::rotate_in),
//!   [`add_pending`](jwtx::store::KeyStore::add_pending),
//!   [`activate_due`](jwtx::store::KeyStore::activate_due),
//!   [`retire_key`](jwtx::store::KeyStore::retire_key)) under another;
//!   [`secret_or_insert`](jwtx::store::KeyStore::secret_or_insert) keeps the first secret
//!   stored.
//! - **Never hanging**: `statement_timeout` (5 s) on every connection, an acquire timeout and a
//!   deadline on every operation: a database that is down or hung makes operations fail with
//!   `Unavailable` within seconds ([`PgOptions`]).
//!
//! ## Errors
//!
//! Errors are [`StoreError`](jwtx::store::StoreError)s: `Conflict` for a taken user name,
//! session id or key `kid` (and a session for a user that does not exist; a pending key while
//! one is pending or when the active key is not the expected one; retiring the active key), `Corrupt` for
//! stored data or a schema this version cannot use (a value that does not decode, a log entry
//! of an unknown kind, a migration this version does not know or that differs), `Unavailable`
//! for everything else (locked past the busy timeout, connection problems, timeouts, I/O, a
//! closed store). Messages carry no connection strings, passwords or password hashes.
//!
//! ## Schema and migrations
//!
//! `migrations/sqlite/*.sql` and `migrations/postgres/*.sql` are embedded in the binary and
//! applied by sqlx's migrator when a store opens (recorded in `_sqlx_migrations`); see the
//! migrations module source for why not `sqlx::migrate!`. Tables: `users(name,
//! password_hash, created_at, generation, demo, tokens_cut_at)`, `user_roles(user_name,
//! position, role)`, `sessions(id, user_name, created_at, last_used_at, expires_at,
//! user_agent, ip, current_jti, previous_jti, previous_at, revoked_at)`, `revocations(id, kind,
//! subject, cutoff, until, except_session)` (the log; `kind` is unconstrained, since SQLite's
//! migration 4, so entries of a later version's kinds can be stored, and reading one is
//! [`StoreError::Corrupt`](jwtx::store::StoreError)), `signing_keys(kid, alg, status,
//! private_pem, created_at, demoted_at, retired_at, activates_at)` (status `pending`, `active`,
//! `passive` or `retired`, CHECKed per status; HMAC keys too, their secret in hex; the empty
//! kid is a deployment's first HMAC secret), `counters(name, value)`, `secrets(name, value)`,
//! `services(name, digest, created_at)` (the SHA-256 of each service credential, hex),
//! `revocation_log(id, epoch)` (one row: the log's epoch,
//! [`LogPosition`](jwtx::store::LogPosition)). Times are integer seconds since the Unix epoch
//! (SQLite INTEGER, PostgreSQL BIGINT); users' roles and sessions are deleted with the user.
//! PostgreSQL's version 1 is the whole schema SQLite reached in five, its version 2 SQLite's 6
//! (pending keys) and its version 3 SQLite's 7 (services); its names, ids and kids are
//! `COLLATE "C"` (ordered byte for byte, as SQLite orders them).
//!
//! The private keys (PKCS#8 PEM) and the secrets of `secret_or_insert` (the generated HMAC
//! secret) are stored **in the clear**, unless the application encrypts them before they reach
//! the store: protect the database file (the data directory is created mode 0700) or the
//! PostgreSQL database (its roles, backups and replicas) accordingly.

mod copy;
mod error;
mod group_commit;
mod keys;
mod migrations;
pub mod postgres;
mod rows;
mod sqlite;
mod url;

pub use copy::{CopyError, CopyReport, copy};
pub use postgres::{LOG_APPEND_LOCK, PgOptions, PgStore};
pub use sqlite::SqliteStore;
pub use url::{DatabaseKind, DatabaseUrl};

/// The schema version a store is at after [`SqliteStore::open`]: the highest embedded
/// migration.
pub const SQLITE_SCHEMA_VERSION: i64 = {
    let m = migrations::SQLITE;
    m[m.len() - 1].0
};

/// The schema version a database is at after [`PgStore::connect`]: the highest embedded
/// PostgreSQL migration.
pub const POSTGRES_SCHEMA_VERSION: i64 = {
    let m = migrations::POSTGRES;
    m[m.len() - 1].0
};
