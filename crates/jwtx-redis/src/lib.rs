//! # jwtx-redis
//!
//! Redis for a jwtx deployment of several instances (`jwtx serve` processes that share one
//! database):
//!
//! - [`RedisHints`] implements [`jwtx_auth::RevocationHints`] over Redis pub/sub. An instance
//!   that appends to the revocation log *announces* it; every other instance of the same
//!   deployment is woken and reads the log at once, instead of at its next poll (every
//!   [`jwtx_auth::FOLLOW_INTERVAL`]). A hint carries no data: the log in the database stays
//!   the only source of truth, and a lost hint costs at most one poll interval.
//! - [`RedisLimiter`] implements [`jwtx_auth::LoginLimiter`] with the semantics of
//!   [`LoginThrottle`](jwtx_auth::throttle::LoginThrottle) (sliding windows, addresses by /64,
//!   truncated names, remembered successes), counted in Redis so that the limits hold across
//!   all instances together. While Redis is down or slow it falls back to an in-process
//!   `LoginThrottle` (per-instance limits) and says so ([`RedisLimiter::is_degraded`]); it
//!   never refuses every login because Redis is away, and never lets one through unlimited.
//!
//! Both start without Redis (they connect, and reconnect, by themselves): only a malformed
//! URL is an error at start. Every key and channel is under a prefix ([`DEFAULT_PREFIX`],
//! `jwtx:`), so deployments and tests can share one Redis.
//!
//! ```no_run
//! # async fn wire() -> Result<(), jwtx_redis::Error> {
//! use jwtx_auth::throttle::ThrottleConfig;
//! use jwtx_redis::{RedisHints, RedisLimiter, RedisTarget, DEFAULT_PREFIX};
//!
//! let redis = RedisTarget::parse("redis://:secret@127.0.0.1:6379/0")?;
//! assert_eq!(redis.to_string(), "redis://<redacted>@127.0.0.1:6379/0");
//! // The deployment id: the same for every instance of one deployment (the server keeps one
//! // in its database), so that deployments sharing a Redis do not wake each other.
//! let hints = RedisHints::start(&redis, DEFAULT_PREFIX, "deployment-id")?;
//! let limiter = RedisLimiter::start(&redis, DEFAULT_PREFIX, ThrottleConfig::default())?;
//! // … hand them to the auth service as `Arc<dyn RevocationHints>` / `Arc<dyn LoginLimiter>`.
//! hints.shutdown().await;
//! # drop(limiter);
//! # Ok(()) }
//! ```
//!
//! ## What is kept in Redis
//!
//! | key or channel | what | expires |
//! | --- | --- | --- |
//! | `{prefix}revocations` | the hints channel (pub/sub, nothing stored) | — |
//! | `{prefix}login:attempts:{address}` | sorted set: the address's attempt log | the attempt window after its latest event |
//! | `{prefix}login:failures:{address}:{name hash}` | sorted set: the failure log of a (name, address) | the failure window after its latest event |
//! | `{prefix}login:success:{address}:{name hash}` | a successful login of a name from an address | `success_memory` after it |
//!
//! An address is the client's normalised address ([`client_key`](jwtx_auth::throttle::client_key):
//! IPv4-mapped as IPv4, IPv6 by its /64). A name is never stored: the key holds the
//! lowercase hex SHA-256 of its first 256 bytes ([`user_key`](jwtx_auth::throttle::user_key)).
//! A hint message holds a SHA-256 of the deployment id, never the id itself.
//!
//! ## Requirements
//!
//! Redis 5 or newer (the limiter's script reads the server clock with `TIME`, so every
//! instance counts on one clock), or a compatible server (Valkey). Plain TCP or a Unix socket:
//! `rediss://` (TLS) is not built in. A URL may hold a password: it is redacted wherever a
//! [`RedisTarget`] is shown (`Debug`, `Display`, logs).

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub mod hints;
pub mod limiter;

pub use hints::{HintStats, RedisHints};
pub use limiter::{CALL_TIMEOUT, RedisLimiter};

