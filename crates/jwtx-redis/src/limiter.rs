//! [`RedisLimiter`]: the login limits of [`LoginThrottle`], counted in Redis so that they hold
//! across all instances together.
//!
//! **Same semantics.** For one [`ThrottleConfig`] it answers as one `LoginThrottle` would if
//! every instance's logins went through it: sliding windows kept as logs of event times (a
//! Redis sorted set per log, trimmed to its limit), an event counting while
//! `now - t < window`, `Retry-After` the time until enough events have left (whole seconds,
//! at least 1; the longer wait when both limits refuse), a refused attempt not counted, a
//! success clearing the (name, address) failures and being remembered for
//! `success_memory`. Addresses and names are keyed as `LoginThrottle` keys them
//! ([`client_key`], [`user_key`]); a name is stored only as a SHA-256. Each operation is one
//! Lua script run, atomic in Redis, timed by the Redis server's clock. Every key expires when
//! its window (or the success memory) has passed, so Redis needs no purge.
//!
//! What a shared store cannot reproduce, it does not need: `max_tracked_keys` and
//! `max_remembered_successes` bound an instance's memory; in Redis, keys expire instead
//! (and Redis's own `maxmemory` policy bounds the rest).
//!
//! **When Redis is down or slow.** Every Redis call has a deadline ([`CALL_TIMEOUT`]). A call
//! that fails or misses it is answered by an in-process `LoginThrottle` instead, and the
//! limiter becomes *degraded* ([`RedisLimiter::is_degraded`], logged once at warn): until
//! Redis answers again, every call is answered in-process at once (per-instance limits, no
//! wait on Redis), and [`RedisLimiter::fallbacks`] counts those answers. A background task
//! probes Redis twice a second, logins or not: a probe that fails or misses the deadline
//! degrades the limiter as a call would (so an idle instance, too, says that Redis is away),
//! and once degraded, the first probe Redis answers resumes shared counting (logged at info).
//! So a login is never refused because Redis is away, and never let through unlimited.
//!
//! The in-process throttle also sees every event while Redis answers (it is answered by
//! Redis, but counted here too), so when Redis goes away an instance's fallback limits start
//! from what that instance has seen, not from zero: stopping Redis does not hand an attacker
//! fresh budgets. Successes remembered in-process count too ([`recently_succeeded`] is true
//! if either remembers one), since a Redis without persistence forgets them on a restart.
//!
//! [`client_key`]: jwtx_auth::throttle::client_key
//! [`user_key`]: jwtx_auth::throttle::user_key
//! [`recently_succeeded`]: LoginLimiter::recently_succeeded

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jwtx_auth::throttle::{
    LoginThrottle, RetryAfter, ThrottleConfig, ThrottleLimit, client_key, user_key,
};
use jwtx_auth::{LimiterFuture, LoginLimiter, Refusal};
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;

use crate::{Error, RedisTarget, sha256_hex, within};

/// The deadline of every Redis call the limiter makes.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How often a degraded limiter asks Redis whether it answers again.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// [`LoginLimiter`] counted in Redis, with an in-process fallback. See the
/// [module docs](self).
pub struct RedisLimiter {
    shared: Arc<Shared>,
    probe: JoinHandle<()>,
}

struct Shared {
    target: RedisTarget,
    conn: ConnectionManager,
    prefix: String,
    /// The limits in force (the fallback's, after clamping).
    config: ThrottleConfig,
    fallback: LoginThrottle,
    script: Script,
    timeout: Duration,
    degraded: AtomicBool,
    fallbacks: AtomicU64,
    hits: AtomicU64,
    /// Makes sorted-set members unique across instances: a random id and a sequence number.
    instance: String,
    seq: AtomicU64,
}

/// The keys of one (name, address).
struct Keys {
    attempts: String,
    failures: String,
    success: String,
}

/// An operation of the script (`ARGV[1]`).
#[derive(Clone, Copy)]
enum Op {
    Check,
    Failure,
    Success,
    Seen,
    Probe,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Check => "check",
            Op::Failure => "failure",
            Op::Success => "success",
            Op::Seen => "seen",
            Op::Probe => "probe",
        }
    }
}

