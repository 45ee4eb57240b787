//! Recently verified tokens, so that a client's repeated requests with one token cost a
//! lookup instead of a signature check and a strict JSON scan (opt in with
//! [`JwtManagerBuilder::verified_cache`](crate::JwtManagerBuilder::verified_cache)).
//!
//! Why a hit is as good as a verification:
//! - the key is the whole token, compared in constant time (a token is a credential: an
//!   early-exit comparison would tell a prober how much of a cached one it has guessed);
//! - only successes are kept, and what decided them cannot change unnoticed: the validation
//!   policy is the manager's; a verification made with a key set that can be replaced (a
//!   remote issuer's) is kept with that set and reused only while it is still the current
//!   one; a manager with a decode-key loader, whose keys are chosen per token, does not use
//!   the cache. (A codec's `LiveKeys`, replaced by a server's key rotation, drop a key only
//!   once every token it signed has expired, or with a revocation-log entry that refuses its
//!   tokens, which is checked per request;)
//! - the time rules (`iat`, `nbf`, `exp` with the leeway) are asked again on every use; an
//!   entry that fails them is dropped and the token verified afresh, which reports the error;
//! - revocation, type, freshness, CSRF and the user loader run per request, after this.
//!
//! Memory: at most the configured number of entries (token and claims, about 1 KiB each for
//! a server token), split over shards. A thread keeps to one shard, so the lock it takes and
//! the reference count it bumps sit on cache lines no other core writes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use jwtx::{KeySet, NoClaims, Validation, Verified};

/// Shared verification outcomes, by token.
pub(crate) struct VerifiedCache {
    shards: Box<[Padded<Mutex<Shard>>]>,
    /// Slots per shard minus one (a power of two minus one).
    mask: usize,
}

/// One shard on cache lines of its own (128 bytes: adjacent-line prefetch pairs lines).
#[repr(align(128))]
struct Padded<T>(T);

struct Shard {
    slots: Box<[Option<Entry>]>,
    hits: u64,
    misses: u64,
}

struct Entry {
    token: Box<str>,
    verified: Arc<Verified<NoClaims>>,
    /// The replaceable key set that verified it, if any.
    keys: Option<KeySet>,
}

/// Hits and misses since the start, over all shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifiedCacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that verified the token (not there, another token in its slot, or out of time).
    pub misses: u64,
}

