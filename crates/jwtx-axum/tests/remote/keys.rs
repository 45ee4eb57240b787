//! The issuer's JWKS as a key source.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jwtx::Algorithm;
use jwtx_axum::remote::{HttpOptions, RemoteError, RemoteKeys, RevocationFeed};
use serde_json::json;

use crate::mock::CREDENTIAL;
use crate::*;

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let (issuer, a) = issuer_with_a().await;
    // The longest cooldown, and no scheduled refresh during the test.
    let keys = ready(
        keys_builder(&issuer)
            .unknown_kid_cooldown(Duration::from_secs(30))
            .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await;
    assert_eq!(issuer.fetches(), 1);
    let app = app(manager(keys, None));

    // 200 concurrent requests, each with a token of a key nobody published, under a new kid.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            let t = token(&key(&format!("random-{i}-{}", jwtx::uuid4())), json!({}));
            tokio::spawn(async move { call(&app, &t).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), (422, UNKNOWN_KID.to_owned()));
    }
    assert_eq!(issuer.fetches(), 2, "one fetch shared by every unknown kid");
    for i in 0..50 {
        let t = token(&key(&format!("later-{i}")), json!({}));
        assert_eq!(call(&app, &t).await.0, 422);
    }
    assert_eq!(issuer.fetches(), 2, "no fetch within the cooldown");
    // Known keys never fetch.
    assert_eq!(call(&app, &token(&a, json!({}))).await.0, 200);
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test]
async fn unknown_kid_fetches_are_spaced_by_the_cooldown() {
    let (issuer, _a) = issuer_with_a().await;
    let cooldown = Duration::from_millis(300);
    let keys = ready(
        keys_builder(&issuer)
            .unknown_kid_cooldown(cooldown)
            .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await;
    let app = app(manager(keys, None));
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        let t = token(&key(&format!("flood-{n}")), json!({}));
        assert_eq!(call(&app, &t).await.0, 422);
        n += 1;
    }
    let elapsed = start.elapsed();
    let fetched = issuer.fetches() - 1;
    let bound = (elapsed.as_millis() / cooldown.as_millis()) as usize + 1;
    assert!(fetched >= 1, "an unknown kid must cause a fetch");
    assert!(
        fetched <= bound,
        "{fetched} fetches for {n} requests in {elapsed:?}: more than one per {cooldown:?}"
    );
    // Every fetch is at least a cooldown after the one before.
    let times = issuer.jwks_times.lock().unwrap().clone();
    // Arrival times: a connect's jitter either way, well under the cooldown.
    for w in times[1..].windows(2) {
        assert!(
            w[1] - w[0] >= cooldown - Duration::from_millis(100),
            "{times:?}"
        );
    }
}

#[tokio::test]
async fn a_new_key_under_a_new_kid_is_picked_up_by_the_unknown_kid_fetch() {
    let (issuer, a) = issuer_with_a().await;
    let keys = ready(
        keys_builder(&issuer)
            .unknown_kid_cooldown(Duration::from_secs(1))
            .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await;
    let app = app(manager(keys.clone(), None));
    let b = key("b");
    issuer.set_jwks(jwks(&[&a, &b]));
    // The request with the new kid waits for the fetch and verifies against the new set.
    assert_eq!(
        call(&app, &token(&b, json!({}))).await,
        (200, "alice".into())
    );
    assert_eq!(issuer.fetches(), 2);
    let mut kids = keys.kids();
    kids.sort();
    assert_eq!(kids, ["a", "b"]);
    // A key dropped from the set stops verifying once the set is fetched again.
    issuer.set_jwks(jwks(&[&b]));
    let c = key("c");
    assert_eq!(call(&app, &token(&c, json!({}))).await.0, 422);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The cooldown spaces the fetches; wait for a later one.
    while call(&app, &token(&a, json!({}))).await.0 == 200 {
        assert!(Instant::now() < deadline, "key a still verifies");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = call(&app, &token(&c, json!({}))).await;
    }
    assert_eq!(
        call(&app, &token(&a, json!({}))).await,
        (422, UNKNOWN_KID.into())
    );
}

#[tokio::test]
async fn cache_control_is_honoured_and_the_set_refreshed_before_it_expires() {
    let (issuer, a) = issuer_with_a().await;
    issuer.jwks.lock().unwrap().cache_control = Some("public, max-age=5".into());
    // No staleness allowed: a set used past its age would answer 503.
    let keys = ready(
        keys_builder(&issuer)
            .refresh_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .max_stale(Duration::ZERO),
    )
    .await;
    let app = app(manager(keys, None));
    let t = token(&a, json!({}));
    let start = Instant::now();
    let mut requests = 0;
    while start.elapsed() < Duration::from_secs(11) {
        assert_eq!(
            call(&app, &t).await,
            (200, "alice".into()),
            "after {:?}",
            start.elapsed()
        );
        requests += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let times = issuer.jwks_times.lock().unwrap().clone();
    // max-age=5 refreshes at 80% (4 s): 3 fetches in 11 s, not one per request.
    assert!(
        (2..=5).contains(&times.len()),
        "{} fetches for {requests} requests",
        times.len()
    );
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap < Duration::from_secs(5) && gap >= Duration::from_millis(3500),
            "refetched {gap:?} after the previous fetch; max-age is 5 s: {times:?}"
        );
    }
}

