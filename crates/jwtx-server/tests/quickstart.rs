#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The README's server quick start, run as written: every command between the
//! `quickstart:begin`/`end` markers goes through bash and curl against `jwtx serve --demo`, and
//! its output must match the `# →` line below it (`…` matches anything).

mod support;

use std::process::Command;

use support::Server;

/// (command, expected output) pairs from the README block.
fn session() -> Vec<(String, Option<String>)> {
    let readme = include_str!("../../../README.md");
    let block = readme
        .split("<!-- quickstart:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- quickstart:end -->").next())
        .expect("README.md has the quickstart markers");
    let mut steps: Vec<(String, Option<String>)> = Vec::new();
    for line in block.lines() {
        let line = line.trim();
        if let Some(expected) = line.strip_prefix("# → ") {
            steps
                .last_mut()
                .expect("an expectation follows a command")
                .1 = Some(expected.to_owned());
        } else if !(line.is_empty() || line.starts_with('#') || line.starts_with("```")) {
            steps.push((line.to_owned(), None));
        }
    }
    steps
}

/// `pattern` with `…` as a wildcard, matched against the whole of `text`.
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    for (i, part) in rest.iter().enumerate() {
        if i == rest.len() - 1 {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.is_empty()
}

#[test]
fn the_readme_curl_sessions_work_as_written() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is needed to run the README's session (apt-get install curl)"
    );
    let server = Server::start(&[]);
    let steps = session();
    assert!(steps.len() >= 10, "{steps:?}");
    let work = server.dir.join("client");
    std::fs::create_dir_all(&work).unwrap();
    let mut script = String::from("set -u\n");
    for (cmd, _) in &steps {
        let cmd = cmd.replace("127.0.0.1:5000", &server.addr.to_string());
        script.push_str(&format!("echo '@@step@@'\n{cmd}\necho\n"));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let outputs: Vec<&str> = stdout.split("@@step@@\n").skip(1).collect();
    assert_eq!(outputs.len(), steps.len());
    for ((cmd, expected), got) in steps.iter().zip(outputs) {
        let got = got.trim();
        match expected {
            Some(e) => assert!(matches(e, got), "{cmd}\n  expected {e}\n  got      {got}"),
            None => assert!(got.is_empty(), "{cmd} printed {got}"),
        }
    }
}

#[test]
fn wildcard_matching() {
    assert!(matches(r#"{"a":"…","b":1}"#, r#"{"a":"xyz","b":1}"#));
    assert!(matches("abc", "abc"));
    assert!(!matches("abc", "abcd"));
    assert!(!matches(r#"{"a":"…"}"#, r#"{"b":"x"}"#));
    assert!(matches("…", "anything"));
}
