#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]
//! Differential tests: the same request against flask-jwt-extended 4.7.4 (Flask's test client,
//! `tests/flask/fje_app.py`, in the venv `.ci/python-env` makes) and against a jwtx-axum
//! router with the same routes and the same `JWT_*` configuration. Status, body bytes,
//! `Content-Type` and the `Set-Cookie` list must agree (token, CSRF and date values
//! normalised; attribute names, order and every other value exact).
//!
//! Intended differences are listed once, in [`allowed`], and each case that hits one says
//! which; both sides must then give exactly the documented answers, so a change on either side
//! is noticed:
//!
//! 1. jwtx adds `WWW-Authenticate: Bearer` to every 401 (checked on every case: present with
//!    exactly `Bearer` on jwtx's 401s, absent everywhere else and always absent from FJE).
//! 2. A JSON body that is not an object in the `json` location: FJE answers a 500 HTML page
//!    (`AttributeError` on `request.json.get`), jwtx 401 `Missing "access_token" key in json data.`
//! 3. Base64 and JSON that PyJWT tolerates and jwtx refuses: `=` padding, duplicate member
//!    names. (PyJWT 2.15 refuses characters outside the base64url alphabet and non-canonical
//!    trailing bits, as jwtx does: those cases must agree.)
//! 4. jwtx refuses HMAC secrets under 32 bytes, so both sides use the 64-character [`SECRET`].
//! 5. `exp`, `iat` and `nbf` must be JSON numbers between 0 and 2^53 for jwtx (422 `… must be
//!    an integer.`); PyJWT runs `int()` on them, so it accepts numeric strings (`"1795…"`),
//!    takes `true` as 1 and a negative `exp` as expired (401), and a huge `exp` never expires.
//! 6. A registered claim of the wrong JSON type (`"type": 5`, `"fresh": "yes"`) makes jwtx
//!    refuse the token (422 `Invalid claim format in token: <claim>`); FJE looks at `type` only
//!    on refresh routes and `fresh` only on fresh routes (where a string `fresh` is a 500).
//! 7. JOSE header parameters jwtx refuses outright (422): `jku`, `x5u`, `jwk`, `x5c`, `zip`
//!    and any `crit` (PyJWT ignores the first five and accepts `"crit":["b64"]` with
//!    `"b64":true`). The *messages* for malformed `crit` values must still be PyJWT's.
//! 8. Tokens over 8 KiB (the default `Validation::max_token_len`): jwtx 422 `Token is too
//!    large` before any decoding; FJE has no cap (gunicorn's 8190-byte header line limit
//!    applies to headers only).
//! 9. A JSON or form body over `JwtConfig::body_limit` (64 KiB) that the token or the CSRF
//!    value must be read from: jwtx 413 `Request body too large` (it bounds the memory one
//!    request takes); FJE has no limit and reads the token.
//!
//! 5–9 are jwtx hardening beyond the four differences the issue lists; the numeric-string
//! part of 5 is the one the issue anticipated.
//!
//! Every other disagreement is a failure.
//!
//! This file holds the harness: the Flask side (through `jwtx_test::oracle`), requests,
//! answers and cases, and how two answers are compared. `tokens` makes hand-made inputs,
//! `jwtx_side` the jwtx app; the matrix is split by area into `headers_and_format`, `claims`,
//! `cookies`, `locations` and `cross_acceptance`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Json, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderName, HeaderValue, Method, Request, header};
use http_body_util::BodyExt;
use jwtx::{Algorithm, Codec, Key, Validation};
use jwtx_axum::{
    AnyJwt, CookieOverrides, FreshJwt, Jwt, JwtConfig, JwtLayer, JwtManager, JwtRoute, Location,
    RefreshJwt, SameSite,
};
use jwtx_test::oracle::{Oracle, Shared};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

mod claims;
mod cookies;
mod cross_acceptance;
mod headers_and_format;
mod jwtx_side;
mod locations;
mod tokens;

use jwtx_side::*;
use tokens::*;

/// The HMAC secret of both apps (64 characters: allowed difference 4).
const SECRET: &str = "differential-test-secret-0123456789abcdef0123456789abcdef0123456";
const CSRF: &str = "11111111-2222-4333-8444-555555555555";
const EPOCH_DATE: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

// ------------------------------------------------------------------------------------------
// The Flask side

