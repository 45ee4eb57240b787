#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Signing keys (docs/cli.md, "Signing keys"): `jwtx keys list | generate | rotate | retire` on a
//! temporary data directory, and `jwtx serve` signing with the store's keys, publishing them in
//! the JWKS, picking a rotation up live, and keeping old tokens valid across it and a restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::Server;

mod support;

/// A temporary data directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("jwtx-keys-{}", jwtx::uuid4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `jwtx --data-dir DIR ARGS…` with only `env` as JWTX_* settings.
fn jwtx_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwtx"));
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_") && k.as_str() != "RUST_LOG"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().unwrap()
}

fn jwtx(dir: &Path, args: &[&str]) -> Output {
    jwtx_env(dir, args, &[])
}

fn out(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// No command ever prints private key material.
#[track_caller]
fn no_private_material(o: &Output) {
    for text in [out(o), err(o)] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains("\"d\""), "{text}");
    }
}

#[track_caller]
fn ok(o: &Output) -> String {
    no_private_material(o);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", err(o));
    out(o)
}

/// Asserts exit status 2 with `needle` in the message; returns stderr.
#[track_caller]
fn usage(o: &Output, needle: &str) -> String {
    no_private_material(o);
    let e = err(o);
    assert_eq!(o.status.code(), Some(2), "stdout: {} stderr: {e}", out(o));
    assert!(
        e.to_lowercase().contains(&needle.to_lowercase()),
        "{needle:?} not in: {e}"
    );
    e
}

