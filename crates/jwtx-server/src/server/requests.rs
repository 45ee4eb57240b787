//! What every request goes through before the router's layers: its id, the log context of
//! its lines, its deadline and its latency. One layer instead of tower-http's four (request id,
//! its propagation, a trace span and a timeout): ARCHITECTURE.md, decision record "One request
//! layer".
//!
//! - **Id.** The client's `X-Request-Id` if it is 1 to 128 visible ASCII characters (it goes
//!   into every log line of the request), else a new UUID-shaped one: a random per-process
//!   prefix and a counter, unique without an RNG call per request. The response carries it;
//!   code running for the request finds it in the log context (the request's headers are left
//!   as the client sent them: writing the id there cost every request a header insert).
//! - **Log context.** The id, method and path are [`logging::REQUEST`](crate::logging::REQUEST)
//!   while the request's future is polled (a reference set in a thread-local, no copy); the
//!   log formatter writes them into each line.
//! - **Deadline.** A response that is not ready within the timeout (a body that never arrives)
//!   is 408. The timer is only made when the request first waits: most requests are answered
//!   on their first poll and never touch the runtime's timer wheel.
//! - **Latency.** Every response's time to its head goes to the metrics histogram; 5xx
//!   responses are logged at ERROR, every response at DEBUG.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Request, StatusCode};
use tokio::time::{Instant, Sleep};

use super::metrics::Metrics;
use crate::logging::{REQUEST, RequestContext};

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Longest client-sent request id kept.
const MAX_CLIENT_ID: usize = 128;

/// The layer: see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct RequestsLayer {
    metrics: Arc<Metrics>,
    timeout: Duration,
    hsts: bool,
}

impl RequestsLayer {
    pub(crate) fn new(metrics: Arc<Metrics>, timeout: Duration) -> Self {
        Self {
            metrics,
            timeout,
            hsts: false,
        }
    }

    /// Every response also carries `Strict-Transport-Security: max-age=31536000` (served over
    /// TLS).
    pub(crate) fn hsts(mut self, on: bool) -> Self {
        self.hsts = on;
        self
    }
}

impl<S> tower::Layer<S> for RequestsLayer {
    type Service = Requests<S>;

    fn layer(&self, inner: S) -> Requests<S> {
        Requests {
            inner,
            metrics: self.metrics.clone(),
            timeout: self.timeout,
            hsts: self.hsts,
        }
    }
}

/// [`RequestsLayer`]'s service.
#[derive(Clone, Debug)]
pub(crate) struct Requests<S> {
    inner: S,
    metrics: Arc<Metrics>,
    timeout: Duration,
    hsts: bool,
}

impl<S> tower::Service<Request<Body>> for Requests<S>
where
    S: tower::Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let start = Instant::now();
        let id = match req.headers().get(X_REQUEST_ID) {
            Some(id) if acceptable(id) => id.clone(),
            _ => new_id(),
        };
        let context = RequestContext {
            id,
            method: req.method().clone(),
            uri: req.uri().clone(),
        };
        // The router's synchronous part (routing, the layers' `call`) logs with the context too.
        let inner = REQUEST.set(&context, || {
            tracing::debug!("started processing request");
            self.inner.call(req)
        });
        Answer {
            inner,
            deadline: None,
            start,
            timeout: self.timeout,
            context,
            metrics: self.metrics.clone(),
            hsts: self.hsts,
        }
    }
}

/// A client's id is kept if a log line can carry it as it is: 1 to 128 visible ASCII characters.
fn acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_CLIENT_ID).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic)
}

/// Ids a thread writes into one buffer before it takes a new one.
const IDS_PER_BUFFER: usize = 64;

const ID_LEN: usize = uuid::fmt::Hyphenated::LENGTH;

/// One thread's request ids: `xxxxxxxx-xxxx-4xxx-` of a random v4 UUID (the same for the
/// process), then the variant nibble, 16 bits naming the thread and 44 bits of that thread's
/// counter: `8ttt-tccccccccccc`. Each thread counts on its own, so two cores making ids never
/// write one cache line; only the counter's 11 digits are written per id. Ids are written one
/// after another into a shared buffer and handed out as slices of it: one allocation per 64
/// ids, not one per id.
struct Ids {
    counter: u64,
    /// The last id made; the counter's digits are its last 11 characters.
    text: [u8; ID_LEN],
    buf: bytes::BytesMut,
}

impl Ids {
    const COUNTER: u64 = 0xfff_ffff_ffff;

