//! [`RemoteKeys`]: the issuer's JWKS, fetched in the background and read on every request from
//! an atomic snapshot (no lock, no network).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue, StatusCode, header};
use jwtx::{Algorithm, KeySet};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

use super::RemoteError;
use super::set_policy::Policy;
use super::transport::{Client, Endpoint, HttpOptions};

/// The longest allowed unknown-`kid` cooldown: a new key must be picked up quickly.
const MAX_COOLDOWN: Duration = Duration::from_secs(30);

/// Builds [`RemoteKeys`]; finish with [`start`](Self::start).
#[must_use]
#[derive(Debug)]
pub struct RemoteKeysBuilder {
    url: String,
    http: HttpOptions,
    min_age: Duration,
    max_age: Duration,
    default_age: Duration,
    cooldown: Duration,
    max_stale: Duration,
    pin: Option<Algorithm>,
    max_keys: usize,
}

impl RemoteKeysBuilder {
    /// Transport bounds and TLS roots ([`HttpOptions::new`] by default: 64 KiB, 5 s connect,
    /// 10 s in all).
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// The clamp on the response's `Cache-Control: max-age` (default 60 s to 24 h). The set
    /// is fetched again in the background at 80% of the clamped age, never per request.
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_age = min;
        self.max_age = max;
        self
    }

    /// The age assumed when the response has no `max-age` (default 5 minutes; clamped too).
    pub fn default_max_age(mut self, age: Duration) -> Self {
        self.default_age = age;
        self
    }

    /// How often a token with an unknown `kid` may cause a fetch, for all `kid`s together
    /// (default 10 s, at most 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past its age the last good set keeps serving while the issuer cannot be
    /// reached or serves a set that is refused (default 1 hour). After that every token is
    /// answered 503 until a fetch succeeds.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The one algorithm this service accepts: keys published for another are not used, and
    /// keys without `alg` are taken as this one. Without a pin every key needs an `alg`.
    pub fn pin_algorithm(mut self, alg: Algorithm) -> Self {
        self.pin = Some(alg);
        self
    }

    /// The most keys a set may hold (default 64); a larger set is refused.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Checks the options and starts the background fetcher (the first fetch at once); call
    /// inside a Tokio runtime. Until a set is fetched, tokens are answered 503 (a request
    /// waits for the first fetch, see [`RemoteKeys::ready`]).
    pub fn start(self) -> Result<RemoteKeys, RemoteError> {
        let endpoint = Endpoint::parse("jwks_url", &self.url)?;
        if self.min_age.is_zero() || self.min_age > self.max_age {
            return Err(RemoteError::Option {
                field: "refresh_bounds",
                problem: format!(
                    "min {:?} must be above zero and at most max {:?}",
                    self.min_age, self.max_age
                ),
            });
        }
        if self.cooldown > MAX_COOLDOWN {
            return Err(RemoteError::Option {
                field: "unknown_kid_cooldown",
                problem: format!(
                    "{:?} is over {MAX_COOLDOWN:?}: a new signing key would be refused too long",
                    self.cooldown
                ),
            });
        }
        if self.max_keys == 0 {
            return Err(RemoteError::Option {
                field: "max_keys",
                problem: "must be above zero".into(),
            });
        }
        let client = Client::new(self.http)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RemoteError::Runtime)?;
        let shared = Arc::new(Shared {
            endpoint,
            client,
            policy: Policy {
                pin: self.pin,
                max_keys: self.max_keys,
            },
            min_age: self.min_age,
            max_age: self.max_age,
            default_age: self.default_age,
            cooldown: self.cooldown,
            max_stale: self.max_stale,
            current: ArcSwap::from_pointee(Snapshot::default()),
            fetching: Mutex::new(FetchState::default()),
            attempts: AtomicU64::new(0),
            installed: Notify::new(),
            wake: Notify::new(),
        });
        tracing::info!(url = %shared.endpoint.url, "following the issuer's key set");
        let task = runtime.spawn(run(shared.clone()));
        Ok(RemoteKeys(Arc::new(Handle {
            shared,
            task: task.abort_handle(),
        })))
    }
}

