//! Signing keys kept in a store (docs/cli.md, "Signing keys"): a pending key published ahead of
//! signing, one active signer, passive keys that still verify until every token they signed
//! has expired, retired keys that verify nothing.
//!
//! ```text
//!   add_pending(new, at)   activate_due(now >= at)           retire_expired(now, lifetime)
//!   ────────▶ Pending ──────────────────▶ Active ──▶ Passive ─────────────────────────▶ Retired
//!             (in the JWKS,               (signs)    (verifies; demoted_at =            (record only;
//!              verifies,                              the successor's activates_at)      private key
//!              signs from `at`)                                                          erased)
//! ```
//!
//! `rotate_in` (an emergency rotation) makes a key active at once; `retire_key` retires any key
//! but the active one at once (a compromised key). A store holds at most one active and one
//! pending key at any moment, and every change of the active key is one atomic operation, so
//! processes sharing a store (servers, the admin CLI) never see zero or two active keys after a
//! write they both observed.
//!
//! Asymmetric keys are stored as PKCS#8 PEM. HMAC keys rotate the same way: their secret is
//! stored as hex, under a random `kid` (not derived from the secret); the secret a deployment
//! signed with before its first rotation is stored under the empty `kid`, which means "tokens
//! carry no `kid`".

use std::fmt;

use zeroize::Zeroizing;

use super::{StoreError, StoreFuture};
use crate::alg::Algorithm;
use crate::claims::NumericDate;
use crate::error::KeyError;
use crate::key::Key;

/// A private key as PKCS#8 PEM. `Debug` never shows it, and the text is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    /// Wraps PEM text.
    pub fn new(pem: impl Into<String>) -> Self {
        PrivateKeyPem(Zeroizing::new(pem.into()))
    }

    /// The PEM text, to store it or parse it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<Zeroizing<String>> for PrivateKeyPem {
    fn from(pem: Zeroizing<String>) -> Self {
        PrivateKeyPem(pem)
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(<redacted>)")
    }
}

/// A secret the store keeps for every instance (the generated HMAC secret, `"hmac"`; a
/// deployment's id, `"deployment_id"`). `Debug` never shows it, and the text is wiped when
/// dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret(Zeroizing<String>);

impl StoredSecret {
    /// Wraps secret text.
    pub fn new(text: impl Into<String>) -> Self {
        StoredSecret(Zeroizing::new(text.into()))
    }

    /// The text, to store it or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredSecret(<redacted>)")
    }
}

/// Where a stored key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Published (in the JWKS) and verifying, but signing only from its `activates_at`. At
    /// most one key is pending.
    Pending,
    /// The signer: new tokens are signed with it. At most one key is active.
    Active,
    /// A former signer that still verifies (and is published in the JWKS) until every token
    /// it signed has expired.
    Passive,
    /// Verifies nothing any more; only the record is kept, without its private key.
    Retired,
}

