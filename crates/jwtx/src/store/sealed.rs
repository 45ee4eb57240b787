//! Envelope encryption of the key material a store keeps: [`SealedKeys`] wraps a
//! [`KeyStore`] so that private keys and stored secrets (the generated HMAC secret) are written
//! sealed under a [`KeyEncryptionKey`] the operator keeps outside the database (the
//! `key_encryption_key` setting), and opened when read.
//!
//! Each value gets a fresh 256-bit data key; the value is sealed with it (AES-256-GCM), and the
//! data key is sealed with the key-encryption key (AES-256-GCM). Both seals bind the value's
//! place (`key:<kid>` or `secret:<name>`) as associated data, so a sealed value moved to
//! another row does not open. The stored text is
//!
//! ```text
//! jwtx-sealed:v1:<kek id>:<base64url(nonce ‖ sealed data key)>:<base64url(nonce ‖ sealed value)>
//! ```
//!
//! where the kek id is the first 8 bytes of SHA-256 of the key-encryption key, hex: a value
//! sealed under another key says so instead of failing as "damaged". Values stored before
//! sealing was turned on (plain PEM, a plain secret) are still read, so a deployment can turn
//! it on without a migration; they are sealed when written again (a rotation).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use zeroize::Zeroizing;

use super::keys::{KeyStore, NewSigningKey, PrivateKeyPem, SigningKey, StoredSecret};
use super::{StoreError, StoreFuture};
use crate::claims::NumericDate;

const PREFIX: &str = "jwtx-sealed:v1:";

/// A 256-bit key-encryption key. `Debug` shows only its id; it is wiped when dropped.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl KeyEncryptionKey {
    /// From 64 hexadecimal digits (what `jwtx secret generate` prints); whitespace around
    /// them is ignored. Refuses anything else, without echoing it.
    pub fn from_hex(text: &str) -> Result<KeyEncryptionKey, String> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                "a key-encryption key is 64 hexadecimal digits (32 bytes); make one with \
                 `jwtx secret generate`"
                    .to_owned(),
            );
        }
        let mut key = Zeroizing::new([0u8; 32]);
        let bytes = crate::hex::decode(text).ok_or_else(|| "not hexadecimal".to_owned())?;
        key.copy_from_slice(&bytes);
        let d = digest::digest(&digest::SHA256, key.as_ref());
        let id = crate::hex::encode(&d.as_ref()[..8]);
        Ok(KeyEncryptionKey { key, id })
    }

    /// The key's id: the first 8 bytes of its SHA-256, hex (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plain`, bound to `place`.
    pub fn seal(&self, place: &str, plain: &str) -> Result<String, StoreError> {
        let dek = crate::random::bytes::<32>();
        let wrapped = seal_with(&self.key, place, dek.as_ref())?;
        let sealed = seal_with(&dek, place, plain.as_bytes())?;
        Ok(format!(
            "{PREFIX}{}:{}:{}",
            self.id,
            crate::b64::encode(&wrapped),
            crate::b64::encode(&sealed)
        ))
    }

    /// Opens what [`seal`](Self::seal) made for `place`; text that is not sealed is returned
    /// as it is (stored before sealing was turned on).
    pub fn open(&self, place: &str, stored: &str) -> Result<Zeroizing<String>, StoreError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(Zeroizing::new(stored.to_owned()));
        };
        let damaged = || StoreError::corrupt(format!("the sealed {place} is damaged"));
        let mut parts = rest.split(':');
        let (Some(id), Some(wrapped), Some(sealed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(damaged());
        };
        if id != self.id {
            return Err(StoreError::corrupt(format!(
                "the {place} is sealed under key-encryption key {id}, not the configured one \
                 ({}): set key_encryption_key to the key it was sealed with",
                self.id
            )));
        }
        let wrapped = crate::b64::decode(wrapped.as_bytes()).map_err(|()| damaged())?;
        let sealed = crate::b64::decode(sealed.as_bytes()).map_err(|()| damaged())?;
        let dek = Zeroizing::new(open_with(&self.key, place, wrapped).ok_or_else(damaged)?);
        let dek: &[u8; 32] = dek.as_slice().try_into().map_err(|_| damaged())?;
        let plain = Zeroizing::new(open_with(dek, place, sealed).ok_or_else(damaged)?);
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| damaged())
    }
}

