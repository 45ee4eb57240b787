//! A downstream service: it verifies the access tokens a jwtx issuer signs (keys from the
//! issuer's JWKS) and refuses those the issuer revoked (its revocation feed). It signs nothing.
//!
//! ```sh
//! JWKS_URL=https://auth.example/.well-known/jwks.json \
//! REVOCATIONS_URL=https://auth.example/revocations REVOCATIONS_TOKEN=jwtxsvc_… \
//! ISSUER=https://auth.example AUDIENCE=orders \
//! cargo run -p jwtx-axum --features remote --example downstream
//! ```
//!
//! `REVOCATIONS_*`, `ISSUER` and `AUDIENCE` are optional; `PORT` defaults to 5001.

use std::env;
use std::time::Duration;

use axum::{Json, Router, http::StatusCode, routing::get};
use jwtx::Validation;
use jwtx_axum::remote::{RemoteKeys, RevocationFeed};
use jwtx_axum::{Jwt, JwtManager};
use serde::Deserialize;
use serde_json::{Value, json};

/// The application claims this service reads.
#[derive(Deserialize)]
struct Roles {
    #[serde(default)]
    roles: Vec<String>,
}

async fn whoami(jwt: Jwt<Roles>) -> Json<Value> {
    Json(json!({ "sub": jwt.identity(), "roles": jwt.custom().roles }))
}

async fn admin(jwt: Jwt<Roles>) -> (StatusCode, Json<Value>) {
    if jwt.custom().roles.iter().any(|r| r == "admin") {
        (StatusCode::OK, Json(json!({ "admin": true })))
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(json!({ "msg": "Admins only!" })),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name| env::var(name).ok().filter(|v: &String| !v.is_empty());
    let Some(jwks_url) = var("JWKS_URL") else {
        eprintln!(
            "downstream: set JWKS_URL to the issuer's JWKS (https://…/.well-known/jwks.json)"
        );
        std::process::exit(2);
    };

    // The issuer's keys, refreshed in the background.
    let keys = RemoteKeys::builder(&jwks_url).start()?;
    eprintln!("downstream: keys from {jwks_url}");

    // This service's own checks: the issuer, and tokens meant for it.
    let mut validation = Validation::new();
    if let Some(issuer) = var("ISSUER") {
        eprintln!("downstream: requiring iss = {issuer}");
        validation = validation.issuer(issuer);
    }
    if let Some(audience) = var("AUDIENCE") {
        eprintln!("downstream: requiring aud to contain {audience}");
        validation = validation.audience(audience);
    }
    let mut builder = JwtManager::downstream(keys.clone(), validation);

    // The issuer's revocations, when a feed and its credential are given.
    if let (Some(url), Some(token)) = (var("REVOCATIONS_URL"), var("REVOCATIONS_TOKEN")) {
        builder = builder.revocation_feed(RevocationFeed::builder(&url, &token).start()?);
        eprintln!("downstream: revocations from {url}");
    }
    let jwt = builder.try_build()?;

    if !keys.ready(Duration::from_secs(10)).await {
        eprintln!("downstream: no key set yet; tokens are answered 503 until one is fetched");
    }

    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/admin", get(admin))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(jwt);
    let port = var("PORT").unwrap_or_else(|| "5001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("downstream: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
