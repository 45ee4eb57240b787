//! Live key rotation in a running server: the signing keys, reloaded from the store whenever
//! the revocation log carries a key entry (a rotation's notice, a retirement), at a pending
//! key's activation time, and every minute; swapped into the codec at once ([`LiveKeys`]),
//! with the JWKS document built once per change. With `key_rotation_interval`, the instance
//! whose conditional write wins also rotates on schedule.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::HeaderValue;
use jwtx::store::{KeyStore, RevocationStore};
use jwtx::{Clock, KeySet, LiveKeys, NumericDate};
use tokio::sync::{Notify, watch};

use crate::config::{Config, Secret};
use crate::data::signing::{self, Loaded};
use crate::error::CliError;

/// Reloads at least this often, so a lost notice costs at most this long.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// The JWKS document as served: its bytes and its entity tag.
#[derive(Debug)]
pub(crate) struct Jwks {
    pub(crate) body: axum::body::Bytes,
    pub(crate) etag: HeaderValue,
}

impl Jwks {
    fn of(set: &KeySet) -> Jwks {
        let body = set.jwks().to_string();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let tag: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Jwks {
            body: body.into(),
            etag: HeaderValue::from_str(&format!("\"{tag}\"")).expect("hex is a header value"),
        }
    }
}

/// The server's signing keys, kept current (built by `jwtx serve`).
#[derive(Debug)]
pub struct KeyRing {
    keys: Arc<dyn KeyStore>,
    log: Arc<dyn RevocationStore>,
    config: Config,
    first_hmac: Option<Secret>,
    clock: Arc<dyn Clock>,
    live: LiveKeys,
    jwks: ArcSwap<Jwks>,
    /// The last load: the pending key's activation, and the active key.
    last: Mutex<Last>,
    /// When this ring was opened: an HMAC deployment's first secret (not in the store, its
    /// age unknown) counts as active since then for `key_rotation_interval`.
    opened: NumericDate,
}

#[derive(Debug, Default)]
struct Last {
    pending: Option<(String, NumericDate)>,
    active: Option<(String, NumericDate)>,
}

impl KeyRing {
    /// Loads the keys (generating the first asymmetric key when the store has none); returns
    /// the ring and the startup summary's key line.
    pub(crate) async fn open(
        keys: Arc<dyn KeyStore>,
        log: Arc<dyn RevocationStore>,
        config: &Config,
        first_hmac: Option<Secret>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Arc<KeyRing>, String), CliError> {
        let loaded = signing::load(keys.as_ref(), config, first_hmac.as_ref(), clock.now()).await?;
        let line = loaded.line.clone();
        let ring = KeyRing {
            keys,
            log,
            config: config.clone(),
            first_hmac,
            clock: clock.clone(),
            live: LiveKeys::new(loaded.set.clone()),
            jwks: ArcSwap::from_pointee(Jwks::of(&loaded.set)),
            last: Mutex::new(Last::default()),
            opened: clock.now(),
        };
        ring.remember(&loaded);
        Ok((Arc::new(ring), line))
    }

    /// The key set the codec signs and verifies with.
    pub(crate) fn live(&self) -> LiveKeys {
        self.live.clone()
    }

    /// Seconds the JWKS may be cached (`jwks_max_age`).
    pub(crate) fn jwks_max_age(&self) -> u64 {
        self.config.jwks_max_age.as_secs()
    }

    /// The JWKS document of the current keys.
    pub(crate) fn jwks(&self) -> Arc<Jwks> {
        self.jwks.load_full()
    }

