//! PgStore against the machine's PostgreSQL (127.0.0.1:5432, or `JWTX_TEST_POSTGRES_URL`;
//! see `jwtx_test::pg`): the conformance suite, first connections at once, concurrent
//! rotation and pending keys across stores, the upgrade from schema version 1, the revocation
//! log's commit order, and what the store answers when the database goes away or hangs. Every
//! test works in a fresh database of its own.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jwtx::Algorithm;
use jwtx::store::{
    KeyStatus, KeyStore, NewSigningKey, Revocation, RevocationStore, Rotation, RotationPolicy,
    SessionCreated, SessionStore, StoreError, StoredSecret, User, UserStore,
};
use jwtx_sqlx::{DatabaseUrl, LOG_APPEND_LOCK, POSTGRES_SCHEMA_VERSION, PgOptions, PgStore};
use jwtx_test::fixtures::{T0, session, unique, user};
use jwtx_test::pg::{PrivatePostgres, TestDatabase};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn connect(url: &str) -> PgStore {
    PgStore::connect(&DatabaseUrl::parse(url).unwrap(), PgOptions::default())
        .await
        .unwrap()
}

async fn raw(url: &str) -> PgConnection {
    PgConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn store_conforms() {
    let db = TestDatabase::create().await;
    let store = connect(db.url()).await;
    store.ready().await.unwrap();
    jwtx_test::all(&store).await;
    // Runs can share a database one after another.
    jwtx_test::all(&store).await;
    store.close().await;
    db.drop_now().await;
}

/// The log's epoch is the database's: the same through every connection, another for another
/// database.
#[tokio::test]
async fn the_log_epoch_belongs_to_the_database() {
    let (a, b) = (TestDatabase::create().await, TestDatabase::create().await);
    let (one, two) = (connect(a.url()).await, connect(a.url()).await);
    let other = connect(b.url()).await;
    let p = one.log_position().await.unwrap();
    assert_eq!(p.head, 0);
    assert_eq!(p.epoch.len(), 32, "{p:?}");
    assert_eq!(two.log_position().await.unwrap(), p);
    assert_ne!(other.log_position().await.unwrap().epoch, p.epoch);
    for s in [one, two, other] {
        s.close().await;
    }
    a.drop_now().await;
    b.drop_now().await;
}

/// The store's clock is the database's, close to this machine's here.
#[tokio::test]
async fn the_store_clock_is_unix_seconds() {
    let db = TestDatabase::create().await;
    let store = connect(db.url()).await;
    let now = store.now().await.unwrap();
    let here = jwtx::Clock::now(&jwtx::SystemClock);
    assert!(now.abs_diff(here) <= 5, "store {now}, system {here}");
    store.close().await;
    db.drop_now().await;
}

/// Instances starting at once on an empty database all get a working store, and the schema
/// is migrated once (under the advisory lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_first_connects_migrate_once() {
    for _ in 0..3 {
        let db = TestDatabase::create().await;
        let url = DatabaseUrl::parse(db.url()).unwrap();
        let connects: Vec<_> = (0..5)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { PgStore::connect(&url, PgOptions::default()).await })
            })
            .collect();
        let mut stores = Vec::new();
        for c in connects {
            stores.push(c.await.unwrap().unwrap());
        }
        for s in &stores {
            s.ready().await.unwrap();
        }
        let mut conn = raw(db.url()).await;
        let versions: Vec<(i64, i64, bool)> = sqlx::query_as(
            "SELECT version, count(*), bool_and(success) FROM _sqlx_migrations \
             GROUP BY version ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        // Every file of migrations/postgres, by its version (versions may skip a number).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut expected: Vec<(i64, i64, bool)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| (n[..4].parse().unwrap(), 1, true))
            .collect();
        expected.sort();
        assert_eq!(expected.last().map(|v| v.0), Some(POSTGRES_SCHEMA_VERSION));
        assert_eq!(versions, expected, "each migration applied exactly once");
        conn.close().await.unwrap();
        let u = user(&unique("first"), &[]);
        stores[0].create_user(u.clone()).await.unwrap();
        let got = stores[4].get_user(&u.name).await.unwrap().unwrap();
        assert_eq!(
            got,
            User { generation: 1, ..u },
            "the first user of a new store"
        );
        for s in &stores {
            s.close().await;
        }
        db.drop_now().await;
    }
}