fn keys_json(dir: &Path) -> Vec<Value> {
    let text = ok(&jwtx(dir, &["keys", "list", "--json"]));
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The keys of a status, by kid.
fn kids(keys: &[Value], status: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k["status"] == status)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn header(token: &str) -> serde_json::Map<String, Value> {
    jwtx::dangerous::unverified_header(token, 8192).unwrap()
}

#[test]
fn keys_are_generated_listed_and_rotated() {
    let dir = TempDir::new();
    let d = dir.0.as_path();

    // Empty to start with.
    assert!(keys_json(d).is_empty());
    let empty = ok(&jwtx(d, &["keys", "list"]));
    assert!(empty.contains("no signing keys"), "{empty}");

    // Bad algorithms are refused before anything is stored.
    usage(
        &jwtx(d, &["keys", "generate", "--alg", "HS256"]),
        "secret_key",
    );
    usage(
        &jwtx(d, &["keys", "generate", "--alg", "es256"]),
        "unknown algorithm",
    );
    usage(&jwtx(d, &["keys", "generate"]), "--alg");
    // Switching between HMAC (the default algorithm) and asymmetric keys needs --now.
    usage(&jwtx(d, &["keys", "rotate", "--alg", "ES256"]), "--now");
    usage(&jwtx(d, &["keys", "retire", "nope"]), "no signing key");
    assert!(keys_json(d).is_empty());

    // generate: the first key, active at once.
    let o = jwtx(d, &["keys", "generate", "--alg", "ES256"]);
    let text = ok(&o);
    let keys = keys_json(d);
    assert_eq!(keys.len(), 1);
    let first = keys[0]["kid"].as_str().unwrap().to_owned();
    assert!(text.contains(&first) && text.contains("ES256"), "{text}");
    // The configuration signs with HS256: the command says how to use the key.
    assert!(text.contains("algorithm = \"ES256\""), "{text}");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["status"], "active");
    assert!(keys[0]["created_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(keys[0]["verify_until"], Value::Null);
    // The kid is the RFC 7638 thumbprint: 32 bytes, base64url.
    assert_eq!(first.len(), 43, "{first}");

    // A second generate is refused, pointing at rotate; nothing changes.
    let e = usage(
        &jwtx(d, &["keys", "generate", "--alg", "EdDSA"]),
        "keys rotate",
    );
    assert!(e.contains(&first), "{e}");
    assert_eq!(keys_json(d).len(), 1);

    // rotate --now: by default the active key's algorithm; the old key stays passive.
    let text = ok(&jwtx(d, &["keys", "rotate", "--now"]));
    assert!(
        text.contains("passive") && text.contains("signing now"),
        "{text}"
    );
    let keys = keys_json(d);
    assert_eq!(keys.len(), 2);
    let second = kids(&keys, "active");
    assert_eq!(second.len(), 1);
    let second = second[0].clone();
    assert_ne!(second, first);
    assert_eq!(kids(&keys, "passive"), vec![first.clone()]);
    let active = keys.iter().find(|k| k["kid"] == second.as_str()).unwrap();
    assert_eq!(active["alg"], "ES256");
    let old = keys.iter().find(|k| k["kid"] == first.as_str()).unwrap();
    // Verifies for the longest token lifetime (the 30-day refresh default) after rotating.
    let until = old["verify_until"].as_u64().unwrap();
    let demoted = old["demoted_at"].as_u64().unwrap();
    assert_eq!(until - demoted, 30 * 86_400);

    // rotate --alg: another algorithm.
    ok(&jwtx(d, &["keys", "rotate", "--now", "--alg", "EdDSA"]));
    let keys = keys_json(d);
    assert_eq!(keys.len(), 3);
    let third = kids(&keys, "active");
    assert_eq!(third.len(), 1);
    let active = keys.iter().find(|k| k["kid"] == third[0].as_str()).unwrap();
    assert_eq!(active["alg"], "EdDSA");
    let mut passive = kids(&keys, "passive");
    passive.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(passive, expected);

    // The table: a header and one line per key, with its status.
    let table = ok(&jwtx(d, &["keys", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("KID"), "{table}");
    assert_eq!(lines.len(), 4, "{table}");
    let line = |kid: &str| *lines.iter().find(|l| l.starts_with(kid)).unwrap();
    assert!(line(&third[0]).contains("EdDSA  active"), "{table}");
    assert!(line(&first).contains("ES256  passive"), "{table}");
    assert!(line(&second).contains("ES256  passive"), "{table}");

    // rotate without --now: a pending key, published ahead by key_publish_lead (10m).
    let text = ok(&jwtx(d, &["keys", "rotate"]));
    assert!(text.contains("pending until"), "{text}");
    let keys = keys_json(d);
    let pending = kids(&keys, "pending");
    assert_eq!(pending.len(), 1);
    let p = keys
        .iter()
        .find(|k| k["kid"] == pending[0].as_str())
        .unwrap();
    assert_eq!(
        p["activates_at"].as_u64().unwrap(),
        p["created_at"].as_u64().unwrap() + 600
    );
    assert_eq!(
        kids(&keys, "active"),
        third,
        "the active key signs until then"
    );
    // One rotation pending at a time.
    usage(&jwtx(d, &["keys", "rotate"]), "pending");
    let table = ok(&jwtx(d, &["keys", "list"]));
    let line = table.lines().find(|l| l.starts_with(&pending[0])).unwrap();
    assert!(
        line.contains(" pending ") && line.contains("- (signs from"),
        "{table}"
    );

    // retire a passive key: it is retired at once.
    let text = ok(&jwtx(d, &["keys", "retire", &first]));
    assert!(text.contains("retired signing key"), "{text}");
    assert_eq!(
        keys_json(d)
            .iter()
            .find(|k| k["kid"] == first.as_str())
            .unwrap()["status"],
        "retired"
    );
}

#[test]
fn rotate_without_a_key_uses_the_configured_algorithm() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let text = ok(&jwtx_env(
        d,
        &["keys", "rotate"],
        &[("JWTX_ALGORITHM", "ES384")],
    ));
    assert!(text.contains("there was no active key"), "{text}");
    let keys = keys_json(d);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES384");
    assert_eq!(keys[0]["status"], "active");
}

#[test]
fn the_server_signs_with_store_keys_and_a_rotation_keeps_old_tokens() {
    let dir = TempDir::new();
    let d = dir.0.clone();
    let env = [("JWTX_ALGORITHM", "ES256")];

    // First start: no key in the store, so the server makes one.
    let s = Server::start_in(d.clone(), &env);
    let summary = s.stderr_containing("signing key");
    assert!(summary.contains("algorithm: ES256"), "{summary}");
    assert!(summary.contains("generated and stored"), "{summary}");
    assert!(!summary.contains("PRIVATE"), "{summary}");
    // No HMAC secret is made for an asymmetric algorithm.
    assert!(!d.join("secret_key").exists());

    let keys = keys_json(&d);
    assert_eq!(keys.len(), 1);
    let old_kid = keys[0]["kid"].as_str().unwrap().to_owned();
    assert!(summary.contains(&old_kid), "{summary}");

    let (old_access, old_refresh) = s.tokens("testuser", "testpass");
    let h = header(&old_access);
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["kid"], old_kid.as_str());
    assert_eq!(s.get("/protected", &old_access).status, 200);

    let jwks = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!(jwks.status, 200);
    let published = jwks.json["keys"].as_array().unwrap();
    assert_eq!(published.len(), 1, "{}", jwks.text);
    assert_eq!(published[0]["kid"], old_kid.as_str());
    assert_eq!(published[0]["kty"], "EC");
    assert_eq!(published[0]["crv"], "P-256");
    assert_eq!(published[0]["alg"], "ES256");
    assert!(!jwks.text.contains("\"d\""), "{}", jwks.text);
    // The published key verifies the server's token.
    let set = jwtx::KeySet::from_jwks_json(&jwks.text).unwrap();
    let verified = jwtx::Codec::new(set)
        .verify::<jwtx::NoClaims>(&old_access)
        .unwrap();
    assert_eq!(verified.sub(), "testuser");

    // Rotate while the server runs (published now, signing after a 3 s lead): the running
    // server publishes the new key at once, then signs with it, with no restart.
    let rotate_env = [
        ("JWTX_ALGORITHM", "ES256"),
        ("JWTX_JWKS_MAX_AGE", "1s"),
        ("JWTX_KEY_PUBLISH_LEAD", "3s"),
    ];
    let etag = jwks.header("etag").unwrap().to_owned();
    let text = ok(&jwtx_env(&d, &["keys", "rotate"], &rotate_env));
    assert!(
        text.contains(&old_kid) && text.contains("pending"),
        "{text}"
    );
    let new_kid = kids(&keys_json(&d), "pending").pop().unwrap();
    assert_ne!(new_kid, old_kid);
    let (published, _) = support::cluster::eventually(
        "the running server publishes the pending key",
        std::time::Duration::from_secs(10),
        || {
            let r = s.req("GET", "/.well-known/jwks.json").send();
            let n = r.json["keys"].as_array().map_or(0, Vec::len);
            if n == 2 { Ok(r) } else { Err(r.text) }
        },
    );
    assert_ne!(published.header("etag"), Some(etag.as_str()));
    let (still_old, _) = s.tokens("testuser", "testpass");
    assert_eq!(
        header(&still_old)["kid"],
        old_kid.as_str(),
        "not before the lead"
    );
    support::cluster::eventually(
        "the running server signs with the new key after the lead",
        std::time::Duration::from_secs(30),
        || {
            let (t, _) = s.tokens("testuser", "testpass");
            if header(&t)["kid"] == new_kid.as_str() {
                Ok(())
            } else {
                Err(header(&t)["kid"].to_string())
            }
        },
    );
    let keys = keys_json(&d);
    assert_eq!(kids(&keys, "active"), vec![new_kid.clone()]);
    assert_eq!(kids(&keys, "passive"), vec![old_kid.clone()]);
    assert_eq!(s.get("/protected", &still_old).status, 200);

    // Restart on the same data directory.
    let d = s.kill();
    let s = Server::start_in(d.clone(), &env);
    let summary = s.stderr_containing("signing key");
    assert!(
        summary.contains(&format!("signing key {new_kid} from the store")),
        "{summary}"
    );
    assert!(summary.contains("1 passive"), "{summary}");

    // Tokens the old (now passive) key signed still verify.
    assert_eq!(s.get("/protected", &old_access).status, 200);
    assert_eq!(s.get("/protected", &still_old).status, 200);
    let r = s.req("POST", "/refresh").bearer(&old_refresh).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let refreshed = r.json["access_token"].as_str().unwrap();
    assert_eq!(header(refreshed)["kid"], new_kid.as_str());

    // New tokens carry the new kid.
    let (new_access, _) = s.tokens("testuser", "testpass");
    let h = header(&new_access);
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["kid"], new_kid.as_str());
    assert_eq!(s.get("/protected", &new_access).status, 200);

    // The JWKS lists both, public parts only.
    let jwks = s.req("GET", "/.well-known/jwks.json").send();
    let mut published: Vec<String> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    published.sort();
    let mut expected = vec![old_kid.clone(), new_kid.clone()];
    expected.sort();
    assert_eq!(published, expected);
    assert!(!jwks.text.contains("\"d\""), "{}", jwks.text);

    // A forged token with an unknown kid is refused.
    let stranger = jwtx::Key::generate(jwtx::Algorithm::ES256).unwrap();
    let forged = jwtx::Codec::new(stranger)
        .access_token("testuser")
        .sign()
        .unwrap()
        .token;
    assert_ne!(s.get("/protected", &forged).status, 200);
}

/// The store's active key wins over `algorithm`, and the summary says so.
#[test]
fn the_store_key_wins_over_the_configured_algorithm() {
    let dir = TempDir::new();
    let d = dir.0.clone();
    ok(&jwtx(&d, &["keys", "generate", "--alg", "EdDSA"]));
    let s = Server::start_in(d.clone(), &[("JWTX_ALGORITHM", "ES256")]);
    let summary = s.stderr_containing("signing key");
    assert!(summary.contains("algorithm: EdDSA"), "{summary}");
    assert!(
        summary.contains("`jwtx keys rotate --alg ES256` switches"),
        "{summary}"
    );
    let (access, _) = s.tokens("testuser", "testpass");
    assert_eq!(header(&access)["alg"], "EdDSA");
    assert_eq!(s.get("/protected", &access).status, 200);
}

/// With `key_encryption_key`, the store holds private keys only sealed; the server signs and
/// verifies with them across a restart, and a command given another key-encryption key
/// refuses, naming the one the keys are sealed under.
#[test]
fn private_keys_are_sealed_under_the_key_encryption_key() {
    let dir = TempDir::new();
    let d = dir.0.clone();
    let kek = "0123456789abcdef".repeat(4);
    let env = [
        ("JWTX_ALGORITHM", "ES256"),
        ("JWTX_KEY_ENCRYPTION_KEY", &kek),
    ];
    let s = Server::start_in(d.clone(), &env);
    let (access, _) = s.tokens("testuser", "testpass");
    assert_eq!(s.get("/protected", &access).status, 200);
    s.kill();

    // What the database holds: no PEM, only sealed text.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let raw = runtime.block_on(async {
        let store = jwtx_sqlx::SqliteStore::open(d.join("jwtx.db"))
            .await
            .unwrap();
        let keys = jwtx::store::KeyStore::list_keys(&store).await.unwrap();
        store.close().await;
        keys
    });
    assert_eq!(raw.len(), 1);
    let pem = raw[0].private_key.as_ref().unwrap().expose().to_owned();
    assert!(jwtx::store::sealed::is_sealed(&pem), "stored in the clear");
    assert!(!pem.contains("PRIVATE KEY"));

    // Restarted with the same key-encryption key: the old token still verifies.
    let s = Server::start_in(d.clone(), &env);
    assert_eq!(s.get("/protected", &access).status, 200);
    drop(s.kill());

    // Another key-encryption key cannot open them, and says why.
    let other = "fedcba9876543210".repeat(4);
    let o = jwtx_env(
        &d,
        &["keys", "rotate"],
        &[
            ("JWTX_ALGORITHM", "ES256"),
            ("JWTX_KEY_ENCRYPTION_KEY", &other),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("key_encryption_key"), "{}", err(&o));
    no_private_material(&o);
}

