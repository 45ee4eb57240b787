//! Redis for tests: the machine's Redis ([`machine_url`], [`require_machine_redis`]), unique
//! key prefixes so tests can share it ([`unique_prefix`]; [`keys`], [`delete_keys`] and
//! [`KeysCleanup`] list and remove a prefix's keys), and [`PrivateRedis`], a `redis-server` of
//! a test's own to kill and start again (fault tests).
//!
//! Tests never skip for want of Redis: [`require_machine_redis`] fails with how to start one.
//! Everything here is synchronous and needs only `std` (and `redis-server` on the `PATH` for
//! [`PrivateRedis`]).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The machine's Redis, when [`URL_ENV`] does not name another.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// The environment variable that overrides [`DEFAULT_URL`].
pub const URL_ENV: &str = "JWTX_TEST_REDIS_URL";

/// How long [`PrivateRedis`] waits for its server to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The URL of the machine's Redis: `$JWTX_TEST_REDIS_URL`, or `redis://127.0.0.1:6379`.
pub fn machine_url() -> String {
    std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// [`machine_url`], after checking that a Redis answers PING there (a connection refused for
/// want of a password counts as an answer). Panics, saying how to start one, if none does.
pub fn require_machine_redis() -> String {
    let url = machine_url();
    let answer = tcp_address(&url).and_then(|addr| ping(addr, Duration::from_secs(2)));
    if let Err(e) = answer {
        fail(format!(
            "the tests need a Redis at {} ({URL_ENV}; default {DEFAULT_URL}), and none answers \
             PING there: {e}.\nStart the machine's Redis with `service redis-server start` (or \
             `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" \
             --appendonly no`; `apt-get install redis-server` if it is missing), or set \
             {URL_ENV} to one that runs.",
            redact(&url)
        ));
    }
    url
}

/// A key prefix no other test run uses: `jwtx-test:<random>:`.
pub fn unique_prefix() -> String {
    format!("jwtx-test:{}:", jwtx::uuid4().replace('-', ""))
}

/// Every key under `prefix` on the Redis at `url` (`SCAN MATCH prefix*`).
///
/// # Panics
///
/// If the Redis cannot be reached or answers with an error.
pub fn keys(url: &str, prefix: &str) -> Vec<String> {
    let mut conn = match RespConnection::open(url) {
        Ok(c) => c,
        Err(e) => fail(format!("Redis keys under {prefix:?}: {e}")),
    };
    match conn.scan(prefix) {
        Ok(keys) => keys,
        Err(e) => fail(format!("Redis SCAN {prefix}*: {e}")),
    }
}

/// Deletes every key under `prefix` on the Redis at `url`; returns how many were deleted.
/// Errors are returned, not raised, so it can run while a test unwinds ([`KeysCleanup`]).
pub fn delete_keys(url: &str, prefix: &str) -> Result<usize, String> {
    let mut conn = RespConnection::open(url)?;
    let keys = conn.scan(prefix)?;
    for chunk in keys.chunks(500) {
        let mut args = vec!["DEL".to_owned()];
        args.extend(chunk.iter().cloned());
        conn.command(&args)?;
    }
    Ok(keys.len())
}

/// Deletes every key under a prefix of the Redis at a URL when dropped (also when the test
/// fails): a test's own [`unique_prefix`] on a shared Redis.
#[derive(Debug)]
pub struct KeysCleanup {
    url: String,
    prefix: String,
}

impl KeysCleanup {
    /// Cleans `prefix` on `url` when dropped.
    pub fn new(url: &str, prefix: &str) -> KeysCleanup {
        KeysCleanup {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        }
    }
}

impl Drop for KeysCleanup {
    fn drop(&mut self) {
        if let Err(e) = delete_keys(&self.url, &self.prefix) {
            eprintln!(
                "jwtx-test: could not delete the Redis keys under {:?} at {}: {e}",
                self.prefix,
                redact(&self.url)
            );
        }
    }
}

/// A RESP value, as far as the helpers here need one.
#[derive(Debug)]
enum Resp {
    Simple(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

/// One plain-TCP connection speaking RESP2, for test setup and clean-up (no AUTH, no TLS; a
/// `/DB` in the URL is selected).
struct RespConnection {
    conn: std::io::BufReader<TcpStream>,
}

impl RespConnection {
    fn open(url: &str) -> Result<RespConnection, String> {
        let addr = tcp_address(url)?;
        let timeout = Duration::from_secs(5);
        let conn = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        conn.set_read_timeout(Some(timeout))
            .and_then(|()| conn.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
        let mut c = RespConnection {
            conn: std::io::BufReader::new(conn),
        };
        let db = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, db)| db.split(['?', '#']).next().unwrap_or_default().to_owned())
            .filter(|db| !db.is_empty());
        if let Some(db) = db {
            c.command(&["SELECT".to_owned(), db])?;
        }
        Ok(c)
    }

    /// Sends `args` as one command and reads its reply (an error reply is `Err`).
    fn command(&mut self, args: &[String]) -> Result<Resp, String> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.conn
            .get_mut()
            .write_all(&out)
            .map_err(|e| format!("send {}: {e}", args.first().map_or("", String::as_str)))?;
        self.read()
    }

    fn line(&mut self) -> Result<String, String> {
        use std::io::BufRead;
        let mut line = String::new();
        match self.conn.read_line(&mut line) {
            Ok(0) => Err("the connection was closed".to_owned()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(format!("read a reply: {e}")),
        }
    }

    fn read(&mut self) -> Result<Resp, String> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || -> Result<i64, String> {
            rest.parse()
                .map_err(|_| format!("a malformed reply line {line:?}"))
        };
        match kind {
            "+" => Ok(Resp::Simple(rest.to_owned())),
            "-" => Err(format!("Redis answered {rest:?}")),
            ":" => Ok(Resp::Int(number()?)),
            "$" => {
                let Ok(n) = usize::try_from(number()?) else {
                    return Ok(Resp::Bulk(None));
                };
                let mut body = vec![0u8; n + 2];
                self.conn
                    .read_exact(&mut body)
                    .map_err(|e| format!("read a reply: {e}"))?;
                body.truncate(n);
                Ok(Resp::Bulk(Some(body)))
            }
            "*" => {
                let n = usize::try_from(number()?).unwrap_or(0);
                (0..n)
                    .map(|_| self.read())
                    .collect::<Result<_, _>>()
                    .map(Resp::Array)
            }
            _ => Err(format!("an unknown reply line {line:?}")),
        }
    }

    /// Every key under `prefix`.
    fn scan(&mut self, prefix: &str) -> Result<Vec<String>, String> {
        let text = |r: &Resp| match r {
            Resp::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Resp::Simple(s) => Some(s.clone()),
            Resp::Int(i) => Some(i.to_string()),
            _ => None,
        };
        let mut cursor = "0".to_owned();
        let mut out = Vec::new();
        loop {
            let reply = self.command(&[
                "SCAN".to_owned(),
                cursor,
                "MATCH".to_owned(),
                format!("{}*", glob_escape(prefix)),
                "COUNT".to_owned(),
                "1000".to_owned(),
            ])?;
            let Resp::Array(parts) = reply else {
                return Err(format!("SCAN answered {reply:?}"));
            };
            let (Some(next), Some(Resp::Array(batch))) =
                (parts.first().and_then(text), parts.get(1))
            else {
                return Err(format!("SCAN answered {parts:?}"));
            };
            out.extend(batch.iter().filter_map(text));
            if next == "0" {
                return Ok(out);
            }
            cursor = next;
        }
    }
}

/// `s` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `redis-server` of a test's own, on a free loopback port, without persistence
/// (`--save "" --appendonly no`): [`kill`](Self::kill) it (SIGKILL) and
/// [`start_again`](Self::start_again) it on the same port to test what happens when Redis
/// goes away and comes back. Stopped on drop.
///
/// Starting waits (up to 20 s) until the server answers PING, and panics with the server's
/// log if it does not.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    /// A directory of its own: the working directory and the log.
    dir: PathBuf,
}

impl PrivateRedis {
    /// Starts a server on a free loopback port (another port is tried if the one picked is
    /// taken before the server binds it).
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("jwtx-test-redis-{}", jwtx::uuid4()));
        if let Err(e) = fs::create_dir_all(&dir) {
            fail(format!(
                "PrivateRedis: cannot create {}: {e}",
                dir.display()
            ));
        }
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut redis = PrivateRedis {
                port,
                child: None,
                dir: dir.clone(),
            };
            match redis.spawn_and_wait(Instant::now() + START_TIMEOUT) {
                Ok(()) => return redis,
                Err(e) => {
                    last = e;
                    redis.stop();
                    // Keep the directory for the next try.
                    redis.dir = PathBuf::new();
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        fail(format!("PrivateRedis: cannot start redis-server: {last}"))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same after [`start_again`](Self::start_again)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server at once (SIGKILL: no shutdown, connections reset) and waits until it
    /// has exited. Nothing it held is kept (no persistence).
    pub fn kill(&mut self) {
        if self.child.is_none() {
            fail("PrivateRedis::kill: the server is not running".to_owned());
        }
        self.stop();
    }

    /// Starts the server again on the same port, empty, and waits until it answers PING
    /// (retrying for up to 20 s while the port is not free yet).
    pub fn start_again(&mut self) {
        if self.is_running() {
            fail("PrivateRedis::start_again: the server is still running".to_owned());
        }
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last;
        loop {
            match self.spawn_and_wait(deadline) {
                Ok(()) => return,
                Err(e) => last = e,
            }
            self.stop();
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        fail(format!(
            "PrivateRedis::start_again: cannot start redis-server on port {} again: {last}",
            self.port
        ))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Spawns the server and waits until it answers PING, exits, or the deadline passes.
    fn spawn_and_wait(&mut self, deadline: Instant) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open {}: {e}", self.log_path().display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log_path().display()))?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", ""])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fail(
                    "PrivateRedis: redis-server is not on the PATH; install it with \
                     `apt-get install redis-server`"
                        .to_owned(),
                );
            }
            Err(e) => return Err(format!("cannot run redis-server: {e}")),
        };
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "redis-server exited ({status}) before answering PING on port {}; its \
                     log:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            let Err(last) = ping(addr, Duration::from_millis(500)) else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer PING on port {} within {} s ({last}); its \
                     log:\n{}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the server, if running, and reaps it.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has exited already.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines of the server's log.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A loopback port free now (the OS picks it; it may be taken again before it is used).
fn free_port() -> u16 {
    match TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => fail(format!("PrivateRedis: cannot pick a free port: {e}")),
    }
}

/// Sends PING and reads one reply line: `+PONG`, or `-NOAUTH` (a server that wants a
/// password answers too).
fn ping(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut conn =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    conn.set_read_timeout(Some(timeout))
        .and_then(|()| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    conn.write_all(b"PING\r\n")
        .map_err(|e| format!("send PING to {addr}: {e}"))?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\n") && reply.len() < 256 {
        match conn.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => reply.push(byte[0]),
            Err(e) => return Err(format!("read the reply to PING from {addr}: {e}")),
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        Err(format!(
            "{addr} answered PING with {:?}, not +PONG",
            reply.trim_end()
        ))
    }
}

/// The TCP address of a `redis://` URL (host and port, 6379 by default).
fn tcp_address(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("valkey://"))
        .ok_or_else(|| "only redis:// URLs can be checked".to_owned())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let with_port = if host_port.ends_with(']') || !host_port.contains(':') {
        format!("{host_port}:6379")
    } else {
        host_port.to_owned()
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{with_port} resolves to no address"))
}

/// The URL without its password (for messages).
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => {
            format!(
                "{scheme}://<redacted>@{}",
                url.get(at + 1..).unwrap_or_default()
            )
        }
        _ => url.to_owned(),
    }
}

#[track_caller]
#[allow(
    clippy::panic,
    reason = "test support reports a missing or broken Redis by failing the test"
)]
fn fail(msg: String) -> ! {
    panic!("{msg}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addresses_and_redaction() {
        assert_eq!(
            tcp_address("redis://127.0.0.1:6380/0").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 6380))
        );
        assert_eq!(
            tcp_address("redis://:pw@127.0.0.1").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 6379))
        );
        assert_eq!(
            tcp_address("redis://[::1]:7000").unwrap(),
            "[::1]:7000".parse().unwrap()
        );
        assert!(tcp_address("redis+unix:///tmp/r.sock").is_err());
        assert_eq!(
            redact("redis://:pw@127.0.0.1:1/0"),
            "redis://<redacted>@127.0.0.1:1/0"
        );
        assert!(unique_prefix().starts_with("jwtx-test:"));
        assert_ne!(unique_prefix(), unique_prefix());
    }

    #[test]
    fn private_redis_dies_and_comes_back_on_the_same_port() {
        let mut redis = PrivateRedis::start();
        let addr = SocketAddr::from(([127, 0, 0, 1], redis.port()));
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
        assert!(redis.is_running());
        ping(addr, Duration::from_secs(2)).unwrap();
        redis.kill();
        assert!(!redis.is_running());
        assert!(ping(addr, Duration::from_secs(1)).is_err());
        redis.start_again();
        ping(addr, Duration::from_secs(2)).unwrap();
        let dir = redis.dir.clone();
        drop(redis);
        assert!(ping(addr, Duration::from_secs(1)).is_err());
        assert!(!dir.exists());
    }

    #[test]
    fn keys_under_a_prefix_are_listed_and_deleted() {
        let redis = PrivateRedis::start();
        let prefix = unique_prefix();
        let mut conn = RespConnection::open(&redis.url()).unwrap();
        for k in ["a", "b:c", "d*"] {
            conn.command(&["SET".into(), format!("{prefix}{k}"), "1".into()])
                .unwrap();
        }
        conn.command(&["SET".into(), "other".into(), "1".into()])
            .unwrap();
        let mut found = keys(&redis.url(), &prefix);
        found.sort();
        assert_eq!(
            found,
            vec![
                format!("{prefix}a"),
                format!("{prefix}b:c"),
                format!("{prefix}d*")
            ]
        );
        drop(KeysCleanup::new(&redis.url(), &prefix));
        assert!(keys(&redis.url(), &prefix).is_empty());
        assert_eq!(keys(&redis.url(), "other"), vec!["other".to_owned()]);
        assert_eq!(delete_keys(&redis.url(), "jwtx-test:none:").unwrap(), 0);
    }

    #[test]
    fn the_machine_redis_answers() {
        let url = require_machine_redis();
        assert!(url.starts_with("redis://") || url.starts_with("valkey://"));
    }
}
