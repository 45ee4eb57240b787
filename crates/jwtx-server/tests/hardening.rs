#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! What `jwtx serve` does with its data directory before it serves: demo accounts kept off
//! public addresses, private file modes, and several processes starting on one new directory
//! at once. The real binary, as an operator runs it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::Server;

mod support;

use support::TempDir;

fn jwtx(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    support::jwtx_in(dir, args, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
}

/// Starts `jwtx serve` on the wildcard address (port 0) and tells whether it began serving
/// (then it is stopped) or exited; with the exit's stderr.
fn serve_public(dir: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwtx"))
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut text = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        if line.starts_with("jwtx serving on") {
            child.kill().unwrap();
            child.wait().unwrap();
            return (true, text);
        }
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{text}");
    (false, text)
}

/// A directory once served with `--demo` on loopback is refused on a public address while a
/// demo account is in it, with what to do; once they are gone or changed, it starts.
#[test]
fn demo_accounts_keep_a_store_off_public_addresses() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let demo = Server::start_in(d.to_owned(), &[]);
    assert_eq!(demo.login("admin", "adminpass").status, 200);
    demo.kill();

    let (served, text) = serve_public(d);
    assert!(
        !served,
        "a store with demo accounts must not serve publicly"
    );
    assert!(
        text.contains("demo accounts") && text.contains("testuser") && text.contains("admin"),
        "{text}"
    );
    assert!(text.contains("jwtx user delete testuser"), "{text}");

    // Deleting one and changing the other's password makes both ordinary.
    ok(&jwtx(d, &["user", "delete", "testuser"], None));
    let (served, text) = serve_public(d);
    assert!(!served && text.contains("(admin)"), "{text}");
    ok(&jwtx(
        d,
        &["user", "passwd", "admin", "--password-stdin"],
        Some(b"a private password\n"),
    ));
    let (served, text) = serve_public(d);
    assert!(served, "{text}");
}

/// A store from before demo accounts were marked: an account that still has the demo
/// password counts as one.
#[test]
fn an_unmarked_account_with_the_demo_password_counts_as_demo() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    ok(&jwtx(
        d,
        &["user", "add", "testuser", "--password-stdin"],
        Some(b"testpass\n"),
    ));
    let (served, text) = serve_public(d);
    assert!(!served && text.contains("(testuser)"), "{text}");
    ok(&jwtx(
        d,
        &["user", "passwd", "testuser", "--password-stdin"],
        Some(b"not the demo one\n"),
    ));
    assert!(serve_public(d).0);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The database holds password hashes (and private keys): an existing directory open to
/// others, and database files made before, are made the owner's alone, with a warning; new
/// files are 0600 whatever the umask.
#[test]
fn the_data_directory_and_database_files_are_private() {
    let dir = TempDir::new();
    std::fs::create_dir(&dir.0).unwrap();
    set_mode(&dir.0, 0o755);
    let s = Server::start_plain(dir.0.clone());
    assert_eq!(mode(&dir.0), 0o700);
    let text = s.stderr_containing("open to other users");
    assert!(text.contains("open to other users (mode 755)"), "{text}");
    for file in ["jwtx.db", "jwtx.db-wal", "jwtx.db-shm", "secret_key"] {
        assert_eq!(mode(&dir.0.join(file)), 0o600, "{file}");
    }
    s.kill();

    // Loosened behind jwtx's back (or made by an older version): tightened at the next start.
    set_mode(&dir.0, 0o775);
    for file in ["jwtx.db", "jwtx.db-wal", "jwtx.db-shm"] {
        set_mode(&dir.0.join(file), 0o644);
    }
    let s = Server::start_plain(dir.0.clone());
    assert_eq!(mode(&dir.0), 0o700);
    for file in ["jwtx.db", "jwtx.db-wal", "jwtx.db-shm"] {
        assert_eq!(mode(&dir.0.join(file)), 0o600, "{file}");
    }
    drop(s);
}

/// Three `jwtx serve --demo` started at the same moment on one new directory all serve, with
/// one secret (a token from one works on the others) and the demo accounts made once.
#[test]
fn simultaneous_first_starts_share_one_secret() {
    let dir = TempDir::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&dir.0);
        let servers: Vec<Server> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..3)
                .map(|_| scope.spawn(|| Server::start_in(dir.0.clone(), &[])))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (access, _) = servers[0].tokens("testuser", "testpass");
        for s in &servers {
            assert_eq!(s.get("/protected", &access).status, 200);
        }
        for s in servers {
            s.kill();
        }
        let listed = jwtx(&dir.0, &["user", "list", "--json"], None);
        ok(&listed);
        let users: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(users.as_array().map(Vec::len), Some(2), "{users}");
    }
}

/// Responses that carry tokens are never cached (RFC 6749 §5.1).
#[test]
fn token_responses_are_not_cached() {
    let s = Server::start(&[]);
    let r = s.login("testuser", "testpass");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    let r = s.req("POST", "/refresh").bearer(&refresh).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
}

/// `/login` takes a JSON object only, not serde's sequence form of the same fields.
#[test]
fn login_takes_an_object_only() {
    let s = Server::start(&[]);
    let r = s
        .req("POST", "/login")
        .json(serde_json::json!(["testuser", "testpass"]))
        .send();
    assert_eq!(
        (r.status, r.json),
        (
            400,
            serde_json::json!({"msg": "Request body must be a JSON object"})
        )
    );
    let r = s
        .req("POST", "/login")
        .json(serde_json::json!({"username": "testuser"}))
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("password"), "{}", r.text);
}

