//! Tokens and cookies minted by each side are accepted by both, with the same claims, type and
//! freshness decisions, and each CSRF cookie holds its JWT's `csrf` claim.

use super::*;

/// Tokens minted by each side are accepted by both, with the same claims (whoami) and the
/// same type and freshness decisions.
#[tokio::test]
async fn cross_acceptance() {
    let fje_setup = Setup::default();
    let m = default_manager();
    let no_exp = Setup {
        allow_missing_exp: true,
        ..Setup::default()
    };
    let mut tokens: Vec<(String, String, Setup)> = Vec::new();
    let mut add = |name: &str, token: String, setup: &Setup| {
        tokens.push((name.to_owned(), token, setup.clone()))
    };
    let n = Value::Null;
    add(
        "FJE access",
        fje_mint(&fje_setup, "access", json!(false), n.clone(), n.clone()),
        &fje_setup,
    );
    add(
        "FJE fresh access",
        fje_mint(&fje_setup, "access", json!(true), n.clone(), n.clone()),
        &fje_setup,
    );
    add(
        "FJE fresh=timedelta(300s)",
        fje_mint(&fje_setup, "access", json!(300), n.clone(), n.clone()),
        &fje_setup,
    );
    add(
        "FJE fresh=timedelta(-300s)",
        fje_mint(&fje_setup, "access", json!(-300), n.clone(), n.clone()),
        &fje_setup,
    );
    add(
        "FJE refresh",
        fje_mint(&fje_setup, "refresh", json!(false), n.clone(), n.clone()),
        &fje_setup,
    );
    add(
        "FJE access, expires 60s",
        fje_mint(&fje_setup, "access", json!(false), json!(60), n.clone()),
        &fje_setup,
    );
    add(
        "FJE access, expires -60s",
        fje_mint(&fje_setup, "access", json!(false), json!(-60), n.clone()),
        &fje_setup,
    );
    add(
        "FJE access, no exp",
        fje_mint(&fje_setup, "access", json!(false), json!(false), n.clone()),
        &no_exp,
    );
    add(
        "FJE refresh, no exp",
        fje_mint(&fje_setup, "refresh", json!(false), json!(false), n.clone()),
        &no_exp,
    );
    add(
        "FJE access, roles",
        fje_mint(
            &fje_setup,
            "access",
            json!(true),
            n.clone(),
            json!({"roles": ["admin", "user"]}),
        ),
        &fje_setup,
    );
    add(
        "FJE access, type overridden",
        fje_mint(
            &fje_setup,
            "access",
            json!(false),
            n.clone(),
            json!({"type": "refresh"}),
        ),
        &fje_setup,
    );
    let csrf_off = Setup {
        config: json!({"JWT_COOKIE_CSRF_PROTECT": false})
            .as_object()
            .unwrap()
            .clone(),
        ..Setup::default()
    };
    add(
        "FJE access, no csrf claim",
        fje_mint(&csrf_off, "access", json!(false), n.clone(), n.clone()),
        &fje_setup,
    );
    // additional_headers / additional_headers_loader: a `kid` (e.g. for key rotation
    // bookkeeping) on an app with one HMAC secret.
    add(
        "FJE access, kid header",
        fje_mint_with_headers(
            &fje_setup,
            "access",
            json!(false),
            n.clone(),
            n.clone(),
            json!({"kid": "2024-01"}),
        ),
        &fje_setup,
    );
    add(
        "FJE access, extra header",
        fje_mint_with_headers(
            &fje_setup,
            "access",
            json!(false),
            n.clone(),
            n,
            json!({"foo": "bar"}),
        ),
        &fje_setup,
    );
    add(
        "jwtx access",
        m.access_token("alice").sign().unwrap().token,
        &fje_setup,
    );
    add(
        "jwtx fresh access",
        m.access_token("alice").fresh(true).sign().unwrap().token,
        &fje_setup,
    );
    add(
        "jwtx fresh_for(300s)",
        m.access_token("alice")
            .fresh_for(Duration::from_secs(300))
            .sign()
            .unwrap()
            .token,
        &fje_setup,
    );
    add(
        "jwtx refresh",
        m.refresh_token("alice").sign().unwrap().token,
        &fje_setup,
    );
    add(
        "jwtx access, expires 60s",
        m.access_token("alice")
            .expires_in(Duration::from_secs(60))
            .sign()
            .unwrap()
            .token,
        &fje_setup,
    );
    add(
        "jwtx access, never expires",
        m.access_token("alice")
            .never_expires()
            .sign()
            .unwrap()
            .token,
        &no_exp,
    );
    add(
        "jwtx access, roles",
        m.access_token("alice")
            .claim("roles", json!(["admin", "user"]))
            .sign()
            .unwrap()
            .token,
        &fje_setup,
    );
    add(
        "jwtx access, no csrf claim",
        manager(&csrf_off)
            .access_token("alice")
            .sign()
            .unwrap()
            .token,
        &fje_setup,
    );
    add(
        "jwtx access, non-ASCII identity",
        m.access_token("zoë 😀").sign().unwrap().token,
        &fje_setup,
    );

    let mut cases = Vec::new();
    for (name, token, setup) in &tokens {
        for req in [
            Req::get("/whoami"),
            Req::get("/fresh"),
            Req::post("/refresh"),
            Req::get("/any"),
        ] {
            let case_name = format!("{name} on {} {}", req.method, req.path);
            let mut case = Case::new(case_name, req.bearer(token)).setup(setup);
            // Prove acceptance, not just equal refusal.
            let access = !name.contains("refresh") && !name.contains("type overridden");
            let live = !name.contains("-60s");
            if live && case.req.path == "/any" {
                case = case.fje(ok(
                    json!({"type": if access { "access" } else { "refresh" }}),
                ));
            }
            if live && access && case.req.path == "/whoami" {
                case = case.fje(Want::Status(200));
            }
            cases.push(case);
        }
    }
    run(cases).await;
}

