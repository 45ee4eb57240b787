//! The manager's callbacks: the revocation check (true, and failing), token verification
//! returning false (400), the user loader and `CurrentUser` (and its misconfiguration: a 500,
//! never a panic), additional claims and headers loaders, encode-key and decode-keys loaders
//! (also for `decode_token` with `allow_expired`), the error handler, a configurable error
//! message key, and the RFC 6750 error style.

use super::*;

#[tokio::test]
async fn revocation_check_true_and_failing() {
    let blocklist = Arc::new(Mutex::new(HashSet::<String>::new()));
    let b = blocklist.clone();
    let fx = fixture(fje(), move |builder| {
        builder.revocation_check(move |t| {
            let revoked = b.lock().unwrap().contains(t.jti().unwrap_or_default());
            async move { Ok::<_, std::io::Error>(revoked) }
        })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    blocklist.lock().unwrap().insert(at.jti().to_owned());
    send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .error(401, "Token has been revoked");
    // A revoked token on a route taking the other type reports the type first.
    send(&fx.app, req("POST", "/refresh").bearer(&at.token).empty())
        .await
        .error(422, "Only refresh tokens are allowed");

    let fx = fixture(fje(), |b| {
        b.revocation_check(|_t| async { Err::<bool, _>(std::io::Error::other("redis down")) })
    });
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    r.error(503, "Authentication is temporarily unavailable");
    assert!(!r.body.contains("redis"), "the cause stays in the logs");
    // Optional routes do not turn a store failure into "no token".
    send(&fx.app, req("GET", "/optional").bearer(&at.token).empty())
        .await
        .error(503, "Authentication is temporarily unavailable");
}

#[tokio::test]
async fn token_verification_false_is_400() {
    let fx = fixture(fje(), |b| b.token_verification(|t| t.sub() != "mallory"));
    let ok = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/protected").bearer(&ok.token).empty())
        .await
        .ok();
    let bad = access(&fx.jwt, "mallory");
    send(&fx.app, req("GET", "/protected").bearer(&bad.token).empty())
        .await
        .error(400, "User claims verification failed");
}

fn users() -> impl FnOnce(JwtManagerBuilder) -> JwtManagerBuilder {
    |b| {
        b.user_loader(|t| async move {
            Ok::<_, std::io::Error>(match t.sub() {
                "alice" => Some(User {
                    name: "Alice".into(),
                    admin: true,
                }),
                "broken" => return Err(std::io::Error::other("db down")),
                _ => None,
            })
        })
    }
}

#[tokio::test]
async fn user_loader_and_current_user() {
    let fx = fixture(fje(), users());
    let alice = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/user").bearer(&alice.token).empty()).await;
    assert_eq!(r.ok(), json!({ "name": "Alice", "admin": true }));
    // Every protected route loads the user, as flask-jwt-extended does.
    let ghost = access(&fx.jwt, "ghost");
    send(&fx.app, req("GET", "/user").bearer(&ghost.token).empty())
        .await
        .error(401, "Error loading the user ghost");
    send(
        &fx.app,
        req("GET", "/protected").bearer(&ghost.token).empty(),
    )
    .await
    .error(401, "Error loading the user ghost");
    // The identity in the message is written as Flask's jsonify writes it (ASCII only).
    let r = send(
        &fx.app,
        req("GET", "/user")
            .bearer(&access(&fx.jwt, "b\u{e9}b").token)
            .empty(),
    )
    .await;
    assert_eq!(r.body, "{\"msg\":\"Error loading the user b\\u00e9b\"}\n");
    let broken = access(&fx.jwt, "broken");
    send(&fx.app, req("GET", "/user").bearer(&broken.token).empty())
        .await
        .error(503, "Authentication is temporarily unavailable");
    send(&fx.app, req("GET", "/user").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn current_user_misconfigured_is_a_500_not_a_panic() {
    let fx = plain(fje());
    let at = access(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/user").bearer(&at.token).empty()).await;
    r.error(500, "CurrentUser needs JwtManagerBuilder::user_loader");
    let fx = fixture(fje(), |b| {
        b.user_loader(|_t| async { Ok::<_, std::io::Error>(Some(42_u32)) })
    });
    let at = access(&fx.jwt, "alice");
    send(&fx.app, req("GET", "/user").bearer(&at.token).empty())
        .await
        .error(500, "CurrentUser<U>: U is not the user loader's type");
}

#[tokio::test]
async fn additional_claims_and_headers_loaders() {
    let fx = fixture(fje(), |b| {
        b.additional_claims(|identity| {
            let mut m = Map::new();
            m.insert("roles".into(), json!([format!("role-of-{identity}")]));
            m.insert("org".into(), "loader".into());
            m
        })
        .additional_headers(|_| {
            let mut m = Map::new();
            m.insert("x-loader".into(), true.into());
            m
        })
    });
    let mut explicit = Map::new();
    explicit.insert("org".into(), "explicit".into());
    let at = fx
        .jwt
        .access_token("alice")
        .claims(explicit)
        .sign()
        .unwrap();
    let v = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty())
        .await
        .ok();
    // Claims given at creation win over the loader's.
    assert_eq!(
        v["custom"],
        json!({ "roles": ["role-of-alice"], "org": "explicit" })
    );
    assert_eq!(v["header"]["x-loader"], true);
    // The loaders apply to refresh tokens too.
    let rt = refresh_token(&fx.jwt, "bob");
    let v = send(&fx.app, req("POST", "/refresh").bearer(&rt.token).empty())
        .await
        .ok();
    assert_eq!(
        v["custom"],
        json!({ "roles": ["role-of-bob"], "org": "loader" })
    );
}

#[tokio::test]
async fn encode_key_and_decode_keys_loaders() {
    let tenant_key = || {
        Key::hmac(Algorithm::HS256, b"tenant-b's own secret, 32+ bytes long")
            .unwrap()
            .with_kid("tenant-b")
    };
    let tenant = Arc::new(tenant_key());
    let enc = tenant.clone();
    let encode = move |identity: &str| (identity == "bob").then(|| enc.clone());
    let dec = KeySet::from(tenant_key());
    let fx = fixture(fje(), move |b| {
        b.encode_key(encode.clone())
            .decode_keys(move |header, _payload| {
                (header.get("kid").and_then(Value::as_str) == Some("tenant-b")).then(|| dec.clone())
            })
    });
    let bob = access(&fx.jwt, "bob");
    let v = send(&fx.app, req("GET", "/protected").bearer(&bob.token).empty())
        .await
        .ok();
    assert_eq!(v["header"]["kid"], "tenant-b");
    let alice = access(&fx.jwt, "alice");
    let v = send(
        &fx.app,
        req("GET", "/protected").bearer(&alice.token).empty(),
    )
    .await
    .ok();
    assert_eq!(v["header"].get("kid"), None);
    assert_eq!(fx.jwt.decode_token(&bob.token).unwrap().sub(), "bob");

    // Without the decode-key loader the tenant's token is checked against the one configured
    // (kid-less) secret, whatever kid it names, as flask-jwt-extended does: wrong signature.
    let enc = tenant.clone();
    let fx = fixture(fje(), move |b| {
        b.encode_key(move |identity: &str| (identity == "bob").then(|| enc.clone()))
    });
    let bob = access(&fx.jwt, "bob");
    send(&fx.app, req("GET", "/protected").bearer(&bob.token).empty())
        .await
        .error(422, "Signature verification failed");
}

/// `decode_token(t, allow_expired=True)` picks its key like every other decode: through
/// `decode_key_loader`. An expired token signed with a loader-chosen key must decode.
#[test]
fn decode_token_allow_expired_uses_the_decode_key_loader() {
    let tenant_key = || {
        Key::hmac(Algorithm::HS256, b"tenant-b's own secret, 32+ bytes long")
            .unwrap()
            .with_kid("tenant-b")
    };
    let enc = Arc::new(tenant_key());
    let dec = KeySet::from(tenant_key());
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(fje())
        .encode_key(move |_identity| Some(enc.clone()))
        .decode_keys(move |_header, _payload| Some(dec.clone()))
        .build();
    let bob = access(&jwt, "bob");
    assert_eq!(jwt.decode_token(&bob.token).unwrap().sub(), "bob");
    assert_eq!(
        jwt.decode_token_allow_expired(&bob.token)
            .map(|v| v.sub().to_owned())
            .map_err(|e| e.to_string()),
        Ok("bob".to_owned()),
        "before expiry"
    );
    clock.set(T0 + 3600);
    assert_eq!(
        jwt.decode_token_allow_expired(&bob.token)
            .map(|v| v.sub().to_owned())
            .map_err(|e| e.to_string()),
        Ok("bob".to_owned()),
        "after expiry"
    );
}

#[tokio::test]
async fn error_handler_overrides_responses() {
    let fx = fixture(fje(), |b| {
        b.error_handler(|e, config| match e.kind() {
            ErrorKind::Expired => (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "token_expired", "reason": e.reason() })),
            )
                .into_response(),
            _ => e.default_response(config),
        })
    });
    let at = access(&fx.jwt, "alice");
    fx.clock.set(T0 + 900);
    let r = send(&fx.app, req("GET", "/protected").bearer(&at.token).empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, r#"{"error":"token_expired","reason":"expired"}"#);
    send(&fx.app, req("GET", "/protected").empty())
        .await
        .error(401, "Missing Authorization Header");
}

#[tokio::test]
async fn error_message_key_is_configurable() {
    let mut c = fje();
    c.error_message_key = "error".into();
    let fx = plain(c);
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, "{\"error\":\"Missing Authorization Header\"}\n");
}

#[tokio::test]
async fn rfc6750_error_style() {
    let mut c = fje();
    c.error_style = ErrorStyle::Rfc6750;
    let fx = fixture(c, |b| b.token_verification(|t| t.sub() != "mallory"));
    let check = |r: &Res, www: &str, message: &str| {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.header("www-authenticate"), Some(www));
        assert_eq!(r.body, msg_body(message));
        assert_eq!(r.header("content-type"), Some("application/json"));
    };
    // No token at all: no error code (RFC 6750 §3.1).
    let r = send(&fx.app, req("GET", "/protected").empty()).await;
    check(&r, "Bearer", "Missing Authorization Header");
    let r = send(&fx.app, req("GET", "/protected").bearer("garbage").empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Not enough segments\"",
        "Not enough segments",
    );
    let rt = refresh_token(&fx.jwt, "alice");
    let r = send(&fx.app, req("GET", "/protected").bearer(&rt.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Only non-refresh tokens are allowed\"",
        "Only non-refresh tokens are allowed",
    );
    let bad = access(&fx.jwt, "mallory");
    let r = send(&fx.app, req("GET", "/protected").bearer(&bad.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"User claims verification failed\"",
        "User claims verification failed",
    );
    // Quotes in the message cannot break out of the quoted string.
    let clock = Arc::new(FixedClock::new(T0));
    let strict = codec(&clock).with_validation(jwtx::Validation::new().audience("api"));
    let mut c = fje();
    c.error_style = ErrorStyle::Rfc6750;
    let jwt = JwtManager::builder(strict).config(c).build();
    let app = routes().with_state(jwt.clone());
    let no_aud = access(&jwt, "alice");
    let r = send(&app, req("GET", "/protected").bearer(&no_aud.token).empty()).await;
    check(
        &r,
        "Bearer error=\"invalid_token\", error_description=\"Token is missing the 'aud' claim\"",
        "Token is missing the \"aud\" claim",
    );
}
