//! RedisHints against the machine's Redis (a unique prefix per test), and across a restart of
//! a private one.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{Cleanup, eventually, machine, notified_within};
use jwtx_auth::RevocationHints;
use jwtx_redis::{RedisHints, RedisTarget};
use jwtx_test::redis::PrivateRedis;

/// How long a hint may take to arrive (it takes milliseconds).
const ARRIVES: Duration = Duration::from_secs(5);
/// How long to wait for a hint that must not arrive.
const QUIET: Duration = Duration::from_millis(500);
/// How long a (re)subscription may take.
const SUBSCRIBES: Duration = Duration::from_secs(10);

async fn connected(hints: &[&RedisHints]) {
    eventually("every RedisHints subscribed", SUBSCRIBES, || {
        hints.iter().all(|h| h.is_connected())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_wakes_the_other_instances_of_the_deployment_only() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let other_prefix = Cleanup::new(&redis);
    let a = RedisHints::start(&redis, &keys.prefix, "deployment-1").unwrap();
    let b = RedisHints::start(&redis, &keys.prefix, "deployment-1").unwrap();
    let elsewhere = RedisHints::start(&redis, &keys.prefix, "deployment-2").unwrap();
    let other = RedisHints::start(&redis, &other_prefix.prefix, "deployment-1").unwrap();
    connected(&[&a, &b, &elsewhere, &other]).await;
    assert_eq!(a.channel(), format!("{}revocations", keys.prefix));

    RevocationHints::announce(&a);
    assert!(
        notified_within(&b.wakeups(), ARRIVES).await,
        "an announcement must wake another instance of the deployment"
    );
    assert_eq!(b.stats().received, 1);

    // The announcer and the other deployment received it, and ignored it.
    eventually("the announcer saw its own hint", ARRIVES, || {
        a.stats().ignored == 1
    })
    .await;
    eventually("the other deployment saw the hint", ARRIVES, || {
        elsewhere.stats().ignored == 1
    })
    .await;
    assert!(
        !notified_within(&a.wakeups(), QUIET).await,
        "an instance must not be woken by its own announcement"
    );
    assert!(
        !notified_within(&elsewhere.wakeups(), QUIET).await,
        "another deployment's announcement must not wake"
    );
    assert!(
        !notified_within(&other.wakeups(), QUIET).await,
        "an announcement under another prefix must not wake"
    );
    assert_eq!(other.stats().received + other.stats().ignored, 0);

    // Both ways, and through publish() too.
    b.publish().await.unwrap();
    assert!(notified_within(&a.wakeups(), ARRIVES).await);
    assert!(a.stats().published == 1 && b.stats().published == 1);

    // A burst of announcements while one is in flight is coalesced, never lost entirely.
    for _ in 0..100 {
        a.announce();
    }
    assert!(notified_within(&b.wakeups(), ARRIVES).await);
    // (Counted when Redis's reply arrives, which may be after b has the message.)
    eventually("the burst was published", ARRIVES, || {
        a.stats().published >= 2
    })
    .await;
    assert_eq!(a.stats().publish_failures, 0, "{:?}", a.stats());

    for h in [&a, &b, &elsewhere, &other] {
        h.shutdown().await;
        assert!(!h.is_connected());
    }
    // After shutdown an announcement is dropped quietly.
    a.announce();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_malformed_messages_do_not_wake() {
    let redis = machine();
    let keys = Cleanup::new(&redis);
    let b = RedisHints::start(&redis, &keys.prefix, "deployment-1").unwrap();
    let foreign = RedisHints::start(&redis, &keys.prefix, "deployment-2").unwrap();
    connected(&[&b, &foreign]).await;

    // A real message of another deployment, captured by subscribing to the channel.
    let mut spy = redis.client().get_async_pubsub().await.unwrap();
    spy.subscribe(b.channel()).await.unwrap();
    foreign.publish().await.unwrap();
    let captured: String = {
        use futures_util::StreamExt as _;
        let mut stream = spy.on_message();
        tokio::time::timeout(ARRIVES, stream.next())
            .await
            .unwrap()
            .unwrap()
            .get_payload()
            .unwrap()
    };
    assert!(captured.contains(r#""v":1"#), "{captured}");
    assert!(
        !captured.contains("deployment-2"),
        "a hint must not carry the deployment id itself: {captured}"
    );

    let mut conn = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let malformed = [
        "".to_owned(),
        "garbage".to_owned(),
        "{}".to_owned(),
        r#"{"v":1}"#.to_owned(),
        r#"{"v":1,"deployment":42,"instance":"x"}"#.to_owned(),
        captured.replace(r#""v":1"#, r#""v":2"#),
        format!("{captured}{}", " ".repeat(2000)),
    ];
    for body in &malformed {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(b.channel())
            .arg(body)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // The other deployment's own message, replayed with another instance id.
    let replayed = captured.replace(r#""instance":""#, r#""instance":"x"#);
    let _: i64 = redis::cmd("PUBLISH")
        .arg(b.channel())
        .arg(&replayed)
        .query_async(&mut conn)
        .await
        .unwrap();

    eventually("every forged message was seen", ARRIVES, || {
        let s = b.stats();
        s.malformed == malformed.len() as u64 && s.ignored == 2
    })
    .await;
    assert!(
        !notified_within(&b.wakeups(), QUIET).await,
        "a malformed or foreign message must not wake: {:?}",
        b.stats()
    );
    assert_eq!(b.stats().received, 0);
    b.shutdown().await;
    foreign.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_resumes_by_itself_after_a_redis_restart() {
    let mut server = PrivateRedis::start();
    let redis = RedisTarget::parse(&server.url()).unwrap();
    let a = RedisHints::start(&redis, "jwtx:", "deployment").unwrap();
    let b = RedisHints::start(&redis, "jwtx:", "deployment").unwrap();
    connected(&[&a, &b]).await;
    a.announce();
    assert!(notified_within(&b.wakeups(), ARRIVES).await);

    server.kill();
    eventually(
        "the subscriptions noticed Redis went away",
        SUBSCRIBES,
        || !a.is_connected() && !b.is_connected(),
    )
    .await;
    // While Redis is down: announce returns at once, publish fails within its timeout.
    let t = Instant::now();
    a.announce();
    assert!(t.elapsed() < Duration::from_secs(1));
    let err = tokio::time::timeout(Duration::from_secs(20), a.publish())
        .await
        .expect("publish must give up by itself")
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    // Both the announcement and the publish failed: nothing is left to send after the
    // restart, so only the resubscription can wake b then.
    eventually("the queued hint failed", SUBSCRIBES, || {
        a.stats().publish_failures == 2
    })
    .await;
    // Down for a while: the publisher's connection gives up reconnecting (it tries again on
    // the next command).
    tokio::time::sleep(Duration::from_secs(2)).await;

    server.start_again();
    connected(&[&a, &b]).await;
    // A hint may have been missed while down: a resubscription wakes once.
    assert!(
        notified_within(&b.wakeups(), ARRIVES).await,
        "a resubscription must wake the follower once"
    );
    assert!(b.stats().resubscriptions >= 1);

    // Fan-out works again, without any help: one announcement is enough.
    a.announce();
    assert!(
        notified_within(&b.wakeups(), ARRIVES).await,
        "fan-out must resume after Redis comes back: {:?}",
        a.stats()
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_redis_is_down_and_connects_when_it_comes() {
    let mut server = PrivateRedis::start();
    server.kill();
    let redis = RedisTarget::parse(&server.url()).unwrap();
    let a = RedisHints::start(&redis, "jwtx:", "deployment").unwrap();
    let b = RedisHints::start(&redis, "jwtx:", "deployment").unwrap();
    tokio::time::sleep(QUIET).await;
    assert!(!a.is_connected() && !b.is_connected());
    a.announce();
    eventually("the hint failed", SUBSCRIBES, || {
        a.stats().publish_failures == 1
    })
    .await;

    server.start_again();
    connected(&[&a, &b]).await;
    // Subscribed only after failing at first: a hint may have been missed, so it wakes.
    assert!(notified_within(&b.wakeups(), ARRIVES).await);
    a.announce();
    assert!(notified_within(&b.wakeups(), ARRIVES).await);
    drop(a);
    drop(b);
}

#[test]
fn start_needs_a_runtime_and_a_well_formed_url() {
    let redis = RedisTarget::parse("redis://127.0.0.1:1").unwrap();
    assert!(matches!(
        RedisHints::start(&redis, "jwtx:", "d"),
        Err(jwtx_redis::Error::NoRuntime)
    ));
    assert!(matches!(
        RedisTarget::parse("redis//nope"),
        Err(jwtx_redis::Error::Url(_))
    ));
}
