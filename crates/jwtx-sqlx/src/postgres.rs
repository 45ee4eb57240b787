//! [`PgStore`]: users, sessions, revocations and signing keys in one PostgreSQL database,
//! shared by any number of processes (server instances, the admin CLI).
//!
//! Every transaction runs at PostgreSQL's default isolation, READ COMMITTED, and takes the
//! locks its contract needs explicitly, so no transaction ever fails for serialization: each
//! statement sees everything committed before it started, and a row lock or an advisory lock
//! makes the writers of one thing wait for each other.
//!
//! - **Rotation**: [`rotate`](SessionStore::rotate) reads the session `FOR UPDATE`, judges it
//!   with [`judge_rotation`] and writes in the same transaction; a concurrent presentation of
//!   the same family waits for the row and then judges what was committed, so of any number
//!   of them, across processes, exactly one rotates.
//! - **Per-user serialization**: [`create_session`](SessionStore::create_session),
//!   [`end_user_sessions`](SessionStore::end_user_sessions),
//!   [`change_password`](UserStore::change_password), [`delete_user`](UserStore::delete_user)
//!   and [`set_roles`](UserStore::set_roles) lock the user's row first (`FOR UPDATE`), so a
//!   login checks the generation and the latest cut-off that the last of them committed; the
//!   cut-off is read from the database's clock after that lock (`clock_timestamp()`, not the
//!   transaction's start), as SQLite reads `unixepoch()` under its write lock.
//! - **Log order** ([`LOG_APPEND_LOCK`]): a sequence hands out ids in the order transactions
//!   ask for them, not the order they commit, so a reader following `id > cursor` could move
//!   past an id whose transaction commits later, and never see it. Every transaction that
//!   appends to the log therefore takes the transaction-scoped advisory lock
//!   [`LOG_APPEND_LOCK`] immediately before its INSERT, as its last statement before commit:
//!   appends take their ids one transaction at a time, each after the previous one's commit,
//!   so ids become visible in increasing order. The lock is held only from the INSERT to the
//!   commit.
//! - **Keys and secrets**: [`insert_initial`](KeyStore::insert_initial),
//!   [`rotate_in`](KeyStore::rotate_in), [`add_pending`](KeyStore::add_pending),
//!   [`activate_due`](KeyStore::activate_due) and [`retire_key`](KeyStore::retire_key) run
//!   under a transaction-scoped advisory lock of their own (7671728550795639155, the ASCII
//!   bytes of `jwtxkeys`), so processes starting, rotating, scheduling or promoting at once
//!   change the keys one after another: of schedulers expecting one active key, one adds its
//!   pending key; of instances promoting a due key, one does (partial unique indexes allow one
//!   active and one pending key whatever happens). `activate_due` reads first without the lock,
//!   so a poll that finds nothing due opens no transaction; `retire_key` also locks the key's
//!   row, for a `retire_expired` under way. [`secret_or_insert`](KeyStore::secret_or_insert)
//!   inserts with `ON CONFLICT DO NOTHING` and reads back what was stored.
//! - **Timeouts**: every pooled connection has `statement_timeout` 5 s (waiting for a lock
//!   included) and `idle_in_transaction_session_timeout` 15 s (a client stuck inside a
//!   transaction cannot hold its locks, [`LOG_APPEND_LOCK`] among them, longer); acquiring a
//!   connection waits at most [`PgOptions::acquire_timeout`], and an operation as a whole at
//!   most 10 s more (a server that stops answering without closing its connections ends no
//!   statement). A database that is down or hung makes operations fail with
//!   [`StoreError::Unavailable`] within seconds; they never hang. An operation that fails so
//!   after sending its commit may have committed, as when a connection is lost.
//! - **Durability**: a write whose future resolved `Ok` is committed, as durable as the
//!   server's `synchronous_commit` makes a commit (by default `on`: flushed to its
//!   write-ahead log). The store does not change the setting.
//! - **Secrets**: private keys and the secrets of [`KeyStore::secret_or_insert`] are stored in
//!   the clear, unless the application encrypts them first; `Debug` of the store and the
//!   errors never show the URL's password.

use std::fmt;
use std::future::Future;
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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Row, Transaction};

use crate::error::{db_error, from_db, to_db};
use crate::keys::{PendingChecks, key_columns, kid_taken};
use crate::migrations::migrate_postgres;
use crate::rows::{
    key_from_row, revocation_columns, revocation_from_row, service_conflict, service_from_row,
    session_from_row, users_from_rows,
};
use crate::url::{DatabaseKind, DatabaseUrl};

