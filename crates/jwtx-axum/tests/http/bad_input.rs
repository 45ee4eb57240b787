//! Hostile and malformed requests: malformed `Authorization` header bytes, oversized
//! tokens refused before decoding, oversized JSON bodies left unread, repeated `Authorization`
//! headers, inputs that must never produce a 500, and `JwtError`'s default response for each
//! error kind.

use super::*;

#[tokio::test]
async fn malformed_authorization_bytes() {
    let fx = plain(fje());
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", b"Bearer \xff\xfe")
            .empty(),
    )
    .await;
    r.error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", b"\xff\xfe")
            .empty(),
    )
    .await
    .error(
        401,
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
    );
    let at = access(&fx.jwt, "alice");
    let mut bytes = b"Bearer ".to_vec();
    bytes.extend_from_slice(at.token.as_bytes());
    bytes.push(0xe9);
    send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", &bytes)
            .empty(),
    )
    .await
    .error(422, "Invalid crypto padding");
    // Non-UTF-8 cookies are no cookies; a non-UTF-8 CSRF header is a mismatch.
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("GET", "/protected")
            .cookie(b"access_token_cookie=\xff")
            .empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .header("x-csrf-token", b"\xff")
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    let huge = "a".repeat(8 * 1024 + 1);
    send(&fx.app, req("GET", "/protected").bearer(&huge).empty())
        .await
        .error(422, "Token is too large");
    send(
        &fx.app,
        req("GET", "/protected")
            .cookie(format!("access_token_cookie={huge}"))
            .empty(),
    )
    .await
    .error(422, "Token is too large");
    send(
        &fx.app,
        req("GET", &format!("/protected?jwt={huge}")).empty(),
    )
    .await
    .error(422, "Token is too large");
    send(
        &fx.app,
        req("POST", "/protected").json(json!({ "access_token": huge })),
    )
    .await
    .error(422, "Token is too large");
    // At the cap, the token is decoded (and found malformed).
    let at_cap = "a".repeat(8 * 1024);
    send(&fx.app, req("GET", "/protected").bearer(&at_cap).empty())
        .await
        .error(422, "Not enough segments");
    // Oversized, but shaped like a JWT.
    let padded = format!(
        "{}.{}.{}",
        "a".repeat(4096),
        "b".repeat(4096),
        "c".repeat(100)
    );
    send(&fx.app, req("GET", "/protected").bearer(&padded).empty())
        .await
        .error(422, "Token is too large");
}

#[tokio::test]
async fn oversized_json_body_is_not_read() {
    let mut c = with_locations(&[Location::Json]);
    c.body_limit = 1024;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let body = json!({ "access_token": at.token, "pad": "x".repeat(2048) });
    let r = send(&fx.app, req("POST", "/protected").json(body)).await;
    r.error(413, "Request body too large");
    // A body longer than its Content-Length claims does not hang or crash the request.
    let request = Request::builder()
        .method("POST")
        .uri("/protected")
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(Body::from(
            json!({ "access_token": at.token, "pad": "x".repeat(2048) }).to_string(),
        ))
        .unwrap();
    send(&fx.app, request)
        .await
        .error(413, "Request body too large");
}

#[tokio::test]
async fn repeated_authorization_headers() {
    let fx = plain(fje());
    let t = access(&fx.jwt, "alice").token;
    // Two headers are one comma-separated list: two Bearer entries are ambiguous.
    send(
        &fx.app,
        req("GET", "/protected").bearer(&t).bearer(&t).empty(),
    )
    .await
    .error(
        401,
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
    );
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "Basic abc")
            .bearer(&t)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("authorization", "")
            .bearer(&t)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
}

#[tokio::test]
async fn unhelpful_inputs_never_500() {
    let fx = plain(with_locations(&[
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ]));
    let cases: Vec<Request<Body>> = vec![
        req("GET", "/protected").bearer("a.b.c").empty(),
        req("GET", "/protected").bearer("....").empty(),
        req("GET", "/protected").bearer("e30.e30.e30").empty(),
        req("GET", "/protected")
            .bearer("eyJhbGciOiJub25lIn0.e30.")
            .empty(),
        req("GET", "/protected")
            .cookie("access_token_cookie=\"\"")
            .empty(),
        req("GET", "/protected")
            .cookie(";;;=;access_token_cookie")
            .empty(),
        req("GET", "/protected?jwt=%ff%fe").empty(),
        req("GET", "/protected?jwt").empty(),
        req("POST", "/protected").body("application/json", "{\"access_token\":[\"a\"]}"),
        req("POST", "/protected").body("application/json", "{\"access_token\":{}}"),
        req("POST", "/protected").body("application/json", "\u{feff}{}"),
        req("POST", "/refresh").body("application/json", "{\"refresh_token\":null}"),
        req("POST", "/echo").body("application/x-www-form-urlencoded", "%%%&&&=="),
    ];
    for request in cases {
        let what = format!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.headers()
        );
        let r = send(&fx.app, request).await;
        assert!(
            [401, 422].contains(&r.status.as_u16()),
            "{what}: {} {}",
            r.status,
            r.body
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        assert!(
            r.body.starts_with("{\"msg\":") && r.body.ends_with("}\n"),
            "{what}: {}",
            r.body
        );
    }
}

#[test]
fn jwt_error_default_response_matches_kind() {
    let config = fje();
    let cases = [
        (JwtError::Revoked, 401, "Token has been revoked"),
        (
            JwtError::VerificationFailed,
            400,
            "User claims verification failed",
        ),
        (
            JwtError::UserLookup {
                sub: "b\u{e9}b".into(),
            },
            401,
            "Error loading the user b\u{e9}b",
        ),
    ];
    for (e, status, message) in cases {
        assert_eq!(e.status().as_u16(), status);
        assert_eq!(e.message(), message);
        let r = e.default_response(&config);
        assert_eq!(r.status().as_u16(), status);
    }
}
