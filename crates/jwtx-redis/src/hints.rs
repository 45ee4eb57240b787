//! [`RedisHints`]: "the revocation log grew" hints between the instances of one deployment,
//! over Redis pub/sub.
//!
//! **Channel and message.** Hints go to the channel `{prefix}revocations`. A message is a
//! small JSON object, `{"v":1,"deployment":"<hex>","instance":"<id>"}`: `deployment` is a
//! SHA-256 of the deployment id (the id itself never leaves the process), `instance` a random
//! id of the sender. A subscriber ignores a message of another deployment (several can share
//! one Redis and prefix), its own messages, and anything malformed (counted, and logged at
//! debug for the 1st, 2nd, 4th, 8th… one, so a flood of junk cannot flood the log).
//!
//! **A hint is only a wake-up.** A valid message notifies [`wakeups`](RevocationHints::wakeups)
//! and nothing else: it carries no cursor and no entry, so a forged message costs the
//! follower one read of the log, and a lost one at most one poll interval.
//!
//! **Publishing.** [`announce`](RevocationHints::announce) never waits: it queues a hint for a
//! background task (a queue of one: while a hint is waiting to be sent, more announcements
//! are covered by it, since it is sent after all of their log entries were written).
//! [`RedisHints::publish`] sends one and awaits it, for a process that exits right after
//! (the admin CLI).
//!
//! **Subscribing.** A background task holds a connection of its own (a subscribed connection
//! can send no other command), PINGs it every few seconds to notice a dead peer, and when it
//! is lost reconnects with back-off (100 ms doubling to 2 s) for as long as it takes. After
//! a resubscription it notifies `wakeups` once, since a hint may have been missed meanwhile.
//! [`RedisHints::is_connected`] tells whether the subscription is live now (for `/metrics`).
//!
//! [`RedisHints::shutdown`] (or dropping the `RedisHints`) stops both tasks.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use jwtx_auth::RevocationHints;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::{CONNECT_TIMEOUT, Error, RedisTarget, sha256_hex, within};

/// How long [`RedisHints::publish`] (and the background publisher) waits for a PUBLISH.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// The first pause before resubscribing; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two attempts to subscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the subscription is PINGed, to notice a connection that died silently.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a PING of the subscription may take before it counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages longer than this are malformed without being parsed.
const MAX_MESSAGE: usize = 1024;
/// The message format's version.
const VERSION: u32 = 1;

/// A hint on the wire.
#[derive(Serialize, Deserialize)]
struct Message {
    v: u32,
    deployment: String,
    instance: String,
}

/// What a [`RedisHints`] has seen and sent since it started (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HintStats {
    /// Hints of other instances of this deployment (each notified `wakeups`).
    pub received: u64,
    /// Well-formed messages ignored: another deployment's, or this instance's own.
    pub ignored: u64,
    /// Malformed messages ignored.
    pub malformed: u64,
    /// Hints published (by the background task and by [`RedisHints::publish`]).
    pub published: u64,
    /// Announcements covered by a hint already waiting to be sent.
    pub coalesced: u64,
    /// Hints that could not be published (Redis down or slow).
    pub publish_failures: u64,
    /// Subscriptions made again after a loss (each notified `wakeups` once).
    pub resubscriptions: u64,
}

/// [`RevocationHints`] over Redis pub/sub. See the [module docs](self).
pub struct RedisHints {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    target: RedisTarget,
    /// For PUBLISH (reconnects by itself).
    publisher: ConnectionManager,
    channel: String,
    /// This instance's message, as sent.
    message: String,
    /// The SHA-256 of the deployment id, as messages carry it.
    deployment: String,
    instance: String,
    wakeups: Arc<Notify>,
    connected: AtomicBool,
    queue: mpsc::Sender<()>,
    received: AtomicU64,
    ignored: AtomicU64,
    malformed: AtomicU64,
    published: AtomicU64,
    coalesced: AtomicU64,
    publish_failures: AtomicU64,
    resubscriptions: AtomicU64,
}

