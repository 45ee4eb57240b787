#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The server's router in process, on the in-memory store: what needs a look inside (the
//! password hasher's counters) rather than only the wire.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use jwtx::store::memory::MemoryStore;
use jwtx::store::{Logged, RevocationStore, User, UserStore};
use jwtx::{Clock, SystemClock};
use jwtx_auth::AuthStore;
use jwtx_auth::passwords::{Argon2Params, PasswordHasher};
use jwtx_server::server::{self, AppState};
use tower::ServiceExt;

mod support;

async fn state() -> AppState {
    state_with(Arc::new(SystemClock), 86_400).await
}

async fn state_with(clock: Arc<dyn Clock>, session_idle_timeout: u64) -> AppState {
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    state_on(store, clock, session_idle_timeout, Argon2Params::default()).await
}

/// A state on `store` whose hasher has `params` (the user's hash has the defaults).
async fn state_on(
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    session_idle_timeout: u64,
    params: Argon2Params,
) -> AppState {
    support::state::on(
        store,
        clock,
        session_idle_timeout,
        PasswordHasher::new(params).unwrap(),
    )
    .await
}

async fn call(state: &AppState, method: &str, path: &str, token: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = server::app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn login(state: &AppState, user: &str, password: &str) -> (StatusCode, String) {
    let body = serde_json::json!({"username": user, "password": password});
    post_json(state, "/login", None, &body).await
}

/// `POST path` with a JSON body (and a bearer token), from 127.0.0.1: (status, body).
async fn post_json(
    state: &AppState,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (StatusCode, String) {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut req = req.body(Body::from(body.to_string())).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let res = server::app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn unknown_user_and_wrong_password_run_the_same_argon2_verification() {
    let state = state().await;
    let before = state.auth.hasher().verifications();
    let unknown = login(&state, "nobody", "testpass").await;
    assert_eq!(
        state.auth.hasher().verifications(),
        before + 1,
        "unknown user"
    );
    let wrong = login(&state, "testuser", "wrong").await;
    assert_eq!(
        state.auth.hasher().verifications(),
        before + 2,
        "wrong password"
    );
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    let ok = login(&state, "testuser", "testpass").await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(state.auth.hasher().verifications(), before + 3);
}

/// A store that cannot be reached: every operation fails as a lost database would.
#[derive(Debug)]
struct Unreachable;

fn down<'a, T: Send + 'a>() -> jwtx::store::StoreFuture<'a, T> {
    Box::pin(async { Err(jwtx::store::StoreError::unavailable("connection refused")) })
}

impl jwtx::store::UserStore for Unreachable {
    fn create_user(&self, _: User) -> jwtx::store::StoreFuture<'_, ()> {
        down()
    }
    fn get_user<'a>(&'a self, _: &'a str) -> jwtx::store::StoreFuture<'a, Option<User>> {
        down()
    }
    fn list_users(&self) -> jwtx::store::StoreFuture<'_, Vec<User>> {
        down()
    }
    fn change_password<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: u64,
        _: Option<&'a str>,
        _: u64,
    ) -> jwtx::store::StoreFuture<'a, jwtx::store::PasswordChange> {
        down()
    }
    fn rehash_password<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: u64,
    ) -> jwtx::store::StoreFuture<'a, bool> {
        down()
    }
    fn has_demo_users(&self) -> jwtx::store::StoreFuture<'_, bool> {
        down()
    }
    fn set_roles<'a>(&'a self, _: &'a str, _: &'a [String]) -> jwtx::store::StoreFuture<'a, bool> {
        down()
    }
    fn delete_user<'a>(
        &'a self,
        _: &'a str,
        _: u64,
    ) -> jwtx::store::StoreFuture<'a, Option<Logged>> {
        down()
    }
    fn ping(&self) -> jwtx::store::StoreFuture<'_, ()> {
        down()
    }
}

impl jwtx::store::SessionStore for Unreachable {
    fn create_session(
        &self,
        _: jwtx::store::Session,
        _: u64,
    ) -> jwtx::store::StoreFuture<'_, jwtx::store::SessionCreated> {
        down()
    }
    fn get_session<'a>(
        &'a self,
        _: &'a str,
    ) -> jwtx::store::StoreFuture<'a, Option<jwtx::store::Session>> {
        down()
    }
    fn list_sessions<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: Option<&'a jwtx::store::SessionCursor>,
        _: u32,
    ) -> jwtx::store::StoreFuture<'a, Vec<jwtx::store::Session>> {
        down()
    }
    fn rotate<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: jwtx::store::RotationPolicy,
    ) -> jwtx::store::StoreFuture<'a, jwtx::store::Rotation> {
        down()
    }
    fn revoke_session<'a>(
        &'a self,
        _: &'a str,
        _: u64,
    ) -> jwtx::store::StoreFuture<'a, Option<Logged>> {
        down()
    }
    fn end_user_sessions<'a>(
        &'a self,
        _: &'a str,
        _: Option<&'a str>,
        _: u64,
    ) -> jwtx::store::StoreFuture<'a, jwtx::store::Ended> {
        down()
    }
    fn purge_sessions(&self, _: u64) -> jwtx::store::StoreFuture<'_, u64> {
        down()
    }
}

