//! The cache of verified tokens: a manager with it answers every request exactly as one
//! without it, while token types, freshness, CSRF, revocation, the user loader and the time
//! rules still decide per request.

use super::*;

/// A manager with the cache of verified tokens answers every request exactly as one
/// without it, each request sent twice (the second from the cache): token types, freshness,
/// CSRF, revocation and the user loader still decide per request, and the time rules are
/// asked again as the clock moves (a token expires; one signed ahead becomes valid).
#[tokio::test]
async fn verified_cache_answers_as_verification_does() {
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let deleted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let build = |cache: usize| {
        let (revoked, deleted) = (revoked.clone(), deleted.clone());
        move |b: JwtManagerBuilder| {
            b.verified_cache(cache)
                .revocation_check(move |t| {
                    let r = t.jti().is_some_and(|j| revoked.lock().unwrap().contains(j));
                    async move { Ok::<_, std::io::Error>(r) }
                })
                .user_loader(move |t| {
                    let gone = deleted.lock().unwrap().contains(t.sub());
                    let name = t.sub().to_owned();
                    async move {
                        Ok::<_, std::io::Error>((!gone).then_some(User {
                            admin: name == "root",
                            name,
                        }))
                    }
                })
        }
    };
    let both = || with_locations(&[Location::Headers, Location::Cookies]);
    let cached = fixture(both(), build(64));
    let plain = fixture(both(), build(0));
    // One secret and one time for both managers: one set of tokens serves both.
    let m = &cached.jwt;
    let (a, b, carol) = (access(m, "alice"), access(m, "bob"), access(m, "carol"));
    let r = refresh_token(m, "alice");
    let fresh_token = m.access_token("alice").fresh(true).sign().unwrap();
    cached.clock.set(T0 + 100);
    let ahead = access(m, "dave");
    cached.clock.set(T0);
    let csrf = a.csrf().unwrap().to_owned();
    let requests = || {
        [
            ("access", req("GET", "/protected").bearer(&a.token).empty()),
            ("user", req("GET", "/user").bearer(&b.token).empty()),
            (
                "refresh as access",
                req("GET", "/protected").bearer(&r.token).empty(),
            ),
            ("refresh", req("GET", "/refresh").bearer(&r.token).empty()),
            ("not fresh", req("GET", "/fresh").bearer(&a.token).empty()),
            (
                "fresh",
                req("GET", "/fresh").bearer(&fresh_token.token).empty(),
            ),
            (
                "deleted user",
                req("GET", "/user").bearer(&carol.token).empty(),
            ),
            (
                "signed ahead",
                req("GET", "/protected").bearer(&ahead.token).empty(),
            ),
            (
                "cookie, right csrf",
                req("POST", "/protected")
                    .cookie(access_cookie(&a))
                    .csrf(&csrf)
                    .empty(),
            ),
            (
                "cookie, wrong csrf",
                req("POST", "/protected")
                    .cookie(access_cookie(&a))
                    .csrf("x")
                    .empty(),
            ),
        ]
    };
    let mut statuses = Vec::new();
    for phase in ["now", "revoked and deleted", "16 minutes on"] {
        match phase {
            "revoked and deleted" => {
                revoked
                    .lock()
                    .unwrap()
                    .insert(b.claims.jti.clone().unwrap());
                deleted.lock().unwrap().insert("carol".to_owned());
            }
            "16 minutes on" => {
                cached.clock.advance(16 * 60);
                plain.clock.advance(16 * 60);
            }
            _ => {}
        }
        for _twice in 0..2 {
            for ((what, x), (_, y)) in requests().into_iter().zip(requests()) {
                let (x, y) = (send(&cached.app, x).await, send(&plain.app, y).await);
                assert_eq!(
                    (x.status, &x.body, x.header("www-authenticate")),
                    (y.status, &y.body, y.header("www-authenticate")),
                    "{phase}: {what}"
                );
                statuses.push(x.status.as_u16());
            }
        }
    }
    // The scenarios reach both outcomes: accepted from the cache, and refused by each rule.
    assert_eq!(
        &statuses[..10],
        &[200, 200, 422, 200, 401, 200, 200, 422, 200, 401],
        "first pass at T0"
    );
    assert_eq!(
        &statuses[20..30],
        &[200, 401, 422, 200, 401, 200, 401, 422, 200, 401]
    );
    assert_eq!(
        &statuses[40..50],
        &[401, 401, 422, 200, 401, 401, 401, 200, 401, 401]
    );
    let stats = cached.jwt.verified_cache_stats();
    assert!(stats.hits >= 20, "{stats:?}");
    assert_eq!(plain.jwt.verified_cache_stats(), Default::default());
}
