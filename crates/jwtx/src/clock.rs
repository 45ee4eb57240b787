//! Time, injected: the core never reads the system clock itself.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::claims::NumericDate;

/// A source of the current time in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug {
    /// Now.
    fn now(&self) -> NumericDate;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NumericDate {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that says what it is told, for tests.
///
/// ```
/// use jwtx::{Clock, FixedClock};
/// let clock = FixedClock::new(1_000);
/// clock.advance(15);
/// assert_eq!(clock.now(), 1_015);
/// ```
#[derive(Debug, Default)]
pub struct FixedClock(AtomicU64);

impl FixedClock {
    /// A clock stopped at `now`.
    pub fn new(now: NumericDate) -> Self {
        FixedClock(AtomicU64::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: NumericDate) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> NumericDate {
        self.0.load(Ordering::SeqCst)
    }
}