/// Whether stored text is sealed (by any key).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn seal_with(key: &[u8; 32], place: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
    let failed = || StoreError::unavailable("sealing failed");
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| failed())?);
    let nonce_bytes = crate::random::bytes::<NONCE_LEN>();
    let nonce = Nonce::assume_unique_for_key(*nonce_bytes);
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(nonce_bytes.as_ref());
    let mut body = plain.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(place.as_bytes()), &mut body)
        .map_err(|_| failed())?;
    out.extend_from_slice(&body);
    Ok(out)
}

fn open_with(key: &[u8; 32], place: &str, sealed: Vec<u8>) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return None;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = Zeroizing::new(body.to_vec());
    let plain = key
        .open_in_place(nonce, Aad::from(place.as_bytes()), &mut body)
        .ok()?;
    Some(plain.to_vec())
}

fn key_place(kid: &str) -> String {
    format!("key:{kid}")
}

fn secret_place(name: &str) -> String {
    format!("secret:{name}")
}

/// A [`KeyStore`] whose private keys and secrets are sealed under a [`KeyEncryptionKey`]
/// in the store it wraps.
#[derive(Debug)]
pub struct SealedKeys {
    inner: Arc<dyn KeyStore>,
    kek: KeyEncryptionKey,
}

impl SealedKeys {
    /// Seals what is written to `inner` and opens what is read from it.
    pub fn new(inner: Arc<dyn KeyStore>, kek: KeyEncryptionKey) -> Self {
        SealedKeys { inner, kek }
    }

    fn seal_key(&self, mut key: NewSigningKey) -> Result<NewSigningKey, StoreError> {
        let sealed = self
            .kek
            .seal(&key_place(&key.kid), key.private_key.expose())?;
        key.private_key = PrivateKeyPem::new(sealed);
        Ok(key)
    }

    fn open_key(&self, mut key: SigningKey) -> Result<SigningKey, StoreError> {
        if let Some(pem) = &key.private_key {
            let plain = self.kek.open(&key_place(&key.kid), pem.expose())?;
            key.private_key = Some(PrivateKeyPem::from(plain));
        }
        Ok(key)
    }
}

