//! Arbitrary bytes as the JOSE header: base64url-encoded, joined to a fixed valid payload and
//! given a correct HS256 signature, then verified. The signature always passes, so what is
//! exercised is the header rules of README.md, "What strict means" (`jwtx::jws`): strict JSON object without
//! duplicate members, no `crit`/`zip`/`jku`/`x5u`/`jwk`/`x5c`, `b64` only as `true`, `kid` a
//! string, `alg` equal to the key's.
//!
//! Invariants: no panic; whatever `jws::verify` or `Codec::verify` accepts is a UTF-8 JSON
//! object with no duplicate member names at any level, `alg` exactly `"HS256"`, none of the
//! forbidden members, `b64` absent or `true`, `kid`/`typ` reported as sent, and the header
//! text kept byte for byte; the strict codec and the JWS layer agree (the payload is a valid
//! claims set); an HS256-signed token never verifies against the asymmetric key set.

#![no_main]

use jwtx::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use jwtx::{Algorithm, Header, NoClaims, dangerous};
use jwtx_fuzz::{NOW, harness, hmac_sha256_b64, strict_json_object};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Members a verified header never has.
const FORBIDDEN: [&str; 6] = ["crit", "zip", "jku", "x5u", "jwk", "x5c"];

fn payload_b64() -> &'static str {
    static P: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        use base64::Engine as _;
        let claims = format!(
            r#"{{"fresh":false,"iat":{NOW},"jti":"6b6b7d1c-6f54-4bd4-9a2e-7d9c2a1f0e11","type":"access","sub":"alice","nbf":{NOW},"exp":{}}}"#,
            NOW + 900
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims)
    })
}

/// What every accepted header must satisfy, checked against an independent parse of `data`.
fn check_accepted(data: &[u8], header: &Header, via: &str) {
    let text = std::str::from_utf8(data)
        .unwrap_or_else(|_| panic!("{via}: accepted a header that is not UTF-8: {data:?}"));
    assert!(
        strict_json_object(data),
        "{via}: accepted a header that is not a JSON object without duplicate members: {text:?}"
    );
    let map: Map<String, Value> = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{via}: accepted header does not parse ({e}): {text:?}"));
    assert_eq!(
        map.get("alg"),
        Some(&Value::String("HS256".into())),
        "{via}: accepted alg other than HS256: {text:?}"
    );
    assert_eq!(header.alg(), Algorithm::HS256, "{via}: {text:?}");
    for name in FORBIDDEN {
        assert!(
            !map.contains_key(name),
            "{via}: accepted a header with {name:?}: {text:?}"
        );
    }
    match map.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(other) => panic!("{via}: accepted b64 = {other}: {text:?}"),
    }
    match map.get("kid") {
        None => assert_eq!(header.kid(), None, "{via}: kid invented: {text:?}"),
        Some(Value::String(k)) => assert_eq!(header.kid(), Some(k.as_str()), "{via}: {text:?}"),
        Some(other) => panic!("{via}: accepted a non-string kid {other}: {text:?}"),
    }
    let typ = map.get("typ").and_then(Value::as_str);
    assert_eq!(header.typ(), typ, "{via}: typ misreported: {text:?}");
    assert_eq!(header.json(), text, "{via}: header text not kept as sent");
    assert_eq!(header.to_map(), map, "{via}: to_map differs: {text:?}");
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let head = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    };
    let input = format!("{head}.{}", payload_b64());
    let token = format!("{input}.{}", hmac_sha256_b64(input.as_bytes()));

    let layer = jws::verify(&token, &h.hs, usize::MAX);
    let capped = jws::verify(&token, &h.hs, DEFAULT_MAX_TOKEN_LEN);
    let strict = h.codec.verify::<NoClaims>(&token);
    let _ = h.codec.verify::<Value>(&token);
    let _ = dangerous::verify_allow_expired::<Value>(&h.codec, &token);
    let unverified = dangerous::unverified_header(&token, usize::MAX);
    let _ = dangerous::decode_unverified(&token, usize::MAX);

    // Algorithm confusion: an HMAC-signed token never passes asymmetric keys, whatever
    // the header says.
    assert!(
        jws::verify(&token, &h.public, usize::MAX).is_err(),
        "HS256-signed token verified with the asymmetric key set: {:?}",
        String::from_utf8_lossy(data)
    );
    assert!(h.public_codec.verify::<NoClaims>(&token).is_err());

    if let Ok(jws) = &layer {
        check_accepted(data, &jws.header, "jws::verify");
        let map = unverified
            .as_ref()
            .expect("unverified_header refused a header jws::verify accepted");
        assert_eq!(&jws.header.to_map(), map);
    }
    if token.len() <= DEFAULT_MAX_TOKEN_LEN {
        assert_eq!(
            layer.is_ok(),
            capped.is_ok(),
            "the length cap changed the outcome of a token under the cap"
        );
    } else {
        assert!(capped.is_err(), "a token over the cap was accepted");
    }
    // The payload is a valid access token at NOW: the header alone decides both.
    assert_eq!(
        strict.is_ok(),
        capped.is_ok(),
        "Codec::verify and jws::verify disagree on header {:?}: {:?} vs {:?}",
        String::from_utf8_lossy(data),
        strict.as_ref().err(),
        capped.as_ref().err()
    );
    if let Ok(v) = &strict {
        check_accepted(data, v.header(), "Codec::verify");
        assert_eq!(v.claims().sub, "alice");
    }
});
