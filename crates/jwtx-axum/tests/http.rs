#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]
//! jwtx-axum over HTTP, request by request: statuses, exact bodies, headers and Set-Cookie
//! lines, checked against flask-jwt-extended's observed behaviour
//! (version 4.7.4, observed request by request). Every router is driven with
//! `tower::ServiceExt::oneshot`; time is pinned with a `FixedClock` in the codec.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use jwtx::{Algorithm, Codec, FixedClock, Issued, Key, KeySet};
use jwtx_axum::{
    AnyJwt, CookieLifetime, CookieOverrides, CurrentUser, ErrorKind, ErrorStyle, FreshJwt, Jwt,
    JwtConfig, JwtError, JwtLayer, JwtManager, JwtManagerBuilder, JwtRoute, Location, RefreshJwt,
    SameSite,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"jwtx-axum http tests: a secret of 32+ bytes";
/// The `iat` of sample token of flask-jwt-extended 4.7.4's observed behaviour; its cookies' `Expires` dates follow from it.
const T0: u64 = 1_795_334_343;

// ------------------------------------------------------------------ fixtures

struct Fx {
    jwt: JwtManager,
    clock: Arc<FixedClock>,
    app: Router,
}

fn codec(clock: &Arc<FixedClock>) -> Codec {
    Codec::new(Key::hmac(Algorithm::HS256, SECRET).unwrap()).with_clock(clock.clone())
}

fn fje() -> JwtConfig {
    JwtConfig::flask_jwt_extended()
}

fn with_locations(locations: &[Location]) -> JwtConfig {
    let mut c = fje();
    c.token_location = locations.to_vec();
    c
}

/// A manager on a fixed clock, with `config` and whatever callbacks `build` adds, serving
/// [`routes`] behind a [`JwtLayer`].
fn fixture(config: JwtConfig, build: impl FnOnce(JwtManagerBuilder) -> JwtManagerBuilder) -> Fx {
    fixture_with(config, build, |j| JwtLayer::new(j.clone()))
}

fn fixture_with(
    config: JwtConfig,
    build: impl FnOnce(JwtManagerBuilder) -> JwtManagerBuilder,
    layer: impl FnOnce(&JwtManager) -> JwtLayer,
) -> Fx {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = build(JwtManager::builder(codec(&clock)).config(config)).build();
    let app = routes().layer(layer(&jwt)).with_state(jwt.clone());
    Fx { jwt, clock, app }
}

fn plain(config: JwtConfig) -> Fx {
    fixture(config, |b| b)
}

#[derive(Debug, Deserialize)]
struct Roles {
    roles: Vec<String>,
}

#[derive(Debug, PartialEq)]
struct User {
    name: String,
    admin: bool,
}

fn describe<K: jwtx_axum::Need>(jwt: &jwtx_axum::Token<Map<String, Value>, K>) -> Value {
    json!({
        "identity": jwt.identity(),
        "type": jwt.claims().token_type.as_str(),
        "jti": jwt.claims().jti,
        "exp": jwt.claims().exp,
        "fresh": jwt.claims().fresh,
        "custom": jwt.custom(),
        "payload": jwt.payload(),
        "header": jwt.header().to_map(),
        "location": jwt.location().as_str(),
    })
}

async fn protected(jwt: Jwt<Map<String, Value>>) -> Json<Value> {
    Json(describe(&jwt))
}
async fn fresh(jwt: FreshJwt<Map<String, Value>>) -> Json<Value> {
    Json(describe(&jwt))
}
async fn refresh(jwt: RefreshJwt<Map<String, Value>>) -> Json<Value> {
    Json(describe(&jwt))
}
async fn either(jwt: AnyJwt<Map<String, Value>>) -> Json<Value> {
    Json(describe(&jwt))
}
async fn optional(jwt: Option<Jwt>) -> Json<Value> {
    Json(json!({
        "identity": jwt.as_ref().map(|j| j.identity()),
        "location": jwt.as_ref().map(|j| j.location().as_str()),
    }))
}
async fn roles(jwt: Jwt<Roles>) -> Json<Value> {
    Json(json!({ "roles": jwt.custom().roles }))
}
async fn user(user: CurrentUser<User>) -> Json<Value> {
    Json(json!({ "name": user.name, "admin": user.admin }))
}
/// Several extractors on one request: one verification.
async fn several(a: Jwt, b: Jwt<Map<String, Value>>, c: AnyJwt, d: Option<Jwt>) -> Json<Value> {
    let same = a.claims().jti == b.claims().jti
        && b.claims().jti == c.claims().jti
        && d.map(|d| d.claims().jti.clone()) == Some(a.claims().jti.clone());
    Json(json!({ "same": same }))
}
/// The handler still gets the body the layer read.
async fn echo(jwt: Jwt, body: String) -> Json<Value> {
    Json(json!({ "identity": jwt.identity(), "location": jwt.location().as_str(), "body": body }))
}
async fn echo_json(jwt: Jwt, Json(body): Json<Value>) -> Json<Value> {
    Json(json!({ "identity": jwt.identity(), "location": jwt.location().as_str(), "body": body }))
}
async fn refresh_json(jwt: RefreshJwt, Json(body): Json<Value>) -> Json<Value> {
    Json(json!({ "identity": jwt.identity(), "location": jwt.location().as_str(), "body": body }))
}
async fn forbidden(_jwt: Jwt) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "msg": "Admins only!" })),
    )
        .into_response()
}
async fn logout(State(m): State<JwtManager>, _jwt: Jwt) -> (HeaderMap, Json<Value>) {
    let mut h = HeaderMap::new();
    m.unset_jwt_cookies(&mut h);
    (h, Json(json!({ "logout": true })))
}
/// Issues both tokens (with `roles`) as cookies and returns them in the body.
async fn login(State(m): State<JwtManager>) -> (HeaderMap, Json<Value>) {
    let at = m.access_token("alice").sign().unwrap();
    let rt = m.refresh_token("alice").sign().unwrap();
    let mut h = HeaderMap::new();
    m.set_access_cookies(&mut h, &at);
    m.set_refresh_cookies(&mut h, &rt);
    (h, Json(json!({ "access": at.token, "refresh": rt.token })))
}
/// `set_access_cookies(resp, at, max_age=600, domain="api.example.com")`.
async fn login_overrides(State(m): State<JwtManager>) -> (HeaderMap, Json<Value>) {
    let at = m.access_token("alice").sign().unwrap();
    let mut h = HeaderMap::new();
    let over = CookieOverrides {
        max_age: Some(Duration::from_secs(600)),
        domain: Some("api.example.com".into()),
    };
    m.set_access_cookies_with(&mut h, &at, &over);
    (h, Json(json!({ "access": at.token })))
}
async fn unset_all(State(m): State<JwtManager>) -> HeaderMap {
    let mut h = HeaderMap::new();
    m.unset_jwt_cookies(&mut h);
    h
}

fn routes() -> Router<JwtManager> {
    Router::new()
        .route("/protected", any(protected))
        .route("/fresh", any(fresh))
        .route("/refresh", any(refresh))
        .route("/any", any(either))
        .route("/optional", any(optional))
        .route("/roles", any(roles))
        .route("/user", any(user))
        .route("/several", any(several))
        .route("/echo", post(echo))
        .route("/echo-json", post(echo_json))
        .route("/refresh-json", post(refresh_json))
        .route("/forbidden", get(forbidden))
        .route("/logout", post(logout))
        .route("/login", post(login))
        .route("/login-overrides", post(login_overrides))
        .route("/unset", post(unset_all))
        .merge(scoped(
            "/cookie-only",
            JwtRoute::new().locations([Location::Cookies]),
        ))
        .merge(scoped(
            "/query-or-json",
            JwtRoute::new().locations([Location::QueryString, Location::Json]),
        ))
        .merge(scoped(
            "/no-revocation",
            JwtRoute::new().skip_revocation_check(),
        ))
}

/// `@jwt_required(locations=…, skip_revocation_check=…)` on one route.
fn scoped(path: &str, options: JwtRoute) -> Router<JwtManager> {
    Router::new()
        .route(path, any(protected))
        .route_layer(options)
}

// ------------------------------------------------------------------ requests and responses

struct Req(http::request::Builder);

fn req(method: &str, uri: &str) -> Req {
    Req(Request::builder().method(method).uri(uri))
}

impl Req {
    fn header(self, name: &str, value: impl AsRef<[u8]>) -> Req {
        Req(self
            .0
            .header(name, HeaderValue::from_bytes(value.as_ref()).unwrap()))
    }
    fn bearer(self, token: &str) -> Req {
        self.header("authorization", format!("Bearer {token}"))
    }
    fn cookie(self, cookie: impl AsRef<[u8]>) -> Req {
        self.header("cookie", cookie)
    }
    fn csrf(self, value: &str) -> Req {
        self.header("x-csrf-token", value)
    }
    /// A body with its `Content-Type` and `Content-Length` (as hyper passes them on).
    fn body(self, content_type: &str, body: impl Into<String>) -> Request<Body> {
        let body = body.into();
        self.0
            .header("content-type", content_type)
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap()
    }
    fn json(self, body: Value) -> Request<Body> {
        self.body("application/json", body.to_string())
    }
    /// A body without `Content-Length`, as a streaming (chunked or HTTP/2) client sends it.
    fn chunked(self, content_type: &str, body: impl Into<String>) -> Request<Body> {
        self.0
            .header("content-type", content_type)
            .body(Body::from(body.into()))
            .unwrap()
    }
    fn empty(self) -> Request<Body> {
        self.0.body(Body::empty()).unwrap()
    }
}

