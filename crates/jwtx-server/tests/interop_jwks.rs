#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Third-party verifiers read `jwtx serve`'s live JWKS (docs/interop.md): PyJWT's
//! `PyJWKClient`, node `jose`'s `createRemoteJWKSet` + `jwtVerify`, and a flask-jwt-extended
//! app whose `decode_key_loader` takes the key from the JWKS by `kid`, each pointed at
//! `http://127.0.0.1:PORT/.well-known/jwks.json`, for ES256 and EdDSA.
//!
//! Each verifier is one long-lived process per test (tests/interop/: `pyjwk_verifier.py`,
//! `jose_verifier.mjs`), reading a token per line and answering a JSON verdict per line, so its
//! JWKS cache lives through the rotations: it caches the set for the server's
//! `Cache-Control: max-age` and refetches at once on an unknown `kid`. The tokens of the first
//! key, of the key `jwtx keys rotate` brings in after its lead, and of the key
//! `jwtx keys rotate --now` brings in at once all verify in all three; after
//! `jwtx keys retire FIRST` the first key leaves the JWKS and all three refuse its tokens once
//! their cache expires (jwtx itself refuses them through the revocation log). A fourth,
//! PyJWKClient with its default 30 s cooldown between refetches, shows what the lead is for:
//! it holds the pending key by the time that key signs, but meets the `--now` key only once its
//! cache expires.
//!
//! The verifiers are pinned: PyJWT, Flask and flask-jwt-extended in `.ci/python-env`
//! (`target/pyenv`), jose in tests/interop/package-lock.json (`npm ci` into
//! `target/node-interop` by tests/support/npm-env). Neither is ever skipped: a missing Python
//! or Node.js fails the test, saying what to install.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::Value;
use support::cluster::{eventually, is_revoked, jwtx_with};
use support::{Server, TempDir, msg};

mod support;

/// The server's JWKS `max-age`, and so how long the verifiers cache the set.
const JWKS_MAX_AGE: &str = "1s";
/// How long a pending key is published before it signs (more than the max age).
const KEY_PUBLISH_LEAD: &str = "3s";
/// How long one verdict may take (the first one starts Python/Node and fetches the JWKS).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a change the server makes within `KEY_PUBLISH_LEAD` plus a revocation-log poll:
/// ten times that and more.
const SERVER_BOUND: Duration = Duration::from_secs(60);
/// Bound on a verifier noticing a change once its cache (`JWKS_MAX_AGE`) expires: far more
/// than ten times that.
const CACHE_BOUND: Duration = Duration::from_secs(30);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// One verifier process: a token per line in, a JSON verdict per line out.
struct Verifier {
    name: &'static str,
    /// Whether an unknown kid makes it refetch at once; else only once its cache expired
    /// (a cooldown longer than the cache's lifetime).
    refetches_at_once: bool,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    /// What it said on start (library versions), for messages.
    banner: Value,
}

