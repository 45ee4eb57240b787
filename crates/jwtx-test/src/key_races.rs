//! [`key_races`]: the key changes that processes sharing a store race on (schedulers adding
//! the next key, every instance promoting it when due), made at once from many tasks over
//! several handles of one store (pools, files opened twice: as several processes would).

use std::sync::Arc;

use jwtx::store::{KeyStatus, KeyStore, NewSigningKey, SigningKey, StoreError};
use jwtx::{Algorithm, NumericDate};

use crate::fixtures::T0;
use crate::{fail, ok};

/// Tasks per race.
const RACERS: usize = 12;

/// Races `add_pending` and `activate_due` on one store through `stores` (handles of the same
/// store), `rounds` times: of tasks that all expect the active key, exactly one adds its key
/// and the others get a Conflict (nothing of theirs stored); of tasks that all call
/// `activate_due` when it is due, exactly one promotes it, and the store then holds one active
/// key (the promoted one), the former one passive since the pending key's time, none pending.
/// Then `retire_key` of the pending key races `activate_due`: either it is retired and the
/// active key stays, or it was promoted and retire_key was refused.
///
/// Needs a multi-threaded tokio runtime (it spawns the racers) and a store with an active key
/// and none pending.
///
/// # Panics
///
/// When a race ends otherwise (a conformance failure).
pub async fn key_races(stores: &[Arc<dyn KeyStore>], rounds: u64) {
    if stores.is_empty() {
        fail("key_races needs at least one store".into());
    }
    for round in 0..rounds {
        let base = T0 + 10_000 + round * 1_000;
        let before = active(stores).await;
        let winner = race_add_pending(stores, &before.kid, base).await;
        race_activate_due(stores, &before.kid, &winner, base + 100).await;
    }
    race_retire_against_activation(stores, T0 + 10_000 + rounds * 1_000).await;
}

async fn active(stores: &[Arc<dyn KeyStore>]) -> SigningKey {
    match ok("active_key", stores[0].active_key().await) {
        Some(k) => k,
        None => fail("key_races needs a store with an active key".into()),
    }
}

async fn listed(store: &dyn KeyStore) -> Vec<SigningKey> {
    ok("list_keys", store.list_keys().await)
}

fn new_key(at: NumericDate) -> NewSigningKey {
    match NewSigningKey::generate(Algorithm::EdDSA, at) {
        Ok(k) => k,
        Err(e) => fail(format!("cannot generate a key: {e}")),
    }
}

/// Every task adds a key of its own as pending, expecting `signer`; returns the winner's kid.
async fn race_add_pending(stores: &[Arc<dyn KeyStore>], signer: &str, base: NumericDate) -> String {
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = Arc::clone(&stores[i % stores.len()]);
        let signer = signer.to_owned();
        let key = new_key(base);
        tasks.push(tokio::spawn(async move {
            let kid = key.kid.clone();
            let r = store.add_pending(key, base + 100, Some(&signer)).await;
            (kid, r)
        }));
    }
    let mut won = Vec::new();
    let mut lost = Vec::new();
    for t in tasks {
        match t.await {
            Ok((kid, Ok(()))) => won.push(kid),
            Ok((kid, Err(StoreError::Conflict { .. }))) => lost.push(kid),
            Ok((_, Err(e))) => fail(format!("add_pending racing: unexpected store error: {e}")),
            Err(e) => fail(format!("an add_pending task failed: {e}")),
        }
    }
    if won.len() != 1 {
        fail(format!(
            "of {RACERS} add_pending expecting the same active key at once, exactly one must \
             succeed; {} did",
            won.len()
        ));
    }
    let keys = listed(&*stores[0]).await;
    let pending: Vec<&str> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Pending)
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(
        pending,
        [won[0].as_str()],
        "after racing add_pending, the winner's key must be the one pending key"
    );
    assert!(
        lost.iter().all(|l| keys.iter().all(|k| &k.kid != l)),
        "a refused add_pending must store nothing"
    );
    won.remove(0)
}

