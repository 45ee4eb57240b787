//! Token strings → every verification entry point.
//!
//! Input is taken as UTF-8 (lossily). An input starting with `!` is re-signed first: its first
//! two `.`-separated segments get a correct HS256 signature, so mutations of the header and
//! payload reach the header rules and the claims instead of stopping at the signature.

#![no_main]

use jwtx::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use jwtx::{NoClaims, dangerous};
use jwtx_fuzz::{NOW, harness, resign};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let text = String::from_utf8_lossy(data);
    let token = match text.strip_prefix('!') {
        Some(rest) => resign(rest),
        None => text.into_owned(),
    };

    let hs = jws::verify(&token, &h.hs, DEFAULT_MAX_TOKEN_LEN);
    let _ = jws::verify(&token, &h.public, DEFAULT_MAX_TOKEN_LEN);
    let _ = jws::verify(&token, &h.hs, usize::MAX);
    let strict = h.codec.verify::<NoClaims>(&token);
    let _ = h.codec.verify::<Value>(&token);
    let _ = h.lenient.verify::<Value>(&token);
    let _ = h.public_codec.verify::<NoClaims>(&token);
    let _ = h.codec.verify_with_keys::<NoClaims>(&token, &h.public);
    let _ = dangerous::verify_allow_expired::<Value>(&h.codec, &token);
    let _ = dangerous::decode_unverified(&token, DEFAULT_MAX_TOKEN_LEN);
    let _ = dangerous::unverified_header(&token, DEFAULT_MAX_TOKEN_LEN);

    // Invariants: the claims layer never accepts what the JWS layer refuses, and a token
    // accepted under strict validation has an exp in the future.
    if let Ok(v) = &strict {
        assert!(
            hs.is_ok(),
            "Codec accepted a token jws::verify refused: {token:?}"
        );
        let exp = v.claims().exp.expect("strict validation requires exp");
        assert!(exp > NOW, "accepted an expired token: {token:?}");
    }
});
