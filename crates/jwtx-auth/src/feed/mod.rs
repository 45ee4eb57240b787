//! The revocation feed, `GET /revocations` (docs/http-api.md, "Revocation feed"): the log's
//! entries for downstream services, as JSON pages or a stream of server-sent events, readable
//! only with a service credential (`jwtx service add`).
//!
//! - [`Feed::admit`]: the credential check. Failed checks are counted per client address
//!   (a [`LoginThrottle`] of the feed's own, [`MAX_FAILURES`] per [`FAILURE_WINDOW`]); past
//!   them the address is refused with 429 before any lookup. A credential is looked up by the
//!   SHA-256 of its text and the stored digest compared in constant time.
//! - [`FeedQuery`]: `after`, `limit` and `heartbeat`, strictly parsed.
//! - [`Feed::page`]: one JSON page; [`stream`]: the event stream.

mod stream;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jwtx::store::{CredentialDigest, LogPosition, Revocation, ServiceCredential, StoreError};
use serde_json::json;

use crate::service::Auth;
use crate::throttle::{LoginThrottle, ThrottleConfig};

pub(crate) use stream::stream;

/// The most entries in one page (and one read of a stream), and the default `limit`.
pub const MAX_FEED_PAGE: u32 = 1_000;

/// The stream's heartbeat when the request names none.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(1_000);
/// The shortest heartbeat a stream is given (a shorter `heartbeat` is raised to it).
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// The longest heartbeat a stream is given (a longer `heartbeat` is lowered to it).
pub const MAX_HEARTBEAT: Duration = Duration::from_millis(30_000);

/// Failed credential checks one client address may make within [`FAILURE_WINDOW`] before it
/// is refused (429).
pub const MAX_FAILURES: u32 = 10;
/// The window failed credential checks are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The throttle's key for the feed's failures (one per address).
const THROTTLE_KEY: &str = "revocations";

/// `WWW-Authenticate` of every 401.
const CHALLENGE: &str = "Bearer realm=\"jwtx revocations\"";

/// The feed's state: the auth flows (store, clock, mirror) and the failed-check throttle.
#[derive(Debug)]
pub(crate) struct Feed {
    auth: Auth,
    throttle: LoginThrottle,
}

/// A request's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FeedQuery {
    /// Entries with a greater log id are wanted (0: from the start).
    pub(crate) after: u64,
    /// The most entries in a page (a read, for a stream).
    pub(crate) limit: u32,
    /// The longest a stream stays silent, clamped to [`MIN_HEARTBEAT`]..=[`MAX_HEARTBEAT`].
    pub(crate) heartbeat: Duration,
}

impl FeedQuery {
    /// Reads the query string: `after` (decimal, default 0), `limit` (1 to
    /// [`MAX_FEED_PAGE`], default [`MAX_FEED_PAGE`]) and `heartbeat` (milliseconds, clamped).
    /// A parameter given twice, empty, or anything but decimal digits (no sign, no
    /// percent-encoding), or too large for 64 bits, is refused; other parameters are ignored.
    pub(crate) fn parse(query: Option<&str>) -> Result<FeedQuery, String> {
        let (mut after, mut limit, mut heartbeat) = (None, None, None);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "after" => &mut after,
                "limit" => &mut limit,
                "heartbeat" => &mut heartbeat,
                _ => continue,
            };
            if slot.is_some() {
                return Err(format!("{name} is given more than once"));
            }
            *slot = Some(decimal(name, value)?);
        }
        let limit = match limit {
            None => MAX_FEED_PAGE,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_FEED_PAGE).contains(n))
                .ok_or_else(|| format!("limit must be 1 to {MAX_FEED_PAGE}"))?,
        };
        let heartbeat = heartbeat
            .map_or(DEFAULT_HEARTBEAT, Duration::from_millis)
            .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
        Ok(FeedQuery {
            after: after.unwrap_or(0),
            limit,
            heartbeat,
        })
    }
}

/// A parameter's value: decimal digits only, at most `u64::MAX`.
fn decimal(name: &str, value: &str) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} must be a decimal number"));
    }
    value
        .parse()
        .map_err(|_| format!("{name} is too large: at most {}", u64::MAX))
}

/// Why a feed request was refused, with its answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FeedError {
    /// 401: no credential, or not one of a service.
    Unauthorized(&'static str),
    /// 429: too many failed checks from this address; retry after this many seconds.
    Throttled(u64),
    /// 400: a malformed parameter.
    BadRequest(String),
    /// 409: `after` is beyond the head of this log.
    BeyondHead(LogPosition),
    /// 503: the store could not be read.
    Unavailable,
}

impl From<StoreError> for FeedError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "revocation feed: the store failed");
        FeedError::Unavailable
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            FeedError::Unauthorized(msg) => (StatusCode::UNAUTHORIZED, json!({ "msg": msg })),
            FeedError::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "msg": "Too many failed credential checks; try again later" }),
            ),
            FeedError::BadRequest(msg) => (StatusCode::BAD_REQUEST, json!({ "msg": msg })),
            FeedError::BeyondHead(p) => (
                StatusCode::CONFLICT,
                json!({
                    "msg": "after is beyond the head of the revocation log: resync from 0",
                    "epoch": p.epoch,
                    "head": p.head,
                }),
            ),
            FeedError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "msg": "The revocation log cannot be read; try again" }),
            ),
        };
        let mut res = (status, Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self {
            FeedError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
            }
            FeedError::Throttled(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        res
    }
}

impl Feed {
    pub(crate) fn new(auth: Auth) -> Feed {
        let throttle = LoginThrottle::new(ThrottleConfig {
            failures_per_user_ip: MAX_FAILURES,
            failure_window: FAILURE_WINDOW,
            ..ThrottleConfig::default()
        });
        Feed { auth, throttle }
    }

