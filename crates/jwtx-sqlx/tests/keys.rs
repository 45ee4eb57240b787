//! SqliteStore's signing keys beyond the conformance suite: concurrent rotations, pending keys
//! and first starts across stores on one file, durability, the upgrade from schema version 1,
//! and what the schema refuses.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use jwtx::store::{KeyStatus, KeyStore, NewSigningKey, StoreError, UserStore};
use jwtx::{Algorithm, Codec, NoClaims};
use jwtx_sqlx::SqliteStore;
use jwtx_test::fixtures::{T0, TempDir, unique, user};

/// A fresh directory for one test's database, removed on drop.
fn temp_dir() -> TempDir {
    TempDir::new("jwtx-sqlx-keys")
}

fn new_key(created_at: u64) -> NewSigningKey {
    NewSigningKey::generate(Algorithm::EdDSA, created_at).unwrap()
}

async fn raw_exec(db: &Path, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::{ConnectOptions, Connection, Executor};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await?;
    let r = conn.execute(sql).await.map(|_| ());
    conn.close().await?;
    r
}

/// Two stores on one file stand for two processes (e.g. `jwtx keys rotate` run twice at
/// once): every rotation lands, one after another, and exactly one key ends up active.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_two_stores_leave_one_active_key() {
    let dir = temp_dir();
    let a = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let b = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let initial = a.insert_initial(new_key(T0)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12u64 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let key = new_key(T0 + 1 + i);
            let kid = key.kid.clone();
            let demoted = store.rotate_in(key, T0 + 100 + i).await.unwrap();
            (kid, demoted.unwrap())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let keys = a.list_keys().await.unwrap();
    assert_eq!(keys.len(), 13);
    let active: Vec<_> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == KeyStatus::Passive)
            .count(),
        12
    );
    // The rotations form one chain: every key but the last active one was demoted exactly
    // once, the initial key first.
    let mut demoted: Vec<String> = results.iter().map(|(_, d)| d.clone()).collect();
    demoted.sort();
    let mut expected: Vec<String> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Passive)
        .map(|k| k.kid.clone())
        .collect();
    expected.sort();
    assert_eq!(demoted, expected);
    assert!(demoted.contains(&initial.kid));
    assert_eq!(b.active_key().await.unwrap().as_ref(), Some(active[0]));
}

/// Two stores on one file stand for two processes (servers scheduling the next key, and
/// promoting it when due): of add_pending racing with the same expectation one wins, of
/// activate_due racing one promotes, and retire_key racing activate_due ends one way or the
/// other, never with no active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_keys_race_to_one_outcome_across_two_stores() {
    let dir = temp_dir();
    let a = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let b = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    a.insert_initial(new_key(T0)).await.unwrap();
    let stores: [Arc<dyn KeyStore>; 2] = [a.clone(), b.clone()];
    jwtx_test::key_races(&stores, 4).await;
    a.close().await;
    b.close().await;
}

/// Servers starting at once on an empty store agree on one generated key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_first_starts_agree_on_one_key() {
    for _ in 0..5 {
        let dir = temp_dir();
        let a = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
        let b = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { store.insert_initial(new_key(T0)).await.unwrap() })
            })
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        assert!(got.windows(2).all(|w| w[0] == w[1]), "{got:?}");
        assert_eq!(a.list_keys().await.unwrap(), vec![got[0].clone()]);
    }
}

/// Keys survive reopening exactly; a key read back verifies what it signed before.
#[tokio::test]
async fn keys_survive_reopening_and_still_verify() {
    let dir = temp_dir();
    let (old_token, old_kid) = {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        let first = store
            .insert_initial(NewSigningKey::generate(Algorithm::ES256, T0).unwrap())
            .await
            .unwrap();
        let token = Codec::new(first.key().unwrap())
            .access_token("alice")
            .sign()
            .unwrap()
            .token;
        store.rotate_in(new_key(T0 + 1), T0 + 2).await.unwrap();
        drop(store);
        (token, first.kid)
    };
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    let old = keys.iter().find(|k| k.kid == old_kid).unwrap();
    assert_eq!(old.status, KeyStatus::Passive);
    assert_eq!(old.alg, "ES256");
    let key = old.key().unwrap();
    assert_eq!(key.kid(), Some(old_kid.as_str()));
    let verified = Codec::new(key).verify::<NoClaims>(&old_token).unwrap();
    assert_eq!(verified.sub(), "alice");
    store.close().await;
}

