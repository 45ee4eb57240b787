//! [`Revocations`]: the revocation log as this process sees it. Every write goes to the store
//! first (durable), then into the in-process [`RevocationSet`]; a follower task applies what
//! other processes (the admin CLI, other instances) append to the log, so a protected request
//! costs no store round trip.
//!
//! **Bounded staleness.** The mirror is *current as of* the start of the last read that
//! reached the head of the log (returned fewer entries than it asked for). The follower polls
//! every [`Follow::poll_interval`], and a [`RevocationHints`] wake-up makes it read at once.
//! When the mirror is older than [`Follow::max_lag`] (the store is unreachable), no token is
//! vouched for: [`Revocations::check`] fails and the request answers 503, until a read
//! reaches the head again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::hints::RevocationHints;

use jwtx::store::{
    Logged, Revocation, RevocationSet, RevocationStore, SetSize, StoreError, TokenRef, Unvouched,
};
use jwtx::{Clock, NumericDate};
use tokio::sync::{Notify, watch};

/// How often the follower reads the log by default (`revocation_poll_interval`).
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// How old the mirror may grow before no token is vouched for, by default
/// (`revocation_max_lag`).
pub const MAX_LAG: Duration = Duration::from_secs(5);

/// How the follower reads the log, and how stale the mirror may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Follow {
    /// Time between two reads of the log (a wake-up hint reads earlier).
    pub poll_interval: Duration,
    /// The oldest the mirror may be (since the start of its last read that reached the head
    /// of the log) for a token to be vouched for; more than twice `poll_interval`.
    pub max_lag: Duration,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            poll_interval: FOLLOW_INTERVAL,
            max_lag: MAX_LAG,
        }
    }
}

impl Follow {
    /// Refuses settings under which a healthy follower would be reported stale: `max_lag`
    /// must exceed twice `poll_interval` (one read may start just before a poll and take
    /// about as long), and `poll_interval` must be positive.
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_interval.is_zero() {
            return Err("revocation_poll_interval must be positive".to_owned());
        }
        if self.max_lag <= self.poll_interval.saturating_mul(2) {
            return Err(format!(
                "revocation_max_lag ({:?}) must exceed twice revocation_poll_interval ({:?})",
                self.max_lag, self.poll_interval
            ));
        }
        Ok(())
    }
}

/// Log entries read per query. Measured with `revocation_load --batch` on 1M entries: 10 000 per
/// query was no faster than 1 000 (3.4–4.4 s against 2.3–3.6 s on a shared 2-core machine); sqlx's
/// row decoding, not the number of queries, is the cost.
const BATCH: u32 = 1_000;

