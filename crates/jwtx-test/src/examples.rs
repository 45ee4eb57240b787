//! Examples as their users run them: [`Example::start`] builds (when needed) and starts an
//! example binary on a free port, and [`run_session`] runs a README's curl session against it
//! literally, command by command, comparing each output with the README's `# →` lines.
//!
//! A session is the `sh` block after `<!-- session: NAME -->` in a README: commands (with `\`
//! continuations), each followed by the `# → ` lines of its exact output, where `…` stands for
//! any text (a token). Other `#` lines are comments. Commands address the example as
//! `http://127.0.0.1:5000`; the runner substitutes the real port.

#![allow(
    clippy::panic,
    reason = "test support: what cannot be run fails the test, as assert! does"
)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs};

/// Which example to run: its package, its name, and the package's directory
/// (`env!("CARGO_MANIFEST_DIR")` of the calling test).
#[derive(Clone, Copy, Debug)]
pub struct ExampleRef<'a> {
    /// The package (`cargo build -p`).
    pub package: &'a str,
    /// The example's name (`examples/<name>.rs`).
    pub name: &'a str,
    /// The package's directory.
    pub manifest_dir: &'a str,
}

/// A running example process; killed when dropped, whatever the test's outcome.
#[derive(Debug)]
pub struct Example {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Example {
    /// Starts `example` with `PORT` set to a free port and `env` (a `None` value removes the
    /// variable); returns once it accepts connections (within 30 s, else panics with its
    /// stderr).
    pub fn start(example: ExampleRef<'_>, env: &[(&str, Option<&str>)]) -> Example {
        let bin = binary(example);
        for _attempt in 0..3 {
            // Another process may take the port between this probe and the example's bind.
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("no free port: {e}"));
            let mut cmd = command(&bin, env);
            cmd.env("PORT", port.to_string());
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = Example { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                if matches!(server.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let status = server.child.try_wait();
            let err = server.stop();
            eprintln!(
                "{} did not start on port {port} ({status:?}): {err}",
                example.name
            );
        }
        panic!("{} did not start", example.name);
    }

    /// Runs `example` with `env` expecting it to exit by itself (a refused start) within 30 s;
    /// returns its exit status and stderr.
    pub fn exit_of(
        example: ExampleRef<'_>,
        env: &[(&str, Option<&str>)],
    ) -> (std::process::ExitStatus, String) {
        let child = command(&binary(example), env)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", example.name));
        let mut server = Example { child, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{} kept running; it was expected to exit",
                example.name
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        (status, server.stop())
    }

    /// Stops the process and returns what it wrote to stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut err);
        }
        err
    }
}

/// `bin` with `env` (a `None` value removes the variable), no stdin or stdout, stderr piped.
fn command(bin: &Path, env: &[(&str, Option<&str>)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

/// `target/<profile>/examples/<name>`, built with cargo when missing or older than its
/// sources (`cargo test` builds examples first; `cargo test --test NAME` does not).
fn binary(example: ExampleRef<'_>) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let exe = env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not under target/<profile>/deps", exe.display()));
    let bin =
        profile_dir
            .join("examples")
            .join(format!("{}{}", example.name, env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let manifest_dir = Path::new(example.manifest_dir);
    let crates = manifest_dir.join("..");
    let sources = [
        manifest_dir
            .join("examples")
            .join(format!("{}.rs", example.name)),
        manifest_dir.join("src"),
        manifest_dir.join("Cargo.toml"),
        crates.join("jwtx/src"),
        crates.join("jwtx-axum/src"),
        crates.join("jwtx-auth/src"),
    ];
    let newest = sources.iter().filter_map(|p| newest_mtime(p)).max();
    let built = fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_none() || built < newest {
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", example.package, "--example", example.name]);
        cmd.arg("--manifest-path")
            .arg(manifest_dir.join("Cargo.toml"));
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                cmd.args(["--profile", profile]);
            }
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(status.success(), "building example {} failed", example.name);
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

/// One command of a README session and the output the README shows for it.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Option<String>,
}

/// The session `name` of `readme` as steps.
fn session(readme: &Path, name: &str) -> Vec<Step> {
    let text = fs::read_to_string(readme)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme.display()));
    let marker = format!("<!-- session: {name} -->");
    let after = &text[text
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} not in {}", readme.display()))..];
    let start = after
        .find("```sh\n")
        .unwrap_or_else(|| panic!("no sh block after {marker}"))
        + "```sh\n".len();
    let end = after[start..]
        .find("\n```")
        .unwrap_or_else(|| panic!("unterminated sh block after {marker}"));
    let block = &after[start..start + end];

    let mut steps: Vec<Step> = Vec::new();
    let mut lines = block.lines();
    while let Some(line) = lines.next() {
        if let Some(out) = line.strip_prefix("# →") {
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("output before any command in {name}"));
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
                command.push_str(lines.next().unwrap_or_default());
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

/// Whether `actual` is `expected` with each `…` standing for any text (newlines included).
pub fn matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    let Some((first, rest)) = parts.split_first() else {
        return actual.is_empty();
    };
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

/// A scratch directory for a session's cookie jars, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir =
            env::temp_dir().join(format!("jwtx-session-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
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
pub fn require_tools(session: &str, tools: &[&str]) {
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

/// Runs session `name` of `readme` against the example on `port`, in one shell (so variables
/// carry over) in a fresh directory, and compares each command's output with the README.
pub fn run_session(readme: &Path, name: &str, port: u16) {
    const SEP: &str = "@@jwtx-session-step@@";
    let steps = session(readme, name);
    let mut script = String::new();
    for step in &steps {
        script.push_str(
            &step
                .command
                .replace("http://127.0.0.1:5000", &format!("http://127.0.0.1:{port}")),
        );
        script.push_str(&format!("\nprintf '\\n{SEP}\\n'\n"));
    }
    let dir = TempDir::new(name);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
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

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn ellipsis_matches_any_text() {
        assert!(matches("{\"a\":\"…\"}", "{\"a\":\"xyz\"}"));
        assert!(matches("x…y…z", "x1y2z"));
        assert!(matches("a\n…\nb", "a\nq\nr\n\nb"));
        assert!(!matches("{\"a\":1}", "{\"a\":1}x"));
        assert!(!matches("a…b", "ab!"));
        assert!(matches("", ""));
        assert!(!matches("", "x"));
    }
}
