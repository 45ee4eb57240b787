//! Keys bound to one algorithm, parsed once and kept in the crypto library's own form so no
//! sign or verify call parses key material again.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
};
use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::b64;
use crate::error::{EncodeError, KeyError};
use crate::jwk::{Jwk, PublicJwk};

/// A signing or verifying key bound to exactly one [`Algorithm`].
///
/// Built once from a secret, PEM, DER or JWK, or generated; the algorithm used to verify a
/// token always comes from here, never from the token. Private material lives inside the
/// crypto library, which wipes it when the key is dropped, and `Debug` never prints it.
///
/// ```
/// use jwtx::{Algorithm, Key};
/// let key = Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")?;
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(Key::hmac(Algorithm::HS256, b"too short").is_err());
/// # Ok::<(), jwtx::KeyError>(())
/// ```
pub struct Key {
    alg: Algorithm,
    kid: Option<String>,
    inner: Inner,
    /// The header this key emits, precomputed: signing reuses it, and verification skips
    /// header decoding for tokens whose header segment is byte-identical to it.
    header: CanonicalHeader,
}

/// `{"alg":…,"typ":"JWT"[,"kid":…]}` as JSON and as base64url.
#[derive(Clone, Debug, Default)]
pub(crate) struct CanonicalHeader {
    pub(crate) json: std::sync::Arc<str>,
    pub(crate) b64: Box<str>,
}

impl CanonicalHeader {
    fn new(alg: Algorithm, kid: Option<&str>) -> Self {
        let mut h = serde_json::Map::new();
        h.insert("alg".into(), alg.as_str().into());
        h.insert("typ".into(), "JWT".into());
        if let Some(kid) = kid {
            h.insert("kid".into(), kid.into());
        }
        // serde_json's map is ordered by name: alg, kid, typ — PyJWT's order too.
        let json = serde_json::Value::Object(h).to_string();
        CanonicalHeader {
            b64: b64::encode(json.as_bytes()).into_boxed_str(),
            json: json.into(),
        }
    }
}

enum Inner {
    Hmac(Box<hmac::Key>),
    Rsa {
        pair: Option<RsaKeyPair>,
        public: ParsedPublicKey,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        pair: Option<EcdsaKeyPair>,
        public: ParsedPublicKey,
        /// Uncompressed SEC1 point, `04 ‖ x ‖ y`.
        point: Vec<u8>,
    },
    Ed {
        pair: Option<Ed25519KeyPair>,
        public: ParsedPublicKey,
        x: Vec<u8>,
    },
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field(
                "material",
                &if self.can_sign() {
                    "[redacted]"
                } else {
                    "public"
                },
            )
            .finish()
    }
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> KeyError {
    KeyError::Invalid {
        reason: e.to_string(),
    }
}

fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn rsa_verify_alg(alg: Algorithm) -> &'static signature::RsaParameters {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn rsa_sign_alg(alg: Algorithm) -> &'static dyn signature::RsaEncoding {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    }
}

/// The curve of an ECDSA algorithm: (signing alg, verifying alg, coordinate size, JWK name).
fn ec_params(
    alg: Algorithm,
) -> (
    &'static signature::EcdsaSigningAlgorithm,
    &'static signature::EcdsaVerificationAlgorithm,
    usize,
    &'static str,
) {
    match alg {
        Algorithm::ES384 => (
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED,
            48,
            "P-384",
        ),
        _ => (
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED,
            32,
            "P-256",
        ),
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bit_len(be: &[u8]) -> usize {
    let b = strip_leading_zeros(be);
    match b.first() {
        Some(&top) => b.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// True when the modulus has the ROCA fingerprint (CVE-2017-15361): for every small prime
/// `p` below, `n mod p` lies in the subgroup generated by 65537, as it does for every key
/// generated by the flawed Infineon library and for almost no other key.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % p);
        if r == 0 {
            return false;
        }
        let g = 65537 % p;
        let mut x = 1;
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                break;
            }
        }
        false
    })
}

fn check_rsa_public(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let bits = bit_len(n);
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::RsaSize { bits });
    }
    let e = strip_leading_zeros(e);
    if e.len() > 4 || e.last().is_none_or(|&l| l & 1 == 0) || e == [1] {
        return Err(KeyError::Invalid {
            reason: "RSA public exponent must be odd and greater than 1 (use 65537)".into(),
        });
    }
    if has_roca_fingerprint(n) {
        return Err(KeyError::RocaVulnerable);
    }
    Ok(())
}

