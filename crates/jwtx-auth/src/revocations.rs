//! [`Revocations`]: the revocation log as this process sees it. Every write goes to the store
//! first (durable), then into the in-process [`RevocationSet`]; a follower task applies what
//! other processes (the admin CLI, other instances) append to the log, so a protected request
//! costs no store round trip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jwtx::store::{
    Logged, Revocation, RevocationSet, RevocationStore, SetSize, StoreError, TokenRef,
};
use jwtx::{Clock, NumericDate};
use tokio::sync::watch;

/// How often the follower reads the log (a CLI revocation takes effect within this).
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// Log entries read per query. Measured with `revocation_load --batch` on 1M entries: 10 000 per
/// query was no faster than 1 000 (3.4–4.4 s against 2.3–3.6 s on a shared 2-core machine); sqlx's
/// row decoding, not the number of queries, is the cost.
const BATCH: u32 = 1_000;

/// The revocation log, mirrored in memory and followed.
#[derive(Debug)]
pub struct Revocations {
    store: Arc<dyn RevocationStore>,
    set: RevocationSet,
    clock: Arc<dyn Clock>,
    /// Seconds an entry is kept past its `until` ([`Revocations::purge`]).
    purge_margin: u64,
    /// Set when the log holds an entry this version cannot read (a kind from a newer jwtx, or
    /// a damaged row): the mirror may be missing a revocation, so every check fails closed
    /// until a catch-up reads past it.
    unreadable: AtomicBool,
    /// What could not be read, for `/readyz` and the log.
    unreadable_detail: Mutex<String>,
}

/// The revocation log holds an entry this instance cannot read, so no token is vouched for.
#[derive(Debug)]
pub struct LogUnreadable;

impl std::fmt::Display for LogUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the revocation log holds an entry this version cannot read")
    }
}

impl std::error::Error for LogUnreadable {}

impl Revocations {
    /// Loads every live entry of the log. Entries are purged `purge_margin` seconds after
    /// their `until`: a session's entry lasts until the session's absolute end, and an access
    /// token issued by a refresh just before that end outlives it by up to the access-token
    /// lifetime, which is the margin to give (`u64::MAX` when access tokens never expire:
    /// nothing is purged).
    pub async fn load(
        store: Arc<dyn RevocationStore>,
        clock: Arc<dyn Clock>,
        purge_margin: u64,
    ) -> Result<Arc<Self>, StoreError> {
        let r = Arc::new(Revocations {
            store,
            set: RevocationSet::new(),
            clock,
            purge_margin,
            unreadable: AtomicBool::new(false),
            unreadable_detail: Mutex::new(String::new()),
        });
        r.catch_up().await?;
        Ok(r)
    }

