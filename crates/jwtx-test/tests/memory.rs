//! The conformance suite against the reference in-memory store.

use jwtx::store::memory::MemoryStore;

#[tokio::test]
async fn memory_store_conforms() {
    jwtx_test::all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn runs_can_share_a_store() {
    let store = MemoryStore::new();
    jwtx_test::all(&store).await;
    jwtx_test::all(&store).await;
}

#[tokio::test]
async fn parts_run_alone_and_through_trait_objects() {
    let store = MemoryStore::new();
    jwtx_test::users(&store as &dyn jwtx::store::UserStore).await;
    jwtx_test::revocations(&store as &dyn jwtx::store::RevocationStore).await;
    jwtx_test::sessions(&store).await;
    jwtx_test::keys(&store as &dyn jwtx::store::KeyStore).await;
}

/// Cut-offs come from the store's clock: on a clock stopped at T0, far from this machine's,
/// every one of them is T0.
#[tokio::test]
async fn memory_store_on_a_fixed_clock_conforms() {
    let store = MemoryStore::with_clock(std::sync::Arc::new(jwtx_test::fixtures::clock()));
    jwtx_test::all(&store).await;
    jwtx_test::ends(&store).await;
}

/// The key races on the reference store: one add_pending wins, one activate_due promotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_key_races() {
    let store = std::sync::Arc::new(MemoryStore::new());
    jwtx::store::KeyStore::insert_initial(
        &*store,
        jwtx::store::NewSigningKey::generate(jwtx::Algorithm::EdDSA, jwtx_test::fixtures::T0)
            .unwrap(),
    )
    .await
    .unwrap();
    jwtx_test::key_races(&[store], 3).await;
}
