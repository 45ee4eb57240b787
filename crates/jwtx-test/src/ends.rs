//! The [`ends`] part: every end of a session is one step that appends its one log entry.

use jwtx::NumericDate;
use jwtx::store::{
    Ended, Logged, MAX_LIVE_SESSIONS, PasswordChange, Revocation, RevocationSet, RevocationStore,
    Rotation, RotationPolicy, Session, SessionCreated, SessionStore, StoreError, TokenRef,
    UserStore,
};

use crate::fixtures::{T0, session, unique, user};
use crate::{ALL, LIFETIME, create, created, fail, ok};

/// The `until` of the markers [`mark`] appends: in the window purges clear.
const MARKER_UNTIL: NumericDate = 1_000;

/// Appends a marker entry; what an operation appends next is read back after it.
async fn mark<S: RevocationStore + ?Sized>(store: &S) -> u64 {
    let marker = Revocation::Token {
        jti: unique("marker"),
        until: MARKER_UNTIL,
    };
    ok("revoke", store.revoke(marker).await)
}

/// Every entry appended after `marker`.
async fn appended<S: RevocationStore + ?Sized>(store: &S, marker: u64) -> Vec<(u64, Revocation)> {
    ok(
        "revocations_since",
        store.revocations_since(marker, 0, ALL).await,
    )
}

/// Asserts that `what` appended `logged`, and nothing else, after `marker`.
async fn appended_alone<S: RevocationStore + ?Sized>(
    store: &S,
    marker: u64,
    logged: &Logged,
    what: &str,
) {
    assert_eq!(
        appended(store, marker).await,
        vec![(logged.id, logged.revocation.clone())],
        "{what} must append exactly the one entry it returns, in the same step"
    );
}

/// Asserts that `what` appended nothing after `marker`.
async fn appended_nothing<S: RevocationStore + ?Sized>(store: &S, marker: u64, what: &str) {
    assert_eq!(
        appended(store, marker).await,
        Vec::new(),
        "{what} must append nothing to the log"
    );
}

/// The store's clock.
async fn store_now<S: UserStore + ?Sized>(store: &S) -> NumericDate {
    ok("now", store.now().await)
}

/// The cutoff of a user entry, which must lie within the store's clock readings around the
/// operation that took it.
#[track_caller]
fn cutoff_of(logged: &Logged, before: NumericDate, after: NumericDate, what: &str) -> NumericDate {
    let cutoff = match &logged.revocation {
        Revocation::User { cutoff, .. } => *cutoff,
        other => fail(format!("{what} must log a user cut-off, got {other:?}")),
    };
    assert!(
        before <= cutoff && cutoff <= after,
        "{what} must take its cut-off from the store's clock (UserStore::now): {cutoff} is \
         not within [{before}, {after}]"
    );
    cutoff
}

/// `revoked_at` of session `id`.
async fn revoked_at<S: SessionStore + ?Sized>(store: &S, id: &str) -> Option<NumericDate> {
    ok("get_session", store.get_session(id).await).and_then(|s| s.revoked_at)
}

/// A token of `sub` in session `sid` (if any) issued at `iat`.
fn token_of<'a>(sub: &'a str, sid: Option<&'a str>, iat: NumericDate) -> TokenRef<'a> {
    TokenRef {
        kid: None,
        jti: None,
        sid,
        sub,
        iat: Some(iat),
    }
}

/// The entry ending session `s`.
fn session_end(s: &Session) -> Revocation {
    Revocation::Session {
        id: s.id.clone(),
        until: s.expires_at,
    }
}

/// Session ends and the revocation log: each end of a session is one step that also appends
/// its one entry, returned as [`Logged`]. One session ([`SessionStore::revoke_session`], reuse
/// in [`SessionStore::rotate`], the session cap in [`SessionStore::create_session`]) appends a
/// [`Revocation::Session`] until the session's end; every session of a user
/// ([`SessionStore::end_user_sessions`], [`UserStore::change_password`],
/// [`UserStore::delete_user`]) appends one [`Revocation::User`] cut-off at the store's clock,
/// however many sessions end, sparing the kept session; a later login in or before the
/// cut-off's second is [`SessionCreated::TooEarly`]; refused operations append nothing.
///
/// Cut-offs are checked against [`UserStore::now`], read around each operation, so the part
/// runs on a store with any clock.
pub async fn ends<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    single_session_ends(store).await;
    session_cap(store).await;
    every_session(store).await;
    password_change(store).await;
    deletion(store).await;
}

