//! `GET /revocations`, the revocation feed, through jwtx-auth's router in process (the memory
//! store, and SQLite where the store matters): the credential checks and their throttle, the
//! parameters, the 409 beyond the head, bounded pages whose entries are the log's canonical
//! entries, and the event stream (prompt entries, heartbeats within the clamp, the end of a
//! stream when its credential is removed or the process stops).

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use jwtx::store::memory::MemoryStore;
use jwtx::store::{Revocation, RevocationStore, Service, ServiceCredential, ServiceStore};
use jwtx::{Algorithm, Codec, Key, NumericDate};
use jwtx_auth::{Auth, AuthStore};
use serde_json::Value;
use tower::ServiceExt;

const CLIENT: [u8; 4] = [192, 0, 2, 1];

/// A feed over `store`: its router, and the credential of service `billing`.
async fn feed<S>(store: Arc<S>) -> (Auth, Router, ServiceCredential)
where
    S: AuthStore + ServiceStore + 'static,
{
    let credential = ServiceCredential::generate();
    store
        .add_service(Service {
            name: "billing".into(),
            digest: credential.digest(),
            created_at: now(),
        })
        .await
        .unwrap();
    let codec = Codec::new(Key::hmac(Algorithm::HS256, &[7; 32]).unwrap());
    let auth = Auth::builder(store.clone() as Arc<dyn AuthStore>, codec)
        .services(store as Arc<dyn ServiceStore>)
        .build()
        .await
        .unwrap();
    let router = jwtx_auth::router(auth.clone());
    (auth, router, credential)
}

fn now() -> NumericDate {
    jwtx::Clock::now(&jwtx::SystemClock)
}

