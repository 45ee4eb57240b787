//! Token locations other than headers and cookies: the query string and the JSON body (a body
//! that is not an object, oversized tokens and bodies: allowed differences 2, 8 and 9); several
//! locations with their order and combined message, `JWT_ERROR_MESSAGE_KEY`,
//! `@jwt_required(optional=True)`, and OPTIONS on a protected route.

use super::*;

/// Reference §c and §e: the query string.
#[tokio::test]
async fn query_string() {
    let t = jwtx_access();
    let q = json!({"JWT_TOKEN_LOCATION": ["query_string"]});
    let prefixed =
        json!({"JWT_TOKEN_LOCATION": ["query_string"], "JWT_QUERY_STRING_VALUE_PREFIX": "Bearer "});
    let alice = ok(json!({"identity": "alice"}));
    let c =
        |name: &str, path: String, cfg: &Value| Case::new(name, Req::get(&path)).cfg(cfg.clone());
    run(vec![
        c("missing", "/protected".into(), &q).fje(msg(401, "Missing 'jwt' query paramater")),
        c("empty", "/protected?jwt=".into(), &q).fje(msg(401, "Missing 'jwt' query paramater")),
        c("other parameter", "/protected?token=x".into(), &q)
            .fje(msg(401, "Missing 'jwt' query paramater")),
        c("valid", format!("/protected?jwt={t}"), &q).fje(alice.clone()),
        c("valid, whoami", format!("/whoami?a=1&jwt={t}"), &q),
        c(
            "repeated, first wins",
            format!("/protected?jwt={t}&jwt=garbage"),
            &q,
        )
        .fje(alice.clone()),
        c(
            "repeated, first garbage",
            format!("/protected?jwt=garbage&jwt={t}"),
            &q,
        )
        .fje(msg(422, "Not enough segments")),
        c("prefix missing", format!("/protected?jwt={t}"), &prefixed).fje(msg(
            422,
            "Invalid value for query parameter 'jwt'. Expected the value to start with 'Bearer '",
        )),
        c(
            "prefix %20",
            format!("/protected?jwt=Bearer%20{t}"),
            &prefixed,
        )
        .fje(alice.clone()),
        c("prefix +", format!("/protected?jwt=Bearer+{t}"), &prefixed).fje(alice.clone()),
        c(
            "custom name",
            format!("/protected?token={t}"),
            &json!({"JWT_TOKEN_LOCATION": "query_string", "JWT_QUERY_STRING_NAME": "token"}),
        )
        .fje(alice),
        c(
            "custom name, missing",
            "/protected".into(),
            &json!({"JWT_TOKEN_LOCATION": "query_string", "JWT_QUERY_STRING_NAME": "token"}),
        )
        .fje(msg(401, "Missing 'token' query paramater")),
        c("prefix only", "/protected?jwt=Bearer%20".into(), &prefixed),
        c(
            "percent-encoded token",
            format!("/protected?jwt={}", t.replace('.', "%2E")),
            &q,
        ),
    ])
    .await;
}