/// `revoke_session` and reuse: the session's end, logged until its `expires_at`.
async fn single_session_ends<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    let owner = created(store, user(&unique("single-ends"), &["user"])).await;
    let now = T0 + 100;

    let s = session(&owner.name, T0, T0 + 86_400);
    create(store, s.clone(), owner.generation).await;
    let marker = mark(store).await;
    let Some(logged) = ok("revoke_session", store.revoke_session(&s.id, now).await) else {
        fail("revoke_session of a live session must return its log entry".into())
    };
    assert_eq!(
        revoked_at(store, &s.id).await,
        Some(now),
        "revoke_session must revoke the session at now"
    );
    assert_eq!(
        logged.revocation,
        session_end(&s),
        "revoke_session must log the session's end, kept until its expires_at"
    );
    appended_alone(store, marker, &logged, "revoke_session").await;

    let ended = session(&owner.name, T0, now);
    create(store, ended.clone(), owner.generation).await;
    let marker = mark(store).await;
    for (id, what) in [
        (&s.id, "a revoked session"),
        (&ended.id, "a session past its end"),
        (&unique("no-such-session"), "an unknown session"),
    ] {
        assert_eq!(
            ok("revoke_session", store.revoke_session(id, now + 1).await),
            None,
            "revoke_session of {what} must return None"
        );
    }
    appended_nothing(
        store,
        marker,
        "revoke_session of a session that is not live",
    )
    .await;
    assert_eq!(
        revoked_at(store, &ended.id).await,
        None,
        "revoke_session must not touch a session past its end"
    );

    let s = session(&owner.name, T0, T0 + 86_400);
    create(store, s.clone(), owner.generation).await;
    let policy = RotationPolicy {
        now,
        grace: 10,
        idle_timeout: 86_400,
    };
    let marker = mark(store).await;
    let replayed = unique("jti-replayed");
    let logged = match ok(
        "rotate",
        store.rotate(&s.id, &replayed, &unique("jti"), policy).await,
    ) {
        Rotation::Reused { logged } => logged,
        other => fail(format!("a replayed jti must be Reused, got {other:?}")),
    };
    assert_eq!(
        revoked_at(store, &s.id).await,
        Some(now),
        "Reused must revoke the session"
    );
    assert_eq!(
        logged.revocation,
        session_end(&s),
        "Reused must log the session's end, kept until its expires_at"
    );
    appended_alone(store, marker, &logged, "rotate (Reused)").await;
    let marker = mark(store).await;
    assert_eq!(
        ok(
            "rotate",
            store.rotate(&s.id, &replayed, &unique("jti"), policy).await
        ),
        Rotation::Ended,
        "after reuse the session must be Ended"
    );
    appended_nothing(store, marker, "rotate of an ended session").await;
    ok(
        "delete_user",
        store.delete_user(&owner.name, LIFETIME).await,
    );
}

/// A user holds at most [`MAX_LIVE_SESSIONS`] live sessions: the login past it ends the
/// oldest, in the same step, logs it, and says so.
async fn session_cap<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    let owner = created(store, user(&unique("many-sessions"), &["user"])).await;
    let cap = MAX_LIVE_SESSIONS as u64;
    let marker = mark(store).await;
    let first = session(&owner.name, T0, T0 + 10 * cap);
    create(store, first.clone(), owner.generation).await;
    for i in 1..cap {
        let s = session(&owner.name, T0 + i, T0 + 10 * cap);
        create(store, s, owner.generation).await;
    }
    appended_nothing(store, marker, "create_session within the cap").await;

    let last = session(&owner.name, T0 + cap, T0 + 10 * cap);
    let marker = mark(store).await;
    let created = ok(
        "create_session",
        store.create_session(last.clone(), owner.generation).await,
    );
    let SessionCreated::Created {
        ended: Some(logged),
    } = created
    else {
        fail(format!(
            "create_session past the cap must end the user's oldest live session and return \
             its log entry, got {created:?}"
        ))
    };
    assert_eq!(
        logged.revocation,
        session_end(&first),
        "create_session past the cap must end the user's oldest live session and return its \
         log entry, kept until its expires_at"
    );
    assert_eq!(
        revoked_at(store, &first.id).await,
        Some(T0 + cap),
        "the session the cap ends must be revoked at the new session's created_at"
    );
    appended_alone(store, marker, &logged, "create_session past the cap").await;
    let live = ok(
        "list_sessions",
        store.list_sessions(&owner.name, T0 + cap, None, ALL).await,
    );
    assert_eq!(live.len() as u64, cap, "the user keeps exactly the cap");
    assert_eq!(
        live.first().map(|s| &s.id),
        Some(&last.id),
        "list_sessions must list the newest first"
    );
    ok(
        "delete_user",
        store.delete_user(&owner.name, LIFETIME).await,
    );
}

