#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `deploy/cluster`, the one command that starts a local cluster (README, "Running many
//! instances"): three instances on the machine's PostgreSQL and Redis behind HAProxy. Run as a
//! user runs it, on a fresh database and Redis prefix, then used through the balancer: a login,
//! the token on every instance behind it, a logout refused everywhere, and the whole cluster
//! stopped by one signal.
//!
//! Needs haproxy and psql (scripts/test installs them); fails, saying so, without them.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use jwtx_test::pg::TestDatabase;
use jwtx_test::redis::KeysCleanup;
use support::cluster::{
    PASSWORD, block_on, client, eventually, is_revoked, jwtx_with, login_req, logout_req, try_send,
};

mod support;

/// A port `p` such that `p..=p+3` are free now (the balancer and the three instances).
fn four_free_ports() -> u16 {
    for _ in 0..200 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = first.local_addr().unwrap().port();
        if p > 65_000 {
            continue;
        }
        let rest: Vec<_> = (1..=3)
            .map(|i| TcpListener::bind(("127.0.0.1", p + i)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return p;
        }
    }
    panic!("no four consecutive free loopback ports")
}

#[test]
fn deploy_cluster_serves_three_instances_behind_haproxy() {
    jwtx_test::examples::require_tools("deploy/cluster", &["haproxy", "psql", "sed"]);
    let redis = jwtx_test::redis::require_machine_redis();
    let db = block_on(TestDatabase::create());
    let prefix = jwtx_test::redis::unique_prefix();
    let _keys = KeysCleanup::new(&redis, &prefix);
    let port = four_free_ports();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster");
    let mut child = Command::new("bash")
        .arg(&script)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
        .env("JWTX_BIN", env!("CARGO_BIN_EXE_jwtx"))
        .env("JWTX_CLUSTER_PORT", port.to_string())
        .env("JWTX_CLUSTER_DATABASE_URL", db.url())
        .env("JWTX_CLUSTER_REDIS_URL", &redis)
        .env("JWTX_CLUSTER_PREFIX", &prefix)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run deploy/cluster");
    let group = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Stops the whole process group on every way out of the test.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.0)])
                .status();
        }
    }
    let stop = Stop(group);

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !seen.iter().any(|l: &String| l.contains("jwtx cluster on")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("deploy/cluster did not start:\n{}", seen.join("\n")),
        }
    }

    // The user, added by the admin CLI against the cluster's database.
    let env = [("JWTX_DATABASE_URL", db.url())];
    let out = jwtx_with(
        &env,
        &["user", "add", "alice", "--password-stdin"],
        Some(format!("{PASSWORD}\n").as_bytes()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let front: SocketAddr = ([127, 0, 0, 1], port).into();
    let (login, _) = eventually("a login through HAProxy", Duration::from_secs(30), || {
        // Refused connections too are retried: the balancer may still be starting.
        let r = try_send(
            front,
            &login_req(front, "alice", PASSWORD),
            Duration::from_secs(5),
        )?;
        if r.status == 200 {
            Ok(r)
        } else {
            Err(format!("{} {}", r.status, r.text))
        }
    });
    let access = login.json["access_token"].as_str().unwrap().to_owned();
    let instances: Vec<SocketAddr> = (1..=3).map(|i| ([127, 0, 0, 1], port + i).into()).collect();
    for addr in &instances {
        let r = client(*addr)
            .request("GET", "/protected")
            .bearer(&access)
            .send();
        assert_eq!(r.status, 200, "{addr}: {}", r.text);
    }
    let out = logout_req(front, &access).send();
    assert_eq!(out.status, 200, "{}", out.text);
    for addr in &instances {
        eventually(
            &format!("the logout refused on {addr}"),
            Duration::from_secs(5),
            || {
                let r = client(*addr)
                    .request("GET", "/protected")
                    .bearer(&access)
                    .send();
                if is_revoked(&r) {
                    Ok(())
                } else {
                    Err(format!("{} {}", r.status, r.text))
                }
            },
        );
    }

    // One signal stops everything: nothing answers on any of the four ports afterwards.
    drop(stop);
    let status = child.wait().unwrap();
    assert!(status.success() || status.code().is_none(), "{status}");
    eventually("every port closed", Duration::from_secs(20), || {
        let open: Vec<u16> = (0..=3)
            .map(|i| port + i)
            .filter(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            .collect();
        if open.is_empty() {
            Ok(())
        } else {
            Err(format!("still open: {open:?}"))
        }
    });
}