impl VerifiedCache {
    /// Room for at most `entries` tokens: a shard per core (fewer if `entries` is smaller),
    /// each a power of two of slots; `None` for 0.
    pub(crate) fn new(entries: usize) -> Option<Self> {
        if entries == 0 {
            return None;
        }
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(1, 64));
        let shards = cores.min(entries);
        // The largest power of two not above entries / shards (which is at least 1).
        let per_shard = 1 << (entries / shards).ilog2();
        Some(VerifiedCache {
            shards: (0..shards)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        slots: (0..per_shard).map(|_| None).collect(),
                        hits: 0,
                        misses: 0,
                    }))
                })
                .collect(),
            mask: per_shard - 1,
        })
    }

    /// The verification kept for exactly `token`, if it still passes the time rules at `now`
    /// and was made with `keys` (the current replaceable key set, if any).
    pub(crate) fn get(
        &self,
        token: &str,
        validation: &Validation,
        now: jwtx::NumericDate,
        keys: Option<&KeySet>,
    ) -> Option<Arc<Verified<NoClaims>>> {
        let slot = self.slot(token)?;
        let mut shard = self.shard();
        let same_keys = |e: &Entry| match (&e.keys, keys) {
            (None, None) => true,
            (Some(a), Some(b)) => a.is_same(b),
            _ => false,
        };
        let (found, stale) = match &shard.slots[slot] {
            Some(e)
                if verify_slices_are_equal(e.token.as_bytes(), token.as_bytes()).is_ok()
                    && same_keys(e) =>
            {
                if validation.still_valid_at(e.verified.claims(), now) {
                    (Some(e.verified.clone()), None)
                } else {
                    // Out of time for good (or not yet valid): verify afresh, which says why.
                    (None, shard.slots[slot].take())
                }
            }
            _ => (None, None),
        };
        match found {
            Some(_) => shard.hits += 1,
            None => shard.misses += 1,
        }
        // A dropped entry is freed after the lock is released, as in `insert`.
        drop(shard);
        drop(stale);
        found
    }

    /// Keeps a successful verification of `token`, in place of whatever held its slot.
    pub(crate) fn insert(
        &self,
        token: &str,
        verified: Arc<Verified<NoClaims>>,
        keys: Option<KeySet>,
    ) {
        let Some(slot) = self.slot(token) else {
            return;
        };
        let entry = Entry {
            token: token.into(),
            verified,
            keys,
        };
        let old = self.shard().slots[slot].replace(entry);
        // The evicted entry is freed after the lock is released.
        drop(old);
    }

    /// Hits and misses so far.
    pub(crate) fn stats(&self) -> VerifiedCacheStats {
        self.shards
            .iter()
            .fold(VerifiedCacheStats::default(), |acc, s| {
                let s = s.0.lock().unwrap_or_else(PoisonError::into_inner);
                VerifiedCacheStats {
                    hits: acc.hits + s.hits,
                    misses: acc.misses + s.misses,
                }
            })
    }

    /// This thread's shard, locked.
    fn shard(&self) -> MutexGuard<'_, Shard> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let i = INDEX.with(|i| *i) % self.shards.len();
        self.shards[i]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot for `token`: its last eight bytes (the end of the signature, as random as
    /// the signature), mixed by a multiplication. A caller can aim a token at any slot, but
    /// only a token that verified is ever stored, and a slot's token is compared in full.
    fn slot(&self, token: &str) -> Option<usize> {
        let tail = token.as_bytes().last_chunk::<8>()?;
        let h = u64::from_le_bytes(*tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The top bits are the best mixed; the mask keeps as many as there are slots.
        Some((h >> 32) as usize & self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtx::{Algorithm, Codec, FixedClock, Key};
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000;

    fn codec(clock: Arc<FixedClock>) -> Codec {
        Codec::new(Key::hmac(Algorithm::HS256, b"verified-cache test secret 32 by").unwrap())
            .with_clock(clock)
            .with_access_ttl(Some(Duration::from_secs(60)))
    }

    fn token(c: &Codec, sub: &str) -> String {
        c.access_token(sub).sign().unwrap().token
    }

    #[test]
    fn a_hit_needs_the_whole_token_and_the_time_rules() {
        let clock = Arc::new(FixedClock::new(NOW));
        let c = codec(clock.clone());
        let cache = VerifiedCache::new(64).unwrap();
        let t = token(&c, "alice");
        let v = Arc::new(c.verify::<NoClaims>(&t).unwrap());
        assert!(cache.get(&t, c.validation(), NOW, None).is_none());
        cache.insert(&t, v, None);
        let hit = cache.get(&t, c.validation(), NOW, None).unwrap();
        assert_eq!(hit.sub(), "alice");

        // The same slot (same last eight bytes), another token: no hit.
        let mut other = t.clone();
        other.replace_range(..1, if t.starts_with('e') { "f" } else { "e" });
        assert!(cache.get(&other, c.validation(), NOW, None).is_none());
        // A prefix or an extension of the token: no hit either.
        assert!(
            cache
                .get(&t[..t.len() - 1], c.validation(), NOW, None)
                .is_none()
        );
        assert!(
            cache
                .get(&format!("{t}A"), c.validation(), NOW, None)
                .is_none()
        );

        // Expired (exp = NOW + 60): refused from the cache, and the entry is gone.
        assert!(cache.get(&t, c.validation(), NOW + 59, None).is_some());
        assert!(cache.get(&t, c.validation(), NOW + 60, None).is_none());
        assert!(cache.get(&t, c.validation(), NOW + 59, None).is_none());
        assert_eq!(cache.stats(), VerifiedCacheStats { hits: 2, misses: 6 });
    }

    #[test]
    fn a_hit_needs_the_key_set_that_verified_it() {
        let clock = Arc::new(FixedClock::new(NOW));
        let c = codec(clock);
        let cache = VerifiedCache::new(64).unwrap();
        let t = token(&c, "alice");
        let v = Arc::new(c.verify::<NoClaims>(&t).unwrap());
        let set = KeySet::clone(&c.keys());
        let replaced = KeySet::new(vec![
            Key::hmac(Algorithm::HS256, b"verified-cache test secret 32 by").unwrap(),
        ])
        .unwrap();
        cache.insert(&t, v, Some(set.clone()));
        assert!(cache.get(&t, c.validation(), NOW, Some(&set)).is_some());
        // An equal set that is not this one (a refetch), or none: verify afresh.
        assert!(
            cache
                .get(&t, c.validation(), NOW, Some(&replaced))
                .is_none()
        );
        assert!(cache.get(&t, c.validation(), NOW, None).is_none());
    }

    #[test]
    fn memory_is_bounded_by_the_slots() {
        let clock = Arc::new(FixedClock::new(NOW));
        let c = codec(clock);
        let cache = VerifiedCache::new(4).unwrap();
        let slots = cache.shards.len() * (cache.mask + 1);
        for i in 0..200 {
            let t = token(&c, &format!("user{i}"));
            cache.insert(&t, Arc::new(c.verify::<NoClaims>(&t).unwrap()), None);
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.0.lock().unwrap().slots.iter().flatten().count())
            .sum();
        assert!(held <= slots && slots <= 4, "{held} / {slots}");
        assert!(VerifiedCache::new(0).is_none());
        for entries in [1, 3, 1000, 1024, 1 << 20] {
            let c = VerifiedCache::new(entries).unwrap();
            let slots = c.shards.len() * (c.mask + 1);
            assert!(
                slots <= entries && slots * 4 > entries,
                "{entries}: {slots}"
            );
        }
    }
}
