//! Tokens in cookies and double-submit CSRF: the CSRF check on unsafe methods only; missing,
//! empty and quoted cookies and tokens without a `csrf` claim; refresh routes reading the refresh
//! cookie and its own CSRF header; the CSRF mismatch reported before expiry; and the CSRF value
//! read from a form field through the layer.

use super::*;

#[tokio::test]
async fn cookie_csrf_on_unsafe_methods_only() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let csrf = at.csrf().unwrap();
    for method in ["GET", "HEAD"] {
        let r = send(
            &fx.app,
            req(method, "/protected").cookie(access_cookie(&at)).empty(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        send(
            &fx.app,
            req(method, "/protected").cookie(access_cookie(&at)).empty(),
        )
        .await
        .error(401, "Missing CSRF token");
        send(
            &fx.app,
            req(method, "/protected")
                .cookie(access_cookie(&at))
                .csrf("nope")
                .empty(),
        )
        .await
        .error(401, "CSRF double submit tokens do not match");
        let r = send(
            &fx.app,
            req(method, "/protected")
                .cookie(access_cookie(&at))
                .csrf(csrf)
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["location"], "cookies", "{method}");
    }
    // The CSRF header name is case-insensitive; the CSRF cookie alone never counts.
    let r = send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .header("X-Csrf-Token", csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    let both = format!("{}; csrf_access_token={csrf}", access_cookie(&at));
    send(&fx.app, req("POST", "/protected").cookie(both).empty())
        .await
        .error(401, "Missing CSRF token");
    // Tokens from headers are never CSRF-checked.
    let fx = plain(fje());
    let r = send(&fx.app, req("POST", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["identity"], "alice");
}

#[tokio::test]
async fn cookie_missing_empty_quoted_and_without_csrf_claim() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    for cookie in [
        "",
        "access_token_cookie=",
        "other=1",
        "access_token_cookie_x=1",
    ] {
        send(&fx.app, req("GET", "/protected").cookie(cookie).empty())
            .await
            .error(401, "Missing cookie \"access_token_cookie\"");
    }
    // Werkzeug unquotes "…" values.
    let quoted = format!("a=1; access_token_cookie=\"{}\"; b=2", at.token);
    let r = send(&fx.app, req("GET", "/protected").cookie(quoted).empty()).await;
    assert_eq!(r.ok()["identity"], "alice");
    let broken = format!("access_token_cookie=\"{}", at.token);
    send(&fx.app, req("GET", "/protected").cookie(broken).empty())
        .await
        .error(422, "Invalid header padding");
    // A token without a `csrf` claim, sent with a CSRF header.
    let no_csrf_codec = codec(&fx.clock).with_csrf_claim(false);
    let bare = no_csrf_codec.access_token("alice").sign().unwrap();
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&bare))
            .csrf("x")
            .empty(),
    )
    .await
    .error(422, "Missing claim: csrf");
}

#[tokio::test]
async fn refresh_routes_use_the_refresh_cookie_and_its_csrf_value() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    let rt = refresh_token(&fx.jwt, "alice");
    let jar = format!("{}; {}", access_cookie(&at), refresh_cookie(&rt));
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(&jar)
            .csrf(rt.csrf().unwrap())
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["type"], "refresh");
    // The access CSRF value is a mismatch on a refresh route (as flask-jwt-extended 4.7.4 does).
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(&jar)
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "Missing cookie \"refresh_token_cookie\"");
    // …and an access route reads only the access cookie.
    send(
        &fx.app,
        req("GET", "/protected").cookie(refresh_cookie(&rt)).empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
}

#[tokio::test]
async fn refresh_csrf_header_name_is_its_own() {
    let mut c = with_locations(&[Location::Cookies]);
    c.refresh_csrf_header_name = http::HeaderName::from_static("x-csrf-refresh");
    let fx = plain(c);
    let rt = refresh_token(&fx.jwt, "alice");
    let csrf = rt.csrf().unwrap();
    send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .csrf(csrf)
            .empty(),
    )
    .await
    .error(401, "Missing CSRF token");
    let r = send(
        &fx.app,
        req("POST", "/refresh")
            .cookie(refresh_cookie(&rt))
            .header("X-CSRF-Refresh", csrf)
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["type"], "refresh");
}

#[tokio::test]
async fn expired_cookie_reports_csrf_mismatch_first() {
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 3600);
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf("wrong")
            .empty(),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/protected")
            .cookie(access_cookie(&at))
            .csrf(at.csrf().unwrap())
            .empty(),
    )
    .await
    .error(401, "Token has expired");
}

#[tokio::test]
async fn csrf_check_form_reads_the_form_field_through_the_layer() {
    let mut c = with_locations(&[Location::Cookies]);
    c.csrf_check_form = true;
    let fx = plain(c);
    let at = access(&fx.jwt, "alice");
    let form = format!("x=1&csrf_token={}", at.csrf().unwrap());
    let r = send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", form.clone()),
    )
    .await;
    // The handler still gets the body the layer read.
    assert_eq!(
        r.ok(),
        json!({ "identity": "alice", "location": "cookies", "body": form })
    );
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "x=1&csrf_token=wrong"),
    )
    .await
    .error(401, "CSRF double submit tokens do not match");
    send(
        &fx.app,
        req("POST", "/echo")
            .cookie(access_cookie(&at))
            .body("application/x-www-form-urlencoded", "x=1"),
    )
    .await
    .error(401, "Missing CSRF token");
    // Off by default: the field is ignored.
    let fx = plain(with_locations(&[Location::Cookies]));
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("POST", "/echo").cookie(access_cookie(&at)).body(
            "application/x-www-form-urlencoded",
            format!("csrf_token={}", at.csrf().unwrap()),
        ),
    )
    .await
    .error(401, "Missing CSRF token");
}