/// Every task calls `activate_due(at)`: one promotes `winner`, demoting `signer` at `at`.
async fn race_activate_due(
    stores: &[Arc<dyn KeyStore>],
    signer: &str,
    winner: &str,
    at: NumericDate,
) {
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = Arc::clone(&stores[i % stores.len()]);
        tasks.push(tokio::spawn(async move { store.activate_due(at).await }));
    }
    let mut promoted = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => {
                if let Some(kid) = ok("activate_due", r) {
                    promoted.push(kid);
                }
            }
            Err(e) => fail(format!("an activate_due task failed: {e}")),
        }
    }
    assert_eq!(
        promoted,
        [winner],
        "of {RACERS} activate_due at once, exactly one must promote the pending key"
    );
    let keys = listed(&*stores[stores.len() - 1]).await;
    let by_status =
        |s: KeyStatus| -> Vec<&SigningKey> { keys.iter().filter(|k| k.status == s).collect() };
    let active = by_status(KeyStatus::Active);
    assert_eq!(
        active.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        [winner],
        "after racing activate_due, the promoted key must be the one active key"
    );
    assert!(
        by_status(KeyStatus::Pending).is_empty(),
        "after racing activate_due, no key may be pending"
    );
    let former = keys.iter().find(|k| k.kid == signer);
    assert_eq!(
        former.map(|k| (k.status, k.demoted_at)),
        Some((KeyStatus::Passive, Some(at))),
        "after racing activate_due, the former active key must be passive since the pending \
         key's activates_at"
    );
}

/// `retire_key` of the pending key against `activate_due` at its time, from two tasks.
async fn race_retire_against_activation(stores: &[Arc<dyn KeyStore>], base: NumericDate) {
    for round in 0..RACERS as u64 {
        let at = base + round * 10;
        let signer = active(stores).await.kid;
        let key = new_key(at);
        let kid = key.kid.clone();
        ok(
            "add_pending",
            stores[0].add_pending(key, at + 5, Some(&signer)).await,
        );
        let (a, b) = (
            Arc::clone(&stores[0]),
            Arc::clone(&stores[stores.len() - 1]),
        );
        let retire_kid = kid.clone();
        let retiring = tokio::spawn(async move { a.retire_key(&retire_kid, at + 5).await });
        let activating = tokio::spawn(async move { b.activate_due(at + 5).await });
        let (retired, activated) = match (retiring.await, activating.await) {
            (Ok(r), Ok(a)) => (r, a),
            _ => fail("a retire_key or activate_due task failed".into()),
        };
        let activated = ok("activate_due", activated);
        let now_active = active(stores).await.kid;
        match (retired, activated) {
            // Retired first: the promotion found nothing pending.
            (Ok(Some(before)), None) => {
                assert_eq!(
                    (before.kid.as_str(), before.status, now_active.as_str()),
                    (kid.as_str(), KeyStatus::Pending, signer.as_str()),
                    "retire_key winning the race must retire the pending key and leave the \
                     active key"
                );
            }
            // Promoted first: the key is active, and retiring it is refused.
            (Err(StoreError::Conflict { .. }), Some(promoted)) => {
                assert_eq!(
                    (promoted.as_str(), now_active.as_str()),
                    (kid.as_str(), kid.as_str()),
                    "activate_due winning the race must make the pending key active"
                );
            }
            (r, a) => fail(format!(
                "retire_key racing activate_due must either retire the pending key (and \
                 nothing is promoted) or be refused after the promotion; got {r:?} and {a:?}"
            )),
        }
        let keys = listed(&*stores[0]).await;
        assert_eq!(
            keys.iter()
                .filter(|k| k.status == KeyStatus::Active)
                .count(),
            1,
            "exactly one key must be active after retire_key raced activate_due"
        );
        assert!(
            keys.iter().all(|k| k.status != KeyStatus::Pending),
            "no key may be pending after retire_key raced activate_due"
        );
    }
}
