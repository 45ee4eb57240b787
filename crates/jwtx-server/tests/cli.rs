//! The `jwtx` binary driven as a user would: arguments, environment, stdin, exit statuses.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use jwtx::{Algorithm, Key};

fn jwtx(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwtx"));
    cmd.args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwtx-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn secret() -> String {
    let o = jwtx(&["secret", "generate"], &[], None);
    assert!(o.status.success());
    stdout(&o).trim().to_owned()
}

#[test]
fn secret_generate_is_64_hex_and_random() {
    let a = secret();
    assert_eq!(a.len(), 64);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(a, secret());
}

#[test]
fn mint_verify_inspect_round_trip_with_env_secret() {
    let s = secret();
    let env = [("JWTX_SECRET_KEY", s.as_str())];
    let o = jwtx(
        &[
            "token",
            "mint",
            "--sub",
            "alice",
            "--fresh",
            "--claim",
            r#"roles=["admin","user"]"#,
        ],
        &env,
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let o = jwtx(&["token", "verify", &token], &env, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let claims: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["fresh"], true);
    assert_eq!(claims["roles"], serde_json::json!(["admin", "user"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );

    // From standard input, with a type filter.
    let o = jwtx(
        &["token", "verify", "--type", "access", "-"],
        &env,
        Some(&format!("{token}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = jwtx(
        &["token", "verify", "--type", "refresh", &token],
        &env,
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Only refresh tokens are allowed"),
        "{}",
        stderr(&o)
    );

    // Inspect needs no key and says the result is unverified.
    let o = jwtx(&["token", "inspect", &token], &[], None);
    assert!(o.status.success());
    let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(out["warning"].as_str().unwrap().starts_with("UNVERIFIED"));
    assert_eq!(out["header"]["alg"], "HS256");
    assert_eq!(out["claims"]["sub"], "alice");
}

#[test]
fn rejections_exit_1_with_the_reason_on_stderr() {
    let s = secret();
    let env = [("JWTX_SECRET_KEY", s.as_str())];
    let token = stdout(&jwtx(
        &["token", "mint", "--sub", "a", "--expires", "1s"],
        &env,
        None,
    ))
    .trim()
    .to_owned();
    let other = secret();
    let o = jwtx(&["token", "verify", "--secret", &other, &token], &[], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Signature verification failed"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    std::thread::sleep(std::time::Duration::from_millis(2100));
    let o = jwtx(&["token", "verify", &token], &env, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Token has expired"), "{}", stderr(&o));

    let o = jwtx(&["token", "verify", "not-a-token"], &env, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Not enough segments"));
}

#[test]
fn bad_usage_and_configuration_exit_2_naming_the_fix() {
    // No key at all.
    let o = jwtx(&["token", "mint", "--sub", "a"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("jwtx secret generate"),
        "{}",
        stderr(&o)
    );
    // A weak secret.
    let o = jwtx(
        &["token", "mint", "--sub", "a"],
        &[("JWTX_SECRET_KEY", "super-secret-key")],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("secret_key"), "{}", stderr(&o));
    // A bad duration, a bad claim, a reserved claim, an unknown algorithm.
    let s = secret();
    let env = [("JWTX_SECRET_KEY", s.as_str())];
    for (args, needle) in [
        (
            vec!["token", "mint", "--sub", "a", "--expires", "soon"],
            "90s",
        ),
        (
            vec!["token", "mint", "--sub", "a", "--claim", "roles=admin"],
            "not JSON",
        ),
        (
            vec!["token", "mint", "--sub", "a", "--claim", "exp=1"],
            "set by jwtx",
        ),
        (
            vec!["token", "mint", "--sub", "a", "--alg", "none"],
            "unknown algorithm",
        ),
        (vec!["token", "frobnicate"], "unrecognized subcommand"),
    ] {
        let o = jwtx(&args, &env, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    let o = jwtx(
        &["token", "mint", "--sub", "a"],
        &[("JWTX_SECRET_KEY", &s), ("JWTX_ACCESS_TOKEN_EXPIRES", "15")],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("access_token_expires"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_file_and_flag_precedence() {
    let dir = tempdir("config");
    let s = secret();
    let file = dir.join("jwtx.toml");
    std::fs::write(
        &file,
        format!("secret_key = \"{s}\"\nissuer = \"https://auth.example\"\naccess_token_expires = \"1h\"\n"),
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    let token = stdout(&jwtx(
        &["token", "mint", "--config", cfg, "--sub", "bob"],
        &[],
        None,
    ))
    .trim()
    .to_owned();
    let o = jwtx(&["token", "verify", "--config", cfg, &token], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let claims: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    // The environment beats the file: a different issuer is now required.
    let o = jwtx(
        &["token", "verify", "--config", cfg, &token],
        &[("JWTX_ISSUER", "other")],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Invalid issuer"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn asymmetric_keys_from_pem_jwk_and_jwks() {
    let dir = tempdir("keys");
    for alg in [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::PS384,
    ] {
        let key = Key::generate(alg).unwrap();
        let private = dir.join(format!("{alg}.pem"));
        std::fs::write(&private, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        let public = dir.join(format!("{alg}.pub.pem"));
        std::fs::write(&public, key.to_public_pem().unwrap()).unwrap();
        let jwk = dir.join(format!("{alg}.jwk"));
        std::fs::write(
            &jwk,
            serde_json::to_string(&key.public_jwk().unwrap()).unwrap(),
        )
        .unwrap();
        let jwks = dir.join(format!("{alg}.jwks"));
        std::fs::write(
            &jwks,
            serde_json::json!({"keys":[key.public_jwk().unwrap()]}).to_string(),
        )
        .unwrap();
        let a = alg.as_str();

        let o = jwtx(
            &[
                "token",
                "mint",
                "--sub",
                "svc",
                "--alg",
                a,
                "--key",
                private.to_str().unwrap(),
            ],
            &[],
            None,
        );
        assert!(o.status.success(), "{alg}: {}", stderr(&o));
        let token = stdout(&o).trim().to_owned();
        let header = jwtx(&["token", "inspect", &token], &[], None);
        let header: serde_json::Value = serde_json::from_str(&stdout(&header)).unwrap();
        assert_eq!(header["header"]["kid"], key.kid().unwrap(), "{alg}");

        for (file, extra) in [(&public, vec!["--alg", a]), (&jwk, vec![]), (&jwks, vec![])] {
            let mut args = vec!["token", "verify", "--key", file.to_str().unwrap()];
            args.extend(extra.iter().copied());
            args.push(&token);
            let o = jwtx(&args, &[], None);
            assert!(o.status.success(), "{alg} {file:?}: {}", stderr(&o));
            let mut args = vec!["jws", "verify", "--key", file.to_str().unwrap()];
            args.extend(extra.iter().copied());
            args.push(&token);
            let o = jwtx(&args, &[], None);
            assert!(o.status.success(), "{alg} {file:?}: {}", stderr(&o));
            let payload: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(payload["sub"], "svc");
        }
        // A public key cannot mint.
        let o = jwtx(
            &[
                "token",
                "mint",
                "--sub",
                "x",
                "--key",
                jwk.to_str().unwrap(),
            ],
            &[],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{alg}");
    }
    // A PEM key with an HMAC algorithm is a usage error that names the fix.
    let o = jwtx(
        &[
            "token",
            "verify",
            "--key",
            dir.join("ES256.pem").to_str().unwrap(),
            "a.b.c",
        ],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--alg"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn jws_verify_checks_only_the_jws_layer() {
    let dir = tempdir("jws");
    let key = Key::generate(Algorithm::EdDSA).unwrap();
    let jwk = dir.join("k.jwk");
    std::fs::write(
        &jwk,
        serde_json::to_string(&key.public_jwk().unwrap()).unwrap(),
    )
    .unwrap();
    // A payload with no claims at all and an expired exp: the JWS layer accepts it.
    let token = jwtx::jws::sign(&key, br#"{"exp":1,"hello":"world"}"#, None).unwrap();
    let o = jwtx(
        &["jws", "verify", "--key", jwk.to_str().unwrap(), "-"],
        &[],
        Some(&token),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"{"exp":1,"hello":"world"}"#);
    // Payloads need not be JSON (RFC 7515): text is printed as is, binary as base64url.
    for (payload, printed) in [
        (&b"plain text"[..], "plain text".to_owned()),
        (
            &b"\xff\x00binary"[..],
            token_segment(&key, b"\xff\x00binary"),
        ),
    ] {
        let t = jwtx::jws::sign(&key, payload, None).unwrap();
        let o = jwtx(
            &["jws", "verify", "--key", jwk.to_str().unwrap(), &t],
            &[],
            None,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).trim(), printed);
    }
    // The full verifier refuses it.
    let o = jwtx(
        &["token", "verify", "--key", jwk.to_str().unwrap(), &token],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    // A tampered signature fails the JWS layer.
    // Change a character in the middle of the signature (the last one would also carry
    // trailing bits, which the canonical base64url check refuses before any crypto).
    let mut bad = token.clone().into_bytes();
    let i = bad.len() - 20;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let o = jwtx(
        &["jws", "verify", "--key", jwk.to_str().unwrap(), &bad],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Signature verification failed"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The payload segment of a JWS over `payload` (its base64url form).
fn token_segment(key: &Key, payload: &[u8]) -> String {
    let t = jwtx::jws::sign(key, payload, None).unwrap();
    t.split('.').nth(1).unwrap().to_owned()
}
