//! Interoperability with PyJWT, flask-jwt-extended and the `jsonwebtoken` crate.
//!
//! * PyJWT and flask-jwt-extended run in one Python process per test binary
//!   (`tests/oracle/pyjwt_oracle.py`, driven by `tests/oracle/mod.rs` over the shared client
//!   `jwtx_test::oracle`); the venv is created by `.ci/python-env` from the test itself, so
//!   `cargo test --workspace` works on a fresh clone.
//!   Without Python the tests fail (they are never skipped) and say what to install.
//! * Every algorithm is exercised both ways: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384
//!   PS512 ES256 ES384 EdDSA. HMAC keys are one 64-byte secret string; RSA keys share one
//!   generated 2048-bit key pair (generation is slow in debug builds), loaded per algorithm from
//!   its PKCS#8 PEM; EC and Ed25519 keys are generated once per algorithm.
//! * flask-jwt-extended ↔ jwtx: access / refresh / fresh / fresh-window / non-expiring tokens,
//!   iss / aud / custom headers, claim names, JSON types and order, and the client-facing
//!   error message of each claim failure (jwtx promises flask-jwt-extended's text).
//! * Where jwtx is deliberately stricter than PyJWT / flask-jwt-extended (padded base64url,
//!   duplicate member names, non-UTF-8 JSON, deep nesting, lenient NumericDates, the 8 KiB
//!   cap, …), both facts are asserted in a `difference_*` test so the difference stays
//!   recorded and a change on either side is noticed.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod oracle;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jwtx::{
    Algorithm, Audience, Codec, Error, Family, FixedClock, Fresh, Issued, Jwk, Key, KeySet,
    NoClaims, Segment, TokenKind, TokenType, Validation,
};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ------------------------------------------------------------------------------ fixtures

/// The shared secret: 64 bytes, enough for HS512 (and for PyJWT not to warn).
const SECRET: &str = "jwtx-interop-shared-secret/0123456789/abcdefghijklmnopqrstuvwxyz";

/// Access and refresh lifetimes of both jwtx and flask-jwt-extended by default.
const ACCESS_TTL: u64 = 15 * 60;
const REFRESH_TTL: u64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Roles {
    roles: Vec<String>,
}

fn roles() -> Roles {
    Roles {
        roles: vec!["admin".into(), "user".into()],
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One RSA key pair for every RS*/PS* algorithm, as PKCS#8 PEM.
fn rsa_pkcs8_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        Key::generate(Algorithm::RS256)
            .unwrap()
            .to_pkcs8_pem()
            .unwrap()
            .as_str()
            .to_owned()
    })
}

/// The signing key for `alg` (generated once), as a one-key set.
fn keys(alg: Algorithm) -> &'static KeySet {
    static KEYS: [OnceLock<KeySet>; 12] = [const { OnceLock::new() }; 12];
    let i = Algorithm::ALL.iter().position(|a| *a == alg).unwrap();
    KEYS[i].get_or_init(|| {
        let key = match alg.family() {
            Family::Hmac => Key::hmac(alg, SECRET.as_bytes()),
            Family::RsaPkcs1 | Family::RsaPss => Key::from_pem(alg, rsa_pkcs8_pem().as_bytes()),
            _ => Key::generate(alg),
        };
        key.unwrap_or_else(|e| panic!("{alg} key: {e}")).into()
    })
}

fn key(alg: Algorithm) -> &'static Key {
    keys(alg).signer().unwrap()
}

fn codec(alg: Algorithm) -> Codec {
    Codec::new(keys(alg).clone())
}

fn private_pem(alg: Algorithm) -> String {
    key(alg).to_pkcs8_pem().unwrap().as_str().to_owned()
}

fn public_pem(alg: Algorithm) -> String {
    key(alg).to_public_pem().unwrap()
}

fn public_jwk(alg: Algorithm) -> Value {
    serde_json::to_value(key(alg).public_jwk().unwrap()).unwrap()
}

/// The key the oracle signs with.
fn oracle_signing_key(alg: Algorithm) -> Value {
    if alg.is_symmetric() {
        json!({ "secret": SECRET })
    } else {
        json!({ "pem": private_pem(alg) })
    }
}

/// Every way the oracle is given the verifying key: (label, KEY).
fn oracle_verifying_keys(alg: Algorithm) -> Vec<(&'static str, Value)> {
    if alg.is_symmetric() {
        vec![
            ("secret", json!({ "secret": SECRET })),
            (
                "secret_b64url",
                json!({ "secret_b64url": URL_SAFE_NO_PAD.encode(SECRET) }),
            ),
        ]
    } else {
        vec![
            ("public PEM", json!({ "pem": public_pem(alg) })),
            ("public JWK", json!({ "jwk": public_jwk(alg) })),
        ]
    }
}

/// Every way jwtx is given the verifying key: (label, key set).
fn jwtx_verifying_keys(alg: Algorithm) -> Vec<(&'static str, KeySet)> {
    if alg.is_symmetric() {
        vec![("secret", Key::hmac(alg, SECRET.as_bytes()).unwrap().into())]
    } else {
        let jwk = Jwk::from_json(&public_jwk(alg).to_string()).unwrap();
        vec![
            (
                "public PEM",
                Key::from_pem(alg, public_pem(alg).as_bytes())
                    .unwrap()
                    .into(),
            ),
            ("public JWK", Key::from_jwk(&jwk).unwrap().into()),
        ]
    }
}

/// The header jwtx writes for `alg`'s key, as JSON.
fn jwtx_header(alg: Algorithm) -> Value {
    let mut h = json!({ "alg": alg.as_str(), "typ": "JWT" });
    if let Some(kid) = key(alg).kid() {
        h["kid"] = kid.into();
    }
    h
}

/// The claims an issued token carries: its registered claims plus `extra`.
fn issued_claims(issued: &Issued, extra: &Value) -> Value {
    let mut v = serde_json::to_value(&issued.claims).unwrap();
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

fn is_uuid4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => b"89ab".contains(c),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// The oracle's error text without its exception class.
fn py_message(err: &str) -> &str {
    err.split_once(": ").map_or(err, |(_, m)| m)
}

// ------------------------------------------------------------------------------ raw JSON

/// A JSON object's members in text order, duplicates kept (serde_json's `Map` would sort and
/// deduplicate them).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// The decoded bytes of segment `i` of a compact token.
fn segment(token: &str, i: usize) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(token.split('.').nth(i).unwrap())
        .unwrap()
}

