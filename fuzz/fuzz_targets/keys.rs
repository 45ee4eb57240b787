//! Key material → every key loader: JWK, JWK set, PEM and DER for each algorithm. Keys that
//! load are exercised (thumbprint, JWK and PEM export) and must round-trip through their
//! public PEM and, when they can sign, verify their own tokens.

#![no_main]

use jwtx::jws::{self, DEFAULT_MAX_TOKEN_LEN};
use jwtx::{Algorithm, Jwk, Key, KeySet};
use libfuzzer_sys::fuzz_target;

fn exercise(key: Key) {
    let alg = key.algorithm();
    let _ = key.kid();
    let _ = format!("{key:?}");
    let thumbprint = key.thumbprint();
    if let Some(jwk) = key.public_jwk() {
        let text = serde_json::to_string(&jwk).expect("a public JWK serializes");
        let back = Jwk::from_json(&text).and_then(|j| Key::from_jwk(&j));
        let back = back.unwrap_or_else(|e| panic!("{alg} public JWK does not reload: {e}\n{text}"));
        assert_eq!(
            back.thumbprint(),
            thumbprint,
            "{alg} JWK round trip changed the key"
        );
    }
    if let Some(pem) = key.to_public_pem() {
        let back = Key::from_pem(alg, pem.as_bytes())
            .unwrap_or_else(|e| panic!("{alg} public PEM does not reload: {e}\n{pem}"));
        assert_eq!(
            back.thumbprint(),
            thumbprint,
            "{alg} PEM round trip changed the key"
        );
    }
    if key.can_sign() {
        let token = jws::sign(&key, br#"{"sub":"fuzz"}"#, None).expect("a private key signs");
        let set = KeySet::from(key);
        assert!(
            jws::verify(&token, &set, DEFAULT_MAX_TOKEN_LEN).is_ok(),
            "{alg}: a key does not verify its own token"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(jwk) = Jwk::from_json(&text) {
        let _ = jwk.kid();
        let _ = jwk.kty();
        let _ = jwk.algorithm();
        let _ = format!("{jwk:?}");
        if let Ok(k) = Key::from_jwk(&jwk) {
            exercise(k);
        }
        for alg in Algorithm::ALL {
            let _ = Key::from_jwk_with_alg(&jwk, alg);
        }
    }
    if let Ok(set) = KeySet::from_jwks_json(&text) {
        let _ = set.jwks();
        let _ = set.signer();
    }
    for alg in Algorithm::ALL {
        if let Ok(k) = Key::from_pem(alg, data) {
            exercise(k);
        }
        if let Ok(k) = Key::from_der(alg, data) {
            exercise(k);
        }
        let _ = Key::hmac(alg, data);
    }
});
