//! The signing keys `jwtx serve` and the key commands take from the store
//! (docs/cli.md, "Signing keys"): the active key signs, a pending key is published and signs
//! from its activation time, passive keys verify until their tokens have expired, and the
//! first asymmetric key is generated when the store has none.
//!
//! HMAC deployments keep their first secret (configured, or in the data directory or store)
//! outside the key table until their first rotation, which stores it under the empty `kid`
//! (its tokens carry none) so it verifies, then retires, like any former key.
//!
//! Every key change appends a notice (`Revocation::KeysChanged`), and a retirement a
//! `Revocation::Key` entry, to the revocation log, so running instances and downstream
//! services learn of it as fast as of a revocation.

use jwtx::store::{KeyStatus, KeyStore, NewSigningKey, Revocation, RevocationStore, SigningKey};
use jwtx::{Algorithm, Key, KeySet, NumericDate};

use crate::config::{Config, Secret};
use crate::error::CliError;

/// The longest a token signed by a key can stay valid after the key stopped signing: the
/// longest token lifetime configured plus the leeway (a passive key's verify-until is its
/// successor's activation time plus this).
pub(crate) fn max_token_lifetime(config: &Config) -> u64 {
    config
        .longest_token_lifetime()
        .saturating_add(config.leeway.as_secs())
}

/// A new key from the system CSRNG, made on the blocking pool (RSA generation takes a while).
pub(crate) async fn new_key(alg: Algorithm, now: NumericDate) -> Result<NewSigningKey, CliError> {
    let made = tokio::task::spawn_blocking(move || NewSigningKey::generate(alg, now))
        .await
        .map_err(|e| CliError::runtime(format!("key generation failed: {e}")))?;
    made.map_err(|e| CliError::runtime(format!("cannot generate a {alg} key: {e}")))
}

fn store_failed(e: jwtx::store::StoreError) -> CliError {
    CliError::store("cannot read the signing keys from the store", e)
}

/// The keys a server holds at one moment.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The signer and every key that verifies (pending keys with their private key, so they
    /// can sign once active).
    pub(crate) set: KeySet,
    /// The pending key and when it begins to sign.
    pub(crate) pending: Option<(String, NumericDate)>,
    /// The store's active key (`None` for an HMAC deployment before its first rotation).
    pub(crate) active: Option<SigningKey>,
    /// What the startup summary says about the keys (never a secret).
    pub(crate) line: String,
}