impl RedisHints {
    /// Starts the subscriber and the publisher for the channel `{prefix}revocations` of the
    /// deployment `deployment` (the same id on every instance of one deployment).
    ///
    /// It does not wait for Redis: while Redis is down the subscriber keeps trying, and
    /// announcements are dropped (the other instances' polls still find the entries). Must be
    /// called within a Tokio runtime ([`Error::NoRuntime`] otherwise).
    pub fn start(target: &RedisTarget, prefix: &str, deployment: &str) -> Result<Self, Error> {
        let publisher = target.manager()?;
        let instance = jwtx::uuid4();
        let deployment = sha256_hex(&[b"jwtx-redis deployment\0", deployment.as_bytes()].concat());
        let message = serde_json::to_string(&Message {
            v: VERSION,
            deployment: deployment.clone(),
            instance: instance.clone(),
        })
        // Cannot fail: three plain fields.
        .unwrap_or_default();
        let (queue, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            target: target.clone(),
            publisher,
            channel: format!("{prefix}revocations"),
            message,
            deployment,
            instance,
            wakeups: Arc::new(Notify::new()),
            connected: AtomicBool::new(false),
            queue,
            received: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            publish_failures: AtomicU64::new(0),
            resubscriptions: AtomicU64::new(0),
        });
        let tasks = vec![
            tokio::spawn(subscribe(shared.clone())),
            tokio::spawn(publish_queued(shared.clone(), rx)),
        ];
        Ok(RedisHints {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    /// Queues a hint for the background publisher and returns at once (the same as
    /// [`RevocationHints::announce`]).
    pub fn announce(&self) {
        match self.shared.queue.try_send(()) {
            Ok(()) => {}
            // A hint is waiting already, and is sent after this announcement's entry was
            // written: it covers this one.
            Err(mpsc::error::TrySendError::Full(())) => {
                self.shared.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            // Shut down.
            Err(mpsc::error::TrySendError::Closed(())) => {}
        }
    }

    /// Publishes a hint now and waits until Redis has it (at most a couple of seconds), for a
    /// process that exits right after (the admin CLI).
    pub async fn publish(&self) -> Result<(), Error> {
        self.shared.publish().await
    }

    /// Whether the subscription is live now: hints from the other instances arrive.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// What has been received and sent so far.
    pub fn stats(&self) -> HintStats {
        let s = &self.shared;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HintStats {
            received: n(&s.received),
            ignored: n(&s.ignored),
            malformed: n(&s.malformed),
            published: n(&s.published),
            coalesced: n(&s.coalesced),
            publish_failures: n(&s.publish_failures),
            resubscriptions: n(&s.resubscriptions),
        }
    }

    /// The channel hints go to (`{prefix}revocations`).
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// Stops the background tasks and waits until they have ended. Afterwards announcements
    /// are dropped, nothing is received, and [`is_connected`](Self::is_connected) is false;
    /// [`publish`](Self::publish) still works.
    pub async fn shutdown(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // The only error is the cancellation asked for (or a panic, already reported).
            let _ = task.await;
        }
        self.shared.connected.store(false, Ordering::Relaxed);
    }
}

impl Drop for RedisHints {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisHints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHints")
            .field("redis", &self.shared.target)
            .field("channel", &self.shared.channel)
            .field("instance", &self.shared.instance)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl RevocationHints for RedisHints {
    fn announce(&self) {
        RedisHints::announce(self);
    }

    fn wakeups(&self) -> Arc<Notify> {
        self.shared.wakeups.clone()
    }
}

impl Shared {
    async fn publish(&self) -> Result<(), Error> {
        let mut conn = self.publisher.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&self.channel).arg(&self.message);
        let attempts = async {
            match publish.query_async::<i64>(&mut conn).await {
                // The connection was lost (Redis restarted, say) since the last hint: the
                // manager reconnects on this error, so one more try goes to the new
                // connection rather than dropping the first hint after every restart.
                Err(e) if e.is_unrecoverable_error() || e.is_connection_dropped() => {
                    publish.query_async::<i64>(&mut conn).await
                }
                sent => sent,
            }
        };
        let sent = within(PUBLISH_TIMEOUT, attempts).await;
        match sent {
            Ok(_) => {
                self.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.publish_failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Handles one message of the channel.
    fn on_message(&self, payload: &[u8]) {
        let parsed = (payload.len() <= MAX_MESSAGE)
            .then(|| serde_json::from_slice::<Message>(payload).ok())
            .flatten()
            .filter(|m| m.v == VERSION);
        match parsed {
            None => {
                let n = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::debug!(
                        channel = %self.channel,
                        malformed = n,
                        "revocation hints: ignored a malformed message"
                    );
                }
            }
            Some(m) if m.deployment != self.deployment || m.instance == self.instance => {
                self.ignored.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                // Kept as a permit if the follower is not waiting (it is reading the log).
                self.wakeups.notify_one();
            }
        }
    }

    /// Follows one subscription until it is lost; returns why.
    async fn listen(&self, pubsub: redis::aio::PubSub) -> String {
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        if msg.get_channel_name() == self.channel {
                            self.on_message(msg.get_payload_bytes());
                        }
                    }
                    None => return "the connection was closed".to_owned(),
                },
                _ = ping.tick() => {
                    if let Err(e) = within(PING_TIMEOUT, sink.ping::<redis::Value>()).await {
                        return format!("PING failed: {e}");
                    }
                }
            }
        }
    }

