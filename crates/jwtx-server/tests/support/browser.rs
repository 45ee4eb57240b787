//! A real headless Chromium for the browser tests (tests/browser.rs), driven over WebDriver
//! (fantoccini) through Debian's chromedriver, and a tiny static HTTP server for the pages the
//! tests serve from other origins (the SPA example, an attacker's page).
//!
//! [`Browser`] starts chromedriver on a free loopback port in a process group of its own; every
//! [`Browser::session`] is a separate Chromium profile (its own `--user-data-dir`, so its own
//! cookies). On drop the whole group (chromedriver and every Chromium it started) is killed and
//! the profiles are removed. Every WebDriver command is bounded ([`COMMAND_BOUND`]) and every
//! wait polls up to [`WAIT_BOUND`]: the machine is shared and slow, so both are generous.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code,
    unreachable_pub
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::support::TempDir;

/// One WebDriver command (a click, a navigation, a script) takes at most this long.
pub const COMMAND_BOUND: Duration = Duration::from_secs(60);
/// A text or element the page should show appears within this (a few requests and a
/// password hash at most: far less on an idle machine).
pub const WAIT_BOUND: Duration = Duration::from_secs(20);

/// The WebDriver key codes of Tab and Enter.
pub const TAB: char = '\u{E004}';
pub const ENTER: char = '\u{E007}';

/// What a test needing the browser says when Chromium or chromedriver is missing.
const INSTALL_HINT: &str = "the browser tests drive Debian's Chromium through chromedriver: run \
                            scripts/test, which installs the `chromium` and `chromium-driver` \
                            packages when `chromium` or `chromedriver` is missing (they are \
                            never skipped)";

/// `name` on PATH, or a failure saying how to install it.
fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: {INSTALL_HINT}"))
}

/// `fut`, or a failure naming `what` once [`COMMAND_BOUND`] has passed.
pub async fn within<T, E: std::fmt::Debug>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(COMMAND_BOUND, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer in {} s", COMMAND_BOUND.as_secs()),
    }
}

/// chromedriver and the Chromium profiles it runs; all killed and removed on drop.
pub struct Browser {
    child: Child,
    url: String,
    chromium: PathBuf,
    /// Holds chromedriver's log and one directory per profile.
    dir: TempDir,
    profiles: AtomicUsize,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    pub async fn start() -> Browser {
        let chromium = program("chromium");
        let driver = program("chromedriver");
        let dir = TempDir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        let log = dir.0.join("chromedriver.log");
        // The port is picked free and then handed over, so another process may take it in
        // between: then chromedriver exits and the next attempt picks another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let mut child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // A group of its own, so that drop kills the Chromium processes too.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {}: {e}; {INSTALL_HINT}", driver.display())
                });
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + WAIT_BOUND;
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return Browser {
                        child,
                        url: format!("http://{addr}"),
                        chromium,
                        dir,
                        profiles: AtomicUsize::new(0),
                    };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!(
            "chromedriver did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A new window in a profile of its own (its own cookies and storage).
    pub async fn session(&self) -> Page {
        let n = self.profiles.fetch_add(1, Ordering::Relaxed);
        let profile = self.dir.0.join(format!("profile-{n}"));
        std::fs::create_dir_all(&profile).unwrap();
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"script": 30_000, "pageLoad": 30_000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1100,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connect = async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&self.url)
                .await
        };
        let client = match tokio::time::timeout(COMMAND_BOUND, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "chromedriver opened no Chromium session: {e}; its log:\n{}",
                self.log_tail()
            ),
            Err(_) => panic!(
                "chromedriver opened no Chromium session in {} s; its log:\n{}",
                COMMAND_BOUND.as_secs(),
                self.log_tail()
            ),
        };
        Page {
            client,
            name: format!("profile {n}"),
        }
    }

    /// The end of chromedriver's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.0.join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.child.wait();
        // The profiles are removed by `dir`'s drop, after this.
    }
}

/// One browser window (one profile) and the ways the tests use it.
pub struct Page {
    pub client: Client,
    name: String,
}

/// `s` as an XPath string literal.
fn xpath_str(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        panic!("no XPath literal for {s:?} in these tests")
    }
}

impl Page {
    pub async fn goto(&self, url: &str) {
        within(&format!("{}: open {url}", self.name), self.client.goto(url)).await;
    }

