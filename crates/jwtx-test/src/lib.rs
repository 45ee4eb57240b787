//! # jwtx-test
//!
//! Test support for jwtx (not published): the **store conformance suite** that every
//! implementation of the [`jwtx::store`] traits runs ([`users`], [`sessions`], [`ends`],
//! [`revocations`], [`keys`], [`services`]; [`all`] runs them all), [`key_races`] (concurrent
//! key changes, for stores shared by processes), and [`fixtures`] (a fixed clock, unique names,
//! ready-made users and sessions).
//!
//! It also holds the plumbing the workspace's tests share: [`oracle`], the client for the
//! Python oracles (PyJWT and flask-jwt-extended in the venv `.ci/python-env` makes) used by
//! jwtx's interoperability and jwtx-axum's differential tests, and [`http`], the HTTP/1.1
//! client the tests of real processes (the `jwtx serve` binary, the jwtx-axum examples) use;
//! and [`pg`], PostgreSQL for tests: a fresh database on the machine's server per test, or a
//! private server a test may stop and start.
//!
//! ```no_run
//! # async fn my_store_conforms() {
//! // In a store crate's tests, under `#[tokio::test]` (or any other executor):
//! let store = jwtx::store::memory::MemoryStore::new();
//! jwtx_test::all(&store).await;
//! # }
//! ```
//!
//! The suite functions are plain `async fn`s that only await the stores' own futures, so they
//! run on any executor. A failure panics with a message naming the contract that was broken,
//! as `assert!` does.
//!
//! ## Sharing a database
//!
//! Every run works on names made unique with [`jwtx::uuid4`] (users, session ids, `jti`s), so
//! runs may share one database one after another (a persistent test database, or [`all`] run
//! twice on the same store). The purge methods act on the whole store, so the suite asserts
//! only lower bounds on what they return; it uses one fixed timeline ([`fixtures::T0`]) in
//! which every entry a run still looks at outlives every purge any run makes. Runs that are
//! *concurrent* on one database may see each other's purges and fail on those lower bounds.

use jwtx::store::{
    CredentialDigest, KeyStatus, KeyStore, LogPosition, Logged, NewSigningKey, PasswordChange,
    Revocation, RevocationStore, Rotation, RotationPolicy, Service, ServiceCredential,
    ServiceStore, Session, SessionCreated, SessionCursor, SessionStore, SigningKey, StoreError,
    StoredSecret, User, UserStore,
};
use jwtx::{Algorithm, MAX_NUMERIC_DATE, NumericDate};

mod ends;
pub mod examples;
pub mod fixtures;
pub mod http;
mod key_races;
pub mod oracle;
pub mod pg;
pub mod redis;

pub use ends::ends;
use fixtures::{T0, session, unique, user};
pub use key_races::key_races;

/// A page size that takes every session the suite makes for one user.
const ALL: u32 = 10_000;

/// The longest token lifetime the suite's cut-offs are given (`Revocation::user`).
const LIFETIME: u64 = 900;

/// Fails the suite with `msg`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a conformance failure is reported by panicking, as assert! does"
)]
fn fail(msg: String) -> ! {
    panic!("{msg}")
}

/// Unwraps a store result, or fails the suite naming the operation.
#[track_caller]
fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => fail(format!("{what}: unexpected store error: {e}")),
    }
}

/// Runs every part of the suite ([`users`], [`sessions`], [`ends`], [`revocations`],
/// [`keys`], [`services`]) on one store.
pub async fn all<S>(store: &S)
where
    S: UserStore + SessionStore + RevocationStore + KeyStore + ServiceStore + ?Sized,
{
    users(store).await;
    sessions(store).await;
    ends(store).await;
    revocations(store).await;
    keys(store).await;
    services(store).await;
}

/// The [`UserStore`] contract: create, get, list (by name), duplicate names, password hash
/// and role updates, deletion, and that `Debug` never shows a password hash.
pub async fn users<S: UserStore + ?Sized>(store: &S) {
    let mut alice = user(&unique("alice"), &["user", "admin"]);
    let mut bob = user(&unique("bob"), &[]);
    // Non-ASCII names and roles round-trip; roles keep their order; a demo flag is kept.
    let mut zoe = user(&unique("zoë-ünïcode"), &["z-role", "a-role", "m-role"]);
    zoe.demo = true;

    ok("create_user", store.create_user(alice.clone()).await);
    ok("create_user", store.create_user(bob.clone()).await);
    ok("create_user", store.create_user(zoe.clone()).await);

    // The store gives each user a credential generation of its own, whatever was asked.
    let mut generations = Vec::new();
    for u in [&mut alice, &mut bob, &mut zoe] {
        let got = ok("get_user", store.get_user(&u.name).await);
        let generation = got.map_or(0, |g| g.generation);
        assert!(
            generation != 0 && !generations.contains(&generation),
            "create_user must give each user a new, non-zero generation, got {generation} \
             after {generations:?}"
        );
        generations.push(generation);
        u.generation = generation;
    }
    assert!(
        ok("has_demo_users", store.has_demo_users().await),
        "has_demo_users must see a user created with demo = true"
    );

    for u in [&alice, &bob, &zoe] {
        let got = ok("get_user", store.get_user(&u.name).await);
        assert_eq!(
            got.as_ref(),
            Some(u),
            "get_user must return the user exactly as created"
        );
    }
    assert_eq!(
        ok("get_user", store.get_user(&unique("nobody")).await),
        None,
        "get_user of an unknown name must be None"
    );

    // A taken name is a Conflict, and the stored user is unchanged.
    let mut impostor = user(&alice.name, &["root"]);
    impostor.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$aW1wb3N0b3I$aW1wb3N0b3I".into();
    match store.create_user(impostor).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "create_user with a taken name must be Err(Conflict), got {other:?}"
        )),
    }
    assert_eq!(
        ok("get_user", store.get_user(&alice.name).await).as_ref(),
        Some(&alice),
        "a rejected duplicate create_user must not change the stored user"
    );

    // Listing: every user, sorted by name.
    let listed = ok("list_users", store.list_users().await);
    assert!(
        listed.windows(2).all(|w| w[0].name < w[1].name),
        "list_users must be sorted by name, without duplicates"
    );
    for u in [&alice, &bob, &zoe] {
        assert_eq!(
            listed
                .iter()
                .filter(|l| l.name == u.name)
                .collect::<Vec<_>>(),
            vec![u],
            "list_users must contain each user once, exactly as stored"
        );
    }

    // A password change makes a demo account an ordinary one.
    match ok(
        "change_password",
        store
            .change_password(
                &zoe.name,
                &zoe.password_hash,
                zoe.generation,
                None,
                LIFETIME,
            )
            .await,
    ) {
        PasswordChange::Changed { generation, .. } => zoe.generation = generation,
        other => fail(format!("change_password must be Changed, got {other:?}")),
    }
    zoe.demo = false;
    assert_eq!(
        ok("get_user", store.get_user(&zoe.name).await).as_ref(),
        Some(&zoe),
        "change_password must clear the demo flag"
    );

    // Password hash: a rehash is a compare-and-set on the generation, which it keeps.
    let new_hash = "$argon2id$v=19$m=65536,t=3,p=1$bmV3LXNhbHQ$bmV3LWhhc2g";
    assert!(
        !ok(
            "rehash_password",
            store
                .rehash_password(&alice.name, new_hash, alice.generation + 1_000_000)
                .await
        ),
        "rehash_password with another generation must return false"
    );
    assert_eq!(
        ok("get_user", store.get_user(&alice.name).await).as_ref(),
        Some(&alice),
        "a refused rehash_password must change nothing"
    );
    assert!(
        ok(
            "rehash_password",
            store
                .rehash_password(&alice.name, new_hash, alice.generation)
                .await
        ),
        "rehash_password at the current generation must return true"
    );
    let got = ok("get_user", store.get_user(&alice.name).await);
    assert_eq!(
        got.as_ref().map(|u| u.password_hash.as_str()),
        Some(new_hash),
        "rehash_password must replace the hash"
    );
    assert_eq!(
        got.as_ref().map(|u| (&u.roles, u.created_at, u.generation)),
        Some((&alice.roles, alice.created_at, alice.generation)),
        "rehash_password must not change roles, created_at or the generation"
    );
    assert!(
        !ok(
            "rehash_password",
            store
                .rehash_password(&unique("nobody"), new_hash, alice.generation)
                .await
        ),
        "rehash_password of an unknown user must return false"
    );
    match ok(
        "change_password",
        store
            .change_password(&unique("nobody"), new_hash, 1, None, LIFETIME)
            .await,
    ) {
        PasswordChange::NoSuchUser => {}
        other => fail(format!(
            "change_password of an unknown user must be NoSuchUser, got {other:?}"
        )),
    }

    // Roles: replaced in the given order, may become empty.
    let roles: Vec<String> = vec!["ops".into(), "admin".into(), "auditor".into()];
    assert!(
        ok("set_roles", store.set_roles(&alice.name, &roles).await),
        "set_roles of an existing user must return true"
    );
    let got = ok("get_user", store.get_user(&alice.name).await);
    assert_eq!(
        got.as_ref().map(|u| &u.roles),
        Some(&roles),
        "set_roles must replace the roles, keeping their order"
    );
    assert_eq!(
        got.as_ref().map(|u| u.password_hash.as_str()),
        Some(new_hash),
        "set_roles must not change the password hash"
    );
    assert!(
        ok("set_roles", store.set_roles(&alice.name, &[]).await),
        "set_roles to no roles must return true"
    );
    assert_eq!(
        ok("get_user", store.get_user(&alice.name).await).map(|u| u.roles),
        Some(Vec::new()),
        "set_roles(&[]) must leave the user without roles"
    );
    assert!(
        !ok(
            "set_roles",
            store.set_roles(&unique("nobody"), &roles).await
        ),
        "set_roles of an unknown user must return false"
    );

    // Debug never shows the hash: not the User's, not the store's.
    let secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0LXNhbHQ$c2VjcmV0LWhhc2g";
    let mut carol = user(&unique("carol"), &["user"]);
    carol.password_hash = secret_hash.into();
    ok("create_user", store.create_user(carol.clone()).await);
    let got = ok("get_user", store.get_user(&carol.name).await);
    let debug = format!("{got:?} {carol:?} {store:?}");
    assert!(
        !debug.contains(secret_hash) && !debug.contains("c2VjcmV0"),
        "Debug of a User or of the store must not show the password hash: {debug}"
    );
    assert!(
        format!("{carol:?}").contains("<redacted>"),
        "User's Debug must say the hash is redacted"
    );

    // Deletion (deleting a user's sessions too is checked by `sessions`).
    for u in [&alice, &bob, &zoe, &carol] {
        assert!(
            ok("delete_user", store.delete_user(&u.name, LIFETIME).await).is_some(),
            "delete_user of an existing user must return its log entry"
        );
        assert_eq!(
            ok("get_user", store.get_user(&u.name).await),
            None,
            "a deleted user must be gone"
        );
        assert!(
            ok("delete_user", store.delete_user(&u.name, LIFETIME).await).is_none(),
            "delete_user of a deleted user must return None"
        );
    }
    let listed = ok("list_users", store.list_users().await);
    assert!(
        !listed.iter().any(|l| [&alice, &bob, &zoe, &carol]
            .iter()
            .any(|u| u.name == l.name)),
        "list_users must not show deleted users"
    );
    // The name is free again, and the new user of that name has a new generation.
    ok("create_user", store.create_user(bob.clone()).await);
    let again = ok("get_user", store.get_user(&bob.name).await).map_or(0, |u| u.generation);
    assert!(
        again != 0 && !generations.contains(&again),
        "a user created again under a deleted name must get a new generation, got {again}"
    );
    assert!(ok("delete_user", store.delete_user(&bob.name, LIFETIME).await).is_some());
}

