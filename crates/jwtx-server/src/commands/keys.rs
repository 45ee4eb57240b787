//! `jwtx keys list | generate --alg ALG | rotate [--alg ALG] [--now] | retire KID`
//! (docs/cli.md, "Signing keys").
//!
//! Signing keys live in the store (the `signing_keys` table), each with a `kid`, an algorithm
//! and a status:
//!
//! * **pending**: published in the JWKS, verifying, signing from its activation time
//!   (`key_publish_lead` after `keys rotate`, longer than the JWKS `Cache-Control: max-age`,
//!   so no verifier that caches the JWKS meets an unknown `kid`);
//! * **active**: the one key new tokens are signed with;
//! * **passive**: a former active key; it verifies, and is published, until every token it
//!   signed has expired: its *verify-until* is its successor's activation time plus the
//!   longest token lifetime configured plus the leeway;
//! * **retired**: verifies nothing; its private key is erased (the record stays).
//!
//! Running servers learn of every change through the revocation log (a notice entry, or a
//! `key` entry for a retirement) and reload their keys at once, with no restart.
//!
//! * `keys list [--json]`: kid, algorithm, status, creation and activation time,
//!   verify-until; never private key material.
//! * `keys generate --alg ALG`: creates the *first* asymmetric key, active at once; refused
//!   (exit 2) when a key is active already (`keys rotate` replaces the signer).
//! * `keys rotate [--alg ALG] [--now]`: a new key that signs after `key_publish_lead`
//!   (`--now`: at once, an emergency); the previous key turns passive when it does. HMAC
//!   deployments rotate their secret the same way: the first rotation stores the secret used
//!   so far under the empty `kid` (its tokens carry none), and new secrets get a random `kid`.
//! * `keys retire KID`: ends a compromised key and every token it signed, here and in
//!   downstream services following the revocation feed; retiring the active key first rotates
//!   at once.
//!
//! Exit status 2 for bad arguments or a refused change, 3 when the store fails.

use jwtx::store::{KeyStatus, KeyStore, SigningKey};

use crate::data::signing;
use jwtx::{Algorithm, Clock, SystemClock};
use serde_json::json;

use super::user::{store_error, utc};
use crate::cli::KeysCommand;
use crate::config::Config;
use crate::error::CliError;

/// Runs one `jwtx keys …` command; returns what to print on standard output.
pub(crate) fn run(config: &Config, command: &KeysCommand) -> Result<String, CliError> {
    // Check the arguments before touching the data directory.
    let alg = match command {
        KeysCommand::Generate { alg } => Some(parse_alg(alg)?),
        KeysCommand::Rotate {
            alg: Some(alg),
            now,
        } => Some(parse_rotation_alg(alg, config, *now)?),
        KeysCommand::Rotate { alg: None, .. }
        | KeysCommand::List { .. }
        | KeysCommand::Retire { .. } => None,
    };
    super::user::with_store_and_dir(config, |store, dir| async move {
        let out = match (command, alg) {
            (KeysCommand::List { json }, _) => list(store.keys(), config, *json).await,
            (KeysCommand::Generate { .. }, Some(alg)) => generate(store.keys(), config, alg).await,
            (KeysCommand::Rotate { now, .. }, alg) => {
                rotate(&store, dir.as_ref(), config, alg, *now).await
            }
            (KeysCommand::Retire { kid }, _) => retire(&store, config, kid).await,
            (KeysCommand::Generate { alg }, None) => {
                Err(CliError::usage(format!("unknown algorithm {alg:?}")))
            }
        };
        if out.is_ok()
            && matches!(
                command,
                KeysCommand::Rotate { .. } | KeysCommand::Retire { .. }
            )
        {
            // Wakes the instances at once when Redis is configured (they poll the log anyway).
            crate::data::announce(config, &store).await;
        }
        out
    })
}

