//! `GET /revocations`: the revocation feed for downstream services (docs/http-api.md,
//! "Revocation feed"). The checks come first, in this order: the failed-check throttle (429),
//! the service credential (401), the parameters (400), the cursor against the log's head
//! (409); then a JSON page, or the event stream when the request accepts
//! `text/event-stream`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use crate::feed::{Feed, FeedError, FeedQuery, stream, wants_stream};

/// `GET /revocations` query (documentation only; the handler reads the raw query strictly).
#[derive(utoipa::IntoParams)]
#[allow(dead_code)]
pub(crate) struct FeedParams {
    /// Entries with a greater log id are returned (decimal; default 0). Beyond the head of
    /// the log: 409.
    after: Option<u64>,
    /// The most entries in a page, 1 to 1000 (default 1000).
    limit: Option<u32>,
    /// Streams only: the longest silence between events, in milliseconds, clamped to 100 to
    /// 30000 (default 1000).
    heartbeat: Option<u64>,
}

/// `GET /revocations`: the log's entries after `after`.
#[utoipa::path(get, path = "/revocations", tag = "revocations",
    security(("service" = [])),
    params(FeedParams),
    responses(
        (status = 200, description = "A page of log entries (`application/json`), or with `Accept: text/event-stream` a stream of `revocation` and `heartbeat` events", body = super::openapi::RevocationPage),
        (status = 400, description = "A malformed `after`, `limit` or `heartbeat`", body = super::openapi::Msg),
        (status = 401, description = "No service credential, or not one the store holds (with `WWW-Authenticate`)", body = super::openapi::Msg),
        (status = 409, description = "`after` is beyond the head of this log: resync from 0", body = super::openapi::BeyondHead),
        (status = 429, description = "Too many failed credential checks from this address; see Retry-After", body = super::openapi::Msg),
        (status = 503, description = "The store cannot be read", body = super::openapi::Msg),
    ))]
pub(crate) async fn revocations(
    State(feed): State<Arc<Feed>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, FeedError> {
    let digest = feed.admit(&headers, peer.ip()).await?;
    let query = FeedQuery::parse(query.as_deref()).map_err(FeedError::BadRequest)?;
    let position = feed.position(query.after).await?;
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if wants_stream(&headers) {
        let body = stream(feed, digest, position.epoch, query);
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            no_store,
            // Proxies that buffer responses (nginx) pass the events on as they come.
            (
                http::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ];
        return Ok((headers, body).into_response());
    }
    let page = feed.page(&position.epoch, query.after, query.limit).await?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        no_store,
    ];
    Ok((headers, page).into_response())
}
