#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Login limits through the router in process, on the in-memory store: the password rule on
//! `POST /password`, its throttle, and the bounds on the Argon2 work queued per username and in
//! all. Client addresses are set per request (`ConnectInfo`), so a flood can come from many.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use jwtx::SystemClock;
use jwtx::store::memory::MemoryStore;
use jwtx_auth::passwords::{Argon2Params, PasswordHasher, QueueLimits};
use jwtx_server::server::{self, AppState};
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

/// A server state with one user, `testuser` / `testpass`, checked by `hasher`.
async fn state(hasher: PasswordHasher) -> AppState {
    let store = Arc::new(MemoryStore::new());
    support::state::on(store, Arc::new(SystemClock), 86_400, hasher).await
}

/// The default (OWASP minimum) Argon2id parameters.
fn default_hasher() -> PasswordHasher {
    PasswordHasher::new(Argon2Params::default()).unwrap()
}

/// A client address: 198.51.100.0/24 plus `n` (distinct /32s, each its own throttle budget).
fn addr(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc633_6400 + n))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn send(state: &AppState, mut req: Request<Body>, ip: IpAddr) -> Answer {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
    let res = server::app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn login(state: &AppState, user: &str, password: &str, ip: IpAddr) -> Answer {
    let body = json!({"username": user, "password": password}).to_string();
    let req = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    send(state, req, ip).await
}

async fn change_password(
    state: &AppState,
    token: &str,
    current: &str,
    new: &str,
    ip: IpAddr,
) -> Answer {
    let body = json!({"current_password": current, "new_password": new}).to_string();
    let req = Request::post("/password")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    send(state, req, ip).await
}

/// A fresh access token for testuser, logging in from `ip`.
async fn fresh_token(state: &AppState, ip: IpAddr) -> String {
    let a = login(state, "testuser", "testpass", ip).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["access_token"].as_str().unwrap().to_owned()
}

/// Eight combining marks are one invisible "character" stacked on nothing: refused as a new
/// password, like a seven-character one; eight visible characters, however written, are fine,
/// and the changed password logs in in any NFKC-equivalent form.
#[tokio::test]
async fn the_new_password_rule_counts_what_a_person_sees() {
    let state = state(default_hasher()).await;
    let ip = addr(1);
    let token = fresh_token(&state, ip).await;
    let marks = "\u{301}".repeat(8);
    for new in [
        marks.as_str(),
        "\u{200B}\u{200B}\u{200B}\u{200B}abcd",
        "seven77",
    ] {
        let a = change_password(&state, &token, "testpass", new, ip).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{new:?}: {a:?}");
        let msg = a.body["msg"].as_str().unwrap();
        assert!(msg.contains("at least 8 characters"), "{msg}");
    }
    // Decomposed on the way in (e + U+0301), precomposed at login: the same password.
    let decomposed = "cafe\u{301}-cre\u{300}me";
    let a = change_password(&state, &token, "testpass", decomposed, ip).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(
        login(&state, "testuser", "café-crème", ip).await.status,
        StatusCode::OK
    );
    assert_eq!(
        login(&state, "testuser", decomposed, ip).await.status,
        StatusCode::OK
    );
}

/// Finding 5: wrong current passwords on `POST /password` count with the login throttle's
/// failures for that username and address (5 per 5 minutes by default), then 429 with
/// `Retry-After` before any Argon2 work, as `/login` answers; another address is unaffected.
#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let state = state(default_hasher()).await;
    let ip = addr(2);
    let token = fresh_token(&state, ip).await;
    let mut statuses = Vec::new();
    let mut throttled = None;
    for i in 0..30 {
        let before = state.auth.hasher().verifications();
        let a = change_password(
            &state,
            &token,
            &format!("guess {i}"),
            "a new passphrase",
            ip,
        )
        .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                state.auth.hasher().verifications(),
                before,
                "refused before hashing"
            );
            throttled.get_or_insert(a.clone());
        }
        statuses.push(a.status.as_u16());
    }
    let limit = state.limits.config().failures_per_user_ip as usize;
    assert_eq!(statuses[..limit], vec![401; limit][..], "{statuses:?}");
    assert_eq!(statuses[limit..], vec![429; 30 - limit][..], "{statuses:?}");
    let throttled = throttled.unwrap();
    let secs: u64 = throttled.retry_after.unwrap().parse().unwrap();
    assert!((1..=300).contains(&secs), "{secs}");
    assert_eq!(
        throttled.body,
        json!({"msg": "Too many login attempts; try again later"})
    );
    // Even the right password waits now, from that address; /login counts the same failures.
    let right = change_password(&state, &token, "testpass", "a new passphrase", ip).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    let a = login(&state, "testuser", "testpass", ip).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{a:?}");
    // Another address has its own count.
    let other = change_password(&state, &token, "testpass", "a new passphrase", addr(3)).await;
    assert_eq!(other.status, StatusCode::OK, "{other:?}");
}

