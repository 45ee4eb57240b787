//! Client for the PyJWT / flask-jwt-extended oracle (`pyjwt_oracle.py` next to this file).
//!
//! [`call`] sends one JSON request to a single oracle process shared by every test of the
//! binary and returns its reply. The process is started on first use with the interpreter
//! from `.ci/python-env` (which creates or updates the venv at `target/pyenv`); if Python or
//! the venv cannot be set up, the calling test fails with a message saying what to install.
//! Tests are never skipped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

/// How long one request may take before the test fails (creating the first Flask app and
/// importing cryptography are the slow parts: well under a second in practice).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

const INSTALL_HINT: &str = "the interoperability tests need Python 3 with the venv module \
     (Debian/Ubuntu: `apt-get install python3 python3-venv`; macOS: `brew install python`) and, \
     on the first run, network access to PyPI so `.ci/python-env` can install PyJWT and \
     flask-jwt-extended into target/pyenv (set PYTHON=/path/to/python3 to pick the interpreter)";

struct Oracle {
    /// Kept so the process is owned; it exits on EOF when the test binary ends.
    _child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
}

/// The repository root (`crates/jwtx/../..`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `.ci/python-env` and returns the venv's python.
fn python() -> PathBuf {
    let script = repo_root().join(".ci/python-env");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        panic!(
            "{} failed ({}):\n{stderr}{stdout}\n{INSTALL_HINT}",
            script.display(),
            out.status
        );
    }
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("python: "))
        .unwrap_or_else(|| {
            panic!(
                "{} printed no `python: <path>` line:\n{stdout}{stderr}",
                script.display()
            )
        });
    PathBuf::from(path.trim())
}

fn start() -> Oracle {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/pyjwt_oracle.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} {}: {e}; {INSTALL_HINT}",
                python.display(),
                script.display()
            )
        });
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, replies) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut oracle = Oracle {
        _child: child,
        stdin,
        replies,
    };
    let pong = oracle.request(&json!({"op": "ping"}));
    assert_eq!(pong["ok"], true, "oracle ping failed: {pong}");
    oracle
}

impl Oracle {
    /// One exchange; the reply line as sent.
    fn request_text(&mut self, req: &Value) -> String {
        let mut line = serde_json::to_string(req).unwrap();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("oracle stdin closed ({e}); see its stderr above"));
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => panic!("oracle gave no reply in 60 s to {req}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("oracle exited while serving {req}; see its stderr above")
            }
        }
    }

    fn request(&mut self, req: &Value) -> Value {
        let reply = self.request_text(req);
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("oracle reply {reply:?}: {e}"))
    }
}

static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();

fn oracle() -> std::sync::MutexGuard<'static, Oracle> {
    let oracle = ORACLE.get_or_init(|| Mutex::new(start()));
    // A test that panicked while holding the lock did so outside a request/reply exchange
    // (the exchange itself only panics when the process is gone), so the state is usable.
    oracle.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends one request and returns the reply (whatever its `ok`).
pub(crate) fn call(req: &Value) -> Value {
    oracle().request(req)
}

/// Sends one request and returns the reply line unparsed: for replies serde_json cannot read
/// (Python escapes lone surrogates as `\udXXX`, which serde_json refuses).
pub(crate) fn call_text(req: &Value) -> String {
    oracle().request_text(req)
}

/// Sends one request that must succeed, and returns the reply.
pub(crate) fn ok(req: &Value) -> Value {
    let reply = call(req);
    assert_eq!(
        reply["ok"], true,
        "oracle request failed:\n  request: {req}\n  reply:   {reply}"
    );
    reply
}

/// Sends one request that must fail, and returns the error text (`"Class: message"`).
pub(crate) fn err(req: &Value) -> String {
    let reply = call(req);
    assert_eq!(
        reply["ok"], false,
        "oracle request unexpectedly succeeded:\n  request: {req}\n  reply:   {reply}"
    );
    reply["error"].as_str().unwrap().to_owned()
}
