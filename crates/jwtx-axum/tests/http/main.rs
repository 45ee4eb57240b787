#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]
//! jwtx-axum over HTTP, request by request: statuses, exact bodies, headers and Set-Cookie
//! lines, checked against flask-jwt-extended's observed behaviour
//! (version 4.7.4, observed request by request). Every router is driven with
//! `tower::ServiceExt::oneshot`; time is pinned with a `FixedClock` in the codec.
//!
//! One module per area (`extractors`, `routes`, `headers`, `cookies`, `query_and_json`,
//! `callbacks`, `token_utilities`, `verification`, `implicit_refresh`, `cookie_attributes`,
//! `bad_input`, `cache`), each saying what it covers; this file holds what they share: the
//! fixtures (managers, routers, handlers) and the request and response helpers.

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

mod bad_input;
mod cache;
mod callbacks;
mod cookie_attributes;
mod cookies;
mod extractors;
mod headers;
mod implicit_refresh;
mod query_and_json;
mod routes;
mod token_utilities;
mod verification;

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
