//! The user loader's cache: a protected request reads its user from memory, not the store.
//!
//! Every protected route loads the token's user (flask-jwt-extended's `user_lookup_loader`
//! semantics: a deleted user's token is refused). A store read per request would cost more
//! than verification itself (SQLite through sqlx is a thread hand-off and a file lock per
//! query), so answers, present or absent, are kept for [`USER_TTL`]: a role change or a
//! deletion made by the admin CLI or another instance applies within that time, the same
//! bound as a revocation from another process (the follower's interval). Changes made
//! through this server ([`UserCache::forget`]) apply at once.
//!
//! Memory is bounded: at most [`MAX_ENTRIES`] users; when full, expired entries are dropped
//! and, if none are, the answer is served without being kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jwtx::store::{StoreError, User, UserStore};

/// How long a loaded answer is used before the store is asked again.
pub(crate) const USER_TTL: Duration = crate::revocations::FOLLOW_INTERVAL;

/// The most users kept.
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// Users by name, each with the time it was read.
#[derive(Debug)]
pub struct UserCache {
    store: Arc<dyn UserStore>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    loaded: Instant,
    user: Option<Arc<User>>,
}

impl UserCache {
    /// An empty cache in front of `store`.
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Self::with_limits(store, USER_TTL, MAX_ENTRIES)
    }

    fn with_limits(store: Arc<dyn UserStore>, ttl: Duration, max_entries: usize) -> Self {
        UserCache {
            store,
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The user named `name`, from memory if read less than [`USER_TTL`] ago (answers are
    /// read again after that, so a store that changed is seen within it).
    pub async fn get(&self, name: &str) -> Result<Option<Arc<User>>, StoreError> {
        if let Some(user) = self.cached(name) {
            return Ok(user);
        }
        let now = Instant::now();
        let user = self.store.get_user(name).await?.map(Arc::new);
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(name) {
            entries.retain(|_, e| now.duration_since(e.loaded) < self.ttl);
        }
        if entries.len() < self.max_entries || entries.contains_key(name) {
            entries.insert(
                name.to_owned(),
                Entry {
                    loaded: now,
                    user: user.clone(),
                },
            );
        }
        Ok(user)
    }

    /// The answer kept for `name` if it was read less than [`USER_TTL`] ago (`Some(None)`: no
    /// such user); `None` when [`get`](Self::get) would ask the store.
    pub fn cached(&self, name: &str) -> Option<Option<Arc<User>>> {
        let now = Instant::now();
        self.lock()
            .get(name)
            .filter(|e| now.duration_since(e.loaded) < self.ttl)
            .map(|e| e.user.clone())
    }

    /// Drops what is kept for `name` (after this server changed the user).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtx::store::memory::MemoryStore;

    fn user(name: &str, roles: &[&str]) -> User {
        User {
            name: name.to_owned(),
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            created_at: 1,
            generation: 0,
            demo: false,
        }
    }

    #[tokio::test]
    async fn answers_from_memory_until_the_ttl_then_rereads() {
        let store = Arc::new(MemoryStore::default());
        store.create_user(user("carol", &["admin"])).await.unwrap();
        let cache = UserCache::new(store.clone());
        assert!(cache.cached("carol").is_none());
        assert_eq!(cache.get("carol").await.unwrap().unwrap().roles, ["admin"]);
        assert!(cache.get("dave").await.unwrap().is_none());
        // What `get` read is what `cached` answers, an absent user included.
        assert_eq!(cache.cached("carol").unwrap().unwrap().roles, ["admin"]);
        assert_eq!(cache.cached("dave"), Some(None));

        // Changed behind the cache's back: the old answers stand until the TTL…
        store
            .set_roles("carol", &["user".to_owned()])
            .await
            .unwrap();
        store.create_user(user("dave", &[])).await.unwrap();
        assert_eq!(cache.get("carol").await.unwrap().unwrap().roles, ["admin"]);
        assert!(cache.get("dave").await.unwrap().is_none());

        // …then the store's.
        tokio::time::sleep(USER_TTL + Duration::from_millis(20)).await;
        assert!(cache.cached("carol").is_none());
        assert_eq!(cache.get("carol").await.unwrap().unwrap().roles, ["user"]);
        assert!(cache.get("dave").await.unwrap().is_some());

        // forget: the next read goes to the store at once.
        store.delete_user("carol", 60).await.unwrap();
        cache.forget("carol");
        assert!(cache.get("carol").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn memory_is_bounded() {
        let store = Arc::new(MemoryStore::default());
        let cache = UserCache::with_limits(store, Duration::from_millis(200), 3);
        for name in ["a", "b", "c", "d"] {
            assert!(cache.get(name).await.unwrap().is_none());
        }
        // Full of live entries: "d" is answered from the store, not kept.
        assert_eq!(cache.lock().len(), 3);
        assert!(!cache.lock().contains_key("d"));
        // Once they expire, a new name makes room by dropping them.
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert!(cache.get("d").await.unwrap().is_none());
        let kept: Vec<String> = cache.lock().keys().cloned().collect();
        assert_eq!(kept, ["d"]);
    }
}
