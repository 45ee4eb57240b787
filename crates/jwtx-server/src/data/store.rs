//! [`Store`]: the one store `jwtx serve` and the admin commands open, whichever engine
//! `database_url` names, behind the store traits.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use jwtx::store::sealed::{KeyEncryptionKey, SealedKeys};
use jwtx::store::{KeyStore, ServiceStore};
use jwtx_auth::AuthStore;
use jwtx_sqlx::{PgStore, SqliteStore};

/// The engine behind a [`Store`], kept to close it and to describe it.
#[derive(Clone, Debug)]
enum Engine {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The opened store: users, sessions and the revocation log through `Deref`, the signing
/// keys and stored secrets through [`keys`](Store::keys) (sealed under `key_encryption_key`
/// when one is configured), closing, and a description that never shows a password.
#[derive(Clone)]
pub(crate) struct Store {
    shared: Arc<dyn AuthStore>,
    keys: Arc<dyn KeyStore>,
    services: Arc<dyn ServiceStore>,
    engine: Engine,
    /// For the startup summary and errors: the engine and where, without a password.
    description: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Deref for Store {
    type Target = dyn AuthStore;

    fn deref(&self) -> &Self::Target {
        &*self.shared
    }
}

impl Store {
    /// A SQLite store.
    pub(crate) fn sqlite(store: SqliteStore, description: String) -> Store {
        Store {
            shared: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            services: Arc::new(store.clone()),
            engine: Engine::Sqlite(store),
            description,
        }
    }

    /// A PostgreSQL store, shared by every instance given its URL.
    pub(crate) fn postgres(store: PgStore, description: String) -> Store {
        Store {
            shared: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            services: Arc::new(store.clone()),
            engine: Engine::Postgres(store),
            description,
        }
    }

    /// Seals the private keys and secrets written from now on, and opens them when read,
    /// under `kek`.
    pub(crate) fn sealed(mut self, kek: KeyEncryptionKey) -> Store {
        self.keys = Arc::new(SealedKeys::new(self.keys, kek));
        self
    }

    /// The signing keys and stored secrets.
    pub(crate) fn keys_arc(&self) -> Arc<dyn KeyStore> {
        self.keys.clone()
    }

    pub(crate) fn keys(&self) -> &dyn KeyStore {
        &*self.keys
    }

    /// The services allowed to read the revocation feed (`jwtx service …`).
    pub(crate) fn services(&self) -> Arc<dyn ServiceStore> {
        self.services.clone()
    }

    /// The store as the auth flows take it.
    pub(crate) fn auth_store(&self) -> Arc<dyn AuthStore> {
        self.shared.clone()
    }

    /// Whether every instance may share this store (PostgreSQL), rather than one machine.
    pub(crate) fn is_shared(&self) -> bool {
        match self.engine {
            Engine::Sqlite(_) => false,
            Engine::Postgres(_) => true,
        }
    }

    /// `SQLite PATH` or `PostgreSQL postgres://user:***@host/db`.
    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    /// Closes the connections (waits for them to finish).
    pub(crate) async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(s) => s.close().await,
            Engine::Postgres(s) => s.close().await,
        }
    }
}
