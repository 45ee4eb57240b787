//! [`Store`]: the one store `jwtx serve` and the admin commands open, whichever engine
//! `database_url` names, behind the store traits.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use jwtx::store::KeyStore;
use jwtx_auth::AuthStore;
use jwtx_sqlx::SqliteStore;

/// Every store trait the server and the commands use, as one object.
pub(crate) trait ServerStore: AuthStore + KeyStore {}
impl<T: AuthStore + KeyStore> ServerStore for T {}

/// The engine behind a [`Store`], kept to close it and to describe it.
#[derive(Clone, Debug)]
enum Engine {
    Sqlite(SqliteStore),
}

/// The opened store: the traits through `Deref`, plus closing and a description that never
/// shows a password.
#[derive(Clone)]
pub(crate) struct Store {
    shared: Arc<dyn ServerStore>,
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
    type Target = dyn ServerStore;

    fn deref(&self) -> &Self::Target {
        &*self.shared
    }
}

impl Store {
    /// A SQLite store.
    pub(crate) fn sqlite(store: SqliteStore, description: String) -> Store {
        Store {
            shared: Arc::new(store.clone()),
            engine: Engine::Sqlite(store),
            description,
        }
    }

    /// The store as the auth flows take it.
    pub(crate) fn auth_store(&self) -> Arc<dyn AuthStore> {
        self.shared.clone()
    }

    /// Whether every instance may share this store (PostgreSQL), rather than one machine.
    pub(crate) fn is_shared(&self) -> bool {
        match self.engine {
            Engine::Sqlite(_) => false,
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
        }
    }
}
