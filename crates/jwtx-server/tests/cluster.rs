#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Many instances: three real `jwtx serve` processes on one PostgreSQL database (the machine's,
//! a fresh database per test) and the machine's Redis (a key prefix per test, removed at the
//! end), as a deployment runs them (docs/configuration.md, "Many instances").
//!
//! Needs the machine's PostgreSQL and Redis; a test fails, saying how to start them, when
//! they are missing. Bounds are polled with generous margins (10x): nothing here measures
//! speed.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwtx_test::pg::TestDatabase;
use serde_json::Value;
use sqlx::{Connection, Executor};
use support::cluster::{
    Cluster, PASSWORD, block_on, eventually, is_revoked, refresh_req, status_is, try_send,
};
use support::{Server, msg};

mod support;

/// How often the instances read the revocation log in the wake-up tests: the slowest allowed,
/// so that within a test's run only a Redis wake-up can apply another instance's revocation.
const SLOW_POLL: &[(&str, &str)] = &[
    ("JWTX_REVOCATION_POLL_INTERVAL", "60s"),
    ("JWTX_REVOCATION_MAX_LAG", "10m"),
];

/// How long a revocation on one instance may take to be refused on the others: the default
/// poll interval (500 ms), ten times over. With Redis it is a wake-up, far quicker.
const PROPAGATION_BOUND: Duration = Duration::from_secs(5);

/// A deployment on a fresh database of the machine's PostgreSQL and the machine's Redis.
fn cluster(extra: &[(&str, &str)]) -> Cluster {
    let redis = jwtx_test::redis::require_machine_redis();
    let db = block_on(TestDatabase::create());
    Cluster::new(db, Some(&redis), extra)
}

/// `(access, refresh)` from a login of `user` on `server`.
fn tokens(server: &Server, user: &str) -> (String, String) {
    server.tokens(user, PASSWORD)
}

/// Waits (up to 10 s) until every instance is subscribed to the Redis revocation channel.
fn wait_fanout(c: &Cluster) {
    c.metric_everywhere("jwtx_redis_fanout_connected", 1.0, Duration::from_secs(10));
}

/// Waits (up to `bound`) until `token` is refused as revoked on `server`; returns how long.
#[track_caller]
fn refused_within(server: &Server, token: &str, what: &str, bound: Duration) -> Duration {
    eventually(what, bound, || {
        let r = server.get("/protected", token);
        if is_revoked(&r) {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text))
        }
    })
    .1
}

/// A token issued on A works on B and C (HS256: the secret generated into the database by
/// the first instance), a refresh token too, and /me reads the shared user.
#[test]
fn tokens_issued_on_one_instance_work_on_the_others() {
    let mut c = cluster(&[]);
    c.start(3);
    c.add_user("alice");
    assert!(
        c.servers[0]
            .stderr_containing("secret generated into the store")
            .contains("secret generated into the store"),
        "A generates the HMAC secret into the store: {}",
        c.servers[0].stderr()
    );
    for s in &c.servers[1..] {
        assert!(
            s.stderr_containing("secret from the store")
                .contains("secret from the store"),
            "B and C read the secret A generated: {}",
            s.stderr()
        );
    }
    for (i, issuer) in c.servers.iter().enumerate() {
        let (access, refresh) = tokens(issuer, "alice");
        for s in &c.servers {
            let r = s.get("/protected", &access);
            assert_eq!(r.status, 200, "token of {i} on {}: {}", s.addr, r.text);
            assert_eq!(r.json["logged_in_as"], "alice");
            let r = s.get("/me", &access);
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["identity"], "alice");
        }
        // The refresh token is rotated by another instance, and its tokens work on a third.
        let other = &c.servers[(i + 1) % 3];
        let r = other.req("POST", "/refresh").bearer(&refresh).send();
        assert_eq!(r.status, 200, "{}", r.text);
        let access2 = r.json["access_token"].as_str().unwrap();
        assert!(r.json["refresh_token"].is_string(), "{}", r.text);
        let r = c.servers[(i + 2) % 3].get("/protected", access2);
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// ES256: the first instance generates the signing key into the store, the others sign and
/// verify with it; the JWKS is the same on all three.
#[test]
fn an_asymmetric_key_generated_by_the_first_instance_serves_every_instance() {
    let mut c = cluster(&[("JWTX_ALGORITHM", "ES256")]);
    c.start(3);
    c.add_user("alice");
    assert!(
        c.servers[0]
            .stderr_containing("generated and stored")
            .contains("generated and stored"),
        "A generates the key: {}",
        c.servers[0].stderr()
    );
    let jwks: Vec<Value> = c
        .servers
        .iter()
        .map(|s| {
            let r = s.req("GET", "/.well-known/jwks.json").send();
            assert_eq!(r.status, 200, "{}", r.text);
            r.json
        })
        .collect();
    let keys = jwks[0]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "one key: {}", jwks[0]);
    assert_eq!(keys[0]["alg"], "ES256", "{}", jwks[0]);
    assert_eq!(jwks[1], jwks[0], "the same JWKS on A and B");
    assert_eq!(jwks[2], jwks[0], "the same JWKS on A and C");
    for (i, issuer) in c.servers.iter().enumerate() {
        let (access, _) = tokens(issuer, "alice");
        let header = jwtx::dangerous::unverified_header(&access, 8192).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], keys[0]["kid"], "signed with the stored key");
        for s in &c.servers {
            let r = s.get("/protected", &access);
            assert_eq!(r.status, 200, "token of {i} on {}: {}", s.addr, r.text);
        }
    }
}

