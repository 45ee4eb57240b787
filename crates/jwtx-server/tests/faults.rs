#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Many instances when something fails: Redis goes away, PostgreSQL goes away, an instance is
//! killed under load. Three real `jwtx serve` processes each; what is stopped is the test's
//! own ([`PrivateRedis`], [`PrivatePostgres`]), so no other test is hurt.
//!
//! Needs `redis-server`, PostgreSQL's `initdb` and `pg_ctl` (for the private servers), and
//! the machine's PostgreSQL and Redis; a test fails, saying what is missing, never skips.
//! Bounds are polled with generous margins (10x): nothing here measures speed.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jwtx_test::pg::{PrivatePostgres, TestDatabase};
use jwtx_test::redis::PrivateRedis;
use support::cluster::{
    Cluster, PASSWORD, block_on, eventually, is_revoked, login_req, logout_req, metric,
    refresh_req, status_is, try_send,
};
use support::{Server, msg};

mod support;

/// `revocation_poll_interval` as configured here (the default, said explicitly).
const POLL: Duration = Duration::from_millis(500);

/// What the instances of these tests are given.
const SETTINGS: &[(&str, &str)] = &[
    ("JWTX_REVOCATION_POLL_INTERVAL", "500ms"),
    ("JWTX_LOGIN_RATE_LIMIT", "3/5m"),
];

/// The longest a request may take while the store is down before it counts as a hang.
const NO_HANG: Duration = Duration::from_secs(15);

/// Waits (up to `bound`) until `token` is refused as revoked on `server`.
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