/// One hashing thread, the OWASP memory cost and 8 passes (about four times the default's
/// time), so a flood of 40 requests, which arrives within milliseconds, meets a queue that
/// takes hundreds of milliseconds to drain.
fn slow_hasher(limits: QueueLimits) -> PasswordHasher {
    let params = Argon2Params {
        iterations: 8,
        ..Argon2Params::default()
    };
    PasswordHasher::with_limits(params, 1, limits).unwrap()
}

/// `n` concurrent bogus logins, one per address from `first_addr` on, for `user(i)`; the
/// answers (in request order) and how long each took.
async fn flood(
    state: &AppState,
    n: u32,
    first_addr: u32,
    user: impl Fn(u32) -> String,
) -> Vec<(Answer, Duration)> {
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            let state = state.clone();
            let user = user(i);
            tokio::spawn(async move {
                let started = Instant::now();
                let a = login(&state, &user, &format!("guess {i}"), addr(first_addr + i)).await;
                (a, started.elapsed())
            })
        })
        .collect();
    let mut out = Vec::new();
    for job in jobs {
        out.push(job.await.unwrap());
    }
    out
}

fn count(answers: &[(Answer, Duration)], status: StatusCode) -> usize {
    answers.iter().filter(|(a, _)| a.status == status).count()
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .unwrap_or_else(|| panic!("no {line_prefix} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn metrics(state: &AppState) -> String {
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let res = server::app(state.clone()).oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Finding 6: 40 concurrent bogus logins for one name from 40 addresses (each far under the
/// per-address limits). Four verifications queue for the name; the other 36 get 429 with
/// `Retry-After` at once, without Argon2 work, and long before the queued ones are answered.
/// Meanwhile the owner, from the address they logged in from before, is let past the name's
/// bound and logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_for_one_name_is_bounded_and_its_owner_still_logs_in() {
    let state = state(slow_hasher(QueueLimits {
        per_user: 4,
        total: 64,
    }))
    .await;
    let home = addr(0);
    assert_eq!(
        login(&state, "testuser", "testpass", home).await.status,
        StatusCode::OK
    );
    let verifications = state.auth.hasher().verifications();

    let attack = {
        let state = state.clone();
        tokio::spawn(async move { flood(&state, 40, 100, |_| "testuser".to_owned()).await })
    };
    // The owner logs in while the name's queue is full.
    while state.auth.hasher().queued() < 4 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    let owner = login(&state, "testuser", "testpass", home).await;
    let owner_took = started.elapsed();
    assert_eq!(owner.status, StatusCode::OK, "{owner:?}");
    let answers = attack.await.unwrap();

    assert_eq!(count(&answers, StatusCode::UNAUTHORIZED), 4, "{answers:?}");
    assert_eq!(
        count(&answers, StatusCode::TOO_MANY_REQUESTS),
        36,
        "{answers:?}"
    );
    let slowest_refusal = answers
        .iter()
        .filter(|(a, _)| a.status == StatusCode::TOO_MANY_REQUESTS)
        .map(|(a, took)| {
            assert_eq!(
                a.body,
                json!({"msg": "Too many login attempts; try again later"})
            );
            let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
            *took
        })
        .max()
        .unwrap();
    let slowest_answer = answers.iter().map(|(_, took)| *took).max().unwrap();
    assert!(
        slowest_refusal < slowest_answer,
        "refusals ({slowest_refusal:?}) do not wait for the queue ({slowest_answer:?})"
    );
    // Only the four queued guesses and the owner ran Argon2.
    assert_eq!(state.auth.hasher().verifications(), verifications + 5);
    eprintln!(
        "owner's login under the flood: {owner_took:?}; slowest 429: {slowest_refusal:?}; \
         slowest answer: {slowest_answer:?}"
    );

    let text = metrics(&state).await;
    assert_eq!(metric(&text, "jwtx_logins_total{result=\"throttled\"}"), 36);
    assert_eq!(
        metric(&text, "jwtx_password_queue_refusals_total{bound=\"user\"}"),
        36
    );
    assert_eq!(metric(&text, "jwtx_password_queue_depth"), 0);
}

/// The name's bound does not tell whether the name exists: the same flood for a name nobody
/// has gets the same answers, and runs the same Argon2 work (the dummy verification).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_under_the_same_flood_gets_the_same_answers() {
    let limits = QueueLimits {
        per_user: 4,
        total: 64,
    };
    let mut seen = Vec::new();
    for name in ["testuser", "nobody"] {
        let state = state(slow_hasher(limits)).await;
        let before = state.auth.hasher().verifications();
        let answers = flood(&state, 24, 200, |_| name.to_owned()).await;
        let mut statuses: Vec<(u16, Value)> = answers
            .iter()
            .map(|(a, _)| (a.status.as_u16(), a.body.clone()))
            .collect();
        statuses.sort_by_key(|(s, _)| *s);
        assert!(
            answers.iter().all(
                |(a, _)| (a.status == StatusCode::TOO_MANY_REQUESTS) == a.retry_after.is_some()
            )
        );
        seen.push((statuses, state.auth.hasher().verifications() - before));
    }
    assert_eq!(seen[0], seen[1]);
    let (statuses, verifications) = &seen[0];
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 401).count(), 4);
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 429).count(), 20);
    assert_eq!(*verifications, 4);
}

