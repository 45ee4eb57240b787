//! Tokens in the query string and in JSON bodies: the query parameter with and without a prefix,
//! JSON bodies read through the layer (and not found without it, or without `Content-Length`),
//! token values judged by Python's truthiness, bodies over `body_limit` (413 only when the token
//! or CSRF value must come from them), chunked forms carrying the CSRF field, repeated CSRF
//! headers joined as Werkzeug does, and the order in which locations are searched.

use super::*;

#[tokio::test]
async fn query_string_with_and_without_prefix() {
    let fx = plain(with_locations(&[Location::QueryString]));
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?a=1&jwt={t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "query_string");
    send(&fx.app, req("GET", "/protected?jwt=").empty())
        .await
        .error(401, "Missing 'jwt' query paramater");
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing 'jwt' query paramater");

    let mut c = with_locations(&[Location::QueryString]);
    c.query_string_value_prefix = "Bearer ".into();
    c.query_string_name = "token".into();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?token=Bearer%20{t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let r = send(
        &fx.app,
        req("GET", &format!("/protected?token=Bearer+{t}")).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(
        &fx.app,
        req("GET", &format!("/protected?token={t}")).empty(),
    )
    .await
    .error(
        422,
        "Invalid value for query parameter 'token'. Expected the value to start with 'Bearer '",
    );
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing 'token' query paramater");
}

#[tokio::test]
async fn json_body_through_the_layer() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token, "other": 1 });
    let r = send(&fx.app, req("POST", "/echo-json").json(body.clone())).await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "json", "body": body })
    );
    // `application/*+json` counts, parameters are ignored.
    let r = send(
        &fx.app,
        req("POST", "/protected").body("application/vnd.api+json; charset=utf-8", body.to_string()),
    )
    .await;
    assert_eq!(r.ok()["location"], "json");

    let rt = refresh_token(&fx.jwt, "alice");
    let body = json!({ "refresh_token": rt.token });
    let r = send(&fx.app, req("POST", "/refresh-json").json(body.clone())).await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "json", "body": body })
    );
    // The access key is not read on refresh routes, nor the refresh key on access routes.
    send(
        &fx.app,
        req("POST", "/refresh-json").json(json!({ "access_token": rt.token })),
    )
    .await
    .error(401, "Missing \"refresh_token\" key in json data.");
    send(
        &fx.app,
        req("POST", "/protected").json(json!({ "refresh_token": at.token })),
    )
    .await
    .error(401, "Missing \"access_token\" key in json data.");

    let missing_key = "Missing \"access_token\" key in json data.";
    for body in [
        "{}",
        "[1,2]",
        "[]",
        "not json",
        "{\"access_token\":",
        "{\"access_token\":\"\"}",
        "null",
    ] {
        send(
            &fx.app,
            req("POST", "/protected").body("application/json", body),
        )
        .await
        .error(401, missing_key);
    }
    let wrong_type = "Invalid content-type. Must be application/json.";
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, wrong_type);
    send(
        &fx.app,
        req("POST", "/protected").body(
            "text/plain",
            format!("{{\"access_token\":\"{}\"}}", at.token),
        ),
    )
    .await
    .error(401, wrong_type);
    // A non-string token is an invalid token, never a 500.
    let r = send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": 123 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

#[tokio::test]
async fn json_location_without_the_layer_finds_no_body() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(with_locations(&[Location::Json]))
        .build();
    let app = routes().with_state(jwt.clone());
    let at = access(&jwt, "alice");
    let r = send(
        &app,
        req("POST", "/protected").json(json!({ "access_token": at.token })),
    )
    .await;
    // The body is only visible through JwtLayer: a 500 naming the missing layer, never a
    // silent "missing", never accepted and never a panic.
    r.error(500, "JSON token location requires JwtLayer");
    // On every request of the route, not only those that reach the json location.
    let mut c = with_locations(&[Location::Headers, Location::Json]);
    c.error_message_key = "error".into();
    let jwt = JwtManager::builder(codec(&clock)).config(c).build();
    let app = routes().with_state(jwt.clone());
    let r = send(&app, req("GET", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.body,
        "{\"error\":\"JSON token location requires JwtLayer\"}\n"
    );
    // The same for a route that asks for the json location itself.
    let jwt = JwtManager::builder(codec(&clock)).config(fje()).build();
    let app = routes().with_state(jwt.clone());
    send(
        &app,
        req("GET", &format!("/query-or-json?jwt={}", at.token)).empty(),
    )
    .await
    .error(500, "JSON token location requires JwtLayer");
    // And for the CSRF form field, when it must be read.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let jwt = JwtManager::builder(codec(&clock)).config(c).build();
    let app = routes().with_state(jwt.clone());
    let at = access(&jwt, "alice");
    send(
        &app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "a=1"),
    )
    .await
    .error(
        500,
        "JWT_CSRF_CHECK_FORM (csrf_check_form) requires JwtLayer",
    );
    let r = send(
        &app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice", "the CSRF header needs no body");
}

/// A JSON body sent without `Content-Length` (HTTP/1.1 chunked, or HTTP/2) is a JSON body all
/// the same: flask-jwt-extended (Werkzeug) reads it. jwtx-axum's layer only captures bodies
/// with a `Content-Length`, and then answers that the content type is wrong although it is
/// `application/json`.
#[tokio::test]
async fn json_body_without_content_length_is_still_json() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token }).to_string();
    let request = Request::builder()
        .method("POST")
        .uri("/protected")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let r = send(&fx.app, request).await;
    assert_ne!(
        r.body,
        msg_body("Invalid content-type. Must be application/json."),
        "the request is application/json"
    );
    assert_eq!(r.ok()["location"], "json");
}