/// Loads the keys a server signs and verifies with at `now`: promotes a pending key that is
/// due and retires passive keys past their verify-until (both idempotent, so any instance may
/// do it), then builds the set. `first_hmac` is the HMAC secret from before the first
/// rotation (for an HMAC `algorithm`).
pub(crate) async fn load(
    store: &dyn KeyStore,
    config: &Config,
    first_hmac: Option<&Secret>,
    now: NumericDate,
) -> Result<Loaded, CliError> {
    store.activate_due(now).await.map_err(store_failed)?;
    let retired = store
        .retire_expired(now, max_token_lifetime(config))
        .await
        .map_err(store_failed)?;
    if !retired.is_empty() {
        tracing::info!(target: "audit", event = "signing_keys_retired", kids = ?retired, source = "serve");
    }
    let symmetric = config.algorithm.is_symmetric();
    let mut generated = false;
    let mut keys = store.list_keys().await.map_err(store_failed)?;
    if !symmetric && !keys.iter().any(|k| k.status == KeyStatus::Active) {
        let key = new_key(config.algorithm, now).await?;
        let kid = key.kid.clone();
        let active = store.insert_initial(key).await.map_err(store_failed)?;
        generated = active.kid == kid;
        if generated {
            tracing::info!(target: "audit", event = "signing_key_generated", kid = %kid, alg = %config.algorithm, source = "serve");
        }
        keys = store.list_keys().await.map_err(store_failed)?;
    }
    let active = keys.iter().find(|k| k.status == KeyStatus::Active).cloned();
    if let Some(a) = &active
        && is_symmetric(a) != symmetric
    {
        return Err(CliError::usage(format!(
            "the store's active signing key {:?} is {}, but algorithm = {}: set algorithm = \
             \"{}\", or switch with `jwtx keys rotate --now --alg {}` (tokens of the other \
             family stop verifying)",
            a.kid, a.alg, config.algorithm, a.alg, config.algorithm
        )));
    }
    let Some(active) = active else {
        // An HMAC deployment before its first rotation: the first secret alone, tokens
        // without a kid (as flask-jwt-extended signs them).
        let secret = first_hmac.ok_or_else(|| {
            CliError::runtime("no HMAC secret and no stored HMAC key to sign with")
        })?;
        let key = Key::hmac(config.algorithm, secret.expose().as_bytes())
            .map_err(|e| CliError::usage(e.to_string()))?;
        return Ok(Loaded {
            set: KeySet::from(key),
            pending: None,
            active: None,
            line: String::new(),
        });
    };
    let unreadable = |k: &SigningKey, e: jwtx::KeyError| {
        CliError::runtime(format!(
            "the store's {} signing key {:?} cannot be used: {e}",
            k.status, k.kid
        ))
    };
    let mut set = vec![active.key().map_err(|e| unreadable(&active, e))?];
    let mut pending = None;
    let mut passive = 0;
    for k in keys.iter().filter(|k| is_symmetric(k) == symmetric) {
        let key = match k.status {
            KeyStatus::Pending => {
                pending = Some((k.kid.clone(), k.activates_at.unwrap_or(k.created_at)));
                k.key()
            }
            KeyStatus::Passive if symmetric => k.key(),
            KeyStatus::Passive => k.key().and_then(|key| public_only(&key)),
            KeyStatus::Active | KeyStatus::Retired => continue,
        };
        set.push(key.map_err(|e| unreadable(k, e))?);
        passive += usize::from(k.status == KeyStatus::Passive);
    }
    // A pending key already due signs even when the promotion above lost a race.
    let signer = match &pending {
        Some((kid, at)) if *at <= now => kid.clone(),
        _ => active.kid.clone(),
    };
    let set = KeySet::new(set)
        .and_then(|set| set.with_signer(&signer))
        .map_err(|e| CliError::runtime(format!("the store's signing keys cannot be used: {e}")))?;
    let mut line = if generated {
        format!(
            "signing key {} generated and stored; `jwtx keys list` shows it",
            active.kid
        )
    } else {
        format!("signing key {} from the store", shown(&active.kid))
    };
    if let Some((kid, at)) = &pending {
        line.push_str(&format!(", key {kid} pending until {at}"));
    }
    if passive > 0 {
        line.push_str(&format!(", {passive} passive key(s) still verifying"));
    }
    if !symmetric && active.alg != config.algorithm.as_str() {
        line.push_str(&format!(
            "; the store's active key is {}, not algorithm = {}: `jwtx keys rotate --alg {}` \
             switches",
            active.alg, config.algorithm, config.algorithm
        ));
    }
    Ok(Loaded {
        set,
        pending,
        active: Some(active),
        line,
    })
}

/// How a kid is shown: the empty kid is the first HMAC secret.
pub(crate) fn shown(kid: &str) -> &str {
    if kid.is_empty() {
        "(first secret, no kid)"
    } else {
        kid
    }
}

fn is_symmetric(k: &SigningKey) -> bool {
    k.alg
        .parse::<Algorithm>()
        .is_ok_and(|a: Algorithm| a.is_symmetric())
}

/// The public half of `key`, with its `kid`: a passive key only verifies.
fn public_only(key: &Key) -> Result<Key, jwtx::KeyError> {
    let pem = key.to_public_pem().ok_or(jwtx::KeyError::NoSigner)?;
    let public = Key::from_pem(key.algorithm(), pem.as_bytes())?;
    Ok(match key.kid() {
        Some(kid) if public.kid() != Some(kid) => public.with_kid(kid),
        _ => public,
    })
}

/// How to rotate: the new key's algorithm (default: the active key's), at once or after
/// `key_publish_lead`, and on condition that the active key is still `expected_active`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rotation<'a> {
    pub(crate) alg: Option<Algorithm>,
    pub(crate) immediately: bool,
    pub(crate) expected_active: Option<&'a str>,
}

/// What a rotation did.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// The new key.
    pub(crate) kid: String,
    /// Its algorithm.
    pub(crate) alg: String,
    /// When it signs (now for `--now`).
    pub(crate) activates_at: NumericDate,
    /// The key that stops signing then.
    pub(crate) previous: Option<String>,
    /// There was no key: this one is the first (stored by this call, or by a racing one).
    pub(crate) activated_first: bool,
}

