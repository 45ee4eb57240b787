//! Password hashing: Argon2id with PHC strings (docs/configuration.md, "Password hashing").
//!
//! * **Parameters.** [`Argon2Params`] defaults to the OWASP minimum for Argon2id (m = 19 MiB,
//!   t = 2, p = 1) and [`Argon2Params::validate`] refuses anything weaker, or anything so large
//!   that one login could tie up a core or gigabytes of memory.
//! * **Off the async runtime, bounded, yielding.** [`PasswordHasher::hash`] and
//!   [`PasswordHasher::verify`] run on a thread of their own at a lower scheduling priority
//!   ([`HASHING_NICE`]), behind a semaphore of `max_concurrency` permits (by default one less
//!   than the CPUs), so a login storm queues instead of stalling token verification, and
//!   Argon2 memory stays below `max_concurrency × memory_kib`. The permit moves into the hashing
//!   thread: a request that is cancelled half-way (client gone) still holds its permit until its
//!   Argon2 work has finished.
//! * **Bounded queue.** Waiting for a permit is bounded too ([`QueueLimits`]): at most
//!   `per_user` verifications (default 4) queued or running per typed username
//!   ([`PasswordHasher::verify_for`]; beyond it [`PasswordError::UserBusy`], a 429), and at most
//!   `total` Argon2 jobs queued or running in all (default 32 per hashing thread, at least 64;
//!   beyond it [`PasswordError::Overloaded`], a 503), both answered at once with a retry
//!   estimate, never an unbounded wait. The username bound applies to the name as typed whether
//!   or not such a user exists, and the dummy verification of an unknown name takes the same
//!   slot, so the answers under a flood do not tell names apart. So that the bound is not a
//!   lock-out tool, the caller passes `spared` for an address that logged in as that user
//!   recently (`throttle.rs` remembers those); it skips the username bound (not the total).
//!   A slot, like a permit, is held until the Argon2 work has finished, even if the request is
//!   cancelled. Hashing a new password ([`PasswordHasher::hash`]) is counted in the total but
//!   never refused: it follows a verification that was let in.
//! * **Enumeration resistance.** `verify` with no stored hash (unknown user), or one that cannot be
//!   used, verifies against a dummy hash made once with the configured parameters, so an unknown
//!   user and a wrong password run the same Argon2 work and both answer `ok = false`.
//!   [`PasswordHasher::verifications`] counts the Argon2 verifications actually run, so a test can
//!   prove it. (A user whose stored hash still has older, cheaper parameters is verified faster
//!   until that hash is rehashed at the next successful login: see [`Verdict::needs_rehash`].)
//! * **Plaintext hygiene.** [`Password`] wipes its buffer on drop and never prints itself; input is
//!   limited to [`MAX_PASSWORD_BYTES`] so the hashing work per request is bounded.
//! * **The password rule, in one place** ([`check_new_password`], used by `POST /password` and
//!   `jwtx user add | passwd`), after NIST SP 800-63B §5.1.1.2: no composition rules, every
//!   printable Unicode character (spaces too) allowed, at least [`MIN_PASSWORD_CHARS`]
//!   characters as a person sees them and at most [`MAX_PASSWORD_BYTES`] bytes. Characters are
//!   counted in the password's NFKC form, leaving out combining marks, control and format
//!   characters (and the invisible Hangul fillers), so eight combining accents, zero-width
//!   spaces or bidi controls are not eight characters; `é` is one character written either way.
//! * **Normalised before hashing.** [`PasswordHasher::hash`] hashes the NFKC form, so a password
//!   typed on another keyboard or OS (precomposed `é` or `e` + U+0301, a full-width `Ａ`) still
//!   matches. [`PasswordHasher::verify`] verifies the NFKC form; when the typed password is not
//!   already in NFKC it then also tries the password as typed, which is what hashes made before
//!   normalisation (and by other tools) hold, and asks for a rehash when only that matched. The
//!   second Argon2 run depends only on the typed password, never on whether the user exists
//!   (an unknown user runs the dummy verification twice too).
//!
//! * **Memory kept, not churned.** Each job borrows an Argon2 working buffer (`memory_kib`) from
//!   a pool of at most `max_concurrency` buffers instead of allocating and freeing it, so
//!   resident memory reaches `max_concurrency × memory_kib` at the busiest moment and stays
//!   there, rather than depending on what the allocator kept of earlier buffers, and a login does
//!   not page-fault 19 MiB in. (Buffers are not wiped between jobs, as the argon2 crate does not
//!   wipe its own.)
//!
//! The argon2 crate is built without its `parallel` feature, so `parallelism` lanes are computed
//! one after another on one thread: raising `p` raises the cost like raising `t` does.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::Deserialize;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// The longest password accepted, in bytes (UTF-8). Longer input is refused with
/// [`PasswordError::TooLong`] before any hashing work.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The fewest characters a new password may have, counted as [`visible_chars`] counts them.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The most Argon2 jobs a [`PasswordHasher`] may run at once.
pub const MAX_CONCURRENCY: usize = 1024;

/// A plaintext password: the buffer is wiped on drop, and neither `Debug` nor anything else
/// prints it.
///
/// Deserializes from a JSON string (e.g. the `password` field of a login body).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a plaintext password.
    pub fn new(value: impl Into<String>) -> Self {
        Password(Zeroizing::new(value.into()))
    }

    /// The plaintext itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Password {
    fn from(value: String) -> Self {
        Password::new(value)
    }
}

impl From<Zeroizing<String>> for Password {
    fn from(value: Zeroizing<String>) -> Self {
        Password(value)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// Argon2id cost parameters (the `argon2` configuration keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory cost `m` in KiB (default 19456 = 19 MiB).
    pub memory_kib: u32,
    /// Time cost `t`: passes over the memory (default 2).
    pub iterations: u32,
    /// Parallelism `p`: lanes (default 1).
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP minimum memory cost for Argon2id with t = 2, p = 1: 19 MiB.
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    /// OWASP minimum time cost (with 19 MiB).
    pub const MIN_ITERATIONS: u32 = 2;
    /// Minimum parallelism.
    pub const MIN_PARALLELISM: u32 = 1;
    /// Largest memory cost accepted: 1 GiB per hash.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// Largest time cost accepted.
    pub const MAX_ITERATIONS: u32 = 64;
    /// Largest parallelism accepted.
    pub const MAX_PARALLELISM: u32 = 64;

    /// Checks the parameters against the OWASP minimum and the accepted maximum; the error says
    /// which key to change and to what.
    pub fn validate(&self) -> Result<(), PasswordError> {
        let checks = [
            (
                "memory_kib",
                self.memory_kib,
                Self::MIN_MEMORY_KIB,
                Self::MAX_MEMORY_KIB,
            ),
            (
                "iterations",
                self.iterations,
                Self::MIN_ITERATIONS,
                Self::MAX_ITERATIONS,
            ),
            (
                "parallelism",
                self.parallelism,
                Self::MIN_PARALLELISM,
                Self::MAX_PARALLELISM,
            ),
        ];
        for (param, value, minimum, maximum) in checks {
            if value < minimum {
                return Err(PasswordError::WeakParams {
                    param,
                    value,
                    minimum,
                });
            }
            if value > maximum {
                return Err(PasswordError::ParamsTooLarge {
                    param,
                    value,
                    maximum,
                });
            }
        }
        Ok(())
    }

    /// Whether a stored hash's parameters are within the accepted maximum (so verifying against
    /// it is bounded work).
    fn within_maximum(params: &Params) -> bool {
        params.m_cost() <= Self::MAX_MEMORY_KIB
            && params.t_cost() <= Self::MAX_ITERATIONS
            && params.p_cost() <= Self::MAX_PARALLELISM
    }

    fn to_argon2(self) -> Result<Params, PasswordError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::Internal(format!("argon2 parameters: {e}")))
    }
}