/// An issuer's JWKS, kept current in the background: give it to
/// [`JwtManager::downstream`](crate::JwtManager::downstream) or
/// [`JwtManagerBuilder::remote_keys`](crate::JwtManagerBuilder::remote_keys).
///
/// - Fetched over HTTPS (plain HTTP only to a literal loopback address), no redirects, the
///   body and the time bounded ([`HttpOptions`]).
/// - Refreshed in the background at 80% of its `Cache-Control: max-age` (clamped), never per
///   request; verification reads the current set from an atomic snapshot.
/// - A token whose `kid` is not in the set causes at most one fetch per cooldown, for every
///   `kid` together; concurrent requests share that fetch and verify against its result.
/// - The last good set serves while the issuer is unreachable, up to
///   [`max_stale`](RemoteKeysBuilder::max_stale) past its age; then every token gets 503.
/// - A set with a symmetric key, a private member, a duplicate `kid` or a key without
///   `alg` (unless the service pins one) is refused whole, keeping the last good set.
///
/// Cheap to clone; the fetcher stops when the last clone is dropped.
#[derive(Clone)]
pub struct RemoteKeys(Arc<Handle>);

struct Handle {
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0.shared;
        f.debug_struct("RemoteKeys")
            .field("url", &s.endpoint.url)
            .field("kids", &self.kids())
            .finish_non_exhaustive()
    }
}

/// The current set and until when it counts as fresh.
#[derive(Default)]
struct Snapshot {
    keys: Option<KeySet>,
    /// When the set's (clamped) age runs out.
    expires: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    /// When the last unknown-`kid` fetch started (the cooldown's origin).
    last_on_demand: Option<Instant>,
    /// When the background fetcher fetches next.
    due: Option<Instant>,
    /// Failed fetches in a row (the retry backoff).
    failures: u32,
}

struct Shared {
    endpoint: Endpoint,
    client: Client,
    policy: Policy,
    min_age: Duration,
    max_age: Duration,
    default_age: Duration,
    cooldown: Duration,
    max_stale: Duration,
    current: ArcSwap<Snapshot>,
    /// Held for the length of a fetch: one fetch at a time (single flight).
    fetching: Mutex<FetchState>,
    /// Fetches finished, successful or not.
    attempts: AtomicU64,
    /// Wakes [`RemoteKeys::ready`] waiters when a set is installed.
    installed: Notify,
    /// Asks the background fetcher to fetch now (the issuer's feed said the keys changed).
    wake: Notify,
}

/// Why a request cannot be verified with the remote set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    NoSet,
    Stale { past: Duration },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::NoSet => f.write_str("the issuer's key set has not been fetched yet"),
            Unusable::Stale { past } => write!(
                f,
                "the issuer's key set is {} s past its age and the allowed staleness",
                past.as_secs()
            ),
        }
    }
}

impl std::error::Error for Unusable {}

impl RemoteKeys {
    /// Starts a builder for the JWKS at `url`.
    pub fn builder(url: impl Into<String>) -> RemoteKeysBuilder {
        RemoteKeysBuilder {
            url: url.into(),
            http: HttpOptions::new(),
            min_age: Duration::from_secs(60),
            max_age: Duration::from_secs(24 * 3600),
            default_age: Duration::from_secs(300),
            cooldown: Duration::from_secs(10),
            max_stale: Duration::from_secs(3600),
            pin: None,
            max_keys: 64,
        }
    }

    /// The current set, if one was fetched (whatever its age).
    pub fn current(&self) -> Option<KeySet> {
        self.0.shared.current.load().keys.clone()
    }