impl KeyStore for SealedKeys {
    fn list_keys(&self) -> StoreFuture<'_, Vec<SigningKey>> {
        Box::pin(async move {
            let keys = self.inner.list_keys().await?;
            keys.into_iter().map(|k| self.open_key(k)).collect()
        })
    }

    fn active_key(&self) -> StoreFuture<'_, Option<SigningKey>> {
        Box::pin(async move {
            match self.inner.active_key().await? {
                Some(k) => self.open_key(k).map(Some),
                None => Ok(None),
            }
        })
    }

    fn insert_initial(&self, key: NewSigningKey) -> StoreFuture<'_, SigningKey> {
        Box::pin(async move {
            let stored = self.inner.insert_initial(self.seal_key(key)?).await?;
            self.open_key(stored)
        })
    }

    fn rotate_in(&self, key: NewSigningKey, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move { self.inner.rotate_in(self.seal_key(key)?, now).await })
    }

    fn add_pending<'a>(
        &'a self,
        key: NewSigningKey,
        activates_at: NumericDate,
        expected_active: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.seal_key(key)?;
            self.inner
                .add_pending(key, activates_at, expected_active)
                .await
        })
    }

    fn activate_due(&self, now: NumericDate) -> StoreFuture<'_, Option<String>> {
        self.inner.activate_due(now)
    }

    fn retire_key<'a>(
        &'a self,
        kid: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<SigningKey>> {
        Box::pin(async move {
            match self.inner.retire_key(kid, now).await? {
                Some(k) => self.open_key(k).map(Some),
                None => Ok(None),
            }
        })
    }

    fn retire_expired(
        &self,
        now: NumericDate,
        max_token_lifetime: u64,
    ) -> StoreFuture<'_, Vec<String>> {
        self.inner.retire_expired(now, max_token_lifetime)
    }

    fn secret_or_insert<'a>(
        &'a self,
        name: &'a str,
        generated: StoredSecret,
    ) -> StoreFuture<'a, StoredSecret> {
        Box::pin(async move {
            let place = secret_place(name);
            let sealed = StoredSecret::new(self.kek.seal(&place, generated.expose())?);
            let stored = self.inner.secret_or_insert(name, sealed).await?;
            let plain = self.kek.open(&place, stored.expose())?;
            Ok(StoredSecret::new(plain.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_hex(HEX).unwrap()
    }

    #[test]
    fn parses_64_hex_digits_only_and_never_echoes() {
        assert!(KeyEncryptionKey::from_hex(&format!(" {HEX}\n")).is_ok());
        for bad in [
            &HEX[..62],
            &format!("{}zz", &HEX[..62]),
            &format!("{HEX}00"),
        ] {
            let e = KeyEncryptionKey::from_hex(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
        assert!(KeyEncryptionKey::from_hex("").is_err());
        let k = kek();
        assert!(!format!("{k:?}").contains("0001020304"), "{k:?}");
        assert_eq!(k.id().len(), 16);
    }

    #[test]
    fn seals_and_opens_bound_to_its_place() {
        let k = kek();
        let sealed = k.seal("key:a", "-----BEGIN PRIVATE KEY-----x").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("BEGIN"));
        assert_eq!(
            k.open("key:a", &sealed).unwrap().as_str(),
            "-----BEGIN PRIVATE KEY-----x"
        );
        // Another row's place, another key, or a flipped byte does not open.
        assert!(k.open("key:b", &sealed).is_err());
        let other = KeyEncryptionKey::from_hex(&HEX.replace("00", "ff")).unwrap();
        let e = other.open("key:a", &sealed).unwrap_err();
        assert!(e.to_string().contains(k.id()), "{e}");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(k.open("key:a", &String::from_utf8(bytes).unwrap()).is_err());
        // Plain text stored before sealing is read as it is.
        assert_eq!(k.open("key:a", "plain").unwrap().as_str(), "plain");
        // Two seals of one value differ (fresh data key and nonces).
        assert_ne!(k.seal("p", "v").unwrap(), k.seal("p", "v").unwrap());
    }

    /// Polls a future of the memory store, which is ready at once.
    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the memory store is never pending"),
        }
    }

    /// Through the wrapper the store only ever holds sealed text, and reads give the plain
    /// key back.
    #[test]
    fn the_wrapped_store_holds_only_sealed_material() {
        now(wrapped_store_holds_only_sealed_material());
    }

    async fn wrapped_store_holds_only_sealed_material() {
        let inner = Arc::new(MemoryStore::new());
        let sealed = SealedKeys::new(inner.clone(), kek());
        let key = NewSigningKey::generate(crate::Algorithm::ES256, 100).unwrap();
        let pem = key.private_key.clone();
        let active = sealed.insert_initial(key).await.unwrap();
        assert_eq!(active.private_key.as_ref(), Some(&pem));
        let raw = inner.active_key().await.unwrap().unwrap();
        let raw_pem = raw.private_key.unwrap();
        assert!(is_sealed(raw_pem.expose()));
        assert!(!raw_pem.expose().contains("BEGIN"));
        assert_eq!(
            sealed.active_key().await.unwrap().unwrap().private_key,
            Some(pem)
        );
        let s = sealed
            .secret_or_insert("hmac", StoredSecret::new("s3cr3t"))
            .await
            .unwrap();
        assert_eq!(s.expose(), "s3cr3t");
        let raw = inner
            .secret_or_insert("hmac", StoredSecret::new("other"))
            .await
            .unwrap();
        assert!(is_sealed(raw.expose()) && !raw.expose().contains("s3cr3t"));
        let again = sealed
            .secret_or_insert("hmac", StoredSecret::new("other"))
            .await
            .unwrap();
        assert_eq!(again.expose(), "s3cr3t");
    }
}