/// Presents one refresh token from 20 tasks at once over three stores (three pools, as three
/// instances): exactly one rotates, the others get grace with the winner's jti.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_stores_rotate_once() {
    let db = TestDatabase::create().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(connect(db.url()).await));
    }
    for round in 0..3 {
        let u = user(&unique("racer"), &[]);
        stores[0].create_user(u.clone()).await.unwrap();
        let generation = stores[1]
            .get_user(&u.name)
            .await
            .unwrap()
            .unwrap()
            .generation;
        let s = session(&u.name, T0, T0 + 86_400);
        stores[2]
            .create_session(s.clone(), generation)
            .await
            .unwrap();
        let policy = RotationPolicy {
            now: T0 + 60,
            grace: 10,
            idle_timeout: 3600,
        };
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = Arc::clone(&stores[i % stores.len()]);
            let (sid, jti) = (s.id.clone(), s.current_jti.clone());
            tasks.push(tokio::spawn(async move {
                let new_jti = format!("new-{round}-{i}-{}", jwtx::uuid4());
                let r = store.rotate(&sid, &jti, &new_jti, policy).await.unwrap();
                (r, new_jti)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let winners: Vec<&String> = results
            .iter()
            .filter(|(r, _)| *r == Rotation::Rotated)
            .map(|(_, j)| j)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one rotation wins: {results:?}");
        let winner = winners[0].clone();
        for (r, _) in &results {
            assert!(
                *r == Rotation::Rotated
                    || *r
                        == Rotation::Grace {
                            current_jti: winner.clone()
                        },
                "every other presentation gets grace with the winner's jti: {results:?}"
            );
        }
        let got = stores[0].get_session(&s.id).await.unwrap().unwrap();
        assert_eq!(got.current_jti, winner);
        assert_eq!(got.previous, Some((s.current_jti.clone(), T0 + 60)));
        assert_eq!(got.revoked_at, None);
    }
    for s in &stores {
        s.close().await;
    }
    db.drop_now().await;
}

/// Logins racing an end of every session of their user, over three stores: each login's
/// session is either ended by the cut-off (it committed first) or starts after the cut-off
/// second (it came after, and waited: TooEarly), never live and inside the cut-off, whose
/// entry would refuse its tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_racing_an_end_of_every_session_are_ended_or_wait() {
    let db = TestDatabase::create().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(connect(db.url()).await));
    }
    let (mut created, mut early) = (0, 0);
    for _ in 0..30 {
        let u = user(&unique("racing"), &[]);
        stores[0].create_user(u.clone()).await.unwrap();
        let generation = stores[0]
            .get_user(&u.name)
            .await
            .unwrap()
            .unwrap()
            .generation;
        let now = stores[0].now().await.unwrap();
        let logins: Vec<_> = (0..4)
            .map(|i| {
                let store = Arc::clone(&stores[i % 3]);
                let s = session(&u.name, now, now + 3600);
                tokio::spawn(async move {
                    let got = store.create_session(s.clone(), generation).await.unwrap();
                    (s, got)
                })
            })
            .collect();
        let end = {
            let store = Arc::clone(&stores[2]);
            let name = u.name.clone();
            tokio::spawn(async move { store.end_user_sessions(&name, None, 900).await.unwrap() })
        };
        let ended = end.await.unwrap();
        let Revocation::User { cutoff, .. } = ended.logged.revocation else {
            panic!("{ended:?}")
        };
        for login in logins {
            let (s, got) = login.await.unwrap();
            match got {
                SessionCreated::Created { ended: None } => {
                    created += 1;
                    let stored = stores[1].get_session(&s.id).await.unwrap().unwrap();
                    assert!(
                        stored.revoked_at == Some(cutoff) || s.created_at > cutoff,
                        "a session created in the cut-off's second must have been ended by \
                         it: {stored:?}, cut-off {cutoff}"
                    );
                }
                SessionCreated::TooEarly { cutoff: c } => {
                    early += 1;
                    assert_eq!(c, cutoff);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(created + early == 120, "{created} + {early}");
    for s in &stores {
        s.close().await;
    }
    db.drop_now().await;
}

/// Instances starting at once agree on one signing key and one generated secret; key
/// rotations from several instances form one chain with one active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_starts_agree_on_one_key_and_one_secret() {
    let db = TestDatabase::create().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(connect(db.url()).await));
    }
    let tasks: Vec<_> = (0..9)
        .map(|i| {
            let store = Arc::clone(&stores[i % 3]);
            tokio::spawn(async move {
                let key = NewSigningKey::generate(Algorithm::EdDSA, T0).unwrap();
                let secret = StoredSecret::new(jwtx::uuid4());
                let (k, s) = tokio::join!(
                    store.insert_initial(key),
                    store.secret_or_insert("hmac", secret)
                );
                (k.unwrap(), s.unwrap())
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert!(got.windows(2).all(|w| w[0] == w[1]), "{got:?}");
    assert_eq!(stores[1].list_keys().await.unwrap(), vec![got[0].0.clone()]);

    let tasks: Vec<_> = (0..9u64)
        .map(|i| {
            let store = Arc::clone(&stores[(i % 3) as usize]);
            tokio::spawn(async move {
                let key = NewSigningKey::generate(Algorithm::EdDSA, T0 + 1 + i).unwrap();
                store.rotate_in(key, T0 + 100 + i).await.unwrap().unwrap()
            })
        })
        .collect();
    let mut demoted = Vec::new();
    for t in tasks {
        demoted.push(t.await.unwrap());
    }
    let keys = stores[0].list_keys().await.unwrap();
    assert_eq!(keys.len(), 10);
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == KeyStatus::Active)
            .count(),
        1,
        "{keys:?}"
    );
    let mut passive: Vec<String> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Passive)
        .map(|k| k.kid.clone())
        .collect();
    passive.sort();
    demoted.sort();
    assert_eq!(demoted, passive, "every rotation demoted the key before it");
    for s in &stores {
        s.close().await;
    }
    db.drop_now().await;
}

/// Pending keys across three instances (pools): of add_pending racing with the same expectation
/// one wins, of activate_due racing one promotes, and retire_key racing activate_due ends one
/// way or the other, never with no active key or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_keys_race_to_one_outcome_across_stores() {
    let db = TestDatabase::create().await;
    let mut stores: Vec<Arc<dyn KeyStore>> = Vec::new();
    let mut pg = Vec::new();
    for _ in 0..3 {
        let store = Arc::new(connect(db.url()).await);
        pg.push(Arc::clone(&store));
        stores.push(store);
    }
    stores[0]
        .insert_initial(NewSigningKey::generate(Algorithm::EdDSA, T0).unwrap())
        .await
        .unwrap();
    jwtx_test::key_races(&stores, 4).await;
    for s in &pg {
        s.close().await;
    }
    db.drop_now().await;
}

