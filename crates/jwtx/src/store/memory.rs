//! In-memory stores: for tests, examples and single-process use without persistence. They
//! follow the same contracts as the SQL stores (the `jwtx-test` conformance suite runs
//! against both).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::keys::{active_changed, kid_taken, pending_exists, retire, retiring_active};
use super::{
    CredentialDigest, Ended, Judgement, KeyStatus, KeyStore, LogPosition, Logged,
    MAX_LIVE_SESSIONS, NewSigningKey, PasswordChange, Revocation, RevocationStore, Rotation,
    RotationPolicy, Service, ServiceStore, Session, SessionCreated, SessionCursor, SessionStore,
    SigningKey, StoreError, StoreFuture, StoredSecret, User, UserStore, is_live, is_retirable,
    judge_rotation, sort_keys,
};
use crate::claims::NumericDate;
use crate::clock::{Clock, SystemClock};

/// Users, sessions, revocations, signing keys and service credentials in one process's
/// memory. Its log's epoch is random, made when the store is.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_clock(Arc::new(SystemClock))
    }
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, User>,
    /// Each user's latest cut-off second; none until their sessions are first ended, and
    /// gone with the user.
    cuts: HashMap<String, NumericDate>,
    sessions: HashMap<String, Session>,
    revocations: BTreeMap<u64, Revocation>,
    next_revocation: u64,
    /// The last credential generation handed out.
    generation: u64,
    keys: Vec<SigningKey>,
    secrets: HashMap<String, StoredSecret>,
    services: BTreeMap<String, Service>,
    /// The log's epoch ([`LogPosition::epoch`]).
    epoch: String,
}

impl State {
    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn append(&mut self, revocation: Revocation) -> Logged {
        self.next_revocation += 1;
        let id = self.next_revocation;
        self.revocations.insert(id, revocation.clone());
        Logged { id, revocation }
    }

    /// What [`SessionStore::end_user_sessions`] does, at `cutoff`.
    fn end_user_sessions(
        &mut self,
        user: &str,
        keep: Option<&str>,
        lifetime: u64,
        cutoff: NumericDate,
    ) -> Ended {
        let mut sessions = 0;
        for s in self.sessions.values_mut() {
            if s.user == user && Some(s.id.as_str()) != keep && is_live(s, cutoff) {
                s.revoked_at = Some(cutoff);
                sessions += 1;
            }
        }
        if self.users.contains_key(user) {
            let cut = self.cuts.entry(user.to_owned()).or_insert(cutoff);
            *cut = (*cut).max(cutoff);
        }
        let logged = self.append(Revocation::user(user, cutoff, lifetime, keep));
        Ended { sessions, logged }
    }

    /// Revokes session `id` at `now` and logs it, if it is live.
    fn end_session(&mut self, id: &str, now: NumericDate) -> Option<Logged> {
        let s = self.sessions.get_mut(id).filter(|s| is_live(s, now))?;
        s.revoked_at = Some(now);
        let until = s.expires_at;
        Some(self.append(Revocation::Session {
            id: id.to_owned(),
            until,
        }))
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose [`UserStore::now`] is `clock` (tests on a fixed clock).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            state: Mutex::new(State {
                epoch: crate::random::uuid4(),
                ..State::default()
            }),
            clock,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn ready<'a, T: Send + 'a>(v: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl UserStore for MemoryStore {
    fn create_user(&self, mut user: User) -> StoreFuture<'_, ()> {
        let mut st = self.state();
        let r = if st.users.contains_key(&user.name) {
            Err(StoreError::Conflict {
                what: format!("user {:?} exists", user.name),
            })
        } else {
            user.generation = st.next_generation();
            st.users.insert(user.name.clone(), user);
            Ok(())
        };
        ready(r)
    }

    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>> {
        ready(Ok(self.state().users.get(name).cloned()))
    }

    fn list_users(&self) -> StoreFuture<'_, Vec<User>> {
        ready(Ok(self.state().users.values().cloned().collect()))
    }

    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, PasswordChange> {
        let mut st = self.state();
        let st = &mut *st;
        let current = st.users.get(name).map(|u| u.generation);
        let r = match current {
            None => PasswordChange::NoSuchUser,
            Some(g) if g != expected => PasswordChange::Stale,
            Some(_) => {
                let generation = st.next_generation();
                if let Some(u) = st.users.get_mut(name) {
                    u.password_hash = hash.to_owned();
                    u.generation = generation;
                    u.demo = false;
                }
                let now = self.clock.now();
                let Ended { sessions, logged } = st.end_user_sessions(name, keep, lifetime, now);
                PasswordChange::Changed {
                    generation,
                    ended: sessions,
                    logged,
                }
            }
        };
        ready(Ok(r))
    }

    fn rehash_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
    ) -> StoreFuture<'a, bool> {
        let mut st = self.state();
        let written = st
            .users
            .get_mut(name)
            .filter(|u| u.generation == expected)
            .map(|u| u.password_hash = hash.to_owned());
        ready(Ok(written.is_some()))
    }

    fn has_demo_users(&self) -> StoreFuture<'_, bool> {
        ready(Ok(self.state().users.values().any(|u| u.demo)))
    }

    fn now(&self) -> StoreFuture<'_, NumericDate> {
        ready(Ok(self.clock.now()))
    }

    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> StoreFuture<'a, bool> {
        let mut st = self.state();
        let found = st.users.get_mut(name).map(|u| u.roles = roles.to_vec());
        ready(Ok(found.is_some()))
    }

    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> StoreFuture<'a, Option<Logged>> {
        let mut st = self.state();
        if st.users.remove(name).is_none() {
            return ready(Ok(None));
        }
        st.cuts.remove(name);
        st.sessions.retain(|_, s| s.user != name);
        let cutoff = self.clock.now();
        ready(Ok(Some(
            st.append(Revocation::user(name, cutoff, lifetime, None)),
        )))
    }
}

