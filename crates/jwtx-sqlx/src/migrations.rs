//! The schema migrations, embedded in the binary.
//!
//! sqlx's `migrate!` macro needs its `macros` feature, which this workspace leaves off (no
//! compile-time database access). The SQL files under `migrations/sqlite/` are embedded with
//! `include_str!` instead, turned into sqlx [`Migration`]s, and applied through sqlx's
//! [`Migrate`] implementation, so the bookkeeping is sqlx's: the `_sqlx_migrations` table and
//! SHA-384 checksums of each file (the same ones `migrate!` and `sqlx-cli` would record).
//!
//! The loop over them is ours rather than `Migrator::run`: it runs inside the caller's
//! `BEGIN IMMEDIATE` transaction (so processes opening a new database at once migrate it
//! once), and `Migrator::run` on a borrowed connection makes the caller's future fail
//! tokio's `Send` check (sqlx's "implementation of `Acquire` is not general enough").
//!
//! To change the schema, add `migrations/sqlite/NNNN_description.sql` and a line to
//! [`SQLITE`]; never edit a released file (its checksum would no longer match).

use std::borrow::Cow;

use jwtx::store::StoreError;
use sqlx::SqliteConnection;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType};

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
];

fn sqlite_migrations() -> Vec<Migration> {
    SQLITE
        .iter()
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
    let migrations = sqlite_migrations();
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
    for m in &migrations {
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

    /// Every file in migrations/sqlite is embedded, with the version and description its name
    /// gives (as `migrate!` would read it), in order.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
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
        let embedded: Vec<(i64, String, String)> = SQLITE
            .iter()
            .map(|&(v, d, s)| (v, d.to_owned(), s.to_owned()))
            .collect();
        assert_eq!(files, embedded);
        assert!(SQLITE.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