/// A logout on C is refused on A and B. The instances poll the log only every 60 s here, so
/// the refusal within the bound is Redis's wake-up at work.
#[test]
fn a_logout_on_one_instance_is_refused_on_the_others() {
    let mut c = cluster(SLOW_POLL);
    c.start(3);
    c.add_user("alice");
    wait_fanout(&c);
    let (access, refresh) = tokens(&c.servers[2], "alice");
    for s in &c.servers {
        let r = s.get("/protected", &access);
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = c.servers[2].req("POST", "/logout").bearer(&access).send();
    assert_eq!(r.status, 200, "{}", r.text);
    for (i, s) in c.servers[..2].iter().enumerate() {
        let took = refused_within(
            s,
            &access,
            &format!("C's logout refused on instance {i}"),
            PROPAGATION_BOUND,
        );
        eprintln!("C's logout refused on instance {i} after {took:?} (poll every 60 s)");
        let r = s.req("POST", "/refresh").bearer(&refresh).send();
        assert!(is_revoked(&r), "the session's refresh token: {r:?}");
    }
}

/// 20 refreshes of one refresh token at once, spread over the three instances: exactly one
/// rotates it (a new refresh token); every other answers as the reuse grace window says (200,
/// an access token, no refresh token), and the session goes on with the one new token.
#[test]
fn concurrent_refreshes_over_three_instances_rotate_once() {
    const N: usize = 20;
    let mut c = cluster(&[]);
    c.start(3);
    c.add_user("alice");
    let (_, refresh) = tokens(&c.servers[0], "alice");
    let addrs: Vec<_> = c.servers.iter().map(|s| s.addr).collect();
    let barrier = Arc::new(Barrier::new(N));
    let answers: Vec<_> = (0..N)
        .map(|i| {
            let addr = addrs[i % 3];
            let refresh = refresh.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let req = refresh_req(addr, &refresh);
                barrier.wait();
                try_send(addr, &req, Duration::from_secs(30))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    let mut rotated = Vec::new();
    for (i, r) in answers.iter().enumerate() {
        assert_eq!(
            r.status,
            200,
            "refresh {i} on instance {}: {}",
            i % 3,
            r.text
        );
        let access = r.json["access_token"].as_str().expect("an access token");
        if let Some(next) = r.json["refresh_token"].as_str() {
            rotated.push(next.to_owned());
        }
        // Every access token handed out belongs to the live session.
        let r = c.servers[(i + 1) % 3].get("/protected", access);
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(
        rotated.len(),
        1,
        "exactly one refresh rotates the token, the others are in the grace window: {answers:?}"
    );
    let next = &rotated[0];
    assert_ne!(next, &refresh);
    // The session goes on with the new refresh token, on any instance.
    let r = c.servers[1].req("POST", "/refresh").bearer(next).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json["access_token"].as_str().unwrap();
    assert!(r.json["refresh_token"].is_string(), "{}", r.text);
    let r = c.servers[2].get("/protected", access);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Failed logins over the three instances are counted together (`login_rate_limit` 3/5m):
/// one failure on each of A, B and C, then the fourth attempt on any instance is 429 with
/// `Retry-After`, counted in Redis under the deployment's prefix.
#[test]
fn failed_logins_over_three_instances_are_throttled_together() {
    let mut c = cluster(&[("JWTX_LOGIN_RATE_LIMIT", "3/5m")]);
    c.start(3);
    c.add_user("alice");
    c.add_user("bob");
    c.metric_everywhere("jwtx_login_limits_shared", 1.0, Duration::from_secs(10));
    for s in &c.servers {
        let r = s.login("alice", "wrong password");
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(msg(&r), "Bad username or password");
    }
    for (i, s) in c.servers.iter().enumerate() {
        for password in ["wrong again", PASSWORD] {
            let r = s.login("alice", password);
            assert_eq!(r.status, 429, "instance {i}: {}", r.text);
            let retry: u64 = r
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .unwrap();
            assert!((1..=300).contains(&retry), "Retry-After: {retry}");
        }
    }
    // The limit is per username: another user from the same address logs in.
    let r = c.servers[1].login("bob", PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text);
    let keys = jwtx_test::redis::keys(c.redis_url.as_deref().unwrap(), &c.prefix);
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{}login:failures:", c.prefix))),
        "the failures are counted in Redis under the deployment's prefix: {keys:?}"
    );
}

/// `jwtx revoke --user NAME` (the CLI, on the same database and Redis) reaches every instance:
/// the user's tokens issued before it are refused on all three, other users' are not. The
/// instances poll only every 60 s here: the CLI's Redis announcement wakes them.
#[test]
fn jwtx_revoke_user_reaches_every_instance() {
    let mut c = cluster(SLOW_POLL);
    c.start(3);
    c.add_user("mallory");
    c.add_user("alice");
    wait_fanout(&c);
    let issued: Vec<(String, String)> = c.servers.iter().map(|s| tokens(s, "mallory")).collect();
    let (bystander, _) = tokens(&c.servers[0], "alice");
    for s in &c.servers {
        for (access, _) in &issued {
            assert_eq!(s.get("/protected", access).status, 200);
        }
    }
    let out = c.jwtx(&["revoke", "--user", "mallory"], None);
    assert!(
        out.status.success(),
        "jwtx revoke --user: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    for (i, s) in c.servers.iter().enumerate() {
        for (j, (access, refresh)) in issued.iter().enumerate() {
            refused_within(
                s,
                access,
                &format!("mallory's token from instance {j} refused on instance {i}"),
                PROPAGATION_BOUND,
            );
            let r = s.req("POST", "/refresh").bearer(refresh).send();
            assert!(is_revoked(&r), "mallory's refresh token: {r:?}");
        }
        let r = s.get("/protected", &bystander);
        assert_eq!(r.status, 200, "another user's token: {}", r.text);
    }
    eprintln!(
        "jwtx revoke --user refused on all three within {:?} (poll every 60 s)",
        started.elapsed()
    );
}

/// Three instances started at the same moment on an empty database all come up (one
/// migrates, one generates the secret or key, the others take it) and accept each other's
/// tokens; HS256 and ES256.
#[test]
fn instances_starting_at_once_on_an_empty_database_agree() {
    for (alg, generated, taken) in [
        (
            "HS256",
            "secret generated into the store",
            "secret from the store",
        ),
        ("ES256", "generated and stored", "from the store"),
    ] {
        let mut c = cluster(&[("JWTX_ALGORITHM", alg)]);
        c.start_at_once(3);
        let winners = c
            .servers
            .iter()
            .filter(|s| s.stderr_containing("algorithm:").contains(generated))
            .count();
        assert_eq!(winners, 1, "{alg}: exactly one instance generates the key");
        for s in &c.servers {
            assert!(
                s.stderr().contains(generated) || s.stderr().contains(taken),
                "{alg}: {}",
                s.stderr()
            );
        }
        c.add_user("alice");
        for (i, issuer) in c.servers.iter().enumerate() {
            let (access, _) = tokens(issuer, "alice");
            for s in &c.servers {
                let r = s.get("/protected", &access);
                assert_eq!(
                    r.status, 200,
                    "{alg}: token of {i} on {}: {}",
                    s.addr, r.text
                );
            }
        }
        let jwks: BTreeSet<String> = c
            .servers
            .iter()
            .map(|s| s.req("GET", "/.well-known/jwks.json").send().text)
            .collect();
        assert_eq!(jwks.len(), 1, "{alg}: one JWKS on all three: {jwks:?}");
    }
}

/// `jwtx serve --demo` on a PostgreSQL database exits 2 naming --demo, and creates no user.
#[test]
fn demo_is_refused_on_postgres() {
    let c = cluster(&[]);
    let out = c.jwtx(&["serve", "--demo", "--bind", "127.0.0.1:0"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--demo"), "{stderr}");
    let out = c.jwtx(&["user", "list", "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(users, serde_json::json!([]), "no demo account was created");
}

/// A log entry of a kind this version does not know (written by a newer jwtx during a rolling
/// upgrade) makes every instance fail closed: protected routes and /readyz answer 503, since
/// the entry may revoke anything. Once it is gone they recover by themselves.
#[test]
fn an_unknown_log_entry_makes_every_instance_fail_closed_until_it_is_gone() {
    let mut c = cluster(&[]);
    c.start(3);
    c.add_user("alice");
    let (access, _) = tokens(&c.servers[0], "alice");
    for s in &c.servers {
        assert_eq!(s.get("/protected", &access).status, 200);
        assert_eq!(s.req("GET", "/readyz").send().status, 200);
    }
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3_600;
    let url = c.db.url().to_owned();
    let sql = |statement: String| {
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            conn.execute(&*statement).await.unwrap();
            conn.close().await.unwrap();
        });
    };
    sql(format!(
        "INSERT INTO revocations (kind, subject, until) VALUES ('future-kind', 'x', {until})"
    ));
    for (i, s) in c.servers.iter().enumerate() {
        eventually(
            &format!("instance {i} refuses every token"),
            PROPAGATION_BOUND,
            || status_is(&s.get("/protected", &access), 503),
        );
        let r = s.req("GET", "/readyz").send();
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(msg(&r), "revocation log unreadable", "{}", r.text);
        // A login still succeeds (it needs no vouching), but its token is refused too.
        let (fresh, _) = tokens(s, "alice");
        assert_eq!(s.get("/protected", &fresh).status, 503);
    }
    sql("DELETE FROM revocations WHERE kind = 'future-kind'".to_owned());
    for (i, s) in c.servers.iter().enumerate() {
        eventually(
            &format!("instance {i} vouches for tokens again"),
            PROPAGATION_BOUND,
            || status_is(&s.get("/protected", &access), 200),
        );
        eventually(
            &format!("instance {i} ready again"),
            PROPAGATION_BOUND,
            || status_is(&s.req("GET", "/readyz").send(), 200),
        );
    }
}

/// `key_rotation_interval` on three instances (ES256): the schedule rotates (a pending key,
/// published ahead, then signing), one instance acting per rotation: keys begin to sign at
/// least an interval apart, never two in one period. Tokens signed by any generation verify
/// on every instance, and `jwtx keys rotate` from the CLI reaches all three live.
#[test]
fn scheduled_rotation_is_acted_on_by_one_instance() {
    let mut c = cluster(&[
        ("JWTX_ALGORITHM", "ES256"),
        ("JWTX_ACCESS_TOKEN_EXPIRES", "2m"),
        ("JWTX_REFRESH_TOKEN_EXPIRES", "2m"),
        ("JWTX_JWKS_MAX_AGE", "0s"),
        ("JWTX_KEY_PUBLISH_LEAD", "1s"),
        ("JWTX_KEY_ROTATION_INTERVAL", "3s"),
    ]);
    c.start(3);
    c.add_user("alice");
    let (first, _) = tokens(&c.servers[0], "alice");
    let keys = |c: &Cluster| -> Vec<Value> {
        let out = c.jwtx(&["keys", "list", "--json"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    // At least three scheduled rotations (about 4 s each), bounded at ten times that.
    eventually(
        "three scheduled rotations",
        Duration::from_secs(120),
        || {
            let n = keys(&c).len();
            if n >= 4 {
                Ok(())
            } else {
                Err(format!("{n} keys"))
            }
        },
    );
    let listed = keys(&c);
    let mut starts: Vec<u64> = listed
        .iter()
        .map(|k| k["activates_at"].as_u64().unwrap())
        .collect();
    starts.sort_unstable();
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= 3,
            "two rotations within one interval (more than one instance acted): {listed:#?}"
        );
    }
    assert!(
        listed.iter().filter(|k| k["status"] == "pending").count() <= 1,
        "{listed:#?}"
    );
    // Every generation's tokens verify everywhere; the first is still within its lifetime.
    let (latest, _) = tokens(&c.servers[2], "alice");
    for s in &c.servers {
        assert_eq!(s.get("/protected", &first).status, 200);
        assert_eq!(s.get("/protected", &latest).status, 200);
    }
}