#[derive(Debug)]
struct Res {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Res {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Res {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `{"msg":"<message>"}\n`, as Flask's `jsonify` writes it.
fn msg_body(message: &str) -> String {
    format!("{{\"msg\":{}}}\n", serde_json::to_string(message).unwrap())
}

impl Res {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// An error response: status, exact body, JSON content type, and `WWW-Authenticate:
    /// Bearer` exactly on 401.
    #[track_caller]
    fn error(&self, status: u16, message: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body, msg_body(message));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let www = (status == 401).then_some("Bearer");
        assert_eq!(self.header("www-authenticate"), www, "WWW-Authenticate");
    }

    /// A 200 JSON response, parsed.
    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.header("www-authenticate"), None);
        serde_json::from_str(&self.body).unwrap()
    }

    fn cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }
}

fn access(jwt: &JwtManager, sub: &str) -> Issued {
    jwt.access_token(sub).sign().unwrap()
}

fn refresh_token(jwt: &JwtManager, sub: &str) -> Issued {
    jwt.refresh_token(sub).sign().unwrap()
}

fn access_cookie(t: &Issued) -> String {
    format!("access_token_cookie={}", t.token)
}

fn refresh_cookie(t: &Issued) -> String {
    format!("refresh_token_cookie={}", t.token)
}

// ------------------------------------------------------------------ extractors

#[tokio::test]
async fn jwt_takes_access_tokens_and_refuses_refresh_tokens() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v["identity"], "alice");
    assert_eq!(v["type"], "access");
    assert_eq!(v["location"], "headers");

    let rt = refresh_token(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&rt.token).empty())
        .await
        .error(422, "Only non-refresh tokens are allowed");
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn success_has_no_www_authenticate_and_exact_missing_body() {
    let fx = plain(fje());
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    // Byte for byte, as flask-jwt-extended, plus the WWW-Authenticate header.
    assert_eq!(r.body, "{\"msg\":\"Missing Authorization Header\"}\n");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn fresh_jwt_requires_a_fresh_token() {
    let fx = plain(fje());
    let yes = fx.jwt.access_token("alice").fresh(true).sign().unwrap();
    let no = fx.jwt.access_token("alice").fresh(false).sign().unwrap();
    let v = send(&fx.app, req("GET", "/fresh").bearer(&yes.token).empty())
        .await
        .ok();
    assert_eq!(v["fresh"], true);
    send(&fx.app, req("GET", "/fresh").bearer(&no.token).empty())
        .await
        .error(401, "Fresh token required");
    // A fresh route still refuses refresh tokens, with the type error first.
    let rt = refresh_token(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/fresh").bearer(&rt.token).empty())
        .await
        .error(422, "Only non-refresh tokens are allowed");
}

#[tokio::test]
async fn fresh_for_window_expires_with_the_clock() {
    let fx = plain(fje());
    let t = fx
        .jwt
        .access_token("alice")
        .fresh_for(Duration::from_secs(60))
        .sign()
        .unwrap();
    // `fresh` is the NumericDate until which the token is fresh.
    let v = send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .ok();
    assert_eq!(v["fresh"], T0 + 60);
    fx.clock.set(T0 + 60);
    send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .ok();
    fx.clock.set(T0 + 61);
    send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .error(401, "Fresh token required");
    // Still a valid (non-fresh) access token elsewhere.
    send(&fx.app, req("GET", "/protected").bearer(&t.token).empty())
        .await
        .ok();
}

#[tokio::test]
async fn refresh_jwt_takes_refresh_tokens_only() {
    let fx = plain(fje());
    let rt = refresh_token(&fx.jwt, "alice");
    let v = send(&fx.app, req("POST", "/refresh").bearer(&rt.token).empty())
        .await
        .ok();
    assert_eq!(
        (v["identity"].as_str(), v["type"].as_str()),
        (Some("alice"), Some("refresh"))
    );
    assert_eq!(v["fresh"], false);
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("POST", "/refresh").bearer(&at.token).empty())
        .await
        .error(422, "Only refresh tokens are allowed");
}

#[tokio::test]
async fn any_jwt_takes_both_types() {
    let fx = plain(fje());
    for (t, ty) in [
        (access(&fx.jwt, "a"), "access"),
        (refresh_token(&fx.jwt, "a"), "refresh"),
    ] {
        let v = send(&fx.app, req("GET", "/any").bearer(&t.token).empty())
            .await
            .ok();
        assert_eq!(v["type"], ty);
    }
}

#[tokio::test]
async fn optional_jwt_missing_is_none_but_invalid_is_refused() {
    let fx = plain(fje());
    let none = json!({ "identity": null, "location": null });
    assert_eq!(
        send(&fx.app, req("GET", "/optional").empty()).await.ok(),
        none
    );
    // A wrong scheme is "missing" (flask-jwt-extended 4.7.4, optional=True).
    let r = send(
        &fx.app,
        req("GET", "/optional")
            .header("authorization", "Token x")
            .empty(),
    )
    .await;
    assert_eq!(r.ok(), none);
    let at = access(&fx.jwt, "alice");
    let v = send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v, json!({ "identity": "alice", "location": "headers" }));
    send(&fx.app, req("GET", "/optional").bearer("garbage").empty())
        .await
        .error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/optional")
            .header("authorization", "Bearer")
            .empty(),
    )
    .await
    .error(
        422,
        "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'",
    );
    fx.clock.set(T0 + 900);
    send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .error(401, "Token has expired");
}

#[tokio::test]
async fn expired_tampered_and_immature_tokens() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 899);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    // `exp <= now` is expired.
    fx.clock.set(T0 + 900);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has expired");
    // The signature is checked before expiry.
    let mut tampered = at.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    send(&fx.app, req("GET", "/protected").bearer(&tampered).empty())
        .await
        .error(422, "Signature verification failed");
    // Issued in the future.
    fx.clock.set(T0 - 10);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(422, "The token is not yet valid (iat)");
}

#[tokio::test]
async fn accessors_identity_claims_custom_payload_header_location() {
    let fx = fixture(fje(), |b| {
        b.additional_headers(|identity| {
            let mut m = Map::new();
            m.insert("x-tenant".into(), format!("tenant-of-{identity}").into());
            m
        })
    });
    let at = fx
        .jwt
        .access_token("alice")
        .fresh(true)
        .claim("roles", json!(["admin", "user"]))
        .claim("org", "acme")
        .sign()
        .unwrap();
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v["identity"], "alice");
    assert_eq!(v["jti"], at.jti());
    assert_eq!(v["exp"], T0 + 900);
    assert_eq!(v["fresh"], true);
    assert_eq!(
        v["custom"],
        json!({ "roles": ["admin", "user"], "org": "acme" })
    );
    assert_eq!(
        v["payload"],
        json!({
            "fresh": true, "iat": T0, "jti": at.jti(), "type": "access", "sub": "alice",
            "nbf": T0, "csrf": at.csrf().unwrap(), "exp": T0 + 900,
            "roles": ["admin", "user"], "org": "acme",
        })
    );
    assert_eq!(
        v["header"],
        json!({ "alg": "HS256", "typ": "JWT", "x-tenant": "tenant-of-alice" })
    );
    assert_eq!(v["location"], "headers");

    let r = send(&fx.app, req("GET", "/roles").bearer(&at.token).empty()).await;
    assert_eq!(r.ok(), json!({ "roles": ["admin", "user"] }));
    // A token whose application claims do not fit the route's claims type is invalid.
    let no_roles = access(&fx.jwt, "bob");
    send(
        &fx.app,
        req("GET", "/roles").bearer(&no_roles.token).empty(),
    )
    .await
    .error(422, "Invalid payload claims");
    let bad_roles = fx
        .jwt
        .access_token("bob")
        .claim("roles", "admin")
        .sign()
        .unwrap();
    send(
        &fx.app,
        req("GET", "/roles").bearer(&bad_roles.token).empty(),
    )
    .await
    .error(422, "Invalid payload claims");
}

// ------------------------------------------------------------------ per-route options

