#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! What a browser gets from `jwtx serve` over HTTP (docs/http-api.md "Account page", "Cookie
//! mode", "CORS"): the page and its security headers, logins and refreshes that keep every
//! token in cookies, and CORS only for the configured origins. The page itself runs in
//! Chromium in `tests/browser.rs`.

use serde_json::json;
use support::{Response, Server, cookie_header, msg};

mod support;

/// The `Access-Control-*` headers of `r`.
fn cors_headers(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .cloned()
        .collect()
}

#[test]
fn the_account_page_is_served_with_a_strict_policy() {
    let s = Server::start(&[]);
    let page = s.req("GET", "/").send();
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.contains("/ui/app.js") && page.text.contains("/ui/app.css"));
    let csp = page.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // No inline script or style for the policy to refuse.
    assert!(!page.text.contains("<script>") && !page.text.contains("<style"));
    assert!(!page.text.contains(" style=") && !page.text.contains(" onclick="));
    for (path, kind) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let r = s.req("GET", path).send();
        assert_eq!((r.status, r.header("content-type")), (200, Some(kind)));
        assert_eq!(r.header("content-security-policy"), Some(csp));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(s.req("HEAD", "/").send().status, 200);

    // `ui = false`, or no cookie location: no page.
    for env in [
        &[("JWTX_UI", "false")][..],
        &[("JWTX_TOKEN_LOCATION", "headers")][..],
    ] {
        let s = Server::start(env);
        for path in ["/", "/ui/app.js"] {
            let r = s.req("GET", path).send();
            assert_eq!((r.status, msg(&r)), (404, "Not found"), "{env:?} {path}");
        }
    }
}

#[test]
fn cookie_mode_keeps_every_token_out_of_the_body() {
    let s = Server::start(&[]);
    let login = |body: serde_json::Value, cookie: Option<&str>| {
        let mut req = s.req("POST", "/login").json(body);
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        req.send()
    };
    // The default locations (headers, cookies): tokens in the body and in cookies.
    let plain = login(
        json!({"username": "testuser", "password": "testpass"}),
        None,
    );
    assert_eq!(plain.status, 200);
    assert!(plain.json["access_token"].is_string() && plain.json["refresh_token"].is_string());
    assert!(plain.cookies().contains_key("access_token_cookie"));

    // Marked: cookies only.
    let marked = login(
        json!({"username": "testuser", "password": "testpass", "token_transport": "cookies"}),
        None,
    );
    assert_eq!(
        (marked.status, marked.json.clone()),
        (200, json!({"login": true}))
    );
    let jar = marked.cookies();
    for name in [
        "access_token_cookie",
        "refresh_token_cookie",
        "csrf_access_token",
        "csrf_refresh_token",
    ] {
        assert!(jar.contains_key(name), "{name} in {jar:?}");
    }
    assert_eq!(marked.header("cache-control"), Some("no-store"));

    // A request that came with a JWT cookie is a browser's: cookies only, unmarked.
    let with_cookie = login(
        json!({"username": "admin", "password": "adminpass"}),
        Some(&format!(
            "access_token_cookie={}",
            jar["access_token_cookie"]
        )),
    );
    assert_eq!(
        (with_cookie.status, with_cookie.json.clone()),
        (200, json!({"login": true}))
    );

    // A refresh token from a cookie is answered in cookies only; from a header, in the body.
    let cookies = cookie_header(&jar, &["refresh_token_cookie", "csrf_refresh_token"]);
    let r = s
        .req("POST", "/refresh")
        .header("Cookie", &cookies)
        .header("X-CSRF-TOKEN", &jar["csrf_refresh_token"])
        .send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"refresh": true})));
    assert!(r.cookies().contains_key("access_token_cookie"));
    let r = s
        .req("POST", "/refresh")
        .bearer(plain.json["refresh_token"].as_str().unwrap())
        .send();
    assert_eq!(r.status, 200);
    assert!(r.json["access_token"].is_string() && r.json["refresh_token"].is_string());

    // A mark the server cannot honour is refused, and nothing is issued.
    let r = login(
        json!({"username": "testuser", "password": "testpass", "token_transport": "body"}),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.set_cookies().is_empty());
    let headers_only = Server::start(&[("JWTX_TOKEN_LOCATION", "headers")]);
    let r = headers_only
        .req("POST", "/login")
        .json(json!({"username": "testuser", "password": "testpass", "token_transport": "cookies"}))
        .send();
    assert_eq!(
        (r.status, msg(&r)),
        (
            400,
            "token_transport \"cookies\" needs the cookies token location"
        )
    );
}

