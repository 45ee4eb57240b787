//! RedisLimiter against the machine's Redis (a unique prefix per test): two limiters with one
//! prefix stand for two instances of a deployment. And across a Redis outage, with a private
//! one.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::{Cleanup, answers_within, eventually, machine};
use jwtx_auth::throttle::{LoginThrottle, ThrottleConfig, ThrottleLimit};
use jwtx_auth::{LoginLimiter, Refusal};
use jwtx_redis::{RedisLimiter, RedisTarget};
use jwtx_test::redis::PrivateRedis;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const OTHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// Bound on one limiter call while Redis is away: 10× its 300 ms deadline.
const ANSWERS: Duration = Duration::from_secs(3);

fn limited(r: Result<(), Refusal>) -> jwtx_auth::throttle::RetryAfter {
    match r {
        Err(Refusal::Limited(retry)) => retry,
        other => panic!("expected a Limited refusal, got {other:?}"),
    }
}

/// One failed login: check (must pass), then record the failure.
async fn fail(l: &RedisLimiter, user: &str, ip: IpAddr) {
    l.check(user, ip).await.unwrap();
    l.record_failure(user, ip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_spread_over_two_instances_are_counted_together() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let config = ThrottleConfig::default();
    let one = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let two = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let user = format!("alice-{}", jwtx::uuid4());

    let t0 = Instant::now();
    for i in 0..5 {
        let l = if i % 2 == 0 { &one } else { &two };
        fail(l, &user, IP).await;
    }
    for l in [&one, &two] {
        let retry = limited(l.check(&user, IP).await);
        assert_eq!(retry.limit(), ThrottleLimit::UserAddress);
        // The first failure leaves the 5-minute window 300 s after it was made.
        let elapsed = t0.elapsed().as_secs();
        assert!(
            (300 - elapsed - 1..=300).contains(&retry.as_secs()),
            "Retry-After {} s, {elapsed} s after the first failure",
            retry.as_secs()
        );
    }
    // Only this name from this address.
    two.check(&user, OTHER_IP).await.unwrap();
    one.check(&format!("{user}-bob"), IP).await.unwrap();
    one.check(&user.to_uppercase(), IP).await.unwrap();
    assert_eq!(one.hits() + two.hits(), 2);

    // A success on one instance clears the failures for both.
    two.record_success(&user, IP).await;
    one.check(&user, IP).await.unwrap();
    for i in 0..4 {
        let l = if i % 2 == 0 { &two } else { &one };
        fail(l, &user, IP).await;
    }
    one.check(&user, IP).await.unwrap();
    one.record_failure(&user, IP).await;
    limited(two.check(&user, IP).await);

    for l in [&one, &two] {
        assert!(!l.is_degraded());
        assert_eq!(l.fallbacks(), 0);
    }

    // In Redis: no name, only hashes; every key expires.
    let mut conn = redis.client().get_connection().unwrap();
    let stored = common::keys(&mut conn, &keys.prefix);
    assert!(!stored.is_empty());
    for key in &stored {
        assert!(
            !key.contains("alice"),
            "a name must never be stored in Redis: {key}"
        );
        assert!(key.starts_with(&format!("{}login:", keys.prefix)), "{key}");
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        assert!(ttl > 0, "{key} must expire, PTTL {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_limit_is_shared() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let config = ThrottleConfig {
        attempts_per_ip: 10,
        ..ThrottleConfig::default()
    };
    let one = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let two = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let t0 = Instant::now();
    for i in 0..10 {
        let l = if i % 2 == 0 { &one } else { &two };
        l.check(&format!("user{i}"), IP).await.unwrap();
    }
    for l in [&one, &two] {
        let retry = limited(l.check("someone", IP).await);
        assert_eq!(retry.limit(), ThrottleLimit::Address);
        let elapsed = t0.elapsed().as_secs();
        assert!(
            (60 - elapsed - 1..=60).contains(&retry.as_secs()),
            "Retry-After {} s, {elapsed} s after the first attempt",
            retry.as_secs()
        );
    }
    // Refused attempts were not counted; another address has its own budget.
    one.check("someone", OTHER_IP).await.unwrap();
    // An IPv6 /64 is one address; an IPv4-mapped address is its IPv4 address.
    let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, last));
    for i in 0..10u16 {
        let l = if i % 2 == 0 { &one } else { &two };
        l.check("v6", host(i)).await.unwrap();
    }
    limited(two.check("v6", host(999)).await);
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    limited(one.check("mapped", mapped).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_are_remembered_for_every_instance_and_prefixes_isolate() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let elsewhere = Cleanup::new(&redis);
    let config = ThrottleConfig::default();
    let one = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let two = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let other = RedisLimiter::start(&redis, &elsewhere.prefix, config).unwrap();
    let user = format!("carol-{}", jwtx::uuid4());
    let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));

    assert!(!one.recently_succeeded(&user, host(1)).await);
    one.record_success(&user, host(1)).await;
    assert!(two.recently_succeeded(&user, host(1)).await);
    assert!(two.recently_succeeded(&user, host(2)).await, "IPv6 by /64");
    assert!(!two.recently_succeeded(&user, OTHER_IP).await);
    assert!(!two.recently_succeeded(&format!("{user}x"), host(1)).await);
    assert!(!other.recently_succeeded(&user, host(1)).await);

    // Names are keyed by their first 256 bytes, as LoginThrottle keys them.
    let long = format!("{}{}", "é".repeat(128), jwtx::uuid4());
    two.record_success(&format!("{long}-1"), IP).await;
    assert!(one.recently_succeeded(&format!("{long}-2"), IP).await);

    // Another prefix counts apart.
    for _ in 0..5 {
        fail(&one, &user, IP).await;
    }
    limited(two.check(&user, IP).await);
    other.check(&user, IP).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longer_wait_wins_when_both_limits_refuse() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let config = ThrottleConfig {
        attempts_per_ip: 5,
        ..ThrottleConfig::default()
    };
    let one = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let two = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    for l in [&one, &two, &one, &two, &one] {
        fail(l, "alice", IP).await;
    }
    let both = limited(two.check("alice", IP).await);
    assert_eq!(both.limit(), ThrottleLimit::UserAddress);
    assert!((295..=300).contains(&both.as_secs()), "{both:?}");
    let ip_only = limited(one.check("bob", IP).await);
    assert_eq!(ip_only.limit(), ThrottleLimit::Address);
    assert!((55..=60).contains(&ip_only.as_secs()), "{ip_only:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_ends_when_retry_after_says() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let config = ThrottleConfig {
        failures_per_user_ip: 2,
        failure_window: Duration::from_secs(3),
        ..ThrottleConfig::default()
    };
    let one = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    let two = RedisLimiter::start(&redis, &keys.prefix, config).unwrap();
    fail(&one, "dave", IP).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fail(&two, "dave", IP).await;
    // The oldest failure leaves the window first: 3 s after it, under 2 s from now (the
    // newest would be 3 s).
    let retry = limited(one.check("dave", IP).await);
    assert!(retry.as_secs() <= 2, "{retry:?}");
    tokio::time::sleep(retry.duration() + Duration::from_millis(50)).await;
    two.check("dave", IP).await.unwrap();
    // One slot only: the second failure is still in the window.
    one.record_failure("dave", IP).await;
    limited(one.check("dave", IP).await);
}

