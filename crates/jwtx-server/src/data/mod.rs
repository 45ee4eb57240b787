//! Where `jwtx serve` and the admin commands find their data: the data directory ([`DataDir`],
//! modes and the generated secret), the store in it ([`open_store`]), and the signing keys in
//! the store ([`signing`]). The server and the commands both use this module; neither
//! reaches into the other.

mod deployment;
mod dir;
pub(crate) mod signing;
mod store;

pub(crate) use deployment::{announce, deployment_id, redis_target};
pub(crate) use dir::{DataDir, SecretSource};
pub(crate) use signing::max_token_lifetime;
pub(crate) use signing::new_key;
pub(crate) use store::Store;

use jwtx_sqlx::{DatabaseKind, PgOptions, PgStore, SqliteStore};

use std::path::Path;

use jwtx::store::StoredSecret;

use crate::config::{Config, Secret};
use crate::error::CliError;

/// Opens the store `database_url` names: a SQLite store (creating it if needed) with its data
/// directory, `data_dir` or the file's own; or a PostgreSQL database (migrated by the first
/// instance to start), without one.
pub(crate) async fn open_store(config: &Config) -> Result<(Option<DataDir>, Store), CliError> {
    let url = config.database_url.as_ref();
    if let Some(url) = url.filter(|u| u.kind() == DatabaseKind::Postgres) {
        let store = PgStore::connect(url, PgOptions::default())
            .await
            .map_err(|e| {
                CliError::store(
                    &format!("cannot open the store {url}; check database_url and that PostgreSQL is running"),
                    e,
                )
            })?;
        let store = Store::postgres(store, format!("PostgreSQL {url}"));
        return Ok((None, seal(store, config)));
    }
    // `sqlite://PATH`: the data directory is the file's directory (its generated secret
    // beside it), so naming the default file explicitly changes nothing.
    let data = match url.and_then(|u| u.sqlite_path()) {
        Some(path) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let file = path.file_name().ok_or_else(|| {
                CliError::usage(format!(
                    "configuration `database_url`: sqlite://{} names no file",
                    path.display()
                ))
            })?;
            DataDir::open_with(dir, file.as_ref())?
        }
        None => DataDir::open(&config.data_dir)?,
    };
    let db = data.database();
    let store = SqliteStore::open(&db).await.map_err(|e| {
        CliError::runtime(format!(
            "cannot open the store {}: {e}; check data_dir (--data-dir) or database_url",
            db.display()
        ))
    })?;
    let description = format!("SQLite {}", db.display());
    Ok((Some(data), seal(Store::sqlite(store, description), config)))
}

/// The store with its keys sealed under `key_encryption_key`, when one is configured.
fn seal(store: Store, config: &Config) -> Store {
    match &config.key_encryption_key {
        Some(kek) => store.sealed(kek.clone()),
        None => store,
    }
}

/// The HMAC secret: the configured one (checked for strength); else the data directory's
/// (generated into it on first use); else, on a shared store, the store's (generated into it
/// by the first instance to start, so every instance signs with the same one).
pub(crate) async fn hmac_secret(
    config: &Config,
    data: Option<&DataDir>,
    store: &Store,
) -> Result<(Secret, SecretSource), CliError> {
    if let Some(s) = &config.secret_key {
        crate::config::check_secret(config.algorithm, s)?;
        return Ok((s.clone(), SecretSource::Configured));
    }
    if let Some(dir) = data {
        return dir.hmac_secret(config);
    }
    let generated = jwtx::secret_hex::<32>();
    let stored = store
        .keys()
        .secret_or_insert(HMAC_SECRET, StoredSecret::new(generated.as_str()))
        .await
        .map_err(|e| CliError::store("cannot read the HMAC secret from the store", e))?;
    let secret = Secret::new(stored.expose());
    crate::config::check_secret(config.algorithm, &secret)
        .map_err(|e| CliError::usage(format!("the store holds a bad HMAC secret: {e}")))?;
    let source = if stored.expose() == generated.as_str() {
        SecretSource::GeneratedInStore
    } else {
        SecretSource::Store
    };
    Ok((secret, source))
}

/// The name of the generated HMAC secret in a shared store.
pub(crate) const HMAC_SECRET: &str = "hmac";