/// The revocation log, mirrored in memory and followed.
#[derive(Debug)]
pub struct Revocations {
    store: Arc<dyn RevocationStore>,
    /// The mirror, behind the core's staleness gate (`follow.max_lag`).
    set: RevocationSet,
    clock: Arc<dyn Clock>,
    /// Seconds an entry is kept past its `until` ([`Revocations::purge`]).
    purge_margin: u64,
    follow: Follow,
    /// Set while the mirror is stale, so the change is logged once each way.
    stale: AtomicBool,
    hints: Option<Arc<dyn RevocationHints>>,
    /// Told when a key entry (a rotation's notice, a retirement) is read or appended, so the
    /// signing keys are reloaded.
    key_changes: Arc<Notify>,
    /// Bumped whenever an entry is applied (appended here, or read by the follower): the
    /// revocation feed's streams read the log at once rather than at their next heartbeat.
    grew: watch::Sender<u64>,
    /// Set when the follower stops (the process shuts down): the feed's streams end.
    stopped: watch::Sender<bool>,
}

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
        Self::load_with(store, clock, purge_margin, Follow::default(), None).await
    }

    /// [`load`](Self::load), following the log as `follow` says and woken by `hints` (which
    /// are also told of every entry this process appends).
    pub async fn load_with(
        store: Arc<dyn RevocationStore>,
        clock: Arc<dyn Clock>,
        purge_margin: u64,
        follow: Follow,
        hints: Option<Arc<dyn RevocationHints>>,
    ) -> Result<Arc<Self>, StoreError> {
        let r = Arc::new(Revocations {
            store,
            set: RevocationSet::with_max_lag(follow.max_lag),
            clock,
            purge_margin,
            follow,
            stale: AtomicBool::new(false),
            hints,
            key_changes: Arc::new(Notify::new()),
            grew: watch::Sender::new(0),
            stopped: watch::Sender::new(false),
        });
        r.catch_up().await?;
        Ok(r)
    }

    /// How this mirror follows the log.
    pub fn follow_settings(&self) -> Follow {
        self.follow
    }

    /// How old the mirror is: the time since the start of its last read that reached the
    /// head of the log.
    pub fn lag(&self) -> Duration {
        self.set.lag_at(Instant::now().into_std())
    }

    /// Notified whenever a key entry is read from the log or appended here: the signing keys
    /// changed (a rotation's notice, a retirement), so whoever holds them reloads.
    pub fn key_changes(&self) -> Arc<Notify> {
        self.key_changes.clone()
    }

    /// Changes whenever this process learns the log grew: an entry appended here, or read by
    /// the follower (which a [`RevocationHints`] wake-up makes read at once). A reader that
    /// marks the value seen before it reads the log misses no growth.
    pub fn growth(&self) -> watch::Receiver<u64> {
        self.grew.subscribe()
    }

    /// Becomes `true` when [`follow`](Self::follow) stops (its shutdown signal changed).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopped.subscribe()
    }

    /// Seconds an entry is kept past its `until` ([`load`](Self::load)).
    pub fn purge_margin(&self) -> u64 {
        self.purge_margin
    }

    /// The mirror itself (its size, its gate).
    pub fn set(&self) -> &RevocationSet {
        &self.set
    }

    /// Whether every token can be vouched for now: `Err` while the log holds an entry this
    /// version cannot read, or while the mirror is older than the allowed lag.
    pub fn vouching(&self) -> Result<(), Unvouched> {
        let vouching = self.set.vouching_at(Instant::now().into_std());
        if let Err(Unvouched::Stale { lag }) = vouching
            && !self.stale.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                lag_ms = lag.as_millis() as u64,
                max_lag_ms = self.follow.max_lag.as_millis() as u64,
                "revocation mirror is stale (the store cannot be read): refusing every token with 503 until it catches up"
            );
        }
        vouching
    }

    /// Revokes durably, then locally. Returns only once the store has it.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        self.store.revoke(revocation.clone()).await?;
        // Applied without moving the cursor: an entry another process appended just before
        // this one may not have been read yet; the follower reads this one again (harmless).
        self.apply(0, &revocation);
        self.announce();
        Ok(())
    }

    /// Applies an entry the store appended in the transaction that made it (a session's end,
    /// a user's cut-off), here at once. Applied without moving the cursor, as
    /// [`revoke`](Self::revoke) does: the follower reads it again, and entries other processes
    /// appended before it are not skipped.
    pub fn applied(&self, logged: &Logged) {
        self.apply(0, &logged.revocation);
        self.announce();
    }

    /// Applies one entry to the mirror; a key entry also tells [`key_changes`](Self::key_changes).
    fn apply(&self, id: u64, revocation: &Revocation) {
        self.set.apply(id, revocation);
        self.grew.send_modify(|n| *n = n.wrapping_add(1));
        if matches!(
            revocation,
            Revocation::Key { .. } | Revocation::KeysChanged { .. }
        ) {
            self.key_changes.notify_one();
        }
    }

    /// Tells the other instances the log grew, if hints are configured.
    fn announce(&self) {
        if let Some(h) = &self.hints {
            h.announce();
        }
    }

    /// Whether a verified token is revoked (in-process lookup).
    pub fn is_revoked(&self, token: TokenRef<'_>) -> bool {
        self.set.is_revoked(token)
    }

    /// [`is_revoked`](Self::is_revoked), failing closed ([`vouching`](Self::vouching)) while
    /// the log holds an entry this version cannot read or the mirror is older than the allowed
    /// lag: the mirror may then lack a revocation, so no token is vouched for.
    pub fn check(&self, token: TokenRef<'_>) -> Result<bool, Unvouched> {
        self.vouching()?;
        Ok(self.set.is_revoked(token))
    }

    /// What in the log could not be read, while that is so (for `/readyz`).
    pub fn unreadable(&self) -> Option<String> {
        self.set.unreadable()
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
            let started = Instant::now();
            // Entries still within the purge margin count as live (see `load`).
            let live_from = self.clock.now().saturating_sub(self.purge_margin);
            let batch = match self
                .store
                .revocations_since(self.set.cursor(), live_from, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e @ StoreError::Corrupt { .. }) => {
                    if self.set.unreadable().is_none() {
                        tracing::error!(error = %e, "revocation log: an entry this version cannot read; refusing every token until it can (upgrade this instance)");
                    }
                    self.set.set_unreadable(Some(e.to_string()));
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let n = batch.len();
            for (id, r) in &batch {
                self.apply(*id, r);
            }
            applied += n;
            if n < BATCH as usize {
                self.set.set_unreadable(None);
                self.reached_head(started);
                return Ok(applied);
            }
        }
    }

    /// Records that a read started at `started` reached the head of the log.
    fn reached_head(&self, started: Instant) {
        self.set.reached_head(started.into_std());
        if self.stale.load(Ordering::Relaxed) && self.lag() <= self.follow.max_lag {
            self.stale.store(false, Ordering::Relaxed);
            tracing::info!("revocation mirror is current again: tokens are vouched for");
        }
    }

    /// Forgets entries whose `until` is more than the purge margin before `now`, here and in
    /// the store.
    pub async fn purge(&self, now: NumericDate) -> Result<(), StoreError> {
        let before = now.saturating_sub(self.purge_margin);
        self.set.purge(before);
        self.store.purge_revocations(before).await.map(|_| ())
    }

    /// Follows the log until `shutdown` changes: catch up every poll interval, and at once
    /// when a hint arrives; purge about once a minute. Store errors are logged (once until the
    /// next success) and retried at the next poll. When `shutdown` changes,
    /// [`stopping`](Self::stopping) turns `true`.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let wakeups = self.hints.as_ref().map(|h| h.wakeups());
        let hinted = async |w: &Option<Arc<tokio::sync::Notify>>| match w {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        };
        let purge_every = Duration::from_secs(60);
        let mut last_purge = Instant::now();
        let mut failing = false;
        // A fixed period (not a pause after each read), so a slow read on a busy machine
        // does not stretch the time a revocation from another process takes to apply.
        let mut interval = tokio::time::interval(self.follow.poll_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = hinted(&wakeups) => {}
                _ = shutdown.changed() => {
                    self.stopped.send_replace(true);
                    return;
                }
            }
            match self.catch_up().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("revocation log: reading again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "revocation log: catch-up failed; retrying every poll");
                }
                Err(e) => tracing::debug!(error = %e, "revocation log: catch-up failed again"),
            }
            if last_purge.elapsed() >= purge_every {
                last_purge = Instant::now();
                if let Err(e) = self.purge(self.clock.now()).await {
                    tracing::warn!(error = %e, "revocation log: purge failed");
                }
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
                kid: None,
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
            kid: None,
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

    /// A log that can be made unreachable.
    #[derive(Debug)]
    struct Flaky {
        inner: MemoryStore,
        down: AtomicBool,
    }

    impl RevocationStore for Flaky {
        fn revoke(&self, revocation: Revocation) -> jwtx::store::StoreFuture<'_, u64> {
            self.inner.revoke(revocation)
        }
        fn revocations_since(
            &self,
            after: u64,
            now: NumericDate,
            limit: u32,
        ) -> jwtx::store::StoreFuture<'_, Vec<(u64, Revocation)>> {
            if self.down.load(Ordering::Relaxed) {
                return Box::pin(std::future::ready(Err(StoreError::unavailable("down"))));
            }
            self.inner.revocations_since(after, now, limit)
        }
        fn purge_revocations(&self, now: NumericDate) -> jwtx::store::StoreFuture<'_, u64> {
            self.inner.purge_revocations(now)
        }
    }

    const ANY: TokenRef<'static> = TokenRef {
        kid: None,
        jti: Some("00000000-0000-4000-8000-000000000001"),
        sid: None,
        sub: "u",
        iat: Some(1),
    };

    fn token_entry() -> Revocation {
        Revocation::Token {
            jti: ANY.jti.unwrap_or_default().to_owned(),
            until: u64::MAX / 2,
        }
    }

    /// While the log cannot be read, tokens are vouched for until the mirror is older than
    /// the allowed lag, then refused (503) until a read reaches the head again, by itself.
    #[tokio::test(start_paused = true)]
    async fn a_stale_mirror_fails_closed_and_recovers_by_itself() {
        let store = Arc::new(Flaky {
            inner: MemoryStore::new(),
            down: AtomicBool::new(false),
        });
        let follow = Follow {
            poll_interval: Duration::from_millis(500),
            max_lag: Duration::from_secs(5),
        };
        let r = Revocations::load_with(
            store.clone(),
            Arc::new(jwtx::SystemClock),
            900,
            follow,
            None,
        )
        .await
        .unwrap();
        let (stop, stopped) = watch::channel(false);
        let follower = tokio::spawn(r.clone().follow(stopped));
        assert_eq!(r.check(ANY), Ok(false));
        store.down.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(4_000)).await;
        assert_eq!(r.check(ANY), Ok(false), "within the lag: still vouched for");
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        match r.check(ANY) {
            Err(Unvouched::Stale { lag }) => assert!(lag > follow.max_lag, "{lag:?}"),
            other => panic!("past the lag a token must not be vouched for: {other:?}"),
        }
        assert!(r.lag() > follow.max_lag);
        // Meanwhile another instance revoked the token; the store comes back.
        store.inner.revoke(token_entry()).await.unwrap();
        store.down.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(r.check(ANY), Ok(true), "caught up: vouching again, revoked");
        assert!(r.lag() <= follow.poll_interval * 2);
        stop.send(true).unwrap();
        follower.await.unwrap();
    }

    /// Hints for tests: counts announcements, wakes on demand.
    #[derive(Debug, Default)]
    struct Hints {
        announced: std::sync::atomic::AtomicU64,
        wake: Arc<tokio::sync::Notify>,
    }

    impl RevocationHints for Hints {
        fn announce(&self) {
            self.announced.fetch_add(1, Ordering::Relaxed);
        }
        fn wakeups(&self) -> Arc<tokio::sync::Notify> {
            self.wake.clone()
        }
    }

    /// A hint makes the follower read at once, long before its next poll; this process's own
    /// appends are announced.
    #[tokio::test(start_paused = true)]
    async fn a_hint_wakes_the_follower_and_appends_are_announced() {
        let store = Arc::new(MemoryStore::new());
        let hints = Arc::new(Hints::default());
        let follow = Follow {
            poll_interval: Duration::from_secs(60),
            max_lag: Duration::from_secs(600),
        };
        let r = Revocations::load_with(
            store.clone(),
            Arc::new(jwtx::SystemClock),
            900,
            follow,
            Some(hints.clone()),
        )
        .await
        .unwrap();
        let (stop, stopped) = watch::channel(false);
        let follower = tokio::spawn(r.clone().follow(stopped));
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Another instance appends and hints.
        store.revoke(token_entry()).await.unwrap();
        hints.wake.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            r.check(ANY),
            Ok(true),
            "read on the hint, not at the next poll"
        );
        assert_eq!(hints.announced.load(Ordering::Relaxed), 0);
        r.revoke(Revocation::Session {
            id: "s1".into(),
            until: u64::MAX / 2,
        })
        .await
        .unwrap();
        assert_eq!(hints.announced.load(Ordering::Relaxed), 1);
        stop.send(true).unwrap();
        follower.await.unwrap();
    }

    #[test]
    fn max_lag_must_exceed_twice_the_poll_interval() {
        let f = |poll, lag| Follow {
            poll_interval: Duration::from_millis(poll),
            max_lag: Duration::from_millis(lag),
        };
        assert!(f(500, 5_000).validate().is_ok());
        assert!(f(500, 1_001).validate().is_ok());
        let e = f(500, 1_000).validate().unwrap_err();
        assert!(e.contains("revocation_max_lag"), "{e}");
        assert!(f(0, 1_000).validate().is_err());
    }
}
