//! Downstream services (the `remote` feature): verify tokens another jwtx service issued, with
//! the keys of its JWKS ([`RemoteKeys`]) and the revocations of its feed
//! ([`RevocationFeed`]), both followed in the background so that a request never waits on the
//! network (but for a token whose `kid` the service has not seen yet).
//!
//! ```no_run
//! use std::time::Duration;
//! use jwtx::Validation;
//! use jwtx_axum::JwtManager;
//! use jwtx_axum::remote::{RemoteKeys, RevocationFeed};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = RemoteKeys::builder("https://auth.example/.well-known/jwks.json").start()?;
//! let feed = RevocationFeed::builder("https://auth.example/revocations", &std::env::var("REVOCATIONS_TOKEN")?)
//!     .max_lag(Duration::from_secs(5))
//!     .start()?;
//! let jwt = JwtManager::downstream(
//!     keys,
//!     Validation::new().issuer("https://auth.example").audience("billing"),
//! )
//! .revocation_feed(feed)
//! .build();
//! # let _ = jwt; Ok(()) }
//! ```
//!
//! Transport rules for both: HTTPS, or plain HTTP to a literal loopback address only; no
//! redirects; bodies, stream events and time bounded ([`HttpOptions`]); Mozilla's roots
//! (webpki-roots) plus any added for a private CA.

mod feed;
mod keys;
mod set_policy;
mod sse;
mod transport;

use std::fmt;

pub use feed::{FeedMode, RevocationFeed, RevocationFeedBuilder};
pub use keys::{RemoteKeys, RemoteKeysBuilder};
pub use transport::HttpOptions;

/// Why a remote key source or feed could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteError {
    /// The URL is refused.
    Url {
        /// Which URL (`jwks_url`, `revocations_url`).
        what: &'static str,
        /// The URL.
        url: String,
        /// Why.
        problem: String,
    },
    /// An option is out of range.
    Option {
        /// The option.
        field: &'static str,
        /// Why.
        problem: String,
    },
    /// The TLS configuration (root certificates).
    Tls(String),
    /// Started outside a Tokio runtime.
    Runtime,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Url { what, url, problem } => write!(f, "{what} {url:?}: {problem}"),
            RemoteError::Option { field, problem } => write!(f, "{field} {problem}"),
            RemoteError::Tls(e) => write!(f, "TLS: {e}"),
            RemoteError::Runtime => f.write_str("must be started inside a Tokio runtime"),
        }
    }
}

impl std::error::Error for RemoteError {}
