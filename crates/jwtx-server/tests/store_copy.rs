//! `jwtx store copy` end to end: a SQLite deployment (`jwtx serve --demo` on a data
//! directory) moves to PostgreSQL, and what it issued before the move still works on a server
//! using the copy: its access token, its refresh token (it refreshes), its logouts (still
//! revoked), its users' passwords. Needs the machine's PostgreSQL (`jwtx_test::pg`).

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use jwtx_test::pg::TestDatabase;
use support::{Server, msg};

/// `jwtx ARGS…` without the developer's `JWTX_*` settings or `RUST_LOG`, with `env`.
fn jwtx(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jwtx"))
        .args(args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_") && k.as_str() != "RUST_LOG"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fresh_database() -> TestDatabase {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(TestDatabase::create())
}

/// `jwtx store copy --from sqlite://<dir>/jwtx.db --to <url>`.
fn copy(dir: &Path, to: &str, env: &[(&str, &str)]) -> Output {
    let from = format!("sqlite://{}", dir.join("jwtx.db").display());
    jwtx(&["store", "copy", "--from", &from, "--to", to], env)
}

/// Removes a data directory the test owns, also when it fails.
struct Owned<'a>(&'a Path);

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

#[test]
fn tokens_issued_on_sqlite_work_on_postgres_after_the_copy() {
    let sqlite = Server::start(&[]);
    let (access, refresh) = sqlite.tokens("testuser", "testpass");
    // A session logged out before the move: its token stays revoked after it.
    let (gone, _) = sqlite.tokens("admin", "adminpass");
    assert_eq!(
        sqlite.req("POST", "/logout").bearer(&gone).send().status,
        200
    );
    assert_eq!(sqlite.get("/protected", &access).status, 200);
    let dir = sqlite.kill();
    let _owned = Owned(&dir);
    assert!(dir.join("secret_key").is_file());

    let db = fresh_database();
    let out = copy(&dir, db.url(), &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("copied 2 users (3 roles), 2 sessions, 1 revocation, 0 signing keys, "),
        "{stdout}"
    );
    assert!(stdout.contains(" from SQLite "), "{stdout}");
    assert!(stdout.contains(" to PostgreSQL postgres://"), "{stdout}");
    assert!(stdout.contains("secret_key"), "{stdout}");
    assert!(stderr.contains("store_copied"), "{stderr}");

    let pg = Server::start_without_demo(&[("JWTX_DATABASE_URL", db.url())]);
    // The access token verifies (same HMAC secret), and the refresh token refreshes (same
    // session, same current jti).
    let r = pg.get("/protected", &access);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = pg.req("POST", "/refresh").bearer(&refresh).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let refreshed = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(pg.get("/protected", &refreshed).status, 200);
    // The logout came along.
    let r = pg.get("/protected", &gone);
    assert_eq!((r.status, msg(&r)), (401, "Token has been revoked"));
    // Passwords came along.
    let r = pg.login("testuser", "testpass");
    assert_eq!(r.status, 200, "{}", r.text);
    drop(pg);

    // Again into the same (now non-empty) database: refused, saying why.
    let out = copy(&dir, db.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the target is not empty"), "{stderr}");
    assert!(stderr.contains("copy into a fresh database"), "{stderr}");
}

/// With `key_encryption_key`, the data directory's secret is stored sealed, and servers on
/// the target with the same key open it.
#[test]
fn the_copied_secret_is_sealed_under_the_key_encryption_key() {
    let kek = "0f".repeat(32);
    let sqlite = Server::start(&[("JWTX_KEY_ENCRYPTION_KEY", &kek)]);
    let (access, _) = sqlite.tokens("testuser", "testpass");
    let dir = sqlite.kill();
    let _owned = Owned(&dir);
    let file_secret = std::fs::read_to_string(dir.join("secret_key")).unwrap();

    let db = fresh_database();
    let out = copy(&dir, db.url(), &[("JWTX_KEY_ENCRYPTION_KEY", &kek)]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let stored: String = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar("SELECT value FROM secrets WHERE name = 'hmac'")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        });
    assert!(stored.starts_with("jwtx-sealed:v1:"), "not sealed");
    assert!(!stored.contains(file_secret.trim()));

    let pg = Server::start_without_demo(&[
        ("JWTX_DATABASE_URL", db.url()),
        ("JWTX_KEY_ENCRYPTION_KEY", &kek),
    ]);
    let r = pg.get("/protected", &access);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn bad_arguments_exit_2_without_showing_a_password() {
    let dir = std::env::temp_dir().join(format!("jwtx-copy-{}", jwtx::uuid4()));
    let _owned = Owned(&dir);
    // No database at the source: nothing is created for the target either.
    let target = dir.join("target").join("jwtx.db");
    let out = jwtx(
        &[
            "store",
            "copy",
            "--from",
            &format!("sqlite://{}", dir.join("jwtx.db").display()),
            "--to",
            &format!("sqlite://{}", target.display()),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no SQLite database"),
        "{}",
        text(&out.stderr)
    );
    assert!(!target.exists());

    let out = jwtx(
        &[
            "store",
            "copy",
            "--from",
            "mysql://u:hunter2@db/x",
            "--to",
            "sqlite://x.db",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--from"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