/// Fixed DER prefixes of the SubjectPublicKeyInfo structures jwtx reads keys out of.
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const SPKI_ED25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl Key {
    // ---------------------------------------------------------------- construction

    /// An HMAC key from secret bytes (a configured secret is used as its UTF-8 bytes, as in
    /// flask-jwt-extended). Refuses secrets shorter than the hash output.
    ///
    /// HMAC keys have no `kid` unless [`with_kid`](Key::with_kid) gives one, so tokens carry
    /// exactly flask-jwt-extended's header.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
        let Some(min) = alg.min_secret_len() else {
            return Err(KeyError::WrongKeyType {
                alg,
                found: "an HMAC secret".into(),
            });
        };
        if secret.len() < min {
            return Err(KeyError::WeakSecret {
                alg,
                len: secret.len(),
                min,
            });
        }
        Ok(Key {
            alg,
            kid: None,
            inner: Inner::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), secret))),
            header: CanonicalHeader::new(alg, None),
        })
    }

    /// A key from PEM: `PRIVATE KEY` (PKCS#8), `PUBLIC KEY` (SPKI), `RSA PRIVATE KEY` /
    /// `RSA PUBLIC KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1), for an asymmetric algorithm.
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Key, KeyError> {
        let block = pem::parse(pem).map_err(|e| KeyError::Invalid {
            reason: format!("not PEM: {e}"),
        })?;
        let der = Zeroizing::new(block.into_contents());
        Key::from_der(alg, &der)
    }

    /// A key from DER: PKCS#8 or SEC1/PKCS#1 private keys, SPKI or PKCS#1 public keys.
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Key, KeyError> {
        match alg.family() {
            Family::Hmac => Err(KeyError::WrongKeyType {
                alg,
                found: "DER key material (HMAC keys are raw secrets)".into(),
            }),
            Family::RsaPkcs1 | Family::RsaPss => {
                if let Ok(pair) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der))
                {
                    return Key::rsa(alg, Some(pair), None);
                }
                let public =
                    aws_lc_rs::rsa::PublicKey::from_der(der).map_err(|e| KeyError::Invalid {
                        reason: format!("not an RSA key ({e})"),
                    })?;
                Key::rsa(alg, None, Some(&public))
            }
            Family::Ecdsa => {
                let (sign_alg, _, size, _) = ec_params(alg);
                if let Ok(pair) = EcdsaKeyPair::from_pkcs8(sign_alg, der)
                    .or_else(|_| EcdsaKeyPair::from_private_key_der(sign_alg, der))
                {
                    let point = pair.public_key().as_ref().to_vec();
                    return Key::ec(alg, Some(pair), point);
                }
                let prefix = if size == 32 { SPKI_P256 } else { SPKI_P384 };
                match der.strip_prefix(prefix) {
                    Some(point) if point.len() == 1 + 2 * size => {
                        Key::ec(alg, None, point.to_vec())
                    }
                    _ => Err(KeyError::WrongKeyType {
                        alg,
                        found:
                            "a key that is not an uncompressed ECDSA key on the algorithm's curve"
                                .into(),
                    }),
                }
            }
            Family::Eddsa => {
                if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    let x = pair.public_key().as_ref().to_vec();
                    return Key::ed(Some(pair), x);
                }
                match der.strip_prefix(SPKI_ED25519) {
                    Some(x) if x.len() == 32 => Key::ed(None, x.to_vec()),
                    _ => Err(KeyError::WrongKeyType {
                        alg,
                        found: "a key that is not Ed25519".into(),
                    }),
                }
            }
        }
    }

    /// A key from a JWK (RFC 7517). The algorithm is the JWK's `alg`, or the one its curve
    /// implies (EC P-256 → ES256, P-384 → ES384, OKP Ed25519 → EdDSA). Refuses JWKs whose
    /// `use` is not `sig` or whose `key_ops` allow neither `sign` nor `verify`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, KeyError> {
        let alg = jwk.algorithm()?.ok_or(KeyError::MissingAlgorithm)?;
        Key::from_jwk_with_alg(jwk, alg)
    }

    /// Like [`from_jwk`](Key::from_jwk) for a JWK without `alg`; if it has one, it must be `alg`.
    pub fn from_jwk_with_alg(jwk: &Jwk, alg: Algorithm) -> Result<Key, KeyError> {
        jwk.check_for_signatures()?;
        if let Some(own) = jwk.algorithm()?
            && own != alg
        {
            return Err(KeyError::WrongKeyType {
                alg,
                found: format!("a JWK for {own}"),
            });
        }
        let key = jwk.build(alg)?;
        Ok(match jwk.kid() {
            Some(kid) => key.with_kid(kid),
            None => key,
        })
    }

    /// A new key from the system CSRNG: a 64-byte secret for HMAC, RSA-2048 for RS*/PS*, the
    /// algorithm's curve for ES* and EdDSA.
    pub fn generate(alg: Algorithm) -> Result<Key, KeyError> {
        match alg.family() {
            Family::Hmac => {
                let secret = crate::random::bytes::<64>();
                Key::hmac(alg, &secret[..])
            }
            Family::RsaPkcs1 | Family::RsaPss => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Crypto)?;
                Key::rsa(alg, Some(pair), None)
            }
            Family::Ecdsa => {
                let pair =
                    EcdsaKeyPair::generate(ec_params(alg).0).map_err(|_| KeyError::Crypto)?;
                let point = pair.public_key().as_ref().to_vec();
                Key::ec(alg, Some(pair), point)
            }
            Family::Eddsa => {
                let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Crypto)?;
                let x = pair.public_key().as_ref().to_vec();
                Key::ed(Some(pair), x)
            }
        }
    }

    pub(crate) fn rsa(
        alg: Algorithm,
        pair: Option<RsaKeyPair>,
        public: Option<&aws_lc_rs::rsa::PublicKey>,
    ) -> Result<Key, KeyError> {
        let pk = match (&pair, public) {
            (Some(p), _) => p.public_key(),
            (None, Some(p)) => p,
            (None, None) => return Err(KeyError::Crypto),
        };
        let n = pk.modulus().big_endian_without_leading_zero().to_vec();
        let e = pk.exponent().big_endian_without_leading_zero().to_vec();
        check_rsa_public(&n, &e)?;
        let public = ParsedPublicKey::new(rsa_verify_alg(alg), pk.as_ref()).map_err(rejected)?;
        Key::asymmetric(alg, Inner::Rsa { pair, public, n, e })
    }

    pub(crate) fn ec(
        alg: Algorithm,
        pair: Option<EcdsaKeyPair>,
        point: Vec<u8>,
    ) -> Result<Key, KeyError> {
        let (_, verify_alg, size, _) = ec_params(alg);
        if point.len() != 1 + 2 * size || point[0] != 4 {
            return Err(KeyError::WrongKeyType {
                alg,
                found: format!("an EC point of {} bytes", point.len()),
            });
        }
        let public = ParsedPublicKey::new(verify_alg, &point).map_err(|_| KeyError::Invalid {
            reason: format!("the EC point is not on the {alg} curve"),
        })?;
        Key::asymmetric(
            alg,
            Inner::Ec {
                pair,
                public,
                point,
            },
        )
    }

    pub(crate) fn ed(pair: Option<Ed25519KeyPair>, x: Vec<u8>) -> Result<Key, KeyError> {
        let public = ParsedPublicKey::new(&signature::ED25519, &x).map_err(rejected)?;
        Key::asymmetric(Algorithm::EdDSA, Inner::Ed { pair, public, x })
    }

    pub(crate) fn rsa_from_components(
        alg: Algorithm,
        n: &[u8],
        e: &[u8],
        private: Option<[&[u8]; 6]>,
    ) -> Result<Key, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        check_rsa_public(n, e)?;
        match private {
            Some([d, p, q, dp, dq, qi]) => {
                let pair = RsaKeyPair::from_components(&KeyPairComponents {
                    public_key: PublicKeyComponents { n, e },
                    d,
                    p,
                    q,
                    dP: dp,
                    dQ: dq,
                    qInv: qi,
                })
                .map_err(rejected)?;
                Key::rsa(alg, Some(pair), None)
            }
            None => {
                let der = rsa_public_der(n, e);
                let public = aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(rejected)?;
                Key::rsa(alg, None, Some(&public))
            }
        }
    }

    fn asymmetric(alg: Algorithm, inner: Inner) -> Result<Key, KeyError> {
        let mut key = Key {
            alg,
            kid: None,
            inner,
            header: CanonicalHeader::default(),
        };
        key.kid = key.thumbprint();
        key.header = CanonicalHeader::new(alg, key.kid.as_deref());
        Ok(key)
    }

    /// Sets the key's `kid` (instead of the RFC 7638 thumbprint).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Key {
        self.kid = Some(kid.into());
        self.header = CanonicalHeader::new(self.alg, self.kid.as_deref());
        self
    }

    pub(crate) fn canonical_header(&self) -> &CanonicalHeader {
        &self.header
    }

    // ---------------------------------------------------------------- facts

    /// The algorithm this key signs and verifies with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key's `kid`: the one given, else the RFC 7638 thumbprint for asymmetric keys; HMAC
    /// keys have none unless given.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True when the key holds private material (or is an HMAC secret) and can sign.
    pub fn can_sign(&self) -> bool {
        match &self.inner {
            Inner::Hmac(_) => true,
            Inner::Rsa { pair, .. } => pair.is_some(),
            Inner::Ec { pair, .. } => pair.is_some(),
            Inner::Ed { pair, .. } => pair.is_some(),
        }
    }

    /// True for HMAC keys.
    pub fn is_symmetric(&self) -> bool {
        matches!(self.inner, Inner::Hmac(_))
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256) of the public key; `None` for HMAC.
    pub fn thumbprint(&self) -> Option<String> {
        let jwk = self.public_jwk_members()?;
        let canonical = jwk.thumbprint_input();
        Some(b64::encode(
            digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
        ))
    }

    /// The public key as a JWK (with `use`, `alg` and `kid`), for a JWKS. `None` for HMAC
    /// keys: symmetric material is never exported.
    pub fn public_jwk(&self) -> Option<PublicJwk> {
        let mut jwk = self.public_jwk_members()?;
        jwk.alg = Some(self.alg.as_str());
        jwk.use_ = Some("sig");
        jwk.kid = self.kid.clone();
        Some(jwk)
    }

    fn public_jwk_members(&self) -> Option<PublicJwk> {
        Some(match &self.inner {
            Inner::Hmac(_) => return None,
            Inner::Rsa { n, e, .. } => PublicJwk::rsa(b64::encode(n), b64::encode(e)),
            Inner::Ec { point, .. } => {
                let size = (point.len() - 1) / 2;
                PublicJwk::ec(
                    ec_params(self.alg).3,
                    b64::encode(&point[1..1 + size]),
                    b64::encode(&point[1 + size..]),
                )
            }
            Inner::Ed { x, .. } => PublicJwk::okp(b64::encode(x)),
        })
    }

    /// The private key as PKCS#8 PEM (`None` for public and HMAC keys), for storing a
    /// generated key. The string is wiped when dropped.
    pub fn to_pkcs8_pem(&self) -> Option<Zeroizing<String>> {
        let der: Zeroizing<Vec<u8>> = Zeroizing::new(match &self.inner {
            Inner::Rsa { pair: Some(p), .. } => p.as_der().ok()?.as_ref().to_vec(),
            Inner::Ec { pair: Some(p), .. } => p.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Inner::Ed { pair: Some(p), .. } => p.to_pkcs8v1().ok()?.as_ref().to_vec(),
            _ => return None,
        });
        Some(Zeroizing::new(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.to_vec(),
        ))))
    }

    /// The public key as SPKI PEM (`None` for HMAC keys).
    pub fn to_public_pem(&self) -> Option<String> {
        let der = match &self.inner {
            Inner::Hmac(_) => return None,
            Inner::Rsa { n, e, .. } => {
                let pk = aws_lc_rs::rsa::PublicKey::from_der(&rsa_public_der(n, e)).ok()?;
                pk.as_der().ok()?.as_ref().to_vec()
            }
            Inner::Ec { point, .. } => {
                let prefix = if point.len() == 65 {
                    SPKI_P256
                } else {
                    SPKI_P384
                };
                [prefix, point].concat()
            }
            Inner::Ed { x, .. } => [SPKI_ED25519, x].concat(),
        };
        Some(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }

    // ---------------------------------------------------------------- operations

    /// Signs `msg` and appends the base64url signature to `out`.
    pub(crate) fn sign_b64_into(&self, msg: &[u8], out: &mut String) -> Result<(), EncodeError> {
        match &self.inner {
            Inner::Hmac(k) => b64::encode_into(hmac::sign(k, msg).as_ref(), out),
            Inner::Rsa { pair: Some(p), .. } => {
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(rsa_sign_alg(self.alg), &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| EncodeError::Crypto)?;
                b64::encode_into(&sig, out);
            }
            Inner::Ec { pair: Some(p), .. } => {
                let sig = p
                    .sign(&SystemRandom::new(), msg)
                    .map_err(|_| EncodeError::Crypto)?;
                b64::encode_into(sig.as_ref(), out);
            }
            Inner::Ed { pair: Some(p), .. } => b64::encode_into(p.sign(msg).as_ref(), out),
            _ => return Err(EncodeError::NoSigningKey),
        }
        Ok(())
    }

    /// The raw signature primitive: true when `sig` is this key's signature over `msg` (HMAC
    /// compared in constant time; ECDSA only in the fixed `r‖s` form). No JWS rules are
    /// applied; conformance tests use this to run primitive test vectors.
    pub fn verify_signature(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify(msg, sig)
    }

    /// Checks `sig` over `msg` in constant time (HMAC) or with the public key.
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.inner {
            Inner::Hmac(k) => hmac::verify(k, msg, sig).is_ok(),
            Inner::Rsa { public, .. } | Inner::Ec { public, .. } | Inner::Ed { public, .. } => {
                public.verify_sig(msg, sig).is_ok()
            }
        }
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (PKCS#1).
fn rsa_public_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, l: usize) {
        if l < 0x80 {
            out.push(l as u8);
        } else {
            let bytes = l.to_be_bytes();
            let skip = bytes
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(bytes.len() - 1);
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn int(out: &mut Vec<u8>, v: &[u8]) {
        let v = strip_leading_zeros(v);
        let pad = v.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    int(&mut body, n);
    int(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_material() {
        let k = Key::hmac(Algorithm::HS256, &[7u8; 32]).unwrap();
        let s = format!("{k:?}");
        assert!(s.contains("[redacted]"), "{s}");
        assert!(!s.contains("7, 7"), "{s}");
        let e = Key::generate(Algorithm::EdDSA).unwrap();
        assert!(format!("{e:?}").contains("[redacted]"));
    }

    #[test]
    fn weak_secrets_are_refused_with_a_fix() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let err = Key::hmac(alg, &vec![1; min - 1]).unwrap_err();
            assert!(err.to_string().contains("jwtx secret generate"), "{err}");
            Key::hmac(alg, &vec![1; min]).unwrap();
        }
        assert!(Key::hmac(Algorithm::ES256, &[1; 64]).is_err());
    }

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()) {
            let k = Key::generate(alg).unwrap();
            assert!(k.can_sign());
            let pem = k.to_pkcs8_pem().unwrap();
            let back = Key::from_pem(alg, pem.as_bytes()).unwrap();
            assert_eq!(back.kid(), k.kid(), "{alg}");
            let public = Key::from_pem(alg, k.to_public_pem().unwrap().as_bytes()).unwrap();
            assert!(!public.can_sign());
            assert_eq!(public.kid(), k.kid(), "{alg}");
            let mut sig = String::new();
            k.sign_b64_into(b"msg", &mut sig).unwrap();
            let raw = b64::decode(sig.as_bytes()).unwrap();
            assert!(public.verify(b"msg", &raw), "{alg}");
            assert!(!public.verify(b"msh", &raw), "{alg}");
        }
    }

    #[test]
    fn rsa_public_der_matches_the_library() {
        let k = Key::generate(Algorithm::RS256).unwrap();
        let Inner::Rsa {
            n,
            e,
            pair: Some(p),
            ..
        } = &k.inner
        else {
            panic!("not rsa")
        };
        assert_eq!(rsa_public_der(n, e), p.public_key().as_ref());
    }

    #[test]
    fn roca_fingerprint_is_rare_for_honest_keys() {
        for _ in 0..3 {
            let k = Key::generate(Algorithm::PS256).unwrap();
            let Inner::Rsa { n, .. } = &k.inner else {
                panic!("not rsa")
            };
            assert!(!has_roca_fingerprint(n));
        }
    }
}
