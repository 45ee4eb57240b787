//! The `Authorization` header (the `Bearer` scheme, comma-separated lists, an empty or custom
//! `JWT_HEADER_TYPE`, a custom `JWT_HEADER_NAME` printed as configured) and the token format:
//! every way PyJWT's decoder refuses a token, and where jwtx is stricter (allowed differences 3
//! and 7: padding and duplicate member names, refused header parameters).

use super::*;

/// Reference §c, header rows, and §e header parsing.
#[tokio::test]
async fn authorization_header() {
    let t = jwtx_access();
    let alice = ok(json!({"identity": "alice"}));
    let p = || Req::get("/protected");
    let raw_type = json!({"JWT_HEADER_TYPE": ""});
    run(vec![
        Case::new("valid Bearer", p().bearer(&t)).fje(alice.clone()),
        Case::new("no header", p()).fje(msg(401, "Missing Authorization Header")),
        Case::new("empty header", p().header("Authorization", ""))
            .fje(msg(401, "Missing Authorization Header")),
        Case::new("header of spaces and commas", p().header("Authorization", " , "))
            .fje(msg(401, "Missing Authorization Header")),
        Case::new(
            "lowercase bearer",
            p().header("Authorization", format!("bearer {t}")),
        )
        .fje(msg(401, MISSING_BEARER)),
        Case::new("Token x", p().header("Authorization", "Token x"))
            .fje(msg(401, MISSING_BEARER)),
        Case::new(
            "two Bearer entries in one header",
            p().header("Authorization", format!("Bearer {t}, Bearer {t}")),
        )
        .fje(msg(401, MISSING_BEARER)),
        Case::new("two Authorization headers", p().bearer(&t).bearer(&t))
            .fje(msg(401, MISSING_BEARER)),
        Case::new("Bearer alone", p().header("Authorization", "Bearer"))
            .fje(msg(422, BAD_BEARER)),
        Case::new("Bearer a b", p().header("Authorization", "Bearer a b"))
            .fje(msg(422, BAD_BEARER)),
        Case::new(
            "Basic then Bearer",
            p().header("Authorization", format!("Basic xxx, Bearer {t}")),
        )
        .fje(alice.clone()),
        Case::new(
            "padded with spaces and a trailing comma",
            p().header("Authorization", format!("  Bearer   {t} ,")),
        )
        .fje(alice.clone()),
        Case::new(
            "tab between scheme and token",
            p().header("Authorization", format!("Bearer\t{t}")),
        ),
        Case::new(
            "Bearer then Basic",
            p().header("Authorization", format!("Bearer {t},Basic xxx")),
        ),
        Case::new("empty JWT_HEADER_TYPE, bare token", p().header("Authorization", &t))
            .cfg(raw_type.clone())
            .fje(alice.clone()),
        Case::new("empty JWT_HEADER_TYPE, two words", p().bearer(&t))
            .cfg(raw_type.clone())
            .fje(msg(422, "Bad Authorization header. Expected 'Authorization: <JWT>'")),
        Case::new("empty JWT_HEADER_TYPE, no header", p())
            .cfg(raw_type)
            .fje(msg(401, "Missing Authorization Header")),
        Case::new("JWT_HEADER_TYPE=JWT", p().header("Authorization", format!("JWT {t}")))
            .cfg(json!({"JWT_HEADER_TYPE": "JWT"}))
            .fje(alice.clone()),
        Case::new("JWT_HEADER_TYPE=JWT, Bearer sent", p().bearer(&t))
            .cfg(json!({"JWT_HEADER_TYPE": "JWT"}))
            .fje(msg(
                401,
                "Missing 'JWT' type in 'Authorization' header. Expected 'Authorization: JWT <JWT>'",
            )),
        Case::new("JWT_HEADER_NAME=X-Api-Token, present", p().header("x-api-token", &t))
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token", "JWT_HEADER_TYPE": ""}))
            .fje(alice.clone()),
        Case::new("JWT_HEADER_NAME=X-Api-Token, missing", p())
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token", "JWT_HEADER_TYPE": ""}))
            .fje(msg(401, "Missing X-Api-Token Header")),
        Case::new("JWT_HEADER_NAME=X-Api-Token, Bearer", p().header("X-Api-Token", "Bearer"))
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token"}))
            .fje(msg(422, "Bad X-Api-Token header. Expected 'X-Api-Token: Bearer <JWT>'")),
        // FJE prints JWT_HEADER_NAME in its messages exactly as configured, whatever its case.
        Case::new("JWT_HEADER_NAME=X-API-KEY, missing", p())
            .cfg(json!({"JWT_HEADER_NAME": "X-API-KEY"}))
            .fje(msg(401, "Missing X-API-KEY Header")),
        Case::new("JWT_HEADER_NAME=authorization, Token x", p().header("Authorization", "Token x"))
            .cfg(json!({"JWT_HEADER_NAME": "authorization"}))
            .fje(msg(
                401,
                "Missing 'Bearer' type in 'authorization' header. Expected 'authorization: Bearer <JWT>'",
            )),
    ])
    .await;
}