/// The advisory lock key every append to the revocation log takes, with
/// `pg_advisory_xact_lock`, immediately before it inserts the entry: 7671728550813067057, the
/// ASCII bytes of `jwtxlog1`.
///
/// Log ids come from a sequence, which hands them out in the order transactions insert, not
/// the order they commit: without the lock, a transaction could take id 7, a later one id 8
/// and commit first, and a reader following the log by id (`revocations_since(cursor)`) would
/// read 8, move its cursor past 7, and never see 7 when it commits. Under the lock, appends
/// take their ids one transaction at a time, and the lock is released only once the
/// transaction's commit is visible, so a reader that sees an entry also sees every entry with
/// a lower id that will ever exist. Held from the INSERT to the commit: appends are
/// serialized only for that long.
///
/// Anything else that writes to the `revocations` table of a jwtx database must take this
/// lock the same way, in the same database (advisory locks are per database).
pub const LOG_APPEND_LOCK: i64 = 0x6a77_7478_6c6f_6731;

/// The advisory lock key every change of the active or pending key takes for its transaction
/// ([`KeyStore::insert_initial`], [`KeyStore::rotate_in`], [`KeyStore::add_pending`],
/// [`KeyStore::activate_due`], [`KeyStore::retire_key`]; the ASCII bytes of `jwtxkeys`).
pub(crate) const KEYS_LOCK: i64 = 0x6a77_7478_6b65_7973;

/// The longest one statement may run on a pooled connection, waiting for locks included.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a pooled connection may sit idle inside a transaction before the server ends
/// its session (and releases its locks). The store never waits between a transaction's
/// statements for anything but the network.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15);
/// The statement timeout of the connection that migrates: waiting for another process's
/// migration (the advisory lock) and applying one may take longer than a query.
const MIGRATE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How much longer than [`PgOptions::acquire_timeout`] an operation may take in all before it
/// fails with [`StoreError::Unavailable`]: two statement timeouts, for a server that stopped
/// answering without closing its connections (frozen, or cut off by the network), which no
/// server-side timeout ends.
const OPERATION_MARGIN: Duration = Duration::from_secs(10);

/// The database's clock in whole Unix seconds, now (not at the transaction's start).
const CLOCK: &str = "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint";

/// How a [`PgStore`] connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// The most connections the store's pool opens (default 4). PostgreSQL allows 100 by
    /// default across every client of the server, and every instance of a deployment has a
    /// pool; one more connection is opened, and closed, to migrate at [`PgStore::connect`].
    pub max_connections: u32,
    /// How long an operation waits for a connection of the pool, opening it included
    /// (default 3 s); then it fails with [`StoreError::Unavailable`]. An operation as a whole
    /// fails so 10 s after this, whatever the server does (a frozen server or a cut network
    /// ends no statement by its `statement_timeout`).
    pub acquire_timeout: Duration,
    /// How long [`PgStore::connect`] waits for its first connection (TCP, TLS,
    /// authentication; default 3 s).
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// A store of users, sessions, revocations and signing keys in PostgreSQL, for any number of
/// processes sharing the database. See the [module documentation](self) for how each
/// operation is made atomic across processes.
///
/// A write whose future resolved `Ok` is committed, as durable as the server's
/// `synchronous_commit` makes a commit (by default: flushed to the server's WAL). Cloning is
/// cheap and shares the connection pool; `Debug` shows the URL without its password. The
/// store needs a tokio runtime.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The URL as `Display` prints it (password masked).
    url: Arc<str>,
    /// The longest an operation may take, whatever the server does (see [`PgOptions`]).
    deadline: Duration,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

/// A duration as a PostgreSQL setting in milliseconds.
fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

