#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! End-to-end tests of `jwtx serve`: the real binary on 127.0.0.1 with a temporary data
//! directory, driven over HTTP.

mod support;

use std::process::Command;

use serde_json::json;
use std::path::Path;

use support::{Response, Server, msg};

#[test]
fn header_tokens_the_first_seed_session() {
    let s = Server::start(&[]);
    let (access, _refresh) = s.tokens("testuser", "testpass");
    let r = s.req("GET", "/protected").bearer(&access).send();
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"logged_in_as": "testuser"}))
    );
    let r = s.req("GET", "/protected").send();
    assert_eq!(r.status, 401);
    assert_eq!(
        msg(&r),
        "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")"
    );

    let r = s.req("GET", "/me").bearer(&access).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["identity"], "testuser");
    assert_eq!(r.json["roles"], json!(["user"]));
    assert_eq!(r.json["fresh"], true);
    assert!(r.json["expires_at"].as_u64().is_some());
    assert!(r.json["session_id"].as_str().is_some_and(|s| s.len() == 36));

    let r = s.req("GET", "/admin").bearer(&access).send();
    assert_eq!((r.status, msg(&r)), (403, "Admins only!"));
    let (admin, _) = s.tokens("admin", "adminpass");
    let r = s.req("GET", "/admin").bearer(&admin).send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"admin": true})));

    // The JWKS of an HMAC server publishes nothing, and says how long to cache that.
    let r = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"keys": []})));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let r = s.req("GET", "/healthz").send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"status": "ok"})));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(s.req("GET", "/readyz").send().status, 200);
    let r = s.req("GET", "/nope").send();
    assert_eq!((r.status, msg(&r)), (404, "Not found"));
}

#[test]
fn unknown_user_and_wrong_password_answer_identically() {
    let s = Server::start(&[]);
    let a = s.login("nobody", "testpass");
    let b = s.login("testuser", "wrong");
    assert_eq!(a.status, 401);
    assert_eq!(msg(&a), "Bad username or password");
    assert_eq!((a.status, &a.text), (b.status, &b.text));
    let strip = |r: &Response| {
        r.headers
            .iter()
            .filter(|(k, _)| k != "date" && k != "x-request-id")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn login_throttling_answers_429_with_retry_after() {
    let s = Server::start(&[("JWTX_LOGIN_RATE_LIMIT", "3/1m")]);
    for _ in 0..3 {
        assert_eq!(s.login("testuser", "wrong").status, 401);
    }
    let r = s.login("testuser", "testpass");
    assert_eq!(r.status, 429, "{}", r.text);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another user from the same address is not affected.
    assert_eq!(s.login("admin", "adminpass").status, 200);
}

#[test]
fn bad_request_bodies() {
    let s = Server::start(&[]);
    let r = s
        .req("POST", "/login")
        .raw("text/plain", b"username=testuser".to_vec())
        .send();
    assert_eq!(r.status, 415, "{}", r.text);
    let r = s
        .req("POST", "/login")
        .raw("application/json", b"{\"username\":".to_vec())
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    let r = s
        .req("POST", "/login")
        .json(json!({"username": "testuser"}))
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(msg(&r).contains("password"), "{}", r.text);
    let r = s
        .req("POST", "/login")
        .json(json!({"username": "", "password": "x"}))
        .send();
    assert_eq!((r.status, msg(&r)), (400, "Missing username"));
    let big = format!(
        "{{\"username\":\"testuser\",\"password\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let r = s
        .req("POST", "/login")
        .raw("application/json", big.into_bytes())
        .send();
    assert_eq!(r.status, 413, "{}", r.text);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = Server::start(&[("JWTX_REFRESH_REUSE_GRACE", "0s")]);
    let (access, refresh1) = s.tokens("testuser", "testpass");
    let r = s.req("POST", "/refresh").bearer(&refresh1).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["refresh"], true);
    let access2 = r.json["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    // The refreshed access token is not fresh.
    let r = s.req("GET", "/me").bearer(&access2).send();
    assert_eq!(r.json["fresh"], false);
    // An access token is not a refresh token.
    let r = s.req("POST", "/refresh").bearer(&access).send();
    assert_eq!(
        (r.status, msg(&r)),
        (422, "Only refresh tokens are allowed")
    );

    // Reuse of the rotated token (no grace here): the whole family is revoked.
    let r = s.req("POST", "/refresh").bearer(&refresh1).send();
    assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"));
    for (path, token) in [
        ("/refresh", &refresh2),
        ("/protected", &access2),
        ("/protected", &access),
    ] {
        let method = if path == "/refresh" { "POST" } else { "GET" };
        let r = s.req(method, path).bearer(token).send();
        assert_eq!(
            (r.status, msg(&r)),
            (401, "Token has been revoked"),
            "{path}"
        );
    }
    // Another session of the same user is untouched.
    let (other, _) = s.tokens("testuser", "testpass");
    assert_eq!(s.req("GET", "/protected").bearer(&other).send().status, 200);
}

#[test]
fn concurrent_refreshes_with_one_token_rotate_once() {
    let s = Server::start(&[]);
    let (_, refresh) = s.tokens("testuser", "testpass");
    let results: Vec<Response> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| s.req("POST", "/refresh").bearer(&refresh).send()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rotated = results
        .iter()
        .filter(|r| r.status == 200 && r.json.get("refresh_token").is_some())
        .count();
    assert_eq!(rotated, 1, "exactly one refresh rotates the family");
    // The others fall in the grace window: an access token, no new refresh token.
    for r in &results {
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json["access_token"].is_string());
    }
}

#[test]
fn logout_revokes_the_session_and_logout_all_every_session() {
    let s = Server::start(&[]);
    let (a1, r1) = s.tokens("testuser", "testpass");
    let (a2, r2) = s.tokens("testuser", "testpass");
    let (a3, _) = s.tokens("testuser", "testpass");
    let r = s.req("POST", "/logout").bearer(&a1).send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"logout": true})));
    for (m, p, t) in [("GET", "/protected", &a1), ("POST", "/refresh", &r1)] {
        let r = s.req(m, p).bearer(t).send();
        assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"), "{p}");
    }
    assert_eq!(s.req("GET", "/protected").bearer(&a2).send().status, 200);
    // Logout without a token is fine too.
    assert_eq!(s.req("POST", "/logout").send().status, 200);

    let r = s.req("GET", "/sessions").bearer(&a2).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sessions"].as_array().unwrap().len(), 2);

    let r = s.req("POST", "/logout/all").bearer(&a3).send();
    assert_eq!(r.status, 200, "{}", r.text);
    for t in [&a2, &a3] {
        let r = s.req("GET", "/protected").bearer(t).send();
        assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"));
    }
    let r = s.req("POST", "/refresh").bearer(&r2).send();
    assert_eq!(r.status, 401);
    // A new login works at once.
    let (a4, _) = s.tokens("testuser", "testpass");
    assert_eq!(s.req("GET", "/protected").bearer(&a4).send().status, 200);
}

