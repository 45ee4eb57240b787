//! Seed document 001 ("JWT Flask Integration with flask-jwt-extended") ported to jwtx-axum, with
//! the flask-jwt-extended 4.x meaning of what the document intends: tokens in cookies, CSRF
//! double submit on, 5-minute access and 7-day refresh tokens, roles as a claim, a blocklist
//! consulted on every request, and logout that revokes the token it was called with.
//!
//! ```sh
//! JWT_SECRET_KEY=$(openssl rand -hex 32) cargo run -p jwtx-axum --example seed_cookies
//! ```
//!
//! Listens on 127.0.0.1:5000 (or `$PORT`). The curl session is in the crate's README; unsafe
//! methods (POST /refresh, POST /logout) need the `X-CSRF-TOKEN` header.

#![allow(missing_docs)]

use std::collections::HashSet;
use std::convert::Infallible;
use std::env;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::constant_time;
use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jwtx::{Algorithm, Codec, Key};
use jwtx_axum::{Jwt, JwtConfig, JwtManager, Location, RefreshJwt};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A user of the dummy user data.
struct User {
    name: &'static str,
    password: &'static str,
    roles: &'static [&'static str],
}

/// `users = {"testuser": {...}, "admin": {...}}`.
const USERS: &[User] = &[
    User {
        name: "testuser",
        password: "testpass",
        roles: &["user"],
    },
    User {
        name: "admin",
        password: "adminpass",
        roles: &["admin", "user"],
    },
];

/// `BLACKLIST = set()`: revoked `jti`s, in this process only (several processes need a shared
/// store such as Redis or a database).
type Blocklist = Arc<Mutex<HashSet<String>>>;

/// Router state: the manager (found by the extractors through `FromRef`) and the blocklist.
#[derive(Clone)]
struct App {
    jwt: JwtManager,
    blocklist: Blocklist,
}