/// The default prefix of every key and channel (`redis_key_prefix`).
pub const DEFAULT_PREFIX: &str = "jwtx:";

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a Redis operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not one this build can use (the message never repeats the URL, which may
    /// hold a password).
    Url(String),
    /// Not called from within a Tokio runtime (the background tasks need one).
    NoRuntime,
    /// Redis refused the operation, or the connection failed.
    Redis(redis::RedisError),
    /// Redis did not answer in time.
    Timeout(Duration),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(why) => write!(f, "invalid Redis URL: {why}"),
            Error::NoRuntime => f.write_str("jwtx-redis must be started within a Tokio runtime"),
            Error::Redis(e) => write!(f, "Redis: {e}"),
            Error::Timeout(t) => write!(f, "Redis did not answer within {} ms", t.as_millis()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

/// Runs `op` with a deadline: its error, or [`Error::Timeout`].
async fn within<T>(
    limit: Duration,
    op: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, op).await {
        Ok(r) => r.map_err(Error::Redis),
        Err(_) => Err(Error::Timeout(limit)),
    }
}

/// A Redis server to connect to: a parsed URL. `Debug` and `Display` show the URL with its
/// user, password and query (`?pass=…` for a Unix socket) redacted.
///
/// URL forms: `redis://[user][:password@]host[:port][/db]`, `redis+unix:///path?db=N&pass=…`
/// (and the `valkey` spellings); add `?protocol=resp3` for RESP3.
#[derive(Clone)]
pub struct RedisTarget {
    client: redis::Client,
    shown: String,
}

impl RedisTarget {
    /// Parses a Redis URL. It does not connect: a server that is down is no error here.
    pub fn parse(url: &str) -> Result<Self, Error> {
        // The parser's messages name what is wrong, never the URL (a detail, if any, is the
        // value of `?protocol=`).
        let client = redis::Client::open(url).map_err(|e| Error::Url(e.to_string()))?;
        Ok(RedisTarget {
            client,
            shown: redact(url),
        })
    }

    /// The URL with its credentials and query redacted.
    pub fn redacted(&self) -> &str {
        &self.shown
    }

    /// The client, to open connections of one's own (tests, tools).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A connection that reconnects by itself (lazily: nothing is connected until the first
    /// command). Needs a Tokio runtime.
    fn manager(&self) -> Result<ConnectionManager, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(Duration::from_secs(2)))
            // A failed reconnection is retried on the next command; callers bound their waits
            // with timeouts of their own, so a long retry series would only delay recovery.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        Ok(self.client.get_connection_manager_lazy(config)?)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisTarget").field(&self.shown).finish()
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `url` without what may be secret: everything up to the last `@` of the authority becomes
/// `<redacted>`, and a query or fragment becomes `?<redacted>`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".to_owned();
    };
    let (rest, tail) = match rest.find(['?', '#']) {
        Some(i) => (rest.get(..i).unwrap_or_default(), "?<redacted>"),
        None => (rest, ""),
    };
    // Conservative: any `@` (also one a password would hold unencoded) ends the secret part.
    let rest = match rest.rfind('@') {
        Some(i) => format!("<redacted>@{}", rest.get(i + 1..).unwrap_or_default()),
        None => rest.to_owned(),
    };
    format!("{scheme}://{rest}{tail}")
}

/// Lowercase hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        use fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_are_redacted() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"),
            (
                "redis://:s3cret@127.0.0.1:6379/0",
                "redis://<redacted>@127.0.0.1:6379/0",
            ),
            (
                "redis://user:p%40ss@host.example:1/0",
                "redis://<redacted>@host.example:1/0",
            ),
            (
                "redis://127.0.0.1/?protocol=resp3",
                "redis://127.0.0.1/?<redacted>",
            ),
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?<redacted>",
            ),
        ] {
            let target = RedisTarget::parse(url).unwrap();
            assert_eq!(target.to_string(), shown);
            assert_eq!(target.redacted(), shown);
            let debug = format!("{target:?}");
            assert!(
                !debug.contains("s3cret") && !debug.contains("p%40ss"),
                "{debug}"
            );
        }
        // Malformed: an error that does not repeat the URL.
        for url in [
            "not a url s3cret",
            "http://:s3cret@host",
            "redis://:s3cret@/0",
        ] {
            let err = RedisTarget::parse(url).unwrap_err();
            assert!(matches!(err, Error::Url(_)), "{url}: {err:?}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
            assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
        }
        assert_eq!(redact("garbage"), "<redacted>");
        assert_eq!(
            redact("redis://a@b:pa@ss@host/0"),
            "redis://<redacted>@host/0"
        );
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
