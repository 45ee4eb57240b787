//! The feed as server-sent events (`Accept: text/event-stream`): one `revocation` event per
//! entry, and a `heartbeat` after every read that reached the head of the log.
//!
//! The body is produced lazily, one read at a time, as the connection takes it: a client
//! that stops reading stops the reads, and a read is at most `limit` entries. The log is read
//! every heartbeat, and earlier (at most every [`MIN_GAP`]) when this process learns the log
//! grew ([`Revocations::growth`](crate::Revocations::growth): an append here, or one the
//! follower read, which a wake-up hint makes it read at once). At least every heartbeat the
//! credential is checked again and the log's epoch compared: a removed credential, another
//! epoch or a store error ends the stream after an `error` event; the process shutting down
//! ([`Revocations::stopping`](crate::Revocations::stopping)) ends it at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use jwtx::store::{CredentialDigest, StoreError};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Feed, FeedQuery, item, json_string};

/// The shortest time between two reads woken by the log's growth: a log appended to without
/// pause costs each stream at most one read per gap.
const MIN_GAP: Duration = Duration::from_millis(10);

/// A stream's state between two chunks of its body.
struct Stream {
    feed: Arc<Feed>,
    digest: CredentialDigest,
    epoch: String,
    cursor: u64,
    limit: u32,
    heartbeat: Duration,
    growth: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    /// When the credential and the epoch were last checked.
    checked: Instant,
    /// When the last read started.
    last_read: Instant,
    /// Read without waiting (the first read, and after a full page).
    at_once: bool,
    ended: bool,
}

/// The event stream for a request already admitted (its credential `digest`) and positioned
/// (`epoch`, `query.after` not beyond the head).
pub(crate) fn stream(
    feed: Arc<Feed>,
    digest: CredentialDigest,
    epoch: String,
    query: FeedQuery,
) -> Body {
    let revocations = feed.auth.revocations();
    let now = Instant::now();
    let state = Stream {
        growth: revocations.growth(),
        stopping: revocations.stopping(),
        feed,
        digest,
        epoch,
        cursor: query.after,
        limit: query.limit,
        heartbeat: query.heartbeat,
        checked: now,
        last_read: now,
        at_once: true,
        ended: false,
    };
    Body::from_stream(futures_util::stream::unfold(state, next_chunk))
}

/// Why the stream waited no longer.
enum Woken {
    Heartbeat,
    Grew,
    Stopping,
}

/// The next chunk of the body: the events of one read, or `None` once the stream has ended.
async fn next_chunk(mut s: Stream) -> Option<(Result<Bytes, Infallible>, Stream)> {
    if s.ended {
        return None;
    }
    if !s.at_once {
        let due = s.last_read + s.heartbeat;
        let woken = tokio::select! {
            () = tokio::time::sleep_until(due) => Woken::Heartbeat,
            // The sender lives as long as the feed's `Revocations`: an error cannot happen
            // while this stream holds the feed; it is waited out as a heartbeat.
            grew = s.growth.changed() => if grew.is_ok() { Woken::Grew } else { Woken::Heartbeat },
            _ = s.stopping.wait_for(|stopped| *stopped) => Woken::Stopping,
        };
        match woken {
            Woken::Stopping => return None,
            Woken::Grew => tokio::time::sleep_until(due.min(s.last_read + MIN_GAP)).await,
            Woken::Heartbeat => {}
        }
    }
    s.at_once = false;
    let started = Instant::now();
    s.last_read = started;
    let mut out = String::new();
    if started.duration_since(s.checked) >= s.heartbeat {
        match s.still_admitted().await {
            Ok(None) => s.checked = started,
            Ok(Some(why)) => return Some(s.end(out, why)),
            Err(e) => {
                tracing::warn!(error = %e, "revocation feed: a stream's check failed; ending it");
                return Some(s.end(out, "The revocation log cannot be read; reconnect"));
            }
        }
    }
    // Growth from here on wakes the next wait: none is missed between this read and it.
    s.growth.borrow_and_update();
    let entries = match s.feed.read(s.cursor, s.limit).await {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = %e, "revocation feed: a stream's read failed; ending it");
            return Some(s.end(out, "The revocation log cannot be read; reconnect"));
        }
    };
    for (id, revocation) in &entries {
        out.push_str(&format!(
            "event: revocation\nid: {id}\ndata: {}\n\n",
            item(*id, revocation)
        ));
        s.cursor = *id;
    }
    if entries.len() == s.limit as usize {
        // Behind the head: read again as soon as the client has taken this.
        s.at_once = true;
    } else {
        out.push_str(&format!(
            "event: heartbeat\ndata: {{\"epoch\":{},\"next\":{}}}\n\n",
            json_string(&s.epoch),
            s.cursor
        ));
    }
    Some((Ok(Bytes::from(out)), s))
}

impl Stream {
    /// `None` while the credential is still a service's and the log's epoch the stream's;
    /// else why the stream ends.
    async fn still_admitted(&self) -> Result<Option<&'static str>, StoreError> {
        if !self.feed.is_service(&self.digest).await? {
            return Ok(Some("The service credential was removed"));
        }
        let position = self.feed.auth.store().log_position().await?;
        if position.epoch != self.epoch {
            return Ok(Some(
                "The revocation log was replaced (another epoch): resync from 0",
            ));
        }
        Ok(None)
    }

    /// `out` and an `error` event saying `why`; the stream ends after it.
    fn end(mut self, mut out: String, why: &str) -> (Result<Bytes, Infallible>, Stream) {
        out.push_str(&format!(
            "event: error\ndata: {}\n\n",
            json!({ "msg": why })
        ));
        self.ended = true;
        (Ok(Bytes::from(out)), self)
    }
}
