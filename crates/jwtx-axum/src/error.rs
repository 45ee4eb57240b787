//! Why a request's token was refused, and the response that says so.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::config::{ErrorStyle, JwtConfig};

/// flask-jwt-extended's response kinds (its `*_loader` callbacks), which decide the default
/// status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No token, or a CSRF failure: 401 (`unauthorized_loader`).
    Unauthorized,
    /// A malformed or invalid token or header: 422 (`invalid_token_loader`).
    Invalid,
    /// An expired token: 401 (`expired_token_loader`).
    Expired,
    /// The route needs a fresh token: 401 (`needs_fresh_token_loader`).
    NeedsFresh,
    /// The token is revoked: 401 (`revoked_token_loader`).
    Revoked,
    /// The custom verification callback said no: 400 (`token_verification_failed_loader`).
    VerificationFailed,
    /// The user loader found no user: 401 (`user_lookup_error_loader`).
    UserLookup,
    /// A store the check needs (revocation, users) did not answer: 503.
    Unavailable,
    /// The application asked for something the request cannot give: 500.
    Internal,
    /// The body the token or CSRF value is read from is over
    /// [`JwtConfig::body_limit`](crate::JwtConfig::body_limit): 413.
    BodyTooLarge,
}

/// Why a request's token was refused.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JwtError {
    /// No token in any location (the message names what was missing, as flask-jwt-extended).
    NoToken {
        /// The client-facing message.
        message: String,
    },
    /// The header holds a token in the wrong shape (`Bearer` alone, `Bearer a b`).
    BadHeader {
        /// The client-facing message.
        message: String,
    },
    /// The query value lacks the configured prefix.
    BadQueryParam {
        /// The client-facing message.
        message: String,
    },
    /// The `json` location holds a value that is neither a string nor falsy (a number,
    /// `true`, a non-empty array or object): 422 with PyJWT's message.
    TokenNotAString,
    /// The JSON or form body that must be read for the token or the CSRF value is over
    /// [`JwtConfig::body_limit`](crate::JwtConfig::body_limit) (flask-jwt-extended has no limit).
    BodyTooLarge,
    /// CSRF double submit failed: missing header, or a value that does not match.
    Csrf {
        /// `Missing CSRF token` or `CSRF double submit tokens do not match`.
        message: &'static str,
    },
    /// The token failed verification (signature, claims, type, freshness).
    Token(jwtx::Error),
    /// The revocation check says the token is revoked.
    Revoked,
    /// The custom verification callback returned false.
    VerificationFailed,
    /// The user loader found no user for the token's identity.
    UserLookup {
        /// The identity.
        sub: String,
    },
    /// The revocation check or user loader failed (store unreachable).
    Unavailable {
        /// The cause's text, for logs only.
        detail: String,
        /// The callback's error ([`std::error::Error::source`]), shared so the error stays
        /// `Clone` (the per-request cache keeps copies).
        source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A handler asked for a token on an OPTIONS request (which is never verified), or the
    /// application is missing a piece (user loader, body layer).
    Internal {
        /// What is wrong, for logs and the client.
        message: &'static str,
    },
}

