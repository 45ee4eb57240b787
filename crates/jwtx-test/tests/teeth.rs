//! The suite has teeth: stores with one planted bug each fail it.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use jwtx::NumericDate;
use jwtx::store::memory::MemoryStore;
use jwtx::store::{
    CredentialDigest, Ended, Judgement, KeyStatus, KeyStore, LogPosition, Logged, NewSigningKey,
    PasswordChange, Revocation, RevocationStore, Rotation, RotationPolicy, Service, ServiceStore,
    Session, SessionCreated, SessionCursor, SessionStore, SigningKey, StoreFuture, StoredSecret,
    User, UserStore, judge_rotation,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// create_user overwrites a taken name instead of a Conflict.
    Overwrite,
    /// delete_user leaves the user's sessions behind.
    OrphanSessions,
    /// list_sessions returns the oldest first.
    OldestFirst,
    /// rotate answers Reused (and logs it) but does not revoke the session.
    ReuseWithoutRevoking,
    /// revocations_since ignores `now` (returns expired entries).
    ReturnsExpired,
    /// purge_revocations also deletes entries whose until == now.
    PurgesOneTooMany,
    /// rotate_in leaves the previous key active (reported by list_keys and active_key).
    TwoActiveKeys,
    /// rotate_in forgets the previous key instead of keeping it passive.
    DropsDemotedKey,
    /// retire_expired retires passive keys at their verify-until, while a token may still be
    /// valid.
    RetiresAtVerifyUntil,
    /// rotate_in with a taken kid replaces the stored key instead of a Conflict.
    OverwritesKid,
    /// create_session does not check the generation the login verified against.
    IgnoresGeneration,
    /// change_password replaces the hash (keeping the generation) and logs a cut-off, but
    /// leaves the other sessions live.
    ChangeKeepsSessions,
    /// list_sessions starts every page at the beginning.
    IgnoresCursor,
    /// create_session past the cap ends the oldest session but does not say which.
    HidesEndedSession,
    /// end_user_sessions revokes the sessions but appends no entry.
    UnloggedEndOfAll,
    /// change_password ends the sessions but appends no entry.
    UnloggedPasswordChange,
    /// delete_user deletes but appends no entry.
    UnloggedDeletion,
    /// revoke_session revokes but appends no entry.
    UnloggedRevokeSession,
    /// rotate revokes a reused session but appends no entry.
    UnloggedReuse,
    /// create_session past the cap ends the oldest session but appends no entry.
    UnloggedCapEnd,
    /// create_session ignores the user's cut-off (never TooEarly): it stores the session.
    NeverTooEarly,
    /// end_user_sessions revokes the kept session too.
    RevokesKept,
    /// Cut-offs are taken from a clock other than the store's (`now` is 5 s ahead of them).
    WrongClock,
    /// secret_or_insert replaces the stored secret with the one it is given.
    ReplacesSecret,
    /// log_position's head is the highest id still stored, so it falls back after a purge.
    HeadFallsOnPurge,
    /// add_service replaces a service of the same name instead of a Conflict.
    OverwritesService,
    /// remove_service says it removed, but the credential still finds the service.
    KeepsRemovedService,
    /// add_pending ignores the active key it is told to expect.
    IgnoresExpectedActive,
    /// activate_due promotes a pending key a second before its activates_at.
    ActivatesEarly,
    /// activate_due demotes the active key at `now` rather than at the pending key's time.
    DemotesAtNow,
    /// rotate_in leaves the pending key pending.
    RotateKeepsPending,
    /// retire_key of the active key answers None instead of a Conflict.
    RetiresActiveSilently,
    /// retire_key keeps the private key of the key it retires.
    RetiredKeepsPrivateKey,
    /// retire_key of a retired key moves its retired_at.
    RetiresAgain,
    /// list_keys leaves out the key with the empty kid.
    HidesEmptyKid,
}