impl Default for Argon2Params {
    /// The OWASP minimum: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Argon2Params {
            memory_kib: Self::MIN_MEMORY_KIB,
            iterations: Self::MIN_ITERATIONS,
            parallelism: Self::MIN_PARALLELISM,
        }
    }
}

/// Bounds on the Argon2 work waiting for or running on the hashing threads (the
/// `argon2_queue_per_user` and `argon2_queue` configuration keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueLimits {
    /// Verifications queued or running per typed username (default 4).
    pub per_user: usize,
    /// Argon2 jobs queued or running in all (default [`QueueLimits::for_concurrency`]).
    pub total: usize,
}

impl QueueLimits {
    /// Default `per_user`: with 5 failures per (username, address) allowed by the throttle, a
    /// user retyping a password never meets it, while a flood for one name holds at most 4 jobs.
    pub const DEFAULT_PER_USER: usize = 4;
    /// Default `total` per hashing thread: at the ~25 ms of one default verification, a full
    /// queue drains in under a second per thread.
    pub const TOTAL_PER_THREAD: usize = 32;
    /// The smallest default `total`.
    pub const MIN_DEFAULT_TOTAL: usize = 64;
    /// The largest value accepted for either bound.
    pub const MAX: usize = 100_000;

    /// The default limits for `max_concurrency` hashing threads: 4 per username, and 32 per
    /// thread in all (at least 64).
    pub fn for_concurrency(max_concurrency: usize) -> Self {
        QueueLimits {
            per_user: Self::DEFAULT_PER_USER,
            total: max_concurrency
                .saturating_mul(Self::TOTAL_PER_THREAD)
                .clamp(Self::MIN_DEFAULT_TOTAL, Self::MAX),
        }
    }

    /// Checks both bounds are from 1 to [`MAX`](Self::MAX); the error names the key.
    pub fn validate(&self) -> Result<(), PasswordError> {
        for (key, value) in [
            ("argon2_queue_per_user", self.per_user),
            ("argon2_queue", self.total),
        ] {
            if !(1..=Self::MAX).contains(&value) {
                return Err(PasswordError::InvalidQueue { key, value });
            }
        }
        Ok(())
    }
}

/// The outcome of [`PasswordHasher::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Verdict {
    /// The password matches the stored hash. Always `false` for an unknown user.
    pub ok: bool,
    /// The password matched, but the stored hash is not Argon2id v1.3 or its m, t or p is below
    /// the configured parameters: hash the password again and store the new PHC string.
    /// Always `false` when `ok` is `false` (a rehash needs the correct password).
    pub needs_rehash: bool,
}

/// A password hashing failure. Its text never contains a password or a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// An empty password cannot be set.
    Empty,
    /// The password is longer than the limit.
    TooLong {
        /// The limit in bytes ([`MAX_PASSWORD_BYTES`]).
        max: usize,
    },
    /// A new password has fewer characters than the rule asks ([`check_new_password`]).
    TooShort {
        /// The fewest characters accepted ([`MIN_PASSWORD_CHARS`]).
        min: usize,
    },
    /// An Argon2 parameter is below the OWASP minimum.
    WeakParams {
        /// The configuration key under `argon2`.
        param: &'static str,
        /// The configured value.
        value: u32,
        /// The smallest value accepted.
        minimum: u32,
    },
    /// An Argon2 parameter is above what one login may cost.
    ParamsTooLarge {
        /// The configuration key under `argon2`.
        param: &'static str,
        /// The configured value.
        value: u32,
        /// The largest value accepted.
        maximum: u32,
    },
    /// `max_concurrency` is not between 1 and [`MAX_CONCURRENCY`].
    InvalidConcurrency(usize),
    /// A [`QueueLimits`] bound is not between 1 and [`QueueLimits::MAX`].
    InvalidQueue {
        /// The configuration key.
        key: &'static str,
        /// The value given.
        value: usize,
    },
    /// As many verifications for this username as [`QueueLimits::per_user`] are queued or
    /// running already; nothing was done.
    UserBusy {
        /// A whole number of seconds to wait (at least 1).
        retry_after_secs: u64,
    },
    /// As many Argon2 jobs as [`QueueLimits::total`] are queued or running already; nothing was
    /// done.
    Overloaded {
        /// A whole number of seconds to wait (at least 1).
        retry_after_secs: u64,
    },
    /// The hasher cannot run jobs (the runtime is shutting down, or a job panicked).
    Unavailable,
    /// Argon2 itself failed (never expected with validated parameters).
    Internal(String),
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Empty => f.write_str("the password must not be empty"),
            PasswordError::TooLong { max } => {
                write!(f, "the password is longer than {max} bytes")
            }
            PasswordError::TooShort { min } => write!(
                f,
                "the password must be at least {min} characters (combining marks, control and \
                 format characters do not count)"
            ),
            PasswordError::WeakParams {
                param,
                value,
                minimum,
            } => write!(
                f,
                "argon2 `{param}` = {value} is below the OWASP minimum for Argon2id \
                 (m = 19456 KiB, t = 2, p = 1): set `{param}` to at least {minimum}, \
                 or remove it to use the default"
            ),
            PasswordError::ParamsTooLarge {
                param,
                value,
                maximum,
            } => write!(
                f,
                "argon2 `{param}` = {value} would make every login too expensive: \
                 set `{param}` to at most {maximum}"
            ),
            PasswordError::InvalidConcurrency(n) => write!(
                f,
                "password hashing concurrency {n} is invalid: use a value from 1 to \
                 {MAX_CONCURRENCY} (default: the number of CPUs)"
            ),
            PasswordError::InvalidQueue { key, value } => write!(
                f,
                "`{key}` = {value} is invalid: use a value from 1 to {}",
                QueueLimits::MAX
            ),
            PasswordError::UserBusy { retry_after_secs } => write!(
                f,
                "too many password verifications queued for this username: retry after \
                 {retry_after_secs} s"
            ),
            PasswordError::Overloaded { retry_after_secs } => write!(
                f,
                "the password hashing queue is full: retry after {retry_after_secs} s"
            ),
            PasswordError::Unavailable => f.write_str("password hashing is unavailable"),
            PasswordError::Internal(what) => write!(f, "password hashing failed: {what}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Argon2id hashing and verification on low-priority threads with bounded concurrency.
///
/// Cheap to clone: clones share the semaphore, the dummy hash and the counters.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Argon2Params,
    argon2: Argon2<'static>,
    max_concurrency: usize,
    permits: Arc<Semaphore>,
    limits: QueueLimits,
    /// Jobs holding a slot: waiting for a permit or running.
    queued: AtomicUsize,
    /// Per typed username (its first 256 bytes), the verifications holding a slot under the
    /// username bound; an entry goes when its count reaches 0, so there are at most `total`.
    per_user: Mutex<HashMap<Box<str>, usize>>,
    refused_per_user: AtomicU64,
    refused_overloaded: AtomicU64,
    /// A moving average of one job's duration, microseconds (for `Retry-After`).
    job_micros: AtomicU64,
    /// Argon2 working memory between jobs: at most `max_concurrency` buffers of the
    /// configured size.
    memory: Mutex<Vec<Vec<Block>>>,
    /// The PHC string unknown users are verified against; `None` if making it failed.
    dummy: OnceLock<Option<String>>,
    verifications: AtomicU64,
    hashes: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("max_concurrency", &self.inner.max_concurrency)
            .finish_non_exhaustive()
    }
}

