//! The token utilities on `JwtManager`: `decode_token`, `get_jti`, `get_csrf_token` and
//! `get_unverified_header`.

use super::*;

#[test]
fn decode_token_get_jti_get_csrf_token_unverified_header() {
    let clock = Arc::new(FixedClock::new(T0));
    let jwt = JwtManager::builder(codec(&clock))
        .config(fje())
        .revocation_check(|_t| async { Ok::<_, std::io::Error>(true) })
        .build();
    let at = jwt
        .access_token("alice")
        .claim("roles", json!(["user"]))
        .sign()
        .unwrap();
    let rt = refresh_token(&jwt, "alice");
    // decode_token: signature and claims only (no type, revocation, freshness).
    let d = jwt.decode_token(&at.token).unwrap();
    assert_eq!(d.sub(), "alice");
    assert_eq!(d.custom()["roles"], json!(["user"]));
    assert_eq!(
        jwt.decode_token(&rt.token).unwrap().token_type().as_str(),
        "refresh"
    );
    assert_eq!(jwt.get_jti(&at.token).unwrap().as_deref(), Some(at.jti()));
    assert_eq!(jwt.get_csrf_token(&at.token).unwrap().as_deref(), at.csrf());
    assert_ne!(at.csrf(), rt.csrf());
    let h = jwt.unverified_header(&at.token).unwrap();
    assert_eq!(Value::Object(h), json!({ "alg": "HS256", "typ": "JWT" }));

    let e = jwt.decode_token("garbage").unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.message().as_ref()),
        (422, "Not enough segments")
    );
    assert_eq!(
        jwt.unverified_header("a.b").unwrap_err().message(),
        "Not enough segments"
    );

    // Another key's token: the signature fails, also for the helpers.
    let other =
        Codec::new(Key::hmac(Algorithm::HS256, b"another secret of at least 32 bytes").unwrap())
            .with_clock(clock.clone());
    let foreign = other.access_token("eve").sign().unwrap();
    assert_eq!(
        jwt.decode_token(&foreign.token).unwrap_err().message(),
        "Signature verification failed"
    );
    assert!(jwt.get_jti(&foreign.token).is_err());
    assert!(jwt.get_csrf_token(&foreign.token).is_err());
    // …but its header can be read unverified.
    assert_eq!(
        jwt.unverified_header(&foreign.token).unwrap()["alg"],
        "HS256"
    );

    // Expired: refused, unless asked for explicitly.
    clock.set(T0 + 900);
    let e = jwt.decode_token(&at.token).unwrap_err();
    assert_eq!((e.kind(), e.status().as_u16()), (ErrorKind::Expired, 401));
    let d = jwt.decode_token_allow_expired(&at.token).unwrap();
    assert_eq!((d.sub(), d.claims().exp), ("alice", Some(T0 + 900)));
    assert!(jwt.decode_token_allow_expired(&foreign.token).is_err());
}