#[derive(Debug)]
struct Buggy {
    inner: MemoryStore,
    bug: Bug,
    /// OrphanSessions: users "deleted" by hiding them, their sessions left in place.
    hidden: Mutex<HashSet<String>>,
    /// Log entries the Unlogged* bugs keep out of revocations_since: as if never appended.
    unlogged: Mutex<HashSet<u64>>,
    /// Keys rotate_in demoted.
    demoted: Mutex<Vec<String>>,
    /// Records list_keys shows instead of the stored ones (by kid; the last one wins): what
    /// the key bugs would have stored.
    shown: Mutex<Vec<SigningKey>>,
}

impl Buggy {
    fn new(bug: Bug) -> Self {
        Self::on(bug, MemoryStore::new())
    }

    fn on(bug: Bug, inner: MemoryStore) -> Self {
        Buggy {
            inner,
            bug,
            hidden: Mutex::default(),
            unlogged: Mutex::default(),
            demoted: Mutex::default(),
            shown: Mutex::default(),
        }
    }

    /// Under `bug`, keeps `logged` out of the log.
    fn unlog(&self, bug: Bug, logged: Option<&Logged>) {
        if let Some(l) = logged.filter(|_| self.bug == bug) {
            self.unlogged.lock().unwrap().insert(l.id);
        }
    }
}

impl UserStore for Buggy {
    fn create_user(&self, user: User) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if self.hidden.lock().unwrap().remove(&user.name) {
                self.inner.delete_user(&user.name, 0).await?;
            }
            if self.bug == Bug::Overwrite {
                self.inner.delete_user(&user.name, 0).await?;
            }
            self.inner.create_user(user).await
        })
    }
    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            if self.hidden.lock().unwrap().contains(name) {
                return Ok(None);
            }
            self.inner.get_user(name).await
        })
    }
    fn list_users(&self) -> StoreFuture<'_, Vec<User>> {
        Box::pin(async move {
            let mut users = self.inner.list_users().await?;
            let hidden = self.hidden.lock().unwrap().clone();
            users.retain(|u| !hidden.contains(&u.name));
            Ok(users)
        })
    }
    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, PasswordChange> {
        Box::pin(async move {
            if self.bug == Bug::ChangeKeepsSessions {
                // The hash only (a rehash keeps the generation), and a cut-off in the log.
                return Ok(match self.get_user(name).await? {
                    None => PasswordChange::NoSuchUser,
                    Some(u) if u.generation != expected => PasswordChange::Stale,
                    Some(_) => {
                        self.inner.rehash_password(name, hash, expected).await?;
                        let cutoff = self.now().await?;
                        let revocation = Revocation::user(name, cutoff, lifetime, keep);
                        let id = self.inner.revoke(revocation.clone()).await?;
                        PasswordChange::Changed {
                            generation: expected,
                            ended: 0,
                            logged: Logged { id, revocation },
                        }
                    }
                });
            }
            let change = self
                .inner
                .change_password(name, hash, expected, keep, lifetime)
                .await?;
            if let PasswordChange::Changed { logged, .. } = &change {
                self.unlog(Bug::UnloggedPasswordChange, Some(logged));
            }
            Ok(change)
        })
    }
    fn rehash_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
    ) -> StoreFuture<'a, bool> {
        self.inner.rehash_password(name, hash, expected)
    }
    fn has_demo_users(&self) -> StoreFuture<'_, bool> {
        self.inner.has_demo_users()
    }
    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> StoreFuture<'a, bool> {
        self.inner.set_roles(name, roles)
    }
    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> StoreFuture<'a, Option<Logged>> {
        Box::pin(async move {
            if self.bug == Bug::OrphanSessions {
                // Hides the user, logs the cut-off and leaves their sessions behind.
                if self.get_user(name).await?.is_none() {
                    return Ok(None);
                }
                self.hidden.lock().unwrap().insert(name.to_owned());
                let revocation = Revocation::user(name, self.now().await?, lifetime, None);
                let id = self.inner.revoke(revocation.clone()).await?;
                return Ok(Some(Logged { id, revocation }));
            }
            let logged = self.inner.delete_user(name, lifetime).await?;
            self.unlog(Bug::UnloggedDeletion, logged.as_ref());
            Ok(logged)
        })
    }
    fn now(&self) -> StoreFuture<'_, NumericDate> {
        Box::pin(async move {
            let now = self.inner.now().await?;
            Ok(if self.bug == Bug::WrongClock {
                now + 5
            } else {
                now
            })
        })
    }
}