impl PgStore {
    /// Connects to the PostgreSQL database at `url` and brings its schema up to date (on a
    /// connection of its own, under an advisory lock, so that processes starting at once on an
    /// empty database migrate it once), then returns the store with its pool (whose
    /// connections are opened as operations need them).
    ///
    /// Fails with [`StoreError::Unavailable`] when `url` is not a PostgreSQL URL or the
    /// database cannot be reached within [`PgOptions::connect_timeout`] (or refuses the
    /// credentials), and [`StoreError::Corrupt`] when its schema is not one this version can
    /// use (migrated by a newer jwtx, or a migration changed).
    pub async fn connect(url: &DatabaseUrl, options: PgOptions) -> Result<PgStore, StoreError> {
        const OP: &str = "connect";
        if url.kind() != DatabaseKind::Postgres {
            return Err(StoreError::unavailable(format!(
                "{OP}: {url} is not a PostgreSQL URL (postgres://…)"
            )));
        }
        if options.max_connections == 0 {
            return Err(StoreError::unavailable(format!(
                "{OP}: invalid database configuration: max_connections must be at least 1"
            )));
        }
        let base = PgConnectOptions::from_str(url.expose()).map_err(|e| db_error(OP, e))?;
        let base = if base.get_application_name().is_none() {
            base.application_name("jwtx")
        } else {
            base
        };
        let timeouts = |statement: Duration| {
            [
                ("statement_timeout", millis(statement)),
                (
                    "idle_in_transaction_session_timeout",
                    millis(IDLE_IN_TRANSACTION_TIMEOUT),
                ),
            ]
        };
        let pooled = base.clone().options(timeouts(STATEMENT_TIMEOUT));
        let migrating = base.options(timeouts(MIGRATE_STATEMENT_TIMEOUT));

        let mut conn = tokio::time::timeout(options.connect_timeout, migrating.connect())
            .await
            .map_err(|_| {
                StoreError::unavailable(format!(
                    "{OP}: no connection to {url} within {:?}",
                    options.connect_timeout
                ))
            })?
            .map_err(|e| db_error(OP, e))?;
        let migrated = tokio::time::timeout(
            MIGRATE_STATEMENT_TIMEOUT.saturating_add(OPERATION_MARGIN),
            migrate_postgres(&mut conn),
        )
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::unavailable(format!(
                "{OP}: migrating {url} did not finish within {:?}",
                MIGRATE_STATEMENT_TIMEOUT.saturating_add(OPERATION_MARGIN)
            )))
        });
        // Closing releases the advisory lock too, should unlocking have failed.
        let _ = tokio::time::timeout(options.connect_timeout, conn.close()).await;
        migrated?;

        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(pooled);
        let store = PgStore {
            pool,
            url: url.to_string().into(),
            deadline: options.acquire_timeout.saturating_add(OPERATION_MARGIN),
        };
        tracing::debug!(url = %store.url, "connected PostgreSQL store");
        Ok(store)
    }

    /// Readiness: a connection answers, the tables can be read, and the database accepts
    /// writes (not a read-only standby). Also what [`UserStore::ping`] runs.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.guarded("ready", self.ready_impl()).await
    }

    async fn ready_impl(&self) -> Result<(), StoreError> {
        const OP: &str = "ready";
        let row = sqlx::query(
            "SELECT current_setting('transaction_read_only') AS read_only, \
             (SELECT 1 FROM users LIMIT 1) AS u, (SELECT 1 FROM user_roles LIMIT 1) AS r, \
             (SELECT 1 FROM sessions LIMIT 1) AS s, (SELECT 1 FROM revocations LIMIT 1) AS l, \
             (SELECT 1 FROM signing_keys LIMIT 1) AS k, (SELECT 1 FROM secrets LIMIT 1) AS x",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        let read_only: String = row.try_get("read_only").map_err(|e| db_error(OP, e))?;
        if read_only == "on" {
            return Err(StoreError::unavailable(format!(
                "{OP}: the database is read-only (a standby, or default_transaction_read_only)"
            )));
        }
        Ok(())
    }

    /// Closes every connection, waiting for operations under way to finish. Later operations
    /// fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool (for [`copy`](crate::copy())).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `operation` as a store future that fails with [`StoreError::Unavailable`] once it has
    /// taken longer than the store's deadline (dropping it: a transaction under way is rolled
    /// back, or, if its commit was already sent, may have committed, as when a connection is
    /// lost).
    fn guarded<'a, T: Send + 'a>(
        &'a self,
        op: &'static str,
        operation: impl Future<Output = Result<T, StoreError>> + Send + 'a,
    ) -> StoreFuture<'a, T> {
        let deadline = self.deadline;
        Box::pin(async move {
            match tokio::time::timeout(deadline, operation).await {
                Ok(done) => done,
                Err(_) => {
                    let err = StoreError::unavailable(format!(
                        "{op}: the database did not answer within {deadline:?}"
                    ));
                    tracing::debug!(operation = op, error = %err, "store operation failed");
                    Err(err)
                }
            }
        })
    }

    async fn begin(&self, op: &'static str) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(|e| db_error(op, e))
    }

    // ----- users -----

    async fn create_user_impl(&self, user: User) -> Result<(), StoreError> {
        const OP: &str = "create_user";
        let mut tx = self.begin(OP).await?;
        let generation = next_generation(&mut tx, OP).await?;
        let inserted = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at, generation, demo) \
             VALUES ($1, $2, $3, $4, $5)",
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
             WHERE u.name = $1 ORDER BY r.position",
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
        let mut tx = self.begin(OP).await?;
        let Some(current) = lock_user(&mut tx, name, OP).await? else {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(PasswordChange::NoSuchUser);
        };
        if from_db("users.generation", current.generation)? != expected {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(PasswordChange::Stale);
        }
        let generation = next_generation(&mut tx, OP).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, generation = $2, demo = FALSE WHERE name = $3",
        )
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
        // One statement: a concurrent change of the generation commits first (and this one
        // then matches nothing) or waits for it.
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2 AND generation = $3")
                .bind(hash)
                .bind(name)
                .bind(to_db(expected))
                .execute(&self.pool)
                .await
                .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn has_demo_users_impl(&self) -> Result<bool, StoreError> {
        const OP: &str = "has_demo_users";
        let found = sqlx::query("SELECT 1 FROM users WHERE demo LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(found.is_some())
    }

    async fn now_impl(&self) -> Result<NumericDate, StoreError> {
        const OP: &str = "now";
        let now: i64 = sqlx::query_scalar(CLOCK)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        from_db("clock_timestamp()", now)
    }

    async fn set_roles_impl(&self, name: &str, roles: &[String]) -> Result<bool, StoreError> {
        const OP: &str = "set_roles";
        let mut tx = self.begin(OP).await?;
        if lock_user(&mut tx, name, OP).await?.is_none() {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_name = $1")
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
        let mut tx = self.begin(OP).await?;
        if lock_user(&mut tx, name, OP).await?.is_none() {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(None);
        }
        let cutoff = store_now(&mut tx, OP).await?;
        // The foreign keys cascade too; deleting explicitly does not depend on them.
        for sql in [
            "DELETE FROM sessions WHERE user_name = $1",
            "DELETE FROM user_roles WHERE user_name = $1",
            "DELETE FROM users WHERE name = $1",
        ] {
            sqlx::query(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
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
        let mut tx = self.begin(OP).await?;
        // The user's row is locked for the checks and the insert: a password change or an end
        // of every session that commits first makes this login's session fail (or wait), one
        // that commits later revokes it.
        match lock_user(&mut tx, &s.user, OP).await? {
            None => {
                return Err(StoreError::Conflict {
                    what: format!("no user {:?} for the session", s.user),
                });
            }
            Some(u) if u.generation != to_db(generation) => {
                return Err(StoreError::Conflict {
                    what: format!("the credentials of {:?} changed", s.user),
                });
            }
            Some(LockedUser {
                tokens_cut_at: Some(cut),
                ..
            }) if to_db(s.created_at) <= cut => {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
             WHERE user_name = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(&s.user)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let ended = if usize::try_from(live).unwrap_or(0) > MAX_LIVE_SESSIONS {
            let oldest: Option<String> = sqlx::query_scalar(
                "SELECT id FROM sessions \
                 WHERE user_name = $1 AND revoked_at IS NULL AND expires_at > $2 \
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
             WHERE user_name = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND ($3::BIGINT IS NULL OR created_at < $3 OR (created_at = $3 AND id > $4)) \
             ORDER BY created_at DESC, id LIMIT $5",
        )
        .bind(user)
        .bind(to_db(now))
        .bind(after.map(|c| to_db(c.created_at)))
        .bind(after.map(|c| c.id.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        rows.iter().map(|r| session_from_row(r, OP)).collect()
    }

    async fn rotate_impl(
        &self,
        id: &str,
        presented_jti: &str,
        new_jti: &str,
        policy: RotationPolicy,
    ) -> Result<Rotation, StoreError> {
        const OP: &str = "rotate";
        if self
            .rotate_current(id, presented_jti, new_jti, policy)
            .await?
        {
            return Ok(Rotation::Rotated);
        }
        // The row is locked by the read: a concurrent rotation of this session waits here
        // until this one commits, then judges what it wrote.
        let mut tx = self.begin(OP).await?;
        let row = sqlx::query(SELECT_SESSION_FOR_UPDATE)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let session = row.map(|r| session_from_row(&r, OP)).transpose()?;
        let now = to_db(policy.now);
        let rotation = match judge_rotation(session.as_ref(), presented_jti, policy) {
            Judgement::Rotated => {
                sqlx::query(
                    "UPDATE sessions SET previous_jti = current_jti, previous_at = $1, \
                     current_jti = $2, last_used_at = $1 WHERE id = $3",
                )
                .bind(now)
                .bind(new_jti)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(OP, e))?;
                Rotation::Rotated
            }
            // As the in-memory reference does: a grace refresh counts as use.
            Judgement::Grace { current_jti } => {
                sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_error(OP, e))?;
                Rotation::Grace { current_jti }
            }
            // Judged live at `now`, so it ends here.
            Judgement::Reused => match end_session(&mut tx, id, policy.now, OP).await? {
                Some(logged) => Rotation::Reused { logged },
                None => Rotation::Ended,
            },
            Judgement::Ended => {
                tx.rollback().await.map_err(|e| db_error(OP, e))?;
                return Ok(Rotation::Ended);
            }
        };
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(rotation)
    }

    /// The common rotation in one statement, one round trip and one commit: the presented
    /// token is the session's current one and the session is live and not idle, exactly
    /// `judge_rotation`'s [`Judgement::Rotated`], written as the full path writes it. The
    /// UPDATE locks the row and PostgreSQL checks its conditions again on the row as a
    /// concurrent rotation left it, so of two presentations of one token only one rotates.
    /// False (nothing written) for every other case, which the full path judges.
    async fn rotate_current(
        &self,
        id: &str,
        presented_jti: &str,
        new_jti: &str,
        policy: RotationPolicy,
    ) -> Result<bool, StoreError> {
        // Times beyond i64 (never issued) go to the full path, which judges them exactly.
        let Ok(now) = i64::try_from(policy.now) else {
            return Ok(false);
        };
        // `now - last_used_at <= idle_timeout`, without overflow: last used at or after this.
        let idle_from = to_db(policy.now.saturating_sub(policy.idle_timeout));
        let rotated = sqlx::query(
            "UPDATE sessions SET previous_jti = current_jti, previous_at = $1, \
             current_jti = $2, last_used_at = $1 \
             WHERE id = $3 AND current_jti = $4 AND revoked_at IS NULL AND expires_at > $1 \
             AND last_used_at >= $5",
        )
        .bind(now)
        .bind(new_jti)
        .bind(id)
        .bind(presented_jti)
        .bind(idle_from)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("rotate", e))?;
        Ok(rotated.rows_affected() == 1)
    }

    async fn revoke_session_impl(
        &self,
        id: &str,
        now: NumericDate,
    ) -> Result<Option<Logged>, StoreError> {
        const OP: &str = "revoke_session";
        let mut tx = self.begin(OP).await?;
        let logged = end_session(&mut tx, id, now, OP).await?;
        if logged.is_some() {
            tx.commit().await.map_err(|e| db_error(OP, e))?;
        } else {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
        }
        Ok(logged)
    }

    async fn end_user_sessions_impl(
        &self,
        user: &str,
        keep: Option<&str>,
        lifetime: u64,
    ) -> Result<Ended, StoreError> {
        const OP: &str = "end_user_sessions";
        let mut tx = self.begin(OP).await?;
        // Serialized with the user's logins; a name without a user has no row to lock (and no
        // sessions), and its entry is appended all the same.
        lock_user(&mut tx, user, OP).await?;
        let ended = end_user_sessions(&mut tx, user, keep, lifetime, OP).await?;
        tx.commit().await.map_err(|e| db_error(OP, e))?;
        Ok(ended)
    }

    async fn purge_sessions_impl(&self, before: NumericDate) -> Result<u64, StoreError> {
        const OP: &str = "purge_sessions";
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(to_db(before))
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected())
    }

    // ----- revocations -----

    async fn revoke_impl(&self, revocation: Revocation) -> Result<u64, StoreError> {
        const OP: &str = "revoke";
        let mut tx = self.begin(OP).await?;
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
             WHERE id > $1 AND until >= $2 ORDER BY id LIMIT $3",
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
        let done = sqlx::query("DELETE FROM revocations WHERE until < $1")
            .bind(to_db(now))
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected())
    }

    async fn log_position_impl(&self) -> Result<LogPosition, StoreError> {
        const OP: &str = "log_position";
        // The sequence's last value (NULL before its first id; never lowered by a purge) is
        // not transactional: it may count an id an uncommitted append holds, which only makes
        // the head higher than any id a reader has seen, as a head must be.
        let row = sqlx::query(
            "SELECT epoch, GREATEST( \
                 COALESCE(pg_sequence_last_value( \
                     pg_get_serial_sequence('revocations', 'id')::regclass), 0), \
                 COALESCE((SELECT MAX(id) FROM revocations), 0)) AS head \
             FROM revocation_log",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        let epoch: String = row.try_get("epoch").map_err(|e| db_error(OP, e))?;
        let head: i64 = row.try_get("head").map_err(|e| db_error(OP, e))?;
        Ok(LogPosition {
            epoch,
            head: from_db("revocations.id", head)?,
        })
    }

    // ----- services -----

    async fn add_service_impl(&self, service: Service) -> Result<(), StoreError> {
        const OP: &str = "add_service";
        let inserted =
            sqlx::query("INSERT INTO services (name, digest, created_at) VALUES ($1, $2, $3)")
                .bind(&service.name)
                .bind(service.digest.to_hex())
                .bind(to_db(service.created_at))
                .execute(&self.pool)
                .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(service_conflict(
                &service.name,
                db.constraint().unwrap_or(db.message()),
            )),
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
        let done = sqlx::query("DELETE FROM services WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_service_impl(
        &self,
        digest: &CredentialDigest,
    ) -> Result<Option<Service>, StoreError> {
        const OP: &str = "find_service";
        let row = sqlx::query("SELECT name, digest, created_at FROM services WHERE digest = $1")
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
        // Under the keys lock, the read sees every key change committed before: of processes
        // starting at once on a store without an active key, exactly one inserts, the others
        // get its key.
        let mut tx = self.begin(OP).await?;
        advisory_xact_lock(&mut tx, KEYS_LOCK, OP).await?;
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
        // An insert that a concurrent one of the same name beat waits for it to commit and
        // inserts nothing; the read, a statement of its own, then sees the first secret stored.
        let mut tx = self.begin(OP).await?;
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(generated.expose())
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let stored: String = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
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
        // One transaction under the keys lock: readers see the old active key or the new one,
        // never none or both; concurrent rotations form one chain; a refused insert rolls the
        // demotion (and the pending key's retirement) back.
        let mut tx = self.begin(OP).await?;
        advisory_xact_lock(&mut tx, KEYS_LOCK, OP).await?;
        // A pending key never signed: it is retired, demoted at once.
        sqlx::query(
            "UPDATE signing_keys SET status = 'retired', private_pem = NULL, demoted_at = $1, \
             retired_at = $1 WHERE status = 'pending'",
        )
        .bind(to_db(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let demoted: Vec<String> = sqlx::query_scalar(
            "UPDATE signing_keys SET status = 'passive', demoted_at = $1 \
             WHERE status = 'active' RETURNING kid",
        )
        .bind(to_db(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let mut record = SigningKey::active(key);
        record.activates_at = Some(now);
        if let Err(e) = insert_key(&mut tx, &record, OP).await {
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
        // The checks and the insert under the keys lock: of schedulers racing on one database
        // (across instances), one adds its key and the others find it pending.
        let mut tx = self.begin(OP).await?;
        advisory_xact_lock(&mut tx, KEYS_LOCK, OP).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kid, status FROM signing_keys \
             WHERE kid = $1 OR status IN ('pending', 'active')",
        )
        .bind(&key.kid)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        let mut checks = PendingChecks::default();
        for (kid, status) in rows {
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
        // A read first, without the lock: a poll that finds nothing due opens no transaction.
        // What it finds is checked again under the lock (another instance may have promoted
        // it).
        let due: Option<(String, i64)> = sqlx::query_as(SELECT_DUE)
            .bind(to_db(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(OP, e))?;
        if due.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin(OP).await?;
        advisory_xact_lock(&mut tx, KEYS_LOCK, OP).await?;
        let due: Option<(String, i64)> = sqlx::query_as(SELECT_DUE)
            .bind(to_db(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error(OP, e))?;
        let Some((kid, at)) = due else {
            tx.rollback().await.map_err(|e| db_error(OP, e))?;
            return Ok(None);
        };
        // The active key stops signing when its successor starts. Demoted first: the partial
        // unique index allows one active key after every statement.
        sqlx::query(
            "UPDATE signing_keys SET status = 'passive', demoted_at = $1 WHERE status = 'active'",
        )
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(OP, e))?;
        sqlx::query("UPDATE signing_keys SET status = 'active' WHERE kid = $1")
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
        // Under the keys lock the key cannot become active in between (activate_due takes it
        // too); the row lock waits for a retire_expired under way, so the status read is the
        // latest committed.
        let mut tx = self.begin(OP).await?;
        advisory_xact_lock(&mut tx, KEYS_LOCK, OP).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys WHERE kid = $1 FOR UPDATE"
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
        sqlx::query(
            "UPDATE signing_keys SET status = 'retired', private_pem = NULL, \
             demoted_at = COALESCE(demoted_at, $1), retired_at = $1 WHERE kid = $2",
        )
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
        let mut kids: Vec<String> = sqlx::query_scalar(
            "UPDATE signing_keys SET status = 'retired', retired_at = $1, private_pem = NULL \
             WHERE status = 'passive' AND demoted_at < $2 RETURNING kid",
        )
        .bind(to_db(now))
        .bind(to_db(cutoff))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(OP, e))?;
        kids.sort();
        Ok(kids)
    }
}

const SELECT_SESSION: &str = "SELECT id, user_name, created_at, last_used_at, expires_at, \
     user_agent, ip, current_jti, previous_jti, previous_at, revoked_at FROM sessions \
     WHERE id = $1";

const SELECT_SESSION_FOR_UPDATE: &str = "SELECT id, user_name, created_at, last_used_at, \
     expires_at, user_agent, ip, current_jti, previous_jti, previous_at, revoked_at \
     FROM sessions WHERE id = $1 FOR UPDATE";

const SELECT_ACTIVE_KEY: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys WHERE status = 'active'"
);

/// The pending key, if its `activates_at` (bound) has come.
const SELECT_DUE: &str = "SELECT kid, activates_at FROM signing_keys \
     WHERE status = 'pending' AND activates_at <= $1";

/// What [`lock_user`] read of the locked row.
struct LockedUser {
    generation: i64,
    tokens_cut_at: Option<i64>,
}

/// Locks user `name`'s row for the rest of the caller's transaction (`FOR UPDATE`), so the
/// operations that must see each other's effects on one user run one after another; `None`
/// if there is no such user.
async fn lock_user(
    conn: &mut PgConnection,
    name: &str,
    op: &'static str,
) -> Result<Option<LockedUser>, StoreError> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT generation, tokens_cut_at FROM users WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| db_error(op, e))?;
    Ok(row.map(|(generation, tokens_cut_at)| LockedUser {
        generation,
        tokens_cut_at,
    }))
}

/// Takes the transaction-scoped advisory lock `key` (released at commit or rollback).
async fn advisory_xact_lock(
    conn: &mut PgConnection,
    key: i64,
    op: &'static str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map_err(|e| db_error(op, e))?;
    Ok(())
}

/// Inserts the roles of user `name`, in order, in one statement.
async fn insert_roles(
    conn: &mut PgConnection,
    name: &str,
    roles: &[String],
    op: &'static str,
) -> Result<(), StoreError> {
    if roles.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO user_roles (user_name, position, role) \
         SELECT $1, r.n - 1, r.role FROM unnest($2::TEXT[]) WITH ORDINALITY AS r (role, n)",
    )
    .bind(name)
    .bind(roles)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))?;
    Ok(())
}

/// Hands out the next credential generation (the counter's row stays locked until the
/// caller's transaction ends).
async fn next_generation(conn: &mut PgConnection, op: &'static str) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'user_generation' RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))
}

/// The database's clock, read now (inside the caller's transaction, after its locks).
async fn store_now(conn: &mut PgConnection, op: &'static str) -> Result<NumericDate, StoreError> {
    let now: i64 = sqlx::query_scalar(CLOCK)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error(op, e))?;
    from_db("clock_timestamp()", now)
}

/// Revokes session `id` at `now` if it is live, and appends its end to the log (inside the
/// caller's transaction).
async fn end_session(
    conn: &mut PgConnection,
    id: &str,
    now: NumericDate,
    op: &'static str,
) -> Result<Option<Logged>, StoreError> {
    let expires_at: Option<i64> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE id = $2 AND revoked_at IS NULL AND expires_at > $1 RETURNING expires_at",
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

/// [`SessionStore::end_user_sessions`] inside the caller's transaction (which holds the
/// user's row, if there is one): one UPDATE of the sessions, one of the user, one entry,
/// whatever the number of sessions.
async fn end_user_sessions(
    conn: &mut PgConnection,
    user: &str,
    keep: Option<&str>,
    lifetime: u64,
    op: &'static str,
) -> Result<Ended, StoreError> {
    let cutoff = store_now(conn, op).await?;
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_name = $2 AND revoked_at IS NULL AND expires_at > $1 \
         AND id IS DISTINCT FROM $3",
    )
    .bind(to_db(cutoff))
    .bind(user)
    .bind(keep)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))?;
    // Never lowered, should the clock step back.
    sqlx::query(
        "UPDATE users SET tokens_cut_at = GREATEST(COALESCE(tokens_cut_at, $1), $1) \
         WHERE name = $2",
    )
    .bind(to_db(cutoff))
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))?;
    let revocation = Revocation::user(user, cutoff, lifetime, keep);
    let id = append(conn, &revocation, op).await?;
    Ok(Ended {
        sessions: ended.rows_affected(),
        logged: Logged { id, revocation },
    })
}

