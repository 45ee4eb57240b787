//! SqliteStore: the conformance suite, concurrent rotation, durability across reopening, and
//! what happens with files it cannot use.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jwtx::store::{
    Ended, Revocation, RevocationStore, Rotation, RotationPolicy, SessionCreated, SessionStore,
    StoreError, User, UserStore,
};
use jwtx_sqlx::SqliteStore;
use jwtx_test::fixtures::{T0, TempDir, session, unique, user};

/// A fresh directory for one test's database, removed on drop.
fn temp_dir() -> TempDir {
    TempDir::new("jwtx-sqlx-test")
}

#[tokio::test]
async fn file_store_conforms() {
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    jwtx_test::all(&store).await;
    // Runs can share a database one after another.
    jwtx_test::all(&store).await;
    store.close().await;
}

#[tokio::test]
async fn in_memory_store_conforms() {
    let store = SqliteStore::in_memory().await.unwrap();
    jwtx_test::all(&store).await;
    assert_eq!(store.path(), None);
}

/// Keys sealed under a key-encryption key keep the key-store contract on SQLite.
#[tokio::test]
async fn sealed_keys_conform() {
    use jwtx::store::sealed::{KeyEncryptionKey, SealedKeys};
    let store = SqliteStore::in_memory().await.unwrap();
    let kek = KeyEncryptionKey::from_hex(&jwtx::secret_hex::<32>()).unwrap();
    jwtx_test::keys(&SealedKeys::new(Arc::new(store), kek)).await;
}

#[tokio::test]
async fn in_memory_stores_are_separate() {
    let a = SqliteStore::in_memory().await.unwrap();
    let b = SqliteStore::in_memory().await.unwrap();
    a.create_user(user("same", &[])).await.unwrap();
    b.create_user(user("same", &[])).await.unwrap();
}

/// The credential generation the store gave `name`.
async fn generation(store: &SqliteStore, name: &str) -> u64 {
    store.get_user(name).await.unwrap().unwrap().generation
}

/// The store's clock is the database's, close to this machine's here.
#[tokio::test]
async fn the_store_clock_is_unix_seconds() {
    let store = SqliteStore::in_memory().await.unwrap();
    let now = store.now().await.unwrap();
    let here = jwtx::Clock::now(&jwtx::SystemClock);
    assert!(now.abs_diff(here) <= 5, "store {now}, system {here}");
}

/// Creates a user and one session; returns the session id and its current jti.
async fn one_session(store: &SqliteStore) -> (String, String) {
    let u = user(&unique("racer"), &[]);
    store.create_user(u.clone()).await.unwrap();
    let s = session(&u.name, T0, T0 + 86_400);
    store
        .create_session(s.clone(), generation(store, &u.name).await)
        .await
        .unwrap();
    (s.id, s.current_jti)
}