impl SessionStore for Buggy {
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, SessionCreated> {
        Box::pin(async move {
            let generation = match self.bug {
                Bug::IgnoresGeneration => self
                    .inner
                    .get_user(&session.user)
                    .await?
                    .map_or(generation, |u| u.generation),
                _ => generation,
            };
            let created = self
                .inner
                .create_session(session.clone(), generation)
                .await?;
            Ok(match created {
                SessionCreated::TooEarly { cutoff } if self.bug == Bug::NeverTooEarly => {
                    // Stored anyway, as if it started after the cut-off.
                    let mut later = session;
                    later.created_at = cutoff + 1;
                    self.inner.create_session(later, generation).await?
                }
                SessionCreated::Created { ended: Some(_) }
                    if self.bug == Bug::HidesEndedSession =>
                {
                    SessionCreated::Created { ended: None }
                }
                SessionCreated::Created { ended } => {
                    self.unlog(Bug::UnloggedCapEnd, ended.as_ref());
                    SessionCreated::Created { ended }
                }
                other => other,
            })
        })
    }
    fn get_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        self.inner.get_session(id)
    }
    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: NumericDate,
        after: Option<&'a SessionCursor>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Session>> {
        Box::pin(async move {
            let after = if self.bug == Bug::IgnoresCursor {
                None
            } else {
                after
            };
            let mut v = self.inner.list_sessions(user, now, after, limit).await?;
            if self.bug == Bug::OldestFirst {
                v.reverse();
            }
            Ok(v)
        })
    }
    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented_jti: &'a str,
        new_jti: &'a str,
        policy: RotationPolicy,
    ) -> StoreFuture<'a, Rotation> {
        Box::pin(async move {
            if self.bug == Bug::ReuseWithoutRevoking {
                let s = self.inner.get_session(id).await?;
                if judge_rotation(s.as_ref(), presented_jti, policy) == Judgement::Reused {
                    let revocation = Revocation::Session {
                        id: id.to_owned(),
                        until: s.map_or(0, |s| s.expires_at),
                    };
                    let log_id = self.inner.revoke(revocation.clone()).await?;
                    return Ok(Rotation::Reused {
                        logged: Logged {
                            id: log_id,
                            revocation,
                        },
                    });
                }
            }
            let rotation = self
                .inner
                .rotate(id, presented_jti, new_jti, policy)
                .await?;
            if let Rotation::Reused { logged } = &rotation {
                self.unlog(Bug::UnloggedReuse, Some(logged));
            }
            Ok(rotation)
        })
    }
    fn revoke_session<'a>(
        &'a self,
        id: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<Logged>> {
        Box::pin(async move {
            let logged = self.inner.revoke_session(id, now).await?;
            self.unlog(Bug::UnloggedRevokeSession, logged.as_ref());
            Ok(logged)
        })
    }
    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, Ended> {
        Box::pin(async move {
            if self.bug == Bug::RevokesKept {
                // Every session ends; the entry still spares the kept one.
                let ended = self.inner.end_user_sessions(user, None, lifetime).await?;
                let Revocation::User { cutoff, .. } = ended.logged.revocation else {
                    unreachable!()
                };
                let revocation = Revocation::user(user, cutoff, lifetime, keep);
                self.unlogged.lock().unwrap().insert(ended.logged.id);
                let id = self.inner.revoke(revocation.clone()).await?;
                return Ok(Ended {
                    sessions: ended.sessions - u64::from(keep.is_some()),
                    logged: Logged { id, revocation },
                });
            }
            let ended = self.inner.end_user_sessions(user, keep, lifetime).await?;
            self.unlog(Bug::UnloggedEndOfAll, Some(&ended.logged));
            Ok(ended)
        })
    }
    fn purge_sessions(&self, before: NumericDate) -> StoreFuture<'_, u64> {
        self.inner.purge_sessions(before)
    }
}

