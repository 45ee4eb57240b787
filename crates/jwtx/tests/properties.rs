//! Property tests through the public API.
//!
//! (a) Tamper evidence: any single-byte change (and any one-byte deletion or insertion) of a
//!     valid HS256, ES256 or EdDSA token is rejected by [`Codec::verify`].
//! (b) No panics: the token parsers and key loaders never panic on arbitrary strings, nor on
//!     three-segment strings built from base64url of arbitrary JSON-ish bytes (some of them
//!     correctly signed, so the claims layer is reached too).
//!
//! (c) One reading of the claims: `verify::<NoClaims>` (which reads the registered claims
//!     from the members the strict JSON scan listed) and `verify::<Value>` (the serde pass
//!     over the whole payload) agree on every signed payload: the same claims, `sid`, header
//!     and payload, or the same error.
//!
//! (d) The time rules alone: for a token verified at one time, `Validation::still_valid_at`
//!     at another time answers exactly whether a full verification then succeeds (what a
//!     cache of verified tokens relies on), for any `iat`, `nbf`, `exp` and leeway.
//!
//! Each property runs proptest's default 256 cases (well under 10 s in a debug build).
//! Failures are not persisted to files; proptest prints the minimal failing input.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtx::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use jwtx::{Algorithm, Codec, FixedClock, Jwk, Key, KeySet, NoClaims, dangerous};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"property-test secret of 32 bytes";

fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// =========================================================================== tamper evidence

/// A verifying codec and a valid token for one algorithm.
struct Signed {
    verifier: Codec,
    token: String,
}

fn signed(alg: Algorithm) -> &'static Signed {
    static CELLS: [OnceLock<Signed>; 3] = [const { OnceLock::new() }; 3];
    let i = match alg {
        Algorithm::HS256 => 0,
        Algorithm::ES256 => 1,
        _ => 2,
    };
    CELLS[i].get_or_init(|| {
        let clock = Arc::new(FixedClock::new(NOW));
        let (signer, verifier): (Key, KeySet) = if alg == Algorithm::HS256 {
            (
                Key::hmac(alg, SECRET).unwrap(),
                Key::hmac(alg, SECRET).unwrap().into(),
            )
        } else {
            let k = Key::generate(alg).unwrap();
            let public = Key::from_pem(alg, k.to_public_pem().unwrap().as_bytes()).unwrap();
            (k, public.into())
        };
        let issuer = Codec::new(signer).with_clock(clock.clone());
        let token = issuer
            .access_token("alice")
            .fresh(true)
            .sign()
            .unwrap()
            .token;
        let verifier = Codec::new(verifier).with_clock(clock);
        verifier.verify::<NoClaims>(&token).unwrap();
        Signed { verifier, token }
    })
}

/// The mutated bytes as the `&str` a caller could present (lossy where not UTF-8: the
/// replacement character is still a change).
fn as_token(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn check_rejected(alg: Algorithm, mutated: String) -> Result<(), TestCaseError> {
    let s = signed(alg);
    prop_assert_ne!(&mutated, &s.token);
    let result = s.verifier.verify::<NoClaims>(&mutated);
    prop_assert!(
        result.is_err(),
        "{alg}: mutated token verified: {mutated}\n(original {})",
        s.token
    );
    Ok(())
}

fn single_byte_change(
    alg: Algorithm,
    pos: prop::sample::Index,
    delta: u8,
) -> Result<(), TestCaseError> {
    let mut bytes = signed(alg).token.clone().into_bytes();
    let i = pos.index(bytes.len());
    bytes[i] ^= delta; // delta != 0: every other byte value is reachable
    check_rejected(alg, as_token(bytes))
}

fn deletion(alg: Algorithm, pos: prop::sample::Index) -> Result<(), TestCaseError> {
    let mut bytes = signed(alg).token.clone().into_bytes();
    bytes.remove(pos.index(bytes.len()));
    check_rejected(alg, as_token(bytes))
}

fn insertion(alg: Algorithm, pos: prop::sample::Index, byte: u8) -> Result<(), TestCaseError> {
    let mut bytes = signed(alg).token.clone().into_bytes();
    bytes.insert(pos.index(bytes.len() + 1), byte);
    check_rejected(alg, as_token(bytes))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hs256_any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        single_byte_change(Algorithm::HS256, pos, delta)?;
    }

    #[test]
    fn es256_any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        single_byte_change(Algorithm::ES256, pos, delta)?;
    }

    #[test]
    fn eddsa_any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        single_byte_change(Algorithm::EdDSA, pos, delta)?;
    }

    #[test]
    fn any_single_byte_deletion_or_insertion_is_rejected(
        alg in prop::sample::select(vec![Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA]),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        deletion(alg, pos)?;
        insertion(alg, pos, byte)?;
    }
}