/// Counts one running Argon2 job for as long as it lives (even if the job panics).
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn enter(inner: &'a Inner) -> Self {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A job's place in the queue (see [`QueueLimits`]): given back when dropped.
struct Slot {
    inner: Arc<Inner>,
    /// The username key, when the job counts under the username bound.
    user: Option<Box<str>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.queued.fetch_sub(1, Ordering::SeqCst);
        if let Some(user) = self.user.take() {
            let mut map = self.inner.users();
            if let Some(n) = map.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&user);
                }
            }
        }
    }
}

impl PasswordHasher {
    /// A hasher with validated parameters, running at most
    /// [`default_concurrency`](Self::default_concurrency) Argon2 jobs at once.
    pub fn new(params: Argon2Params) -> Result<Self, PasswordError> {
        Self::with_concurrency(params, Self::default_concurrency())
    }

    /// A hasher with validated parameters, running at most `max_concurrency` Argon2 jobs at once
    /// (from 1 to [`MAX_CONCURRENCY`]), with the default [`QueueLimits`] for it.
    pub fn with_concurrency(
        params: Argon2Params,
        max_concurrency: usize,
    ) -> Result<Self, PasswordError> {
        Self::with_limits(
            params,
            max_concurrency,
            QueueLimits::for_concurrency(max_concurrency),
        )
    }

    /// A hasher with validated parameters, concurrency and queue bounds.
    pub fn with_limits(
        params: Argon2Params,
        max_concurrency: usize,
        limits: QueueLimits,
    ) -> Result<Self, PasswordError> {
        params.validate()?;
        limits.validate()?;
        Self::build(params, max_concurrency, limits)
    }

    /// The default concurrency bound: one less than the number of CPUs, at least 1, so a login
    /// storm always leaves a core to token verification (with every core hashing, the p99 of
    /// `/protected` under 32 concurrent logins was 7× its p99 without: bench/BENCHMARKS.md §6).
    pub fn default_concurrency() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::concurrency_for(cpus)
    }

    /// [`default_concurrency`](Self::default_concurrency) on a machine with `cpus` CPUs.
    fn concurrency_for(cpus: usize) -> usize {
        cpus.saturating_sub(1).clamp(1, MAX_CONCURRENCY)
    }

    /// Tests only: skips the OWASP minimum so tests can use tiny, fast parameters.
    #[cfg(test)]
    pub(crate) fn for_tests(
        params: Argon2Params,
        max_concurrency: usize,
    ) -> Result<Self, PasswordError> {
        Self::build(
            params,
            max_concurrency,
            QueueLimits::for_concurrency(max_concurrency),
        )
    }

    fn build(
        params: Argon2Params,
        max_concurrency: usize,
        limits: QueueLimits,
    ) -> Result<Self, PasswordError> {
        if !(1..=MAX_CONCURRENCY).contains(&max_concurrency) {
            return Err(PasswordError::InvalidConcurrency(max_concurrency));
        }
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.to_argon2()?);
        Ok(PasswordHasher {
            inner: Arc::new(Inner {
                params,
                argon2,
                max_concurrency,
                permits: Arc::new(Semaphore::new(max_concurrency)),
                limits,
                queued: AtomicUsize::new(0),
                per_user: Mutex::new(HashMap::new()),
                refused_per_user: AtomicU64::new(0),
                refused_overloaded: AtomicU64::new(0),
                job_micros: AtomicU64::new(0),
                memory: Mutex::new(Vec::new()),
                dummy: OnceLock::new(),
                verifications: AtomicU64::new(0),
                hashes: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// The configured parameters.
    pub fn params(&self) -> Argon2Params {
        self.inner.params
    }

    /// The most Argon2 jobs run at once.
    pub fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    /// How many Argon2 verifications have run (real and dummy alike).
    pub fn verifications(&self) -> u64 {
        self.inner.verifications.load(Ordering::SeqCst)
    }

    /// How many hashes have been made (not counting the dummy hash).
    pub fn hashes(&self) -> u64 {
        self.inner.hashes.load(Ordering::SeqCst)
    }

    /// Argon2 jobs running right now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// The queue bounds.
    pub fn limits(&self) -> QueueLimits {
        self.inner.limits
    }

    /// Jobs waiting for a permit or running right now (at most `limits().total`, plus new
    /// passwords being hashed).
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::SeqCst)
    }

    /// Verifications refused because their username's bound was reached
    /// ([`PasswordError::UserBusy`]).
    pub fn refused_per_user(&self) -> u64 {
        self.inner.refused_per_user.load(Ordering::Relaxed)
    }

    /// Verifications refused because the whole queue was full ([`PasswordError::Overloaded`]).
    pub fn refused_overloaded(&self) -> u64 {
        self.inner.refused_overloaded.load(Ordering::Relaxed)
    }

    /// The most Argon2 jobs that have run at the same time so far (never above
    /// [`max_concurrency`](Self::max_concurrency)).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a
    /// fresh random 128-bit salt. Refuses an empty or overlong password.
    pub async fn hash(&self, password: impl Into<Password>) -> Result<String, PasswordError> {
        let password = password.into();
        if password.is_empty() {
            return Err(PasswordError::Empty);
        }
        check_length(&password)?;
        let password = normalize(password.expose());
        check_length(&password)?;
        let slot = self.admit(None, false)?;
        self.run(slot, move |inner| inner.hash_blocking(&password))
            .await?
    }

    /// Verifies `password` against `stored_phc`, the user's stored PHC string, or `None` for an
    /// unknown user. An unknown user, or a stored string that cannot be used, is verified against
    /// the dummy hash (the same Argon2 work) and answers `ok = false`. Refuses an overlong password
    /// before any work, whether or not the user exists.
    ///
    /// The NFKC form of `password` is verified first; a password not already in NFKC is then
    /// verified as typed as well (a hash made before normalisation), and a match of that form
    /// only asks for a rehash (see the module documentation).
    ///
    /// Refused with [`PasswordError::Overloaded`] when the queue is full; no username bound
    /// (see [`verify_for`](Self::verify_for)).
    pub async fn verify(
        &self,
        password: impl Into<Password>,
        stored_phc: Option<&str>,
    ) -> Result<Verdict, PasswordError> {
        self.verify_slotted(None, password.into(), stored_phc).await
    }

    /// [`verify`](Self::verify) for a login as `username` (as typed, whether or not such a
    /// user exists): refused at once with [`PasswordError::UserBusy`] while
    /// [`QueueLimits::per_user`] verifications for that name are queued or running, unless
    /// `spared` (the client logged in as that user recently), and with
    /// [`PasswordError::Overloaded`] while the whole queue is full.
    pub async fn verify_for(
        &self,
        username: &str,
        spared: bool,
        password: impl Into<Password>,
        stored_phc: Option<&str>,
    ) -> Result<Verdict, PasswordError> {
        let user = (!spared).then_some(username);
        self.verify_slotted(user, password.into(), stored_phc).await
    }

    async fn verify_slotted(
        &self,
        user: Option<&str>,
        password: Password,
        stored_phc: Option<&str>,
    ) -> Result<Verdict, PasswordError> {
        check_length(&password)?;
        let slot = self.admit(user, true)?;
        let stored = stored_phc.map(str::to_owned);
        let candidates = Candidates::of(password);
        self.run(slot, move |inner| {
            inner.verify_blocking(&candidates, stored.as_deref())
        })
        .await?
    }

    /// A place in the queue: under `user`'s bound if given, and, if `bounded`, under the total.
    fn admit(&self, user: Option<&str>, bounded: bool) -> Result<Slot, PasswordError> {
        let inner = &self.inner;
        let mut slot = Slot {
            inner: Arc::clone(inner),
            user: None,
        };
        let before = inner.queued.fetch_add(1, Ordering::SeqCst);
        if let Some(user) = user {
            let key = crate::throttle::user_key(user);
            let mut map = inner.users();
            let held = map.get(key).copied().unwrap_or(0);
            if held >= inner.limits.per_user {
                drop(map);
                inner.refused_per_user.fetch_add(1, Ordering::Relaxed);
                return Err(PasswordError::UserBusy {
                    retry_after_secs: self.retry_after(before),
                });
            }
            map.insert(Box::from(key), held + 1);
            slot.user = Some(Box::from(key));
        }
        if bounded && before >= inner.limits.total {
            inner.refused_overloaded.fetch_add(1, Ordering::Relaxed);
            return Err(PasswordError::Overloaded {
                retry_after_secs: self.retry_after(before),
            });
        }
        Ok(slot)
    }

    /// Seconds until `queued` jobs have run, at the recent average job time over the permits:
    /// from 1 to 60.
    fn retry_after(&self, queued: usize) -> u64 {
        let per_job = self.inner.job_micros.load(Ordering::Relaxed);
        let queued = u64::try_from(queued).unwrap_or(u64::MAX);
        let permits = u64::try_from(self.inner.max_concurrency)
            .unwrap_or(1)
            .max(1);
        let micros = queued.saturating_mul(per_job) / permits;
        micros.div_ceil(1_000_000).clamp(1, 60)
    }

    /// Makes the dummy hash now rather than at the first unknown-user login (so that login is
    /// not slower than the rest). Optional; idempotent.
    pub async fn warm_up(&self) -> Result<(), PasswordError> {
        let slot = self.admit(None, false)?;
        self.run(slot, |inner| inner.dummy().map(|_| ())).await?
    }

    /// Runs `job` on a hashing thread of its own once a permit is free; the permit lives as long
    /// as the job.
    ///
    /// The thread lowers its own scheduling priority first ([`HASHING_NICE`]), so under a login
    /// storm the cores go to token verification first.
    ///
    /// A thread per job rather than a pool: its start costs tens of microseconds against the
    /// milliseconds of Argon2, at most `max_concurrency` of them live at once (the permit), and
    /// the lowered priority never leaks into threads that run anything else (tokio's blocking
    /// pool is shared with the rest of the server).
    async fn run<T, F>(&self, slot: Slot, job: F) -> Result<T, PasswordError>
    where
        F: FnOnce(&Inner) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Unavailable)?;
        let inner = Arc::clone(&self.inner);
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("jwtx-argon2".to_owned())
            .spawn(move || {
                lower_priority();
                let started = Instant::now();
                let value = job(&inner);
                inner.observe_job(started.elapsed());
                // Free before answering, so a caller that sees the answer sees the permit and
                // the queue slot back.
                drop(permit);
                drop(slot);
                // The receiver is gone only if the request was cancelled: nothing to tell.
                let _ = done.send(value);
            })
            .map_err(|e| PasswordError::Internal(format!("hashing thread: {e}")))?;
        // A job that panicked drops its sender: the request fails, the server goes on.
        result.await.map_err(|_| PasswordError::Unavailable)
    }
}

