//! Header parameters that name their own key material or change how a token is processed: an
//! embedded `jwk` with the attacker's own key, `jku` / `x5u` / `x5c` (never followed), `crit` and
//! `zip` in any form, `b64: false`, and the JWS JSON serialization; and `typ`, which is not
//! checked.

use super::*;

#[test]
fn embedded_jwk_with_the_attackers_own_key() {
    let victim = fixture(Algorithm::ES256);
    let attacker = Key::generate(Algorithm::ES256).unwrap();
    let jwk = serde_json::to_value(attacker.public_jwk().unwrap()).unwrap();
    for header in [
        serde_json::json!({ "alg": "ES256", "jwk": jwk }),
        serde_json::json!({ "alg": "ES256", "typ": "JWT", "jwk": jwk, "kid": attacker.kid() }),
        serde_json::json!({ "alg": "ES256", "jwk": jwk, "kid": victim.public_key().kid() }),
    ] {
        let header = header.to_string();
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
        let t = format!("{input}.{}", b64(&es256_sign(&attacker, input.as_bytes())));
        let e = jws_err(&t, &victim.verifier);
        assert_eq!(
            e,
            Error::ForbiddenHeader {
                param: ForbiddenHeader::Jwk
            },
            "{header}"
        );
        assert_eq!(e.message(), "Header parameter 'jwk' is not allowed");
        // Even a verifier holding the attacker's key refuses a token carrying `jwk`.
        let attackers_own: KeySet = public_copy(&attacker).into();
        assert_eq!(
            jws_err(&t, &attackers_own),
            Error::ForbiddenHeader {
                param: ForbiddenHeader::Jwk
            }
        );
    }
}

#[test]
fn jku_x5u_x5c_are_never_followed() {
    let cases = [
        (
            "jku",
            r#""https://attacker.example/jwks.json""#,
            ForbiddenHeader::Jku,
        ),
        ("jku", "null", ForbiddenHeader::Jku),
        ("jku", r#""""#, ForbiddenHeader::Jku),
        (
            "x5u",
            r#""https://attacker.example/cert.pem""#,
            ForbiddenHeader::X5u,
        ),
        ("x5u", "[]", ForbiddenHeader::X5u),
        (
            "x5c",
            r#"["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]"#,
            ForbiddenHeader::X5c,
        ),
        ("x5c", "[]", ForbiddenHeader::X5c),
        ("jwk", "{}", ForbiddenHeader::Jwk),
        ("jwk", "null", ForbiddenHeader::Jwk),
        // Escaped member names are the same names.
        (
            "\\u006aku",
            r#""https://attacker.example/""#,
            ForbiddenHeader::Jku,
        ),
        ("x\\u0035c", "[]", ForbiddenHeader::X5c),
        ("\\u006a\\u0077\\u006b", "{}", ForbiddenHeader::Jwk),
    ];
    for (name, value, param) in cases {
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","{name}":{value}}}"#);
        let e = jws_err(&hs(&header, &claims()), &hs_set());
        assert_eq!(e, Error::ForbiddenHeader { param }, "{header}");
        assert_eq!(
            e.message(),
            format!("Header parameter '{}' is not allowed", param.name())
        );
    }
}

#[test]
fn crit_in_any_form() {
    // Every crit is refused; the wording is PyJWT's (flask-jwt-extended's) for the same
    // header, and for what PyJWT would accept (["b64"] with b64 present) jwtx names the
    // extension it does not implement.
    const NOT_A_LIST: &str = "Invalid 'crit' header: must be a non-empty list";
    for (value, b64, message) in [
        ("[]", true, NOT_A_LIST),
        ("null", true, NOT_A_LIST),
        (r#""b64""#, true, NOT_A_LIST),
        (r#"{"b64":true}"#, true, NOT_A_LIST),
        ("0", true, NOT_A_LIST),
        ("false", true, NOT_A_LIST),
        (r#"["exp"]"#, true, "Unsupported critical extension: exp"),
        ("[5]", true, "Invalid 'crit' header: values must be strings"),
        (r#"["b64"]"#, true, "Unsupported critical extension: b64"),
        (
            r#"["b64"]"#,
            false,
            "Critical extension 'b64' is missing from headers",
        ),
    ] {
        for name in ["crit", "\\u0063rit"] {
            let b64 = if b64 { r#","b64":true"# } else { "" };
            let header = format!(r#"{{"alg":"HS256","{name}":{value}{b64}}}"#);
            let e = jws_err(&hs(&header, &claims()), &hs_set());
            assert!(matches!(e, Error::CriticalHeader { .. }), "{header}");
            assert_eq!(e.message(), message, "{header}");
        }
    }
}

#[test]
fn zip_in_any_form() {
    for value in [r#""DEF""#, "null", r#""""#, "true", r#"["DEF"]"#] {
        let header = format!(r#"{{"alg":"HS256","zip":{value}}}"#);
        let e = jws_err(&hs(&header, &claims()), &hs_set());
        assert_eq!(e, Error::CompressedPayload, "{header}");
        assert_eq!(e.message(), "Compressed payloads are not supported");
    }
}

#[test]
fn b64_false_unencoded_payload_is_refused() {
    for value in ["false", "null", r#""false""#, "0"] {
        let header = format!(r#"{{"alg":"HS256","b64":{value}}}"#);
        let e = jws_err(&hs(&header, &claims()), &hs_set());
        assert_eq!(e, Error::HeaderType { param: "b64" }, "{header}");
    }
    // b64:true is the default encoding and changes nothing.
    jws_ok(&hs(r#"{"alg":"HS256","b64":true}"#, &claims()), &hs_set());
}

#[test]
fn typ_is_not_checked() {
    for header in [
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","typ":5}"#,
        r#"{"alg":"HS256","cty":"JWT","x-custom":[1,2]}"#,
    ] {
        jws_ok(&hs(header, &claims()), &hs_set());
    }
}

#[test]
fn jws_json_serialization_is_not_accepted() {
    let t = hs(HS_HEADER, &claims());
    let [h, p, s] = parts(&t);
    let flattened = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#);
    assert_eq!(jws_err(&flattened, &hs_set()), Error::NotEnoughSegments);
    let general =
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#);
    assert_eq!(jws_err(&general, &hs_set()), Error::NotEnoughSegments);
}
