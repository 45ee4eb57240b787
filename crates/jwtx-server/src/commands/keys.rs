//! `jwtx keys list | generate --alg ALG | rotate [--alg ALG]`, and the key set `jwtx serve`
//! builds from the store (docs/cli.md, "Signing keys").
//!
//! Asymmetric signing keys live in the store (the `signing_keys` table of the data
//! directory's database), each with a `kid` (the RFC 7638 thumbprint), an algorithm and a
//! status:
//!
//! * **active**: the one key new tokens are signed with;
//! * **passive**: a former active key; it still verifies, and is published in the JWKS, until
//!   every token it signed has expired: its *verify-until* is the rotation time plus the
//!   longest token lifetime configured plus the leeway;
//! * **retired**: past its verify-until; it verifies nothing and its private key is erased
//!   (the record stays, so `jwtx keys list` can say what became of a `kid`). Passive keys are
//!   retired when `jwtx serve` starts and when `jwtx keys rotate` runs.
//!
//! Commands:
//!
//! * `keys list [--json]`: kid, algorithm, status, creation time, verify-until; never
//!   private key material.
//! * `keys generate --alg ALG`: creates the *first* key, active at once. When a key is
//!   active already it is refused (exit 2) with a pointer to `keys rotate`: replacing the
//!   signer is what rotation is for, and a second "generated" key that silently took over,
//!   or sat unused, would surprise. (`jwtx serve` with an asymmetric `algorithm` also
//!   generates the first key itself when the store has none.)
//! * `keys rotate [--alg ALG]`: a new active key (by default of the active key's algorithm,
//!   else of `algorithm`); the previous active key becomes passive in the same transaction,
//!   so no token is invalidated.
//!
//! Only asymmetric algorithms (ES256, ES384, EdDSA, RS256/384/512, PS256/384/512): HMAC
//! secrets are not store keys; they come from `secret_key` or the data directory's
//! `secret_key` file.
//!
//! **A running server picks up a rotation at its next start**: until then it keeps signing
//! with the key it loaded (now passive, which every restarted server still accepts), and it
//! does not know the new key, so restart every `jwtx serve` on the store soon after a
//! rotation. A passive key's verify-until counts from the rotation: a server left running
//! with it for longer than the longest token lifetime signs tokens that outlive it.
//!
//! Exit status 2 for every failure here (bad arguments, a refused generate, the store).

use jwtx::store::{KeyStatus, KeyStore, SigningKey};
use jwtx::{Algorithm, Clock, SystemClock};
use serde_json::json;

use super::user::{store_error, utc, with_store};
use crate::cli::KeysCommand;
use crate::config::Config;
use crate::error::CliError;

/// Runs one `jwtx keys …` command; returns what to print on standard output.
pub(crate) fn run(config: &Config, command: &KeysCommand) -> Result<String, CliError> {
    // Check the arguments before touching the data directory.
    let alg = match command {
        KeysCommand::Generate { alg } => Some(parse_alg(alg)?),
        KeysCommand::Rotate { alg: Some(alg) } => Some(parse_alg(alg)?),
        KeysCommand::Rotate { alg: None } | KeysCommand::List { .. } => None,
    };
    with_store(config, |store| async move {
        match (command, alg) {
            (KeysCommand::List { json }, _) => list(store.keys(), config, *json).await,
            (KeysCommand::Generate { .. }, Some(alg)) => generate(store.keys(), config, alg).await,
            (KeysCommand::Rotate { .. }, alg) => rotate(store.keys(), config, alg).await,
            (KeysCommand::Generate { alg }, None) => {
                Err(CliError::usage(format!("unknown algorithm {alg:?}")))
            }
        }
    })
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
                k.kid.clone(),
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
    store: &dyn KeyStore,
    config: &Config,
    alg: Option<Algorithm>,
) -> Result<String, CliError> {
    let current = store.active_key().await.map_err(store_error)?;
    let alg = match (alg, &current) {
        (Some(alg), _) => alg,
        (None, Some(active)) => {
            let alg: Algorithm = active.alg.parse().map_err(|_| {
                CliError::usage(format!(
                    "the active key {} has algorithm {:?}, which this jwtx does not know; \
                     pass --alg",
                    active.kid, active.alg
                ))
            })?;
            check_asymmetric(alg, "the active key's algorithm")?;
            alg
        }
        (None, None) => {
            check_asymmetric(config.algorithm, "algorithm").map_err(|_| {
                CliError::usage(format!(
                    "there is no active key to take the algorithm from, and algorithm = {} is \
                     HMAC (its secret comes from secret_key or the data directory, not the \
                     store); pass --alg, e.g. --alg ES256",
                    config.algorithm
                ))
            })?;
            config.algorithm
        }
    };
    let now = SystemClock.now();
    let key = crate::data::new_key(alg, now).await?;
    let kid = key.kid.clone();
    let demoted = store.rotate_in(key, now).await.map_err(store_error)?;
    let lifetime = crate::data::max_token_lifetime(config);
    let retired = store
        .retire_expired(now, lifetime)
        .await
        .map_err(store_error)?;
    tracing::info!(target: "audit", event = "signing_key_rotated", kid = %kid, alg = %alg, demoted = demoted.as_deref().unwrap_or("none"), retired = ?retired, source = "cli");
    let mut out = format!("new active signing key {kid} ({alg})");
    match &demoted {
        Some(old) => out.push_str(&format!(
            "; {old} is passive and verifies until {}, so no token is invalidated",
            utc(now.saturating_add(lifetime))
        )),
        None => out.push_str(" (there was no active key)"),
    }
    if !retired.is_empty() {
        out.push_str(&format!(
            "\nretired (every token they signed has expired): {}",
            retired.join(", ")
        ));
    }
    out.push_str(
        "\nrestart `jwtx serve` (every instance on this store) to sign with the new key: a \
         running server keeps the keys it loaded at start",
    );
    out.push_str(&unused_note(config, alg));
    Ok(out)
}

