//! `jwtx_sqlx::copy`: a SQLite store filled through the store traits, copied into a fresh
//! PostgreSQL database (and from there into a fresh SQLite file), reads back the same through
//! every trait; log ids and credential generations go on after the copied ones; a target
//! that holds anything is refused and left as it was. Needs the machine's PostgreSQL
//! (`jwtx_test::pg`).

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use jwtx::Algorithm;
use jwtx::store::{
    KeyStatus, KeyStore, NewSigningKey, PasswordChange, Revocation, RevocationStore, Rotation,
    RotationPolicy, Service, ServiceCredential, ServiceStore, Session, SessionCreated,
    SessionStore, SigningKey, StoredSecret, User, UserStore,
};
use jwtx_sqlx::{CopyError, CopyReport, DatabaseUrl, PgOptions, PgStore, SqliteStore, copy};
use jwtx_test::fixtures::{T0, TempDir, session, unique, user};
use jwtx_test::pg::TestDatabase;

const LIFETIME: u64 = 3600;
const HASH2: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Vjb25kLXNhbHQ$c2Vjb25kLWhhc2g";

fn sqlite_url(path: &std::path::Path) -> DatabaseUrl {
    DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap()
}

/// What a store holds, read through the traits.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    users: Vec<User>,
    sessions: Vec<Option<Session>>,
    log: Vec<(u64, Revocation)>,
    keys: Vec<SigningKey>,
    services: Vec<Service>,
    /// alice's next login, if it starts at her cut-off: refused (tokens_cut_at).
    too_early: SessionCreated,
}

async fn snapshot<S>(store: &S, session_ids: &[String], alice_cut: u64) -> Snapshot
where
    S: UserStore + SessionStore + RevocationStore + KeyStore + ServiceStore,
{
    let users = store.list_users().await.unwrap();
    for u in &users {
        assert_eq!(store.get_user(&u.name).await.unwrap().as_ref(), Some(u));
    }
    let mut sessions = Vec::new();
    for id in session_ids {
        sessions.push(store.get_session(id).await.unwrap());
    }
    let alice = users.iter().find(|u| u.name.starts_with("alice")).unwrap();
    let mut early = session(&alice.name, alice_cut, alice_cut + LIFETIME);
    early.id = unique("early");
    let too_early = store.create_session(early, alice.generation).await.unwrap();
    Snapshot {
        users,
        sessions,
        log: store.revocations_since(0, 0, 1_000_000).await.unwrap(),
        keys: store.list_keys().await.unwrap(),
        services: store.list_services().await.unwrap(),
        too_early,
    }
}

fn key(alg: Algorithm, at: u64) -> NewSigningKey {
    NewSigningKey::generate(alg, at).unwrap()
}

