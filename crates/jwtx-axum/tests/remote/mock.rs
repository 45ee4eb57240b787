//! An in-test issuer on 127.0.0.1: a JWKS (with a fetch counter, a settable body, status and
//! Cache-Control) and a revocation feed (pages and an event stream, per the feed protocol),
//! both switchable off.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

pub const CREDENTIAL: &str = "jwtxsvc_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

/// What `/jwks` answers.
#[derive(Clone, Debug)]
pub struct JwksReply {
    pub status: u16,
    pub body: String,
    pub cache_control: Option<String>,
}

/// The revocation log the feed serves.
#[derive(Debug)]
pub struct Log {
    pub epoch: String,
    /// seq → canonical entry JSON.
    pub entries: BTreeMap<u64, String>,
    /// The head (the highest seq ever appended, even if purged).
    pub head: u64,
}

#[derive(Debug)]
pub struct Issuer {
    pub addr: SocketAddr,
    pub jwks: Mutex<JwksReply>,
    pub jwks_fetches: AtomicUsize,
    /// When each JWKS fetch arrived.
    pub jwks_times: Mutex<Vec<Instant>>,
    /// Answers to anything under /jku (must never be asked for).
    pub jku_hits: AtomicUsize,
    pub log: Mutex<Log>,
    /// Wakes the streams: the log changed.
    pub grew: Notify,
    /// The feed answers 503 and its streams end.
    pub feed_down: AtomicBool,
    /// Streams are refused (the follower must poll pages).
    pub no_stream: AtomicBool,
    /// `after` of each feed request, with whether it asked for a stream.
    pub feed_requests: Mutex<Vec<(u64, bool)>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Issuer {
    /// Starts an issuer serving `jwks` (200, no Cache-Control) and an empty log of epoch "e1".
    pub async fn start(jwks: String) -> Arc<Issuer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = Arc::new(Issuer {
            addr,
            jwks: Mutex::new(JwksReply {
                status: 200,
                body: jwks,
                cache_control: None,
            }),
            jwks_fetches: AtomicUsize::new(0),
            jwks_times: Mutex::new(Vec::new()),
            jku_hits: AtomicUsize::new(0),
            log: Mutex::new(Log {
                epoch: "e1".into(),
                entries: BTreeMap::new(),
                head: 0,
            }),
            grew: Notify::new(),
            feed_down: AtomicBool::new(false),
            no_stream: AtomicBool::new(false),
            feed_requests: Mutex::new(Vec::new()),
            task: Mutex::new(None),
        });
        issuer.serve(listener);
        issuer
    }

    fn serve(self: &Arc<Self>, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route(
                "/redirect",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/jwks")], "") }),
            )
            .route("/big", get(big))
            .route("/jku", get(jku))
            .route("/revocations", get(feed))
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stops listening: connections are refused until [`resume`](Self::resume).
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
        self.feed_down.store(true, Ordering::SeqCst);
        self.grew.notify_waiters();
    }

    /// Listens again on the same address.
    pub async fn resume(self: &Arc<Self>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.feed_down.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set_jwks(&self, body: String) {
        self.jwks.lock().unwrap().body = body;
    }

    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Appends an entry (canonical JSON) to the log; returns its seq.
    pub fn append(&self, entry: Value) -> u64 {
        let seq = {
            let mut log = self.log.lock().unwrap();
            log.head += 1;
            let seq = log.head;
            log.entries.insert(seq, entry.to_string());
            seq
        };
        self.grew.notify_waiters();
        seq
    }

    /// Replaces the log (a new store): `epoch`, these entries from seq 1, head as given.
    pub fn replace_log(&self, epoch: &str, entries: Vec<Value>, head: u64) {
        {
            let mut log = self.log.lock().unwrap();
            log.epoch = epoch.to_owned();
            log.entries = entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, e.to_string()))
                .collect();
            log.head = head.max(log.entries.len() as u64);
        }
        self.grew.notify_waiters();
    }

    /// Removes entry `seq` (as a purge would).
    pub fn remove(&self, seq: u64) {
        self.log.lock().unwrap().entries.remove(&seq);
        self.grew.notify_waiters();
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }
}

