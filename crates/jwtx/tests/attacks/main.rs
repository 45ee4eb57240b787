//! Known JWT attacks, each as a named test asserting the exact [`jwtx::Error`] variant (and the
//! flask-jwt-extended message where that library has a fixed text), through the public API.
//!
//! Hostile tokens are built by hand: hand-written JSON, base64url-encoded, signed with
//! aws-lc-rs directly (so a header jwtx would never emit still carries a genuine signature),
//! or with [`jws::sign`] when the header must be jwtx's own.
//!
//! One module per kind of attack (`alg_none`, `confusion`, `signature`, `kid`,
//! `header_params`, `base64url`, `duplicates`, `claims`, `shape`), each saying what it covers;
//! this file holds what they share: secrets, fixture keys for every algorithm, base64url and
//! hand-made (forged) tokens, and raw signers.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwtx::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use jwtx::{
    Algorithm, Codec, Error, FixedClock, ForbiddenHeader, Key, KeyError, KeySet, NoClaims, Segment,
    TimeClaim, TokenKind, TokenType, Validation,
};

mod alg_none;
mod base64url;
mod claims;
mod confusion;
mod duplicates;
mod header_params;
mod kid;
mod shape;
mod signature;

// =============================================================================== fixtures

const SECRET: &[u8] = b"attack-suite secret, 32 bytes!!!";
const OTHER_SECRET: &[u8] = b"another secret of 32 bytes, too!";
const NOW: u64 = 1_700_000_000;
const HS_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// P-256 group order n.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Valid registered claims at [`NOW`].
fn claims() -> String {
    format!(
        r#"{{"sub":"alice","iat":{NOW},"nbf":{NOW},"jti":"j1","exp":{}}}"#,
        NOW + 900
    )
}

fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

/// HMAC over `input` with any secret (also ones jwtx would refuse), base64url.
fn hmac_b64(alg: Algorithm, secret: &[u8], input: &[u8]) -> String {
    b64(hmac::sign(&hmac::Key::new(hmac_alg(alg), secret), input).as_ref())
}

/// A compact token from raw header and payload bytes, HMAC-signed with `secret`.
fn forge_with(alg: Algorithm, header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = hmac_b64(alg, secret, input.as_bytes());
    format!("{input}.{sig}")
}

/// An HS256 token with this header and payload text, signed with [`SECRET`].
fn hs(header: &str, payload: &str) -> String {
    forge_with(
        Algorithm::HS256,
        header.as_bytes(),
        payload.as_bytes(),
        SECRET,
    )
}

fn hs_key() -> Key {
    Key::hmac(Algorithm::HS256, SECRET).unwrap()
}

fn hs_set() -> KeySet {
    hs_key().into()
}

fn jws_err(token: &str, keys: &KeySet) -> Error {
    jws::verify(token, keys, DEFAULT_MAX_TOKEN_LEN)
        .map(|_| ())
        .unwrap_err()
}

fn jws_ok(token: &str, keys: &KeySet) {
    if let Err(e) = jws::verify(token, keys, DEFAULT_MAX_TOKEN_LEN) {
        panic!("expected {token} to verify, got {e:?}");
    }
}

fn codec() -> Codec {
    Codec::new(hs_key()).with_clock(Arc::new(FixedClock::new(NOW)))
}

/// Verifies an HS256 token with this payload through [`Codec::verify`].
fn claims_result(payload: &str) -> Result<jwtx::Verified<NoClaims>, Error> {
    codec().verify::<NoClaims>(&hs(HS_HEADER, payload))
}

fn claims_err(payload: &str) -> Error {
    claims_result(payload).unwrap_err()
}

fn parts(token: &str) -> [String; 3] {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3, "{token}");
    [v[0].to_owned(), v[1].to_owned(), v[2].to_owned()]
}

/// A signing key and a verifier holding only its public half (HMAC: the same secret).
struct Fixture {
    signer: Key,
    verifier: KeySet,
    public_pem: Option<String>,
}

impl Fixture {
    fn new(alg: Algorithm) -> Fixture {
        if alg.is_symmetric() {
            return Fixture {
                signer: hs_key(),
                verifier: hs_set(),
                public_pem: None,
            };
        }
        let signer = Key::generate(alg).unwrap();
        let pem = signer.to_public_pem().unwrap();
        let public = Key::from_pem(alg, pem.as_bytes()).unwrap();
        assert!(!public.can_sign());
        Fixture {
            signer,
            verifier: public.into(),
            public_pem: Some(pem),
        }
    }