/// A database at schema version 1 (before signing keys) is migrated on open, its data kept.
#[tokio::test]
async fn a_version_1_database_gains_the_signing_keys_table() {
    let dir = temp_dir();
    let mut u = user(&unique("before-keys"), &["admin"]);
    {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        store.create_user(u.clone()).await.unwrap();
        u.generation = store.get_user(&u.name).await.unwrap().unwrap().generation;
        store.close().await;
    }
    // Back to version 1: as a jwtx from before this migration left it (the table's later
    // migration, 6, goes with it).
    raw_exec(
        &dir.db(),
        "DROP TABLE signing_keys; DELETE FROM _sqlx_migrations WHERE version IN (2, 6)",
    )
    .await
    .unwrap();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    store.ready().await.unwrap();
    assert_eq!(store.get_user(&u.name).await.unwrap(), Some(u));
    assert_eq!(store.active_key().await.unwrap(), None);
    store.insert_initial(new_key(T0)).await.unwrap();
    store.close().await;
}

/// A database at schema version 2 (before credential generations) is migrated on open: its
/// users get distinct generations, and users created later get new ones.
#[tokio::test]
async fn a_version_2_database_gains_credential_generations() {
    let dir = temp_dir();
    let names: Vec<String> = (0..3).map(|_| unique("before-generations")).collect();
    {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        for name in &names {
            store.create_user(user(name, &[])).await.unwrap();
        }
        store.close().await;
    }
    // Back to version 2: as a jwtx from before this migration left it.
    raw_exec(
        &dir.db(),
        "DROP TABLE counters; ALTER TABLE users DROP COLUMN generation; \
         ALTER TABLE users DROP COLUMN demo; DELETE FROM _sqlx_migrations WHERE version = 3",
    )
    .await
    .unwrap();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let mut seen = Vec::new();
    for name in &names {
        let u = store.get_user(name).await.unwrap().unwrap();
        assert!(u.generation != 0 && !seen.contains(&u.generation), "{u:?}");
        assert!(!u.demo);
        seen.push(u.generation);
    }
    let later = unique("after-generations");
    store.create_user(user(&later, &[])).await.unwrap();
    let g = store.get_user(&later).await.unwrap().unwrap().generation;
    assert!(seen.iter().all(|s| g > *s), "{g} after {seen:?}");
    store.close().await;
}

/// The schema allows one active key whatever writes it, and bad rows read as Corrupt.
#[tokio::test]
async fn the_schema_refuses_a_second_active_key_and_bad_rows_are_corrupt() {
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let first = store.insert_initial(new_key(T0)).await.unwrap();
    store.close().await;
    drop(store);
    let second = raw_exec(
        &dir.db(),
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at) \
         VALUES ('other', 'EdDSA', 'active', 'pem', 1)",
    )
    .await;
    assert!(second.is_err(), "a second active key is refused");
    let no_pem = raw_exec(
        &dir.db(),
        "INSERT INTO signing_keys (kid, alg, status, created_at, demoted_at) \
         VALUES ('other', 'EdDSA', 'passive', 1, 2)",
    )
    .await;
    assert!(
        no_pem.is_err(),
        "a passive key without its private key is refused"
    );
    raw_exec(&dir.db(), "UPDATE signing_keys SET created_at = -1")
        .await
        .unwrap();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    assert!(matches!(
        store.list_keys().await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.active_key().await,
        Err(StoreError::Corrupt { .. })
    ));
    // A duplicate kid is a Conflict, and the failed rotation demoted nothing.
    raw_exec(&dir.db(), "UPDATE signing_keys SET created_at = 1")
        .await
        .unwrap();
    let mut dup = new_key(T0);
    dup.kid.clone_from(&first.kid);
    assert!(matches!(
        store.rotate_in(dup, T0 + 1).await,
        Err(StoreError::Conflict { .. })
    ));
    let active = store.active_key().await.unwrap().unwrap();
    assert_eq!(active.kid, first.kid);
    assert_eq!(active.status, KeyStatus::Active);
    store.close().await;
}