/// Reference §c, the token-format rows (PyJWT's decoding errors).
#[tokio::test]
async fn token_format() {
    let p = |t: &str| Req::get("/protected").bearer(t);
    let good = forged(json!({}));
    let (h, rest) = good.split_once('.').unwrap();
    let (pl, sig) = rest.split_once('.').unwrap();
    let hs512 = {
        let hdr = b64(br#"{"alg":"HS512","typ":"JWT"}"#);
        let input = format!("{hdr}.{pl}");
        let s = hmac_b64(aws_lc_rs::hmac::HMAC_SHA512, SECRET, &input);
        format!("{input}.{s}")
    };
    let none = format!("{}.{pl}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let other_key = sign_segments(
        h,
        pl,
        "another-secret-another-secret-another-secret-another-secret-00",
    );
    let tampered = format!(
        "{h}.{}.{sig}",
        b64(claims(json!({"sub": "mallory"})).as_bytes())
    );
    // Padding: a payload whose length is not a multiple of 3 gets `=`s.
    let padded_payload = {
        let c = (1..)
            .map(|k| claims(json!({"x": "y".repeat(k)})))
            .find(|c| !c.len().is_multiple_of(3))
            .unwrap();
        let enc = b64(c.as_bytes());
        format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4))
    };
    let signature_trailing_bits = {
        // 32 bytes = 43 chars; the last char carries 2 unused bits: set one.
        let mut s = sig.to_owned();
        let last = s.pop().unwrap();
        let v = B64.iter().position(|b| *b == last as u8).unwrap();
        s.push(B64[v | 1] as char);
        format!("{h}.{pl}.{s}")
    };
    let slash_payload = {
        // "???" encodes as "Pz8_"; Python's b64decode would take "/" for "_", PyJWT 2.15
        // checks the alphabet first.
        let enc = b64(claims(json!({"q": "???"})).as_bytes());
        assert!(enc.contains('_'));
        enc.replace('_', "/")
    };
    let msg422 = |m: &str| msg(422, m);
    run(vec![
        Case::new("baseline", p(&good)).fje(ok(json!({"identity": "alice"}))),
        Case::new("one segment", p("abc")).fje(msg422("Not enough segments")),
        Case::new("two segments", p(&format!("{h}.{pl}"))).fje(msg422("Not enough segments")),
        Case::new("four segments", p(&format!("{good}.{sig}"))),
        Case::new("empty segments", p("..")),
        Case::new("header not base64 (1 mod 4)", p(&format!("a.{pl}.{sig}")))
            .fje(msg422("Invalid header padding")),
        Case::new("payload not base64 (1 mod 4)", p(&format!("{h}.a.{sig}")))
            .fje(msg422("Invalid payload padding")),
        Case::new("signature not base64 (1 mod 4)", p(&format!("{h}.{pl}.a")))
            .fje(msg422("Invalid crypto padding")),
        Case::new("header not JSON", p(&forge("notjson", &claims(json!({}))))).fje(msg422(
            "Invalid header string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new("header a JSON array", p(&forge("[1]", &claims(json!({}))))),
        Case::new(
            "header truncated JSON",
            p(&forge(r#"{"alg":"HS256","#, &claims(json!({})))),
        ),
        Case::new("payload not JSON", p(&forge(HS256_HEADER, "notjson"))).fje(msg422(
            "Invalid payload string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new(
            "payload not JSON, bad signature",
            p(&format!("{h}.{}.{sig}", b64(b"notjson"))),
        )
        .fje(msg422(
            "Invalid payload string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new("payload a JSON array", p(&forge(HS256_HEADER, "[1]"))),
        Case::new(
            "payload a JSON string",
            p(&forge(HS256_HEADER, "\"alice\"")),
        ),
        Case::new("wrong key", p(&other_key)).fje(msg422("Signature verification failed")),
        Case::new("tampered payload", p(&tampered)).fje(msg422("Signature verification failed")),
        Case::new(
            "expired and wrong key",
            p(&sign_segments(
                h,
                &b64(claims(json!({"exp": now() - 100})).as_bytes()),
                "another-secret-another-secret-another-secret-another-secret-00",
            )),
        )
        .fje(msg422("Signature verification failed")),
        Case::new("alg none", p(&none)).fje(msg422("The specified alg value is not allowed")),
        Case::new("HS512 on an HS256 app", p(&hs512))
            .fje(msg422("The specified alg value is not allowed")),
        Case::new(
            "alg RS256 with an HMAC signature",
            p(&forge(r#"{"alg":"RS256","typ":"JWT"}"#, &claims(json!({})))),
        )
        .fje(msg422("The specified alg value is not allowed")),
        Case::new("no alg", p(&forge(r#"{"typ":"JWT"}"#, &claims(json!({})))))
            .fje(msg422("Algorithm not specified")),
        // PyJWT: `if not alg or alg not in algorithms`: any non-string alg is "not allowed".
        Case::new(
            "alg a number",
            p(&forge(r#"{"alg":5}"#, &claims(json!({})))),
        )
        .fje(msg422("The specified alg value is not allowed")),
        Case::new("alg null", p(&forge(r#"{"alg":null}"#, &claims(json!({}))))),
        Case::new("alg empty", p(&forge(r#"{"alg":""}"#, &claims(json!({}))))),
        Case::new(
            "kid a number",
            p(&forge(r#"{"alg":"HS256","kid":5}"#, &claims(json!({})))),
        ),
        Case::new(
            "typ at+jwt",
            p(&forge(
                r#"{"alg":"HS256","typ":"at+jwt"}"#,
                &claims(json!({})),
            )),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "no typ",
            p(&forge(r#"{"alg":"HS256"}"#, &claims(json!({})))),
        ),
        Case::new(
            "typ a number",
            p(&forge(r#"{"alg":"HS256","typ":5}"#, &claims(json!({})))),
        ),
        // PyJWT ignores `kid` (only a decode_key_loader would use it); FJE apps that set one
        // through additional_headers with a single secret are common.
        Case::new(
            "kid a string (HMAC app without kids)",
            p(&forge(
                r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
                &claims(json!({})),
            )),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "jku header",
            p(&forge(
                r#"{"alg":"HS256","jku":"https://evil.example/jwks"}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'jku' is not allowed"),
        ),
        Case::new(
            "x5u header",
            p(&forge(
                r#"{"alg":"HS256","x5u":"https://evil.example/cert"}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'x5u' is not allowed"),
        ),
        Case::new(
            "jwk header",
            p(&forge(
                r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'jwk' is not allowed"),
        ),
        Case::new(
            "x5c header",
            p(&forge(
                r#"{"alg":"HS256","x5c":["AAAA"]}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'x5c' is not allowed"),
        ),
        Case::new(
            "zip header",
            p(&forge(r#"{"alg":"HS256","zip":"DEF"}"#, &claims(json!({})))),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Compressed payloads are not supported"),
        ),
        Case::new(
            "crit [exp]",
            p(&forge(
                r#"{"alg":"HS256","crit":["exp"]}"#,
                &claims(json!({})),
            )),
        )
        .fje(msg422("Unsupported critical extension: exp")),
        Case::new(
            "crit a string",
            p(&forge(
                r#"{"alg":"HS256","crit":"exp"}"#,
                &claims(json!({})),
            )),
        ),
        Case::new(
            "crit empty",
            p(&forge(r#"{"alg":"HS256","crit":[]}"#, &claims(json!({})))),
        ),
        Case::new(
            "crit [5]",
            p(&forge(r#"{"alg":"HS256","crit":[5]}"#, &claims(json!({})))),
        ),
        Case::new(
            "crit [b64] without b64",
            p(&forge(
                r#"{"alg":"HS256","crit":["b64"]}"#,
                &claims(json!({})),
            )),
        ),
        Case::new(
            "crit [b64], b64 true",
            p(&forge(
                r#"{"alg":"HS256","b64":true,"crit":["b64"]}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Unsupported critical extension: b64"),
        ),
        Case::new(
            "signature with a set trailing bit",
            p(&signature_trailing_bits),
        ),
        Case::new(
            "payload with = padding",
            p(&sign_segments(h, &padded_payload, SECRET)),
        )
        .allowed(
            allowed::B64_PADDING,
            ok(json!({"identity": "alice"})),
            msg422("Invalid payload padding"),
        ),
        Case::new(
            "payload with a '!' inside",
            p(&sign_segments(
                h,
                &format!("{}!{}", &pl[..4], &pl[4..]),
                SECRET,
            )),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "payload with '!!!!' inside",
            p(&sign_segments(
                h,
                &format!("{}!!!!{}", &pl[..4], &pl[4..]),
                SECRET,
            )),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "payload with '/' for '_'",
            p(&sign_segments(h, &slash_payload, SECRET)),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "duplicate sub",
            p(&forge(
                HS256_HEADER,
                &claims(json!({})).replacen('{', r#"{"sub":"bob","#, 1),
            )),
        )
        .allowed(
            allowed::DUPLICATE_MEMBER,
            ok(json!({"identity": "alice"})),
            Want::MsgPrefix(422, "Invalid payload string: Duplicate member name"),
        ),
    ])
    .await;
}