#[tokio::test]
async fn max_age_is_clamped() {
    let (issuer, _a) = issuer_with_a().await;
    issuer.jwks.lock().unwrap().cache_control = Some("no-store".into());
    let _keys = ready(
        keys_builder(&issuer).refresh_bounds(Duration::from_secs(1), Duration::from_secs(60)),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // no-store counts as 0, clamped to 1 s: a refresh every 0.8 s, 3 or 4 fetches in 3 s.
    let n = issuer.fetches();
    assert!((2..=6).contains(&n), "{n} fetches in 3 s");
}

#[tokio::test]
async fn an_unreachable_issuer_keeps_the_last_set_up_to_the_bound_then_fails_closed() {
    let (issuer, a) = issuer_with_a().await;
    issuer.jwks.lock().unwrap().cache_control = Some("max-age=1".into());
    let max_stale = Duration::from_secs(2);
    let keys = ready(
        keys_builder(&issuer)
            .refresh_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .max_stale(max_stale)
            .http(
                HttpOptions::new()
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(Duration::from_secs(1)),
            ),
    )
    .await;
    let app = app(manager(keys, None));
    let t = token(&a, json!({}));
    assert_eq!(call(&app, &t).await.0, 200);

    issuer.stop();
    let stopped = Instant::now();
    // The last good set serves past its age.
    assert_eq!(call(&app, &t).await.0, 200);
    let got = until(&app, &t, 503, Duration::from_secs(30)).await;
    assert_eq!(got, (503, UNAVAILABLE.into()));
    // The last fetch was at most 0.8 s before the stop; its age (1 s) and the bound (2 s)
    // run out no sooner than 2.2 s after it.
    assert!(
        stopped.elapsed() >= Duration::from_millis(1200),
        "failed closed {:?} after the issuer stopped",
        stopped.elapsed()
    );

    // Back without a restart.
    issuer.resume().await;
    assert_eq!(
        until(&app, &t, 200, Duration::from_secs(30)).await,
        (200, "alice".into())
    );
}

#[tokio::test]
async fn refused_sets_keep_the_last_good_set() {
    let (issuer, a) = issuer_with_a().await;
    let keys = ready(
        keys_builder(&issuer)
            .unknown_kid_cooldown(Duration::ZERO)
            .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await;
    let app = app(manager(keys.clone(), None));
    let b = key("b");
    let mut private_b = public(&b);
    private_b["d"] = "AAAA".into();
    let mut no_alg_b = public(&b);
    no_alg_b.as_object_mut().unwrap().remove("alg");
    let mut dup = public(&b);
    dup["kid"] = "a".into();
    let oct = json!({"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"});
    for (what, set) in [
        ("an oct key", vec![public(&a), public(&b), oct]),
        ("a private member", vec![public(&a), private_b]),
        ("a duplicate kid", vec![public(&a), public(&b), dup]),
        ("a key without alg", vec![public(&a), no_alg_b.clone()]),
        ("not a set", vec![]),
    ] {
        let body = if set.is_empty() {
            "{\"keys\": 1}".to_owned()
        } else {
            json!({ "keys": set }).to_string()
        };
        issuer.set_jwks(body);
        let before = issuer.fetches();
        // b is in the refused set: its token causes a fetch, and stays unknown.
        assert_eq!(
            call(&app, &token(&b, json!({}))).await,
            (422, UNKNOWN_KID.into()),
            "{what}"
        );
        assert_eq!(issuer.fetches(), before + 1, "{what}");
        assert_eq!(call(&app, &token(&a, json!({}))).await.0, 200, "{what}");
        assert_eq!(keys.kids(), ["a"], "{what}");
    }
    // Pinned, a key without alg takes the pinned algorithm.
    issuer.set_jwks(json!({ "keys": [public(&a), no_alg_b] }).to_string());
    let pinned = ready(keys_builder(&issuer).pin_algorithm(Algorithm::ES256)).await;
    let mut kids = pinned.kids();
    kids.sort();
    assert_eq!(kids, ["a", "b"]);
}

#[tokio::test]
async fn transport_rules() {
    // Plain HTTP only to a literal loopback address, for both sources.
    for url in [
        "http://issuer.example/jwks",
        "http://localhost:5000/jwks",
        "http://10.1.2.3/jwks",
        "ftp://127.0.0.1/jwks",
    ] {
        let err = RemoteKeys::builder(url).start().unwrap_err();
        assert!(matches!(err, RemoteError::Url { .. }), "{url}: {err}");
        let err = RevocationFeed::builder(url, CREDENTIAL)
            .start()
            .unwrap_err();
        assert!(matches!(err, RemoteError::Url { .. }), "{url}: {err}");
    }
    let err = RemoteKeys::builder("http://issuer.example/jwks")
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("use https://"), "{err}");
    assert!(
        RemoteKeys::builder("https://issuer.example/jwks")
            .unknown_kid_cooldown(Duration::from_secs(31))
            .start()
            .is_err()
    );

    let (issuer, a) = issuer_with_a().await;
    let quick = || {
        HttpOptions::new()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(2))
    };
    // A redirect is a failed fetch: its target is never asked for.
    let redirected = RemoteKeys::builder(issuer.url("/redirect"))
        .http(quick())
        .start()
        .unwrap();
    assert!(!redirected.ready(Duration::from_secs(2)).await);
    assert_eq!(issuer.fetches(), 0, "the redirect was followed");
    let app_r = app(manager(redirected, None));
    assert_eq!(
        call(&app_r, &token(&a, json!({}))).await,
        (503, UNAVAILABLE.into())
    );

    // A body over the bound is a failed fetch; the same body under a larger bound is not.
    let big = RemoteKeys::builder(issuer.url("/big"))
        .http(quick())
        .start()
        .unwrap();
    assert!(!big.ready(Duration::from_secs(2)).await);
    let roomy = RemoteKeys::builder(issuer.url("/big"))
        .http(quick().max_body(256 * 1024))
        .start()
        .unwrap();
    assert!(roomy.ready(Duration::from_secs(10)).await);

    // jku / x5u are never followed: the core refuses the header before any key is chosen.
    let keys = ready(keys_builder(&issuer)).await;
    let app = app(manager(keys, None));
    let good = token(&a, json!({}));
    let (_, rest) = good.split_once('.').unwrap();
    for param in ["jku", "x5u"] {
        let header = json!({"alg": "ES256", "kid": "a", param: issuer.url("/jku")});
        let h = base64url(header.to_string().as_bytes());
        let forged = format!("{h}.{rest}");
        let (status, _) = call(&app, &forged).await;
        assert_eq!(status, 422, "{param}");
    }
    assert_eq!(issuer.jku_hits.load(Ordering::SeqCst), 0);
}

/// base64url without padding (test helper).
fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn a_downstream_manager_signs_nothing() {
    let (issuer, _a) = issuer_with_a().await;
    let keys = ready(keys_builder(&issuer)).await;
    let m = manager(keys, None);
    assert!(m.access_token("alice").sign().is_err());
}