impl RevocationStore for Unreachable {
    fn revoke(&self, _: jwtx::store::Revocation) -> jwtx::store::StoreFuture<'_, u64> {
        down()
    }
    fn revocations_since(
        &self,
        _: u64,
        _: u64,
        _: u32,
    ) -> jwtx::store::StoreFuture<'_, Vec<(u64, jwtx::store::Revocation)>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn purge_revocations(&self, _: u64) -> jwtx::store::StoreFuture<'_, u64> {
        down()
    }
}

#[tokio::test]
async fn an_unreachable_store_answers_503_and_never_success() {
    let mut state = state().await;
    // Tokens issued while the store was up, then the store goes away.
    let access = state
        .auth
        .jwt()
        .access_token("testuser")
        .sign()
        .unwrap()
        .token;
    let store: Arc<dyn AuthStore> = Arc::new(Unreachable);
    state = support::state::bare(
        store,
        Arc::new(SystemClock),
        &support::state::config(86_400),
        PasswordHasher::new(Argon2Params::default()).unwrap(),
    )
    .await;
    let (status, body) = login(&state, "testuser", "testpass").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    for (method, path) in [
        ("POST", "/logout"),
        ("GET", "/protected"),
        ("GET", "/readyz"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {access}"))
            .body(Body::empty())
            .unwrap();
        let res = server::app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn an_idle_session_ends_its_refresh_and_leaves_the_list() {
    let clock = Arc::new(jwtx::FixedClock::new(1_800_000_000));
    let state = state_with(clock.clone(), 60).await;
    let (status, body) = login(&state, "testuser", "testpass").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let (_, list) = call(&state, "GET", "/sessions", access).await;
    assert!(list.contains("\"current\":true"), "{list}");

    clock.advance(61);
    let (status, list) = call(&state, "GET", "/sessions", access).await;
    assert_eq!(
        (status, list.as_str()),
        (StatusCode::OK, r#"{"next_cursor":null,"sessions":[]}"#)
    );
    let (status, body) = call(&state, "POST", "/refresh", refresh).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"msg":"Token has been revoked"}"#
        )
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_a_latency_observation() {
    let state = state().await;
    let get = |id: Option<&'static str>| {
        let state = state.clone();
        async move {
            let mut req = Request::get("/healthz");
            if let Some(id) = id {
                req = req.header("x-request-id", id);
            }
            let res = server::app(state)
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            res.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    let (a, b) = (get(None).await, get(None).await);
    assert_ne!(a, b);
    for id in [&a, &b] {
        // UUID-shaped: 8-4-4-4-12 lowercase hex, version 4, variant 8.
        let groups: Vec<&str> = id.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(
            groups[2].starts_with('4') && groups[3].starts_with('8'),
            "{id}"
        );
    }
    // The client's own id is kept.
    assert_eq!(get(Some("client-chosen-42")).await, "client-chosen-42");
    let (_, metrics) = call(&state, "GET", "/metrics", "").await;
    assert!(
        metrics.contains("jwtx_http_request_duration_seconds_count 3\n"),
        "{metrics}"
    );
}

/// `POST /password` for a user deleted after the user loader's (cached) look answers exactly
/// as the extractor pipeline does for an unknown user: 401, the flask-jwt-extended message,
/// `WWW-Authenticate`, and a `user_lookup` rejection in the metrics.
#[tokio::test]
async fn a_password_change_for_a_user_deleted_meanwhile_is_the_pipelines_401() {
    let state = state().await;
    let (status, body) = login(&state, "testuser", "testpass").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = doc["access_token"].as_str().unwrap().to_owned();
    // The loader caches the user; then the user goes from the store.
    assert_eq!(
        call(&state, "GET", "/protected", &token).await.0,
        StatusCode::OK
    );
    assert!(
        state
            .auth
            .store()
            .delete_user("testuser", 86_400)
            .await
            .unwrap()
            .is_some()
    );

    let body =
        serde_json::json!({"current_password": "testpass", "new_password": "a new password"});
    let mut req = Request::post("/password")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let res = server::app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"msg": "Error loading the user testuser"})
    );
    let metrics = call(&state, "GET", "/metrics", "").await.1;
    assert!(
        metrics
            .lines()
            .any(|l| l == "jwtx_token_rejections_total{reason=\"user_lookup\"} 1"),
        "a user_lookup rejection is counted:\n{metrics}"
    );
}

/// A client that sends a request's headers and then never its body (a slow-body attack on the
/// JSON body the token layer reads) gets 408 when the 30-second request deadline passes; the
/// connection's task is not held beyond it. Tokio's clock is paused, so the 30 s pass at once.
#[tokio::test(start_paused = true)]
async fn a_request_body_that_never_arrives_gets_408_at_the_deadline() {
    let state = state().await;
    let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    let req = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from_stream(never))
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = server::app(state).oneshot(req);
    let res = tokio::time::timeout(std::time::Duration::from_secs(60), answer)
        .await
        .expect("no answer within 60 s: the request deadline did not fire")
        .unwrap();
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(30));
}