async fn jwks(State(issuer): State<Arc<Issuer>>) -> Response {
    issuer.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    issuer.jwks_times.lock().unwrap().push(Instant::now());
    let reply = issuer.jwks.lock().unwrap().clone();
    let mut res = (
        StatusCode::from_u16(reply.status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response();
    if let Some(cc) = reply.cache_control {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    res
}

/// The current JWKS padded past 64 KiB with whitespace (still a valid document).
async fn big(State(issuer): State<Arc<Issuer>>) -> Response {
    let body = issuer.jwks.lock().unwrap().body.clone();
    let padded = format!("{body}{}", " ".repeat(70 * 1024));
    ([(header::CONTENT_TYPE, "application/json")], padded).into_response()
}

async fn jku(State(issuer): State<Arc<Issuer>>) -> &'static str {
    issuer.jku_hits.fetch_add(1, Ordering::SeqCst);
    "{}"
}

fn msg(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "msg": text }))).into_response()
}

async fn feed(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {CREDENTIAL}") {
        let mut r = msg(StatusCode::UNAUTHORIZED, "Bad credential");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"jwtx revocations\"".parse().unwrap(),
        );
        return r;
    }
    let Ok(after) = q.get("after").map_or(Ok(0), |a| a.parse::<u64>()) else {
        return msg(StatusCode::BAD_REQUEST, "bad after");
    };
    let stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    issuer.feed_requests.lock().unwrap().push((after, stream));
    if issuer.feed_down.load(Ordering::SeqCst) {
        return msg(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    {
        let log = issuer.log.lock().unwrap();
        if after > log.head {
            return (
                StatusCode::CONFLICT,
                axum::Json(json!({
                    "msg": "after is beyond the head of the revocation log: resync from 0",
                    "epoch": log.epoch,
                    "head": log.head,
                })),
            )
                .into_response();
        }
    }
    if stream && !issuer.no_stream.load(Ordering::SeqCst) {
        let heartbeat = q
            .get("heartbeat")
            .and_then(|h| h.parse::<u64>().ok())
            .unwrap_or(1000)
            .clamp(100, 30_000);
        return sse(issuer, after, Duration::from_millis(heartbeat));
    }
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(1000);
    let log = issuer.log.lock().unwrap();
    let entries: Vec<Value> = log
        .entries
        .range(after + 1..)
        .take(limit)
        .map(|(seq, e)| json!({ "seq": seq, "entry": serde_json::from_str::<Value>(e).unwrap() }))
        .collect();
    let next = entries
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(after);
    let more = entries.len() == limit;
    axum::Json(json!({ "epoch": log.epoch, "entries": entries, "next": next, "more": more }))
        .into_response()
}

/// The event stream: entries after `after`, a heartbeat after each read that reached the
/// head, reads every `heartbeat` and when the log grows; ends when the feed goes down.
fn sse(issuer: Arc<Issuer>, after: u64, heartbeat: Duration) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            let grew = issuer.grew.notified();
            if issuer.feed_down.load(Ordering::SeqCst) {
                let _ = tx
                    .send(Bytes::from(
                        "event: error\ndata: {\"msg\":\"store unavailable\"}\n\n",
                    ))
                    .await;
                return;
            }
            let (events, epoch) = {
                let log = issuer.log.lock().unwrap();
                let mut out = String::new();
                for (seq, e) in log.entries.range(cursor + 1..) {
                    out.push_str(&format!(
                        "event: revocation\nid: {seq}\ndata: {{\"seq\":{seq},\"entry\":{e}}}\n\n"
                    ));
                    cursor = *seq;
                }
                (out, log.epoch.clone())
            };
            let beat = format!(
                "{events}event: heartbeat\ndata: {{\"epoch\":\"{epoch}\",\"next\":{cursor}}}\n\n"
            );
            if tx.send(Bytes::from(beat)).await.is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(heartbeat) => {}
                () = grew => {}
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap()
}