/// How much a hashing thread lowers its scheduling priority: `nice` +10, a CPU weight of 110
/// against 1024 for the server's other threads. Argon2 still gets every idle cycle, but while
/// verification wants the cores it yields them: under a login storm on 2 cores, `/protected`
/// served 22% more requests with a 17% lower p99, and the storm's logins went 24% slower
/// (the A/B in bench/BENCHMARKS.md, "Profiling and fixes", night). The p99 keeps a floor of
/// about one scheduler tick: the kernel lets a running thread finish its time slice, so a
/// request that wakes behind Argon2 may wait for it.
pub const HASHING_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`HASHING_NICE`] (capped at the lowest, 19). Linux
/// keeps a nice value per thread, so this touches no other thread; elsewhere `setpriority` would
/// lower the whole process, so it does nothing. A failure leaves the thread at the server's
/// priority, which is correct, only less kind to verification.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        static WARNED: std::sync::Once = std::sync::Once::new();
        let lowered = getpriority_process(None)
            .and_then(|nice| setpriority_process(None, nice.saturating_add(HASHING_NICE).min(19)));
        if let Err(e) = lowered {
            WARNED.call_once(|| {
                tracing::warn!(error = %e, "cannot lower the priority of password hashing threads");
            });
        }
    }
}

fn check_length(password: &Password) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong {
            max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(())
}

/// The NFKC form of `password`, in a buffer that is wiped on drop. (The normalising iterator's
/// own small buffer of a few characters is not wiped.)
pub fn normalize(password: &str) -> Password {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
    if is_nfkc_quick(password.chars()) == IsNormalized::Yes {
        return Password::new(password);
    }
    // Sized first, so the buffer never grows (a reallocation would leave a copy behind).
    let len = password.nfkc().map(char::len_utf8).sum();
    let mut out = Zeroizing::new(String::with_capacity(len));
    out.extend(password.nfkc());
    Password::from(out)
}

/// How many characters of `password` a person sees: its NFKC form's characters, leaving out
/// combining marks (Mn, Mc, Me: they attach to the character before them), control, format,
/// surrogate, private-use and unassigned code points (C*), line and paragraph separators, and the
/// Hangul filler letters, which render as nothing. Letters, digits, punctuation, symbols (emoji
/// included) and spaces count one each.
pub fn visible_chars(password: &str) -> usize {
    use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
    normalize(password)
        .expose()
        .chars()
        .filter(|&c| {
            let counted_group = matches!(
                c.general_category_group(),
                GeneralCategoryGroup::Letter
                    | GeneralCategoryGroup::Number
                    | GeneralCategoryGroup::Punctuation
                    | GeneralCategoryGroup::Symbol
            );
            let space = c.general_category() == GeneralCategory::SpaceSeparator;
            let filler = matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}');
            (counted_group || space) && !filler
        })
        .count()
}

/// The rule for a new password (NIST SP 800-63B §5.1.1.2), for the server and the command line
/// alike: not empty, at most [`MAX_PASSWORD_BYTES`] bytes as typed and in NFKC form, and at least
/// [`MIN_PASSWORD_CHARS`] [`visible_chars`]. No composition rules; any printable Unicode,
/// spaces included. (Login never applies it: a password set under an older rule still works.)
pub fn check_new_password(password: &Password) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    check_length(password)?;
    check_length(&normalize(password.expose()))?;
    if visible_chars(password.expose()) < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    Ok(())
}

/// What [`PasswordHasher::verify`] tries, in order: the NFKC form, then the password as typed
/// when that differs.
struct Candidates {
    normalized: Password,
    as_typed: Option<Password>,
}

impl Candidates {
    fn of(password: Password) -> Self {
        let normalized = normalize(password.expose());
        let as_typed = (normalized.expose() != password.expose()).then_some(password);
        Candidates {
            normalized,
            as_typed,
        }
    }
}

