//! Duplicate JSON member names in the header and in the payload (refused, naming the segment),
//! distinct names that only look alike (accepted), and every JSON reader in jwtx agreeing on what
//! is JSON (lone surrogate escapes, numbers beyond f64).

use super::*;

fn assert_duplicate(e: &Error, segment: Segment) {
    match e {
        Error::Json { segment: s, detail } if *s == segment => {
            assert!(detail.starts_with("Duplicate member name"), "{detail}");
        }
        other => panic!("expected a duplicate-member error in {segment:?}, got {other:?}"),
    }
    let part = if segment == Segment::Header {
        "header"
    } else {
        "payload"
    };
    assert!(
        e.message()
            .starts_with(&format!("Invalid {part} string: Duplicate member name")),
        "{}",
        e.message()
    );
}

#[test]
fn in_the_header() {
    for header in [
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"none"}"#,
        r#"{"alg":"HS256","\u0061lg":"none"}"#,
        r#"{"\u0061lg":"none","alg":"HS256"}"#,
        r#"{"\u0061lg":"none","\u0061\u006cg":"HS256"}"#,
        r#"{"alg":"HS256","kid":"a","typ":"JWT","kid":"b"}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":[],"crit":[]}"#,
        // Past the first sixteen names (where the checker switches to a hash set).
        r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"k":1,"l":2,"m":3,"n":4,"o":5,"p":6,"alg":"HS256","q":7,"alg":"x"}"#,
        r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":0,"k":1,"l":2,"m":3,"n":4,"o":5,"p":6,"q":7,"\u0061":1,"alg":"HS256"}"#,
        r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"alg":"HS256","i":9,"alg":"x"}"#,
        r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":1,"alg":"HS256"}"#,
        r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"\u0061":1,"alg":"HS256"}"#,
        // Other escapes of the same name.
        r#"{"alg":"HS256","a/b":1,"a\/b":2}"#,
        r#"{"alg":"HS256","\ud83d\ude00":1,"😀":2}"#,
        r#"{"alg":"HS256","t\tx":1,"t\u0009x":2}"#,
    ] {
        let e = jws_err(&hs(header, &claims()), &hs_set());
        assert_duplicate(&e, Segment::Header);
    }
}

#[test]
fn in_the_payload() {
    let exp = NOW + 900;
    for payload in [
        format!(r#"{{"sub":"alice","sub":"admin","exp":{exp}}}"#),
        format!(r#"{{"sub":"alice","\u0073ub":"admin","exp":{exp}}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"exp":99999999999}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"\u0065xp":99999999999}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"roles":["user"],"roles":["admin"]}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"x":{{"a":1,"a":2}}}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"x":[{{"a":1}},{{"\u0061":1,"a":2}}]}}"#),
        format!(
            r#"{{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"sub":"alice","exp":{exp},"sub":"admin"}}"#
        ),
    ] {
        let t = hs(HS_HEADER, &payload);
        assert_duplicate(
            &jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).unwrap_err(),
            Segment::Payload,
        );
        assert_duplicate(
            &codec().verify::<serde_json::Value>(&t).unwrap_err(),
            Segment::Payload,
        );
        assert_duplicate(
            &codec().verify::<NoClaims>(&t).unwrap_err(),
            Segment::Payload,
        );
    }
}

#[test]
fn distinct_names_that_look_alike_are_fine() {
    // Different code points stay different names.
    let payload = format!(
        r#"{{"sub":"alice","exp":{},"a":1,"A":2,"\u00e9":3,"e\u0301":4,"\ud83d\ude00":5,"\ud83d\ude01":6}}"#,
        NOW + 900
    );
    claims_result(&payload).unwrap();
}

#[test]
fn every_reader_agrees_on_what_json_is() {
    // JSON that is grammatical but that serde_json cannot represent: lone surrogate escapes
    // (`"\ud800"`, no Unicode string; Python's json takes them) and numbers beyond f64
    // (`1e400`; Python reads inf). Accepting or refusing are both defensible, but every
    // reader must agree: whether a token verifies must not depend on the application's
    // claims type, and `decode_unverified` must read what verifies.
    let exp = NOW + 900;
    for payload in [
        format!(r#"{{"sub":"alice","exp":{exp},"x":"\ud800"}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"\udc00":1}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"x":1e400}}"#),
        format!(r#"{{"sub":"alice","exp":{exp},"x":[-1e400]}}"#),
    ] {
        let t = hs(HS_HEADER, &payload);
        let no_claims = codec().verify::<NoClaims>(&t).map(|_| ());
        let value = codec().verify::<serde_json::Value>(&t).map(|_| ());
        let unverified = jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).map(|_| ());
        assert!(
            no_claims.is_ok() == value.is_ok() && value.is_ok() == unverified.is_ok(),
            "{payload}: Codec::verify::<NoClaims> {no_claims:?}, \
             Codec::verify::<Value> {value:?}, decode_unverified {unverified:?}"
        );
    }
    // In the header: the JWS layer and the unverified decoder.
    for header in [
        r#"{"alg":"HS256","typ":"\ud800"}"#,
        r#"{"alg":"HS256","x":1e400}"#,
    ] {
        let t = hs(header, &claims());
        let jws_layer = jws::verify(&t, &hs_set(), DEFAULT_MAX_TOKEN_LEN).map(|_| ());
        let unverified = jwtx::dangerous::decode_unverified(&t, DEFAULT_MAX_TOKEN_LEN).map(|_| ());
        assert_eq!(
            jws_layer.is_ok(),
            unverified.is_ok(),
            "{header}: jws::verify {jws_layer:?}, decode_unverified {unverified:?}"
        );
    }
}