/// Creates `u` and returns it as stored (with the generation the store gave it).
async fn created<S: UserStore + ?Sized>(store: &S, u: User) -> User {
    ok("create_user", store.create_user(u.clone()).await);
    match ok("get_user", store.get_user(&u.name).await) {
        Some(got) => got,
        None => fail(format!(
            "get_user({:?}) after create_user must find it",
            u.name
        )),
    }
}

/// Creates session `s`, which must be stored without ending another.
async fn create<S: SessionStore + ?Sized>(store: &S, s: Session, generation: u64) {
    match ok("create_session", store.create_session(s, generation).await) {
        SessionCreated::Created { ended: None } => {}
        other => fail(format!(
            "create_session of a new session within the cap must store it and end nothing, \
             got {other:?}"
        )),
    }
}

/// The [`SessionStore`] contract: create, get, list (live only, newest first), rotation
/// (rotate, grace, reuse, ended by revocation, idle timeout or absolute end), revocation of
/// one session, purging, and that deleting a user deletes their sessions. How ends are logged,
/// the end of every session of a user, the session cap and password changes against logins
/// are [`ends`].
///
/// Needs a [`UserStore`] too: SQL stores only accept sessions of existing users.
pub async fn sessions<S: UserStore + SessionStore + ?Sized>(store: &S) {
    let owner = created(store, user(&unique("sessions"), &["user"])).await;
    let other = created(store, user(&unique("sessions-other"), &["user"])).await;

    create_get_list(store, &owner).await;
    rotation(store, &owner).await;
    revoking(store, &owner).await;
    purging(store, &owner).await;

    // Deleting a user deletes their sessions.
    let s = session(&owner.name, T0, T0 + 3600);
    create(store, s.clone(), owner.generation).await;
    let kept = session(&other.name, T0, T0 + 3600);
    create(store, kept.clone(), other.generation).await;
    assert!(
        ok(
            "delete_user",
            store.delete_user(&owner.name, LIFETIME).await
        )
        .is_some()
    );
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await),
        None,
        "delete_user must delete the user's sessions"
    );
    assert_eq!(
        ok(
            "list_sessions",
            store.list_sessions(&owner.name, T0, None, ALL).await
        ),
        Vec::new(),
        "a deleted user must have no sessions"
    );
    assert_eq!(
        ok("get_session", store.get_session(&kept.id).await),
        Some(kept),
        "delete_user must not touch other users' sessions"
    );
    assert!(
        ok(
            "delete_user",
            store.delete_user(&other.name, LIFETIME).await
        )
        .is_some()
    );
}

async fn create_get_list<S: SessionStore + ?Sized>(store: &S, owner: &User) {
    let now = T0 + 100;
    let s1 = session(&owner.name, T0, T0 + 30 * 86_400);
    let mut s2 = session(&owner.name, T0 + 10, T0 + 30 * 86_400);
    s2.user_agent = None;
    s2.ip = None;
    // Same creation time as s1: ties are broken by id.
    let mut tie = session(&owner.name, T0, T0 + 30 * 86_400);
    tie.previous = Some((unique("jti-prev"), T0 + 5));
    tie.last_used_at = T0 + 5;
    tie.user_agent = Some("Mözilla/5.0 (X11; Linux) ✓".into());
    tie.ip = Some("2001:db8::1".into());
    let expired = session(&owner.name, T0 + 20, now);
    let revoked = session(&owner.name, T0 + 30, T0 + 30 * 86_400);

    for s in [&s1, &s2, &tie, &expired, &revoked] {
        create(store, s.clone(), owner.generation).await;
    }
    for s in [&s1, &s2, &tie, &expired] {
        assert_eq!(
            ok("get_session", store.get_session(&s.id).await).as_ref(),
            Some(s),
            "get_session must return the session exactly as created"
        );
    }
    assert_eq!(
        ok(
            "get_session",
            store.get_session(&unique("no-such-session")).await
        ),
        None,
        "get_session of an unknown id must be None"
    );
    let mut dup = s1.clone();
    dup.current_jti = unique("jti-dup");
    match store.create_session(dup, owner.generation).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "create_session with a taken id must be Err(Conflict), got {other:?}"
        )),
    }
    assert_eq!(
        ok("get_session", store.get_session(&s1.id).await).as_ref(),
        Some(&s1),
        "a rejected duplicate create_session must not change the stored session"
    );

    assert!(
        ok(
            "revoke_session",
            store.revoke_session(&revoked.id, T0 + 40).await
        )
        .is_some()
    );
    let got = ok("get_session", store.get_session(&revoked.id).await);
    assert_eq!(
        got.and_then(|s| s.revoked_at),
        Some(T0 + 40),
        "get_session must return revoked sessions, with revoked_at"
    );

    // Live only (not revoked, not past expires_at), newest first, ties by id.
    let listed = ok(
        "list_sessions",
        store.list_sessions(&owner.name, now, None, ALL).await,
    );
    let mut ties = [s1.clone(), tie.clone()];
    ties.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![s2.clone()];
    expected.extend(ties);
    let listed_ours: Vec<&Session> = listed
        .iter()
        .filter(|l| expected.iter().any(|e| e.id == l.id))
        .collect();
    assert_eq!(
        listed_ours,
        expected.iter().collect::<Vec<_>>(),
        "list_sessions must return live sessions newest first (ties by id)"
    );
    assert!(
        !listed
            .iter()
            .any(|l| l.id == expired.id || l.id == revoked.id),
        "list_sessions must leave out revoked sessions and those past expires_at \
         (expires_at == now counts as ended)"
    );
    assert!(
        listed.iter().all(|l| l.user == owner.name),
        "list_sessions must only return the user's sessions"
    );
    assert!(
        listed.windows(2).all(|w| w[0].created_at > w[1].created_at
            || (w[0].created_at == w[1].created_at && w[0].id < w[1].id)),
        "list_sessions must be ordered newest first, ties by id"
    );
    // Pages: each starts after the cursor of the last one, and together they are the list.
    let mut paged: Vec<Session> = Vec::new();
    let mut cursor: Option<SessionCursor> = None;
    for _ in 0..=ALL {
        let page = ok(
            "list_sessions",
            store
                .list_sessions(&owner.name, now, cursor.as_ref(), 2)
                .await,
        );
        assert!(page.len() <= 2, "list_sessions must return at most `limit`");
        let Some(last) = page.last() else { break };
        cursor = Some(SessionCursor::after(last));
        paged.extend(page);
        // A store that ignores the cursor would page forever.
        if paged.len() > ALL as usize {
            break;
        }
    }
    assert_eq!(
        paged,
        ok(
            "list_sessions",
            store.list_sessions(&owner.name, now, None, ALL).await
        ),
        "pages of list_sessions, each after the last one's cursor, must make the whole list"
    );

    let before_expiry = ok(
        "list_sessions",
        store.list_sessions(&owner.name, now - 1, None, ALL).await,
    );
    assert!(
        before_expiry.iter().any(|l| l.id == expired.id),
        "a session is live until its expires_at"
    );
    assert_eq!(
        ok(
            "list_sessions",
            store.list_sessions(&unique("nobody"), now, None, ALL).await
        ),
        Vec::new(),
        "list_sessions of an unknown user must be empty"
    );
}