/// The server keeps recently verified tokens (`verified_cache`, on by default): a repeated
/// token is a cache hit on `/metrics`, and the cache decides nothing the per-request checks
/// decide: a logout refuses the cached token at once, and its expiry still ends it.
#[tokio::test]
async fn a_cached_token_is_still_revoked_at_logout_and_still_expires() {
    let clock = Arc::new(jwtx::FixedClock::new(1_800_000_000));
    let state = state_with(clock.clone(), 86_400).await;
    let lookups = |metrics: &str, result: &str| -> u64 {
        let prefix = format!("jwtx_verified_cache_lookups_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (status, body) = login(&state, "testuser", "testpass").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        tokens.push(doc["access_token"].as_str().unwrap().to_owned());
    }
    let (kept, dropped) = (&tokens[0], &tokens[1]);
    for token in [kept, kept, kept, dropped] {
        let (status, body) = call(&state, "GET", "/protected", token).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"logged_in_as":"testuser"}"#)
        );
    }
    let metrics = call(&state, "GET", "/metrics", "").await.1;
    assert_eq!(
        (lookups(&metrics, "hit"), lookups(&metrics, "miss")),
        (2, 2)
    );

    // Logout of a cached token: refused on its next use, though the cache still holds it.
    assert_eq!(
        call(&state, "POST", "/logout", dropped).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&state, "GET", "/protected", dropped).await,
        (
            StatusCode::UNAUTHORIZED,
            "{\"msg\":\"Token has been revoked\"}\n".to_owned()
        )
    );
    // Expiry of a cached token (15 minutes): the same answer as without the cache.
    clock.advance(15 * 60);
    assert_eq!(
        call(&state, "GET", "/protected", kept).await,
        (
            StatusCode::UNAUTHORIZED,
            "{\"msg\":\"Token has expired\"}\n".to_owned()
        )
    );
}

/// A memory store whose `gated` operation first says it has arrived, then waits while the
/// test holds `gate`: a test can run a whole request between a login's password check and
/// its next store write.
#[derive(Debug)]
struct Gated {
    inner: MemoryStore,
    gated: &'static str,
    gate: tokio::sync::Mutex<()>,
    arrived: tokio::sync::Notify,
}

impl Gated {
    fn new(gated: &'static str) -> Arc<Gated> {
        Arc::new(Gated {
            inner: MemoryStore::new(),
            gated,
            gate: tokio::sync::Mutex::new(()),
            arrived: tokio::sync::Notify::new(),
        })
    }

    async fn pass(&self, op: &str) {
        if op == self.gated {
            self.arrived.notify_one();
            drop(self.gate.lock().await);
        }
    }
}

type Fut<'a, T> = jwtx::store::StoreFuture<'a, T>;

impl UserStore for Gated {
    fn create_user(&self, user: User) -> Fut<'_, ()> {
        self.inner.create_user(user)
    }
    fn get_user<'a>(&'a self, name: &'a str) -> Fut<'a, Option<User>> {
        self.inner.get_user(name)
    }
    fn list_users(&self) -> Fut<'_, Vec<User>> {
        self.inner.list_users()
    }
    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> Fut<'a, jwtx::store::PasswordChange> {
        self.inner
            .change_password(name, hash, expected, keep, lifetime)
    }
    fn rehash_password<'a>(&'a self, name: &'a str, hash: &'a str, expected: u64) -> Fut<'a, bool> {
        Box::pin(async move {
            self.pass("rehash_password").await;
            self.inner.rehash_password(name, hash, expected).await
        })
    }
    fn has_demo_users(&self) -> Fut<'_, bool> {
        self.inner.has_demo_users()
    }
    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> Fut<'a, bool> {
        self.inner.set_roles(name, roles)
    }
    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> Fut<'a, Option<Logged>> {
        self.inner.delete_user(name, lifetime)
    }
}

