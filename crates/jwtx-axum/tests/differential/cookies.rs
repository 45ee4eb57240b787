//! Tokens in cookies with double-submit CSRF (header and form field, and a form body over the
//! limit: allowed difference 9), and the exact `Set-Cookie` headers of login and logout.

use super::*;

/// Reference §c and §d: cookies and CSRF double submit.
#[tokio::test]
async fn cookies_and_csrf() {
    let cookies = json!({"JWT_TOKEN_LOCATION": ["cookies"]});
    let m = default_manager();
    let at = m.access_token("alice").sign().unwrap();
    let rt = m.refresh_token("alice").sign().unwrap();
    let (t, csrf) = (at.token.as_str(), at.csrf().unwrap());
    let (r, rcsrf) = (rt.token.as_str(), rt.csrf().unwrap());
    let no_csrf_claim = forged(json!({"csrf": null}));
    let expired = forged(json!({"exp": now() - 100}));
    let alice = ok(json!({"identity": "alice"}));
    let c = |name: &str, req: Req| Case::new(name, req).cfg(cookies.clone());
    let get = || Req::get("/protected");
    let post = || Req::post("/protected");
    run(vec![
        c("cookie missing", get()).fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("cookie empty", get().cookie("access_token_cookie="))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("only the CSRF cookie", post().cookie(format!("csrf_access_token={csrf}")).csrf(csrf))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("GET with cookie", get().access_cookie(t)).fje(alice.clone()),
        c("GET ignores a wrong CSRF header", get().access_cookie(t).csrf("nope")).fje(alice.clone()),
        c("POST without CSRF header", post().access_cookie(t)).fje(msg(401, "Missing CSRF token")),
        c("POST with empty CSRF header", post().access_cookie(t).csrf(""))
            .fje(msg(401, "Missing CSRF token")),
        c("POST with CSRF", post().access_cookie(t).csrf(csrf)).fje(alice.clone()),
        c("POST with lowercase CSRF header name", post().access_cookie(t).header("x-csrf-token", csrf))
            .fje(alice.clone()),
        c("CSRF mismatch", post().access_cookie(t).csrf("wrong"))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("CSRF header, token without csrf claim", post().access_cookie(&no_csrf_claim).csrf(csrf))
            .fje(msg(422, "Missing claim: csrf")),
        c("expired cookie, wrong CSRF", post().access_cookie(&expired).csrf("wrong"))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("expired cookie, right CSRF", post().access_cookie(&expired).csrf(CSRF))
            .fje(msg(401, "Token has expired")),
        c("expired cookie, GET", get().access_cookie(&expired)).fje(msg(401, "Token has expired")),
        c("garbage cookie", get().access_cookie("garbage")).fje(msg(422, "Not enough segments")),
        c("garbage cookie, POST without CSRF", post().access_cookie("garbage"))
            .fje(msg(401, "Missing CSRF token")),
        c("quoted cookie value", get().cookie(format!("access_token_cookie=\"{t}\""))).fje(alice.clone()),
        c("cookie among others", get().cookie(format!("a=b; access_token_cookie={t}; c=d"))).fje(alice.clone()),
        c("refresh cookie, refresh CSRF", Req::post("/refresh").cookie(format!("refresh_token_cookie={r}")).csrf(rcsrf))
            .fje(alice.clone()),
        c("refresh cookie, access CSRF", Req::post("/refresh").cookie(format!("refresh_token_cookie={r}")).csrf(csrf))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("refresh route, only the access cookie", Req::post("/refresh").access_cookie(t).csrf(csrf))
            .fje(msg(401, "Missing cookie \"refresh_token_cookie\"")),
        c("refresh token in the access cookie", get().access_cookie(r))
            .fje(msg(422, "Only non-refresh tokens are allowed")),
        c("whoami via cookie", Req::get("/whoami").access_cookie(t)),
        Case::new("JWT_CSRF_METHODS=[GET]: GET without CSRF", get().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_METHODS": ["GET"]}))
            .fje(msg(401, "Missing CSRF token")),
        Case::new("JWT_CSRF_METHODS=[GET]: POST without CSRF", post().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_METHODS": ["GET"]}))
            .fje(alice.clone()),
        Case::new("JWT_COOKIE_CSRF_PROTECT=False: POST without CSRF", post().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_COOKIE_CSRF_PROTECT": false}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: form field", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("a=1&csrf_token={csrf}")))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: wrong form field", post().access_cookie(t).body("application/x-www-form-urlencoded", "csrf_token=nope"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        Case::new("JWT_CSRF_CHECK_FORM: no field", post().access_cookie(t).body("application/x-www-form-urlencoded", "a=1"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(msg(401, "Missing CSRF token")),
        Case::new("form field without JWT_CSRF_CHECK_FORM", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}")))
            .cfg(cookies.clone())
            .fje(msg(401, "Missing CSRF token")),
        Case::new("custom cookie and CSRF header names", post().cookie(format!("at={t}")).header("X-My-Csrf", csrf))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_ACCESS_COOKIE_NAME": "at", "JWT_ACCESS_CSRF_HEADER_NAME": "X-My-Csrf"}))
            .fje(alice.clone()),
        Case::new("custom cookie name, missing", get().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_ACCESS_COOKIE_NAME": "at"}))
            .fje(msg(401, "Missing cookie \"at\"")),
        Case::new("route locations=[cookies] on a headers app", Req::get("/cookies-only").access_cookie(t))
            .fje(alice.clone()),
        Case::new("route locations=[cookies], header only", Req::get("/cookies-only").bearer(t))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        Case::new("header token on POST is not CSRF-checked", post().bearer(t)).fje(alice.clone()),
        c("PUT without CSRF", Req::new("PUT", "/protected").access_cookie(t)).fje(msg(401, "Missing CSRF token")),
        c("DELETE with CSRF", Req::new("DELETE", "/protected").access_cookie(t).csrf(csrf)).fje(alice.clone()),
        // Werkzeug (", ") and gunicorn (",") join repeated headers: FJE compares the joined
        // value, so two copies of the right value do not match.
        c("two X-CSRF-TOKEN headers", post().access_cookie(t).csrf(csrf).csrf(csrf)),
        c("empty cookie, then the real one", get().cookie(format!("access_token_cookie=; access_token_cookie={t}"))),
        c("real cookie, then an empty one", get().cookie(format!("access_token_cookie={t}; access_token_cookie="))),
        c("spaces around the cookie '='", get().cookie(format!("access_token_cookie = {t}"))),
        Case::new("JWT_CSRF_CHECK_FORM: form field, chunked", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}")).chunked())
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: form over 64 KiB", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}&pad={}", "x".repeat(70_000))))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .allowed(allowed::BODY_LIMIT, alice.clone(), msg(413, "Request body too large")),
        Case::new("JWT_CSRF_CHECK_FORM: form over 64 KiB, CSRF header sent", post().access_cookie(t).csrf(csrf).body("application/x-www-form-urlencoded", format!("pad={}", "x".repeat(70_000))))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice),
    ])
    .await;
}