/// Appends `revocation` to the log inside the caller's transaction, as its last write: takes
/// [`LOG_APPEND_LOCK`] (held until the transaction ends), then inserts; its log id.
async fn append(
    conn: &mut PgConnection,
    revocation: &Revocation,
    op: &'static str,
) -> Result<u64, StoreError> {
    advisory_xact_lock(conn, LOG_APPEND_LOCK, op).await?;
    let (kind, subject, cutoff, except) = revocation_columns(revocation);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (kind, subject, cutoff, until, except_session) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(subject)
    .bind(cutoff)
    .bind(to_db(revocation.until()))
    .bind(except)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| db_error(op, e))?;
    from_db("revocations.id", id)
}

/// Inserts a key record; a taken `kid` is a [`StoreError::Conflict`].
async fn insert_key(
    conn: &mut PgConnection,
    key: &SigningKey,
    op: &'static str,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO signing_keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(key.status.as_str())
    .bind(key.private_key.as_ref().map(PrivateKeyPem::expose))
    .bind(to_db(key.created_at))
    .bind(key.activates_at.map(to_db))
    .bind(key.demoted_at.map(to_db))
    .bind(key.retired_at.map(to_db))
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(match db.constraint() {
            Some("signing_keys_one_active") => StoreError::Conflict {
                what: "another signing key is active".into(),
            },
            Some("signing_keys_one_pending") => StoreError::Conflict {
                what: "another signing key is pending".into(),
            },
            _ => kid_taken(&key.kid),
        }),
        Err(e) => Err(db_error(op, e)),
    }
}