#[test]
fn cors_answers_the_configured_origins_only() {
    const SPA: &str = "http://app.jwtx.localhost:8080";
    let s = Server::start(&[
        (
            "JWTX_CORS_ALLOWED_ORIGINS",
            "http://app.jwtx.localhost:8080,https://spa.example.com",
        ),
        ("JWTX_LOGIN_RATE_LIMIT", "1/1m"),
    ]);
    // A preflight from an allowed origin: answered before any token is looked for.
    let pre = s
        .req("OPTIONS", "/logout/all")
        .header("Origin", SPA)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,x-csrf-token,authorization",
        )
        .send();
    assert_eq!(pre.status, 200, "{pre:?}");
    assert_eq!(pre.header("access-control-allow-origin"), Some(SPA));
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["content-type", "authorization", "x-csrf-token"] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let methods = pre.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    // A real request: the origin echoed, never `*`, and Retry-After readable by the SPA.
    let (access, _) = s.tokens("testuser", "testpass");
    let r = s
        .req("GET", "/protected")
        .header("Origin", SPA)
        .bearer(&access)
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(SPA));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    let wrong = json!({"username": "admin", "password": "nope"});
    let mut throttled = None;
    for _ in 0..3 {
        let r = s
            .req("POST", "/login")
            .header("Origin", SPA)
            .json(wrong.clone())
            .send();
        if r.status == 429 {
            throttled = Some(r);
            break;
        }
    }
    let throttled = throttled.expect("the login limit answers 429");
    assert!(throttled.header("retry-after").is_some());
    assert_eq!(throttled.header("access-control-allow-origin"), Some(SPA));

    // Another origin, a look-alike, or none: no CORS header at all, preflight or not.
    for origin in [
        Some("http://evil.localhost:8080"),
        Some("http://app.jwtx.localhost:8081"),
        Some("https://spa.example.com.evil.test"),
        Some("null"),
        None,
    ] {
        let mut pre = s
            .req("OPTIONS", "/logout/all")
            .header("Access-Control-Request-Method", "POST");
        let mut get = s.req("GET", "/protected").bearer(&access);
        if let Some(o) = origin {
            pre = pre.header("Origin", o);
            get = get.header("Origin", o);
        }
        let pre = pre.send();
        assert!(cors_headers(&pre).is_empty(), "{origin:?}: {pre:?}");
        assert_ne!(pre.status, 200, "{origin:?}: no preflight is answered");
        let get = get.send();
        assert_eq!(get.status, 200);
        assert!(cors_headers(&get).is_empty(), "{origin:?}: {get:?}");
    }

    // Not configured (the default): no CORS header for anyone.
    let plain = Server::start(&[]);
    let r = plain
        .req("OPTIONS", "/login")
        .header("Origin", SPA)
        .header("Access-Control-Request-Method", "POST")
        .send();
    assert!(cors_headers(&r).is_empty(), "{r:?}");
}

#[test]
fn bad_origins_stop_the_server_at_start() {
    let dir = support::TempDir::new();
    for (origin, says) in [
        ("*", "\"*\" is refused"),
        ("null", "\"null\" is refused"),
        (
            "https://spa.example.com/",
            "write \"https://spa.example.com\"",
        ),
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_jwtx"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir.0)
            .env("JWTX_CORS_ALLOWED_ORIGINS", origin)
            .output()
            .unwrap();
        support::output::usage(&o, "cors_allowed_origins");
        support::output::usage(&o, says);
    }
}

#[test]
fn a_logout_without_credentials_unsets_no_cookie() {
    let s = Server::start(&[]);
    // What a foreign page's cross-site form sends: no cookie (SameSite=Lax), no token.
    let r = s
        .req("POST", "/logout")
        .raw("application/x-www-form-urlencoded", "")
        .send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"logout": true})));
    assert!(r.set_cookies().is_empty(), "{r:?}");
    // A browser logging out sends its cookies: they are unset (and the session ended).
    let login = s
        .req("POST", "/login")
        .json(json!({"username": "testuser", "password": "testpass", "token_transport": "cookies"}))
        .send();
    let jar = login.cookies();
    let r = s
        .req("POST", "/logout")
        .header(
            "Cookie",
            &cookie_header(&jar, &["access_token_cookie", "csrf_access_token"]),
        )
        .header("X-CSRF-TOKEN", &jar["csrf_access_token"])
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.cookies().values().all(String::is_empty), "{r:?}");
    assert_eq!(r.cookies().len(), 4, "{r:?}");
}