/// Every position and a handful of values, exhaustively, for the HS256 token: cheap, and it
/// covers the positions random sampling might miss (the last character of each segment,
/// where trailing bits live).
#[test]
fn hs256_every_position_exhaustively() {
    let token = &signed(Algorithm::HS256).token;
    for i in 0..token.len() {
        for delta in [1u8, 2, 4, 8, 16, 32, 64, 128, 0x7f] {
            let mut bytes = token.clone().into_bytes();
            bytes[i] ^= delta;
            let mutated = as_token(bytes);
            assert!(
                signed(Algorithm::HS256)
                    .verifier
                    .verify::<NoClaims>(&mutated)
                    .is_err(),
                "position {i} ^ {delta:#x}: {mutated}"
            );
        }
    }
}

// =============================================================================== no panics

fn hs_keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| Key::hmac(Algorithm::HS256, SECRET).unwrap().into())
}

fn mixed_asymmetric_keys() -> &'static KeySet {
    static K: OnceLock<KeySet> = OnceLock::new();
    K.get_or_init(|| {
        KeySet::new(vec![
            Key::generate(Algorithm::ES256).unwrap(),
            Key::generate(Algorithm::EdDSA).unwrap().with_kid("ed"),
        ])
        .unwrap()
    })
}

fn hs_codec() -> Codec {
    Codec::new(hs_keys().clone()).with_clock(Arc::new(FixedClock::new(NOW)))
}

/// Runs every token entry point on `token`; any panic fails the property.
fn all_token_entry_points(token: &str) {
    for keys in [hs_keys(), mixed_asymmetric_keys()] {
        let _ = jws::verify(token, keys, DEFAULT_MAX_TOKEN_LEN);
        let _ = jws::verify(token, keys, usize::MAX);
    }
    let codec = hs_codec();
    let _ = codec.verify::<NoClaims>(token);
    let _ = codec.verify::<Value>(token);
    let _ = codec.verify::<std::collections::HashMap<String, Value>>(token);
    let _ = codec.verify_with_keys::<Value>(token, mixed_asymmetric_keys());
    if let Ok(v) = codec.verify::<NoClaims>(token) {
        let _ = v.custom_as::<Value>();
        let _ = v.custom_as::<std::collections::BTreeMap<String, String>>();
        let _ = v.header().to_map();
    }
    let _ = dangerous::verify_allow_expired::<Value>(&codec, token);
    let _ = dangerous::decode_unverified(token, DEFAULT_MAX_TOKEN_LEN);
    let _ = dangerous::decode_unverified(token, usize::MAX);
    let _ = dangerous::unverified_header(token, DEFAULT_MAX_TOKEN_LEN);
}

/// Runs every key entry point on `text`.
fn all_key_entry_points(text: &str) {
    let _ = Jwk::from_json(text).map(|j| {
        let _ = Key::from_jwk(&j);
        for alg in Algorithm::ALL {
            let _ = Key::from_jwk_with_alg(&j, alg);
        }
    });
    let _ = KeySet::from_jwks_json(text);
    for alg in Algorithm::ALL {
        let _ = Key::from_pem(alg, text.as_bytes());
        let _ = Key::from_der(alg, text.as_bytes());
    }
}

/// Names the parsers treat specially, plus a few random ones.
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "alg", "kid", "typ", "b64", "crit", "zip", "jku", "x5u", "jwk", "x5c", "fresh", "iat",
            "jti", "type", "sub", "nbf", "csrf", "aud", "iss", "exp", "\u{0}", "",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,4}",
        any::<String>(),
    ]
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (0u64..=1 << 54).prop_map(Value::from),
        (NOW - 10..NOW + 10).prop_map(Value::from),
    ]
}