impl FromRef<App> for JwtManager {
    fn from_ref(app: &App) -> JwtManager {
        app.jwt.clone()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The app: configuration, callbacks and routes, then serve.
async fn run() -> Result<(), Box<dyn Error>> {
    // JWT_ACCESS_TOKEN_EXPIRES = 5 minutes, JWT_REFRESH_TOKEN_EXPIRES = 7 days
    let codec = Codec::new(signing_key()?)
        .with_access_ttl(Some(Duration::from_secs(5 * 60)))
        .with_refresh_ttl(Some(Duration::from_secs(7 * 24 * 60 * 60)));
    // flask-jwt-extended's defaults include JWT_COOKIE_CSRF_PROTECT = True (the document's
    // "JWT_CSRF_PROTECTION" never existed) and JWT_COOKIE_SECURE = False, for plain-HTTP local
    // testing only: start from JwtConfig::default() in production (Secure, SameSite=Lax).
    let mut config = JwtConfig::flask_jwt_extended();
    config.token_location = vec![Location::Cookies]; // JWT_TOKEN_LOCATION = ["cookies"]

    let blocklist = Blocklist::default();
    let revoked = blocklist.clone();
    let jwt = JwtManager::builder(codec)
        .config(config)
        // @jwt.additional_claims_loader: roles in every token, refreshed ones included
        .additional_claims(roles_claim)
        // @jwt.token_in_blocklist_loader (the document's 3.x `token_loader`)
        .revocation_check(move |token| {
            let hit = token.jti().is_some_and(|jti| lock(&revoked).contains(jti));
            async move { Ok::<_, Infallible>(hit) }
        })
        .build();

    let app = Router::new()
        .route("/login", post(login))
        .route("/protected", get(protected))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/admin", get(admin))
        .with_state(App { jwt, blocklist });
    serve(app).await
}

/// `login()`: checks the credentials, sets the access and refresh cookies (each with its CSRF
/// cookie) and answers `{"login": true}`.
async fn login(State(app): State<App>, Json(data): Json<Value>) -> Response {
    // request.json.get('username', None), request.json.get('password', None)
    let username = data.get("username").and_then(Value::as_str);
    let password = data.get("password").and_then(Value::as_str);
    let user = USERS.iter().find(|u| Some(u.name) == username);
    let Some(user) = user.filter(|u| password.is_some_and(|p| same(u.password, p))) else {
        return jsonify(
            StatusCode::UNAUTHORIZED,
            json!({ "msg": "Bad username or password" }),
        );
    };
    // create_access_token(identity=username), create_refresh_token(identity=username)
    let (Ok(access), Ok(refresh)) = (
        app.jwt.access_token(user.name).sign(),
        app.jwt.refresh_token(user.name).sign(),
    ) else {
        return cannot_sign();
    };
    let mut response = jsonify(StatusCode::OK, json!({ "login": true }));
    app.jwt.set_access_cookies(response.headers_mut(), &access); // set_access_cookies(resp, …)
    app.jwt
        .set_refresh_cookies(response.headers_mut(), &refresh); // set_refresh_cookies(resp, …)
    response
}

/// `@jwt_required()` + `get_jwt_identity()`.
async fn protected(jwt: Jwt) -> Response {
    jsonify(StatusCode::OK, json!({ "logged_in_as": jwt.identity() }))
}

/// `@jwt_required(refresh=True)` (3.x `@jwt_refresh_token_required`): reads the refresh cookie
/// and checks `X-CSRF-TOKEN` against it, then sets a new access cookie.
async fn refresh(State(app): State<App>, jwt: RefreshJwt) -> Response {
    let Ok(access) = app.jwt.access_token(jwt.identity()).sign() else {
        return cannot_sign();
    };
    let mut response = jsonify(StatusCode::OK, json!({ "refresh": true }));
    app.jwt.set_access_cookies(response.headers_mut(), &access);
    response
}

/// `@jwt_required()` + `BLACKLIST.add(get_jwt()['jti'])` + `unset_jwt_cookies(resp)`. The
/// refresh token sent along is revoked too, so it cannot mint new access tokens.
async fn logout(State(app): State<App>, jwt: Jwt, headers: HeaderMap) -> Response {
    let mut revoked = lock(&app.blocklist);
    revoked.extend(jwt.claims().jti.clone());
    if let Some(token) = cookie(&headers, &app.jwt.config().refresh_cookie_name)
        && let Ok(Some(jti)) = app.jwt.get_jti(token)
    {
        revoked.insert(jti);
    }
    drop(revoked);
    let mut response = jsonify(StatusCode::OK, json!({ "logout": true }));
    app.jwt.unset_jwt_cookies(response.headers_mut());
    response
}

/// The `roles` claim.
#[derive(Deserialize)]
struct Roles {
    #[serde(default)]
    roles: Vec<String>,
}

/// A route for admins only: `"admin" in get_jwt()["roles"]`, else 403.
async fn admin(jwt: Jwt<Roles>) -> Response {
    let roles = &jwt.custom().roles;
    if !roles.iter().any(|r| r == "admin") {
        return jsonify(StatusCode::FORBIDDEN, json!({ "msg": "Admins only!" }));
    }
    jsonify(
        StatusCode::OK,
        json!({ "logged_in_as": jwt.identity(), "roles": roles }),
    )
}

/// `additional_claims_loader(identity)`: `{"roles": [...]}` from the user data.
fn roles_claim(identity: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    if let Some(user) = USERS.iter().find(|u| u.name == identity) {
        claims.insert("roles".into(), json!(user.roles));
    }
    claims
}

// ---------------------------------------------------------------- plumbing

/// The HS256 key from `JWT_SECRET_KEY` (at least 32 bytes), or a random one for this run.
fn signing_key() -> Result<Key, Box<dyn Error>> {
    match env::var_os("JWT_SECRET_KEY") {
        Some(secret) => Key::hmac(Algorithm::HS256, secret.as_encoded_bytes())
            .map_err(|e| format!("JWT_SECRET_KEY: {e}").into()),
        None => {
            eprintln!(
                "JWT_SECRET_KEY is not set: signing with a random secret generated for this run \
                 (tokens stop working when the process exits)"
            );
            Ok(Key::hmac(
                Algorithm::HS256,
                jwtx::secret_hex::<32>().as_bytes(),
            )?)
        }
    }
}

/// Flask's `jsonify`: compact JSON, sorted keys, a trailing newline.
fn jsonify(status: StatusCode, body: Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json")];
    (status, headers, format!("{body}\n")).into_response()
}

fn cannot_sign() -> Response {
    jsonify(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({ "msg": "Could not create the token" }),
    )
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn lock(blocklist: &Blocklist) -> std::sync::MutexGuard<'_, HashSet<String>> {
    blocklist.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compares two passwords in constant time: their SHA-256 digests (32 bytes whatever the
/// lengths) are compared, so neither a length mismatch nor the first differing byte shows in
/// the timing. (A real user store keeps password hashes.)
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (digest(&SHA256, a.as_bytes()), digest(&SHA256, b.as_bytes()));
    constant_time::verify_slices_are_equal(a.as_ref(), b.as_ref()).is_ok()
}

/// `app.run(port=5000)`, on 127.0.0.1 and `$PORT` if set.
async fn serve(app: Router) -> Result<(), Box<dyn Error>> {
    let port: u16 = match env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 5000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
