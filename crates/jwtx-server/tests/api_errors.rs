//! The server's own refusals, one per `ApiError` variant a client can reach, on the wire:
//! status, exact `{"msg": …}` body and the headers that go with them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use serde_json::json;
use support::{Response, Server};

fn refused(r: &Response, status: u16, msg: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json, json!({ "msg": msg }), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn api_errors_keep_their_statuses_and_bodies() {
    let s = Server::start(&[
        ("JWTX_METRICS_TOKEN", "a metrics token of enough length"),
        ("JWTX_LOGIN_RATE_LIMIT", "2/1m"),
    ]);
    refused(&s.req("GET", "/no/such/route").send(), 404, "Not found");
    let r = s
        .req("POST", "/login")
        .raw("text/plain", b"{}".to_vec())
        .send();
    refused(&r, 415, "Content-Type must be application/json");
    let r = s
        .req("POST", "/login")
        .raw("application/json", b"[1]".to_vec())
        .send();
    refused(&r, 400, "Request body must be a JSON object");
    let r = s
        .req("POST", "/login")
        .json(json!({"username": "", "password": "x"}))
        .send();
    refused(&r, 400, "Missing username");

    let r = s.req("GET", "/metrics").send();
    refused(&r, 401, "Missing or wrong metrics token");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let (access, _) = s.tokens("testuser", "testpass");
    refused(&s.get("/admin", &access), 403, "Admins only!");
    let r = s
        .req("DELETE", "/sessions/no-such-session")
        .bearer(&access)
        .send();
    refused(&r, 404, "Session not found");
    let r = s
        .req("POST", "/password")
        .bearer(&access)
        .json(json!({"current_password": "wrong", "new_password": "a new password"}))
        .send();
    refused(&r, 401, "Current password is incorrect");

    // The wrong current password above counted as a failure for testuser from this address;
    // one more wrong login reaches the limit of 2, and the next attempt is throttled.
    refused(
        &s.login("testuser", "wrong"),
        401,
        "Bad username or password",
    );
    let r = s.login("testuser", "wrong");
    refused(&r, 429, "Too many login attempts; try again later");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
}