/// `end_user_sessions`: any number of sessions, one entry, one cut-off at the store's clock.
async fn every_session<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    let owner = created(store, user(&unique("ends-all"), &["user"])).await;
    let other = created(store, user(&unique("ends-all-other"), &["user"])).await;
    let before = store_now(store).await;
    let start = before.saturating_sub(100);
    let far = before + 30 * 86_400;
    let live: Vec<Session> = (0..50)
        .map(|i| session(&owner.name, start + i % 7, far))
        .collect();
    for s in &live {
        create(store, s.clone(), owner.generation).await;
    }
    let keep = &live[17];
    let already = session(&owner.name, start, far);
    let past_end = session(&owner.name, start, before);
    for s in [&already, &past_end] {
        create(store, s.clone(), owner.generation).await;
    }
    let revoked = ok(
        "revoke_session",
        store.revoke_session(&already.id, start + 1).await,
    );
    assert!(revoked.is_some(), "revoke_session of a live session");
    let theirs = session(&other.name, start, far);
    create(store, theirs.clone(), other.generation).await;

    let marker = mark(store).await;
    let Ended { sessions, logged } = ok(
        "end_user_sessions",
        store
            .end_user_sessions(&owner.name, Some(&keep.id), LIFETIME)
            .await,
    );
    let after = store_now(store).await;
    let cutoff = cutoff_of(&logged, before, after, "end_user_sessions");
    for s in &live {
        if s.id == keep.id {
            assert_eq!(
                revoked_at(store, &s.id).await,
                None,
                "end_user_sessions must not revoke the kept session"
            );
        } else {
            assert_eq!(
                revoked_at(store, &s.id).await,
                Some(cutoff),
                "end_user_sessions must revoke every live session but keep, at the cut-off"
            );
        }
    }
    assert_eq!(
        sessions, 49,
        "end_user_sessions must count the sessions it revoked (49 of 50: all but keep)"
    );
    assert_eq!(
        revoked_at(store, &already.id).await,
        Some(start + 1),
        "end_user_sessions must not touch already revoked sessions"
    );
    assert_eq!(
        revoked_at(store, &past_end.id).await,
        None,
        "end_user_sessions must not touch sessions past their end"
    );
    assert_eq!(
        revoked_at(store, &theirs.id).await,
        None,
        "end_user_sessions must not touch other users' sessions"
    );
    assert_eq!(
        logged.revocation,
        Revocation::user(&owner.name, cutoff, LIFETIME, Some(&keep.id)),
        "end_user_sessions must log one cut-off of the user's tokens, sparing the kept session"
    );
    appended_alone(store, marker, &logged, "end_user_sessions of 49 sessions").await;

    // The entry, applied as a server applies it: the kept session's tokens live on; every
    // other token of the user issued up to the cut-off second, inclusive, is revoked.
    let set = RevocationSet::new();
    set.apply(logged.id, &logged.revocation);
    let token = |sid, iat| token_of(&owner.name, sid, iat);
    assert!(
        !set.is_revoked(token(Some(&keep.id), cutoff)),
        "the cut-off must spare the kept session's tokens"
    );
    for (sid, what) in [
        (Some(live[0].id.as_str()), "an ended session's tokens"),
        (
            Some(already.id.as_str()),
            "tokens of a session revoked before",
        ),
        (None, "tokens outside sessions"),
    ] {
        assert!(
            set.is_revoked(token(sid, cutoff)),
            "the cut-off must revoke {what}, of its own second too"
        );
    }
    assert!(
        !set.is_revoked(token(None, cutoff + 1)),
        "the cut-off must not revoke tokens issued after it"
    );

    // A login in or before the cut-off second would issue tokens the cut-off revokes: it is
    // told to wait, and nothing is written.
    let marker = mark(store).await;
    for at in [cutoff.saturating_sub(50), cutoff] {
        let early = session(&owner.name, at, cutoff + 86_400);
        match ok(
            "create_session",
            store.create_session(early.clone(), owner.generation).await,
        ) {
            SessionCreated::TooEarly { cutoff: c } if c == cutoff => {}
            other => fail(format!(
                "create_session of a session starting at or before the user's latest cut-off \
                 ({at} <= {cutoff}) must be TooEarly with that cut-off, got {other:?}"
            )),
        }
        assert_eq!(
            ok("get_session", store.get_session(&early.id).await),
            None,
            "a TooEarly create_session must store nothing"
        );
    }
    appended_nothing(store, marker, "a TooEarly create_session").await;
    let next = session(&owner.name, cutoff + 1, cutoff + 86_400);
    create(store, next.clone(), owner.generation).await;

    // Without keep: the rest, and a cut-off sparing nothing.
    let before = store_now(store).await;
    let marker = mark(store).await;
    let Ended { sessions, logged } = ok(
        "end_user_sessions",
        store.end_user_sessions(&owner.name, None, LIFETIME).await,
    );
    let after = store_now(store).await;
    let cutoff = cutoff_of(&logged, before, after, "end_user_sessions");
    assert_eq!(
        sessions, 2,
        "end_user_sessions without keep must revoke the kept session and the one created since"
    );
    assert_eq!(
        ok(
            "list_sessions",
            store.list_sessions(&owner.name, cutoff, None, ALL).await
        ),
        Vec::new(),
        "after end_user_sessions without keep nothing is live"
    );
    assert_eq!(
        logged.revocation,
        Revocation::user(&owner.name, cutoff, LIFETIME, None),
        "end_user_sessions without keep must log a cut-off sparing nothing"
    );
    appended_alone(store, marker, &logged, "end_user_sessions").await;

    // A name without a user: tokens may have been minted for it, so the entry is appended.
    let ghost = unique("never-a-user");
    let before = store_now(store).await;
    let marker = mark(store).await;
    let Ended { sessions, logged } = ok(
        "end_user_sessions",
        store.end_user_sessions(&ghost, None, LIFETIME).await,
    );
    let after = store_now(store).await;
    let cutoff = cutoff_of(
        &logged,
        before,
        after,
        "end_user_sessions of an unknown user",
    );
    assert_eq!(
        (sessions, &logged.revocation),
        (0, &Revocation::user(&ghost, cutoff, LIFETIME, None)),
        "end_user_sessions of an unknown user must end nothing and still log the cut-off"
    );
    appended_alone(
        store,
        marker,
        &logged,
        "end_user_sessions of an unknown user",
    )
    .await;

    for u in [&owner, &other] {
        ok("delete_user", store.delete_user(&u.name, LIFETIME).await);
    }
}