/// Parses `rotate --alg`: any algorithm of the configured family; switching between HMAC and
/// asymmetric keys only `--now` (the other family's tokens stop verifying at once).
fn parse_rotation_alg(name: &str, config: &Config, now: bool) -> Result<Algorithm, CliError> {
    let alg: Algorithm = name
        .parse()
        .map_err(|e: jwtx::UnknownAlgorithm| CliError::usage(format!("--alg: {e}")))?;
    if alg.is_symmetric() != config.algorithm.is_symmetric() && !now {
        return Err(CliError::usage(format!(
            "--alg {alg} switches between HMAC and asymmetric keys (algorithm = {}): tokens of \
             the other family stop verifying, so this needs --now, and algorithm = \"{alg}\" \
             on every instance",
            config.algorithm
        )));
    }
    Ok(alg)
}

/// Parses `--alg` for a store key: asymmetric algorithms only.
pub(crate) fn parse_alg(name: &str) -> Result<Algorithm, CliError> {
    let alg: Algorithm = name
        .parse()
        .map_err(|e: jwtx::UnknownAlgorithm| CliError::usage(format!("--alg: {e}")))?;
    check_asymmetric(alg, "--alg")?;
    Ok(alg)
}

fn check_asymmetric(alg: Algorithm, what: &str) -> Result<(), CliError> {
    if alg.is_symmetric() {
        return Err(CliError::usage(format!(
            "{what} {alg}: HMAC keys are not store keys; the HMAC secret comes from secret_key \
             (JWTX_SECRET_KEY) or the data directory's secret_key file. Store keys are \
             asymmetric: pass e.g. --alg ES256 (or ES384, EdDSA, RS256…RS512, PS256…PS512)"
        )));
    }
    Ok(())
}

async fn list(store: &dyn KeyStore, config: &Config, json: bool) -> Result<String, CliError> {
    let keys = store.list_keys().await.map_err(store_error)?;
    let lifetime = crate::data::max_token_lifetime(config);
    if json {
        let out: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "kid": k.kid,
                    "alg": k.alg,
                    "status": k.status.as_str(),
                    "created_at": k.created_at,
                    "activates_at": k.activates_at,
                    "demoted_at": k.demoted_at,
                    "retired_at": k.retired_at,
                    "verify_until": (k.status == KeyStatus::Passive)
                        .then(|| k.verify_until(lifetime))
                        .flatten(),
                })
            })
            .collect();
        return serde_json::to_string_pretty(&out)
            .map_err(|e| CliError::runtime(format!("cannot format the list: {e}")));
    }
    if keys.is_empty() {
        return Ok(
            "no signing keys (make the first with `jwtx keys generate --alg ES256`, or start \
             `jwtx serve` with algorithm = \"ES256\")"
                .to_owned(),
        );
    }
    let now = SystemClock.now();
    let rows: Vec<[String; 5]> = keys
        .iter()
        .map(|k| {
            let until = match (k.status, k.verify_until(lifetime), k.retired_at) {
                (KeyStatus::Pending, _, _) => format!(
                    "- (signs from {})",
                    utc(k.activates_at.unwrap_or(k.created_at))
                ),
                (KeyStatus::Active, _, _) => "- (signing)".to_owned(),
                (KeyStatus::Passive, Some(until), _) if until < now => {
                    format!(
                        "{} (passed; retired at the next start or rotation)",
                        utc(until)
                    )
                }
                (KeyStatus::Passive, Some(until), _) => utc(until),
                (KeyStatus::Retired, _, Some(at)) => format!("- (retired {})", utc(at)),
                _ => "-".to_owned(),
            };
            [
                signing::shown(&k.kid).to_owned(),
                k.alg.clone(),
                k.status.to_string(),
                utc(k.created_at),
                until,
            ]
        })
        .collect();
    let header = ["KID", "ALG", "STATUS", "CREATED", "VERIFIES UNTIL"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    let line = |r: [&str; 5]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            r[0], r[1], r[2], r[3], r[4]
        )
    };
    let mut out = vec![line(header)];
    out.extend(
        rows.iter()
            .map(|r| line([&r[0], &r[1], &r[2], &r[3], &r[4]])),
    );
    Ok(out.join("\n"))
}

