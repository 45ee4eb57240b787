//! The `downstream` example as its users run it, against the in-test issuer.

use std::time::Duration;

use jwtx_test::examples::{Example, ExampleRef};
use jwtx_test::http::Client;
use serde_json::json;

use crate::mock::CREDENTIAL;
use crate::*;

const EXAMPLE: ExampleRef<'static> = ExampleRef {
    package: "jwtx-axum",
    name: "downstream",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downstream_example_verifies_and_follows_revocations() {
    let (issuer, a) = issuer_with_a().await;
    let jwks_url = issuer.url("/jwks");
    let feed_url = issuer.url("/revocations");
    let iss = "https://auth.example";
    let admin = token(
        &a,
        json!({"iss": iss, "aud": ["orders", "billing"], "roles": ["admin", "user"], "sid": "s-admin"}),
    );
    let user = token(&a, json!({"iss": iss, "aud": "billing", "sid": "s-user"}));
    let other_aud = token(&a, json!({"iss": iss, "aud": "orders"}));
    let issuer2 = issuer.clone();
    tokio::task::spawn_blocking(move || {
        let server = Example::start(
            EXAMPLE,
            &[
                ("JWKS_URL", Some(&jwks_url)),
                ("REVOCATIONS_URL", Some(&feed_url)),
                ("REVOCATIONS_TOKEN", Some(CREDENTIAL)),
                ("ISSUER", Some(iss)),
                ("AUDIENCE", Some("billing")),
            ],
        );
        let c = Client::localhost(server.port);
        let r = c.get("/healthz").send();
        assert_eq!((r.status, r.text.as_str()), (200, "ok"));

        // The feed must reach the head before tokens are vouched for.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let whoami = loop {
            let r = c.get("/whoami").bearer(&admin).send();
            if r.status != 503 || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(whoami.status, 200, "{whoami:?}");
        let v: serde_json::Value = serde_json::from_str(&whoami.text).unwrap();
        assert_eq!(v, json!({"sub": "alice", "roles": ["admin", "user"]}));
        let r = c.get("/whoami").bearer(&user).send();
        assert_eq!(r.status, 200, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v, json!({"sub": "alice", "roles": []}));

        let r = c.get("/admin").bearer(&admin).send();
        assert_eq!((r.status, r.text.as_str()), (200, "{\"admin\":true}"));
        let r = c.get("/admin").bearer(&user).send();
        assert_eq!(
            (r.status, r.text.as_str()),
            (403, "{\"msg\":\"Admins only!\"}")
        );

        let r = c.get("/whoami").send();
        assert_eq!(
            (r.status, r.text.as_str()),
            (401, "{\"msg\":\"Missing Authorization Header\"}\n")
        );
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = c.get("/whoami").bearer(&other_aud).send();
        assert_eq!(
            (r.status, r.text.as_str()),
            (422, "{\"msg\":\"Audience doesn't match\"}\n")
        );

        // A session revoked at the issuer.
        issuer2.append(json!({"kind": "session", "id": "s-user", "until": 4_000_000_000u64}));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let r = loop {
            let r = c.get("/whoami").bearer(&user).send();
            if r.status != 200 || std::time::Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            (r.status, r.text.as_str()),
            (401, "{\"msg\":\"Token has been revoked\"}\n")
        );
        let err = server.stop();
        assert!(
            err.contains("keys from") && err.contains("revocations from"),
            "{err}"
        );
        assert!(
            !err.contains(CREDENTIAL),
            "the credential reached the log: {err}"
        );
    })
    .await
    .unwrap();

    // Without JWKS_URL it refuses to start, saying why.
    let (status, err) =
        tokio::task::spawn_blocking(|| Example::exit_of(EXAMPLE, &[("JWKS_URL", None)]))
            .await
            .unwrap();
    assert!(!status.success());
    assert!(err.contains("JWKS_URL"), "{err}");
}