    fn public_key(&self) -> &Key {
        &self.verifier.keys()[0]
    }

    /// A jwtx-signed token (jwtx's own header) with this payload.
    fn token(&self, payload: &str) -> String {
        jws::sign(&self.signer, payload.as_bytes(), None).unwrap()
    }
}

fn fixture(alg: Algorithm) -> &'static Fixture {
    static CELLS: [OnceLock<Fixture>; 5] = [const { OnceLock::new() }; 5];
    let i = match alg {
        Algorithm::HS256 => 0,
        Algorithm::RS256 => 1,
        Algorithm::PS256 => 2,
        Algorithm::ES256 => 3,
        Algorithm::EdDSA => 4,
        other => panic!("no fixture for {other}"),
    };
    CELLS[i].get_or_init(|| Fixture::new(alg))
}

const SIGNATURE_ALGS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The DER inside a PEM block.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    STANDARD.decode(body.trim()).unwrap()
}

/// ES256 signature (r‖s) over arbitrary input with a jwtx private key, via aws-lc-rs.
fn es256_sign(key: &Key, input: &[u8]) -> Vec<u8> {
    let der = pem_der(&key.to_pkcs8_pem().unwrap());
    let pair = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap();
    pair.sign(&SystemRandom::new(), input)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Ed25519 signature over arbitrary input with a jwtx private key, via aws-lc-rs.
fn ed25519_sign(key: &Key, input: &[u8]) -> Vec<u8> {
    let der = pem_der(&key.to_pkcs8_pem().unwrap());
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
    pair.sign(input).as_ref().to_vec()
}

/// A signature over arbitrary input with a jwtx private key of any fixture algorithm.
fn sign_raw(key: &Key, input: &[u8]) -> Vec<u8> {
    match key.algorithm() {
        Algorithm::ES256 => es256_sign(key, input),
        Algorithm::EdDSA => ed25519_sign(key, input),
        alg @ (Algorithm::RS256 | Algorithm::PS256) => {
            let der = pem_der(&key.to_pkcs8_pem().unwrap());
            let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
            let mut out = vec![0; pair.public_modulus_len()];
            let padding: &dyn sig::RsaEncoding = if alg == Algorithm::RS256 {
                &sig::RSA_PKCS1_SHA256
            } else {
                &sig::RSA_PSS_SHA256
            };
            pair.sign(padding, &SystemRandom::new(), input, &mut out)
                .unwrap();
            out
        }
        other => panic!("no raw signer for {other}"),
    }
}

/// A token with a hand-written header, signed by `key` over exactly what is sent.
fn signed(key: &Key, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = sign_raw(key, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// A public-only copy of a key (through its PEM), keeping its kid.
fn public_copy(key: &Key) -> Key {
    let k = Key::from_pem(key.algorithm(), key.to_public_pem().unwrap().as_bytes()).unwrap();
    match key.kid() {
        Some(kid) => k.with_kid(kid),
        None => k,
    }
}

/// DER `INTEGER` of a big-endian unsigned value.
fn der_int(v: &[u8]) -> Vec<u8> {
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
    let v = &v[first..];
    let mut out = vec![0x02];
    let pad = v[0] & 0x80 != 0;
    out.push((v.len() + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
    out
}

/// `r‖s` → DER `ECDSA-Sig-Value`.
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [der_int(r), der_int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The same segment with one non-zero trailing bit set in its last character (decoders that
/// ignore trailing bits read the same bytes). `None` when the segment has no trailing bits.
fn with_trailing_bit(seg: &str) -> Option<String> {
    if !matches!(seg.len() % 4, 2 | 3) {
        return None;
    }
    let last = *seg.as_bytes().last().unwrap();
    let idx = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(idx & 1, 0, "canonical encodings have zero trailing bits");
    let mut s = seg[..seg.len() - 1].to_owned();
    s.push(char::from(ALPHABET[idx | 1]));
    // A lenient decoder reads the same bytes.
    assert_eq!(
        base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        )
        .decode(&s)
        .unwrap(),
        unb64(seg)
    );
    Some(s)
}
