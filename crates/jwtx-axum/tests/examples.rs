#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]
//! The two examples as their users run them: each binary is started as a real process on a free
//! port, then
//!
//! - the README's curl sessions are run literally, command by command, each output compared
//!   with the README's `# →` lines, which proves the README (curl, sed and awk must be
//!   installed: the tests fail, saying what to install, when they are not);
//! - the same flows run over raw HTTP/1.1 (the shared `jwtx_test::http` client), with exact
//!   statuses, bodies and `Set-Cookie` lines, and the tokens decoded with the secret given to
//!   the process.
//!
//! `cargo test` builds the examples before running tests; when they are missing or older than
//! their sources (e.g. `cargo test --test examples`), this file builds them with cargo.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jwtx::{Algorithm, Codec, Key, TokenKind};
use jwtx_test::examples::{self, Example, ExampleRef, require_tools};
use jwtx_test::http::{Client, Response};
use serde_json::{Map, Value, json};

const SECRET: &str = "examples test secret: thirty-two bytes or more";

// ------------------------------------------------------------------ example processes

/// Starts example `name` with `JWT_SECRET_KEY` = `secret` (or unset) on a free port.
fn start(name: &str, secret: Option<&str>) -> Example {
    let example = ExampleRef {
        package: "jwtx-axum",
        name,
        manifest_dir: env!("CARGO_MANIFEST_DIR"),
    };
    Example::start(example, &[("JWT_SECRET_KEY", secret)])
}

/// Runs the README session `name` against `server`.
fn run_session(name: &str, server: &Example) {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    examples::run_session(&readme, name, server.port);
}

#[test]
fn readme_session_seed_headers_with_curl() {
    require_tools("seed_headers", &["curl", "sed"]);
    let server = start("seed_headers", None);
    run_session("seed_headers", &server);
}

#[test]
fn readme_session_seed_cookies_with_curl() {
    require_tools("seed_cookies", &["curl", "awk"]);
    let server = start("seed_cookies", None);
    run_session("seed_cookies", &server);
}

// ------------------------------------------------------------------ raw HTTP/1.1

/// The checks every example answer gets (on the shared client's [`Response`]).
trait Reply {
    /// Status and exact body, and Flask's JSON content type.
    fn is(&self, status: u16, body: &str);
    /// An application response (not a token error): no `WWW-Authenticate`.
    fn is_app(&self, status: u16, body: &str);
}

impl Reply for Response {
    #[track_caller]
    fn is(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.text.as_str()),
            (status, body),
            "{self:?}"
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let www = (status == 401).then_some("Bearer");
        assert_eq!(self.header("www-authenticate"), www, "{self:?}");
    }

    #[track_caller]
    fn is_app(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.text.as_str()),
            (status, body),
            "{self:?}"
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("www-authenticate"), None);
    }
}

