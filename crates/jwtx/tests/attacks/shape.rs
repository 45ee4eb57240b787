//! Size and shape: oversized tokens refused before decoding (the default cap and a smaller
//! custom one), deeply nested JSON (and moderate nesting, which is fine), four or more segments,
//! empty and short tokens, a header or payload that is not a JSON object, non-UTF-8 header and
//! payload (with Python's messages), and `decode_unverified`, which never trusts but still parses
//! strictly.

use super::*;

#[test]
fn oversized_token_is_refused_before_decoding() {
    // Not even base64: the length cap answers first.
    let junk = "!".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
    let e = jws_err(&junk, &hs_set());
    assert_eq!(
        e,
        Error::TooLarge {
            len: DEFAULT_MAX_TOKEN_LEN + 1,
            max: DEFAULT_MAX_TOKEN_LEN
        }
    );
    assert_eq!(e.message(), "Token is too large");
    assert_eq!(codec().verify::<NoClaims>(&junk).unwrap_err(), e);
    assert_eq!(
        jwtx::dangerous::decode_unverified(&junk, DEFAULT_MAX_TOKEN_LEN).unwrap_err(),
        e
    );
    // A genuine token just over the cap, and one exactly at it.
    let sized = |len: usize| -> String {
        let t = (0..10_000)
            .map(|n| {
                format!(
                    r#"{{"sub":"alice","exp":{},"pad":"{}"}}"#,
                    NOW + 900,
                    "x".repeat(n)
                )
            })
            .map(|payload| hs(HS_HEADER, &payload))
            .find(|t| t.len() >= len)
            .unwrap();
        assert_eq!(t.len(), len, "no token of exactly {len} bytes");
        t
    };
    let at_cap = sized(DEFAULT_MAX_TOKEN_LEN);
    codec().verify::<NoClaims>(&at_cap).unwrap();
    let over = sized(DEFAULT_MAX_TOKEN_LEN + 1);
    assert!(matches!(
        codec().verify::<NoClaims>(&over),
        Err(Error::TooLarge { .. })
    ));
    // A larger cap accepts it.
    codec()
        .with_validation(Validation::new().max_token_len(64 * 1024))
        .verify::<NoClaims>(&over)
        .unwrap();
}

#[test]
fn custom_smaller_cap() {
    let t = codec().access_token("alice").sign().unwrap().token;
    codec().verify::<NoClaims>(&t).unwrap();
    let small = codec().with_validation(Validation::new().max_token_len(100));
    assert_eq!(
        small.verify::<NoClaims>(&t).unwrap_err(),
        Error::TooLarge {
            len: t.len(),
            max: 100
        }
    );
    assert_eq!(
        jws::verify(&t, &hs_set(), 10).unwrap_err(),
        Error::TooLarge {
            len: t.len(),
            max: 10
        }
    );
    assert_eq!(
        jws::verify("", &hs_set(), 0).unwrap_err(),
        Error::NotEnoughSegments
    );
}

fn assert_too_deep(e: &Error, segment: Segment) {
    match e {
        Error::Json { segment: s, detail } if *s == segment => {
            assert!(detail.starts_with("Nesting too deep"), "{detail}");
        }
        other => panic!("expected a nesting error in {segment:?}, got {other:?}"),
    }
}