/// `change_password`: the hash, a new generation and the end of every other session with one
/// cut-off, or (Stale, NoSuchUser) nothing at all.
async fn password_change<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    let owner = &created(store, user(&unique("credentials"), &["user"])).await;
    let before = store_now(store).await;
    let start = before.saturating_sub(100);
    let keep = session(&owner.name, start, before + 3600);
    let ended = session(&owner.name, start + 1, before + 3600);
    for s in [&keep, &ended] {
        create(store, s.clone(), owner.generation).await;
    }
    let stale = session(&owner.name, start + 2, before + 3600);
    match store
        .create_session(stale.clone(), owner.generation + 1)
        .await
    {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "create_session at a generation the user does not have must be Err(Conflict), \
             got {other:?}"
        )),
    }

    let hash = "$argon2id$v=19$m=19456,t=2,p=1$Y2hhbmdlZA$Y2hhbmdlZC1oYXNo";
    let marker = mark(store).await;
    match ok(
        "change_password",
        store
            .change_password(&owner.name, hash, owner.generation + 1, None, LIFETIME)
            .await,
    ) {
        PasswordChange::Stale => {}
        other => fail(format!(
            "change_password at another generation must be Stale, got {other:?}"
        )),
    }
    match ok(
        "change_password",
        store
            .change_password(&unique("nobody"), hash, 1, None, LIFETIME)
            .await,
    ) {
        PasswordChange::NoSuchUser => {}
        other => fail(format!(
            "change_password of an unknown user must be NoSuchUser, got {other:?}"
        )),
    }
    appended_nothing(store, marker, "a Stale or NoSuchUser change_password").await;
    assert_eq!(
        ok("get_user", store.get_user(&owner.name).await).as_ref(),
        Some(owner),
        "a Stale change_password must change nothing"
    );
    assert_eq!(
        revoked_at(store, &ended.id).await,
        None,
        "a Stale change_password must end no session"
    );

    let marker = mark(store).await;
    let change = ok(
        "change_password",
        store
            .change_password(
                &owner.name,
                hash,
                owner.generation,
                Some(&keep.id),
                LIFETIME,
            )
            .await,
    );
    let after = store_now(store).await;
    let PasswordChange::Changed {
        generation,
        ended: count,
        logged,
    } = change
    else {
        fail(format!(
            "change_password at the current generation must be Changed, got {change:?}"
        ))
    };
    assert_eq!(
        count, 1,
        "change_password must end every live session but the kept one (and count them)"
    );
    let cutoff = cutoff_of(&logged, before, after, "change_password");
    assert_eq!(
        ok(
            "list_sessions",
            store.list_sessions(&owner.name, cutoff, None, ALL).await
        )
        .iter()
        .map(|s| s.id.clone())
        .collect::<Vec<_>>(),
        vec![keep.id.clone()],
        "change_password must end every live session but the kept one"
    );
    assert_eq!(
        revoked_at(store, &ended.id).await,
        Some(cutoff),
        "change_password must revoke the other sessions at the cut-off"
    );
    assert_eq!(
        logged.revocation,
        Revocation::user(&owner.name, cutoff, LIFETIME, Some(&keep.id)),
        "change_password must log one cut-off of the user's tokens, sparing the kept session"
    );
    appended_alone(store, marker, &logged, "change_password").await;
    assert!(
        generation != owner.generation,
        "change_password must give the user a new generation"
    );
    let got = ok("get_user", store.get_user(&owner.name).await);
    assert_eq!(
        got.as_ref()
            .map(|u| (u.password_hash.as_str(), u.generation)),
        Some((hash, generation)),
        "change_password must store the hash and the new generation"
    );

    // A login that verified the old password cannot create its session now.
    let late = session(&owner.name, cutoff + 1, cutoff + 3600);
    match store.create_session(late.clone(), owner.generation).await {
        Err(StoreError::Conflict { .. }) => {}
        other => fail(format!(
            "create_session at the generation before a password change must be \
             Err(Conflict), got {other:?}"
        )),
    }
    assert_eq!(
        ok("get_session", store.get_session(&late.id).await),
        None,
        "a refused create_session must store nothing"
    );
    // A login with the new password waits for the cut-off second to pass.
    let early = session(&owner.name, cutoff, cutoff + 3600);
    match ok(
        "create_session",
        store.create_session(early.clone(), generation).await,
    ) {
        SessionCreated::TooEarly { cutoff: c } if c == cutoff => {}
        other => fail(format!(
            "create_session in the second of a password change's cut-off must be TooEarly \
             with that cut-off, got {other:?}"
        )),
    }
    create(
        store,
        session(&owner.name, cutoff + 1, cutoff + 3600),
        generation,
    )
    .await;
    // Nor can the old login's rehash undo the change.
    assert!(
        !ok(
            "rehash_password",
            store
                .rehash_password(&owner.name, &owner.password_hash, owner.generation)
                .await
        ),
        "rehash_password at the generation before a change must return false"
    );
    ok(
        "delete_user",
        store.delete_user(&owner.name, LIFETIME).await,
    );
}