/// The key set `jwtx serve` signs and verifies with when `config.algorithm` is asymmetric,
/// and the startup summary's description of it (never key material).
///
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jwtx::store::memory::MemoryStore;

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

    #[tokio::test]
    async fn the_server_generates_the_first_key_then_keeps_it() {
        let store = MemoryStore::new();
        let config = config("ES256");
        let (set, line) = crate::data::server_keyset(&store, &config, 1_000)
            .await
            .unwrap();
        let signer = set.signer().unwrap();
        assert_eq!(signer.algorithm(), Algorithm::ES256);
        assert!(line.contains("generated"), "{line}");
        assert!(!line.contains("PRIVATE"), "{line}");
        let kid = signer.kid().unwrap().to_owned();
        let (again, line) = crate::data::server_keyset(&store, &config, 1_001)
            .await
            .unwrap();
        assert_eq!(again.signer().unwrap().kid(), Some(kid.as_str()));
        assert!(!line.contains("generated"), "{line}");
        assert_eq!(store.list_keys().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn passive_keys_verify_but_do_not_sign_and_expire() {
        let store = MemoryStore::new();
        let config = config("ES256");
        let (first, _) = crate::data::server_keyset(&store, &config, 1_000)
            .await
            .unwrap();
        let old_kid = first.signer().unwrap().kid().unwrap().to_owned();
        let token = crate::keys::codec(&config, first)
            .access_token("alice")
            .sign()
            .unwrap()
            .token;
        store
            .rotate_in(
                jwtx::store::NewSigningKey::generate(Algorithm::EdDSA, 2_000).unwrap(),
                2_000,
            )
            .await
            .unwrap();
        let (set, line) = crate::data::server_keyset(&store, &config, 2_001)
            .await
            .unwrap();
        assert_eq!(set.keys().len(), 2);
        assert_eq!(set.signer().unwrap().algorithm(), Algorithm::EdDSA);
        assert!(line.contains("1 passive"), "{line}");
        assert!(line.contains("not algorithm = ES256"), "{line}");
        let old = set.select(Some(&old_kid)).unwrap();
        assert!(!old.can_sign(), "a passive key is loaded public only");
        // The token the old key signed still verifies.
        let verified = crate::keys::codec(&config, set.clone())
            .verify::<jwtx::NoClaims>(&token)
            .unwrap();
        assert_eq!(verified.sub(), "alice");
        // Past its verify-until the passive key is retired at start.
        let later = 2_000 + crate::data::max_token_lifetime(&config) + 1;
        let (set, _) = crate::data::server_keyset(&store, &config, later)
            .await
            .unwrap();
        assert_eq!(set.keys().len(), 1);
        assert!(set.select(Some(&old_kid)).is_none());
        let listed = store.list_keys().await.unwrap();
        let old = listed.iter().find(|k| k.kid == old_kid).unwrap();
        assert_eq!(old.status, KeyStatus::Retired);
        assert!(old.private_key.is_none());
    }
}