impl UserStore for PgStore {
    fn create_user(&self, user: User) -> StoreFuture<'_, ()> {
        self.guarded("create_user", self.create_user_impl(user))
    }

    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        self.guarded("get_user", self.get_user_impl(name))
    }

    fn list_users(&self) -> StoreFuture<'_, Vec<User>> {
        self.guarded("list_users", self.list_users_impl())
    }

    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, PasswordChange> {
        self.guarded(
            "change_password",
            self.change_password_impl(name, hash, expected, keep, lifetime),
        )
    }

    fn rehash_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
    ) -> StoreFuture<'a, bool> {
        self.guarded(
            "rehash_password",
            self.rehash_password_impl(name, hash, expected),
        )
    }

    fn has_demo_users(&self) -> StoreFuture<'_, bool> {
        self.guarded("has_demo_users", self.has_demo_users_impl())
    }

    fn now(&self) -> StoreFuture<'_, NumericDate> {
        self.guarded("now", self.now_impl())
    }

    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> StoreFuture<'a, bool> {
        self.guarded("set_roles", self.set_roles_impl(name, roles))
    }

    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> StoreFuture<'a, Option<Logged>> {
        self.guarded("delete_user", self.delete_user_impl(name, lifetime))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.guarded("ping", self.ready_impl())
    }
}