/// A database at schema version 1 with keys of every status (an HMAC secret under the empty
/// kid among them) is migrated to version 2 on connect: every key kept, beginning to sign at
/// its created_at; the constraints of version 1 replaced by ones that know pending keys (one
/// at most, in its shape).
#[tokio::test]
async fn a_version_1_database_keeps_its_keys_and_gains_pending_keys() {
    use sqlx::migrate::{Migrate, Migration, MigrationType};
    let db = TestDatabase::create().await;
    let mut conn = raw(db.url()).await;
    conn.ensure_migrations_table().await.unwrap();
    conn.apply(&Migration::new(
        1,
        "init".into(),
        MigrationType::Simple,
        include_str!("../migrations/postgres/0001_init.sql").into(),
        false,
    ))
    .await
    .unwrap();
    conn.execute(
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, demoted_at, \
             retired_at) VALUES \
             ('', 'HS256', 'retired', NULL, 100, 200, 300), \
             ('p', 'EdDSA', 'passive', 'pem-p', 200, 400, NULL), \
             ('a', 'ES256', 'active', 'pem-a', 400, NULL, NULL)",
    )
    .await
    .unwrap();
    let store = connect(db.url()).await;
    let got: Vec<_> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.status, k.created_at, k.activates_at, k.demoted_at))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), KeyStatus::Active, 400, Some(400), None),
            ("p".into(), KeyStatus::Passive, 200, Some(200), Some(400)),
            ("".into(), KeyStatus::Retired, 100, Some(100), Some(200)),
        ]
    );
    let next = NewSigningKey::generate(Algorithm::EdDSA, 500).unwrap();
    store
        .add_pending(next.clone(), 600, Some("a"))
        .await
        .unwrap();
    for bad in [
        "INSERT INTO signing_keys (kid, alg, status, private_pem, created_at, activates_at) \
         VALUES ('second', 'EdDSA', 'pending', 'pem', 1, 2)",
        "UPDATE signing_keys SET activates_at = NULL WHERE status = 'pending'",
        "UPDATE signing_keys SET demoted_at = 3 WHERE status = 'pending'",
        "UPDATE signing_keys SET status = 'queued' WHERE status = 'pending'",
        "UPDATE signing_keys SET private_pem = NULL WHERE status = 'pending'",
    ] {
        assert!(conn.execute(bad).await.is_err(), "{bad}");
    }
    assert_eq!(store.activate_due(600).await.unwrap(), Some(next.kid));
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = 'signing_keys'::regclass \
         AND contype = 'c' ORDER BY conname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(names, ["signing_keys_shape", "signing_keys_status"]);
    store.close().await;
    conn.close().await.unwrap();
    db.drop_now().await;
}

