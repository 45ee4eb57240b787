//! The JSON request body of the auth routes: 415 when it is not JSON, 400 when it is
//! malformed or lacks a field, 413 over the body limit (docs/http-api.md).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body the routes read: jwtx-axum's default (64 KiB), the same bound
/// for the routes' JSON bodies and for what `JwtLayer` buffers.
pub const BODY_LIMIT: usize = jwtx_axum::JwtConfig::DEFAULT_BODY_LIMIT;

/// A JSON body of type `T`, with the server's error answers. Only a JSON object is taken:
/// serde would also fill a struct from an array of its fields in order
/// (`["testuser","testpass"]`), a form no client means and no documentation shows.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v @ serde_json::Value::Object(_))) => serde_json::from_value(v)
                .map(ApiJson)
                .map_err(|e| ApiError::BadRequest(format!("Invalid request body: {e}"))),
            Ok(axum::Json(_)) => Err(ApiError::BadRequest(
                "Request body must be a JSON object".into(),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::BadRequest(
                "Request body is not valid JSON".into(),
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(format!(
                "Invalid request body: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            ))),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge)
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// A required string field: present, non-empty and at most `max` bytes.
pub fn field<'a>(name: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        return Err(ApiError::BadRequest(format!("Missing {name}")));
    }
    if value.len() > max {
        return Err(ApiError::BadRequest(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    Ok(value)
}