impl KeyStatus {
    /// `active`, `passive` or `retired`: how stores and the CLI write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Pending => "pending",
            KeyStatus::Active => "active",
            KeyStatus::Passive => "passive",
            KeyStatus::Retired => "retired",
        }
    }

    /// The status [`as_str`](Self::as_str) names.
    pub fn parse(s: &str) -> Option<KeyStatus> {
        [
            KeyStatus::Pending,
            KeyStatus::Active,
            KeyStatus::Passive,
            KeyStatus::Retired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key to store ([`KeyStore::add_pending`], [`KeyStore::rotate_in`],
/// [`KeyStore::insert_initial`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSigningKey {
    /// The `kid` tokens carry (the RFC 7638 thumbprint for a generated asymmetric key, random
    /// for an HMAC key; empty for a deployment's first HMAC secret, whose tokens carry none).
    pub kid: String,
    /// The algorithm name (RFC 7518, e.g. `ES256`).
    pub alg: String,
    /// The private key, PKCS#8 PEM; for HMAC the secret's bytes in hex.
    pub private_key: PrivateKeyPem,
    /// When the key was made.
    pub created_at: NumericDate,
}

impl NewSigningKey {
    /// A new key for `alg` from the system CSRNG (see [`Key::generate`]), created at `now`.
    /// An HMAC key gets a secret of the hash's size and a random 128-bit `kid`.
    pub fn generate(alg: Algorithm, now: NumericDate) -> Result<NewSigningKey, KeyError> {
        if alg.is_symmetric() {
            let secret = match alg {
                Algorithm::HS384 => crate::random::secret_hex::<48>(),
                Algorithm::HS512 => crate::random::secret_hex::<64>(),
                _ => crate::random::secret_hex::<32>(),
            };
            let kid = crate::b64::encode(&*crate::random::bytes::<16>());
            return Ok(NewSigningKey {
                kid,
                alg: alg.as_str().to_owned(),
                private_key: PrivateKeyPem::from(secret),
                created_at: now,
            });
        }
        NewSigningKey::from_key(&Key::generate(alg)?, now)
    }

    /// The record of the HMAC secret a deployment signed with before its first rotation
    /// (configured, or generated on first start): stored under the empty `kid`, since the
    /// tokens it signed carry none.
    pub fn first_hmac(alg: Algorithm, secret: &[u8], now: NumericDate) -> NewSigningKey {
        NewSigningKey {
            kid: String::new(),
            alg: alg.as_str().to_owned(),
            private_key: PrivateKeyPem::from(Zeroizing::new(crate::hex::encode(secret))),
            created_at: now,
        }
    }

    /// The record for an asymmetric private `key`, created at `now`.
    pub fn from_key(key: &Key, now: NumericDate) -> Result<NewSigningKey, KeyError> {
        let (Some(kid), Some(pem)) = (key.kid(), key.to_pkcs8_pem()) else {
            return Err(KeyError::WrongKeyType {
                alg: key.algorithm(),
                found: "a key without private asymmetric material".into(),
            });
        };
        Ok(NewSigningKey {
            kid: kid.to_owned(),
            alg: key.algorithm().as_str().to_owned(),
            private_key: pem.into(),
            created_at: now,
        })
    }

    /// The signing key, parsed (with the stored `kid`).
    pub fn key(&self) -> Result<Key, KeyError> {
        parse_key(&self.kid, &self.alg, &self.private_key)
    }
}

/// A stored signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    /// The `kid` tokens carry; unique in the store, whatever the status.
    pub kid: String,
    /// The algorithm name (RFC 7518, e.g. `ES256`).
    pub alg: String,
    /// Pending, active, passive or retired.
    pub status: KeyStatus,
    /// The private key (PKCS#8 PEM); `None` exactly when the key is retired.
    pub private_key: Option<PrivateKeyPem>,
    /// When the key was made.
    pub created_at: NumericDate,
    /// When it begins (pending) or began to sign; `None` for a key stored before pending
    /// keys existed (it began at `created_at`).
    pub activates_at: Option<NumericDate>,
    /// When it stopped signing (its successor's `activates_at`); `None` while pending or
    /// active.
    pub demoted_at: Option<NumericDate>,
    /// When it was retired; `None` unless retired.
    pub retired_at: Option<NumericDate>,
}

impl SigningKey {
    /// The record `key` becomes when stored as the active key.
    pub fn active(key: NewSigningKey) -> SigningKey {
        SigningKey {
            kid: key.kid,
            alg: key.alg,
            status: KeyStatus::Active,
            private_key: Some(key.private_key),
            activates_at: Some(key.created_at),
            created_at: key.created_at,
            demoted_at: None,
            retired_at: None,
        }
    }

    /// The record `key` becomes when stored as pending, signing from `activates_at`.
    pub fn pending(key: NewSigningKey, activates_at: NumericDate) -> SigningKey {
        SigningKey {
            status: KeyStatus::Pending,
            activates_at: Some(activates_at),
            ..SigningKey::active(key)
        }
    }

    /// The last second a token signed by this key can still be valid, for tokens that live at
    /// most `max_token_lifetime` seconds (leeway included): `demoted_at + max_token_lifetime`.
    /// `None` while the key is active (it still signs).
    pub fn verify_until(&self, max_token_lifetime: u64) -> Option<NumericDate> {
        self.demoted_at
            .map(|d| d.saturating_add(max_token_lifetime))
    }

    /// The signing key, parsed (with the stored `kid`); an error for a retired key.
    pub fn key(&self) -> Result<Key, KeyError> {
        match &self.private_key {
            Some(pem) => parse_key(&self.kid, &self.alg, pem),
            None => Err(KeyError::Invalid {
                reason: format!("key {} is retired: its private key was erased", self.kid),
            }),
        }
    }
}

fn parse_key(kid: &str, alg: &str, pem: &PrivateKeyPem) -> Result<Key, KeyError> {
    let alg: Algorithm = alg.parse().map_err(|_| KeyError::UnsupportedAlgorithm {
        alg: alg.chars().take(32).collect(),
    })?;
    if alg.is_symmetric() {
        let secret = crate::hex::decode(pem.expose()).ok_or_else(|| KeyError::Invalid {
            reason: format!("stored HMAC key {kid:?} is not hex"),
        })?;
        let key = Key::hmac(alg, &secret)?;
        // The empty kid is the deployment's first secret: its tokens carry no kid.
        return Ok(if kid.is_empty() {
            key
        } else {
            key.with_kid(kid)
        });
    }
    let key = Key::from_pem(alg, pem.expose().as_bytes())?;
    if !key.can_sign() {
        return Err(KeyError::Invalid {
            reason: format!("stored key {kid} holds no private key"),
        });
    }
    Ok(if key.kid() == Some(kid) {
        key
    } else {
        key.with_kid(kid)
    })
}

/// Whether a passive key may be retired at `now`: every token it signed (living at most
/// `max_token_lifetime` seconds, leeway included) has expired, i.e. its
/// [`verify_until`](SigningKey::verify_until) is before `now`. The rule every store applies.
pub fn is_retirable(key: &SigningKey, now: NumericDate, max_token_lifetime: u64) -> bool {
    key.status == KeyStatus::Passive
        && key
            .verify_until(max_token_lifetime)
            .is_some_and(|until| until < now)
}

/// Signing keys (docs/cli.md, "Signing keys").
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Every key, retired ones included, newest first (`created_at` descending, then `kid`).
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>>;

    /// The active key, if there is one.
    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>>;

    /// Stores `key` as the active key if no key is active, atomically; returns the active key
    /// afterwards: `key`'s record, or the key that was active already (then `key` is not
    /// stored). Processes that start at once on an empty store thus agree on one key.
    /// [`StoreError::Conflict`] if no key is active and `key.kid` is taken.
    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey>;

    /// Makes `key` the active key and the previously active key (if any) passive with
    /// `demoted_at = now`, in one atomic operation: no reader ever sees no active key or two.
    /// A pending key is retired in the same operation (it never signed). Returns the demoted
    /// key's `kid`. [`StoreError::Conflict`] (and no change) if `key.kid` is taken.
    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>>;

    /// Stores `key` as pending, signing from `activates_at`, atomically. Refuses with
    /// [`StoreError::Conflict`] (and no change) when a key is pending already, when no key is
    /// active, when `expected_active` names another key than the active one (of schedulers
    /// racing on one store, one wins), or when `key.kid` is taken.
    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()>;

    /// If the pending key's `activates_at` is at or before `now`: makes it active and the
    /// active key passive with `demoted_at` = that `activates_at`, atomically, and returns its
    /// `kid`. Otherwise changes nothing and returns `None`. Idempotent: processes that race
    /// here promote once.
    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>>;

    /// Retires key `kid` at once (a compromised key): status retired, `retired_at = now`,
    /// private key erased (a pending key gets `demoted_at = now`: it never signed). Returns the
    /// record as it was, or `None` if there is no such key; a retired key is returned
    /// unchanged. [`StoreError::Conflict`] for the active key: rotate first.
    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>>;

    /// Retires every passive key [`is_retirable`] at `now`: status retired, `retired_at =
    /// now`, private key erased. Returns their `kid`s, sorted. Active keys and passive keys
    /// still within their verify-until are untouched.
    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>>;

    /// The secret stored under `name`, or `generated`, stored now under `name` when there is
    /// none, atomically: of processes that start at once on an empty store, every one gets the
    /// same secret (the first stored). A stored secret is never replaced.
    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret>;
}