#[test]
fn sessions_can_be_listed_and_revoked_one_by_one() {
    let s = Server::start(&[]);
    let (a1, _) = s.tokens("testuser", "testpass");
    let (a2, _) = s.tokens("testuser", "testpass");
    let (admin, _) = s.tokens("admin", "adminpass");
    let r = s.req("GET", "/sessions").bearer(&a1).send();
    let list = r.json["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|x| x["user_agent"] == "jwtx-e2e" && x["ip"] == "127.0.0.1")
    );
    let mine = list.iter().find(|x| x["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = list.iter().find(|x| x["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Not someone else's.
    let r = s
        .req("DELETE", &format!("/sessions/{other}"))
        .bearer(&admin)
        .send();
    assert_eq!((r.status, msg(&r)), (404, "Session not found"));
    let r = s
        .req("DELETE", &format!("/sessions/{other}"))
        .bearer(&a1)
        .send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"revoked": true})));
    assert_eq!(s.req("GET", "/protected").bearer(&a2).send().status, 401);
    assert_eq!(s.req("GET", "/protected").bearer(&a1).send().status, 200);
    let r = s.req("GET", "/sessions").bearer(&a1).send();
    assert_eq!(r.json["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["sessions"][0]["id"], mine.as_str());
}

#[test]
fn password_change_needs_a_fresh_token_and_ends_other_sessions() {
    let s = Server::start(&[]);
    let (fresh, refresh) = s.tokens("testuser", "testpass");
    let (other, _) = s.tokens("testuser", "testpass");
    let r = s.req("POST", "/refresh").bearer(&refresh).send();
    let stale = r.json["access_token"].as_str().unwrap().to_owned();
    let body = json!({"current_password": "testpass", "new_password": "a new passphrase"});
    let r = s
        .req("POST", "/password")
        .bearer(&stale)
        .json(body.clone())
        .send();
    assert_eq!((r.status, msg(&r)), (401, "Fresh token required"));
    let r = s
        .req("POST", "/password")
        .bearer(&fresh)
        .json(json!({"current_password": "nope", "new_password": "a new passphrase"}))
        .send();
    assert_eq!(r.status, 401, "{}", r.text);
    let r = s.req("POST", "/password").bearer(&fresh).json(body).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["password_changed"], true);
    // This session lives on; the other one ended.
    assert_eq!(s.req("GET", "/protected").bearer(&fresh).send().status, 200);
    assert_eq!(s.req("GET", "/protected").bearer(&other).send().status, 401);
    assert_eq!(s.login("testuser", "testpass").status, 401);
    assert_eq!(s.login("testuser", "a new passphrase").status, 200);
}