impl RevocationStore for Buggy {
    fn revoke(&self, revocation: Revocation) -> StoreFuture<'_, u64> {
        self.inner.revoke(revocation)
    }
    fn revocations_since(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(u64, Revocation)>> {
        Box::pin(async move {
            let now = if self.bug == Bug::ReturnsExpired {
                0
            } else {
                now
            };
            // Enough to fill `limit` after leaving out the unlogged entries.
            let unlogged = self.unlogged.lock().unwrap().clone();
            let more = u32::try_from(unlogged.len()).unwrap_or(u32::MAX);
            let mut v = self
                .inner
                .revocations_since(after, now, limit.saturating_add(more))
                .await?;
            v.retain(|(id, _)| !unlogged.contains(id));
            v.truncate(limit as usize);
            Ok(v)
        })
    }
    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64> {
        let now = if self.bug == Bug::PurgesOneTooMany {
            now + 1
        } else {
            now
        };
        self.inner.purge_revocations(now)
    }
    fn log_position(&self) -> StoreFuture<'_, LogPosition> {
        Box::pin(async move {
            let mut p = self.inner.log_position().await?;
            if self.bug == Bug::HeadFallsOnPurge {
                let kept = self.inner.revocations_since(0, 0, u32::MAX).await?;
                p.head = kept.last().map_or(0, |(id, _)| *id);
            }
            Ok(p)
        })
    }
}

impl ServiceStore for Buggy {
    fn add_service(&self, service: Service) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if self.bug == Bug::OverwritesService {
                self.inner.remove_service(&service.name).await?;
            }
            self.inner.add_service(service).await
        })
    }
    fn list_services(&self) -> StoreFuture<'_, Vec<Service>> {
        self.inner.list_services()
    }
    fn remove_service<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        if self.bug == Bug::KeepsRemovedService {
            return Box::pin(async move {
                let found = self.inner.list_services().await?;
                Ok(found.iter().any(|s| s.name == name))
            });
        }
        self.inner.remove_service(name)
    }
    fn find_service<'a>(
        &'a self,
        digest: &'a CredentialDigest,
    ) -> StoreFuture<'a, Option<Service>> {
        self.inner.find_service(digest)
    }
}

impl Buggy {
    /// The kids rotate_in demoted: TwoActiveKeys shows them active, DropsDemotedKey hides them.
    fn demoted(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.demoted.lock().unwrap()
    }

    /// Shows `record` in place of the stored key of its kid.
    fn show(&self, record: SigningKey) {
        self.shown.lock().unwrap().push(record);
    }

    async fn stored(&self, kid: &str) -> Option<SigningKey> {
        let keys = self.inner.list_keys().await.unwrap();
        keys.into_iter().find(|k| k.kid == kid)
    }

    fn distort(&self, mut keys: Vec<SigningKey>) -> Vec<SigningKey> {
        for shown in self.shown.lock().unwrap().iter() {
            for k in &mut keys {
                if k.kid == shown.kid {
                    *k = shown.clone();
                }
            }
        }
        if self.bug == Bug::HidesEmptyKid {
            keys.retain(|k| !k.kid.is_empty());
        }
        let demoted = self.demoted().clone();
        match self.bug {
            Bug::TwoActiveKeys => {
                for k in &mut keys {
                    if demoted.contains(&k.kid) && k.status == KeyStatus::Passive {
                        k.status = KeyStatus::Active;
                        k.demoted_at = None;
                    }
                }
            }
            Bug::DropsDemotedKey => keys.retain(|k| !demoted.contains(&k.kid)),
            _ => {}
        }
        keys
    }
}