    /// The `kid`s of the current set.
    pub fn kids(&self) -> Vec<String> {
        self.current()
            .map(|s| {
                s.keys()
                    .iter()
                    .filter_map(|k| k.kid().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until a set has been fetched, up to `within`; whether one has.
    pub async fn ready(&self, within: Duration) -> bool {
        let shared = &self.0.shared;
        let wait = async {
            loop {
                let installed = shared.installed.notified();
                if shared.current.load().keys.is_some() {
                    return;
                }
                installed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// Asks for a fetch now, outside the schedule (the issuer announced a key change).
    pub fn refresh_soon(&self) {
        self.0.shared.wake.notify_one();
    }

    pub(crate) fn wake_handle(&self) -> WakeHandle {
        WakeHandle(Arc::downgrade(&self.0.shared))
    }

    /// The current set, or why it may not be used: none yet, or stale past the bound.
    pub(crate) fn usable(&self) -> Result<(), Unusable> {
        let snap = self.0.shared.current.load();
        match (&snap.keys, snap.expires) {
            (Some(_), Some(expires)) => {
                let past = Instant::now().saturating_duration_since(expires);
                if past > self.0.shared.max_stale {
                    Err(Unusable::Stale { past })
                } else {
                    Ok(())
                }
            }
            _ => Err(Unusable::NoSet),
        }
    }

    /// `f` of the keys to verify with now, borrowed: no reference count is written (a cache
    /// line every core would share), as a lookup per request wants.
    pub(crate) fn with_snapshot<R>(&self, f: impl FnOnce(Option<&KeySet>) -> R) -> R {
        f(self.0.shared.current.load().keys.as_ref())
    }

    /// The keys to verify with now (`None` before the first fetch).
    pub(crate) fn snapshot(&self) -> Option<KeySet> {
        self.0.shared.current.load().keys.clone()
    }

    /// A request carries a `kid` the set lacks (or there is no set yet): fetch, unless a fetch
    /// finished while this one waited for the lock (its set is as new as any) or the
    /// cooldown since the last unknown-`kid` fetch has not passed. Concurrent callers wait
    /// for the one fetch in flight; the wait is bounded by the transport's time bound.
    pub(crate) async fn fetch_for_unknown_kid(&self) {
        let shared = &self.0.shared;
        let seen = shared.attempts.load(Ordering::Acquire);
        let fetch = async {
            let mut state = shared.fetching.lock().await;
            if shared.attempts.load(Ordering::Acquire) != seen {
                return;
            }
            let now = Instant::now();
            if state
                .last_on_demand
                .is_some_and(|t| now.saturating_duration_since(t) < shared.cooldown)
            {
                return;
            }
            state.last_on_demand = Some(now);
            shared.fetch(&mut state).await;
        };
        // A fetch in flight (this one's or another's) ends within the transport's bound.
        let bound = shared.client.options.timeout * 2 + Duration::from_secs(1);
        let _ = tokio::time::timeout(bound, fetch).await;
    }
}

/// Lets the revocation feed ask for a key refresh without keeping the fetcher alive.
#[derive(Clone, Debug)]
pub(crate) struct WakeHandle(std::sync::Weak<Shared>);

impl WakeHandle {
    pub(crate) fn wake(&self) {
        if let Some(s) = self.0.upgrade() {
            s.wake.notify_one();
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("url", &self.endpoint.url)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// One fetch, with the lock held: installs an accepted set and schedules the next fetch.
    async fn fetch(&self, state: &mut FetchState) {
        let started = Instant::now();
        let outcome = self.fetch_set().await;
        match outcome {
            Ok((set, age, skipped)) => {
                if !skipped.is_empty() {
                    tracing::debug!(url = %self.endpoint.url, ?skipped, "key set: keys not used");
                }
                let old = self.current.load();
                let changed = old.keys.as_ref().is_none_or(|k| !same_kids(k, &set));
                if changed {
                    let kids: Vec<&str> = set.keys().iter().filter_map(|k| k.kid()).collect();
                    tracing::info!(url = %self.endpoint.url, ?kids, max_age_s = age.as_secs(), "key set fetched");
                }
                if state.failures > 0 {
                    tracing::info!(url = %self.endpoint.url, "key set: fetched again after failures");
                }
                self.current.store(Arc::new(Snapshot {
                    keys: Some(set),
                    expires: Some(started + age),
                }));
                state.failures = 0;
                state.due = Some(started + age.mul_f64(0.8));
                self.installed.notify_waiters();
            }
            Err(why) => {
                state.failures = state.failures.saturating_add(1);
                let retry = self.backoff(state.failures);
                if state.failures == 1 {
                    tracing::warn!(url = %self.endpoint.url, error = %why, retry_ms = retry.as_millis() as u64, "key set: fetch failed; keeping the last good set");
                } else {
                    tracing::debug!(url = %self.endpoint.url, error = %why, "key set: fetch failed again");
                }
                state.due = Some(Instant::now() + retry);
            }
        }
        self.attempts.fetch_add(1, Ordering::Release);
    }

    /// The retry delay after `failures` failures in a row: from the lower age bound (at most
    /// 1 s), doubling, up to 30 s (or the lower bound, when that is longer than 1 s but less).
    fn backoff(&self, failures: u32) -> Duration {
        let first = self.min_age.min(Duration::from_secs(1));
        let cap = self
            .min_age
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(30));
        first
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(cap)
    }

    async fn fetch_set(&self) -> Result<(KeySet, Duration, Vec<String>), String> {
        let accept: [(HeaderName, HeaderValue); 1] = [(
            header::ACCEPT,
            HeaderValue::from_static("application/jwk-set+json, application/json"),
        )];
        let res = self
            .client
            .get(&self.endpoint, &self.endpoint.target, &accept)
            .await
            .map_err(|e| e.to_string())?;
        if res.status != StatusCode::OK {
            return Err(format!("answered {}", res.status));
        }
        let accepted = self
            .policy
            .read(&res.body)
            .map_err(|e| format!("set refused: {e}"))?;
        let age = max_age(&res.headers)
            .unwrap_or(self.default_age)
            .clamp(self.min_age, self.max_age);
        Ok((accepted.set, age, accepted.skipped))
    }
}

fn same_kids(a: &KeySet, b: &KeySet) -> bool {
    a.keys().len() == b.keys().len()
        && a.keys()
            .iter()
            .zip(b.keys())
            .all(|(x, y)| x.kid() == y.kid())
}

/// `Cache-Control: max-age` less `Age`; `no-store`/`no-cache` count as 0 (then clamped up to
/// the lower bound). `None`: no directive.
pub(crate) fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim().to_ascii_lowercase();
            match name.as_str() {
                "no-store" | "no-cache" => found = Some(0),
                "max-age" => {
                    if let Ok(secs) = arg.trim().trim_matches('"').parse::<u64>() {
                        found = Some(found.map_or(secs, |f: u64| f.min(secs)));
                    }
                }
                _ => {}
            }
        }
    }
    let age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    found.map(|secs| Duration::from_secs(secs.saturating_sub(age)))
}

/// The background fetcher: at once, then whenever due, and when woken.
async fn run(shared: Arc<Shared>) {
    loop {
        let due = {
            let mut state = shared.fetching.lock().await;
            match state.due {
                Some(due) if due > Instant::now() => due,
                _ => {
                    shared.fetch(&mut state).await;
                    continue;
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = shared.wake.notified() => {
                let mut state = shared.fetching.lock().await;
                shared.fetch(&mut state).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = http::HeaderMap::new();
            for (k, v) in pairs {
                m.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            max_age(&m)
        };
        assert_eq!(
            h(&[("cache-control", "public, max-age=300")]),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            h(&[("cache-control", "Max-Age=60"), ("age", "20")]),
            Some(Duration::from_secs(40))
        );
        assert_eq!(h(&[("cache-control", "no-store")]), Some(Duration::ZERO));
        assert_eq!(h(&[("cache-control", "public")]), None);
        assert_eq!(h(&[]), None);
    }
}