/// Reference §c and §e: the JSON body.
#[tokio::test]
async fn json_body() {
    let t = jwtx_access();
    let big = default_manager()
        .access_token("alice")
        .claim("pad", "x".repeat(9000))
        .sign()
        .unwrap()
        .token;
    let rt = jwtx_refresh();
    let j = json!({"JWT_TOKEN_LOCATION": ["json"]});
    let alice = ok(json!({"identity": "alice"}));
    let missing = msg(401, "Missing \"access_token\" key in json data.");
    let bad_type = msg(401, "Invalid content-type. Must be application/json.");
    let c = |name: &str, req: Req| Case::new(name, req).cfg(j.clone());
    let post = || Req::post("/protected");
    run(vec![
        c("GET without body", Req::get("/protected")).fje(bad_type.clone()),
        c(
            "text/plain",
            post().body("text/plain", format!(r#"{{"access_token":"{t}"}}"#)),
        )
        .fje(bad_type.clone()),
        c(
            "form body",
            post().body(
                "application/x-www-form-urlencoded",
                format!("access_token={t}"),
            ),
        )
        .fje(bad_type),
        c("valid", post().json(format!(r#"{{"access_token":"{t}"}}"#))).fje(alice.clone()),
        c(
            "charset parameter",
            post().body(
                "application/json; charset=utf-8",
                format!(r#"{{"access_token":"{t}"}}"#),
            ),
        )
        .fje(alice.clone()),
        c(
            "+json media type",
            post().body(
                "application/vnd.api+json",
                format!(r#"{{"access_token":"{t}"}}"#),
            ),
        )
        .fje(alice.clone()),
        c(
            "upper-case media type",
            post().body("Application/JSON", format!(r#"{{"access_token":"{t}"}}"#)),
        ),
        c("key missing", post().json(r#"{"token":"x"}"#)).fje(missing.clone()),
        c("{}", post().json("{}")).fje(missing.clone()),
        c("malformed", post().json("{")).fje(missing.clone()),
        c("empty body", post().json("")).fje(missing.clone()),
        c("null", post().json("null")).fje(missing.clone()),
        c("empty string value", post().json(r#"{"access_token":""}"#)).fje(missing.clone()),
        c("null value", post().json(r#"{"access_token":null}"#)).fje(missing.clone()),
        c("false value", post().json(r#"{"access_token":false}"#)).fje(missing.clone()),
        // FJE: `if not encoded_token` makes every falsy value (0, 0.0, false, "", [], {}, null)
        // a missing token (401, and the search goes on); any other non-string reaches PyJWT,
        // which answers 422 `Invalid token type. Token must be a <class 'bytes'>`.
        c("zero value", post().json(r#"{"access_token":0}"#)),
        c("empty list value", post().json(r#"{"access_token":[]}"#)),
        c("empty object value", post().json(r#"{"access_token":{}}"#)),
        c("number value", post().json(r#"{"access_token":5}"#)),
        c("true value", post().json(r#"{"access_token":true}"#)),
        c("float value", post().json(r#"{"access_token":1.5}"#)),
        c("0.0 value", post().json(r#"{"access_token":0.0}"#)),
        c("list value", post().json(r#"{"access_token":["a.b.c"]}"#)),
        c("object value", post().json(r#"{"access_token":{"a":1}}"#)),
        Case::new(
            "json,headers: zero value falls through to the header",
            post().bearer(&t).json(r#"{"access_token":0}"#),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["json", "headers"]}))
        .fje(alice.clone()),
        c(
            "garbage value",
            post().json(r#"{"access_token":"garbage"}"#),
        )
        .fje(msg(422, "Not enough segments")),
        c(
            "value with a leading space",
            post().json(format!(r#"{{"access_token":" {t}"}}"#)),
        ),
        c(
            "valid, chunked (no Content-Length)",
            post()
                .json(format!(r#"{{"access_token":"{t}"}}"#))
                .chunked(),
        )
        .fje(alice.clone()),
        c(
            "valid, body over 64 KiB",
            post().json(format!(
                r#"{{"access_token":"{t}","pad":"{}"}}"#,
                "x".repeat(70_000)
            )),
        )
        .allowed(
            allowed::BODY_LIMIT,
            alice.clone(),
            msg(413, "Request body too large"),
        ),
        c(
            "token over 8 KiB",
            post().json(format!(r#"{{"access_token":"{big}"}}"#)),
        )
        .allowed(
            allowed::TOKEN_LEN,
            alice.clone(),
            msg(422, "Token is too large"),
        ),
        c("array body", post().json("[1]")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing.clone(),
        ),
        c("string body", post().json("\"x\"")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing.clone(),
        ),
        c("number body", post().json("5")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing,
        ),
        c(
            "refresh route",
            Req::post("/refresh").json(format!(r#"{{"refresh_token":"{rt}"}}"#)),
        )
        .fje(alice.clone()),
        c(
            "refresh route, access_token key",
            Req::post("/refresh").json(format!(r#"{{"access_token":"{rt}"}}"#)),
        )
        .fje(msg(401, "Missing \"refresh_token\" key in json data.")),
        Case::new(
            "JWT_JSON_KEY=token",
            post().json(format!(r#"{{"token":"{t}"}}"#)),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["json"], "JWT_JSON_KEY": "token"}))
        .fje(alice),
        Case::new("JWT_REFRESH_JSON_KEY=rt", Req::post("/refresh").json("{}"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["json"], "JWT_REFRESH_JSON_KEY": "rt"}))
            .fje(msg(401, "Missing \"rt\" key in json data.")),
    ])
    .await;
}

/// Reference §e: several locations, their order, the combined message; JWT_ERROR_MESSAGE_KEY.
#[tokio::test]
async fn locations_and_error_key() {
    let m = default_manager();
    let at = m.access_token("alice").sign().unwrap();
    let (t, csrf) = (at.token.as_str(), at.csrf().unwrap());
    let all = json!({"JWT_TOKEN_LOCATION": ["headers", "cookies", "query_string", "json"]});
    let hc = json!({"JWT_TOKEN_LOCATION": ["headers", "cookies"]});
    let ch = json!({"JWT_TOKEN_LOCATION": ["cookies", "headers"]});
    let alice = ok(json!({"identity": "alice"}));
    let whoami = |loc: &str| {
        ok(json!({"identity": "alice", "type": "access", "fresh": false, "location": loc}))
    };
    let error_key = json!({"JWT_ERROR_MESSAGE_KEY": "error"});
    run(vec![
        Case::new("all four, none present", Req::get("/protected")).cfg(all.clone()).fje(msg(
            401,
            "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
             Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; \
             Invalid content-type. Must be application/json.)",
        )),
        Case::new("all four, POST {}", Req::post("/protected").json("{}")).cfg(all.clone()),
        Case::new("all four, refresh route", Req::post("/refresh")).cfg(all.clone()),
        Case::new("all four, header", Req::get("/whoami").bearer(t)).cfg(all.clone()).fje(whoami("headers")),
        Case::new("all four, cookie", Req::get("/whoami").access_cookie(t)).cfg(all.clone()).fje(whoami("cookies")),
        Case::new("all four, query", Req::get(&format!("/whoami?jwt={t}"))).cfg(all.clone()).fje(whoami("query_string")),
        Case::new("all four, Token x then query", Req::get(&format!("/whoami?jwt={t}")).header("Authorization", "Token x"))
            .cfg(all.clone()).fje(whoami("query_string")),
        Case::new("all four, bad Bearer stops the search", Req::get(&format!("/whoami?jwt={t}")).header("Authorization", "Bearer"))
            .cfg(all.clone()).fje(msg(422, BAD_BEARER)),
        Case::new("string location", Req::get("/protected")).cfg(json!({"JWT_TOKEN_LOCATION": "cookies"}))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        Case::new("headers,cookies: none", Req::get("/protected")).cfg(hc.clone()).fje(msg(
            401,
            "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")",
        )),
        Case::new("headers,cookies: Bearer garbage + valid cookie", Req::get("/protected").bearer("garbage").access_cookie(t))
            .cfg(hc.clone()).fje(msg(422, "Not enough segments")),
        Case::new("headers,cookies: Basic + valid cookie", Req::get("/whoami").header("Authorization", "Basic abc").access_cookie(t))
            .cfg(hc.clone()).fje(whoami("cookies")),
        Case::new("headers,cookies: POST cookie without CSRF + valid Bearer", Req::post("/protected").access_cookie(t).bearer(t))
            .cfg(hc.clone()).fje(alice.clone()),
        Case::new("cookies,headers: POST cookie without CSRF + valid Bearer", Req::post("/protected").access_cookie(t).bearer(t))
            .cfg(ch.clone()).fje(msg(401, "Missing CSRF token")),
        Case::new("cookies,headers: POST cookie with CSRF", Req::post("/protected").access_cookie(t).csrf(csrf).bearer("garbage"))
            .cfg(ch.clone()).fje(alice.clone()),
        Case::new("cookies,headers: expired cookie + valid Bearer", Req::get("/protected").access_cookie(&forged(json!({"exp": now() - 5}))).bearer(t))
            .cfg(ch.clone()).fje(msg(401, "Token has expired")),
        Case::new("cookies,headers: none", Req::get("/protected")).cfg(ch.clone()),
        Case::new("query_string,json: GET", Req::get("/protected")).cfg(json!({"JWT_TOKEN_LOCATION": ["query_string", "json"]})),
        Case::new("json,headers: json wins", Req::get("/whoami").bearer(t).json(format!(r#"{{"access_token":"{t}"}}"#)))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["json", "headers"]})),
        Case::new("headers,json: Token x falls through to json", Req::get("/whoami").header("Authorization", "Token x").json(format!(r#"{{"access_token":"{t}"}}"#)))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["headers", "json"]})).fje(whoami("json")),
        Case::new("error key: missing", Req::get("/protected")).cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Missing Authorization Header"})))),
        Case::new("error key: expired", Req::get("/protected").bearer(&forged(json!({"exp": now() - 100}))))
            .cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Token has expired"})))),
        Case::new("error key: not fresh", Req::get("/fresh").bearer(t)).cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Fresh token required"})))),
        Case::new("error key: bad signature", Req::get("/protected").bearer(&format!("{t}x"))).cfg(error_key.clone())
            .fje(Want::Body(422, jsonify(&json!({"error": "Signature verification failed"})))),
        Case::new("error key: CSRF", Req::post("/protected").access_cookie(t))
            .cfg(json!({"JWT_ERROR_MESSAGE_KEY": "error", "JWT_TOKEN_LOCATION": ["cookies", "headers"]})),
    ])
    .await;
}

/// `@jwt_required(optional=True)` and OPTIONS on a protected route.
#[tokio::test]
async fn optional_and_options() {
    let t = jwtx_access();
    let o = || Req::get("/optional");
    let none = ok(json!({"identity": null}));
    run(vec![
        Case::new("optional, no token", o()).fje(none.clone()),
        Case::new("optional, Token x", o().header("Authorization", "Token x")).fje(none.clone()),
        Case::new("optional, empty header", o().header("Authorization", "")).fje(none.clone()),
        Case::new("optional, valid", o().bearer(&t)).fje(ok(json!({"identity": "alice"}))),
        Case::new("optional, garbage", o().bearer("garbage")).fje(msg(422, "Not enough segments")),
        Case::new(
            "optional, Bearer alone",
            o().header("Authorization", "Bearer"),
        )
        .fje(msg(422, BAD_BEARER)),
        Case::new(
            "optional, expired",
            o().bearer(&forged(json!({"exp": now() - 100}))),
        )
        .fje(msg(401, "Token has expired")),
        Case::new("optional, refresh token", o().bearer(&jwtx_refresh()))
            .fje(msg(422, "Only non-refresh tokens are allowed")),
        Case::new("optional, cookies, none", o())
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies", "query_string"]}))
            .fje(none),
        Case::new("OPTIONS, no token", Req::new("OPTIONS", "/protected"))
            .fje(ok(json!({"options": true}))),
        Case::new("HEAD, no token", Req::new("HEAD", "/protected")),
        Case::new("HEAD, valid", Req::new("HEAD", "/protected").bearer(&t)),
        Case::new(
            "HEAD, cookie without CSRF",
            Req::new("HEAD", "/protected").access_cookie(&t),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"]})),
        Case::new(
            "OPTIONS, garbage token",
            Req::new("OPTIONS", "/protected").bearer("garbage"),
        )
        .fje(ok(json!({"options": true}))),
        Case::new(
            "OPTIONS, cookie without CSRF",
            Req::new("OPTIONS", "/protected").access_cookie(&t),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"]}))
        .fje(ok(json!({"options": true}))),
    ])
    .await;
}
