//! `/metrics` in the Prometheus text format (0.0.4): counters kept in atomics by the routes
//! (token rejections too: one atomic per known reason, no lock on the rejected request's
//! path), and gauges read from the state at the scrape, rendered on request. No labels come
//! from request data, so the series are bounded. Not `prometheus-client`: it writes OpenMetrics
//! text (`# EOF`, counter families without `_total`), which would change what the scrapers of
//! this endpoint parse.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use jwtx::store::SetSize;
use jwtx_auth::events::{Refused, SessionEnd};
use jwtx_auth::{AuthEvent, EventSink, TracingEvents};

use super::AppState;

/// Latency histogram bucket bounds, seconds: from 100 µs, since most requests (a verification,
/// a cached user) are answered in tens of microseconds, to the Argon2 of a login under load.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Every reason `JwtError::reason` gives (jwtx-axum's, and `jwtx::Error::reason` for token
/// failures), in the order `/metrics` lists them: each has an atomic counter, so counting a
/// rejection (the path attack traffic takes) takes no lock.
const REJECTION_REASONS: [&str; 23] = [
    "missing",
    "bad_header",
    "malformed",
    "body_too_large",
    "csrf",
    "revoked",
    "verification_failed",
    "user_lookup",
    "unavailable",
    "internal",
    "too_large",
    "bad_json",
    "bad_algorithm",
    "unknown_key",
    "bad_signature",
    "bad_claims",
    "immature",
    "expired",
    "missing_claim",
    "bad_issuer",
    "bad_audience",
    "wrong_type",
    "not_fresh",
];

/// Token rejections by reason.
#[derive(Debug, Default)]
struct Rejections {
    /// One counter per [`REJECTION_REASONS`] entry.
    known: [AtomicU64; REJECTION_REASONS.len()],
    /// A reason missing from the table (a newer jwtx-axum's): counted correctly, under a lock,
    /// until the table is updated. Empty in practice.
    other: Mutex<Vec<(&'static str, u64)>>,
}

impl Rejections {
    fn count(&self, reason: &'static str) {
        match REJECTION_REASONS.iter().position(|r| *r == reason) {
            Some(i) => {
                self.known[i].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
                match other.iter_mut().find(|(k, _)| *k == reason) {
                    Some((_, n)) => *n += 1,
                    None => other.push((reason, 1)),
                }
            }
        }
    }

    /// `(labels, count)` for every reason seen at least once (as before: a reason's series
    /// appears with its first rejection).
    fn series(&self) -> Vec<(String, u64)> {
        let known = REJECTION_REASONS
            .iter()
            .zip(&self.known)
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)));
        let other = self
            .other
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        known
            .chain(other)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (format!("{{reason=\"{k}\"}}"), n))
            .collect()
    }
}

/// Login outcomes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LoginResult {
    Success,
    Failure,
    /// Refused by the throttle, or by the username's bound on queued verifications (429).
    Throttled,
    /// Refused because the password hashing queue was full (503).
    Overloaded,
}

/// The audit events of jwtx-auth, counted here and then written by
/// [`TracingEvents`](jwtx_auth::TracingEvents).
#[derive(Debug)]
pub struct MetricsEvents {
    metrics: Arc<Metrics>,
}

impl MetricsEvents {
    /// Counts into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        MetricsEvents { metrics }
    }
}

impl EventSink for MetricsEvents {
    fn record(&self, event: &AuthEvent<'_>) {
        let m = &self.metrics;
        match event {
            AuthEvent::LoginSucceeded { .. } => {
                m.login(LoginResult::Success);
                m.issued(1, 1);
            }
            AuthEvent::LoginFailed { .. } => m.login(LoginResult::Failure),
            AuthEvent::LoginRefused { reason, .. } => m.login(match reason {
                Refused::Overloaded => LoginResult::Overloaded,
                _ => LoginResult::Throttled,
            }),
            AuthEvent::Refreshed { rotated, .. } => m.issued(1, u64::from(*rotated)),
            AuthEvent::SessionEnded {
                reason: SessionEnd::RefreshReuse,
                ..
            } => m.reuse_detected(),
            AuthEvent::Revoked { .. } => m.revoked(),
            _ => {}
        }
        TracingEvents.record(event);
    }
}

