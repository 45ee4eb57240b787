//! The schema migrations, embedded in the binary.
//!
//! sqlx's `migrate!` macro needs its `macros` feature, which this workspace leaves off (no
//! compile-time database access). The SQL files under `migrations/sqlite/` and
//! `migrations/postgres/` are embedded with `include_str!` instead, turned into sqlx
//! [`Migration`]s, and applied through sqlx's [`Migrate`] implementation, so the bookkeeping is
//! sqlx's: the `_sqlx_migrations` table and SHA-384 checksums of each file (the same ones
//! `migrate!` and `sqlx-cli` would record).
//!
//! The loop over them is ours rather than `Migrator::run`: on SQLite it runs inside the
//! caller's `BEGIN IMMEDIATE` transaction (so processes opening a new database at once migrate
//! it once), and `Migrator::run` on a borrowed connection makes the caller's future fail
//! tokio's `Send` check (sqlx's "implementation of `Acquire` is not general enough"). On
//! PostgreSQL it runs under sqlx's session advisory lock ([`Migrate::lock`],
//! `pg_advisory_lock` on a key derived from the database's name, the lock `sqlx-cli` takes
//! too), on one connection the caller opened for it; each migration is applied in a
//! transaction of its own (PostgreSQL's DDL is transactional).
//!
//! To change a schema, add `migrations/<database>/NNNN_description.sql` and a line to
//! [`SQLITE`] or [`POSTGRES`]; never edit a released file (its checksum would no longer
//! match).

use std::borrow::Cow;

use jwtx::store::StoreError;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType};
use sqlx::{PgConnection, SqliteConnection};

use crate::error::migrate_error;

/// (version, description, SQL) of every SQLite migration, in order.
pub(crate) const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "signing keys",
        include_str!("../migrations/sqlite/0002_signing_keys.sql"),
    ),
    (
        3,
        "credential generations",
        include_str!("../migrations/sqlite/0003_credential_generations.sql"),
    ),
    (
        4,
        "session ends",
        include_str!("../migrations/sqlite/0004_session_ends.sql"),
    ),
    (
        5,
        "secrets",
        include_str!("../migrations/sqlite/0005_secrets.sql"),
    ),
    (
        6,
        "pending keys",
        include_str!("../migrations/sqlite/0006_pending_keys.sql"),
    ),
    (
        7,
        "services",
        include_str!("../migrations/sqlite/0007_services.sql"),
    ),
];

/// (version, description, SQL) of every PostgreSQL migration, in order. Version 1 is the
/// whole schema SQLite reached in five; version 2 is SQLite's 6, version 3 SQLite's 7.
pub(crate) const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "pending keys",
        include_str!("../migrations/postgres/0002_pending_keys.sql"),
    ),
    (
        3,
        "services",
        include_str!("../migrations/postgres/0003_services.sql"),
    ),
];

fn migrations(list: &[(i64, &'static str, &'static str)]) -> Vec<Migration> {
    list.iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect()
}

/// Applies the embedded migrations the database lacks, on `conn` (which the caller holds in
/// a write transaction). Refuses a database that has a migration this version does not know,
/// one whose checksum differs, or one left half-applied: [`StoreError::Corrupt`].
pub(crate) async fn migrate_sqlite(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    apply_missing(conn, &migrations(SQLITE)).await
}

/// Applies the embedded migrations the database lacks, on `conn`, a connection of the
/// caller's own (not a pool's), holding the session advisory lock meanwhile, so that of
/// processes starting at once on an empty database one migrates it and the others wait, then
/// find it migrated. The lock is released afterwards, also when migrating failed (and closing
/// the connection would release it too). Refuses what [`migrate_sqlite`] refuses.
pub(crate) async fn migrate_postgres(conn: &mut PgConnection) -> Result<(), StoreError> {
    conn.lock().await.map_err(migrate_error)?;
    let migrated = apply_missing(conn, &migrations(POSTGRES)).await;
    let unlocked = conn.unlock().await.map_err(migrate_error);
    migrated.and(unlocked)
}

/// The loop both databases share: sqlx's bookkeeping table, then every embedded migration the
/// database lacks, in order, after checking those it has.
async fn apply_missing<C: Migrate + Send>(
    conn: &mut C,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    conn.ensure_migrations_table()
        .await
        .map_err(migrate_error)?;
    if let Some(v) = conn.dirty_version().await.map_err(migrate_error)? {
        return Err(migrate_error(MigrateError::Dirty(v)));
    }
    let applied = conn
        .list_applied_migrations()
        .await
        .map_err(migrate_error)?;
    for a in &applied {
        match migrations.iter().find(|m| m.version == a.version) {
            None => return Err(migrate_error(MigrateError::VersionMissing(a.version))),
            Some(m) if m.checksum != a.checksum => {
                return Err(migrate_error(MigrateError::VersionMismatch(a.version)));
            }
            Some(_) => {}
        }
    }
    for m in migrations {
        if !applied.iter().any(|a| a.version == m.version) {
            conn.apply(m).await.map_err(migrate_error)?;
            tracing::info!(
                version = m.version,
                description = %m.description,
                "applied schema migration"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/<dir>` is embedded in `list`, with the version and
    /// description its name gives (as `migrate!` would read it), in order.
    fn assert_embedded(dir: &str, list: &[(i64, &str, &str)]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
                let (v, d) = stem.split_once('_').unwrap();
                (
                    v.parse().unwrap(),
                    d.replace('_', " "),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        let embedded: Vec<(i64, String, String)> = list
            .iter()
            .map(|&(v, d, s)| (v, d.to_owned(), s.to_owned()))
            .collect();
        assert_eq!(files, embedded, "{}", dir.display());
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(!list.is_empty());
    }

    #[test]
    fn every_migration_file_is_embedded() {
        assert_embedded("sqlite", SQLITE);
        assert_embedded("postgres", POSTGRES);
    }
}