/// Fills `store`: users with roles (one demo, one deleted), sessions fresh, rotated, revoked
/// and ended by a password change that kept one, log entries of every kind (a purged one
/// past the last id), keys of every status, secrets. Returns the session ids and alice's
/// cut-off.
async fn fill(store: &SqliteStore) -> (Vec<String>, u64) {
    let now = store.now().await.unwrap();
    let (alice, bob, carol, dave) = (
        unique("alice"),
        unique("bob"),
        unique("carol"),
        unique("dave"),
    );
    store
        .create_user(user(&alice, &["admin", "user"]))
        .await
        .unwrap();
    store.create_user(user(&bob, &[])).await.unwrap();
    let mut demo = user(&carol, &["user"]);
    demo.demo = true;
    store.create_user(demo).await.unwrap();
    store.create_user(user(&dave, &["x"])).await.unwrap();

    let generation =
        |name: String| async move { store.get_user(&name).await.unwrap().unwrap().generation };
    let mut ids = Vec::new();
    let mut start = |name: &str, offset: u64| {
        let s = session(name, now - 100 + offset, now + 86_400);
        ids.push(s.id.clone());
        s
    };
    let (a1, a2, b1, b2, c1) = (
        start(&alice, 0),
        start(&alice, 1),
        start(&bob, 2),
        start(&bob, 3),
        start(&carol, 4),
    );
    for s in [a1.clone(), a2.clone()] {
        let g = generation(alice.clone()).await;
        assert!(matches!(
            store.create_session(s, g).await.unwrap(),
            SessionCreated::Created { ended: None }
        ));
    }
    for s in [b1.clone(), b2.clone()] {
        let g = generation(bob.clone()).await;
        store.create_session(s, g).await.unwrap();
    }
    let g = generation(carol.clone()).await;
    store.create_session(c1, g).await.unwrap();

    // Rotated (previous jti and its time), then revoked; a password change keeping a1.
    let policy = RotationPolicy {
        now: now - 50,
        grace: 60,
        idle_timeout: 86_400,
    };
    assert_eq!(
        store
            .rotate(&a1.id, &a1.current_jti, &unique("jti"), policy)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    assert!(store.revoke_session(&b1.id, now).await.unwrap().is_some());
    let g = generation(alice.clone()).await;
    let changed = store
        .change_password(&alice, HASH2, g, Some(&a1.id), LIFETIME)
        .await
        .unwrap();
    let PasswordChange::Changed { logged, .. } = changed else {
        panic!("{changed:?}");
    };
    let Revocation::User { cutoff, except, .. } = &logged.revocation else {
        panic!("{logged:?}");
    };
    assert_eq!(except.as_deref(), Some(a1.id.as_str()));
    let alice_cut = *cutoff;
    store
        .end_user_sessions(&carol, None, LIFETIME)
        .await
        .unwrap();
    store.delete_user(&dave, LIFETIME).await.unwrap();
    store
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: now + LIFETIME,
        })
        .await
        .unwrap();
    // The last entry is purged: the source's sequence is past its highest remaining id.
    store
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: T0,
        })
        .await
        .unwrap();
    assert_eq!(store.purge_revocations(now).await.unwrap(), 1);

    // Keys: retired, passive (the first HMAC secret, under the empty kid), active, pending.
    store
        .insert_initial(key(Algorithm::ES256, T0))
        .await
        .unwrap();
    let first_hmac = NewSigningKey::first_hmac(Algorithm::HS256, &[0x5a; 32], T0 + 10);
    store.rotate_in(first_hmac, T0 + 10).await.unwrap();
    assert_eq!(store.retire_expired(T0 + 100, 50).await.unwrap().len(), 1);
    store
        .rotate_in(key(Algorithm::ES256, T0 + 200), T0 + 200)
        .await
        .unwrap();
    store
        .add_pending(key(Algorithm::EdDSA, T0 + 300), T0 + 400, None)
        .await
        .unwrap();

    store
        .secret_or_insert("hmac", StoredSecret::new("the-source-hmac"))
        .await
        .unwrap();
    store
        .secret_or_insert("deployment_id", StoredSecret::new(jwtx::uuid4()))
        .await
        .unwrap();
    for (name, at) in [("billing", T0), ("search ✓", T0 + 1)] {
        store
            .add_service(Service {
                name: name.to_owned(),
                digest: ServiceCredential::generate().digest(),
                created_at: at,
            })
            .await
            .unwrap();
    }
    (ids, alice_cut)
}

async fn sqlite_high_water(path: &std::path::Path) -> u64 {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'revocations'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    u64::try_from(seq).unwrap()
}