fn active_exists(active: &SigningKey) -> CliError {
    CliError::usage(format!(
        "a signing key is active already ({} {}); `jwtx keys rotate [--alg ALG]` replaces it \
         without invalidating any token",
        active.kid, active.alg
    ))
}

/// A note when the configuration would not use store keys.
fn unused_note(config: &Config, alg: Algorithm) -> String {
    if config.algorithm.is_symmetric() {
        format!(
            "\nnote: `jwtx serve` signs with {} (algorithm); set algorithm = \"{alg}\" \
             (JWTX_ALGORITHM) for it to use the store's keys",
            config.algorithm
        )
    } else {
        String::new()
    }
}

async fn generate(
    store: &dyn KeyStore,
    config: &Config,
    alg: Algorithm,
) -> Result<String, CliError> {
    // Before generating a key that would be thrown away.
    if let Some(active) = store.active_key().await.map_err(store_error)? {
        return Err(active_exists(&active));
    }
    let key = crate::data::new_key(alg, SystemClock.now()).await?;
    let kid = key.kid.clone();
    let active = store.insert_initial(key).await.map_err(store_error)?;
    if active.kid != kid {
        // Another process stored the first key in the meantime.
        return Err(active_exists(&active));
    }
    tracing::info!(target: "audit", event = "signing_key_generated", kid = %kid, alg = %alg, source = "cli");
    Ok(format!(
        "generated signing key {kid} ({alg}), active; a running `jwtx serve` uses it from its \
         next start{}",
        unused_note(config, alg)
    ))
}

async fn rotate(
    store: &crate::data::Store,
    dir: Option<&crate::data::DataDir>,
    config: &Config,
    alg: Option<Algorithm>,
    immediately: bool,
) -> Result<String, CliError> {
    // The secret used so far is needed only by an HMAC deployment's first rotation.
    let first = store
        .keys()
        .active_key()
        .await
        .map_err(store_error)?
        .is_none();
    let first_hmac = if config.algorithm.is_symmetric() && first {
        Some(crate::data::hmac_secret(config, dir, store).await?.0)
    } else {
        None
    };
    let now = SystemClock.now();
    let rotated = signing::rotate(
        store.keys(),
        store.auth_store().as_ref(),
        config,
        first_hmac.as_ref(),
        signing::Rotation {
            alg,
            immediately,
            expected_active: None,
        },
        now,
    )
    .await?;
    let lifetime = crate::data::max_token_lifetime(config);
    let retired = store
        .keys()
        .retire_expired(now, lifetime)
        .await
        .map_err(store_error)?;
    let previous = rotated.previous.as_deref().map(signing::shown);
    let mut out = if rotated.activated_first {
        format!(
            "new active signing key {} ({}) (there was no active key)",
            rotated.kid, rotated.alg
        )
    } else if rotated.activates_at <= now {
        format!(
            "new active signing key {} ({}), signing now",
            rotated.kid, rotated.alg
        )
    } else {
        format!(
            "new signing key {} ({}), published in the JWKS now, pending until {}; it signs \
             from then (key_publish_lead)",
            rotated.kid,
            rotated.alg,
            utc(rotated.activates_at)
        )
    };
    if let Some(old) = previous {
        out.push_str(&format!(
            "\n{old} then turns passive and verifies until {}, so no token is invalidated",
            utc(rotated.activates_at.saturating_add(lifetime))
        ));
    }
    if !retired.is_empty() {
        out.push_str(&format!(
            "\nretired (every token they signed has expired): {}",
            retired.join(", ")
        ));
    }
    out.push_str("\nrunning `jwtx serve` instances on this store pick the change up at once");
    Ok(out)
}