    pub async fn reload(&self) {
        within(&format!("{}: reload", self.name), self.client.refresh()).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    /// WebDriver scripts are not subject to the page's Content-Security-Policy.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        within(
            &format!("{}: script {script:.80}", self.name),
            self.client.execute(script, args),
        )
        .await
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1]` with its result.
    pub async fn js_async(&self, script: &str, args: Vec<Value>) -> Value {
        within(
            &format!("{}: async script {script:.80}", self.name),
            self.client.execute_async(script, args),
        )
        .await
    }

    /// The text a person sees (hidden elements are left out).
    pub async fn text(&self) -> String {
        let v = self
            .js(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the visible text satisfies `ok` (what it waits for is `what`); returns the
    /// text.
    pub async fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT_BOUND;
        loop {
            let text = self.text().await;
            if ok(&text) {
                return text;
            }
            if Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!(
                    "{}: {what} not seen in {} s; the page ({url:?}) shows:\n{text}",
                    self.name,
                    WAIT_BOUND.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `needle` is visible; returns the whole text.
    pub async fn wait_text(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |t| t.contains(needle))
            .await
    }

    /// The first displayed element matching `xpath` (`what` names it in failures), waiting
    /// for one.
    pub async fn visible(&self, xpath: &str, what: &str) -> Element {
        let deadline = Instant::now() + WAIT_BOUND;
        loop {
            let all = within(
                &format!("{}: find {what}", self.name),
                self.client.find_all(Locator::XPath(xpath)),
            )
            .await;
            for e in all {
                // An element re-rendered meanwhile is stale: look again.
                if e.is_displayed().await.unwrap_or(false) {
                    return e;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: no visible {what} ({xpath}) in {} s; the page shows:\n{}",
                    self.name,
                    WAIT_BOUND.as_secs(),
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible form control whose `<label for=…>` says exactly `label`.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!(
            "//*[@id=//label[normalize-space()={}]/@for]",
            xpath_str(label)
        );
        self.visible(&xpath, &format!("field labelled {label:?}"))
            .await
    }

    /// Empties the field labelled `label` and types `value` into it.
    pub async fn fill(&self, label: &str, value: &str) {
        let e = self.field(label).await;
        let what = format!("{}: type into {label:?}", self.name);
        within(&what, e.clear()).await;
        within(&what, e.send_keys(value)).await;
    }

    /// The visible button that says exactly `text`.
    pub async fn button(&self, text: &str) -> Element {
        let xpath = format!("//button[normalize-space()={}]", xpath_str(text));
        self.visible(&xpath, &format!("button {text:?}")).await
    }

    /// Clicks the visible button that says exactly `text`.
    pub async fn click(&self, text: &str) {
        let b = self.button(text).await;
        within(&format!("{}: click {text:?}", self.name), b.click()).await;
    }

    /// Types `keys` (characters, or [`TAB`] / [`ENTER`]) into whatever has the focus, as a
    /// keyboard does.
    pub async fn keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for c in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        within(
            &format!("{}: keys {keys:?}", self.name),
            self.client.perform_actions(actions),
        )
        .await;
    }

    /// Saves a PNG of the window to `path` (its directory is created).
    pub async fn screenshot(&self, path: &Path) {
        let png = within(
            &format!("{}: screenshot", self.name),
            self.client.screenshot(),
        )
        .await;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// Runs axe-core (`axe_source`, the text of axe.min.js) on the page as it is now; fails
    /// listing every violation of impact "serious" or "critical" (`view` names the page).
    pub async fn assert_accessible(&self, axe_source: &str, view: &str) {
        let loaded = self
            .js(&format!("{axe_source}\n;return typeof window.axe;"), vec![])
            .await;
        assert_eq!(loaded, "object", "axe-core did not load into the page");
        let found = self
            .js_async(
                "const done = arguments[arguments.length - 1];
                 window.axe.run(document, {resultTypes: ['violations']})
                   .then(r => done({violations: r.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))
                   }))}))
                   .catch(e => done({error: String(e)}));",
                vec![],
            )
            .await;
        assert!(found["error"].is_null(), "axe-core failed: {found}");
        let bad: Vec<&Value> = found["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(
            bad.is_empty(),
            "axe-core: serious or critical accessibility violations on the {view}:\n{}",
            serde_json::to_string_pretty(&bad).unwrap()
        );
    }

    /// Ends the session (Chromium closes this profile's window).
    pub async fn close(self) {
        let what = format!("{}: close", self.name);
        within(&what, self.client.close()).await;
    }
}

/// A static HTTP server on 127.0.0.1 (any host name that resolves there reaches it: the tests
/// use `localhost`, `127.0.0.1` and `*.jwtx.localhost` as distinct origins); stopped on drop.
pub struct Site {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Serves `pages`: (path, content type, body); anything else is 404.
    pub async fn start(pages: Vec<(String, &'static str, Vec<u8>)>) -> Site {
        use axum::http::header::CONTENT_TYPE;
        use axum::response::IntoResponse;
        let mut router = axum::Router::new();
        for (path, ctype, body) in pages {
            router = router.route(
                &path,
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([(CONTENT_TYPE, ctype)], body).into_response() }
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Site { port, task }
    }

    /// Serves the files of `dir` (not its subdirectories) at `/NAME`, and `index.html` at `/`
    /// too.
    pub async fn dir(dir: &Path) -> Site {
        let mut pages = Vec::new();
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let ctype = match path.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            };
            let body = std::fs::read(&path).unwrap();
            if name == "index.html" {
                pages.push(("/".to_owned(), ctype, body.clone()));
            }
            pages.push((format!("/{name}"), ctype, body));
        }
        Site::start(pages).await
    }

    /// A single HTML page at `/`.
    pub async fn html(html: &str) -> Site {
        Site::start(vec![(
            "/".to_owned(),
            "text/html; charset=utf-8",
            html.as_bytes().to_vec(),
        )])
        .await
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}