impl SessionStore for MemoryStore {
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, SessionCreated> {
        let mut st = self.state();
        let st = &mut *st;
        let cut = st.cuts.get(&session.user).copied();
        let r = match st.users.get(&session.user) {
            None => Err(StoreError::Conflict {
                what: format!("no user {:?}", session.user),
            }),
            Some(u) if u.generation != generation => Err(StoreError::Conflict {
                what: format!("the credentials of {:?} changed", session.user),
            }),
            _ => match cut {
                Some(cutoff) if session.created_at <= cutoff => {
                    Ok(SessionCreated::TooEarly { cutoff })
                }
                _ if st.sessions.contains_key(&session.id) => Err(StoreError::Conflict {
                    what: "session id exists".into(),
                }),
                _ => {
                    let (user, now) = (session.user.clone(), session.created_at);
                    st.sessions.insert(session.id.clone(), session);
                    let mut live: Vec<&Session> = st
                        .sessions
                        .values()
                        .filter(|s| s.user == user && is_live(s, now))
                        .collect();
                    let oldest = if live.len() > MAX_LIVE_SESSIONS {
                        live.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(b.id.cmp(&a.id)));
                        live.first().map(|s| s.id.clone())
                    } else {
                        None
                    };
                    let ended = oldest.and_then(|id| st.end_session(&id, now));
                    Ok(SessionCreated::Created { ended })
                }
            },
        };
        ready(r)
    }

    fn get_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        ready(Ok(self.state().sessions.get(id).cloned()))
    }

    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: NumericDate,
        after: Option<&'a SessionCursor>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Session>> {
        let mut v: Vec<Session> = self
            .state()
            .sessions
            .values()
            .filter(|s| s.user == user && is_live(s, now))
            .filter(|s| after.is_none_or(|c| c.precedes(s)))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        v.truncate(limit as usize);
        ready(Ok(v))
    }

    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented_jti: &'a str,
        new_jti: &'a str,
        policy: RotationPolicy,
    ) -> StoreFuture<'a, Rotation> {
        let mut st = self.state();
        let now = policy.now;
        let rotation = match judge_rotation(st.sessions.get(id), presented_jti, policy) {
            Judgement::Rotated => {
                if let Some(s) = st.sessions.get_mut(id) {
                    s.previous = Some((
                        std::mem::replace(&mut s.current_jti, new_jti.to_owned()),
                        now,
                    ));
                    s.last_used_at = now;
                }
                Rotation::Rotated
            }
            Judgement::Grace { current_jti } => {
                if let Some(s) = st.sessions.get_mut(id) {
                    s.last_used_at = now;
                }
                Rotation::Grace { current_jti }
            }
            // Judged live at `now`, so it ends here.
            Judgement::Reused => match st.end_session(id, now) {
                Some(logged) => Rotation::Reused { logged },
                None => Rotation::Ended,
            },
            Judgement::Ended => Rotation::Ended,
        };
        ready(Ok(rotation))
    }

    fn revoke_session<'a>(
        &'a self,
        id: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<Logged>> {
        ready(Ok(self.state().end_session(id, now)))
    }

    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, Ended> {
        let mut st = self.state();
        let cutoff = self.clock.now();
        ready(Ok(st.end_user_sessions(user, keep, lifetime, cutoff)))
    }

    fn purge_sessions(&self, before: NumericDate) -> StoreFuture<'_, u64> {
        let mut st = self.state();
        let n = st.sessions.len();
        st.sessions
            .retain(|_, s| s.expires_at >= before && s.revoked_at.is_none_or(|r| r >= before));
        ready(Ok((n - st.sessions.len()) as u64))
    }
}

impl RevocationStore for MemoryStore {
    fn revoke(&self, revocation: Revocation) -> StoreFuture<'_, u64> {
        ready(Ok(self.state().append(revocation).id))
    }

    fn revocations_since(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(u64, Revocation)>> {
        let v = self
            .state()
            .revocations
            .range(after.saturating_add(1)..)
            .filter(|(_, r)| r.until() >= now)
            .take(limit as usize)
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        ready(Ok(v))
    }

    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64> {
        let mut st = self.state();
        let n = st.revocations.len();
        st.revocations.retain(|_, r| r.until() >= now);
        ready(Ok((n - st.revocations.len()) as u64))
    }

    fn log_position(&self) -> StoreFuture<'_, LogPosition> {
        let st = self.state();
        ready(Ok(LogPosition {
            epoch: st.epoch.clone(),
            head: st.next_revocation,
        }))
    }
}

