//! Login throttling (docs/http-api.md): `429` with `Retry-After` when login attempts for a username or an
//! address exceed the limit.
//!
//! Two limits, both **sliding windows** kept as logs of event times, so the answer is exact:
//!
//! * **failures per (username, address)**: after `failures_per_user_ip` failed logins (default 5)
//!   within `failure_window` (default 5 min), further attempts for that username from that address
//!   are refused until the oldest counted failure leaves the window. A successful login clears the
//!   count.
//! * **attempts per address**: at most `attempts_per_ip` login attempts (default 100) within
//!   `attempt_window` (default 1 min), whatever the username and outcome.
//!
//! The login handler calls [`LoginThrottle::check`] before touching the password (it counts the
//! attempt, or refuses with a [`RetryAfter`]), then [`LoginThrottle::record_failure`] or
//! [`LoginThrottle::record_success`]. A refused attempt is not counted, so a client that keeps
//! hammering is let in again exactly when `Retry-After` says.
//!
//! An event at time `t` counts while `now - t < window` and leaves the window at `t + window`;
//! `Retry-After` is the time until enough counted events have left for one more attempt, rounded up
//! to whole seconds and at least 1.
//!
//! **Addresses.** An IPv4-mapped IPv6 address counts as its IPv4 address, and an IPv6 address
//! counts as its /64 network: one host usually holds a whole /64, and would otherwise get a fresh
//! budget for every address in it.
//!
//! **Usernames** are compared case-sensitively; only their first 256 bytes (cut at a character
//! boundary) are kept, so an attacker's long names cost bounded memory.
//!
//! **Bounded memory.** At most `max_tracked_keys` keys are kept (an address with an attempt log
//! counts one, each username tracked under it one more), in shards behind their own mutexes. When a
//! shard is full, expired entries are dropped first; if it is still full, the addresses least
//! recently seen (with their usernames) are evicted, an eighth of the shard at a time so the cost
//! stays amortised. An evicted client starts from a clean slate: under a flood of fresh keys the
//! throttle forgets the quietest clients first rather than grow. Logs never hold more events than
//! their limit. Call [`LoginThrottle::purge`] periodically to give back memory between floods.
//!
//! **Remembered successes.** A successful login also remembers the (username, address) pair for
//! `success_memory` (default 30 days, a session's lifetime):
//! [`LoginThrottle::recently_succeeded`] lets an address that logged in as a user before skip
//! that user's bound on queued password verifications (`passwords.rs`), so a flood of bogus
//! logins for a name cannot lock its owner out. Only a correct password creates an entry, so
//! junk traffic can neither grow this memory nor push real entries out of it; it holds at most
//! `max_remembered_successes` pairs (default 65 536, a few MiB), the oldest forgotten first.
//!
//! Every method takes the current time as an explicit [`Instant`], so tests are deterministic.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The longest username prefix kept as a key, in bytes: as long as a user name may be
/// ([`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES)), so every account has a key of
/// its own.
pub const MAX_USERNAME_KEY_BYTES: usize = crate::MAX_NAME_BYTES;

/// Keys per shard before the throttle splits into more shards (at most 16).
const KEYS_PER_SHARD: usize = 4096;
const MAX_SHARDS: usize = 16;

/// The throttle's limits (the `login_rate_limit` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failed logins allowed per (username, address) within `failure_window` (default 5).
    pub failures_per_user_ip: u32,
    /// The failure window (default 5 minutes).
    pub failure_window: Duration,
    /// Login attempts allowed per address within `attempt_window` (default 100).
    pub attempts_per_ip: u32,
    /// The attempt window (default 1 minute).
    pub attempt_window: Duration,
    /// The most keys tracked at once (default 100 000).
    pub max_tracked_keys: usize,
    /// How long a successful login of a username from an address is remembered (default 30
    /// days).
    pub success_memory: Duration,
    /// The most (username, address) successes remembered at once (default 65 536).
    pub max_remembered_successes: usize,
}

