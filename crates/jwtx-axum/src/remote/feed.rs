//! [`RevocationFeed`]: follows an issuer's revocation feed into a core
//! [`RevocationSet`] behind the staleness gate, over an event stream (falling back to pages)
//! or by polling pages.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use jwtx::store::{Revocation, RevocationSet, TokenRef, Unvouched};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::RemoteError;
use super::keys::WakeHandle;
use super::sse;
use super::transport::{Client, Endpoint, FetchError, HttpOptions};

/// How the feed is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedMode {
    /// The event stream (`Accept: text/event-stream`), with heartbeats every third of the
    /// allowed lag; while it cannot be held, pages are polled, and it is opened again.
    #[default]
    Stream,
    /// Pages only (`GET …?after=N`), every third of the allowed lag.
    Poll,
}

/// Builds a [`RevocationFeed`]; finish with [`start`](Self::start).
#[must_use]
pub struct RevocationFeedBuilder {
    url: String,
    credential: Result<HeaderValue, &'static str>,
    max_lag: Duration,
    mode: FeedMode,
    http: HttpOptions,
    purge_margin: Duration,
    page_limit: u32,
}

impl fmt::Debug for RevocationFeedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationFeedBuilder")
            .field("url", &self.url)
            .field("credential", &"<redacted>")
            .field("max_lag", &self.max_lag)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl RevocationFeedBuilder {
    /// How old the set may be before every token is refused with 503 (default 5 s). The
    /// stream's heartbeat and the polling period are a third of it.
    pub fn max_lag(mut self, max_lag: Duration) -> Self {
        self.max_lag = max_lag;
        self
    }

    /// Stream (default) or poll.
    pub fn mode(mut self, mode: FeedMode) -> Self {
        self.mode = mode;
        self
    }

    /// Transport bounds and TLS roots (default [`HttpOptions::new`] with 4 MiB pages).
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// How long past its `until` an entry is kept (default 24 h): at least the issuer's
    /// access-token lifetime, the margin the issuer's own readers keep, since an access token
    /// issued near a session's end outlives the session's entry by up to that.
    pub fn purge_margin(mut self, margin: Duration) -> Self {
        self.purge_margin = margin;
        self
    }

    /// Entries asked for per page (1 to 1000, default 1000).
    pub fn page_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit;
        self
    }

    /// Checks the options and starts following (call inside a Tokio runtime). Until the
    /// first read reaches the head of the log, every token is refused with 503.
    pub fn start(self) -> Result<RevocationFeed, RemoteError> {
        let endpoint = Endpoint::parse("revocations_url", &self.url)?;
        if endpoint.target.contains('?') {
            return Err(RemoteError::Url {
                what: "revocations_url",
                url: self.url,
                problem: "has a query; the follower adds ?after=…".into(),
            });
        }
        let auth = self.credential.map_err(|problem| RemoteError::Option {
            field: "credential",
            problem: problem.into(),
        })?;
        if self.max_lag < Duration::from_millis(300) {
            return Err(RemoteError::Option {
                field: "max_lag",
                problem: format!(
                    "{:?} is under 300 ms (the feed's heartbeat is at least 100 ms)",
                    self.max_lag
                ),
            });
        }
        if !(1..=1000).contains(&self.page_limit) {
            return Err(RemoteError::Option {
                field: "page_limit",
                problem: format!("{} is not within 1..=1000", self.page_limit),
            });
        }
        let max_event = self.http.max_event;
        let client = Client::new(self.http)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RemoteError::Runtime)?;
        let set = Arc::new(RevocationSet::with_max_lag(self.max_lag));
        let keys_wake = Arc::new(OnceLock::new());
        let heartbeat =
            (self.max_lag / 3).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tracing::info!(url = %endpoint.url, mode = ?self.mode, max_lag_ms = self.max_lag.as_millis() as u64, "following the issuer's revocation feed");
        let url = endpoint.url.clone();
        let follower = Follower {
            set: set.clone(),
            client,
            endpoint,
            auth,
            mode: self.mode,
            heartbeat,
            max_event,
            purge_margin: self.purge_margin,
            page_limit: self.page_limit,
            epoch: None,
            cursor: 0,
            failures: 0,
            stale_logged: false,
            last_purge: Instant::now(),
            keys_wake: keys_wake.clone(),
        };
        let task = runtime.spawn(follower.run());
        Ok(RevocationFeed(Arc::new(FeedHandle {
            set,
            url,
            task: task.abort_handle(),
            keys_wake,
        })))
    }
}

