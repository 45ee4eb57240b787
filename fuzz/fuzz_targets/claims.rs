//! Arbitrary payload bytes, signed with the harness HS256 key, then verified: exercises
//! payload JSON checking, the one-pass claims reader and validation behind a valid signature.
//! `verify::<NoClaims>` reads the registered claims from the members the JSON scan listed and
//! `verify::<Value>` from the serde pass; they must agree on every payload.

#![no_main]

use std::collections::HashMap;

use jwtx::jws;
use jwtx::{NoClaims, TokenKind, dangerous};
use jwtx_fuzz::{NOW, harness};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

/// An application claims type like the ones users derive.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AppClaims {
    #[serde(default)]
    roles: Vec<String>,
    tenant: Option<String>,
    #[serde(default)]
    level: u8,
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let Ok(token) = jws::sign(&h.hs_key, data, None) else {
        return;
    };
    let layer = jws::verify(&token, &h.hs, usize::MAX);
    let strict = h.codec.verify::<NoClaims>(&token);
    let value = h.codec.verify::<Value>(&token);
    let _ = h.codec.verify::<HashMap<String, Value>>(&token);
    let app = h.codec.verify::<AppClaims>(&token);
    let lenient = h.lenient.verify::<Value>(&token);
    let _ = dangerous::verify_allow_expired::<AppClaims>(&h.codec, &token);
    let _ = dangerous::decode_unverified(&token, usize::MAX);

    if let Ok(v) = &strict {
        assert!(layer.is_ok(), "Codec accepted what jws::verify refused");
        let exp = v.claims().exp.expect("strict validation requires exp");
        assert!(exp > NOW, "expired token accepted");
        if let Some(nbf) = v.claims().nbf {
            assert!(nbf <= NOW, "immature token accepted");
        }
        let _ = v.custom_as::<Value>();
        let _ = v.custom_as::<AppClaims>();
        let _ = v.header().to_map();
        let _ = v.require(TokenKind::Access);
        let _ = v.require_fresh(NOW);
    }
    if let Ok(v) = &app {
        assert!(
            strict.is_ok(),
            "typed claims accepted where NoClaims failed"
        );
        let _ = v.custom().roles.len();
    }
    match (&strict, &value) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.claims(), b.claims(), "claim readers disagree");
            assert_eq!(a.sid(), b.sid(), "claim readers disagree on sid");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "different errors"),
        (a, b) => panic!("claim readers disagree: {a:?} against {b:?}"),
    }
    if let Ok(v) = &lenient {
        assert_eq!(v.claims().iss.as_deref(), Some("https://auth.example"));
        assert!(v.claims().aud.as_ref().is_some_and(|a| a.contains("api")));
    }
});
