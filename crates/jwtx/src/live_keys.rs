//! A key set replaced while in use: live key rotation. A [`Codec`](crate::Codec) reads its keys
//! through [`LiveKeys`], so a server that learns of a new key swaps the whole set at once and
//! every later sign or verify uses it, with no lock on the verification path.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::keyset::KeySet;

/// A shared, replaceable [`KeySet`]: every clone sees the latest [`replace`](Self::replace).
#[derive(Clone)]
pub struct LiveKeys(Arc<ArcSwap<KeySet>>);

impl LiveKeys {
    /// Holds `keys` until replaced.
    pub fn new(keys: KeySet) -> LiveKeys {
        LiveKeys(Arc::new(ArcSwap::from_pointee(keys)))
    }

    /// The current set; a later [`replace`](Self::replace) does not change what this guard
    /// holds.
    pub fn load(&self) -> KeysGuard {
        KeysGuard(self.0.load())
    }

    /// The current set, owned (to keep past a short borrow).
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.0.load_full()
    }

    /// Replaces the set for every holder at once.
    pub fn replace(&self, keys: KeySet) {
        self.0.store(Arc::new(keys));
    }
}

impl From<KeySet> for LiveKeys {
    fn from(keys: KeySet) -> Self {
        LiveKeys::new(keys)
    }
}

impl fmt::Debug for LiveKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LiveKeys").field(&**self.0.load()).finish()
    }
}

/// The key set [`LiveKeys::load`] returned.
pub struct KeysGuard(arc_swap::Guard<Arc<KeySet>>);

impl fmt::Debug for KeysGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Deref for KeysGuard {
    type Target = KeySet;

    fn deref(&self) -> &KeySet {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, Key};

    #[test]
    fn a_replacement_reaches_every_clone_and_spares_loaded_guards() {
        let a: KeySet = Key::hmac(Algorithm::HS256, &[1; 32])
            .unwrap()
            .with_kid("a")
            .into();
        let b: KeySet = Key::hmac(Algorithm::HS256, &[2; 32])
            .unwrap()
            .with_kid("b")
            .into();
        let live = LiveKeys::new(a);
        let other = live.clone();
        let before = live.load();
        other.replace(b);
        assert_eq!(before.signer().and_then(Key::kid), Some("a"));
        assert_eq!(live.load().signer().and_then(Key::kid), Some("b"));
        assert_eq!(live.snapshot().keys().len(), 1);
        assert!(format!("{live:?}").starts_with("LiveKeys("));
    }
}