/// Cookies set by each side's login work on both sides (with the CSRF value from the CSRF
/// cookie), and each CSRF cookie holds its JWT's `csrf` claim.
#[tokio::test]
async fn cookie_cross_acceptance() {
    let setup = Setup {
        config: json!({"JWT_TOKEN_LOCATION": ["cookies"]})
            .as_object()
            .unwrap()
            .clone(),
        ..Setup::default()
    };
    let login = Req::post("/login").json(r#"{"identity":"alice"}"#);
    let m = manager(&setup);
    let mut cases = Vec::new();
    for (side, answer) in [
        ("FJE", fje_answer(&setup, &login)),
        ("jwtx", jwtx_answer(&setup, &login).await),
    ] {
        let cookies: BTreeMap<String, String> = answer
            .set_cookie
            .iter()
            .map(|c| {
                let first = c.split(';').next().unwrap();
                let (k, v) = first.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        assert_eq!(
            cookies.len(),
            4,
            "{side} login cookies: {:?}",
            answer.set_cookie
        );
        for (jwt, csrf) in [
            ("access_token_cookie", "csrf_access_token"),
            ("refresh_token_cookie", "csrf_refresh_token"),
        ] {
            let claim = m.get_csrf_token(&cookies[jwt]).unwrap();
            assert_eq!(
                claim.as_deref(),
                Some(cookies[csrf].as_str()),
                "{side}: {csrf} is not the csrf claim of {jwt}"
            );
            let payload: Value =
                serde_json::from_slice(&b64_decode(cookies[jwt].split('.').nth(1).unwrap()))
                    .unwrap();
            assert_eq!(payload["sub"], "alice");
        }
        let a = format!("access_token_cookie={}", cookies["access_token_cookie"]);
        let r = format!("refresh_token_cookie={}", cookies["refresh_token_cookie"]);
        let alice = ok(json!({"identity": "alice"}));
        let c = |name: &str, req: Req| {
            Case::new(format!("{side} login cookies: {name}"), req).setup(&setup)
        };
        cases.extend([
            c("GET whoami", Req::get("/whoami").cookie(a.clone()))
                .fje(ok(json!({"identity": "alice", "type": "access", "fresh": true, "location": "cookies"}))),
            c("GET fresh", Req::get("/fresh").cookie(a.clone())).fje(alice.clone()),
            c("POST with CSRF", Req::post("/protected").cookie(a.clone()).csrf(&cookies["csrf_access_token"])).fje(alice.clone()),
            c("POST without CSRF", Req::post("/protected").cookie(a.clone())).fje(msg(401, "Missing CSRF token")),
            c("refresh with refresh CSRF", Req::post("/refresh").cookie(format!("{a}; {r}")).csrf(&cookies["csrf_refresh_token"])).fje(alice.clone()),
            c("refresh with access CSRF", Req::post("/refresh").cookie(format!("{a}; {r}")).csrf(&cookies["csrf_access_token"]))
                .fje(msg(401, "CSRF double submit tokens do not match")),
            c("all four cookies sent back", Req::get("/protected").cookie(
                cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "),
            )).fje(alice),
        ]);
    }
    run(cases).await;
}