/// Beyond the bound on the whole queue (here 8 jobs), logins for any names get 503 with
/// `Retry-After` at once instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let state = state(slow_hasher(QueueLimits {
        per_user: 4,
        total: 8,
    }))
    .await;
    let answers = flood(&state, 40, 300, |i| format!("user{i}")).await;
    assert_eq!(count(&answers, StatusCode::UNAUTHORIZED), 8, "{answers:?}");
    assert_eq!(
        count(&answers, StatusCode::SERVICE_UNAVAILABLE),
        32,
        "{answers:?}"
    );
    for (a, _) in &answers {
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                a.body,
                json!({"msg": "Too many logins in progress; try again later"})
            );
            let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
        }
    }
    let text = metrics(&state).await;
    assert_eq!(
        metric(&text, "jwtx_logins_total{result=\"overloaded\"}"),
        32
    );
    assert_eq!(
        metric(&text, "jwtx_password_queue_refusals_total{bound=\"total\"}"),
        32
    );
}

/// Not a check: the owner's login latency under a flood of 150 bogus logins for their name
/// from 150 addresses, with the default bounds and with unbounded queues (as before), at the
/// default Argon2 parameters on one hashing thread. Run with
/// `cargo test -p jwtx-server --test login_limits -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn measure_the_owners_login_under_a_flood() {
    let unbounded = QueueLimits {
        per_user: QueueLimits::MAX,
        total: QueueLimits::MAX,
    };
    for (what, limits) in [
        ("unbounded (before)", unbounded),
        ("default bounds", QueueLimits::for_concurrency(1)),
    ] {
        let hasher = PasswordHasher::with_limits(Argon2Params::default(), 1, limits).unwrap();
        let state = state(hasher).await;
        let home = addr(0);
        let started = Instant::now();
        assert_eq!(
            login(&state, "testuser", "testpass", home).await.status,
            StatusCode::OK
        );
        let quiet = started.elapsed();
        let attack = {
            let state = state.clone();
            tokio::spawn(async move { flood(&state, 150, 1000, |_| "testuser".to_owned()).await })
        };
        while state.auth.hasher().queued() < 4 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let owner = login(&state, "testuser", "testpass", home).await;
        let under_flood = started.elapsed();
        assert_eq!(owner.status, StatusCode::OK);
        let answers = attack.await.unwrap();
        let flood_took = answers.iter().map(|(_, t)| *t).max().unwrap();
        eprintln!(
            "{what}: owner {quiet:?} quiet, {under_flood:?} under the flood; flood answered \
             401 × {}, 429 × {}, slowest {flood_took:?}",
            count(&answers, StatusCode::UNAUTHORIZED),
            count(&answers, StatusCode::TOO_MANY_REQUESTS),
        );
    }
}
