#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Microservices end to end: `jwtx serve` as the gateway (ES256, its live JWKS and its
//! revocation feed) and jwtx-axum's `downstream` example as the service behind it, both real
//! processes on 127.0.0.1, as the README's microservices section runs them.
//!
//! Bounds are polled with generous margins (10x): nothing here measures speed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jwtx_test::examples::{Example, ExampleRef};
use jwtx_test::http::Client;
use serde_json::{Value, json};
use support::cluster::{eventually, jwtx_with};
use support::{Server, TempDir};

mod support;

const DOWNSTREAM: ExampleRef<'static> = ExampleRef {
    package: "jwtx-axum",
    name: "downstream",
    manifest_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../jwtx-axum"),
};

/// The gateway's settings (its commands get the same): ES256, a JWKS cached 1 s, keys
/// published 2 s before they sign.
const GATEWAY: &[(&str, &str)] = &[
    ("JWTX_ALGORITHM", "ES256"),
    ("JWTX_JWKS_MAX_AGE", "1s"),
    ("JWTX_KEY_PUBLISH_LEAD", "2s"),
];

/// How long a revocation at the gateway may take to be refused downstream: the follower's
/// default lag bound (5 s), ten times over is generous; a stream delivers it at once.
const BOUND: Duration = Duration::from_secs(20);

/// `jwtx ARGS…` on the gateway's data directory with its settings; stdout on success.
fn jwtx(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = jwtx_with(GATEWAY, &all, None);
    assert!(
        out.status.success(),
        "jwtx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kid(token: &str) -> String {
    let header = jwtx::dangerous::unverified_header(token, 8192).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn body(r: &support::Response) -> Value {
    serde_json::from_str(&r.text).unwrap_or(Value::Null)
}

/// The gateway, the downstream service following it, and a client of the latter.
struct Deployment {
    gateway: Server,
    _dir: TempDir,
    service: Example,
}

impl Deployment {
    fn start() -> Deployment {
        let dir = TempDir::new();
        let gateway = Server::start_in(dir.0.clone(), GATEWAY);
        let credential = jwtx(&dir.0, &["service", "add", "orders"]);
        let credential = credential.trim();
        let base = format!("http://{}", gateway.addr);
        let service = Example::start(
            DOWNSTREAM,
            &[
                ("JWKS_URL", Some(&format!("{base}/.well-known/jwks.json"))),
                ("REVOCATIONS_URL", Some(&format!("{base}/revocations"))),
                ("REVOCATIONS_TOKEN", Some(credential)),
                ("RUST_LOG", Some("warn")),
            ],
        );
        Deployment {
            gateway,
            _dir: dir,
            service,
        }
    }

    fn client(&self) -> Client {
        Client::localhost(self.service.port)
    }

    /// `GET /whoami` downstream with `token`.
    fn whoami(&self, token: &str) -> support::Response {
        self.client().get("/whoami").bearer(token).send()
    }

    /// Waits until the service vouches for tokens (its feed reached the gateway's log head).
    fn wait_ready(&self, token: &str) {
        eventually("the downstream service vouches for tokens", BOUND, || {
            let r = self.whoami(token);
            if r.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.text))
            }
        });
    }
}

