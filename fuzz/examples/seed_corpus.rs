//! Regenerates the seed corpus in `fuzz/corpus/<target>/` from the harness keys:
//!
//! ```sh
//! cd fuzz && cargo run --example seed_corpus
//! ```
//!
//! The files are deterministic except for the random `jti`/`csrf` values and ECDSA/PSS
//! signature randomness.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwtx::{Codec, FixedClock, Key};
use jwtx_fuzz::{NOW, harness};
use serde_json::json;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).unwrap()
}

fn main() {
    let h = harness();
    let clock = Arc::new(FixedClock::new(NOW));

    // ---------------------------------------------------------------- verify: tokens
    let hs = &h.codec;
    let access = hs.access_token("alice").fresh(true).sign().unwrap().token;
    write("verify", "hs256_access", access.as_bytes());
    let refresh = hs.refresh_token("alice").sign().unwrap().token;
    write("verify", "hs256_refresh", refresh.as_bytes());
    let roles = hs
        .access_token("admin")
        .claims(json!({"roles": ["admin", "user"], "tenant": "t1"}))
        .sign()
        .unwrap()
        .token;
    write("verify", "hs256_roles", roles.as_bytes());
    for key in &h.private {
        let pem = key.to_pkcs8_pem().unwrap();
        let again = Key::from_pem(key.algorithm(), pem.as_bytes()).unwrap();
        let codec = Codec::new(again).with_clock(clock.clone());
        let t = codec.access_token("svc").sign().unwrap().token;
        write(
            "verify",
            &format!("{}_access", key.algorithm()).to_lowercase(),
            t.as_bytes(),
        );
    }
    // Re-signed mode: `!` + header.payload, so mutations reach the header rules and claims.
    let [head, payload] = {
        let mut p = access.split('.');
        [p.next().unwrap(), p.next().unwrap()]
    };
    write(
        "verify",
        "resign_access",
        format!("!{head}.{payload}").as_bytes(),
    );
    for (name, header) in [
        (
            "resign_kid",
            json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
        ),
        ("resign_crit", json!({"alg": "HS256", "crit": ["exp"]})),
        ("resign_jwk", json!({"alg": "HS256", "jwk": {"kty": "oct"}})),
        ("resign_none", json!({"alg": "none"})),
        ("resign_b64", json!({"alg": "HS256", "b64": true})),
    ] {
        let t = format!("!{}.{payload}", b64(header.to_string().as_bytes()));
        write("verify", name, t.as_bytes());
    }
    let flask = json!({
        "fresh": false, "iat": NOW, "jti": "6b6b7d1c-6f54-4bd4-9a2e-7d9c2a1f0e11",
        "type": "access", "sub": "alice", "nbf": NOW,
        "csrf": "0f5a2c1e-1b5f-4a53-8f8e-6f0c2b6d9e21", "exp": NOW + 900,
    });
    let t = format!(
        "!{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(flask.to_string().as_bytes())
    );
    write("verify", "resign_flask", t.as_bytes());
    write(
        "verify",
        "none_unsigned",
        format!("{}.{}.", b64(br#"{"alg":"none"}"#), payload).as_bytes(),
    );

    // ---------------------------------------------------------------- claims: payloads
    for (name, p) in [
        ("flask", flask.clone()),
        ("minimal", json!({"sub": "alice", "exp": NOW + 60})),
        ("no_exp", json!({"sub": "alice"})),
        (
            "fresh_until",
            json!({"sub": "a", "exp": NOW + 60, "fresh": (NOW + 30) as f64 + 0.5}),
        ),
        (
            "aud_iss",
            json!({"sub": "a", "iss": "https://auth.example", "aud": ["web", "api"], "nbf": NOW - 10}),
        ),
        (
            "app",
            json!({"sub": "a", "exp": NOW + 60, "roles": ["admin"], "tenant": "t1", "level": 3}),
        ),
        (
            "types",
            json!({"sub": 5, "exp": "soon", "iat": null, "jti": [1], "type": "refresh"}),
        ),
        (
            "nested",
            json!({"sub": "a", "exp": NOW + 60, "x": {"y": [1, {"z": [true, null]}]}}),
        ),
    ] {
        write("claims", name, p.to_string().as_bytes());
    }
    write(
        "claims",
        "escaped_names",
        format!(r#"{{"\u0073ub":"a","\u0065xp":{},"x\ud800":1}}"#, NOW + 60).as_bytes(),
    );

    // ---------------------------------------------------------------- keys
    for (name, pem) in [
        ("es256_private.pem", jwtx_fuzz::ES256_PRIVATE_PEM),
        ("es256_public.pem", jwtx_fuzz::ES256_PUBLIC_PEM),
        ("ed25519_private.pem", jwtx_fuzz::ED25519_PRIVATE_PEM),
        ("ed25519_public.pem", jwtx_fuzz::ED25519_PUBLIC_PEM),
        ("rs256_private.pem", jwtx_fuzz::RS256_PRIVATE_PEM),
        ("rs256_public.pem", jwtx_fuzz::RS256_PUBLIC_PEM),
    ] {
        write("keys", name, pem.as_bytes());
        write("keys", &name.replace(".pem", ".der"), &pem_der(pem));
    }
    for key in h.public.keys() {
        let jwk = serde_json::to_string(&key.public_jwk().unwrap()).unwrap();
        write(
            "keys",
            &format!("{}_public.jwk", key.algorithm()).to_lowercase(),
            jwk.as_bytes(),
        );
    }
    write(
        "keys",
        "public.jwks",
        h.public.jwks().to_string().as_bytes(),
    );
    let oct = json!({"kty": "oct", "alg": "HS256", "kid": "k1", "k": b64(jwtx_fuzz::SECRET)});
    write("keys", "oct_hs256.jwk", oct.to_string().as_bytes());
    println!(
        "seed corpus written to {}/corpus",
        env!("CARGO_MANIFEST_DIR")
    );
}
