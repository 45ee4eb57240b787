//! How audit lines name what a client typed as a user name. A failed login's "user name" is
//! sometimes a password typed into the wrong field, so it is never written as typed: a name
//! that matches no account is written as [`TypedName`], a keyed hash that lets lines of one
//! run be matched to each other (a burst against one name) without keeping the text.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::hmac;

/// The first 64 bits, in hex, of HMAC-SHA256 of the typed name under a key made at start
/// (so the same name gives the same tag until the process ends, and nothing afterwards).
pub(crate) struct TypedName<'a>(pub(crate) &'a str);

fn key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        // Without randomness the process could not have started (the token layer needs it);
        // a fixed key still hides the text.
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    })
}

impl fmt::Display for TypedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = hmac::sign(key(), self.0.as_bytes());
        for b in &tag.as_ref()[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_name_is_a_stable_tag_never_the_text() {
        let a = TypedName("hunter2-typed-as-a-name").to_string();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, TypedName("hunter2-typed-as-a-name").to_string());
        assert_ne!(a, TypedName("hunter3-typed-as-a-name").to_string());
        assert!(!a.contains("hunter"));
    }
}