/// Arbitrary JSON values, biased towards what the claim and header readers look at.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        prop::sample::select(vec![
            "HS256", "ES256", "EdDSA", "none", "ed", "access", "refresh"
        ])
        .prop_map(|s| Value::String(s.into())),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((member_name(), inner), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object as text, sometimes with hand-made duplicates or byte-level damage.
fn json_object_text() -> impl Strategy<Value = Vec<u8>> {
    let object = || {
        prop::collection::vec((member_name(), json_value()), 0..8).prop_map(|m| {
            Value::Object(m.into_iter().collect())
                .to_string()
                .into_bytes()
        })
    };
    prop_oneof![
        4 => object(),
        // Damaged: a few bytes overwritten.
        2 => (object(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4))
            .prop_map(|(mut text, edits)| {
                for (i, b) in edits {
                    if !text.is_empty() {
                        let i = i.index(text.len());
                        text[i] = b;
                    }
                }
                text
            }),
        // A duplicated member (possibly escaped).
        1 => (object(), member_name(), json_value(), any::<bool>()).prop_map(|(text, name, v, escape)| {
            let mut s = String::from_utf8(text).unwrap();
            s.pop();
            let name_json = serde_json::to_string(&name).unwrap();
            let first = if escape && !name.is_empty() {
                let mut chars = name.chars();
                let c = chars.next().unwrap();
                let mut esc = String::new();
                for unit in c.encode_utf16(&mut [0; 2]) {
                    esc.push_str(&format!("\\u{unit:04x}"));
                }
                let rest = serde_json::to_string(chars.as_str()).unwrap();
                format!("\"{esc}{}", &rest[1..])
            } else {
                name_json.clone()
            };
            let sep = if s.len() > 1 { "," } else { "" };
            format!("{s}{sep}{first}:{v},{name_json}:{v}}}").into_bytes()
        }),
        // JSON-ish characters.
        1 => "[{}\\[\\]\":,a-z0-9.eE+\\\\ -]{0,64}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// A header object likely to pass the header rules (so verification goes further).
fn plausible_header() -> impl Strategy<Value = Vec<u8>> {
    let alg = prop::sample::select(vec!["HS256", "ES256", "EdDSA", "none", "RS256"]);
    let kid = prop::option::of(prop::sample::select(vec!["ed", "nope", ""]));
    let extra = prop::collection::vec((member_name(), json_value()), 0..3);
    (alg, kid, extra).prop_map(|(alg, kid, extra)| {
        let mut m = serde_json::Map::new();
        m.insert("alg".into(), alg.into());
        if let Some(k) = kid {
            m.insert("kid".into(), k.into());
        }
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
        Value::Object(m).to_string().into_bytes()
    })
}

/// A claims object likely to pass the claim rules, with random registered members mixed in.
fn plausible_payload() -> impl Strategy<Value = Vec<u8>> {
    let sub = prop_oneof![3 => "[a-z]{1,8}".prop_map(Value::String), 1 => json_value()];
    let exp = prop_oneof![3 => (NOW - 5..NOW + 5).prop_map(Value::from), 1 => json_value()];
    let extra = prop::collection::vec((member_name(), json_value()), 0..4);
    (sub, exp, extra).prop_map(|(sub, exp, extra)| {
        let mut m = serde_json::Map::new();
        m.insert("sub".into(), sub);
        m.insert("exp".into(), exp);
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
        Value::Object(m).to_string().into_bytes()
    })
}

/// `xxx.yyy.zzz` strings: base64url of JSON-ish header and payload, and a signature that is
/// random, empty, or the correct HS256 signature (so the claims layer runs).
fn three_segments() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just(br#"{"alg":"HS256","typ":"JWT"}"#.to_vec()),
        plausible_header(),
        json_object_text()
    ];
    let sig = prop_oneof![
        Just(None),
        Just(Some(Vec::new())),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(Some),
    ];
    let payload = prop_oneof![json_object_text(), plausible_payload()];
    (header, payload, sig).prop_map(|(h, p, sig)| {
        let input = format!("{}.{}", b64(&h), b64(&p));
        let sig = match sig {
            Some(s) => b64(&s),
            None => b64(
                hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes()).as_ref(),
            ),
        };
        format!("{input}.{sig}")
    })
}

/// Payload text for the two claim readers to agree on: plausible claims with `sid`, spread
/// over lines, with an escaped registered name, with more members than the scan lists, with
/// dates beyond `f64`, or any object text the other properties use.
fn claims_payload_text() -> impl Strategy<Value = Vec<u8>> {
    let with_sid = || {
        let sid = prop_oneof!["[a-z0-9-]{0,12}".prop_map(Value::String), json_value()];
        (plausible_payload(), prop::option::of(sid)).prop_map(|(text, sid)| {
            let mut m: serde_json::Map<String, Value> = serde_json::from_slice(&text).unwrap();
            if let Some(sid) = sid {
                m.insert("sid".into(), sid);
            }
            m.insert("iat".into(), (NOW - 1).into());
            m.insert("jti".into(), "j".into());
            m
        })
    };
    let object = || with_sid().prop_map(|m| Value::Object(m).to_string());
    prop_oneof![
        3 => object().prop_map(String::into_bytes),
        // Pretty-printed: whitespace and newlines around every name and value.
        1 => with_sid().prop_map(|m| serde_json::to_vec_pretty(&Value::Object(m)).unwrap()),
        // A registered name written with an escape.
        1 => (object(), prop::sample::select(vec!["sub", "exp", "jti", "sid", "type"]))
            .prop_map(|(text, name)| {
                let escaped = format!("\"\\u{:04x}{}\"", name.as_bytes()[0], &name[1..]);
                text.replacen(&format!("\"{name}\""), &escaped, 1).into_bytes()
            }),
        // Past the number of members the scan lists.
        1 => (object(), 8usize..20).prop_map(|(text, n)| {
            let extra: String = (0..n).map(|i| format!(",\"m{i}\":{i}")).collect();
            format!("{}{extra}}}", &text[..text.len() - 1]).into_bytes()
        }),
        // A top-level date beyond f64 (reported after the signature, as the wrong type).
        1 => (object(), prop::sample::select(vec!["exp", "iat", "nbf"]), any::<bool>())
            .prop_map(|(text, name, at_end): (String, &str, bool)| {
                let mut m: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
                m.remove(name);
                let body = Value::Object(m).to_string();
                let inner = &body[1..body.len() - 1];
                let sep = if inner.is_empty() { "" } else { "," };
                if at_end {
                    format!("{{{inner}{sep}\"{name}\":-1E400}}").into_bytes()
                } else {
                    format!("{{\"{name}\": 1e999 {sep}{inner}}}").into_bytes()
                }
            }),
        1 => json_object_text(),
    ]
}

fn hs256_token(payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(payload)
    );
    let sig = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    format!("{input}.{}", b64(sig.as_ref()))
}