fn policy(now: NumericDate) -> RotationPolicy {
    RotationPolicy {
        now,
        grace: 10,
        idle_timeout: 3600,
    }
}

async fn rotation<S: SessionStore + ?Sized>(store: &S, owner: &User) {
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    let j1 = s.current_jti.clone();
    let j2 = unique("jti-2");

    // The current token rotates.
    let t = T0 + 60;
    assert_eq!(
        ok("rotate", store.rotate(&s.id, &j1, &j2, policy(t)).await),
        Rotation::Rotated,
        "presenting the current jti must rotate"
    );
    let got = ok("get_session", store.get_session(&s.id).await);
    let mut expected = s.clone();
    expected.current_jti = j2.clone();
    expected.previous = Some((j1.clone(), t));
    expected.last_used_at = t;
    assert_eq!(
        got.as_ref(),
        Some(&expected),
        "after Rotated: current_jti = new_jti, previous = (old jti, now), last_used_at = now"
    );

    // The token just replaced, within the grace window: Grace, nothing rotates.
    for (at, label) in [
        (t, "at the start of"),
        (t + 5, "inside"),
        (t + 9, "at the end of"),
    ] {
        let r = ok(
            "rotate",
            store.rotate(&s.id, &j1, &unique("jti-x"), policy(at)).await,
        );
        assert_eq!(
            r,
            Rotation::Grace {
                current_jti: j2.clone()
            },
            "the previous jti {label} the grace window must give Grace with the current jti"
        );
        let got = ok("get_session", store.get_session(&s.id).await);
        assert_eq!(
            got.as_ref()
                .map(|g| (&g.current_jti, &g.previous, g.revoked_at)),
            Some((&j2, &Some((j1.clone(), t)), None)),
            "Grace must not change current_jti or previous, nor revoke"
        );
    }

    // The previous token after the grace window: reuse; the session is revoked.
    let reuse_at = t + 11;
    assert!(
        matches!(
            ok(
                "rotate",
                store
                    .rotate(&s.id, &j1, &unique("jti-x"), policy(reuse_at))
                    .await
            ),
            Rotation::Reused { .. }
        ),
        "the previous jti after the grace window must be Reused"
    );
    let got = ok("get_session", store.get_session(&s.id).await);
    assert_eq!(
        got.as_ref().map(|g| (g.revoked_at, &g.current_jti)),
        Some((Some(reuse_at), &j2)),
        "Reused must revoke the session at now and not rotate"
    );
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &j2, &unique("jti-x"), policy(reuse_at + 1))
                .await
        ),
        Rotation::Ended,
        "after reuse even the current jti must be Ended"
    );
    assert!(
        !ok(
            "list_sessions",
            store
                .list_sessions(&owner.name, reuse_at + 1, None, ALL)
                .await
        )
        .iter()
        .any(|l| l.id == s.id),
        "a session revoked for reuse must not be listed"
    );

    // A grace of 0 turns the window off: the previous token is reuse at once.
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    let next = unique("jti-next");
    let no_grace = RotationPolicy {
        grace: 0,
        ..policy(T0 + 1)
    };
    assert_eq!(
        ok(
            "rotate",
            store.rotate(&s.id, &s.current_jti, &next, no_grace).await
        ),
        Rotation::Rotated
    );
    assert!(
        matches!(
            ok(
                "rotate",
                store
                    .rotate(&s.id, &s.current_jti, &unique("jti-x"), no_grace)
                    .await
            ),
            Rotation::Reused { .. }
        ),
        "with grace 0 the previous jti must be Reused even at the rotation's own second"
    );

    // Only the immediately previous token gets grace: two rotations, then the first jti.
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    let (a, b, c) = (s.current_jti.clone(), unique("jti-b"), unique("jti-c"));
    assert_eq!(
        ok("rotate", store.rotate(&s.id, &a, &b, policy(T0 + 1)).await),
        Rotation::Rotated
    );
    assert_eq!(
        ok("rotate", store.rotate(&s.id, &b, &c, policy(T0 + 2)).await),
        Rotation::Rotated,
        "the new current jti must rotate in turn"
    );
    assert!(
        matches!(
            ok(
                "rotate",
                store
                    .rotate(&s.id, &a, &unique("jti-x"), policy(T0 + 3))
                    .await
            ),
            Rotation::Reused { .. }
        ),
        "a jti older than the immediately previous one is reuse, even within the grace window"
    );

    // A jti the family never had is reuse too (it is not the current one).
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    assert!(
        matches!(
            ok(
                "rotate",
                store
                    .rotate(
                        &s.id,
                        &unique("jti-unknown"),
                        &unique("jti-x"),
                        policy(T0 + 1)
                    )
                    .await
            ),
            Rotation::Reused { .. }
        ),
        "a jti that is neither current nor previous must be Reused"
    );
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await).and_then(|g| g.revoked_at),
        Some(T0 + 1),
        "Reused must revoke the session"
    );

    // Unknown session.
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&unique("no-such-session"), "j", "k", policy(T0))
                .await
        ),
        Rotation::Ended,
        "rotating an unknown session must be Ended"
    );

    // Idle timeout: `now - last_used_at > idle_timeout` ends the session.
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &s.current_jti, &unique("jti-x"), policy(T0 + 3601))
                .await
        ),
        Rotation::Ended,
        "a session idle for longer than idle_timeout must be Ended"
    );
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await).as_ref(),
        Some(&s),
        "Ended must not change the session"
    );
    let j = unique("jti-x");
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &s.current_jti, &j, policy(T0 + 3600))
                .await
        ),
        Rotation::Rotated,
        "a session idle for exactly idle_timeout is still live"
    );
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &j, &unique("jti-x"), policy(T0 + 3600 + 3600))
                .await
        ),
        Rotation::Rotated,
        "rotation must reset the idle timer (last_used_at = now)"
    );

    // Absolute end: `now >= expires_at` ends the session, whatever refreshes happened.
    let s = session(&owner.name, T0, T0 + 100);
    create(store, s.clone(), owner.generation).await;
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &s.current_jti, &unique("jti-x"), policy(T0 + 100))
                .await
        ),
        Rotation::Ended,
        "a session at its expires_at must be Ended"
    );
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await).as_ref(),
        Some(&s),
        "Ended must not change the session"
    );
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &s.current_jti, &unique("jti-x"), policy(T0 + 99))
                .await
        ),
        Rotation::Rotated,
        "a session just before its expires_at must rotate"
    );

    // A revoked session.
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    assert!(ok("revoke_session", store.revoke_session(&s.id, T0 + 1).await).is_some());
    assert_eq!(
        ok(
            "rotate",
            store
                .rotate(&s.id, &s.current_jti, &unique("jti-x"), policy(T0 + 2))
                .await
        ),
        Rotation::Ended,
        "rotating a revoked session must be Ended"
    );
}

