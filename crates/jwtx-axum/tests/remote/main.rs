#![allow(clippy::unwrap_used, clippy::panic, missing_docs, unreachable_pub)]
//! The `remote` feature against an in-test issuer ([`mock`]): the JWKS source (`keys`), the
//! revocation feed follower (`feed`), issuer and audience checks, and the `downstream`
//! example run as a process (`example`).

mod example;
mod feed;
mod keys;
mod mock;
mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use jwtx::{Algorithm, Codec, Key, Validation};
use jwtx_axum::remote::{RemoteKeys, RemoteKeysBuilder, RevocationFeed};
use jwtx_axum::{Jwt, JwtManager};
use serde_json::{Value, json};
use tower::ServiceExt;

pub use mock::Issuer;

/// A signing key of the issuer (as the codec that signs with it), with its kid.
pub fn key(kid: &str) -> Codec {
    Codec::new(Key::generate(Algorithm::ES256).unwrap().with_kid(kid))
}

/// The public JWK of a signing key.
pub fn public(key: &Codec) -> Value {
    serde_json::to_value(key.keys().keys()[0].public_jwk().unwrap()).unwrap()
}

/// The public JWKS of `keys`.
pub fn jwks(keys: &[&Codec]) -> String {
    json!({ "keys": keys.iter().map(|k| public(k)).collect::<Vec<_>>() }).to_string()
}

/// An access token for alice signed with `key`, with these extra claims.
pub fn token(key: &Codec, claims: Value) -> String {
    key.access_token("alice")
        .claims(claims)
        .sign()
        .unwrap()
        .token
}

/// A downstream app: `/whoami` behind `manager`.
pub fn app(manager: JwtManager) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|jwt: Jwt| async move { jwt.identity().to_owned() }),
        )
        .with_state(manager)
}

/// A builder for the issuer's `/jwks` with test-sized bounds.
pub fn keys_builder(issuer: &Issuer) -> RemoteKeysBuilder {
    RemoteKeys::builder(issuer.url("/jwks"))
}

/// Starts remote keys and waits for the first set.
pub async fn ready(builder: RemoteKeysBuilder) -> RemoteKeys {
    let keys = builder.start().unwrap();
    assert!(
        keys.ready(Duration::from_secs(20)).await,
        "no key set fetched"
    );
    keys
}

/// A downstream manager over `keys` (and `feed`).
pub fn manager(keys: RemoteKeys, feed: Option<RevocationFeed>) -> JwtManager {
    let mut b = JwtManager::downstream(keys, Validation::new());
    if let Some(f) = feed {
        b = b.revocation_feed(f);
    }
    b.build()
}

/// GET `/whoami` with `token`: status and body.
pub async fn call(app: &Router, token: &str) -> (u16, String) {
    let req = axum::http::Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Polls `call` until it answers `status` (within `within`); the last answer.
pub async fn until(app: &Router, token: &str, status: u16, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let got = call(app, token).await;
        if got.0 == status || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub const UNAVAILABLE: &str = "{\"msg\":\"Authentication is temporarily unavailable\"}\n";
pub const REVOKED: &str = "{\"msg\":\"Token has been revoked\"}\n";
pub const UNKNOWN_KID: &str = "{\"msg\":\"No key matches the token's key ID\"}\n";

/// An issuer with key `a` published, and that key.
pub async fn issuer_with_a() -> (Arc<Issuer>, Codec) {
    let a = key("a");
    let issuer = Issuer::start(jwks(&[&a])).await;
    (issuer, a)
}

/// Audience as a list, issuer required: the checks a downstream service asks of `Validation`.
#[tokio::test]
async fn issuer_and_audience_per_service() {
    let (issuer, a) = issuer_with_a().await;
    let keys = ready(keys_builder(&issuer)).await;
    let validation = Validation::new()
        .issuer("https://auth.example")
        .audience("billing");
    let app = app(JwtManager::downstream(keys, validation).build());
    let iss = "https://auth.example";
    for (claims, status, body) in [
        (
            json!({"iss": iss, "aud": ["orders", "billing"]}),
            200,
            "alice",
        ),
        (json!({"iss": iss, "aud": "billing"}), 200, "alice"),
        (
            json!({"iss": iss, "aud": ["orders", "shipping"]}),
            422,
            "{\"msg\":\"Audience doesn't match\"}\n",
        ),
        (
            json!({"iss": iss}),
            422,
            "{\"msg\":\"Token is missing the \\\"aud\\\" claim\"}\n",
        ),
        (
            json!({"iss": "https://evil.example", "aud": ["billing"]}),
            422,
            "{\"msg\":\"Invalid issuer\"}\n",
        ),
    ] {
        let got = call(&app, &token(&a, claims.clone())).await;
        assert_eq!(got, (status, body.to_owned()), "{claims}");
    }
}
