//! [`copy()`]: a whole store into a fresh database, SQLite or PostgreSQL either way (growing
//! from one machine's SQLite file to a PostgreSQL cluster; or a PostgreSQL database into a
//! SQLite file, as a backup).
//!
//! Its documentation says what it copies and guarantees. Messages name databases as
//! [`DatabaseUrl`]'s `Display` prints them, without a password.

use std::fmt;
use std::path::PathBuf;

use jwtx::store::{StoreError, StoredSecret};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::error::db_error;
use crate::postgres::{KEYS_LOCK, LOG_APPEND_LOCK, PgOptions, PgStore};
use crate::rows::Columns;
use crate::sqlite::SqliteStore;
use crate::url::{DatabaseKind, DatabaseUrl};

/// Rows per batch read from the source and written to the target (at most 11 columns each,
/// 5,500 parameters, well under SQLite's 32,766 and PostgreSQL's 65,535).
const BATCH: usize = 500;

/// The longest one statement of the copy may run on PostgreSQL (counting a large table, a
/// batch), and the longest either transaction may sit idle while the other side works.
const PG_STATEMENT_TIMEOUT: &str = "300s";
const PG_IDLE_TIMEOUT: &str = "120s";

/// How a column is read and bound.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    OptInt,
    Text,
    OptText,
    /// A boolean (SQLite: INTEGER 0 or 1; PostgreSQL: BOOLEAN).
    Flag,
}

/// One column's value, as stored.
#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Flag(bool),
}

/// A table the copy moves: its columns, the key it is read in order of, and whether its first
/// column is an identity (PostgreSQL's `GENERATED ALWAYS`, written with
/// `OVERRIDING SYSTEM VALUE`).
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
    identity: bool,
}

/// Every table with rows to copy, parents before children (the foreign keys). `counters` is
/// not among them: its one row is raised on the target, not copied ([`raise_counters`]).
const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("name", Kind::Text),
            ("password_hash", Kind::Text),
            ("created_at", Kind::Int),
            ("generation", Kind::Int),
            ("demo", Kind::Flag),
            ("tokens_cut_at", Kind::OptInt),
        ],
        key: &["name"],
        identity: false,
    },
    Table {
        name: "user_roles",
        columns: &[
            ("user_name", Kind::Text),
            ("position", Kind::Int),
            ("role", Kind::Text),
        ],
        key: &["user_name", "position"],
        identity: false,
    },
    Table {
        name: "sessions",
        columns: &[
            ("id", Kind::Text),
            ("user_name", Kind::Text),
            ("created_at", Kind::Int),
            ("last_used_at", Kind::Int),
            ("expires_at", Kind::Int),
            ("user_agent", Kind::OptText),
            ("ip", Kind::OptText),
            ("current_jti", Kind::Text),
            ("previous_jti", Kind::OptText),
            ("previous_at", Kind::OptInt),
            ("revoked_at", Kind::OptInt),
        ],
        key: &["id"],
        identity: false,
    },
    Table {
        name: "revocations",
        columns: &[
            ("id", Kind::Int),
            ("kind", Kind::Text),
            ("subject", Kind::Text),
            ("cutoff", Kind::OptInt),
            ("until", Kind::Int),
            ("except_session", Kind::OptText),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "signing_keys",
        columns: &[
            ("kid", Kind::Text),
            ("alg", Kind::Text),
            ("status", Kind::Text),
            ("private_pem", Kind::OptText),
            ("created_at", Kind::Int),
            ("activates_at", Kind::OptInt),
            ("demoted_at", Kind::OptInt),
            ("retired_at", Kind::OptInt),
        ],
        key: &["kid"],
        identity: false,
    },
    Table {
        name: "secrets",
        columns: &[("name", Kind::Text), ("value", Kind::Text)],
        key: &["name"],
        identity: false,
    },
    Table {
        name: "services",
        columns: &[
            ("name", Kind::Text),
            ("digest", Kind::Text),
            ("created_at", Kind::Int),
        ],
        key: &["name"],
        identity: false,
    },
];

