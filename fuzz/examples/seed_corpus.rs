//! Regenerates the seed corpus in `fuzz/corpus/<target>/` from the harness keys:
//!
//! ```sh
//! cd fuzz && cargo run --example seed_corpus              # every target
//! cd fuzz && cargo run --example seed_corpus -- header http # only these targets
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
    let only: Vec<String> = std::env::args().skip(1).collect();
    if !only.is_empty() && !only.iter().any(|t| t == target) {
        return;
    }
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
    header_seeds();
    http_seeds();
    println!(
        "seed corpus written to {}/corpus",
        env!("CARGO_MANIFEST_DIR")
    );
}

/// `header`: header JSON texts (the target base64url-encodes and signs them).
fn header_seeds() {
    for (name, text) in [
        ("canonical", r#"{"alg":"HS256","typ":"JWT"}"#),
        ("reordered", r#"{"typ":"JWT","alg":"HS256"}"#),
        ("alg_only", r#"{"alg":"HS256"}"#),
        ("spaces", " {\n \"alg\" : \"HS256\" ,\t\"typ\":\"JWT\" } "),
        ("kid", r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#),
        ("kid_number", r#"{"alg":"HS256","kid":7}"#),
        (
            "typ_object",
            r#"{"alg":"HS256","typ":{"a":[1,2.5e3,null,true]}}"#,
        ),
        (
            "extra_members",
            r#"{"alg":"HS256","x-app":"1","cty":"JWT","nested":{"a":{"b":[]}}}"#,
        ),
        ("escaped_name", r#"{"\u0061lg":"HS256","t\u0079p":"JWT"}"#),
        ("duplicate_alg", r#"{"alg":"HS256","alg":"HS256"}"#),
        (
            "duplicate_nested",
            r#"{"alg":"HS256","x":{"a":1,"\u0061":2}}"#,
        ),
        ("crit_b64", r#"{"alg":"HS256","b64":true,"crit":["b64"]}"#),
        ("crit_exp", r#"{"alg":"HS256","crit":["exp"]}"#),
        ("crit_empty", r#"{"alg":"HS256","crit":[]}"#),
        ("crit_string", r#"{"alg":"HS256","crit":"b64"}"#),
        ("b64_true", r#"{"alg":"HS256","b64":true}"#),
        ("b64_false", r#"{"alg":"HS256","b64":false}"#),
        ("zip", r#"{"alg":"HS256","zip":"DEF"}"#),
        (
            "jku",
            r#"{"alg":"HS256","jku":"https://evil.example/jwks"}"#,
        ),
        ("jwk", r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AA"}}"#),
        ("x5c_null", r#"{"alg":"HS256","x5c":null}"#),
        ("alg_none", r#"{"alg":"none"}"#),
        ("alg_rs256", r#"{"alg":"RS256","typ":"JWT"}"#),
        ("alg_case", r#"{"alg":"hs256"}"#),
        ("alg_number", r#"{"alg":256}"#),
        ("alg_missing", r#"{"typ":"JWT"}"#),
        ("big_number", r#"{"alg":"HS256","n":1e400}"#),
        ("surrogate", r#"{"alg":"HS256","x":"\ud83d\ude00 \ud800"}"#),
        ("array", r#"["alg","HS256"]"#),
        ("trailing", r#"{"alg":"HS256"} {}"#),
    ] {
        write("header", name, text.as_bytes());
    }
    write(
        "header",
        "not_utf8",
        b"{\"alg\":\"HS256\",\"x\":\"\xff\xfe\"}",
    );
}

/// `http`: requests in the target's format: a flags byte, then authorization, cookie,
/// x-csrf-token, query, extra and body separated by newlines; `$d` stands for pool token `d`
/// and `^d` for its csrf value (see `fuzz_targets/http.rs`).
fn http_seeds() {
    // flags: bit 0 POST; bits 1-3 route (0 /jwt, 1 /fresh, 2 /refresh, 3 /any, 4 /optional,
    // 5 /cookies); bit 4 manager B; bits 5-6 content type (1 json, 2 form, 3 from extra);
    // bit 7 repeated Authorization.
    const POST: u8 = 1;
    const FRESH: u8 = 1 << 1;
    const REFRESH: u8 = 2 << 1;
    const ANY: u8 = 3 << 1;
    const OPTIONAL: u8 = 4 << 1;
    const COOKIES: u8 = 5 << 1;
    const B: u8 = 1 << 4;
    const JSON: u8 = 1 << 5;
    const FORM: u8 = 2 << 5;
    const CT_EXTRA: u8 = 3 << 5;
    const TWICE: u8 = 1 << 7;
    let access = "access_token_cookie=$0";
    let seeds: &[(&str, u8, [&str; 6])] = &[
        ("bearer_fresh", 0, ["Bearer $0", "", "", "", "", ""]),
        ("bearer_stale", 0, ["Bearer $1", "", "", "", "", ""]),
        ("bearer_extra_header", 0, ["Bearer $7", "", "", "", "", ""]),
        (
            "fresh_route_stale",
            FRESH,
            ["Bearer $1", "", "", "", "", ""],
        ),
        (
            "fresh_route_fresh",
            FRESH,
            ["Bearer $0", "", "", "", "", ""],
        ),
        (
            "refresh_route",
            POST | REFRESH,
            ["Bearer $2", "", "", "", "", ""],
        ),
        ("refresh_as_access", 0, ["Bearer $2", "", "", "", "", ""]),
        ("any_refresh", ANY, ["Bearer $2", "", "", "", "", ""]),
        ("revoked", 0, ["Bearer $3", "", "", "", "", ""]),
        ("verification_failed", 0, ["Bearer $4", "", "", "", "", ""]),
        ("expired", 0, ["Bearer $5", "", "", "", "", ""]),
        ("other_key", 0, ["Bearer $6", "", "", "", "", ""]),
        ("no_exp", 0, ["Bearer $8", "", "", "", "", ""]),
        (
            "expired_refresh",
            POST | REFRESH,
            ["Bearer $9", "", "", "", "", ""],
        ),
        ("bearer_alone", 0, ["Bearer", "", "", "", "", ""]),
        ("bearer_two_words", 0, ["Bearer $0 x", "", "", "", "", ""]),
        (
            "basic_then_bearer",
            0,
            ["Basic dTpw, Bearer $0", "", "", "", "", ""],
        ),
        ("repeated_header", TWICE, ["Bearer $0", "", "", "", "", ""]),
        (
            "second_auth_extra",
            0,
            ["Bearer $1", "", "", "", "Authorization: Bearer $0", ""],
        ),
        ("cookie_get", 0, ["", access, "", "", "", ""]),
        (
            "cookie_post_csrf",
            POST,
            [
                "",
                "access_token_cookie=$0; csrf_access_token=^0",
                "^0",
                "",
                "",
                "",
            ],
        ),
        ("cookie_post_no_csrf", POST, ["", access, "", "", "", ""]),
        ("cookie_post_bad_csrf", POST, ["", access, "^1", "", "", ""]),
        (
            "cookie_refresh",
            POST | REFRESH,
            [
                "",
                "refresh_token_cookie=$2; csrf_refresh_token=^2",
                "^2",
                "",
                "",
                "",
            ],
        ),
        (
            "cookie_quoted",
            0,
            ["", "a=b; access_token_cookie=\"$0\"; c", "", "", "", ""],
        ),
        (
            "cookie_form_csrf",
            POST | FORM,
            ["", access, "", "", "", "x=1&csrf_token=^0"],
        ),
        (
            "cookies_route",
            COOKIES,
            ["Bearer $0", access, "", "", "", ""],
        ),
        ("query", 0, ["", "", "", "jwt=$0", "", ""]),
        (
            "query_encoded",
            0,
            ["", "", "", "a=%zz&jwt=$0&jwt=x", "", ""],
        ),
        (
            "json_access",
            POST | JSON,
            ["", "", "", "", "", r#"{"access_token":"$0"}"#],
        ),
        (
            "json_refresh",
            POST | REFRESH | JSON,
            ["", "", "", "", "", r#"{"refresh_token":"$2"}"#],
        ),
        (
            "json_not_string",
            POST | JSON,
            ["", "", "", "", "", r#"{"access_token":5}"#],
        ),
        (
            "json_vendor_type",
            POST | CT_EXTRA,
            [
                "",
                "",
                "",
                "",
                "application/vnd.api+json; charset=utf-8",
                r#"{"access_token":"$1"}"#,
            ],
        ),
        ("optional_none", OPTIONAL, ["", "", "", "", "", ""]),
        (
            "optional_bad",
            OPTIONAL,
            ["Bearer x.y.z", "", "", "", "", ""],
        ),
        ("b_bare_header", B, ["$0", "", "", "", "", ""]),
        ("b_query_prefix", B, ["", "", "", "jwt=Bearer%20$0", "", ""]),
        ("b_cookie_refresh", B, ["", access, "", "", "", ""]),
        (
            "b_json_too_large",
            B | POST | JSON,
            [
                "",
                "",
                "",
                "",
                "",
                &format!(r#"{{"access_token":"$0","pad":"{}"}}"#, "x".repeat(600)),
            ],
        ),
        ("b_expired", B, ["$5", "", "", "", "", ""]),
    ];
    for (name, flags, lines) in seeds {
        let mut bytes = vec![*flags];
        bytes.extend_from_slice(lines.join("\n").as_bytes());
        write("http", name, &bytes);
    }
}