impl RedisLimiter {
    /// A limiter with keys under `{prefix}login:` and these limits (a value out of range is
    /// clamped, as [`LoginThrottle::new`] does; validate the configuration first to report
    /// it instead).
    ///
    /// It does not wait for Redis: until Redis answers, calls are answered in-process. Must
    /// be called within a Tokio runtime ([`Error::NoRuntime`] otherwise): a background task
    /// probes Redis twice a second; it ends when the limiter is dropped.
    pub fn start(
        target: &RedisTarget,
        prefix: &str,
        config: ThrottleConfig,
    ) -> Result<Self, Error> {
        let conn = target.manager()?;
        let fallback = LoginThrottle::new(config);
        let instance = jwtx::uuid4().replace('-', "");
        let shared = Arc::new(Shared {
            target: target.clone(),
            conn,
            prefix: format!("{prefix}login:"),
            config: *fallback.config(),
            fallback,
            script: Script::new(include_str!("login.lua")),
            timeout: CALL_TIMEOUT,
            degraded: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            instance: instance.get(..12).unwrap_or(&instance).to_owned(),
            seq: AtomicU64::new(0),
        });
        let probe = tokio::spawn(probe(Arc::downgrade(&shared)));
        Ok(RedisLimiter { shared, probe })
    }

    /// The limits in force.
    pub fn config(&self) -> &ThrottleConfig {
        &self.shared.config
    }

    /// Whether Redis is away and calls are answered in-process (per-instance limits).
    pub fn is_degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Relaxed)
    }

    /// How many calls were answered in-process because Redis was away or slow.
    pub fn fallbacks(&self) -> u64 {
        self.shared.fallbacks.load(Ordering::Relaxed)
    }

    /// How many attempts were refused (by Redis or by the fallback).
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::Relaxed)
    }

    /// The in-process throttle that answers while Redis is away.
    pub fn fallback(&self) -> &LoginThrottle {
        &self.shared.fallback
    }
}

impl Drop for RedisLimiter {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("redis", &self.shared.target)
            .field("prefix", &self.shared.prefix)
            .field("config", &self.shared.config)
            .field("degraded", &self.is_degraded())
            .field("fallbacks", &self.fallbacks())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn keys(&self, user: &str, ip: IpAddr) -> Keys {
        let ip = client_key(ip);
        let name = sha256_hex(user_key(user).as_bytes());
        let p = &self.prefix;
        Keys {
            attempts: format!("{p}attempts:{ip}"),
            failures: format!("{p}failures:{ip}:{name}"),
            success: format!("{p}success:{ip}:{name}"),
        }
    }

    /// Runs one operation of the script within the deadline.
    async fn run<T: redis::FromRedisValue>(&self, op: Op, keys: &Keys) -> Result<T, Error> {
        let cfg = &self.config;
        let member = format!(
            "{}{:x}",
            self.instance,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut call = self.script.prepare_invoke();
        call.key(&keys.attempts)
            .key(&keys.failures)
            .key(&keys.success)
            .arg(op.name())
            .arg(cfg.attempts_per_ip)
            .arg(micros(cfg.attempt_window))
            .arg(cfg.failures_per_user_ip)
            .arg(micros(cfg.failure_window))
            .arg(millis(cfg.success_memory))
            .arg(member);
        let mut conn = self.conn.clone();
        let attempts = async {
            match call.invoke_async(&mut conn).await {
                // The connection was lost since the last call (Redis restarted, say): the
                // manager reconnects on this error, so one more try, within the same deadline,
                // spares a busy instance a needless switch to per-instance limits. (If the
                // lost call had run, an attempt is counted twice: on the safe side.)
                Err(e) if e.is_unrecoverable_error() || e.is_connection_dropped() => {
                    call.invoke_async(&mut conn).await
                }
                done => done,
            }
        };
        within(self.timeout, attempts).await
    }

    /// Runs `op` in Redis, unless the limiter is degraded; `None` when the fallback must
    /// answer (counted).
    async fn shared<T: redis::FromRedisValue>(&self, op: Op, keys: &Keys) -> Option<T> {
        if !self.degraded.load(Ordering::Relaxed) {
            match self.run(op, keys).await {
                Ok(v) => return Some(v),
                Err(e) => self.degrade(&e),
            }
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn degrade(&self, why: &Error) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                redis = %self.target,
                error = %why,
                "login limiter: Redis is unavailable; limiting logins per instance until it \
                 answers again"
            );
        }
    }