/// What [`copy()`] copied: the rows of each table (as counted on both sides), the extra secrets
/// it added, and where the target's log ids go on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Users.
    pub users: u64,
    /// Roles of users (`user_roles` rows).
    pub roles: u64,
    /// Sessions (refresh-token families), ended ones included.
    pub sessions: u64,
    /// Revocation-log entries.
    pub revocations: u64,
    /// Signing keys, of every status.
    pub signing_keys: u64,
    /// Stored secrets on the target: the source's, and the extra ones added.
    pub secrets: u64,
    /// Services allowed to read the revocation feed (their credential digests).
    pub services: u64,
    /// The names of the `extra_secrets` that were added (the source had none of that name).
    pub added_secrets: Vec<String>,
    /// The highest log id the target's sequence has handed out: its next entry gets a higher
    /// one (0 when no entry was ever written).
    pub last_revocation_id: u64,
}

impl CopyReport {
    /// (table, rows) of every table copied, in the order they were copied.
    pub fn tables(&self) -> [(&'static str, u64); 7] {
        [
            ("users", self.users),
            ("user_roles", self.roles),
            ("sessions", self.sessions),
            ("revocations", self.revocations),
            ("signing_keys", self.signing_keys),
            ("secrets", self.secrets),
            ("services", self.services),
        ]
    }

    fn set(&mut self, table: &str, rows: u64) {
        match table {
            "users" => self.users = rows,
            "user_roles" => self.roles = rows,
            "sessions" => self.sessions = rows,
            "revocations" => self.revocations = rows,
            "signing_keys" => self.signing_keys = rows,
            "secrets" => self.secrets = rows,
            "services" => self.services = rows,
            _ => {}
        }
    }
}

/// Why [`copy()`] copied nothing. In every case the target's transaction was rolled back
/// (or never begun): the target holds what it held before (its schema aside, which opening
/// it migrated).
#[derive(Debug)]
pub enum CopyError {
    /// The source and the target are the same database.
    SameDatabase {
        /// The database, as printed (no password).
        url: String,
    },
    /// The source is a SQLite file that does not exist.
    NoSource {
        /// The file.
        path: PathBuf,
    },
    /// The target holds data already.
    NotEmpty {
        /// The target, as printed (no password).
        url: String,
        /// The tables that have rows.
        tables: Vec<&'static str>,
    },
    /// After writing, a table's rows on the target did not number the source's.
    Mismatch {
        /// The table.
        table: &'static str,
        /// Its rows in the source's snapshot (and the extra secrets, for `secrets`).
        source: u64,
        /// Its rows in the target's transaction.
        target: u64,
    },
    /// A store failed: opening, reading the source or writing the target.
    Store {
        /// What was being done, naming the database (no password).
        context: String,
        /// The failure.
        error: StoreError,
    },
}

impl CopyError {
    /// The store failure, if that is what this is.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            CopyError::Store { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::SameDatabase { url } => write!(
                f,
                "the source and the target are the same database ({url}); copy into a fresh one"
            ),
            CopyError::NoSource { path } => write!(
                f,
                "there is no SQLite database at {} to copy from",
                path.display()
            ),
            CopyError::NotEmpty { url, tables } => write!(
                f,
                "the target is not empty ({url} holds rows in {}); copy into a fresh database \
                 (nothing was written)",
                tables.join(", ")
            ),
            CopyError::Mismatch {
                table,
                source,
                target,
            } => write!(
                f,
                "the copy does not add up: {table} has {source} row(s) in the source and \
                 {target} in the target; the target's transaction was rolled back (nothing was \
                 written)"
            ),
            CopyError::Store { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CopyError::Store { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Copies every user, role, session, revocation-log entry, signing key, stored secret and
/// service credential (its digest) from the store at `from` into the empty store at `to`, in one transaction on the target, checked
/// by counting the rows of every table on both sides before it commits.
///
/// - **Everything, verbatim**: users (roles, credential generations, the demo flag,
///   `tokens_cut_at`), sessions (current and previous jti, `revoked_at`, …), the revocation log
///   with its ids (entries of kinds this version cannot read too), signing keys of every status
///   (the private PEM text as stored: a key sealed under a key-encryption key stays sealed),
///   stored secrets, and the credential-generation counter. Columns are copied as they are
///   stored, not read into the store's types and written back.
/// - **One snapshot, one transaction**: the source is read in one read transaction (SQLite: one
///   snapshot of the WAL; PostgreSQL: `REPEATABLE READ READ ONLY`), the target written in one
///   transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the tables locked `EXCLUSIVE`, and
///   [`LOG_APPEND_LOCK`] taken as every append to the log must). Rows go in batches of 500, so
///   memory stays bounded whatever the store holds.
/// - **Nothing merged or overwritten**: a target that holds any user, role, session, log entry,
///   signing key or secret is refused ([`CopyError::NotEmpty`]). Opening the target migrates
///   it (creating a SQLite file that does not exist); opening the source migrates it too, as a
///   server of this version would. A SQLite source must exist.
/// - **Ids go on**: the target's log id sequence is set past the highest copied id and past the
///   source's own sequence (ids of purged entries are never handed out again), and the
///   credential-generation counter past the source's.
/// - **A log of its own**: the target keeps the log epoch its creation made
///   ([`LogPosition`](jwtx::store::LogPosition)), so services following the revocation feed
///   start again from 0 when they are pointed at it, rather than trust cursors of another
///   database.
/// - **Checked by counting**: before committing, the rows of every table are counted on both
///   sides (the source's in its snapshot); any difference fails the copy
///   ([`CopyError::Mismatch`]) and the target's transaction is rolled back.
///
/// `extra_secrets` are stored on the target under names the source has no secret of (a name
/// the source has is left as the source has it): e.g. the generated HMAC secret a SQLite
/// server keeps in its data directory's `secret_key` file, as `hmac`, so that a PostgreSQL
/// deployment signs with the same one. They are stored as given (seal them first, if the
/// target's secrets are to be sealed).
///
/// Stop the servers on the source first: what they write after the source's snapshot is not
/// copied.
pub async fn copy(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    extra_secrets: &[(&str, StoredSecret)],
) -> Result<CopyReport, CopyError> {
    if same_database(from, to) {
        return Err(CopyError::SameDatabase {
            url: to.to_string(),
        });
    }
    if let Some(path) = from.sqlite_path()
        && !path.try_exists().unwrap_or(false)
    {
        return Err(CopyError::NoSource {
            path: path.to_owned(),
        });
    }
    let source = Opened::open(from).await.map_err(|error| CopyError::Store {
        context: format!("cannot open the source {from}"),
        error,
    })?;
    let target = match Opened::open(to).await {
        Ok(t) => t,
        Err(error) => {
            source.close().await;
            return Err(CopyError::Store {
                context: format!("cannot open the target {to}"),
                error,
            });
        }
    };
    let copied = copy_between(&source, &target, from, to, extra_secrets).await;
    source.close().await;
    target.close().await;
    if let Ok(report) = &copied {
        tracing::debug!(?report, from = %from, to = %to, "copied the store");
    }
    copied
}

/// Whether `a` and `b` name one database: the same URL, or SQLite files that are one file.
fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    if a == b {
        return true;
    }
    match (a.sqlite_path(), b.sqlite_path()) {
        (Some(a), Some(b)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        _ => false,
    }
}

async fn copy_between(
    source: &Opened,
    target: &Opened,
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    extra_secrets: &[(&str, StoredSecret)],
) -> Result<CopyReport, CopyError> {
    let read = |error: StoreError| CopyError::Store {
        context: format!("cannot read the source {from}"),
        error,
    };
    let write = |error: StoreError| CopyError::Store {
        context: format!("cannot write to the target {to} (nothing was written)"),
        error,
    };
    let mut src = source.begin_read().await.map_err(read)?;
    let mut dst = target.begin_write().await.map_err(write)?;

    // Refused before anything is written; dropping `dst` rolls its transaction back.
    let mut held = Vec::new();
    for table in TABLES {
        if dst.has_rows(table.name).await.map_err(write)? {
            held.push(table.name);
        }
    }
    if !held.is_empty() {
        return Err(CopyError::NotEmpty {
            url: to.to_string(),
            tables: held,
        });
    }

    // (table, rows counted in the source's snapshot, rows copied)
    let mut tallies: Vec<(&'static str, u64, u64)> = Vec::new();
    for table in TABLES {
        let counted = src.count(table.name).await.map_err(read)?;
        let copied = copy_table(&mut src, &mut dst, table, read, write).await?;
        tallies.push((table.name, counted, copied));
    }

    let mut added_secrets: Vec<String> = Vec::new();
    for (name, value) in extra_secrets {
        if added_secrets.iter().any(|a| a == name) {
            continue;
        }
        let present = src
            .fetch(
                "SELECT name FROM secrets WHERE name = ?",
                &[Value::Text((*name).to_owned())],
                &[("name", Kind::Text)],
                "copy secrets",
            )
            .await
            .map_err(read)?;
        if present.is_empty() {
            dst.execute(
                "INSERT INTO secrets (name, value) VALUES (?, ?)",
                &[
                    Value::Text((*name).to_owned()),
                    Value::Text(value.expose().to_owned()),
                ],
                "copy secrets",
            )
            .await
            .map_err(write)?;
            added_secrets.push((*name).to_owned());
        }
    }

    raise_counters(&mut src, &mut dst, read, write).await?;
    let last_revocation_id = continue_log_ids(&mut src, &mut dst, read, write).await?;

    // The check: every table's rows, counted on the target inside its transaction.
    let mut report = CopyReport {
        added_secrets,
        last_revocation_id,
        ..CopyReport::default()
    };
    for (table, counted, copied) in tallies {
        let expected = if table == "secrets" {
            counted + report.added_secrets.len() as u64
        } else {
            counted
        };
        let on_target = dst.count(table).await.map_err(write)?;
        if copied != counted || on_target != expected {
            return Err(CopyError::Mismatch {
                table,
                source: expected,
                target: on_target,
            });
        }
        report.set(table, on_target);
    }

    dst.commit("copy").await.map_err(write)?;
    // Read only: nothing to keep.
    src.rollback().await;
    Ok(report)
}

/// Copies `table` in batches of [`BATCH`] rows, in key order; how many rows.
async fn copy_table(
    src: &mut Tx,
    dst: &mut Tx,
    table: &Table,
    read: impl Fn(StoreError) -> CopyError,
    write: impl Fn(StoreError) -> CopyError,
) -> Result<u64, CopyError> {
    const OP: &str = "copy";
    let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let columns = columns.join(", ");
    let keys = table.key.join(", ");
    let key_params = vec!["?"; table.key.len()].join(", ");
    let first = format!(
        "SELECT {columns} FROM {} ORDER BY {keys} LIMIT ?",
        table.name
    );
    let next = format!(
        "SELECT {columns} FROM {} WHERE ({keys}) > ({key_params}) ORDER BY {keys} LIMIT ?",
        table.name
    );
    let key_at: Vec<usize> = table
        .key
        .iter()
        .filter_map(|k| table.columns.iter().position(|(c, _)| c == k))
        .collect();
    let one_row = format!("({})", vec!["?"; table.columns.len()].join(", "));
    let overriding = if table.identity && dst.is_postgres() {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let limit = Value::Int(i64::try_from(BATCH).unwrap_or(i64::MAX));

    let mut after: Option<Vec<Value>> = None;
    let mut copied: u64 = 0;
    loop {
        let (sql, binds) = match after.take() {
            None => (&first, vec![limit.clone()]),
            Some(mut key) => {
                key.push(limit.clone());
                (&next, key)
            }
        };
        let rows = src
            .fetch(sql, &binds, table.columns, OP)
            .await
            .map_err(&read)?;
        let Some(last) = rows.last() else {
            break;
        };
        let full = rows.len() == BATCH;
        after = Some(
            key_at
                .iter()
                .filter_map(|&i| last.get(i).cloned())
                .collect(),
        );
        let n = rows.len();
        let sql = format!(
            "INSERT INTO {} ({columns}){overriding} VALUES {}",
            table.name,
            vec![one_row.as_str(); n].join(", ")
        );
        let binds: Vec<Value> = rows.into_iter().flatten().collect();
        dst.execute(&sql, &binds, OP).await.map_err(&write)?;
        copied += n as u64;
        if !full {
            break;
        }
    }
    Ok(copied)
}

/// Raises each of the target's counters (the credential generations handed out) to at least
/// the source's, so no later user or password change on the target reuses a copied
/// generation.
async fn raise_counters(
    src: &mut Tx,
    dst: &mut Tx,
    read: impl Fn(StoreError) -> CopyError,
    write: impl Fn(StoreError) -> CopyError,
) -> Result<(), CopyError> {
    const OP: &str = "copy counters";
    let counters = src
        .fetch(
            "SELECT name, value FROM counters ORDER BY name",
            &[],
            &[("name", Kind::Text), ("value", Kind::Int)],
            OP,
        )
        .await
        .map_err(read)?;
    let upsert = if dst.is_postgres() {
        "INSERT INTO counters (name, value) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, excluded.value)"
    } else {
        "INSERT INTO counters (name, value) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET value = max(counters.value, excluded.value)"
    };
    for row in counters {
        dst.execute(upsert, &row, OP).await.map_err(&write)?;
    }
    Ok(())
}

/// Sets the target's log id sequence past every id the copy wrote and every id the source's
/// sequence (or the target's own) has handed out; the highest such id.
async fn continue_log_ids(
    src: &mut Tx,
    dst: &mut Tx,
    read: impl Fn(StoreError) -> CopyError,
    write: impl Fn(StoreError) -> CopyError,
) -> Result<u64, CopyError> {
    const OP: &str = "copy revocation ids";
    let source_seq = src.log_sequence().await.map_err(read)?;
    let target_seq = dst.log_sequence().await.map_err(&write)?;
    let copied_max = dst
        .fetch(
            "SELECT MAX(id) AS id FROM revocations",
            &[],
            &[("id", Kind::OptInt)],
            OP,
        )
        .await
        .map_err(&write)?
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            Value::OptInt(id) => id,
            _ => None,
        })
        .unwrap_or(0);
    let last = source_seq.max(target_seq).max(copied_max);
    if last > 0 {
        dst.set_log_sequence(last).await.map_err(&write)?;
    }
    Ok(u64::try_from(last).unwrap_or(0))
}

/// An opened store, either kind.
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Opened {
    async fn open(url: &DatabaseUrl) -> Result<Opened, StoreError> {
        match (url.kind(), url.sqlite_path()) {
            (DatabaseKind::Sqlite, Some(path)) => SqliteStore::open(path).await.map(Opened::Sqlite),
            (DatabaseKind::Sqlite, None) => Err(StoreError::unavailable(format!(
                "{url} names no SQLite file"
            ))),
            (DatabaseKind::Postgres, _) => PgStore::connect(url, PgOptions::default())
                .await
                .map(Opened::Postgres),
        }
    }

    /// A read transaction: one snapshot of the whole store.
    async fn begin_read(&self) -> Result<Tx, StoreError> {
        const OP: &str = "copy: read the source";
        match self {
            // Deferred: the snapshot is taken by the first read and held to the end.
            Opened::Sqlite(s) => s
                .reader()
                .begin_with("BEGIN")
                .await
                .map(Tx::Sqlite)
                .map_err(|e| db_error(OP, e)),
            Opened::Postgres(s) => {
                let tx = s
                    .pool()
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
                    .map_err(|e| db_error(OP, e))?;
                let mut tx = Tx::Postgres(tx);
                tx.pg_timeouts(OP).await?;
                Ok(tx)
            }
        }
    }

    /// The write transaction, holding what keeps other writers out until it ends.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        const OP: &str = "copy: write the target";
        match self {
            Opened::Sqlite(s) => s
                .writer()
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(Tx::Sqlite)
                .map_err(|e| db_error(OP, e)),
            Opened::Postgres(s) => {
                let tx = s.pool().begin().await.map_err(|e| db_error(OP, e))?;
                let mut tx = Tx::Postgres(tx);
                tx.pg_timeouts(OP).await?;
                // Writers of any table wait until the copy commits (readers do not), so the
                // target is still empty when it does. Then the locks every append to the log,
                // and every change of the active key, takes (after the table locks, as those
                // writers take theirs after their row locks).
                tx.execute(
                    "LOCK TABLE users, user_roles, sessions, revocations, signing_keys, \
                     secrets, services, counters IN EXCLUSIVE MODE",
                    &[],
                    OP,
                )
                .await?;
                for lock in [LOG_APPEND_LOCK, KEYS_LOCK] {
                    tx.execute("SELECT pg_advisory_xact_lock(?)", &[Value::Int(lock)], OP)
                        .await?;
                }
                Ok(tx)
            }
        }
    }

    async fn close(&self) {
        match self {
            Opened::Sqlite(s) => s.close().await,
            Opened::Postgres(s) => s.close().await,
        }
    }
}

/// A transaction on either kind of database. Statements are written with `?` placeholders
/// (numbered for PostgreSQL). Dropped unfinished, it rolls back.
enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// `sqlx::query(sql)` with `binds` bound in order.
macro_rules! bound {
    ($sql:expr, $binds:expr) => {{
        let mut q = sqlx::query($sql);
        for v in $binds {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::OptInt(i) => q.bind(*i),
                Value::Text(s) => q.bind(s.as_str()),
                Value::OptText(s) => q.bind(s.as_deref()),
                Value::Flag(b) => q.bind(*b),
            };
        }
        q
    }};
}

impl Tx {
    fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }

