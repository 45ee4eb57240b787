#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The account page (`GET /` of `jwtx serve`) and the SPA example (examples/spa) in a real
//! headless Chromium, driven over WebDriver (tests/support/browser.rs), against the real
//! `jwtx serve` binary on 127.0.0.1: logging in and out, throttling, staying signed in past the
//! access token's expiry, changing the password, sessions ended from another browser, cross-site
//! and same-site forged requests, CORS from the SPA, accessibility (axe-core) and the keyboard.
//!
//! Elements are found as a person finds them: fields by their label, buttons by their text,
//! messages by their words. Chromium and chromedriver are Debian's (`scripts/test` installs
//! them); axe-core is pinned in tests/browser/package-lock.json (`npm ci` into `target/`). None
//! of it is ever skipped. The login and account pages are saved as PNG into
//! `target/screenshots/` (`scripts/screenshots` copies them into docs/screenshots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use support::{Response, Server};

#[path = "support/browser.rs"]
mod browser_support;
mod support;

use browser_support::{Browser, ENTER, Page, Site, TAB};

/// One test, start to end (Chromium, a server, a few logins): far more than it takes.
const TEST_BOUND: Duration = Duration::from_secs(300);
/// Comfortably past a 2 s access token's expiry (whole seconds, rounded down).
const PAST_EXPIRY: Duration = Duration::from_millis(3500);

/// Runs a test's body within [`TEST_BOUND`].
async fn bounded(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_BOUND, body).await.is_err() {
        panic!("the test did not finish in {} s", TEST_BOUND.as_secs());
    }
}

fn base(server: &Server) -> String {
    format!("http://{}", server.addr)
}

/// The text of axe.min.js from the pinned axe-core (installed into target/ on first use).
fn axe_source() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let modules = support::npm_install(
        &dir,
        "node-browser",
        0,
        "the browser tests inject the pinned axe-core: they need npm (scripts/test installs \
         Debian's nodejs and npm when missing) and, on the first run, the npm registry; they are \
         never skipped",
    );
    let path = modules.join("axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the screenshots go: `target/screenshots/` (never the source tree).
fn screenshots() -> PathBuf {
    support::target_dir().join("screenshots")
}

/// Fills the login form and presses "Log in".
async fn log_in(page: &Page, user: &str, password: &str) {
    page.fill("Username", user).await;
    page.fill("Password", password).await;
    page.click("Log in").await;
}

/// Logs in on the account page at `url` and waits for the account view.
async fn sign_in(page: &Page, url: &str, user: &str, password: &str) -> String {
    page.goto(url).await;
    page.wait_text("Sign in").await;
    log_in(page, user, password).await;
    page.wait_text(&format!("Signed in as {user}")).await
}

/// The "Access token expires at HH:MM:SS" line of `text`, checked for its form.
fn expiry_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("Access token expires at "))
        .unwrap_or_else(|| panic!("no \"Access token expires at\" in:\n{text}"));
    let time = line
        .split("Access token expires at ")
        .nth(1)
        .unwrap()
        .trim();
    let parts: Vec<&str> = time.get(..8).unwrap_or("").split(':').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.parse::<u8>().is_ok()),
        "not a HH:MM:SS time: {line:?}"
    );
    line.trim().to_owned()
}

/// Removes the message texts, so that the next message seen is the next action's.
async fn clear_messages(page: &Page) {
    page.js(
        "for (const id of ['status', 'error']) {
             const e = document.getElementById(id);
             if (e) e.textContent = '';
         }",
        vec![],
    )
    .await;
}

/// How many visible "Revoke" buttons (session rows) the page shows.
async fn revoke_buttons(page: &Page) -> u64 {
    page.js(
        "return [...document.querySelectorAll('button')]
             .filter(b => b.textContent.trim() === 'Revoke' && b.offsetParent !== null).length;",
        vec![],
    )
    .await
    .as_u64()
    .unwrap()
}