/// The revocation log is committed in id order. A transaction appending to the log as the
/// store does (LOG_APPEND_LOCK, then the INSERT) is held open: another append waits for it
/// instead of committing a higher id first, so a follower sees neither until it commits, and
/// then both, in id order; its cursor never moves past an entry that commits later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_is_committed_in_id_order() {
    let db = TestDatabase::create().await;
    let store = Arc::new(connect(db.url()).await);
    let marker = store
        .revoke(Revocation::Token {
            jti: unique("marker"),
            until: T0,
        })
        .await
        .unwrap();
    let cursor = marker;

    // The held writer: an append exactly as the store makes one, left uncommitted.
    let mut writer = raw(db.url()).await;
    let mut held = writer.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOG_APPEND_LOCK)
        .execute(&mut *held)
        .await
        .unwrap();
    let held_jti = unique("held");
    let held_id: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (kind, subject, until) VALUES ('token', $1, $2) RETURNING id",
    )
    .bind(&held_jti)
    .bind(i64::try_from(T0).unwrap())
    .fetch_one(&mut *held)
    .await
    .unwrap();
    let held_id = u64::try_from(held_id).unwrap();

    // Appends through the store, from other tasks: a revocation, and the end of every session
    // of a user (an append inside a larger transaction). Both must wait for the lock.
    let blocked_jti = unique("blocked");
    let revoke = {
        let store = Arc::clone(&store);
        let r = Revocation::Token {
            jti: blocked_jti.clone(),
            until: T0,
        };
        tokio::spawn(async move { store.revoke(r).await })
    };
    let ghost = unique("ghost");
    let end_all = {
        let store = Arc::clone(&store);
        let ghost = ghost.clone();
        tokio::spawn(async move { store.end_user_sessions(&ghost, None, 900).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !revoke.is_finished() && !end_all.is_finished(),
        "appends wait for the held writer's LOG_APPEND_LOCK"
    );
    assert_eq!(
        store.revocations_since(cursor, 0, 100).await.unwrap(),
        Vec::new(),
        "a follower sees neither the held entry nor one committed after it"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !revoke.is_finished() && !end_all.is_finished(),
        "still waiting 600 ms later"
    );

    held.commit().await.unwrap();
    let revoked_id = tokio::time::timeout(Duration::from_secs(10), revoke)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), end_all)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(revoked_id > held_id && ended.logged.id > held_id);

    let got = store.revocations_since(cursor, 0, 100).await.unwrap();
    let mut expected = vec![
        (
            held_id,
            Revocation::Token {
                jti: held_jti,
                until: T0,
            },
        ),
        (
            revoked_id,
            Revocation::Token {
                jti: blocked_jti,
                until: T0,
            },
        ),
        (ended.logged.id, ended.logged.revocation.clone()),
    ];
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got, expected,
        "from its cursor the follower sees every entry, in id order"
    );
    writer.close().await.unwrap();
    store.close().await;
    db.drop_now().await;
}

