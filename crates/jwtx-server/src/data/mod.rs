//! Where `jwtx serve` and the admin commands find their data: the data directory ([`DataDir`],
//! modes and the generated secret), the store in it ([`open_store`]), and the signing keys in
//! the store ([`server_keyset`]). The server and the commands both use this module; neither
//! reaches into the other.

mod dir;
mod signing;

pub(crate) use dir::{DataDir, SecretSource};
pub(crate) use signing::new_key;
pub(crate) use signing::{max_token_lifetime, server_keyset};

use jwtx_sqlx::SqliteStore;

use crate::config::Config;
use crate::error::CliError;

/// Opens (creating if needed) the data directory and the SQLite store in it.
pub(crate) async fn open_store(config: &Config) -> Result<(DataDir, SqliteStore), CliError> {
    let data = DataDir::open(&config.data_dir)?;
    let db = data.database();
    let store = SqliteStore::open(&db).await.map_err(|e| {
        CliError::runtime(format!(
            "cannot open the store {}: {e}; check data_dir (--data-dir)",
            db.display()
        ))
    })?;
    Ok((data, store))
}
