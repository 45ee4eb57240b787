//! Per-route options (`JwtRoute`): token locations that override the manager's, an empty
//! location list meaning the configured ones, and skipping the revocation check on one route.

use super::*;

#[tokio::test]
async fn route_locations_override_the_manager() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    send(
        &fx.app,
        req("GET", "/cookie-only").bearer(&at.token).empty(),
    )
    .await
    .error(401, "Missing cookie \"access_token_cookie\"");
    let v = send(
        &fx.app,
        req("GET", "/cookie-only")
            .cookie(access_cookie(&at))
            .empty(),
    )
    .await
    .ok();
    assert_eq!(v["location"], "cookies");
    // The manager's own locations still apply elsewhere.
    send(
        &fx.app,
        req("GET", "/protected").cookie(access_cookie(&at)).empty(),
    )
    .await
    .error(401, "Missing Authorization Header");
    let r = send(&fx.app, req("GET", "/query-or-json").empty()).await;
    r.error(
        401,
        "Missing JWT in query_string or json (Missing 'jwt' query paramater; \
         Invalid content-type. Must be application/json.)",
    );
    let r = send(
        &fx.app,
        req("GET", &format!("/query-or-json?jwt={}", at.token)).empty(),
    )
    .await;
    assert_eq!(r.ok()["location"], "query_string");
}

#[tokio::test]
async fn skip_revocation_check_per_route() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fx = fixture(fje(), move |b| {
        b.revocation_check(move |_t| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(true) }
        })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has been revoked");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    send(
        &fx.app,
        req("GET", "/no-revocation").bearer(&at.token).empty(),
    )
    .await
    .ok();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "skipped routes never ask");
}

/// `jwt_required(locations=[])` means the configured locations in flask-jwt-extended
/// (`if not locations: locations = config.token_location`).
#[tokio::test]
async fn empty_route_locations_mean_the_configured_ones() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock)).config(fje()).build();
    let app = scoped("/p", JwtRoute::new().locations([])).with_state(jwt.clone());
    let at = access(&jwt, "alice");
    send(&app, req("GET", "/p").empty())
        .await
        .error(401, "Missing Authorization Header");
    let r = send(&app, req("GET", "/p").bearer(&at.token).empty()).await;
    assert_eq!(r.ok()["location"], "headers");
}