#[test]
fn cookies_with_csrf_the_second_seed_session() {
    let s = Server::start(&[
        ("JWTX_TOKEN_LOCATION", "cookies"),
        ("JWTX_COOKIE_SECURE", "false"),
    ]);
    let r = s.login("testuser", "testpass");
    assert_eq!((r.status, r.json.clone()), (200, json!({"login": true})));
    let jar = r.cookies();
    for name in [
        "access_token_cookie",
        "refresh_token_cookie",
        "csrf_access_token",
        "csrf_refresh_token",
    ] {
        assert!(jar.contains_key(name), "{name} in {jar:?}");
    }
    let set_cookie: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        set_cookie
            .iter()
            .any(|c| c.starts_with("access_token_cookie=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax")),
        "{set_cookie:?}"
    );
    let cookie = |names: &[&str]| support::cookie_header(&jar, names);
    let r = s
        .req("GET", "/protected")
        .header("Cookie", &cookie(&["access_token_cookie"]))
        .send();
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"logged_in_as": "testuser"}))
    );
    // POST with a cookie token needs the CSRF header.
    let all = cookie(&[
        "access_token_cookie",
        "refresh_token_cookie",
        "csrf_access_token",
        "csrf_refresh_token",
    ]);
    let r = s.req("POST", "/refresh").header("Cookie", &all).send();
    assert_eq!((r.status, msg(&r)), (401, "Missing CSRF token"));
    let r = s
        .req("POST", "/refresh")
        .header("Cookie", &all)
        .header("X-CSRF-TOKEN", &jar["csrf_refresh_token"])
        .send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"refresh": true})));
    assert!(r.cookies().contains_key("access_token_cookie"));
    let r = s
        .req("POST", "/logout")
        .header("Cookie", &all)
        .header("X-CSRF-TOKEN", &jar["csrf_access_token"])
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.cookies().values().all(String::is_empty),
        "cookies unset: {:?}",
        r.cookies()
    );
    let r = s
        .req("GET", "/protected")
        .header("Cookie", &cookie(&["access_token_cookie"]))
        .send();
    assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"));
}

#[test]
fn acknowledged_revocations_survive_sigkill() {
    let s = Server::start(&[]);
    let (a1, r1) = s.tokens("testuser", "testpass");
    let (a2, _) = s.tokens("admin", "adminpass");
    assert_eq!(s.req("POST", "/logout").bearer(&a1).send().status, 200);
    let dir = s.kill();
    let s = Server::start_in(dir, &[]);
    for (m, p, t) in [("GET", "/protected", &a1), ("POST", "/refresh", &r1)] {
        let r = s.req(m, p).bearer(t).send();
        assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"), "{p}");
    }
    // The generated secret and the users survived too.
    assert_eq!(s.req("GET", "/protected").bearer(&a2).send().status, 200);
    assert_eq!(s.login("testuser", "testpass").status, 200);
}

