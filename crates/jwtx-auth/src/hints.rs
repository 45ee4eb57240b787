//! [`RevocationHints`]: how instances that share one store tell each other that the
//! revocation log grew, so a follower reads it at once instead of at its next poll.
//!
//! A hint is only a wake-up: the follower then reads the log from its own cursor, and the
//! cursor moves only on what the store returned. A lost hint costs at most one poll
//! interval; a forged or early one costs one read.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;

/// A channel of "the revocation log grew" hints between the instances of one deployment
/// (`jwtx-redis` implements it over Redis pub/sub).
pub trait RevocationHints: Send + Sync + fmt::Debug {
    /// Tells the other instances that this one appended to the log. Returns at once (best
    /// effort: a hint that cannot be sent is dropped, and the others' polls find the entry).
    fn announce(&self);
    /// Notified whenever another instance announces. The follower waits on it between
    /// polls; a notification that arrives while it reads is kept for its next wait.
    fn wakeups(&self) -> Arc<Notify>;
}
