//! The token routes: `POST /login`, `/refresh`, `/logout`, `/logout/all` and `/password`
//! (docs/http-api.md). Each reads the request, calls the [`Auth`] flow and writes the answer:
//! tokens in the body and/or cookies as the token locations say.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use jwtx::store::User;
use jwtx_axum::{AnyJwt, CurrentUser, FreshJwt, Jwt, JwtError, Location, Refresh, RefreshJwt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::body::{ApiJson, field};
use crate::MAX_NAME_BYTES;
use crate::error::ApiError;
use crate::passwords::MAX_PASSWORD_BYTES;
use crate::service::{Auth, LoggingOut, LoginRequest, PasswordChangeRequest, Presented, Tokens};

/// `POST /login` body.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    /// At most 256 bytes.
    username: String,
    /// At most 1024 bytes.
    #[schema(value_type = String)]
    password: Zeroizing<String>,
    /// `"cookies"`: answer with cookies only, no token in the body (cookie mode, for a page
    /// that must not let script read a token). A request carrying a JWT cookie gets the same.
    #[serde(default)]
    token_transport: Option<TokenTransport>,
}

/// Where a login's tokens go when the request says.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenTransport {
    /// Cookies only.
    Cookies,
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

/// The success body plus the tokens in the body and/or cookies, as the locations say; in
/// cookie mode (when cookies are a location) in cookies only, so no token reaches script. No
/// cache may keep it (`Cache-Control: no-store` and `Pragma: no-cache`, RFC 6749 §5.1).
fn token_response(
    auth: &Auth,
    mut body: Map<String, Value>,
    tokens: &Tokens,
    cookie_mode: bool,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let (in_body, in_cookies) = auth.token_transport();
    let in_body = in_body && !(cookie_mode && in_cookies);
    if in_body {
        body.insert("access_token".into(), tokens.access.token.clone().into());
        if let Some(r) = &tokens.refresh {
            body.insert("refresh_token".into(), r.token.clone().into());
        }
    }
    if in_cookies {
        auth.jwt().set_access_cookies(&mut headers, &tokens.access);
        if let Some(r) = &tokens.refresh {
            auth.jwt().set_refresh_cookies(&mut headers, r);
        }
    }
    (headers, Json(Value::Object(body))).into_response()
}

fn flag(name: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(name.into(), true.into());
    body
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
    State(auth): State<Auth>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let username = field("username", &body.username, MAX_NAME_BYTES)?;
    field("password", &body.password, MAX_PASSWORD_BYTES)?;
    let asked = body.token_transport == Some(TokenTransport::Cookies);
    if asked && !auth.token_transport().1 {
        return Err(ApiError::BadRequest(
            "token_transport \"cookies\" needs the cookies token location".into(),
        ));
    }
    let cookie_mode = asked || auth.jwt().has_jwt_cookie(&headers);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let tokens = auth
        .login(LoginRequest {
            username,
            password: body.password.clone(),
            ip: peer.ip(),
            user_agent,
        })
        .await?;
    Ok(token_response(&auth, flag("login"), &tokens, cookie_mode))
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
    State(auth): State<Auth>,
    token: RefreshJwt,
    current: CurrentUser<Arc<User>, Refresh>,
) -> Result<Response, ApiError> {
    let presented = Presented {
        jti: token.claims().jti.as_deref().unwrap_or_default(),
        session: token.sid(),
    };
    let tokens = auth.refresh(&current.0, presented).await?;
    // A refresh token from a cookie is a browser's: the answer is cookies only.
    let cookie_mode = token.location() == Location::Cookies;
    Ok(token_response(&auth, flag("refresh"), &tokens, cookie_mode))
}

/// The `Set-Cookie` lines that clear the JWT cookies, when cookies are a token location.
fn cleared_cookies(auth: &Auth) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if auth.token_transport().1 {
        auth.jwt().unset_jwt_cookies(&mut headers);
    }
    headers
}

/// `POST /logout`: revokes the presented token and its whole session; unsets the cookies.
#[utoipa::path(post, path = "/logout", tag = "auth",
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"logout\": true}`; the token (if any) and its session are revoked")))]
pub(crate) async fn logout(
    State(auth): State<Auth>,
    token: Option<AnyJwt>,
) -> Result<Response, ApiError> {
    if let Some(token) = token {
        let claims = token.claims();
        auth.logout(LoggingOut {
            user: token.identity(),
            session: token.sid(),
            jti: claims.jti.as_deref(),
            exp: claims.exp,
        })
        .await?;
    }
    Ok((cleared_cookies(&auth), Json(json!({ "logout": true }))).into_response())
}

/// `POST /logout/all`: revokes every token of the user.
#[utoipa::path(post, path = "/logout/all", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`{\"logout\": true}`; every session and token of the user is revoked"),
        (status = 401, description = "Missing, expired or revoked token", body = super::openapi::Msg),
    ))]
pub(crate) async fn logout_all(State(auth): State<Auth>, token: Jwt) -> Result<Response, ApiError> {
    auth.logout_all(token.identity()).await?;
    Ok((cleared_cookies(&auth), Json(json!({ "logout": true }))).into_response())
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
    State(auth): State<Auth>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    token: FreshJwt,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    field(
        "current_password",
        &body.current_password,
        MAX_PASSWORD_BYTES,
    )?;
    field("new_password", &body.new_password, MAX_PASSWORD_BYTES)?;
    let change = auth
        .change_password(PasswordChangeRequest {
            user: token.identity(),
            session: token.sid(),
            current_password: body.current_password.clone(),
            new_password: body.new_password.clone(),
            ip: peer.ip(),
        })
        .await;
    match change {
        Ok(ended) => {
            Ok(Json(json!({ "password_changed": true, "sessions_ended": ended })).into_response())
        }
        // A user deleted since the loader looked gets the token pipeline's own answer.
        Err(ApiError::UserGone(sub)) => Ok(auth
            .jwt()
            .reject(JwtError::UserLookup { sub })
            .into_response()),
        Err(e) => Err(e),
    }
}