impl Verifier {
    /// Starts `program ARGS…` and waits for its `{"ready": true, …}` line.
    fn start(name: &'static str, refetches_at_once: bool, mut cmd: Command) -> Verifier {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name} verifier {cmd:?}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut v = Verifier {
            name,
            refetches_at_once,
            child,
            stdin,
            replies,
            banner: Value::Null,
        };
        v.banner = v.reply("start");
        assert_eq!(v.banner["ready"], true, "{name}: {}", v.banner);
        v
    }

    /// The next line, parsed; fails the test if none comes in time.
    fn reply(&mut self, what: &str) -> Value {
        let name = self.name;
        let line = match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "the {name} verifier gave no answer in {} s ({what})",
                REPLY_TIMEOUT.as_secs()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the {name} verifier exited ({what}); see its stderr above")
            }
        };
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name} said {line:?}: {e}"))
    }

    /// The verifier's verdict on `token`.
    fn verdict(&mut self, token: &str) -> Value {
        let name = self.name;
        writeln!(self.stdin, "{token}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("the {name} verifier's stdin is closed: {e}"));
        self.reply("a verdict")
    }

    /// Asserts that it accepts `token`, issued to `sub` under `kid`; returns its fetch count.
    #[track_caller]
    fn accepts(&mut self, token: &str, sub: &str, kid: &str) -> u64 {
        let v = self.verdict(token);
        assert_eq!(
            v["valid"], true,
            "{} ({}) refused a token of key {kid}: {v}",
            self.name, self.banner
        );
        assert_eq!(v["sub"], sub, "{}: {v}", self.name);
        assert_eq!(v["kid"], kid, "{}: {v}", self.name);
        v["fetches"].as_u64().unwrap()
    }

    /// `Ok` when it refuses `token` for `reason` (`no_key`, `signature`), else its verdict.
    fn refuses(&mut self, token: &str, reason: &str) -> Result<(), String> {
        let v = self.verdict(token);
        if v["valid"] == false && v["reason"] == reason {
            Ok(())
        } else {
            Err(format!("{}: {v}", self.name))
        }
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The verifiers, pointed at `jwks_url`, verifying `alg`, caching for `cache_secs`: the three
/// third-party ones, refetching at once on an unknown kid, and PyJWKClient again with its
/// default 30 s cooldown between such refetches (so it learns of a key only when its cache
/// expires: what `key_publish_lead` is for).
fn verifiers(jwks_url: &str, alg: &str, cache_secs: u64) -> Vec<Verifier> {
    let python = jwtx_test::oracle::python();
    let script = interop_dir().join("pyjwk_verifier.py");
    let py = |mode: &str, cooldown_secs: u64| {
        let mut cmd = Command::new(&python);
        cmd.env("PYTHONDONTWRITEBYTECODE", "1").arg(&script).args([
            mode,
            jwks_url,
            alg,
            &cache_secs.to_string(),
            &cooldown_secs.to_string(),
        ]);
        cmd
    };
    let mut node = Command::new("node");
    node.arg(interop_dir().join("jose_verifier.mjs"))
        .arg(node_modules())
        .args([jwks_url, alg, &cache_secs.to_string()]);
    vec![
        Verifier::start("PyJWKClient", true, py("pyjwt", 0)),
        Verifier::start("jose", true, node),
        Verifier::start("flask-jwt-extended", true, py("flask", 0)),
        Verifier::start("PyJWKClient (30 s cooldown)", false, py("pyjwt", 30)),
    ]
}

/// Installs the pinned jose into target/node-interop unless it is there already
/// (tests/support/npm-env) and returns its node_modules directory.
fn node_modules() -> PathBuf {
    support::npm_install(
        &interop_dir(),
        "node-interop",
        20,
        "the JWKS interoperability test runs node `jose`: it needs Node.js 20 or later and npm \
         (scripts/test installs Debian's nodejs and npm when missing) and, on the first run, the \
         npm registry; it is never skipped",
    )
}

/// `jwtx --data-dir DIR ARGS…` with the test's settings; its stdout, asserting success.
#[track_caller]
fn jwtx_ok(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let dir = dir.to_str().unwrap();
    let mut all = vec!["--data-dir", dir];
    all.extend_from_slice(args);
    let out = jwtx_with(env, &all, None);
    assert!(
        out.status.success(),
        "jwtx {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The keys of `status`, by kid (`jwtx keys list --json`).
fn kids(dir: &Path, env: &[(&str, &str)], status: &str) -> Vec<String> {
    let keys: Value =
        serde_json::from_str(&jwtx_ok(dir, env, &["keys", "list", "--json"])).unwrap();
    keys.as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == status)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    let header = jwtx::dangerous::unverified_header(token, 8192).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The kids the server publishes now.
fn published(s: &Server) -> Vec<String> {
    let r = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A fresh access token for testuser once the server signs with `kid` (polled, a login every
/// 200 ms at most: the server allows 100 logins per address and minute).
fn token_signed_by(s: &Server, kid_wanted: &str, what: &str) -> String {
    eventually(what, SERVER_BOUND, || {
        let r = s.login("testuser", "testpass");
        let token = r.json["access_token"].as_str().unwrap_or_default();
        if r.status == 200 && kid(token) == kid_wanted {
            return Ok(token.to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
        match r.status {
            200 => Err(format!("signed by {}", kid(token))),
            _ => Err(format!("{} {}", r.status, r.text)),
        }
    })
    .0
}

/// `token` with its payload swapped for `other`'s (same key, another subject): the header and
/// signature are `token`'s own, so only the signature check can refuse it.
fn tampered(token: &str, other: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let theirs: Vec<&str> = other.split('.').collect();
    assert_eq!(parts[0], theirs[0], "one header for both");
    assert_ne!(parts[1], theirs[1]);
    format!("{}.{}.{}", parts[0], theirs[1], parts[2])
}

/// The whole story for one algorithm (see the module docs).
fn verifiers_follow_rotations(alg: &str) {
    let dir = TempDir::new();
    let env = [
        ("JWTX_ALGORITHM", alg),
        ("JWTX_JWKS_MAX_AGE", JWKS_MAX_AGE),
        ("JWTX_KEY_PUBLISH_LEAD", KEY_PUBLISH_LEAD),
    ];
    let s = Server::start_in(dir.0.clone(), &env);
    let jwks = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=1"));
    let url = format!("http://{}/.well-known/jwks.json", s.addr);
    let mut vs = verifiers(&url, alg, 1);

    // The first key: every verifier accepts its token, and refuses it with another payload.
    let (t1, _) = s.tokens("testuser", "testpass");
    let (admin1, _) = s.tokens("admin", "adminpass");
    let k1 = kid(&t1);
    let forged = tampered(&t1, &admin1);
    for v in &mut vs {
        let fetches = v.accepts(&t1, "testuser", &k1);
        assert!(fetches >= 1, "{}: {fetches} fetches", v.name);
        v.accepts(&admin1, "admin", &k1);
        v.refuses(&forged, "signature").unwrap();
    }
    assert_ne!(s.get("/protected", &forged).status, 200);

    // `jwtx keys rotate`: published at once, signing after the lead. The verifiers meet the
    // new kid once the server signs with it, and still accept the first key's tokens. The
    // lead exceeds the JWKS max age, so even the verifier with a cooldown holds the new key
    // by then (its cache, fetched before the rotation, has expired).
    let text = jwtx_ok(&dir.0, &env, &["keys", "rotate"]);
    assert!(text.contains("pending"), "{text}");
    let k2 = kids(&dir.0, &env, "pending").pop().unwrap();
    eventually(
        "the running server publishes the pending key",
        SERVER_BOUND,
        || {
            let kids = published(&s);
            if kids.contains(&k2) {
                Ok(())
            } else {
                Err(format!("{kids:?}"))
            }
        },
    );
    let t2 = token_signed_by(
        &s,
        &k2,
        "the server signs with the pending key after the lead",
    );
    let mut fetched = Vec::new();
    for v in &mut vs {
        v.accepts(&t2, "testuser", &k2);
        fetched.push(v.accepts(&t1, "testuser", &k1));
    }

    // `jwtx keys rotate --now`: the server signs with the new key at once. No verifier has
    // fetched the JWKS since (they fetch only while verifying), so each must fetch it to
    // accept the new key's token: a refetch on the unknown kid (or on its cache's expiry, if
    // the machine was slow). The one with a cooldown may refuse it until its cache expires:
    // the price of skipping the lead (docs/cli.md, `--now`).
    jwtx_ok(&dir.0, &env, &["keys", "rotate", "--now"]);
    let k3 = kids(&dir.0, &env, "active").pop().unwrap();
    assert!(k3 != k1 && k3 != k2);
    let t3 = token_signed_by(&s, &k3, "the server signs with the new key at once");
    for (v, before) in vs.iter_mut().zip(fetched) {
        if !v.refetches_at_once {
            let name = v.name;
            eventually(
                &format!("{name} accepts the new key's token once its cache expires"),
                CACHE_BOUND,
                || match v.verdict(&t3) {
                    r if r["valid"] == true => Ok(()),
                    r if r["reason"] == "no_key" => Err(r.to_string()),
                    r => panic!("{name} refused the new key's token: {r}"),
                },
            );
        }
        let after = v.accepts(&t3, "testuser", &k3);
        assert!(
            after > before,
            "{} accepted a key it never fetched ({before} → {after} fetches)",
            v.name
        );
        v.accepts(&t2, "testuser", &k2);
        v.accepts(&t1, "testuser", &k1);
    }

    // `jwtx keys retire FIRST`: jwtx refuses its tokens through the revocation log; the JWKS
    // drops it, so every verifier refuses them once its cache expires: no key for that kid.
    let text = jwtx_ok(&dir.0, &env, &["keys", "retire", &k1]);
    assert!(text.contains("retired"), "{text}");
    eventually("jwtx refuses the retired key's token", SERVER_BOUND, || {
        let r = s.get("/protected", &t1);
        let unknown = r.status == 422 && msg(&r) == "No key matches the token's key ID";
        if is_revoked(&r) || unknown {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text))
        }
    });
    eventually("the JWKS drops the retired key", SERVER_BOUND, || {
        let kids = published(&s);
        if kids.contains(&k1) {
            Err(format!("{kids:?}"))
        } else {
            Ok(())
        }
    });
    let mut kids_now = published(&s);
    kids_now.sort();
    let mut expected = vec![k2.clone(), k3.clone()];
    expected.sort();
    assert_eq!(kids_now, expected);
    for v in &mut vs {
        let name = v.name;
        eventually(
            &format!("{name} refuses the retired key's token"),
            CACHE_BOUND,
            || v.refuses(&t1, "no_key"),
        );
        v.refuses(&admin1, "no_key").unwrap();
        v.accepts(&t2, "testuser", &k2);
        v.accepts(&t3, "testuser", &k3);
    }
    assert_eq!(s.get("/protected", &t3).status, 200);
    assert_eq!(s.get("/protected", &t2).status, 200);
}

#[test]
fn third_party_verifiers_follow_es256_rotations() {
    verifiers_follow_rotations("ES256");
}

#[test]
fn third_party_verifiers_follow_eddsa_rotations() {
    verifiers_follow_rotations("EdDSA");
}