impl ServiceStore for MemoryStore {
    fn add_service(&self, service: Service) -> StoreFuture<'_, ()> {
        let mut st = self.state();
        let r = if st.services.contains_key(&service.name) {
            Err(StoreError::Conflict {
                what: format!("service {:?} exists", service.name),
            })
        } else if st.services.values().any(|s| s.digest == service.digest) {
            Err(StoreError::Conflict {
                what: "a service has this credential".to_owned(),
            })
        } else {
            st.services.insert(service.name.clone(), service);
            Ok(())
        };
        ready(r)
    }

    fn list_services(&self) -> StoreFuture<'_, Vec<Service>> {
        ready(Ok(self.state().services.values().cloned().collect()))
    }

    fn remove_service<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        ready(Ok(self.state().services.remove(name).is_some()))
    }

    fn find_service<'a>(
        &'a self,
        digest: &'a CredentialDigest,
    ) -> StoreFuture<'a, Option<Service>> {
        // Every stored digest is compared, each in constant time.
        let st = self.state();
        let found =
            st.services.values().fold(
                None,
                |found, s| if s.digest == *digest { Some(s) } else { found },
            );
        ready(Ok(found.cloned()))
    }
}

impl KeyStore for MemoryStore {
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>> {
        let mut keys = self.state().keys.clone();
        sort_keys(&mut keys);
        ready(Ok(keys))
    }

    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>> {
        let st = self.state();
        let active = st.keys.iter().find(|k| k.status == KeyStatus::Active);
        ready(Ok(active.cloned()))
    }

    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey> {
        let mut st = self.state();
        let r = if let Some(active) = st.keys.iter().find(|k| k.status == KeyStatus::Active) {
            Ok(active.clone())
        } else if st.keys.iter().any(|k| k.kid == key.kid) {
            Err(kid_taken(&key.kid))
        } else {
            let record = SigningKey::active(key);
            st.keys.push(record.clone());
            Ok(record)
        };
        ready(r)
    }

    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        let mut st = self.state();
        if st.keys.iter().any(|k| k.kid == key.kid) {
            return ready(Err(kid_taken(&key.kid)));
        }
        let mut demoted = None;
        for k in &mut st.keys {
            match k.status {
                KeyStatus::Active => {
                    k.status = KeyStatus::Passive;
                    k.demoted_at = Some(now);
                    demoted = Some(k.kid.clone());
                }
                KeyStatus::Pending => retire(k, now),
                KeyStatus::Passive | KeyStatus::Retired => {}
            }
        }
        let mut record = SigningKey::active(key);
        record.activates_at = Some(now);
        st.keys.push(record);
        ready(Ok(demoted))
    }

    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        let mut st = self.state();
        let active = st.keys.iter().find(|k| k.status == KeyStatus::Active);
        let r = if st.keys.iter().any(|k| k.kid == key.kid) {
            Err(kid_taken(&key.kid))
        } else if let Some(p) = st.keys.iter().find(|k| k.status == KeyStatus::Pending) {
            Err(pending_exists(&p.kid))
        } else if active.is_none_or(|a| expected_active.is_some_and(|e| e != a.kid)) {
            Err(active_changed(expected_active))
        } else {
            st.keys.push(SigningKey::pending(key, activates_at));
            Ok(())
        };
        ready(r)
    }

    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        let mut st = self.state();
        let due = st
            .keys
            .iter()
            .find(|k| k.status == KeyStatus::Pending && k.activates_at.is_some_and(|a| a <= now))
            .map(|k| (k.kid.clone(), k.activates_at.unwrap_or(now)));
        let Some((kid, at)) = due else {
            return ready(Ok(None));
        };
        for k in &mut st.keys {
            if k.status == KeyStatus::Active {
                k.status = KeyStatus::Passive;
                k.demoted_at = Some(at);
            } else if k.kid == kid {
                k.status = KeyStatus::Active;
            }
        }
        ready(Ok(Some(kid)))
    }

    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>> {
        let mut st = self.state();
        let r = match st.keys.iter_mut().find(|k| k.kid == kid) {
            None => Ok(None),
            Some(k) if k.status == KeyStatus::Active => Err(retiring_active(kid)),
            // Retired already: returned unchanged (its retired_at stays when it was retired).
            Some(k) if k.status == KeyStatus::Retired => Ok(Some(k.clone())),
            Some(k) => {
                let before = k.clone();
                retire(k, now);
                Ok(Some(before))
            }
        };
        ready(r)
    }

    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>> {
        let mut st = self.state();
        let mut kids = Vec::new();
        for k in &mut st.keys {
            if is_retirable(k, now, max_token_lifetime) {
                retire(k, now);
                kids.push(k.kid.clone());
            }
        }
        kids.sort();
        ready(Ok(kids))
    }

    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret> {
        let mut st = self.state();
        let stored = st.secrets.entry(name.to_owned()).or_insert(generated);
        ready(Ok(stored.clone()))
    }
}