    /// Revokes durably, then locally. Returns only once the store has it.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        self.store.revoke(revocation.clone()).await?;
        // Applied without moving the cursor: an entry another process appended just before
        // this one may not have been read yet; the follower reads this one again (harmless).
        self.set.apply(0, &revocation);
        Ok(())
    }

    /// Applies an entry the store appended in the transaction that made it (a session's end,
    /// a user's cut-off), here at once. Applied without moving the cursor, as
    /// [`revoke`](Self::revoke) does: the follower reads it again, and entries other processes
    /// appended before it are not skipped.
    pub fn applied(&self, logged: &Logged) {
        self.set.apply(0, &logged.revocation);
    }

    /// Whether a verified token is revoked (in-process lookup).
    pub fn is_revoked(&self, token: TokenRef<'_>) -> bool {
        self.set.is_revoked(token)
    }

    /// [`is_revoked`](Self::is_revoked), failing closed while the log holds an entry this
    /// version cannot read: the mirror may then lack a revocation, so no token is vouched for.
    pub fn check(&self, token: TokenRef<'_>) -> Result<bool, LogUnreadable> {
        if self.unreadable.load(Ordering::Relaxed) {
            return Err(LogUnreadable);
        }
        Ok(self.set.is_revoked(token))
    }

    /// What in the log could not be read, while that is so (for `/readyz`).
    pub fn unreadable(&self) -> Option<String> {
        self.unreadable.load(Ordering::Relaxed).then(|| {
            self.unreadable_detail
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// Entries held in the in-process set and the bytes of its tables
    /// ([`RevocationSet::size`]).
    pub fn size(&self) -> SetSize {
        self.set.size()
    }

    /// Applies every log entry after the set's cursor. An entry that cannot be read (an
    /// unknown kind, a damaged row) makes every check fail closed until a catch-up reads past
    /// it; it is never skipped.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            // Entries still within the purge margin count as live (see `load`).
            let live_from = self.clock.now().saturating_sub(self.purge_margin);
            let batch = match self
                .store
                .revocations_since(self.set.cursor(), live_from, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e @ StoreError::Corrupt { .. }) => {
                    if !self.unreadable.swap(true, Ordering::Relaxed) {
                        tracing::error!(error = %e, "revocation log: an entry this version cannot read; refusing every token until it can (upgrade this instance)");
                    }
                    *self
                        .unreadable_detail
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = e.to_string();
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let n = batch.len();
            for (id, r) in &batch {
                self.set.apply(*id, r);
            }
            applied += n;
            if n < BATCH as usize {
                self.unreadable.store(false, Ordering::Relaxed);
                return Ok(applied);
            }
        }
    }

    /// Forgets entries whose `until` is more than the purge margin before `now`, here and in
    /// the store.
    pub async fn purge(&self, now: NumericDate) -> Result<(), StoreError> {
        let before = now.saturating_sub(self.purge_margin);
        self.set.purge(before);
        self.store.purge_revocations(before).await.map(|_| ())
    }

    /// Follows the log until `shutdown` changes: catch up every [`FOLLOW_INTERVAL`], purge
    /// once a minute. Store errors are logged and retried.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut ticks: u64 = 0;
        // A fixed period (not a pause after each read), so a slow read on a busy machine
        // does not stretch the time a revocation from another process takes to apply.
        let mut interval = tokio::time::interval(FOLLOW_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "revocation log: catch-up failed; retrying");
            }
            ticks += 1;
            if ticks.is_multiple_of(120)
                && let Err(e) = self.purge(self.clock.now()).await
            {
                tracing::warn!(error = %e, "revocation log: purge failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtx::store::memory::MemoryStore;

    #[tokio::test]
    async fn loads_a_log_longer_than_one_batch() {
        let store = Arc::new(MemoryStore::new());
        let n = 2 * BATCH as usize + 5;
        for i in 0..n {
            store
                .revoke(Revocation::Token {
                    jti: format!("00000000-0000-4000-8000-{i:012}"),
                    until: u64::MAX / 2,
                })
                .await
                .unwrap();
        }
        let r = Revocations::load(store, Arc::new(jwtx::SystemClock), 900)
            .await
            .unwrap();
        assert_eq!(r.set.len(), n);
        assert_eq!(r.set.cursor(), n as u64);
        for i in [0, BATCH as usize, n - 1] {
            let jti = format!("00000000-0000-4000-8000-{i:012}");
            assert!(r.is_revoked(TokenRef {
                jti: Some(&jti),
                sid: None,
                sub: "u",
                iat: Some(1),
            }));
        }
    }

    /// A session's entry outlives its `until` by the margin, in a running process and in one
    /// that starts later: an access token a refresh issued just before the session's end is
    /// still refused after it.
    #[tokio::test]
    async fn entries_are_kept_the_margin_past_their_until() {
        let clock = Arc::new(jwtx::FixedClock::new(10_000));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        store
            .revoke(Revocation::Session {
                id: "s1".into(),
                until: 10_100,
            })
            .await
            .unwrap();
        let token = TokenRef {
            jti: None,
            sid: Some("s1"),
            sub: "u",
            iat: Some(9_999),
        };
        let running = Revocations::load(store.clone(), clock.clone(), 900)
            .await
            .unwrap();
        clock.set(10_100 + 899);
        running.purge(clock.now()).await.unwrap();
        assert!(running.is_revoked(token));
        let started_later = Revocations::load(store.clone(), clock.clone(), 900)
            .await
            .unwrap();
        assert!(started_later.is_revoked(token));
        clock.set(10_100 + 901);
        running.purge(clock.now()).await.unwrap();
        assert!(!running.is_revoked(token));
        let after = Revocations::load(store, clock, 900).await.unwrap();
        assert!(!after.is_revoked(token));
    }
}
