//! `Set-Cookie` lines exactly as flask-jwt-extended writes them: the default lines, persistent,
//! `Secure`, `SameSite=Strict`, domain and path settings, secure-default cookies lasting as long as
//! the token, and CSRF cookies only with CSRF protection and `csrf_in_cookies`.

use super::*;

fn jwt_and_csrf(res: &Res) -> (String, String) {
    let v: Value = serde_json::from_str(&res.body).unwrap();
    (
        v["access"].as_str().unwrap().to_owned(),
        v["refresh"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn flask_jwt_extended_cookie_lines_exactly() {
    let fx = plain(fje());
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    assert_eq!(
        r.cookies(),
        [
            format!("access_token_cookie={at}; HttpOnly; Path=/"),
            format!("csrf_access_token={at_csrf}; Path=/"),
            format!("refresh_token_cookie={rt}; HttpOnly; Path=/"),
            format!("csrf_refresh_token={rt_csrf}; Path=/"),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    assert_eq!(
        r.cookies(),
        [
            "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "refresh_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_refresh_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    // `set_access_cookies(resp, at, max_age=600, domain="api.example.com")`.
    let r = send(&fx.app, req("POST", "/login-overrides").empty()).await;
    let (at, _) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; Domain=api.example.com; \
                 Expires=Sun, 22 Nov 2026 08:09:03 GMT; Max-Age=600; HttpOnly; Path=/"
            ),
            format!(
                "csrf_access_token={at_csrf}; Domain=api.example.com; \
                 Expires=Sun, 22 Nov 2026 08:09:03 GMT; Max-Age=600; Path=/"
            ),
        ]
    );
}

#[tokio::test]
async fn persistent_secure_strict_domain_and_paths() {
    // Reference §d: Secure, SameSite=Strict, JWT_SESSION_COOKIE=False,
    // JWT_COOKIE_DOMAIN=".example.com", ACCESS_COOKIE_PATH="/api/",
    // REFRESH_COOKIE_PATH="/token/refresh".
    let mut c = fje().persistent_cookies();
    c.cookie_secure = true;
    c.cookie_samesite = Some(SameSite::Strict);
    c.cookie_domain = Some(".example.com".into());
    c.access_cookie_path = "/api/".into();
    c.refresh_cookie_path = "/token/refresh".into();
    let fx = plain(c);
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    let life = "Expires=Mon, 22 Nov 2027 09:05:43 GMT; Max-Age=31540000";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; Domain=example.com; {life}; Secure; HttpOnly; Path=/api/; SameSite=Strict"
            ),
            format!(
                "csrf_access_token={at_csrf}; Domain=example.com; {life}; Secure; Path=/; SameSite=Strict"
            ),
            format!(
                "refresh_token_cookie={rt}; Domain=example.com; {life}; Secure; HttpOnly; Path=/token/refresh; SameSite=Strict"
            ),
            format!(
                "csrf_refresh_token={rt_csrf}; Domain=example.com; {life}; Secure; Path=/; SameSite=Strict"
            ),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    let gone = "Expires=Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie=; Domain=example.com; {gone}; Secure; HttpOnly; Path=/api/; SameSite=Strict"
            ),
            format!(
                "csrf_access_token=; Domain=example.com; {gone}; Secure; Path=/; SameSite=Strict"
            ),
            format!(
                "refresh_token_cookie=; Domain=example.com; {gone}; Secure; HttpOnly; Path=/token/refresh; SameSite=Strict"
            ),
            format!(
                "csrf_refresh_token=; Domain=example.com; {gone}; Secure; Path=/; SameSite=Strict"
            ),
        ]
    );
}

#[tokio::test]
async fn secure_default_cookies_last_as_long_as_the_token() {
    let fx = plain(JwtConfig::default());
    assert_eq!(
        fx.jwt.config().cookie_lifetime,
        CookieLifetime::TokenLifetime
    );
    let r = send(&fx.app, req("POST", "/login").empty()).await;
    let (at, rt) = jwt_and_csrf(&r);
    let at_csrf = fx.jwt.get_csrf_token(&at).unwrap().unwrap();
    let rt_csrf = fx.jwt.get_csrf_token(&rt).unwrap().unwrap();
    let access_life = "Expires=Sun, 22 Nov 2026 08:14:03 GMT; Max-Age=900";
    let refresh_life = "Expires=Tue, 22 Dec 2026 07:59:03 GMT; Max-Age=2592000";
    assert_eq!(
        r.cookies(),
        [
            format!(
                "access_token_cookie={at}; {access_life}; Secure; HttpOnly; Path=/; SameSite=Lax"
            ),
            format!("csrf_access_token={at_csrf}; {access_life}; Secure; Path=/; SameSite=Lax"),
            format!(
                "refresh_token_cookie={rt}; {refresh_life}; Secure; HttpOnly; Path=/; SameSite=Lax"
            ),
            format!("csrf_refresh_token={rt_csrf}; {refresh_life}; Secure; Path=/; SameSite=Lax"),
        ]
    );
    let r = send(&fx.app, req("POST", "/unset").empty()).await;
    assert_eq!(
        r.cookies()[0],
        "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; Path=/; SameSite=Lax"
    );
}

#[tokio::test]
async fn csrf_cookies_only_with_csrf_protection_and_csrf_in_cookies() {
    for (protect, in_cookies) in [(false, true), (true, false)] {
        let mut c = fje();
        c.csrf_protect = protect;
        c.csrf_in_cookies = in_cookies;
        let fx = plain(c);
        let r = send(&fx.app, req("POST", "/login").empty()).await;
        let (at, rt) = jwt_and_csrf(&r);
        assert_eq!(
            r.cookies(),
            [
                format!("access_token_cookie={at}; HttpOnly; Path=/"),
                format!("refresh_token_cookie={rt}; HttpOnly; Path=/"),
            ]
        );
        assert_eq!(r.cookies().len(), 2);
    }
    // Without CSRF protection, unsafe methods need no CSRF header.
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_protect = false;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("DELETE", "/protected")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
}
