//! Tokens in the `Authorization` header: comma-separated lists and the case-sensitive scheme as
//! flask-jwt-extended reads them, a custom header name and type, the header name printed in
//! messages as configured, and an empty header type meaning a bare JWT.

use super::*;

#[tokio::test]
async fn header_comma_lists_and_case_sensitive_scheme() {
    let fx = plain(fje());
    let t = access(&fx.jwt, "alice").token;
    for ok in [
        format!("Bearer {t}"),
        format!("Basic xxx, Bearer {t}"),
        format!("  Bearer   {t} ,"),
        format!("Bearer {t}, Basic xxx"),
    ] {
        let r = send(
            &fx.app,
            req("GET", "/protected")
                .header("authorization", &ok)
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["identity"], "alice", "{ok}");
    }
    let missing_type =
        "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
    for v in [
        format!("bearer {t}"),
        format!("BEARER {t}"),
        "Token x".to_owned(),
        format!("Bearer {t}, Bearer {t}"),
        "Basic abc".to_owned(),
    ] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", &v).empty(),
        )
        .await
        .error(401, missing_type);
    }
    let bad = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
    for v in ["Bearer", "Bearer a b", &format!("Bearer {t} extra")] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", v).empty(),
        )
        .await
        .error(422, bad);
    }
    for v in ["", " ", " , "] {
        send(
            &fx.app,
            req("GET", "/protected").header("authorization", v).empty(),
        )
        .await
        .error(401, "Missing Authorization Header");
    }
}

#[tokio::test]
async fn custom_header_name_and_type() {
    let mut c = fje();
    c.header_name = "X-Auth".into();
    c.header_type = "JWT".into();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", "/protected")
            .header("X-Auth", format!("JWT {t}"))
            .empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(&fx.app, req("GET", "/protected").bearer(&t).empty())
        .await
        .error(401, "Missing X-Auth Header");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("x-auth", format!("Bearer {t}"))
            .empty(),
    )
    .await
    .error(
        401,
        "Missing 'JWT' type in 'X-Auth' header. Expected 'X-Auth: JWT <JWT>'",
    );
}

/// flask-jwt-extended prints `JWT_HEADER_NAME` exactly as configured; the lookup ignores case.
#[tokio::test]
async fn header_name_is_printed_as_configured() {
    for (name, sent) in [
        ("X-API-KEY", "x-api-key"),
        ("authorization", "Authorization"),
    ] {
        let mut c = fje();
        c.header_name = name.into();
        let fx = plain(c);
        let t = access(&fx.jwt, "alice").token;
        let r = send(
            &fx.app,
            req("GET", "/protected")
                .header(sent, format!("Bearer {t}"))
                .empty(),
        )
        .await;
        assert_eq!(r.ok()["identity"], "alice", "{name}");
        send(&fx.app, req("GET", "/protected").empty())
            .await
            .error(401, &format!("Missing {name} Header"));
        send(
            &fx.app,
            req("GET", "/protected").header(sent, "Token x").empty(),
        )
        .await
        .error(
            401,
            &format!("Missing 'Bearer' type in '{name}' header. Expected '{name}: Bearer <JWT>'"),
        );
    }
}

#[tokio::test]
async fn empty_header_type_means_a_bare_jwt() {
    let mut c = fje();
    c.header_name = "X-Auth".into();
    c.header_type = String::new();
    let fx = plain(c);
    let t = access(&fx.jwt, "alice").token;
    let r = send(
        &fx.app,
        req("GET", "/protected").header("x-auth", &t).empty(),
    )
    .await;
    assert_eq!(r.ok()["identity"], "alice");
    send(
        &fx.app,
        req("GET", "/protected")
            .header("x-auth", format!("Bearer {t}"))
            .empty(),
    )
    .await
    .error(422, "Bad X-Auth header. Expected 'X-Auth: <JWT>'");
}