#[tokio::test]
async fn route_locations_override_the_manager() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("GET", "/cookie-only").bearer(&at.token).empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
    let v = send(
        &fx.app,
        req("GET", "/cookie-only")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .ok();
    assert_eq!(v["location"], "cookies");
    // The manager's own locations still apply elsewhere.
    send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await
    .error(401, "Missing Authorization Header");
    let r = send(&fx.app, req("GET", "/query-or-json").empty()).await;
    r.error(
        401,
        "Missing JWT in query_string or json (Missing 'jwt' query paramater; \
         Invalid content-type. Must be application/json.)",
    );
    let r = send(
        &fx.app,
        req("GET", &format!("/query-or-json?jwt={}", at.token)).empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "query_string");
}

#[tokio::test]
async fn skip_revocation_check_per_route() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(true) }
        })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has been revoked");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    send(
        &fx.app,
        req("GET", "/no-revocation").bearer(&at.token).empty(),
    )
    .await
    .ok();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "skipped routes never ask");
}

/// `jwt_required(locations=[])` means the configured locations in flask-jwt-extended
/// (`if not locations: locations = config.token_location`).
#[tokio::test]
async fn empty_route_locations_mean_the_configured_ones() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock)).config(fje()).build();
    let app = scoped("/p", JwtRoute::new().locations([])).with_state(jwt.clone());
    let at = access(&jwt, "alice");
    send(&app, req("GET", "/p").empty())
        .await
        .error(401, "Missing Authorization Header");
    let r = send(&app, req("GET", "/p").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["location"], "headers");
}

// ------------------------------------------------------------------ headers

#[tokio::test]
async fn header_comma_lists_and_case_sensitive_scheme() {
    let fx = plain(fje());
    let t = access(&fx.jwt, "alice").token;
    for ok in [
        format!("Bearer {t}"),
        format!("Basic xxx, Bearer {t}"),
        format!("  Bearer   {t} ,"),
        format!("Bearer {t}, Basic xxx"),
    ] {
        let r = send(
            &fx.app,
            req("GET", "/protected")
                .header("authorization", &ok)
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["identity"], "alice", "{ok}");
    }
    let missing_type =
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
    for v in [
        format!("bearer {t}"),
        format!("BEARER {t}"),
        "Token x".to_owned(),
        format!("Bearer {t}, Bearer {t}"),
        "Basic abc".to_owned(),
    ] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", &v).empty(),
        )
        .await
        .error(401, missing_type);
    }
    let bad = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
    for v in ["Bearer", "Bearer a b", &format!("Bearer {t} extra")] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", v).empty(),
        )
        .await
        .error(422, bad);
    }
    for v in ["", " ", " , "] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", v).empty(),
        )
        .await
        .error(401, "Missing Authorization Header");
    }
}

#[tokio::test]
async fn custom_header_name_and_type() {
    let mut c = fje();
    c.header_name = "X-Auth".into();
    c.header_type = "JWT".into();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("X-Auth", format!("JWT {t}"))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(&fx.app, req("GET", "/protected").bearer(&t).empty())
        .await
        .error(401, "Missing X-Auth Header");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("x-auth", format!("Bearer {t}"))
            .empty(),
    )
    .await
    .error(
        401,
        "Missing 'JWT' type in 'X-Auth' header. Expected 'X-Auth: JWT <JWT>'",
    );
}

/// flask-jwt-extended prints `JWT_HEADER_NAME` exactly as configured; the lookup ignores case.
#[tokio::test]
async fn header_name_is_printed_as_configured() {
    for (name, sent) in [
        ("X-API-KEY", "x-api-key"),
        ("authorization", "Authorization"),
    ] {
        let mut c = fje();
        c.header_name = name.into();
        let fx = plain(c);
        let t = access(&fx.jwt, "alice").token;
        let r = send(
            &fx.app,
            req("GET", "/protected")
                .header(sent, format!("Bearer {t}"))
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["identity"], "alice", "{name}");
        send(&fx.app, req("GET", "/protected").empty())
            .await
            .error(401, &format!("Missing {name} Header"));
        send(
            &fx.app,
            req("GET", "/protected").header(sent, "Token x").empty(),
        )
        .await
        .error(
            401,
            &format!("Missing 'Bearer' type in '{name}' header. Expected '{name}: Bearer <JWT>'"),
        );
    }
}

#[tokio::test]
async fn empty_header_type_means_a_bare_jwt() {
    let mut c = fje();
    c.header_name = "X-Auth".into();
    c.header_type = String::new();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", "/protected").header("x-auth", &t).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("x-auth", format!("Bearer {t}"))
            .empty(),
    )
    .await
    .error(422, "Bad X-Auth header. Expected 'X-Auth: <JWT>'");
}

// ------------------------------------------------------------------ cookies and CSRF

#[tokio::test]
async fn cookie_csrf_on_unsafe_methods_only() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let csrf = at.csrf().unwrap();
    for method in ["GET", "HEAD"] {
        let r = send(
            &fx.app,
            req(method, "/protected").cookie(access_cookie(&at)).empty(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        send(
            &fx.app,
            req(method, "/protected").cookie(access_cookie(&at)).empty(),
        )
        .await
        .error(401, "Missing CSRF token");
        send(
            &fx.app,
            req(method, "/protected")
                .cookie(access_cookie(&at))
                .csrf("nope")
                .empty(),
        )
        .await
        .error(401, "CSRF double submit tokens do not match");
        let r = send(
            &fx.app,
            req(method, "/protected")
                .cookie(access_cookie(&at))
                .csrf(csrf)
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["location"], "cookies", "{method}");
    }
    // The CSRF header name is case-insensitive; the CSRF cookie alone never counts.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .header("X-Csrf-Token", csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let both = format!("{}; csrf_access_token={csrf}", access_cookie(&at));
    send(&fx.app, req("POST", "/protected").cookie(both).empty())
        .await
        .error(401, "Missing CSRF token");
    // Tokens from headers are never CSRF-checked.
    let fx = plain(fje());
    let r = send(&fx.app, req("POST", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["identity"], "alice");
}

#[tokio::test]
async fn cookie_missing_empty_quoted_and_without_csrf_claim() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    for cookie in [
        "",
        "access_token_cookie=",
        "other=1",
        "access_token_cookie_x=1",
    ] {
        send(&fx.app, req("GET", "/protected").cookie(cookie).empty())
            .await
            .error(401, "Missing cookie \"access_token_cookie\"");
    }
    // Werkzeug unquotes "…" values.
    let quoted = format!("a=1; access_token_cookie=\"{}\"; b=2", at.token);
    let r = send(&fx.app, req("GET", "/protected").cookie(quoted).empty()).await;
    assert_eq!(r.ok()["identity"], "alice");
    let broken = format!("access_token_cookie=\"{}", at.token);
    send(&fx.app, req("GET", "/protected").cookie(broken).empty())
        .await
        .error(422, "Invalid header padding");
    // A token without a `csrf` claim, sent with a CSRF header.
    let no_csrf_codec = codec(&fx.clock).with_csrf_claim(false);
    let bare = no_csrf_codec.access_token("alice").sign().unwrap();
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&bare))
            .csrf("x")
            .empty(),
    )
    .await
    .error(422, "Missing claim: csrf");
}

#[tokio::test]
async fn refresh_routes_use_the_refresh_cookie_and_its_csrf_value() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let rt = refresh_token(&fx.jwt, "alice");
    let jar = format!("{}; {}", access_cookie(&at), refresh_cookie(&rt));
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(&jar)
            .csrf(rt.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["type"], "refresh");
    // The access CSRF value is a mismatch on a refresh route (as flask-jwt-extended 4.7.4 does).
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(&jar)
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "Missing cookie \"refresh_token_cookie\"");
    // …and an access route reads only the access cookie.
    send(
        &fx.app,
        req("GET", "/protected").cookie(refresh_cookie(&rt)).empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
}

#[tokio::test]
async fn refresh_csrf_header_name_is_its_own() {
    let mut c = with_locations(&[Location::Cookies]);
    c.refresh_csrf_header_name = http::HeaderName::from_static("x-csrf-refresh");
    let fx = plain(c);
    let rt = refresh_token(&fx.jwt, "alice");
    let csrf = rt.csrf().unwrap();
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "Missing CSRF token");
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .header("X-CSRF-Refresh", csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["type"], "refresh");
}

#[tokio::test]
async fn expired_cookie_reports_csrf_mismatch_first() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 3600);
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf("wrong")
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "Token has expired");
}

#[tokio::test]
async fn csrf_check_form_reads_the_form_field_through_the_layer() {
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("x=1&csrf_token={}", at.csrf().unwrap());
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    // The handler still gets the body the layer read.
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "cookies", "body": form })
    );
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "x=1&csrf_token=wrong"),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "x=1"),
    )
    .await
    .error(401, "Missing CSRF token");
    // Off by default: the field is ignored.
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("POST", "/echo").cookie(access_cookie(&at)).body(
            "application/x-www-form-urlencoded",
            format!("csrf_token={}", at.csrf().unwrap()),
        ),
    )
    .await
    .error(401, "Missing CSRF token");
}

// ------------------------------------------------------------------ query string and JSON