/// Redis goes away: revocations still reach every instance by polling the log (within the
/// poll interval, with margin), `/metrics` says the fan-out and the shared limits are down,
/// and logins go on with per-instance limits. When Redis is back, both resume by themselves.
#[test]
fn without_redis_revocations_still_propagate_and_logins_go_on() {
    let mut redis = PrivateRedis::start();
    let db = block_on(TestDatabase::create());
    let mut c = Cluster::new(db, Some(&redis.url()), SETTINGS);
    c.start(3);
    for user in ["alice", "bob", "carol", "dave"] {
        c.add_user(user);
    }
    c.metric_everywhere("jwtx_redis_fanout_connected", 1.0, Duration::from_secs(10));
    c.metric_everywhere("jwtx_login_limits_shared", 1.0, Duration::from_secs(10));

    let sessions: Vec<(String, String)> = c
        .servers
        .iter()
        .map(|s| s.tokens("alice", PASSWORD))
        .collect();

    // Redis goes away. Every instance says so in /metrics by itself, before any login asks
    // its limiter.
    redis.kill();
    for (name, value) in [
        ("jwtx_redis_fanout_connected", 0.0),
        ("jwtx_login_limits_shared", 0.0),
    ] {
        c.metric_everywhere(name, value, Duration::from_secs(10));
    }

    // A logout on A reaches B and C by polling the log.
    let (access, _) = &sessions[0];
    let r = c.servers[0].req("POST", "/logout").bearer(access).send();
    assert_eq!(r.status, 200, "{}", r.text);
    for (i, s) in c.servers.iter().enumerate().skip(1) {
        let took = refused_within(
            s,
            access,
            &format!("A's logout refused on instance {i} without Redis"),
            POLL * 10,
        );
        eprintln!("without Redis, A's logout refused on instance {i} after {took:?}");
    }
    // The other sessions are untouched, and logins go on everywhere.
    for (access, _) in &sessions[1..] {
        for s in &c.servers {
            assert_eq!(s.get("/protected", access).status, 200);
        }
    }
    for s in &c.servers {
        let r = s.login("alice", PASSWORD);
        assert_eq!(r.status, 200, "a login without Redis: {}", r.text);
    }

    // Per-instance limits: three failures on A throttle bob on A only.
    for _ in 0..3 {
        let r = c.servers[0].login("bob", "wrong");
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = c.servers[0].login("bob", "wrong");
    assert_eq!(r.status, 429, "A counts on its own: {}", r.text);
    assert!(r.header("retry-after").is_some());
    let r = c.servers[1].login("bob", PASSWORD);
    assert_eq!(r.status, 200, "B has not seen A's failures: {}", r.text);

    redis.start_again();
    c.metric_everywhere("jwtx_redis_fanout_connected", 1.0, Duration::from_secs(20));
    c.metric_everywhere("jwtx_login_limits_shared", 1.0, Duration::from_secs(10));

    // Shared again: one failure for carol on each of A, B and C, then 429 on any of them.
    for s in &c.servers {
        let r = s.login("carol", "wrong");
        assert_eq!(r.status, 401, "{}", r.text);
    }
    for s in &c.servers {
        let r = s.login("carol", PASSWORD);
        assert_eq!(r.status, 429, "limits are shared again: {}", r.text);
    }
    // And the fan-out carries revocations again.
    let (access, _) = c.servers[1].tokens("dave", PASSWORD);
    let r = c.servers[1].req("POST", "/logout").bearer(&access).send();
    assert_eq!(r.status, 200, "{}", r.text);
    for i in [0, 2] {
        refused_within(
            &c.servers[i],
            &access,
            &format!("B's logout refused on instance {i} with Redis back"),
            POLL * 10,
        );
    }
}

/// PostgreSQL goes away: login, refresh and logout answer 503 within seconds, never a
/// success and never a hang; tokens are still vouched for from the mirror until it is older
/// than `revocation_max_lag`, then refused with 503 (and `/readyz` 503) rather than accepted
/// unchecked. When PostgreSQL is back, every instance recovers by itself, and what answered
/// 503 changed nothing.
#[test]
fn without_postgres_writes_answer_503_and_tokens_fail_closed_past_the_lag() {
    const MAX_LAG: Duration = Duration::from_secs(3);
    let mut pg = PrivatePostgres::start();
    let redis = jwtx_test::redis::require_machine_redis();
    let db = block_on(TestDatabase::create_on(&pg.url()));
    let mut c = Cluster::new(
        db,
        Some(&redis),
        &[
            ("JWTX_REVOCATION_POLL_INTERVAL", "500ms"),
            ("JWTX_REVOCATION_MAX_LAG", "3s"),
        ],
    );
    c.start(3);
    c.add_user("alice");
    let (access, refresh) = c.servers[0].tokens("alice", PASSWORD);
    let (other_access, _) = c.servers[1].tokens("alice", PASSWORD);
    for s in &c.servers {
        assert_eq!(s.get("/protected", &access).status, 200);
        assert_eq!(s.req("GET", "/readyz").send().status, 200);
    }

    pg.stop();
    let stopped = Instant::now();
    // Within the allowed lag, the mirror still vouches for tokens. The lag only grows while
    // the store is down, so when the lag read just before plus the time since is under the
    // bound (with half a second to spare), the request was within it.
    for (i, s) in c.servers.iter().enumerate() {
        let before = Instant::now();
        let lag = Duration::from_secs_f64(metric(s, "jwtx_revocation_lag_seconds").unwrap());
        let r = s.get("/protected", &access);
        if lag + before.elapsed() + Duration::from_millis(500) < MAX_LAG {
            assert_eq!(r.status, 200, "instance {i}, lag {lag:?}: {}", r.text);
        } else {
            eprintln!("instance {i}: the lag ({lag:?}) was near the bound; not checked");
        }
    }

    // Writes answer 503 within seconds, never a success: a login on A, a refresh on B and a
    // logout on C at once, while the mirror still vouches for their tokens, so that each
    // reaches the store and finds it gone.
    let (a, b, cc) = (c.servers[0].addr, c.servers[1].addr, c.servers[2].addr);
    let writes = [
        ("login", login_req(a, "alice", PASSWORD), 0),
        ("refresh", refresh_req(b, &refresh), 1),
        ("logout", logout_req(cc, &other_access), 2),
    ];
    let lags: Vec<(Instant, Duration)> = writes
        .iter()
        .map(|(_, _, i)| {
            let at = Instant::now();
            let lag = metric(&c.servers[*i], "jwtx_revocation_lag_seconds").unwrap();
            (at, Duration::from_secs_f64(lag))
        })
        .collect();
    let sending: Vec<_> = writes
        .into_iter()
        .map(|(what, req, i)| {
            let addr = [a, b, cc][i];
            std::thread::spawn(move || {
                let sent = Instant::now();
                let r = try_send(addr, &req, Duration::from_secs(60))
                    .unwrap_or_else(|e| panic!("{what} without PostgreSQL: {e}"));
                (what, i, sent, sent.elapsed(), r)
            })
        })
        .collect();
    for t in sending {
        let (what, i, sent, took, r) = t.join().unwrap();
        assert_eq!(r.status, 503, "{what} without PostgreSQL: {}", r.text);
        assert!(took < NO_HANG, "{what} took {took:?} to answer 503");
        let (read_at, lag) = lags[i];
        let vouched = lag + sent.duration_since(read_at) + Duration::from_millis(500) < MAX_LAG;
        if vouched {
            assert_eq!(
                msg(&r),
                "Service temporarily unavailable; nothing was changed, try again",
                "{what} reached the store"
            );
        }
        eprintln!(
            "{what} without PostgreSQL: 503 after {took:?} ({})",
            if vouched {
                "the store's refusal"
            } else {
                "the lag was near the bound"
            }
        );
    }

    // Past the allowed lag, no token is vouched for.
    for (i, s) in c.servers.iter().enumerate() {
        eventually(
            &format!("instance {i} refuses tokens with 503 past the lag"),
            MAX_LAG * 10,
            || status_is(&s.get("/protected", &access), 503),
        );
        eprintln!(
            "instance {i}: tokens answer 503 {:?} after PostgreSQL stopped",
            stopped.elapsed()
        );
        let r = s.req("GET", "/readyz").send();
        assert_eq!(r.status, 503, "{}", r.text);
        let lag = metric(s, "jwtx_revocation_lag_seconds").unwrap();
        assert!(lag > MAX_LAG.as_secs_f64(), "lag {lag}");
    }
    let first = metric(&c.servers[0], "jwtx_revocation_lag_seconds").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let later = metric(&c.servers[0], "jwtx_revocation_lag_seconds").unwrap();
    assert!(
        later > first,
        "the lag grows while the store is down: {first} then {later}"
    );
    pg.start_again();
    for (i, s) in c.servers.iter().enumerate() {
        eventually(
            &format!("instance {i} vouches for tokens again"),
            Duration::from_secs(30),
            || status_is(&s.get("/protected", &access), 200),
        );
        eventually(
            &format!("instance {i} ready again"),
            Duration::from_secs(30),
            || status_is(&s.req("GET", "/readyz").send(), 200),
        );
        eventually(
            &format!("instance {i} logs in again"),
            Duration::from_secs(30),
            || status_is(&s.login("alice", PASSWORD), 200),
        );
    }
    // The logout that answered 503 ended nothing; the refresh that did rotated nothing.
    for s in &c.servers {
        let r = s.get("/protected", &other_access);
        assert_eq!(
            r.status, 200,
            "the session the failed logout named: {}",
            r.text
        );
    }
    let r = c.servers[2].req("POST", "/refresh").bearer(&refresh).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["refresh_token"].is_string(),
        "the failed refresh did not rotate the token: {}",
        r.text
    );
}

