//! The extractors and what they accept: `Jwt` takes access tokens and refuses refresh tokens,
//! `FreshJwt` wants a fresh token (and a fresh-for window expires with the clock), `RefreshJwt`
//! takes refresh tokens only, `AnyJwt` both types, and `Option<Jwt>` is `None` for a missing
//! token but still refuses an invalid one; expired, tampered and immature tokens; and the
//! accessors (identity, claims, custom payload, header, location).

use super::*;

#[tokio::test]
async fn jwt_takes_access_tokens_and_refuses_refresh_tokens() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v["identity"], "alice");
    assert_eq!(v["type"], "access");
    assert_eq!(v["location"], "headers");

    let rt = refresh_token(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&rt.token).empty())
        .await
        .error(422, "Only non-refresh tokens are allowed");
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn success_has_no_www_authenticate_and_exact_missing_body() {
    let fx = plain(fje());
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    // Byte for byte, as flask-jwt-extended, plus the WWW-Authenticate header.
    assert_eq!(r.body, "{\"msg\":\"Missing Authorization Header\"}\n");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn fresh_jwt_requires_a_fresh_token() {
    let fx = plain(fje());
    let yes = fx.jwt.access_token("alice").fresh(true).sign().unwrap();
    let no = fx.jwt.access_token("alice").fresh(false).sign().unwrap();
    let v = send(&fx.app, req("GET", "/fresh").bearer(&yes.token).empty())
        .await
        .ok();
    assert_eq!(v["fresh"], true);
    send(&fx.app, req("GET", "/fresh").bearer(&no.token).empty())
        .await
        .error(401, "Fresh token required");
    // A fresh route still refuses refresh tokens, with the type error first.
    let rt = refresh_token(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/fresh").bearer(&rt.token).empty())
        .await
        .error(422, "Only non-refresh tokens are allowed");
}

#[tokio::test]
async fn fresh_for_window_expires_with_the_clock() {
    let fx = plain(fje());
    let t = fx
        .jwt
        .access_token("alice")
        .fresh_for(Duration::from_secs(60))
        .sign()
        .unwrap();
    // `fresh` is the NumericDate until which the token is fresh.
    let v = send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .ok();
    assert_eq!(v["fresh"], T0 + 60);
    fx.clock.set(T0 + 60);
    send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .ok();
    fx.clock.set(T0 + 61);
    send(&fx.app, req("GET", "/fresh").bearer(&t.token).empty())
        .await
        .error(401, "Fresh token required");
    // Still a valid (non-fresh) access token elsewhere.
    send(&fx.app, req("GET", "/protected").bearer(&t.token).empty())
        .await
        .ok();
}

#[tokio::test]
async fn refresh_jwt_takes_refresh_tokens_only() {
    let fx = plain(fje());
    let rt = refresh_token(&fx.jwt, "alice");
    let v = send(&fx.app, req("POST", "/refresh").bearer(&rt.token).empty())
        .await
        .ok();
    assert_eq!(
        (v["identity"].as_str(), v["type"].as_str()),
        (Some("alice"), Some("refresh"))
    );
    assert_eq!(v["fresh"], false);
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("POST", "/refresh").bearer(&at.token).empty())
        .await
        .error(422, "Only refresh tokens are allowed");
}

#[tokio::test]
async fn any_jwt_takes_both_types() {
    let fx = plain(fje());
    for (t, ty) in [
        (access(&fx.jwt, "a"), "access"),
        (refresh_token(&fx.jwt, "a"), "refresh"),
    ] {
        let v = send(&fx.app, req("GET", "/any").bearer(&t.token).empty())
            .await
            .ok();
        assert_eq!(v["type"], ty);
    }
}

#[tokio::test]
async fn optional_jwt_missing_is_none_but_invalid_is_refused() {
    let fx = plain(fje());
    let none = json!({ "identity": null, "location": null });
    assert_eq!(
        send(&fx.app, req("GET", "/optional").empty()).await.ok(),
        none
    );
    // A wrong scheme is "missing" (flask-jwt-extended 4.7.4, optional=True).
    let r = send(
        &fx.app,
        req("GET", "/optional")
            .header("authorization", "Token x")
            .empty(),
    )
    .await;
    assert_eq!(r.ok(), none);
    let at = access(&fx.jwt, "alice");
    let v = send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v, json!({ "identity": "alice", "location": "headers" }));
    send(&fx.app, req("GET", "/optional").bearer("garbage").empty())
        .await
        .error(422, "Not enough segments");
    send(
        &fx.app,
        req("GET", "/optional")
            .header("authorization", "Bearer")
            .empty(),
    )
    .await
    .error(
        422,
        "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'",
    );
    fx.clock.set(T0 + 900);
    send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .error(401, "Token has expired");
}

#[tokio::test]
async fn expired_tampered_and_immature_tokens() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 899);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    // `exp <= now` is expired.
    fx.clock.set(T0 + 900);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has expired");
    // The signature is checked before expiry.
    let mut tampered = at.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    send(&fx.app, req("GET", "/protected").bearer(&tampered).empty())
        .await
        .error(422, "Signature verification failed");
    // Issued in the future.
    fx.clock.set(T0 - 10);
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(422, "The token is not yet valid (iat)");
}

#[tokio::test]
async fn accessors_identity_claims_custom_payload_header_location() {
    let fx = fixture(fje(), |b| {
        b.additional_headers(|identity| {
            let mut m = Map::new();
            m.insert("x-tenant".into(), format!("tenant-of-{identity}").into());
            m
        })
    });
    let at = fx
        .jwt
        .access_token("alice")
        .fresh(true)
        .claim("roles", json!(["admin", "user"]))
        .claim("org", "acme")
        .sign()
        .unwrap();
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    assert_eq!(v["identity"], "alice");
    assert_eq!(v["jti"], at.jti());
    assert_eq!(v["exp"], T0 + 900);
    assert_eq!(v["fresh"], true);
    assert_eq!(
        v["custom"],
        json!({ "roles": ["admin", "user"], "org": "acme" })
    );
    assert_eq!(
        v["payload"],
        json!({
            "fresh": true, "iat": T0, "jti": at.jti(), "type": "access", "sub": "alice",
            "nbf": T0, "csrf": at.csrf().unwrap(), "exp": T0 + 900,
            "roles": ["admin", "user"], "org": "acme",
        })
    );
    assert_eq!(
        v["header"],
        json!({ "alg": "HS256", "typ": "JWT", "x-tenant": "tenant-of-alice" })
    );
    assert_eq!(v["location"], "headers");

    let r = send(&fx.app, req("GET", "/roles").bearer(&at.token).empty()).await;
    assert_eq!(r.ok(), json!({ "roles": ["admin", "user"] }));
    // A token whose application claims do not fit the route's claims type is invalid.
    let no_roles = access(&fx.jwt, "bob");
    send(
        &fx.app,
        req("GET", "/roles").bearer(&no_roles.token).empty(),
    )
    .await
    .error(422, "Invalid payload claims");
    let bad_roles = fx
        .jwt
        .access_token("bob")
        .claim("roles", "admin")
        .sign()
        .unwrap();
    send(
        &fx.app,
        req("GET", "/roles").bearer(&bad_roles.token).empty(),
    )
    .await
    .error(422, "Invalid payload claims");
}
