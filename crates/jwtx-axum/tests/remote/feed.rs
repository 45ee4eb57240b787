//! The revocation feed follower.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jwtx::Codec;
use jwtx_axum::remote::{FeedMode, RevocationFeed};
use serde_json::json;

use crate::mock::CREDENTIAL;
use crate::*;

const MAX_LAG: Duration = Duration::from_millis(900);
const WITHIN: Duration = Duration::from_secs(20);
const FAR: u64 = 4_000_000_000;

/// An issuer with key `a`, a downstream app following its keys and feed in `mode`.
async fn downstream(mode: FeedMode) -> (Arc<Issuer>, Codec, Router, RevocationFeed) {
    let (issuer, a) = issuer_with_a().await;
    let keys = ready(keys_builder(&issuer)).await;
    let feed = RevocationFeed::builder(issuer.url("/revocations"), CREDENTIAL)
        .max_lag(MAX_LAG)
        .mode(mode)
        .start()
        .unwrap();
    assert!(feed.ready(WITHIN).await, "the feed never reached the head");
    let app = app(manager(keys, Some(feed.clone())));
    (issuer, a, app, feed)
}

fn with(a: &Codec, claims: serde_json::Value) -> String {
    token(a, claims)
}

async fn revocations_apply(mode: FeedMode) {
    let (issuer, a, app, _feed) = downstream(mode).await;
    let s1 = with(&a, json!({"sid": "s1"}));
    let s2 = with(&a, json!({"sid": "s2"}));
    assert_eq!(call(&app, &s1).await.0, 200);
    // A session revoked at the issuer: 401 downstream, other sessions unaffected.
    issuer.append(json!({"kind": "session", "id": "s1", "until": FAR}));
    assert_eq!(until(&app, &s1, 401, WITHIN).await, (401, REVOKED.into()));
    assert_eq!(call(&app, &s2).await.0, 200);
    // A token by jti, a user's cut-off.
    let t = a.access_token("bob").sign().unwrap();
    assert_eq!(call(&app, &t.token).await.0, 200);
    issuer.append(json!({"kind": "token", "jti": t.jti(), "until": FAR}));
    assert_eq!(until(&app, &t.token, 401, WITHIN).await.0, 401);
    let c = a.access_token("carol").sign().unwrap().token;
    assert_eq!(call(&app, &c).await.0, 200);
    issuer.append(json!({"kind": "user", "user": "carol", "cutoff": FAR, "until": FAR}));
    assert_eq!(until(&app, &c, 401, WITHIN).await.0, 401);
    // Every request named the credential; the follower never asked beyond the log.
    assert!(!issuer.feed_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_revocation_at_the_issuer_is_refused_downstream_streaming() {
    revocations_apply(FeedMode::Stream).await;
}

#[tokio::test]
async fn a_revocation_at_the_issuer_is_refused_downstream_polling() {
    revocations_apply(FeedMode::Poll).await;
}

#[tokio::test]
async fn a_stream_the_issuer_refuses_falls_back_to_pages() {
    let (issuer, a) = issuer_with_a().await;
    issuer.no_stream.store(true, Ordering::SeqCst);
    let keys = ready(keys_builder(&issuer)).await;
    let feed = RevocationFeed::builder(issuer.url("/revocations"), CREDENTIAL)
        .max_lag(MAX_LAG)
        .start()
        .unwrap();
    assert!(feed.ready(WITHIN).await);
    let app = app(manager(keys, Some(feed)));
    let s1 = with(&a, json!({"sid": "s1"}));
    issuer.append(json!({"kind": "session", "id": "s1", "until": FAR}));
    assert_eq!(until(&app, &s1, 401, WITHIN).await, (401, REVOKED.into()));
    // Stays current on pages: never 503 over several lags.
    let s2 = with(&a, json!({"sid": "s2"}));
    for _ in 0..40 {
        assert_eq!(call(&app, &s2).await.0, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_key_entry_revokes_every_token_of_that_kid() {
    let (issuer, a, app, _feed) = downstream(FeedMode::Stream).await;
    let b = key("b");
    issuer.set_jwks(jwks(&[&a, &b]));
    let by_a = with(&a, json!({}));
    let by_b = with(&b, json!({}));
    assert_eq!(call(&app, &by_b).await.0, 200);
    issuer.append(json!({"kind": "key", "kid": "a", "until": FAR}));
    assert_eq!(until(&app, &by_a, 401, WITHIN).await, (401, REVOKED.into()));
    assert_eq!(call(&app, &by_b).await.0, 200);
}

async fn epoch_change(conflict: bool) {
    let (issuer, a, app, feed) = downstream(FeedMode::Stream).await;
    let x = with(&a, json!({"sid": "x"}));
    let y = with(&a, json!({"sid": "y"}));
    for i in 0..5 {
        issuer.append(json!({"kind": "session", "id": format!("pad{i}"), "until": FAR}));
    }
    issuer.append(json!({"kind": "session", "id": "x", "until": FAR}));
    assert_eq!(until(&app, &x, 401, WITHIN).await.0, 401);
    // A new store: x is not revoked there, y is. With `conflict`, its log is shorter than
    // the follower's cursor (409); else longer, under another epoch.
    let head = if conflict { 1 } else { 10 };
    issuer.replace_log(
        "e2",
        vec![json!({"kind": "session", "id": "y", "until": FAR})],
        head,
    );
    assert_eq!(until(&app, &x, 200, WITHIN).await, (200, "alice".into()));
    assert_eq!(until(&app, &y, 401, WITHIN).await.0, 401);
    assert_eq!(feed.set().cursor(), 1);
    let asked_from_zero = issuer
        .feed_requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(after, _)| *after == 0)
        .count();
    assert!(asked_from_zero >= 2, "the follower did not resync from 0");
}

#[tokio::test]
async fn an_epoch_change_clears_and_resyncs() {
    epoch_change(false).await;
}

#[tokio::test]
async fn a_409_clears_and_resyncs() {
    epoch_change(true).await;
}

async fn unknown_kind(mode: FeedMode) {
    let (issuer, a, app, feed) = downstream(mode).await;
    let s1 = with(&a, json!({"sid": "s1"}));
    let s2 = with(&a, json!({"sid": "s2"}));
    issuer.append(json!({"kind": "session", "id": "s0", "until": FAR}));
    let unknown = issuer.append(json!({"kind": "device", "id": "d1", "until": FAR}));
    issuer.append(json!({"kind": "session", "id": "s1", "until": FAR}));
    // Fail closed: every token 503, while the entry is there.
    assert_eq!(
        until(&app, &s2, 503, WITHIN).await,
        (503, UNAVAILABLE.into())
    );
    tokio::time::sleep(MAX_LAG * 2).await;
    assert_eq!(call(&app, &s2).await, (503, UNAVAILABLE.into()));
    assert_eq!(call(&app, &s1).await.0, 503);
    // Never skipped: the follower keeps asking from before it.
    assert_eq!(feed.set().cursor(), unknown - 1);
    let last_after = issuer.feed_requests.lock().unwrap().last().unwrap().0;
    assert!(
        last_after < unknown,
        "asked after {last_after}, past the unknown entry {unknown}"
    );
    // Once the entry is gone (purged, or the follower upgraded), it reads on.
    issuer.remove(unknown);
    assert_eq!(until(&app, &s2, 200, WITHIN).await, (200, "alice".into()));
    assert_eq!(call(&app, &s1).await, (401, REVOKED.into()));
}

#[tokio::test]
async fn an_unknown_entry_kind_fails_closed_and_is_never_skipped_streaming() {
    unknown_kind(FeedMode::Stream).await;
}

#[tokio::test]
async fn an_unknown_entry_kind_fails_closed_and_is_never_skipped_polling() {
    unknown_kind(FeedMode::Poll).await;
}

#[tokio::test]
async fn the_feed_down_beyond_max_lag_fails_closed_then_recovers() {
    for mode in [FeedMode::Stream, FeedMode::Poll] {
        let (issuer, a, app, _feed) = downstream(mode).await;
        let t = with(&a, json!({"sid": "s9"}));
        assert_eq!(call(&app, &t).await.0, 200);
        // Only the feed goes down (503, streams end); keys stay reachable.
        issuer.feed_down.store(true, Ordering::SeqCst);
        issuer.grew.notify_waiters();
        assert_eq!(
            until(&app, &t, 503, WITHIN).await,
            (503, UNAVAILABLE.into()),
            "{mode:?}"
        );
        // A revocation made while it was down is applied on recovery, without a restart.
        issuer.append(json!({"kind": "session", "id": "s9", "until": FAR}));
        let other = with(&a, json!({"sid": "s10"}));
        issuer.feed_down.store(false, Ordering::SeqCst);
        assert_eq!(until(&app, &other, 200, WITHIN).await.0, 200, "{mode:?}");
        assert_eq!(call(&app, &t).await, (401, REVOKED.into()), "{mode:?}");
    }
}

#[tokio::test]
async fn a_refused_credential_never_vouches_and_is_never_printed() {
    let (issuer, a) = issuer_with_a().await;
    let keys = ready(keys_builder(&issuer)).await;
    let wrong = "jwtxsvc_wrong-credential-0123456789abcdefghijklmnopq";
    let feed = RevocationFeed::builder(issuer.url("/revocations"), wrong)
        .max_lag(MAX_LAG)
        .start()
        .unwrap();
    assert!(!feed.ready(Duration::from_secs(2)).await);
    let app = app(manager(keys, Some(feed.clone())));
    assert_eq!(
        call(&app, &with(&a, json!({}))).await,
        (503, UNAVAILABLE.into())
    );
    let debug = format!(
        "{feed:?} {:?}",
        RevocationFeed::builder("https://x.example/r", wrong)
    );
    assert!(!debug.contains("wrong-credential"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    // Bad credentials are refused at build.
    for bad in ["", "has space", "tab\there"] {
        assert!(
            RevocationFeed::builder(issuer.url("/revocations"), bad)
                .start()
                .is_err(),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn skip_revocation_check_routes_skip_the_feed() {
    let (issuer, a, _app, feed) = downstream(FeedMode::Stream).await;
    let keys = ready(keys_builder(&issuer)).await;
    let m = manager(keys, Some(feed));
    let app = Router::new()
        .route(
            "/whoami",
            axum::routing::get(|jwt: jwtx_axum::Jwt| async move { jwt.identity().to_owned() })
                .route_layer(jwtx_axum::JwtRoute::new().skip_revocation_check()),
        )
        .with_state(m);
    let t = with(&a, json!({"sid": "s1"}));
    issuer.append(json!({"kind": "session", "id": "s1", "until": FAR}));
    issuer.feed_down.store(true, Ordering::SeqCst);
    tokio::time::sleep(MAX_LAG * 2).await;
    assert_eq!(call(&app, &t).await, (200, "alice".into()));
}

#[tokio::test]
async fn a_keys_notice_in_the_feed_refreshes_the_key_set() {
    let (issuer, a) = issuer_with_a().await;
    // No scheduled refresh during the test: only the notice can cause a fetch.
    let keys = ready(
        keys_builder(&issuer).refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await;
    let feed = RevocationFeed::builder(issuer.url("/revocations"), CREDENTIAL)
        .max_lag(MAX_LAG)
        .start()
        .unwrap();
    let _m = manager(keys.clone(), Some(feed.clone()));
    assert!(feed.ready(WITHIN).await);
    assert_eq!(issuer.fetches(), 1);
    let b = key("b");
    issuer.set_jwks(jwks(&[&a, &b]));
    issuer.append(json!({"kind": "keys", "kid": "b", "until": FAR}));
    let deadline = std::time::Instant::now() + WITHIN;
    while keys.kids().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the notice did not refresh the keys"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(issuer.fetches(), 2);
}