/// GET `uri` from `ip`, with `credential` as the bearer, as a stream when `stream`.
async fn get(
    app: &Router,
    uri: &str,
    credential: Option<&str>,
    ip: [u8; 4],
    stream: bool,
) -> Response<Body> {
    let mut req = Request::get(uri);
    if let Some(c) = credential {
        req = req.header(header::AUTHORIZATION, format!("Bearer {c}"));
    }
    if stream {
        req = req.header(header::ACCEPT, "text/event-stream");
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
    app.clone().oneshot(req).await.unwrap()
}

async fn text(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A page: status, body text and body JSON.
async fn page(
    app: &Router,
    uri: &str,
    credential: &ServiceCredential,
) -> (StatusCode, String, Value) {
    let res = get(app, uri, Some(credential.expose()), CLIENT, false).await;
    let status = res.status();
    let body = text(res).await;
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, body, json)
}

/// One entry of every kind, and one long expired (never returned).
fn entries() -> Vec<Revocation> {
    let until = now() + 3_600;
    vec![
        Revocation::Token {
            jti: jwtx::uuid4(),
            until,
        },
        Revocation::Session {
            id: "s1".into(),
            until,
        },
        Revocation::user("alice", now(), 900, Some("s2")),
        Revocation::Key {
            kid: "k-old".into(),
            until,
        },
        Revocation::KeysChanged {
            kid: "k-new".into(),
            until,
        },
    ]
}

async fn append(store: &dyn RevocationStore, entries: &[Revocation]) -> Vec<u64> {
    let mut ids = Vec::new();
    for r in entries {
        ids.push(store.revoke(r.clone()).await.unwrap());
    }
    ids
}

#[tokio::test]
async fn without_a_valid_credential_every_request_is_401() {
    let store = Arc::new(MemoryStore::new());
    let (_, app, credential) = feed(store.clone()).await;
    let other = ServiceCredential::generate();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    let mut cases: Vec<Option<String>> = vec![
        None,
        Some(other.expose().to_owned()),
        Some(jwt.to_owned()),
        Some(format!("{}x", credential.expose())),
        Some(credential.expose().to_uppercase()),
        Some(String::new()),
    ];
    // A removed service's credential, last: it was valid a moment before.
    cases.push(Some(credential.expose().to_owned()));
    let (status, _, _) = page(&app, "/revocations", &credential).await;
    assert_eq!(status, StatusCode::OK);
    for (i, presented) in cases.iter().enumerate() {
        if i == cases.len() - 1 {
            assert!(store.remove_service("billing").await.unwrap());
        }
        for stream in [false, true] {
            let res = get(
                &app,
                "/revocations",
                presented.as_deref(),
                [10, 0, 0, i as u8],
                stream,
            )
            .await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{presented:?}");
            assert_eq!(
                res.headers()[header::WWW_AUTHENTICATE],
                "Bearer realm=\"jwtx revocations\""
            );
            let body: Value = serde_json::from_str(&text(res).await).unwrap();
            assert!(
                body["msg"].as_str().unwrap().contains("credential"),
                "{body}"
            );
        }
    }
    // A JWT is no credential here, nor a credential sent as a cookie or in the query.
    let res = get(
        &app,
        &format!("/revocations?access_token={}", credential.expose()),
        None,
        [10, 0, 1, 1],
        false,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_parameters_are_400_and_a_cursor_beyond_the_head_is_409() {
    let store = Arc::new(MemoryStore::new());
    let (_, app, credential) = feed(store.clone()).await;
    let ids = append(&*store, &entries()).await;
    for query in [
        "after=",
        "after=-1",
        "after=abc",
        "after=1.5",
        "after=18446744073709551616",
        "after=1&after=2",
        "limit=0",
        "limit=1001",
        "limit=x",
        "heartbeat=soon",
    ] {
        let (status, body, json) = page(&app, &format!("/revocations?{query}"), &credential).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(json["msg"].is_string(), "{query}: {body}");
    }
    let head = *ids.last().unwrap();
    let epoch = store.log_position().await.unwrap().epoch;
    for stream in [false, true] {
        let res = get(
            &app,
            &format!("/revocations?after={}", head + 1),
            Some(credential.expose()),
            CLIENT,
            stream,
        )
        .await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body: Value = serde_json::from_str(&text(res).await).unwrap();
        assert_eq!(body["epoch"], epoch.as_str());
        assert_eq!(body["head"], head);
        assert!(body["msg"].as_str().unwrap().contains("resync from 0"));
    }
    // At the head: an empty page that reached it.
    let (status, _, json) = page(&app, &format!("/revocations?after={head}"), &credential).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["entries"], Value::Array(vec![]));
    assert_eq!(
        (json["next"].as_u64(), json["more"].as_bool()),
        (Some(head), Some(false))
    );
}

/// Pages of `limit`, followed by `next` while `more`, give the log's live entries in order,
/// each the canonical entry object; the long-expired one is left out.
async fn pages_follow_the_log<S>(store: Arc<S>)
where
    S: AuthStore + ServiceStore + 'static,
{
    let (_, app, credential) = feed(store.clone()).await;
    let expired = Revocation::Token {
        jti: jwtx::uuid4(),
        until: 1,
    };
    let mut written = entries();
    written.insert(2, expired.clone());
    let ids = append(&*store, &written).await;
    let want: Vec<(u64, Revocation)> = ids
        .iter()
        .copied()
        .zip(written)
        .filter(|(_, r)| *r != expired)
        .collect();
    let epoch = store.log_position().await.unwrap().epoch;

    let mut got: Vec<(u64, String)> = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let (status, body, json) = page(
            &app,
            &format!("/revocations?after={after}&limit=2"),
            &credential,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json["epoch"], epoch.as_str());
        let entries = json["entries"].as_array().unwrap();
        assert!(entries.len() <= 2, "{body}");
        for e in entries {
            let seq = e["seq"].as_u64().unwrap();
            // The entry as the log's canonical text, byte for byte (its key order included).
            let canonical = want.iter().find(|(id, _)| *id == seq).unwrap().1.to_entry();
            assert!(
                body.contains(&format!("{{\"seq\":{seq},\"entry\":{canonical}}}")),
                "{body}"
            );
            got.push((seq, canonical));
        }
        pages += 1;
        let more = json["more"].as_bool().unwrap();
        assert_eq!(more, entries.len() == 2, "{body}");
        let next = json["next"].as_u64().unwrap();
        assert_eq!(
            next,
            entries.last().map_or(after, |e| e["seq"].as_u64().unwrap())
        );
        after = next;
        if !more {
            break;
        }
    }
    let want: Vec<(u64, String)> = want.into_iter().map(|(id, r)| (id, r.to_entry())).collect();
    assert_eq!(got, want);
    assert_eq!(pages, 3, "5 entries in pages of 2, the last one short");
    // The default page holds everything at once.
    let (_, _, json) = page(&app, "/revocations", &credential).await;
    assert_eq!(json["entries"].as_array().unwrap().len(), 5);
    assert_eq!(json["more"], false);
}

#[tokio::test]
async fn pages_follow_the_log_on_the_memory_store() {
    pages_follow_the_log(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn pages_follow_the_log_on_sqlite() {
    pages_follow_the_log(Arc::new(jwtx_sqlx::SqliteStore::in_memory().await.unwrap())).await;
}

/// A store that cannot be read: 503 (nothing is vouched for downstream).
#[tokio::test]
async fn a_store_that_cannot_be_read_is_503() {
    let store = Arc::new(jwtx_sqlx::SqliteStore::in_memory().await.unwrap());
    let (_, app, credential) = feed(store.clone()).await;
    store.close().await;
    let (status, body, json) = page(&app, "/revocations", &credential).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(json["msg"].is_string());
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled() {
    let store = Arc::new(MemoryStore::new());
    let (_, app, credential) = feed(store).await;
    let wrong = ServiceCredential::generate();
    for _ in 0..jwtx_auth::MAX_FAILURES {
        let res = get(&app, "/revocations", Some(wrong.expose()), CLIENT, false).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // From then on this address is refused before any check, a right credential too.
    for presented in [wrong.expose(), credential.expose()] {
        let res = get(&app, "/revocations", Some(presented), CLIENT, false).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    // Another address is not.
    let res = get(
        &app,
        "/revocations",
        Some(credential.expose()),
        [192, 0, 2, 2],
        false,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Successes never count: a follower polling without pause is never throttled.
    for _ in 0..3 * jwtx_auth::MAX_FAILURES {
        let res = get(
            &app,
            "/revocations",
            Some(credential.expose()),
            [192, 0, 2, 3],
            false,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

/// The events of a stream's body, one at a time.
struct Events {
    body: Body,
    buf: String,
}

#[derive(Debug)]
struct Event {
    kind: String,
    id: Option<String>,
    data: Value,
    raw: String,
}

impl Events {
    fn of(res: Response<Body>) -> Events {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        Events {
            body: res.into_body(),
            buf: String::new(),
        }
    }

    /// The next event within `within`; `None` if the stream ended.
    async fn next(&mut self, within: Duration) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let mut kind = String::new();
                let (mut id, mut data) = (None, Value::Null);
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap();
                    } else if !line.is_empty() {
                        panic!("unexpected line {line:?}");
                    }
                }
                return Some(Event {
                    kind,
                    id,
                    data,
                    raw,
                });
            }
            let frame = tokio::time::timeout(within, self.body.frame())
                .await
                .expect("no event in time");
            match frame {
                None => return None,
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next event, which must be of `kind`.
    async fn expect(&mut self, kind: &str, within: Duration) -> Event {
        let e = self.next(within).await.expect("the stream ended");
        assert_eq!(e.kind, kind, "{e:?}");
        e
    }
}

const GENEROUS: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_stream_sends_the_backlog_then_new_entries_at_once() {
    let store = Arc::new(MemoryStore::new());
    let (auth, app, credential) = feed(store.clone()).await;
    let backlog = append(&*store, &entries()[..3]).await;
    let epoch = store.log_position().await.unwrap().epoch;
    // The longest heartbeat (30 s): an entry that arrives well before it came at once.
    let res = get(
        &app,
        &format!("/revocations?after={}&heartbeat=60000&limit=2", backlog[0]),
        Some(credential.expose()),
        CLIENT,
        true,
    )
    .await;
    let mut events = Events::of(res);
    for id in &backlog[1..] {
        let e = events.expect("revocation", GENEROUS).await;
        assert_eq!(e.id.as_deref(), Some(id.to_string().as_str()));
        assert_eq!(e.data["seq"], *id);
    }
    let hb = events.expect("heartbeat", GENEROUS).await;
    assert_eq!(hb.data["epoch"], epoch.as_str());
    assert_eq!(hb.data["next"], backlog[2]);

    // Appended by this process (a logout, a revoke): pushed within the generous margin, far
    // sooner than the 30 s heartbeat would have read it.
    let started = std::time::Instant::now();
    let fresh = entries()[4].clone();
    auth.revoke(fresh.clone()).await.unwrap();
    let e = events.expect("revocation", GENEROUS).await;
    assert!(started.elapsed() < GENEROUS);
    let id = store.log_position().await.unwrap().head;
    assert_eq!(e.data["seq"], id);
    assert!(
        e.raw.contains(&format!(
            "data: {{\"seq\":{id},\"entry\":{}}}\n",
            fresh.to_entry()
        )),
        "{}",
        e.raw
    );
    let hb = events.expect("heartbeat", GENEROUS).await;
    assert_eq!(hb.data["next"], id);
}

/// Heartbeats come every `heartbeat` milliseconds, clamped to 100 ms … 30 s: on a paused clock,
/// when due (to the timer's millisecond).
#[tokio::test]
async fn heartbeats_keep_the_clamped_interval() {
    let store = Arc::new(MemoryStore::new());
    let (_, app, credential) = feed(store).await;
    tokio::time::pause();
    for (asked, every) in [
        ("1", Duration::from_millis(100)),
        ("250", Duration::from_millis(250)),
        ("999999999", Duration::from_secs(30)),
    ] {
        let res = get(
            &app,
            &format!("/revocations?heartbeat={asked}"),
            Some(credential.expose()),
            CLIENT,
            true,
        )
        .await;
        let mut events = Events::of(res);
        events.expect("heartbeat", GENEROUS).await;
        for _ in 0..3 {
            let t = tokio::time::Instant::now();
            events.expect("heartbeat", Duration::from_secs(60)).await;
            // The timer wheel's millisecond rounds a deadline up.
            let elapsed = t.elapsed();
            assert!(
                every <= elapsed && elapsed <= every + Duration::from_millis(2),
                "heartbeat={asked}: {elapsed:?}"
            );
        }
    }
}

#[tokio::test]
async fn removing_the_credential_ends_its_open_streams() {
    let store = Arc::new(MemoryStore::new());
    let (_, app, credential) = feed(store.clone()).await;
    let res = get(
        &app,
        "/revocations?heartbeat=100",
        Some(credential.expose()),
        CLIENT,
        true,
    )
    .await;
    let mut events = Events::of(res);
    events.expect("heartbeat", GENEROUS).await;
    events.expect("heartbeat", GENEROUS).await;
    assert!(store.remove_service("billing").await.unwrap());
    // Within a heartbeat or two (the margin is generous): an error event, then the end.
    loop {
        let e = events
            .next(GENEROUS)
            .await
            .expect("ended without an error event");
        if e.kind == "error" {
            assert!(e.data["msg"].as_str().unwrap().contains("removed"), "{e:?}");
            break;
        }
        assert_eq!(e.kind, "heartbeat");
    }
    assert!(events.next(GENEROUS).await.is_none());
}

#[tokio::test]
async fn streams_end_when_the_process_stops() {
    let store = Arc::new(MemoryStore::new());
    let (auth, app, credential) = feed(store).await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let maintained = tokio::spawn(auth.clone().maintain(stopping));
    let res = get(
        &app,
        "/revocations?heartbeat=30000",
        Some(credential.expose()),
        CLIENT,
        true,
    )
    .await;
    let mut events = Events::of(res);
    events.expect("heartbeat", GENEROUS).await;
    stop.send(true).unwrap();
    assert!(events.next(GENEROUS).await.is_none(), "the stream goes on");
    maintained.await.unwrap();
    // A stream opened after the stop ends at once, after its first read.
    let res = get(
        &app,
        "/revocations",
        Some(credential.expose()),
        CLIENT,
        true,
    )
    .await;
    let mut events = Events::of(res);
    events.expect("heartbeat", GENEROUS).await;
    assert!(events.next(GENEROUS).await.is_none());
}