/// An issuer's revocation feed, followed in the background into a [`RevocationSet`] made
/// [`with_max_lag`](RevocationSet::with_max_lag): give it to
/// [`JwtManagerBuilder::revocation_feed`](crate::JwtManagerBuilder::revocation_feed), and a
/// token the issuer revoked (by `jti`, session, user cut-off, or the `kid` of a retired key)
/// is answered 401 `Token has been revoked`.
///
/// It fails closed: while the set is older than `max_lag` (the feed unreachable, the
/// credential refused), or while the log holds an entry this version cannot read (never
/// skipped), every token is answered 503. When the log's epoch changes or the issuer answers
/// 409, the set is cleared and read again from the start. The credential goes in
/// `Authorization: Bearer` and is never logged or printed by `Debug`.
///
/// Cheap to clone; following stops when the last clone is dropped.
#[derive(Clone)]
pub struct RevocationFeed(Arc<FeedHandle>);

struct FeedHandle {
    set: Arc<RevocationSet>,
    url: String,
    task: tokio::task::AbortHandle,
    keys_wake: Arc<OnceLock<WakeHandle>>,
}

impl Drop for FeedHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("url", &self.0.url)
            .field("credential", &"<redacted>")
            .field("entries", &self.0.set.len())
            .field("cursor", &self.0.set.cursor())
            .finish()
    }
}

impl RevocationFeed {
    /// Starts a builder for the feed at `url` (`https://issuer/revocations`), authenticated
    /// with `credential` (the service credential the issuer gave this service).
    pub fn builder(url: impl Into<String>, credential: &str) -> RevocationFeedBuilder {
        let credential = if credential.is_empty() {
            Err("is empty")
        } else if !credential.bytes().all(|b| b.is_ascii_graphic()) {
            Err("must be visible ASCII without spaces")
        } else {
            HeaderValue::from_str(&format!("Bearer {credential}"))
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| "is not a valid header value")
        };
        let mut http = HttpOptions::new();
        http.max_body = 4 * 1024 * 1024;
        RevocationFeedBuilder {
            url: url.into(),
            credential,
            max_lag: Duration::from_secs(5),
            mode: FeedMode::Stream,
            http,
            purge_margin: Duration::from_secs(24 * 3600),
            page_limit: 1000,
        }
    }

    /// The set the feed fills.
    pub fn set(&self) -> &Arc<RevocationSet> {
        &self.0.set
    }

    /// Whether a token is revoked; `Err` while the set cannot vouch for any token.
    pub fn check(&self, token: TokenRef<'_>) -> Result<bool, Unvouched> {
        self.0.set.check(token)
    }

    /// Waits until the set vouches for tokens (a read reached the head of the log), up to
    /// `within`; whether it does.
    pub async fn ready(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.0.set.vouching_at(Instant::now()).is_ok() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `key` or `keys` entry makes `keys` fetch the issuer's key set soon.
    pub(crate) fn wake_on_key_entries(&self, keys: WakeHandle) {
        let _ = self.0.keys_wake.set(keys);
    }
}

/// Why one attempt to read the feed failed.
#[derive(Debug)]
enum FeedError {
    Fetch(FetchError),
    /// The credential was refused (401/403).
    Credential(StatusCode, String),
    /// 429, with the Retry-After asked for.
    RateLimited(Option<Duration>),
    /// Another status.
    Status(StatusCode, String),
    /// The answer breaks the protocol.
    Protocol(String),
    /// An entry this version cannot read; the set now refuses every token.
    Unreadable(String),
    /// The stream said it ends on an error (`event: error`).
    Server(String),
    /// No event within twice the heartbeat.
    Idle,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Fetch(e) => write!(f, "{e}"),
            FeedError::Credential(s, m) => write!(f, "credential refused ({s}): {m}"),
            FeedError::RateLimited(_) => f.write_str("rate limited (429)"),
            FeedError::Status(s, m) => write!(f, "answered {s}: {m}"),
            FeedError::Protocol(m) => write!(f, "protocol error: {m}"),
            FeedError::Unreadable(m) => write!(f, "unreadable entry: {m}"),
            FeedError::Server(m) => write!(f, "the stream ended on an error: {m}"),
            FeedError::Idle => f.write_str("no event within twice the heartbeat"),
        }
    }
}