/// Clicks "Revoke" on the first session row that is not this browser's.
async fn revoke_other_session(page: &Page) {
    let b = page
        .visible(
            "//tr[not(contains(normalize-space(.), 'This browser'))]\
             //button[normalize-space()='Revoke']",
            "Revoke button of another session",
        )
        .await;
    browser_support::within("click Revoke", b.click()).await;
}

/// The names of the cookies the browser holds for the page's site.
async fn cookie_names(page: &Page) -> Vec<String> {
    let all = browser_support::within("cookies", page.client.get_all_cookies()).await;
    all.iter().map(|c| c.name().to_owned()).collect()
}

/// `req` sent with the blocking test client, off the runtime's threads.
async fn send(req: jwtx_test::http::Request) -> Response {
    tokio::task::spawn_blocking(move || req.send())
        .await
        .unwrap()
}

/// The session ids `token`'s user has, as the server says.
async fn sessions(server: &Server, token: &str) -> Vec<String> {
    let r = send(server.req("GET", "/sessions").bearer(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// 1, 4, 9: the login view, a wrong password, the account view; both views pass axe-core and
/// are saved as screenshots; "Log out" ends the session, and a reload stays logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_account_page_and_log_out() {
    bounded(async {
        let axe = axe_source();
        let server = Server::start(&[]);
        let browser = Browser::start().await;
        let page = browser.session().await;
        let url = base(&server);

        page.goto(&url).await;
        let text = page.wait_text("Sign in").await;
        assert!(!text.contains("Signed in as"), "{text}");
        page.field("Username").await;
        page.field("Password").await;
        page.button("Log in").await;
        let title = browser_support::within("title", page.client.title()).await;
        assert_eq!(title, "jwtx account");
        page.assert_accessible(&axe, "login view").await;
        page.screenshot(&screenshots().join("login.png")).await;

        log_in(&page, "admin", "not the password").await;
        page.wait_text("Wrong username or password.").await;

        log_in(&page, "admin", "adminpass").await;
        let text = page.wait_text("Signed in as admin").await;
        assert!(text.contains("Roles: admin, user"), "{text}");
        expiry_line(&text);
        let text = page.wait_text("This browser").await;
        for column in ["Browser", "Address", "Created", "Last used"] {
            assert!(text.contains(column), "no column {column:?}:\n{text}");
        }
        assert_eq!(revoke_buttons(&page).await, 1, "{text}");
        page.button("Log out everywhere").await;
        page.field("Current password").await;
        page.field("New password").await;
        page.button("Change password").await;
        page.assert_accessible(&axe, "account view").await;
        page.screenshot(&screenshots().join("account.png")).await;

        // The server holds the browser's session; "Log out" ends it.
        let (token, _) = server.tokens("admin", "adminpass");
        assert_eq!(sessions(&server, &token).await.len(), 2);
        page.click("Log out").await;
        page.wait_text("You are logged out.").await;
        page.field("Username").await;
        let text = page.text().await;
        assert!(!text.contains("Signed in as"), "{text}");
        assert_eq!(
            sessions(&server, &token).await.len(),
            1,
            "the session is ended"
        );
        let left = cookie_names(&page).await;
        assert!(
            !left.iter().any(|c| c.contains("token_cookie")),
            "token cookies left after logging out: {left:?}"
        );

        page.reload().await;
        page.wait_text("Sign in").await;
        page.field("Username").await;
        let text = page.text().await;
        assert!(!text.contains("Signed in as"), "{text}");
        page.close().await;
    })
    .await;
}

/// 2: failed logins past `login_rate_limit` show the wait the server's Retry-After gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_throttled() {
    bounded(async {
        let server = Server::start(&[("JWTX_LOGIN_RATE_LIMIT", "2/1m")]);
        let browser = Browser::start().await;
        let page = browser.session().await;
        page.goto(&base(&server)).await;
        page.wait_text("Sign in").await;

        let mut throttled = None;
        for attempt in 1..=4 {
            clear_messages(&page).await;
            log_in(&page, "admin", "not the password").await;
            let text = page
                .wait_until("a login message", |t| {
                    t.contains("Wrong username or password.") || t.contains("Too many attempts.")
                })
                .await;
            if attempt == 1 {
                assert!(text.contains("Wrong username or password."), "{text}");
            }
            if text.contains("Too many attempts.") {
                throttled = Some(text);
                break;
            }
        }
        let text = throttled.expect("no \"Too many attempts.\" after 4 wrong passwords (2/1m)");
        let rest = text.split("Too many attempts. Try again in ").nth(1);
        let rest = rest.unwrap_or_else(|| panic!("no \"Try again in\" in:\n{text}"));
        let (n, unit) = rest.split_once(' ').unwrap();
        let n: u64 = n
            .parse()
            .unwrap_or_else(|_| panic!("no number of seconds: {rest}"));
        assert!((1..=60).contains(&n), "{rest}");
        let unit_expected = if n == 1 { "second." } else { "seconds." };
        assert!(unit.starts_with(unit_expected), "{rest}");
        page.close().await;
    })
    .await;
}

/// 3: with a 2 s access token, an action and a reload after it expired refresh behind the
/// scenes: still signed in, with a later expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stays_signed_in_past_the_access_token_expiry() {
    bounded(async {
        let server = Server::start(&[("JWTX_ACCESS_TOKEN_EXPIRES", "2s")]);
        // Another session of the same user, to revoke from the page.
        let (_, other_refresh) = server.tokens("admin", "adminpass");
        let browser = Browser::start().await;
        let page = browser.session().await;
        sign_in(&page, &base(&server), "admin", "adminpass").await;
        page.wait_until("two session rows", |t| t.contains("This browser"))
            .await;
        let first = expiry_line(&page.text().await);
        assert_eq!(revoke_buttons(&page).await, 2);

        // Waiting for the token to expire: the point of the test, not an assertion.
        tokio::time::sleep(PAST_EXPIRY).await;
        revoke_other_session(&page).await;
        let text = page
            .wait_until("one session row left", |t| {
                t.contains("Signed in as admin") && !t.contains("jwtx-e2e")
            })
            .await;
        assert_eq!(revoke_buttons(&page).await, 1, "{text}");
        let second = expiry_line(&text);
        assert_ne!(first, second, "the access token was not refreshed");
        let r = send(server.req("POST", "/refresh").bearer(&other_refresh)).await;
        assert_eq!(
            r.status, 401,
            "the revoked session still refreshes: {}",
            r.text
        );

        tokio::time::sleep(PAST_EXPIRY).await;
        page.reload().await;
        let text = page.wait_text("Signed in as admin").await;
        let third = expiry_line(&text);
        assert_ne!(
            second, third,
            "the access token was not refreshed on reload"
        );
        page.close().await;
    })
    .await;
}