    async fn check(&self, user: &str, ip: IpAddr) -> Result<(), Refusal> {
        let keys = self.keys(user, ip);
        let answer = match self.shared::<(u8, u64)>(Op::Check, &keys).await {
            Some((0, _)) => {
                // Counted in-process too (see the module docs); Redis's answer stands.
                let _ = self.fallback.check(user, ip, Instant::now());
                Ok(())
            }
            Some((code, wait)) => {
                let limit = if code == 1 {
                    ThrottleLimit::UserAddress
                } else {
                    ThrottleLimit::Address
                };
                Err(RetryAfter::new(Duration::from_micros(wait), limit))
            }
            None => self.fallback.check(user, ip, Instant::now()),
        };
        if answer.is_err() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        answer.map_err(Refusal::Limited)
    }

    async fn record_failure(&self, user: &str, ip: IpAddr) {
        let keys = self.keys(user, ip);
        let _: Option<i64> = self.shared(Op::Failure, &keys).await;
        self.fallback.record_failure(user, ip, Instant::now());
    }

    async fn record_success(&self, user: &str, ip: IpAddr) {
        let keys = self.keys(user, ip);
        let _: Option<i64> = self.shared(Op::Success, &keys).await;
        self.fallback.record_success(user, ip);
    }

    async fn recently_succeeded(&self, user: &str, ip: IpAddr) -> bool {
        let keys = self.keys(user, ip);
        let remembered = self.shared::<bool>(Op::Seen, &keys).await;
        remembered == Some(true) || self.fallback.recently_succeeded(user, ip, Instant::now())
    }
}

/// Asks Redis every [`PROBE_EVERY`] whether it answers (running the script, so a restarted
/// Redis gets it loaded again); ends when the limiter is gone. While degraded, an answer ends
/// the fallback. While not, a failure starts it: without this probe an instance that no login
/// reached went on saying the limits were shared (`/metrics` `jwtx_login_limits_shared 1`)
/// for as long as Redis was down, and its next login still waited on Redis first.
async fn probe(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let keys = shared.keys("", IpAddr::from([0, 0, 0, 0]));
        let answered = shared.run::<i64>(Op::Probe, &keys).await;
        if !shared.degraded.load(Ordering::Relaxed) {
            if let Err(e) = answered {
                shared.degrade(&e);
            }
            continue;
        }
        match answered {
            Ok(_) => {
                if shared.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        redis = %shared.target,
                        "login limiter: Redis answers again; login limits are shared again"
                    );
                }
            }
            Err(e) => {
                tracing::debug!(redis = %shared.target, error = %e, "login limiter: Redis still unavailable");
            }
        }
    }
}

impl LoginLimiter for RedisLimiter {
    fn check<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, Result<(), Refusal>> {
        Box::pin(self.shared.check(user, ip))
    }

    fn record_failure<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()> {
        Box::pin(self.shared.record_failure(user, ip))
    }

    fn record_success<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()> {
        Box::pin(self.shared.record_success(user, ip))
    }

    fn recently_succeeded<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, bool> {
        Box::pin(self.shared.recently_succeeded(user, ip))
    }

    /// Purges the in-process fallback (Redis keys expire by themselves).
    fn purge(&self) {
        self.shared.fallback.purge(Instant::now());
    }
}

/// A window in whole microseconds (at most 7 days: far within an `i64`).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A duration in whole milliseconds, at least one.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
