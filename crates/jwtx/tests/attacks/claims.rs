//! Claim-type abuse: NumericDates of the wrong type or range, numbers beyond f64, NumericDate
//! boundaries, escaped registered claim names, a missing `exp`, non-string `sub` and `jti`, issuer
//! and audience checks, and a refresh token where an access token is expected; with
//! flask-jwt-extended's messages where it has fixed ones.

use super::*;

const TIME_CLAIMS: [(&str, &str); 3] = [
    ("exp", "Expiration Time claim (exp) must be an integer."),
    ("nbf", "Not Before claim (nbf) must be an integer."),
    ("iat", "Issued At claim (iat) must be an integer."),
];

/// Valid claims with `name` set to the JSON text `value` (or removed when `None`).
fn payload_with(name: &str, value: Option<&str>) -> String {
    let mut members = vec![
        ("sub", "\"alice\"".to_owned()),
        ("iat", NOW.to_string()),
        ("nbf", NOW.to_string()),
        ("jti", "\"j1\"".to_owned()),
        ("exp", (NOW + 900).to_string()),
    ];
    members.retain(|(n, _)| *n != name);
    if let Some(v) = value {
        members.push((name, v.to_owned()));
    }
    let body: Vec<String> = members
        .iter()
        .map(|(n, v)| format!("\"{n}\":{v}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

#[test]
fn sanity_valid_claims_verify() {
    let v = claims_result(&payload_with("x", None)).unwrap();
    assert_eq!(v.sub(), "alice");
    assert_eq!(v.claims().exp, Some(NOW + 900));
}

#[test]
fn numeric_dates_of_the_wrong_type_or_range() {
    for (claim, message) in TIME_CLAIMS {
        for bad in [
            "\"1700000900\"",
            "\"\"",
            "-1",
            "-1700000900",
            "-0.5",
            "-1e-300",
            "1e300",
            "1.7976931348623157e308",
            "9007199254740993",
            "9007199254740994.0",
            "18446744073709551615",
            "18446744073709551616",
            "100000000000000000000000000000",
            "[1700000900]",
            "[]",
            "{}",
            r#"{"$date":1700000900}"#,
            "null",
            "true",
            "false",
        ] {
            let e = claims_err(&payload_with(claim, Some(bad)));
            let name: &'static str = match claim {
                "exp" => "exp",
                "nbf" => "nbf",
                _ => "iat",
            };
            assert_eq!(e, Error::ClaimType { claim: name }, "{claim}={bad}");
            assert_eq!(e.message(), message, "{claim}={bad}");
        }
    }
}

#[test]
fn numbers_beyond_f64_are_refused_with_a_documented_message() {
    // 1e400 is JSON grammar but no finite number: an invalid NumericDate (README.md, "What strict means"). jwtx may
    // call it a claim-type error (flask's text) or malformed JSON (Python's json-style
    // text, which always ends in "(char N)"); it must not hand a client serde's wording.
    for (claim, message) in TIME_CLAIMS {
        for bad in ["1e400", "-1e400", "1E+400"] {
            let e = claims_err(&payload_with(claim, Some(bad)));
            let ok = match &e {
                Error::ClaimType { .. } => e.message() == message,
                Error::Json {
                    segment: Segment::Payload,
                    detail,
                } => detail.ends_with(')') && detail.contains("(char "),
                _ => false,
            };
            assert!(ok, "{claim}={bad}: {e:?} -> {:?}", e.message());
        }
    }
}

#[test]
fn numeric_date_boundaries() {
    // 2^53 is the largest NumericDate accepted.
    let v = claims_result(&payload_with("exp", Some("9007199254740992"))).unwrap();
    assert_eq!(v.claims().exp, Some(1 << 53));
    // Floats are numbers (PyJWT truncates them).
    let v = claims_result(&payload_with("exp", Some("1700000900.75"))).unwrap();
    assert_eq!(v.claims().exp, Some(NOW + 900));
    claims_result(&payload_with("exp", Some("1.7000009e9"))).unwrap();
    // exp <= now is expired: exp == now is already expired.
    let e = claims_err(&payload_with("exp", Some(&NOW.to_string())));
    assert_eq!(e, Error::Expired { exp: NOW, now: NOW });
    assert_eq!(e.message(), "Token has expired");
    claims_result(&payload_with("exp", Some(&(NOW + 1).to_string()))).unwrap();
    for v in ["0", "-0", "0.0", "1"] {
        assert!(matches!(
            claims_err(&payload_with("exp", Some(v))),
            Error::Expired { .. }
        ));
    }
    // nbf / iat one second in the future.
    let e = claims_err(&payload_with("nbf", Some(&(NOW + 1).to_string())));
    assert_eq!(
        e,
        Error::Immature {
            claim: TimeClaim::Nbf,
            value: NOW + 1,
            now: NOW
        }
    );
    assert_eq!(e.message(), "The token is not yet valid (nbf)");
    let e = claims_err(&payload_with("iat", Some(&(NOW + 1).to_string())));
    assert_eq!(e.message(), "The token is not yet valid (iat)");
    // Leeway covers both.
    let lenient = codec().with_validation(Validation::new().leeway(Duration::from_secs(1)));
    lenient
        .verify::<NoClaims>(&hs(
            HS_HEADER,
            &payload_with("nbf", Some(&(NOW + 1).to_string())),
        ))
        .unwrap();
    lenient
        .verify::<NoClaims>(&hs(HS_HEADER, &payload_with("exp", Some(&NOW.to_string()))))
        .unwrap();
}

#[test]
fn escaped_registered_names_are_still_checked() {
    let future = (NOW + 1000).to_string();
    let p = format!(
        r#"{{"sub":"alice","exp":{},"\u006ebf":{future}}}"#,
        NOW + 900
    );
    assert!(matches!(
        claims_err(&p),
        Error::Immature {
            claim: TimeClaim::Nbf,
            ..
        }
    ));
    let p = format!(r#"{{"sub":"alice","\u0065xp":{NOW}}}"#);
    assert!(matches!(claims_err(&p), Error::Expired { .. }));
    let p = format!(r#"{{"\u0073ub":5,"exp":{}}}"#, NOW + 900);
    assert_eq!(claims_err(&p), Error::ClaimType { claim: "sub" });
}

#[test]
fn missing_exp() {
    let p = payload_with("exp", None);
    let e = claims_err(&p);
    assert_eq!(e, Error::MissingClaim { claim: "exp" });
    assert_eq!(e.message(), "Token is missing the \"exp\" claim");
    let allowing = codec().with_validation(Validation::new().dangerous_allow_missing_exp());
    let v = allowing.verify::<NoClaims>(&hs(HS_HEADER, &p)).unwrap();
    assert_eq!(v.claims().exp, None);
    // Allowing a missing exp does not allow an expired or malformed one.
    let expired = payload_with("exp", Some(&NOW.to_string()));
    assert!(matches!(
        allowing.verify::<NoClaims>(&hs(HS_HEADER, &expired)),
        Err(Error::Expired { .. })
    ));
    let null = payload_with("exp", Some("null"));
    assert_eq!(
        allowing
            .verify::<NoClaims>(&hs(HS_HEADER, &null))
            .unwrap_err(),
        Error::ClaimType { claim: "exp" }
    );
    // Codec-issued tokens without exp need the same opt-in.
    let c = codec();
    let t = c
        .access_token("alice")
        .never_expires()
        .sign()
        .unwrap()
        .token;
    assert_eq!(
        c.verify::<NoClaims>(&t).unwrap_err(),
        Error::MissingClaim { claim: "exp" }
    );
    c.with_validation(Validation::new().dangerous_allow_missing_exp())
        .verify::<NoClaims>(&t)
        .unwrap();
}

#[test]
fn sub_and_jti_must_be_strings() {
    for bad in [
        "5",
        "null",
        "true",
        r#"["alice"]"#,
        r#"{"id":"alice"}"#,
        "1.5",
    ] {
        let e = claims_err(&payload_with("sub", Some(bad)));
        assert_eq!(e, Error::ClaimType { claim: "sub" }, "sub={bad}");
        assert_eq!(e.message(), "Subject must be a string");
        let e = claims_err(&payload_with("jti", Some(bad)));
        assert_eq!(e, Error::ClaimType { claim: "jti" }, "jti={bad}");
        assert_eq!(e.message(), "JWT ID must be a string");
    }
    let e = claims_err(&payload_with("sub", None));
    assert_eq!(e, Error::MissingClaim { claim: "sub" });
    assert_eq!(e.message(), "Missing claim: sub");
    // A missing jti is fine (hand-made tokens), as in flask-jwt-extended.
    assert_eq!(
        claims_result(&payload_with("jti", None)).unwrap().jti(),
        None
    );
}

#[test]
fn issuer_and_audience() {
    let c = codec().with_validation(
        Validation::new()
            .issuer("https://auth.example")
            .audience("api"),
    );
    let base = |extra: &str| format!(r#"{{"sub":"a","exp":{}{extra}}}"#, NOW + 900);
    let err = |p: &str| c.verify::<NoClaims>(&hs(HS_HEADER, p)).unwrap_err();
    assert_eq!(
        err(&base(r#","aud":"api""#)),
        Error::MissingClaim { claim: "iss" }
    );
    assert_eq!(
        err(&base(r#","iss":"https://evil.example","aud":"api""#)),
        Error::InvalidIssuer
    );
    assert_eq!(
        err(&base(r#","iss":5,"aud":"api""#)),
        Error::ClaimType { claim: "iss" }
    );
    assert_eq!(
        err(&base(r#","iss":"https://auth.example""#)),
        Error::MissingClaim { claim: "aud" }
    );
    assert_eq!(
        err(&base(
            r#","iss":"https://auth.example","aud":["web","apix"]"#
        )),
        Error::InvalidAudience
    );
    assert_eq!(
        err(&base(r#","iss":"https://auth.example","aud":[5]"#)),
        Error::ClaimType { claim: "aud" }
    );
    c.verify::<NoClaims>(&hs(
        HS_HEADER,
        &base(r#","iss":"https://auth.example","aud":["web","api"]"#),
    ))
    .unwrap();
}

#[test]
fn refresh_token_where_an_access_token_is_expected() {
    let c = codec();
    let refresh = c.refresh_token("alice").sign().unwrap().token;
    let v = c.verify::<NoClaims>(&refresh).unwrap();
    let e = v.require(TokenKind::Access).unwrap_err();
    assert_eq!(
        e,
        Error::WrongType {
            expected: TokenType::Access
        }
    );
    assert_eq!(e.message(), "Only non-refresh tokens are allowed");
    // And a hand-made `type` other than refresh passes where access tokens go (flask).
    let p = format!(r#"{{"sub":"a","exp":{},"type":"weird"}}"#, NOW + 900);
    claims_result(&p)
        .unwrap()
        .require(TokenKind::Access)
        .unwrap();
    let p = format!(r#"{{"sub":"a","exp":{},"type":5}}"#, NOW + 900);
    assert_eq!(claims_err(&p), Error::ClaimType { claim: "type" });
}