impl From<FetchError> for FeedError {
    fn from(e: FetchError) -> Self {
        FeedError::Fetch(e)
    }
}

impl From<sse::SseError> for FeedError {
    fn from(e: sse::SseError) -> Self {
        FeedError::Protocol(e.to_string())
    }
}

/// How an attempt ended without failing.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The stream ended (the server shut down or closed it): open it again.
    Ended,
    /// The log was replaced: read again from the start, at once.
    Resynced,
    /// A page was read; `more`: the next at once.
    Polled { more: bool },
}

#[derive(Deserialize)]
struct Page<'a> {
    epoch: String,
    #[serde(borrow)]
    entries: Vec<Numbered<'a>>,
    #[allow(
        dead_code,
        reason = "read to check the shape; the cursor is the last seq"
    )]
    next: u64,
    more: bool,
}

#[derive(Deserialize)]
struct Numbered<'a> {
    seq: u64,
    #[serde(borrow)]
    entry: &'a RawValue,
}

#[derive(Deserialize)]
struct Heartbeat {
    epoch: String,
}

#[derive(Deserialize)]
struct Msg {
    msg: Option<String>,
    epoch: Option<String>,
}

struct Follower {
    set: Arc<RevocationSet>,
    client: Client,
    endpoint: Endpoint,
    auth: HeaderValue,
    mode: FeedMode,
    heartbeat: Duration,
    max_event: usize,
    purge_margin: Duration,
    page_limit: u32,
    /// The log's epoch, once seen.
    epoch: Option<String>,
    /// The last log id applied.
    cursor: u64,
    failures: u32,
    stale_logged: bool,
    last_purge: Instant,
    keys_wake: Arc<OnceLock<WakeHandle>>,
}

impl Follower {
    async fn run(mut self) {
        loop {
            let result = match self.mode {
                FeedMode::Stream => self.stream().await,
                FeedMode::Poll => self
                    .catch_up()
                    .await
                    .map(|()| Outcome::Polled { more: false }),
            };
            let pause = match result {
                Ok(Outcome::Resynced | Outcome::Polled { more: true }) => Duration::ZERO,
                Ok(Outcome::Ended) => {
                    self.recovered();
                    Duration::from_millis(100)
                }
                Ok(Outcome::Polled { more: false }) => {
                    self.recovered();
                    self.heartbeat
                }
                Err(e) => self.failed(e).await,
            };
            self.watch_staleness();
            self.maybe_purge();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Logs a failure (the first of a run at warn) and says how long to wait; in stream mode,
    /// a page is polled meanwhile so the set stays current while the stream cannot be held.
    async fn failed(&mut self, e: FeedError) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 {
            tracing::warn!(url = %self.endpoint.url, error = %e, "revocation feed: read failed; retrying");
        } else {
            tracing::debug!(url = %self.endpoint.url, error = %e, "revocation feed: read failed again");
        }
        let backoff = Duration::from_millis(100)
            .saturating_mul(1u32 << (self.failures - 1).min(16))
            .min(self.heartbeat);
        match e {
            // The same entry would stop a page too: read it again every period.
            FeedError::Unreadable(_) => self.heartbeat,
            FeedError::RateLimited(after) => {
                backoff.max(after.unwrap_or(self.heartbeat).min(Duration::from_secs(60)))
            }
            FeedError::Credential(..) => self.heartbeat,
            _ if self.mode == FeedMode::Stream => match self.catch_up().await {
                Ok(()) => backoff,
                Err(e) => {
                    tracing::debug!(url = %self.endpoint.url, error = %e, "revocation feed: polling failed too");
                    backoff
                }
            },
            _ => backoff,
        }
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(url = %self.endpoint.url, "revocation feed: reading again");
            self.failures = 0;
        }
    }

    /// Says once when the set stops vouching (every token answered 503) and when it is current
    /// again.
    fn watch_staleness(&mut self) {
        match self.set.vouching_at(Instant::now()) {
            Err(why) if !self.stale_logged => {
                self.stale_logged = true;
                tracing::error!(url = %self.endpoint.url, reason = %why, "revocation feed: the set cannot vouch for tokens; refusing every token with 503 until it can");
            }
            Ok(()) if self.stale_logged => {
                self.stale_logged = false;
                tracing::info!(url = %self.endpoint.url, "revocation feed: current again; tokens are vouched for");
            }
            _ => {}
        }
    }