    /// The credential check: the digest of the request's service credential, or the refusal.
    /// Refused with 429 while the address has used up its failures; a failure (no
    /// credential, a malformed or unknown one) is counted. A store failure is 503 and not
    /// counted.
    pub(crate) async fn admit(
        &self,
        headers: &HeaderMap,
        ip: IpAddr,
    ) -> Result<CredentialDigest, FeedError> {
        if let Err(wait) = self
            .throttle
            .check_failures(THROTTLE_KEY, ip, Instant::now())
        {
            return Err(FeedError::Throttled(wait.as_secs()));
        }
        let refused = match bearer(headers) {
            None => "Missing service credential: send Authorization: Bearer <credential>",
            Some(text) => match ServiceCredential::parse(text) {
                None => "Invalid service credential",
                Some(credential) => {
                    let digest = credential.digest();
                    if self.is_service(&digest).await? {
                        return Ok(digest);
                    }
                    "Invalid service credential"
                }
            },
        };
        self.throttle
            .record_failure(THROTTLE_KEY, ip, Instant::now());
        tracing::info!(target: "audit", event = "revocation_feed_refused", %ip);
        Err(FeedError::Unauthorized(refused))
    }

    /// Whether `digest` is a stored service's (the stored digest compared in constant time).
    async fn is_service(&self, digest: &CredentialDigest) -> Result<bool, StoreError> {
        let Some(services) = self.auth.services() else {
            return Ok(false);
        };
        let found = services.find_service(digest).await?;
        Ok(found.is_some_and(|s| s.digest == *digest))
    }

    /// The log's position; [`FeedError::BeyondHead`] if `after` is past its head.
    pub(crate) async fn position(&self, after: u64) -> Result<LogPosition, FeedError> {
        let position = self.auth.store().log_position().await?;
        if after > position.head {
            return Err(FeedError::BeyondHead(position));
        }
        Ok(position)
    }

    /// Up to `limit` entries after `after`, in log order, leaving out those expired past the
    /// purge margin (as this process's own mirror keeps them).
    pub(crate) async fn read(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Revocation)>, StoreError> {
        let margin = self.auth.revocations().purge_margin();
        let live_from = self.auth.clock().now().saturating_sub(margin);
        self.auth
            .store()
            .revocations_since(after, live_from, limit)
            .await
    }

    /// One JSON page (the protocol's 200 body).
    pub(crate) async fn page(
        &self,
        epoch: &str,
        after: u64,
        limit: u32,
    ) -> Result<String, FeedError> {
        let entries = self.read(after, limit).await?;
        let more = entries.len() == limit as usize;
        let next = entries.last().map_or(after, |(id, _)| *id);
        let items: Vec<String> = entries.iter().map(|(id, r)| item(*id, r)).collect();
        Ok(format!(
            "{{\"epoch\":{},\"entries\":[{}],\"next\":{next},\"more\":{more}}}",
            json_string(epoch),
            items.join(",")
        ))
    }
}

/// `{"seq":N,"entry":{…}}`: the entry as its canonical text ([`Revocation::to_entry`]),
/// embedded as JSON as it is (its key order is part of it).
fn item(id: u64, revocation: &Revocation) -> String {
    format!("{{\"seq\":{id},\"entry\":{}}}", revocation.to_entry())
}

/// `s` as a JSON string.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The token of the one `Authorization: Bearer …` header (scheme case-insensitive), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

/// Whether the request asks for the event stream (`Accept` lists `text/event-stream`).
pub(crate) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            range
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(query: &str) -> Result<FeedQuery, String> {
        FeedQuery::parse(Some(query))
    }

    #[test]
    fn parameters_are_read_strictly() {
        assert_eq!(
            FeedQuery::parse(None),
            Ok(FeedQuery {
                after: 0,
                limit: MAX_FEED_PAGE,
                heartbeat: DEFAULT_HEARTBEAT
            })
        );
        assert_eq!(
            q("after=18446744073709551615&limit=1&heartbeat=250&other=x"),
            Ok(FeedQuery {
                after: u64::MAX,
                limit: 1,
                heartbeat: Duration::from_millis(250)
            })
        );
        assert_eq!(q("heartbeat=1").unwrap().heartbeat, MIN_HEARTBEAT);
        assert_eq!(q("heartbeat=99999999").unwrap().heartbeat, MAX_HEARTBEAT);
        assert_eq!(q("limit=1000").unwrap().limit, 1000);
        for bad in [
            "after=",
            "after",
            "after=-1",
            "after=+1",
            "after=1x",
            "after=0x10",
            "after=%31",
            "after=1.0",
            "after=18446744073709551616",
            "after=1&after=1",
            "limit=0",
            "limit=1001",
            "limit=4294967297",
            "limit=",
            "heartbeat=",
            "heartbeat=-5",
            "heartbeat=1&heartbeat=2",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bearer_and_the_stream_are_recognised() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), None, "two Authorization headers");

        let mut h = HeaderMap::new();
        assert!(!wants_stream(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_stream(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, Text/Event-Stream;q=0.9"),
        );
        assert!(wants_stream(&h));
    }

    #[test]
    fn entries_are_embedded_as_their_canonical_text() {
        let r = Revocation::user("alice", 10, 5, Some("s1"));
        let text = item(7, &r);
        assert_eq!(text, format!("{{\"seq\":7,\"entry\":{}}}", r.to_entry()),);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["entry"]["kind"], "user");
        assert_eq!(json_string("a\"b"), "\"a\\\"b\"");
    }
}
