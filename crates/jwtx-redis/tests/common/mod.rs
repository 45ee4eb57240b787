//! What the jwtx-redis tests share: Redis targets, key clean-up, and polling with generous
//! bounds (no test asserts how fast something is, only that it happens within 10× its bound).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    dead_code,
    unreachable_pub
)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jwtx_redis::RedisTarget;
use tokio::sync::Notify;

/// The machine's Redis (the test fails, saying how to start it, if none answers).
pub fn machine() -> RedisTarget {
    RedisTarget::parse(&jwtx_test::redis::require_machine_redis()).unwrap()
}

/// Deletes every key under a prefix when dropped (also when the test fails).
pub struct Cleanup {
    pub target: RedisTarget,
    pub prefix: String,
}

impl Cleanup {
    pub fn new(target: &RedisTarget) -> Self {
        Cleanup {
            target: target.clone(),
            prefix: jwtx_test::redis::unique_prefix(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(mut conn) = self.target.client().get_connection() else {
            return;
        };
        let keys = keys(&mut conn, &self.prefix);
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

/// Every key under `prefix` (SCAN MATCH prefix*).
pub fn keys(conn: &mut redis::Connection, prefix: &str) -> Vec<String> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(conn)
            .unwrap();
        out.extend(batch);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

/// Whether `notify` is notified within `bound`.
pub async fn notified_within(notify: &Arc<Notify>, bound: Duration) -> bool {
    tokio::time::timeout(bound, notify.notified()).await.is_ok()
}

/// Polls `cond` every 20 ms until it holds; panics after `bound` naming `what`.
pub async fn eventually(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + bound;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still not so after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `f`, panicking if it takes longer than `bound` (a hang, not a slow machine).
pub async fn answers_within<T>(what: &str, bound: Duration, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(bound, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {bound:?}"),
    }
}