/// Stored data the store did not write is Corrupt, as on SQLite: a log kind of a later
/// version (never skipped), a negative time, a schema migrated by a newer jwtx or changed.
#[tokio::test]
async fn bad_stored_data_and_unknown_schemas_are_corrupt() {
    let db = TestDatabase::create().await;
    let store = connect(db.url()).await;
    let u = user(&unique("tampered"), &[]);
    store.create_user(u.clone()).await.unwrap();
    let generation = store.get_user(&u.name).await.unwrap().unwrap().generation;
    let s = session(&u.name, T0, T0 + 86_400);
    store.create_session(s.clone(), generation).await.unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "j".into(),
            until: T0 + 10,
        })
        .await
        .unwrap();
    let mut conn = raw(db.url()).await;
    conn.execute(
        "UPDATE sessions SET expires_at = -5; UPDATE users SET created_at = -1; \
         INSERT INTO revocations (kind, subject, until) VALUES ('device', 'd1', 1)",
    )
    .await
    .unwrap();
    assert!(matches!(
        store.get_session(&s.id).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.get_user(&u.name).await,
        Err(StoreError::Corrupt { .. })
    ));
    match store.revocations_since(id, 0, 10).await {
        Err(StoreError::Corrupt { detail, .. }) => {
            assert!(
                detail.contains("unknown revocation kind \"device\""),
                "{detail}"
            );
        }
        other => panic!("an unknown kind must be Corrupt, got {other:?}"),
    }
    // The schema keeps a known kind's columns consistent.
    assert!(
        conn.execute("UPDATE revocations SET kind = 'user' WHERE subject = 'j'")
            .await
            .is_err()
    );
    store.close().await;

    let url = DatabaseUrl::parse(db.url()).unwrap();
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .await
    .unwrap();
    let err = PgStore::connect(&url, PgOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("9999"), "{err}");
    conn.execute(
        "DELETE FROM _sqlx_migrations WHERE version = 9999; \
         UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1",
    )
    .await
    .unwrap();
    let err = PgStore::connect(&url, PgOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("differs"), "{err}");
    conn.close().await.unwrap();
    db.drop_now().await;
}

/// A URL's password shows neither in the store's Debug nor in the URL's Display, nor in the
/// error of a connection that fails.
#[tokio::test]
async fn passwords_never_show() {
    let db = TestDatabase::create().await;
    // The machine's server trusts local connections: the password is not checked.
    let mut with_password = url::Url::parse(db.url()).unwrap();
    with_password.set_password(Some("hunter2")).unwrap();
    let url = DatabaseUrl::parse(with_password.as_str()).unwrap();
    assert!(url.expose().contains("hunter2"));
    for shown in [url.to_string(), format!("{url:?}")] {
        assert!(
            !shown.contains("hunter2") && shown.contains("***"),
            "{shown}"
        );
    }
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    store.ping().await.unwrap();
    let debug = format!("{store:?}");
    assert!(
        !debug.contains("hunter2") && debug.contains(":***@"),
        "{debug}"
    );
    store.close().await;
    let nowhere = DatabaseUrl::parse("postgres://app:hunter2@127.0.0.1:1/jwtx").unwrap();
    let err = PgStore::connect(&nowhere, PgOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let chain: Vec<String> =
        std::iter::successors(Some(&err as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .map(ToString::to_string)
        .collect();
    assert!(
        !format!("{err:?} {chain:?}").contains("hunter2"),
        "{err:?} {chain:?}"
    );
    db.drop_now().await;
}

/// Runs `op` and checks it fails with Unavailable within `within`.
async fn unavailable_within<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    op: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let got = tokio::time::timeout(within + Duration::from_secs(5), op)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"));
    let took = started.elapsed();
    assert!(
        matches!(got, Err(StoreError::Unavailable { .. })),
        "{what} must be Unavailable, got {got:?}"
    );
    assert!(took < within, "{what} took {took:?}");
}

/// The database goes away (its server stopped): every operation fails with Unavailable within
/// seconds, so does connecting; when the server is back, the same store works again, with
/// what it wrote before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_unavailable_then_back() {
    let mut pg = PrivatePostgres::start();
    let db = TestDatabase::create_on(&pg.url()).await;
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let u = user(&unique("survivor"), &["admin"]);
    store.create_user(u.clone()).await.unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "before".into(),
            until: T0,
        })
        .await
        .unwrap();

    tokio::task::block_in_place(|| pg.stop());
    let within = Duration::from_secs(10);
    unavailable_within("ping", within, store.ping()).await;
    unavailable_within("get_user", within, store.get_user(&u.name)).await;
    unavailable_within(
        "revoke",
        within,
        store.revoke(Revocation::Token {
            jti: "during".into(),
            until: T0,
        }),
    )
    .await;
    unavailable_within("now", within, store.now()).await;
    unavailable_within(
        "connect",
        within,
        PgStore::connect(&url, PgOptions::default()),
    )
    .await;

    tokio::task::block_in_place(|| pg.start_again());
    store.ready().await.unwrap();
    let got = store.get_user(&u.name).await.unwrap().unwrap();
    assert_eq!(got.roles, u.roles);
    assert_eq!(
        store.revocations_since(id - 1, 0, 10).await.unwrap(),
        vec![(
            id,
            Revocation::Token {
                jti: "before".into(),
                until: T0
            }
        )]
    );
    store.close().await;
    db.drop_now().await;
}