/// 5: changing the password with a token that is no longer fresh (it was refreshed): the page
/// re-authenticates with the current password (a new session replaces this browser's); a wrong
/// current password is refused; afterwards only the new password logs in, and the user's other
/// sessions are ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_with_a_refreshed_token() {
    bounded(async {
        let server = Server::start(&[("JWTX_ACCESS_TOKEN_EXPIRES", "2s")]);
        let url = base(&server);
        let new_password = "violet tram ninety-one";
        let browser = Browser::start().await;
        let page = browser.session().await;
        let text = sign_in(&page, &url, "testuser", "testpass").await;
        let first = expiry_line(&text);
        // Another session of the user (this test client's), and the browser's session id.
        let (token, other_refresh) = server.tokens("testuser", "testpass");
        let browser_session = |r: &Response| -> Vec<String> {
            r.json["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["user_agent"].as_str().unwrap_or("").contains("Chrome"))
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let listed = send(server.req("GET", "/sessions").bearer(&token)).await;
        let old_session = browser_session(&listed);
        assert_eq!(old_session.len(), 1, "{}", listed.text);

        // Past the expiry, a reload refreshes: the new access token is not fresh.
        tokio::time::sleep(PAST_EXPIRY).await;
        page.reload().await;
        page.wait_until("a refreshed access token", |t| {
            t.contains("Signed in as testuser") && !t.contains(&first)
        })
        .await;

        page.fill("Current password", "not the password").await;
        page.fill("New password", new_password).await;
        clear_messages(&page).await;
        page.click("Change password").await;
        page.wait_text("The current password is wrong.").await;

        page.fill("Current password", "testpass").await;
        page.fill("New password", new_password).await;
        clear_messages(&page).await;
        page.click("Change password").await;
        let text = page.wait_text("Password changed.").await;
        assert!(text.contains("1 other session was ended."), "{text}");
        page.wait_text("Signed in as testuser").await;
        let r = send(server.req("POST", "/refresh").bearer(&other_refresh)).await;
        assert_eq!(r.status, 401, "the other session survived: {}", r.text);

        // The browser logged in again for a fresh token: a new session replaced its old one.
        let (token, _) = server.tokens("testuser", new_password);
        let listed = send(server.req("GET", "/sessions").bearer(&token)).await;
        let new_session = browser_session(&listed);
        assert_eq!(new_session.len(), 1, "{}", listed.text);
        assert_ne!(new_session, old_session, "the page did not re-authenticate");
        page.close().await;

        // A new profile: the old password fails, the new one works.
        let page = browser.session().await;
        page.goto(&url).await;
        page.wait_text("Sign in").await;
        log_in(&page, "testuser", "testpass").await;
        page.wait_text("Wrong username or password.").await;
        log_in(&page, "testuser", new_password).await;
        page.wait_text("Signed in as testuser").await;
        page.close().await;
    })
    .await;
}

/// 6: two profiles signed in as the same user. "Log out everywhere" in one ends the other's
/// session, noticed at its next action; so does "Revoke" on the other's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_ended_from_another_browser() {
    bounded(async {
        let server = Server::start(&[]);
        let url = base(&server);
        let browser = Browser::start().await;
        let a = browser.session().await;
        let b = browser.session().await;
        sign_in(&a, &url, "admin", "adminpass").await;
        sign_in(&b, &url, "admin", "adminpass").await;

        a.click("Log out everywhere").await;
        a.wait_text("You are logged out.").await;
        a.field("Username").await;
        b.reload().await;
        b.wait_text("Your session was ended elsewhere. Log in again.")
            .await;
        b.field("Username").await;

        // Both in again; A revokes B's row.
        log_in(&a, "admin", "adminpass").await;
        a.wait_text("Signed in as admin").await;
        log_in(&b, "admin", "adminpass").await;
        b.wait_text("Signed in as admin").await;
        a.reload().await;
        a.wait_until("two session rows", |t| t.contains("This browser"))
            .await;
        let deadline = std::time::Instant::now() + browser_support::WAIT_BOUND;
        while revoke_buttons(&a).await != 2 {
            assert!(std::time::Instant::now() < deadline, "not two session rows");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        revoke_other_session(&a).await;
        let deadline = std::time::Instant::now() + browser_support::WAIT_BOUND;
        while revoke_buttons(&a).await != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "B's row is still shown"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        a.wait_text("Signed in as admin").await;

        // B's next action (a click on its stale table) finds its session ended.
        revoke_other_session(&b).await;
        b.wait_text("Your session was ended elsewhere. Log in again.")
            .await;
        b.field("Username").await;
        // A was not touched by B's attempt.
        a.reload().await;
        a.wait_text("Signed in as admin").await;
        a.wait_text("This browser").await;
        a.close().await;
        b.close().await;
    })
    .await;
}

/// An attacker's page whose form posts to `target` on load.
fn attacker_page(target: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><title>win a prize</title>\
         <form method=\"post\" action=\"{target}\">\
         <input type=\"hidden\" name=\"x\" value=\"1\"><button>Claim</button></form>\
         <script>document.forms[0].submit();</script></html>"
    )
}