async fn retire(
    store: &crate::data::Store,
    config: &Config,
    kid: &str,
) -> Result<String, CliError> {
    let now = SystemClock.now();
    let (record, rotated) =
        signing::retire(store.keys(), store.auth_store().as_ref(), config, kid, now).await?;
    let mut out = String::new();
    if let Some(r) = rotated {
        out.push_str(&format!(
            "{} was the active key: new active signing key {} ({}), signing now\n",
            signing::shown(kid),
            r.kid,
            r.alg
        ));
    }
    out.push_str(&format!(
        "retired signing key {} ({}): every token it signed is refused, by running instances \
         and by downstream services following the revocation feed",
        signing::shown(kid),
        record.alg
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jwtx::store::memory::MemoryStore;
    use jwtx::store::{Revocation, RevocationStore};

    fn config(alg: &str) -> Config {
        let flags = crate::config::Overrides {
            algorithm: Some(alg.to_owned()),
            data_dir: Some(std::env::temp_dir()),
            ..crate::config::Overrides::default()
        };
        Config::load(None, &flags).unwrap()
    }

    #[test]
    fn only_asymmetric_algorithms_are_store_keys() {
        for ok in ["ES256", "ES384", "EdDSA", "RS256", "PS512"] {
            assert!(parse_alg(ok).is_ok(), "{ok}");
        }
        let e = parse_alg("HS256").unwrap_err().to_string();
        assert!(e.contains("secret_key"), "{e}");
        assert!(parse_alg("es256").is_err());
        assert!(parse_alg("none").is_err());
    }

    async fn load(store: &MemoryStore, config: &Config, now: u64) -> signing::Loaded {
        signing::load(store, config, None, now).await.unwrap()
    }

    #[tokio::test]
    async fn the_server_generates_the_first_key_then_keeps_it() {
        let store = MemoryStore::new();
        let config = config("ES256");
        let loaded = load(&store, &config, 1_000).await;
        let signer = loaded.set.signer().unwrap();
        assert_eq!(signer.algorithm(), Algorithm::ES256);
        assert!(loaded.line.contains("generated"), "{}", loaded.line);
        assert!(!loaded.line.contains("PRIVATE"), "{}", loaded.line);
        let kid = signer.kid().unwrap().to_owned();
        let again = load(&store, &config, 1_001).await;
        assert_eq!(again.set.signer().unwrap().kid(), Some(kid.as_str()));
        assert!(!again.line.contains("generated"), "{}", again.line);
        assert_eq!(store.list_keys().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_pending_key_verifies_then_signs_and_its_predecessor_expires() {
        let store = MemoryStore::new();
        let mut config = config("ES256");
        config.key_publish_lead = std::time::Duration::from_secs(600);
        let first = load(&store, &config, 1_000).await;
        let old_kid = first.set.signer().unwrap().kid().unwrap().to_owned();
        let token = crate::keys::codec(&config, first.set)
            .access_token("alice")
            .sign()
            .unwrap()
            .token;
        let rotated = signing::rotate(&store, &store, &config, None, Default::default(), 2_000)
            .await
            .unwrap();
        assert_eq!(rotated.activates_at, 2_600);
        assert_eq!(rotated.previous.as_deref(), Some(old_kid.as_str()));
        // Published and verifying, not signing, during the lead.
        let during = load(&store, &config, 2_599).await;
        assert_eq!(during.set.keys().len(), 2);
        assert_eq!(during.set.signer().unwrap().kid(), Some(old_kid.as_str()));
        assert_eq!(during.pending, Some((rotated.kid.clone(), 2_600)));
        assert_eq!(during.set.jwks()["keys"].as_array().unwrap().len(), 2);
        // A second scheduled rotation is refused while one is pending.
        let e = signing::rotate(&store, &store, &config, None, Default::default(), 2_001)
            .await
            .unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("pending"), "{e}");
        // At the activation time the new key signs and the old one turns passive.
        let after = load(&store, &config, 2_600).await;
        assert_eq!(
            after.set.signer().unwrap().kid(),
            Some(rotated.kid.as_str())
        );
        assert!(!after.set.select(Some(&old_kid)).unwrap().can_sign());
        let verified = crate::keys::codec(&config, after.set)
            .verify::<jwtx::NoClaims>(&token)
            .unwrap();
        assert_eq!(verified.sub(), "alice");
        let listed = store.list_keys().await.unwrap();
        let old = listed.iter().find(|k| k.kid == old_kid).unwrap();
        assert_eq!(
            (old.status, old.demoted_at),
            (KeyStatus::Passive, Some(2_600)),
            "verify-until counts from the activation, not the command"
        );
        // Past its verify-until the passive key is retired.
        let later = 2_600 + crate::data::max_token_lifetime(&config) + 1;
        let set = load(&store, &config, later).await.set;
        assert_eq!(set.keys().len(), 1);
        assert!(set.select(Some(&old_kid)).is_none());
        // The log carries a notice for the rotation.
        let log = store.revocations_since(0, 0, 10).await.unwrap();
        assert!(
            matches!(&log[..], [(_, Revocation::KeysChanged { kid, .. })] if *kid == rotated.kid)
        );
    }

    #[tokio::test]
    async fn retiring_the_active_key_rotates_at_once_and_logs_its_end() {
        let store = MemoryStore::new();
        let config = config("EdDSA");
        let first = load(&store, &config, 1_000).await;
        let kid = first.set.signer().unwrap().kid().unwrap().to_owned();
        let (record, rotated) = signing::retire(&store, &store, &config, &kid, 1_100)
            .await
            .unwrap();
        assert_eq!(record.kid, kid);
        let rotated = rotated.unwrap();
        let now = load(&store, &config, 1_101).await;
        assert_eq!(now.set.keys().len(), 1, "the retired key verifies nothing");
        assert_eq!(now.set.signer().unwrap().kid(), Some(rotated.kid.as_str()));
        let log = store.revocations_since(0, 0, 10).await.unwrap();
        assert!(
            log.iter()
                .any(|(_, r)| matches!(r, Revocation::Key { kid: k, .. } if *k == kid)),
            "{log:?}"
        );
        let e = signing::retire(&store, &store, &config, "nope", 1_200)
            .await
            .unwrap_err();
        assert!(e.is_usage(), "{e}");
    }

    #[tokio::test]
    async fn an_hmac_rotation_keeps_the_first_secret_verifying_kid_less_tokens() {
        let store = MemoryStore::new();
        let mut config = config("HS256");
        config.key_publish_lead = std::time::Duration::from_secs(600);
        let secret = crate::config::Secret::new(jwtx::secret_hex::<32>().as_str());
        let first = signing::load(&store, &config, Some(&secret), 1_000)
            .await
            .unwrap();
        assert!(first.active.is_none() && first.set.signer().unwrap().kid().is_none());
        let old = crate::keys::codec(&config, first.set)
            .access_token("alice")
            .sign()
            .unwrap()
            .token;
        let rotated = signing::rotate(
            &store,
            &store,
            &config,
            Some(&secret),
            signing::Rotation::default(),
            2_000,
        )
        .await
        .unwrap();
        assert_eq!(rotated.previous.as_deref(), Some(""));
        let after = signing::load(&store, &config, Some(&secret), 2_600)
            .await
            .unwrap();
        let signer = after.set.signer().unwrap();
        assert_eq!(signer.kid(), Some(rotated.kid.as_str()));
        assert_eq!(signer.algorithm(), Algorithm::HS256);
        assert_eq!(after.set.jwks()["keys"].as_array().unwrap().len(), 0);
        let codec = crate::keys::codec(&config, after.set);
        let new = codec.access_token("bob").sign().unwrap().token;
        assert_eq!(codec.verify::<jwtx::NoClaims>(&old).unwrap().sub(), "alice");
        assert_eq!(codec.verify::<jwtx::NoClaims>(&new).unwrap().sub(), "bob");
        // Retiring the first secret refuses the kid-less tokens through the log.
        signing::retire(&store, &store, &config, "", 2_700)
            .await
            .unwrap();
        let set = signing::load(&store, &config, Some(&secret), 2_701)
            .await
            .unwrap()
            .set;
        assert_eq!(set.keys().len(), 1);
        assert!(
            crate::keys::codec(&config, set)
                .verify::<jwtx::NoClaims>(&old)
                .is_err()
        );
    }
}