/// flask-jwt-extended: `if not encoded_token` makes every value Python finds falsy a missing
/// token (401, and the search goes on); any other non-string reaches PyJWT: 422.
#[tokio::test]
async fn json_token_values_follow_python_truthiness() {
    let fx = plain(with_locations(&[Location::Json]));
    let at = access(&fx.jwt, "alice");
    for v in ["0", "0.0", "[]", "{}", "false", "null", "\"\""] {
        send(
            &fx.app,
            req("POST", "/protected")
                .body("application/json", format!(r#"{{"access_token":{v}}}"#)),
        )
        .await
        .error(401, "Missing \"access_token\" key in json data.");
    }
    for v in ["5", "true", "1.5", r#"["a.b.c"]"#, r#"{"a":1}"#] {
        send(
            &fx.app,
            req("POST", "/protected")
                .body("application/json", format!(r#"{{"access_token":{v}}}"#)),
        )
        .await
        .error(422, "Invalid token type. Token must be a <class 'bytes'>");
    }
    // A falsy value is missing, so the search goes on.
    let fx = plain(with_locations(&[Location::Json, Location::Headers]));
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .body("application/json", r#"{"access_token":0}"#),
    )
    .await;
    assert_eq!(r.ok()["location"], "headers");
    send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .body("application/json", r#"{"access_token":5}"#),
    )
    .await
    .error(422, "Invalid token type. Token must be a <class 'bytes'>");
}

/// jwtx bounds what it reads (flask-jwt-extended has no limit): a token or CSRF value that must
/// come from a body over `body_limit` is refused with 413, with or without `Content-Length`;
/// the handler of a request whose token comes from elsewhere still gets the whole body.
#[tokio::test]
async fn bodies_over_the_limit_are_413_only_when_needed() {
    let mut c = with_locations(&[Location::Headers, Location::Json]);
    c.body_limit = 1024;
    let fx = plain(c.clone());
    let at = access(&fx.jwt, "alice");
    let big = json!({ "access_token": at.token, "pad": "x".repeat(4096) });
    send(&fx.app, req("POST", "/echo-json").json(big.clone()))
        .await
        .error(413, "Request body too large");
    send(
        &fx.app,
        req("POST", "/echo-json").chunked("application/json", big.to_string()),
    )
    .await
    .error(413, "Request body too large");
    // The token is in the header: the body is not needed, and reaches the handler whole.
    for request in [
        req("POST", "/echo-json")
            .bearer(&at.token)
            .json(big.clone()),
        req("POST", "/echo-json")
            .bearer(&at.token)
            .chunked("application/json", big.to_string()),
    ] {
        let r = send(&fx.app, request).await;
        assert_eq!(
            r.ok(),
            json!({ "identity": "alice", "location": "headers", "body": big })
        );
    }
    // The error message key applies.
    c.error_message_key = "error".into();
    let fx = plain(c);
    let r = send(&fx.app, req("POST", "/protected").json(big.clone())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body, "{\"error\":\"Request body too large\"}\n");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("www-authenticate"), None);

    // The CSRF form field.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    c.body_limit = 1024;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("csrf_token={}&pad={}", at.csrf().unwrap(), "x".repeat(4096));
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", form.clone()),
    )
    .await
    .error(413, "Request body too large");
    // The CSRF header needs no body.
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .chunked("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    assert_eq!(r.ok()["body"], form);
}

#[tokio::test]
async fn chunked_form_carries_the_csrf_field() {
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("a=1&csrf_token={}", at.csrf().unwrap());
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .chunked("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "cookies", "body": form })
    );
}

/// Werkzeug joins repeated headers with ", ": two copies of the right CSRF value are one wrong
/// value.
#[tokio::test]
async fn repeated_csrf_headers_are_joined() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let csrf = at.csrf().unwrap();
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(csrf)
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf("")
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
}

#[tokio::test]
async fn location_order_and_only_missing_falls_through() {
    let fx = plain(with_locations(&[Location::Headers, Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    // A present but bad header stops the search.
    send(
        &fx.app,
        req("GET", "/protected")
            .bearer("garbage")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Bearer")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .error(
        422,
        "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'",
    );
    // Another scheme is "missing" and falls through.
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Basic abc")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "cookies");
    // headers first: a POST with a cookie but no CSRF header succeeds through the header.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .bearer(&at.token)
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "headers");
    // cookies first: the missing CSRF header stops the search.
    let fx2 = plain(with_locations(&[Location::Cookies, Location::Headers]));
    let at2 = access(&fx2.jwt, "alice");
    send(
        &fx2.app,
        req("POST", "/protected")
            .bearer(&at2.token)
            .cookie(access_cookie(&at2))
            .empty(),
    )
    .await
    .error(401, "Missing CSRF token");

    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    send(&fx.app, req("GET", "/protected").empty()).await.error(
        401,
        "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
         Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; \
         Invalid content-type. Must be application/json.)",
    );
    let r = send(&fx.app, req("POST", "/refresh").json(json!({}))).await;
    r.error(
        401,
        "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
         Missing cookie \"refresh_token_cookie\"; Missing 'jwt' query paramater; \
         Missing \"refresh_token\" key in json data.)",
    );
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": at.token })),
    )
    .await;
    assert_eq!(r.ok()["location"], "json");
}