/// 7: forms on another site, and on another origin of the same site, posting to
/// `/logout/all` and `/logout`: the first carry no cookie (SameSite=Lax), the second no CSRF
/// header; the victim stays signed in, with the same session, either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_logout_from_other_pages_is_refused() {
    bounded(async {
        let server = Server::start(&[]);
        let url = base(&server);
        let targets = ["/logout/all", "/logout"];
        let attacker = Site::start(
            targets
                .iter()
                .map(|t| {
                    let page = attacker_page(&format!("{url}{t}"));
                    (t.to_string(), "text/html; charset=utf-8", page.into_bytes())
                })
                .collect(),
        )
        .await;
        let browser = Browser::start().await;
        let victim = browser.session().await;
        sign_in(&victim, &url, "admin", "adminpass").await;
        victim.wait_text("This browser").await;
        let (token, _) = server.tokens("admin", "adminpass");
        let before = sessions(&server, &token).await;
        assert_eq!(before.len(), 2);

        for (variant, host) in [("cross-site", "localhost"), ("same-site", "127.0.0.1")] {
            for target in targets {
                let what = format!("{variant} form to {target}");
                victim
                    .goto(&format!("http://{host}:{}{target}", attacker.port))
                    .await;
                // The form was sent: the window shows the server's answer to it.
                let sent_to = format!("{url}{target}");
                let deadline = std::time::Instant::now() + browser_support::WAIT_BOUND;
                loop {
                    let now = browser_support::within("url", victim.client.current_url()).await;
                    if now.as_str() == sent_to {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{what}: the attacker's form was not sent (at {now})"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let answer = victim.wait_text("}").await;
                // POST /logout without credentials is a harmless no-op that says
                // `{"logout": true}` (and unsets nothing); /logout/all needs them.
                if target == "/logout/all" {
                    assert!(
                        !answer.contains("\"logout\""),
                        "{what}: the forged request was accepted: {answer}"
                    );
                }
                println!("{what} answered: {answer}");
                let cookies = cookie_names(&victim).await;
                assert!(
                    cookies.iter().any(|c| c == "access_token_cookie")
                        && cookies.iter().any(|c| c == "refresh_token_cookie"),
                    "{what}: the victim's cookies are gone: {cookies:?}"
                );
                victim.goto(&url).await;
                victim.wait_text("Signed in as admin").await;
                let text = victim.wait_text("This browser").await;
                assert!(!text.contains("ended elsewhere"), "{what}: {text}");
                assert_eq!(sessions(&server, &token).await, before, "{what}");
            }
        }
        victim.close().await;
    })
    .await;
}

/// The SPA example's directory.
fn spa_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spa")
}