/// A failed login's audit line names an account as it is, and anything else typed only as a
/// tag: the typed text (perhaps a password) never reaches the log.
#[test]
fn failed_logins_never_log_the_typed_name_of_no_account() {
    let s = Server::start(&[("RUST_LOG", "warn,audit=info")]);
    assert_eq!(s.login("Tr0ub4dor&3-typed-as-a-name", "x").status, 401);
    assert_eq!(s.login("testuser", "wrong").status, 401);
    let text = s.stderr_containing("user=testuser");
    assert!(!text.contains("Tr0ub4dor"), "{text}");
    assert!(text.contains("typed_user="), "{text}");
    assert!(
        text.contains("result=\"failure\" user=testuser") || text.contains("user=testuser"),
        "{text}"
    );
}

/// With `metrics_token`, `/metrics` answers only a request that carries it.
#[test]
fn metrics_can_require_a_token() {
    let token = "0123456789abcdef-metrics";
    let s = Server::start(&[("JWTX_METRICS_TOKEN", token)]);
    for presented in [None, Some("wrong"), Some("0123456789abcdef-metric")] {
        let mut req = s.req("GET", "/metrics");
        if let Some(p) = presented {
            req = req.bearer(p);
        }
        let r = req.send();
        assert_eq!(r.status, 401, "{presented:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert!(!r.text.contains("jwtx_"), "{}", r.text);
    }
    let r = s.get("/metrics", token);
    assert_eq!(r.status, 200);
    assert!(r.text.contains("jwtx_logins_total"), "{}", r.text);
    // Without the setting it stays public.
    let open = Server::start(&[]);
    assert_eq!(open.req("GET", "/metrics").send().status, 200);
}

/// `cookie_host_prefix`: every cookie is a `__Host-` cookie (Secure, Path=/, no Domain), and
/// the cookie flow works with those names; refused with a Domain.
#[test]
fn host_prefixed_cookies() {
    let s = Server::start(&[("JWTX_COOKIE_HOST_PREFIX", "true")]);
    let r = s.login("testuser", "testpass");
    assert_eq!(r.status, 200, "{}", r.text);
    let set: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(set.len(), 4, "{set:?}");
    for c in &set {
        assert!(c.starts_with("__Host-"), "{c}");
        assert!(
            c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain"),
            "{c}"
        );
    }
    let cookies = r.cookies();
    let r = s
        .req("GET", "/protected")
        .header(
            "cookie",
            &format!(
                "__Host-access_token_cookie={}",
                cookies["__Host-access_token_cookie"]
            ),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);

    let dir = TempDir::new();
    let o = Command::new(env!("CARGO_BIN_EXE_jwtx"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
        .env("JWTX_COOKIE_HOST_PREFIX", "true")
        .env("JWTX_COOKIE_DOMAIN", "example.test")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cookie_host_prefix"), "{}", stderr(&o));
}

/// `GET /sessions` answers in bounded pages, newest first, with a cursor; a bad `limit` or
/// `cursor` is 400.
#[test]
fn sessions_come_in_pages() {
    let s = Server::start(&[]);
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(s.tokens("testuser", "testpass").0);
    }
    let all = s.req("GET", "/sessions").bearer(&tokens[0]).send();
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.json["next_cursor"], serde_json::Value::Null);
    let ids: Vec<String> = all.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 5);

    let mut paged = Vec::new();
    let mut path = "/sessions?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let r = s.req("GET", &path).bearer(&tokens[0]).send();
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json["sessions"].as_array().unwrap();
        assert!(page.len() <= 2);
        paged.extend(page.iter().map(|v| v["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match r.json["next_cursor"].as_str() {
            Some(c) => path = format!("/sessions?limit=2&cursor={c}"),
            None => break,
        }
        assert!(pages < 10, "the cursor must move on");
    }
    assert_eq!(
        paged, ids,
        "the pages together are the whole list, in order"
    );
    assert_eq!(pages, 3);

    for bad in [
        "/sessions?limit=0",
        "/sessions?limit=101",
        "/sessions?limit=x",
        "/sessions?cursor=nonsense",
    ] {
        let r = s.req("GET", bad).bearer(&tokens[0]).send();
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}

/// Appends a revocation-log row of a kind this version does not know (as a newer jwtx
/// sharing the store would), straight into the database.
fn append_unknown_entry(db: &Path) {
    use sqlx::{Connection, Executor};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        conn.execute(
            "PRAGMA ignore_check_constraints = ON; \
             INSERT INTO revocations (kind, subject, cutoff, until) \
             VALUES ('from-the-future', 'x', NULL, 4102444800)",
        )
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
}

/// A revocation-log entry of a kind this version does not know is never skipped: a running
/// instance refuses every token (503) and says it is not ready, and a new one will not start.
#[test]
fn an_unknown_revocation_entry_fails_closed() {
    let dir = TempDir::new();
    let s = Server::start_in(dir.0.clone(), &[]);
    let (access, _) = s.tokens("testuser", "testpass");
    assert_eq!(s.get("/protected", &access).status, 200);
    append_unknown_entry(&dir.0.join("jwtx.db"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = s.get("/protected", &access);
        if r.status == 503 {
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            std::time::Instant::now() < deadline,
            "still accepted after 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = s.req("GET", "/readyz").send();
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["msg"], "revocation log unreadable");
    s.kill();

    let o = Command::new(env!("CARGO_BIN_EXE_jwtx"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
        .output()
        .unwrap();
    // Exit 3: stored data this version cannot use (a runtime failure, not bad usage).
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("cannot read the revocation log"),
        "{}",
        stderr(&o)
    );
}