#[test]
fn demo_is_refused_on_a_public_address_and_the_secret_file_is_private() {
    let dir = std::env::temp_dir().join(format!("jwtx-e2e-{}", jwtx::uuid4()));
    let o = Command::new(env!("CARGO_BIN_EXE_jwtx"))
        .args(["serve", "--demo", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--demo"));

    let s = Server::start(&[]);
    let secret = s.dir.join("secret_key");
    let text = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(Path::new(&s.dir.join("jwtx.db")).exists());
}

#[test]
fn metrics_count_logins_tokens_rejections_and_latency() {
    let s = Server::start(&[]);
    let (access, refresh) = s.tokens("testuser", "testpass");
    assert_eq!(s.login("testuser", "wrong").status, 401);
    assert_eq!(
        s.req("POST", "/refresh").bearer(&refresh).send().status,
        200
    );
    assert_eq!(s.req("POST", "/refresh").bearer(&access).send().status, 422);
    assert_eq!(
        s.req("GET", "/protected").bearer("x.y.z").send().status,
        422
    );
    let r = s.req("GET", "/metrics").send();
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for line in [
        "jwtx_logins_total{result=\"success\"} 1",
        "jwtx_logins_total{result=\"failure\"} 1",
        "jwtx_tokens_issued_total{type=\"access\"} 2",
        "jwtx_tokens_issued_total{type=\"refresh\"} 2",
        "jwtx_token_rejections_total{reason=\"wrong_type\"} 1",
        "jwtx_token_rejections_total{reason=\"malformed\"} 1",
        "jwtx_rate_limit_hits_total 0",
    ] {
        assert!(
            r.text.lines().any(|l| l == line),
            "{line} missing in\n{}",
            r.text
        );
    }
    assert!(
        r.text.contains("jwtx_token_rejections_total{reason=\""),
        "{}",
        r.text
    );
    assert!(r.text.contains("jwtx_http_request_duration_seconds_count "));

    // The revocation set's gauges: nothing revoked yet, then a logout's entries.
    let gauge = |text: &str, name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
        line.and_then(|l| l[name.len() + 1..].parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert_eq!(gauge(&r.text, "jwtx_revocations_live"), 0);
    assert_eq!(gauge(&r.text, "jwtx_revocation_set_table_bytes"), 0);
    assert_eq!(s.req("POST", "/logout").bearer(&access).send().status, 200);
    let text = s.req("GET", "/metrics").send().text;
    assert!(gauge(&text, "jwtx_revocations_live") >= 1, "{text}");
    assert!(
        gauge(&text, "jwtx_revocation_set_table_bytes") > 0,
        "{text}"
    );
}

#[test]
fn openapi_describes_every_route() {
    let s = Server::start(&[]);
    let r = s.req("GET", "/openapi.json").send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.text
    );
    let paths = r.json["paths"].as_object().unwrap();
    for (path, method) in [
        ("/login", "post"),
        ("/refresh", "post"),
        ("/logout", "post"),
        ("/logout/all", "post"),
        ("/password", "post"),
        ("/sessions", "get"),
        ("/sessions/{id}", "delete"),
        ("/protected", "get"),
        ("/me", "get"),
        ("/admin", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/revocations", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert_eq!(
        r.json["paths"]["/login"]["post"]["responses"]["429"]["description"],
        "Too many attempts; see Retry-After"
    );
    assert!(r.json["components"]["securitySchemes"]["bearer"].is_object());
    assert!(r.json["components"]["schemas"]["LoginBody"].is_object());
}

#[test]
fn tls_with_hsts_when_a_certificate_is_configured() {
    let dir = std::env::temp_dir().join(format!("jwtx-tls-{}", jwtx::uuid4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let s = Server::start(&[
        ("JWTX_TLS_CERT", cert_file.to_str().unwrap()),
        ("JWTX_TLS_KEY", key_file.to_str().unwrap()),
    ]);
    let url = format!("https://{}/login", s.addr);
    let o = Command::new("curl")
        .args(["-s", "-D", "-", "--cacert"])
        .arg(&cert_file)
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"username":"testuser","password":"testpass"}"#)
        .arg(&url)
        .output()
        .expect("curl is needed for the TLS test (apt-get install curl)");
    let text = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains("strict-transport-security: max-age=31536000"),
        "{text}"
    );
    assert!(text.contains("\"login\":true"), "{text}");
    // Plain HTTP to the TLS port gets no answer a client could mistake for success.
    let r = std::panic::catch_unwind(|| s.req("GET", "/healthz").send());
    assert!(r.map_or(true, |r| r.status != 200));
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    use std::io::{Read, Write};
    let mut s = Server::start(&[]);
    // A request whose body is still arriving when SIGTERM comes: it must still be answered.
    let body = r#"{"username":"testuser","password":"testpass"}"#;
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        conn,
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = s.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    conn.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = s.wait();
    assert!(status.success(), "{status:?}");
}