impl ThrottleConfig {
    /// The largest limit accepted (each log holds at most its limit of event times).
    pub const MAX_LIMIT: u32 = 10_000;
    /// The longest window accepted: 7 days. (Memory does not grow with the window: logs hold
    /// at most their limit of events and the key count is capped.)
    pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);
    /// The longest `success_memory` accepted: a year.
    pub const MAX_SUCCESS_MEMORY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// Checks the values: limits from 1 to [`MAX_LIMIT`](Self::MAX_LIMIT), windows from 1 s to
    /// [`MAX_WINDOW`](Self::MAX_WINDOW), at least one tracked key.
    pub fn validate(&self) -> Result<(), ThrottleConfigError> {
        for (field, limit) in [
            ("failures_per_user_ip", self.failures_per_user_ip),
            ("attempts_per_ip", self.attempts_per_ip),
        ] {
            if !(1..=Self::MAX_LIMIT).contains(&limit) {
                return Err(ThrottleConfigError {
                    field,
                    problem: format!(
                        "{limit} is out of range: use a number from 1 to {}",
                        Self::MAX_LIMIT
                    ),
                });
            }
        }
        for (field, window) in [
            ("failure_window", self.failure_window),
            ("attempt_window", self.attempt_window),
        ] {
            if window < Duration::from_secs(1) || window > Self::MAX_WINDOW {
                return Err(ThrottleConfigError {
                    field,
                    problem: format!(
                        "{window:?} is out of range: use a duration from 1s to 7d (e.g. `5m`)"
                    ),
                });
            }
        }
        if self.max_tracked_keys == 0 {
            return Err(ThrottleConfigError {
                field: "max_tracked_keys",
                problem: "0 would track nothing: use at least 1 (default 100000)".to_owned(),
            });
        }
        if self.success_memory < Duration::from_secs(1)
            || self.success_memory > Self::MAX_SUCCESS_MEMORY
        {
            return Err(ThrottleConfigError {
                field: "success_memory",
                problem: format!(
                    "{:?} is out of range: use a duration from 1s to 365d (default 30d)",
                    self.success_memory
                ),
            });
        }
        if self.max_remembered_successes == 0 {
            return Err(ThrottleConfigError {
                field: "max_remembered_successes",
                problem: "0 would remember nothing: use at least 1 (default 65536)".to_owned(),
            });
        }
        Ok(())
    }
}

impl Default for ThrottleConfig {
    /// 5 failures per (username, address) per 5 minutes, 100 attempts per address per minute,
    /// 100 000 keys; successes remembered for 30 days, at most 65 536 of them.
    fn default() -> Self {
        ThrottleConfig {
            failures_per_user_ip: 5,
            failure_window: Duration::from_secs(5 * 60),
            attempts_per_ip: 100,
            attempt_window: Duration::from_secs(60),
            max_tracked_keys: 100_000,
            success_memory: Duration::from_secs(30 * 24 * 60 * 60),
            max_remembered_successes: 65_536,
        }
    }
}

/// An invalid [`ThrottleConfig`] value: which field, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfigError {
    /// The field (configuration key under `login_rate_limit`).
    pub field: &'static str,
    /// What is wrong and what to use instead.
    pub problem: String,
}

impl fmt::Display for ThrottleConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "login_rate_limit `{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for ThrottleConfigError {}

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThrottleLimit {
    /// Too many failures for this username from this address.
    UserAddress,
    /// Too many attempts from this address.
    Address,
}

/// A refused login attempt: wait this long (whole seconds, at least 1) before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    wait: Duration,
    limit: ThrottleLimit,
}

impl RetryAfter {
    /// `wait` rounded up to whole seconds, at least one.
    pub fn new(wait: Duration, limit: ThrottleLimit) -> Self {
        let secs = wait
            .as_secs()
            .saturating_add(u64::from(wait.subsec_nanos() > 0))
            .max(1);
        RetryAfter {
            wait: Duration::from_secs(secs),
            limit,
        }
    }

    /// The wait as a duration (whole seconds).
    pub fn duration(&self) -> Duration {
        self.wait
    }

    /// The wait in whole seconds: the `Retry-After` header value.
    pub fn as_secs(&self) -> u64 {
        self.wait.as_secs()
    }

    /// The limit that refused the attempt (for logs and metrics; the response is the same).
    pub fn limit(&self) -> ThrottleLimit {
        self.limit
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many login attempts: retry after {} s",
            self.as_secs()
        )
    }
}

impl std::error::Error for RetryAfter {}

/// In-memory login throttle, shared by all requests (wrap it in an `Arc`).
pub struct LoginThrottle {
    config: ThrottleConfig,
    shards: Box<[Mutex<Shard>]>,
    successes: Mutex<Successes>,
    shard_cap: usize,
    hasher: RandomState,
    hits: AtomicU64,
    evictions: AtomicU64,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.config)
            .field("shards", &self.shards.len())
            .field("hits", &self.hits())
            .finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    /// A throttle with the default limits.
    fn default() -> Self {
        Self::build(ThrottleConfig::default())
    }
}

#[derive(Default)]
struct Shard {
    ips: HashMap<IpAddr, IpEntry>,
    /// Address entries plus username entries in this shard.
    tracked: usize,
}

struct IpEntry {
    /// Attempt times within the attempt window, oldest first, at most `attempts_per_ip`.
    attempts: VecDeque<Instant>,
    /// Failure times per username within the failure window, oldest first, at most
    /// `failures_per_user_ip` each.
    failures: HashMap<Box<str>, VecDeque<Instant>>,
    /// The latest event for this address (eviction order).
    last_seen: Instant,
}

impl IpEntry {
    fn new(now: Instant) -> Self {
        IpEntry {
            attempts: VecDeque::new(),
            failures: HashMap::new(),
            last_seen: now,
        }
    }
}

