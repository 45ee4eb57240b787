//! Benchmark peer for `bench/run`: the least a Rust team would write by hand to protect a route
//! with an HS256 JWT. axum 0.8 + tokio + `jsonwebtoken` (aws-lc-rs backend), no revocation check.
//!
//! ```sh
//! JWT_SECRET_KEY=… jwtx-bench-peer-axum [--bind 127.0.0.1:5001]
//! ```
//!
//! * `GET /protected`: `Authorization: Bearer <token>`, verified with
//!   `jsonwebtoken::decode` (HS256, default `Validation`: signature, `exp` required and checked);
//!   answers `{"logged_in_as": sub}`, or 401 `{"msg": …}`.
//! * `GET /healthz`: `{"status": "ok"}`.
//! * `GET /jwtx/protected`: the same route written with the jwtx-axum library instead
//!   (`JwtManager` with the same secret, `JwtLayer` on that route only, the `Jwt` extractor,
//!   its verified-token cache on by default; no revocation callback, as for the route
//!   above): what an application embedding jwtx-axum without `jwtx serve` pays.
//!
//! The secret comes from `JWT_SECRET_KEY`; the address from `--bind ADDR`, else `BIND`, else
//! `127.0.0.1:5001`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

/// The decoding key and validation rules, built once at start.
#[derive(Clone)]
struct Keys {
    decoding: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

/// The claims this service reads (everything else in the token is ignored).
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
}

/// The authenticated caller: the extractor verifies the bearer token.
struct Auth(Claims);

#[derive(Serialize)]
struct Msg {
    msg: &'static str,
}

struct AuthError(&'static str);

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, Json(Msg { msg: self.0 })).into_response()
    }
}

impl<S> FromRequestParts<S> for Auth
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Keys::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AuthError("Missing Authorization Header"))?;
        let data = decode::<Claims>(token, &keys.decoding, &keys.validation)
            .map_err(|_| AuthError("Invalid token"))?;
        Ok(Auth(data.claims))
    }
}

#[derive(Serialize)]
struct LoggedInAs {
    logged_in_as: String,
}

async fn protected(Auth(claims): Auth) -> Json<LoggedInAs> {
    Json(LoggedInAs {
        logged_in_as: claims.sub,
    })
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `/jwtx/protected`: the library's extractor, nothing else.
async fn jwtx_protected(token: jwtx_axum::Jwt) -> Json<LoggedInAs> {
    Json(LoggedInAs {
        logged_in_as: token.identity().to_owned(),
    })
}

fn app(keys: Keys, jwt: jwtx_axum::JwtManager) -> Router {
    let layer = jwtx_axum::JwtLayer::new(jwt.clone());
    let embedded = Router::new()
        .route("/jwtx/protected", get(jwtx_protected).layer(layer))
        .with_state(jwt);
    Router::new()
        .route("/protected", get(protected))
        .route("/healthz", get(healthz))
        .with_state(keys)
        .merge(embedded)
}

fn bind_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut bind = std::env::var("BIND").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = Some(args.next().ok_or("--bind needs an address")?),
            other => return Err(format!("unknown argument {other:?}; usage: --bind ADDR")),
        }
    }
    let bind = bind.unwrap_or_else(|| "127.0.0.1:5001".to_owned());
    bind.parse()
        .map_err(|e| format!("bad bind address {bind:?}: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let addr = bind_addr()?;
    let secret = std::env::var("JWT_SECRET_KEY").map_err(|_| "set JWT_SECRET_KEY")?;
    let keys = Keys {
        decoding: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
        validation: Arc::new(Validation::new(Algorithm::HS256)),
    };
    let key = jwtx::Key::hmac(jwtx::Algorithm::HS256, secret.as_bytes())
        .map_err(|e| format!("JWT_SECRET_KEY: {e}"))?;
    let jwt = jwtx_axum::JwtManager::builder(jwtx::Codec::new(key)).build();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, app(keys, jwt))
        .await
        .map_err(|e| e.to_string())
}
