//! Read-only routes: the seed documents' protected routes, the JWKS and health checks.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jwtx::store::User;
use jwtx_axum::{CurrentUser, Jwt};
use serde_json::{Value, json};

use jwtx_auth::ApiError;

use super::AppState;

/// `GET /protected`.
#[utoipa::path(get, path = "/protected", tag = "resources",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{\"logged_in_as\": sub}`"),
        (status = 401, description = "Missing, expired or revoked token", body = jwtx_auth::Msg),
        (status = 422, description = "Malformed token or bad signature", body = jwtx_auth::Msg),
    ))]
pub(crate) async fn protected(token: Jwt) -> Response {
    /// The body, serialised from the token's borrowed identity (no JSON tree in between).
    #[derive(serde::Serialize)]
    struct LoggedInAs<'a> {
        logged_in_as: &'a str,
    }
    Json(LoggedInAs {
        logged_in_as: token.identity(),
    })
    .into_response()
}

/// `GET /me`: who the token says, with the user's current roles.
#[utoipa::path(get, path = "/me", tag = "resources",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The token's identity and the user's current roles", body = super::openapi::Me)))]
pub(crate) async fn me(token: Jwt, current: CurrentUser<Arc<User>>) -> Json<Value> {
    let user = &current.0;
    let claims = token.claims();
    Json(json!({
        "identity": token.identity(),
        "roles": &user.roles,
        "fresh": !matches!(claims.fresh, jwtx::Fresh::No),
        "expires_at": claims.exp,
        "session_id": token.sid(),
    }))
}

/// `GET /admin`: role `admin` as stored (a role change applies within half a second).
#[utoipa::path(get, path = "/admin", tag = "resources",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{\"admin\": true}`"),
        (status = 403, description = "Admins only!", body = jwtx_auth::Msg),
    ))]
pub(crate) async fn admin(_token: Jwt, current: CurrentUser<Arc<User>>) -> Response {
    if current.0.roles.iter().any(|r| r == "admin") {
        Json(json!({ "admin": true })).into_response()
    } else {
        ApiError::AdminsOnly.into_response()
    }
}

/// `GET /.well-known/jwks.json`: the public keys (never symmetric or private material).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta",
    responses(
        (status = 200, description = "`{\"keys\": [...]}` (pending, active and passive public keys) with `Cache-Control: max-age=<jwks_max_age>` and an `ETag`"),
        (status = 304, description = "`If-None-Match` names the current `ETag`"),
    ))]
pub(crate) async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(ring) = &state.keys else {
        // An application's own state with fixed keys.
        let mut res = Json(state.auth.jwt().codec().keys().jwks()).into_response();
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        return res;
    };
    // Built once per key change (`KeyRing`), revalidated by its ETag.
    let jwks = ring.jwks();
    let cache = HeaderValue::from_str(&format!("public, max-age={}", ring.jwks_max_age()))
        .expect("digits are a header value");
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == jwks.etag
        });
    let mut res = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            jwks.body.clone(),
        )
            .into_response()
    };
    res.headers_mut().insert(header::CACHE_CONTROL, cache);
    res.headers_mut().insert(header::ETAG, jwks.etag.clone());
    res
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub(crate) async fn healthz() -> Response {
    // A fixed body: nothing to build or serialise per probe.
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// `GET /readyz`: the store answers and every token can be vouched for (the revocation
/// mirror is readable and no older than `revocation_max_lag`).
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`"),
        (status = 503, description = "The store is unreachable, the revocation mirror is older than revocation_max_lag, or the log holds an entry this version cannot read"),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let unavailable = |msg: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "msg": msg })),
        )
            .into_response()
    };
    let revocations = state.auth.revocations();
    match revocations.vouching() {
        Err(jwtx_auth::Unvouched::Unreadable) => {
            let detail = revocations.unreadable().unwrap_or_default();
            tracing::warn!(%detail, "readiness: the revocation log cannot be read");
            return unavailable("revocation log unreadable");
        }
        Err(e @ jwtx_auth::Unvouched::Stale { .. }) => {
            tracing::warn!(error = %e, "readiness: the revocation mirror is stale");
            return unavailable("revocation mirror stale");
        }
        Ok(()) => {}
    }
    match state.auth.store().ping().await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            unavailable("store unreachable")
        }
    }
}

/// Unknown routes: JSON 404.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("Not found")
}