/// A TCP relay to `upstream` that can be frozen: it then stops passing bytes either way,
/// like a server that hangs or a network that drops everything, without closing connections.
async fn freezable_relay(upstream: u16, frozen: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pass(cr, sw, Arc::clone(&frozen)));
            tokio::spawn(pass(sr, cw, Arc::clone(&frozen)));
        }
    });
    port
}

async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A database that stops answering without closing anything (no statement timeout can end
/// that on the server): an operation caught mid-statement fails with Unavailable at the
/// store's deadline (acquire timeout + 10 s), one that needs a connection at the acquire
/// timeout, and connecting fails within the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_is_unavailable_not_a_hang() {
    let db = TestDatabase::create().await;
    let direct = url::Url::parse(db.url()).unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let port = freezable_relay(direct.port().unwrap_or(5432), Arc::clone(&frozen)).await;
    let mut relayed = direct.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(port)).unwrap();
    let url = DatabaseUrl::parse(relayed.as_str()).unwrap();
    let options = PgOptions {
        acquire_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let store = Arc::new(PgStore::connect(&url, options.clone()).await.unwrap());
    let u = user(&unique("hung"), &[]);
    store.create_user(u.clone()).await.unwrap();
    let generation = store.get_user(&u.name).await.unwrap().unwrap().generation;
    let s = session(&u.name, T0, T0 + 86_400);
    store.create_session(s.clone(), generation).await.unwrap();

    // A rotation waits (on the server) for the session's row, which another connection holds;
    // then the database stops answering.
    let mut holder = raw(db.url()).await;
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE")
        .bind(&s.id)
        .execute(&mut *held)
        .await
        .unwrap();
    let started = Instant::now();
    let rotation = {
        let store = Arc::clone(&store);
        let (sid, jti) = (s.id.clone(), s.current_jti.clone());
        let policy = RotationPolicy {
            now: T0 + 1,
            grace: 10,
            idle_timeout: 3600,
        };
        tokio::spawn(async move { store.rotate(&sid, &jti, "next", policy).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!rotation.is_finished(), "the rotation waits for the row");
    frozen.store(true, Ordering::SeqCst);

    unavailable_within("get_user", Duration::from_secs(3), store.get_user(&u.name)).await;
    unavailable_within(
        "connect",
        options.connect_timeout + Duration::from_secs(2),
        PgStore::connect(&url, options.clone()),
    )
    .await;
    let rotated = tokio::time::timeout(Duration::from_secs(20), rotation)
        .await
        .expect("the rotation hung")
        .unwrap();
    let took = started.elapsed();
    match rotated {
        Err(StoreError::Unavailable { detail, .. }) => {
            assert!(detail.contains("did not answer within"), "{detail}");
        }
        other => panic!("a rotation cut off mid-statement must be Unavailable, got {other:?}"),
    }
    // The deadline: acquire timeout (1 s) + 10 s.
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(13),
        "{took:?}"
    );

    frozen.store(false, Ordering::SeqCst);
    held.rollback().await.unwrap();
    holder.close().await.unwrap();
    store.ready().await.unwrap();
    store.close().await;
    db.drop_now().await;
}