/// `delete_user`: the user, their sessions and one cut-off, or (no such user) nothing; a user
/// created again under the name does not inherit the old one's cut-off.
async fn deletion<S: UserStore + SessionStore + RevocationStore + ?Sized>(store: &S) {
    let name = unique("deleted");
    let doomed = created(store, user(&name, &["user"])).await;
    let before = store_now(store).await;
    let s = session(&name, before.saturating_sub(100), before + 3600);
    create(store, s.clone(), doomed.generation).await;
    // A cut-off first, which the user created again below must not inherit.
    ok(
        "end_user_sessions",
        store.end_user_sessions(&name, Some(&s.id), LIFETIME).await,
    );

    let marker = mark(store).await;
    let Some(logged) = ok("delete_user", store.delete_user(&name, LIFETIME).await) else {
        fail("delete_user of an existing user must return its log entry".into())
    };
    let after = store_now(store).await;
    let cutoff = cutoff_of(&logged, before, after, "delete_user");
    assert_eq!(
        logged.revocation,
        Revocation::user(&name, cutoff, LIFETIME, None),
        "delete_user must log one cut-off of every token of the user, sparing nothing"
    );
    appended_alone(store, marker, &logged, "delete_user").await;
    assert_eq!(
        ok("get_session", store.get_session(&s.id).await),
        None,
        "delete_user must delete the user's sessions"
    );

    let marker = mark(store).await;
    assert_eq!(
        ok("delete_user", store.delete_user(&name, LIFETIME).await),
        None,
        "delete_user of a deleted user must return None"
    );
    appended_nothing(store, marker, "delete_user of no user").await;

    let again = created(store, user(&name, &[])).await;
    let fresh = session(&name, cutoff, cutoff + 3600);
    match ok(
        "create_session",
        store.create_session(fresh, again.generation).await,
    ) {
        SessionCreated::Created { ended: None } => {}
        other => fail(format!(
            "a user created again under a deleted name must not inherit the old user's \
             cut-off: create_session must be Created, got {other:?}"
        )),
    }
    ok("delete_user", store.delete_user(&name, LIFETIME).await);
}
