//! The key store wrapped in envelope encryption (`SealedKeys`) still keeps the `KeyStore`
//! contract (the SQL stores run it in their own tests).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use jwtx::store::memory::MemoryStore;
use jwtx::store::sealed::{KeyEncryptionKey, SealedKeys};

fn kek() -> KeyEncryptionKey {
    KeyEncryptionKey::from_hex(&jwtx::secret_hex::<32>()).unwrap()
}

#[tokio::test]
async fn sealed_memory_keys_conform() {
    jwtx_test::keys(&SealedKeys::new(Arc::new(MemoryStore::new()), kek())).await;
}
