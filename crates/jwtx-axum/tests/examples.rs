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
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs};

use jwtx::{Algorithm, Codec, Key, TokenKind};
use jwtx_test::http::{Client, Response};
use serde_json::{Map, Value, json};

const SECRET: &str = "examples test secret: thirty-two bytes or more";

// ------------------------------------------------------------------ example processes

/// A running example; killed when dropped, whatever the test's outcome.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Stops the process and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut err);
        }
        err
    }
}

/// Starts example `name` with `JWT_SECRET_KEY` = `secret` (or unset) on a free port.
fn start(name: &str, secret: Option<&str>) -> Server {
    let bin = example_binary(name);
    for _attempt in 0..3 {
        // Another process may take the port between this probe and the example's bind: retry.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&bin);
        cmd.env("PORT", port.to_string())
            .env_remove("JWT_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(secret) = secret {
            cmd.env("JWT_SECRET_KEY", secret);
        }
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if server.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let status = server.child.try_wait().unwrap();
        let err = server.stop();
        eprintln!("{name} did not start on port {port} ({status:?}): {err}");
    }
    panic!("{name} did not start");
}

/// `target/<profile>/examples/<name>`, built when missing or older than its sources.
fn example_binary(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let exe = env::current_exe().unwrap(); // target/<profile>/deps/examples-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        manifest_dir.join("examples").join(format!("{name}.rs")),
        manifest_dir.join("src"),
        manifest_dir.join("Cargo.toml"),
        manifest_dir.join("../jwtx/src"),
    ];
    let newest = sources.iter().filter_map(|p| newest_mtime(p)).max();
    let built = fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_none() || built < newest {
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "jwtx-axum", "--example", name]);
        cmd.arg("--manifest-path")
            .arg(manifest_dir.join("Cargo.toml"));
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                cmd.args(["--profile", profile]);
            }
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "building example {name} failed");
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

fn newest_mtime(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

// ------------------------------------------------------------------ the README's curl sessions

/// One command of a README session and the output the README shows for it.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Option<String>,
}

/// The `sh` block after `<!-- session: NAME -->` in the README, as steps: a command (with `\`
/// continuations) followed by its `# → ` output lines; other `#` lines are comments.
fn session(name: &str) -> Vec<Step> {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = format!("<!-- session: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} not in README"))..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    let block = &after[start..start + after[start..].find("\n```").unwrap()];

    let mut steps: Vec<Step> = Vec::new();
    let mut lines = block.lines();
    while let Some(line) = lines.next() {
        if let Some(out) = line.strip_prefix("# →") {
            let step = steps.last_mut().expect("output before any command");
            let out = out.strip_prefix(' ').unwrap_or(out);
            match &mut step.expected {
                Some(e) => {
                    e.push('\n');
                    e.push_str(out);
                }
                None => step.expected = Some(out.to_owned()),
            }
        } else if line.trim().is_empty() || line.starts_with('#') {
            continue;
        } else {
            let mut command = line.to_owned();
            while command.ends_with('\\') {
                command.pop();
                command.push_str(lines.next().unwrap());
            }
            steps.push(Step {
                command,
                expected: None,
            });
        }
    }
    assert!(!steps.is_empty(), "empty session {name}");
    steps
}

/// `expected` with `…` matching any text (newlines included).
fn matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut tail) = actual.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.ends_with(last)
}

#[test]
fn matcher() {
    assert!(matches("{\"a\":\"…\"}", "{\"a\":\"xyz\"}"));
    assert!(matches("x…y…z", "x1y2z"));
    assert!(matches("a\n…\nb", "a\nq\nr\n\nb"));
    assert!(!matches("{\"a\":1}", "{\"a\":1}x"));
    assert!(!matches("a…b", "ab!"));
    assert!(matches("", ""));
    assert!(!matches("", "x"));
}

/// A scratch directory for a session's cookie jars, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = env::temp_dir().join(format!("jwtx-axum-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Fails the test, naming what to install, unless every program in `tools` is on `PATH`.
/// Probed with the shell's `command -v` (the session runs in `sh` too), which works for every
/// implementation, where `--version` is refused by BSD sed and awk.
fn require_tools(session: &str, tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            let probe = Command::new("sh")
                .args(["-c", "command -v \"$1\"", "sh", tool])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("cannot run sh to look for {tool}: {e}"));
            !probe.success()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the README session {session} needs {} on PATH; not found: {}. Install {} \
         (Debian/Ubuntu: apt-get install {}): the session is a test and is never skipped",
        tools.join(", "),
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
        missing
            .iter()
            .map(|t| if *t == "awk" { "mawk" } else { t })
            .collect::<Vec<_>>()
            .join(" "),
    );
}

/// Runs the README session `name` against `server` in one shell (so variables carry over), in
/// a fresh directory, and compares each command's output with the README.
fn run_session(name: &str, server: &Server) {
    const SEP: &str = "@@jwtx-axum-step@@";
    let steps = session(name);
    let mut script = String::new();
    for step in &steps {
        script.push_str(&step.command.replace(
            "http://127.0.0.1:5000",
            &format!("http://127.0.0.1:{}", server.port),
        ));
        script.push_str(&format!("\nprintf '\\n{SEP}\\n'\n"));
    }
    let dir = TempDir::new(name);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let outputs: Vec<&str> = stdout.split(&format!("\n{SEP}\n")).collect();
    assert_eq!(
        outputs.len(),
        steps.len() + 1,
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (step, output) in steps.iter().zip(&outputs) {
        let output = output.trim_end_matches('\n');
        let expected = step.expected.as_deref().unwrap_or("");
        assert!(
            matches(expected, output),
            "README session {name}\n$ {}\nexpected:\n{expected}\nactual:\n{output}\nstderr:\n{stderr}",
            step.command,
        );
    }
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
        let child = Command::new(example_binary(name))
            .env("JWT_SECRET_KEY", "super-secret-key")
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server { child, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{name} started with a weak secret"
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        let err = server.stop();
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
