//! Several `jwtx serve` processes sharing one PostgreSQL database (and Redis): a [`Cluster`]
//! starts them, the admin CLI runs against the same database, and the helpers poll with
//! generous bounds (tests assert that something happens within 10x its bound, never how fast).

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use jwtx_test::http::{Client, Request, Response};
use jwtx_test::pg::TestDatabase;
use jwtx_test::redis::KeysCleanup;
use serde_json::json;

use super::Server;

/// Runs `f` to completion on a runtime of its own (the tests themselves are synchronous).
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The password of every user the cluster tests create.
pub const PASSWORD: &str = "correct horse battery staple";

/// Instances of one deployment: a database of their own, Redis keys under a prefix of their
/// own (removed at the end), and the settings every instance and command is given.
///
/// Fields drop in order: the servers first, then the Redis keys, then the database.
pub struct Cluster {
    /// The running instances, in the order they were started.
    pub servers: Vec<Server>,
    /// `JWTX_*` settings of every instance and command.
    env: Vec<(String, String)>,
    /// The Redis URL, if the deployment has one.
    pub redis_url: Option<String>,
    /// The deployment's Redis key prefix.
    pub prefix: String,
    _keys: Option<KeysCleanup>,
    /// The database (dropped last).
    pub db: TestDatabase,
}

impl Cluster {
    /// A deployment on `db`, with Redis at `redis_url` (a fresh key prefix) if given, and
    /// the `extra` settings; no instance is started yet.
    pub fn new(db: TestDatabase, redis_url: Option<&str>, extra: &[(&str, &str)]) -> Cluster {
        let prefix = jwtx_test::redis::unique_prefix();
        let mut env = vec![("JWTX_DATABASE_URL".to_owned(), db.url().to_owned())];
        if let Some(url) = redis_url {
            env.push(("JWTX_REDIS_URL".to_owned(), url.to_owned()));
            env.push(("JWTX_REDIS_KEY_PREFIX".to_owned(), prefix.clone()));
        }
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Cluster {
            servers: Vec::new(),
            env,
            redis_url: redis_url.map(str::to_owned),
            _keys: redis_url.map(|url| KeysCleanup::new(url, &prefix)),
            prefix,
            db,
        }
    }

    /// The settings as `(name, value)` pairs.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Starts `n` instances one after the other.
    pub fn start(&mut self, n: usize) {
        for _ in 0..n {
            let server = Server::start_without_demo(&self.env());
            self.servers.push(server);
        }
    }

    /// Starts `n` instances at the same moment (threads released together); returns once
    /// every one of them serves.
    pub fn start_at_once(&mut self, n: usize) {
        let barrier = Arc::new(Barrier::new(n));
        let starting: Vec<_> = (0..n)
            .map(|_| {
                let env = self.env.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let env: Vec<(&str, &str)> =
                        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    barrier.wait();
                    Server::start_without_demo(&env)
                })
            })
            .collect();
        for s in starting {
            self.servers
                .push(s.join().expect("an instance failed to start"));
        }
    }

    /// Runs `jwtx ARGS…` with the deployment's settings (and no others), `stdin` piped in.
    pub fn jwtx(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        jwtx_with(&self.env(), args, stdin)
    }

    /// Waits (up to `bound`) until metric `name` is `value` on every instance.
    #[track_caller]
    pub fn metric_everywhere(&self, name: &str, value: f64, bound: Duration) {
        for (i, s) in self.servers.iter().enumerate() {
            eventually(
                &format!("{name} {value} on instance {i}"),
                bound,
                || match metric(s, name) {
                    Some(v) if v == value => Ok(()),
                    other => Err(format!("{name} = {other:?}")),
                },
            );
        }
    }

    /// `jwtx user add NAME --password-stdin` with [`PASSWORD`].
    pub fn add_user(&self, name: &str) {
        let out = self.jwtx(
            &["user", "add", name, "--password-stdin"],
            Some(format!("{PASSWORD}\n").as_bytes()),
        );
        assert!(
            out.status.success(),
            "jwtx user add {name}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `jwtx ARGS…` with only `env` of the `JWTX_*` settings (not the developer's, nor
/// `RUST_LOG`), in a temporary working directory; fails the test (killing it) if it runs for more than 60 s.
pub fn jwtx_with(env: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let dir = super::TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwtx"));
    cmd.args(args)
        .current_dir(&dir.0)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_") && k.as_str() != "RUST_LOG"))
        .envs(env.iter().copied())
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
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // A hang: kill it (this child only) and fail.
            let _ = child.kill();
            let _ = child.wait();
            panic!("jwtx {args:?} still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Sends `req` to `addr` on a connection of its own, waiting at most `timeout` for each
/// read; `Err` (never a panic) when the server cannot be reached or sends no complete answer
/// (it was killed, or it hangs).
pub fn try_send(addr: SocketAddr, req: &Request, timeout: Duration) -> Result<Response, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    s.write_all(&req.to_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!(
            "no complete answer from {addr} ({read:?}): {:?}",
            String::from_utf8_lossy(&raw)
        ));
    };
    // A body cut short by a timeout is an error too.
    if read.is_err() {
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        let length: Option<usize> = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok());
        if length.is_none_or(|n| raw.len() - (head_end + 4) < n) {
            return Err(format!("the answer from {addr} was cut short: {read:?}"));
        }
    }
    Ok(Response::parse(&raw))
}

/// The client the cluster tests use for `addr`.
pub fn client(addr: SocketAddr) -> Client {
    Client::new(addr).default_header("User-Agent", "jwtx-e2e")
}

/// `POST /login` as `user` with `password`.
pub fn login_req(addr: SocketAddr, user: &str, password: &str) -> Request {
    client(addr)
        .post("/login")
        .json(json!({"username": user, "password": password}))
}

/// `POST /refresh` with `refresh` as the bearer token.
pub fn refresh_req(addr: SocketAddr, refresh: &str) -> Request {
    client(addr).post("/refresh").bearer(refresh)
}

/// `POST /logout` with `token` as the bearer token.
pub fn logout_req(addr: SocketAddr, token: &str) -> Request {
    client(addr).post("/logout").bearer(token)
}

/// The value of metric `name` (a line `name value`, without labels) on `server`'s `/metrics`.
pub fn metric(server: &Server, name: &str) -> Option<f64> {
    let r = server.req("GET", "/metrics").send();
    assert_eq!(r.status, 200, "GET /metrics: {}", r.text);
    r.text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Polls `check` every 25 ms until it returns `Ok`; returns its value and how long it took.
/// Panics after `bound`, naming `what` and the last `Err` (what was seen instead).
#[track_caller]
pub fn eventually<T>(
    what: &str,
    bound: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        match check() {
            Ok(v) => return (v, started.elapsed()),
            Err(last) => {
                assert!(
                    started.elapsed() < bound,
                    "{what}: still not so after {bound:?}; last seen: {last}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `Ok` when `r` has status `status`, else what it has.
pub fn status_is(r: &Response, status: u16) -> Result<(), String> {
    if r.status == status {
        Ok(())
    } else {
        Err(format!("{} {}", r.status, r.text))
    }
}

/// Whether `r` is the refusal of a revoked token.
pub fn is_revoked(r: &Response) -> bool {
    r.status == 401 && super::msg(r) == "Token has been revoked"
}