    fn new() -> Self {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static HIGH: OnceLock<u64> = OnceLock::new();
        static THREADS: AtomicU64 = AtomicU64::new(0);
        // The high half of a random v4 UUID, its version nibble included (a v4 UUID always
        // parses).
        let high = *HIGH.get_or_init(|| {
            uuid::Uuid::try_parse(&jwtx::uuid4()).map_or(0x4000, |u| u.as_u64_pair().0)
        });
        let thread = THREADS.fetch_add(1, Ordering::Relaxed) & 0xffff;
        let mut text = [0u8; ID_LEN];
        uuid::Uuid::from_u64_pair(high, (0x8 << 60) | (thread << 44))
            .hyphenated()
            .encode_lower(&mut text);
        Ids {
            counter: 0,
            text,
            buf: bytes::BytesMut::new(),
        }
    }

    fn next(&mut self) -> bytes::Bytes {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.counter;
        // The counter wraps within its 44 bits, never into the thread's.
        self.counter = n.wrapping_add(1) & Self::COUNTER;
        for (i, digit) in self.text[ID_LEN - 11..].iter_mut().enumerate() {
            *digit = HEX[((n >> (4 * (10 - i))) & 0xf) as usize];
        }
        if self.buf.capacity() < ID_LEN {
            self.buf = bytes::BytesMut::with_capacity(ID_LEN * IDS_PER_BUFFER);
        }
        self.buf.extend_from_slice(&self.text);
        self.buf.split().freeze()
    }
}

/// A new request id (see [`Ids`]).
fn new_id() -> HeaderValue {
    thread_local! {
        static IDS: std::cell::RefCell<Ids> = std::cell::RefCell::new(Ids::new());
    }
    let id = IDS.with_borrow_mut(Ids::next);
    // Hexadecimal digits and dashes are always a valid header value.
    HeaderValue::from_maybe_shared(id).unwrap_or(HeaderValue::from_static(""))
}

pin_project_lite::pin_project! {
    /// The router's answer, or 408 at the deadline; then the id header, the latency, the log.
    /// Each poll runs with the request's log context set.
    pub(crate) struct Answer<F> {
        #[pin]
        inner: F,
        // Made when the request first waits.
        deadline: Option<Pin<Box<Sleep>>>,
        start: Instant,
        timeout: Duration,
        context: RequestContext,
        metrics: Arc<Metrics>,
        hsts: bool,
    }
}

