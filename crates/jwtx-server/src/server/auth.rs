//! Login, refresh (rotation with reuse detection), logout, logout everywhere and password
//! change (docs/http-api.md). Every security-relevant action is an audit event (target `audit`),
//! never with a token or a password.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use jwtx::store::{
    PasswordChange, Revocation, Rotation, RotationPolicy, Session, StoreError, User,
};
use jwtx::{Issued, NumericDate};
use jwtx_axum::{AnyJwt, CurrentUser, FreshJwt, Jwt, Refresh, RefreshJwt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::AppState;
use super::api_error::ApiError;
use super::audit::TypedName;
use super::body::{ApiJson, field};
use super::metrics::LoginResult;
use crate::data::MAX_NAME_BYTES;
use crate::passwords::MAX_PASSWORD_BYTES;

/// `POST /login` body.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    /// At most 256 bytes.
    username: String,
    /// At most 1024 bytes.
    #[schema(value_type = String)]
    password: Zeroizing<String>,
}

/// `POST /password` body.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PasswordBody {
    #[schema(value_type = String)]
    current_password: Zeroizing<String>,
    /// At least 8 characters as a person sees them (NFKC; combining marks, control and format
    /// characters do not count), at most 1024 bytes.
    #[schema(value_type = String)]
    new_password: Zeroizing<String>,
}

fn signing_failed(e: jwtx::EncodeError) -> ApiError {
    tracing::error!(error = %e, "token signing failed");
    ApiError::SigningFailed
}

/// An access token for `user`, in session `sid` if it belongs to one.
fn access_token(
    state: &AppState,
    user: &User,
    sid: Option<&str>,
    fresh: bool,
) -> Result<Issued, ApiError> {
    let mut t = state
        .jwt
        .access_token(user.name.clone())
        .fresh(fresh)
        .claim("roles", user.roles.clone());
    if let Some(sid) = sid {
        t = t.claim("sid", sid);
    }
    t.sign().map_err(signing_failed)
}

/// A refresh token for `user` in session `sid`.
fn refresh_token(state: &AppState, user: &str, sid: &str) -> Result<Issued, ApiError> {
    state
        .jwt
        .refresh_token(user)
        .claim("sid", sid)
        .sign()
        .map_err(signing_failed)
}

