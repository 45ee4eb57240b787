//! What ending every session of a user costs on a SQLite file store (WAL, synchronous=FULL),
//! for a user with 20,000 live sessions: `end_user_sessions` (one transaction, one entry)
//! against the way it was done before (one UPDATE, then one `revoke` per session, each its
//! own commit). A measurement, not a check; ignored by default:
//!
//! ```sh
//! cargo test --release -p jwtx-sqlx --test end_cost -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::time::Instant;

use jwtx::store::{Revocation, RevocationStore, SessionStore, UserStore};
use jwtx_sqlx::SqliteStore;
use jwtx_test::fixtures::{TempDir, unique, user};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite};

const SESSIONS: u64 = 20_000;

/// A store at `dir` with a user holding `SESSIONS` live sessions (inserted in bulk, not
/// through `create_session`, which commits once per login); the user's name.
async fn user_with_sessions(dir: &TempDir) -> (SqliteStore, String) {
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let name = unique("busy");
    store.create_user(user(&name, &[])).await.unwrap();
    let now = store.now().await.unwrap();
    let (created, expires) = (
        i64::try_from(now - 60).unwrap(),
        i64::try_from(now + 86_400).unwrap(),
    );
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.db())
        .connect()
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    for chunk in (0..SESSIONS).collect::<Vec<_>>().chunks(500) {
        let mut q: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO sessions (id, user_name, created_at, last_used_at, expires_at, \
             current_jti) ",
        );
        q.push_values(chunk, |mut row, _| {
            row.push_bind(jwtx::uuid4())
                .push_bind(&name)
                .push_bind(created)
                .push_bind(created)
                .push_bind(expires)
                .push_bind(jwtx::uuid4());
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
    (store, name)
}

#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn ending_20000_sessions() {
    let dir = TempDir::new("jwtx-end-cost");
    let (store, name) = user_with_sessions(&dir).await;
    let start = Instant::now();
    let ended = store.end_user_sessions(&name, None, 900).await.unwrap();
    let took = start.elapsed();
    assert_eq!(ended.sessions, SESSIONS);
    println!(
        "end_user_sessions: {SESSIONS} sessions ended, 1 log entry, in {took:.2?} \
         (one transaction)"
    );
    store.close().await;

    // The former way: the sessions revoked in one transaction (revoke_user_sessions), then
    // one entry per session and a cut-off, each its own commit.
    let dir = TempDir::new("jwtx-end-cost");
    let (store, name) = user_with_sessions(&dir).await;
    let start = Instant::now();
    let now = store.now().await.unwrap();
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.db())
        .connect()
        .await
        .unwrap();
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE user_name = ?2 AND revoked_at IS NULL AND expires_at > ?1 RETURNING id",
    )
    .bind(i64::try_from(now).unwrap())
    .bind(&name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let updated = start.elapsed();
    for id in &ids {
        let entry = Revocation::Session {
            id: id.clone(),
            until: now + 86_400,
        };
        store.revoke(entry).await.unwrap();
    }
    store
        .revoke(Revocation::user(&name, now, 900, None))
        .await
        .unwrap();
    let took = start.elapsed();
    println!(
        "former way: {} sessions in {took:.2?} (the UPDATE {updated:.2?}, then {} commits)",
        ids.len(),
        ids.len() + 1
    );
    store.close().await;
}