#[tokio::test]
async fn query_string_with_and_without_prefix() {
    let fx = plain(with_locations(&[Location::QueryString]));
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?a=1&jwt={t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "query_string");
    send(&fx.app, req("GET", "/protected?jwt=").empty())
        .await
        .error(401, "Missing 'jwt' query paramater");
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing 'jwt' query paramater");

    let mut c = with_locations(&[Location::QueryString]);
    c.query_string_value_prefix = "Bearer ".into();
    c.query_string_name = "token".into();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?token=Bearer%20{t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?token=Bearer+{t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(
        &fx.app,
        req("GET", &format!("/protected?token={t}")).empty(),
    )
    .await
    .error(
        422,
        "Invalid value for query parameter 'token'. Expected the value to start with 'Bearer '",
    );
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing 'token' query paramater");
}

#[tokio::test]
async fn json_body_through_the_layer() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token, "other": 1 });
    let r = send(&fx.app, req("POST", "/echo-json").json(body.clone())).await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "json", "body": body })
    );
    // `application/*+json` counts, parameters are ignored.
    let r = send(
        &fx.app,
        req("POST", "/protected").body("application/vnd.api+json; charset=utf-8", body.to_string()),
    )
    .await;
    assert_eq!(r.ok()["location"], "json");

    let rt = refresh_token(&fx.jwt, "alice");
    let body = json!({ "refresh_token": rt.token });
    let r = send(&fx.app, req("POST", "/refresh-json").json(body.clone())).await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "json", "body": body })
    );
    // The access key is not read on refresh routes, nor the refresh key on access routes.
    send(
        &fx.app,
        req("POST", "/refresh-json").json(json!({ "access_token": rt.token })),
    )
    .await
    .error(401, "Missing \"refresh_token\" key in json data.");
    send(
        &fx.app,
        req("POST", "/protected").json(json!({ "refresh_token": at.token })),
    )
    .await
    .error(401, "Missing \"access_token\" key in json data.");

    let missing_key = "Missing \"access_token\" key in json data.";
    for body in [
        "{}",
        "[1,2]",
        "[]",
        "not json",
        "{\"access_token\":",
        "{\"access_token\":\"\"}",
        "null",
    ] {
        send(
            &fx.app,
            req("POST", "/protected").body("application/json", body),
        )
        .await
        .error(401, missing_key);
    }
    let wrong_type = "Invalid content-type. Must be application/json.";
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, wrong_type);
    send(
        &fx.app,
        req("POST", "/protected").body(
            "text/plain",
            format!("{{\"access_token\":\"{}\"}}", at.token),
        ),
    )
    .await
    .error(401, wrong_type);
    // A non-string token is an invalid token, never a 500.
    let r = send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": 123 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

#[tokio::test]
async fn json_location_without_the_layer_finds_no_body() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(with_locations(&[Location::Json]))
        .build();
    let app = routes().with_state(jwt.clone());
    let at = access(&jwt, "alice");
    let r = send(
        &app,
        req("POST", "/protected").json(json!({ "access_token": at.token })),
    )
    .await;
    // The body is only visible through JwtLayer: a 500 naming the missing layer, never a
    // silent "missing", never accepted and never a panic.
    r.error(500, "JSON token location requires JwtLayer");
    // On every request of the route, not only those that reach the json location.
    let mut c = with_locations(&[Location::Headers, Location::Json]);
    c.error_message_key = "error".into();
    let jwt = JwtManager::builder(codec(&clock)).config(c).build();
    let app = routes().with_state(jwt.clone());
    let r = send(&app, req("GET", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.body,
        "{\"error\":\"JSON token location requires JwtLayer\"}\n"
    );
    // The same for a route that asks for the json location itself.
    let jwt = JwtManager::builder(codec(&clock)).config(fje()).build();
    let app = routes().with_state(jwt.clone());
    send(
        &app,
        req("GET", &format!("/query-or-json?jwt={}", at.token)).empty(),
    )
    .await
    .error(500, "JSON token location requires JwtLayer");
    // And for the CSRF form field, when it must be read.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let jwt = JwtManager::builder(codec(&clock)).config(c).build();
    let app = routes().with_state(jwt.clone());
    let at = access(&jwt, "alice");
    send(
        &app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "a=1"),
    )
    .await
    .error(
        500,
        "JWT_CSRF_CHECK_FORM (csrf_check_form) requires JwtLayer",
    );
    let r = send(
        &app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice", "the CSRF header needs no body");
}

/// A JSON body sent without `Content-Length` (HTTP/1.1 chunked, or HTTP/2) is a JSON body all
/// the same: flask-jwt-extended (Werkzeug) reads it. jwtx-axum's layer only captures bodies
/// with a `Content-Length`, and then answers that the content type is wrong although it is
/// `application/json`.
#[tokio::test]
async fn json_body_without_content_length_is_still_json() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token }).to_string();
    let request = Request::builder()
        .method("POST")
        .uri("/protected")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let r = send(&fx.app, request).await;
    assert_ne!(
        r.body,
        msg_body("Invalid content-type. Must be application/json."),
        "the request is application/json"
    );
    assert_eq!(r.ok()["location"], "json");
}

