#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Login limits through the router in process, on the in-memory store: the password rule on
//! `POST /password`, its throttle, and the bounds on the Argon2 work queued per username and in
//! all. Client addresses are set per request (`ConnectInfo`), so a flood can come from many.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use jwtx::store::memory::MemoryStore;
use jwtx::store::{RevocationStore, User, UserStore};
use jwtx::{Algorithm, Clock, Codec, Key, SystemClock};
use jwtx_server::config::{Config, Overrides};
use jwtx_server::passwords::{Argon2Params, PasswordHasher};
use jwtx_server::server::{
    self, AppState, Metrics, Revocations, Services, Settings, StoreObject, UserCache,
};
use jwtx_server::throttle::LoginThrottle;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A server state with one user, `testuser` / `testpass`, hashed by `hasher`.
async fn state(hasher: PasswordHasher) -> AppState {
    let config = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn StoreObject> = Arc::new(MemoryStore::new());
    let metrics = Arc::new(Metrics::default());
    let revocations = Revocations::load(
        store.clone() as Arc<dyn RevocationStore>,
        clock.clone(),
        Some(metrics.clone()),
    )
    .await
    .unwrap();
    let key = Key::hmac(Algorithm::HS256, &[7; 32]).unwrap();
    let codec = Codec::new(key).with_clock(clock.clone());
    let users = Arc::new(UserCache::new(store.clone() as Arc<dyn UserStore>));
    let jwt = server::manager(
        codec,
        &config,
        users.clone(),
        revocations.clone(),
        metrics.clone(),
    );
    let hash = hasher.hash("testpass".to_owned()).await.unwrap();
    hasher.warm_up().await.unwrap();
    store
        .create_user(User {
            name: "testuser".into(),
            password_hash: hash,
            roles: vec!["user".into()],
            created_at: clock.now(),
        })
        .await
        .unwrap();
    AppState::new(Services {
        jwt,
        store,
        revocations,
        users,
        hasher,
        throttle: Arc::new(LoginThrottle::default()),
        clock,
        settings: Arc::new(Settings {
            tokens_in_body: true,
            tokens_in_cookies: false,
            refresh_reuse_grace: 10,
            session_idle_timeout: 86_400,
            session_lifetime: 30 * 86_400,
        }),
        metrics,
    })
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
        let before = state.hasher.verifications();
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
                state.hasher.verifications(),
                before,
                "refused before hashing"
            );
            throttled.get_or_insert(a.clone());
        }
        statuses.push(a.status.as_u16());
    }
    let limit = state.throttle.config().failures_per_user_ip as usize;
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
