//! A complete API on jwtx-auth: an in-memory store with two users, the auth routes merged in,
//! a protected route and an admin-only one. `cargo run -p jwtx-auth --example embedded`, then
//! the curl session in the crate's README. `PORT` (default 5000) and `JWT_SECRET_KEY` (at
//! least 32 bytes; a random one by default) come from the environment.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use jwtx::store::User;
use jwtx::store::memory::MemoryStore;
use jwtx::{Algorithm, Codec, Key};
use jwtx_auth::{ApiError, Auth};
use jwtx_axum::{CurrentUser, Jwt, JwtLayer};
use serde_json::{Value, json};

async fn protected(token: Jwt) -> Json<Value> {
    Json(json!({ "logged_in_as": token.identity() }))
}

/// Roles as stored now (the user loader's answer), not as the token remembers them.
async fn admin(user: CurrentUser<Arc<User>>) -> Result<Json<Value>, ApiError> {
    match user.0.roles.iter().any(|r| r == "admin") {
        true => Ok(Json(json!({ "admin": true }))),
        false => Err(ApiError::AdminsOnly),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init(); // the audit trail
    let secret = std::env::var("JWT_SECRET_KEY")
        .map(Into::into)
        .unwrap_or_else(|_| jwtx::secret_hex::<32>());
    let codec = Codec::new(Key::hmac(Algorithm::HS256, secret.as_bytes())?);
    let store = Arc::new(MemoryStore::new());
    let auth = Auth::builder(store, codec).build().await?;
    auth.create_user("alice", "correct horse", &["admin"])
        .await?;
    auth.create_user("bob", "battery staple", &["user"]).await?;
    // Follows the revocation log (other processes' logouts) and purges the login limits.
    let (_keep_running, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(auth.clone().maintain(shutdown));

    let app = Router::new()
        .merge(jwtx_auth::router(auth.clone()))
        .route("/protected", get(protected))
        .route("/admin", get(admin))
        .layer(JwtLayer::new(auth.jwt().clone()))
        .with_state(auth);
    let port = std::env::var("PORT").unwrap_or_else(|_| "5000".into());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse()?)).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    // Login limits count by the client address: serve with connect info.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