/// flask-jwt-extended: `if not encoded_token` makes every value Python finds falsy a missing
/// token (401, and the search goes on); any other non-string reaches PyJWT: 422.
#[tokio::test]
async fn json_token_values_follow_python_truthiness() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    for v in ["0", "0.0", "[]", "{}", "false", "null", "\"\""] {
        send(
            &fx.app,
            req("POST", "/protected")
                .body("application/json", format!(r#"{{"access_token":{v}}}"#)),
        )
        .await
        .error(401, "Missing \"access_token\" key in json data.");
    }
    for v in ["5", "true", "1.5", r#"["a.b.c"]"#, r#"{"a":1}"#] {
        send(
            &fx.app,
            req("POST", "/protected")
                .body("application/json", format!(r#"{{"access_token":{v}}}"#)),
        )
        .await
        .error(422, "Invalid token type. Token must be a <class 'bytes'>");
    }
    // A falsy value is missing, so the search goes on.
    let fx = plain(with_locations(&[Location::Json, Location::Headers]));
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .body("application/json", r#"{"access_token":0}"#),
    )
    .await;
    assert_eq!(r.ok()["location"], "headers");
    send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .body("application/json", r#"{"access_token":5}"#),
    )
    .await
    .error(422, "Invalid token type. Token must be a <class 'bytes'>");
}

/// jwtx bounds what it reads (flask-jwt-extended has no limit): a token or CSRF value that must
/// come from a body over `body_limit` is refused with 413, with or without `Content-Length`;
/// the handler of a request whose token comes from elsewhere still gets the whole body.
#[tokio::test]
async fn bodies_over_the_limit_are_413_only_when_needed() {
    let mut c = with_locations(&[Location::Headers, Location::Json]);
    c.body_limit = 1024;
    let fx = plain(c.clone());
    let at = access(&fx.jwt, "alice");
    let big = json!({ "access_token": at.token, "pad": "x".repeat(4096) });
    send(&fx.app, req("POST", "/echo-json").json(big.clone()))
        .await
        .error(413, "Request body too large");
    send(
        &fx.app,
        req("POST", "/echo-json").chunked("application/json", big.to_string()),
    )
    .await
    .error(413, "Request body too large");
    // The token is in the header: the body is not needed, and reaches the handler whole.
    for request in [
        req("POST", "/echo-json")
            .bearer(&at.token)
            .json(big.clone()),
        req("POST", "/echo-json")
            .bearer(&at.token)
            .chunked("application/json", big.to_string()),
    ] {
        let r = send(&fx.app, request).await;
        assert_eq!(
            r.ok(),
            json!({ "identity": "alice", "location": "headers", "body": big })
        );
    }
    // The error message key applies.
    c.error_message_key = "error".into();
    let fx = plain(c);
    let r = send(&fx.app, req("POST", "/protected").json(big.clone())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body, "{\"error\":\"Request body too large\"}\n");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("www-authenticate"), None);

    // The CSRF form field.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    c.body_limit = 1024;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("csrf_token={}&pad={}", at.csrf().unwrap(), "x".repeat(4096));
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", form.clone()),
    )
    .await
    .error(413, "Request body too large");
    // The CSRF header needs no body.
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .chunked("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    assert_eq!(r.ok()["body"], form);
}

#[tokio::test]
async fn chunked_form_carries_the_csrf_field() {
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("a=1&csrf_token={}", at.csrf().unwrap());
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .chunked("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "cookies", "body": form })
    );
}

/// Werkzeug joins repeated headers with ", ": two copies of the right CSRF value are one wrong
/// value.
#[tokio::test]
async fn repeated_csrf_headers_are_joined() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let csrf = at.csrf().unwrap();
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(csrf)
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf("")
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
}

#[tokio::test]
async fn location_order_and_only_missing_falls_through() {
    let fx = plain(with_locations(&[Location::Headers, Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    // A present but bad header stops the search.
    send(
        &fx.app,
        req("GET", "/protected")
            .bearer("garbage")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Bearer")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .error(
        422,
        "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'",
    );
    // Another scheme is "missing" and falls through.
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Basic abc")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "cookies");
    // headers first: a POST with a cookie but no CSRF header succeeds through the header.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "headers");
    // cookies first: the missing CSRF header stops the search.
    let fx2 = plain(with_locations(&[Location::Cookies, Location::Headers]));
    let at2 = access(&fx2.jwt, "alice");
    send(
        &fx2.app,
        req("POST", "/protected")
            .bearer(&at2.token)
            .cookie(access_cookie(&at2))
            .empty(),
    )
    .await
    .error(401, "Missing CSRF token");

    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    send(&fx.app, req("GET", "/protected").empty()).await.error(
        401,
        "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
         Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; \
         Invalid content-type. Must be application/json.)",
    );
    let r = send(&fx.app, req("POST", "/refresh").json(json!({}))).await;
    r.error(
        401,
        "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
         Missing cookie \"refresh_token_cookie\"; Missing 'jwt' query paramater; \
         Missing \"refresh_token\" key in json data.)",
    );
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": at.token })),
    )
    .await;
    assert_eq!(r.ok()["location"], "json");
}

// ------------------------------------------------------------------ callbacks

#[tokio::test]
async fn revocation_check_true_and_failing() {
    let blocklist = Arc::new(Mutex::new(HashSet::<String>::new()));
    let b = blocklist.clone();
    let fx = fixture(fje(), move |builder| {
        builder.revocation_check(move |t| {
            let revoked = b.lock().unwrap().contains(t.jti().unwrap_or_default());
            async move { Ok::<_, std::io::Error>(revoked) }
        })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    blocklist.lock().unwrap().insert(at.jti().to_owned());
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has been revoked");
    // A revoked token on a route taking the other type reports the type first.
    send(&fx.app, req("POST", "/refresh").bearer(&at.token).empty())
        .await
        .error(422, "Only refresh tokens are allowed");

    let fx = fixture(fje(), |b| {
        b.revocation_check(|_t| async { Err::<bool, _>(std::io::Error::other("redis down")) })
    });
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    r.error(503, "Authentication is temporarily unavailable");
    assert!(!r.body.contains("redis"), "the cause stays in the logs");
    // Optional routes do not turn a store failure into "no token".
    send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .error(503, "Authentication is temporarily unavailable");
}

#[tokio::test]
async fn token_verification_false_is_400() {
    let fx = fixture(fje(), |b| b.token_verification(|t| t.sub() != "mallory"));
    let ok = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&ok.token).empty())
        .await
        .ok();
    let bad = access(&fx.jwt, "mallory");
    send(&fx.app, req("GET", "/protected").bearer(&bad.token).empty())
        .await
        .error(400, "User claims verification failed");
}

fn users() -> impl FnOnce(JwtManagerBuilder) -> JwtManagerBuilder {
    |b| {
        b.user_loader(|t| async move {
            Ok::<_, std::io::Error>(match t.sub() {
                "alice" => Some(User {
                    name: "Alice".into(),
                    admin: true,
                }),
                "broken" => return Err(std::io::Error::other("db down")),
                _ => None,
            })
        })
    }
}

#[tokio::test]
async fn user_loader_and_current_user() {
    let fx = fixture(fje(), users());
    let alice = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/user").bearer(&alice.token).empty()).await;
    assert_eq!(r.ok(), json!({ "name": "Alice", "admin": true }));
    // Every protected route loads the user, as flask-jwt-extended does.
    let ghost = access(&fx.jwt, "ghost");
    send(&fx.app, req("GET", "/user").bearer(&ghost.token).empty())
        .await
        .error(401, "Error loading the user ghost");
    send(
        &fx.app,
        req("GET", "/protected").bearer(&ghost.token).empty(),
    )
    .await
    .error(401, "Error loading the user ghost");
    // The identity in the message is written as Flask's jsonify writes it (ASCII only).
    let r = send(
        &fx.app,
        req("GET", "/user")
            .bearer(&access(&fx.jwt, "b\u{e9}b").token)
            .empty(),
    )
    .await;
    assert_eq!(r.body, "{\"msg\":\"Error loading the user b\\u00e9b\"}\n");
    let broken = access(&fx.jwt, "broken");
    send(&fx.app, req("GET", "/user").bearer(&broken.token).empty())
        .await
        .error(503, "Authentication is temporarily unavailable");
    send(&fx.app, req("GET", "/user").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn current_user_misconfigured_is_a_500_not_a_panic() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/user").bearer(&at.token).empty()).await;
    r.error(500, "CurrentUser needs JwtManagerBuilder::user_loader");
    let fx = fixture(fje(), |b| {
        b.user_loader(|_t| async { Ok::<_, std::io::Error>(Some(42_u32)) })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/user").bearer(&at.token).empty())
        .await
        .error(500, "CurrentUser<U>: U is not the user loader's type");
}

#[tokio::test]
async fn additional_claims_and_headers_loaders() {
    let fx = fixture(fje(), |b| {
        b.additional_claims(|identity| {
            let mut m = Map::new();
            m.insert("roles".into(), json!([format!("role-of-{identity}")]));
            m.insert("org".into(), "loader".into());
            m
        })
        .additional_headers(|_| {
            let mut m = Map::new();
            m.insert("x-loader".into(), true.into());
            m
        })
    });
    let mut explicit = Map::new();
    explicit.insert("org".into(), "explicit".into());
    let at = fx
        .jwt
        .access_token("alice")
        .claims(explicit)
        .sign()
        .unwrap();
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    // Claims given at creation win over the loader's.
    assert_eq!(
        v["custom"],
        json!({ "roles": ["role-of-alice"], "org": "explicit" })
    );
    assert_eq!(v["header"]["x-loader"], true);
    // The loaders apply to refresh tokens too.
    let rt = refresh_token(&fx.jwt, "bob");
    let v = send(&fx.app, req("POST", "/refresh").bearer(&rt.token).empty())
        .await
        .ok();
    assert_eq!(
        v["custom"],
        json!({ "roles": ["role-of-bob"], "org": "loader" })
    );
}

#[tokio::test]
async fn encode_key_and_decode_keys_loaders() {
    let tenant_key = || {
        Key::hmac(Algorithm::HS256, b"tenant-b's own secret, 32+ bytes long")
            .unwrap()
            .with_kid("tenant-b")
    };
    let tenant = Arc::new(tenant_key());
    let enc = tenant.clone();
    let encode = move |identity: &str| (identity == "bob").then(|| enc.clone());
    let dec = KeySet::from(tenant_key());
    let fx = fixture(fje(), move |b| {
        b.encode_key(encode.clone())
            .decode_keys(move |header, _payload| {
                (header.get("kid").and_then(Value::as_str) == Some("tenant-b")).then(|| dec.clone())
            })
    });
    let bob = access(&fx.jwt, "bob");
    let v = send(&fx.app, req("GET", "/protected").bearer(&bob.token).empty())
        .await
        .ok();
    assert_eq!(v["header"]["kid"], "tenant-b");
    let alice = access(&fx.jwt, "alice");
    let v = send(
        &fx.app,
        req("GET", "/protected").bearer(&alice.token).empty(),
    )
    .await
    .ok();
    assert_eq!(v["header"].get("kid"), None);
    assert_eq!(fx.jwt.decode_token(&bob.token).unwrap().sub(), "bob");

    // Without the decode-key loader the tenant's token is checked against the one configured
    // (kid-less) secret, whatever kid it names, as flask-jwt-extended does: wrong signature.
    let enc = tenant.clone();
    let fx = fixture(fje(), move |b| {
        b.encode_key(move |identity: &str| (identity == "bob").then(|| enc.clone()))
    });
    let bob = access(&fx.jwt, "bob");
    send(&fx.app, req("GET", "/protected").bearer(&bob.token).empty())
        .await
        .error(422, "Signature verification failed");
}

/// `decode_token(t, allow_expired=True)` picks its key like every other decode: through
/// `decode_key_loader`. An expired token signed with a loader-chosen key must decode.
#[test]
fn decode_token_allow_expired_uses_the_decode_key_loader() {
    let tenant_key = || {
        Key::hmac(Algorithm::HS256, b"tenant-b's own secret, 32+ bytes long")
            .unwrap()
            .with_kid("tenant-b")
    };
    let enc = Arc::new(tenant_key());
    let dec = KeySet::from(tenant_key());
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(fje())
        .encode_key(move |_identity| Some(enc.clone()))
        .decode_keys(move |_header, _payload| Some(dec.clone()))
        .build();
    let bob = access(&jwt, "bob");
    assert_eq!(jwt.decode_token(&bob.token).unwrap().sub(), "bob");
    assert_eq!(
        jwt.decode_token_allow_expired(&bob.token)
            .map(|v| v.sub().to_owned())
            .map_err(|e| e.to_string()),
        Ok("bob".to_owned()),
        "before expiry"
    );
    clock.set(T0 + 3600);
    assert_eq!(
        jwt.decode_token_allow_expired(&bob.token)
            .map(|v| v.sub().to_owned())
            .map_err(|e| e.to_string()),
        Ok("bob".to_owned()),
        "after expiry"
    );
}

#[tokio::test]
async fn error_handler_overrides_responses() {
    let fx = fixture(fje(), |b| {
        b.error_handler(|e, config| match e.kind() {
            ErrorKind::Expired => (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "token_expired", "reason": e.reason() })),
            )
                .into_response(),
            _ => e.default_response(config),
        })
    });
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 900);
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, r#"{"error":"token_expired","reason":"expired"}"#);
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn error_message_key_is_configurable() {
    let mut c = fje();
    c.error_message_key = "error".into();
    let fx = plain(c);
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, "{\"error\":\"Missing Authorization Header\"}\n");
}

#[tokio::test]
async fn rfc6750_error_style() {
    let mut c = fje();
    c.error_style = ErrorStyle::Rfc6750;
    let fx = fixture(c, |b| b.token_verification(|t| t.sub() != "mallory"));
    let check = |r: &Res, www: &str, message: &str| {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.header("www-authenticate"), Some(www));
        assert_eq!(r.body, msg_body(message));
        assert_eq!(r.header("content-type"), Some("application/json"));
    };
    // No token at all: no error code (RFC 6750 §3.1).
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    check(&r, "Bearer", "Missing Authorization Header");
    let r = send(&fx.app, req("GET", "/protected").bearer("garbage").empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Not enough segments\"",
        "Not enough segments",
    );
    let rt = refresh_token(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&rt.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Only non-refresh tokens are allowed\"",
        "Only non-refresh tokens are allowed",
    );
    let bad = access(&fx.jwt, "mallory");
    let r = send(&fx.app, req("GET", "/protected").bearer(&bad.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"User claims verification failed\"",
        "User claims verification failed",
    );
    // Quotes in the message cannot break out of the quoted string.
    let clock = Arc::new(FixedClock::new(T0));
    let strict = codec(&clock).with_validation(jwtx::Validation::new().audience("api"));
    let mut c = fje();
    c.error_style = ErrorStyle::Rfc6750;
    let jwt = JwtManager::builder(strict).config(c).build();
    let app = routes().with_state(jwt.clone());
    let no_aud = access(&jwt, "alice");
    let r = send(&app, req("GET", "/protected").bearer(&no_aud.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Token is missing the 'aud' claim\"",
        "Token is missing the \"aud\" claim",
    );
}

// ------------------------------------------------------------------ token utilities

#[test]
fn decode_token_get_jti_get_csrf_token_unverified_header() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(fje())
        .revocation_check(|_t| async { Ok::<_, std::io::Error>(true) })
        .build();
    let at = jwt
        .access_token("alice")
        .claim("roles", json!(["user"]))
        .sign()
        .unwrap();
    let rt = refresh_token(&jwt, "alice");
    // decode_token: signature and claims only (no type, revocation, freshness).
    let d = jwt.decode_token(&at.token).unwrap();
    assert_eq!(d.sub(), "alice");
    assert_eq!(d.custom()["roles"], json!(["user"]));
    assert_eq!(
        jwt.decode_token(&rt.token).unwrap().token_type().as_str(),
        "refresh"
    );
    assert_eq!(jwt.get_jti(&at.token).unwrap().as_deref(), Some(at.jti()));
    assert_eq!(jwt.get_csrf_token(&at.token).unwrap().as_deref(), at.csrf());
    assert_ne!(at.csrf(), rt.csrf());
    let h = jwt.unverified_header(&at.token).unwrap();
    assert_eq!(Value::Object(h), json!({ "alg": "HS256", "typ": "JWT" }));

    let e = jwt.decode_token("garbage").unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.message().as_ref()),
        (422, "Not enough segments")
    );
    assert_eq!(
        jwt.unverified_header("a.b").unwrap_err().message(),
        "Not enough segments"
    );

    // Another key's token: the signature fails, also for the helpers.
    let other =
        Codec::new(Key::hmac(Algorithm::HS256, b"another secret of at least 32 bytes").unwrap())
            .with_clock(clock.clone());
    let foreign = other.access_token("eve").sign().unwrap();
    assert_eq!(
        jwt.decode_token(&foreign.token).unwrap_err().message(),
        "Signature verification failed"
    );
    assert!(jwt.get_jti(&foreign.token).is_err());
    assert!(jwt.get_csrf_token(&foreign.token).is_err());
    // …but its header can be read unverified.
    assert_eq!(
        jwt.unverified_header(&foreign.token).unwrap()["alg"],
        "HS256"
    );

    // Expired: refused, unless asked for explicitly.
    clock.set(T0 + 900);
    let e = jwt.decode_token(&at.token).unwrap_err();
    assert_eq!((e.kind(), e.status().as_u16()), (ErrorKind::Expired, 401));
    let d = jwt.decode_token_allow_expired(&at.token).unwrap();
    assert_eq!((d.sub(), d.claims().exp), ("alice", Some(T0 + 900)));
    assert!(jwt.decode_token_allow_expired(&foreign.token).is_err());
}

