//! When verification runs: never for `OPTIONS` requests (CORS preflights pass through), and
//! exactly once per request however many extractors ask for the token.

use super::*;

// ------------------------------------------------------------------ OPTIONS

#[tokio::test]
async fn options_requests_are_never_verified() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(false) }
        })
    });
    // Option<Jwt>: the handler runs with None, even with a garbage token.
    let r = send(
        &fx.app,
        req("OPTIONS", "/optional").bearer("garbage").empty(),
    )
    .await;
    assert_eq!(r.ok(), json!({ "identity": null, "location": null }));
    let at = access(&fx.jwt, "alice");
    let r = send(
        &fx.app,
        req("OPTIONS", "/optional").bearer(&at.token).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], Value::Null);
    // A required token on OPTIONS is the application's mistake: a JSON 500, never a panic.
    for path in [
        "/protected",
        "/fresh",
        "/refresh",
        "/any",
        "/roles",
        "/user",
        "/several",
    ] {
        let r = send(&fx.app, req("OPTIONS", path).bearer(&at.token).empty()).await;
        assert_eq!(
            r.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: {}",
            r.body
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("www-authenticate"), None);
        assert!(
            r.body.starts_with("{\"msg\":\"") && r.body.ends_with("\"}\n"),
            "{}",
            r.body
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// ------------------------------------------------------------------ one verification

#[tokio::test]
async fn one_verification_per_request() {
    let revocations = Arc::new(AtomicUsize::new(0));
    let lookups = Arc::new(AtomicUsize::new(0));
    let (r, l) = (revocations.clone(), lookups.clone());
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            r.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(false) }
        })
        .user_loader(move |t| {
            l.fetch_add(1, Ordering::SeqCst);
            let name = t.sub().to_owned();
            async move { Ok::<_, std::io::Error>(Some(User { name, admin: false })) }
        })
    });
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/several").bearer(&at.token).empty()).await;
    assert_eq!(r.ok(), json!({ "same": true }));
    assert_eq!(revocations.load(Ordering::SeqCst), 1);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    let r = send(&fx.app, req("GET", "/user").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["name"], "alice");
    assert_eq!(revocations.load(Ordering::SeqCst), 2);
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}