async fn revoking<S: SessionStore + ?Sized>(store: &S, owner: &User) {
    let now = T0 + 1000;

    // One session: its end once, then None.
    let s = session(&owner.name, T0, T0 + 30 * 86_400);
    create(store, s.clone(), owner.generation).await;
    match ok("revoke_session", store.revoke_session(&s.id, now).await) {
        Some(Logged { revocation, .. }) => assert_eq!(
            revocation,
            Revocation::Session {
                id: s.id.clone(),
                until: s.expires_at
            },
            "revoke_session must return the session's end, kept until its expires_at"
        ),
        None => fail("revoke_session of a live session must return its log entry".into()),
    }
    assert_eq!(
        ok("revoke_session", store.revoke_session(&s.id, now + 1).await),
        None,
        "revoke_session of a revoked session must return None"
    );
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await).and_then(|g| g.revoked_at),
        Some(now),
        "a second revoke_session must not move revoked_at"
    );
    assert_eq!(
        ok(
            "revoke_session",
            store.revoke_session(&unique("no-such-session"), now).await
        ),
        None,
        "revoke_session of an unknown session must return None"
    );
    // A session past its end is not live: there is nothing left to revoke.
    let ended = session(&owner.name, T0, now);
    create(store, ended.clone(), owner.generation).await;
    assert_eq!(
        ok("revoke_session", store.revoke_session(&ended.id, now).await),
        None,
        "revoke_session of a session past its end must return None"
    );
    assert_eq!(
        ok("get_session", store.get_session(&ended.id).await).and_then(|g| g.revoked_at),
        None,
        "revoke_session must not touch a session past its end"
    );
}

/// Purging works in its own early window of the timeline (before [`PURGE_BEFORE`]), which
/// no other part of the suite uses, so runs sharing a database do not disturb each other.
const PURGE_BEFORE: NumericDate = 2_000;

async fn purging<S: SessionStore + ?Sized>(store: &S, owner: &User) {
    let name = &owner.name;
    let ended = session(name, 500, 1_000);
    let revoked = session(name, 500, T0 + 30 * 86_400);
    let live = session(name, 500, T0 + 30 * 86_400);
    let ends_at_cut = session(name, 500, PURGE_BEFORE);
    let revoked_at_cut = session(name, 500, T0 + 30 * 86_400);
    for s in [&ended, &revoked, &live, &ends_at_cut, &revoked_at_cut] {
        create(store, s.clone(), owner.generation).await;
    }
    assert!(
        ok(
            "revoke_session",
            store.revoke_session(&revoked.id, 1_500).await
        )
        .is_some()
    );
    assert!(
        ok(
            "revoke_session",
            store.revoke_session(&revoked_at_cut.id, PURGE_BEFORE).await
        )
        .is_some()
    );
    let n = ok("purge_sessions", store.purge_sessions(PURGE_BEFORE).await);
    assert!(
        n >= 2,
        "purge_sessions must count what it deleted (at least this run's 2), got {n}"
    );
    for (s, gone, why) in [
        (
            &ended,
            true,
            "a session whose expires_at is before `before`",
        ),
        (&revoked, true, "a session revoked before `before`"),
        (&live, false, "a live session"),
        (&ends_at_cut, false, "a session whose expires_at == before"),
        (&revoked_at_cut, false, "a session revoked at `before`"),
    ] {
        let got = ok("get_session", store.get_session(&s.id).await);
        assert_eq!(
            got.is_none(),
            gone,
            "purge_sessions must {} {why}",
            if gone { "delete" } else { "keep" }
        );
    }
}

/// The [`RevocationStore`] contract: log ids strictly increasing (also across purges),
/// `revocations_since` (log order, `after`, `limit`, leaving out expired entries), purging,
/// and that every [`Revocation`] variant round-trips exactly.
pub async fn revocations<S: RevocationStore + ?Sized>(store: &S) {
    let start = position(store).await;
    let now = T0;
    let live = T0 + 3600;
    let entries = vec![
        Revocation::Token {
            jti: unique("jti"),
            until: live,
        },
        Revocation::Session {
            id: unique("sid"),
            until: live + 1,
        },
        Revocation::User {
            user: unique("user"),
            cutoff: T0 - 10,
            until: live + 2,
            except: None,
        },
        // A session spared (a password change's), kept exactly.
        Revocation::User {
            user: unique("user-keeping"),
            cutoff: T0 - 5,
            until: live + 3,
            except: Some(unique("sid-kept ✓")),
        },
        // Expires exactly at now: still returned (an entry matters while `until >= now`).
        Revocation::Token {
            jti: unique("jti-at-now"),
            until: now,
        },
        // Edge values and non-ASCII text round-trip exactly.
        Revocation::User {
            user: unique("üsér ✓"),
            cutoff: 0,
            until: MAX_NUMERIC_DATE,
            except: None,
        },
        Revocation::Session {
            id: unique("sid-max"),
            until: MAX_NUMERIC_DATE,
        },
        Revocation::User {
            user: unique("cutoff-equals-until"),
            cutoff: live,
            until: live,
            except: Some(String::new()),
        },
    ];
    let mut ids = Vec::new();
    for r in &entries {
        ids.push(ok("revoke", store.revoke(r.clone()).await));
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "revoke must return strictly increasing log ids, got {ids:?}"
    );
    assert!(
        ids[0] > 0,
        "log ids start above 0 (0 means 'from the start')"
    );
    let first = ids[0];
    let ours = |got: &[(u64, Revocation)]| -> Vec<(u64, Revocation)> {
        got.iter()
            .filter(|(id, _)| ids.contains(id))
            .cloned()
            .collect()
    };
    let expected: Vec<(u64, Revocation)> = ids.iter().copied().zip(entries.clone()).collect();

    // Everything after `first - 1`, in log order, exactly as written.
    let got = ok(
        "revocations_since",
        store.revocations_since(first - 1, now, 1_000).await,
    );
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0) && got.iter().all(|(id, _)| *id >= first),
        "revocations_since must return entries after `after`, in log order"
    );
    assert_eq!(
        ours(&got),
        expected,
        "revocations_since must return every variant exactly as written, in log order"
    );
    assert!(
        got.iter().all(|(_, r)| r.until() >= now),
        "revocations_since must leave out entries whose until is before now"
    );

    // `after` is exclusive.
    let got = ok(
        "revocations_since",
        store.revocations_since(first, now, 1_000).await,
    );
    assert_eq!(
        ours(&got),
        expected[1..].to_vec(),
        "revocations_since(after) must start after the entry with id `after`"
    );

    // `limit`.
    let got = ok(
        "revocations_since",
        store.revocations_since(first - 1, now, 1).await,
    );
    assert_eq!(
        got,
        expected[..1].to_vec(),
        "revocations_since with limit 1 must return just the next entry"
    );
    let got = ok(
        "revocations_since",
        store.revocations_since(first - 1, now, 3).await,
    );
    assert_eq!(got.len(), 3, "revocations_since must return up to `limit`");
    assert_eq!(
        got.first(),
        expected.first(),
        "revocations_since with a limit must start at the first entry after `after`"
    );
    assert_eq!(
        ok(
            "revocations_since",
            store.revocations_since(first - 1, now, 0).await
        ),
        Vec::new(),
        "revocations_since with limit 0 must return nothing"
    );

    // Expired entries are left out; `limit` counts only what is returned.
    let later = now + 1;
    let got = ok(
        "revocations_since",
        store.revocations_since(first - 1, later, 1_000).await,
    );
    assert_eq!(
        ours(&got),
        expected
            .iter()
            .filter(|(_, r)| r.until() >= later)
            .cloned()
            .collect::<Vec<_>>(),
        "revocations_since must leave out entries whose until is before now"
    );
    let after_at_now = ids[3];
    let got = ok(
        "revocations_since",
        store.revocations_since(after_at_now, later, 1).await,
    );
    assert_eq!(
        got.first().map(|(id, _)| *id),
        Some(ids[5]),
        "an expired entry must not use up the limit"
    );

    // Purge deletes entries whose until is before now, nothing else; ids are never reused.
    // `at_cut` ends exactly at the purge's now: kept (and no run's purge ever deletes it).
    let at_cut = Revocation::Session {
        id: unique("sid-at-cut"),
        until: PURGE_BEFORE,
    };
    let at_cut_id = ok("revoke", store.revoke(at_cut.clone()).await);
    let doomed = Revocation::Token {
        jti: unique("jti-expired"),
        until: PURGE_BEFORE - 1,
    };
    let doomed_id = ok("revoke", store.revoke(doomed.clone()).await);
    assert!(doomed_id > at_cut_id, "log ids must increase");
    assert!(
        position(store).await.head >= doomed_id,
        "log_position's head must be at least every id handed out"
    );
    let got = ok(
        "revocations_since",
        store.revocations_since(doomed_id - 1, 0, 1).await,
    );
    assert_eq!(
        got,
        vec![(doomed_id, doomed)],
        "revocations_since at now = 0 returns expired entries too"
    );
    let n = ok(
        "purge_revocations",
        store.purge_revocations(PURGE_BEFORE).await,
    );
    assert!(
        n >= 1,
        "purge_revocations must count what it deleted (at least this run's 1), got {n}"
    );
    let got = ok(
        "revocations_since",
        store.revocations_since(first - 1, 0, 1_000).await,
    );
    assert!(
        !got.iter().any(|(id, _)| *id == doomed_id),
        "purge_revocations must delete entries whose until is before now"
    );
    assert_eq!(
        ours(&got),
        expected,
        "purge_revocations must keep entries whose until is at or after now"
    );
    assert!(
        got.contains(&(at_cut_id, at_cut)),
        "purge_revocations must keep entries whose until is at or after now (until == now)"
    );
    assert!(
        position(store).await.head >= doomed_id,
        "log_position's head must be at least every id handed out, purged ones too"
    );
    let next = ok(
        "revoke",
        store
            .revoke(Revocation::Token {
                jti: unique("jti-after-purge"),
                until: live,
            })
            .await,
    );
    assert!(
        next > doomed_id,
        "log ids must keep increasing after a purge, even past purged ids ({next} <= {doomed_id})"
    );
    let end = position(store).await;
    assert!(
        end.head >= next && end.head >= start.head,
        "log_position's head must be the highest id ever handed out, purged ones too: {} after \
         {next} was appended",
        end.head
    );
    assert_eq!(
        end.epoch, start.epoch,
        "log_position's epoch must not change while the store is the same"
    );
}

