//! Several keys, one active signer; verification picks a key by `kid`, never by `alg`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::KeyError;
use crate::jwk::{Jwk, PublicJwk};
use crate::key::Key;

/// A set of keys with unique `kid`s and one active signer.
///
/// Verification selects the key by the token's `kid`; a token without `kid` is accepted only
/// when the set holds a single key. The header's `alg` never chooses anything: it must equal
/// the chosen key's algorithm.
///
/// ```
/// use jwtx::{Algorithm, Key, KeySet};
/// let old = Key::generate(Algorithm::EdDSA)?;
/// let new = Key::generate(Algorithm::EdDSA)?;
/// let new_kid = new.kid().unwrap().to_owned();
/// let set = KeySet::new(vec![new, old])?; // the first key that can sign is the signer
/// assert_eq!(set.signer().and_then(|k| k.kid()), Some(new_kid.as_str()));
/// assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 2);
/// # Ok::<(), jwtx::KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Arc<[Key]>,
    signer: Option<usize>,
}

impl From<Key> for KeySet {
    fn from(key: Key) -> Self {
        let signer = key.can_sign().then_some(0);
        KeySet {
            keys: Arc::from(vec![key]),
            signer,
        }
    }
}

impl KeySet {
    /// A set from keys; the first key that can sign becomes the active signer. Refuses an
    /// empty set, duplicate `kid`s (a key without `kid` counts as one `kid`), and sets that
    /// mix symmetric and asymmetric keys.
    pub fn new(keys: Vec<Key>) -> Result<KeySet, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::EmptyKeySet);
        }
        let symmetric = keys[0].is_symmetric();
        if keys.iter().any(|k| k.is_symmetric() != symmetric) {
            return Err(KeyError::MixedKeySet);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid() == k.kid()) {
                return Err(KeyError::DuplicateKid {
                    kid: k.kid().unwrap_or("").to_owned(),
                });
            }
        }
        let signer = keys.iter().position(Key::can_sign);
        Ok(KeySet {
            keys: Arc::from(keys),
            signer,
        })
    }

    /// Makes the key with this `kid` the active signer.
    pub fn with_signer(mut self, kid: &str) -> Result<KeySet, KeyError> {
        let i = self
            .keys
            .iter()
            .position(|k| k.kid() == Some(kid) && k.can_sign())
            .ok_or(KeyError::NoSigner)?;
        self.signer = Some(i);
        Ok(self)
    }

    /// Parses a JWK set (`{"keys":[…]}`) or a single JWK. Every key needs an `alg` (or a
    /// curve that implies one).
    pub fn from_jwks_json(json: &str) -> Result<KeySet, KeyError> {
        #[derive(Deserialize)]
        struct Set<'a> {
            #[serde(borrow)]
            keys: Vec<&'a RawValue>,
        }
        let keys = match serde_json::from_str::<Set<'_>>(json) {
            Ok(set) => set
                .keys
                .iter()
                .map(|raw| Jwk::from_json(raw.get()).and_then(|j| Key::from_jwk(&j)))
                .collect::<Result<Vec<_>, _>>()?,
            Err(_) => vec![Key::from_jwk(&Jwk::from_json(json)?)?],
        };
        KeySet::new(keys)
    }

    /// Whether `other` is this very set (a clone of it), not merely an equal one: what a cache
    /// of verifications made with a set that may be replaced checks before reusing one.
    pub fn is_same(&self, other: &KeySet) -> bool {
        Arc::ptr_eq(&self.keys, &other.keys)
    }

    /// The active signer, if any key can sign.
    pub fn signer(&self) -> Option<&Key> {
        self.signer.map(|i| &self.keys[i])
    }

    /// All keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key a token's `kid` selects: by `kid`; for a token without one, the only key or
    /// else the set's one key without a `kid`; the only key, when it has no `kid` itself.
    pub fn select(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            // A single key without a kid is the key, whatever kid the token names: that is
            // how flask-jwt-extended (which ignores kid) treats its one secret.
            Some(_) if self.keys.len() == 1 && self.keys[0].kid().is_none() => self.keys.first(),
            Some(kid) => self.keys.iter().find(|k| k.kid() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            // At most one key has no kid (`new` refuses two): the secret a deployment signed
            // with before its first rotation, whose tokens carry none.
            None => self.keys.iter().find(|k| k.kid().is_none()),
        }
    }

    /// The key whose canonical header (see `Key`) is exactly `header_b64`, if `select` would
    /// choose that key for it.
    pub(crate) fn canonical_match(&self, header_b64: &[u8]) -> Option<&Key> {
        // A key's canonical header names its kid when it has one, so a match is the key
        // `select` picks for that header's kid (or for none, the key without a kid).
        self.keys
            .iter()
            .find(|k| k.canonical_header().b64.as_bytes() == header_b64)
    }

    /// The public JWK set (`{"keys":[…]}`) of the asymmetric keys; symmetric keys are never
    /// published.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<PublicJwk> = self.keys.iter().filter_map(Key::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn refuses_mixed_duplicate_and_empty_sets() {
        let h = || Key::hmac(Algorithm::HS256, &[1; 32]).unwrap();
        assert_eq!(KeySet::new(vec![]).unwrap_err(), KeyError::EmptyKeySet);
        assert!(matches!(
            KeySet::new(vec![h(), h()]),
            Err(KeyError::DuplicateKid { .. })
        ));
        assert!(KeySet::new(vec![h().with_kid("a"), h().with_kid("b")]).is_ok());
        assert_eq!(
            KeySet::new(vec![h(), Key::generate(Algorithm::ES256).unwrap()]).unwrap_err(),
            KeyError::MixedKeySet
        );
    }

    #[test]
    fn jwks_never_contains_private_or_symmetric_material() {
        let set = KeySet::new(vec![
            Key::generate(Algorithm::ES256).unwrap(),
            Key::generate(Algorithm::RS256).unwrap(),
        ])
        .unwrap();
        let text = set.jwks().to_string();
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"k\""] {
            assert!(!text.contains(private), "{text}");
        }
        let back = KeySet::from_jwks_json(&text).unwrap();
        assert_eq!(back.keys().len(), 2);
        assert!(back.signer().is_none());
        let hs: KeySet = Key::hmac(Algorithm::HS256, &[1; 32]).unwrap().into();
        assert_eq!(hs.jwks().to_string(), r#"{"keys":[]}"#);
    }
}