    /// The rows `sql` selects, each as the values of `columns`.
    async fn fetch(
        &mut self,
        sql: &str,
        binds: &[Value],
        columns: &[(&str, Kind)],
        op: &'static str,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                let rows = bound!(sql, binds)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(|e| db_error(op, e))?;
                rows.iter().map(|r| values(r, columns, op)).collect()
            }
            Tx::Postgres(tx) => {
                let sql = numbered(sql);
                let rows = bound!(sql.as_str(), binds)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(|e| db_error(op, e))?;
                rows.iter().map(|r| values(r, columns, op)).collect()
            }
        }
    }

    /// Runs `sql`; how many rows it changed.
    async fn execute(
        &mut self,
        sql: &str,
        binds: &[Value],
        op: &'static str,
    ) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(tx) => bound!(sql, binds)
                .execute(&mut **tx)
                .await
                .map(|done| done.rows_affected())
                .map_err(|e| db_error(op, e)),
            Tx::Postgres(tx) => {
                let sql = numbered(sql);
                bound!(sql.as_str(), binds)
                    .execute(&mut **tx)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| db_error(op, e))
            }
        }
    }

    /// A single integer column of the first row (`None` if no row, or NULL).
    async fn int(&mut self, sql: &str, op: &'static str) -> Result<Option<i64>, StoreError> {
        let rows = self.fetch(sql, &[], &[("n", Kind::OptInt)], op).await?;
        Ok(rows.into_iter().flatten().find_map(|v| match v {
            Value::OptInt(n) => n,
            _ => None,
        }))
    }

    async fn count(&mut self, table: &str) -> Result<u64, StoreError> {
        let n = self
            .int(&format!("SELECT COUNT(*) AS n FROM {table}"), "copy: count")
            .await?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    async fn has_rows(&mut self, table: &str) -> Result<bool, StoreError> {
        let rows = self
            .fetch(
                &format!("SELECT CAST(1 AS BIGINT) AS n FROM {table} LIMIT 1"),
                &[],
                &[("n", Kind::Int)],
                "copy: is the target empty",
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// The highest id the log's sequence has handed out (0 if none).
    async fn log_sequence(&mut self) -> Result<i64, StoreError> {
        const OP: &str = "copy: read the log's sequence";
        let sql = if self.is_postgres() {
            // NULL until the sequence has handed out an id.
            "SELECT pg_sequence_last_value(pg_get_serial_sequence('revocations', 'id')::regclass) \
             AS n"
        } else {
            "SELECT seq AS n FROM sqlite_sequence WHERE name = 'revocations'"
        };
        Ok(self.int(sql, OP).await?.unwrap_or(0).max(0))
    }

    /// Makes the log's sequence go on after `last` (its next id is `last + 1`).
    async fn set_log_sequence(&mut self, last: i64) -> Result<(), StoreError> {
        const OP: &str = "copy: set the log's sequence";
        let at = [Value::Int(last)];
        if self.is_postgres() {
            self.execute(
                "SELECT setval(pg_get_serial_sequence('revocations', 'id')::regclass, ?, true)",
                &at,
                OP,
            )
            .await?;
        } else {
            // AUTOINCREMENT keeps the highest id in sqlite_sequence; raised, never lowered.
            let raised = self
                .execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'revocations'",
                    &at,
                    OP,
                )
                .await?;
            if raised == 0 {
                self.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('revocations', ?)",
                    &at,
                    OP,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// PostgreSQL: the pool's 5 s statement timeout and 15 s idle-in-transaction timeout are
    /// for single operations; a copy's statements (counting a large table) and pauses (while
    /// the other side reads or writes a batch) may take longer.
    async fn pg_timeouts(&mut self, op: &'static str) -> Result<(), StoreError> {
        self.execute(
            &format!("SET LOCAL statement_timeout = '{PG_STATEMENT_TIMEOUT}'"),
            &[],
            op,
        )
        .await?;
        self.execute(
            &format!("SET LOCAL idle_in_transaction_session_timeout = '{PG_IDLE_TIMEOUT}'"),
            &[],
            op,
        )
        .await?;
        Ok(())
    }

    async fn commit(self, op: &'static str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(|e| db_error(op, e))
    }

    async fn rollback(self) {
        let _ = match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        };
    }
}

/// A row's `columns` as values.
fn values<R: Columns>(
    row: &R,
    columns: &[(&str, Kind)],
    op: &'static str,
) -> Result<Vec<Value>, StoreError> {
    columns
        .iter()
        .map(|&(c, kind)| {
            Ok(match kind {
                Kind::Int => Value::Int(row.int(c, op)?),
                Kind::OptInt => Value::OptInt(row.opt_int(c, op)?),
                Kind::Text => Value::Text(row.text(c, op)?),
                Kind::OptText => Value::OptText(row.opt_text(c, op)?),
                Kind::Flag => Value::Flag(row.flag(c, op)?),
            })
        })
        .collect()
}

/// `sql` with its `?` placeholders numbered `$1`, `$2`, … (PostgreSQL's). The copy's
/// statements have no `?` anywhere else.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0u32;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn every_key_is_a_column_and_batches_fit_the_parameter_limits() {
        for t in TABLES {
            for k in t.key {
                assert!(t.columns.iter().any(|(c, _)| c == k), "{}.{k}", t.name);
            }
            assert!(t.columns.len() * BATCH <= 32_766, "{}", t.name);
        }
    }

    #[test]
    fn same_database() {
        let a = DatabaseUrl::parse("postgres://u:p@db/jwtx").unwrap();
        let b = DatabaseUrl::parse("postgres://u:p@db/other").unwrap();
        assert!(super::same_database(&a, &a.clone()));
        assert!(!super::same_database(&a, &b));
        let f = DatabaseUrl::parse("sqlite://x/jwtx.db").unwrap();
        let g = DatabaseUrl::parse("sqlite:x/jwtx.db").unwrap();
        assert!(super::same_database(&f, &g));
    }
}