/// The log's position, checked for the form of its epoch.
async fn position<S: RevocationStore + ?Sized>(store: &S) -> LogPosition {
    let p = ok("log_position", store.log_position().await);
    assert!(
        (1..=64).contains(&p.epoch.len()) && p.epoch.bytes().all(|b| b.is_ascii_graphic()),
        "log_position's epoch must be 1 to 64 visible ASCII characters, got {:?}",
        p.epoch
    );
    p
}

/// The [`ServiceStore`] contract: add, list (by name), find by digest, remove; a taken name or
/// digest is a Conflict that changes nothing; `Debug` never shows a digest.
pub async fn services<S: ServiceStore + ?Sized>(store: &S) {
    let (a_key, b_key) = (ServiceCredential::generate(), ServiceCredential::generate());
    let a = Service {
        name: unique("svc-a"),
        digest: a_key.digest(),
        created_at: T0,
    };
    let b = Service {
        name: unique("svc-b ✓"),
        digest: b_key.digest(),
        created_at: T0 + 1,
    };
    ok("add_service", store.add_service(b.clone()).await);
    ok("add_service", store.add_service(a.clone()).await);
    let ours = |all: Vec<Service>| -> Vec<Service> {
        all.into_iter()
            .filter(|s| s.name == a.name || s.name == b.name)
            .collect()
    };
    let listed = ok("list_services", store.list_services().await);
    assert!(
        listed.windows(2).all(|w| w[0].name < w[1].name),
        "list_services must list by name"
    );
    assert_eq!(
        ours(listed.clone()),
        vec![a.clone(), b.clone()],
        "list_services must return every service exactly as added"
    );
    let shown = format!("{listed:?}");
    for d in [&a.digest, &b.digest] {
        assert!(
            !shown.contains(&d.to_hex()),
            "Debug of a service must not show its digest"
        );
    }
    assert_eq!(
        ok("find_service", store.find_service(&a.digest).await),
        Some(a.clone()),
        "find_service must find a service by its credential's digest"
    );
    assert_eq!(
        ok(
            "find_service",
            store
                .find_service(&CredentialDigest::of(&unique("unknown")))
                .await
        ),
        None,
        "find_service of an unknown digest must be None"
    );

    // A taken name, or a taken digest, is a Conflict, and changes nothing.
    let impostor = Service {
        name: a.name.clone(),
        digest: ServiceCredential::generate().digest(),
        created_at: T0 + 2,
    };
    match store.add_service(impostor.clone()).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "add_service of a taken name must be a Conflict, got {other:?}"
        )),
    }
    let twin = Service {
        name: unique("svc-twin"),
        digest: a.digest.clone(),
        created_at: T0 + 3,
    };
    match store.add_service(twin.clone()).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "add_service of a taken digest must be a Conflict, got {other:?}"
        )),
    }
    assert_eq!(
        ok("find_service", store.find_service(&impostor.digest).await),
        None,
        "a refused add_service must store nothing"
    );
    assert_eq!(
        ok("find_service", store.find_service(&a.digest).await),
        Some(a.clone()),
        "a refused add_service must leave the stored service as it was"
    );
    assert!(
        !ok("list_services", store.list_services().await)
            .iter()
            .any(|s| s.name == twin.name),
        "a refused add_service must store nothing"
    );

    // Removal: the service's credential finds nothing from then on; the others stay.
    assert!(
        ok("remove_service", store.remove_service(&a.name).await),
        "remove_service of a stored service must say it existed"
    );
    assert!(
        !ok("remove_service", store.remove_service(&a.name).await),
        "remove_service of a removed service must say it did not exist"
    );
    assert_eq!(
        ok("find_service", store.find_service(&a.digest).await),
        None,
        "a removed service's credential must find nothing"
    );
    assert_eq!(
        ours(ok("list_services", store.list_services().await)),
        vec![b.clone()],
        "remove_service must remove that service only"
    );
    ok("remove_service", store.remove_service(&b.name).await);
}

/// The token lifetime (seconds, leeway included) the key suite retires keys with.
const KEY_LIFETIME: u64 = 3_600;

/// The record `rotate_in(key, now)` stores: active, signing from `now`.
fn rotated(key: &NewSigningKey, now: NumericDate) -> SigningKey {
    SigningKey {
        activates_at: Some(now),
        ..SigningKey::active(key.clone())
    }
}

/// `key` as a refusal must leave it: expects `Err(Conflict)` for `what`.
#[track_caller]
fn conflict<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!("{what} must be Err(Conflict), got {other:?}")),
    }
}

/// A new key of `alg` created at `created_at`.
fn new_key(alg: Algorithm, created_at: NumericDate) -> NewSigningKey {
    match NewSigningKey::generate(alg, created_at) {
        Ok(k) => k,
        Err(e) => fail(format!("cannot generate a {alg} key: {e}")),
    }
}

/// The stored key `kid`, from `list_keys`.
async fn stored_key<S: KeyStore + ?Sized>(store: &S, kid: &str) -> Option<SigningKey> {
    ok("list_keys", store.list_keys().await)
        .into_iter()
        .find(|k| k.kid == kid)
}