impl KeyStore for Buggy {
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>> {
        Box::pin(async move { Ok(self.distort(self.inner.list_keys().await?)) })
    }
    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>> {
        self.inner.active_key()
    }
    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey> {
        self.inner.insert_initial(key)
    }
    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            if self.bug == Bug::OverwritesKid {
                // Pretends success for a taken kid.
                let listed = self.inner.list_keys().await?;
                if listed.iter().any(|k| k.kid == key.kid) {
                    return Ok(None);
                }
            }
            let listed = self.inner.list_keys().await?;
            let pending = listed.into_iter().find(|k| k.status == KeyStatus::Pending);
            let demoted = self.inner.rotate_in(key, now).await?;
            if let Some(p) = pending.filter(|_| self.bug == Bug::RotateKeepsPending) {
                self.show(p);
            }
            if let Some(kid) = &demoted {
                self.demoted().push(kid.clone());
            }
            Ok(demoted)
        })
    }
    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        let expected_active = if self.bug == Bug::IgnoresExpectedActive {
            None
        } else {
            expected_active
        };
        self.inner.add_pending(key, activates_at, expected_active)
    }
    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let active = self.inner.active_key().await?;
            let due = if self.bug == Bug::ActivatesEarly {
                now + 1
            } else {
                now
            };
            let promoted = self.inner.activate_due(due).await?;
            if let (Some(_), Some(a), Bug::DemotesAtNow) = (&promoted, active, self.bug) {
                let demoted = self.stored(&a.kid).await.unwrap();
                self.show(SigningKey {
                    demoted_at: Some(now),
                    ..demoted
                });
            }
            Ok(promoted)
        })
    }
    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>> {
        Box::pin(async move {
            let active = self.inner.active_key().await?;
            if self.bug == Bug::RetiresActiveSilently && active.is_some_and(|a| a.kid == kid) {
                return Ok(None);
            }
            let before = self.inner.retire_key(kid, now).await?;
            match (&before, self.bug) {
                (Some(k), Bug::RetiredKeepsPrivateKey) if k.status != KeyStatus::Retired => {
                    let retired = self.stored(kid).await.unwrap();
                    self.show(SigningKey {
                        private_key: k.private_key.clone(),
                        ..retired
                    });
                }
                (Some(k), Bug::RetiresAgain) if k.status == KeyStatus::Retired => {
                    self.show(SigningKey {
                        retired_at: Some(now),
                        ..k.clone()
                    });
                }
                _ => {}
            }
            Ok(before)
        })
    }
    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>> {
        let now = if self.bug == Bug::RetiresAtVerifyUntil {
            now + 1
        } else {
            now
        };
        self.inner.retire_expired(now, max_token_lifetime)
    }
    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret> {
        Box::pin(async move {
            let stored = self.inner.secret_or_insert(name, generated.clone()).await?;
            Ok(if self.bug == Bug::ReplacesSecret {
                generated
            } else {
                stored
            })
        })
    }
}

#[tokio::test]
#[should_panic(expected = "taken name must be Err(Conflict)")]
async fn catches_overwriting_a_taken_name() {
    jwtx_test::all(&Buggy::new(Bug::Overwrite)).await;
}

#[tokio::test]
#[should_panic(expected = "delete_user must delete the user's sessions")]
async fn catches_orphaned_sessions() {
    jwtx_test::all(&Buggy::new(Bug::OrphanSessions)).await;
}

#[tokio::test]
#[should_panic(expected = "newest first")]
async fn catches_oldest_first() {
    jwtx_test::all(&Buggy::new(Bug::OldestFirst)).await;
}

#[tokio::test]
#[should_panic(expected = "Reused must revoke the session")]
async fn catches_reuse_without_revoking() {
    jwtx_test::all(&Buggy::new(Bug::ReuseWithoutRevoking)).await;
}