/// Clicks `button` in the SPA and waits for the call's entry in `#output`; returns that entry
/// without the API's origin (its port could read as a status).
async fn spa_step(page: &Page, api: &str, button: &str) -> String {
    let before = spa_output(page).await;
    page.click(button).await;
    let deadline = std::time::Instant::now() + browser_support::WAIT_BOUND;
    loop {
        let now = spa_output(page).await;
        if now != before {
            let entry = now.strip_prefix(&before).unwrap_or(&now);
            return entry.replace(api, "API");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "\"{button}\": the SPA showed no answer; its output:\n{before}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the SPA's `#output`.
async fn spa_output(page: &Page) -> String {
    let v = page
        .js(
            "const o = document.getElementById('output'); return o ? o.textContent : '';",
            vec![],
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// The SPA at `spa` against `api` in `mode`: log in, call /protected, refresh, call it again,
/// log out, and /protected is refused.
async fn spa_session(page: &Page, spa: &str, api: &str, mode: &str) {
    page.goto(spa).await;
    page.fill("API origin", api).await;
    let select = page.field("Mode").await;
    browser_support::within("choose the mode", select.select_by_label(mode)).await;
    page.fill("Username", "admin").await;
    page.fill("Password", "adminpass").await;
    let ok = |what: &str, entry: &str| {
        assert!(
            entry.contains("200") && !entry.contains("401"),
            "{mode}: {what}: {entry}"
        );
    };
    ok("login", &spa_step(page, api, "Log in").await);
    for what in ["/protected", "/refresh", "/protected after the refresh"] {
        let button = if what == "/refresh" {
            "Refresh"
        } else {
            "Call /protected"
        };
        let entry = spa_step(page, api, button).await;
        ok(what, &entry);
        if button != "Refresh" {
            assert!(
                entry.contains("logged_in_as") && entry.contains("admin"),
                "{mode}: {what}: {entry}"
            );
        }
    }
    ok("logout", &spa_step(page, api, "Log out").await);
    let entry = spa_step(page, api, "Call /protected").await;
    assert!(
        entry.contains("401") && !entry.contains("logged_in_as"),
        "{mode}: /protected after logging out: {entry}"
    );
    println!("{mode}: the SPA's output:\n{}", spa_output(page).await);
}

/// 8a: the SPA on app.jwtx.localhost, the API on api.jwtx.localhost (same site): cookie mode,
/// cookies for the parent domain, credentialed CORS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_same_site_with_cookies() {
    bounded(async {
        let spa = Site::dir(&spa_dir()).await;
        let app = format!("http://app.jwtx.localhost:{}", spa.port);
        let server = Server::start(&[
            ("JWTX_CORS_ALLOWED_ORIGINS", app.as_str()),
            ("JWTX_COOKIE_DOMAIN", "jwtx.localhost"),
        ]);
        let api = format!("http://api.jwtx.localhost:{}", server.addr.port());
        let browser = Browser::start().await;
        let page = browser.session().await;
        spa_session(&page, &format!("{app}/"), &api, "Cookies (same site)").await;
        page.close().await;
    })
    .await;
}

/// 8b, 8c: the SPA on localhost against the API on 127.0.0.1 (cross site) with header tokens;
/// a page on an origin not allowed gets a CORS failure, and the server names no
/// Access-Control-* header for that origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_cross_site_with_header_tokens_and_other_origins_refused() {
    bounded(async {
        let spa = Site::dir(&spa_dir()).await;
        let app = format!("http://localhost:{}", spa.port);
        let server = Server::start(&[("JWTX_CORS_ALLOWED_ORIGINS", app.as_str())]);
        let api = base(&server);
        let browser = Browser::start().await;
        let page = browser.session().await;
        spa_session(
            &page,
            &format!("{app}/"),
            &api,
            "Header tokens (cross site)",
        )
        .await;

        // The same files on another origin (127.0.0.1 instead of localhost): not allowed.
        let other = format!("http://127.0.0.1:{}", spa.port);
        page.goto(&format!("{other}/")).await;
        let result = page
            .js_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0] + '/protected', {credentials: 'include'})
                   .then(r => done({status: r.status}))
                   .catch(e => done({error: e.name, message: String(e.message)}));",
                vec![json!(api)],
            )
            .await;
        assert_eq!(
            result["error"], "TypeError",
            "a page on {other} read the API's answer: {result}"
        );

        // What the server answers: ACAO for the allowed origin, no Access-Control-* otherwise.
        let cors_headers = |r: &Response| -> Vec<String> {
            r.headers
                .iter()
                .filter(|(k, _)| k.to_ascii_lowercase().starts_with("access-control-"))
                .map(|(k, v)| format!("{k}: {v}"))
                .collect()
        };
        let allowed = send(server.req("GET", "/protected").header("Origin", &app)).await;
        assert_eq!(
            allowed.header("access-control-allow-origin"),
            Some(app.as_str()),
            "{:?}",
            allowed.headers
        );
        for req in [
            server.req("GET", "/protected").header("Origin", &other),
            server.req("OPTIONS", "/protected").headers(&[
                ("Origin", other.as_str()),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ]),
        ] {
            let r = send(req).await;
            assert!(
                cors_headers(&r).is_empty(),
                "CORS headers for {other}: {:?}",
                cors_headers(&r)
            );
        }
        page.close().await;
    })
    .await;
}

