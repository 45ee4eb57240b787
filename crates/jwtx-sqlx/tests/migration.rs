//! Migration 0004 on a database made by the 0003 schema with entries in it: every revocation
//! keeps its id, the AUTOINCREMENT counter goes on past purged ids, users get no cut-off, and
//! the log then takes kinds of later versions (which this version refuses to read). Migration
//! 0006 on a database made by the 0005 schema with keys of every status: every key kept, with
//! `activates_at` = `created_at`, and the schema then holds pending keys (one at most), in
//! their shape only.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::borrow::Cow;
use std::path::Path;

use jwtx::Algorithm;
use jwtx::store::{
    KeyStatus, KeyStore, NewSigningKey, Revocation, RevocationStore, StoreError, UserStore,
};
use jwtx_sqlx::SqliteStore;
use jwtx_test::fixtures::TempDir;
use sqlx::migrate::{Migrate, Migration, MigrationType};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, SqliteConnection};

/// The migrations a 0005 database had, applied as the store applies them (same checksums).
const UP_TO_0005: &[(i64, &str, &str)] = &[
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

async fn connect(db: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap()
}

/// A database at schema 0003, then `sql` run on it.
async fn at_0003(db: &Path, sql: &str) {
    at_version(db, 3, sql).await;
}

/// A database at schema `upto` (at most 5), then `sql` run on it.
async fn at_version(db: &Path, upto: i64, sql: &str) {
    let mut conn = connect(db).await;
    conn.ensure_migrations_table().await.unwrap();
    for &(version, description, text) in UP_TO_0005.iter().filter(|m| m.0 <= upto) {
        let m = Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            Cow::Borrowed(text),
            false,
        );
        conn.apply(&m).await.unwrap();
    }
    conn.execute(sql).await.unwrap();
    conn.close().await.unwrap();
}

async fn scalar(db: &Path, sql: &str) -> Option<i64> {
    let mut conn = connect(db).await;
    let v = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    v
}

async fn exec(db: &Path, sql: &str) -> Result<(), sqlx::Error> {
    let mut conn = connect(db).await;
    let r = conn.execute(sql).await.map(|_| ());
    conn.close().await.unwrap();
    r
}

#[tokio::test]
async fn entries_keep_their_ids_and_the_counter_goes_on() {
    let dir = TempDir::new("jwtx-migration-test");
    let db = dir.db();
    at_0003(
        &db,
        "INSERT INTO users (name, password_hash, created_at, generation) \
             VALUES ('alice', '$argon2id$x', 100, 7); \
         UPDATE counters SET value = 7 WHERE name = 'user_generation'; \
         INSERT INTO sessions (id, user_name, created_at, last_used_at, expires_at, current_jti) \
             VALUES ('s1', 'alice', 100, 100, 4000000000, 'j1'); \
         INSERT INTO revocations (kind, subject, cutoff, until) VALUES \
             ('token', 'jti-1', NULL, 4000000000), \
             ('session', 's0', NULL, 4000000001), \
             ('user', 'bob', 150, 4000000002), \
             ('token', 'purged-1', NULL, 10), \
             ('token', 'purged-2', NULL, 10); \
         DELETE FROM revocations WHERE until = 10;",
    )
    .await;
    assert_eq!(
        scalar(
            &db,
            "SELECT seq FROM sqlite_sequence WHERE name = 'revocations'"
        )
        .await,
        Some(5)
    );

    let store = SqliteStore::open(&db).await.unwrap();
    assert_eq!(
        store.revocations_since(0, 0, 100).await.unwrap(),
        vec![
            (
                1,
                Revocation::Token {
                    jti: "jti-1".into(),
                    until: 4_000_000_000
                }
            ),
            (
                2,
                Revocation::Session {
                    id: "s0".into(),
                    until: 4_000_000_001
                }
            ),
            (
                3,
                Revocation::User {
                    user: "bob".into(),
                    cutoff: 150,
                    until: 4_000_000_002,
                    except: None
                }
            ),
        ]
    );
    // Ids 4 and 5 were handed out and purged: the head is still 5, and they never come again.
    assert_eq!(store.log_position().await.unwrap().head, 5);
    let kept = Revocation::user("carol", 200, 60, Some("s9"));
    let next = store.revoke(kept.clone()).await.unwrap();
    assert_eq!(next, 6);
    // The head is the highest id ever handed out, not the highest kept.
    assert_eq!(store.log_position().await.unwrap().head, 6);
    assert_eq!(
        store.revocations_since(5, 0, 100).await.unwrap(),
        vec![(6, kept)]
    );
    // The user and their session are as they were; no cut-off.
    let alice = store.get_user("alice").await.unwrap().unwrap();
    assert_eq!(alice.generation, 7);
    assert_eq!(
        scalar(&db, "SELECT tokens_cut_at FROM users WHERE name = 'alice'").await,
        None
    );
    store.close().await;
    assert_eq!(
        scalar(&db, "SELECT MAX(version) FROM _sqlx_migrations").await,
        Some(jwtx_sqlx::SQLITE_SCHEMA_VERSION)
    );
    assert_eq!(jwtx_sqlx::SQLITE_SCHEMA_VERSION, 7);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'revocations_0003%'"
        )
        .await,
        Some(0),
        "the old table is gone"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
             AND name = 'revocations_until' AND tbl_name = 'revocations'"
        )
        .await,
        Some(1),
        "the purge index is on the new table"
    );
}

