//! The claims: `exp`, `nbf` and `iat` (expired, not yet valid, leeway, wrong types and ranges:
//! allowed difference 5), `sub` and `jti` types, missing claims, `type` and `fresh` of the wrong
//! type (allowed difference 6), `aud` and `iss` when not configured, and token types, freshness
//! and `verify_type=False`.

use super::*;

/// Reference §c, the claim rows.
#[tokio::test]
async fn claims_checks() {
    let p = |t: String| Req::get("/protected").bearer(&t);
    let w = |t: String| Req::get("/whoami").bearer(&t);
    let n = now();
    let alice = ok(json!({"identity": "alice"}));
    let leeway = json!({"JWT_DECODE_LEEWAY": 300});
    run(vec![
        Case::new("expired", p(forged(json!({"exp": n - 100})))).fje(msg(401, "Token has expired")),
        Case::new("expired a second ago", p(forged(json!({"exp": n - 1})))),
        Case::new("nbf in the future", p(forged(json!({"nbf": n + 600}))))
            .fje(msg(422, "The token is not yet valid (nbf)")),
        Case::new("iat in the future", p(forged(json!({"iat": n + 600}))))
            .fje(msg(422, "The token is not yet valid (iat)")),
        Case::new(
            "iat and nbf in the future",
            p(forged(json!({"iat": n + 600, "nbf": n + 600}))),
        )
        .fje(msg(422, "The token is not yet valid (iat)")),
        Case::new("leeway covers nbf", p(forged(json!({"nbf": n + 100})))).cfg(leeway.clone()),
        Case::new("leeway covers exp", p(forged(json!({"exp": n - 100})))).cfg(leeway.clone()),
        Case::new("leeway exceeded", p(forged(json!({"exp": n - 400}))))
            .cfg(leeway)
            .fje(msg(401, "Token has expired")),
        Case::new("exp not numeric", p(forged(json!({"exp": "abc"}))))
            .fje(msg(422, "Expiration Time claim (exp) must be an integer.")),
        Case::new("iat not numeric", p(forged(json!({"iat": "abc"}))))
            .fje(msg(422, "Issued At claim (iat) must be an integer.")),
        Case::new("nbf not numeric", p(forged(json!({"nbf": "abc"}))))
            .fje(msg(422, "Not Before claim (nbf) must be an integer.")),
        Case::new(
            "exp a numeric string",
            p(forged(json!({"exp": (n + 900).to_string()}))),
        )
        .allowed(allowed::NUMERIC_DATE, alice.clone(), msg(422, EXP_INT)),
        Case::new(
            "iat a numeric string",
            p(forged(json!({"iat": n.to_string()}))),
        )
        .allowed(allowed::NUMERIC_DATE, alice.clone(), msg(422, "Issued At claim (iat) must be an integer.")),
        Case::new(
            "nbf a numeric string",
            p(forged(json!({"nbf": n.to_string()}))),
        )
        .allowed(allowed::NUMERIC_DATE, alice.clone(), msg(422, "Not Before claim (nbf) must be an integer.")),
        Case::new("exp an expired numeric string", p(forged(json!({"exp": (n - 100).to_string()}))))
            .allowed(allowed::NUMERIC_DATE, msg(401, "Token has expired"), msg(422, EXP_INT)),
        Case::new("exp a float", p(forged(json!({"exp": n as f64 + 900.5})))),
        Case::new("iat a float", p(forged(json!({"iat": n as f64 - 0.5})))),
        Case::new("exp true", p(forged(json!({"exp": true}))))
            .allowed(allowed::NUMERIC_DATE, msg(401, "Token has expired"), msg(422, EXP_INT)),
        Case::new("exp a list", p(forged(json!({"exp": [1]})))),
        Case::new(
            "exp null",
            p(forge(HS256_HEADER, &claims(json!({})).replace(&format!("\"exp\":{}", n + 900), "\"exp\":null"))),
        ),
        Case::new("exp negative", p(forged(json!({"exp": -5}))))
            .allowed(allowed::NUMERIC_DATE, msg(401, "Token has expired"), msg(422, EXP_INT)),
        Case::new("exp huge", p(forged(json!({"exp": 1e300}))))
            .allowed(allowed::NUMERIC_DATE, alice.clone(), msg(422, EXP_INT)),
        Case::new("exp 2^53", p(forged(json!({"exp": 1u64 << 53})))),
        Case::new("sub a number", p(forged(json!({"sub": 123}))))
            .fje(msg(422, "Subject must be a string")),
        Case::new("sub an object", p(forged(json!({"sub": {"id": 1}}))))
            .fje(msg(422, "Subject must be a string")),
        Case::new(
            "sub null",
            p(forge(HS256_HEADER, &claims(json!({})).replace("\"sub\":\"alice\"", "\"sub\":null"))),
        ),
        Case::new("sub empty", p(forged(json!({"sub": ""})))),
        Case::new("jti a number", p(forged(json!({"jti": 5}))))
            .fje(msg(422, "JWT ID must be a string")),
        Case::new("no sub", p(forged(json!({"sub": null})))).fje(msg(422, "Missing claim: sub")),
        Case::new("no jti, no csrf, no nbf", w(forged(json!({"jti": null, "csrf": null, "nbf": null})))),
        Case::new("no exp", w(forged(json!({"exp": null}))))
            .no_exp()
            .fje(ok(json!({"identity": "alice", "type": "access", "fresh": false, "location": "headers"}))),
        Case::new("minimal {sub}", w(forge(HS256_HEADER, r#"{"sub":"alice"}"#)))
            .no_exp()
            .fje(ok(json!({"identity": "alice", "type": "access", "fresh": false, "location": "headers"}))),
        Case::new("type other", w(forged(json!({"type": "other"})))),
        Case::new("type a number", w(forged(json!({"type": 5})))).allowed(
            allowed::CLAIM_TYPE,
            ok(json!({"identity": "alice", "type": 5, "fresh": false, "location": "headers"})),
            msg(422, "Invalid claim format in token: type"),
        ),
        Case::new("fresh a string", w(forged(json!({"fresh": "yes"})))).allowed(
            allowed::CLAIM_TYPE,
            ok(json!({"identity": "alice", "type": "access", "fresh": "yes", "location": "headers"})),
            msg(422, "Invalid claim format in token: fresh"),
        ),
        Case::new("fresh a string on the fresh route", Req::get("/fresh").bearer(&forged(json!({"fresh": "yes"}))))
            .allowed(allowed::CLAIM_TYPE, Want::Html500, msg(422, "Invalid claim format in token: fresh")),
        Case::new("type a number on the refresh route", Req::post("/refresh").bearer(&forged(json!({"type": 5}))))
            .allowed(
                allowed::CLAIM_TYPE,
                msg(422, "Only refresh tokens are allowed"),
                msg(422, "Invalid claim format in token: type"),
            ),
        Case::new("aud and iss present, not configured", p(forged(json!({"aud": "x", "iss": "y"}))))
            .fje(alice.clone()),
        Case::new("aud a number", p(forged(json!({"aud": 5})))),
        Case::new("non-ASCII sub", w(forged(json!({"sub": "zoë 😀"})))),
        Case::new("extra claims", w(forged(json!({"roles": ["admin"], "n": 1.5})))),
    ])
    .await;
}

/// Reference §c, the type and freshness rows, and verify_type=False.
#[tokio::test]
async fn types_and_freshness() {
    let at = jwtx_access();
    let rt = jwtx_refresh();
    let n = now() as f64;
    let fresh_at = |f: Value| forged(json!({ "fresh": f }));
    run(vec![
        Case::new(
            "refresh token on an access route",
            Req::get("/protected").bearer(&rt),
        )
        .fje(msg(422, "Only non-refresh tokens are allowed")),
        Case::new(
            "access token on the refresh route",
            Req::post("/refresh").bearer(&at),
        )
        .fje(msg(422, "Only refresh tokens are allowed")),
        Case::new(
            "refresh token on the refresh route",
            Req::post("/refresh").bearer(&rt),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "token without type on the refresh route",
            Req::post("/refresh").bearer(&forged(json!({"type": null}))),
        )
        .fje(msg(422, "Only refresh tokens are allowed")),
        Case::new(
            "not fresh on the fresh route",
            Req::get("/fresh").bearer(&at),
        )
        .fje(msg(401, "Fresh token required")),
        Case::new(
            "fresh on the fresh route",
            Req::get("/fresh").bearer(&fresh_at(json!(true))),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "fresh timestamp in the past",
            Req::get("/fresh").bearer(&fresh_at(json!(n - 100.25))),
        )
        .fje(msg(401, "Fresh token required")),
        Case::new(
            "fresh timestamp in the future",
            Req::get("/fresh").bearer(&fresh_at(json!(n + 100.25))),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "fresh 1 (an old integer timestamp)",
            Req::get("/fresh").bearer(&fresh_at(json!(1))),
        ),
        Case::new(
            "fresh as a future integer",
            Req::get("/fresh").bearer(&fresh_at(json!(n as u64 + 100))),
        ),
        Case::new(
            "refresh token on the fresh route",
            Req::get("/fresh").bearer(&rt),
        )
        .fje(msg(422, "Only non-refresh tokens are allowed")),
        Case::new(
            "expired refresh token on an access route",
            Req::get("/protected").bearer(&forged(json!({"type": "refresh", "exp": now() - 10}))),
        )
        .fje(msg(401, "Token has expired")),
        Case::new("verify_type=False, access", Req::get("/any").bearer(&at))
            .fje(ok(json!({"type": "access"}))),
        Case::new("verify_type=False, refresh", Req::get("/any").bearer(&rt))
            .fje(ok(json!({"type": "refresh"}))),
        Case::new(
            "whoami, fresh float",
            Req::get("/whoami").bearer(&fresh_at(json!(n + 100.125))),
        ),
    ])
    .await;
}