/// Remembered successful logins: address → username → when.
#[derive(Default)]
struct Successes {
    by_ip: HashMap<IpAddr, HashMap<Box<str>, Instant>>,
    len: usize,
}

impl Successes {
    /// Drops the successes older than `memory`.
    fn purge(&mut self, memory: Duration, now: Instant) -> usize {
        let before = self.len;
        let mut len = 0;
        self.by_ip.retain(|_, users| {
            users.retain(|_, &mut at| now.saturating_duration_since(at) < memory);
            len += users.len();
            !users.is_empty()
        });
        self.len = len;
        before - len
    }

    /// Forgets the oldest successes until at most `keep` are left.
    fn evict_oldest(&mut self, keep: usize) {
        if self.len <= keep {
            return;
        }
        let mut times: Vec<Instant> = self
            .by_ip
            .values()
            .flat_map(|u| u.values())
            .copied()
            .collect();
        let cut = self.len - keep;
        times.select_nth_unstable(cut - 1);
        let threshold = times[cut - 1];
        // Everything older than the threshold, then as many at the threshold as still needed.
        let mut dropped = 0;
        for at_threshold in [false, true] {
            self.by_ip.retain(|_, users| {
                users.retain(|_, &mut at| {
                    let old = if at_threshold {
                        at == threshold && dropped < cut
                    } else {
                        at < threshold
                    };
                    dropped += usize::from(old);
                    !old
                });
                !users.is_empty()
            });
        }
        self.len -= dropped;
    }
}

/// Drops the events that have left the window.
fn prune(log: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while log
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        log.pop_front();
    }
}

/// How long until one more event fits under `limit`, if it does not now (`log` pruned).
fn wait(log: &VecDeque<Instant>, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let excess = log.len().checked_sub(limit)?;
    // Events 0..=excess must leave before the count drops below the limit.
    let oldest = *log.get(excess)?;
    Some(window.saturating_sub(now.saturating_duration_since(oldest)))
}

/// Appends an event (never before the latest one) and keeps at most `limit` events.
fn push(log: &mut VecDeque<Instant>, limit: u32, now: Instant) {
    let at = log.back().map_or(now, |&last| last.max(now));
    log.push_back(at);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    while log.len() > limit {
        log.pop_front();
    }
}

/// The address a client is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(network.into())
            }
        },
    }
}

/// The username as a key: case-sensitive, at most [`MAX_USERNAME_KEY_BYTES`].
pub fn user_key(user: &str) -> &str {
    let mut end = user.len().min(MAX_USERNAME_KEY_BYTES);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user.get(..end).unwrap_or_default()
}

impl LoginThrottle {
    /// A throttle with these limits; a value outside the accepted range (see
    /// [`ThrottleConfig::validate`]) is clamped into it. Use [`try_new`](Self::try_new), or
    /// validate the configuration first, to report such a value instead.
    pub fn new(config: ThrottleConfig) -> Self {
        let limits = 1..=ThrottleConfig::MAX_LIMIT;
        let clamp_limit = |n: u32| n.clamp(*limits.start(), *limits.end());
        let clamp_window =
            |w: Duration| w.clamp(Duration::from_secs(1), ThrottleConfig::MAX_WINDOW);
        Self::build(ThrottleConfig {
            failures_per_user_ip: clamp_limit(config.failures_per_user_ip),
            failure_window: clamp_window(config.failure_window),
            attempts_per_ip: clamp_limit(config.attempts_per_ip),
            attempt_window: clamp_window(config.attempt_window),
            max_tracked_keys: config.max_tracked_keys.max(1),
            success_memory: config
                .success_memory
                .clamp(Duration::from_secs(1), ThrottleConfig::MAX_SUCCESS_MEMORY),
            max_remembered_successes: config.max_remembered_successes.max(1),
        })
    }