impl SessionStore for PgStore {
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, SessionCreated> {
        self.guarded(
            "create_session",
            self.create_session_impl(session, generation),
        )
    }

    fn get_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        self.guarded("get_session", self.get_session_impl(id))
    }

    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: NumericDate,
        after: Option<&'a SessionCursor>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Session>> {
        self.guarded(
            "list_sessions",
            self.list_sessions_impl(user, now, after, limit),
        )
    }

    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented_jti: &'a str,
        new_jti: &'a str,
        policy: RotationPolicy,
    ) -> StoreFuture<'a, Rotation> {
        self.guarded(
            "rotate",
            self.rotate_impl(id, presented_jti, new_jti, policy),
        )
    }

    fn revoke_session<'a>(
        &'a self,
        id: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<Logged>> {
        self.guarded("revoke_session", self.revoke_session_impl(id, now))
    }

    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, Ended> {
        self.guarded(
            "end_user_sessions",
            self.end_user_sessions_impl(user, keep, lifetime),
        )
    }

    fn purge_sessions(&self, before: NumericDate) -> StoreFuture<'_, u64> {
        self.guarded("purge_sessions", self.purge_sessions_impl(before))
    }
}

impl RevocationStore for PgStore {
    fn revoke(&self, revocation: Revocation) -> StoreFuture<'_, u64> {
        self.guarded("revoke", self.revoke_impl(revocation))
    }

    fn revocations_since(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(u64, Revocation)>> {
        self.guarded(
            "revocations_since",
            self.revocations_since_impl(after, now, limit),
        )
    }

    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64> {
        self.guarded("purge_revocations", self.purge_revocations_impl(now))
    }

    fn log_position(&self) -> StoreFuture<'_, LogPosition> {
        self.guarded("log_position", self.log_position_impl())
    }
}