/// Verifies a token with these dates at the earliest time it passes (if any in the next 300
/// s), then compares `still_valid_at` with a full verification `later` seconds after that.
fn still_valid_at_agrees(
    iat: Option<u64>,
    nbf: Option<u64>,
    exp: Option<u64>,
    leeway: u64,
    later: u64,
) -> Result<(), TestCaseError> {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "alice".into());
    for (name, date) in [("iat", iat), ("nbf", nbf), ("exp", exp)] {
        if let Some(d) = date {
            claims.insert(name.into(), d.into());
        }
    }
    let token = hs256_token(&serde_json::to_vec(&claims).unwrap());
    let clock = Arc::new(FixedClock::new(NOW - 100));
    let validation = jwtx::Validation::new()
        .leeway(std::time::Duration::from_secs(leeway))
        .dangerous_allow_missing_exp();
    let codec = Codec::new(hs_keys().clone())
        .with_clock(clock.clone())
        .with_validation(validation);
    let first = (0..300).find_map(|t| {
        clock.set(NOW - 100 + t);
        codec.verify::<NoClaims>(&token).ok().map(|v| (t, v))
    });
    // A token valid at no time in the window has nothing to compare: the case is rejected
    // (as `prop_assume!` does) and proptest generates another in its place, so each of the
    // cases it counts checks a verified token; if almost none verified, the test fails with
    // "too many global rejects" rather than passing empty.
    let Some((t, verified)) = first else {
        return Err(TestCaseError::reject("valid at no time in the next 300 s"));
    };
    let then = NOW - 100 + t + later;
    clock.set(then);
    prop_assert_eq!(
        codec.validation().still_valid_at(verified.claims(), then),
        codec.verify::<NoClaims>(&token).is_ok(),
        "verified at {}, asked at {}",
        NOW - 100 + t,
        then
    );
    Ok(())
}

/// Both claim readers on `token`, with and without the expiry check.
fn claim_readers_agree(token: &str) -> Result<(), TestCaseError> {
    let codec = hs_codec();
    let pairs = [
        (
            codec.verify::<NoClaims>(token),
            codec.verify::<Value>(token),
        ),
        (
            dangerous::verify_allow_expired::<NoClaims>(&codec, token),
            dangerous::verify_allow_expired::<Value>(&codec, token),
        ),
    ];
    for (members, serde_pass) in pairs {
        match (members, serde_pass) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.claims(), b.claims());
                prop_assert_eq!(a.sid(), b.sid());
                prop_assert_eq!(a.header(), b.header());
                prop_assert_eq!(a.payload_json(), b.payload_json());
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.reason(), b.reason());
                prop_assert_eq!(a.to_string(), b.to_string());
            }
            (a, b) => prop_assert!(false, "members path {:?}, serde pass {:?}", a, b),
        }
    }
    Ok(())
}