/// An instance killed with SIGKILL under load: every logout that was answered 200 (by A, or
/// by B before it died) holds on the survivors A and C.
#[test]
fn a_killed_instance_loses_no_acknowledged_logout() {
    let redis = jwtx_test::redis::require_machine_redis();
    let db = block_on(TestDatabase::create());
    let mut c = Cluster::new(
        db,
        Some(&redis),
        &[
            ("JWTX_REVOCATION_POLL_INTERVAL", "500ms"),
            // Many logins from 127.0.0.1 within seconds.
            ("JWTX_LOGIN_IP_RATE_LIMIT", "10000/1m"),
        ],
    );
    c.start(3);
    c.add_user("via-a");
    c.add_user("via-b");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String, &'static str)>::new()));
    let load: Vec<_> = [
        (c.servers[0].addr, "via-a", "A"),
        (c.servers[1].addr, "via-b", "B"),
    ]
    .into_iter()
    .map(|(addr, user, name)| {
        let stop = stop.clone();
        let acknowledged = acknowledged.clone();
        std::thread::spawn(move || {
            let timeout = Duration::from_secs(30);
            let mut errors = 0;
            while !stop.load(Ordering::Relaxed) {
                let logged_in = try_send(addr, &login_req(addr, user, PASSWORD), timeout);
                let Ok(r) = logged_in
                    .as_ref()
                    .map_err(|_| ())
                    .and_then(|r| if r.status == 200 { Ok(r) } else { Err(()) })
                else {
                    errors += 1;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let access = r.json["access_token"].as_str().unwrap().to_owned();
                let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
                match try_send(addr, &logout_req(addr, &access), timeout) {
                    Ok(r) if r.status == 200 => {
                        acknowledged.lock().unwrap().push((access, refresh, name));
                    }
                    _ => errors += 1,
                }
            }
            errors
        })
    })
    .collect();
    let started = Instant::now();
    // Load until each client has had a few logouts acknowledged (or 3 s), then kill B.
    while started.elapsed() < Duration::from_secs(3) {
        let done = acknowledged
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.2 == "B")
            .count();
        if done >= 5 && started.elapsed() > Duration::from_millis(1_200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = c.servers.remove(1);
    let dir = b.kill();
    let _ = std::fs::remove_dir_all(dir);
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::Relaxed);
    let errors: Vec<usize> = load.into_iter().map(|t| t.join().unwrap()).collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let from = |n| acknowledged.iter().filter(|t| t.2 == n).count();
    eprintln!(
        "acknowledged logouts: {} through A, {} through B (failed requests, mostly B's after the kill: {errors:?})",
        from("A"),
        from("B")
    );
    assert!(
        from("A") >= 1 && from("B") >= 1,
        "the load ran through both: {acknowledged:?}"
    );
    // Every acknowledged logout holds on A and C (the survivors; now servers 0 and 1).
    for (access, refresh, via) in &acknowledged {
        for (name, s) in [("A", &c.servers[0]), ("C", &c.servers[1])] {
            refused_within(
                s,
                access,
                &format!("a logout acknowledged by {via}, on {name}"),
                POLL * 10,
            );
            let r = s.req("POST", "/refresh").bearer(refresh).send();
            assert!(
                is_revoked(&r),
                "its refresh token on {name}: {r:?} {}",
                msg(&r)
            );
        }
    }
    eprintln!("checked {:?} after the kill", killed_at.elapsed());
    // The survivors serve on.
    let (access, _) = c.servers[1].tokens("via-b", PASSWORD);
    assert_eq!(c.servers[0].get("/protected", &access).status, 200);
}