/// What holds for every listing: newest first, `kid`s unique, exactly one active key (when
/// `expect_active`), at most one pending key, and each status with its times and private key.
async fn key_invariants<S: KeyStore + ?Sized>(store: &S, when: &str, expect_active: bool) {
    let listed = ok("list_keys", store.list_keys().await);
    assert!(
        listed.windows(2).all(|w| w[0].created_at > w[1].created_at
            || (w[0].created_at == w[1].created_at && w[0].kid < w[1].kid)),
        "list_keys must list keys newest first (created_at descending, then kid), {when}"
    );
    let mut kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
    kids.sort_unstable();
    kids.dedup();
    assert_eq!(kids.len(), listed.len(), "kids must be unique, {when}");
    let active: Vec<&SigningKey> = listed
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .collect();
    if expect_active {
        assert_eq!(
            active.len(),
            1,
            "exactly one key must be active {when}, got {active:?}"
        );
    } else {
        assert!(
            active.len() <= 1,
            "at most one key may be active {when}, got {active:?}"
        );
    }
    assert_eq!(
        ok("active_key", store.active_key().await).as_ref(),
        active.first().copied(),
        "active_key must return the key list_keys shows active, {when}"
    );
    let pending: Vec<&SigningKey> = listed
        .iter()
        .filter(|k| k.status == KeyStatus::Pending)
        .collect();
    assert!(
        pending.len() <= 1,
        "at most one key may be pending {when}, got {pending:?}"
    );
    for k in &listed {
        let shaped = match k.status {
            KeyStatus::Pending => {
                k.private_key.is_some()
                    && k.activates_at.is_some()
                    && k.demoted_at.is_none()
                    && k.retired_at.is_none()
            }
            KeyStatus::Active => {
                k.private_key.is_some() && k.demoted_at.is_none() && k.retired_at.is_none()
            }
            KeyStatus::Passive => {
                k.private_key.is_some() && k.demoted_at.is_some() && k.retired_at.is_none()
            }
            KeyStatus::Retired => {
                k.private_key.is_none() && k.demoted_at.is_some() && k.retired_at.is_some()
            }
        };
        assert!(
            shaped,
            "a pending key has its private key and activates_at and no demoted_at/retired_at, \
             an active key its private key and no demoted_at/retired_at, a passive one its \
             private key and demoted_at, a retired one no private key and both times; \
             {when}: {k:?}"
        );
    }
}

/// Asserts that `kid` is the one active key.
#[track_caller]
fn assert_active(active: Option<&SigningKey>, kid: &str, when: &str) {
    assert_eq!(
        active.map(|k| (k.kid.as_str(), k.status)),
        Some((kid, KeyStatus::Active)),
        "active_key {when}"
    );
}

/// The [`KeyStore`] contract: exactly one active key after any sequence of operations;
/// `insert_initial` stores a key only when none is active; `rotate_in` makes the new key
/// active and keeps the previous one passive (with its private key, so no token is
/// invalidated) in one operation, and refuses a taken `kid` without changing anything;
/// `retire_expired` retires exactly the passive keys past their verify-until (and erases
/// their private key); pending keys (`add_pending`, `activate_due`, `rotate_in` retiring one)
/// and `retire_key`; HMAC keys, the empty kid among them; keys round-trip exactly; `Debug`
/// never shows a private key.
pub async fn keys<S: KeyStore + ?Sized>(store: &S) {
    // The store may hold earlier runs' keys; this run checks what its own operations do.
    key_invariants(store, "before the run", false).await;
    let active0 = ok("active_key", store.active_key().await);

    // add_pending needs an active key to follow.
    if active0.is_none() {
        let p = new_key(Algorithm::EdDSA, T0);
        conflict(
            "add_pending on a store without an active key",
            store.add_pending(p.clone(), T0 + 1, None).await,
        );
        assert_eq!(
            stored_key(store, &p.kid).await,
            None,
            "a refused add_pending must not store the key"
        );
    }

    // insert_initial: stores the key only if no key is active.
    let k1 = new_key(Algorithm::EdDSA, T0);
    let first = ok("insert_initial", store.insert_initial(k1.clone()).await);
    match &active0 {
        None => assert_eq!(
            first,
            SigningKey::active(k1.clone()),
            "insert_initial on a store without an active key must store the key as active, \
             exactly as given"
        ),
        Some(a) => assert_eq!(
            &first, a,
            "insert_initial must return the key that is active already"
        ),
    }
    assert_eq!(
        stored_key(store, &first.kid).await.as_ref(),
        Some(&first),
        "the key insert_initial returns must be stored exactly so"
    );
    key_invariants(store, "after insert_initial", true).await;
    let k1b = new_key(Algorithm::ES256, T0);
    assert_eq!(
        ok("insert_initial", store.insert_initial(k1b.clone()).await),
        first,
        "insert_initial must not replace the active key"
    );
    assert_eq!(
        stored_key(store, &k1b.kid).await,
        None,
        "insert_initial must not store a key when one is active"
    );
    assert_active(
        ok("active_key", store.active_key().await).as_ref(),
        &first.kid,
        "after a second insert_initial",
    );

    // rotate_in: the new key becomes active, the previous one passive, in one operation.
    let k2 = new_key(Algorithm::ES256, T0 + 1);
    let demoted = ok("rotate_in", store.rotate_in(k2.clone(), T0 + 10).await);
    key_invariants(store, "after rotate_in", true).await;
    assert_eq!(
        demoted.as_deref(),
        Some(first.kid.as_str()),
        "rotate_in must return the kid of the key it demoted"
    );
    assert_eq!(
        ok("active_key", store.active_key().await),
        Some(rotated(&k2, T0 + 10)),
        "after rotate_in the new key must be active, exactly as given, signing from now \
         (activates_at)"
    );
    let first_passive = SigningKey {
        status: KeyStatus::Passive,
        demoted_at: Some(T0 + 10),
        ..first.clone()
    };
    assert_eq!(
        stored_key(store, &first.kid).await.as_ref(),
        Some(&first_passive),
        "rotation must keep the previous active key, passive, with demoted_at = now and its \
         private key"
    );

    // A taken kid (active, passive) is a Conflict and changes nothing.
    let mut dup_passive = new_key(Algorithm::EdDSA, T0 + 3);
    dup_passive.kid.clone_from(&first.kid);
    for (dup, what) in [
        (k2.clone(), "the active key's"),
        (dup_passive, "a passive key's"),
    ] {
        match store.rotate_in(dup, T0 + 11).await {
            Err(StoreError::Conflict { .. }) => {}
            other => fail(format!(
                "rotate_in with {what} kid must be Err(Conflict), got {other:?}"
            )),
        }
        assert_eq!(
            ok("active_key", store.active_key().await),
            Some(rotated(&k2, T0 + 10)),
            "a refused rotate_in must not change the active key"
        );
        assert_eq!(
            stored_key(store, &first.kid).await.as_ref(),
            Some(&first_passive),
            "a refused rotate_in must not change the passive key"
        );
        key_invariants(store, "after a refused rotate_in", true).await;
    }

    // A second rotation: both earlier keys stay passive.
    let k3 = new_key(Algorithm::EdDSA, T0 + 2);
    let demoted = ok("rotate_in", store.rotate_in(k3.clone(), T0 + 20).await);
    assert_eq!(
        demoted.as_deref(),
        Some(k2.kid.as_str()),
        "rotate_in must return the kid of the key it demoted"
    );
    let k2_passive = SigningKey {
        status: KeyStatus::Passive,
        demoted_at: Some(T0 + 20),
        ..rotated(&k2, T0 + 10)
    };
    assert_eq!(
        stored_key(store, &k2.kid).await.as_ref(),
        Some(&k2_passive),
        "rotation must keep the previous active key passive"
    );
    assert_eq!(
        stored_key(store, &first.kid).await.as_ref(),
        Some(&first_passive),
        "a rotation must not touch keys that were passive already"
    );
    assert_active(
        ok("active_key", store.active_key().await).as_ref(),
        &k3.kid,
        "after the second rotate_in",
    );
    key_invariants(store, "after the second rotate_in", true).await;

    // retire_expired: only passive keys whose verify-until (demoted_at + lifetime) is before
    // now; at verify-until a token may still be valid.
    let at_edge = T0 + 10 + KEY_LIFETIME;
    let retired = ok(
        "retire_expired",
        store.retire_expired(at_edge, KEY_LIFETIME).await,
    );
    assert!(
        !retired.contains(&first.kid) && !retired.contains(&k2.kid),
        "retire_expired must keep passive keys until their verify-until has passed: {retired:?}"
    );
    assert_eq!(
        stored_key(store, &first.kid).await.as_ref(),
        Some(&first_passive),
        "retire_expired must keep passive keys until their verify-until has passed"
    );
    let now = at_edge + 1;
    let retired = ok(
        "retire_expired",
        store.retire_expired(now, KEY_LIFETIME).await,
    );
    assert!(
        retired.contains(&first.kid),
        "retire_expired must retire passive keys past their verify-until: {retired:?}"
    );
    assert!(
        !retired.contains(&k2.kid) && !retired.contains(&k3.kid),
        "retire_expired must retire only keys past their verify-until, never the active key: \
         {retired:?}"
    );
    assert!(
        retired.windows(2).all(|w| w[0] < w[1]),
        "retire_expired must return the kids sorted"
    );
    assert_eq!(
        stored_key(store, &first.kid).await,
        Some(SigningKey {
            status: KeyStatus::Retired,
            retired_at: Some(now),
            private_key: None,
            ..first_passive.clone()
        }),
        "a retired key must keep its record, with retired_at = now and no private key"
    );
    assert_eq!(
        stored_key(store, &k2.kid).await.as_ref(),
        Some(&k2_passive),
        "retire_expired must not touch keys within their verify-until"
    );
    assert_eq!(
        ok("active_key", store.active_key().await),
        Some(rotated(&k3, T0 + 20)),
        "retire_expired must not touch the active key"
    );
    assert!(
        !ok(
            "retire_expired",
            store.retire_expired(now, KEY_LIFETIME).await
        )
        .contains(&first.kid),
        "retire_expired must not return keys retired before"
    );
    let retired = ok(
        "retire_expired",
        store
            .retire_expired(T0 + 20 + KEY_LIFETIME + 1, KEY_LIFETIME)
            .await,
    );
    assert!(
        retired.contains(&k2.kid) && !retired.contains(&k3.kid),
        "retire_expired must retire passive keys past their verify-until: {retired:?}"
    );
    key_invariants(store, "after retire_expired", true).await;

    // A retired key's kid stays taken.
    let mut dup_retired = new_key(Algorithm::EdDSA, T0 + 4);
    dup_retired.kid.clone_from(&first.kid);
    match store.rotate_in(dup_retired, T0 + 30).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "rotate_in with a retired key's kid must be Err(Conflict), got {other:?}"
        )),
    }
    assert_active(
        ok("active_key", store.active_key().await).as_ref(),
        &k3.kid,
        "after a refused rotate_in",
    );

    let scheduled = pending_keys(store).await;
    let hmac = hmac_keys(store).await;

    // Debug never shows a private key: not a key's, not the listing's, not the store's.
    let listed = ok("list_keys", store.list_keys().await);
    let debug = format!("{listed:?} {store:?} {k1:?} {k2:?} {k3:?} {scheduled:?} {hmac:?}");
    for k in [&k1, &k2, &k3].into_iter().chain(&scheduled).chain(&hmac) {
        let pem = k.private_key.expose();
        let body = pem.lines().find(|l| !l.starts_with("-----")).unwrap_or(pem);
        assert!(
            !debug.contains(body),
            "Debug of a key, of list_keys or of the store must not show a private key: {debug}"
        );
    }
    assert!(
        format!("{k3:?}").contains("<redacted>"),
        "a key's Debug must say the private key is redacted"
    );

    secrets(store).await;
}