#[tokio::test]
#[should_panic(expected = "leave out entries whose until is before now")]
async fn catches_expired_revocations() {
    jwtx_test::all(&Buggy::new(Bug::ReturnsExpired)).await;
}

#[tokio::test]
#[should_panic(expected = "keep entries whose until is at or after now")]
async fn catches_purging_one_too_many() {
    jwtx_test::all(&Buggy::new(Bug::PurgesOneTooMany)).await;
}

#[tokio::test]
#[should_panic(expected = "exactly one key must be active")]
async fn catches_two_active_keys() {
    jwtx_test::keys(&Buggy::new(Bug::TwoActiveKeys)).await;
}

#[tokio::test]
#[should_panic(expected = "keep the previous active key")]
async fn catches_dropping_the_demoted_key() {
    jwtx_test::keys(&Buggy::new(Bug::DropsDemotedKey)).await;
}

#[tokio::test]
#[should_panic(expected = "keep passive keys until their verify-until has passed")]
async fn catches_retiring_at_verify_until() {
    jwtx_test::keys(&Buggy::new(Bug::RetiresAtVerifyUntil)).await;
}

#[tokio::test]
#[should_panic(expected = "kid must be Err(Conflict)")]
async fn catches_overwriting_a_kid() {
    jwtx_test::all(&Buggy::new(Bug::OverwritesKid)).await;
}

#[tokio::test]
#[should_panic(expected = "at a generation the user does not have must be Err(Conflict)")]
async fn catches_sessions_at_a_stale_generation() {
    jwtx_test::all(&Buggy::new(Bug::IgnoresGeneration)).await;
}

#[tokio::test]
#[should_panic(expected = "change_password must end every live session but the kept one")]
async fn catches_a_password_change_that_keeps_sessions() {
    // `users` would catch the demo flag it leaves first.
    jwtx_test::ends(&Buggy::new(Bug::ChangeKeepsSessions)).await;
}

#[tokio::test]
#[should_panic(expected = "each after the last one's cursor, must make the whole list")]
async fn catches_pages_that_ignore_the_cursor() {
    jwtx_test::all(&Buggy::new(Bug::IgnoresCursor)).await;
}

#[tokio::test]
#[should_panic(expected = "must end the user's oldest live session and return its log entry")]
async fn catches_an_ended_session_not_reported() {
    jwtx_test::all(&Buggy::new(Bug::HidesEndedSession)).await;
}

#[tokio::test]
#[should_panic(expected = "end_user_sessions of 49 sessions must append exactly the one entry")]
async fn catches_an_end_of_every_session_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedEndOfAll)).await;
}

#[tokio::test]
#[should_panic(expected = "change_password must append exactly the one entry it returns")]
async fn catches_a_password_change_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedPasswordChange)).await;
}

#[tokio::test]
#[should_panic(expected = "delete_user must append exactly the one entry it returns")]
async fn catches_a_deletion_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedDeletion)).await;
}

#[tokio::test]
#[should_panic(expected = "revoke_session must append exactly the one entry it returns")]
async fn catches_a_revoked_session_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedRevokeSession)).await;
}

#[tokio::test]
#[should_panic(expected = "rotate (Reused) must append exactly the one entry it returns")]
async fn catches_a_reuse_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedReuse)).await;
}

#[tokio::test]
#[should_panic(expected = "create_session past the cap must append exactly the one entry")]
async fn catches_a_capped_session_not_logged() {
    jwtx_test::all(&Buggy::new(Bug::UnloggedCapEnd)).await;
}

#[tokio::test]
#[should_panic(expected = "at or before the user's latest cut-off")]
async fn catches_a_login_inside_the_cutoff_second() {
    jwtx_test::all(&Buggy::new(Bug::NeverTooEarly)).await;
}

#[tokio::test]
#[should_panic(expected = "end_user_sessions must not revoke the kept session")]
async fn catches_revoking_the_kept_session() {
    jwtx_test::all(&Buggy::new(Bug::RevokesKept)).await;
}