/// What a scrape reads from the server's state besides [`Metrics`]' own counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readings {
    /// Login attempts refused by throttling (a counter the throttle keeps).
    pub rate_limit_hits: u64,
    /// The in-process revocation set: its entries and the bytes of its tables (gauges).
    pub revocations: SetSize,
    /// The cache of verified tokens: hits and misses (counters jwtx-axum keeps).
    pub verified_cache: jwtx_axum::VerifiedCacheStats,
    /// The password hashing queue: jobs in it now, and refusals by bound (the hasher's).
    pub password_queue: PasswordQueue,
    /// How old the revocation mirror is (a gauge; past `revocation_max_lag`, 503).
    pub revocation_lag: std::time::Duration,
    /// With Redis: whether the revocation wake-ups are subscribed now.
    pub fanout_connected: Option<bool>,
    /// With Redis: whether login limits are counted there now (not per instance), and how
    /// many checks the per-instance fallback answered.
    pub limits_shared: Option<(bool, u64)>,
}

/// The password hashing queue at a scrape.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PasswordQueue {
    /// Argon2 jobs waiting or running (a gauge).
    pub depth: usize,
    /// Verifications refused at the per-username bound (a counter).
    pub refused_per_user: u64,
    /// Verifications refused at the total bound (a counter).
    pub refused_overloaded: u64,
}

/// Connection counts and gauges, kept by `connections.rs` (per connection, never per request).
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounters {
    /// Open connections (those being shed included, until they close).
    pub(crate) open: AtomicU64,
    /// The cap in force (`max_connections`, perhaps lowered to fit the open-file limit).
    pub(crate) max: AtomicU64,
    /// Connections closed to make room at the cap, by phase (`Phase::LABELS`).
    pub(crate) shed: [AtomicU64; 3],
    /// Connections closed for running out of time, by phase (`Phase::LABELS`).
    pub(crate) timed_out: [AtomicU64; 3],
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    logins: [AtomicU64; 4],
    pub(crate) connections: ConnectionCounters,
    access_issued: AtomicU64,
    refresh_issued: AtomicU64,
    reuse_detections: AtomicU64,
    revocations: AtomicU64,
    /// Token rejections by jwtx-axum's reason (a fixed, small set of names).
    rejections: Rejections,
    /// The latency histogram, one shard per thread (modulo [`SHARDS`]).
    latency: [LatencyShard; SHARDS],
    /// SHA-256 of `metrics_token`, when `/metrics` needs it.
    token: Option<[u8; 32]>,
}

impl Metrics {
    /// Counters whose `/metrics` needs `Authorization: Bearer <token>` when `token` is set.
    pub fn with_token(token: Option<&crate::config::Secret>) -> Metrics {
        Metrics {
            token: token.map(|t| digest(t.expose().as_bytes())),
            ..Metrics::default()
        }
    }

    /// Whether a request with these headers may read the metrics: always without a token;
    /// with one, the bearer credential must match. Compared as SHA-256 digests in constant
    /// time, so neither the token's bytes nor its length show in the timing.
    fn may_read(&self, headers: &http::HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        aws_lc_rs::constant_time::verify_slices_are_equal(&digest(presented), expected).is_ok()
    }