/// HMAC keys: stored, made pending and promoted as asymmetric ones are, the secret as hex; the
/// deployment's first secret, under the empty `kid` (its tokens carry none), round-trips and
/// its kid stays taken. Leaves one active key and none pending. Returns the keys it made.
async fn hmac_keys<S: KeyStore + ?Sized>(store: &S) -> Vec<NewSigningKey> {
    let base = T0 + 6_000;
    let signer = active_kid(store, "before the HMAC keys").await;
    let secret = format!("{}{}", jwtx::uuid4(), jwtx::uuid4());
    let first = NewSigningKey::first_hmac(Algorithm::HS256, secret.as_bytes(), base);
    let stored_now = match stored_key(store, "").await {
        None => {
            assert_eq!(
                ok("rotate_in", store.rotate_in(first.clone(), base).await),
                Some(signer),
                "rotate_in of the first HMAC secret (the empty kid) must demote the active key"
            );
            assert_eq!(
                stored_key(store, "").await,
                Some(rotated(&first, base)),
                "a key with the empty kid must be stored and read back exactly"
            );
            match ok("active_key", store.active_key().await).map(|k| k.key()) {
                Some(Ok(key)) => assert_eq!(
                    (key.kid(), key.algorithm()),
                    (None, Algorithm::HS256),
                    "the first HMAC secret's key must carry no kid"
                ),
                other => fail(format!(
                    "the active first HMAC secret must parse as an HS256 key, got {other:?}"
                )),
            }
            true
        }
        // An earlier run on this store stored one.
        Some(k) => {
            assert!(
                k.alg.starts_with("HS"),
                "the key with the empty kid is an HMAC key: {k:?}"
            );
            false
        }
    };
    let again = NewSigningKey::first_hmac(Algorithm::HS256, &[7; 32], base + 1);
    conflict(
        "rotate_in with the empty kid taken",
        store.rotate_in(again.clone(), base + 1).await,
    );
    conflict(
        "add_pending with the empty kid taken",
        store.add_pending(again, base + 1, None).await,
    );

    // A generated HMAC key (random kid), pending, then signing.
    let h = new_key(Algorithm::HS384, base + 2);
    ok(
        "add_pending",
        store.add_pending(h.clone(), base + 10, None).await,
    );
    assert_eq!(
        stored_key(store, &h.kid).await,
        Some(SigningKey::pending(h.clone(), base + 10)),
        "a pending HMAC key must be stored and read back exactly"
    );
    assert_eq!(
        ok("activate_due", store.activate_due(base + 10).await),
        Some(h.kid.clone()),
        "activate_due must promote a pending HMAC key"
    );
    match ok("active_key", store.active_key().await).map(|k| k.key()) {
        Some(Ok(key)) => assert_eq!(
            (key.kid(), key.algorithm()),
            (Some(h.kid.as_str()), Algorithm::HS384),
            "an HMAC key must parse back with its kid"
        ),
        other => fail(format!(
            "the active HMAC key must parse as an HS384 key, got {other:?}"
        )),
    }
    if stored_now {
        assert_eq!(
            stored_key(store, "").await,
            Some(SigningKey {
                status: KeyStatus::Passive,
                demoted_at: Some(base + 10),
                ..rotated(&first, base)
            }),
            "the first HMAC secret must stay, passive, verifying kid-less tokens"
        );
    }
    key_invariants(store, "after the HMAC keys", true).await;
    vec![first, h]
}

/// The listing, to compare before and after an operation that must change nothing.
async fn listing<S: KeyStore + ?Sized>(store: &S) -> Vec<SigningKey> {
    ok("list_keys", store.list_keys().await)
}

/// The active key's `kid`; the suite fails if there is none.
async fn active_kid<S: KeyStore + ?Sized>(store: &S, when: &str) -> String {
    match ok("active_key", store.active_key().await) {
        Some(k) => k.kid,
        None => fail(format!("a key must be active {when}")),
    }
}