// ------------------------------------------------------------------ OPTIONS

#[tokio::test]
async fn options_requests_are_never_verified() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(false) }
        })
    });
    // Option<Jwt>: the handler runs with None, even with a garbage token.
    let r = send(
        &fx.app,
        req("OPTIONS", "/optional").bearer("garbage").empty(),
    )
    .await;
    assert_eq!(r.ok(), json!({ "identity": null, "location": null }));
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("OPTIONS", "/optional").bearer(&at.token).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], Value::Null);
    // A required token on OPTIONS is the application's mistake: a JSON 500, never a panic.
    for path in [
        "/protected",
        "/fresh",
        "/refresh",
        "/any",
        "/roles",
        "/user",
        "/several",
    ] {
        let r = send(&fx.app, req("OPTIONS", path).bearer(&at.token).empty()).await;
        assert_eq!(
            r.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: {}",
            r.body
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("www-authenticate"), None);
        assert!(
            r.body.starts_with("{\"msg\":\"") && r.body.ends_with("\"}\n"),
            "{}",
            r.body
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// ------------------------------------------------------------------ one verification

#[tokio::test]
async fn one_verification_per_request() {
    let revocations = Arc::new(AtomicUsize::new(0));
    let lookups = Arc::new(AtomicUsize::new(0));
    let (r, l) = (revocations.clone(), lookups.clone());
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            r.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(false) }
        })
        .user_loader(move |t| {
            l.fetch_add(1, Ordering::SeqCst);
            let name = t.sub().to_owned();
            async move { Ok::<_, std::io::Error>(Some(User { name, admin: false })) }
        })
    });
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/several").bearer(&at.token).empty()).await;
    assert_eq!(r.ok(), json!({ "same": true }));
    assert_eq!(revocations.load(Ordering::SeqCst), 1);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    let r = send(&fx.app, req("GET", "/user").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["name"], "alice");
    assert_eq!(revocations.load(Ordering::SeqCst), 2);
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}

// ------------------------------------------------------------------ implicit refresh

fn implicit() -> Fx {
    fixture_with(
        with_locations(&[Location::Cookies]),
        |b| b,
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    )
}

#[tokio::test]
async fn implicit_refresh_near_expiry_reissues_the_access_cookie() {
    let fx = implicit();
    let at = fx
        .jwt
        .access_token("alice")
        .expires_in(Duration::from_secs(60 * 60))
        .claim("roles", json!(["admin"]))
        .sign()
        .unwrap();
    // 50 minutes left: nothing.
    fx.clock.set(T0 + 10 * 60);
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // 10 minutes left: a new access cookie and a new CSRF cookie.
    fx.clock.set(T0 + 50 * 60);
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    let cookies = r.cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let new_token = cookies[0]
        .strip_prefix("access_token_cookie=")
        .and_then(|c| c.strip_suffix("; HttpOnly; Path=/"))
        .unwrap();
    let new_csrf = cookies[1]
        .strip_prefix("csrf_access_token=")
        .and_then(|c| c.strip_suffix("; Path=/"))
        .unwrap();
    assert_ne!(new_token, at.token);
    assert_ne!(Some(new_csrf), at.csrf(), "the CSRF value changes");
    let d = fx.jwt.decode_token(new_token).unwrap();
    assert_eq!(d.sub(), "alice");
    assert_eq!(d.claims().csrf.as_deref(), Some(new_csrf));
    assert_eq!(d.claims().exp, Some(T0 + 50 * 60 + 900));
    assert_eq!(
        d.custom()["roles"],
        json!(["admin"]),
        "application claims are kept"
    );
    // The new cookie works, with its new CSRF value.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .cookie(format!("access_token_cookie={new_token}"))
            .csrf(new_csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["custom"]["roles"], json!(["admin"]));
}

