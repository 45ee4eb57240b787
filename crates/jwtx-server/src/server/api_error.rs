//! Errors of the server's own routes: JSON `{"msg": …}` with the statuses of docs/http-api.md. Token
//! errors are jwtx-axum's and never pass through here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwtx::store::StoreError;

use crate::passwords::PasswordError;

/// A refusal or failure of a server route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    msg: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// Any status and message.
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// 400: a malformed request.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }

    /// 401 `Bad username or password`: the one answer for an unknown user and a wrong
    /// password.
    pub fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad username or password")
    }

    /// 429 with `Retry-After`.
    pub fn too_many_attempts(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many login attempts; try again later",
            )
        }
    }

    /// 503 with `Retry-After`: too many logins are being verified at once.
    pub fn overloaded(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many logins in progress; try again later",
            )
        }
    }

    /// The answer when a password verification did not run: 429 with `Retry-After` when the
    /// username's bound on queued verifications was reached (the throttle's answer, the same
    /// for an unknown name), 503 with `Retry-After` when the whole queue was full, 400 for an
    /// overlong password, else 503 (logged).
    pub(crate) fn password_check(e: &PasswordError) -> Self {
        match e {
            PasswordError::UserBusy { retry_after_secs } => {
                Self::too_many_attempts(*retry_after_secs)
            }
            PasswordError::Overloaded { retry_after_secs } => Self::overloaded(*retry_after_secs),
            PasswordError::TooLong { .. } => Self::bad_request(e.to_string()),
            _ => {
                tracing::error!(error = %e, "password verification failed to run");
                Self::unavailable()
            }
        }
    }

    /// 503: a store could not be reached; nothing was done.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable; nothing was changed, try again",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store operation failed");
        match e {
            StoreError::Conflict { what } => Self::new(StatusCode::CONFLICT, what),
            _ => Self::unavailable(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(serde_json::json!({ "msg": self.msg }))).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