/// `jwtx keys retire` on a running deployment: the retired key's tokens are refused at once
/// (through the revocation log), the server signs with the key that replaced it, and the JWKS
/// no longer lists it.
#[test]
fn retiring_a_key_refuses_its_tokens_on_the_running_server() {
    let dir = TempDir::new();
    let env = [("JWTX_ALGORITHM", "EdDSA")];
    let s = Server::start_in(dir.0.clone(), &env);
    let (access, refresh) = s.tokens("testuser", "testpass");
    let old_kid = header(&access)["kid"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/protected", &access).status, 200);

    let text = ok(&jwtx_env(&dir.0, &["keys", "retire", &old_kid], &env));
    assert!(text.contains("was the active key"), "{text}");
    let bound = std::time::Duration::from_secs(10);
    support::cluster::eventually("the retired key's access token is refused", bound, || {
        refused_as_retired(&s.get("/protected", &access))
    });
    refused_as_retired(&s.req("POST", "/refresh").bearer(&refresh).send()).unwrap();
    let (fresh, _) = s.tokens("testuser", "testpass");
    assert_ne!(header(&fresh)["kid"], old_kid.as_str());
    assert_eq!(s.get("/protected", &fresh).status, 200);
    let jwks = s.req("GET", "/.well-known/jwks.json").send();
    assert!(!jwks.text.contains(&old_kid), "{}", jwks.text);
    assert_eq!(jwks.json["keys"].as_array().unwrap().len(), 1);
}

/// HS256 (the default) rotates by kid on a running server: nobody is logged out, tokens
/// without a kid keep verifying, new ones carry the new kid; retiring the first secret (the
/// empty kid) then refuses the kid-less tokens.
#[test]
fn an_hmac_secret_rotates_live_without_logging_anyone_out() {
    let dir = TempDir::new();
    let s = Server::start_in(dir.0.clone(), &[]);
    let (before, _) = s.tokens("testuser", "testpass");
    assert!(header(&before).get("kid").is_none());

    let text = ok(&jwtx(&dir.0, &["keys", "rotate", "--now"]));
    assert!(
        text.contains("HS256") && text.contains("signing now"),
        "{text}"
    );
    let keys = keys_json(&dir.0);
    let new_kid = kids(&keys, "active").pop().unwrap();
    assert_eq!(
        kids(&keys, "passive"),
        vec![String::new()],
        "the first secret, no kid"
    );
    let bound = std::time::Duration::from_secs(10);
    support::cluster::eventually("new tokens carry the new kid", bound, || {
        let (t, _) = s.tokens("testuser", "testpass");
        if header(&t).get("kid") == Some(&Value::from(new_kid.as_str())) {
            Ok(())
        } else {
            Err(format!("{:?}", header(&t)))
        }
    });
    assert_eq!(
        s.get("/protected", &before).status,
        200,
        "nobody is logged out"
    );
    // The JWKS never carries a symmetric key.
    let jwks = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!(jwks.json["keys"].as_array().unwrap().len(), 0);

    ok(&jwtx(&dir.0, &["keys", "retire", ""]));
    support::cluster::eventually("the first secret's tokens are refused", bound, || {
        refused_as_retired(&s.get("/protected", &before))
    });
    let (after, _) = s.tokens("testuser", "testpass");
    assert_eq!(s.get("/protected", &after).status, 200);
}

/// The JWKS is served with `Cache-Control: max-age=<jwks_max_age>` and an `ETag` that
/// `If-None-Match` revalidates with a 304.
#[test]
fn the_jwks_is_cached_and_revalidated() {
    let s = Server::start(&[("JWTX_ALGORITHM", "ES256"), ("JWTX_JWKS_MAX_AGE", "2m")]);
    let r = s.req("GET", "/.well-known/jwks.json").send();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=120"));
    let etag = r.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = s
        .req("GET", "/.well-known/jwks.json")
        .header("if-none-match", &etag)
        .send();
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert!(again.text.is_empty());
    let other = s
        .req("GET", "/.well-known/jwks.json")
        .header("if-none-match", "\"stale\"")
        .send();
    assert_eq!(other.status, 200);
    assert_eq!(other.text, r.text);
}

/// `Ok` when `r` refuses a token of a retired key: revoked by its `key` entry (401), or, once
/// the key left the server's set, signed by no key it holds (422, flask-jwt-extended's answer
/// to an unknown key).
fn refused_as_retired(r: &support::Response) -> Result<(), String> {
    let unknown = r.status == 422 && support::msg(r) == "No key matches the token's key ID";
    if support::cluster::is_revoked(r) || unknown {
        Ok(())
    } else {
        Err(format!("{} {}", r.status, r.text))
    }
}