/// The flask-jwt-extended process, through the shared oracle client (which runs
/// `.ci/python-env` and fails, saying how to set the venv up, when it cannot).
fn start_flask() -> Oracle {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flask/fje_app.py");
    let mut flask = Oracle::start(&script);
    let pong = flask.request(&json!({"op": "ping"}));
    assert_eq!(
        pong["versions"]["flask_jwt_extended"], "4.7.4",
        "wrong flask-jwt-extended: {pong}"
    );
    flask
}

static FLASK: Shared = Shared::new(start_flask);

/// One request to fje_app.py, which must not answer `{"error": …}`.
fn flask(req: &Value) -> Value {
    let v = FLASK.call(req);
    assert!(v.get("error").is_none(), "fje_app.py failed on {req}: {v}");
    v
}

/// `create_access_token` / `create_refresh_token` in FJE.
fn fje_mint(setup: &Setup, kind: &str, fresh: Value, expires: Value, claims: Value) -> String {
    fje_mint_with_headers(setup, kind, fresh, expires, claims, Value::Null)
}

fn fje_mint_with_headers(
    setup: &Setup,
    kind: &str,
    fresh: Value,
    expires: Value,
    claims: Value,
    headers: Value,
) -> String {
    let reply = flask(&json!({
        "op": "mint", "config": setup.config, "kind": kind, "identity": "alice",
        "fresh": fresh, "expires_seconds": expires, "additional_claims": claims,
        "additional_headers": headers,
    }));
    reply["token"].as_str().unwrap().to_owned()
}

// ------------------------------------------------------------------------------------------
// Requests, answers, cases

#[derive(Clone, Debug, Default)]
struct Setup {
    /// `JWT_*` overrides, as FJE takes them; mapped onto `JwtConfig` for jwtx.
    config: Map<String, Value>,
    /// jwtx only: `Validation::dangerous_allow_missing_exp` (FJE always accepts no `exp`).
    allow_missing_exp: bool,
}

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// jwtx side only: send the body without `Content-Length` (`Transfer-Encoding: chunked`),
    /// as a streaming client does; Werkzeug reads such bodies to the end.
    chunked: bool,
}