    pub(crate) fn login(&self, result: LoginResult) {
        self.logins[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn issued(&self, access: u64, refresh: u64) {
        self.access_issued.fetch_add(access, Ordering::Relaxed);
        self.refresh_issued.fetch_add(refresh, Ordering::Relaxed);
    }

    pub(crate) fn reuse_detected(&self) {
        self.reuse_detections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn revoked(&self) {
        self.revocations.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a token rejection (`JwtError::reason`).
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejections.count(reason);
    }

    /// Counts one response in the first bucket that holds it (one atomic add, not one per
    /// bucket; [`render`](Self::render) makes the buckets cumulative).
    pub(crate) fn observe(&self, elapsed: Duration) {
        let shard = &self.latency[shard_index()];
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            shard.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        shard.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        shard.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The exposition text, with `readings` taken from the state at this scrape.
    pub(crate) fn render(&self, readings: Readings) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, series: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in series {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "jwtx_logins_total",
            "Login attempts by result.",
            &[
                ("{result=\"success\"}", get(&self.logins[0])),
                ("{result=\"failure\"}", get(&self.logins[1])),
                ("{result=\"throttled\"}", get(&self.logins[2])),
                ("{result=\"overloaded\"}", get(&self.logins[3])),
            ],
        );
        counter(
            "jwtx_tokens_issued_total",
            "Tokens issued by type.",
            &[
                ("{type=\"access\"}", get(&self.access_issued)),
                ("{type=\"refresh\"}", get(&self.refresh_issued)),
            ],
        );
        let rejections = self.rejections.series();
        let rejections: Vec<(&str, u64)> =
            rejections.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        counter(
            "jwtx_token_rejections_total",
            "Requests refused for their token, by reason.",
            &rejections,
        );
        counter(
            "jwtx_revocations_total",
            "Revocations written by this process (tokens, sessions, user cut-offs).",
            &[("", get(&self.revocations))],
        );
        counter(
            "jwtx_refresh_reuse_detections_total",
            "Refresh tokens presented again after rotation (the family was revoked).",
            &[("", get(&self.reuse_detections))],
        );
        counter(
            "jwtx_rate_limit_hits_total",
            "Login attempts refused by throttling.",
            &[("", readings.rate_limit_hits)],
        );
        counter(
            "jwtx_verified_cache_lookups_total",
            "Token verifications by outcome of the cache of verified tokens (hit: no signature \
             check; miss: verified, and kept if valid).",
            &[
                ("{result=\"hit\"}", readings.verified_cache.hits),
                ("{result=\"miss\"}", readings.verified_cache.misses),
            ],
        );
        counter(
            "jwtx_password_queue_refusals_total",
            "Password verifications refused without running, by the queue bound that was full \
             (user: 429 for that username; total: 503).",
            &[
                ("{bound=\"user\"}", readings.password_queue.refused_per_user),
                (
                    "{bound=\"total\"}",
                    readings.password_queue.refused_overloaded,
                ),
            ],
        );
        let by_phase = |counts: &[AtomicU64; 3]| -> Vec<(String, u64)> {
            super::connections::Phase::LABELS
                .iter()
                .zip(counts)
                .map(|(phase, n)| (format!("{{phase=\"{phase}\"}}"), get(n)))
                .collect()
        };
        let shed = by_phase(&self.connections.shed);
        let timed_out = by_phase(&self.connections.timed_out);
        fn series(v: &[(String, u64)]) -> Vec<(&str, u64)> {
            v.iter().map(|(k, n)| (k.as_str(), *n)).collect()
        }
        counter(
            "jwtx_connections_shed_total",
            "Connections closed to make room for a new one at max_connections, by phase (TLS \
             handshake, waiting for a request head, idle between requests).",
            &series(&shed),
        );
        counter(
            "jwtx_connections_timed_out_total",
            "Connections closed for a TLS handshake or request head not complete within \
             header_read_timeout, or idle past keep_alive_timeout, by phase.",
            &series(&timed_out),
        );
        let mut gauge = |name: &str, help: &str, v: usize| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "jwtx_password_queue_depth",
            "Argon2 jobs waiting for a hashing thread or running.",
            readings.password_queue.depth,
        );
        gauge(
            "jwtx_revocations_live",
            "Entries in the in-process revocation set (tokens, sessions, user cut-offs).",
            readings.revocations.entries,
        );
        gauge(
            "jwtx_revocation_set_table_bytes",
            "Bytes of the revocation set's hash tables (they double when 7/8 full).",
            readings.revocations.table_bytes,
        );
        let conn = |a: &AtomicU64| usize::try_from(get(a)).unwrap_or(usize::MAX);
        gauge(
            "jwtx_connections_open",
            "Open client connections.",
            conn(&self.connections.open),
        );
        gauge(
            "jwtx_connections_max",
            "The cap on open connections in force (max_connections, fitted to the open-file \
             limit).",
            conn(&self.connections.max),
        );
        if let Some(connected) = readings.fanout_connected {
            let name = "jwtx_redis_fanout_connected";
            let _ = writeln!(
                out,
                "# HELP {name} 1 while this instance is subscribed to the Redis revocation \
                 channel (0: revocations still arrive by polling the log).\n# TYPE {name} \
                 gauge\n{name} {}",
                u8::from(connected)
            );
        }
        if let Some((shared, fallbacks)) = readings.limits_shared {
            let name = "jwtx_login_limits_shared";
            let _ = writeln!(
                out,
                "# HELP {name} 1 while login limits are counted in Redis for every instance, 0 \
                 while this instance counts on its own (Redis down).\n# TYPE {name} gauge\n\
                 {name} {}",
                u8::from(shared)
            );
            let name = "jwtx_login_limit_fallbacks_total";
            let _ = writeln!(
                out,
                "# HELP {name} Login limit checks answered by this instance alone because Redis \
                 could not.\n# TYPE {name} counter\n{name} {fallbacks}"
            );
        }
        let name = "jwtx_revocation_lag_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Age of the revocation mirror: time since the start of its last read \
             that reached the head of the log (past revocation_max_lag, protected routes answer \
             503).\n# TYPE {name} gauge\n{name} {}",
            readings.revocation_lag.as_secs_f64()
        );
        let name = "jwtx_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Request latency.\n# TYPE {name} histogram"
        );
        let summed = |field: fn(&LatencyShard) -> &AtomicU64| -> u64 {
            self.latency.iter().map(|shard| get(field(shard))).sum()
        };
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self
                .latency
                .iter()
                .map(|shard| get(&shard.buckets[i]))
                .sum::<u64>();
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = summed(|shard| &shard.count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = summed(|shard| &shard.sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
        out
    }
}

/// Latency histogram shards: each thread counts into its own, so the cores answering requests
/// never write one cache line (a shared counter's line moves between cores on every request);
/// a scrape sums them. More than the worker threads a server runs, so threads rarely share one.
const SHARDS: usize = 16;

/// One thread's share of the latency histogram, on cache lines of its own.
#[derive(Default, Debug)]
#[repr(align(128))]
struct LatencyShard {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// This thread's shard: threads take the next one in turn, once.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 401, description = "`metrics_token` is set and the request does not carry it as `Authorization: Bearer`", body = jwtx_auth::Msg),
    ))]