/// The success body plus tokens in the body and/or cookies, as the locations say. No cache
/// may keep it (`Cache-Control: no-store` and `Pragma: no-cache`, RFC 6749 §5.1).
fn token_response(
    state: &AppState,
    mut body: Map<String, Value>,
    access: &Issued,
    refresh: Option<&Issued>,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if state.settings.tokens_in_body {
        body.insert("access_token".into(), access.token.clone().into());
        if let Some(r) = refresh {
            body.insert("refresh_token".into(), r.token.clone().into());
        }
    }
    if state.settings.tokens_in_cookies {
        state.jwt.set_access_cookies(&mut headers, access);
        if let Some(r) = refresh {
            state.jwt.set_refresh_cookies(&mut headers, r);
        }
    }
    (headers, Json(Value::Object(body))).into_response()
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

/// `POST /login`.
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A fresh access token and a refresh token starting a session", body = super::openapi::Tokens),
        (status = 400, description = "Malformed body or missing field", body = super::openapi::Msg),
        (status = 401, description = "Bad username or password (the same for an unknown user)", body = super::openapi::Msg),
        (status = 413, description = "Body over 64 KiB", body = super::openapi::Msg),
        (status = 415, description = "Not JSON", body = super::openapi::Msg),
        (status = 429, description = "Too many attempts; see Retry-After", body = super::openapi::Msg),
        (status = 503, description = "Store unreachable, or the password hashing queue is full (with Retry-After)", body = super::openapi::Msg),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let username = field("username", &body.username, MAX_NAME_BYTES)?;
    field("password", &body.password, MAX_PASSWORD_BYTES)?;
    let ip = peer.ip();
    if let Err(retry) = state.throttle.check(username, ip, Instant::now()) {
        state.metrics.login(LoginResult::Throttled);
        tracing::warn!(target: "audit", event = "login", result = "throttled", typed_user = %TypedName(username), %ip);
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: retry.as_secs(),
        });
    }
    let user = state.store.get_user(username).await?;
    // At most a few verifications queue per typed name (known or not), except for an address
    // that logged in as it before; and the whole queue is bounded (passwords.rs).
    let spared = state
        .throttle
        .recently_succeeded(username, ip, Instant::now());
    let verdict = state
        .hasher
        .verify_for(
            username,
            spared,
            body.password.clone(),
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await
        .map_err(|e| {
            if let Some(result) = LoginResult::refused(&e) {
                state.metrics.login(result);
                tracing::warn!(target: "audit", event = "login", result = "refused", reason = %e, user = username, %ip);
            }
            ApiError::password_check(&e)
        })?;
    let user = match user {
        Some(u) if verdict.ok => u,
        known => {
            state.throttle.record_failure(username, ip, Instant::now());
            state.metrics.login(LoginResult::Failure);
            // An account's name as it is; anything else typed only as its tag (it may be a
            // password typed into the wrong field).
            match known {
                Some(u) => {
                    tracing::info!(target: "audit", event = "login", result = "failure", user = %u.name, %ip)
                }
                None => {
                    tracing::info!(target: "audit", event = "login", result = "failure", typed_user = %TypedName(username), %ip)
                }
            }
            return Err(ApiError::BadCredentials);
        }
    };
    state.throttle.record_success(username, ip);
    if verdict.needs_rehash {
        // A compare-and-set on the generation the password was verified at: if the password
        // changed meanwhile, this hash of the old one is not written.
        match state.hasher.hash(body.password.clone()).await {
            Ok(h) => {
                if !state
                    .store
                    .rehash_password(&user.name, &h, user.generation)
                    .await?
                {
                    tracing::info!(user = %user.name, "password changed during login; rehash skipped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "password rehash failed; keeping the old hash"),
        }
    }

    let now = state.clock.now();
    let sid = jwtx::uuid4();
    let refresh = refresh_token(&state, &user.name, &sid)?;
    let access = access_token(&state, &user, Some(&sid), true)?;
    let jti = refresh.claims.jti.clone().unwrap_or_default();
    let session = Session {
        id: sid.clone(),
        user: user.name.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: now.saturating_add(state.settings.session_lifetime),
        user_agent: user_agent(&headers),
        ip: Some(ip.to_string()),
        current_jti: jti,
        previous: None,
        revoked_at: None,
    };
    // Created only if the user still has the credentials the password was verified against:
    // a password change (or a deletion) that committed during the verification wins.
    match state.store.create_session(session, user.generation).await {
        Ok(None) => {}
        // The user was past jwtx::store::MAX_LIVE_SESSIONS: the oldest session ended.
        Ok(Some(oldest)) => {
            end_session(&state, &oldest, now).await?;
            tracing::info!(target: "audit", event = "session_ended", reason = "session_cap", user = %user.name, session = %oldest);
        }
        Err(StoreError::Conflict { .. }) => {
            state.metrics.login(LoginResult::Failure);
            tracing::info!(target: "audit", event = "login", result = "credentials_changed", user = %user.name, %ip);
            return Err(ApiError::BadCredentials);
        }
        Err(e) => return Err(e.into()),
    }
    state.metrics.login(LoginResult::Success);
    state.metrics.issued(1, 1);
    tracing::info!(target: "audit", event = "login", result = "success", user = %user.name, session = %sid, %ip);
    let mut body = Map::new();
    body.insert("login".into(), true.into());
    Ok(token_response(&state, body, &access, Some(&refresh)))
}

/// `POST /refresh`: rotates the refresh token (reuse detection, grace window).
#[utoipa::path(post, path = "/refresh", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A new access token and the next refresh token", body = super::openapi::Tokens),
        (status = 401, description = "Missing, expired or revoked token; reuse of a rotated refresh token revokes the session", body = super::openapi::Msg),
        (status = 422, description = "Malformed token or not a refresh token", body = super::openapi::Msg),
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    token: RefreshJwt,
    current: CurrentUser<Arc<User>, Refresh>,
) -> Result<Response, ApiError> {
    let user = &current.0;
    let Some(sid) = token.sid() else {
        // A refresh token from outside a login session (e.g. `jwtx token mint`): no family to
        // rotate; issue an access token only.
        let access = access_token(&state, user, None, false)?;
        return Ok(token_response(&state, refresh_body(), &access, None));
    };
    let presented = token.claims().jti.clone().unwrap_or_default();
    let next = refresh_token(&state, &user.name, sid)?;
    let next_jti = next.claims.jti.clone().unwrap_or_default();
    let now = state.clock.now();
    let policy = RotationPolicy {
        now,
        grace: state.settings.refresh_reuse_grace,
        idle_timeout: state.settings.session_idle_timeout,
    };
    match state
        .store
        .rotate(sid, &presented, &next_jti, policy)
        .await?
    {
        Rotation::Rotated => {
            let access = access_token(&state, user, Some(sid), false)?;
            state.metrics.issued(1, 1);
            tracing::info!(target: "audit", event = "refresh", user = %user.name, session = %sid);
            Ok(token_response(&state, refresh_body(), &access, Some(&next)))
        }
        Rotation::Grace { .. } => {
            // The previous token, just replaced (concurrent refreshes): a new access token,
            // and no new refresh token, so the family keeps one current member.
            let access = access_token(&state, user, Some(sid), false)?;
            state.metrics.issued(1, 0);
            tracing::info!(target: "audit", event = "refresh", result = "grace", user = %user.name, session = %sid);
            Ok(token_response(&state, refresh_body(), &access, None))
        }
        Rotation::Reused => {
            end_session(&state, sid, now).await?;
            state.metrics.reuse_detected();
            tracing::warn!(target: "audit", event = "refresh_reuse_detected", user = %user.name, session = %sid);
            Err(revoked())
        }
        Rotation::Ended => Err(revoked()),
    }
}

fn refresh_body() -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("refresh".into(), true.into());
    body
}

/// flask-jwt-extended's answer for a revoked token.
fn revoked() -> ApiError {
    ApiError::Revoked
}

/// Records a session's end in the revocation log (its tokens stop working everywhere).
async fn end_session(state: &AppState, sid: &str, now: NumericDate) -> Result<(), ApiError> {
    state
        .revocations
        .revoke(Revocation::Session {
            id: sid.to_owned(),
            until: now.saturating_add(state.settings.session_lifetime),
        })
        .await?;
    Ok(())
}

/// Revokes one session, in the store and in the log (the logout and `DELETE /sessions/{id}`
/// path; rotation and "every session" revoke in the store themselves, then call
/// [`end_session`]).
pub(super) async fn revoke_session(
    state: &AppState,
    sid: &str,
    now: NumericDate,
) -> Result<(), ApiError> {
    state.store.revoke_session(sid, now).await?;
    end_session(state, sid, now).await
}

/// The `Set-Cookie` lines that clear the JWT cookies, when cookies are a token location.
fn cleared_cookies(state: &AppState) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if state.settings.tokens_in_cookies {
        state.jwt.unset_jwt_cookies(&mut headers);
    }
    headers
}

