//! Implicit refresh (`JwtLayer::implicit_refresh`): an access cookie near expiry is reissued;
//! errors, logout and tokens from other locations are left alone; and the additional claims
//! loader decides the new token's claims, not the old token.

use super::*;

fn implicit() -> Fx {
    fixture_with(
        with_locations(&[Location::Cookies]),
        |b| b,
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    )
}

#[tokio::test]
async fn implicit_refresh_near_expiry_reissues_the_access_cookie() {
    let fx = implicit();
    let at = fx
        .jwt
        .access_token("alice")
        .expires_in(Duration::from_secs(60 * 60))
        .claim("roles", json!(["admin"]))
        .sign()
        .unwrap();
    // 50 minutes left: nothing.
    fx.clock.set(T0 + 10 * 60);
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // 10 minutes left: a new access cookie and a new CSRF cookie.
    fx.clock.set(T0 + 50 * 60);
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    let cookies = r.cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let new_token = cookies[0]
        .strip_prefix("access_token_cookie=")
        .and_then(|c| c.strip_suffix("; HttpOnly; Path=/"))
        .unwrap();
    let new_csrf = cookies[1]
        .strip_prefix("csrf_access_token=")
        .and_then(|c| c.strip_suffix("; Path=/"))
        .unwrap();
    assert_ne!(new_token, at.token);
    assert_ne!(Some(new_csrf), at.csrf(), "the CSRF value changes");
    let d = fx.jwt.decode_token(new_token).unwrap();
    assert_eq!(d.sub(), "alice");
    assert_eq!(d.claims().csrf.as_deref(), Some(new_csrf));
    assert_eq!(d.claims().exp, Some(T0 + 50 * 60 + 900));
    assert_eq!(
        d.custom()["roles"],
        json!(["admin"]),
        "application claims are kept"
    );
    // The new cookie works, with its new CSRF value.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .cookie(format!("access_token_cookie={new_token}"))
            .csrf(new_csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["custom"]["roles"], json!(["admin"]));
}

#[tokio::test]
async fn implicit_refresh_leaves_errors_logout_and_other_locations_alone() {
    let fx = implicit();
    let at = access(&fx.jwt, "alice"); // 15 minutes: always inside the 30-minute window
    let cookie = access_cookie(&at);
    // Error response from the handler.
    let r = send(&fx.app, req("GET", "/forbidden").cookie(&cookie).empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // Refused token (CSRF missing).
    let r = send(&fx.app, req("POST", "/protected").cookie(&cookie).empty()).await;
    r.error(401, "Missing CSRF token");
    assert!(r.cookies().is_empty());
    // A logout that deletes the cookies is not re-cookied.
    let r = send(
        &fx.app,
        req("POST", "/logout")
            .cookie(&cookie)
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok(), json!({ "logout": true }));
    assert_eq!(
        r.cookies(),
        [
            "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "refresh_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_refresh_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    // A refresh-token route is not an access cookie.
    let rt = fx
        .jwt
        .refresh_token("alice")
        .expires_in(Duration::from_secs(60))
        .sign()
        .unwrap();
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .csrf(rt.csrf().unwrap())
            .empty(),
    )
    .await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
    // Optional route without a token.
    let r = send(&fx.app, req("GET", "/optional").empty()).await;
    r.ok();
    assert!(r.cookies().is_empty());

    // A token from a header is not re-issued as a cookie.
    let fx = fixture_with(
        with_locations(&[Location::Headers, Location::Cookies]),
        |b| b,
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    );
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    r.ok();
    assert!(r.cookies().is_empty(), "{:?}", r.cookies());
}

/// flask-jwt-extended's documented implicit refresh re-creates the token with
/// `create_access_token(identity=get_jwt_identity())`, so `additional_claims_loader` decides
/// the claims of the new token: a user whose roles changed gets the new roles at the next
/// refresh. Claims carried over from the old token must not override what the loader says now,
/// or a demoted user keeps the old roles for as long as implicit refresh keeps the session alive.
#[tokio::test]
async fn implicit_refresh_lets_the_claims_loader_win() {
    let roles = Arc::new(Mutex::new(json!(["admin"])));
    let current = roles.clone();
    let fx = fixture_with(
        with_locations(&[Location::Cookies]),
        move |b| {
            b.additional_claims(move |_identity| {
                let mut m = Map::new();
                m.insert("roles".into(), current.lock().unwrap().clone());
                m
            })
        },
        |j| JwtLayer::new(j.clone()).implicit_refresh(Duration::from_secs(30 * 60)),
    );
    let at = fx
        .jwt
        .access_token("alice")
        .claim("org", "acme")
        .sign()
        .unwrap();
    assert_eq!(
        fx.jwt.decode_token(&at.token).unwrap().custom()["roles"],
        json!(["admin"])
    );
    *roles.lock().unwrap() = json!(["user"]); // alice is demoted
    let r = send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await;
    r.ok();
    let new_token = r.cookies()[0]
        .strip_prefix("access_token_cookie=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let d = fx.jwt.decode_token(&new_token).unwrap();
    assert_eq!(
        d.custom()["org"],
        "acme",
        "claims the loader does not make are kept"
    );
    assert_eq!(
        d.custom()["roles"],
        json!(["user"]),
        "the loader's current roles, not the old token's"
    );
}
