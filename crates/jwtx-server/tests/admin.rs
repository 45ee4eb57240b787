#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The admin commands (`jwtx user …`, `jwtx revoke`) driven as an operator would: the real
//! binary on a temporary data directory, alone and next to a running `jwtx serve`.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwtx::store::{Revocation, RevocationStore};
use serde_json::{Value, json};
use support::Server;

mod support;

use support::TempDir;
use support::output::{err, ok, out, usage};

fn jwtx(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    support::jwtx_in(dir, args, stdin)
}

fn list_json(dir: &Path) -> Vec<Value> {
    let o = jwtx(dir, &["user", "list", "--json"], None);
    let text = ok(&o);
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The store's live revocation log, read as a running server reads it.
fn revocation_log(dir: &Path) -> Vec<Revocation> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = jwtx_sqlx::SqliteStore::open(dir.join("jwtx.db"))
            .await
            .unwrap();
        let log = store.revocations_since(0, now(), 1000).await.unwrap();
        store.close().await;
        log.into_iter().map(|(_, r)| r).collect()
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sleeps until the wall clock is past second `t` (a cut-off at `t` covers tokens issued in
/// that second).
fn wait_past(t: u64) {
    while now() <= t {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn users_are_added_listed_changed_and_deleted() {
    let dir = TempDir::new();
    let d = dir.0.as_path();

    // Empty to start with.
    assert!(list_json(d).is_empty());
    let empty = ok(&jwtx(d, &["user", "list"], None));
    assert!(empty.contains("no users"), "{empty}");

    // add: roles deduplicated in order; the password from stdin never shows anywhere.
    let o = jwtx(
        d,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "admin",
            "--role",
            "user",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(b"correct horse battery\n"),
    );
    let text = ok(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("alice"), "{text}");
    for s in [out(&o), err(&o)] {
        assert!(!s.contains("correct horse"), "{s}");
        assert!(!s.contains("$argon2"), "{s}");
    }
    ok(&jwtx(
        d,
        &["user", "add", "bob", "--password-stdin"],
        Some(b"bob's password"), // no trailing newline: fine
    ));

    // A duplicate is refused, before any password is read.
    let o = jwtx(d, &["user", "add", "alice", "--password-stdin"], None);
    usage(&o, "exists");

    // list: a table, and JSON with exactly name, roles, created_at; never a hash.
    let table = ok(&jwtx(d, &["user", "list"], None));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[1].starts_with("alice") && lines[1].contains("admin,user"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("bob") && lines[2].contains("UTC"),
        "{table}"
    );
    assert!(!table.contains("argon2"), "{table}");
    let users = list_json(d);
    assert_eq!(users.len(), 2);
    let t = now();
    for u in &users {
        let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["created_at", "name", "roles"], "{u}");
        let created = u["created_at"].as_u64().unwrap();
        assert!(created <= t && created + 120 > t, "{u}");
    }
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["roles"], json!(["admin", "user"]));
    assert_eq!(users[1]["name"], "bob");
    assert_eq!(users[1]["roles"], json!([]));
    let raw = out(&jwtx(d, &["user", "list", "--json"], None));
    assert!(
        !raw.contains("argon2") && !raw.contains("password"),
        "{raw}"
    );

    // roles: replaced (deduplicated); --none clears; unknown users and bad roles refused.
    ok(&jwtx(
        d,
        &["user", "roles", "alice", "ops", "user", "ops"],
        None,
    ));
    assert_eq!(list_json(d)[0]["roles"], json!(["ops", "user"]));
    ok(&jwtx(d, &["user", "roles", "bob", "--none"], None));
    assert_eq!(list_json(d)[1]["roles"], json!([]));
    usage(&jwtx(d, &["user", "roles", "carol", "x"], None), "no user");
    usage(&jwtx(d, &["user", "roles", "alice", "a,b"], None), "comma");
    usage(&jwtx(d, &["user", "roles", "alice"], None), "ROLE");

    // passwd: ends the user's tokens (a cut-off in the log).
    let o = jwtx(
        d,
        &["user", "passwd", "alice", "--password-stdin"],
        Some(b"a new password\r\n"),
    );
    ok(&o);
    assert!(!err(&o).contains("a new password"));
    usage(
        &jwtx(d, &["user", "passwd", "carol", "--password-stdin"], None),
        "no user",
    );

    // revoke --jti: a token entry, kept as long as asked or the longest lifetime.
    let before = now();
    ok(&jwtx(d, &["revoke", "--jti", "jti-one"], None));
    ok(&jwtx(
        d,
        &["revoke", "--jti", "jti-two", "--until", "15m"],
        None,
    ));
    usage(
        &jwtx(d, &["revoke", "--jti", "jti-3", "--until", "1000"], None),
        "not in the future",
    );
    usage(&jwtx(d, &["revoke", "--user", "carol"], None), "no user");
    usage(&jwtx(d, &["revoke", "--jti", "a b"], None), "whitespace");
    usage(&jwtx(d, &["revoke"], None), "--jti");
    usage(
        &jwtx(d, &["revoke", "--jti", "x", "--user", "bob"], None),
        "",
    );
    usage(
        &jwtx(d, &["revoke", "--user", "bob", "--until", "15m"], None),
        "",
    );

    // delete: gone from the list, a cut-off for the user in the log; twice is refused.
    ok(&jwtx(d, &["user", "delete", "bob"], None));
    usage(&jwtx(d, &["user", "delete", "bob"], None), "no user");
    let users = list_json(d);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["name"], "alice");

    let log = revocation_log(d);
    let after = now();
    let thirty_days = 30 * 86_400;
    let find = |pred: &dyn Fn(&Revocation) -> bool| {
        log.iter()
            .find(|r| pred(r))
            .unwrap_or_else(|| panic!("not in {log:?}"))
            .clone()
    };
    match find(&|r| matches!(r, Revocation::User { user, .. } if user == "alice")) {
        Revocation::User { cutoff, until, .. } => {
            assert!(before.saturating_sub(61) <= cutoff && cutoff <= after);
            assert_eq!(until, cutoff + thirty_days);
        }
        _ => unreachable!(),
    }
    // A deletion's cut-off includes its own second.
    match find(&|r| matches!(r, Revocation::User { user, .. } if user == "bob")) {
        Revocation::User { cutoff, until, .. } => {
            assert!(before <= cutoff && cutoff <= after);
            assert_eq!(until, cutoff + thirty_days);
        }
        _ => unreachable!(),
    }
    match find(&|r| matches!(r, Revocation::Token { jti, .. } if jti == "jti-one")) {
        Revocation::Token { until, .. } => {
            assert!(before + thirty_days <= until && until <= after + thirty_days);
        }
        _ => unreachable!(),
    }
    match find(&|r| matches!(r, Revocation::Token { jti, .. } if jti == "jti-two")) {
        Revocation::Token { until, .. } => {
            assert!(before + 900 <= until && until <= after + 900);
        }
        _ => unreachable!(),
    }
    assert!(
        !log.iter()
            .any(|r| matches!(r, Revocation::Token { jti, .. } if jti == "jti-3"))
    );
}

#[test]
fn passwords_come_only_from_stdin_or_a_prompt_and_follow_the_rules() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    // There is no flag or argument for a password.
    usage(
        &jwtx(
            d,
            &["user", "add", "dave", "--password", "longenough"],
            None,
        ),
        "unexpected argument",
    );
    usage(
        &jwtx(d, &["user", "add", "dave", "longenough"], None),
        "unexpected argument",
    );
    usage(
        &jwtx(d, &["user", "passwd", "dave", "longenough"], None),
        "unexpected argument",
    );
    // Standard input that is not a terminal is read only with --password-stdin.
    usage(
        &jwtx(d, &["user", "add", "dave"], Some(b"longenough\n")),
        "--password-stdin",
    );
    // Refused input: nothing, an empty line, too short, too long, not UTF-8.
    let long = vec![b'x'; 1025];
    for (input, needle) in [
        (&b""[..], "no password"),
        (b"\n", "empty"),
        (b"seven77\n", "at least 8"),
        // Eight combining acute accents: nothing a person sees.
        (
            "\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\n".as_bytes(),
            "at least 8",
        ),
        (&long, "longer than 1024"),
        (b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\n", "UTF-8"),
    ] {
        let o = jwtx(d, &["user", "add", "dave", "--password-stdin"], Some(input));
        usage(&o, needle);
    }
    // Bad names.
    for name in ["two words", "tab\tname", "", &"n".repeat(257)] {
        let o = jwtx(d, &["user", "add", name, "--password-stdin"], Some(b"x"));
        usage(&o, "user name");
    }
    assert!(list_json(d).is_empty(), "nothing was created");
    // Exactly 8 characters (not bytes) and exactly 1024 bytes are fine; only the first line
    // counts.
    ok(&jwtx(
        d,
        &["user", "add", "eve", "--password-stdin"],
        Some("ééééééé€\nignored\n".as_bytes()),
    ));
    let mut max = vec![b'y'; 1024];
    max.push(b'\n');
    ok(&jwtx(
        d,
        &["user", "passwd", "eve", "--password-stdin"],
        Some(&max),
    ));
}

// ----- next to a running server -----

/// `jwtx serve` on the test's data directory, without demo users.
fn serve(dir: &Path) -> Server {
    Server::start_plain(dir.to_owned())
}

/// Polls `GET path` with `token` until it answers 401 "Token has been revoked"; panics if
/// that takes longer than 5 s (the server follows the log every 500 ms; 10x that, for a
/// shared machine).
#[track_caller]
fn revoked_within_a_moment(s: &Server, path: &str, token: &str) {
    within_a_moment(|| {
        let r = s.get(path, token);
        r.status == 401 && r.json == json!({"msg": "Token has been revoked"})
    });
}

/// Polls `check` until it holds; panics if that takes longer than 5 s.
#[track_caller]
fn within_a_moment(check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not so after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn jti(token: &str) -> String {
    let u = jwtx::dangerous::decode_unverified(token, 8192).unwrap();
    u.claims["jti"].as_str().unwrap().to_owned()
}

#[test]
fn a_running_server_follows_the_admin_commands() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let s = serve(d);

    // A user added while the server runs can log in at once; roles come from the store.
    ok(&jwtx(
        d,
        &[
            "user",
            "add",
            "carol",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(b"carol password 1\n"),
    ));
    let (access1, refresh1) = s.tokens("carol", "carol password 1");
    assert_eq!(s.get("/protected", &access1).status, 200);
    let r = s.get("/admin", &access1);
    assert_eq!((r.status, r.json), (200, json!({"admin": true})));

    // A role change applies within a moment (the user loader keeps a user for 500 ms),
    // with the same token.
    ok(&jwtx(d, &["user", "roles", "carol", "user"], None));
    within_a_moment(|| {
        let r = s.get("/admin", &access1);
        (r.status, r.json) == (403, json!({"msg": "Admins only!"}))
    });
    assert_eq!(s.get("/me", &access1).json["roles"], json!(["user"]));

    // revoke --jti: that token only, within a moment.
    ok(&jwtx(d, &["revoke", "--jti", &jti(&access1)], None));
    revoked_within_a_moment(&s, "/protected", &access1);
    let r = s.req("POST", "/refresh").bearer(&refresh1).send();
    assert_eq!(r.status, 200, "the session lives on: {}", r.text);
    let access2 = r.json["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/protected", &access2).status, 200);

    // revoke --user: every token and session of the user, within a moment.
    let (access3, _) = s.tokens("carol", "carol password 1");
    let o = jwtx(d, &["revoke", "--user", "carol"], None);
    let cutoff = now();
    ok(&o);
    assert!(out(&o).contains("2 session(s) ended"), "{}", out(&o));
    revoked_within_a_moment(&s, "/protected", &access2);
    revoked_within_a_moment(&s, "/protected", &access3);
    let r = s.req("POST", "/refresh").bearer(&refresh2).send();
    assert_eq!(r.status, 401, "{}", r.text);
    // A cut-off, not a ban: tokens issued after that second work.
    wait_past(cutoff);
    let (access4, _) = s.tokens("carol", "carol password 1");
    assert_eq!(s.get("/protected", &access4).status, 200);

    // passwd: the old password stops working and every earlier token is revoked.
    ok(&jwtx(
        d,
        &["user", "passwd", "carol", "--password-stdin"],
        Some(b"carol password 2\n"),
    ));
    let cutoff = now();
    revoked_within_a_moment(&s, "/protected", &access4);
    let r = s.login("carol", "carol password 1");
    assert_eq!(
        (r.status, r.json),
        (401, json!({"msg": "Bad username or password"}))
    );
    wait_past(cutoff);
    let (access5, _) = s.tokens("carol", "carol password 2");
    assert_eq!(s.get("/protected", &access5).status, 200);

    // delete: the user loader and the log refuse the token within a moment, and the user
    // cannot log in.
    ok(&jwtx(d, &["user", "delete", "carol"], None));
    within_a_moment(|| s.get("/me", &access5).status == 401);
    // Refused from now on: by the user loader (no such user) and, for tokens issued before
    // this second, by the cut-off in the log as well.
    let r = s.get("/protected", &access5);
    assert_eq!(r.status, 401, "{}", r.text);
    let r = s.login("carol", "carol password 2");
    assert_eq!(
        (r.status, r.json),
        (401, json!({"msg": "Bad username or password"}))
    );
}

/// A deletion outlives the name: a token issued in the deletion's own second stays refused
/// after a user of the same name is created. Rounds repeat until the login and the deletion
/// fall in one second at least once (the case a cut-off before that second missed).
#[test]
fn a_deleted_users_token_stays_refused_when_the_name_is_taken_again() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let s = serve(d);
    let add = || {
        ok(&jwtx(
            d,
            &["user", "add", "dora", "--password-stdin"],
            Some(b"dora password 1\n"),
        ))
    };
    add();
    let mut same_second = 0;
    for _ in 0..10 {
        let (old, _) = s.tokens("dora", "dora password 1");
        let iat = jwtx::dangerous::decode_unverified(&old, 8192)
            .unwrap()
            .claims["iat"]
            .as_u64()
            .unwrap();
        ok(&jwtx(d, &["user", "delete", "dora"], None));
        let deleted_by = now();
        add();
        // The server follows the deletion's cut-off (a user-lookup refusal is not enough: it
        // ends once the new user is seen)…
        revoked_within_a_moment(&s, "/protected", &old);
        // …tokens of the new user (issued after the deletion's second) work, so the server
        // knows the new user…
        wait_past(deleted_by);
        let (new, _) = s.tokens("dora", "dora password 1");
        within_a_moment(|| s.get("/protected", &new).status == 200);
        // …and the deleted user's token is still refused.
        let r = s.get("/protected", &old);
        assert_eq!(
            (r.status, r.json),
            (401, json!({"msg": "Token has been revoked"})),
            "a token of the deleted user (iat {iat}, deletion by {deleted_by})"
        );
        if iat == deleted_by {
            same_second += 1;
            if same_second == 2 {
                break;
            }
        }
    }
    assert!(
        same_second > 0,
        "no round had the login and the deletion in one second"
    );
}