pub(crate) async fn endpoint(State(state): State<AppState>, headers: http::HeaderMap) -> Response {
    if !state.metrics.may_read(&headers) {
        return wrong_token();
    }
    let auth = &state.auth;
    let readings = Readings {
        rate_limit_hits: state.limits.hits(),
        revocations: auth.revocations().size(),
        verified_cache: auth.jwt().verified_cache_stats(),
        password_queue: PasswordQueue {
            depth: auth.hasher().queued(),
            refused_per_user: auth.hasher().refused_per_user(),
            refused_overloaded: auth.hasher().refused_overloaded(),
        },
        revocation_lag: auth.revocations().lag(),
        fanout_connected: state.hints.as_ref().map(|h| h.is_connected()),
        limits_shared: state.limits.sharing(),
    };
    let mut res = state.metrics.render(readings).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// 401 `Missing or wrong metrics token`, with `WWW-Authenticate: Bearer`.
fn wrong_token() -> Response {
    let mut res = (
        http::StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "msg": "Missing or wrong metrics token" })),
    )
        .into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.login(LoginResult::Success);
        m.login(LoginResult::Failure);
        m.login(LoginResult::Failure);
        m.login(LoginResult::Overloaded);
        m.issued(1, 1);
        m.rejected("expired");
        m.rejected("expired");
        m.rejected("revoked");
        m.observe(Duration::from_millis(3));
        m.observe(Duration::from_secs(20));
        m.connections.open.store(5, Ordering::Relaxed);
        m.connections.shed[1].store(2, Ordering::Relaxed);
        m.connections.timed_out[2].store(3, Ordering::Relaxed);
        let text = m.render(Readings {
            rate_limit_hits: 4,
            revocations: SetSize {
                entries: 3,
                table_bytes: 84,
            },
            verified_cache: jwtx_axum::VerifiedCacheStats { hits: 7, misses: 2 },
            password_queue: PasswordQueue {
                depth: 5,
                refused_per_user: 6,
                refused_overloaded: 1,
            },
            revocation_lag: Duration::from_millis(1_250),
            fanout_connected: Some(false),
            limits_shared: Some((false, 9)),
        });
        for line in [
            "jwtx_logins_total{result=\"failure\"} 2",
            "jwtx_tokens_issued_total{type=\"refresh\"} 1",
            "jwtx_token_rejections_total{reason=\"expired\"} 2",
            "jwtx_token_rejections_total{reason=\"revoked\"} 1",
            "jwtx_rate_limit_hits_total 4",
            "jwtx_logins_total{result=\"overloaded\"} 1",
            "jwtx_password_queue_refusals_total{bound=\"user\"} 6",
            "jwtx_password_queue_refusals_total{bound=\"total\"} 1",
            "jwtx_password_queue_depth 5",
            "# TYPE jwtx_revocations_live gauge",
            "jwtx_revocations_live 3",
            "jwtx_revocation_set_table_bytes 84",
            "# TYPE jwtx_revocation_lag_seconds gauge",
            "jwtx_revocation_lag_seconds 1.25",
            "jwtx_redis_fanout_connected 0",
            "jwtx_login_limits_shared 0",
            "jwtx_login_limit_fallbacks_total 9",
            "jwtx_verified_cache_lookups_total{result=\"hit\"} 7",
            "jwtx_verified_cache_lookups_total{result=\"miss\"} 2",
            "jwtx_http_request_duration_seconds_bucket{le=\"0.0001\"} 0",
            "jwtx_http_request_duration_seconds_bucket{le=\"0.001\"} 0",
            "jwtx_http_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "jwtx_http_request_duration_seconds_bucket{le=\"5\"} 1",
            "jwtx_http_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "jwtx_http_request_duration_seconds_count 2",
            "jwtx_connections_open 5",
            "jwtx_connections_shed_total{phase=\"handshake\"} 0",
            "jwtx_connections_shed_total{phase=\"head\"} 2",
            "jwtx_connections_timed_out_total{phase=\"idle\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn every_reason_jwtx_axum_gives_has_a_counter() {
        use jwtx_axum::JwtError;
        let errors = [
            JwtError::NoToken {
                message: String::new(),
            },
            JwtError::BadHeader {
                message: String::new(),
            },
            JwtError::TokenNotAString,
            JwtError::BodyTooLarge,
            JwtError::Csrf { message: "" },
            JwtError::Revoked,
            JwtError::VerificationFailed,
            JwtError::UserLookup { sub: String::new() },
            JwtError::Unavailable {
                detail: String::new(),
                source: None,
            },
            JwtError::Internal { message: "" },
            JwtError::Token(jwtx::Error::InvalidSignature),
            JwtError::Token(jwtx::Error::NotFresh),
            JwtError::Token(jwtx::Error::InvalidIssuer),
            JwtError::Token(jwtx::Error::InvalidAudience),
        ];
        for e in &errors {
            assert!(REJECTION_REASONS.contains(&e.reason()), "{}", e.reason());
        }
        let mut sorted = REJECTION_REASONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), REJECTION_REASONS.len(), "no reason twice");
    }

    #[test]
    fn rejections_counted_from_many_threads_add_up() {
        let m = Metrics::default();
        let reasons = ["expired", "bad_signature", "revoked", "a_future_reason"];
        std::thread::scope(|s| {
            for t in 0..8 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..10_000 {
                        m.rejected(reasons[(t + i) % reasons.len()]);
                    }
                });
            }
        });
        let text = m.render(Readings::default());
        for reason in reasons {
            let line = format!("jwtx_token_rejections_total{{reason=\"{reason}\"}} 20000");
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // A reason never seen has no series, as before.
        assert!(!text.contains("reason=\"csrf\""), "{text}");
        assert!(
            text.contains(
                "# HELP jwtx_token_rejections_total Requests refused for their token, by reason.\n\
                 # TYPE jwtx_token_rejections_total counter\n"
            ),
            "{text}"
        );
    }
}