impl Req {
    fn new(method: &'static str, path: &str) -> Req {
        Req {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            chunked: false,
        }
    }
    fn get(path: &str) -> Req {
        Req::new("GET", path)
    }
    fn post(path: &str) -> Req {
        Req::new("POST", path)
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Req {
        self.headers.push((k.to_owned(), v.into()));
        self
    }
    fn bearer(self, token: &str) -> Req {
        self.header("Authorization", format!("Bearer {token}"))
    }
    fn cookie(self, v: impl Into<String>) -> Req {
        self.header("Cookie", v)
    }
    fn access_cookie(self, token: &str) -> Req {
        self.cookie(format!("access_token_cookie={token}"))
    }
    fn csrf(self, v: &str) -> Req {
        self.header("X-CSRF-TOKEN", v)
    }
    fn body(mut self, content_type: &str, body: impl Into<String>) -> Req {
        self.headers
            .push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = Some(body.into());
        self
    }
    fn json(self, body: impl Into<String>) -> Req {
        self.body("application/json", body)
    }
    fn chunked(mut self) -> Req {
        self.chunked = true;
        self
    }
    fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "headers": self.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body": self.body,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Answer {
    status: u16,
    body: String,
    content_type: Option<String>,
    set_cookie: Vec<String>,
    www_authenticate: Option<String>,
}

/// What one side must answer (for sanity checks of the case and for allowed differences).
#[derive(Clone, Debug)]
enum Want {
    /// This status and `{"msg": message}` (Flask's `jsonify`).
    Msg(u16, String),
    /// This status and this exact body.
    Body(u16, String),
    /// This status and `{"msg": "<prefix>…"}`.
    MsgPrefix(u16, &'static str),
    /// Flask's 500 HTML error page.
    Html500,
    /// This status, any body.
    Status(u16),
}

impl Want {
    fn matches(&self, a: &Answer) -> bool {
        match self {
            Want::Msg(s, m) => a.status == *s && a.body == jsonify(&json!({ "msg": m })),
            Want::Body(s, b) => a.status == *s && a.body == *b,
            Want::MsgPrefix(s, p) => {
                a.status == *s
                    && serde_json::from_str::<Value>(&a.body).is_ok_and(|v| {
                        v.as_object().is_some_and(|o| o.len() == 1)
                            && v["msg"].as_str().is_some_and(|m| m.starts_with(p))
                    })
            }
            Want::Html500 => a.status == 500 && a.body.starts_with("<!doctype html>"),
            Want::Status(s) => a.status == *s,
        }
    }
}

fn msg(status: u16, m: &str) -> Want {
    Want::Msg(status, m.to_owned())
}

fn ok(v: Value) -> Want {
    Want::Body(200, jsonify(&v))
}

/// A documented, intended difference: each side must answer exactly as stated.
#[derive(Clone, Debug)]
struct Allowed {
    why: &'static str,
    fje: Want,
    jwtx: Want,
}

mod allowed {
    /// Allowed difference 2.
    pub(crate) const JSON_NOT_OBJECT: &str =
        "(2) JSON body that is not an object: FJE 500 HTML (AttributeError), jwtx 401 missing key";
    /// Allowed difference 3.
    pub(crate) const B64_PADDING: &str =
        "(3) `=`-padded base64url segment: PyJWT accepts, jwtx refuses";
    /// Allowed difference 3.
    pub(crate) const DUPLICATE_MEMBER: &str =
        "(3) duplicate JSON member names: PyJWT keeps the last, jwtx refuses";
    /// Allowed difference 5.
    pub(crate) const NUMERIC_DATE: &str = "(5) exp/iat/nbf must be JSON numbers in 0..=2^53: PyJWT int()-converts numeric strings and booleans and takes negative or huge values";
    /// Allowed difference 7.
    pub(crate) const HEADER_PARAM: &str = "(7) JOSE header parameters jwtx refuses (jku, x5u, jwk, x5c, zip, any crit): PyJWT ignores them (crit: accepts [\"b64\"] with b64 true)";
    /// Allowed difference 8.
    pub(crate) const TOKEN_LEN: &str =
        "(8) tokens over 8 KiB: jwtx refuses them before decoding, FJE has no cap";
    /// Allowed difference 9.
    pub(crate) const BODY_LIMIT: &str =
        "(9) JSON or form body over 64 KiB: jwtx 413 (bounded memory), FJE has no limit";
    /// Allowed difference 6.
    pub(crate) const CLAIM_TYPE: &str = "(6) a registered claim of the wrong JSON type (type, fresh) is refused by jwtx; FJE only looks at it when a route needs it";
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    setup: Setup,
    req: Req,
    /// FJE's expected answer: proves the case exercises the row it claims to.
    fje: Option<Want>,
    allowed: Option<Allowed>,
}

impl Case {
    fn new(name: impl Into<String>, req: Req) -> Case {
        Case {
            name: name.into(),
            setup: Setup::default(),
            req,
            fje: None,
            allowed: None,
        }
    }
    fn cfg(mut self, config: Value) -> Case {
        self.setup.config = config.as_object().unwrap().clone();
        self
    }
    fn setup(mut self, setup: &Setup) -> Case {
        self.setup = setup.clone();
        self
    }
    fn no_exp(mut self) -> Case {
        self.setup.allow_missing_exp = true;
        self
    }
    fn fje(mut self, want: Want) -> Case {
        self.fje = Some(want);
        self
    }
    fn allowed(mut self, why: &'static str, fje: Want, jwtx: Want) -> Case {
        self.allowed = Some(Allowed { why, fje, jwtx });
        self
    }
}

// ------------------------------------------------------------------------------------------
// Comparing

/// A Set-Cookie line with its value (`<jwt>` / `<uuid>` when non-empty) and a non-epoch
/// `Expires` (`<date>`, returned) normalised; everything else kept.
fn normalize_cookie(line: &str) -> (String, Option<SystemTime>) {
    let mut parts = line.split("; ");
    let first = parts.next().unwrap_or_default();
    let (name, value) = first.split_once('=').unwrap_or((first, ""));
    let value = if value.split('.').count() == 3 && value.starts_with("eyJ") {
        "<jwt>"
    } else if value.len() == 36 && value.chars().filter(|c| *c == '-').count() == 4 {
        "<uuid>"
    } else {
        value
    };
    let mut out = format!("{name}={value}");
    let mut date = None;
    for attr in parts {
        out.push_str("; ");
        match attr.strip_prefix("Expires=") {
            Some(d) if d != EPOCH_DATE => {
                date = Some(httpdate::parse_http_date(d).unwrap_or(UNIX_EPOCH));
                out.push_str("Expires=<date>");
            }
            _ => out.push_str(attr),
        }
    }
    (out, date)
}

fn compare(fje: &Answer, jwtx: &Answer) -> Vec<String> {
    let mut diffs = Vec::new();
    if fje.status != jwtx.status {
        diffs.push(format!("status: FJE {} / jwtx {}", fje.status, jwtx.status));
    }
    if fje.body != jwtx.body {
        diffs.push(format!("body: FJE {:?} / jwtx {:?}", fje.body, jwtx.body));
    }
    if fje.content_type != jwtx.content_type {
        diffs.push(format!(
            "content-type: FJE {:?} / jwtx {:?}",
            fje.content_type, jwtx.content_type
        ));
    }
    let (f, fd): (Vec<_>, Vec<_>) = fje.set_cookie.iter().map(|c| normalize_cookie(c)).unzip();
    let (j, jd): (Vec<_>, Vec<_>) = jwtx.set_cookie.iter().map(|c| normalize_cookie(c)).unzip();
    if f != j {
        diffs.push(format!("set-cookie: FJE {f:#?} / jwtx {j:#?}"));
    }
    for (a, b) in fd.iter().zip(&jd) {
        if let (Some(a), Some(b)) = (a, b) {
            let gap = a
                .duration_since(*b)
                .or_else(|_| b.duration_since(*a))
                .unwrap();
            if gap > Duration::from_secs(3) {
                diffs.push(format!("cookie Expires differ by {gap:?}"));
            }
        }
    }
    diffs
}

fn short(s: &str) -> String {
    if s.len() > 70 {
        format!("{}…({} bytes)", &s[..60], s.len())
    } else {
        s.to_owned()
    }
}

fn describe(case: &Case) -> String {
    let r = &case.req;
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", short(v)))
        .collect();
    format!(
        "config {}{}\n    request {} {} {:?} body {:?}{}",
        Value::Object(case.setup.config.clone()),
        if case.setup.allow_missing_exp {
            " (jwtx: allow missing exp)"
        } else {
            ""
        },
        r.method,
        short(&r.path),
        headers,
        r.body.as_deref().map(short),
        if r.chunked { " (jwtx: chunked)" } else { "" }
    )
}

async fn check(case: &Case) -> Result<(), String> {
    let fje = fje_answer(&case.setup, &case.req);
    let jwtx = jwtx_answer(&case.setup, &case.req).await;
    let mut problems = Vec::new();
    if let Some(want) = &case.fje
        && !want.matches(&fje)
    {
        problems.push(format!(
            "the case is wrong: FJE answered {} {:?}, the case expects {want:?}",
            fje.status, fje.body
        ));
    }
    // Allowed difference 1: WWW-Authenticate: Bearer on jwtx's 401s only.
    if fje.www_authenticate.is_some() {
        problems.push(format!(
            "FJE sent WWW-Authenticate {:?}",
            fje.www_authenticate
        ));
    }
    let want_www = (jwtx.status == 401).then_some("Bearer");
    if jwtx.www_authenticate.as_deref() != want_www {
        problems.push(format!(
            "jwtx WWW-Authenticate {:?}, expected {want_www:?}",
            jwtx.www_authenticate
        ));
    }
    match &case.allowed {
        None => problems.extend(compare(&fje, &jwtx)),
        Some(a) => {
            if !a.fje.matches(&fje) {
                problems.push(format!(
                    "allowed difference {}: FJE answered {} {:?}, documented {:?}",
                    a.why, fje.status, fje.body, a.fje
                ));
            }
            if !a.jwtx.matches(&jwtx) {
                problems.push(format!(
                    "allowed difference {}: jwtx answered {} {:?}, documented {:?}",
                    a.why, jwtx.status, jwtx.body, a.jwtx
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n    {}\n    - {}",
            case.name,
            describe(case),
            problems.join("\n    - ")
        ))
    }
}

async fn run(cases: Vec<Case>) {
    let total = cases.len();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = check(case).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ from flask-jwt-extended:\n\n{}\n",
        failures.len(),
        failures.join("\n\n")
    );
}

fn default_manager() -> JwtManager {
    manager(&Setup::default())
}

fn jwtx_access() -> String {
    default_manager()
        .access_token("alice")
        .sign()
        .unwrap()
        .token
}

fn jwtx_refresh() -> String {
    default_manager()
        .refresh_token("alice")
        .sign()
        .unwrap()
        .token
}

const MISSING_BEARER: &str =
    "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
const BAD_BEARER: &str = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
const EXP_INT: &str = "Expiration Time claim (exp) must be an integer.";