/// One request on its own connection (`Connection: close`), read to the end, through the
/// shared test client; the answer must be UTF-8 with well-formed header lines and a
/// `Content-Length` body (never chunked).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let reply = Client::localhost(port)
        .request(method, path)
        .headers(headers)
        .body(body)
        .timeout(Duration::from_secs(30))
        .send();
    let raw = std::str::from_utf8(&reply.raw).unwrap();
    let (head, _) = raw.split_once("\r\n\r\n").unwrap();
    for line in head.split("\r\n").skip(1) {
        assert!(line.split_once(": ").is_some(), "header line {line:?}");
    }
    assert_eq!(reply.header("transfer-encoding"), None, "{reply:?}");
    assert_eq!(
        reply.header("content-length"),
        Some(reply.text.len().to_string().as_str())
    );
    reply
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A browser-like cookie jar: `Set-Cookie` adds, an empty value with a 1970 `Expires` deletes.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, reply: &Response) {
        for line in reply.set_cookies() {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() && line.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn codec() -> Codec {
    Codec::new(Key::hmac(Algorithm::HS256, SECRET.as_bytes()).unwrap())
}

/// The token's whole payload, verified with the secret the example was given.
fn claims(token: &str, kind: TokenKind) -> Value {
    let verified = codec().verify::<Map<String, Value>>(token).unwrap();
    verified.require(kind).unwrap();
    serde_json::from_slice(verified.payload_json()).unwrap()
}

#[test]
fn seed_headers_over_tcp() {
    let server = start("seed_headers", Some(SECRET));
    let port = server.port;
    let login = |body: &str| http(port, "POST", "/login", &[JSON], body);

    let r = login(r#"{"username": "user1", "password": "password1"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.set_cookies().is_empty());
    let v: Value = serde_json::from_str(&r.text).unwrap();
    assert!(
        r.text.ends_with("\"}\n"),
        "jsonify's trailing newline: {r:?}"
    );
    let token = v["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token, TokenKind::Access);
    assert_eq!(
        (c["sub"].as_str(), c["fresh"].as_bool()),
        (Some("user1"), Some(false))
    );
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        15 * 60
    );

    let bad = "{\"msg\":\"Bad username or password\"}\n";
    for body in [
        r#"{"username": "user1", "password": "password2"}"#,
        r#"{"username": "user2", "password": "password1"}"#,
        r#"{"username": "user1"}"#,
        r#"{"password": "password1"}"#,
        r#"{"username": 1, "password": "password1"}"#,
        "{}",
    ] {
        let r = login(body);
        assert_eq!((r.status, r.text.as_str()), (401, bad), "{body}");
        assert_eq!(
            r.header("www-authenticate"),
            None,
            "an application 401, not a token error"
        );
    }
    // Not JSON: refused by the body extractor, never a 500.
    let r = http(port, "POST", "/login", &[], "username=user1");
    assert_eq!(r.status, 415, "{r:?}");

    let bearer = format!("Bearer {token}");
    http(port, "GET", "/protected", &[("Authorization", &bearer)], "")
        .is(200, "{\"logged_in_as\":\"user1\"}\n");
    http(port, "GET", "/protected", &[], "")
        .is(401, "{\"msg\":\"Missing Authorization Header\"}\n");
    http(
        port,
        "GET",
        "/protected",
        &[("Authorization", "Bearer garbage")],
        "",
    )
    .is(422, "{\"msg\":\"Not enough segments\"}\n");
    http(
        port,
        "GET",
        "/protected",
        &[("Authorization", &format!("Token {token}"))],
        "",
    )
    .is(
        401,
        "{\"msg\":\"Missing 'Bearer' type in 'Authorization' header. \
         Expected 'Authorization: Bearer <JWT>'\"}\n",
    );
    // A token signed with another secret.
    let other =
        Codec::new(Key::hmac(Algorithm::HS256, b"another secret, also 32+ bytes long").unwrap());
    let forged = other.access_token("user1").sign().unwrap().token;
    http(
        port,
        "GET",
        "/protected",
        &[("Authorization", &format!("Bearer {forged}"))],
        "",
    )
    .is(422, "{\"msg\":\"Signature verification failed\"}\n");

    let err = server.stop();
    assert!(!err.contains("JWT_SECRET_KEY is not set"), "{err}");
    assert!(!err.contains(SECRET), "the secret is never printed");
}

#[test]
fn seed_cookies_over_tcp() {
    let server = start("seed_cookies", Some(SECRET));
    let port = server.port;
    let mut jar = Jar::default();

    let r = http(
        port,
        "POST",
        "/login",
        &[JSON],
        r#"{"username": "testuser", "password": "nope"}"#,
    );
    r.is_app(401, "{\"msg\":\"Bad username or password\"}\n");
    assert!(r.set_cookies().is_empty());

    // Login: four cookies, exactly as flask-jwt-extended sets them (as flask-jwt-extended 4.7.4 does).
    let r = http(
        port,
        "POST",
        "/login",
        &[JSON],
        r#"{"username": "testuser", "password": "testpass"}"#,
    );
    r.is(200, "{\"login\":true}\n");
    jar.take(&r);
    let (access, refresh) = (
        jar.get("access_token_cookie").to_owned(),
        jar.get("refresh_token_cookie").to_owned(),
    );
    let (access_csrf, refresh_csrf) = (
        jar.get("csrf_access_token").to_owned(),
        jar.get("csrf_refresh_token").to_owned(),
    );
    assert_eq!(
        r.set_cookies(),
        [
            format!("access_token_cookie={access}; HttpOnly; Path=/"),
            format!("csrf_access_token={access_csrf}; Path=/"),
            format!("refresh_token_cookie={refresh}; HttpOnly; Path=/"),
            format!("csrf_refresh_token={refresh_csrf}; Path=/"),
        ]
    );
    let a = claims(&access, TokenKind::Access);
    assert_eq!(a["sub"], "testuser");
    assert_eq!(a["roles"], json!(["user"]));
    assert_eq!(a["csrf"], access_csrf.as_str());
    assert_eq!(
        a["exp"].as_u64().unwrap() - a["iat"].as_u64().unwrap(),
        5 * 60
    );
    let rt = claims(&refresh, TokenKind::Refresh);
    assert_eq!(rt["csrf"], refresh_csrf.as_str());
    assert_eq!(
        rt["exp"].as_u64().unwrap() - rt["iat"].as_u64().unwrap(),
        7 * 24 * 60 * 60
    );

    let cookie = jar.header();
    http(port, "GET", "/protected", &[("Cookie", &cookie)], "")
        .is(200, "{\"logged_in_as\":\"testuser\"}\n");
    http(port, "GET", "/protected", &[], "").is(
        401,
        "{\"msg\":\"Missing cookie \\\"access_token_cookie\\\"\"}\n",
    );
    // Tokens are read from cookies only.
    http(
        port,
        "GET",
        "/protected",
        &[("Authorization", &format!("Bearer {access}"))],
        "",
    )
    .is(
        401,
        "{\"msg\":\"Missing cookie \\\"access_token_cookie\\\"\"}\n",
    );
    http(port, "GET", "/admin", &[("Cookie", &cookie)], "")
        .is_app(403, "{\"msg\":\"Admins only!\"}\n");

    // Refresh: the refresh cookie and its own CSRF value.
    http(port, "POST", "/refresh", &[("Cookie", &cookie)], "")
        .is(401, "{\"msg\":\"Missing CSRF token\"}\n");
    http(
        port,
        "POST",
        "/refresh",
        &[("Cookie", &cookie), ("X-CSRF-TOKEN", &access_csrf)],
        "",
    )
    .is(
        401,
        "{\"msg\":\"CSRF double submit tokens do not match\"}\n",
    );
    http(
        port,
        "POST",
        "/refresh",
        &[
            ("Cookie", &format!("access_token_cookie={access}")),
            ("X-CSRF-TOKEN", &refresh_csrf),
        ],
        "",
    )
    .is(
        401,
        "{\"msg\":\"Missing cookie \\\"refresh_token_cookie\\\"\"}\n",
    );
    let r = http(
        port,
        "POST",
        "/refresh",
        &[("Cookie", &cookie), ("X-CSRF-TOKEN", &refresh_csrf)],
        "",
    );
    r.is(200, "{\"refresh\":true}\n");
    jar.take(&r);
    let new_access = jar.get("access_token_cookie").to_owned();
    let new_csrf = jar.get("csrf_access_token").to_owned();
    assert_eq!(
        r.set_cookies(),
        [
            format!("access_token_cookie={new_access}; HttpOnly; Path=/"),
            format!("csrf_access_token={new_csrf}; Path=/"),
        ]
    );
    assert_ne!(new_access, access);
    assert_ne!(
        new_csrf, access_csrf,
        "a new access cookie brings a new CSRF value"
    );
    let n = claims(&new_access, TokenKind::Access);
    assert_eq!(
        (n["sub"].as_str(), &n["roles"]),
        (Some("testuser"), &json!(["user"]))
    );
    assert_eq!(n["fresh"], false);

    // Logout: CSRF-checked, revokes both tokens, deletes the four cookies.
    let cookie = jar.header();
    http(port, "POST", "/logout", &[("Cookie", &cookie)], "")
        .is(401, "{\"msg\":\"Missing CSRF token\"}\n");
    let r = http(
        port,
        "POST",
        "/logout",
        &[("Cookie", &cookie), ("X-CSRF-TOKEN", &new_csrf)],
        "",
    );
    r.is(200, "{\"logout\":true}\n");
    assert_eq!(
        r.set_cookies(),
        [
            "access_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            "refresh_token_cookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
            "csrf_refresh_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ]
    );
    jar.take(&r);
    assert_eq!(jar.header(), "");
    let revoked = "{\"msg\":\"Token has been revoked\"}\n";
    http(
        port,
        "GET",
        "/protected",
        &[("Cookie", &format!("access_token_cookie={new_access}"))],
        "",
    )
    .is(401, revoked);
    http(
        port,
        "POST",
        "/refresh",
        &[
            ("Cookie", &format!("refresh_token_cookie={refresh}")),
            ("X-CSRF-TOKEN", &refresh_csrf),
        ],
        "",
    )
    .is(401, revoked);
    // The first access token was not presented at logout: still valid until it expires.
    http(
        port,
        "GET",
        "/protected",
        &[("Cookie", &format!("access_token_cookie={access}"))],
        "",
    )
    .is(200, "{\"logged_in_as\":\"testuser\"}\n");

    // An admin.
    let mut admin = Jar::default();
    let r = http(
        port,
        "POST",
        "/login",
        &[JSON],
        r#"{"username": "admin", "password": "adminpass"}"#,
    );
    r.is(200, "{\"login\":true}\n");
    admin.take(&r);
    assert_eq!(
        claims(admin.get("access_token_cookie"), TokenKind::Access)["roles"],
        json!(["admin", "user"])
    );
    http(port, "GET", "/admin", &[("Cookie", &admin.header())], "").is(
        200,
        "{\"logged_in_as\":\"admin\",\"roles\":[\"admin\",\"user\"]}\n",
    );

    let err = server.stop();
    assert!(!err.contains(SECRET), "the secret is never printed");
}

#[test]
fn generated_secret_is_announced_but_never_printed() {
    for name in ["seed_headers", "seed_cookies"] {
        let server = start(name, None);
        let port = server.port;
        let r = http(
            port,
            "POST",
            "/login",
            &[JSON],
            r#"{"username": "user1", "password": "password1", "x": 1}"#,
        );
        assert!(r.status == 200 || r.status == 401, "{r:?}");
        let err = server.stop();
        assert!(err.contains("JWT_SECRET_KEY is not set"), "{name}: {err}");
        assert!(
            err.contains(&format!("listening on http://127.0.0.1:{port}")),
            "{name}: {err}"
        );
        // No 64-hex-character run (the generated secret) anywhere in the output.
        let longest_hex = err
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_hex < 32, "{name}: {err}");
    }
}

#[test]
fn weak_secret_is_refused_at_start() {
    for name in ["seed_headers", "seed_cookies"] {
        let example = ExampleRef {
            package: "jwtx-axum",
            name,
            manifest_dir: env!("CARGO_MANIFEST_DIR"),
        };
        let (status, err) = Example::exit_of(
            example,
            &[
                ("JWT_SECRET_KEY", Some("super-secret-key")),
                ("PORT", Some("0")),
            ],
        );
        assert!(!status.success(), "{name}");
        assert!(
            err.contains(
                "JWT_SECRET_KEY: HS256 secret is 16 bytes; it must be at least 32 random bytes"
            ),
            "{name}: {err}"
        );
        assert!(!err.contains("super-secret-key"), "{name}: {err}");
    }
}
