//! `GET /sessions` and `DELETE /sessions/{id}`: a user's login sessions.

use axum::Json;
use axum::extract::{Path, State};
use jwtx::store::Session;
use jwtx_axum::Jwt;
use serde_json::{Value, json};

use super::AppState;
use super::api_error::ApiError;

fn describe(s: &Session, current: Option<&str>) -> Value {
    json!({
        "id": s.id,
        "created_at": s.created_at,
        "last_used_at": s.last_used_at,
        "expires_at": s.expires_at,
        "user_agent": s.user_agent,
        "ip": s.ip,
        "current": Some(s.id.as_str()) == current,
    })
}

/// `GET /sessions`: the user's live sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The user's live sessions, newest first", body = super::openapi::Sessions)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    token: Jwt,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let sessions = state.store.list_sessions(token.identity(), now).await?;
    let current = token.sid();
    // A session idle for longer than the timeout has ended (its refresh token is refused).
    let idle_limit = state.settings.session_idle_timeout;
    let live: Vec<Value> = sessions
        .iter()
        .filter(|s| now.saturating_sub(s.last_used_at) <= idle_limit)
        .map(|s| describe(s, current))
        .collect();
    Ok(Json(json!({ "sessions": live })))
}

/// `DELETE /sessions/{id}`: revokes one of the user's own sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "The session id")),
    responses(
        (status = 200, description = "`{\"revoked\": true}`"),
        (status = 404, description = "No such live session of this user", body = super::openapi::Msg),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    token: Jwt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound("Session not found");
    let session = state.store.get_session(&id).await?.ok_or_else(not_found)?;
    let now = state.clock.now();
    // Another user's session is indistinguishable from a missing one.
    if session.user != token.identity() || !jwtx::store::is_live(&session, now) {
        return Err(not_found());
    }
    super::auth::revoke_session(&state, &id, now).await?;
    tracing::info!(target: "audit", event = "session_revoked", user = %token.identity(), session = %id);
    Ok(Json(json!({ "revoked": true })))
}