#[test]
fn deeply_nested_json() {
    let big = 1 << 20;
    for depth in [1000, 100_000] {
        let arrays = format!(
            r#"{{"sub":"alice","exp":{},"x":{}{}}}"#,
            NOW + 900,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let objects = format!(
            r#"{{"sub":"alice","exp":{},"x":{}1{}}}"#,
            NOW + 900,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        let c = codec().with_validation(Validation::new().max_token_len(big * 8));
        for payload in [&arrays, &objects] {
            let t = hs(HS_HEADER, payload);
            assert_too_deep(&c.verify::<NoClaims>(&t).unwrap_err(), Segment::Payload);
            assert_too_deep(
                &c.verify::<serde_json::Value>(&t).unwrap_err(),
                Segment::Payload,
            );
            assert_too_deep(
                &jwtx::dangerous::decode_unverified(&t, big * 8).unwrap_err(),
                Segment::Payload,
            );
        }
        let header = format!(
            r#"{{"alg":"HS256","x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let t = hs(&header, &claims());
        assert_too_deep(
            &jws::verify(&t, &hs_set(), big * 8).unwrap_err(),
            Segment::Header,
        );
    }
    // Unterminated deep nesting too.
    let t = hs(HS_HEADER, &format!(r#"{{"x":{}"#, "[".repeat(5000)));
    assert!(matches!(
        codec()
            .with_validation(Validation::new().max_token_len(big))
            .verify::<NoClaims>(&t)
            .unwrap_err(),
        Error::Json {
            segment: Segment::Payload,
            ..
        }
    ));
}

#[test]
fn moderate_nesting_is_fine() {
    let payload = format!(
        r#"{{"sub":"alice","exp":{},"x":{}{}}}"#,
        NOW + 900,
        "[".repeat(16),
        "]".repeat(16)
    );
    let v = codec()
        .verify::<serde_json::Value>(&hs(HS_HEADER, &payload))
        .unwrap();
    assert!(v.custom()["x"].is_array());
}

#[test]
fn four_or_more_segments() {
    let t = hs(HS_HEADER, &claims());
    for bad in [
        format!("{t}."),
        format!("{t}.x"),
        format!("{t}.{}", parts(&t)[2]),
        format!("{t}.."),
        "a.b.c.d".to_owned(),
        "...".to_owned(),
        ".....".to_owned(),
    ] {
        let e = jws_err(&bad, &hs_set());
        assert_eq!(e, Error::TooManySegments, "{bad}");
        assert_eq!(e.message(), "Invalid payload padding");
    }
}

#[test]
fn empty_and_short_tokens() {
    for bad in ["", "abc", "a.b", ".", "eyJhbGciOiJIUzI1NiJ9"] {
        let e = jws_err(bad, &hs_set());
        assert_eq!(e, Error::NotEnoughSegments, "{bad:?}");
        assert_eq!(e.message(), "Not enough segments");
        assert_eq!(codec().verify::<NoClaims>(bad).unwrap_err(), e);
    }
    // Three empty segments: the empty header is not JSON.
    let e = jws_err("..", &hs_set());
    assert_eq!(
        e.message(),
        "Invalid header string: Expecting value: line 1 column 1 (char 0)"
    );
}

#[test]
fn header_and_payload_must_be_json_objects() {
    for header in ["[]", r#""HS256""#, "null", "1", "[{\"alg\":\"HS256\"}]"] {
        let e = jws_err(&hs(header, &claims()), &hs_set());
        assert_eq!(
            e.message(),
            "Invalid header string: must be a json object",
            "{header}"
        );
    }
    for payload in ["[]", r#""alice""#, "null", "1", "true"] {
        let t = hs(HS_HEADER, payload);
        let e = codec().verify::<NoClaims>(&t).unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid payload string: must be a json object",
            "{payload}"
        );
    }
    for (payload, msg) in [
        ("", "Expecting value: line 1 column 1 (char 0)"),
        (
            "{",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            r#"{"a":1,}"#,
            "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
        ),
        (r#"{"a":1} x"#, "Extra data: line 1 column 9 (char 8)"),
        (
            r#"{'a':1}"#,
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
    ] {
        let e = codec()
            .verify::<NoClaims>(&hs(HS_HEADER, payload))
            .unwrap_err();
        assert_eq!(
            e.message(),
            format!("Invalid payload string: {msg}"),
            "{payload:?}"
        );
    }
    // Python's json would take NaN and Infinity; RFC 8259 (and jwtx) do not.
    for payload in [r#"{"sub":"a","x":NaN}"#, r#"{"sub":"a","x":-Infinity}"#] {
        assert!(matches!(
            codec()
                .verify::<NoClaims>(&hs(HS_HEADER, payload))
                .unwrap_err(),
            Error::Json {
                segment: Segment::Payload,
                ..
            }
        ));
    }
}

#[test]
fn non_utf8_header_and_payload() {
    let header = b"{\"alg\":\"HS256\",\"x\":\"\xff\"}";
    let t = forge_with(Algorithm::HS256, header, claims().as_bytes(), SECRET);
    let e = jws_err(&t, &hs_set());
    assert!(
        matches!(
            &e,
            Error::Json {
                segment: Segment::Header,
                ..
            }
        ),
        "{e:?}"
    );
    // Python's exact text (flask-jwt-extended answers with it).
    assert_eq!(
        e.message(),
        "Invalid header string: 'utf-8' codec can't decode byte 0xff in position 20: invalid start byte"
    );
    let payload = b"{\"sub\":\"\xc0\xaf\",\"exp\":1}";
    let t = forge_with(Algorithm::HS256, HS_HEADER.as_bytes(), payload, SECRET);
    assert!(matches!(
        codec().verify::<NoClaims>(&t).unwrap_err(),
        Error::Json {
            segment: Segment::Payload,
            ..
        }
    ));
    // Overlong encodings, UTF-8-encoded surrogates and a BOM are all refused.
    for bad in [
        &b"{\"a\":\"\xc0\x80\"}"[..],
        b"{\"a\":\"\xed\xa0\x80\"}",
        b"\xef\xbb\xbf{}",
    ] {
        let t = forge_with(Algorithm::HS256, bad, claims().as_bytes(), SECRET);
        assert!(
            matches!(
                jws_err(&t, &hs_set()),
                Error::Json {
                    segment: Segment::Header,
                    ..
                }
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_messages_match_python() {
    // Python reports the *byte* offset and names the kind of UTF-8 error.
    let cases: [(&[u8], &str); 3] = [
        (
            b"{\"a\":\"\xc3\xa9\xff\"}",
            "'utf-8' codec can't decode byte 0xff in position 8: invalid start byte",
        ),
        (
            b"{\"a\":\"\xc3(\"}",
            "'utf-8' codec can't decode byte 0xc3 in position 6: invalid continuation byte",
        ),
        (
            b"{\"a\":\"\xe2\x82",
            "'utf-8' codec can't decode bytes in position 6-7: unexpected end of data",
        ),
    ];
    let mut wrong = Vec::new();
    for (header, python) in cases {
        let t = forge_with(Algorithm::HS256, header, claims().as_bytes(), SECRET);
        let got = jws_err(&t, &hs_set()).message();
        let want = format!("Invalid header string: {python}");
        if got != want {
            wrong.push(format!("  {header:?}\n    want {want}\n    got  {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "messages differ from Python's:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn decode_unverified_never_trusts_but_still_parses_strictly() {
    // A forged token decodes (for display) but never verifies.
    let t = forge_with(
        Algorithm::HS256,
        HS_HEADER.as_bytes(),
        claims().as_bytes(),
        OTHER_SECRET,
    );
    let u = jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).unwrap();
    assert_eq!(u.claims["sub"], "alice");
    assert_eq!(jws_err(&t, &hs_set()), Error::InvalidSignature);
    // Its shape rules are the verifier's.
    let dup = hs(r#"{"alg":"HS256","alg":"none"}"#, &claims());
    assert!(matches!(
        jwtx::dangerous::decode_unverified(&dup, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::Json {
            segment: Segment::Header,
            ..
        })
    ));
}