/// A fresh random 16-byte salt from the CSPRNG jwtx uses for keys and token ids.
fn random_salt() -> Result<SaltString, PasswordError> {
    let hex = jwtx::secret_hex::<16>();
    let mut bytes = Zeroizing::new([0u8; 16]);
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (nibble(pair.first()), nibble(pair.get(1))) else {
            return Err(PasswordError::Internal("random salt".to_owned()));
        };
        *byte = (hi << 4) | lo;
    }
    SaltString::encode_b64(&bytes[..])
        .map_err(|e| PasswordError::Internal(format!("random salt: {e}")))
}

fn nibble(c: Option<&u8>) -> Option<u8> {
    match c? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A stored PHC string that can be verified against with bounded work.
struct Usable<'a> {
    hash: PasswordHash<'a>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

fn usable(phc: &str) -> Option<Usable<'_>> {
    let hash = PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    if hash.salt.is_none() || hash.hash.is_none() || !Argon2Params::within_maximum(&params) {
        return None;
    }
    Some(Usable {
        hash,
        algorithm,
        version,
        params,
    })
}

impl Inner {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, usize>> {
        self.per_user.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds one job's duration into the moving average (weight 1/8).
    fn observe_job(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.job_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.job_micros.store(new, Ordering::Relaxed);
    }

    fn hash_blocking(&self, password: &Password) -> Result<String, PasswordError> {
        let salt = random_salt()?;
        let _running = InFlight::enter(self);
        let phc = self.phc(password, &salt)?;
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(phc)
    }