#[tokio::test]
async fn implicit_refresh_leaves_errors_logout_and_other_locations_alone() {
    let fx = implicit();
    let at = access(&fx.jwt, "alice"); // 15 minutes: always inside the 30-minute window
    let cookie = access_cookie(&at);
    // Error response from the handler.
    let r = send(&fx.app, req("GET", "/forbidden").cookie(&cookie).empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // Refused token (CSRF missing).
    let r = send(&fx.app, req("POST", "/protected").cookie(&cookie).empty()).await;
    r.error(401, "Missing CSRF token");
    assert!(r.cookies().is_empty());
    // A logout that deletes the cookies is not re-cookied.
    let r = send(
        &fx.app,
        req("POST", "/logout")
            .cookie(&cookie)
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok(), json!({ "logout": true }));
    assert_eq!(
        r.cookies(),
        [
            "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "refresh_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_refresh_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    // A refresh-token route is not an access cookie.
    let rt = fx
        .jwt
        .refresh_token("alice")
        .expires_in(Duration::from_secs(60))
        .sign()
        .unwrap();
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .csrf(rt.csrf().unwrap())
            .empty(),
    )
    .await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // Optional route without a token.
    let r = send(&fx.app, req("GET", "/optional").empty()).await;
    r.ok();
    assert!(r.cookies().is_empty());

    // A token from a header is not re-issued as a cookie.
    let fx = fixture_with(
        with_locations(&[Location::Headers, Location::Cookies]),
        |b| b,
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    );
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
}

/// flask-jwt-extended's documented implicit refresh re-creates the token with
/// `create_access_token(identity=get_jwt_identity())`, so `additional_claims_loader` decides
/// the claims of the new token: a user whose roles changed gets the new roles at the next
/// refresh. Claims carried over from the old token must not override what the loader says now,
/// or a demoted user keeps the old roles for as long as implicit refresh keeps the session alive.
#[tokio::test]
async fn implicit_refresh_lets_the_claims_loader_win() {
    let roles = Arc::new(Mutex::new(json!(["admin"])));
    let current = roles.clone();
    let fx = fixture_with(
        with_locations(&[Location::Cookies]),
        move |b| {
            b.additional_claims(move |_identity| {
                let mut m = Map::new();
                m.insert("roles".into(), current.lock().unwrap().clone());
                m
            })
        },
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    );
    let at = fx
        .jwt
        .access_token("alice")
        .claim("org", "acme")
        .sign()
        .unwrap();
    assert_eq!(
        fx.jwt.decode_token(&at.token).unwrap().custom()["roles"],
        json!(["admin"])
    );
    *roles.lock().unwrap() = json!(["user"]); // alice is demoted
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    let new_token = r.cookies()[0]
        .strip_prefix("access_token_cookie=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let d = fx.jwt.decode_token(&new_token).unwrap();
    assert_eq!(
        d.custom()["org"],
        "acme",
        "claims the loader does not make are kept"
    );
    assert_eq!(
        d.custom()["roles"],
        json!(["user"]),
        "the loader's current roles, not the old token's"
    );
}

// ------------------------------------------------------------------ cookie attributes

fn jwt_and_csrf(res: &Res) -> (String, String) {
    let v: Value = serde_json::from_str(&res.body).unwrap();
    (
        v["access"].as_str().unwrap().to_owned(),
        v["refresh"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn flask_jwt_extended_cookie_lines_exactly() {
    let fx = plain(fje());
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    assert_eq!(
        r.cookies(),
        [
            format!("access_token_cookie={at}; HttpOnly; Path=/"),
            format!("csrf_access_token={at_csrf}; Path=/"),
            format!("refresh_token_cookie={rt}; HttpOnly; Path=/"),
            format!("csrf_refresh_token={rt_csrf}; Path=/"),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    assert_eq!(
        r.cookies(),
        [
            "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "refresh_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_refresh_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    // `set_access_cookies(resp, at, max_age=600, domain="api.example.com")`.
    let r = send(&fx.app, req("POST", "/login-overrides").empty()).await;
    let (at, _) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; Domain=api.example.com; \
                 Expires=Sun, 22 Nov 2026 08:09:03 GMT; Max-Age=600; HttpOnly; Path=/"
            ),
            format!(
                "csrf_access_token={at_csrf}; Domain=api.example.com; \
                 Expires=Sun, 22 Nov 2026 08:09:03 GMT; Max-Age=600; Path=/"
            ),
        ]
    );
}

#[tokio::test]
async fn persistent_secure_strict_domain_and_paths() {
    // Reference §d: Secure, SameSite=Strict, JWT_SESSION_COOKIE=False,
    // JWT_COOKIE_DOMAIN=".example.com", ACCESS_COOKIE_PATH="/api/",
    // REFRESH_COOKIE_PATH="/token/refresh".
    let mut c = fje().persistent_cookies();
    c.cookie_secure = true;
    c.cookie_samesite = Some(SameSite::Strict);
    c.cookie_domain = Some(".example.com".into());
    c.access_cookie_path = "/api/".into();
    c.refresh_cookie_path = "/token/refresh".into();
    let fx = plain(c);
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    let life = "Expires=Mon, 22 Nov 2027 09:05:43 GMT; Max-Age=31540000";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; Domain=example.com; {life}; Secure; HttpOnly; Path=/api/; SameSite=Strict"
            ),
            format!(
                "csrf_access_token={at_csrf}; Domain=example.com; {life}; Secure; Path=/; SameSite=Strict"
            ),
            format!(
                "refresh_token_cookie={rt}; Domain=example.com; {life}; Secure; HttpOnly; Path=/token/refresh; SameSite=Strict"
            ),
            format!(
                "csrf_refresh_token={rt_csrf}; Domain=example.com; {life}; Secure; Path=/; SameSite=Strict"
            ),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    let gone = "Expires=Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie=; Domain=example.com; {gone}; Secure; HttpOnly; Path=/api/; SameSite=Strict"
            ),
            format!(
                "csrf_access_token=; Domain=example.com; {gone}; Secure; Path=/; SameSite=Strict"
            ),
            format!(
                "refresh_token_cookie=; Domain=example.com; {gone}; Secure; HttpOnly; Path=/token/refresh; SameSite=Strict"
            ),
            format!(
                "csrf_refresh_token=; Domain=example.com; {gone}; Secure; Path=/; SameSite=Strict"
            ),
        ]
    );
}

#[tokio::test]
async fn secure_default_cookies_last_as_long_as_the_token() {
    let fx = plain(JwtConfig::default());
    assert_eq!(
        fx.jwt.config().cookie_lifetime,
        CookieLifetime::TokenLifetime
    );
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    let access_life = "Expires=Sun, 22 Nov 2026 08:14:03 GMT; Max-Age=900";
    let refresh_life = "Expires=Tue, 22 Dec 2026 07:59:03 GMT; Max-Age=2592000";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; {access_life}; Secure; HttpOnly; Path=/; SameSite=Lax"
            ),
            format!("csrf_access_token={at_csrf}; {access_life}; Secure; Path=/; SameSite=Lax"),
            format!(
                "refresh_token_cookie={rt}; {refresh_life}; Secure; HttpOnly; Path=/; SameSite=Lax"
            ),
            format!("csrf_refresh_token={rt_csrf}; {refresh_life}; Secure; Path=/; SameSite=Lax"),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    assert_eq!(
        r.cookies()[0],
        "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; Path=/; SameSite=Lax"
    );
}

#[tokio::test]
async fn csrf_cookies_only_with_csrf_protection_and_csrf_in_cookies() {
    for (protect, in_cookies) in [(false, true), (true, false)] {
        let mut c = fje();
        c.csrf_protect = protect;
        c.csrf_in_cookies = in_cookies;
        let fx = plain(c);
        let r = send(&fx.app, req("POST", "/login").empty()).await;
        let (at, rt) = jwt_and_csrf(&r);
        assert_eq!(
            r.cookies(),
            [
                format!("access_token_cookie={at}; HttpOnly; Path=/"),
                format!("refresh_token_cookie={rt}; HttpOnly; Path=/"),
            ]
        );
        assert_eq!(r.cookies().len(), 2);
    }
    // Without CSRF protection, unsafe methods need no CSRF header.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_protect = false;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("DELETE", "/protected")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
}

// ------------------------------------------------------------------ bad input

#[tokio::test]
async fn malformed_authorization_bytes() {
    let fx = plain(fje());
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", b"Bearer \xff\xfe")
            .empty(),
    )
    .await;
    r.error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", b"\xff\xfe")
            .empty(),
    )
    .await
    .error(
        401,
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
    );
    let at = access(&fx.jwt, "alice");
    let mut bytes = b"Bearer ".to_vec();
    bytes.extend_from_slice(at.token.as_bytes());
    bytes.push(0xe9);
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", &bytes)
            .empty(),
    )
    .await
    .error(422, "Invalid crypto padding");
    // Non-UTF-8 cookies are no cookies; a non-UTF-8 CSRF header is a mismatch.
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("GET", "/protected")
            .cookie(b"access_token_cookie=\xff")
            .empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .header("x-csrf-token", b"\xff")
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    let huge = "a".repeat(8 * 1024 + 1);
    send(&fx.app, req("GET", "/protected").bearer(&huge).empty())
        .await
        .error(422, "Token is too large");
    send(
        &fx.app,
        req("GET", "/protected")
            .cookie(format!("access_token_cookie={huge}"))
            .empty(),
    )
    .await
    .error(422, "Token is too large");
    send(
        &fx.app,
        req("GET", &format!("/protected?jwt={huge}")).empty(),
    )
    .await
    .error(422, "Token is too large");
    send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": huge })),
    )
    .await
    .error(422, "Token is too large");
    // At the cap, the token is decoded (and found malformed).
    let at_cap = "a".repeat(8 * 1024);
    send(&fx.app, req("GET", "/protected").bearer(&at_cap).empty())
        .await
        .error(422, "Not enough segments");
    // Oversized, but shaped like a JWT.
    let padded = format!(
        "{}.{}.{}",
        "a".repeat(4096),
        "b".repeat(4096),
        "c".repeat(100)
    );
    send(&fx.app, req("GET", "/protected").bearer(&padded).empty())
        .await
        .error(422, "Token is too large");
}