    fn remember(&self, loaded: &Loaded) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.pending = loaded.pending.clone();
        last.active = loaded.active.as_ref().map(|a| {
            let since = a.activates_at.unwrap_or(a.created_at);
            (a.kid.clone(), since)
        });
    }

    /// Reloads the keys from the store and swaps them in.
    pub(crate) async fn reload(&self) -> Result<(), CliError> {
        let loaded = signing::load(
            self.keys.as_ref(),
            &self.config,
            self.first_hmac.as_ref(),
            self.clock.now(),
        )
        .await?;
        self.install(loaded.set.clone());
        self.remember(&loaded);
        Ok(())
    }

    fn install(&self, set: KeySet) {
        let jwks = Jwks::of(&set);
        if jwks.body != self.jwks.load().body {
            self.jwks.store(Arc::new(jwks));
        }
        self.live.replace(set);
    }

    /// At a pending key's activation time, signs with it from the set already held, so the
    /// switch does not wait for the store.
    fn activate_locally(&self, kid: &str) {
        if let Ok(set) = KeySet::clone(&self.live.load()).with_signer(kid) {
            self.live.replace(set);
        }
    }

    /// When the next scheduled rotation is due and the active key it expects: `None` when
    /// none is configured or a key is pending. An HMAC deployment's first secret (not in the
    /// store, its age unknown) counts from the ring's opening.
    fn rotation_due(&self) -> Option<(NumericDate, Option<String>)> {
        let every = self.config.key_rotation_interval?;
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.pending.is_some() {
            return None;
        }
        let (since, expected) = match &last.active {
            Some((kid, since)) => (*since, Some(kid.clone())),
            None => (self.opened, None),
        };
        Some((since.saturating_add(every.as_secs()), expected))
    }

    /// How long until a scheduled rotation is due.
    fn until_rotation(&self) -> Option<Duration> {
        let (due, _) = self.rotation_due()?;
        Some(Duration::from_secs(due.saturating_sub(self.clock.now())) + Duration::from_millis(50))
    }

    /// Rotates if `key_rotation_interval` has passed since the active key began to sign and
    /// no key is pending. The write is conditional on the active key seen, so of instances
    /// racing, one rotates.
    async fn rotate_if_due(&self) -> Result<(), CliError> {
        let now = self.clock.now();
        let Some((_, expected)) = self.rotation_due().filter(|(due, _)| *due <= now) else {
            return Ok(());
        };
        let expected = expected.as_deref();
        match signing::rotate(
            self.keys.as_ref(),
            self.log.as_ref(),
            &self.config,
            self.first_hmac.as_ref(),
            signing::Rotation {
                expected_active: expected,
                ..signing::Rotation::default()
            },
            now,
        )
        .await
        {
            Ok(r) => {
                tracing::info!(kid = %r.kid, activates_at = r.activates_at, "scheduled key rotation");
                self.reload().await
            }
            // Another instance rotated first.
            Err(e) if e.is_usage() => self.reload().await,
            Err(e) => Err(e),
        }
    }

    /// Keeps the keys current until `shutdown` changes: reloads when `changes` is notified (a
    /// key entry in the revocation log), at a pending key's activation, and every minute.
    pub(crate) async fn maintain(
        self: Arc<Self>,
        changes: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failing = false;
        loop {
            let pending = self
                .last
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pending
                .clone();
            let until_activation = pending.as_ref().map(|(_, at)| {
                Duration::from_secs(at.saturating_sub(self.clock.now()))
                    // Past the second it names, so the store agrees it is due.
                    + Duration::from_millis(50)
            });
            let until_rotation = self.until_rotation();
            let wait = [until_activation, until_rotation]
                .into_iter()
                .flatten()
                .fold(RELOAD_EVERY, Duration::min);
            let activation = tokio::select! {
                () = changes.notified() => false,
                () = tokio::time::sleep(wait) => until_activation.is_some_and(|d| d <= wait),
                _ = shutdown.changed() => return,
            };
            if activation && let Some((kid, _)) = &pending {
                self.activate_locally(kid);
            }
            let result = match self.reload().await {
                Ok(()) => self.rotate_if_due().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("signing keys: reloaded again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "signing keys: reload failed; keeping the keys held, retrying");
                }
                Err(e) => tracing::debug!(error = %e, "signing keys: reload failed again"),
            }
        }
    }
}