impl jwtx::store::SessionStore for Gated {
    fn create_session(
        &self,
        session: jwtx::store::Session,
        generation: u64,
    ) -> Fut<'_, jwtx::store::SessionCreated> {
        Box::pin(async move {
            self.pass("create_session").await;
            self.inner.create_session(session, generation).await
        })
    }
    fn get_session<'a>(&'a self, id: &'a str) -> Fut<'a, Option<jwtx::store::Session>> {
        self.inner.get_session(id)
    }
    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: u64,
        after: Option<&'a jwtx::store::SessionCursor>,
        limit: u32,
    ) -> Fut<'a, Vec<jwtx::store::Session>> {
        self.inner.list_sessions(user, now, after, limit)
    }
    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented: &'a str,
        new: &'a str,
        policy: jwtx::store::RotationPolicy,
    ) -> Fut<'a, jwtx::store::Rotation> {
        self.inner.rotate(id, presented, new, policy)
    }
    fn revoke_session<'a>(&'a self, id: &'a str, now: u64) -> Fut<'a, Option<Logged>> {
        self.inner.revoke_session(id, now)
    }
    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> Fut<'a, jwtx::store::Ended> {
        self.inner.end_user_sessions(user, keep, lifetime)
    }
    fn purge_sessions(&self, before: u64) -> Fut<'_, u64> {
        self.inner.purge_sessions(before)
    }
}

impl RevocationStore for Gated {
    fn revoke(&self, r: jwtx::store::Revocation) -> Fut<'_, u64> {
        self.inner.revoke(r)
    }
    fn revocations_since(
        &self,
        after: u64,
        now: u64,
        limit: u32,
    ) -> Fut<'_, Vec<(u64, jwtx::store::Revocation)>> {
        self.inner.revocations_since(after, now, limit)
    }
    fn purge_revocations(&self, now: u64) -> Fut<'_, u64> {
        self.inner.purge_revocations(now)
    }
}

/// `POST /password` with `token`: (status, body).
async fn change_password(
    state: &AppState,
    token: &str,
    current: &str,
    new: &str,
) -> (StatusCode, String) {
    let body = serde_json::json!({"current_password": current, "new_password": new});
    post_json(state, "/password", Some(token), &body).await
}

fn field(body: &str, name: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    doc[name].as_str().unwrap_or_default().to_owned()
}