/// Rotates the signing key at `now`: a new key of `alg` (else the active key's algorithm,
/// else `algorithm`) that signs after `key_publish_lead`, or at once with `immediately`.
/// `expected_active` makes a scheduled rotation conditional on the active key it saw (of
/// instances racing, one rotates). An HMAC deployment's first rotation first stores its
/// first secret. Appends the key-change notice to the log.
pub(crate) async fn rotate(
    keys: &dyn KeyStore,
    log: &dyn RevocationStore,
    config: &Config,
    first_hmac: Option<&Secret>,
    how: Rotation<'_>,
    now: NumericDate,
) -> Result<Rotated, CliError> {
    let Rotation {
        alg,
        immediately,
        expected_active,
    } = how;
    let mut active = keys.active_key().await.map_err(store_failed)?;
    if active.is_none() && config.algorithm.is_symmetric() {
        let secret = first_hmac.ok_or_else(|| CliError::usage("no HMAC secret to rotate from"))?;
        let first = NewSigningKey::first_hmac(config.algorithm, secret.expose().as_bytes(), now);
        active = Some(keys.insert_initial(first).await.map_err(store_failed)?);
    }
    let Some(active) = active else {
        // No key yet (an asymmetric algorithm): the first key, active at once.
        let alg = alg.unwrap_or(config.algorithm);
        let key = new_key(alg, now).await?;
        let kid = key.kid.clone();
        let stored = keys.insert_initial(key).await.map_err(store_failed)?;
        notice(log, &stored.kid, now, config).await?;
        return Ok(Rotated {
            activated_first: stored.kid == kid,
            kid: stored.kid,
            alg: stored.alg,
            activates_at: now,
            previous: None,
        });
    };
    let alg = match alg {
        Some(a) => a,
        None => active.alg.parse().unwrap_or(config.algorithm),
    };
    let key = new_key(alg, now).await?;
    let kid = key.kid.clone();
    let lead = config.key_publish_lead.as_secs();
    let (activates_at, previous) = if immediately || lead == 0 {
        let previous = keys.rotate_in(key, now).await.map_err(store_failed)?;
        (now, previous)
    } else {
        let at = now.saturating_add(lead);
        keys.add_pending(key, at, expected_active)
            .await
            .map_err(|e| match e {
                jwtx::store::StoreError::Conflict { what } => CliError::usage(format!(
                    "cannot rotate: {what}; `jwtx keys list` shows the keys (`jwtx keys rotate \
                     --now` replaces a pending key)"
                )),
                e => store_failed(e),
            })?;
        (at, Some(active.kid.clone()))
    };
    notice(log, &kid, activates_at, config).await?;
    tracing::info!(target: "audit", event = "signing_key_rotated", kid = %kid, alg = %alg, activates_at, previous = ?previous.as_deref().map(shown));
    Ok(Rotated {
        kid,
        alg: alg.as_str().to_owned(),
        activates_at,
        previous,
        activated_first: false,
    })
}

/// Appends the notice that the keys changed (key `kid`, signing from `at`), kept until no
/// token signed before then can live.
async fn notice(
    log: &dyn RevocationStore,
    kid: &str,
    at: NumericDate,
    config: &Config,
) -> Result<(), CliError> {
    let until = at.saturating_add(max_token_lifetime(config));
    log.revoke(Revocation::KeysChanged {
        kid: kid.to_owned(),
        until,
    })
    .await
    .map(|_| ())
    .map_err(|e| {
        CliError::store(
            "the key was stored, but the notice to running instances could not be appended \
             (they pick the key up within a minute)",
            e,
        )
    })
}

/// Retires key `kid` at once with every token it signed: the active key is first replaced
/// (an immediate rotation). Appends the `key` entry that refuses its tokens everywhere,
/// downstream services included; run again, it appends the entry again (harmless), so a
/// failure after the retirement is repaired by a retry. Returns the retired record and the
/// rotation, if there was one.
pub(crate) async fn retire(
    keys: &dyn KeyStore,
    log: &dyn RevocationStore,
    config: &Config,
    kid: &str,
    now: NumericDate,
) -> Result<(SigningKey, Option<Rotated>), CliError> {
    let listed = keys.list_keys().await.map_err(store_failed)?;
    let Some(found) = listed.into_iter().find(|k| k.kid == kid) else {
        return Err(CliError::usage(format!(
            "no signing key {kid:?}; `jwtx keys list` shows the kids"
        )));
    };
    let rotated = if found.status == KeyStatus::Active {
        let alg = found.alg.parse().ok();
        let how = Rotation {
            alg,
            immediately: true,
            expected_active: None,
        };
        Some(rotate(keys, log, config, None, how, now).await?)
    } else {
        None
    };
    let record = keys
        .retire_key(kid, now)
        .await
        .map_err(store_failed)?
        .unwrap_or(found);
    log.revoke(Revocation::Key {
        kid: kid.to_owned(),
        until: now.saturating_add(max_token_lifetime(config)),
    })
    .await
    .map_err(|e| {
        CliError::store(
            "the key is retired, but the entry refusing its tokens could not be appended: run \
             the command again",
            e,
        )
    })?;
    tracing::info!(target: "audit", event = "signing_key_retired", kid = %shown(kid), alg = %record.alg);
    Ok((record, rotated))
}
