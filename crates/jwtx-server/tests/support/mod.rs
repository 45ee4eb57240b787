//! What the end-to-end tests share: the real `jwtx serve` binary on 127.0.0.1 with a
//! temporary data directory, talked to with the workspace's HTTP/1.1 test client
//! ([`jwtx_test::http`]).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code,
    unreachable_pub
)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use jwtx_test::http::{Client, Request};
use serde_json::json;

pub use jwtx_test::http::Response;

pub mod cluster;
pub mod state;

/// A running server; killed (and its data directory removed) on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    keep_dir: bool,
    /// Every line the server wrote on stderr so far.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(env: &[(&str, &str)]) -> Server {
        let dir = std::env::temp_dir().join(format!("jwtx-e2e-{}", jwtx::uuid4()));
        Server::start_in(dir, env)
    }

    pub fn start_in(dir: PathBuf, env: &[(&str, &str)]) -> Server {
        Server::spawn(dir, env, true)
    }

    /// A server without demo users, with `env` (e.g. `JWTX_DATABASE_URL` of a shared
    /// database: `--demo` is refused there), on a data directory of its own.
    pub fn start_without_demo(env: &[(&str, &str)]) -> Server {
        let dir = std::env::temp_dir().join(format!("jwtx-e2e-{}", jwtx::uuid4()));
        Server::spawn(dir, env, false)
    }

    /// A server without demo users on `dir`, which the caller owns (it is not removed).
    pub fn start_plain(dir: PathBuf) -> Server {
        let mut s = Server::spawn(dir, &[], false);
        s.keep_dir = true;
        s
    }

    /// A server with demo users whose open-file limit (soft and hard) is `files`.
    pub fn start_with_file_limit(env: &[(&str, &str)], files: u32) -> Server {
        let dir = std::env::temp_dir().join(format!("jwtx-e2e-{}", jwtx::uuid4()));
        Server::spawn_limited(dir, env, true, Some(files))
    }

    fn spawn(dir: PathBuf, env: &[(&str, &str)], demo: bool) -> Server {
        Server::spawn_limited(dir, env, demo, None)
    }

    fn spawn_limited(dir: PathBuf, env: &[(&str, &str)], demo: bool, files: Option<u32>) -> Server {
        let bin = env!("CARGO_BIN_EXE_jwtx");
        let mut cmd = match files {
            None => Command::new(bin),
            Some(n) => {
                // `ulimit -n` in the shell, then the server in its place.
                let mut c = Command::new("sh");
                c.args(["-c", "ulimit -n \"$0\" && exec \"$@\""])
                    .arg(n.to_string())
                    .arg(bin);
                c
            }
        };
        cmd.arg("serve");
        if demo {
            cmd.arg("--demo");
        }
        cmd.args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            // Only the test's own settings count, not the developer's JWTX_* environment.
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start jwtx serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                seen.lock().unwrap().push(line.clone());
                let rest = line
                    .strip_prefix("jwtx serving on http://")
                    .or_else(|| line.strip_prefix("jwtx serving on https://"));
                if !sent && let Some(rest) = rest {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server prints its address on stderr")
            .parse()
            .expect("an address");
        Server {
            child,
            addr,
            dir,
            keep_dir: false,
            stderr: lines,
        }
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits (up to 10 s) until the server's stderr contains `needle`; returns all of it.
    pub fn stderr_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.stderr();
            if text.contains(needle) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }

    /// Kills the process with SIGKILL, keeping the data directory.
    pub fn kill(mut self) -> PathBuf {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
        self.keep_dir = true;
        self.dir.clone()
    }

    /// The HTTP client for this server (every request says `User-Agent: jwtx-e2e`).
    pub fn client(&self) -> Client {
        Client::new(self.addr).default_header("User-Agent", "jwtx-e2e")
    }

    /// A `method path` request to this server.
    pub fn req(&self, method: &str, path: &str) -> Request {
        self.client().request(method, path)
    }

    /// `GET path` with a bearer token.
    pub fn get(&self, path: &str, token: &str) -> Response {
        self.req("GET", path).bearer(token).send()
    }

    pub fn login(&self, user: &str, password: &str) -> Response {
        self.req("POST", "/login")
            .json(json!({"username": user, "password": password}))
            .send()
    }

    pub fn tokens(&self, user: &str, password: &str) -> (String, String) {
        let r = self.login(user, password);
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.json["access_token"].as_str().expect("access").to_owned(),
            r.json["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `Cookie` header value with the cookies `names` of `jar` (a response's
/// [`Response::cookies`]).
pub fn cookie_header(jar: &std::collections::BTreeMap<String, String>, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n}={}", jar[*n]))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn msg(r: &Response) -> &str {
    r.json["msg"].as_str().unwrap_or("")
}

/// A temporary data directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("jwtx-test-{}", jwtx::uuid4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Cargo target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`): where
/// tests put what they install or make, so a run leaves the source tree clean.
pub fn target_dir() -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `npm ci` of `package_dir`'s committed package.json and package-lock.json into
/// `<target>/<dest>` unless it is there already (tests/support/npm-env, which needs Node.js
/// `min_node` or later); returns that node_modules directory. Fails with `hint` (what needs
/// npm, and how to get it) when the install fails: never skipped.
pub fn npm_install(
    package_dir: &std::path::Path,
    dest: &str,
    min_node: u32,
    hint: &str,
) -> PathBuf {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/npm-env");
    let out = Command::new("bash")
        .arg(&script)
        .arg(package_dir)
        .arg(target_dir().join(dest))
        .arg(min_node.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {hint}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stderr}{stdout}\n{hint}",
        script.display(),
        out.status
    );
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("node_modules: "))
        .unwrap_or_else(|| {
            panic!(
                "{} printed no node_modules line: {stdout}",
                script.display()
            )
        });
    PathBuf::from(dir.trim())
}

/// Runs `jwtx --data-dir DIR ARGS…` with `stdin` piped in (or no standard input at all),
/// without the developer's `JWTX_*` settings or `RUST_LOG`.
pub fn jwtx_in(dir: &std::path::Path, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwtx"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_") && k.as_str() != "RUST_LOG"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run jwtx");
    if let Some(input) = stdin {
        // The command may refuse before reading (then the pipe is closed: ignore).
        let _ = child.stdin.take().unwrap().write_all(input);
    }
    child.wait_with_output().unwrap()
}

/// What an admin command printed: its standard output and error, and the checks the CLI tests
/// share.
pub mod output {
    use std::process::Output;

    /// Standard output.
    pub fn out(o: &Output) -> String {
        String::from_utf8(o.stdout.clone()).unwrap()
    }

    /// Standard error.
    pub fn err(o: &Output) -> String {
        String::from_utf8(o.stderr.clone()).unwrap()
    }

    /// Asserts exit status 0; returns standard output.
    #[track_caller]
    pub fn ok(o: &Output) -> String {
        assert_eq!(o.status.code(), Some(0), "stderr: {}", err(o));
        out(o)
    }

    /// Asserts exit status 2 with `needle` (any case) in the message; returns stderr.
    #[track_caller]
    pub fn usage(o: &Output, needle: &str) -> String {
        let e = err(o);
        assert_eq!(o.status.code(), Some(2), "stdout: {} stderr: {e}", out(o));
        assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "{needle:?} not in: {e}"
        );
        e
    }
}