fn payload_members(token: &str) -> Vec<(String, Value)> {
    serde_json::from_slice::<Members>(&segment(token, 1))
        .unwrap()
        .0
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A token's payload as (name, JSON type) in text order.
fn shape(token: &str) -> Vec<(String, &'static str)> {
    payload_members(token)
        .into_iter()
        .map(|(k, v)| (k, json_type(&v)))
        .collect()
}

// ------------------------------------------------------------------------------ oracle

fn py_sign(alg: Algorithm, claims: &Value, headers: Option<Value>) -> String {
    let mut req = json!({
        "op": "sign", "alg": alg.as_str(), "key": oracle_signing_key(alg), "claims": claims,
    });
    if let Some(h) = headers {
        req["headers"] = h;
    }
    let reply = oracle::ok(&req);
    assert!(reply.get("warnings").is_none(), "{alg}: {reply}");
    reply["token"].as_str().unwrap().to_owned()
}

/// PyJWT `jwt.decode` with the HS256 secret.
fn py_verify_hs256(token: &str) -> Value {
    oracle::call(&json!({
        "op": "verify", "alg": "HS256", "key": { "secret": SECRET }, "token": token,
    }))
}

fn fje_create(kind: &str, fresh: Value, extra: Value) -> String {
    let mut req = json!({
        "op": "fje_create", "secret": SECRET, "identity": "alice", "kind": kind, "fresh": fresh,
    });
    req.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    oracle::ok(&req)["token"].as_str().unwrap().to_owned()
}

fn fje_decode(token: &str, extra: Value) -> Value {
    let mut req = json!({ "op": "fje_decode", "secret": SECRET, "token": token });
    req.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    oracle::call(&req)
}

fn hs256_codec() -> Codec {
    codec(Algorithm::HS256)
}

// ------------------------------------------------------------------------------ 0. oracle

#[test]
fn oracle_runs_the_flask_jwt_extended_jwtx_targets() {
    assert_eq!(SECRET.len(), 64);
    let versions = &oracle::ok(&json!({ "op": "ping" }))["versions"];
    // jwtx's error messages and claim layout are those of flask-jwt-extended 4.7.4.
    assert_eq!(versions["flask_jwt_extended"], "4.7.4", "{versions}");
    assert!(
        versions["pyjwt"].as_str().unwrap().starts_with("2."),
        "{versions}"
    );
}

// ------------------------------------------------------------------------------ 1. jwtx → PyJWT

#[test]
fn jwtx_tokens_verify_in_pyjwt_every_algorithm() {
    for alg in Algorithm::ALL {
        let codec = codec(alg);
        let extra = serde_json::to_value(roles()).unwrap();
        let access = codec
            .access_token("alice")
            .fresh(true)
            .claims(roles())
            .sign()
            .unwrap();
        let refresh = codec.refresh_token("alice").claims(roles()).sign().unwrap();
        let windowed = codec
            .access_token("bob")
            .fresh_for(Duration::from_secs(300))
            .sign()
            .unwrap();
        let iat = access.claims.iat.unwrap();
        for (label, key) in oracle_verifying_keys(alg) {
            for (issued, extra) in [
                (&access, &extra),
                (&refresh, &extra),
                (&windowed, &json!({})),
            ] {
                let reply = oracle::ok(&json!({
                    "op": "verify", "alg": alg.as_str(), "key": key, "token": issued.token,
                    "options": { "require": ["exp", "iat", "nbf", "sub", "jti"] },
                }));
                let ctx = format!("{alg} / {label} / {:?}", issued.claims.token_type);
                assert!(reply.get("warnings").is_none(), "{ctx}: {reply}");
                assert_eq!(reply["header"], jwtx_header(alg), "{ctx}");
                let claims = &reply["claims"];
                assert_eq!(*claims, issued_claims(issued, extra), "{ctx}");
                assert_eq!(claims["jti"], issued.jti(), "{ctx}");
                assert_eq!(claims["csrf"], issued.csrf().unwrap(), "{ctx}");
                assert_ne!(claims["jti"], claims["csrf"], "{ctx}");
                assert_eq!(claims["nbf"], claims["iat"], "{ctx}");
            }
        }
        // The named claims, spelled out once per algorithm.
        let reply = oracle::ok(&json!({
            "op": "verify", "alg": alg.as_str(), "key": oracle_verifying_keys(alg)[0].1,
            "token": access.token,
        }));
        let c = &reply["claims"];
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["type"], "access");
        assert_eq!(c["fresh"], true);
        assert!(is_uuid4(c["jti"].as_str().unwrap()), "{c}");
        assert!(is_uuid4(c["csrf"].as_str().unwrap()), "{c}");
        assert_eq!(c["exp"], iat + ACCESS_TTL);
        assert_eq!(c["roles"], json!(["admin", "user"]));
        let reply = oracle::ok(&json!({
            "op": "verify", "alg": alg.as_str(), "key": oracle_verifying_keys(alg)[0].1,
            "token": refresh.token,
        }));
        assert_eq!(reply["claims"]["type"], "refresh");
        assert_eq!(reply["claims"]["fresh"], false);
        assert_eq!(
            reply["claims"]["exp"],
            refresh.claims.iat.unwrap() + REFRESH_TTL
        );
    }
}