#[tokio::test]
async fn sqlite_to_postgres_and_back_reads_the_same() {
    let dir = TempDir::new("jwtx-sqlx-copy");
    let source = SqliteStore::open(dir.db()).await.unwrap();
    let (ids, alice_cut) = fill(&source).await;
    let before = snapshot(&source, &ids, alice_cut).await;
    assert!(matches!(before.too_early, SessionCreated::TooEarly { .. }));
    assert_eq!(before.keys.len(), 4);
    let statuses: Vec<_> = before.keys.iter().map(|k| k.status).collect();
    assert!(statuses.contains(&KeyStatus::Retired) && statuses.contains(&KeyStatus::Passive));
    let pending = before.keys.iter().find(|k| k.status == KeyStatus::Pending);
    assert_eq!(pending.and_then(|k| k.activates_at), Some(T0 + 400));
    let hmac = before.keys.iter().find(|k| k.kid.is_empty()).unwrap();
    assert_eq!(hmac.key().unwrap().kid(), None);
    let kinds: Vec<_> = before.log.iter().map(|(_, r)| r.clone()).collect();
    assert!(
        kinds
            .iter()
            .any(|r| matches!(r, Revocation::Session { .. }))
    );
    assert!(kinds.iter().any(|r| matches!(r, Revocation::Token { .. })));
    assert!(kinds.iter().any(|r| matches!(
        r,
        Revocation::User {
            except: Some(_),
            ..
        }
    )));
    assert_eq!(before.services.len(), 2);
    let max_user_generation = before.users.iter().map(|u| u.generation).max().unwrap();
    let source_epoch = source.log_position().await.unwrap().epoch;
    source.close().await;
    let high_water = sqlite_high_water(&dir.db()).await;
    let max_id = before.log.iter().map(|(id, _)| *id).max().unwrap();
    assert!(high_water > max_id, "{high_water} {max_id}");

    let db = TestDatabase::create().await;
    let pg_url = DatabaseUrl::parse(db.url()).unwrap();
    let extra = [
        ("hmac", StoredSecret::new("from-the-data-directory")),
        ("extra", StoredSecret::new("added")),
    ];
    let report = copy(&sqlite_url(&dir.db()), &pg_url, &extra).await.unwrap();
    assert_eq!(
        report,
        CopyReport {
            users: 3,
            roles: 3,
            sessions: 5,
            revocations: u64::try_from(before.log.len()).unwrap(),
            signing_keys: 4,
            secrets: 3,
            services: 2,
            added_secrets: vec!["extra".to_owned()],
            last_revocation_id: high_water,
        }
    );
    assert_eq!(report.tables()[0], ("users", 3));

    let target = PgStore::connect(&pg_url, PgOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot(&target, &ids, alice_cut).await, before);
    // The log goes on at the source's head, under an epoch of the target's own.
    let position = target.log_position().await.unwrap();
    assert_eq!(position.head, high_water);
    assert_ne!(position.epoch, source_epoch);
    // The source's secret stays; the extra one is added.
    for (name, want) in [("hmac", "the-source-hmac"), ("extra", "added")] {
        let got = target
            .secret_or_insert(name, StoredSecret::new("generated"))
            .await
            .unwrap();
        assert_eq!(got.expose(), want, "{name}");
    }
    // Ids and generations go on after the copied ones.
    let next = target
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: T0 + 10 * 365 * 86_400,
        })
        .await
        .unwrap();
    assert_eq!(next, high_water + 1);
    let newcomer = unique("erin");
    target.create_user(user(&newcomer, &[])).await.unwrap();
    let g = target
        .get_user(&newcomer)
        .await
        .unwrap()
        .unwrap()
        .generation;
    assert!(g > max_user_generation, "{g} <= {max_user_generation}");

    // A target holding anything is refused, and left as it was.
    let held = snapshot(&target, &ids, alice_cut).await;
    let err = copy(&sqlite_url(&dir.db()), &pg_url, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CopyError::NotEmpty { tables, .. } if tables.contains(&"users")),
        "{err:?}"
    );
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(snapshot(&target, &ids, alice_cut).await, held);
    target.close().await;

    // And back into a fresh SQLite file (a backup): the same again.
    let back = TempDir::new("jwtx-sqlx-copy-back");
    let report = copy(&pg_url, &sqlite_url(&back.db()), &[]).await.unwrap();
    assert_eq!((report.users, report.secrets), (4, 3));
    assert_eq!(report.last_revocation_id, high_water + 1);
    let restored = SqliteStore::open(back.db()).await.unwrap();
    assert_eq!(snapshot(&restored, &ids, alice_cut).await, held);
    let next = restored
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: T0,
        })
        .await
        .unwrap();
    assert_eq!(next, high_water + 2);
    restored.close().await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_missing_source_or_the_same_database_is_refused() {
    let dir = TempDir::new("jwtx-sqlx-copy-refused");
    let missing = dir.path().join("nothing-here.db");
    let target = sqlite_url(&dir.db());
    let err = copy(&sqlite_url(&missing), &target, &[]).await.unwrap_err();
    assert!(matches!(err, CopyError::NoSource { .. }), "{err:?}");
    assert!(!missing.exists() && !dir.db().exists());

    SqliteStore::open(dir.db()).await.unwrap().close().await;
    let same = DatabaseUrl::parse(&format!("sqlite:{}", dir.db().display())).unwrap();
    let err = copy(&target, &same, &[]).await.unwrap_err();
    assert!(matches!(err, CopyError::SameDatabase { .. }), "{err:?}");
}

