//! Fixed keys and codecs shared by the fuzz targets.
//!
//! The keys in `keys/` are throw-away test keys generated for this harness only; they protect
//! nothing. They are fixed (not generated per run) so that the seed corpus' signed tokens
//! verify and every crash reproduces.

use std::sync::{Arc, OnceLock};

use jwtx::{Algorithm, Codec, FixedClock, Key, KeySet, Validation};

/// The harness clock: 2023-11-14T22:13:20Z. Seed tokens are valid at this instant.
pub const NOW: u64 = 1_700_000_000;

/// The HS256 secret of the harness (32 bytes).
pub const SECRET: &[u8] = b"jwtx-fuzz harness secret, 32 B!!";

pub const ES256_PRIVATE_PEM: &str = include_str!("../keys/es256.pem");
pub const ES256_PUBLIC_PEM: &str = include_str!("../keys/es256.pub.pem");
pub const ED25519_PRIVATE_PEM: &str = include_str!("../keys/ed25519.pem");
pub const ED25519_PUBLIC_PEM: &str = include_str!("../keys/ed25519.pub.pem");
pub const RS256_PRIVATE_PEM: &str = include_str!("../keys/rs256.pem");
pub const RS256_PUBLIC_PEM: &str = include_str!("../keys/rs256.pub.pem");

/// Everything the targets verify with.
#[derive(Debug)]
pub struct Harness {
    /// The HS256 signing key.
    pub hs_key: Key,
    /// The HS256 key as a set (no kid).
    pub hs: KeySet,
    /// ES256, EdDSA and RS256 public keys (kids: RFC 7638 thumbprints).
    pub public: KeySet,
    /// The private keys of `public`, for seed generation and re-signing.
    pub private: Vec<Key>,
    /// HS256 codec with default (strict) validation at [`NOW`].
    pub codec: Codec,
    /// HS256 codec with issuer, audience, leeway and no required `exp`, at [`NOW`].
    pub lenient: Codec,
    /// A codec over the public key set, at [`NOW`].
    pub public_codec: Codec,
}

fn pem(alg: Algorithm, text: &str) -> Key {
    match Key::from_pem(alg, text.as_bytes()) {
        Ok(k) => k,
        Err(e) => panic!("harness key for {alg} does not load: {e}"),
    }
}

/// The harness, built once.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let hs_key = match Key::hmac(Algorithm::HS256, SECRET) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let private = vec![
            pem(Algorithm::ES256, ES256_PRIVATE_PEM),
            pem(Algorithm::EdDSA, ED25519_PRIVATE_PEM),
            pem(Algorithm::RS256, RS256_PRIVATE_PEM),
        ];
        let public = KeySet::new(vec![
            pem(Algorithm::ES256, ES256_PUBLIC_PEM),
            pem(Algorithm::EdDSA, ED25519_PUBLIC_PEM),
            pem(Algorithm::RS256, RS256_PUBLIC_PEM),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(FixedClock::new(NOW));
        let hs: KeySet = Key::hmac(Algorithm::HS256, SECRET)
            .unwrap_or_else(|e| panic!("{e}"))
            .into();
        Harness {
            codec: Codec::new(hs.clone()).with_clock(clock.clone()),
            lenient: Codec::new(hs.clone())
                .with_clock(clock.clone())
                .with_validation(
                    Validation::new()
                        .leeway(std::time::Duration::from_secs(30))
                        .issuer("https://auth.example")
                        .audience("api")
                        .dangerous_allow_missing_exp(),
                ),
            public_codec: Codec::new(public.clone()).with_clock(clock),
            hs_key,
            hs,
            public,
            private,
        }
    })
}

/// base64url (no padding) of the HS256 MAC of `input` under [`SECRET`].
pub fn hmac_sha256_b64(input: &[u8]) -> String {
    use aws_lc_rs::hmac;
    use base64::Engine as _;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// `header.payload` (whatever the two first `.`-separated parts of `text` are) with a correct
/// HS256 signature appended.
pub fn resign(text: &str) -> String {
    let mut parts = text.splitn(3, '.');
    let input = format!(
        "{}.{}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    );
    let sig = hmac_sha256_b64(input.as_bytes());
    format!("{input}.{sig}")
}

/// Whether `doc` is a JSON object with no duplicate member names at any nesting level
/// (names compared after unescaping): an oracle for the header and payload rules, written
/// independently of jwtx's own checker on top of serde_json.
pub fn strict_json_object(doc: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Strict>(doc), Ok(Strict(true)))
}

/// A JSON value with unique member names everywhere; `.0` tells whether it is an object.
struct Strict(bool);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(false))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict(false))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(serde::de::Error::custom("duplicate member"));
            }
            map.next_value::<Strict>()?;
        }
        Ok(Strict(true))
    }
}