    fn maybe_purge(&mut self) {
        if self.last_purge.elapsed() < Duration::from_secs(60) {
            return;
        }
        self.last_purge = Instant::now();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.set
            .purge(now.saturating_sub(self.purge_margin.as_secs()));
    }

    fn headers(&self, accept: &'static str) -> [(HeaderName, HeaderValue); 2] {
        [
            (header::ACCEPT, HeaderValue::from_static(accept)),
            (header::AUTHORIZATION, self.auth.clone()),
        ]
    }

    /// Reads pages from the cursor until one reaches the head of the log.
    async fn catch_up(&mut self) -> Result<(), FeedError> {
        let mut resyncs = 0;
        loop {
            let started = Instant::now();
            let target = format!(
                "{}?after={}&limit={}",
                self.endpoint.target, self.cursor, self.page_limit
            );
            let res = self
                .client
                .get(&self.endpoint, &target, &self.headers("application/json"))
                .await?;
            let outcome = match res.status {
                StatusCode::OK => self.apply_page(&res.body, started)?,
                StatusCode::CONFLICT => self.conflict(&res.body)?,
                status => return Err(status_error(status, &res.headers, &res.body)),
            };
            match outcome {
                Outcome::Polled { more: false } => return Ok(()),
                Outcome::Resynced => {
                    resyncs += 1;
                    if resyncs > 2 {
                        return Err(FeedError::Protocol(
                            "the log was replaced again while resyncing".into(),
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// A 409: the cursor is beyond the head (the store was restored or replaced).
    fn conflict(&mut self, body: &[u8]) -> Result<Outcome, FeedError> {
        if self.cursor == 0 {
            return Err(FeedError::Protocol("409 for after=0".into()));
        }
        let epoch = serde_json::from_slice::<Msg>(body)
            .ok()
            .and_then(|m| m.epoch);
        self.resync("the issuer's log is behind this follower's cursor (409)");
        self.epoch = epoch;
        Ok(Outcome::Resynced)
    }

    fn apply_page(&mut self, body: &[u8], started: Instant) -> Result<Outcome, FeedError> {
        let page: Page<'_> = serde_json::from_slice(body)
            .map_err(|e| FeedError::Protocol(format!("not a page: {e}")))?;
        if self.epoch_changed(&page.epoch) {
            return Ok(Outcome::Resynced);
        }
        let mut last = self.cursor;
        for e in &page.entries {
            if e.seq <= last {
                return Err(FeedError::Protocol(format!(
                    "entry {} is not after {last}",
                    e.seq
                )));
            }
            last = e.seq;
        }
        let more = page.more;
        if more && page.entries.is_empty() {
            return Err(FeedError::Protocol("\"more\" on an empty page".into()));
        }
        for e in page.entries {
            self.apply(e.seq, e.entry)?;
        }
        if !more {
            self.set.set_unreadable(None);
            self.set.reached_head(started);
        }
        Ok(Outcome::Polled { more })
    }

    /// Applies entry `seq`, or marks the set unreadable and stops there: the cursor stays
    /// before it, so it is read again and never skipped.
    fn apply(&mut self, seq: u64, entry: &RawValue) -> Result<(), FeedError> {
        if seq <= self.cursor {
            return Ok(());
        }
        match Revocation::from_entry(entry.get()) {
            Ok(r) => {
                self.set.apply(seq, &r);
                self.cursor = seq;
                if matches!(r, Revocation::Key { .. } | Revocation::KeysChanged { .. })
                    && let Some(w) = self.keys_wake.get()
                {
                    w.wake();
                }
                Ok(())
            }
            Err(e) => {
                let detail = format!("entry {seq}: {e}");
                if self.set.unreadable().as_deref() != Some(detail.as_str()) {
                    tracing::error!(url = %self.endpoint.url, %detail, "revocation feed: an entry this version cannot read; refusing every token until it can (upgrade this service)");
                }
                self.set.set_unreadable(Some(detail.clone()));
                Err(FeedError::Unreadable(detail))
            }
        }
    }

    /// Whether `epoch` is another log than the one followed so far (then the set is cleared).
    fn epoch_changed(&mut self, epoch: &str) -> bool {
        match &self.epoch {
            Some(e) if e == epoch => false,
            None => {
                self.epoch = Some(epoch.to_owned());
                false
            }
            Some(_) => {
                self.resync("the issuer's log epoch changed (a new store)");
                self.epoch = Some(epoch.to_owned());
                true
            }
        }
    }

    /// Forgets everything and starts again from 0; no token is vouched for until that read
    /// reaches the head.
    fn resync(&mut self, why: &str) {
        tracing::warn!(url = %self.endpoint.url, reason = why, "revocation feed: resyncing from the start");
        self.set
            .set_unreadable(Some(format!("resyncing from the start: {why}")));
        self.set.clear();
        self.cursor = 0;
        self.epoch = None;
    }

    /// One stream: opened at the cursor, read until it ends or fails.
    async fn stream(&mut self) -> Result<Outcome, FeedError> {
        let opened = Instant::now();
        let target = format!(
            "{}?after={}&heartbeat={}",
            self.endpoint.target,
            self.cursor,
            self.heartbeat.as_millis()
        );
        let res = self
            .client
            .open(&self.endpoint, &target, &self.headers("text/event-stream"))
            .await?;
        let content_type = res
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let is_stream = content_type.starts_with("text/event-stream");
        if res.status != StatusCode::OK || !is_stream {
            // A status, or a server that answers pages only: read the body, bounded.
            let (status, headers) = (res.status, res.headers.clone());
            let body = read_bounded(
                res,
                self.client.options.max_body,
                self.client.options.timeout,
            )
            .await?;
            return match status {
                StatusCode::OK if content_type.starts_with("application/json") => {
                    self.apply_page(&body, opened)
                }
                StatusCode::OK => Err(FeedError::Protocol(format!(
                    "content type {content_type:?}"
                ))),
                StatusCode::CONFLICT => self.conflict(&body),
                status => Err(status_error(status, &headers, &body)),
            };
        }
        let mut body = res.body;
        let mut reader = sse::Reader::new(self.max_event);
        let mut events = Vec::new();
        // A lower bound on the start of the server's next read of the log: the request's
        // start for the first heartbeat, then the arrival of the heartbeat before.
        let mut mark = opened;
        let idle = self.heartbeat * 2 + Duration::from_millis(500);
        loop {
            let frame = match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => return Err(FeedError::Idle),
                Ok(None) => return Ok(Outcome::Ended),
                Ok(Some(Err(e))) => {
                    return Err(FeedError::Fetch(FetchError::Io(format!("stream: {e}"))));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            reader.push(&data, &mut events)?;
            for event in events.drain(..) {
                match event.name.as_str() {
                    "revocation" => {
                        let n: Numbered<'_> = serde_json::from_str(&event.data)
                            .map_err(|e| FeedError::Protocol(format!("revocation event: {e}")))?;
                        self.apply(n.seq, n.entry)?;
                    }
                    "heartbeat" => {
                        let h: Heartbeat = serde_json::from_str(&event.data)
                            .map_err(|e| FeedError::Protocol(format!("heartbeat: {e}")))?;
                        if self.epoch_changed(&h.epoch) {
                            return Ok(Outcome::Resynced);
                        }
                        self.set.set_unreadable(None);
                        self.set.reached_head(mark);
                        mark = Instant::now();
                        self.recovered();
                        self.watch_staleness();
                        self.maybe_purge();
                    }
                    "error" => {
                        let msg = serde_json::from_str::<Msg>(&event.data)
                            .ok()
                            .and_then(|m| m.msg)
                            .unwrap_or_default();
                        return Err(FeedError::Server(cut(&msg)));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The body of a response that is not a stream, within the size and time bounds.
async fn read_bounded(
    res: super::transport::Streaming,
    max: usize,
    within: Duration,
) -> Result<bytes::Bytes, FeedError> {
    let read = http_body_util::Limited::new(res.body, max).collect();
    match tokio::time::timeout(within, read).await {
        Err(_) => Err(FeedError::Fetch(FetchError::Timeout("reading the body"))),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(FeedError::Fetch(FetchError::TooLarge(max)))
        }
        Ok(Err(e)) => Err(FeedError::Fetch(FetchError::Io(format!(
            "reading the body: {e}"
        )))),
        Ok(Ok(b)) => Ok(b.to_bytes()),
    }
}

/// At most 200 characters of an issuer's message, for logs.
fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> FeedError {
    let msg = serde_json::from_slice::<Msg>(body)
        .ok()
        .and_then(|m| m.msg)
        .map(|m| cut(&m))
        .unwrap_or_default();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FeedError::Credential(status, msg),
        StatusCode::TOO_MANY_REQUESTS => FeedError::RateLimited(
            headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        ),
        _ => FeedError::Status(status, msg),
    }
}