/// Sorts keys as [`KeyStore::list_keys`] returns them: newest first, then by `kid`.
pub fn sort_keys(keys: &mut [SigningKey]) {
    keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
}

pub(crate) fn kid_taken(kid: &str) -> StoreError {
    StoreError::Conflict {
        what: format!("a signing key with kid {kid:?} exists"),
    }
}

/// [`KeyStore::add_pending`]'s refusal while a key is pending.
pub fn pending_exists(kid: &str) -> StoreError {
    StoreError::Conflict {
        what: format!("signing key {kid:?} is pending already"),
    }
}

/// [`KeyStore::add_pending`]'s refusal when the active key is not the one expected.
pub fn active_changed(expected: Option<&str>) -> StoreError {
    StoreError::Conflict {
        what: match expected {
            Some(kid) => format!("the active signing key is no longer {kid:?}"),
            None => "no signing key is active".to_owned(),
        },
    }
}

/// [`KeyStore::retire_key`]'s refusal for the active key.
pub fn retiring_active(kid: &str) -> StoreError {
    StoreError::Conflict {
        what: format!("signing key {kid:?} is active: rotate before retiring it"),
    }
}

/// Retires `k` at `now` in memory: what every store's retirement writes.
pub(crate) fn retire(k: &mut SigningKey, now: NumericDate) {
    k.status = KeyStatus::Retired;
    k.retired_at = Some(now);
    k.demoted_at.get_or_insert(now);
    k.private_key = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            KeyStatus::Pending,
            KeyStatus::Active,
            KeyStatus::Passive,
            KeyStatus::Retired,
        ] {
            assert_eq!(KeyStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(KeyStatus::parse("Active"), None);
    }

    #[test]
    fn generated_keys_parse_back_with_their_kid_and_hide_their_pem() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let new = NewSigningKey::generate(alg, 5).unwrap();
            let key = new.key().unwrap();
            assert_eq!(key.kid(), Some(new.kid.as_str()));
            assert_eq!(key.thumbprint().as_deref(), Some(new.kid.as_str()));
            assert!(key.can_sign());
            let record = SigningKey::active(new.clone());
            assert_eq!(record.key().unwrap().kid(), key.kid());
            let body = new.private_key.expose().lines().nth(1).unwrap().to_owned();
            let debug = format!("{new:?} {record:?}");
            assert!(!debug.contains(&body), "{debug}");
            assert!(debug.contains("<redacted>"), "{debug}");
        }
        // HMAC keys: a random kid, a secret of the hash's size, hidden in Debug.
        for (alg, len) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let new = NewSigningKey::generate(alg, 5).unwrap();
            assert_eq!(new.private_key.expose().len(), 2 * len);
            assert_eq!(new.kid.len(), 22);
            let key = new.key().unwrap();
            assert_eq!((key.kid(), key.algorithm()), (Some(new.kid.as_str()), alg));
            assert!(!format!("{new:?}").contains(new.private_key.expose()));
        }
        let first = NewSigningKey::first_hmac(Algorithm::HS256, &[0xab; 32], 5);
        assert_eq!(first.kid, "");
        assert_eq!(first.private_key.expose(), "ab".repeat(32));
        assert_eq!(first.key().unwrap().kid(), None);
        let bad = NewSigningKey {
            private_key: PrivateKeyPem::new("zz"),
            ..first
        };
        assert!(bad.key().is_err());
        let public = Key::generate(Algorithm::ES256).unwrap();
        let public =
            Key::from_pem(Algorithm::ES256, public.to_public_pem().unwrap().as_bytes()).unwrap();
        assert!(NewSigningKey::from_key(&public, 5).is_err());
    }

    #[test]
    fn retirement_waits_until_every_token_expired() {
        let mut k = SigningKey::active(NewSigningKey::generate(Algorithm::EdDSA, 0).unwrap());
        assert_eq!(k.verify_until(100), None);
        assert!(!is_retirable(&k, u64::MAX, 100));
        k.status = KeyStatus::Passive;
        k.demoted_at = Some(1_000);
        assert_eq!(k.verify_until(100), Some(1_100));
        assert!(!is_retirable(&k, 1_100, 100));
        assert!(is_retirable(&k, 1_101, 100));
        k.private_key = None;
        assert!(k.key().is_err());
    }
}