/// A small deterministic generator for the differential test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Random sequences of logins on two instances answer as one LoginThrottle does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_as_one_login_throttle_would() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let config = ThrottleConfig {
        failures_per_user_ip: 3,
        attempts_per_ip: 12,
        ..ThrottleConfig::default()
    };
    let instances = [
        RedisLimiter::start(&redis, &keys.prefix, config).unwrap(),
        RedisLimiter::start(&redis, &keys.prefix, config).unwrap(),
    ];
    let oracle = LoginThrottle::new(config);
    let users = ["u1", "u2", "U1", "u3"];
    let ips = [
        IP,
        OTHER_IP,
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 2)),
        IpAddr::V6(Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped()),
    ];
    let mut rng = Lcg(7);
    let mut refusals = 0;
    for step in 0..400 {
        let l = &instances[rng.next(2) as usize];
        let user = users[rng.next(users.len() as u64) as usize];
        let ip = ips[rng.next(ips.len() as u64) as usize];
        match rng.next(10) {
            0..=5 => {
                let got = l.check(user, ip).await;
                let want = oracle.check(user, ip, Instant::now());
                match (&got, &want) {
                    (Ok(()), Ok(())) => {}
                    (Err(Refusal::Limited(g)), Err(w)) => {
                        refusals += 1;
                        assert_eq!(g.limit(), w.limit(), "step {step}");
                        assert!(g.as_secs().abs_diff(w.as_secs()) <= 1, "step {step}");
                    }
                    _ => panic!("step {step}: {user} from {ip}: got {got:?}, want {want:?}"),
                }
                if got.is_ok() {
                    if rng.next(4) == 0 {
                        l.record_success(user, ip).await;
                        oracle.record_success(user, ip);
                    } else {
                        l.record_failure(user, ip).await;
                        oracle.record_failure(user, ip, Instant::now());
                    }
                }
            }
            6 | 7 => {
                let got = l.recently_succeeded(user, ip).await;
                let want = oracle.recently_succeeded(user, ip, Instant::now());
                assert_eq!(got, want, "step {step}: recently_succeeded({user}, {ip})");
            }
            _ => {
                l.record_failure(user, ip).await;
                oracle.record_failure(user, ip, Instant::now());
            }
        }
    }
    assert!(
        refusals > 20,
        "the sequence must reach the limits ({refusals} refusals)"
    );
    for l in &instances {
        assert!(!l.is_degraded());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_per_instance_while_redis_is_away_and_shares_again_after() {
    let mut server = PrivateRedis::start();
    let redis = RedisTarget::parse(&server.url()).unwrap();
    let config = ThrottleConfig {
        failures_per_user_ip: 3,
        ..ThrottleConfig::default()
    };
    let one = RedisLimiter::start(&redis, "jwtx:", config).unwrap();
    let two = RedisLimiter::start(&redis, "jwtx:", config).unwrap();
    one.check("warm", IP).await.unwrap();
    two.check("warm", IP).await.unwrap();
    // Oscar uses up his failures through instance one while Redis answers.
    for _ in 0..3 {
        fail(&one, "oscar", IP).await;
    }
    limited(two.check("oscar", IP).await);
    assert!(!one.is_degraded() && !two.is_degraded());

    server.kill();
    // Every call still answers, from the in-process fallback.
    for _ in 0..3 {
        answers_within(
            "check while Redis is away",
            ANSWERS,
            one.check("mallory", IP),
        )
        .await
        .unwrap();
        answers_within(
            "record_failure while Redis is away",
            ANSWERS,
            one.record_failure("mallory", IP),
        )
        .await;
    }
    assert!(one.is_degraded());
    assert!(one.fallbacks() > 0);
    // The fallback limits apply: this instance refuses …
    let retry = limited(answers_within("check", ANSWERS, one.check("mallory", IP)).await);
    assert_eq!(retry.limit(), ThrottleLimit::UserAddress);
    // … the other one, which saw none of it, does not (per-instance limits).
    answers_within("check", ANSWERS, two.check("mallory", IP))
        .await
        .unwrap();
    assert!(two.is_degraded());
    // Stopping Redis hands out no fresh budget: instance one saw Oscar's failures as they
    // happened, and still counts them.
    let retry = limited(answers_within("check", ANSWERS, one.check("oscar", IP)).await);
    assert_eq!(retry.limit(), ThrottleLimit::UserAddress);
    assert!(
        !answers_within(
            "recently_succeeded",
            ANSWERS,
            two.recently_succeeded("x", IP)
        )
        .await
    );
    one.purge();

    server.start_again();
    eventually(
        "the limiters found Redis again by themselves",
        Duration::from_secs(20),
        || !one.is_degraded() && !two.is_degraded(),
    )
    .await;
    // Counting is shared again.
    let before = one.fallbacks() + two.fallbacks();
    for i in 0..3 {
        let l = if i % 2 == 0 { &one } else { &two };
        fail(l, "trudy", IP).await;
    }
    assert_eq!(
        limited(two.check("trudy", IP).await).limit(),
        ThrottleLimit::UserAddress
    );
    limited(one.check("trudy", IP).await);
    assert_eq!(one.fallbacks() + two.fallbacks(), before);
    one.record_success("trudy", OTHER_IP).await;
    assert!(two.recently_succeeded("trudy", OTHER_IP).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_redis_is_down() {
    let mut server = PrivateRedis::start();
    server.kill();
    let redis = RedisTarget::parse(&server.url()).unwrap();
    let l = RedisLimiter::start(&redis, "jwtx:", ThrottleConfig::default()).unwrap();
    answers_within("check", ANSWERS, l.check("eve", IP))
        .await
        .unwrap();
    assert!(l.is_degraded());
    server.start_again();
    eventually("the limiter found Redis", Duration::from_secs(20), || {
        !l.is_degraded()
    })
    .await;
    l.check("eve", IP).await.unwrap();
    assert!(format!("{l:?}").contains("RedisLimiter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_is_not_waited_for() {
    let server = PrivateRedis::start();
    let redis = RedisTarget::parse(&server.url()).unwrap();
    let l = RedisLimiter::start(&redis, "jwtx:", ThrottleConfig::default()).unwrap();
    l.check("frank", IP).await.unwrap();
    assert!(!l.is_degraded());

    // Redis holds every client's commands for 3 s: alive, but far slower than the deadline.
    let mut admin = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "3000", "ALL"])
        .query_async(&mut admin)
        .await
        .unwrap();
    answers_within("check while Redis is slow", ANSWERS, l.check("frank", IP))
        .await
        .unwrap();
    assert!(l.is_degraded());
    assert!(l.fallbacks() >= 1);
    eventually(
        "the limiter found Redis answering again",
        Duration::from_secs(20),
        || !l.is_degraded(),
    )
    .await;
    l.check("frank", IP).await.unwrap();
}