    /// Connects and subscribes.
    async fn connect(&self) -> Result<redis::aio::PubSub, Error> {
        let mut pubsub = within(CONNECT_TIMEOUT, self.target.client().get_async_pubsub()).await?;
        within(CONNECT_TIMEOUT, pubsub.subscribe(&self.channel)).await?;
        Ok(pubsub)
    }
}

/// The subscriber task: subscribes, follows the subscription, and subscribes again after a
/// loss, with back-off.
async fn subscribe(shared: Arc<Shared>) {
    let mut backoff = MIN_BACKOFF;
    // The first attempt at start: no hint can have been missed yet, so no wake-up.
    let mut first = true;
    // Whether the current outage was logged at warn already (once per outage).
    let mut outage_logged = false;
    loop {
        match shared.connect().await {
            Ok(pubsub) => {
                shared.connected.store(true, Ordering::Relaxed);
                if first {
                    tracing::debug!(redis = %shared.target, channel = %shared.channel, "revocation hints: subscribed");
                } else {
                    shared.resubscriptions.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(redis = %shared.target, channel = %shared.channel, "revocation hints: subscribed again");
                    // A hint may have been missed while the subscription was down.
                    shared.wakeups.notify_one();
                }
                backoff = MIN_BACKOFF;
                let why = shared.listen(pubsub).await;
                shared.connected.store(false, Ordering::Relaxed);
                tracing::warn!(
                    redis = %shared.target,
                    reason = %why,
                    "revocation hints: subscription lost; resubscribing (revocations from other \
                     instances apply at the next poll meanwhile)"
                );
                outage_logged = true;
            }
            Err(e) => {
                if outage_logged {
                    tracing::debug!(redis = %shared.target, error = %e, "revocation hints: cannot subscribe yet");
                } else {
                    tracing::warn!(
                        redis = %shared.target,
                        error = %e,
                        "revocation hints: cannot subscribe; retrying (revocations from other \
                         instances apply at the next poll meanwhile)"
                    );
                    outage_logged = true;
                }
            }
        }
        first = false;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The publisher task: sends a hint for each queued announcement.
async fn publish_queued(shared: Arc<Shared>, mut rx: mpsc::Receiver<()>) {
    let mut failing = false;
    while rx.recv().await.is_some() {
        match shared.publish().await {
            Ok(()) => {
                if failing {
                    tracing::info!(redis = %shared.target, "revocation hints: publishing again");
                    failing = false;
                }
            }
            Err(e) if failing => {
                tracing::debug!(redis = %shared.target, error = %e, "revocation hints: a hint was not published");
            }
            Err(e) => {
                tracing::warn!(
                    redis = %shared.target,
                    error = %e,
                    "revocation hints: cannot publish; the other instances see new revocations \
                     at their next poll"
                );
                failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_message_format_is_stable() {
        let m = serde_json::to_string(&Message {
            v: 1,
            deployment: "d".into(),
            instance: "i".into(),
        })
        .unwrap();
        assert_eq!(m, r#"{"v":1,"deployment":"d","instance":"i"}"#);
    }
}