    /// `$argon2id$v=19$m=…,t=…,p=…$salt$hash` of `password` with the configured parameters,
    /// exactly as `argon2::PasswordHasher::hash_password` writes it.
    fn phc(&self, password: &Password, salt: &SaltString) -> Result<String, PasswordError> {
        let internal = |e: argon2::password_hash::Error| PasswordError::Internal(e.to_string());
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(internal)?;
        let params = self.argon2.params();
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(output_len, |out| {
            Ok(self.argon2_into(&self.argon2, password, salt_bytes, out)?)
        })
        .map_err(internal)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params).map_err(internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Argon2 of `password` and `salt` into `out`, in a working buffer borrowed from the pool
    /// (or, for a stored hash with a larger memory cost than configured, one of its own).
    fn argon2_into(
        &self,
        argon2: &Argon2<'_>,
        password: &Password,
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let need = argon2.params().block_count();
        let pooled = self.argon2.params().block_count();
        // A buffer from the pool (or a new one of the pool's size), unless this hash needs more.
        let from_pool = need <= pooled;
        let mut memory = from_pool
            .then(|| self.pool().pop())
            .flatten()
            .unwrap_or_else(|| vec![Block::default(); need.max(pooled)]);
        let result = argon2.hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            out,
            &mut memory,
        );
        let mut pool = self.pool();
        if from_pool && pool.len() < self.max_concurrency {
            pool.push(memory);
        }
        result
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The dummy PHC string, made on first use with the configured parameters.
    fn dummy(&self) -> Result<&str, PasswordError> {
        self.dummy
            .get_or_init(|| {
                let password = Password::from(jwtx::secret_hex::<16>());
                let salt = random_salt().ok()?;
                self.phc(&password, &salt).ok()
            })
            .as_deref()
            .ok_or_else(|| PasswordError::Internal("dummy hash".to_owned()))
    }

    fn verify_blocking(
        &self,
        candidates: &Candidates,
        stored: Option<&str>,
    ) -> Result<Verdict, PasswordError> {
        if let Some(phc) = stored {
            if let Some(target) = usable(phc) {
                if self.verify_against(&candidates.normalized, &target) {
                    let outdated = target.algorithm != Algorithm::Argon2id
                        || target.version != Version::V0x13
                        || target.params.m_cost() < self.params.memory_kib
                        || target.params.t_cost() < self.params.iterations
                        || target.params.p_cost() < self.params.parallelism;
                    return Ok(Verdict {
                        ok: true,
                        needs_rehash: outdated,
                    });
                }
                // A hash of the password as typed, made before normalisation: store the NFKC
                // form's hash instead.
                let legacy = candidates
                    .as_typed
                    .as_ref()
                    .is_some_and(|typed| self.verify_against(typed, &target));
                return Ok(Verdict {
                    ok: legacy,
                    needs_rehash: legacy,
                });
            }
            tracing::warn!(
                "a stored password hash is not a usable Argon2 PHC string; the login is refused"
            );
        }
        let dummy = self.dummy()?;
        let Some(target) = usable(dummy) else {
            return Err(PasswordError::Internal("dummy hash".to_owned()));
        };
        // Same work as a real verification (twice for a password not in NFKC, as for a known
        // user); the answer is "no" whatever it computes.
        let _ = self.verify_against(&candidates.normalized, &target);
        if let Some(typed) = &candidates.as_typed {
            let _ = self.verify_against(typed, &target);
        }
        Ok(Verdict {
            ok: false,
            needs_rehash: false,
        })
    }

    /// One Argon2 verification (with the stored hash's own algorithm, version and parameters),
    /// counted; the comparison is constant-time (`Output`'s equality).
    fn verify_against(&self, password: &Password, target: &Usable<'_>) -> bool {
        let _running = InFlight::enter(self);
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let (Some(salt), Some(expected)) = (target.hash.salt, target.hash.hash) else {
            return false;
        };
        let mut salt_buf = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let argon2 = Argon2::new(target.algorithm, target.version, target.params.clone());
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        if self
            .argon2_into(&argon2, password, salt_bytes, &mut out)
            .is_err()
        {
            return false;
        }
        Output::new(&out).is_ok_and(|computed| computed == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    /// Tiny parameters (8 KiB, one pass): fast tests, same code paths.
    const FAST: Argon2Params = Argon2Params {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(max: usize) -> PasswordHasher {
        PasswordHasher::for_tests(FAST, max).unwrap()
    }

    #[tokio::test]
    async fn phc_strings_are_the_argon2_crates_both_ways() {
        use argon2::password_hash::PasswordVerifier as _;
        let h = hasher(2);
        let stock = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            FAST.to_argon2().unwrap(),
        );
        // Ours, checked by the argon2 crate's own verifier.
        let ours = h.hash("correct horse".to_owned()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(stock.verify_password(b"correct horse", &parsed).is_ok());
        assert!(stock.verify_password(b"correct horsE", &parsed).is_err());
        // The crate's, checked by ours (also with other parameters than the configured ones).
        let salt = random_salt().unwrap();
        let theirs = stock
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            theirs,
            h.inner
                .phc(&Password::from("battery staple".to_owned()), &salt)
                .unwrap()
        );
        assert!(
            h.verify("battery staple".to_owned(), Some(&theirs))
                .await
                .unwrap()
                .ok
        );
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 2, 2, None).unwrap(),
        )
        .hash_password(b"battery staple", &salt)
        .unwrap()
        .to_string();
        assert!(
            h.verify("battery staple".to_owned(), Some(&bigger))
                .await
                .unwrap()
                .ok
        );
        assert!(
            !h.verify("battery stapler".to_owned(), Some(&bigger))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn argon2_memory_is_reused_and_bounded() {
        let h = hasher(2);
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(format!("password {i}")).await })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let pool = h.inner.pool();
        assert!((1..=2).contains(&pool.len()), "{} buffers kept", pool.len());
        let blocks = FAST.to_argon2().unwrap().block_count();
        assert!(pool.iter().all(|m| m.len() == blocks));
    }

    #[test]
    fn defaults_are_the_owasp_minimum() {
        let p = Argon2Params::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
        assert_eq!(p.validate(), Ok(()));
        assert!(PasswordHasher::new(p).is_ok());
        assert!(PasswordHasher::with_concurrency(p, 1).is_ok());
        assert!(PasswordHasher::default_concurrency() >= 1);
        // A core is left to verification wherever there is more than one.
        let bounds = [1, 2, 4, 64].map(PasswordHasher::concurrency_for);
        assert_eq!(bounds, [1, 1, 3, 63.min(MAX_CONCURRENCY)]);
    }

    #[test]
    fn weak_or_huge_params_are_refused_with_the_fix() {
        let weak = Argon2Params {
            memory_kib: 4096,
            ..Argon2Params::default()
        };
        let err = PasswordHasher::new(weak).unwrap_err();
        assert_eq!(
            err,
            PasswordError::WeakParams {
                param: "memory_kib",
                value: 4096,
                minimum: 19456
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("memory_kib") && text.contains("at least 19456"),
            "{text}"
        );

        let one_pass = Argon2Params {
            iterations: 1,
            ..Argon2Params::default()
        };
        assert!(matches!(
            one_pass.validate(),
            Err(PasswordError::WeakParams {
                param: "iterations",
                ..
            })
        ));
        let no_lanes = Argon2Params {
            parallelism: 0,
            ..Argon2Params::default()
        };
        assert!(matches!(
            no_lanes.validate(),
            Err(PasswordError::WeakParams {
                param: "parallelism",
                ..
            })
        ));
        let huge = Argon2Params {
            memory_kib: u32::MAX,
            ..Argon2Params::default()
        };
        assert!(matches!(
            huge.validate(),
            Err(PasswordError::ParamsTooLarge {
                param: "memory_kib",
                ..
            })
        ));
        assert_eq!(
            PasswordHasher::with_concurrency(Argon2Params::default(), 0).unwrap_err(),
            PasswordError::InvalidConcurrency(0)
        );
    }

    #[test]
    fn password_never_prints_itself() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password([redacted])");
        let parsed: Password = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(parsed.expose(), "hunter2");
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hasher(2);
        let phc = h.hash(Password::new("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert_eq!(h.hashes(), 1);

        let good = h
            .verify(Password::new("correct horse"), Some(&phc))
            .await
            .unwrap();
        assert_eq!(
            good,
            Verdict {
                ok: true,
                needs_rehash: false
            }
        );
        let bad = h
            .verify(Password::new("battery staple"), Some(&phc))
            .await
            .unwrap();
        assert_eq!(
            bad,
            Verdict {
                ok: false,
                needs_rehash: false
            }
        );
        // Plain and zeroizing strings are accepted as they are.
        let z = h
            .verify(Zeroizing::new("correct horse".to_owned()), Some(&phc))
            .await
            .unwrap();
        assert!(z.ok);
        assert!(!h.verify(String::from("x"), Some(&phc)).await.unwrap().ok);
        // Two hashes of one password differ (fresh salt).
        let again = h.hash(Password::new("correct horse")).await.unwrap();
        assert_ne!(phc, again);
    }

    #[tokio::test]
    async fn unknown_user_runs_exactly_one_verification_like_a_wrong_password() {
        let h = hasher(2);
        let phc = h.hash(Password::new("secret")).await.unwrap();

        let before = h.verifications();
        let wrong = h.verify(Password::new("guess"), Some(&phc)).await.unwrap();
        assert!(!wrong.ok);
        assert_eq!(h.verifications(), before + 1);

        let unknown = h.verify(Password::new("guess"), None).await.unwrap();
        assert!(!unknown.ok && !unknown.needs_rehash);
        assert_eq!(h.verifications(), before + 2);

        // Whatever password is given, the dummy never matches; and it is made only once.
        let dummy = h.inner.dummy().unwrap().to_owned();
        assert!(dummy.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{dummy}");
        let again = h.verify(Password::new(""), None).await.unwrap();
        assert!(!again.ok);
        assert_eq!(h.inner.dummy().unwrap(), dummy);
        assert_eq!(h.verifications(), before + 3);
        assert_eq!(h.hashes(), 1, "the dummy hash is not counted as a hash");
    }

    #[tokio::test]
    async fn unusable_stored_hashes_fall_back_to_the_dummy() {
        let h = hasher(1);
        h.warm_up().await.unwrap();
        let huge = "$argon2id$v=19$m=4194304,t=1000,p=1$c2FsdHNhbHRzYWx0$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for stored in [
            "",
            "not a hash",
            "$2b$12$abcdefghijklmnopqrstuv", // bcrypt
            "$argon2id$v=19$m=8,t=1,p=1",    // no salt or hash
            huge,                            // unbounded work: refused
        ] {
            let before = h.verifications();
            let v = h.verify(Password::new("x"), Some(stored)).await.unwrap();
            assert!(!v.ok && !v.needs_rehash, "{stored}");
            assert_eq!(h.verifications(), before + 1, "{stored}");
        }
    }

    #[tokio::test]
    async fn rehash_when_parameters_rise() {
        let old = hasher(1);
        let phc = old.hash(Password::new("pw")).await.unwrap();

        let same = old.verify(Password::new("pw"), Some(&phc)).await.unwrap();
        assert!(same.ok && !same.needs_rehash);

        for stronger in [
            Argon2Params {
                memory_kib: 16,
                ..FAST
            },
            Argon2Params {
                iterations: 2,
                ..FAST
            },
            Argon2Params {
                parallelism: 2,
                memory_kib: 16,
                ..FAST
            },
        ] {
            let new = PasswordHasher::for_tests(stronger, 1).unwrap();
            let v = new.verify(Password::new("pw"), Some(&phc)).await.unwrap();
            assert!(v.ok && v.needs_rehash, "{stronger:?}");
            // A wrong password never asks for a rehash.
            let w = new.verify(Password::new("no"), Some(&phc)).await.unwrap();
            assert!(!w.ok && !w.needs_rehash);
            // After rehashing with the new parameters, no further rehash.
            let rehashed = new.hash(Password::new("pw")).await.unwrap();
            let v = new
                .verify(Password::new("pw"), Some(&rehashed))
                .await
                .unwrap();
            assert!(v.ok && !v.needs_rehash);
        }

        // Lower configured parameters verify the stronger hash without asking for a rehash.
        let strong = PasswordHasher::for_tests(
            Argon2Params {
                memory_kib: 32,
                ..FAST
            },
            1,
        )
        .unwrap();
        let strong_phc = strong.hash(Password::new("pw")).await.unwrap();
        let v = old
            .verify(Password::new("pw"), Some(&strong_phc))
            .await
            .unwrap();
        assert!(v.ok && !v.needs_rehash);
    }

    #[tokio::test]
    async fn other_argon2_variants_verify_and_need_rehash() {
        let h = hasher(1);
        let salt = random_salt().unwrap();
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let legacy = Argon2::new(algorithm, Version::V0x13, FAST.to_argon2().unwrap())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            let v = h.verify(Password::new("pw"), Some(&legacy)).await.unwrap();
            assert!(v.ok && v.needs_rehash, "{legacy}");
        }
        let v10 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x10,
            FAST.to_argon2().unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        let v = h.verify(Password::new("pw"), Some(&v10)).await.unwrap();
        assert!(v.ok && v.needs_rehash, "{v10}");
    }

    #[tokio::test]
    async fn empty_and_overlong_passwords_are_refused() {
        let h = hasher(1);
        assert_eq!(
            h.hash(Password::new("")).await.unwrap_err(),
            PasswordError::Empty
        );
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            h.hash(Password::new(long.clone())).await.unwrap_err(),
            PasswordError::TooLong {
                max: MAX_PASSWORD_BYTES
            }
        );
        let phc = h
            .hash(Password::new("x".repeat(MAX_PASSWORD_BYTES)))
            .await
            .unwrap();
        let before = h.verifications();
        for stored in [Some(phc.as_str()), None] {
            assert_eq!(
                h.verify(Password::new(long.clone()), stored)
                    .await
                    .unwrap_err(),
                PasswordError::TooLong {
                    max: MAX_PASSWORD_BYTES
                }
            );
        }
        assert_eq!(h.verifications(), before, "refused before any Argon2 work");
        let err = PasswordError::TooLong { max: 1024 }.to_string();
        assert_eq!(err, "the password is longer than 1024 bytes");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_a_lower_priority_and_leaves_other_threads_alone() {
        use rustix::process::getpriority_process;
        let h = hasher(1);
        let before = getpriority_process(None).unwrap();
        let (name, nice) = h
            .run(h.admit(None, false).unwrap(), |_| {
                let name = std::thread::current().name().map(str::to_owned);
                (name, getpriority_process(None).unwrap())
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("jwtx-argon2"));
        assert_eq!(nice, (before + HASHING_NICE).min(19));
        assert_eq!(
            getpriority_process(None).unwrap(),
            before,
            "the caller's priority changed"
        );
        // The real work goes the same way, and the thread gives its permit back.
        let phc = h.hash(Password::new("pw")).await.unwrap();
        assert!(h.verify(Password::new("pw"), Some(&phc)).await.unwrap().ok);
        assert_eq!(h.inner.permits.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_request_and_frees_its_permit() {
        let h = hasher(1);
        let err = h
            .run(h.admit(None, false).unwrap(), |_| -> () {
                panic!("argon2 blew up")
            })
            .await
            .unwrap_err();
        assert_eq!(err, PasswordError::Unavailable);
        // The permit came back (only one exists), so the next job runs.
        let phc = h.hash(Password::new("pw")).await.unwrap();
        assert!(h.verify(Password::new("pw"), Some(&phc)).await.unwrap().ok);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrency_bound_is_honoured() {
        for max in [1, 2] {
            let h = hasher(max);
            let phc = h.hash(Password::new("pw")).await.unwrap();
            let jobs: Vec<_> = (0..16)
                .map(|i| {
                    let h = h.clone();
                    let phc = phc.clone();
                    tokio::spawn(async move {
                        let stored = (i % 2 == 0).then_some(phc.as_str());
                        h.verify(Password::new("pw"), stored).await
                    })
                })
                .collect();
            for (i, job) in jobs.into_iter().enumerate() {
                let verdict = job.await.unwrap().unwrap();
                assert_eq!(verdict.ok, i % 2 == 0);
            }
            assert_eq!(h.verifications(), 16);
            assert!(h.peak_in_flight() >= 1);
            assert!(
                h.peak_in_flight() <= max,
                "{} jobs ran at once with max {max}",
                h.peak_in_flight()
            );
            assert_eq!(h.in_flight(), 0);
            assert_eq!(h.inner.permits.available_permits(), max);
        }
    }

    #[test]
    fn the_rule_counts_what_a_person_sees() {
        let ok = |s: &str| check_new_password(&Password::new(s));
        let short = Err(PasswordError::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
        // Eight invisible or attaching code points are not eight characters.
        assert_eq!(ok(&"\u{301}".repeat(8)), short, "combining acute accents");
        assert_eq!(ok(&"\u{301}".repeat(300)), short, "many combining marks");
        assert_eq!(
            ok(&format!("a{}", "\u{301}".repeat(7))),
            short,
            "one letter"
        );
        assert_eq!(ok(&"\u{200B}".repeat(8)), short, "zero-width spaces");
        assert_eq!(ok(&"\u{202E}\u{2066}".repeat(4)), short, "bidi controls");
        assert_eq!(ok(&"\u{FE0F}".repeat(8)), short, "variation selectors");
        assert_eq!(ok(&"\u{3164}".repeat(8)), short, "Hangul fillers");
        assert_eq!(ok("abc\u{7}\u{7}\u{7}\u{7}d"), short, "control characters");
        assert_eq!(ok("1234567"), short);
        // Eight visible characters pass, however they are written.
        for good in [
            "12345678",
            "ééééééé€",            // precomposed
            &"e\u{301}".repeat(8), // decomposed: eight é
            "ＡＢＣＤＥＦＧＨ",    // full width
            "        ",            // spaces are characters (NIST: no composition rules)
            "пароль12",
            "密码密码密码密码",
            "🔑🔑🔑🔑🔑🔑🔑🔑",
            "\u{915}\u{93F}".repeat(8).as_str(), // Devanagari कि: consonant + vowel sign
        ] {
            assert_eq!(ok(good), Ok(()), "{good:?}");
        }
        assert_eq!(visible_chars("e\u{301}e"), 2);
        assert_eq!(visible_chars("ﬁ"), 2, "NFKC splits the ligature");
        // Bounds: empty, and the byte cap both as typed and in NFKC form.
        assert_eq!(ok(""), Err(PasswordError::Empty));
        let max = Err(PasswordError::TooLong {
            max: MAX_PASSWORD_BYTES,
        });
        assert_eq!(ok(&"x".repeat(MAX_PASSWORD_BYTES)), Ok(()));
        assert_eq!(ok(&"x".repeat(MAX_PASSWORD_BYTES + 1)), max);
        // U+FDFA is 3 bytes and 18 characters (33 bytes) in NFKC.
        assert_eq!(ok(&"\u{FDFA}".repeat(40)), max);
        let text = PasswordError::TooShort { min: 8 }.to_string();
        assert!(text.contains("at least 8 characters"), "{text}");
    }

    #[test]
    fn normalize_is_nfkc() {
        assert_eq!(normalize("e\u{301}").expose(), "\u{e9}");
        assert_eq!(normalize("Ａ①ﬁ").expose(), "A1fi");
        assert_eq!(normalize("plain").expose(), "plain");
    }

    #[tokio::test]
    async fn nfkc_equivalent_passwords_verify() {
        let h = hasher(1);
        // Set precomposed, typed decomposed (macOS input) or full width, and the other way.
        let phc = h.hash(Password::new("café crème ＡＢ")).await.unwrap();
        for typed in [
            "café crème ＡＢ",
            "cafe\u{301} cre\u{300}me ＡＢ",
            "café crème AB",
        ] {
            let v = h.verify(Password::new(typed), Some(&phc)).await.unwrap();
            assert!(v.ok && !v.needs_rehash, "{typed:?}");
        }
        assert!(
            !h.verify("cafe creme AB".to_owned(), Some(&phc))
                .await
                .unwrap()
                .ok
        );
        // The stored hash is the NFKC form's, as the argon2 crate computes it.
        let parsed = PasswordHash::new(&phc).unwrap();
        let stock = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            FAST.to_argon2().unwrap(),
        );
        use argon2::password_hash::PasswordVerifier as _;
        assert!(
            stock
                .verify_password("café crème AB".as_bytes(), &parsed)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn hashes_made_before_normalisation_still_verify_and_ask_for_a_rehash() {
        let h = hasher(1);
        let typed = "cafe\u{301} ＡＢ 1234"; // not NFKC
        let salt = random_salt().unwrap();
        let legacy = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            FAST.to_argon2().unwrap(),
        )
        .hash_password(typed.as_bytes(), &salt)
        .unwrap()
        .to_string();
        let before = h.verifications();
        let v = h.verify(Password::new(typed), Some(&legacy)).await.unwrap();
        assert!(v.ok && v.needs_rehash);
        assert_eq!(
            h.verifications(),
            before + 2,
            "NFKC form first, then as typed"
        );
        // Only that exact form: the NFKC form alone does not match the legacy hash.
        let nfkc = h
            .verify(Password::new("café AB 1234"), Some(&legacy))
            .await
            .unwrap();
        assert!(!nfkc.ok);
        // After the rehash every equivalent form verifies with one Argon2 run.
        let rehashed = h.hash(Password::new(typed)).await.unwrap();
        let before = h.verifications();
        let v = h
            .verify(Password::new("café AB 1234"), Some(&rehashed))
            .await
            .unwrap();
        assert!(v.ok && !v.needs_rehash);
        assert_eq!(h.verifications(), before + 1);
        // A wrong non-NFKC password costs the same for a known and an unknown user.
        let before = h.verifications();
        assert!(
            !h.verify(Password::new("ＷＲＯＮＧ"), Some(&rehashed))
                .await
                .unwrap()
                .ok
        );
        assert_eq!(h.verifications(), before + 2);
        assert!(
            !h.verify(Password::new("ＷＲＯＮＧ"), None)
                .await
                .unwrap()
                .ok
        );
        assert_eq!(h.verifications(), before + 4);
    }

    fn limited(per_user: usize, total: usize) -> PasswordHasher {
        PasswordHasher::build(FAST, 1, QueueLimits { per_user, total }).unwrap()
    }

    /// Waits until `n` jobs hold a queue slot.
    async fn until_queued(h: &PasswordHasher, n: usize) {
        for _ in 0..1000 {
            if h.queued() == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("{} jobs queued, not {n}", h.queued());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_is_bounded_per_username_and_in_all() {
        let h = limited(2, 5);
        let phc = h.hash(Password::new("secret")).await.unwrap();
        // Hold the only permit: every verification waits in the queue.
        let held = Arc::clone(&h.inner.permits).acquire_owned().await.unwrap();
        let spawn = |user: &'static str, spared: bool, stored: Option<String>| {
            let h = h.clone();
            tokio::spawn(async move {
                h.verify_for(user, spared, Password::new("guess"), stored.as_deref())
                    .await
            })
        };
        let mut waiting = vec![
            spawn("alice", false, Some(phc.clone())),
            spawn("alice", false, Some(phc.clone())),
        ];
        until_queued(&h, 2).await;
        // A third for alice is refused at once, and so is one for a name that does not exist
        // once it has as many waiting: the bound does not tell them apart.
        let busy = h
            .verify_for("alice", false, Password::new("x"), Some(&phc))
            .await;
        assert!(
            matches!(busy, Err(PasswordError::UserBusy { .. })),
            "{busy:?}"
        );
        waiting.push(spawn("nobody", false, None));
        waiting.push(spawn("nobody", false, None));
        until_queued(&h, 4).await;
        let busy = h
            .verify_for("nobody", false, Password::new("x"), None)
            .await;
        assert!(
            matches!(busy, Err(PasswordError::UserBusy { .. })),
            "{busy:?}"
        );
        assert_eq!(h.refused_per_user(), 2);
        // A spared client skips alice's bound, but not the total (5).
        waiting.push(spawn("alice", true, Some(phc.clone())));
        until_queued(&h, 5).await;
        let full = h
            .verify_for("alice", true, Password::new("x"), Some(&phc))
            .await;
        assert!(
            matches!(full, Err(PasswordError::Overloaded { .. })),
            "{full:?}"
        );
        let full = h.verify(Password::new("x"), None).await;
        assert!(
            matches!(full, Err(PasswordError::Overloaded { .. })),
            "{full:?}"
        );
        assert_eq!(h.refused_overloaded(), 2);
        assert_eq!(h.queued(), 5, "refusals hold no slot");
        assert_eq!(h.verifications(), 0, "and ran no Argon2");
        // Hashing a new password is counted but never refused.
        let hashing = {
            let h = h.clone();
            tokio::spawn(async move { h.hash(Password::new("new secret")).await })
        };
        until_queued(&h, 6).await;
        drop(held);
        for job in waiting {
            assert!(!job.await.unwrap().unwrap().ok);
        }
        hashing.await.unwrap().unwrap();
        assert_eq!(h.queued(), 0);
        assert!(h.inner.users().is_empty(), "no username keys left behind");
        // Room again for alice.
        assert!(
            h.verify_for("alice", false, Password::new("secret"), Some(&phc))
                .await
                .unwrap()
                .ok
        );
    }

    #[tokio::test]
    async fn a_cancelled_verification_keeps_its_slot_until_its_work_ends() {
        let h = limited(1, 8);
        let held = Arc::clone(&h.inner.permits).acquire_owned().await.unwrap();
        let queued = h.verify_for("alice", false, Password::new("pw"), None);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(10), queued).await;
        assert!(timed_out.is_err(), "no permit was free");
        // Cancelled while waiting for a permit: its slot is back at once.
        assert_eq!(h.queued(), 0);
        assert!(h.inner.users().is_empty());
        drop(held);
        assert!(
            !h.verify_for("alice", false, Password::new("pw"), None)
                .await
                .unwrap()
                .ok
        );
    }

    #[test]
    fn queue_limits_default_and_validation() {
        assert_eq!(
            QueueLimits::for_concurrency(1),
            QueueLimits {
                per_user: 4,
                total: 64
            }
        );
        assert_eq!(QueueLimits::for_concurrency(7).total, 224);
        assert_eq!(QueueLimits::for_concurrency(MAX_CONCURRENCY).total, 32_768);
        let zero = QueueLimits {
            per_user: 0,
            total: 10,
        };
        let err = PasswordHasher::with_limits(Argon2Params::default(), 1, zero).unwrap_err();
        assert_eq!(
            err,
            PasswordError::InvalidQueue {
                key: "argon2_queue_per_user",
                value: 0
            }
        );
        assert!(err.to_string().contains("argon2_queue_per_user"), "{err}");
        let huge = QueueLimits {
            per_user: 4,
            total: QueueLimits::MAX + 1,
        };
        assert!(matches!(
            huge.validate(),
            Err(PasswordError::InvalidQueue {
                key: "argon2_queue",
                ..
            })
        ));
    }

    #[test]
    fn retry_after_estimates_the_queue_from_recent_jobs() {
        let h = limited(4, 64);
        assert_eq!(h.retry_after(64), 1, "no job seen yet: 1 s");
        h.inner.observe_job(std::time::Duration::from_millis(50));
        assert_eq!(h.retry_after(64), 4, "64 × 50 ms on one permit = 3.2 s");
        assert_eq!(h.retry_after(0), 1);
        h.inner.observe_job(std::time::Duration::from_secs(100));
        assert_eq!(h.retry_after(64), 60, "at most a minute");
    }

    #[tokio::test]
    async fn a_cancelled_verify_keeps_its_permit_until_the_work_ends() {
        let h = hasher(1);
        // Hold the only permit, queue a verify, then drop the queued future: nothing leaks.
        let held = Arc::clone(&h.inner.permits).acquire_owned().await.unwrap();
        let queued = h.verify(Password::new("pw"), None);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(10), queued).await;
        assert!(timed_out.is_err(), "no permit was free");
        drop(held);
        assert_eq!(h.inner.permits.available_permits(), 1);
        let v = h.verify(Password::new("pw"), None).await.unwrap();
        assert!(!v.ok);
        assert_eq!(h.verifications(), 1);
    }
}
