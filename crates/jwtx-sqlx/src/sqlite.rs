//! [`SqliteStore`]: users, sessions, revocations and signing keys in one SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jwtx::NumericDate;
use jwtx::store::{
    CredentialDigest, Ended, Judgement, KeyStatus, KeyStore, LogPosition, Logged,
    MAX_LIVE_SESSIONS, NewSigningKey, PasswordChange, PrivateKeyPem, Revocation, RevocationStore,
    Rotation, RotationPolicy, Service, ServiceStore, Session, SessionCreated, SessionCursor,
    SessionStore, SigningKey, StoreError, StoreFuture, StoredSecret, User, UserStore,
    judge_rotation, retiring_active,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Executor, Row, Sqlite, SqliteConnection, Transaction};

use crate::error::{db_error, from_db, to_db};
use crate::group_commit;
use crate::keys::{PendingChecks, key_columns, kid_taken};
use crate::migrations::migrate_sqlite;
use crate::rows::{
    key_from_row, revocation_columns, revocation_from_row, service_conflict, service_from_row,
    session_from_row, users_from_rows,
};

/// Connections in a file store's read pool; they read while the writer writes (WAL). Writes
/// have one connection of their own.
const POOL_SIZE: u32 = 4;
/// Each file connection's page cache, KiB (`PRAGMA cache_size = -512`; SQLite's default is
/// 2,000 KiB). The operating system's page cache already holds the file, and in WAL mode a
/// connection drops its cache whenever another connection has written, which the writer does
/// on every login, refresh and logout. So a large per-connection cache buys little, while five
/// of them filling up to 2 MB each, as the database grows, made the server's resident memory
/// climb for minutes (the soak's memory rule, bench/soak/README.md).
const CACHE_KIB: u32 = 512;
/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes SQLite's write lock at the start of the transaction, so a read-then-write
/// transaction never fails half-way on a concurrent writer (it waits up to the busy timeout
/// instead) and what it read stays true until it commits.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A store of users, sessions, revocations and signing keys in SQLite, for one process or several sharing
/// a file (the server and the admin CLI).
///
/// File stores use WAL journaling with `synchronous=FULL`: a write whose future resolved
/// `Ok` survives the process being killed and a power loss. Foreign keys are enforced, a
/// statement waits up to 5 s for another writer, each connection keeps a 512 KiB page cache
/// (the file is in the operating system's cache too), and the schema is migrated at
/// [`open`](Self::open).
///
/// Cloning is cheap and shares the connection pool. The store needs a tokio runtime.
#[derive(Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes: one connection, so this process's writers queue in order on the pool
    /// instead of sleeping in SQLite's busy handler (whose back-off reaches 100 ms a try)
    /// when they meet on the write lock. Other processes still meet it there.
    writer: SqlitePool,
    /// Refresh rotations waiting for their group commit (`group_commit.rs`).
    rotations: Arc<group_commit::Queue>,
    path: Option<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = match &self.path {
            Some(p) => p.display().to_string(),
            None => ":memory:".to_owned(),
        };
        f.debug_struct("SqliteStore")
            .field("location", &location)
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the SQLite database at `path` and brings its schema up
    /// to date. The parent directory must exist.
    ///
    /// Fails with [`StoreError::Unavailable`] when the file cannot be opened or stays locked
    /// by another process, and [`StoreError::Corrupt`] when it is not a jwtx database this
    /// version can use (not SQLite, damaged, or migrated by a newer jwtx).
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", format!("-{CACHE_KIB}"));
        let pool = connect_file(path, options.clone(), POOL_SIZE).await?;
        let writer = connect_file(path, options, 1).await?;
        let store = SqliteStore {
            pool,
            writer,
            rotations: Arc::default(),
            path: Some(path.to_owned()),
        };
        store.migrate().await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        Ok(store)
    }

    /// A new, empty store in memory, gone when the store (and every clone) is dropped. For
    /// tests: it has a single connection, so operations run one at a time.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        // A private name per call (sqlx numbers them), shared by the pool's connections.
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|e| db_error("open", e))?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The database lives as long as a connection to it: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(TEST_BEFORE_ACQUIRE)
            .after_release(roll_back_orphaned)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| db_error("open", e))?;
        let store = SqliteStore {
            writer: pool.clone(),
            pool,
            rotations: Arc::default(),
            path: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations that are missing, holding the write lock so two
    /// processes opening a new database at once do not both try.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write("migrate").await?;
        migrate_sqlite(&mut tx).await?;
        tx.commit().await.map_err(|e| db_error("migrate", e))
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The read pool (for [`copy`](crate::copy())).
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.pool
    }

    /// The write connection's pool (for [`copy`](crate::copy())).
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Readiness: the database answers, its tables can be read, and the write lock can be
    /// taken within the busy timeout. Also what [`UserStore::ping`] runs.
    pub async fn ready(&self) -> Result<(), StoreError> {
        const OP: &str = "ready";
        let mut conn = self.writer.acquire().await.map_err(|e| db_error(OP, e))?;
        let mut tx = conn
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(|e| db_error(OP, e))?;
        for sql in [
            "SELECT 1 FROM users LIMIT 1",
            "SELECT 1 FROM user_roles LIMIT 1",
            "SELECT 1 FROM sessions LIMIT 1",
            "SELECT 1 FROM revocations LIMIT 1",
            "SELECT 1 FROM signing_keys LIMIT 1",
        ] {
            sqlx::query(sql)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
        }
        tx.rollback().await.map_err(|e| db_error(OP, e))
    }

    /// Closes every connection, waiting for operations under way to finish. Later operations
    /// fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    async fn begin_write(
        &self,
        op: &'static str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(|e| db_error(op, e))
    }

    // ----- users -----

    async fn create_user_impl(&self, user: User) -> Result<(), StoreError> {
        const OP: &str = "create_user";
        let mut tx = self.begin_write(OP).await?;
        let generation = next_generation(&mut tx, OP).await?;
        let inserted = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at, generation, demo) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(to_db(user.created_at))
        .bind(generation)
        .bind(user.demo)
        .execute(&mut *tx)
        .await;
        match inserted.map_err(|e| db_error(OP, e)) {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(StoreError::Conflict {
                    what: format!("user {:?} exists", user.name),
                });
            }
            Err(e) => return Err(e),
        }
        insert_roles(&mut tx, &user.name, &user.roles, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))
    }

    async fn get_user_impl(&self, name: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "get_user";
        let rows = sqlx::query(
            "SELECT u.name, u.password_hash, u.created_at, u.generation, u.demo, r.role \
             FROM users u LEFT JOIN user_roles r ON r.user_name = u.name \
             WHERE u.name = ? ORDER BY r.position",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        Ok(users_from_rows(&rows, OP)?.pop())
    }

    async fn list_users_impl(&self) -> Result<Vec<User>, StoreError> {
        const OP: &str = "list_users";
        let rows = sqlx::query(
            "SELECT u.name, u.password_hash, u.created_at, u.generation, u.demo, r.role \
             FROM users u LEFT JOIN user_roles r ON r.user_name = u.name \
             ORDER BY u.name, r.position",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        users_from_rows(&rows, OP)
    }

    async fn change_password_impl(
        &self,
        name: &str,
        hash: &str,
        expected: u64,
        keep: Option<&str>,
        lifetime: u64,
    ) -> Result<PasswordChange, StoreError> {
        const OP: &str = "change_password";
        let mut tx = self.begin_write(OP).await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
        let Some(current) = current else {
            return Ok(PasswordChange::NoSuchUser);
        };
        if from_db("users.generation", current)? != expected {
            return Ok(PasswordChange::Stale);
        }
        let generation = next_generation(&mut tx, OP).await?;
        sqlx::query("UPDATE users SET password_hash = ?, generation = ?, demo = 0 WHERE name = ?")
            .bind(hash)
            .bind(generation)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let Ended { sessions, logged } =
            end_user_sessions(&mut tx, name, keep, lifetime, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(PasswordChange::Changed {
            generation: from_db("users.generation", generation)?,
            ended: sessions,
            logged,
        })
    }

    async fn rehash_password_impl(
        &self,
        name: &str,
        hash: &str,
        expected: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "rehash_password";
        let done =
            sqlx::query("UPDATE users SET password_hash = ? WHERE name = ? AND generation = ?")
                .bind(hash)
                .bind(name)
                .bind(to_db(expected))
                .execute(&self.writer)
                .await
                .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn has_demo_users_impl(&self) -> Result<bool, StoreError> {
        const OP: &str = "has_demo_users";
        let found = sqlx::query("SELECT 1 FROM users WHERE demo = 1 LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(found.is_some())
    }

    async fn now_impl(&self) -> Result<NumericDate, StoreError> {
        const OP: &str = "now";
        let now: i64 = sqlx::query_scalar("SELECT unixepoch()")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        from_db("unixepoch()", now)
    }

    async fn set_roles_impl(&self, name: &str, roles: &[String]) -> Result<bool, StoreError> {
        const OP: &str = "set_roles";
        let mut tx = self.begin_write(OP).await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?
            .is_some();
        if !exists {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        insert_roles(&mut tx, name, roles, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(true)
    }

    async fn delete_user_impl(
        &self,
        name: &str,
        lifetime: u64,
    ) -> Result<Option<Logged>, StoreError> {
        const OP: &str = "delete_user";
        // The foreign keys cascade too; deleting explicitly does not depend on them being on.
        let mut tx = self.begin_write(OP).await?;
        let cutoff = store_now(&mut tx, OP).await?;
        for sql in [
            "DELETE FROM sessions WHERE user_name = ?",
            "DELETE FROM user_roles WHERE user_name = ?",
        ] {
            sqlx::query(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
        }
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(None);
        }
        let revocation = Revocation::user(name, cutoff, lifetime, None);
        let id = append(&mut tx, &revocation, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(Some(Logged { id, revocation }))
    }

    // ----- sessions -----

    async fn create_session_impl(
        &self,
        s: Session,
        generation: u64,
    ) -> Result<SessionCreated, StoreError> {
        const OP: &str = "create_session";
        let (previous_jti, previous_at) = match &s.previous {
            Some((jti, at)) => (Some(jti.as_str()), Some(to_db(*at))),
            None => (None, None),
        };
        let mut tx = self.begin_write(OP).await?;
        // The checks and the insert are one transaction: a password change or an end of
        // every session that commits first makes this login's session fail (or wait), one
        // that commits later revokes it.
        let current: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT generation, tokens_cut_at FROM users WHERE name = ?")
                .bind(&s.user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
        match current {
            None => {
                return Err(StoreError::Conflict {
                    what: format!("no user {:?} for the session", s.user),
                });
            }
            Some((g, _)) if g != to_db(generation) => {
                return Err(StoreError::Conflict {
                    what: format!("the credentials of {:?} changed", s.user),
                });
            }
            Some((_, Some(cut))) if to_db(s.created_at) <= cut => {
                tx.rollback().await.map_err(|e| db_error(OP, e))?;
                return Ok(SessionCreated::TooEarly {
                    cutoff: from_db("users.tokens_cut_at", cut)?,
                });
            }
            Some(_) => {}
        }
        let inserted = sqlx::query(
            "INSERT INTO sessions (id, user_name, created_at, last_used_at, expires_at, \
             user_agent, ip, current_jti, previous_jti, previous_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.user)
        .bind(to_db(s.created_at))
        .bind(to_db(s.last_used_at))
        .bind(to_db(s.expires_at))
        .bind(s.user_agent.as_deref())
        .bind(s.ip.as_deref())
        .bind(&s.current_jti)
        .bind(previous_jti)
        .bind(previous_at)
        .bind(s.revoked_at.map(to_db))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict {
                    what: "session id exists".into(),
                });
            }
            Err(e) => return Err(db_error(OP, e)),
        }
        // Past the cap, the user's oldest live session ends in the same transaction.
        let now = to_db(s.created_at);
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions \
             WHERE user_name = ? AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(&s.user)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let ended = if usize::try_from(live).unwrap_or(0) > MAX_LIVE_SESSIONS {
            let oldest: Option<String> = sqlx::query_scalar(
                "SELECT id FROM sessions \
                 WHERE user_name = ? AND revoked_at IS NULL AND expires_at > ? \
                 ORDER BY created_at ASC, id DESC LIMIT 1",
            )
            .bind(&s.user)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
            match oldest {
                Some(id) => end_session(&mut tx, &id, s.created_at, OP).await?,
                None => None,
            }
        } else {
            None
        };
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(SessionCreated::Created { ended })
    }

    async fn get_session_impl(&self, id: &str) -> Result<Option<Session>, StoreError> {
        const OP: &str = "get_session";
        let row = sqlx::query(SELECT_SESSION)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        row.map(|r| session_from_row(&r, OP)).transpose()
    }

    async fn list_sessions_impl(
        &self,
        user: &str,
        now: NumericDate,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        const OP: &str = "list_sessions";
        let rows = sqlx::query(
            "SELECT id, user_name, created_at, last_used_at, expires_at, user_agent, ip, \
             current_jti, previous_jti, previous_at, revoked_at FROM sessions \
             WHERE user_name = ? AND revoked_at IS NULL AND expires_at > ? \
             AND (? IS NULL OR created_at < ? OR (created_at = ? AND id > ?)) \
             ORDER BY created_at DESC, id LIMIT ?",
        )
        .bind(user)
        .bind(to_db(now))
        .bind(after.map(|c| to_db(c.created_at)))
        .bind(after.map(|c| to_db(c.created_at)))
        .bind(after.map(|c| to_db(c.created_at)))
        .bind(after.map(|c| c.id.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        rows.iter().map(|r| session_from_row(r, OP)).collect()
    }

    /// Queues the rotation for the next group commit (`group_commit.rs`), starting the writer
    /// task if none is at work, and waits for its outcome.
    async fn rotate_impl(
        &self,
        id: &str,
        presented_jti: &str,
        new_jti: &str,
        policy: RotationPolicy,
    ) -> Result<Rotation, StoreError> {
        let (job, outcome) = group_commit::Job::new(id, presented_jti, new_jti, policy);
        if self.rotations.push(job) {
            let store = self.clone();
            tokio::spawn(async move { store.write_rotations().await });
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(group_commit::writer_gone()))
    }

    /// The writer task: batches of waiting rotations, each in one transaction, until none
    /// waits.
    async fn write_rotations(&self) {
        let mut writer = self.rotations.writer();
        while let Some(batch) = writer.next_batch() {
            match self.rotate_batch(&batch).await {
                Ok(outcomes) => {
                    for (job, outcome) in batch.into_iter().zip(outcomes) {
                        job.answer(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, rotations = batch.len(), "a batch of refresh rotations failed; none was stored");
                    for job in batch {
                        job.answer(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// `batch` in one transaction, in order, each judged on what the ones before it wrote;
    /// one commit (one fsync) for all. Every statement is a round trip to sqlx's connection
    /// thread (two thread wake-ups), which cost a rotation more CPU than the rest of its
    /// work. So the batch is two round trips: `BEGIN IMMEDIATE` and the read of its sessions,
    /// then, once each rotation was judged on that copy as the ones before it left it
    /// (`rotate_in`), the write of the rotated sessions and `COMMIT` (bench/BENCHMARKS.md).
    /// The transaction is opened outside sqlx's `Transaction`, whose custom `BEGIN` costs
    /// two more round trips; [`OpenBatch`] ends it when the batch does not commit.
    async fn rotate_batch(&self, batch: &[group_commit::Job]) -> Result<Vec<Rotation>, StoreError> {
        const OP: &str = "rotate";
        let conn = self.writer.acquire().await.map_err(|e| db_error(OP, e))?;
        let mut open = OpenBatch {
            conn: Some(conn),
            in_memory: self.path.is_none(),
        };
        let conn = open.conn();
        // The write lock is taken before the read: no other writer can commit between what
        // is judged and what is written.
        let mut sessions = begin_and_read_sessions(conn, batch).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for job in batch {
            outcomes.push(rotate_in(conn, &mut sessions, job).await?);
        }
        write_sessions_and_commit(conn, &sessions).await?;
        open.committed();
        Ok(outcomes)
    }

    async fn revoke_session_impl(
        &self,
        id: &str,
        now: NumericDate,
    ) -> Result<Option<Logged>, StoreError> {
        const OP: &str = "revoke_session";
        let mut tx = self.begin_write(OP).await?;
        let logged = end_session(&mut tx, id, now, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(logged)
    }

    async fn end_user_sessions_impl(
        &self,
        user: &str,
        keep: Option<&str>,
        lifetime: u64,
    ) -> Result<Ended, StoreError> {
        const OP: &str = "end_user_sessions";
        let mut tx = self.begin_write(OP).await?;
        let ended = end_user_sessions(&mut tx, user, keep, lifetime, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(ended)
    }

    async fn purge_sessions_impl(&self, before: NumericDate) -> Result<u64, StoreError> {
        const OP: &str = "purge_sessions";
        let before = to_db(before);
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?")
            .bind(before)
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected())
    }

    // ----- revocations -----

    async fn revoke_impl(&self, revocation: Revocation) -> Result<u64, StoreError> {
        const OP: &str = "revoke";
        let mut tx = self.begin_write(OP).await?;
        let id = append(&mut tx, &revocation, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(id)
    }

    async fn revocations_since_impl(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        const OP: &str = "revocations_since";
        let rows = sqlx::query(
            "SELECT id, kind, subject, cutoff, until, except_session FROM revocations \
             WHERE id > ? AND until >= ? ORDER BY id LIMIT ?",
        )
        .bind(to_db(after))
        .bind(to_db(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        rows.iter().map(|r| revocation_from_row(r, OP)).collect()
    }

    async fn purge_revocations_impl(&self, now: NumericDate) -> Result<u64, StoreError> {
        const OP: &str = "purge_revocations";
        let done = sqlx::query("DELETE FROM revocations WHERE until < ?")
            .bind(to_db(now))
            .execute(&self.writer)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected())
    }

    async fn log_position_impl(&self) -> Result<LogPosition, StoreError> {
        const OP: &str = "log_position";
        // One read transaction: the epoch and the counter of one snapshot. The counter is
        // AUTOINCREMENT's (never lowered by a purge), or the highest id if a database had none.
        let mut tx = self.pool.begin().await.map_err(|e| db_error(OP, e))?;
        let epoch: String = sqlx::query_scalar("SELECT epoch FROM revocation_log WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let head: i64 = sqlx::query_scalar(
            "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0), \
             COALESCE((SELECT MAX(id) FROM revocations), 0))",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        tx.rollback().await.map_err(|e| db_error(OP, e))?;
        Ok(LogPosition {
            epoch,
            head: from_db("revocations.id", head)?,
        })
    }

    // ----- services -----

    async fn add_service_impl(&self, service: Service) -> Result<(), StoreError> {
        const OP: &str = "add_service";
        let inserted =
            sqlx::query("INSERT INTO services (name, digest, created_at) VALUES (?, ?, ?)")
                .bind(&service.name)
                .bind(service.digest.to_hex())
                .bind(to_db(service.created_at))
                .execute(&self.writer)
                .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(service_conflict(&service.name, db.message()))
            }
            Err(e) => Err(db_error(OP, e)),
        }
    }

    async fn list_services_impl(&self) -> Result<Vec<Service>, StoreError> {
        const OP: &str = "list_services";
        let rows = sqlx::query("SELECT name, digest, created_at FROM services ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        rows.iter().map(|r| service_from_row(r, OP)).collect()
    }

    async fn remove_service_impl(&self, name: &str) -> Result<bool, StoreError> {
        const OP: &str = "remove_service";
        let done = sqlx::query("DELETE FROM services WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_service_impl(
        &self,
        digest: &CredentialDigest,
    ) -> Result<Option<Service>, StoreError> {
        const OP: &str = "find_service";
        let row = sqlx::query("SELECT name, digest, created_at FROM services WHERE digest = ?")
            .bind(digest.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        row.map(|r| service_from_row(&r, OP)).transpose()
    }

    // ----- signing keys -----

    async fn list_keys_impl(&self) -> Result<Vec<SigningKey>, StoreError> {
        const OP: &str = "list_keys";
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at DESC, kid"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        rows.iter().map(|r| key_from_row(r, OP)).collect()
    }

    async fn active_key_impl(&self) -> Result<Option<SigningKey>, StoreError> {
        const OP: &str = "active_key";
        let row = sqlx::query(SELECT_ACTIVE_KEY)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        row.map(|r| key_from_row(&r, OP)).transpose()
    }

    async fn insert_initial_impl(&self, key: NewSigningKey) -> Result<SigningKey, StoreError> {
        const OP: &str = "insert_initial";
        // The write lock is taken before the read: of processes starting at once on a store
        // without an active key, exactly one inserts, the others get its key.
        let mut tx = self.begin_write(OP).await?;
        let row = sqlx::query(SELECT_ACTIVE_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        if let Some(row) = row {
            let active = key_from_row(&row, OP)?;
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(active);
        }
        let record = SigningKey::active(key);
        insert_key(&mut tx, &record, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(record)
    }

    async fn secret_or_insert_impl(
        &self,
        name: &str,
        generated: StoredSecret,
    ) -> Result<StoredSecret, StoreError> {
        const OP: &str = "secret_or_insert";
        // One statement under the write lock: the first process to store a secret wins and
        // every later caller reads that one.
        let mut tx = self.begin_write(OP).await?;
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(generated.expose())
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let stored: String = sqlx::query_scalar("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(StoredSecret::new(stored))
    }

    async fn rotate_in_impl(
        &self,
        key: NewSigningKey,
        now: NumericDate,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "rotate_in";
        // One transaction holding the write lock: readers see the old active key or the new
        // one, never none or both; a refused insert rolls the demotion (and the pending key's
        // retirement) back.
        let mut tx = self.begin_write(OP).await?;
        // A pending key never signed: it is retired, demoted at once.
        sqlx::query(RETIRE_PENDING)
            .bind(to_db(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let demoted = sqlx::query(
            "UPDATE signing_keys SET status = 'passive', demoted_at = ? \
             WHERE status = 'active' RETURNING kid",
        )
        .bind(to_db(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let demoted = demoted
            .iter()
            .map(|r| r.try_get::<String, _>("kid"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(OP, e))?;
        let mut record = SigningKey::active(key);
        record.activates_at = Some(now);
        if let Err(e) = insert_key(&mut tx, &record, OP).await {
            // Undo the demotion (dropping the transaction would too).
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Err(e);
        }
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        // The partial unique index allows at most one active key.
        Ok(demoted.into_iter().next())
    }

    async fn add_pending_impl(
        &self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&str>,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_pending";
        // The checks and the insert under the write lock: of schedulers racing on one store
        // (across processes too), one adds its key and the others find it pending.
        let mut tx = self.begin_write(OP).await?;
        let rows = sqlx::query(
            "SELECT kid, status FROM signing_keys WHERE kid = ? OR status IN ('pending', 'active')",
        )
        .bind(&key.kid)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let mut checks = PendingChecks::default();
        for row in &rows {
            let kid: String = row.try_get("kid").map_err(|e| db_error(OP, e))?;
            let status: String = row.try_get("status").map_err(|e| db_error(OP, e))?;
            checks.note(&key.kid, kid, &status);
        }
        if let Some(refusal) = checks.refusal(&key.kid, expected_active) {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Err(refusal);
        }
        insert_key(&mut tx, &SigningKey::pending(key, activates_at), OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(())
    }

    async fn activate_due_impl(&self, now: NumericDate) -> Result<Option<String>, StoreError> {
        const OP: &str = "activate_due";
        // A read first, without the write lock: a poll that finds nothing due writes nothing.
        // What it finds is checked again under the lock (another process may have promoted it).
        let due: Option<String> = sqlx::query_scalar(SELECT_DUE)
            .bind(to_db(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        if due.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin_write(OP).await?;
        let row = sqlx::query(SELECT_DUE)
            .bind(to_db(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(None);
        };
        let kid: String = row.try_get("kid").map_err(|e| db_error(OP, e))?;
        let at: i64 = row.try_get("activates_at").map_err(|e| db_error(OP, e))?;
        // The active key stops signing when its successor starts. Demoted first: the partial
        // unique index allows one active key after every statement.
        sqlx::query(
            "UPDATE signing_keys SET status = 'passive', demoted_at = ? WHERE status = 'active'",
        )
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        sqlx::query("UPDATE signing_keys SET status = 'active' WHERE kid = ?")
            .bind(&kid)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(Some(kid))
    }

    async fn retire_key_impl(
        &self,
        kid: &str,
        now: NumericDate,
    ) -> Result<Option<SigningKey>, StoreError> {
        const OP: &str = "retire_key";
        // Read and retired under the write lock: the key cannot become active in between.
        let mut tx = self.begin_write(OP).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys WHERE kid = ?"
        ))
        .bind(kid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let before = match row.map(|r| key_from_row(&r, OP)).transpose()? {
            Some(k) if matches!(k.status, KeyStatus::Pending | KeyStatus::Passive) => k,
            other => {
                tx.rollback().await.map_err(|e| db_error(OP, e))?;
                return match other {
                    Some(k) if k.status == KeyStatus::Active => Err(retiring_active(kid)),
                    // No such key, or retired already: nothing changes.
                    other => Ok(other),
                };
            }
        };
        sqlx::query(RETIRE_KEY)
            .bind(to_db(now))
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(Some(before))
    }

    async fn retire_expired_impl(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "retire_expired";
        // demoted_at + lifetime < now, without overflow: demoted_at < now - lifetime.
        let Some(cutoff) = now.checked_sub(max_token_lifetime) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "UPDATE signing_keys SET status = 'retired', retired_at = ?, private_pem = NULL \
             WHERE status = 'passive' AND demoted_at < ? RETURNING kid",
        )
        .bind(to_db(now))
        .bind(to_db(cutoff))
        .fetch_all(&self.writer)
        .await
        .map_err(|e| db_error(OP, e))?;
        let mut kids = rows
            .iter()
            .map(|r| r.try_get::<String, _>("kid"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(OP, e))?;
        kids.sort();
        Ok(kids)
    }
}

/// How many times [`SqliteStore::open`] tries again when the database is locked.
const OPEN_ATTEMPTS: u32 = 20;

/// sqlx pings a pooled connection before handing it out unless told not to: for a network
/// database, a check that the server is still there. A SQLite connection is a handle on a file
/// in this process, which cannot hang up; the ping was one more round trip to the connection's
/// thread (two thread wake-ups) for every store operation, a fifth of a rotation batch's
/// (bench/BENCHMARKS.md, "Issue 22"). A failing file fails the operation itself.
const TEST_BEFORE_ACQUIRE: bool = false;

/// Run by the pool on every connection it takes back. A connection can come back inside a
/// transaction that no `Transaction` will ever end: a `begin_with` cancelled (its request's
/// client gone) after SQLite ran the `BEGIN IMMEDIATE` and sqlx acknowledged it, but before
/// sqlx made the `Transaction` whose drop would roll it back (its custom-`BEGIN` check awaits
/// in between). Left so, the connection would hold the write lock and refuse every later
/// `begin_with` ("non-zero transaction depth"): every write of the store would fail until a
/// restart. So it is rolled back here, through sqlx, so that its count of open transactions
/// stays true. A dropped `Transaction`'s own rollback is queued on the connection's thread:
/// the ping lets it run first. Costs nothing when the connection is not in a transaction.
fn roll_back_orphaned(
    conn: &mut SqliteConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    use sqlx::TransactionManager as _;
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        conn.ping().await?;
        if conn.is_in_transaction() {
            tracing::warn!(
                "a SQLite connection came back to its pool inside a transaction that nothing would end; rolling it back"
            );
        }
        while conn.is_in_transaction() {
            sqlx::sqlite::SqliteTransactionManager::rollback(conn).await?;
        }
        Ok(true)
    })
}

/// The pool of a file store. Switching a new database to WAL takes a lock that SQLite does
/// not wait for (its busy handler is not used), so processes opening a new file at once can
/// get "database is locked": then wait on SQLite's busy handler for whoever holds the lock
/// and try again. Once the file is in WAL mode, connecting takes no such lock.
async fn connect_file(
    path: &Path,
    options: SqliteConnectOptions,
    connections: u32,
) -> Result<SqlitePool, StoreError> {
    let mut attempts = 0;
    loop {
        let connected = SqlitePoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(TEST_BEFORE_ACQUIRE)
            .after_release(roll_back_orphaned)
            .connect_with(options.clone())
            .await;
        match connected {
            Ok(pool) => return Ok(pool),
            Err(e) if attempts < OPEN_ATTEMPTS && is_busy(&e) => {
                attempts += 1;
                tracing::debug!(attempts, "database locked while opening; waiting");
                wait_for_lock_holder(path).await;
            }
            Err(e) => return Err(db_error("open", e)),
        }
    }
}

/// Whether `e` is SQLITE_BUSY ("database is locked").
fn is_busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == SQLITE_BUSY),
        _ => false,
    }
}

/// Waits (up to the busy timeout, on SQLite's busy handler) until no other connection holds
/// the database's lock, by taking the write lock on a plain connection and letting it go.
async fn wait_for_lock_holder(path: &Path) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT);
    if let Ok(mut conn) = options.connect().await {
        if conn.execute(BEGIN_WRITE).await.is_ok() {
            let _ = conn.execute("ROLLBACK").await;
        }
        let _ = conn.close().await;
    }
}

/// The columns `session_from_row` reads.
macro_rules! session_columns {
    () => {
        "id, user_name, created_at, last_used_at, expires_at, user_agent, ip, current_jti, \
         previous_jti, previous_at, revoked_at"
    };
}

const SELECT_SESSION: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = ?");

/// `BEGIN IMMEDIATE`, then the sessions whose ids the bound JSON array holds: one round trip.
const BEGIN_AND_SELECT_SESSIONS_IN: &str = concat!(
    "BEGIN IMMEDIATE; SELECT ",
    session_columns!(),
    " FROM sessions WHERE id IN (SELECT value FROM json_each(?))"
);

/// The pending key, if its `activates_at` (bound) has come.
const SELECT_DUE: &str = "SELECT kid, activates_at FROM signing_keys \
     WHERE status = 'pending' AND activates_at <= ?";

/// Retires the pending key, if any, at the time bound: it never signed, so it was demoted then
/// too.
const RETIRE_PENDING: &str = "UPDATE signing_keys SET status = 'retired', private_pem = NULL, \
     demoted_at = ?1, retired_at = ?1 WHERE status = 'pending'";

/// Retires key `?2` at `?1`, keeping the demoted_at a passive key has.
const RETIRE_KEY: &str = "UPDATE signing_keys SET status = 'retired', private_pem = NULL, \
     demoted_at = COALESCE(demoted_at, ?1), retired_at = ?1 WHERE kid = ?2";

const SELECT_ACTIVE_KEY: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys WHERE status = 'active'"
);

async fn insert_roles(
    tx: &mut Transaction<'static, Sqlite>,
    name: &str,
    roles: &[String],
    op: &'static str,
) -> Result<(), StoreError> {
    for (position, role) in roles.iter().enumerate() {
        sqlx::query("INSERT INTO user_roles (user_name, position, role) VALUES (?, ?, ?)")
            .bind(name)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(role)
            .execute(&mut **tx)
            .await
            .map_err(|e| db_error(op, e))?;
    }
    Ok(())
}

/// Hands out the next credential generation (inside the caller's write transaction).
async fn next_generation(
    tx: &mut Transaction<'static, Sqlite>,
    op: &'static str,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'user_generation' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| db_error(op, e))
}

/// The store's clock, read inside the caller's transaction.
async fn store_now(
    tx: &mut Transaction<'static, Sqlite>,
    op: &'static str,
) -> Result<NumericDate, StoreError> {
    let now: i64 = sqlx::query_scalar("SELECT unixepoch()")
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| db_error(op, e))?;
    from_db("unixepoch()", now)
}

/// A session of a rotation batch as the batch's transaction holds it so far; `rotated` once a
/// rotation or grace refresh changed it (its columns are written back at the end).
struct BatchSession {
    session: Session,
    rotated: bool,
}

/// The write connection while a rotation batch's transaction may be open on it. Dropped
/// before [`committed`](Self::committed) (a failed statement, or the writer task cancelled),
/// it rolls the transaction back on a task of its own before the connection goes back to the
/// pool; a file store's connection whose rollback fails is closed instead, which ends the
/// transaction too (an in-memory store's one connection is the database: it is kept).
struct OpenBatch {
    conn: Option<sqlx::pool::PoolConnection<Sqlite>>,
    in_memory: bool,
}

impl OpenBatch {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("taken only by `committed` and `drop`")
    }

    /// The batch committed: the connection goes back as it is.
    fn committed(mut self) {
        self.conn = None;
    }
}

impl Drop for OpenBatch {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let in_memory = self.in_memory;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if !in_memory {
                conn.close_on_drop();
            }
            return;
        };
        runtime.spawn(async move {
            // "No transaction is active" (the BEGIN itself failed) is an error here too: a
            // file connection is then closed needlessly, which costs a reconnect.
            if let Err(e) = conn.execute("ROLLBACK").await {
                tracing::debug!(error = %e, "rolling back a rotation batch that did not commit");
                if !in_memory {
                    conn.close_on_drop();
                }
            }
        });
    }
}

/// Opens the batch's write transaction and reads the sessions `batch` names, by id, in one
/// round trip.
async fn begin_and_read_sessions(
    conn: &mut SqliteConnection,
    batch: &[group_commit::Job],
) -> Result<std::collections::HashMap<String, BatchSession>, StoreError> {
    const OP: &str = "rotate";
    let ids: Vec<&str> = batch.iter().map(|job| job.session.as_str()).collect();
    let ids = serde_json::json!(ids).to_string();
    let rows = sqlx::query(BEGIN_AND_SELECT_SESSIONS_IN)
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(|e| db_error(OP, e))?;
    rows.iter()
        .map(|r| {
            let session = session_from_row(r, OP)?;
            Ok((
                session.id.clone(),
                BatchSession {
                    session,
                    rotated: false,
                },
            ))
        })
        .collect()
}

/// One rotation of the batch: its session as the batch left it, judged (`judge_rotation`),
/// and the judgement applied to that copy exactly as its UPDATE would apply it to the row.
/// Ending a reused session is written at once (it appends to the revocation log).
async fn rotate_in(
    conn: &mut SqliteConnection,
    sessions: &mut std::collections::HashMap<String, BatchSession>,
    job: &group_commit::Job,
) -> Result<Rotation, StoreError> {
    const OP: &str = "rotate";
    let policy = job.policy;
    let entry = sessions.get_mut(&job.session);
    let judgement = judge_rotation(
        entry.as_ref().map(|e| &e.session),
        &job.presented_jti,
        policy,
    );
    Ok(match (judgement, entry) {
        (Judgement::Rotated, Some(e)) => {
            let s = &mut e.session;
            let old = std::mem::replace(&mut s.current_jti, job.new_jti.clone());
            s.previous = Some((old, policy.now));
            s.last_used_at = policy.now;
            e.rotated = true;
            Rotation::Rotated
        }
        // As the in-memory reference does: a grace refresh counts as use.
        (Judgement::Grace { current_jti }, Some(e)) => {
            e.session.last_used_at = policy.now;
            e.rotated = true;
            Rotation::Grace { current_jti }
        }
        // Judged live at `now`, so it ends here.
        (Judgement::Reused, entry) => {
            match end_session(conn, &job.session, policy.now, OP).await? {
                Some(logged) => {
                    if let Some(e) = entry {
                        e.session.revoked_at = Some(policy.now);
                    }
                    Rotation::Reused { logged }
                }
                None => Rotation::Ended,
            }
        }
        // Nothing to write (a judgement other than `Ended` always has its session).
        _ => Rotation::Ended,
    })
}

/// The rotation columns of every session the batch rotated, and `COMMIT`: one round trip
/// (the commit alone when none was rotated).
async fn write_sessions_and_commit(
    conn: &mut SqliteConnection,
    sessions: &std::collections::HashMap<String, BatchSession>,
) -> Result<(), StoreError> {
    const OP: &str = "rotate";
    let rows: Vec<serde_json::Value> = sessions
        .values()
        .filter(|e| e.rotated)
        .map(|e| {
            let s = &e.session;
            let (previous, previous_at) = match &s.previous {
                Some((jti, at)) => (Some(jti.as_str()), Some(to_db(*at))),
                None => (None, None),
            };
            serde_json::json!({
                "id": s.id,
                "current_jti": s.current_jti,
                "previous_jti": previous,
                "previous_at": previous_at,
                "last_used_at": to_db(s.last_used_at),
            })
        })
        .collect();
    let done = if rows.is_empty() {
        sqlx::query("COMMIT").execute(conn).await
    } else {
        let rows = serde_json::Value::Array(rows).to_string();
        // A failing UPDATE stops the statement list before the COMMIT.
        sqlx::query(
            "UPDATE sessions SET current_jti = j.value ->> 'current_jti', \
             previous_jti = j.value ->> 'previous_jti', previous_at = j.value ->> 'previous_at', \
             last_used_at = j.value ->> 'last_used_at' \
             FROM json_each(?) AS j WHERE sessions.id = j.value ->> 'id'; COMMIT",
        )
        .bind(rows)
        .execute(conn)
        .await
    };
    done.map_err(|e| db_error(OP, e))?;
    Ok(())
}

/// Revokes session `id` at `now` if it is live, and appends its end to the log (inside the
/// caller's write transaction).
async fn end_session(
    conn: &mut SqliteConnection,
    id: &str,
    now: NumericDate,
    op: &'static str,
) -> Result<Option<Logged>, StoreError> {
    let expires_at: Option<i64> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE id = ?2 AND revoked_at IS NULL AND expires_at > ?1 RETURNING expires_at",
    )
    .bind(to_db(now))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))?;
    let Some(expires_at) = expires_at else {
        return Ok(None);
    };
    let revocation = Revocation::Session {
        id: id.to_owned(),
        until: from_db("sessions.expires_at", expires_at)?,
    };
    let id = append(conn, &revocation, op).await?;
    Ok(Some(Logged { id, revocation }))
}

/// [`SessionStore::end_user_sessions`] inside the caller's write transaction: one UPDATE of
/// the sessions, one of the user, one entry, whatever the number of sessions.
async fn end_user_sessions(
    tx: &mut Transaction<'static, Sqlite>,
    user: &str,
    keep: Option<&str>,
    lifetime: u64,
    op: &'static str,
) -> Result<Ended, StoreError> {
    let cutoff = store_now(tx, op).await?;
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE user_name = ?2 AND revoked_at IS NULL AND expires_at > ?1 AND id IS NOT ?3",
    )
    .bind(to_db(cutoff))
    .bind(user)
    .bind(keep)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(op, e))?;
    // Never lowered, should the clock step back.
    sqlx::query(
        "UPDATE users SET tokens_cut_at = max(coalesce(tokens_cut_at, ?1), ?1) WHERE name = ?2",
    )
    .bind(to_db(cutoff))
    .bind(user)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error(op, e))?;
    let revocation = Revocation::user(user, cutoff, lifetime, keep);
    let id = append(tx, &revocation, op).await?;
    Ok(Ended {
        sessions: ended.rows_affected(),
        logged: Logged { id, revocation },
    })
}

/// Appends `revocation` to the log inside the caller's write transaction; its log id.
async fn append(
    conn: &mut SqliteConnection,
    revocation: &Revocation,
    op: &'static str,
) -> Result<u64, StoreError> {
    let (kind, subject, cutoff, except) = revocation_columns(revocation);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (kind, subject, cutoff, until, except_session) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(kind)
    .bind(subject)
    .bind(cutoff)
    .bind(to_db(revocation.until()))
    .bind(except)
    .fetch_one(conn)
    .await
    .map_err(|e| db_error(op, e))?;
    from_db("revocations.id", id)
}

/// Inserts a key record; a taken `kid` is a [`StoreError::Conflict`].
async fn insert_key(
    tx: &mut Transaction<'static, Sqlite>,
    key: &SigningKey,
    op: &'static str,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO signing_keys (",
        key_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(key.status.as_str())
    .bind(key.private_key.as_ref().map(PrivateKeyPem::expose))
    .bind(to_db(key.created_at))
    .bind(key.activates_at.map(to_db))
    .bind(key.demoted_at.map(to_db))
    .bind(key.retired_at.map(to_db))
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // The callers hold the write lock and checked the one active and one pending key, so
        // a unique violation is the primary key.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(kid_taken(&key.kid)),
        Err(e) => Err(db_error(op, e)),
    }
}

impl UserStore for SqliteStore {
    fn create_user(&self, user: User) -> StoreFuture<'_, ()> {
        Box::pin(self.create_user_impl(user))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(self.get_user_impl(name))
    }

    fn list_users(&self) -> StoreFuture<'_, Vec<User>> {
        Box::pin(self.list_users_impl())
    }

    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, PasswordChange> {
        Box::pin(self.change_password_impl(name, hash, expected, keep, lifetime))
    }

    fn rehash_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.rehash_password_impl(name, hash, expected))
    }

    fn has_demo_users(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.has_demo_users_impl())
    }

    fn now(&self) -> StoreFuture<'_, NumericDate> {
        Box::pin(self.now_impl())
    }

    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> StoreFuture<'a, bool> {
        Box::pin(self.set_roles_impl(name, roles))
    }

    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> StoreFuture<'a, Option<Logged>> {
        Box::pin(self.delete_user_impl(name, lifetime))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.ready())
    }
}

impl SessionStore for SqliteStore {
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, SessionCreated> {
        Box::pin(self.create_session_impl(session, generation))
    }

    fn get_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(self.get_session_impl(id))
    }

    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: NumericDate,
        after: Option<&'a SessionCursor>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(self.list_sessions_impl(user, now, after, limit))
    }

    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented_jti: &'a str,
        new_jti: &'a str,
        policy: RotationPolicy,
    ) -> StoreFuture<'a, Rotation> {
        Box::pin(self.rotate_impl(id, presented_jti, new_jti, policy))
    }

    fn revoke_session<'a>(
        &'a self,
        id: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<Logged>> {
        Box::pin(self.revoke_session_impl(id, now))
    }

    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, Ended> {
        Box::pin(self.end_user_sessions_impl(user, keep, lifetime))
    }

    fn purge_sessions(&self, before: NumericDate) -> StoreFuture<'_, u64> {
        Box::pin(self.purge_sessions_impl(before))
    }
}

