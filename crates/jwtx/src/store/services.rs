//! Service credentials: what a downstream service presents to read the revocation feed
//! (`GET /revocations`, docs/http-api.md). The operator issues one per service
//! (`jwtx service add NAME`); the store keeps only its SHA-256 digest ([`ServiceStore`]).
//!
//! A credential is `jwtxsvc_` followed by the base64url (no padding) of 32 random bytes from
//! the system CSPRNG: 51 characters, 256 bits. It is opaque (not a JWT): it names no service,
//! and the digest of the whole text finds the service. Digests are compared in constant time.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use zeroize::Zeroizing;

use super::StoreFuture;
use crate::claims::NumericDate;

/// What every credential starts with, so a leaked one is recognisable (secret scanners) and
/// never mistaken for a token.
pub const CREDENTIAL_PREFIX: &str = "jwtxsvc_";

/// Characters of base64url after the prefix: 32 bytes, unpadded.
const ENCODED_LEN: usize = 43;

/// A credential's length in bytes (prefix and 43 base64url characters).
pub const CREDENTIAL_LEN: usize = CREDENTIAL_PREFIX.len() + ENCODED_LEN;

/// A service credential's text. `Debug` never shows it, and it is wiped when dropped.
#[derive(Clone)]
pub struct ServiceCredential(Zeroizing<String>);

impl fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceCredential(<redacted>)")
    }
}

impl ServiceCredential {
    /// A new credential: 256 bits from the system CSPRNG.
    pub fn generate() -> ServiceCredential {
        let bytes = crate::random::bytes::<32>();
        let mut text = Zeroizing::new(String::with_capacity(CREDENTIAL_LEN));
        text.push_str(CREDENTIAL_PREFIX);
        crate::b64::encode_into(bytes.as_ref(), &mut text);
        ServiceCredential(text)
    }

    /// `text` if it has a credential's form (the prefix, then the canonical base64url of 32
    /// bytes); `None` for anything else, without echoing it.
    pub fn parse(text: &str) -> Option<ServiceCredential> {
        is_well_formed(text).then(|| ServiceCredential(Zeroizing::new(text.to_owned())))
    }

    /// The text, to show it once to the operator or to present it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest the store keeps.
    pub fn digest(&self) -> CredentialDigest {
        CredentialDigest::of(&self.0)
    }
}

/// Whether `text` has a credential's form: [`CREDENTIAL_PREFIX`], then exactly 43 characters
/// of canonical base64url (no padding, no non-zero trailing bits) encoding 32 bytes.
pub fn is_well_formed(text: &str) -> bool {
    let Some(encoded) = text.strip_prefix(CREDENTIAL_PREFIX) else {
        return false;
    };
    if encoded.len() != ENCODED_LEN {
        return false;
    }
    let mut out = Zeroizing::new([0u8; 33]);
    matches!(
        crate::b64::decode_slice(encoded.as_bytes(), &mut out[..]),
        Ok(32)
    )
}

/// The SHA-256 digest of a credential's full text: what a store keeps and looks a service up
/// by. Equality is decided in constant time. `Debug` does not show it (a digest is not the
/// credential, but it is what an attacker with the database would match guesses against).
#[derive(Clone)]
pub struct CredentialDigest([u8; 32]);

impl CredentialDigest {
    /// The digest of `text` (any text: a malformed credential has a digest too, and matches
    /// nothing stored).
    pub fn of(text: &str) -> CredentialDigest {
        let d = digest::digest(&digest::SHA256, text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        CredentialDigest(out)
    }

    /// The digest as stored: 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }

    /// Reads [`to_hex`](Self::to_hex)'s form; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<CredentialDigest> {
        // As stored: lowercase only, so one digest has one text.
        if hex.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let out: [u8; 32] = crate::hex::decode(hex)?.as_slice().try_into().ok()?;
        Some(CredentialDigest(out))
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for CredentialDigest {
    /// In constant time.
    fn eq(&self, other: &Self) -> bool {
        verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for CredentialDigest {}

impl fmt::Debug for CredentialDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialDigest(<redacted>)")
    }
}

/// A service allowed to read the revocation feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Its unique name (the operator's label; it appears in audit lines, never in the
    /// credential).
    pub name: String,
    /// The digest of its credential.
    pub digest: CredentialDigest,
    /// When it was added.
    pub created_at: NumericDate,
}

/// Service credentials: names and credential digests. Every write is durable when its future
/// resolves `Ok`.
pub trait ServiceStore: Send + Sync + fmt::Debug {
    /// Adds a service; [`StoreError::Conflict`](super::StoreError::Conflict) if its name is
    /// taken, or (a credential issued twice) its digest.
    fn add_service(&self, service: Service) -> StoreFuture<'_, ()>;
    /// Every service, by name.
    fn list_services(&self) -> StoreFuture<'_, Vec<Service>>;
    /// Removes the service `name`; whether it existed. Its credential is refused from then on.
    fn remove_service<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;
    /// The service whose credential has `digest`, if any.
    fn find_service<'a>(&'a self, digest: &'a CredentialDigest)
    -> StoreFuture<'a, Option<Service>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_well_formed_distinct_and_redacted() {
        let a = ServiceCredential::generate();
        let b = ServiceCredential::generate();
        assert_eq!(a.expose().len(), CREDENTIAL_LEN);
        assert!(a.expose().starts_with("jwtxsvc_"));
        assert!(is_well_formed(a.expose()));
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), CredentialDigest::of(a.expose()));
        assert!(!format!("{a:?}").contains(a.expose()));
        let hex = a.digest().to_hex();
        assert!(!format!("{:?}", a.digest()).contains(&hex));
        assert_eq!(CredentialDigest::from_hex(&hex), Some(a.digest()));
        assert_eq!(
            ServiceCredential::parse(a.expose()).map(|c| c.digest()),
            Some(a.digest())
        );
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let good = ServiceCredential::generate();
        let text = good.expose();
        let encoded = &text[CREDENTIAL_PREFIX.len()..];
        for bad in [
            String::new(),
            "jwtxsvc_".to_owned(),
            encoded.to_owned(),
            format!("JWTXSVC_{encoded}"),
            format!("{text}A"),
            text[..text.len() - 1].to_owned(),
            format!("jwtxsvc_{}=", &encoded[..42]),
            format!("jwtxsvc_{}+", &encoded[..42]),
            // The last character carries 2 bits past the 32 bytes: they must be zero.
            format!("jwtxsvc_{}B", &encoded[..42]),
            format!("jwtxsvc_{}_", &encoded[..42]),
        ] {
            if bad == text {
                continue;
            }
            assert!(!is_well_formed(&bad), "{bad:?}");
            assert!(ServiceCredential::parse(&bad).is_none(), "{bad:?}");
        }
        assert!(is_well_formed(&format!("jwtxsvc_{}A", &encoded[..42])));
    }

    #[test]
    fn digests_read_back_only_from_their_own_form() {
        let d = CredentialDigest::of("x");
        // SHA-256("x")
        assert_eq!(
            d.to_hex(),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
        for bad in ["", "2D711642", &d.to_hex().to_uppercase(), &"g".repeat(64)] {
            assert_eq!(CredentialDigest::from_hex(bad), None, "{bad}");
        }
    }
}