impl<F, E> Future for Answer<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let context = &*this.context;
        let answered = REQUEST.set(context, || {
            let mut res = match this.inner.poll(cx) {
                Poll::Ready(Ok(res)) => res,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let at = *this.start + *this.timeout;
                    let deadline = this
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    ready!(deadline.as_mut().poll(cx));
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::REQUEST_TIMEOUT;
                    res
                }
            };
            if *this.hsts {
                res.headers_mut().insert(
                    http::header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                );
            }
            let latency = this.start.elapsed();
            this.metrics.observe(latency);
            let status = res.status().as_u16();
            let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            if res.status().is_server_error() {
                tracing::error!(status, latency_us, "response failed");
            } else {
                tracing::debug!(status, latency_us, "finished processing request");
            }
            Poll::Ready(Ok(res))
        });
        let mut res = ready!(answered)?;
        // The request's last log line is written: its id moves to the response.
        let id = std::mem::replace(&mut this.context.id, HeaderValue::from_static(""));
        res.headers_mut().insert(X_REQUEST_ID, id);
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logging::Captured;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router behind the layer: `/audit` logs an audit line, `/fail` answers 500, `/slow`
    /// never answers.
    fn router(metrics: &Arc<Metrics>) -> axum::Router {
        axum::Router::new()
            .route(
                "/audit",
                get(|| async {
                    tracing::info!(target: "audit", event = "login", "audited");
                    "ok"
                }),
            )
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/slow", get(std::future::pending::<()>))
            .layer(RequestsLayer::new(metrics.clone(), Duration::from_secs(30)))
    }

    async fn send(router: &axum::Router, uri: &str, id: Option<&[u8]>) -> Response {
        let mut req = Request::get(uri);
        if let Some(id) = id {
            req = req.header(X_REQUEST_ID, HeaderValue::from_bytes(id).unwrap());
        }
        router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn response_id(res: &Response) -> String {
        res.headers()[X_REQUEST_ID].to_str().unwrap().to_owned()
    }

    fn observed(metrics: &Metrics) -> String {
        let text = metrics.render(Default::default());
        text.lines()
            .find(|l| l.starts_with("jwtx_http_request_duration_seconds_count "))
            .unwrap()
            .to_owned()
    }

    /// Each line a handler logs names its request: the id the response carries, the method
    /// and the path without the query string; a client's acceptable id is kept, any other is
    /// replaced; every response is counted in the latency histogram.
    #[tokio::test(flavor = "current_thread")]
    async fn a_handlers_log_lines_name_the_request_the_response_answers() {
        let metrics = Arc::new(Metrics::default());
        let router = router(&metrics);
        let logs = Captured::default();
        let _guard = tracing::dispatcher::set_default(&logs.dispatch(LogFormat::Text));

        let own = send(&router, "/audit?access_token=secret", None).await;
        let kept = send(&router, "/audit", Some(b"client-id-1")).await;
        let replaced = send(&router, "/audit", Some(b"has space")).await;
        let long = send(&router, "/audit", Some(&[b'x'; 129])).await;
        let ids = [&own, &kept, &replaced, &long].map(response_id);
        assert_eq!(ids[1], "client-id-1");
        for id in [&ids[0], &ids[2], &ids[3]] {
            assert_eq!(id.len(), 36, "{id}");
        }
        assert!(ids[2] != ids[0] && ids[3] != ids[2]);

        let lines = logs.lines();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        for (line, id) in lines.iter().zip(&ids) {
            let expected = format!(
                r#"INFO request{{id="{id}" method=GET path=/audit}}: audit: audited event="login""#
            );
            assert!(line.ends_with(&expected), "{line}\n{expected}");
        }
        assert!(lines.iter().all(|l| !l.contains("secret")));
        assert_eq!(
            observed(&metrics),
            "jwtx_http_request_duration_seconds_count 4"
        );
    }

    /// A 5xx response is logged at ERROR with its status, in the request's context.
    #[tokio::test(flavor = "current_thread")]
    async fn a_server_error_is_logged_with_its_request() {
        let metrics = Arc::new(Metrics::default());
        let router = router(&metrics);
        let logs = Captured::default();
        let _guard = tracing::dispatcher::set_default(&logs.dispatch(LogFormat::Json));
        let res = send(&router, "/fail", Some(b"abc")).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response_id(&res), "abc");
        let lines = logs.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["message"], "response failed");
        assert_eq!(line["fields"]["status"], 500);
        assert_eq!(
            line["span"],
            serde_json::json!({"id": "abc", "method": "GET", "path": "/fail", "name": "request"})
        );
    }

    /// A request that never answers gets 408, with its id, at the deadline and not before.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_request_that_never_answers_gets_408_at_the_deadline() {
        let metrics = Arc::new(Metrics::default());
        let router = router(&metrics);
        let started = Instant::now();
        let res = send(&router, "/slow", Some(b"slow-1")).await;
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response_id(&res), "slow-1");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert_eq!(
            observed(&metrics),
            "jwtx_http_request_duration_seconds_count 1"
        );
    }

    #[test]
    fn new_ids_are_uuid_shaped_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let id = id.to_str().unwrap();
            let groups: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes()
                    .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
            assert!(groups[2].starts_with('4') && groups[3].starts_with('8'));
            assert!(acceptable(&HeaderValue::from_str(id).unwrap()));
        }
        // Each thread counts on its own: ids made at once on several threads never repeat.
        let made: Vec<Vec<HeaderValue>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| new_id()).collect()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let all: std::collections::HashSet<HeaderValue> = made.into_iter().flatten().collect();
        assert_eq!(all.len(), 4000);
    }

    /// A thread's ids count up in their last 11 digits, across its buffers (an id handed out
    /// stays as it was made), and the counter wraps without touching the thread's digits.
    #[test]
    fn a_threads_ids_count_up_and_wrap_within_the_counter() {
        let tail = |id: &[u8]| {
            u64::from_str_radix(std::str::from_utf8(&id[ID_LEN - 11..]).unwrap(), 16).unwrap()
        };
        let mut ids = Ids::new();
        ids.counter = 0xe;
        let made: Vec<bytes::Bytes> = (0..3 * IDS_PER_BUFFER).map(|_| ids.next()).collect();
        for (i, id) in made.iter().enumerate() {
            assert_eq!(tail(id), 0xe + i as u64);
            assert_eq!(id[..ID_LEN - 11], made[0][..ID_LEN - 11]);
        }
        ids.counter = Ids::COUNTER;
        let (last, first) = (ids.next(), ids.next());
        assert_eq!((tail(&last), tail(&first)), (Ids::COUNTER, 0));
        assert_eq!(last[..ID_LEN - 11], first[..ID_LEN - 11]);
    }

    #[test]
    fn a_client_id_is_kept_only_if_a_log_line_can_carry_it() {
        let ok = |s: &[u8]| acceptable(&HeaderValue::from_bytes(s).unwrap());
        assert!(ok(b"abc-123"));
        assert!(ok(b"{\"quoted\"}"));
        assert!(ok(&[b'x'; MAX_CLIENT_ID]));
        assert!(!ok(&[b'x'; MAX_CLIENT_ID + 1]));
        assert!(!ok(b""));
        assert!(!ok(b"two words"));
        assert!(!ok(b"tab\there"));
        assert!(!ok("caf\u{e9}".as_bytes()));
    }
}