impl JwtError {
    /// The response kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            JwtError::NoToken { .. } | JwtError::Csrf { .. } => ErrorKind::Unauthorized,
            JwtError::BadHeader { .. }
            | JwtError::BadQueryParam { .. }
            | JwtError::TokenNotAString => ErrorKind::Invalid,
            JwtError::BodyTooLarge => ErrorKind::BodyTooLarge,
            JwtError::Token(e) => match e.status_class() {
                jwtx::StatusClass::Expired => ErrorKind::Expired,
                jwtx::StatusClass::NeedsFresh => ErrorKind::NeedsFresh,
                _ => ErrorKind::Invalid,
            },
            JwtError::Revoked => ErrorKind::Revoked,
            JwtError::VerificationFailed => ErrorKind::VerificationFailed,
            JwtError::UserLookup { .. } => ErrorKind::UserLookup,
            JwtError::Unavailable { .. } => ErrorKind::Unavailable,
            JwtError::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// flask-jwt-extended's status for this error.
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::VerificationFailed => StatusCode::BAD_REQUEST,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The client-facing message: flask-jwt-extended's exact text.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            JwtError::NoToken { message }
            | JwtError::BadHeader { message }
            | JwtError::BadQueryParam { message } => Cow::Borrowed(message),
            JwtError::Csrf { message } | JwtError::Internal { message } => Cow::Borrowed(message),
            JwtError::TokenNotAString => {
                Cow::Borrowed("Invalid token type. Token must be a <class 'bytes'>")
            }
            JwtError::BodyTooLarge => Cow::Borrowed("Request body too large"),
            JwtError::Token(e) => e.message(),
            JwtError::Revoked => Cow::Borrowed("Token has been revoked"),
            JwtError::VerificationFailed => Cow::Borrowed("User claims verification failed"),
            JwtError::UserLookup { sub } => Cow::Owned(format!("Error loading the user {sub}")),
            JwtError::Unavailable { .. } => {
                Cow::Borrowed("Authentication is temporarily unavailable")
            }
        }
    }

    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::NoToken { .. } => "missing",
            JwtError::BadHeader { .. } | JwtError::BadQueryParam { .. } => "bad_header",
            JwtError::TokenNotAString => "malformed",
            JwtError::BodyTooLarge => "body_too_large",
            JwtError::Csrf { .. } => "csrf",
            JwtError::Token(e) => e.reason(),
            JwtError::Revoked => "revoked",
            JwtError::VerificationFailed => "verification_failed",
            JwtError::UserLookup { .. } => "user_lookup",
            JwtError::Unavailable { .. } => "unavailable",
            JwtError::Internal { .. } => "internal",
        }
    }

    /// The default response in `config`'s style (see [`ErrorStyle`]).
    pub fn default_response(&self, config: &JwtConfig) -> Response {
        let message = self.message();
        let mut status = self.status();
        let mut www = None;
        let token_failure = !matches!(
            self.kind(),
            ErrorKind::Unavailable | ErrorKind::Internal | ErrorKind::BodyTooLarge
        );
        match config.error_style {
            ErrorStyle::Rfc6750 if token_failure => {
                status = StatusCode::UNAUTHORIZED;
                www = Some(if matches!(self, JwtError::NoToken { .. }) {
                    // RFC 6750 §3.1: no error code when the request has no token at all.
                    "Bearer".to_owned()
                } else {
                    format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        quoted_safe(&message)
                    )
                });
            }
            _ if status == StatusCode::UNAUTHORIZED => www = Some("Bearer".to_owned()),
            _ => {}
        }
        let mut response = (status, json_body(&config.error_message_key, &message)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(www) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, www);
        }
        response
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Token(e) => write!(f, "{e}"),
            JwtError::Unavailable { detail, .. } => write!(f, "store unavailable: {detail}"),
            other => f.write_str(&other.message()),
        }
    }
}

impl std::error::Error for JwtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JwtError::Token(e) => Some(e),
            JwtError::Unavailable {
                source: Some(e), ..
            } => Some(&**e),
            _ => None,
        }
    }
}

impl JwtError {
    /// [`JwtError::Unavailable`] for a callback's error: its text and the error itself.
    pub(crate) fn unavailable(e: crate::BoxError) -> Self {
        JwtError::Unavailable {
            detail: e.to_string(),
            source: Some(Arc::from(e)),
        }
    }
}

impl From<jwtx::Error> for JwtError {
    fn from(e: jwtx::Error) -> Self {
        JwtError::Token(e)
    }
}

/// `{"<key>":"<message>"}\n`, as Flask's `jsonify` writes it: compact, non-ASCII escaped.
pub(crate) fn json_body(key: &str, message: &str) -> String {
    let mut map = serde_json::Map::new();
    map.insert(key.to_owned(), message.into());
    let mut out = ascii_json(&serde_json::Value::Object(map));
    out.push('\n');
    out
}

/// JSON with every non-ASCII character written as `\uXXXX` (Python's `ensure_ascii`).
pub(crate) fn ascii_json(v: &serde_json::Value) -> String {
    let raw = v.to_string();
    if raw.is_ascii() {
        return raw;
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// Makes a message safe inside an RFC 6750 quoted `error_description`.
fn quoted_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

/// Replaces the default response for some or all errors.
pub type ErrorHandler = Arc<dyn Fn(&JwtError, &JwtConfig) -> Response + Send + Sync>;

/// The rejection of every jwtx-axum extractor: the error, answered with the manager's
/// configured style or handler.
pub struct JwtRejection {
    pub(crate) error: JwtError,
    pub(crate) config: Arc<JwtConfig>,
    pub(crate) handler: Option<ErrorHandler>,
}

impl fmt::Debug for JwtRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtRejection")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl JwtRejection {
    /// The error.
    pub fn error(&self) -> &JwtError {
        &self.error
    }
}

impl IntoResponse for JwtRejection {
    fn into_response(self) -> Response {
        match self.error.kind() {
            ErrorKind::Unavailable | ErrorKind::Internal => {
                tracing::error!(error = %self.error, "token check failed");
            }
            _ => {
                tracing::debug!(reason = self.error.reason(), error = %self.error, "token refused")
            }
        }
        match &self.handler {
            Some(h) => h(&self.error, &self.config),
            None => self.error.default_response(&self.config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_flask_jsonify() {
        assert_eq!(
            json_body("msg", "Token has expired"),
            "{\"msg\":\"Token has expired\"}\n"
        );
        assert_eq!(
            json_body("msg", "Error loading the user \u{e9}\u{1F600}"),
            "{\"msg\":\"Error loading the user \\u00e9\\ud83d\\ude00\"}\n"
        );
    }

    #[test]
    fn rfc6750_descriptions_stay_quotable() {
        assert_eq!(
            quoted_safe("Missing cookie \"a\"\u{e9}"),
            "Missing cookie 'a'?"
        );
    }
}