/// A token from the gateway verifies downstream with its roles; `/admin` needs the role; a
/// missing token gets flask-jwt-extended's answer; a logout at the gateway is refused
/// downstream within the feed's bound; the feed refuses anonymous readers.
#[test]
fn the_downstream_service_verifies_and_follows_logouts() {
    let d = Deployment::start();
    let (admin, _) = d.gateway.tokens("admin", "adminpass");
    let (user, _) = d.gateway.tokens("testuser", "testpass");
    d.wait_ready(&admin);

    let r = d.client().get("/healthz").send();
    assert_eq!(r.status, 200);
    let r = d.whoami(&admin);
    assert_eq!(
        body(&r),
        json!({"sub": "admin", "roles": ["admin", "user"]})
    );
    let r = d.whoami(&user);
    assert_eq!(body(&r), json!({"sub": "testuser", "roles": ["user"]}));
    let r = d.client().get("/admin").bearer(&admin).send();
    assert_eq!((r.status, body(&r)), (200, json!({"admin": true})));
    let r = d.client().get("/admin").bearer(&user).send();
    assert_eq!((r.status, body(&r)), (403, json!({"msg": "Admins only!"})));
    let r = d.client().get("/whoami").send();
    assert_eq!(
        (r.status, body(&r)),
        (401, json!({"msg": "Missing Authorization Header"}))
    );

    // A logout at the gateway: refused downstream too.
    let r = d.gateway.req("POST", "/logout").bearer(&user).send();
    assert_eq!(r.status, 200, "{}", r.text);
    eventually("the logged-out token is refused downstream", BOUND, || {
        let r = d.whoami(&user);
        if r.status == 401 && body(&r)["msg"] == "Token has been revoked" {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text))
        }
    });
    assert_eq!(d.whoami(&admin).status, 200, "other sessions are untouched");

    // The feed is for services only.
    let r = d.gateway.req("GET", "/revocations").send();
    assert_eq!(r.status, 401, "{}", r.text);
}

/// Rotation under load: a client keeps calling the service while the gateway rotates (with
/// its publish lead, then at once) and no request fails; tokens of the new keys verify
/// downstream; a retired key's tokens are then refused downstream as at the gateway.
#[test]
fn rotation_under_load_and_retirement_reach_the_downstream_service() {
    let d = Arc::new(Deployment::start());
    let (first, _) = d.gateway.tokens("admin", "adminpass");
    let first_kid = kid(&first);
    d.wait_ready(&first);

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = {
        let (d, stop, calls, failures) = (d.clone(), stop.clone(), calls.clone(), failures.clone());
        let token = first.clone();
        std::thread::spawn(move || {
            let client = d.client();
            while !stop.load(Ordering::Relaxed) {
                let r = client.get("/whoami").bearer(&token).send();
                calls.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failures_push(&failures, format!("{} {}", r.status, r.text));
                }
            }
        })
    };

    // A scheduled-style rotation: published now, signing after the 2 s lead.
    jwtx(&d.gateway.dir, &["keys", "rotate"]);
    let (second, _) = eventually("the gateway signs with the rotated key", BOUND, || {
        let (t, _) = d.gateway.tokens("admin", "adminpass");
        if kid(&t) == first_kid {
            Err("still the first key".to_owned())
        } else {
            Ok(t)
        }
    });
    assert_eq!(
        d.whoami(&second).status,
        200,
        "published ahead: no fetch needed"
    );
    // An emergency rotation: the new kid is unknown downstream until one fetch.
    jwtx(&d.gateway.dir, &["keys", "rotate", "--now"]);
    let (third, _) = eventually("the gateway signs with the emergency key", BOUND, || {
        let (t, _) = d.gateway.tokens("admin", "adminpass");
        if kid(&t) == kid(&second) {
            Err("still the second key".to_owned())
        } else {
            Ok(t)
        }
    });
    eventually(
        "the emergency key's token verifies downstream",
        BOUND,
        || {
            let r = d.whoami(&third);
            if r.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.text))
            }
        },
    );

    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let failed = failures.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed during the rotations: {:?}",
        failed.len(),
        calls.load(Ordering::Relaxed),
        &failed[..failed.len().min(5)]
    );
    assert!(calls.load(Ordering::Relaxed) > 10);

    // Retiring the first key: its tokens are refused downstream (and at the gateway).
    jwtx(&d.gateway.dir, &["keys", "retire", &first_kid]);
    eventually(
        "the retired key's token is refused downstream",
        BOUND,
        || {
            let r = d.whoami(&first);
            if r.status == 401 || r.status == 422 {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.text))
            }
        },
    );
    assert_ne!(d.gateway.get("/protected", &first).status, 200);
    assert_eq!(d.whoami(&third).status, 200);
    assert_eq!(d.whoami(&second).status, 200);
}

fn failures_push(failures: &Mutex<Vec<String>>, what: String) {
    failures.lock().unwrap().push(what);
}