/// Reference §d: the exact Set-Cookie headers of login and logout.
#[tokio::test]
async fn set_cookie_headers() {
    let login = || Req::post("/login").json(r#"{"identity":"alice"}"#);
    let logout = || Req::post("/logout");
    let custom = json!({
        "JWT_COOKIE_SECURE": true, "JWT_COOKIE_SAMESITE": "Strict", "JWT_SESSION_COOKIE": false,
        "JWT_COOKIE_DOMAIN": ".example.com", "JWT_ACCESS_COOKIE_PATH": "/api/",
        "JWT_REFRESH_COOKIE_PATH": "/token/refresh",
    });
    let renamed = json!({
        "JWT_ACCESS_COOKIE_NAME": "at", "JWT_REFRESH_COOKIE_NAME": "rt",
        "JWT_ACCESS_CSRF_COOKIE_NAME": "cat", "JWT_REFRESH_CSRF_COOKIE_NAME": "crt",
        "JWT_ACCESS_CSRF_COOKIE_PATH": "/a", "JWT_REFRESH_CSRF_COOKIE_PATH": "/r",
        "JWT_COOKIE_SAMESITE": "None", "JWT_COOKIE_SECURE": true,
    });
    run(vec![
        Case::new("login, defaults", login()).fje(ok(json!({"login": true}))),
        Case::new("logout, defaults", logout()).fje(ok(json!({"logout": true}))),
        Case::new("login, Secure Strict persistent domain paths", login()).cfg(custom.clone()),
        Case::new("logout, Secure Strict persistent domain paths", logout()).cfg(custom),
        Case::new("login, SameSite=Lax", login()).cfg(json!({"JWT_COOKIE_SAMESITE": "Lax"})),
        Case::new("login, renamed cookies", login()).cfg(renamed.clone()),
        Case::new("logout, renamed cookies", logout()).cfg(renamed),
        Case::new("login, JWT_CSRF_IN_COOKIES=False", login()).cfg(json!({"JWT_CSRF_IN_COOKIES": false})),
        Case::new("logout, JWT_CSRF_IN_COOKIES=False", logout()).cfg(json!({"JWT_CSRF_IN_COOKIES": false})),
        Case::new("login, JWT_COOKIE_CSRF_PROTECT=False", login()).cfg(json!({"JWT_COOKIE_CSRF_PROTECT": false})),
        Case::new("logout, JWT_COOKIE_CSRF_PROTECT=False", logout()).cfg(json!({"JWT_COOKIE_CSRF_PROTECT": false})),
        Case::new("login, domain without dot", login()).cfg(json!({"JWT_COOKIE_DOMAIN": "api.example.com"})),
        Case::new("set_access_cookies(max_age=600, domain=…)", Req::post("/login-short").json(r#"{"identity":"alice"}"#)),
        Case::new("set_access_cookies(max_age=600, domain=…), persistent config", Req::post("/login-short").json(r#"{"identity":"alice"}"#))
            .cfg(json!({"JWT_SESSION_COOKIE": false, "JWT_COOKIE_DOMAIN": ".example.com", "JWT_COOKIE_SECURE": true})),
    ])
    .await;
}
