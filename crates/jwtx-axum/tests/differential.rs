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
// Flask's jsonify, base64url, hand-made tokens

/// Flask's `jsonify`: compact, sorted keys, non-ASCII as `\uXXXX`, trailing newline.
fn jsonify(v: &Value) -> String {
    fn str_into(s: &str, out: &mut String) {
        for c in serde_json::to_string(s).unwrap().chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, &Value> = m.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    str_into(k, out);
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            Value::String(s) => str_into(s, out),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out.push('\n');
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c).unwrap() as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xff) as u8);
        }
    }
    out
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hmac_b64(alg: aws_lc_rs::hmac::Algorithm, secret: &str, msg: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(alg, secret.as_bytes());
    b64(aws_lc_rs::hmac::sign(&key, msg.as_bytes()).as_ref())
}

const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// `header.payload` segments (already encoded) signed with HS256 and `secret`.
fn sign_segments(h: &str, p: &str, secret: &str) -> String {
    let input = format!("{h}.{p}");
    let sig = hmac_b64(aws_lc_rs::hmac::HMAC_SHA256, secret, &input);
    format!("{input}.{sig}")
}

/// A token with this header and payload text, HS256-signed with [`SECRET`].
fn forge(header: &str, payload: &str) -> String {
    sign_segments(&b64(header.as_bytes()), &b64(payload.as_bytes()), SECRET)
}

/// FJE-shaped access-token claims for `alice`, changed by `overrides` (`null` removes).
fn claims(overrides: Value) -> String {
    let t = now();
    let mut c = json!({
        "fresh": false, "iat": t, "jti": "9f1e6c3a-1b2d-4c5e-8f70-000000000001",
        "type": "access", "sub": "alice", "nbf": t, "csrf": CSRF, "exp": t + 900,
    });
    let m = c.as_object_mut().unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    c.to_string()
}

fn forged(overrides: Value) -> String {
    forge(HS256_HEADER, &claims(overrides))
}

// ------------------------------------------------------------------------------------------
// The jwtx side

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

fn header_name(v: &Value) -> HeaderName {
    HeaderName::from_bytes(str_of(v).as_bytes()).unwrap()
}

/// The manager for `setup`: the same `JWT_*` options, mapped onto `JwtConfig`.
fn manager(setup: &Setup) -> JwtManager {
    let mut c = JwtConfig::flask_jwt_extended();
    let mut validation = Validation::new();
    for (k, v) in &setup.config {
        match k.as_str() {
            "JWT_TOKEN_LOCATION" => {
                let names: Vec<String> = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a.iter().map(str_of).collect(),
                    _ => panic!("JWT_TOKEN_LOCATION {v}"),
                };
                c.token_location = names.iter().map(|n| Location::parse(n).unwrap()).collect();
            }
            "JWT_HEADER_NAME" => c.header_name = str_of(v),
            "JWT_HEADER_TYPE" => c.header_type = str_of(v),
            "JWT_QUERY_STRING_NAME" => c.query_string_name = str_of(v),
            "JWT_QUERY_STRING_VALUE_PREFIX" => c.query_string_value_prefix = str_of(v),
            "JWT_JSON_KEY" => c.json_key = str_of(v),
            "JWT_REFRESH_JSON_KEY" => c.refresh_json_key = str_of(v),
            "JWT_ACCESS_COOKIE_NAME" => c.access_cookie_name = str_of(v),
            "JWT_REFRESH_COOKIE_NAME" => c.refresh_cookie_name = str_of(v),
            "JWT_ACCESS_COOKIE_PATH" => c.access_cookie_path = str_of(v),
            "JWT_REFRESH_COOKIE_PATH" => c.refresh_cookie_path = str_of(v),
            "JWT_ACCESS_CSRF_COOKIE_NAME" => c.access_csrf_cookie_name = str_of(v),
            "JWT_REFRESH_CSRF_COOKIE_NAME" => c.refresh_csrf_cookie_name = str_of(v),
            "JWT_ACCESS_CSRF_COOKIE_PATH" => c.access_csrf_cookie_path = str_of(v),
            "JWT_REFRESH_CSRF_COOKIE_PATH" => c.refresh_csrf_cookie_path = str_of(v),
            "JWT_ACCESS_CSRF_HEADER_NAME" => c.access_csrf_header_name = header_name(v),
            "JWT_REFRESH_CSRF_HEADER_NAME" => c.refresh_csrf_header_name = header_name(v),
            "JWT_ACCESS_CSRF_FIELD_NAME" => c.access_csrf_field_name = str_of(v),
            "JWT_REFRESH_CSRF_FIELD_NAME" => c.refresh_csrf_field_name = str_of(v),
            "JWT_COOKIE_SECURE" => c.cookie_secure = v.as_bool().unwrap(),
            "JWT_COOKIE_DOMAIN" => c.cookie_domain = v.as_str().map(str::to_owned),
            "JWT_COOKIE_SAMESITE" => {
                c.cookie_samesite = v.as_str().map(|s| match s {
                    "Strict" => SameSite::Strict,
                    "Lax" => SameSite::Lax,
                    "None" => SameSite::None,
                    _ => panic!("JWT_COOKIE_SAMESITE {s}"),
                });
            }
            "JWT_SESSION_COOKIE" => {
                if !v.as_bool().unwrap() {
                    c = c.persistent_cookies();
                }
            }
            "JWT_COOKIE_CSRF_PROTECT" => c.csrf_protect = v.as_bool().unwrap(),
            "JWT_CSRF_IN_COOKIES" => c.csrf_in_cookies = v.as_bool().unwrap(),
            "JWT_CSRF_CHECK_FORM" => c.csrf_check_form = v.as_bool().unwrap(),
            "JWT_CSRF_METHODS" => {
                c.csrf_methods = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| Method::from_bytes(str_of(m).as_bytes()).unwrap())
                    .collect();
            }
            "JWT_ERROR_MESSAGE_KEY" => c.error_message_key = str_of(v),
            "JWT_DECODE_LEEWAY" => {
                validation = validation.leeway(Duration::from_secs(v.as_u64().unwrap()));
            }
            other => panic!("no jwtx mapping for {other}: add one to manager()"),
        }
    }
    if setup.allow_missing_exp {
        validation = validation.dangerous_allow_missing_exp();
    }
    let codec = Codec::new(Key::hmac(Algorithm::HS256, SECRET.as_bytes()).unwrap())
        .with_validation(validation)
        .with_csrf_claim(c.csrf_protect);
    JwtManager::builder(codec).config(c).build()
}

