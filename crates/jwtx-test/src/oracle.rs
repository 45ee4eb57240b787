//! The Python oracle client: one line-delimited JSON conversation with a Python script run by
//! the venv interpreter that `.ci/python-env` makes (`target/pyenv`, with PyJWT and
//! flask-jwt-extended pinned).
//!
//! jwtx's interoperability tests (`crates/jwtx/tests/oracle/pyjwt_oracle.py`) and
//! jwtx-axum's differential tests (`crates/jwtx-axum/tests/flask/fje_app.py`) both speak the
//! same protocol: one JSON request per line on the script's stdin, one JSON reply per line on
//! its stdout. [`Oracle`] is one such process; [`Shared`] starts one on first use and shares it
//! between every test of a test binary.
//!
//! The venv is set up by running `.ci/python-env` (idempotent: fast once the venv is up to
//! date). If Python or the venv cannot be set up, the calling test **fails** with a message
//! saying how to set it up ([`SETUP_HINT`]); these tests are never skipped.
//!
//! ```no_run
//! use jwtx_test::oracle::{Oracle, Shared};
//! use serde_json::json;
//!
//! fn start() -> Oracle {
//!     Oracle::start(std::path::Path::new("tests/oracle/pyjwt_oracle.py"))
//! }
//! static ORACLE: Shared = Shared::new(start);
//!
//! let reply = ORACLE.call(&json!({"op": "ping"}));
//! ```

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::Value;

/// How long one request may take before the test fails (creating the first Flask app and
/// importing cryptography are the slow parts: well under a second in practice).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a failing test says when the oracle cannot be set up.
pub const SETUP_HINT: &str = "the Python oracle tests (PyJWT / flask-jwt-extended) need the \
     venv at target/pyenv: run `.ci/python-env` from the repository root to create it. It \
     needs Python 3 with the venv module (Debian/Ubuntu: `apt-get install python3 \
     python3-venv`; macOS: `brew install python`; set PYTHON=/path/to/python3 to pick the \
     interpreter) and, on the first run, network access to PyPI to install the pinned PyJWT, \
     Flask and flask-jwt-extended. These tests are never skipped";

/// Fails the calling test with `msg`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "an oracle that cannot run fails the test, as assert! does"
)]
fn fail(msg: String) -> ! {
    panic!("{msg}")
}

/// The repository root (`crates/jwtx-test/../..`).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Runs `.ci/python-env` (which creates or updates the venv at `target/pyenv`) and returns the
/// venv's python; fails, saying how to set it up, when it cannot.
pub fn python() -> PathBuf {
    let script = repo_root().join(".ci/python-env");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            fail(format!(
                "cannot run {}: {e}; {SETUP_HINT}",
                script.display()
            ))
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        fail(format!(
            "{} failed ({}):\n{stderr}{stdout}\n{SETUP_HINT}",
            script.display(),
            out.status
        ));
    }
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("python: "))
        .unwrap_or_else(|| {
            fail(format!(
                "{} printed no `python: <path>` line:\n{stdout}{stderr}\n{SETUP_HINT}",
                script.display()
            ))
        });
    PathBuf::from(path.trim())
}

/// One oracle process: a Python script answering one JSON line per JSON line.
pub struct Oracle {
    /// The script's file name, for messages.
    name: String,
    /// Kept so the process is owned; it exits on EOF when the test binary ends.
    _child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
}

impl fmt::Debug for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oracle").field("name", &self.name).finish()
    }
}

impl Oracle {
    /// Starts `script` with the venv's python ([`python`]); its stderr goes to the test's.
    /// Fails, saying how to set the venv up, when it cannot.
    pub fn start(script: &Path) -> Oracle {
        let python = python();
        let name = script.file_name().map_or_else(
            || script.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut child = Command::new(&python)
            .arg(script)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                fail(format!(
                    "cannot start {} {}: {e}; {SETUP_HINT}",
                    python.display(),
                    script.display()
                ))
            });
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            fail(format!("{name}: no stdin/stdout pipe"))
        };
        let (tx, replies) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Oracle {
            name,
            _child: child,
            stdin,
            replies,
        }
    }

    /// One exchange; the reply line as sent (for replies serde_json cannot read: Python
    /// escapes lone surrogates as `\udXXX`, which serde_json refuses).
    pub fn request_text(&mut self, req: &Value) -> String {
        let mut line = req.to_string();
        line.push('\n');
        let name = &self.name;
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| fail(format!("{name} stdin closed ({e}); see its stderr above")));
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => fail(format!(
                "{name} gave no reply in {} s to {req}",
                REPLY_TIMEOUT.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => fail(format!(
                "{name} exited while serving {req}; see its stderr above"
            )),
        }
    }

    /// One exchange; the reply parsed.
    pub fn request(&mut self, req: &Value) -> Value {
        let reply = self.request_text(req);
        serde_json::from_str(&reply)
            .unwrap_or_else(|e| fail(format!("{} reply {reply:?}: {e}", self.name)))
    }
}

/// One [`Oracle`] for a whole test binary, started by `start` on first use (e.g. in a
/// `static`).
pub struct Shared {
    cell: OnceLock<Mutex<Oracle>>,
    start: fn() -> Oracle,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("oracle", &self.cell.get())
            .finish()
    }
}

impl Shared {
    /// An oracle that `start` starts (and may check, e.g. with a ping) on first use.
    pub const fn new(start: fn() -> Oracle) -> Shared {
        Shared {
            cell: OnceLock::new(),
            start,
        }
    }

    /// The oracle, started if need be, locked for the caller's exchanges.
    pub fn lock(&self) -> MutexGuard<'_, Oracle> {
        let oracle = self.cell.get_or_init(|| Mutex::new((self.start)()));
        // A test that panicked while holding the lock did so outside a request/reply exchange
        // (the exchange itself only panics when the process is gone), so the state is usable.
        oracle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one request and returns the reply.
    pub fn call(&self, req: &Value) -> Value {
        self.lock().request(req)
    }

    /// Sends one request and returns the reply line unparsed.
    pub fn call_text(&self, req: &Value) -> String {
        self.lock().request_text(req)
    }
}