    /// A throttle with validated limits.
    pub fn try_new(config: ThrottleConfig) -> Result<Self, ThrottleConfigError> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: ThrottleConfig) -> Self {
        let cap = config.max_tracked_keys.max(1);
        let count = (cap / KEYS_PER_SHARD).clamp(1, MAX_SHARDS);
        LoginThrottle {
            config,
            shards: (0..count).map(|_| Mutex::default()).collect(),
            successes: Mutex::default(),
            shard_cap: cap / count,
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// How many attempts have been refused.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many addresses were evicted while still holding live events, to bound memory.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Keys tracked now (addresses plus usernames), at most `max_tracked_keys`.
    pub fn tracked_keys(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_index(i).tracked)
            .sum()
    }

    /// Locks shard `i % shards` (there is always at least one shard). A poisoned lock is taken
    /// over: every update leaves the shard consistent enough to keep throttling.
    fn lock_index(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.shards[i % self.shards.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self, ip: IpAddr) -> MutexGuard<'_, Shard> {
        // Truncating the hash is fine: only its value modulo the shard count matters.
        self.lock_index(self.hasher.hash_one(ip) as usize)
    }

    /// Called before a password is verified: counts the attempt against the address's budget,
    /// or refuses it (not counted) while the address's budget, or this username's failures from
    /// this address, are used up.
    pub fn check(&self, user: &str, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let ip = client_key(ip);
        let user = user_key(user);
        let cfg = &self.config;
        let mut guard = self.lock(ip);
        let shard = &mut *guard;

        if let Some(entry) = shard.ips.get_mut(&ip) {
            let user_wait = entry.failures.get_mut(user).and_then(|log| {
                prune(log, cfg.failure_window, now);
                wait(log, cfg.failures_per_user_ip, cfg.failure_window, now)
            });
            prune(&mut entry.attempts, cfg.attempt_window, now);
            let ip_wait = wait(
                &entry.attempts,
                cfg.attempts_per_ip,
                cfg.attempt_window,
                now,
            );
            let refusal = match (user_wait, ip_wait) {
                (Some(u), Some(i)) if i > u => Some((i, ThrottleLimit::Address)),
                (Some(u), _) => Some((u, ThrottleLimit::UserAddress)),
                (None, Some(i)) => Some((i, ThrottleLimit::Address)),
                (None, None) => None,
            };
            // A refused client is still active: its entry must not look stale to eviction.
            entry.last_seen = entry.last_seen.max(now);
            if let Some((wait, limit)) = refusal {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Err(RetryAfter::new(wait, limit));
            }
            push(&mut entry.attempts, cfg.attempts_per_ip, now);
            return Ok(());
        }

        self.make_room(shard, 1, now);
        let mut entry = IpEntry::new(now);
        push(&mut entry.attempts, cfg.attempts_per_ip, now);
        shard.ips.insert(ip, entry);
        shard.tracked += 1;
        Ok(())
    }

    /// Refuses (not counted) while `key`'s failures from this address are used up, counting
    /// nothing otherwise: for checks other than logins whose successes must not use the
    /// address's attempt budget (the revocation feed's credentials). Pair it with
    /// [`record_failure`](Self::record_failure).
    pub fn check_failures(&self, key: &str, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let ip = client_key(ip);
        let key = user_key(key);
        let cfg = &self.config;
        let mut guard = self.lock(ip);
        let Some(entry) = guard.ips.get_mut(&ip) else {
            return Ok(());
        };
        let Some(log) = entry.failures.get_mut(key) else {
            return Ok(());
        };
        prune(log, cfg.failure_window, now);
        match wait(log, cfg.failures_per_user_ip, cfg.failure_window, now) {
            None => Ok(()),
            Some(wait) => {
                entry.last_seen = entry.last_seen.max(now);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Err(RetryAfter::new(wait, ThrottleLimit::UserAddress))
            }
        }
    }

    /// Records a failed login (wrong password or unknown user) for this username and address.
    pub fn record_failure(&self, user: &str, ip: IpAddr, now: Instant) {
        let ip = client_key(ip);
        let user = user_key(user);
        let cfg = &self.config;
        let mut guard = self.lock(ip);
        let shard = &mut *guard;

        let needed = match shard.ips.get(&ip) {
            None => 2,
            Some(entry) if !entry.failures.contains_key(user) => 1,
            Some(_) => 0,
        };
        self.make_room(shard, needed, now);
        let entry = match shard.ips.entry(ip) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                shard.tracked += 1;
                e.insert(IpEntry::new(now))
            }
        };
        entry.last_seen = entry.last_seen.max(now);
        if !entry.failures.contains_key(user) {
            shard.tracked += 1;
            entry.failures.insert(Box::from(user), VecDeque::new());
        }
        if let Some(log) = entry.failures.get_mut(user) {
            prune(log, cfg.failure_window, now);
            push(log, cfg.failures_per_user_ip, now);
        }
    }

    /// Records a successful login now: see [`record_success_at`](Self::record_success_at).
    pub fn record_success(&self, user: &str, ip: IpAddr) {
        self.record_success_at(user, ip, Instant::now());
    }

    /// Records a successful login: clears this username's failures from this address (the
    /// attempt still counts against the address's budget), and remembers the pair for
    /// `success_memory` ([`recently_succeeded`](Self::recently_succeeded)).
    pub fn record_success_at(&self, user: &str, ip: IpAddr, now: Instant) {
        let ip = client_key(ip);
        let user = user_key(user);
        {
            let mut guard = self.lock(ip);
            let shard = &mut *guard;
            if let Some(entry) = shard.ips.get_mut(&ip)
                && entry.failures.remove(user).is_some()
            {
                shard.tracked -= 1;
            }
        }
        let cap = self.config.max_remembered_successes;
        let mut successes = self.lock_successes();
        let known = successes
            .by_ip
            .get(&ip)
            .is_some_and(|users| users.contains_key(user));
        if !known && successes.len >= cap {
            successes.purge(self.config.success_memory, now);
            // Still full: forget the oldest eighth, so the sort is paid once per cap / 8 logins.
            successes.evict_oldest((cap - cap / 8).min(cap - 1));
        }
        let users = successes.by_ip.entry(ip).or_default();
        let added = users.insert(Box::from(user), now).is_none();
        successes.len += usize::from(added);
    }

    /// Whether `user` logged in successfully from `ip` (its /64 for IPv6) within
    /// `success_memory`.
    pub fn recently_succeeded(&self, user: &str, ip: IpAddr, now: Instant) -> bool {
        let ip = client_key(ip);
        let memory = self.config.success_memory;
        self.lock_successes()
            .by_ip
            .get(&ip)
            .and_then(|users| users.get(user_key(user)))
            .is_some_and(|&at| now.saturating_duration_since(at) < memory)
    }

    /// (username, address) successes remembered now.
    pub fn remembered_successes(&self) -> usize {
        self.lock_successes().len
    }

    fn lock_successes(&self) -> MutexGuard<'_, Successes> {
        self.successes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every event that has left its window and every key left empty; returns how many
    /// keys were dropped. Call it periodically (e.g. every minute).
    pub fn purge(&self, now: Instant) -> usize {
        let keys: usize = (0..self.shards.len())
            .map(|i| self.purge_shard(&mut self.lock_index(i), now))
            .sum();
        self.lock_successes().purge(self.config.success_memory, now);
        keys
    }

    fn purge_shard(&self, shard: &mut Shard, now: Instant) -> usize {
        let cfg = &self.config;
        let before = shard.tracked;
        let mut tracked = 0;
        shard.ips.retain(|_, entry| {
            prune(&mut entry.attempts, cfg.attempt_window, now);
            entry.failures.retain(|_, log| {
                prune(log, cfg.failure_window, now);
                !log.is_empty()
            });
            let keep = !entry.attempts.is_empty() || !entry.failures.is_empty();
            if keep {
                tracked += 1 + entry.failures.len();
            }
            keep
        });
        shard.tracked = tracked;
        before.saturating_sub(tracked)
    }

    /// Makes room for `needed` new keys in a shard: drops expired entries, then, if the shard is
    /// still too full, evicts the least recently seen addresses down to seven eighths of its cap.
    fn make_room(&self, shard: &mut Shard, needed: usize, now: Instant) {
        let cap = self.shard_cap;
        if shard.tracked + needed <= cap {
            return;
        }
        self.purge_shard(shard, now);
        if shard.tracked + needed <= cap {
            return;
        }
        let target = (cap - cap / 8).saturating_sub(needed);
        let mut by_age: Vec<(Instant, IpAddr)> = shard
            .ips
            .iter()
            .map(|(ip, entry)| (entry.last_seen, *ip))
            .collect();
        by_age.sort_unstable_by_key(|&(seen, _)| seen);
        for (_, ip) in by_age {
            if shard.tracked <= target {
                break;
            }
            if let Some(entry) = shard.ips.remove(&ip) {
                shard.tracked = shard.tracked.saturating_sub(1 + entry.failures.len());
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// One failed login: check, then record the failure.
    fn fail(t: &LoginThrottle, user: &str, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        t.check(user, ip, now)?;
        t.record_failure(user, ip, now);
        Ok(())
    }

    #[test]
    fn check_failures_counts_nothing_and_refuses_after_the_limit() {
        let t = LoginThrottle::new(ThrottleConfig {
            failures_per_user_ip: 2,
            attempts_per_ip: 1,
            ..ThrottleConfig::default()
        });
        let t0 = Instant::now();
        // Checks alone never use the attempt budget (1 here) nor refuse.
        for i in 0..5 {
            assert_eq!(t.check_failures("k", IP, at(t0, i)), Ok(()));
        }
        assert_eq!(t.tracked_keys(), 0);
        t.record_failure("k", IP, at(t0, 10));
        assert_eq!(t.check_failures("k", IP, at(t0, 11)), Ok(()));
        t.record_failure("k", IP, at(t0, 20));
        let refused = t.check_failures("k", IP, at(t0, 21)).unwrap_err();
        assert_eq!(refused.limit(), ThrottleLimit::UserAddress);
        // The first failure leaves the window 299.989 s later: 300 whole seconds.
        assert_eq!(refused.as_secs(), 300);
        // Another address, another key: not refused.
        assert_eq!(t.check_failures("k", OTHER_IP, at(t0, 21)), Ok(()));
        assert_eq!(t.check_failures("other", IP, at(t0, 21)), Ok(()));
        // Once the first failure leaves the window, one more check passes.
        assert_eq!(t.check_failures("k", IP, at(t0, 300_010)), Ok(()));
    }

    #[test]
    fn defaults_match_the_issue() {
        let c = ThrottleConfig::default();
        assert_eq!(c.failures_per_user_ip, 5);
        assert_eq!(c.failure_window, Duration::from_secs(300));
        assert_eq!(c.attempts_per_ip, 100);
        assert_eq!(c.attempt_window, Duration::from_secs(60));
        assert_eq!(c.validate(), Ok(()));
        assert!(LoginThrottle::try_new(c).is_ok());
    }

    #[test]
    fn invalid_config_names_the_field() {
        let zero = ThrottleConfig {
            failures_per_user_ip: 0,
            ..ThrottleConfig::default()
        };
        let err = LoginThrottle::try_new(zero).unwrap_err();
        assert_eq!(err.field, "failures_per_user_ip");
        assert!(err.to_string().contains("from 1 to"), "{err}");
        let instant = ThrottleConfig {
            attempt_window: Duration::ZERO,
            ..ThrottleConfig::default()
        };
        assert_eq!(instant.validate().unwrap_err().field, "attempt_window");
        let none = ThrottleConfig {
            max_tracked_keys: 0,
            ..ThrottleConfig::default()
        };
        assert_eq!(none.validate().unwrap_err().field, "max_tracked_keys");

        // `new` clamps instead: at least one failure, a one-second window, one key.
        let clamped = LoginThrottle::new(ThrottleConfig {
            failures_per_user_ip: 0,
            attempt_window: Duration::ZERO,
            max_tracked_keys: 0,
            ..ThrottleConfig::default()
        });
        assert_eq!(clamped.config().failures_per_user_ip, 1);
        assert_eq!(clamped.config().attempt_window, Duration::from_secs(1));
        assert_eq!(clamped.config().max_tracked_keys, 1);
        let t0 = Instant::now();
        fail(&clamped, "alice", IP, t0).unwrap();
        assert_eq!(clamped.check("alice", IP, t0).unwrap_err().as_secs(), 300);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = |ms| RetryAfter::new(Duration::from_millis(ms), ThrottleLimit::Address).as_secs();
        assert_eq!(r(0), 1);
        assert_eq!(r(1), 1);
        assert_eq!(r(1000), 1);
        assert_eq!(r(1001), 2);
        assert_eq!(r(294_500), 295);
        let ra = RetryAfter::new(Duration::from_millis(1500), ThrottleLimit::UserAddress);
        assert_eq!(ra.duration(), Duration::from_secs(2));
        assert_eq!(ra.to_string(), "too many login attempts: retry after 2 s");
    }

    #[test]
    fn five_failures_then_refused_until_the_oldest_leaves_the_window() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        // Failures at 0.5 s, 10.5 s, 20.5 s, 30.5 s, 40.5 s.
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, 500 + i * 10_000)).unwrap();
        }
        // At 60 s the oldest failure (0.5 s) leaves the window at 300.5 s: 240.5 s → 241.
        let refused = t.check("alice", IP, at(t0, 60_000)).unwrap_err();
        assert_eq!(refused.as_secs(), 241);
        assert_eq!(refused.limit(), ThrottleLimit::UserAddress);
        assert_eq!(t.hits(), 1);
        // Still refused a moment before, allowed exactly when Retry-After said.
        let just_before = t.check("alice", IP, at(t0, 300_499)).unwrap_err();
        assert_eq!(just_before.as_secs(), 1);
        assert_eq!(t.hits(), 2);
        assert_eq!(t.check("alice", IP, at(t0, 300_500)), Ok(()));
        // One more failure fills the window again; now the 10.5 s failure is the oldest.
        t.record_failure("alice", IP, at(t0, 301_000));
        let again = t.check("alice", IP, at(t0, 301_000)).unwrap_err();
        assert_eq!(again.as_secs(), 10); // 310.5 s - 301 s = 9.5 s → 10
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, i)).unwrap();
        }
        for s in 1..200 {
            assert!(t.check("alice", IP, at(t0, s * 1000)).is_err());
        }
        // The attempt budget holds only the five accepted attempts.
        assert_eq!(t.hits(), 199);
        assert_eq!(t.check("alice", IP, at(t0, 300_000)), Ok(()));
    }

    #[test]
    fn success_resets_the_failures() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..4 {
            fail(&t, "alice", IP, at(t0, i * 1000)).unwrap();
        }
        t.check("alice", IP, at(t0, 5000)).unwrap();
        t.record_success("alice", IP);
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, 6000 + i * 1000)).unwrap();
        }
        assert!(t.check("alice", IP, at(t0, 11_000)).is_err());
        t.record_success("alice", IP);
        assert_eq!(t.check("alice", IP, at(t0, 11_000)), Ok(()));
    }

    #[test]
    fn other_addresses_and_users_are_unaffected() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, i)).unwrap();
        }
        assert!(t.check("alice", IP, at(t0, 10)).is_err());
        assert_eq!(t.check("alice", OTHER_IP, at(t0, 10)), Ok(()));
        assert_eq!(t.check("bob", IP, at(t0, 10)), Ok(()));
        // Case-sensitive: "Alice" is another username.
        assert_eq!(t.check("Alice", IP, at(t0, 10)), Ok(()));
        // Success elsewhere does not clear alice's failures from IP.
        t.record_success("alice", OTHER_IP);
        assert!(t.check("alice", IP, at(t0, 20)).is_err());
    }

    #[test]
    fn per_address_attempt_budget() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        // 100 attempts over 49.5 s, all different users, all accepted.
        for i in 0..100 {
            t.check(&format!("user{i}"), IP, at(t0, i * 500)).unwrap();
        }
        let refused = t.check("someone", IP, at(t0, 50_000)).unwrap_err();
        assert_eq!(refused.limit(), ThrottleLimit::Address);
        assert_eq!(refused.as_secs(), 10); // the first attempt (0 s) leaves at 60 s
        // Another address has its own budget.
        assert_eq!(t.check("someone", OTHER_IP, at(t0, 50_000)), Ok(()));
        // At 60 s one slot frees, and only one.
        assert_eq!(t.check("someone", IP, at(t0, 60_000)), Ok(()));
        let next = t.check("someone", IP, at(t0, 60_000)).unwrap_err();
        assert_eq!(next.as_secs(), 1); // the 0.5 s attempt leaves at 60.5 s
        assert_eq!(t.hits(), 2);
    }

    #[test]
    fn the_longer_wait_wins_when_both_limits_refuse() {
        let config = ThrottleConfig {
            attempts_per_ip: 5,
            ..ThrottleConfig::default()
        };
        let t = LoginThrottle::new(config);
        let t0 = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, i * 1000)).unwrap();
        }
        let both = t.check("alice", IP, at(t0, 5000)).unwrap_err();
        assert_eq!(both.limit(), ThrottleLimit::UserAddress);
        assert_eq!(both.as_secs(), 295);
        let ip_only = t.check("bob", IP, at(t0, 5000)).unwrap_err();
        assert_eq!(ip_only.limit(), ThrottleLimit::Address);
        assert_eq!(ip_only.as_secs(), 55);
    }

    #[test]
    fn window_expiry_and_purge() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, i)).unwrap();
        }
        assert!(t.check("alice", IP, at(t0, 299_000)).is_err());
        assert_eq!(t.tracked_keys(), 2); // the address and alice under it
        // Attempts expire after a minute, failures after five: nothing is dropped at 2 min…
        assert_eq!(t.purge(at(t0, 120_000)), 0);
        assert_eq!(t.tracked_keys(), 2);
        // …and everything once the last failure (4 ms) has left its window.
        assert_eq!(t.purge(at(t0, 300_004)), 2);
        assert_eq!(t.tracked_keys(), 0);
        assert_eq!(t.check("alice", IP, at(t0, 300_004)), Ok(()));
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        for i in 0..5 {
            // A new address in the same /64 for every guess.
            fail(&t, "alice", host(i), at(t0, u64::from(i))).unwrap();
        }
        assert!(t.check("alice", host(999), at(t0, 10)).is_err());
        let next_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert_eq!(t.check("alice", next_net, at(t0, 10)), Ok(()));

        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        for i in 0..5 {
            fail(&t, "bob", mapped, at(t0, i)).unwrap();
        }
        assert!(t.check("bob", IP, at(t0, 10)).is_err());
    }

    #[test]
    fn long_usernames_are_keyed_by_their_first_256_bytes() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        let prefix = "é".repeat(200); // 400 bytes: the cut falls at a character boundary
        for i in 0..5 {
            fail(&t, &format!("{prefix}{i}"), IP, at(t0, i)).unwrap();
        }
        assert!(t.check(&format!("{prefix}-other"), IP, at(t0, 10)).is_err());
        assert_eq!(user_key(&prefix).len(), 256);
        assert_eq!(user_key("bob"), "bob");
    }

    #[test]
    fn memory_is_capped_by_evicting_the_oldest() {
        let config = ThrottleConfig {
            max_tracked_keys: 64,
            ..ThrottleConfig::default()
        };
        let t = LoginThrottle::new(config);
        let t0 = Instant::now();
        let addr = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));

        // The victim's address is busy: 5 failures, refreshed at the end.
        for i in 0..5 {
            fail(&t, "alice", IP, at(t0, i)).unwrap();
        }
        // A flood of fresh addresses and usernames, each failing once, all within the window.
        for i in 0..10_000u32 {
            let now = at(t0, 10 + u64::from(i));
            fail(&t, &format!("junk{i}"), addr(i), now).unwrap();
            assert!(t.tracked_keys() <= 64, "{} keys at {i}", t.tracked_keys());
            if i % 10 == 0 {
                // The victim's address stays in active use, so it is never the oldest.
                assert!(t.check("alice", IP, now).is_err());
            }
        }
        assert!(t.evictions() > 0);
        assert!(t.check("alice", IP, at(t0, 20_000)).is_err());
        // The most recent address kept its failure: four more make five.
        for _ in 0..4 {
            fail(&t, "junk9999", addr(9999), at(t0, 20_000)).unwrap();
        }
        assert!(t.check("junk9999", addr(9999), at(t0, 20_000)).is_err());
        // The least recently seen went first: the first junk address starts from zero.
        for _ in 0..4 {
            fail(&t, "junk0", addr(0), at(t0, 20_000)).unwrap();
        }
        assert_eq!(t.check("junk0", addr(0), at(t0, 20_000)), Ok(()));
    }

    #[test]
    fn expired_entries_are_dropped_before_live_ones_are_evicted() {
        let config = ThrottleConfig {
            max_tracked_keys: 4,
            ..ThrottleConfig::default()
        };
        let t = LoginThrottle::new(config);
        let t0 = Instant::now();
        let addr = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..4 {
            t.check("u", addr(i), at(t0, 0)).unwrap();
        }
        assert_eq!(t.tracked_keys(), 4);
        // A minute later the four attempt logs have expired: room without evicting anything.
        t.check("u", addr(10), at(t0, 60_000)).unwrap();
        assert_eq!(t.evictions(), 0);
        assert_eq!(t.tracked_keys(), 1);
    }

    #[test]
    fn successes_are_remembered_per_user_and_address_for_a_while() {
        let config = ThrottleConfig {
            success_memory: Duration::from_secs(3600),
            ..ThrottleConfig::default()
        };
        let t = LoginThrottle::new(config);
        let t0 = Instant::now();
        assert!(!t.recently_succeeded("alice", IP, t0));
        t.record_success_at("alice", IP, t0);
        assert!(t.recently_succeeded("alice", IP, at(t0, 1000)));
        // Another user, another address, another case: not remembered.
        assert!(!t.recently_succeeded("bob", IP, at(t0, 1000)));
        assert!(!t.recently_succeeded("alice", OTHER_IP, at(t0, 1000)));
        assert!(!t.recently_succeeded("Alice", IP, at(t0, 1000)));
        // IPv6 by /64, as the failure counts.
        let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        t.record_success_at("carol", host(1), t0);
        assert!(t.recently_succeeded("carol", host(2), at(t0, 1)));
        // Failures neither need nor clear it; it ends with the memory window.
        t.record_failure("alice", IP, at(t0, 2000));
        assert!(t.recently_succeeded("alice", IP, at(t0, 3_599_999)));
        assert!(!t.recently_succeeded("alice", IP, at(t0, 3_600_000)));
        // A new success restarts it; purge drops what has expired.
        t.record_success_at("alice", IP, at(t0, 3_600_000));
        assert_eq!(t.remembered_successes(), 2);
        t.purge(at(t0, 3_600_001));
        assert_eq!(t.remembered_successes(), 1);
        assert!(t.recently_succeeded("alice", IP, at(t0, 3_600_001)));
    }

    #[test]
    fn remembered_successes_are_capped_oldest_first() {
        let config = ThrottleConfig {
            max_remembered_successes: 16,
            ..ThrottleConfig::default()
        };
        let t = LoginThrottle::new(config);
        let t0 = Instant::now();
        let addr = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..1000u32 {
            t.record_success_at(&format!("user{}", i % 3), addr(i), at(t0, u64::from(i)));
            assert!(t.remembered_successes() <= 16, "at {i}");
            // The newest is always kept.
            assert!(t.recently_succeeded(&format!("user{}", i % 3), addr(i), at(t0, 1000)));
        }
        assert!(t.remembered_successes() >= 14);
        assert!(!t.recently_succeeded("user0", addr(0), at(t0, 1000)));
        // Refreshing a remembered pair adds nothing.
        let n = t.remembered_successes();
        t.record_success_at("user0", addr(999), at(t0, 1001));
        assert_eq!(t.remembered_successes(), n);
        let invalid = ThrottleConfig {
            max_remembered_successes: 0,
            ..ThrottleConfig::default()
        };
        assert_eq!(
            invalid.validate().unwrap_err().field,
            "max_remembered_successes"
        );
        let forever = ThrottleConfig {
            success_memory: Duration::from_secs(400 * 86_400),
            ..ThrottleConfig::default()
        };
        assert_eq!(forever.validate().unwrap_err().field, "success_memory");
    }

    #[test]
    fn sharded_throttle_shares_state_per_address() {
        // The default cap uses 16 shards; an address always maps to the same one.
        let t = LoginThrottle::default();
        assert_eq!(t.shards.len(), 16);
        let t0 = Instant::now();
        for n in 0..50u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 + n));
            for i in 0..5 {
                fail(&t, "alice", ip, at(t0, i)).unwrap();
            }
            assert!(t.check("alice", ip, at(t0, 10)).is_err());
        }
        assert_eq!(t.tracked_keys(), 100);
    }
}