/// A login that verified the old password while the password changed gets no session: the
/// change answered first, then the login tried to create its session and was refused.
#[tokio::test]
async fn a_login_in_flight_during_a_password_change_keeps_no_session() {
    let store = Gated::new("create_session");
    let state = state_on(
        store.clone(),
        Arc::new(SystemClock),
        86_400,
        Argon2Params::default(),
    )
    .await;
    let (status, body) = login(&state, "testuser", "testpass").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let owner = field(&body, "access_token");

    // A second login verifies the old password, then waits to create its session…
    let gate = store.gate.lock().await;
    let racing = tokio::spawn({
        let state = state.clone();
        async move { login(&state, "testuser", "testpass").await }
    });
    store.arrived.notified().await;
    // …while the owner changes the password, and is answered.
    let (status, body) = change_password(&state, &owner, "testpass", "a new password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(gate);

    let (status, body) = racing.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the racing login: {body}");
    assert_eq!(body, r#"{"msg":"Bad username or password"}"#);
    // Only the owner's session is left, and the new password works.
    let (status, body) = call(&state, "GET", "/sessions", &owner).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sessions: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sessions["sessions"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(
        login(&state, "testuser", "a new password").await.0,
        StatusCode::OK
    );
    assert_eq!(
        login(&state, "testuser", "testpass").await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A login whose stored hash needs a rehash (the parameters rose) and that verified the old
/// password while it changed cannot write its hash of the old password over the new one.
#[tokio::test]
async fn a_racing_rehash_cannot_undo_a_password_change() {
    let store = Gated::new("rehash_password");
    let stronger = Argon2Params {
        iterations: Argon2Params::default().iterations + 1,
        ..Argon2Params::default()
    };
    let state = state_on(store.clone(), Arc::new(SystemClock), 86_400, stronger).await;
    let gate = store.gate.lock().await;
    let racing = tokio::spawn({
        let state = state.clone();
        async move { login(&state, "testuser", "testpass").await }
    });
    store.arrived.notified().await;
    // The owner's own login waits at the gate too; change the password behind the server's
    // back, as `jwtx user passwd` on another machine would.
    let user = store.get_user("testuser").await.unwrap().unwrap();
    let hash = PasswordHasher::new(stronger)
        .unwrap()
        .hash("a new password".to_owned())
        .await
        .unwrap();
    let changed = store
        .change_password("testuser", &hash, user.generation, None, 0)
        .await
        .unwrap();
    assert!(matches!(
        changed,
        jwtx::store::PasswordChange::Changed { .. }
    ));
    drop(gate);

    let (status, body) = racing.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the racing login: {body}");
    state.auth.users().forget("testuser");
    let (status, body) = login(&state, "testuser", "a new password").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new password still works: {body}"
    );
    assert_eq!(
        login(&state, "testuser", "testpass").await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A user holds at most `MAX_LIVE_SESSIONS` live sessions: the login past it ends the oldest,
/// and that session's tokens are refused at once.
#[tokio::test]
async fn a_login_past_the_session_cap_ends_the_oldest_session() {
    let state = state().await;
    let user = state
        .auth
        .store()
        .get_user("testuser")
        .await
        .unwrap()
        .unwrap();
    let now = SystemClock.now();
    let mut oldest = None;
    for i in 0..jwtx::store::MAX_LIVE_SESSIONS as u64 {
        let id = jwtx::uuid4();
        oldest.get_or_insert_with(|| id.clone());
        let ended = state
            .auth
            .store()
            .create_session(
                jwtx::store::Session {
                    id,
                    user: "testuser".into(),
                    created_at: now - 10_000 + i,
                    last_used_at: now,
                    expires_at: now + 86_400,
                    user_agent: None,
                    ip: None,
                    current_jti: jwtx::uuid4(),
                    previous: None,
                    revoked_at: None,
                },
                user.generation,
            )
            .await
            .unwrap();
        assert_eq!(ended, jwtx::store::SessionCreated::Created { ended: None });
    }
    let oldest = oldest.unwrap();
    let token = state
        .auth
        .jwt()
        .access_token("testuser")
        .claim("sid", oldest.as_str())
        .sign()
        .unwrap()
        .token;
    assert_eq!(
        call(&state, "GET", "/protected", &token).await.0,
        StatusCode::OK
    );
    let (status, body) = login(&state, "testuser", "testpass").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&state, "GET", "/protected", &token).await;
    assert_eq!(
        (status, body.trim_end()),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"msg":"Token has been revoked"}"#
        )
    );
    let stored = state
        .auth
        .store()
        .get_session(&oldest)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_some());
}

/// Logout everywhere ends every session in one store transaction with one log entry, whatever
/// the number of sessions; a login right after it (often in the same second as its cut-off)
/// still gets tokens that work, and every earlier token is refused.
#[tokio::test]
async fn logout_everywhere_is_one_entry_and_a_login_right_after_it_works() {
    let state = state().await;
    for round in 0..3 {
        let mut tokens = Vec::new();
        for _ in 0..5 {
            let (status, body) = login(&state, "testuser", "testpass").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            tokens.push(field(&body, "access_token"));
        }
        let store = state.auth.store();
        let before = store.revocations_since(0, 0, 10_000).await.unwrap().len();
        let (status, body) = post_json(
            &state,
            "/logout/all",
            Some(&tokens[0]),
            &serde_json::json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let log = store.revocations_since(0, 0, 10_000).await.unwrap();
        assert_eq!(log.len(), before + 1, "round {round}: {log:?}");
        let Some((
            _,
            jwtx::store::Revocation::User {
                cutoff,
                except: None,
                ..
            },
        )) = log.last()
        else {
            panic!("not a user cut-off: {log:?}");
        };
        for token in &tokens {
            let (status, body) = call(&state, "GET", "/protected", token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
        // At once: the login waits past the cut-off's second rather than issue tokens it
        // revokes.
        let (status, body) = login(&state, "testuser", "testpass").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access = field(&body, "access_token");
        let iat = state.auth.jwt().decode_token(&access).unwrap().claims().iat;
        assert!(iat > Some(*cutoff), "iat {iat:?} cut-off {cutoff}");
        let (status, body) = call(&state, "GET", "/protected", &access).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
    }
}