/// Presents `jti` of `sid` from 20 tasks at once, spread over `stores`; checks that exactly
/// one rotated, the others got grace with the winner's new jti, and the session expects it.
async fn race(stores: &[Arc<SqliteStore>], sid: &str, jti: &str) {
    let policy = RotationPolicy {
        now: T0 + 60,
        grace: 10,
        idle_timeout: 3600,
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&stores[i % stores.len()]);
        let (sid, jti) = (sid.to_owned(), jti.to_owned());
        tasks.push(tokio::spawn(async move {
            let new_jti = format!("new-{i}-{}", jwtx::uuid4());
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
    let s = stores[0].get_session(sid).await.unwrap().unwrap();
    assert_eq!(s.current_jti, winner);
    assert_eq!(s.previous, Some((jti.to_owned(), T0 + 60)));
    assert_eq!(s.revoked_at, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_token_rotate_once() {
    let dir = temp_dir();
    let store = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let (sid, jti) = one_session(&store).await;
    race(&[store], &sid, &jti).await;
}

/// Two stores on one file stand for two processes (separate pools, separate connections):
/// the write lock still lets exactly one rotation through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_two_stores_on_one_file_rotate_once() {
    let dir = temp_dir();
    let a = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let b = Arc::new(SqliteStore::open(dir.db()).await.unwrap());
    let (sid, jti) = one_session(&a).await;
    race(&[a, b], &sid, &jti).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_in_memory_rotate_once() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let (sid, jti) = one_session(&store).await;
    race(&[store], &sid, &jti).await;
}

#[tokio::test]
async fn writes_survive_reopening() {
    let dir = temp_dir();
    let u = user(&unique("durable"), &["admin", "user"]);
    let s = session(&u.name, T0, T0 + 86_400);
    let r = Revocation::User {
        user: u.name.clone(),
        cutoff: T0,
        until: T0 + 900,
        except: None,
    };
    let id = {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        store.create_user(u.clone()).await.unwrap();
        store
            .create_session(s.clone(), generation(&store, &u.name).await)
            .await
            .unwrap();
        let id = store.revoke(r.clone()).await.unwrap();
        // Dropped without close(): what was acknowledged is already on disk.
        drop(store);
        id
    };
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let got = store.get_user(&u.name).await.unwrap().unwrap();
    assert_ne!(got.generation, 0);
    assert_eq!(
        got,
        User {
            generation: got.generation,
            ..u.clone()
        }
    );
    assert_eq!(store.get_session(&s.id).await.unwrap(), Some(s));
    assert_eq!(
        store.revocations_since(0, T0, 100).await.unwrap(),
        vec![(id, r)]
    );
    // The log goes on from where it was.
    let next = store
        .revoke(Revocation::Token {
            jti: "j".into(),
            until: T0,
        })
        .await
        .unwrap();
    assert!(next > id);
    store.close().await;
}

/// A user's cut-off is kept with the user: after reopening, a login in its second still waits,
/// and the one entry for every session is in the log, with the session it spares.
#[tokio::test]
async fn a_cutoff_survives_reopening() {
    let dir = temp_dir();
    let u = user(&unique("cut"), &[]);
    let (cutoff, logged, kept) = {
        let store = SqliteStore::open(dir.db()).await.unwrap();
        store.create_user(u.clone()).await.unwrap();
        let now = store.now().await.unwrap();
        let kept = session(&u.name, now - 10, now + 3600);
        let ended = session(&u.name, now - 10, now + 3600);
        for s in [&kept, &ended] {
            let created = store
                .create_session(s.clone(), generation(&store, &u.name).await)
                .await
                .unwrap();
            assert_eq!(created, SessionCreated::Created { ended: None });
        }
        let Ended { sessions, logged } = store
            .end_user_sessions(&u.name, Some(&kept.id), 900)
            .await
            .unwrap();
        assert_eq!(sessions, 1);
        let Revocation::User { cutoff, .. } = logged.revocation else {
            panic!("{logged:?}")
        };
        store.close().await;
        (cutoff, logged, kept)
    };
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let g = generation(&store, &u.name).await;
    assert_eq!(
        store
            .create_session(session(&u.name, cutoff, cutoff + 60), g)
            .await
            .unwrap(),
        SessionCreated::TooEarly { cutoff }
    );
    assert_eq!(
        store
            .create_session(session(&u.name, cutoff + 1, cutoff + 60), g)
            .await
            .unwrap(),
        SessionCreated::Created { ended: None }
    );
    assert_eq!(
        store.revocations_since(logged.id - 1, 0, 10).await.unwrap(),
        vec![(
            logged.id,
            Revocation::user(&u.name, cutoff, 900, Some(&kept.id))
        )]
    );
    store.close().await;
}

#[tokio::test]
async fn pragmas_are_durable_settings() {
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    store.ready().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.path(), Some(dir.db().as_path()));
    assert!(dir.path().join("jwtx.db-wal").exists(), "WAL journal mode");
    let debug = format!("{store:?}");
    assert!(debug.contains("jwtx.db"), "{debug}");
    store.close().await;
    assert!(matches!(
        store.ready().await,
        Err(StoreError::Unavailable { .. })
    ));
    assert!(matches!(
        store.get_user("x").await,
        Err(StoreError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_missing_directory_is_unavailable() {
    let dir = temp_dir();
    let err = SqliteStore::open(dir.path().join("no/such/dir/jwtx.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = temp_dir();
    std::fs::write(dir.db(), vec![b'x'; 8192]).unwrap();
    let err = SqliteStore::open(dir.db()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

/// A database migrated by a newer jwtx (a migration this version does not know) is refused.
#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    store.close().await;
    drop(store);
    raw_exec(
        &dir.db(),
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .await;
    let err = SqliteStore::open(dir.db()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("9999"), "{err}");
}

/// Data the store did not write is reported as Corrupt, not as a panic or a wrong value.
#[tokio::test]
async fn bad_stored_values_are_corrupt() {
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let u = user(&unique("tampered"), &[]);
    store.create_user(u.clone()).await.unwrap();
    let s = session(&u.name, T0, T0 + 86_400);
    store
        .create_session(s.clone(), generation(&store, &u.name).await)
        .await
        .unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "j".into(),
            until: T0 + 10,
        })
        .await
        .unwrap();
    store.close().await;
    drop(store);
    raw_exec(
        &dir.db(),
        "UPDATE sessions SET expires_at = -5; UPDATE users SET created_at = 'yesterday'",
    )
    .await;
    let store = SqliteStore::open(dir.db()).await.unwrap();
    assert!(matches!(
        store.get_session(&s.id).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.get_user(&u.name).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.list_users().await,
        Err(StoreError::Corrupt { .. })
    ));
    // The schema's CHECKs keep a revocation's kind and cutoff consistent.
    store.close().await;
    drop(store);
    let err = raw_exec_result(
        &dir.db(),
        "UPDATE revocations SET kind = 'user' WHERE id = 1",
    )
    .await;
    assert!(
        err.is_err(),
        "a user revocation without a cutoff is rejected"
    );
    raw_exec(&dir.db(), "UPDATE revocations SET until = 'never'").await;
    let store = SqliteStore::open(dir.db()).await.unwrap();
    assert!(matches!(
        store.revocations_since(id - 1, 0, 10).await,
        Err(StoreError::Corrupt { .. })
    ));
}

/// A session needs its user (foreign key): Conflict, not a crash or a dangling row.
#[tokio::test]
async fn a_session_for_an_unknown_user_is_a_conflict() {
    let store = SqliteStore::in_memory().await.unwrap();
    let err = store
        .create_session(session(&unique("ghost"), T0, T0 + 1), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}

/// Times past i64::MAX cannot be stored exactly; they saturate (a date that far is "never").
#[tokio::test]
async fn huge_times_saturate() {
    let store = SqliteStore::in_memory().await.unwrap();
    let id = store
        .revoke(Revocation::Token {
            jti: "far".into(),
            until: u64::MAX,
        })
        .await
        .unwrap();
    let got = store.revocations_since(0, u64::MAX, 10).await.unwrap();
    assert_eq!(
        got,
        vec![(
            id,
            Revocation::Token {
                jti: "far".into(),
                until: i64::MAX as u64
            }
        )]
    );
    assert!(
        store
            .revocations_since(u64::MAX, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn raw_exec(db: &Path, sql: &str) {
    raw_exec_result(db, sql).await.unwrap();
}

async fn raw_exec_result(db: &Path, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::{ConnectOptions, Connection, Executor};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await?;
    let r = conn.execute(sql).await.map(|_| ());
    conn.close().await?;
    r
}

/// Processes starting at once on a new file (the server and an admin command on first
/// start) both get a working store: migrations run under the write lock, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_first_opens_of_a_new_file() {
    for _ in 0..10 {
        let dir = temp_dir();
        let opens: Vec<_> = (0..4)
            .map(|_| tokio::spawn(SqliteStore::open(dir.db())))
            .collect();
        let mut stores = Vec::new();
        for o in opens {
            stores.push(o.await.unwrap().unwrap());
        }
        for s in &stores {
            s.ready().await.unwrap();
        }
        let u = user(&unique("first"), &[]);
        stores[0].create_user(u.clone()).await.unwrap();
        let got = stores[3].get_user(&u.name).await.unwrap().unwrap();
        assert_eq!(got.generation, 1, "the first user of a new store");
        assert_eq!(got, User { generation: 1, ..u });
    }
}

/// Set (to a database path) when this test binary runs as the child of
/// `acknowledged_writes_survive_sigkill`.
const CHILD_DB: &str = "JWTX_SQLX_TEST_CHILD_DB";

/// The child half of `acknowledged_writes_survive_sigkill`: writes, reports each
/// acknowledged write on stdout, then waits to be killed. Does nothing in a normal run.
#[tokio::test]
async fn sigkill_child_writer() {
    use std::io::Write;
    let Some(db) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = SqliteStore::open(PathBuf::from(db)).await.unwrap();
    let u = user("killed-mid-run", &["admin"]);
    store.create_user(u).await.unwrap();
    for i in 0..50u64 {
        let id = store
            .revoke(Revocation::Token {
                jti: format!("jti-{i}"),
                until: T0 + i,
            })
            .await
            .unwrap();
        // On its own line: libtest may have printed the test's name without a newline.
        println!("\nACK {id}");
        std::io::stdout().flush().unwrap();
    }
    println!("\nDONE");
    std::io::stdout().flush().unwrap();
    // Wait to be killed, but never outlive a parent that failed to kill us by long.
    std::thread::sleep(std::time::Duration::from_secs(30));
}

/// A write acknowledged (its future resolved Ok) survives the process being SIGKILLed.
#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, dir.db())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.parse::<u64>().unwrap());
        } else if line == "DONE" {
            break;
        }
    }
    assert_eq!(acked.len(), 50, "the child acknowledged every write");
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let store = SqliteStore::open(dir.db()).await.unwrap();
    let got: Vec<u64> = store
        .revocations_since(0, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        got, acked,
        "every acknowledged revocation is there after SIGKILL"
    );
    assert!(store.get_user("killed-mid-run").await.unwrap().is_some());
    store.close().await;
}

/// The log's epoch is the file's: kept across reopening (and so by a copy of the file, a
/// backup), another for another file; the head survives a purge and a reopening. Services are
/// durable, and a credential's digest finds its service after reopening.
#[tokio::test]
async fn the_log_position_and_the_services_belong_to_the_file() {
    use jwtx::store::{Service, ServiceCredential, ServiceStore};
    let dir = temp_dir();
    let store = SqliteStore::open(dir.db()).await.unwrap();
    let first = store.log_position().await.unwrap();
    assert_eq!(first.head, 0);
    assert_eq!(first.epoch.len(), 32, "{first:?}");
    let id = store
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: T0,
        })
        .await
        .unwrap();
    assert_eq!(store.purge_revocations(T0 + 1).await.unwrap(), 1);
    let credential = ServiceCredential::generate();
    let service = Service {
        name: "billing".into(),
        digest: credential.digest(),
        created_at: T0,
    };
    store.add_service(service.clone()).await.unwrap();
    store.close().await;

    let store = SqliteStore::open(dir.db()).await.unwrap();
    let again = store.log_position().await.unwrap();
    assert_eq!(
        (again.epoch.as_str(), again.head),
        (first.epoch.as_str(), id)
    );
    assert_eq!(
        store.find_service(&credential.digest()).await.unwrap(),
        Some(service)
    );
    store.close().await;

    let other = temp_dir();
    let elsewhere = SqliteStore::open(other.db()).await.unwrap();
    assert_ne!(elsewhere.log_position().await.unwrap().epoch, first.epoch);
    elsewhere.close().await;
}
