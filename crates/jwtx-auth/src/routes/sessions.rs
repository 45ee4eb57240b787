//! `GET /sessions` and `DELETE /sessions/{id}`: a user's login sessions. A user holds at most
//! `jwtx::store::MAX_LIVE_SESSIONS` (1,000) live sessions (a login past that ends the oldest),
//! and the list comes in pages of at most 100 ([`MAX_PAGE`](crate::MAX_PAGE)), newest first, with a cursor.

use axum::Json;
use axum::extract::{Path, Query, State};
use jwtx::store::{Session, SessionCursor};
use jwtx_axum::Jwt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::service::Auth;

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

/// Sessions per page of `GET /sessions` when the request names no `limit`.
const DEFAULT_PAGE: u32 = 50;

/// `GET /sessions` query: `limit` (1 to 100, default 50) and the `cursor` a previous page
/// returned as `next_cursor`.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct Page {
    /// Sessions on the page, 1 to 100 (50 when absent).
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A cursor as the client sees it: `<created_at>.<session id>` of the last session listed.
fn encode(c: &SessionCursor) -> String {
    format!("{}.{}", c.created_at, c.id)
}

fn decode(text: &str) -> Option<SessionCursor> {
    let (at, id) = text.split_once('.')?;
    let ok_id =
        !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic() && b != b'.');
    ok_id.then_some(())?;
    Some(SessionCursor {
        created_at: at.parse().ok()?,
        id: id.to_owned(),
    })
}

/// `GET /sessions`: one page of the user's live sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "sessions",
    security(("bearer" = []), ("cookie" = [])),
    params(Page),
    responses(
        (status = 200, description = "A page of the user's live sessions, newest first, and the cursor of the next page", body = super::openapi::Sessions),
        (status = 400, description = "A `limit` outside 1 to 100, or a `cursor` no page returned", body = super::openapi::Msg),
    ))]
pub(crate) async fn list(
    State(auth): State<Auth>,
    token: Jwt,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let after = match page.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            decode(text)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one a page returned".into()))?,
        ),
    };
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    let page = auth
        .sessions(token.identity(), after.as_ref(), limit)
        .await?;
    let current = token.sid();
    let sessions: Vec<Value> = page.sessions.iter().map(|s| describe(s, current)).collect();
    let next_cursor = page.next.as_ref().map(encode);
    Ok(Json(
        json!({ "sessions": sessions, "next_cursor": next_cursor }),
    ))
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
    State(auth): State<Auth>,
    token: Jwt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.revoke_session(token.identity(), &id).await?;
    Ok(Json(json!({ "revoked": true })))
}