fn flask_json(v: &Value) -> Response {
    let mut r = Response::new(Body::from(jsonify(v)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn protected(jwt: Jwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

async fn protected_options(_jwt: Option<Jwt>) -> Response {
    flask_json(&json!({ "options": true }))
}

async fn optional(jwt: Option<Jwt>) -> Response {
    flask_json(&json!({ "identity": jwt.as_ref().map(|j| j.identity()) }))
}

async fn fresh(jwt: FreshJwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

async fn refresh(jwt: RefreshJwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

async fn any_type(jwt: AnyJwt) -> Response {
    flask_json(&json!({ "type": jwt.claims().token_type.as_str() }))
}

async fn login(State(m): State<JwtManager>, Json(body): Json<Value>) -> Response {
    let identity = str_of(&body["identity"]);
    let access = m.access_token(identity.clone()).fresh(true).sign().unwrap();
    let refresh = m.refresh_token(identity).sign().unwrap();
    let mut r = flask_json(&json!({ "login": true }));
    m.set_access_cookies(r.headers_mut(), &access);
    m.set_refresh_cookies(r.headers_mut(), &refresh);
    r
}

async fn login_short(State(m): State<JwtManager>, Json(body): Json<Value>) -> Response {
    let access = m.access_token(str_of(&body["identity"])).sign().unwrap();
    let mut r = flask_json(&json!({ "login": true }));
    let over = CookieOverrides {
        max_age: Some(Duration::from_secs(600)),
        domain: Some("api.example.com".into()),
    };
    m.set_access_cookies_with(r.headers_mut(), &access, &over);
    r
}

async fn logout(State(m): State<JwtManager>) -> Response {
    let mut r = flask_json(&json!({ "logout": true }));
    m.unset_jwt_cookies(r.headers_mut());
    r
}

async fn whoami(jwt: Jwt) -> Response {
    flask_json(&json!({
        "identity": jwt.identity(),
        "type": jwt.claims().token_type.as_str(),
        "fresh": serde_json::to_value(jwt.claims().fresh).unwrap(),
        "location": jwt.location().as_str(),
    }))
}

fn jwtx_app(setup: &Setup) -> Router {
    let m = manager(setup);
    Router::new()
        .route(
            "/protected",
            get(protected)
                .post(protected)
                .put(protected)
                .delete(protected)
                .options(protected_options),
        )
        .route("/optional", get(optional))
        .route("/fresh", get(fresh))
        .route("/refresh", post(refresh))
        .route("/any", get(any_type))
        .route(
            "/cookies-only",
            get(protected).route_layer(JwtRoute::new().locations([Location::Cookies])),
        )
        .route("/login", post(login))
        .route("/login-short", post(login_short))
        .route("/logout", post(logout))
        .route("/whoami", get(whoami))
        .layer(JwtLayer::new(m.clone()))
        .with_state(m)
}

async fn jwtx_answer(setup: &Setup, req: &Req) -> Answer {
    let mut b = Request::builder().method(req.method).uri(&req.path);
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let body = match &req.body {
        Some(s) if req.chunked => {
            b = b.header(header::TRANSFER_ENCODING, "chunked");
            Body::from(s.clone())
        }
        Some(s) => {
            b = b.header(header::CONTENT_LENGTH, s.len());
            Body::from(s.clone())
        }
        None => Body::empty(),
    };
    let resp = jwtx_app(setup)
        .oneshot(b.body(body).unwrap())
        .await
        .unwrap();
    let h = resp.headers();
    let text = |v: &HeaderValue| v.to_str().unwrap().to_owned();
    let status = resp.status().as_u16();
    let content_type = h.get(header::CONTENT_TYPE).map(text);
    let set_cookie = h.get_all(header::SET_COOKIE).iter().map(text).collect();
    let www_authenticate = h.get(header::WWW_AUTHENTICATE).map(text);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
        content_type,
        set_cookie,
        www_authenticate,
    }
}

fn fje_answer(setup: &Setup, req: &Req) -> Answer {
    let r = flask(&json!({"op": "request", "config": setup.config, "request": req.to_json()}));
    let opt = |v: &Value| v.as_str().map(str::to_owned);
    Answer {
        status: u16::try_from(r["status"].as_u64().unwrap()).unwrap(),
        body: str_of(&r["body"]),
        content_type: opt(&r["content_type"]),
        set_cookie: r["set_cookie"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect(),
        www_authenticate: opt(&r["www_authenticate"]),
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

// ------------------------------------------------------------------------------------------
// The matrix

/// Reference §c, header rows, and §e header parsing.
#[tokio::test]
async fn authorization_header() {
    let t = jwtx_access();
    let alice = ok(json!({"identity": "alice"}));
    let p = || Req::get("/protected");
    let raw_type = json!({"JWT_HEADER_TYPE": ""});
    run(vec![
        Case::new("valid Bearer", p().bearer(&t)).fje(alice.clone()),
        Case::new("no header", p()).fje(msg(401, "Missing Authorization Header")),
        Case::new("empty header", p().header("Authorization", ""))
            .fje(msg(401, "Missing Authorization Header")),
        Case::new("header of spaces and commas", p().header("Authorization", " , "))
            .fje(msg(401, "Missing Authorization Header")),
        Case::new(
            "lowercase bearer",
            p().header("Authorization", format!("bearer {t}")),
        )
        .fje(msg(401, MISSING_BEARER)),
        Case::new("Token x", p().header("Authorization", "Token x"))
            .fje(msg(401, MISSING_BEARER)),
        Case::new(
            "two Bearer entries in one header",
            p().header("Authorization", format!("Bearer {t}, Bearer {t}")),
        )
        .fje(msg(401, MISSING_BEARER)),
        Case::new("two Authorization headers", p().bearer(&t).bearer(&t))
            .fje(msg(401, MISSING_BEARER)),
        Case::new("Bearer alone", p().header("Authorization", "Bearer"))
            .fje(msg(422, BAD_BEARER)),
        Case::new("Bearer a b", p().header("Authorization", "Bearer a b"))
            .fje(msg(422, BAD_BEARER)),
        Case::new(
            "Basic then Bearer",
            p().header("Authorization", format!("Basic xxx, Bearer {t}")),
        )
        .fje(alice.clone()),
        Case::new(
            "padded with spaces and a trailing comma",
            p().header("Authorization", format!("  Bearer   {t} ,")),
        )
        .fje(alice.clone()),
        Case::new(
            "tab between scheme and token",
            p().header("Authorization", format!("Bearer\t{t}")),
        ),
        Case::new(
            "Bearer then Basic",
            p().header("Authorization", format!("Bearer {t},Basic xxx")),
        ),
        Case::new("empty JWT_HEADER_TYPE, bare token", p().header("Authorization", &t))
            .cfg(raw_type.clone())
            .fje(alice.clone()),
        Case::new("empty JWT_HEADER_TYPE, two words", p().bearer(&t))
            .cfg(raw_type.clone())
            .fje(msg(422, "Bad Authorization header. Expected 'Authorization: <JWT>'")),
        Case::new("empty JWT_HEADER_TYPE, no header", p())
            .cfg(raw_type)
            .fje(msg(401, "Missing Authorization Header")),
        Case::new("JWT_HEADER_TYPE=JWT", p().header("Authorization", format!("JWT {t}")))
            .cfg(json!({"JWT_HEADER_TYPE": "JWT"}))
            .fje(alice.clone()),
        Case::new("JWT_HEADER_TYPE=JWT, Bearer sent", p().bearer(&t))
            .cfg(json!({"JWT_HEADER_TYPE": "JWT"}))
            .fje(msg(
                401,
                "Missing 'JWT' type in 'Authorization' header. Expected 'Authorization: JWT <JWT>'",
            )),
        Case::new("JWT_HEADER_NAME=X-Api-Token, present", p().header("x-api-token", &t))
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token", "JWT_HEADER_TYPE": ""}))
            .fje(alice.clone()),
        Case::new("JWT_HEADER_NAME=X-Api-Token, missing", p())
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token", "JWT_HEADER_TYPE": ""}))
            .fje(msg(401, "Missing X-Api-Token Header")),
        Case::new("JWT_HEADER_NAME=X-Api-Token, Bearer", p().header("X-Api-Token", "Bearer"))
            .cfg(json!({"JWT_HEADER_NAME": "X-Api-Token"}))
            .fje(msg(422, "Bad X-Api-Token header. Expected 'X-Api-Token: Bearer <JWT>'")),
        // FJE prints JWT_HEADER_NAME in its messages exactly as configured, whatever its case.
        Case::new("JWT_HEADER_NAME=X-API-KEY, missing", p())
            .cfg(json!({"JWT_HEADER_NAME": "X-API-KEY"}))
            .fje(msg(401, "Missing X-API-KEY Header")),
        Case::new("JWT_HEADER_NAME=authorization, Token x", p().header("Authorization", "Token x"))
            .cfg(json!({"JWT_HEADER_NAME": "authorization"}))
            .fje(msg(
                401,
                "Missing 'Bearer' type in 'authorization' header. Expected 'authorization: Bearer <JWT>'",
            )),
    ])
    .await;
}

/// Reference §c, the token-format rows (PyJWT's decoding errors).
#[tokio::test]
async fn token_format() {
    let p = |t: &str| Req::get("/protected").bearer(t);
    let good = forged(json!({}));
    let (h, rest) = good.split_once('.').unwrap();
    let (pl, sig) = rest.split_once('.').unwrap();
    let hs512 = {
        let hdr = b64(br#"{"alg":"HS512","typ":"JWT"}"#);
        let input = format!("{hdr}.{pl}");
        let s = hmac_b64(aws_lc_rs::hmac::HMAC_SHA512, SECRET, &input);
        format!("{input}.{s}")
    };
    let none = format!("{}.{pl}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let other_key = sign_segments(
        h,
        pl,
        "another-secret-another-secret-another-secret-another-secret-00",
    );
    let tampered = format!(
        "{h}.{}.{sig}",
        b64(claims(json!({"sub": "mallory"})).as_bytes())
    );
    // Padding: a payload whose length is not a multiple of 3 gets `=`s.
    let padded_payload = {
        let c = (1..)
            .map(|k| claims(json!({"x": "y".repeat(k)})))
            .find(|c| !c.len().is_multiple_of(3))
            .unwrap();
        let enc = b64(c.as_bytes());
        format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4))
    };
    let signature_trailing_bits = {
        // 32 bytes = 43 chars; the last char carries 2 unused bits: set one.
        let mut s = sig.to_owned();
        let last = s.pop().unwrap();
        let v = B64.iter().position(|b| *b == last as u8).unwrap();
        s.push(B64[v | 1] as char);
        format!("{h}.{pl}.{s}")
    };
    let slash_payload = {
        // "???" encodes as "Pz8_"; Python's b64decode would take "/" for "_", PyJWT 2.15
        // checks the alphabet first.
        let enc = b64(claims(json!({"q": "???"})).as_bytes());
        assert!(enc.contains('_'));
        enc.replace('_', "/")
    };
    let msg422 = |m: &str| msg(422, m);
    run(vec![
        Case::new("baseline", p(&good)).fje(ok(json!({"identity": "alice"}))),
        Case::new("one segment", p("abc")).fje(msg422("Not enough segments")),
        Case::new("two segments", p(&format!("{h}.{pl}"))).fje(msg422("Not enough segments")),
        Case::new("four segments", p(&format!("{good}.{sig}"))),
        Case::new("empty segments", p("..")),
        Case::new("header not base64 (1 mod 4)", p(&format!("a.{pl}.{sig}")))
            .fje(msg422("Invalid header padding")),
        Case::new("payload not base64 (1 mod 4)", p(&format!("{h}.a.{sig}")))
            .fje(msg422("Invalid payload padding")),
        Case::new("signature not base64 (1 mod 4)", p(&format!("{h}.{pl}.a")))
            .fje(msg422("Invalid crypto padding")),
        Case::new("header not JSON", p(&forge("notjson", &claims(json!({}))))).fje(msg422(
            "Invalid header string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new("header a JSON array", p(&forge("[1]", &claims(json!({}))))),
        Case::new(
            "header truncated JSON",
            p(&forge(r#"{"alg":"HS256","#, &claims(json!({})))),
        ),
        Case::new("payload not JSON", p(&forge(HS256_HEADER, "notjson"))).fje(msg422(
            "Invalid payload string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new(
            "payload not JSON, bad signature",
            p(&format!("{h}.{}.{sig}", b64(b"notjson"))),
        )
        .fje(msg422(
            "Invalid payload string: Expecting value: line 1 column 1 (char 0)",
        )),
        Case::new("payload a JSON array", p(&forge(HS256_HEADER, "[1]"))),
        Case::new(
            "payload a JSON string",
            p(&forge(HS256_HEADER, "\"alice\"")),
        ),
        Case::new("wrong key", p(&other_key)).fje(msg422("Signature verification failed")),
        Case::new("tampered payload", p(&tampered)).fje(msg422("Signature verification failed")),
        Case::new(
            "expired and wrong key",
            p(&sign_segments(
                h,
                &b64(claims(json!({"exp": now() - 100})).as_bytes()),
                "another-secret-another-secret-another-secret-another-secret-00",
            )),
        )
        .fje(msg422("Signature verification failed")),
        Case::new("alg none", p(&none)).fje(msg422("The specified alg value is not allowed")),
        Case::new("HS512 on an HS256 app", p(&hs512))
            .fje(msg422("The specified alg value is not allowed")),
        Case::new(
            "alg RS256 with an HMAC signature",
            p(&forge(r#"{"alg":"RS256","typ":"JWT"}"#, &claims(json!({})))),
        )
        .fje(msg422("The specified alg value is not allowed")),
        Case::new("no alg", p(&forge(r#"{"typ":"JWT"}"#, &claims(json!({})))))
            .fje(msg422("Algorithm not specified")),
        // PyJWT: `if not alg or alg not in algorithms`: any non-string alg is "not allowed".
        Case::new(
            "alg a number",
            p(&forge(r#"{"alg":5}"#, &claims(json!({})))),
        )
        .fje(msg422("The specified alg value is not allowed")),
        Case::new("alg null", p(&forge(r#"{"alg":null}"#, &claims(json!({}))))),
        Case::new("alg empty", p(&forge(r#"{"alg":""}"#, &claims(json!({}))))),
        Case::new(
            "kid a number",
            p(&forge(r#"{"alg":"HS256","kid":5}"#, &claims(json!({})))),
        ),
        Case::new(
            "typ at+jwt",
            p(&forge(
                r#"{"alg":"HS256","typ":"at+jwt"}"#,
                &claims(json!({})),
            )),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "no typ",
            p(&forge(r#"{"alg":"HS256"}"#, &claims(json!({})))),
        ),
        Case::new(
            "typ a number",
            p(&forge(r#"{"alg":"HS256","typ":5}"#, &claims(json!({})))),
        ),
        // PyJWT ignores `kid` (only a decode_key_loader would use it); FJE apps that set one
        // through additional_headers with a single secret are common.
        Case::new(
            "kid a string (HMAC app without kids)",
            p(&forge(
                r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
                &claims(json!({})),
            )),
        )
        .fje(ok(json!({"identity": "alice"}))),
        Case::new(
            "jku header",
            p(&forge(
                r#"{"alg":"HS256","jku":"https://evil.example/jwks"}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'jku' is not allowed"),
        ),
        Case::new(
            "x5u header",
            p(&forge(
                r#"{"alg":"HS256","x5u":"https://evil.example/cert"}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'x5u' is not allowed"),
        ),
        Case::new(
            "jwk header",
            p(&forge(
                r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'jwk' is not allowed"),
        ),
        Case::new(
            "x5c header",
            p(&forge(
                r#"{"alg":"HS256","x5c":["AAAA"]}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Header parameter 'x5c' is not allowed"),
        ),
        Case::new(
            "zip header",
            p(&forge(r#"{"alg":"HS256","zip":"DEF"}"#, &claims(json!({})))),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Compressed payloads are not supported"),
        ),
        Case::new(
            "crit [exp]",
            p(&forge(
                r#"{"alg":"HS256","crit":["exp"]}"#,
                &claims(json!({})),
            )),
        )
        .fje(msg422("Unsupported critical extension: exp")),
        Case::new(
            "crit a string",
            p(&forge(
                r#"{"alg":"HS256","crit":"exp"}"#,
                &claims(json!({})),
            )),
        ),
        Case::new(
            "crit empty",
            p(&forge(r#"{"alg":"HS256","crit":[]}"#, &claims(json!({})))),
        ),
        Case::new(
            "crit [5]",
            p(&forge(r#"{"alg":"HS256","crit":[5]}"#, &claims(json!({})))),
        ),
        Case::new(
            "crit [b64] without b64",
            p(&forge(
                r#"{"alg":"HS256","crit":["b64"]}"#,
                &claims(json!({})),
            )),
        ),
        Case::new(
            "crit [b64], b64 true",
            p(&forge(
                r#"{"alg":"HS256","b64":true,"crit":["b64"]}"#,
                &claims(json!({})),
            )),
        )
        .allowed(
            allowed::HEADER_PARAM,
            ok(json!({"identity": "alice"})),
            msg422("Unsupported critical extension: b64"),
        ),
        Case::new(
            "signature with a set trailing bit",
            p(&signature_trailing_bits),
        ),
        Case::new(
            "payload with = padding",
            p(&sign_segments(h, &padded_payload, SECRET)),
        )
        .allowed(
            allowed::B64_PADDING,
            ok(json!({"identity": "alice"})),
            msg422("Invalid payload padding"),
        ),
        Case::new(
            "payload with a '!' inside",
            p(&sign_segments(
                h,
                &format!("{}!{}", &pl[..4], &pl[4..]),
                SECRET,
            )),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "payload with '!!!!' inside",
            p(&sign_segments(
                h,
                &format!("{}!!!!{}", &pl[..4], &pl[4..]),
                SECRET,
            )),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "payload with '/' for '_'",
            p(&sign_segments(h, &slash_payload, SECRET)),
        )
        .fje(msg422("Invalid payload padding")),
        Case::new(
            "duplicate sub",
            p(&forge(
                HS256_HEADER,
                &claims(json!({})).replacen('{', r#"{"sub":"bob","#, 1),
            )),
        )
        .allowed(
            allowed::DUPLICATE_MEMBER,
            ok(json!({"identity": "alice"})),
            Want::MsgPrefix(422, "Invalid payload string: Duplicate member name"),
        ),
    ])
    .await;
}

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

/// Reference §c and §d: cookies and CSRF double submit.
#[tokio::test]
async fn cookies_and_csrf() {
    let cookies = json!({"JWT_TOKEN_LOCATION": ["cookies"]});
    let m = default_manager();
    let at = m.access_token("alice").sign().unwrap();
    let rt = m.refresh_token("alice").sign().unwrap();
    let (t, csrf) = (at.token.as_str(), at.csrf().unwrap());
    let (r, rcsrf) = (rt.token.as_str(), rt.csrf().unwrap());
    let no_csrf_claim = forged(json!({"csrf": null}));
    let expired = forged(json!({"exp": now() - 100}));
    let alice = ok(json!({"identity": "alice"}));
    let c = |name: &str, req: Req| Case::new(name, req).cfg(cookies.clone());
    let get = || Req::get("/protected");
    let post = || Req::post("/protected");
    run(vec![
        c("cookie missing", get()).fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("cookie empty", get().cookie("access_token_cookie="))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("only the CSRF cookie", post().cookie(format!("csrf_access_token={csrf}")).csrf(csrf))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        c("GET with cookie", get().access_cookie(t)).fje(alice.clone()),
        c("GET ignores a wrong CSRF header", get().access_cookie(t).csrf("nope")).fje(alice.clone()),
        c("POST without CSRF header", post().access_cookie(t)).fje(msg(401, "Missing CSRF token")),
        c("POST with empty CSRF header", post().access_cookie(t).csrf(""))
            .fje(msg(401, "Missing CSRF token")),
        c("POST with CSRF", post().access_cookie(t).csrf(csrf)).fje(alice.clone()),
        c("POST with lowercase CSRF header name", post().access_cookie(t).header("x-csrf-token", csrf))
            .fje(alice.clone()),
        c("CSRF mismatch", post().access_cookie(t).csrf("wrong"))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("CSRF header, token without csrf claim", post().access_cookie(&no_csrf_claim).csrf(csrf))
            .fje(msg(422, "Missing claim: csrf")),
        c("expired cookie, wrong CSRF", post().access_cookie(&expired).csrf("wrong"))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("expired cookie, right CSRF", post().access_cookie(&expired).csrf(CSRF))
            .fje(msg(401, "Token has expired")),
        c("expired cookie, GET", get().access_cookie(&expired)).fje(msg(401, "Token has expired")),
        c("garbage cookie", get().access_cookie("garbage")).fje(msg(422, "Not enough segments")),
        c("garbage cookie, POST without CSRF", post().access_cookie("garbage"))
            .fje(msg(401, "Missing CSRF token")),
        c("quoted cookie value", get().cookie(format!("access_token_cookie=\"{t}\""))).fje(alice.clone()),
        c("cookie among others", get().cookie(format!("a=b; access_token_cookie={t}; c=d"))).fje(alice.clone()),
        c("refresh cookie, refresh CSRF", Req::post("/refresh").cookie(format!("refresh_token_cookie={r}")).csrf(rcsrf))
            .fje(alice.clone()),
        c("refresh cookie, access CSRF", Req::post("/refresh").cookie(format!("refresh_token_cookie={r}")).csrf(csrf))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        c("refresh route, only the access cookie", Req::post("/refresh").access_cookie(t).csrf(csrf))
            .fje(msg(401, "Missing cookie \"refresh_token_cookie\"")),
        c("refresh token in the access cookie", get().access_cookie(r))
            .fje(msg(422, "Only non-refresh tokens are allowed")),
        c("whoami via cookie", Req::get("/whoami").access_cookie(t)),
        Case::new("JWT_CSRF_METHODS=[GET]: GET without CSRF", get().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_METHODS": ["GET"]}))
            .fje(msg(401, "Missing CSRF token")),
        Case::new("JWT_CSRF_METHODS=[GET]: POST without CSRF", post().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_METHODS": ["GET"]}))
            .fje(alice.clone()),
        Case::new("JWT_COOKIE_CSRF_PROTECT=False: POST without CSRF", post().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_COOKIE_CSRF_PROTECT": false}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: form field", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("a=1&csrf_token={csrf}")))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: wrong form field", post().access_cookie(t).body("application/x-www-form-urlencoded", "csrf_token=nope"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(msg(401, "CSRF double submit tokens do not match")),
        Case::new("JWT_CSRF_CHECK_FORM: no field", post().access_cookie(t).body("application/x-www-form-urlencoded", "a=1"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(msg(401, "Missing CSRF token")),
        Case::new("form field without JWT_CSRF_CHECK_FORM", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}")))
            .cfg(cookies.clone())
            .fje(msg(401, "Missing CSRF token")),
        Case::new("custom cookie and CSRF header names", post().cookie(format!("at={t}")).header("X-My-Csrf", csrf))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_ACCESS_COOKIE_NAME": "at", "JWT_ACCESS_CSRF_HEADER_NAME": "X-My-Csrf"}))
            .fje(alice.clone()),
        Case::new("custom cookie name, missing", get().access_cookie(t))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_ACCESS_COOKIE_NAME": "at"}))
            .fje(msg(401, "Missing cookie \"at\"")),
        Case::new("route locations=[cookies] on a headers app", Req::get("/cookies-only").access_cookie(t))
            .fje(alice.clone()),
        Case::new("route locations=[cookies], header only", Req::get("/cookies-only").bearer(t))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        Case::new("header token on POST is not CSRF-checked", post().bearer(t)).fje(alice.clone()),
        c("PUT without CSRF", Req::new("PUT", "/protected").access_cookie(t)).fje(msg(401, "Missing CSRF token")),
        c("DELETE with CSRF", Req::new("DELETE", "/protected").access_cookie(t).csrf(csrf)).fje(alice.clone()),
        // Werkzeug (", ") and gunicorn (",") join repeated headers: FJE compares the joined
        // value, so two copies of the right value do not match.
        c("two X-CSRF-TOKEN headers", post().access_cookie(t).csrf(csrf).csrf(csrf)),
        c("empty cookie, then the real one", get().cookie(format!("access_token_cookie=; access_token_cookie={t}"))),
        c("real cookie, then an empty one", get().cookie(format!("access_token_cookie={t}; access_token_cookie="))),
        c("spaces around the cookie '='", get().cookie(format!("access_token_cookie = {t}"))),
        Case::new("JWT_CSRF_CHECK_FORM: form field, chunked", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}")).chunked())
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice.clone()),
        Case::new("JWT_CSRF_CHECK_FORM: form over 64 KiB", post().access_cookie(t).body("application/x-www-form-urlencoded", format!("csrf_token={csrf}&pad={}", "x".repeat(70_000))))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .allowed(allowed::BODY_LIMIT, alice.clone(), msg(413, "Request body too large")),
        Case::new("JWT_CSRF_CHECK_FORM: form over 64 KiB, CSRF header sent", post().access_cookie(t).csrf(csrf).body("application/x-www-form-urlencoded", format!("pad={}", "x".repeat(70_000))))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"], "JWT_CSRF_CHECK_FORM": true}))
            .fje(alice),
    ])
    .await;
}

/// Reference §c and §e: the query string.
#[tokio::test]
async fn query_string() {
    let t = jwtx_access();
    let q = json!({"JWT_TOKEN_LOCATION": ["query_string"]});
    let prefixed =
        json!({"JWT_TOKEN_LOCATION": ["query_string"], "JWT_QUERY_STRING_VALUE_PREFIX": "Bearer "});
    let alice = ok(json!({"identity": "alice"}));
    let c =
        |name: &str, path: String, cfg: &Value| Case::new(name, Req::get(&path)).cfg(cfg.clone());
    run(vec![
        c("missing", "/protected".into(), &q).fje(msg(401, "Missing 'jwt' query paramater")),
        c("empty", "/protected?jwt=".into(), &q).fje(msg(401, "Missing 'jwt' query paramater")),
        c("other parameter", "/protected?token=x".into(), &q)
            .fje(msg(401, "Missing 'jwt' query paramater")),
        c("valid", format!("/protected?jwt={t}"), &q).fje(alice.clone()),
        c("valid, whoami", format!("/whoami?a=1&jwt={t}"), &q),
        c(
            "repeated, first wins",
            format!("/protected?jwt={t}&jwt=garbage"),
            &q,
        )
        .fje(alice.clone()),
        c(
            "repeated, first garbage",
            format!("/protected?jwt=garbage&jwt={t}"),
            &q,
        )
        .fje(msg(422, "Not enough segments")),
        c("prefix missing", format!("/protected?jwt={t}"), &prefixed).fje(msg(
            422,
            "Invalid value for query parameter 'jwt'. Expected the value to start with 'Bearer '",
        )),
        c(
            "prefix %20",
            format!("/protected?jwt=Bearer%20{t}"),
            &prefixed,
        )
        .fje(alice.clone()),
        c("prefix +", format!("/protected?jwt=Bearer+{t}"), &prefixed).fje(alice.clone()),
        c(
            "custom name",
            format!("/protected?token={t}"),
            &json!({"JWT_TOKEN_LOCATION": "query_string", "JWT_QUERY_STRING_NAME": "token"}),
        )
        .fje(alice),
        c(
            "custom name, missing",
            "/protected".into(),
            &json!({"JWT_TOKEN_LOCATION": "query_string", "JWT_QUERY_STRING_NAME": "token"}),
        )
        .fje(msg(401, "Missing 'token' query paramater")),
        c("prefix only", "/protected?jwt=Bearer%20".into(), &prefixed),
        c(
            "percent-encoded token",
            format!("/protected?jwt={}", t.replace('.', "%2E")),
            &q,
        ),
    ])
    .await;
}

/// Reference §c and §e: the JSON body.
#[tokio::test]
async fn json_body() {
    let t = jwtx_access();
    let big = default_manager()
        .access_token("alice")
        .claim("pad", "x".repeat(9000))
        .sign()
        .unwrap()
        .token;
    let rt = jwtx_refresh();
    let j = json!({"JWT_TOKEN_LOCATION": ["json"]});
    let alice = ok(json!({"identity": "alice"}));
    let missing = msg(401, "Missing \"access_token\" key in json data.");
    let bad_type = msg(401, "Invalid content-type. Must be application/json.");
    let c = |name: &str, req: Req| Case::new(name, req).cfg(j.clone());
    let post = || Req::post("/protected");
    run(vec![
        c("GET without body", Req::get("/protected")).fje(bad_type.clone()),
        c(
            "text/plain",
            post().body("text/plain", format!(r#"{{"access_token":"{t}"}}"#)),
        )
        .fje(bad_type.clone()),
        c(
            "form body",
            post().body(
                "application/x-www-form-urlencoded",
                format!("access_token={t}"),
            ),
        )
        .fje(bad_type),
        c("valid", post().json(format!(r#"{{"access_token":"{t}"}}"#))).fje(alice.clone()),
        c(
            "charset parameter",
            post().body(
                "application/json; charset=utf-8",
                format!(r#"{{"access_token":"{t}"}}"#),
            ),
        )
        .fje(alice.clone()),
        c(
            "+json media type",
            post().body(
                "application/vnd.api+json",
                format!(r#"{{"access_token":"{t}"}}"#),
            ),
        )
        .fje(alice.clone()),
        c(
            "upper-case media type",
            post().body("Application/JSON", format!(r#"{{"access_token":"{t}"}}"#)),
        ),
        c("key missing", post().json(r#"{"token":"x"}"#)).fje(missing.clone()),
        c("{}", post().json("{}")).fje(missing.clone()),
        c("malformed", post().json("{")).fje(missing.clone()),
        c("empty body", post().json("")).fje(missing.clone()),
        c("null", post().json("null")).fje(missing.clone()),
        c("empty string value", post().json(r#"{"access_token":""}"#)).fje(missing.clone()),
        c("null value", post().json(r#"{"access_token":null}"#)).fje(missing.clone()),
        c("false value", post().json(r#"{"access_token":false}"#)).fje(missing.clone()),
        // FJE: `if not encoded_token` makes every falsy value (0, 0.0, false, "", [], {}, null)
        // a missing token (401, and the search goes on); any other non-string reaches PyJWT,
        // which answers 422 `Invalid token type. Token must be a <class 'bytes'>`.
        c("zero value", post().json(r#"{"access_token":0}"#)),
        c("empty list value", post().json(r#"{"access_token":[]}"#)),
        c("empty object value", post().json(r#"{"access_token":{}}"#)),
        c("number value", post().json(r#"{"access_token":5}"#)),
        c("true value", post().json(r#"{"access_token":true}"#)),
        c("float value", post().json(r#"{"access_token":1.5}"#)),
        c("0.0 value", post().json(r#"{"access_token":0.0}"#)),
        c("list value", post().json(r#"{"access_token":["a.b.c"]}"#)),
        c("object value", post().json(r#"{"access_token":{"a":1}}"#)),
        Case::new(
            "json,headers: zero value falls through to the header",
            post().bearer(&t).json(r#"{"access_token":0}"#),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["json", "headers"]}))
        .fje(alice.clone()),
        c(
            "garbage value",
            post().json(r#"{"access_token":"garbage"}"#),
        )
        .fje(msg(422, "Not enough segments")),
        c(
            "value with a leading space",
            post().json(format!(r#"{{"access_token":" {t}"}}"#)),
        ),
        c(
            "valid, chunked (no Content-Length)",
            post()
                .json(format!(r#"{{"access_token":"{t}"}}"#))
                .chunked(),
        )
        .fje(alice.clone()),
        c(
            "valid, body over 64 KiB",
            post().json(format!(
                r#"{{"access_token":"{t}","pad":"{}"}}"#,
                "x".repeat(70_000)
            )),
        )
        .allowed(
            allowed::BODY_LIMIT,
            alice.clone(),
            msg(413, "Request body too large"),
        ),
        c(
            "token over 8 KiB",
            post().json(format!(r#"{{"access_token":"{big}"}}"#)),
        )
        .allowed(
            allowed::TOKEN_LEN,
            alice.clone(),
            msg(422, "Token is too large"),
        ),
        c("array body", post().json("[1]")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing.clone(),
        ),
        c("string body", post().json("\"x\"")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing.clone(),
        ),
        c("number body", post().json("5")).allowed(
            allowed::JSON_NOT_OBJECT,
            Want::Html500,
            missing,
        ),
        c(
            "refresh route",
            Req::post("/refresh").json(format!(r#"{{"refresh_token":"{rt}"}}"#)),
        )
        .fje(alice.clone()),
        c(
            "refresh route, access_token key",
            Req::post("/refresh").json(format!(r#"{{"access_token":"{rt}"}}"#)),
        )
        .fje(msg(401, "Missing \"refresh_token\" key in json data.")),
        Case::new(
            "JWT_JSON_KEY=token",
            post().json(format!(r#"{{"token":"{t}"}}"#)),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["json"], "JWT_JSON_KEY": "token"}))
        .fje(alice),
        Case::new("JWT_REFRESH_JSON_KEY=rt", Req::post("/refresh").json("{}"))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["json"], "JWT_REFRESH_JSON_KEY": "rt"}))
            .fje(msg(401, "Missing \"rt\" key in json data.")),
    ])
    .await;
}

/// Reference §e: several locations, their order, the combined message; JWT_ERROR_MESSAGE_KEY.
#[tokio::test]
async fn locations_and_error_key() {
    let m = default_manager();
    let at = m.access_token("alice").sign().unwrap();
    let (t, csrf) = (at.token.as_str(), at.csrf().unwrap());
    let all = json!({"JWT_TOKEN_LOCATION": ["headers", "cookies", "query_string", "json"]});
    let hc = json!({"JWT_TOKEN_LOCATION": ["headers", "cookies"]});
    let ch = json!({"JWT_TOKEN_LOCATION": ["cookies", "headers"]});
    let alice = ok(json!({"identity": "alice"}));
    let whoami = |loc: &str| {
        ok(json!({"identity": "alice", "type": "access", "fresh": false, "location": loc}))
    };
    let error_key = json!({"JWT_ERROR_MESSAGE_KEY": "error"});
    run(vec![
        Case::new("all four, none present", Req::get("/protected")).cfg(all.clone()).fje(msg(
            401,
            "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
             Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; \
             Invalid content-type. Must be application/json.)",
        )),
        Case::new("all four, POST {}", Req::post("/protected").json("{}")).cfg(all.clone()),
        Case::new("all four, refresh route", Req::post("/refresh")).cfg(all.clone()),
        Case::new("all four, header", Req::get("/whoami").bearer(t)).cfg(all.clone()).fje(whoami("headers")),
        Case::new("all four, cookie", Req::get("/whoami").access_cookie(t)).cfg(all.clone()).fje(whoami("cookies")),
        Case::new("all four, query", Req::get(&format!("/whoami?jwt={t}"))).cfg(all.clone()).fje(whoami("query_string")),
        Case::new("all four, Token x then query", Req::get(&format!("/whoami?jwt={t}")).header("Authorization", "Token x"))
            .cfg(all.clone()).fje(whoami("query_string")),
        Case::new("all four, bad Bearer stops the search", Req::get(&format!("/whoami?jwt={t}")).header("Authorization", "Bearer"))
            .cfg(all.clone()).fje(msg(422, BAD_BEARER)),
        Case::new("string location", Req::get("/protected")).cfg(json!({"JWT_TOKEN_LOCATION": "cookies"}))
            .fje(msg(401, "Missing cookie \"access_token_cookie\"")),
        Case::new("headers,cookies: none", Req::get("/protected")).cfg(hc.clone()).fje(msg(
            401,
            "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")",
        )),
        Case::new("headers,cookies: Bearer garbage + valid cookie", Req::get("/protected").bearer("garbage").access_cookie(t))
            .cfg(hc.clone()).fje(msg(422, "Not enough segments")),
        Case::new("headers,cookies: Basic + valid cookie", Req::get("/whoami").header("Authorization", "Basic abc").access_cookie(t))
            .cfg(hc.clone()).fje(whoami("cookies")),
        Case::new("headers,cookies: POST cookie without CSRF + valid Bearer", Req::post("/protected").access_cookie(t).bearer(t))
            .cfg(hc.clone()).fje(alice.clone()),
        Case::new("cookies,headers: POST cookie without CSRF + valid Bearer", Req::post("/protected").access_cookie(t).bearer(t))
            .cfg(ch.clone()).fje(msg(401, "Missing CSRF token")),
        Case::new("cookies,headers: POST cookie with CSRF", Req::post("/protected").access_cookie(t).csrf(csrf).bearer("garbage"))
            .cfg(ch.clone()).fje(alice.clone()),
        Case::new("cookies,headers: expired cookie + valid Bearer", Req::get("/protected").access_cookie(&forged(json!({"exp": now() - 5}))).bearer(t))
            .cfg(ch.clone()).fje(msg(401, "Token has expired")),
        Case::new("cookies,headers: none", Req::get("/protected")).cfg(ch.clone()),
        Case::new("query_string,json: GET", Req::get("/protected")).cfg(json!({"JWT_TOKEN_LOCATION": ["query_string", "json"]})),
        Case::new("json,headers: json wins", Req::get("/whoami").bearer(t).json(format!(r#"{{"access_token":"{t}"}}"#)))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["json", "headers"]})),
        Case::new("headers,json: Token x falls through to json", Req::get("/whoami").header("Authorization", "Token x").json(format!(r#"{{"access_token":"{t}"}}"#)))
            .cfg(json!({"JWT_TOKEN_LOCATION": ["headers", "json"]})).fje(whoami("json")),
        Case::new("error key: missing", Req::get("/protected")).cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Missing Authorization Header"})))),
        Case::new("error key: expired", Req::get("/protected").bearer(&forged(json!({"exp": now() - 100}))))
            .cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Token has expired"})))),
        Case::new("error key: not fresh", Req::get("/fresh").bearer(t)).cfg(error_key.clone())
            .fje(Want::Body(401, jsonify(&json!({"error": "Fresh token required"})))),
        Case::new("error key: bad signature", Req::get("/protected").bearer(&format!("{t}x"))).cfg(error_key.clone())
            .fje(Want::Body(422, jsonify(&json!({"error": "Signature verification failed"})))),
        Case::new("error key: CSRF", Req::post("/protected").access_cookie(t))
            .cfg(json!({"JWT_ERROR_MESSAGE_KEY": "error", "JWT_TOKEN_LOCATION": ["cookies", "headers"]})),
    ])
    .await;
}

/// `@jwt_required(optional=True)` and OPTIONS on a protected route.
#[tokio::test]
async fn optional_and_options() {
    let t = jwtx_access();
    let o = || Req::get("/optional");
    let none = ok(json!({"identity": null}));
    run(vec![
        Case::new("optional, no token", o()).fje(none.clone()),
        Case::new("optional, Token x", o().header("Authorization", "Token x")).fje(none.clone()),
        Case::new("optional, empty header", o().header("Authorization", "")).fje(none.clone()),
        Case::new("optional, valid", o().bearer(&t)).fje(ok(json!({"identity": "alice"}))),
        Case::new("optional, garbage", o().bearer("garbage")).fje(msg(422, "Not enough segments")),
        Case::new(
            "optional, Bearer alone",
            o().header("Authorization", "Bearer"),
        )
        .fje(msg(422, BAD_BEARER)),
        Case::new(
            "optional, expired",
            o().bearer(&forged(json!({"exp": now() - 100}))),
        )
        .fje(msg(401, "Token has expired")),
        Case::new("optional, refresh token", o().bearer(&jwtx_refresh()))
            .fje(msg(422, "Only non-refresh tokens are allowed")),
        Case::new("optional, cookies, none", o())
            .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies", "query_string"]}))
            .fje(none),
        Case::new("OPTIONS, no token", Req::new("OPTIONS", "/protected"))
            .fje(ok(json!({"options": true}))),
        Case::new("HEAD, no token", Req::new("HEAD", "/protected")),
        Case::new("HEAD, valid", Req::new("HEAD", "/protected").bearer(&t)),
        Case::new(
            "HEAD, cookie without CSRF",
            Req::new("HEAD", "/protected").access_cookie(&t),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"]})),
        Case::new(
            "OPTIONS, garbage token",
            Req::new("OPTIONS", "/protected").bearer("garbage"),
        )
        .fje(ok(json!({"options": true}))),
        Case::new(
            "OPTIONS, cookie without CSRF",
            Req::new("OPTIONS", "/protected").access_cookie(&t),
        )
        .cfg(json!({"JWT_TOKEN_LOCATION": ["cookies"]}))
        .fje(ok(json!({"options": true}))),
    ])
    .await;
}

/// Reference §d: the exact Set-Cookie headers of login and logout.
#[tokio::test]
async fn set_cookie_headers() {
    let login = || Req::post("/login").json(r#"{"identity":"alice"}"#);
    let logout = || Req::post("/logout");
    let custom = json!({
        "JWT_COOKIE_SECURE": true, "JWT_COOKIE_SAMESITE": "Strict", "JWT_SESSION_COOKIE": false,
        "JWT_COOKIE_DOMAIN": ".example.com", "JWT_ACCESS_COOKIE_PATH": "/api/",
        "JWT_REFRESH_COOKIE_PATH": "/token/refresh",
    });
    let renamed = json!({
        "JWT_ACCESS_COOKIE_NAME": "at", "JWT_REFRESH_COOKIE_NAME": "rt",
        "JWT_ACCESS_CSRF_COOKIE_NAME": "cat", "JWT_REFRESH_CSRF_COOKIE_NAME": "crt",
        "JWT_ACCESS_CSRF_COOKIE_PATH": "/a", "JWT_REFRESH_CSRF_COOKIE_PATH": "/r",
        "JWT_COOKIE_SAMESITE": "None", "JWT_COOKIE_SECURE": true,
    });
    run(vec![
        Case::new("login, defaults", login()).fje(ok(json!({"login": true}))),
        Case::new("logout, defaults", logout()).fje(ok(json!({"logout": true}))),
        Case::new("login, Secure Strict persistent domain paths", login()).cfg(custom.clone()),
        Case::new("logout, Secure Strict persistent domain paths", logout()).cfg(custom),
        Case::new("login, SameSite=Lax", login()).cfg(json!({"JWT_COOKIE_SAMESITE": "Lax"})),
        Case::new("login, renamed cookies", login()).cfg(renamed.clone()),
        Case::new("logout, renamed cookies", logout()).cfg(renamed),
        Case::new("login, JWT_CSRF_IN_COOKIES=False", login()).cfg(json!({"JWT_CSRF_IN_COOKIES": false})),
        Case::new("logout, JWT_CSRF_IN_COOKIES=False", logout()).cfg(json!({"JWT_CSRF_IN_COOKIES": false})),
        Case::new("login, JWT_COOKIE_CSRF_PROTECT=False", login()).cfg(json!({"JWT_COOKIE_CSRF_PROTECT": false})),
        Case::new("logout, JWT_COOKIE_CSRF_PROTECT=False", logout()).cfg(json!({"JWT_COOKIE_CSRF_PROTECT": false})),
        Case::new("login, domain without dot", login()).cfg(json!({"JWT_COOKIE_DOMAIN": "api.example.com"})),
        Case::new("set_access_cookies(max_age=600, domain=…)", Req::post("/login-short").json(r#"{"identity":"alice"}"#)),
        Case::new("set_access_cookies(max_age=600, domain=…), persistent config", Req::post("/login-short").json(r#"{"identity":"alice"}"#))
            .cfg(json!({"JWT_SESSION_COOKIE": false, "JWT_COOKIE_DOMAIN": ".example.com", "JWT_COOKIE_SECURE": true})),
    ])
    .await;
}

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