/// An empty store copies as an empty store (and its log starts at 1).
#[tokio::test]
async fn an_empty_store_copies_to_an_empty_store() {
    let dir = TempDir::new("jwtx-sqlx-copy-empty");
    SqliteStore::open(dir.db()).await.unwrap().close().await;
    let db = TestDatabase::create().await;
    let pg_url = DatabaseUrl::parse(db.url()).unwrap();
    let report = copy(&sqlite_url(&dir.db()), &pg_url, &[]).await.unwrap();
    assert_eq!(report, CopyReport::default());
    let target = PgStore::connect(&pg_url, PgOptions::default())
        .await
        .unwrap();
    let id = target
        .revoke(Revocation::Token {
            jti: unique("jti"),
            until: T0,
        })
        .await
        .unwrap();
    assert_eq!(id, 1);
    target.close().await;
    db.drop_now().await;
}

/// Tables of several batches (500 rows each) copy whole, in order: users and their roles
/// (a two-column key), log entries.
#[tokio::test]
async fn large_tables_copy_in_batches() {
    use sqlx::{ConnectOptions, Connection, Executor};
    const N: usize = 1_234;
    let dir = TempDir::new("jwtx-sqlx-copy-large");
    SqliteStore::open(dir.db()).await.unwrap().close().await;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.db())
        .connect()
        .await
        .unwrap();
    conn.execute("BEGIN").await.unwrap();
    for i in 0..N {
        let name = format!("user-{i:05}");
        sqlx::query(
            "INSERT INTO users (name, password_hash, created_at, generation, demo) \
             VALUES (?, 'h', 1, ?, 0)",
        )
        .bind(&name)
        .bind(i64::try_from(i).unwrap() + 1)
        .execute(&mut conn)
        .await
        .unwrap();
        for (position, role) in ["a", "b"].iter().enumerate() {
            sqlx::query("INSERT INTO user_roles (user_name, position, role) VALUES (?, ?, ?)")
                .bind(&name)
                .bind(i64::try_from(position).unwrap())
                .bind(format!("{role}{i}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO revocations (kind, subject, until) VALUES ('token', ?, ?)")
            .bind(format!("jti-{i}"))
            .bind(T0 as i64)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.execute("COMMIT").await.unwrap();
    conn.close().await.unwrap();
    let source = SqliteStore::open(dir.db()).await.unwrap();
    let users = source.list_users().await.unwrap();
    let log = source.revocations_since(0, 0, 1_000_000).await.unwrap();
    source.close().await;

    let db = TestDatabase::create().await;
    let pg_url = DatabaseUrl::parse(db.url()).unwrap();
    let report = copy(&sqlite_url(&dir.db()), &pg_url, &[]).await.unwrap();
    let n = u64::try_from(N).unwrap();
    assert_eq!(
        (report.users, report.roles, report.revocations),
        (n, 2 * n, n)
    );
    let target = PgStore::connect(&pg_url, PgOptions::default())
        .await
        .unwrap();
    assert_eq!(target.list_users().await.unwrap(), users);
    assert_eq!(
        target.revocations_since(0, 0, 1_000_000).await.unwrap(),
        log
    );
    target.close().await;
    db.drop_now().await;
}