impl RevocationStore for SqliteStore {
    fn revoke(&self, revocation: Revocation) -> StoreFuture<'_, u64> {
        Box::pin(self.revoke_impl(revocation))
    }

    fn revocations_since(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(u64, Revocation)>> {
        Box::pin(self.revocations_since_impl(after, now, limit))
    }

    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64> {
        Box::pin(self.purge_revocations_impl(now))
    }

    fn log_position(&self) -> StoreFuture<'_, LogPosition> {
        Box::pin(self.log_position_impl())
    }
}

impl ServiceStore for SqliteStore {
    fn add_service(&self, service: Service) -> StoreFuture<'_, ()> {
        Box::pin(self.add_service_impl(service))
    }

    fn list_services(&self) -> StoreFuture<'_, Vec<Service>> {
        Box::pin(self.list_services_impl())
    }

    fn remove_service<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.remove_service_impl(name))
    }

    fn find_service<'a>(
        &'a self,
        digest: &'a CredentialDigest,
    ) -> StoreFuture<'a, Option<Service>> {
        Box::pin(self.find_service_impl(digest))
    }
}

impl KeyStore for SqliteStore {
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>> {
        Box::pin(self.list_keys_impl())
    }

    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>> {
        Box::pin(self.active_key_impl())
    }

    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey> {
        Box::pin(self.insert_initial_impl(key))
    }

    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        Box::pin(self.rotate_in_impl(key, now))
    }

    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.add_pending_impl(key, activates_at, expected_active))
    }

    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        Box::pin(self.activate_due_impl(now))
    }

    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>> {
        Box::pin(self.retire_key_impl(kid, now))
    }

    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.retire_expired_impl(now, max_token_lifetime))
    }

    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret> {
        Box::pin(self.secret_or_insert_impl(name, generated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pooled connection runs with the settings durability and locking rely on.
    #[tokio::test]
    async fn connections_use_wal_full_sync_foreign_keys_a_busy_timeout_and_a_small_cache() {
        let dir = std::env::temp_dir().join(format!("jwtx-sqlx-unit-{}", jwtx::uuid4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(dir.join("jwtx.db")).await.unwrap();
        // No ping before each operation (`TEST_BEFORE_ACQUIRE`).
        assert!(!store.pool.options().get_test_before_acquire());
        assert!(!store.writer.options().get_test_before_acquire());
        let mut conns = Vec::new();
        for _ in 0..POOL_SIZE {
            conns.push(store.pool.acquire().await.unwrap());
        }
        conns.push(store.writer.acquire().await.unwrap());
        for conn in &mut conns {
            let one = |sql: &'static str| sqlx::query_scalar::<_, String>(sql);
            assert_eq!(
                one("PRAGMA journal_mode")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                "wal"
            );
            let int = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
            // 2 = FULL
            assert_eq!(
                int("PRAGMA synchronous")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                2
            );
            assert_eq!(
                int("PRAGMA foreign_keys")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(
                int("PRAGMA busy_timeout")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                5000
            );
            assert_eq!(
                int("PRAGMA cache_size")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap(),
                -i64::from(CACHE_KIB)
            );
        }
        drop(conns);
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file store in a new directory of its own, and an in-memory store.
    async fn file_and_memory_stores() -> (PathBuf, [SqliteStore; 2]) {
        let dir = std::env::temp_dir().join(format!("jwtx-sqlx-unit-{}", jwtx::uuid4()));
        std::fs::create_dir_all(&dir).unwrap();
        let stores = [
            SqliteStore::open(dir.join("jwtx.db")).await.unwrap(),
            SqliteStore::in_memory().await.unwrap(),
        ];
        (dir, stores)
    }

    async fn close_and_remove(dir: &Path, stores: &[SqliteStore]) {
        for store in stores {
            store.close().await;
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A connection that comes back to its pool inside a transaction nothing will end (a
    /// `begin_with` cancelled between SQLite's `BEGIN` and sqlx's `Transaction`, simulated by
    /// forgetting the `Transaction`) is rolled back on release: what it wrote is gone, and the
    /// store's next write transaction begins and commits. For a file store and the in-memory
    /// one (whose single connection must not be closed instead).
    #[tokio::test]
    async fn a_connection_released_inside_an_orphaned_transaction_is_rolled_back() {
        let (dir, stores) = file_and_memory_stores().await;
        for store in &stores {
            {
                let mut conn = store.writer.acquire().await.unwrap();
                let mut orphan = conn.begin_with(BEGIN_WRITE).await.unwrap();
                sqlx::query(
                    "INSERT INTO users (name, password_hash, created_at) VALUES ('orphan', 'x', 0)",
                )
                .execute(&mut *orphan)
                .await
                .unwrap();
                std::mem::forget(orphan);
            }
            let mut tx = store.begin_write("test").await.unwrap();
            let orphans: i64 =
                sqlx::query_scalar("SELECT count(*) FROM users WHERE name = 'orphan'")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
            assert_eq!(orphans, 0);
            tx.commit().await.unwrap();
            assert!(!store.writer.acquire().await.unwrap().is_in_transaction());
        }
        close_and_remove(&dir, &stores).await;
    }

    /// A rotation batch that stops between its `BEGIN` and its `COMMIT` (a failed statement,
    /// or its task cancelled: here its `OpenBatch` dropped after a write) leaves nothing: what
    /// it wrote is gone, the write lock is free, and the next rotation of the same token is
    /// judged on the row as it was. For a file store and the in-memory one.
    #[tokio::test]
    async fn a_rotation_batch_that_does_not_commit_is_rolled_back() {
        use jwtx_test::fixtures::{T0, session, user};
        let (dir, stores) = file_and_memory_stores().await;
        let policy = RotationPolicy {
            now: T0 + 60,
            grace: 10,
            idle_timeout: 3600,
        };
        for store in &stores {
            let u = user("unfinished", &[]);
            store.create_user(u.clone()).await.unwrap();
            let generation = store.get_user(&u.name).await.unwrap().unwrap().generation;
            let s = session(&u.name, T0, T0 + 86_400);
            store.create_session(s.clone(), generation).await.unwrap();
            let (job, _outcome) = group_commit::Job::new(&s.id, &s.current_jti, "next", policy);
            {
                let mut open = OpenBatch {
                    conn: Some(store.writer.acquire().await.unwrap()),
                    in_memory: store.path.is_none(),
                };
                let read = begin_and_read_sessions(open.conn(), std::slice::from_ref(&job))
                    .await
                    .unwrap();
                assert_eq!(read[&s.id].session.current_jti, s.current_jti);
                sqlx::query("UPDATE sessions SET current_jti = 'lost' WHERE id = ?")
                    .bind(&s.id)
                    .execute(open.conn())
                    .await
                    .unwrap();
            }
            let rotated = store
                .rotate(&s.id, &s.current_jti, "next", policy)
                .await
                .unwrap();
            assert_eq!(rotated, Rotation::Rotated, "judged on the row as it was");
            let stored = store.get_session(&s.id).await.unwrap().unwrap();
            assert_eq!(stored.current_jti, "next");
            assert_eq!(stored.previous.map(|(jti, _)| jti), Some(s.current_jti));
        }
        close_and_remove(&dir, &stores).await;
    }

    /// One batch judges and writes exactly what the same rotations do one at a time (each its
    /// own transaction): a rotation, a grace refresh of the token it replaced, a reuse that
    /// ends a session, a presentation on the ended session, an unknown session, and a rotation
    /// followed in the same batch by a reuse of the family's first token.
    #[tokio::test]
    async fn a_batch_rotates_exactly_as_its_rotations_one_at_a_time() {
        use jwtx_test::fixtures::{T0, session, user};
        let policy = |now| RotationPolicy {
            now,
            grace: 10,
            idle_timeout: 3600,
        };
        let one = SqliteStore::in_memory().await.unwrap();
        let batched = SqliteStore::in_memory().await.unwrap();
        let u = user("batch", &[]);
        let (a, b) = (
            session(&u.name, T0, T0 + 86_400),
            session(&u.name, T0, T0 + 86_400),
        );
        for store in [&one, &batched] {
            store.create_user(u.clone()).await.unwrap();
            let generation = store.get_user(&u.name).await.unwrap().unwrap().generation;
            for s in [&a, &b] {
                store.create_session(s.clone(), generation).await.unwrap();
            }
        }
        let steps = [
            (a.id.as_str(), a.current_jti.as_str(), "a1", T0 + 60),
            (&a.id, &a.current_jti, "a-grace", T0 + 61),
            (&b.id, &b.current_jti, "b1", T0 + 61),
            (&b.id, "b-stale", "b-reused", T0 + 62),
            (&b.id, "b1", "b-ended", T0 + 62),
            ("no-such-session", "jti", "none", T0 + 62),
            (&a.id, "a1", "a2", T0 + 90),
            (&a.id, &a.current_jti, "a-reused", T0 + 91),
        ];
        let mut sequential = Vec::new();
        for (sid, jti, new, now) in steps {
            sequential.push(one.rotate(sid, jti, new, policy(now)).await.unwrap());
        }
        let jobs: Vec<group_commit::Job> = steps
            .iter()
            .map(|&(sid, jti, new, now)| group_commit::Job::new(sid, jti, new, policy(now)).0)
            .collect();
        let in_one_batch = batched.rotate_batch(&jobs).await.unwrap();
        assert_eq!(in_one_batch, sequential);
        let kinds: Vec<&str> = in_one_batch
            .iter()
            .map(|r| match r {
                Rotation::Rotated => "rotated",
                Rotation::Grace { .. } => "grace",
                Rotation::Reused { .. } => "reused",
                Rotation::Ended => "ended",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "rotated", "grace", "rotated", "reused", "ended", "ended", "rotated", "reused"
            ]
        );
        assert_eq!(
            in_one_batch[1],
            Rotation::Grace {
                current_jti: "a1".into()
            }
        );
        for id in [&a.id, &b.id] {
            let (x, y) = (
                one.get_session(id).await.unwrap().unwrap(),
                batched.get_session(id).await.unwrap().unwrap(),
            );
            assert_eq!(x, y);
        }
        let a_now = batched.get_session(&a.id).await.unwrap().unwrap();
        assert_eq!(a_now.current_jti, "a2");
        assert_eq!(a_now.previous, Some(("a1".to_owned(), T0 + 90)));
        assert_eq!(a_now.last_used_at, T0 + 90);
        assert_eq!(a_now.revoked_at, Some(T0 + 91));
        let b_now = batched.get_session(&b.id).await.unwrap().unwrap();
        assert_eq!(
            (b_now.current_jti.as_str(), b_now.revoked_at),
            ("b1", Some(T0 + 62))
        );
        assert_eq!(
            batched.revocations_since(0, T0, 100).await.unwrap(),
            one.revocations_since(0, T0, 100).await.unwrap()
        );
    }
}
