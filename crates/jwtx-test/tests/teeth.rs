//! The suite has teeth: stores with one planted bug each fail it.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use jwtx::NumericDate;
use jwtx::store::memory::MemoryStore;
use jwtx::store::{
    KeyStatus, KeyStore, NewSigningKey, PasswordChange, Revocation, RevocationStore, Rotation,
    RotationPolicy, Session, SessionCursor, SessionStore, SigningKey, StoreFuture, User, UserStore,
    judge_rotation,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// create_user overwrites a taken name instead of a Conflict.
    Overwrite,
    /// delete_user leaves the user's sessions behind.
    OrphanSessions,
    /// list_sessions returns the oldest first.
    OldestFirst,
    /// rotate answers Reused but does not revoke the session.
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
    /// change_password replaces the hash but leaves the other sessions live.
    ChangeKeepsSessions,
    /// list_sessions starts every page at the beginning.
    IgnoresCursor,
    /// create_session past the cap ends the oldest session but does not say which.
    HidesEndedSession,
}

#[derive(Debug)]
struct Buggy {
    inner: MemoryStore,
    bug: Bug,
    /// OrphanSessions: users "deleted" by hiding them, their sessions left in place.
    hidden: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Keys rotate_in demoted.
    demoted: std::sync::Mutex<Vec<String>>,
}

impl Buggy {
    fn new(bug: Bug) -> Self {
        Buggy {
            inner: MemoryStore::new(),
            bug,
            hidden: std::sync::Mutex::default(),
            demoted: std::sync::Mutex::default(),
        }
    }
}

impl UserStore for Buggy {
    fn create_user(&self, user: User) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if self.hidden.lock().unwrap().remove(&user.name) {
                self.inner.delete_user(&user.name).await?;
            }
            if self.bug == Bug::Overwrite {
                self.inner.delete_user(&user.name).await?;
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
        now: NumericDate,
    ) -> StoreFuture<'a, PasswordChange> {
        Box::pin(async move {
            if self.bug == Bug::ChangeKeepsSessions {
                // Keeps every session: revokes only the ones that do not exist.
                let keep_all = Some("no-such-session");
                let _ = keep;
                return self
                    .inner
                    .change_password(name, hash, expected, keep_all, now)
                    .await
                    .map(|c| match c {
                        PasswordChange::Changed { generation, .. } => PasswordChange::Changed {
                            generation,
                            ended: Vec::new(),
                        },
                        other => other,
                    });
            }
            self.inner
                .change_password(name, hash, expected, keep, now)
                .await
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
    fn delete_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            if self.bug == Bug::OrphanSessions {
                // Hides the user and leaves their sessions behind.
                if self.get_user(name).await?.is_none() {
                    return Ok(false);
                }
                self.hidden.lock().unwrap().insert(name.to_owned());
                return Ok(true);
            }
            self.inner.delete_user(name).await
        })
    }
}

impl SessionStore for Buggy {
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let generation = match self.bug {
                Bug::IgnoresGeneration => self
                    .inner
                    .get_user(&session.user)
                    .await?
                    .map_or(generation, |u| u.generation),
                _ => generation,
            };
            let ended = self.inner.create_session(session, generation).await?;
            Ok(if self.bug == Bug::HidesEndedSession {
                None
            } else {
                ended
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
                if judge_rotation(s.as_ref(), presented_jti, policy) == Rotation::Reused {
                    return Ok(Rotation::Reused);
                }
            }
            self.inner.rotate(id, presented_jti, new_jti, policy).await
        })
    }
    fn revoke_session<'a>(&'a self, id: &'a str, now: NumericDate) -> StoreFuture<'a, bool> {
        self.inner.revoke_session(id, now)
    }
    fn revoke_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        now: NumericDate,
    ) -> StoreFuture<'a, Vec<String>> {
        self.inner.revoke_user_sessions(user, keep, now)
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
        let now = if self.bug == Bug::ReturnsExpired {
            0
        } else {
            now
        };
        self.inner.revocations_since(after, now, limit)
    }
    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64> {
        let now = if self.bug == Bug::PurgesOneTooMany {
            now + 1
        } else {
            now
        };
        self.inner.purge_revocations(now)
    }
}

impl Buggy {
    /// The kids rotate_in demoted: TwoActiveKeys shows them active, DropsDemotedKey hides them.
    fn demoted(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.demoted.lock().unwrap()
    }

    fn distort(&self, mut keys: Vec<SigningKey>) -> Vec<SigningKey> {
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
            let demoted = self.inner.rotate_in(key, now).await?;
            if let Some(kid) = &demoted {
                self.demoted().push(kid.clone());
            }
            Ok(demoted)
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
    jwtx_test::all(&Buggy::new(Bug::ChangeKeepsSessions)).await;
}

#[tokio::test]
#[should_panic(expected = "each after the last one's cursor, must make the whole list")]
async fn catches_pages_that_ignore_the_cursor() {
    jwtx_test::all(&Buggy::new(Bug::IgnoresCursor)).await;
}

#[tokio::test]
#[should_panic(expected = "must end the user's oldest live session and return it")]
async fn catches_an_ended_session_not_reported() {
    jwtx_test::all(&Buggy::new(Bug::HidesEndedSession)).await;
}