/// Pending keys: `add_pending` refuses (changing nothing) a taken kid, a second pending key,
/// and an active key other than the expected one; a pending key is listed with its
/// `activates_at` and verifies without signing; `activate_due` promotes it exactly when its
/// time has come, once, demoting the active key at that time; `rotate_in` retires a pending
/// key; `retire_key` retires pending and passive keys (erasing their private key) but never
/// the active one. Leaves one active key and none pending. Returns the keys it made.
async fn pending_keys<S: KeyStore + ?Sized>(store: &S) -> Vec<NewSigningKey> {
    let base = T0 + 5_000;
    let signer = active_kid(store, "before add_pending").await;
    let before = listing(store).await;

    // Refusals change nothing.
    let p1 = new_key(Algorithm::ES256, base);
    conflict(
        "add_pending expecting another active key than the active one",
        store
            .add_pending(p1.clone(), base + 100, Some("no-such-kid"))
            .await,
    );
    let mut taken = new_key(Algorithm::EdDSA, base);
    taken.kid.clone_from(&signer);
    conflict(
        "add_pending with the active key's kid",
        store.add_pending(taken, base + 100, Some(&signer)).await,
    );
    assert_eq!(
        listing(store).await,
        before,
        "a refused add_pending must change nothing"
    );

    // Stored as pending; the active key still signs.
    ok(
        "add_pending",
        store
            .add_pending(p1.clone(), base + 100, Some(&signer))
            .await,
    );
    let p1_pending = SigningKey::pending(p1.clone(), base + 100);
    assert_eq!(
        stored_key(store, &p1.kid).await.as_ref(),
        Some(&p1_pending),
        "add_pending must list the key as pending, exactly as given, with its activates_at"
    );
    assert_active(
        ok("active_key", store.active_key().await).as_ref(),
        &signer,
        "after add_pending (the pending key must not sign before its time)",
    );
    key_invariants(store, "after add_pending", true).await;

    // A second pending key, or a taken kid, is refused whatever is expected.
    let p2 = new_key(Algorithm::EdDSA, base + 1);
    let after_add = listing(store).await;
    for expected in [Some(signer.as_str()), None] {
        conflict(
            "add_pending while a key is pending",
            store.add_pending(p2.clone(), base + 200, expected).await,
        );
    }
    conflict(
        "add_pending with the pending key's kid",
        store.add_pending(p1.clone(), base + 200, None).await,
    );
    assert_eq!(
        listing(store).await,
        after_add,
        "a refused add_pending must change nothing"
    );

    // activate_due: nothing before the time; at it, the pending key signs and the active one
    // is demoted at that time; once.
    assert_eq!(
        ok("activate_due", store.activate_due(base + 99).await),
        None,
        "activate_due before the pending key's activates_at must promote nothing"
    );
    assert_eq!(
        listing(store).await,
        after_add,
        "activate_due before the pending key's activates_at must change nothing"
    );
    assert_eq!(
        ok("activate_due", store.activate_due(base + 100).await),
        Some(p1.kid.clone()),
        "activate_due at the pending key's activates_at must promote it"
    );
    let p1_active = SigningKey {
        status: KeyStatus::Active,
        ..p1_pending.clone()
    };
    assert_eq!(
        ok("active_key", store.active_key().await),
        Some(p1_active.clone()),
        "activate_due must make the pending key active, keeping its activates_at"
    );
    let demoted = stored_key(store, &signer).await;
    assert_eq!(
        demoted.as_ref().map(|k| (k.status, k.demoted_at)),
        Some((KeyStatus::Passive, Some(base + 100))),
        "activate_due must make the active key passive with demoted_at = the pending key's \
         activates_at"
    );
    key_invariants(store, "after activate_due", true).await;
    let promoted = listing(store).await;
    for now in [base + 100, base + 10_000] {
        assert_eq!(
            ok("activate_due", store.activate_due(now).await),
            None,
            "activate_due with no key pending must promote nothing (it is idempotent)"
        );
    }
    assert_eq!(
        listing(store).await,
        promoted,
        "activate_due with no key pending must change nothing"
    );

    // Called late, it demotes the active key at the pending key's time, not at its own now.
    ok(
        "add_pending",
        store
            .add_pending(p2.clone(), base + 200, Some(&p1.kid))
            .await,
    );
    assert_eq!(
        ok("activate_due", store.activate_due(base + 900).await),
        Some(p2.kid.clone()),
        "activate_due after the pending key's activates_at must promote it"
    );
    let p1_passive = SigningKey {
        status: KeyStatus::Passive,
        demoted_at: Some(base + 200),
        ..p1_active.clone()
    };
    assert_eq!(
        stored_key(store, &p1.kid).await.as_ref(),
        Some(&p1_passive),
        "activate_due must demote the active key at the pending key's activates_at, not now"
    );
    let p2_active = SigningKey {
        status: KeyStatus::Active,
        ..SigningKey::pending(p2.clone(), base + 200)
    };
    assert_eq!(
        ok("active_key", store.active_key().await),
        Some(p2_active.clone()),
        "activate_due must make the pending key active"
    );
    key_invariants(store, "after a late activate_due", true).await;

    // rotate_in retires a pending key (it never signed).
    let p3 = new_key(Algorithm::ES256, base + 2);
    ok(
        "add_pending",
        store.add_pending(p3.clone(), base + 400, None).await,
    );
    let k4 = new_key(Algorithm::EdDSA, base + 3);
    assert_eq!(
        ok("rotate_in", store.rotate_in(k4.clone(), base + 350).await),
        Some(p2.kid.clone()),
        "rotate_in with a key pending must demote the active key"
    );
    assert_eq!(
        stored_key(store, &p3.kid).await,
        Some(SigningKey {
            status: KeyStatus::Retired,
            private_key: None,
            demoted_at: Some(base + 350),
            retired_at: Some(base + 350),
            ..SigningKey::pending(p3.clone(), base + 400)
        }),
        "rotate_in must retire the pending key: demoted_at = retired_at = now, private key \
         erased"
    );
    assert_eq!(
        ok("active_key", store.active_key().await),
        Some(rotated(&k4, base + 350)),
        "rotate_in with a key pending must make the new key active"
    );
    assert_eq!(
        ok("activate_due", store.activate_due(base + 500).await),
        None,
        "a pending key retired by rotate_in must never be promoted"
    );
    key_invariants(store, "after rotate_in retired the pending key", true).await;

    // retire_key: a pending key is retired demoted at once; a passive one keeps its
    // demoted_at; the active key is refused; an unknown kid is None; a retired key is
    // returned and stays as it is.
    let p4 = new_key(Algorithm::ES256, base + 4);
    ok(
        "add_pending",
        store
            .add_pending(p4.clone(), base + 600, Some(&k4.kid))
            .await,
    );
    let p4_pending = SigningKey::pending(p4.clone(), base + 600);
    assert_eq!(
        ok("retire_key", store.retire_key(&p4.kid, base + 450).await),
        Some(p4_pending.clone()),
        "retire_key must return the pending key as it was"
    );
    assert_eq!(
        stored_key(store, &p4.kid).await,
        Some(SigningKey {
            status: KeyStatus::Retired,
            private_key: None,
            demoted_at: Some(base + 450),
            retired_at: Some(base + 450),
            ..p4_pending
        }),
        "retire_key of a pending key must retire it with demoted_at = retired_at = now and \
         erase its private key"
    );
    let p2_passive = SigningKey {
        status: KeyStatus::Passive,
        demoted_at: Some(base + 350),
        ..p2_active
    };
    assert_eq!(
        ok("retire_key", store.retire_key(&p2.kid, base + 460).await),
        Some(p2_passive.clone()),
        "retire_key must return the passive key as it was"
    );
    let p2_retired = SigningKey {
        status: KeyStatus::Retired,
        private_key: None,
        retired_at: Some(base + 460),
        ..p2_passive
    };
    assert_eq!(
        stored_key(store, &p2.kid).await.as_ref(),
        Some(&p2_retired),
        "retire_key of a passive key must retire it at now, keeping its demoted_at, and erase \
         its private key"
    );
    let settled = listing(store).await;
    conflict(
        "retire_key of the active key",
        store.retire_key(&k4.kid, base + 470).await,
    );
    assert_eq!(
        ok(
            "retire_key",
            store.retire_key(&unique("no-such-kid"), base + 470).await
        ),
        None,
        "retire_key of an unknown kid must return None"
    );
    assert_eq!(
        ok("retire_key", store.retire_key(&p2.kid, base + 480).await),
        Some(p2_retired.clone()),
        "retire_key of a retired key must return it as it is"
    );
    assert_eq!(
        listing(store).await,
        settled,
        "retire_key of the active key, of an unknown kid or of a retired key must change \
         nothing"
    );
    conflict(
        "add_pending with a retired key's kid",
        store.add_pending(p4.clone(), base + 700, None).await,
    );
    assert_eq!(
        listing(store).await,
        settled,
        "a refused add_pending must change nothing"
    );
    key_invariants(store, "after retire_key", true).await;
    vec![p1, p2, p3, p4, k4]
}

/// [`KeyStore::secret_or_insert`]: the first secret stored under a name is the one every later
/// caller gets; names are independent; `Debug` never shows one.
async fn secrets<S: KeyStore + ?Sized>(store: &S) {
    let name = unique("secret");
    let first = StoredSecret::new(jwtx::uuid4());
    let got = ok(
        "secret_or_insert",
        store.secret_or_insert(&name, first.clone()).await,
    );
    assert_eq!(
        got, first,
        "secret_or_insert under a new name must store and return the generated secret"
    );
    let again = ok(
        "secret_or_insert",
        store
            .secret_or_insert(&name, StoredSecret::new(jwtx::uuid4()))
            .await,
    );
    assert_eq!(
        again, first,
        "secret_or_insert must keep the first secret stored under a name, never replace it"
    );
    let other = StoredSecret::new(jwtx::uuid4());
    let got = ok(
        "secret_or_insert",
        store
            .secret_or_insert(&unique("secret"), other.clone())
            .await,
    );
    assert_eq!(
        got, other,
        "secret_or_insert must keep each name's secret apart"
    );
    assert!(
        !format!("{first:?} {store:?}").contains(first.expose()),
        "Debug of a stored secret or of the store must not show it"
    );
}