#[tokio::test]
async fn a_log_purged_empty_keeps_its_counter() {
    let dir = TempDir::new("jwtx-migration-test");
    let db = dir.db();
    at_0003(
        &db,
        "INSERT INTO revocations (kind, subject, cutoff, until) VALUES \
             ('token', 'a', NULL, 10), ('token', 'b', NULL, 10); \
         DELETE FROM revocations;",
    )
    .await;
    let store = SqliteStore::open(&db).await.unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "c".into(),
            until: 20,
        })
        .await
        .unwrap();
    assert_eq!(id, 3);
    store.close().await;

    // A database that never had an entry starts at 1.
    let fresh = TempDir::new("jwtx-migration-test");
    at_0003(&fresh.db(), "SELECT 1").await;
    let store = SqliteStore::open(fresh.db()).await.unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "c".into(),
            until: 20,
        })
        .await
        .unwrap();
    assert_eq!(id, 1);
    store.close().await;
}

/// After 0004 the log stores a kind of a later version; this version refuses to read past it
/// (Corrupt, naming the kind), so a server fails closed instead of skipping it. The rules for
/// the kinds it knows still hold.
#[tokio::test]
async fn later_kinds_are_stored_and_refused_on_reading() {
    let dir = TempDir::new("jwtx-migration-test");
    let db = dir.db();
    let store = SqliteStore::open(&db).await.unwrap();
    let first = store
        .revoke(Revocation::Token {
            jti: "j".into(),
            until: 4_000_000_000,
        })
        .await
        .unwrap();
    exec(
        &db,
        "INSERT INTO revocations (kind, subject, cutoff, until) \
         VALUES ('device', 'd-1', 5, 4000000000)",
    )
    .await
    .unwrap();
    match store.revocations_since(0, 0, 100).await {
        Err(StoreError::Corrupt { detail, .. }) => {
            assert!(
                detail.contains(r#"unknown revocation kind "device""#),
                "{detail}"
            );
        }
        other => panic!("an unknown kind must be Corrupt, got {other:?}"),
    }
    // What comes before it is still read.
    assert_eq!(store.revocations_since(0, 0, 1).await.unwrap().len(), 1);
    assert_eq!(first, 1);
    store.close().await;

    for bad in [
        "INSERT INTO revocations (kind, subject, until) VALUES ('user', 'u', 1)",
        "INSERT INTO revocations (kind, subject, cutoff, until) VALUES ('token', 'j', 1, 1)",
        "INSERT INTO revocations (kind, subject, until, except_session) \
         VALUES ('session', 's', 1, 'x')",
    ] {
        assert!(exec(&db, bad).await.is_err(), "{bad}");
    }
}

/// Keys stored by the 0005 schema (active, passive, retired; an HMAC secret under the empty
/// kid) are kept by 0006, each beginning to sign at its `created_at`; the index and CHECKs are
/// on the new table, and the old one is gone.
#[tokio::test]
async fn keys_of_every_status_are_kept_and_begin_at_their_creation() {
    let dir = TempDir::new("jwtx-migration-test");
    let db = dir.db();
    at_version(
        &db,
        5,
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, demoted_at, \
             retired_at) VALUES \
             ('', 'HS256', 'retired', NULL, 100, 200, 300), \
             ('p', 'EdDSA', 'passive', 'pem-p', 200, 400, NULL), \
             ('a', 'ES256', 'active', 'pem-a', 400, NULL, NULL);",
    )
    .await;
    let store = SqliteStore::open(&db).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    let got: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k.kid.as_str(),
                k.status,
                k.private_key.as_ref().map(|p| p.expose().to_owned()),
                k.created_at,
                k.activates_at,
                k.demoted_at,
                k.retired_at,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "a",
                KeyStatus::Active,
                Some("pem-a".into()),
                400,
                Some(400),
                None,
                None
            ),
            (
                "p",
                KeyStatus::Passive,
                Some("pem-p".into()),
                200,
                Some(200),
                Some(400),
                None
            ),
            (
                "",
                KeyStatus::Retired,
                None,
                100,
                Some(100),
                Some(200),
                Some(300)
            ),
        ]
    );
    // The store carries on: a pending key after the active one.
    let next = NewSigningKey::generate(Algorithm::EdDSA, 500).unwrap();
    store
        .add_pending(next.clone(), 600, Some("a"))
        .await
        .unwrap();
    assert_eq!(store.activate_due(600).await.unwrap(), Some(next.kid));
    store.close().await;
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'signing_keys_0005%'"
        )
        .await,
        Some(0),
        "the old table is gone"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = \
             'signing_keys' AND name IN ('signing_keys_one_active', 'signing_keys_one_pending')"
        )
        .await,
        Some(2),
        "both partial unique indexes are on the new table"
    );
}