#[tokio::test]
#[should_panic(expected = "must take its cut-off from the store's clock")]
async fn catches_a_cutoff_off_the_store_clock() {
    jwtx_test::all(&Buggy::new(Bug::WrongClock)).await;
}

/// On a store whose clock is far from this machine's, the same.
#[tokio::test]
#[should_panic(expected = "must take its cut-off from the store's clock")]
async fn catches_a_cutoff_off_a_fixed_store_clock() {
    let inner = MemoryStore::with_clock(Arc::new(jwtx_test::fixtures::clock()));
    jwtx_test::all(&Buggy::on(Bug::WrongClock, inner)).await;
}

#[tokio::test]
#[should_panic(expected = "must keep the first secret stored under a name")]
async fn catches_replacing_a_stored_secret() {
    jwtx_test::keys(&Buggy::new(Bug::ReplacesSecret)).await;
}

#[tokio::test]
#[should_panic(expected = "head must be at least every id handed out")]
async fn catches_a_head_that_falls_back_after_a_purge() {
    jwtx_test::revocations(&Buggy::new(Bug::HeadFallsOnPurge)).await;
}

#[tokio::test]
#[should_panic(expected = "add_service of a taken name must be a Conflict")]
async fn catches_overwriting_a_service() {
    jwtx_test::services(&Buggy::new(Bug::OverwritesService)).await;
}

#[tokio::test]
#[should_panic(expected = "remove_service of a removed service must say it did not exist")]
async fn catches_a_removed_service_that_stays() {
    jwtx_test::services(&Buggy::new(Bug::KeepsRemovedService)).await;
}

/// The reference store passes the parts the bugs above break.
#[tokio::test]
async fn the_reference_store_passes_the_new_parts() {
    let store = Buggy::new(Bug::ReplacesSecret);
    jwtx_test::revocations(&store).await;
    jwtx_test::services(&store).await;
}

#[tokio::test]
#[should_panic(expected = "add_pending expecting another active key than the active one must be")]
async fn catches_ignoring_the_expected_active_key() {
    jwtx_test::keys(&Buggy::new(Bug::IgnoresExpectedActive)).await;
}

#[tokio::test]
#[should_panic(expected = "activate_due before the pending key's activates_at must promote")]
async fn catches_activating_early() {
    jwtx_test::keys(&Buggy::new(Bug::ActivatesEarly)).await;
}

#[tokio::test]
#[should_panic(expected = "demote the active key at the pending key's activates_at, not now")]
async fn catches_demoting_at_now() {
    jwtx_test::keys(&Buggy::new(Bug::DemotesAtNow)).await;
}

#[tokio::test]
#[should_panic(expected = "rotate_in must retire the pending key")]
async fn catches_a_rotation_that_keeps_the_pending_key() {
    jwtx_test::keys(&Buggy::new(Bug::RotateKeepsPending)).await;
}

#[tokio::test]
#[should_panic(expected = "retire_key of the active key must be Err(Conflict)")]
async fn catches_retiring_the_active_key_silently() {
    jwtx_test::keys(&Buggy::new(Bug::RetiresActiveSilently)).await;
}

#[tokio::test]
#[should_panic(expected = "erase its private key")]
async fn catches_a_retired_key_keeping_its_private_key() {
    jwtx_test::keys(&Buggy::new(Bug::RetiredKeepsPrivateKey)).await;
}

#[tokio::test]
#[should_panic(expected = "or of a retired key must change nothing")]
async fn catches_retiring_a_retired_key_again() {
    jwtx_test::keys(&Buggy::new(Bug::RetiresAgain)).await;
}

#[tokio::test]
#[should_panic(expected = "a key with the empty kid must be stored and read back exactly")]
async fn catches_losing_the_empty_kid() {
    jwtx_test::keys(&Buggy::new(Bug::HidesEmptyKid)).await;
}
