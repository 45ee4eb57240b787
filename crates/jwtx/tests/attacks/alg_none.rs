//! `alg: none` in every spelling, with an empty and a non-empty signature, against HMAC and
//! asymmetric verifiers; `none` tokens with two segments or with a `kid` that selects a real key;
//! a missing, null or non-string `alg`; and spelling variants of the right algorithm. All are
//! refused.

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
