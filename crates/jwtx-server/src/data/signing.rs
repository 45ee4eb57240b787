//! The signing keys `jwtx serve` and the key commands take from the store: the active key
//! signs, passive keys verify until their tokens have expired, and the first key is generated
//! when the store has none.

use jwtx::store::{KeyStatus, KeyStore, NewSigningKey, SigningKey};
use jwtx::{Algorithm, Key, KeySet, NumericDate};

use crate::config::Config;
use crate::error::CliError;

/// The longest a token signed by a key can stay valid after the key stopped signing: the
/// longest token lifetime configured plus the leeway (a passive key's verify-until is its
/// rotation time plus this).
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

/// Retires passive keys past their verify-until, then takes the store's active key as the
/// signer, generating and storing one of `config.algorithm` if the store has none
/// (atomically: servers starting at once agree on one key); the passive keys verify, loaded
/// as public keys only. When the active key's algorithm is not `config.algorithm` the
/// store's key wins (`jwtx keys rotate --alg` switches) and the description says so.
pub(crate) async fn server_keyset<S: KeyStore + ?Sized>(
    store: &S,
    config: &Config,
    now: NumericDate,
) -> Result<(KeySet, String), CliError> {
    let failed = |e: jwtx::store::StoreError| {
        CliError::store("cannot read the signing keys from the store", e)
    };
    let retired = store
        .retire_expired(now, max_token_lifetime(config))
        .await
        .map_err(failed)?;
    if !retired.is_empty() {
        tracing::info!(target: "audit", event = "signing_keys_retired", kids = ?retired, source = "serve");
    }
    let (active, generated) = match store.active_key().await.map_err(failed)? {
        Some(active) => (active, false),
        None => {
            let key = new_key(config.algorithm, now).await?;
            let kid = key.kid.clone();
            let active = store.insert_initial(key).await.map_err(failed)?;
            let generated = active.kid == kid;
            if generated {
                tracing::info!(target: "audit", event = "signing_key_generated", kid = %kid, alg = %config.algorithm, source = "serve");
            }
            (active, generated)
        }
    };
    let unreadable = |k: &SigningKey, e: jwtx::KeyError| {
        CliError::runtime(format!(
            "the store's {} signing key {} cannot be used: {e}",
            k.status, k.kid
        ))
    };
    let signer = active.key().map_err(|e| unreadable(&active, e))?;
    let mut keys = vec![signer];
    let mut passive = 0;
    for k in store.list_keys().await.map_err(failed)? {
        if k.status != KeyStatus::Passive || k.kid == active.kid {
            continue;
        }
        let key = k.key().and_then(|key| public_only(&key));
        keys.push(key.map_err(|e| unreadable(&k, e))?);
        passive += 1;
    }
    let set = KeySet::new(keys)
        .and_then(|set| set.with_signer(&active.kid))
        .map_err(|e| CliError::runtime(format!("the store's signing keys cannot be used: {e}")))?;
    let mut line = if generated {
        format!(
            "signing key {} generated and stored; `jwtx keys list` shows it",
            active.kid
        )
    } else {
        format!("signing key {} from the store", active.kid)
    };
    if passive > 0 {
        line.push_str(&format!(", {passive} passive key(s) still verifying"));
    }
    if active.alg != config.algorithm.as_str() {
        line.push_str(&format!(
            "; the store's active key is {}, not algorithm = {}: `jwtx keys rotate --alg {}` \
             switches",
            active.alg, config.algorithm, config.algorithm
        ));
    }
    Ok((set, line))
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