/// `POST /logout`: revokes the presented token and its whole session; unsets the cookies.
#[utoipa::path(post, path = "/logout", tag = "auth",
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"logout\": true}`; the token (if any) and its session are revoked")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    token: Option<AnyJwt>,
) -> Result<Response, ApiError> {
    if let Some(token) = token {
        let now = state.clock.now();
        let claims = token.claims();
        match (token.sid(), &claims.jti) {
            (Some(sid), _) => revoke_session(&state, sid, now).await?,
            (None, Some(jti)) => {
                let until = claims
                    .exp
                    .unwrap_or(now.saturating_add(state.settings.session_lifetime));
                state
                    .revocations
                    .revoke(Revocation::Token {
                        jti: jti.clone(),
                        until,
                    })
                    .await?;
            }
            (None, None) => {}
        }
        tracing::info!(target: "audit", event = "logout", user = %token.identity(), session = ?token.sid());
    }
    Ok((cleared_cookies(&state), Json(json!({ "logout": true }))).into_response())
}

/// Ends every live session of `user` except `keep`, in the store and in the log.
async fn end_sessions(
    state: &AppState,
    user: &str,
    keep: Option<&str>,
    now: NumericDate,
) -> Result<usize, ApiError> {
    let ids = state.store.revoke_user_sessions(user, keep, now).await?;
    for id in &ids {
        end_session(state, id, now).await?;
    }
    Ok(ids.len())
}

/// `POST /logout/all`: revokes every token of the user.
#[utoipa::path(post, path = "/logout/all", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{\"logout\": true}`; every session and token of the user is revoked"),
        (status = 401, description = "Missing, expired or revoked token", body = super::openapi::Msg),
    ))]