#[test]
fn pyjwt_rejects_jwtx_tokens_under_another_key() {
    // Control for the test above: PyJWT really checks the signature of jwtx tokens.
    for (alg, other) in [
        (Algorithm::HS256, json!({ "secret": "x".repeat(64) })),
        (
            Algorithm::ES256,
            json!({ "jwk": {
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" } }),
        ),
        (
            Algorithm::EdDSA,
            json!({ "pem": public_pem_of_new(Algorithm::EdDSA) }),
        ),
    ] {
        let token = codec(alg).access_token("alice").sign().unwrap().token;
        let err = oracle::err(&json!({
            "op": "verify", "alg": alg.as_str(), "key": other, "token": token,
        }));
        assert_eq!(
            err, "InvalidSignatureError: Signature verification failed",
            "{alg}"
        );
    }
}

fn public_pem_of_new(alg: Algorithm) -> String {
    Key::generate(alg).unwrap().to_public_pem().unwrap()
}

// ------------------------------------------------------------------------------ 2. PyJWT → jwtx

#[test]
fn pyjwt_tokens_verify_in_jwtx_every_algorithm() {
    for alg in Algorithm::ALL {
        let now = now();
        // Minimal claims, and PyJWT's header with and without `typ`.
        let minimal = json!({ "sub": "carol", "exp": now + 600 });
        let with_typ = py_sign(alg, &minimal, None);
        let without_typ = py_sign(alg, &minimal, Some(json!({ "typ": null })));
        assert_eq!(
            serde_json::from_slice::<Value>(&segment(&without_typ, 0)).unwrap(),
            json!({ "alg": alg.as_str() })
        );
        // flask-jwt-extended-shaped claims, in its order.
        let (jti, csrf) = (jwtx::uuid4(), jwtx::uuid4());
        let shaped = json!({
            "fresh": true, "iat": now, "jti": jti, "type": "access", "sub": "carol",
            "nbf": now, "csrf": csrf, "exp": now + 600, "roles": ["admin", "user"],
        });
        let shaped_token = py_sign(alg, &shaped, None);

        for (label, keys) in jwtx_verifying_keys(alg) {
            let ctx = format!("{alg} / {label}");
            let codec = Codec::new(keys);
            for token in [&with_typ, &without_typ] {
                let v = codec
                    .verify::<NoClaims>(token)
                    .unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
                assert_eq!(v.sub(), "carol", "{ctx}");
                assert_eq!(v.claims().exp, Some(now + 600), "{ctx}");
                assert_eq!(
                    *v.token_type(),
                    TokenType::Access,
                    "{ctx}: missing type = access"
                );
                assert_eq!(
                    v.claims().fresh,
                    Fresh::No,
                    "{ctx}: missing fresh = not fresh"
                );
                assert_eq!(v.jti(), None, "{ctx}");
                assert_eq!(v.header().alg(), alg, "{ctx}");
                assert_eq!(v.header().kid(), None, "{ctx}");
            }
            assert_eq!(
                codec.verify::<NoClaims>(&with_typ).unwrap().header().typ(),
                Some("JWT")
            );
            assert_eq!(
                codec
                    .verify::<NoClaims>(&without_typ)
                    .unwrap()
                    .header()
                    .typ(),
                None
            );

            let v = codec
                .verify::<Roles>(&shaped_token)
                .unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
            let c = v.claims();
            assert_eq!(c.fresh, Fresh::Yes, "{ctx}");
            assert_eq!(c.iat, Some(now), "{ctx}");
            assert_eq!(c.jti.as_deref(), Some(jti.as_str()), "{ctx}");
            assert_eq!(c.token_type, TokenType::Access, "{ctx}");
            assert_eq!(c.sub, "carol", "{ctx}");
            assert_eq!(c.nbf, Some(now), "{ctx}");
            assert_eq!(c.csrf.as_deref(), Some(csrf.as_str()), "{ctx}");
            assert_eq!(c.exp, Some(now + 600), "{ctx}");
            assert_eq!(c.aud, None, "{ctx}");
            assert_eq!(c.iss, None, "{ctx}");
            assert_eq!(*v.custom(), roles(), "{ctx}");
            v.require(TokenKind::Access).unwrap();
            v.require_fresh(now).unwrap();
            // Re-serialized, jwtx's view of the claims is exactly what PyJWT signed.
            let mut back = serde_json::to_value(c).unwrap();
            back["roles"] = json!(["admin", "user"]);
            assert_eq!(back, shaped, "{ctx}");
        }
    }
}

#[test]
fn pyjwt_kid_selects_among_jwtx_keys() {
    for alg in Algorithm::ALL {
        let now = now();
        let claims = json!({ "sub": "carol", "exp": now + 600 });
        let (keys, kid) = if alg.is_symmetric() {
            let other = Key::hmac(alg, "o".repeat(64).as_bytes()).unwrap();
            let this = Key::hmac(alg, SECRET.as_bytes()).unwrap();
            let set = KeySet::new(vec![other.with_kid("old"), this.with_kid("current")]).unwrap();
            (set, "current".to_owned())
        } else {
            // A JWKS with this key and one of another algorithm (so another kid).
            let decoy = if alg == Algorithm::ES256 {
                Algorithm::ES384
            } else {
                Algorithm::ES256
            };
            let jwks = json!({ "keys": [public_jwk(decoy), public_jwk(alg)] });
            let set = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
            (set, key(alg).kid().unwrap().to_owned())
        };
        let codec = Codec::new(keys);
        let token = py_sign(alg, &claims, Some(json!({ "kid": kid })));
        let v = codec
            .verify::<NoClaims>(&token)
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(v.header().kid(), Some(kid.as_str()), "{alg}");
        // Without a kid, a set of several keys chooses none.
        let token = py_sign(alg, &claims, None);
        assert_eq!(
            codec.verify::<NoClaims>(&token).unwrap_err(),
            Error::UnknownKey { kid: None },
            "{alg}"
        );
        // A kid naming no configured key.
        let token = py_sign(alg, &claims, Some(json!({ "kid": "nope" })));
        assert_eq!(
            codec.verify::<NoClaims>(&token).unwrap_err(),
            Error::UnknownKey {
                kid: Some("nope".into())
            },
            "{alg}"
        );
    }
}

// ------------------------------------------------------------------------------ 3. FJE ↔ jwtx

#[test]
fn fje_access_tokens_verify_in_jwtx() {
    let codec = hs256_codec();
    let roles_claim = json!({ "additional_claims": { "roles": ["admin", "user"] } });

    // fresh=True, with additional claims.
    let token = fje_create("access", json!(true), roles_claim.clone());
    let v = codec.verify::<Roles>(&token).unwrap();
    let c = v.claims();
    let iat = c.iat.unwrap();
    assert!(iat <= now() && iat + 5 >= now(), "iat {iat}");
    assert_eq!(c.fresh, Fresh::Yes);
    assert_eq!(c.token_type, TokenType::Access);
    assert_eq!(c.sub, "alice");
    assert_eq!(c.nbf, Some(iat));
    assert_eq!(c.exp, Some(iat + ACCESS_TTL));
    assert!(is_uuid4(c.jti.as_deref().unwrap()), "{c:?}");
    assert!(is_uuid4(c.csrf.as_deref().unwrap()), "{c:?}");
    assert_ne!(c.jti, c.csrf);
    assert_eq!((c.aud.as_ref(), c.iss.as_ref()), (None, None));
    assert_eq!(*v.custom(), roles());
    assert_eq!(v.header().alg(), Algorithm::HS256);
    assert_eq!(v.header().typ(), Some("JWT"));
    assert_eq!(v.header().kid(), None);
    v.require(TokenKind::Access).unwrap();
    v.require(TokenKind::Any).unwrap();
    assert_eq!(
        v.require(TokenKind::Refresh).unwrap_err(),
        Error::WrongType {
            expected: TokenType::Refresh
        }
    );
    v.require_fresh(now()).unwrap();

    // fresh=False.
    let v = codec
        .verify::<NoClaims>(&fje_create("access", json!(false), json!({})))
        .unwrap();
    assert_eq!(v.claims().fresh, Fresh::No);
    assert_eq!(v.require_fresh(now()).unwrap_err(), Error::NotFresh);
    // Application claims are required by the claims type, not invented.
    assert!(matches!(
        codec.verify::<Roles>(&fje_create("access", json!(false), json!({}))),
        Err(Error::CustomClaims { .. })
    ));

    // fresh=timedelta(seconds=300): a float timestamp.
    let token = fje_create("access", json!(300), json!({}));
    let raw_fresh = payload_members(&token)
        .into_iter()
        .find(|(k, _)| k == "fresh")
        .unwrap()
        .1;
    assert_eq!(json_type(&raw_fresh), "float", "{raw_fresh}");
    let v = codec.verify::<NoClaims>(&token).unwrap();
    let iat = v.claims().iat.unwrap();
    let Fresh::Until(until) = v.claims().fresh else {
        panic!("fresh should be Fresh::Until, is {:?}", v.claims().fresh);
    };
    assert_eq!(until, raw_fresh.as_f64().unwrap());
    assert!(
        (iat + 300) as f64 <= until && until < (iat + 301) as f64,
        "iat {iat}, fresh {until}"
    );
    assert!(v.is_fresh(iat + 300));
    assert!(!v.is_fresh(iat + 301));
    v.require_fresh(now()).unwrap();

    // expires_delta=timedelta(seconds=60).
    let v = codec
        .verify::<NoClaims>(&fje_create(
            "access",
            json!(false),
            json!({ "expires_seconds": 60 }),
        ))
        .unwrap();
    assert_eq!(v.claims().exp, Some(v.claims().iat.unwrap() + 60));

    // Already expired: the same verdict as flask-jwt-extended's.
    let token = fje_create("access", json!(false), json!({ "expires_seconds": -10 }));
    assert!(matches!(
        codec.verify::<NoClaims>(&token),
        Err(Error::Expired { .. })
    ));
    assert_eq!(
        fje_decode(&token, json!({}))["error"],
        "ExpiredSignatureError: Signature has expired"
    );
}

#[test]
fn fje_refresh_and_non_expiring_tokens_verify_in_jwtx() {
    let codec = hs256_codec();
    // Refresh, with additional claims; `fresh` is ignored for refresh tokens.
    let token = fje_create(
        "refresh",
        json!(true),
        json!({ "additional_claims": { "roles": ["admin", "user"] } }),
    );
    let v = codec.verify::<Roles>(&token).unwrap();
    let c = v.claims();
    assert_eq!(c.token_type, TokenType::Refresh);
    assert_eq!(c.fresh, Fresh::No);
    assert_eq!(c.sub, "alice");
    assert_eq!(c.exp, Some(c.iat.unwrap() + REFRESH_TTL));
    assert_eq!(c.nbf, c.iat);
    assert!(is_uuid4(c.jti.as_deref().unwrap()));
    assert!(is_uuid4(c.csrf.as_deref().unwrap()));
    assert_eq!(*v.custom(), roles());
    v.require(TokenKind::Refresh).unwrap();
    assert_eq!(
        v.require(TokenKind::Access).unwrap_err().message(),
        "Only non-refresh tokens are allowed"
    );
    assert!(!v.is_fresh(now()));

    // expires_delta=False: no exp. Refused by default, accepted only when allowed explicitly.
    let lenient = codec
        .clone()
        .with_validation(Validation::new().dangerous_allow_missing_exp());
    for kind in ["access", "refresh"] {
        let token = fje_create(kind, json!(true), json!({ "expires_seconds": false }));
        assert!(
            !payload_members(&token).iter().any(|(k, _)| k == "exp"),
            "{kind}"
        );
        let err = codec.verify::<NoClaims>(&token).unwrap_err();
        assert_eq!(err, Error::MissingClaim { claim: "exp" }, "{kind}");
        let v = lenient.verify::<NoClaims>(&token).unwrap();
        assert_eq!(v.claims().exp, None, "{kind}");
        assert_eq!(v.token_type().as_str(), kind);
        assert_eq!(v.sub(), "alice");
        // flask-jwt-extended itself decodes it (a token without exp never expires there).
        assert_eq!(fje_decode(&token, json!({}))["ok"], true, "{kind}");
    }
}

#[test]
fn fje_configured_claims_verify_in_jwtx() {
    let codec = hs256_codec();
    let token = fje_create(
        "access",
        json!(false),
        json!({ "config": {
            "JWT_ENCODE_ISSUER": "https://issuer.example",
            "JWT_ENCODE_AUDIENCE": ["api", "web"],
            "JWT_ENCODE_NBF": false,
            "JWT_COOKIE_CSRF_PROTECT": false,
        } }),
    );
    let names: Vec<String> = payload_members(&token).into_iter().map(|m| m.0).collect();
    assert_eq!(
        names,
        ["fresh", "iat", "jti", "type", "sub", "aud", "iss", "exp"]
    );
    let v = codec.verify::<NoClaims>(&token).unwrap();
    let c = v.claims();
    assert_eq!(c.iss.as_deref(), Some("https://issuer.example"));
    assert_eq!(
        c.aud,
        Some(Audience::Many(vec!["api".into(), "web".into()]))
    );
    assert_eq!(c.nbf, None);
    assert_eq!(c.csrf, None);
    let strict = |v: Validation| codec.clone().with_validation(v);
    strict(
        Validation::new()
            .issuer("https://issuer.example")
            .audience("web"),
    )
    .verify::<NoClaims>(&token)
    .unwrap();
    assert_eq!(
        strict(Validation::new().issuer("https://other.example"))
            .verify::<NoClaims>(&token)
            .unwrap_err(),
        Error::InvalidIssuer
    );
    assert_eq!(
        strict(Validation::new().audience("admin"))
            .verify::<NoClaims>(&token)
            .unwrap_err(),
        Error::InvalidAudience
    );

    // A custom identity and claims that override nothing.
    let token = oracle::ok(&json!({
        "op": "fje_create", "secret": SECRET, "identity": "ünïcödé 🦀", "kind": "access",
        "fresh": false, "additional_claims": { "tenant": "t-1", "n": 3, "roles": [] },
    }))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    #[derive(Deserialize, Debug, PartialEq)]
    struct Tenant {
        tenant: String,
        n: u32,
        roles: Vec<String>,
    }
    let v = codec.verify::<Tenant>(&token).unwrap();
    assert_eq!(v.sub(), "ünïcödé 🦀");
    assert_eq!(
        *v.custom(),
        Tenant {
            tenant: "t-1".into(),
            n: 3,
            roles: vec![]
        }
    );
}

#[test]
fn jwtx_tokens_decode_in_fje() {
    let codec = hs256_codec();
    let extra = serde_json::to_value(roles()).unwrap();
    let cases = [
        (
            "access fresh",
            codec
                .access_token("alice")
                .fresh(true)
                .claims(roles())
                .sign()
                .unwrap(),
            extra.clone(),
        ),
        (
            "access not fresh",
            codec.access_token("alice").sign().unwrap(),
            json!({}),
        ),
        (
            "access fresh_for",
            codec
                .access_token("alice")
                .fresh_for(Duration::from_secs(300))
                .sign()
                .unwrap(),
            json!({}),
        ),
        (
            "refresh",
            codec.refresh_token("alice").claims(roles()).sign().unwrap(),
            extra.clone(),
        ),
        (
            "access never expires",
            codec.access_token("alice").never_expires().sign().unwrap(),
            json!({}),
        ),
    ];
    for (label, issued, extra) in &cases {
        let reply = fje_decode(&issued.token, json!({}));
        assert_eq!(reply["ok"], true, "{label}: {reply}");
        assert_eq!(reply["claims"], issued_claims(issued, extra), "{label}");
    }
    assert_eq!(
        cases[4].1.claims.exp, None,
        "the never-expiring token has no exp"
    );

    // iss / aud, checked by flask-jwt-extended's JWT_DECODE_ISSUER / JWT_DECODE_AUDIENCE.
    let configured = hs256_codec()
        .with_issuer("https://issuer.example")
        .with_audience(Audience::One("api".into()));
    let issued = configured.access_token("alice").sign().unwrap();
    let reply = fje_decode(
        &issued.token,
        json!({ "config": {
            "JWT_DECODE_ISSUER": "https://issuer.example", "JWT_DECODE_AUDIENCE": "api" } }),
    );
    assert_eq!(
        reply["claims"],
        issued_claims(&issued, &json!({})),
        "{reply}"
    );
    assert_eq!(reply["claims"]["aud"], "api");
    let reply = fje_decode(
        &issued.token,
        json!({ "config": { "JWT_DECODE_AUDIENCE": "other" } }),
    );
    assert_eq!(
        reply["error"],
        "InvalidAudienceError: Audience doesn't match"
    );

    // An expired jwtx token: flask-jwt-extended says expired too, and reads it when allowed.
    let clock = Arc::new(FixedClock::new(now() - 1000));
    let old = hs256_codec().with_clock(clock);
    let issued = old
        .access_token("alice")
        .expires_in(Duration::from_secs(10))
        .sign()
        .unwrap();
    assert!(matches!(
        hs256_codec().verify::<NoClaims>(&issued.token),
        Err(Error::Expired { .. })
    ));
    assert_eq!(
        fje_decode(&issued.token, json!({}))["error"],
        "ExpiredSignatureError: Signature has expired"
    );
    let reply = fje_decode(&issued.token, json!({ "allow_expired": true }));
    assert_eq!(reply["claims"], issued_claims(&issued, &json!({})));

    // Another secret: flask-jwt-extended rejects the signature.
    let reply = oracle::call(&json!({
        "op": "fje_decode", "secret": "z".repeat(64), "token": cases[0].1.token,
    }));
    assert_eq!(
        reply["error"],
        "InvalidSignatureError: Signature verification failed"
    );
}

#[test]
fn jwtx_claims_have_fje_names_types_and_order() {
    let codec = hs256_codec();
    let roles_claim = json!({ "additional_claims": { "roles": ["admin", "user"] } });
    let pairs = [
        (
            "access fresh=True",
            fje_create("access", json!(true), json!({})),
            codec
                .access_token("alice")
                .fresh(true)
                .sign()
                .unwrap()
                .token,
        ),
        (
            "access fresh=False",
            fje_create("access", json!(false), json!({})),
            codec.access_token("alice").sign().unwrap().token,
        ),
        (
            "access + roles",
            fje_create("access", json!(true), roles_claim.clone()),
            codec
                .access_token("alice")
                .fresh(true)
                .claims(roles())
                .sign()
                .unwrap()
                .token,
        ),
        (
            "refresh",
            fje_create("refresh", json!(false), json!({})),
            codec.refresh_token("alice").sign().unwrap().token,
        ),
        (
            "refresh + roles",
            fje_create("refresh", json!(false), roles_claim),
            codec
                .refresh_token("alice")
                .claims(roles())
                .sign()
                .unwrap()
                .token,
        ),
        (
            "no exp",
            fje_create("access", json!(false), json!({ "expires_seconds": false })),
            codec
                .access_token("alice")
                .never_expires()
                .sign()
                .unwrap()
                .token,
        ),
    ];
    for (label, fje, ours) in &pairs {
        assert_eq!(shape(ours), shape(fje), "{label}");
        // Same header, byte for byte: {"alg":"HS256","typ":"JWT"}.
        assert_eq!(
            ours.split('.').next(),
            fje.split('.').next(),
            "{label}: header segment"
        );
        // Same values where they are not random or time-dependent.
        let (f, o) = (payload_members(fje), payload_members(ours));
        for ((name, fv), (_, ov)) in f.iter().zip(&o) {
            if matches!(name.as_str(), "fresh" | "type" | "sub" | "roles") {
                assert_eq!(fv, ov, "{label}: {name}");
            }
        }
    }
    let expected_access = [
        ("fresh", "bool"),
        ("iat", "int"),
        ("jti", "string"),
        ("type", "string"),
        ("sub", "string"),
        ("nbf", "int"),
        ("csrf", "string"),
        ("exp", "int"),
    ];
    let got = shape(&pairs[0].2);
    assert_eq!(
        got.iter()
            .map(|(k, t)| (k.as_str(), *t))
            .collect::<Vec<_>>(),
        expected_access
    );

    // fresh=timedelta: flask-jwt-extended writes a float timestamp, jwtx's fresh_for an integer
    // one (both JSON numbers; each side reads the other's as Fresh::Until / a number).
    let fje = fje_create("access", json!(300), json!({}));
    let ours = codec
        .access_token("alice")
        .fresh_for(Duration::from_secs(300))
        .sign()
        .unwrap()
        .token;
    let rename = |s: Vec<(String, &'static str)>| -> Vec<(String, &'static str)> {
        s.into_iter()
            .map(|(k, t)| if k == "fresh" { (k, "number") } else { (k, t) })
            .collect()
    };
    assert_eq!(shape(&fje)[0], ("fresh".to_owned(), "float"));
    assert_eq!(shape(&ours)[0], ("fresh".to_owned(), "int"));
    assert_eq!(rename(shape(&ours)), rename(shape(&fje)));
}

// ------------------------------------------------------------------------------ 4. jsonwebtoken

fn install_jsonwebtoken_provider() {
    // Only the aws_lc_rs feature is enabled, so this is the default already; installing it
    // explicitly keeps the test working if another crate ever enables rust_crypto too.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    jsonwebtoken::Algorithm::from_str(alg.as_str()).unwrap()
}

/// jsonwebtoken decoding keys for `alg`'s public key: (label, key).
fn jwt_decoding_keys(alg: Algorithm) -> Vec<(&'static str, jsonwebtoken::DecodingKey)> {
    use jsonwebtoken::DecodingKey;
    if alg.is_symmetric() {
        return vec![("secret", DecodingKey::from_secret(SECRET.as_bytes()))];
    }
    let pem = public_pem(alg);
    let from_pem = match alg.family() {
        Family::RsaPkcs1 | Family::RsaPss => DecodingKey::from_rsa_pem(pem.as_bytes()),
        Family::Ecdsa => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_ed_pem(pem.as_bytes()),
    }
    .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken cannot read jwtx's public PEM: {e}"));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(public_jwk(alg))
        .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken cannot read jwtx's JWK: {e}"));
    let from_jwk = DecodingKey::from_jwk(&jwk).unwrap();
    vec![("public PEM", from_pem), ("public JWK", from_jwk)]
}

/// A jsonwebtoken encoding key for `alg`, from jwtx's PKCS#8 PEM (or the secret).
fn jwt_encoding_key(alg: Algorithm) -> jsonwebtoken::EncodingKey {
    use jsonwebtoken::EncodingKey;
    if alg.is_symmetric() {
        return EncodingKey::from_secret(SECRET.as_bytes());
    }
    let pem = private_pem(alg);
    match alg.family() {
        Family::RsaPkcs1 | Family::RsaPss => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Family::Ecdsa => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_ed_pem(pem.as_bytes()),
    }
    .unwrap_or_else(|e| panic!("{alg}: jsonwebtoken cannot read jwtx's PKCS#8 PEM: {e}"))
}

#[test]
fn jwtx_tokens_verify_in_jsonwebtoken_every_algorithm() {
    install_jsonwebtoken_provider();
    for alg in Algorithm::ALL {
        let issued = codec(alg)
            .access_token("dave")
            .fresh(true)
            .claims(roles())
            .sign()
            .unwrap();
        let expected = issued_claims(&issued, &serde_json::to_value(roles()).unwrap());
        for (label, dk) in jwt_decoding_keys(alg) {
            let data = jsonwebtoken::decode::<Value>(
                &issued.token,
                &dk,
                &jsonwebtoken::Validation::new(jwt_alg(alg)),
            )
            .unwrap_or_else(|e| panic!("{alg} / {label}: {e:?}"));
            assert_eq!(data.claims, expected, "{alg} / {label}");
            assert_eq!(data.header.alg, jwt_alg(alg), "{alg} / {label}");
            assert_eq!(data.header.typ.as_deref(), Some("JWT"), "{alg} / {label}");
            assert_eq!(
                data.header.kid.as_deref(),
                key(alg).kid(),
                "{alg} / {label}"
            );
        }
    }
}

#[test]
fn jsonwebtoken_tokens_verify_in_jwtx_every_algorithm() {
    install_jsonwebtoken_provider();
    for alg in Algorithm::ALL {
        let now = now();
        let claims = json!({
            "fresh": false, "iat": now, "jti": jwtx::uuid4(), "type": "refresh", "sub": "dave",
            "nbf": now, "csrf": jwtx::uuid4(), "exp": now + 600, "roles": ["admin", "user"],
        });
        let ek = jwt_encoding_key(alg);
        let mut with_kid = jsonwebtoken::Header::new(jwt_alg(alg));
        with_kid.kid = key(alg).kid().map(str::to_owned);
        let tokens = [
            jsonwebtoken::encode(&jsonwebtoken::Header::new(jwt_alg(alg)), &claims, &ek),
            jsonwebtoken::encode(&with_kid, &claims, &ek),
        ];
        for token in tokens {
            let token = token.unwrap_or_else(|e| panic!("{alg}: jsonwebtoken encode: {e:?}"));
            for (label, keys) in jwtx_verifying_keys(alg) {
                let ctx = format!("{alg} / {label}");
                let v = Codec::new(keys)
                    .verify::<Roles>(&token)
                    .unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
                let mut back = serde_json::to_value(v.claims()).unwrap();
                back["roles"] = json!(["admin", "user"]);
                assert_eq!(back, claims, "{ctx}");
                assert_eq!(*v.token_type(), TokenType::Refresh, "{ctx}");
                assert_eq!(*v.custom(), roles(), "{ctx}");
            }
        }
    }
}

// ------------------------------------------------------------------------------ 5. strictness

fn hs256_sign(signing_input: &str) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    aws_lc_rs::hmac::sign(&key, signing_input.as_bytes())
        .as_ref()
        .to_vec()
}

/// A compact HS256 token from header and payload JSON text; `pad` writes every segment with
/// `=` padding (the signature is computed over the segments as written).
fn hs256_token(header: &str, payload: &str, pad: bool) -> String {
    let enc = |b: &[u8]| {
        if pad {
            URL_SAFE.encode(b)
        } else {
            URL_SAFE_NO_PAD.encode(b)
        }
    };
    let input = format!("{}.{}", enc(header.as_bytes()), enc(payload.as_bytes()));
    let sig = enc(&hs256_sign(&input));
    format!("{input}.{sig}")
}

/// `{prefix,"pad":"xx…"}` with a filler chosen so that its base64url form needs padding.
fn needing_padding(prefix: &str) -> String {
    (0..)
        .map(|n| format!(r#"{prefix},"pad":"{}"}}"#, "x".repeat(n)))
        .find(|json| json.len() % 3 != 0)
        .unwrap()
}

#[test]
fn difference_pyjwt_accepts_padded_base64url_jwtx_rejects_it() {
    let codec = hs256_codec();
    let header = needing_padding(r#"{"alg":"HS256","typ":"JWT""#);
    let payload = needing_padding(&format!(r#"{{"sub":"alice","exp":{}"#, now() + 600));

    // Control: the unpadded token passes both.
    let plain = hs256_token(&header, &payload, false);
    assert_eq!(py_verify_hs256(&plain)["ok"], true);
    codec.verify::<NoClaims>(&plain).unwrap();

    // Every segment padded (and signed as written): PyJWT and flask-jwt-extended accept it.
    let padded = hs256_token(&header, &payload, true);
    assert!(padded.split('.').all(|s| s.ends_with('=')), "{padded}");
    let reply = py_verify_hs256(&padded);
    assert_eq!(reply["ok"], true, "PyJWT accepts padding: {reply}");
    assert_eq!(reply["claims"]["sub"], "alice");
    assert_eq!(fje_decode(&padded, json!({}))["ok"], true);
    // jwtx: canonical base64url only; the header is the first segment it decodes.
    assert_eq!(
        codec.verify::<NoClaims>(&padded).unwrap_err(),
        Error::Base64 {
            segment: Segment::Header
        }
    );
    assert_eq!(
        jwtx::jws::verify(&padded, &codec.keys(), 8192).unwrap_err(),
        Error::Base64 {
            segment: Segment::Header
        }
    );

    // Padding on the payload only, and on the signature only.
    let [h, p, s] = <[&str; 3]>::try_from(plain.split('.').collect::<Vec<_>>()).unwrap();
    let p_padded = format!("{p}{}", "=".repeat((4 - p.len() % 4) % 4));
    let input = format!("{h}.{p_padded}");
    let payload_padded = format!("{input}.{}", URL_SAFE_NO_PAD.encode(hs256_sign(&input)));
    assert_eq!(py_verify_hs256(&payload_padded)["ok"], true);
    assert_eq!(
        codec.verify::<NoClaims>(&payload_padded).unwrap_err(),
        Error::Base64 {
            segment: Segment::Payload
        }
    );
    let sig_padded = format!("{h}.{p}.{s}=");
    assert_eq!(s.len() % 4, 3, "an HS256 signature needs one '='");
    assert_eq!(py_verify_hs256(&sig_padded)["ok"], true);
    assert_eq!(fje_decode(&sig_padded, json!({}))["ok"], true);
    assert_eq!(
        codec.verify::<NoClaims>(&sig_padded).unwrap_err(),
        Error::Base64 {
            segment: Segment::Signature
        }
    );
    assert_eq!(
        codec.verify::<NoClaims>(&sig_padded).unwrap_err().message(),
        "Invalid crypto padding"
    );
}

#[test]
fn difference_pyjwt_accepts_duplicate_member_names_jwtx_rejects_them() {
    let codec = hs256_codec();
    let exp = now() + 600;
    let payload = format!(r#"{{"sub":"alice","exp":{exp}}}"#);

    // Duplicate header members: PyJWT's json.loads keeps the last one.
    for header in [
        r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
        r#"{"alg":"HS256","alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"none","alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b","typ":"JWT"}"#,
    ] {
        let token = hs256_token(header, &payload, false);
        let reply = py_verify_hs256(&token);
        assert_eq!(reply["ok"], true, "PyJWT accepts {header}: {reply}");
        let err = codec.verify::<NoClaims>(&token).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Json {
                    segment: Segment::Header,
                    ..
                }
            ),
            "{header}: {err:?}"
        );
    }

    // Duplicate claims: PyJWT (and flask-jwt-extended) take the last `sub`.
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let token = hs256_token(
        header,
        &format!(r#"{{"sub":"alice","sub":"mallory","exp":{exp}}}"#),
        false,
    );
    let reply = py_verify_hs256(&token);
    assert_eq!(reply["claims"]["sub"], "mallory", "{reply}");
    assert_eq!(fje_decode(&token, json!({}))["claims"]["sub"], "mallory");
    let err = codec.verify::<NoClaims>(&token).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                segment: Segment::Payload,
                ..
            }
        ),
        "{err:?}"
    );
    // Control: without the duplicate both accept the same token.
    let token = hs256_token(header, &payload, false);
    assert_eq!(py_verify_hs256(&token)["ok"], true);
    assert_eq!(codec.verify::<NoClaims>(&token).unwrap().sub(), "alice");
}

#[test]
fn error_messages_match_pyjwt_for_malformed_tokens() {
    let codec = hs256_codec();
    let good = codec.access_token("alice").sign().unwrap().token;
    let [h, p, s] = <[&str; 3]>::try_from(good.split('.').collect::<Vec<_>>()).unwrap();
    let mut bad_sig = s.to_owned();
    bad_sig.replace_range(0..1, if s.starts_with('A') { "B" } else { "A" });
    let hs384 = Codec::new(Key::hmac(Algorithm::HS384, SECRET.as_bytes()).unwrap())
        .access_token("alice")
        .sign()
        .unwrap()
        .token;
    let cases = [
        "abc".to_owned(),
        "a.b".to_owned(),
        "a=.b.c".to_owned(),
        "Z2FyYmFnZQ.e30.c2ln".to_owned(),
        format!("{h}.{p}.{bad_sig}"),
        hs384,
    ];
    for token in &cases {
        let py = py_verify_hs256(token);
        assert_eq!(py["ok"], false, "{token}: {py}");
        let ours = codec.verify::<NoClaims>(token).unwrap_err();
        assert_eq!(
            ours.message(),
            py_message(py["error"].as_str().unwrap()),
            "{token}: jwtx {ours:?} vs PyJWT {py}"
        );
    }
}

/// The flask-jwt-extended config that makes it sign and verify with `alg`'s key.
fn fje_config(alg: Algorithm) -> Value {
    if alg.is_symmetric() {
        json!({ "JWT_ALGORITHM": alg.as_str() })
    } else {
        json!({
            "JWT_ALGORITHM": alg.as_str(),
            "JWT_PRIVATE_KEY": private_pem(alg),
            "JWT_PUBLIC_KEY": public_pem(alg),
        })
    }
}

#[test]
fn fje_round_trips_every_algorithm() {
    for alg in Algorithm::ALL {
        let config = fje_config(alg);
        // flask-jwt-extended → jwtx.
        let token = fje_create(
            "access",
            json!(true),
            json!({ "config": config, "additional_claims": { "roles": ["admin", "user"] } }),
        );
        for (label, keys) in jwtx_verifying_keys(alg) {
            let v = Codec::new(keys)
                .verify::<Roles>(&token)
                .unwrap_or_else(|e| panic!("{alg} / {label}: {e:?}"));
            assert_eq!(v.header().alg(), alg);
            assert_eq!(v.header().kid(), None, "flask-jwt-extended writes no kid");
            assert_eq!(v.sub(), "alice");
            assert_eq!(v.claims().fresh, Fresh::Yes);
            assert_eq!(*v.token_type(), TokenType::Access);
            assert_eq!(*v.custom(), roles());
        }
        // jwtx → flask-jwt-extended.
        let issued = codec(alg).refresh_token("alice").sign().unwrap();
        let reply = fje_decode(&issued.token, json!({ "config": config }));
        assert_eq!(reply["ok"], true, "{alg}: {reply}");
        assert_eq!(reply["claims"], issued_claims(&issued, &json!({})), "{alg}");
    }
}

/// An HS256 token for `claims` under the shared secret, signed here (PyJWT refuses to encode
/// some of the malformed claims these tests need, e.g. a non-string `iss`).
fn hs256_claims(claims: &Value) -> String {
    hs256_token(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string(), false)
}

#[test]
fn claim_error_messages_match_fje() {
    let now = now();
    let exp = now + 600;
    let iss = "https://issuer.example";
    // (claims, flask-jwt-extended config, jwtx validation, expected message)
    let cases = [
        (
            json!({ "sub": "a", "exp": exp, "iat": now + 3600 }),
            json!({}),
            Validation::new(),
            "The token is not yet valid (iat)",
        ),
        (
            json!({ "sub": "a", "exp": exp, "nbf": now + 3600 }),
            json!({}),
            Validation::new(),
            "The token is not yet valid (nbf)",
        ),
        (
            json!({ "sub": "a", "exp": "soon" }),
            json!({}),
            Validation::new(),
            "Expiration Time claim (exp) must be an integer.",
        ),
        (
            json!({ "sub": "a", "exp": exp, "iat": "x" }),
            json!({}),
            Validation::new(),
            "Issued At claim (iat) must be an integer.",
        ),
        (
            json!({ "sub": "a", "exp": exp, "nbf": [1] }),
            json!({}),
            Validation::new(),
            "Not Before claim (nbf) must be an integer.",
        ),
        (
            json!({ "sub": 5, "exp": exp }),
            json!({}),
            Validation::new(),
            "Subject must be a string",
        ),
        (
            json!({ "sub": null, "exp": exp }),
            json!({}),
            Validation::new(),
            "Subject must be a string",
        ),
        (
            json!({ "sub": "a", "exp": exp, "jti": 5 }),
            json!({}),
            Validation::new(),
            "JWT ID must be a string",
        ),
        (
            json!({ "exp": exp }),
            json!({}),
            Validation::new(),
            "Missing claim: sub",
        ),
        (
            json!({ "sub": "a", "exp": exp, "iss": "https://other.example" }),
            json!({ "JWT_DECODE_ISSUER": iss }),
            Validation::new().issuer(iss),
            "Invalid issuer",
        ),
        (
            json!({ "sub": "a", "exp": exp }),
            json!({ "JWT_DECODE_ISSUER": iss }),
            Validation::new().issuer(iss),
            "Token is missing the \"iss\" claim",
        ),
        (
            json!({ "sub": "a", "exp": exp, "iss": 5 }),
            json!({ "JWT_DECODE_ISSUER": iss }),
            Validation::new().issuer(iss),
            "Payload Issuer (iss) must be a string",
        ),
        (
            json!({ "sub": "a", "exp": exp, "aud": ["web", "cli"] }),
            json!({ "JWT_DECODE_AUDIENCE": "api" }),
            Validation::new().audience("api"),
            "Audience doesn't match",
        ),
        (
            json!({ "sub": "a", "exp": exp }),
            json!({ "JWT_DECODE_AUDIENCE": "api" }),
            Validation::new().audience("api"),
            "Token is missing the \"aud\" claim",
        ),
        (
            json!({ "sub": "a", "exp": exp, "aud": 5 }),
            json!({ "JWT_DECODE_AUDIENCE": "api" }),
            Validation::new().audience("api"),
            "Invalid claim format in token",
        ),
        (
            json!({ "sub": "a", "exp": exp, "aud": ["api", 5] }),
            json!({ "JWT_DECODE_AUDIENCE": "api" }),
            Validation::new().audience("api"),
            "Invalid claim format in token",
        ),
    ];
    for (claims, config, validation, message) in cases {
        let token = hs256_claims(&claims);
        let fje = fje_decode(&token, json!({ "config": config }));
        assert_eq!(fje["ok"], false, "{claims}: {fje}");
        assert_eq!(
            py_message(fje["error"].as_str().unwrap()),
            message,
            "flask-jwt-extended, {claims}"
        );
        let ours = hs256_codec()
            .with_validation(validation)
            .verify::<NoClaims>(&token)
            .unwrap_err();
        assert_eq!(ours.message(), message, "jwtx, {claims}: {ours:?}");
    }

    // Accepted by both: float NumericDates (truncated, as PyJWT's int()), aud present while no
    // audience is configured, a `type` flask-jwt-extended does not know.
    let token = hs256_claims(&json!({
        "sub": "a", "iat": now as f64 - 0.25, "nbf": now as f64 - 0.75, "exp": exp as f64 + 0.5,
        "aud": "someone", "type": "id",
    }));
    assert_eq!(fje_decode(&token, json!({}))["ok"], true);
    let v = hs256_codec().verify::<NoClaims>(&token).unwrap();
    assert_eq!(
        (v.claims().iat, v.claims().nbf, v.claims().exp),
        (Some(now - 1), Some(now - 1), Some(exp))
    );
    assert_eq!(*v.token_type(), TokenType::Other("id".into()));
    v.require(TokenKind::Access).unwrap();
}

#[test]
fn difference_fje_accepts_lenient_claim_values_jwtx_rejects_them() {
    let now = now();
    let exp = now + 600;
    // README.md, "What strict means": a NumericDate is a finite non-negative JSON number ≤ 2^53, registered claims
    // have their JSON types; flask-jwt-extended (PyJWT's int(), no type checks on its own
    // claims at decode time) lets these through.
    let cases = [
        (json!({ "sub": "a", "exp": exp.to_string() }), "exp"),
        (
            json!({ "sub": "a", "exp": exp, "iat": now.to_string() }),
            "iat",
        ),
        (json!({ "sub": "a", "exp": exp, "nbf": true }), "nbf"),
        (json!({ "sub": "a", "exp": 1e300 }), "exp"),
        (json!({ "sub": "a", "exp": exp, "iss": 5 }), "iss"),
        (json!({ "sub": "a", "exp": exp, "fresh": "yes" }), "fresh"),
        (json!({ "sub": "a", "exp": exp, "type": 5 }), "type"),
        (json!({ "sub": "a", "exp": exp, "csrf": 5 }), "csrf"),
    ];
    for (claims, claim) in cases {
        let token = hs256_claims(&claims);
        let fje = fje_decode(&token, json!({}));
        assert_eq!(
            fje["ok"], true,
            "flask-jwt-extended accepts {claims}: {fje}"
        );
        assert_eq!(
            hs256_codec().verify::<NoClaims>(&token).unwrap_err(),
            Error::ClaimType { claim },
            "jwtx rejects {claims}"
        );
    }
    // A negative exp: expired (401) for flask-jwt-extended, malformed (422) for jwtx.
    let token = hs256_claims(&json!({ "sub": "a", "exp": -5 }));
    assert_eq!(
        fje_decode(&token, json!({}))["error"],
        "ExpiredSignatureError: Signature has expired"
    );
    assert_eq!(
        hs256_codec().verify::<NoClaims>(&token).unwrap_err(),
        Error::ClaimType { claim: "exp" }
    );
}

#[test]
fn numeric_dates_beyond_f64_range_are_claim_type_errors_as_in_fje() {
    // `1e400` is valid JSON grammar but no finite number: PyJWT's int(inf) fails and
    // flask-jwt-extended answers "... must be an integer." (422). README.md, "What strict means": a NumericDate is a
    // finite number, anything else is invalid, i.e. Error::ClaimType with that same message.
    let exp = now() + 600;
    for (claim, payload, message) in [
        (
            "exp",
            r#"{"sub":"a","exp":1e400}"#.to_owned(),
            "Expiration Time claim (exp) must be an integer.",
        ),
        (
            "iat",
            format!(r#"{{"sub":"a","exp":{exp},"iat":-1e400}}"#),
            "Issued At claim (iat) must be an integer.",
        ),
        (
            "nbf",
            format!(r#"{{"sub":"a","exp":{exp},"nbf":1e400}}"#),
            "Not Before claim (nbf) must be an integer.",
        ),
    ] {
        let token = hs256_token(r#"{"alg":"HS256","typ":"JWT"}"#, &payload, false);
        let fje = fje_decode(&token, json!({}));
        assert_eq!(
            py_message(fje["error"].as_str().unwrap()),
            message,
            "{payload}"
        );
        let ours = hs256_codec().verify::<NoClaims>(&token).unwrap_err();
        assert_eq!(
            (ours.message().into_owned(), &ours),
            (message.to_owned(), &Error::ClaimType { claim }),
            "jwtx, {payload}"
        );
    }
}

#[test]
fn difference_fje_accepts_json_jwtx_rejects() {
    let exp = now() + 600;
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let payload = format!(r#"{{"sub":"a","exp":{exp}}}"#);
    let token = |h: &[u8], p: &[u8]| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h),
            URL_SAFE_NO_PAD.encode(p)
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(hs256_sign(&input)))
    };
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let with_bom = |s: &str| [&b"\xEF\xBB\xBF"[..], s.as_bytes()].concat();
    let claims = |extra: &str| format!(r#"{{"sub":"a","exp":{exp},{extra}}}"#);
    let deep = format!(r#""d":{}{}"#, "[".repeat(40), "]".repeat(40));

    // (what, token, jwtx's error on the first failing segment)
    let cases = [
        // PyJWT runs json.loads on bytes, which detects UTF-16/32 and skips a UTF-8 BOM;
        // jwtx reads UTF-8 JSON text only (RFC 8259 §8.1).
        (
            "UTF-16 header",
            token(&utf16(header), payload.as_bytes()),
            Segment::Header,
        ),
        (
            "UTF-16 payload",
            token(header.as_bytes(), &utf16(&payload)),
            Segment::Payload,
        ),
        (
            "UTF-8 BOM before the payload",
            token(header.as_bytes(), &with_bom(&payload)),
            Segment::Payload,
        ),
        // Duplicate names at any depth, and names equal after unescaping.
        (
            "duplicate names in a nested object",
            token(header.as_bytes(), claims(r#""x":{"k":1,"k":2}"#).as_bytes()),
            Segment::Payload,
        ),
        (
            "duplicate names inside an array",
            token(
                header.as_bytes(),
                claims(r#""x":[{"k":1,"k":2}]"#).as_bytes(),
            ),
            Segment::Payload,
        ),
        (
            "names equal after unescaping",
            token(
                header.as_bytes(),
                claims(r#""\ud83e\udd80":1,"🦀":2"#).as_bytes(),
            ),
            Segment::Payload,
        ),
        // Nesting deeper than jwtx's bound (32).
        (
            "40 nested arrays",
            token(header.as_bytes(), claims(&deep).as_bytes()),
            Segment::Payload,
        ),
        // Python accepts lone UTF-16 surrogates in strings; they are no Unicode text.
        (
            "lone surrogate in sub",
            token(
                header.as_bytes(),
                format!(r#"{{"sub":"a\udc00","exp":{exp}}}"#).as_bytes(),
            ),
            Segment::Payload,
        ),
        (
            "lone surrogate in a member name",
            token(header.as_bytes(), claims(r#""\ud800":1"#).as_bytes()),
            Segment::Payload,
        ),
    ];
    for (what, token, segment) in &cases {
        let reply = oracle::call_text(&json!({
            "op": "fje_decode", "secret": SECRET, "token": token,
        }));
        assert!(
            reply.starts_with(r#"{"ok": true"#),
            "flask-jwt-extended accepts {what}: {reply}"
        );
        let err = hs256_codec().verify::<NoClaims>(token).unwrap_err();
        assert!(
            matches!(&err, Error::Json { segment: s, .. } if s == segment),
            "jwtx rejects {what}: {err:?}"
        );
    }

    // NaN / Infinity: Python's json module reads them (the oracle then cannot write the
    // decoded claims back as strict JSON, which is how we see decoding succeeded).
    for extra in [r#""x":NaN"#, r#""x":-Infinity"#] {
        let t = token(header.as_bytes(), claims(extra).as_bytes());
        assert_eq!(
            fje_decode(&t, json!({}))["error"],
            "ValueError: Out of range float values are not JSON compliant",
            "{extra}"
        );
        assert!(
            matches!(
                hs256_codec().verify::<NoClaims>(&t),
                Err(Error::Json {
                    segment: Segment::Payload,
                    ..
                })
            ),
            "{extra}"
        );
    }

    // Tokens over jwtx's 8 KiB cap (flask-jwt-extended has none).
    let big = hs256_claims(&json!({ "sub": "a", "exp": exp, "x": "y".repeat(9000) }));
    assert_eq!(fje_decode(&big, json!({}))["ok"], true);
    assert_eq!(
        hs256_codec().verify::<NoClaims>(&big).unwrap_err(),
        Error::TooLarge {
            len: big.len(),
            max: 8192
        }
    );
    hs256_codec()
        .with_validation(Validation::new().max_token_len(16 * 1024))
        .verify::<NoClaims>(&big)
        .unwrap();
}

#[test]
fn custom_headers_cross_both_ways() {
    // flask-jwt-extended's additional_headers → jwtx's Header, and back.
    let token = fje_create(
        "access",
        json!(false),
        json!({ "additional_headers": { "x-tenant": "t1", "cty": "app" } }),
    );
    let v = hs256_codec().verify::<NoClaims>(&token).unwrap();
    let map = v.header().to_map();
    assert_eq!(map["x-tenant"], "t1");
    assert_eq!(map["cty"], "app");
    assert_eq!(v.header().typ(), Some("JWT"));

    let mut headers = serde_json::Map::new();
    headers.insert("x-tenant".into(), "t2".into());
    for alg in [Algorithm::HS256, Algorithm::ES256] {
        let issued = codec(alg)
            .access_token("alice")
            .headers(headers.clone())
            .sign()
            .unwrap();
        let reply = oracle::ok(&json!({
            "op": "verify", "alg": alg.as_str(), "key": oracle_verifying_keys(alg)[0].1,
            "token": issued.token,
        }));
        let mut expected = jwtx_header(alg);
        expected["x-tenant"] = "t2".into();
        assert_eq!(reply["header"], expected, "{alg}");
    }
    // A kid from flask-jwt-extended's additional_headers selects among jwtx's keys.
    let token = fje_create(
        "access",
        json!(false),
        json!({ "additional_headers": { "kid": "current" } }),
    );
    let keys = KeySet::new(vec![
        Key::hmac(Algorithm::HS256, &[7; 32])
            .unwrap()
            .with_kid("old"),
        Key::hmac(Algorithm::HS256, SECRET.as_bytes())
            .unwrap()
            .with_kid("current"),
    ])
    .unwrap();
    let v = Codec::new(keys).verify::<NoClaims>(&token).unwrap();
    assert_eq!(v.header().kid(), Some("current"));
}
