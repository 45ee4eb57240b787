//! [`ApiError`]: the refusals and failures of the auth flows, answered as JSON `{"msg": …}` with
//! the statuses of docs/http-api.md. Token errors are jwtx-axum's and never pass through here.

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwtx::store::StoreError;

use crate::limiter::Refusal;
use crate::passwords::PasswordError;

/// A refusal or failure of an auth flow or route: each variant knows its status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: a malformed request; the message says what is wrong.
    BadRequest(String),
    /// 401 `Bad username or password`: the one answer for an unknown user and a wrong
    /// password.
    BadCredentials,
    /// 401 `Current password is incorrect` (`POST /password`).
    WrongCurrentPassword,
    /// 401 `Token has been revoked`, flask-jwt-extended's text, for a refresh token whose
    /// session has ended.
    Revoked,
    /// 401 `Error loading the user NAME`: the token's user no longer exists. The routes answer
    /// it as jwtx-axum's user-lookup refusal (the configured error style and metrics).
    UserGone(String),
    /// 403 `Admins only!`.
    AdminsOnly,
    /// 404 with what was not found (`Not found`, `Session not found`).
    NotFound(&'static str),
    /// 409: the write conflicts with what is stored; the message says how.
    Conflict(String),
    /// 413 `Request body too large`.
    PayloadTooLarge,
    /// 415 `Content-Type must be application/json`.
    UnsupportedMediaType,
    /// 429 with `Retry-After` (at least 1 s): the login throttle, or the username's bound on
    /// queued password verifications.
    TooManyAttempts {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After` (at least 1 s): too many logins are being verified at once.
    Overloaded {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 503: a store could not be reached, or hashing did not run; nothing was done.
    Unavailable,
    /// 500 `Token signing failed`.
    SigningFailed,
}

impl ApiError {
    /// The answer when a password verification did not run: 429 with `Retry-After` when the
    /// username's bound on queued verifications was reached (the throttle's answer, the same
    /// for an unknown name), 503 with `Retry-After` when the whole queue was full, 400 for an
    /// overlong password, else 503 (logged).
    pub fn password_check(e: &PasswordError) -> Self {
        match e {
            PasswordError::UserBusy { retry_after_secs } => ApiError::TooManyAttempts {
                retry_after_secs: *retry_after_secs,
            },
            PasswordError::Overloaded { retry_after_secs } => ApiError::Overloaded {
                retry_after_secs: *retry_after_secs,
            },
            PasswordError::TooLong { .. } => ApiError::BadRequest(e.to_string()),
            _ => {
                tracing::error!(error = %e, "password verification failed to run");
                ApiError::Unavailable
            }
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadCredentials
            | ApiError::WrongCurrentPassword
            | ApiError::Revoked
            | ApiError::UserGone(_) => StatusCode::UNAUTHORIZED,
            ApiError::AdminsOnly => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SigningFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body's `msg`.
    pub fn message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            ApiError::BadRequest(msg) | ApiError::Conflict(msg) => msg,
            ApiError::NotFound(msg) => msg,
            ApiError::UserGone(name) => {
                return Cow::Owned(format!("Error loading the user {name}"));
            }
            ApiError::BadCredentials => "Bad username or password",
            ApiError::WrongCurrentPassword => "Current password is incorrect",
            ApiError::Revoked => "Token has been revoked",
            ApiError::AdminsOnly => "Admins only!",
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::UnsupportedMediaType => "Content-Type must be application/json",
            ApiError::TooManyAttempts { .. } => "Too many login attempts; try again later",
            ApiError::Overloaded { .. } => "Too many logins in progress; try again later",
            ApiError::Unavailable => {
                "Service temporarily unavailable; nothing was changed, try again"
            }
            ApiError::SigningFailed => "Token signing failed",
        })
    }

    /// `Retry-After` in seconds, for the variants that send it.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyAttempts { retry_after_secs }
            | ApiError::Overloaded { retry_after_secs } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.status().as_u16())
    }
}

impl std::error::Error for ApiError {}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Limited(retry) => ApiError::TooManyAttempts {
                retry_after_secs: retry.as_secs(),
            },
            Refusal::Unavailable(detail) => {
                tracing::error!(%detail, "login limiter unavailable");
                ApiError::Unavailable
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store operation failed");
        match e {
            StoreError::Conflict { what } => ApiError::Conflict(what),
            _ => ApiError::Unavailable,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status(),
            Json(serde_json::json!({ "msg": self.message() })),
        )
            .into_response();
        let headers = res.headers_mut();
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_knows_its_status_and_message() {
        for (e, status, msg, retry, www) in [
            (
                ApiError::BadRequest("Missing username".into()),
                400,
                "Missing username",
                None,
                None,
            ),
            (
                ApiError::BadCredentials,
                401,
                "Bad username or password",
                None,
                None,
            ),
            (
                ApiError::WrongCurrentPassword,
                401,
                "Current password is incorrect",
                None,
                None,
            ),
            (ApiError::Revoked, 401, "Token has been revoked", None, None),
            (ApiError::AdminsOnly, 403, "Admins only!", None, None),
            (
                ApiError::NotFound("Session not found"),
                404,
                "Session not found",
                None,
                None,
            ),
            (
                ApiError::Conflict("user x exists".into()),
                409,
                "user x exists",
                None,
                None,
            ),
            (
                ApiError::PayloadTooLarge,
                413,
                "Request body too large",
                None,
                None,
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "Content-Type must be application/json",
                None,
                None,
            ),
            (
                ApiError::TooManyAttempts {
                    retry_after_secs: 0,
                },
                429,
                "Too many login attempts; try again later",
                Some("1"),
                None,
            ),
            (
                ApiError::Overloaded {
                    retry_after_secs: 7,
                },
                503,
                "Too many logins in progress; try again later",
                Some("7"),
                None,
            ),
            (
                ApiError::Unavailable,
                503,
                "Service temporarily unavailable; nothing was changed, try again",
                None,
                None,
            ),
            (
                ApiError::SigningFailed,
                500,
                "Token signing failed",
                None,
                None,
            ),
        ] {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.message(), msg);
            let res = e.into_response();
            assert_eq!(res.status().as_u16(), status);
            let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok());
            assert_eq!(header(header::RETRY_AFTER), retry, "{msg}");
            assert_eq!(header(header::WWW_AUTHENTICATE), www, "{msg}");
            assert_eq!(header(header::CONTENT_TYPE), Some("application/json"));
        }
    }

    #[test]
    fn store_errors_map_to_conflict_or_unavailable() {
        let conflict = StoreError::Conflict {
            what: "user alice exists".into(),
        };
        assert_eq!(
            ApiError::from(conflict),
            ApiError::Conflict("user alice exists".into())
        );
        assert_eq!(
            ApiError::from(StoreError::unavailable("down")),
            ApiError::Unavailable
        );
        assert_eq!(
            ApiError::from(StoreError::corrupt("bad row")),
            ApiError::Unavailable
        );
    }
}