pub(crate) async fn logout_all(
    State(state): State<AppState>,
    token: Jwt,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let user = token.identity();
    let ended = end_sessions(&state, user, None, now).await?;
    // Tokens outside sessions (minted by `jwtx token mint`) issued before this second, by the
    // store's clock (the one every instance and the CLI cut by).
    let cut = state.store.now().await?;
    state
        .revocations
        .revoke(Revocation::user_cutoff(
            user,
            cut,
            state.settings.session_lifetime,
        ))
        .await?;
    tracing::info!(target: "audit", event = "logout_all", %user, sessions = ended);
    Ok((cleared_cookies(&state), Json(json!({ "logout": true }))).into_response())
}

/// `POST /password`: needs a fresh token and the current password; ends every other session.
#[utoipa::path(post, path = "/password", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "`{\"password_changed\": true, \"sessions_ended\": n}`"),
        (status = 400, description = "Malformed body or a new password under 8 characters", body = super::openapi::Msg),
        (status = 401, description = "Not a fresh token, or the current password is wrong", body = super::openapi::Msg),
        (status = 429, description = "Too many wrong current passwords (counted with the login throttle); see Retry-After", body = super::openapi::Msg),
    ))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    token: FreshJwt,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    // The current hash from the store, not the user loader's cache: a password changed a
    // moment ago elsewhere must not be accepted here. A user deleted since the loader looked
    // gets the pipeline's own answer (and metrics).
    let Some(user) = state.store.get_user(token.identity()).await? else {
        let gone = jwtx_axum::JwtError::UserLookup {
            sub: token.identity().to_owned(),
        };
        return Ok(state.jwt.reject(gone).into_response());
    };
    field(
        "current_password",
        &body.current_password,
        MAX_PASSWORD_BYTES,
    )?;
    field("new_password", &body.new_password, MAX_PASSWORD_BYTES)?;
    if let Err(e) = crate::passwords::check_new_password(&body.new_password.clone().into()) {
        return Err(ApiError::BadRequest(format!("new_password: {e}")));
    }
    // Guesses of the current password count with the login throttle's failures for this
    // username and address, and are refused as logins are once those are used up.
    let ip = peer.ip();
    if let Err(retry) = state.throttle.check(&user.name, ip, Instant::now()) {
        tracing::warn!(target: "audit", event = "password_change", result = "throttled", user = %user.name, %ip);
        return Err(ApiError::TooManyAttempts {
            retry_after_secs: retry.as_secs(),
        });
    }
    let spared = state
        .throttle
        .recently_succeeded(&user.name, ip, Instant::now());
    let verdict = state
        .hasher
        .verify_for(
            &user.name,
            spared,
            body.current_password.clone(),
            Some(&user.password_hash),
        )
        .await
        .map_err(|e| ApiError::password_check(&e))?;
    if !verdict.ok {
        state
            .throttle
            .record_failure(&user.name, ip, Instant::now());
        tracing::info!(target: "audit", event = "password_change", result = "failure", user = %user.name);
        return Err(ApiError::WrongCurrentPassword);
    }
    state.throttle.record_success(&user.name, ip);
    let hash = state
        .hasher
        .hash(body.new_password.clone())
        .await
        .map_err(|e| match e {
            crate::passwords::PasswordError::Empty
            | crate::passwords::PasswordError::TooLong { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "password hashing failed");
                ApiError::Unavailable
            }
        })?;
    let now = state.clock.now();
    // One transaction: the hash, a new credential generation, and the end of every other
    // session. A login that verified the old password can no longer create a session, and
    // this token's session survives, bound to the new credentials.
    let change = state
        .store
        .change_password(&user.name, &hash, user.generation, token.sid(), now)
        .await;
    state.users.forget(&user.name);
    let ids = match change? {
        PasswordChange::Changed { ended, .. } => ended,
        PasswordChange::Stale => {
            // Changed by another request since it was read: this one verified a password
            // that may no longer be current.
            return Err(ApiError::Conflict(
                "The password was changed by another request; try again".into(),
            ));
        }
        PasswordChange::NoSuchUser => return Err(ApiError::BadCredentials),
    };
    for id in &ids {
        end_session(&state, id, now).await?;
    }
    let ended = ids.len();
    tracing::info!(target: "audit", event = "password_change", result = "success", user = %user.name, sessions_ended = ended);
    Ok(Json(json!({ "password_changed": true, "sessions_ended": ended })).into_response())
}