#[tokio::test]
async fn oversized_json_body_is_not_read() {
    let mut c = with_locations(&[Location::Json]);
    c.body_limit = 1024;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token, "pad": "x".repeat(2048) });
    let r = send(&fx.app, req("POST", "/protected").json(body)).await;
    r.error(413, "Request body too large");
    // A body longer than its Content-Length claims does not hang or crash the request.
    let request = Request::builder()
        .method("POST")
        .uri("/protected")
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(Body::from(
            json!({ "access_token": at.token, "pad": "x".repeat(2048) }).to_string(),
        ))
        .unwrap();
    send(&fx.app, request)
        .await
        .error(413, "Request body too large");
}

#[tokio::test]
async fn repeated_authorization_headers() {
    let fx = plain(fje());
    let t = access(&fx.jwt, "alice").token;
    // Two headers are one comma-separated list: two Bearer entries are ambiguous.
    send(
        &fx.app,
        req("GET", "/protected").bearer(&t).bearer(&t).empty(),
    )
    .await
    .error(
        401,
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
    );
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Basic abc")
            .bearer(&t)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "")
            .bearer(&t)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
}

#[tokio::test]
async fn unhelpful_inputs_never_500() {
    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    let cases: Vec<Request<Body>> = vec![
        req("GET", "/protected").bearer("a.b.c").empty(),
        req("GET", "/protected").bearer("....").empty(),
        req("GET", "/protected").bearer("e30.e30.e30").empty(),
        req("GET", "/protected")
            .bearer("eyJhbGciOiJub25lIn0.e30.")
            .empty(),
        req("GET", "/protected")
            .cookie("access_token_cookie=\"\"")
            .empty(),
        req("GET", "/protected")
            .cookie(";;;=;access_token_cookie")
            .empty(),
        req("GET", "/protected?jwt=%ff%fe").empty(),
        req("GET", "/protected?jwt").empty(),
        req("POST", "/protected").body("application/json", "{\"access_token\":[\"a\"]}"),
        req("POST", "/protected").body("application/json", "{\"access_token\":{}}"),
        req("POST", "/protected").body("application/json", "\u{feff}{}"),
        req("POST", "/refresh").body("application/json", "{\"refresh_token\":null}"),
        req("POST", "/echo").body("application/x-www-form-urlencoded", "%%%&&&=="),
    ];
    for request in cases {
        let what = format!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.headers()
        );
        let r = send(&fx.app, request).await;
        assert!(
            [401, 422].contains(&r.status.as_u16()),
            "{what}: {} {}",
            r.status,
            r.body
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        assert!(
            r.body.starts_with("{\"msg\":") && r.body.ends_with("}\n"),
            "{what}: {}",
            r.body
        );
    }
}

#[test]
fn jwt_error_default_response_matches_kind() {
    let config = fje();
    let cases = [
        (JwtError::Revoked, 401, "Token has been revoked"),
        (
            JwtError::VerificationFailed,
            400,
            "User claims verification failed",
        ),
        (
            JwtError::UserLookup {
                sub: "b\u{e9}b".into(),
            },
            401,
            "Error loading the user b\u{e9}b",
        ),
    ];
    for (e, status, message) in cases {
        assert_eq!(e.status().as_u16(), status);
        assert_eq!(e.message(), message);
        let r = e.default_response(&config);
        assert_eq!(r.status().as_u16(), status);
    }
}

// ------------------------------------------------------------------ cache of verified tokens

/// A manager with the cache of verified tokens answers every request exactly as one
/// without it, each request sent twice (the second from the cache): token types, freshness,
/// CSRF, revocation and the user loader still decide per request, and the time rules are
/// asked again as the clock moves (a token expires; one signed ahead becomes valid).
#[tokio::test]
async fn verified_cache_answers_as_verification_does() {
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let deleted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let build = |cache: usize| {
        let (revoked, deleted) = (revoked.clone(), deleted.clone());
        move |b: JwtManagerBuilder| {
            b.verified_cache(cache)
                .revocation_check(move |t| {
                    let r = t.jti().is_some_and(|j| revoked.lock().unwrap().contains(j));
                    async move { Ok::<_, std::io::Error>(r) }
                })
                .user_loader(move |t| {
                    let gone = deleted.lock().unwrap().contains(t.sub());
                    let name = t.sub().to_owned();
                    async move {
                        Ok::<_, std::io::Error>((!gone).then_some(User {
                            admin: name == "root",
                            name,
                        }))
                    }
                })
        }
    };
    let both = || with_locations(&[Location::Headers, Location::Cookies]);
    let cached = fixture(both(), build(64));
    let plain = fixture(both(), build(0));
    // One secret and one time for both managers: one set of tokens serves both.
    let m = &cached.jwt;
    let (a, b, carol) = (access(m, "alice"), access(m, "bob"), access(m, "carol"));
    let r = refresh_token(m, "alice");
    let fresh_token = m.access_token("alice").fresh(true).sign().unwrap();
    cached.clock.set(T0 + 100);
    let ahead = access(m, "dave");
    cached.clock.set(T0);
    let csrf = a.csrf().unwrap().to_owned();
    let requests = || {
        [
            ("access", req("GET", "/protected").bearer(&a.token).empty()),
            ("user", req("GET", "/user").bearer(&b.token).empty()),
            (
                "refresh as access",
                req("GET", "/protected").bearer(&r.token).empty(),
            ),
            ("refresh", req("GET", "/refresh").bearer(&r.token).empty()),
            ("not fresh", req("GET", "/fresh").bearer(&a.token).empty()),
            (
                "fresh",
                req("GET", "/fresh").bearer(&fresh_token.token).empty(),
            ),
            (
                "deleted user",
                req("GET", "/user").bearer(&carol.token).empty(),
            ),
            (
                "signed ahead",
                req("GET", "/protected").bearer(&ahead.token).empty(),
            ),
            (
                "cookie, right csrf",
                req("POST", "/protected")
                    .cookie(access_cookie(&a))
                    .csrf(&csrf)
                    .empty(),
            ),
            (
                "cookie, wrong csrf",
                req("POST", "/protected")
                    .cookie(access_cookie(&a))
                    .csrf("x")
                    .empty(),
            ),
        ]
    };
    let mut statuses = Vec::new();
    for phase in ["now", "revoked and deleted", "16 minutes on"] {
        match phase {
            "revoked and deleted" => {
                revoked
                    .lock()
                    .unwrap()
                    .insert(b.claims.jti.clone().unwrap());
                deleted.lock().unwrap().insert("carol".to_owned());
            }
            "16 minutes on" => {
                cached.clock.advance(16 * 60);
                plain.clock.advance(16 * 60);
            }
            _ => {}
        }
        for _twice in 0..2 {
            for ((what, x), (_, y)) in requests().into_iter().zip(requests()) {
                let (x, y) = (send(&cached.app, x).await, send(&plain.app, y).await);
                assert_eq!(
                    (x.status, &x.body, x.header("www-authenticate")),
                    (y.status, &y.body, y.header("www-authenticate")),
                    "{phase}: {what}"
                );
                statuses.push(x.status.as_u16());
            }
        }
    }
    // The scenarios reach both outcomes: accepted from the cache, and refused by each rule.
    assert_eq!(
        &statuses[..10],
        &[200, 200, 422, 200, 401, 200, 200, 422, 200, 401],
        "first pass at T0"
    );
    assert_eq!(
        &statuses[20..30],
        &[200, 401, 422, 200, 401, 200, 401, 422, 200, 401]
    );
    assert_eq!(
        &statuses[40..50],
        &[401, 401, 422, 200, 401, 401, 401, 200, 401, 401]
    );
    let stats = cached.jwt.verified_cache_stats();
    assert!(stats.hits >= 20, "{stats:?}");
    assert_eq!(plain.jwt.verified_cache_stats(), Default::default());
}