/// JWK-shaped objects with random members, encoded as JSON text (also as a JWKS).
fn jwk_text() -> impl Strategy<Value = String> {
    let kty = prop::sample::select(vec!["EC", "RSA", "oct", "OKP", "ec", ""]);
    let crv = prop::option::of(prop::sample::select(vec![
        "P-256", "P-384", "P-521", "Ed25519", "X25519",
    ]));
    let alg = prop::option::of(prop::sample::select(vec![
        "HS256", "HS384", "HS512", "RS256", "PS384", "ES256", "ES384", "ES512", "EdDSA", "none",
    ]));
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..70),
        prop::collection::vec(any::<u8>(), 256..=257),
        Just(vec![1, 0, 1]),
    ];
    let members = prop::collection::vec(
        (
            prop::sample::select(vec![
                "x", "y", "n", "e", "d", "p", "q", "dp", "dq", "qi", "k",
            ]),
            bytes,
        ),
        0..8,
    );
    let extra = prop::collection::vec((member_name(), json_value()), 0..2);
    (kty, crv, alg, members, extra, any::<bool>(), any::<bool>()).prop_map(
        |(kty, crv, alg, members, extra, as_set, use_enc)| {
            let mut m = serde_json::Map::new();
            m.insert("kty".into(), kty.into());
            if let Some(c) = crv {
                m.insert("crv".into(), c.into());
            }
            if let Some(a) = alg {
                m.insert("alg".into(), a.into());
            }
            if use_enc {
                m.insert("use".into(), "enc".into());
            }
            for (name, b) in members {
                m.insert(name.into(), b64(&b).into());
            }
            for (k, v) in extra {
                m.entry(k).or_insert(v);
            }
            let jwk = Value::Object(m);
            if as_set {
                serde_json::json!({ "keys": [jwk] }).to_string()
            } else {
                jwk.to_string()
            }
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn token_entry_points_never_panic_on_arbitrary_strings(s in any::<String>()) {
        all_token_entry_points(&s);
    }

    #[test]
    fn token_entry_points_never_panic_on_dotted_strings(s in "[A-Za-z0-9_=+/ .-]{0,200}") {
        all_token_entry_points(&s);
    }

    #[test]
    fn token_entry_points_never_panic_on_base64url_json_segments(t in three_segments()) {
        all_token_entry_points(&t);
    }

    #[test]
    fn claim_readers_agree_on_signed_payloads(p in claims_payload_text()) {
        claim_readers_agree(&hs256_token(&p))?;
    }

    #[test]
    fn still_valid_at_is_the_time_part_of_verify(
        iat in prop::option::of(NOW - 100..NOW + 100),
        nbf in prop::option::of(NOW - 100..NOW + 100),
        exp in prop::option::of(NOW - 100..NOW + 200),
        leeway in prop::sample::select(vec![0u64, 1, 30]),
        later in 0u64..300,
    ) {
        still_valid_at_agrees(iat, nbf, exp, leeway, later)?;
    }

    #[test]
    fn key_entry_points_never_panic_on_arbitrary_strings(s in any::<String>()) {
        all_key_entry_points(&s);
    }

    #[test]
    fn key_entry_points_never_panic_on_jwk_shaped_json(s in jwk_text()) {
        all_key_entry_points(&s);
    }

    #[test]
    fn key_entry_points_never_panic_on_pem_armour(
        label in prop::sample::select(vec!["PUBLIC KEY", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "RSA PUBLIC KEY"]),
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let pem = format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(&body)
        );
        all_key_entry_points(&pem);
        for alg in Algorithm::ALL {
            let _ = Key::from_der(alg, &body);
        }
    }
}

/// The generator is only worth something if it gets past the parser: sample it and check that
/// a fair share of its tokens reach the header rules, the signature check and the claims.
#[test]
fn three_segment_generator_reaches_every_layer() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = three_segments();
    let codec = hs_codec();
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..500 {
        let t = strategy.new_tree(&mut runner).unwrap().current();
        let reason = match codec.verify::<Value>(&t) {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        *reasons.entry(reason).or_default() += 1;
    }
    eprintln!("{reasons:?}");
    for layer in [
        "ok",
        "expired",
        "bad_json",
        "bad_algorithm",
        "bad_header",
        "bad_signature",
        "bad_claims",
        "missing_claim",
    ] {
        assert!(
            reasons.get(layer).copied().unwrap_or(0) >= 2,
            "{layer}: {reasons:?}"
        );
    }
}