impl ServiceStore for PgStore {
    fn add_service(&self, service: Service) -> StoreFuture<'_, ()> {
        self.guarded("add_service", self.add_service_impl(service))
    }

    fn list_services(&self) -> StoreFuture<'_, Vec<Service>> {
        self.guarded("list_services", self.list_services_impl())
    }

    fn remove_service<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        self.guarded("remove_service", self.remove_service_impl(name))
    }

    fn find_service<'a>(
        &'a self,
        digest: &'a CredentialDigest,
    ) -> StoreFuture<'a, Option<Service>> {
        self.guarded("find_service", self.find_service_impl(digest))
    }
}

impl KeyStore for PgStore {
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>> {
        self.guarded("list_keys", self.list_keys_impl())
    }

    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>> {
        self.guarded("active_key", self.active_key_impl())
    }

    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey> {
        self.guarded("insert_initial", self.insert_initial_impl(key))
    }

    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        self.guarded("rotate_in", self.rotate_in_impl(key, now))
    }

    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        self.guarded(
            "add_pending",
            self.add_pending_impl(key, activates_at, expected_active),
        )
    }

    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        self.guarded("activate_due", self.activate_due_impl(now))
    }

    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>> {
        self.guarded("retire_key", self.retire_key_impl(kid, now))
    }

    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>> {
        self.guarded(
            "retire_expired",
            self.retire_expired_impl(now, max_token_lifetime),
        )
    }

    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret> {
        self.guarded(
            "secret_or_insert",
            self.secret_or_insert_impl(name, generated),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_spell_their_names() {
        assert_eq!(LOG_APPEND_LOCK.to_be_bytes(), *b"jwtxlog1");
        assert_eq!(KEYS_LOCK.to_be_bytes(), *b"jwtxkeys");
        // As the documentation and docs/revocation-log.md give them.
        assert_eq!(LOG_APPEND_LOCK, 7_671_728_550_813_067_057);
        assert_eq!(KEYS_LOCK, 7_671_728_550_795_639_155);
        assert_eq!(PgOptions::default().max_connections, 4);
    }

    #[tokio::test]
    async fn only_postgres_urls_connect() {
        let url = DatabaseUrl::parse("sqlite://x.db").unwrap();
        let err = PgStore::connect(&url, PgOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        let url = DatabaseUrl::parse("postgres://u:hunter2@127.0.0.1:1/x").unwrap();
        let options = PgOptions {
            max_connections: 0,
            ..PgOptions::default()
        };
        let err = PgStore::connect(&url, options).await.unwrap_err();
        assert!(err.to_string().contains("max_connections"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }
}