/// 10: keyboard only: type into the login form and press Enter; Tab to "Log out" and press
/// Enter; the focused control shows a visible focus indicator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only() {
    bounded(async {
        let server = Server::start(&[]);
        let browser = Browser::start().await;
        let page = browser.session().await;
        page.goto(&base(&server)).await;
        page.wait_text("Sign in").await;
        let user = page.field("Username").await;
        page.js("arguments[0].focus();", vec![json!(user)]).await;
        page.keys(&format!("admin{TAB}adminpass{ENTER}")).await;
        page.wait_text("Signed in as admin").await;
        page.wait_text("This browser").await;

        let mut indicated = Vec::new();
        let mut reached = false;
        for _ in 0..40 {
            page.keys(&TAB.to_string()).await;
            let focused = page
                .js(
                    "const e = document.activeElement;
                     const s = getComputedStyle(e);
                     return {tag: e.tagName, text: e.textContent.trim(),
                             outline: s.outlineStyle, width: s.outlineWidth,
                             shadow: s.boxShadow};",
                    vec![],
                )
                .await;
            let outline = focused["outline"] != "none" && focused["width"] != "0px";
            if outline || focused["shadow"] != "none" {
                indicated.push(focused["text"].as_str().unwrap_or("").to_owned());
            }
            if focused["tag"] == "BUTTON" && focused["text"] == "Log out" {
                assert!(
                    outline || focused["shadow"] != "none",
                    "no visible focus on \"Log out\": {focused}"
                );
                reached = true;
                break;
            }
        }
        assert!(reached, "Tab never reached \"Log out\"");
        assert!(!indicated.is_empty());
        page.keys(&ENTER.to_string()).await;
        page.wait_text("You are logged out.").await;
        page.field("Username").await;
        page.close().await;
    })
    .await;
}

