//! The auth routes as an axum [`Router`] ([`router`]): an application adds `/login`,
//! `/refresh`, `/logout`, `/logout/all`, `/password`, `/sessions` and the revocation feed
//! `/revocations` with one `merge` or `nest`.

mod auth;
mod body;
mod feed;
mod openapi;
mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{delete, get, post};
use jwtx_axum::JwtManager;

pub use body::{ApiJson, BODY_LIMIT, field};
pub use openapi::{Msg, openapi};

use crate::service::Auth;

impl FromRef<Auth> for JwtManager {
    fn from_ref(auth: &Auth) -> JwtManager {
        auth.jwt().clone()
    }
}

/// The routes of docs/http-api.md's "Tokens", "Sessions" and "Revocation feed" sections over
/// `auth`. Apply [`jwtx_axum::JwtLayer`] around the application (the `json` token location
/// and CSRF form fields read the body through it), and serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`: login limits and the feed's failed
/// credential checks count by the client address. The feed reads the services of
/// [`AuthBuilder::services`](crate::AuthBuilder::services); its streams end when
/// [`Auth::maintain`] stops.
pub fn router<S: Clone + Send + Sync + 'static>(auth: Auth) -> Router<S> {
    let feed = Arc::new(crate::feed::Feed::new(auth.clone()));
    let feed = Router::new()
        .route("/revocations", get(feed::revocations))
        .with_state(feed);
    Router::new()
        .route("/login", post(auth::login))
        .route("/refresh", post(auth::refresh))
        .route("/logout", post(auth::logout))
        .route("/logout/all", post(auth::logout_all))
        .route("/password", post(auth::change_password))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", delete(sessions::revoke))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(auth)
        .merge(feed)
}
