//! [`LoginLimiter`]: what the login and password-change flows ask before judging a password,
//! and tell afterwards. [`LoginThrottle`](crate::throttle::LoginThrottle) is the in-process
//! implementation; a limiter shared by many instances implements the same trait. The methods
//! return futures so a shared limiter can ask its store; a limiter that cannot answer refuses
//! ([`Refusal::Unavailable`]): a login is never let through unlimited.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Instant;

use crate::throttle::{LoginThrottle, RetryAfter};

/// The future a [`LoginLimiter`] method returns.
pub type LimiterFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a limiter refused an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit: try again after the wait (429 with `Retry-After`).
    Limited(RetryAfter),
    /// The limiter could not answer (its shared store is down): refused, 503.
    Unavailable(String),
}

/// Login limits by typed user name and client address.
pub trait LoginLimiter: Send + Sync + fmt::Debug {
    /// Counts an attempt for `user` from `ip`, or refuses it (a refused attempt is not
    /// counted).
    fn check<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, Result<(), Refusal>>;
    /// Records a wrong password for `user` from `ip`.
    fn record_failure<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()>;
    /// Records a right password for `user` from `ip` (clears its failures).
    fn record_success<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()>;
    /// Whether `ip` logged in as `user` recently: such an address skips the name's bound on
    /// queued password verifications, so a flood of bogus logins cannot lock the owner out.
    fn recently_succeeded<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, bool>;
    /// Forgets what has expired; called about once a minute. Nothing to do by default.
    fn purge(&self) {}
}

impl LoginLimiter for LoginThrottle {
    fn check<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, Result<(), Refusal>> {
        let answer = LoginThrottle::check(self, user, ip, Instant::now()).map_err(Refusal::Limited);
        Box::pin(std::future::ready(answer))
    }

    fn record_failure<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()> {
        LoginThrottle::record_failure(self, user, ip, Instant::now());
        Box::pin(std::future::ready(()))
    }

    fn record_success<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, ()> {
        LoginThrottle::record_success(self, user, ip);
        Box::pin(std::future::ready(()))
    }

    fn recently_succeeded<'a>(&'a self, user: &'a str, ip: IpAddr) -> LimiterFuture<'a, bool> {
        let answer = LoginThrottle::recently_succeeded(self, user, ip, Instant::now());
        Box::pin(std::future::ready(answer))
    }

    fn purge(&self) {
        LoginThrottle::purge(self, Instant::now());
    }
}