/// A store that is down is said in words: PostgreSQL (a private server) stopped, a login
/// answers 503 and the page says the service is unavailable; once it is back, the same form
/// signs in, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_store_is_said_in_words() {
    use jwtx_test::pg::{PrivatePostgres, TestDatabase};
    bounded(async {
        let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
            .await
            .unwrap();
        let db = TestDatabase::create_on(&pg.url()).await;
        let env = [("JWTX_DATABASE_URL", db.url())];
        let added = support::cluster::jwtx_with(
            &env,
            &["user", "add", "alice", "--password-stdin"],
            Some(format!("{}\n", support::cluster::PASSWORD).as_bytes()),
        );
        assert!(added.status.success(), "{added:?}");
        let server = Server::start_without_demo(&env);
        let browser = Browser::start().await;
        let page = browser.session().await;
        page.goto(&base(&server)).await;
        page.wait_text("Sign in").await;

        let mut pg = tokio::task::spawn_blocking(move || {
            let mut pg = pg;
            pg.stop();
            pg
        })
        .await
        .unwrap();
        log_in(&page, "alice", support::cluster::PASSWORD).await;
        let text = page
            .wait_until("the login's answer without PostgreSQL", |t| {
                t.contains("The service is unavailable. Try again later.")
                    || t.contains("Signed in as")
            })
            .await;
        assert!(!text.contains("Signed in as"), "{text}");

        pg = tokio::task::spawn_blocking(move || {
            pg.start_again();
            pg
        })
        .await
        .unwrap();
        // The server reconnects by itself; until it has, a login may still answer 503.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            clear_messages(&page).await;
            log_in(&page, "alice", support::cluster::PASSWORD).await;
            let text = page
                .wait_until("the login's answer with PostgreSQL back", |t| {
                    t.contains("The service is unavailable.") || t.contains("Signed in as alice")
                })
                .await;
            if text.contains("Signed in as alice") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still unavailable 60 s after PostgreSQL came back:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        page.close().await;
        drop(server);
        db.drop_now().await;
        drop(pg);
    })
    .await;
}
