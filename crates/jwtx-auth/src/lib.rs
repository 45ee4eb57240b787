//! # jwtx-auth
//!
//! The auth flows of a production login service, as a library over the jwtx store traits:
//!
//! - [`Auth`]: login (Argon2id off the async runtime, the same work for an unknown name),
//!   refresh-token rotation with reuse detection and a grace window, logout, logout
//!   everywhere, password change, and a user's sessions, each with a typed outcome;
//! - [`passwords::PasswordHasher`]: bounded, prioritised Argon2id hashing;
//! - [`LoginLimiter`]: login limits by name and address, with the in-process
//!   [`throttle::LoginThrottle`];
//! - [`Revocations`]: the revocation log mirrored in memory and followed, so a protected
//!   request checks revocation without a store round trip;
//! - [`events`]: audit events, written by [`TracingEvents`] or a sink of your own;
//! - [`router`]: the routes (`/login`, `/refresh`, `/logout`, `/logout/all`, `/password`,
//!   `/sessions`, and the revocation feed `/revocations` for downstream services) as one axum
//!   `Router`, the same one `jwtx serve` mounts.
//!
//! ```no_run
//! # async fn app(store: std::sync::Arc<dyn jwtx_auth::AuthStore>, codec: jwtx::Codec) -> Result<(), Box<dyn std::error::Error>> {
//! let auth = jwtx_auth::Auth::builder(store, codec).build().await?;
//! // Follows the revocation log (and so keeps tokens vouched for) until the sender changes.
//! let (_stop, stopping) = tokio::sync::watch::channel(false);
//! tokio::spawn(auth.clone().maintain(stopping));
//! let app: axum::Router = axum::Router::new()
//!     .merge(jwtx_auth::router(auth.clone()))
//!     .layer(jwtx_axum::JwtLayer::new(auth.jwt().clone()));
//! # Ok(()) }
//! ```
//!
//! `examples/embedded.rs` is a complete application; the README compares it with what
//! flask-jwt-extended leaves to the application.

mod error;
pub mod events;
mod feed;
mod hints;
mod limiter;
pub mod passwords;
mod revocations;
mod routes;
mod service;
pub mod throttle;
mod users;

pub use error::ApiError;
pub use events::{AuthEvent, EventSink, TracingEvents};
pub use feed::{
    DEFAULT_HEARTBEAT, FAILURE_WINDOW, MAX_FAILURES, MAX_FEED_PAGE, MAX_HEARTBEAT, MIN_HEARTBEAT,
};
pub use hints::RevocationHints;
pub use jwtx::store::Unvouched;
pub use limiter::{LimiterFuture, LoginLimiter, Refusal};
pub use revocations::{FOLLOW_INTERVAL, Follow, MAX_LAG, Revocations};
pub use routes::{ApiJson, BODY_LIMIT, Msg, field, openapi, router};
pub use service::{
    Auth, AuthBuilder, AuthSettings, AuthStore, BuildError, LoggingOut, LoginRequest, MAX_PAGE,
    PasswordChangeRequest, Presented, SessionPage, Tokens,
};
pub use users::UserCache;

/// The longest user name, in bytes: the store's accounts, `POST /login` and the login limits'
/// keys.
pub const MAX_NAME_BYTES: usize = 256;