/// After 0006 the schema refuses what no status allows: a second pending key, a pending key
/// without activates_at or private key, a demoted or retired one, an unknown status; a pending
/// key with the empty kid is a key like another.
#[tokio::test]
async fn the_schema_holds_one_pending_key_in_its_shape() {
    let dir = TempDir::new("jwtx-migration-test");
    let db = dir.db();
    SqliteStore::open(&db).await.unwrap().close().await;
    exec(
        &db,
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, activates_at) \
         VALUES ('', 'HS256', 'pending', 'ab', 1, 2)",
    )
    .await
    .unwrap();
    for bad in [
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, activates_at) \
         VALUES ('second', 'EdDSA', 'pending', 'pem', 1, 2)",
        "UPDATE signing_keys SET activates_at = NULL",
        "UPDATE signing_keys SET private_pem = NULL",
        "UPDATE signing_keys SET demoted_at = 3",
        "UPDATE signing_keys SET retired_at = 3",
        "UPDATE signing_keys SET status = 'queued'",
        "UPDATE signing_keys SET status = 'retired', retired_at = 3",
    ] {
        assert!(exec(&db, bad).await.is_err(), "{bad}");
    }
    exec(
        &db,
        "UPDATE signing_keys SET status = 'retired', private_pem = NULL, demoted_at = 3, \
         retired_at = 3",
    )
    .await
    .unwrap();
    exec(
        &db,
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, activates_at) \
         VALUES ('second', 'EdDSA', 'pending', 'pem', 1, 2)",
    )
    .await
    .unwrap();
}
