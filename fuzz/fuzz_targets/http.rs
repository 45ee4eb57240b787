//! HTTP requests built from fuzz bytes → a jwtx-axum router (its public API only: `JwtManager`,
//! `JwtLayer`, `JwtRoute` and the extractors), driven with `tower::ServiceExt::oneshot` on one
//! current-thread runtime. Exercises token lookup in every location (the `Authorization`
//! header, cookies with CSRF double submit, the query string, JSON and form bodies), the
//! verification pipeline behind it (type, freshness, revocation, custom verification), both
//! error styles, the body limit, implicit cookie refresh, and (manager B) the cache of
//! verified tokens.
//!
//! Input format (see `examples/seed_corpus.rs` for the seeds):
//!
//! ```text
//! byte 0: flags  bit 0     POST (else GET)
//!                bits 1-3  route: /jwt /fresh /refresh /any /optional /cookies /jwt /jwt
//!                bit 4     manager B (else A), see `managers`
//!                bits 5-6  Content-Type: none, application/json,
//!                          application/x-www-form-urlencoded, from the `extra` line
//!                bit 7     send the Authorization line twice (repeated header)
//! then '\n'-separated: authorization, cookie, x-csrf-token, query, extra, body (the rest)
//! ```
//!
//! `extra` is `name: value` (any header, e.g. a second `Cookie`), or the Content-Type value
//! when bits 5-6 are 3. In every line `$d` is replaced by token `d` of the pool below and `^d`
//! by its `csrf` claim (`d` a digit), so mutations reach verification with real tokens.
//! Header values that `http` refuses are left out; the query is percent-encoded where it
//! would not make a URI.
//!
//! `JWTX_FUZZ_TRACE=1` prints every request's status and body, e.g. to see what the seeds
//! reach: `JWTX_FUZZ_TRACE=1 cargo +nightly fuzz run http corpus/http -- -runs=0`.
//!
//! Invariants: no panic; the status is one of 200, 400, 401, 413 and 422 (never 500 or
//! anything else); an error has a JSON `{"msg": …}` body and a 401 has `WWW-Authenticate`;
//! 200 only for a pool token that the route may accept (right type, fresh where needed, not
//! expired, revoked, refused by the verification callback or signed with another key) and that
//! the request carries; a `Set-Cookie` (implicit refresh) only on a 200; and a request that
//! carries just `Authorization: Bearer <valid access token>` to `/jwt` gets 200.

#![no_main]

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use jwtx::{Algorithm, Codec, FixedClock, Key};
use jwtx_axum::{
    AnyJwt, ErrorStyle, FreshJwt, Jwt, JwtConfig, JwtLayer, JwtManager, JwtRoute, Location,
    RefreshJwt,
};
use jwtx_fuzz::{NOW, SECRET};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// What a pool token may be accepted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    Access { fresh: bool },
    Refresh,
    Never,
}

#[derive(Debug)]
struct Entry {
    token: String,
    csrf: String,
    jti: String,
    accept: Accept,
}

struct World {
    rt: tokio::runtime::Runtime,
    routers: [Router; 2],
    pool: Vec<Entry>,
}

/// The routes, by the index in the flags byte (bits 1-3).
const ROUTES: [&str; 8] = [
    "/jwt",
    "/fresh",
    "/refresh",
    "/any",
    "/optional",
    "/cookies",
    "/jwt",
    "/jwt",
];

fn codec_at(now: u64, secret: &[u8]) -> Codec {
    let key = Key::hmac(Algorithm::HS256, secret).unwrap_or_else(|e| panic!("{e}"));
    Codec::new(key).with_clock(Arc::new(FixedClock::new(now)))
}

/// A: flask-jwt-extended's defaults with every location, CSRF checked in forms too.
/// B: secure cookies, RFC 6750 errors, bare tokens in the header, a `Bearer ` query prefix,
/// a 512-byte body limit, locations in reverse order, implicit refresh.
fn managers() -> [(JwtManager, bool); 2] {
    // Manager B keeps verified tokens across inputs (the world is built once), so mutated
    // tokens are probed against a cache that holds the pool's valid ones.
    let build = |config: JwtConfig, cached: usize| {
        JwtManager::builder(codec_at(NOW, SECRET))
            .config(config)
            .verified_cache(cached)
            .revocation_check(|t| async move { Ok::<_, Infallible>(t.sub() == "revoked") })
            .token_verification(|t| t.sub() != "mallory")
            .build()
    };
    let all = vec![
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ];
    let mut a = JwtConfig::flask_jwt_extended();
    a.token_location = all.clone();
    a.csrf_check_form = true;
    let mut b = JwtConfig::default();
    b.token_location = all.into_iter().rev().collect();
    b.error_style = ErrorStyle::Rfc6750;
    b.header_type = String::new();
    b.query_string_value_prefix = "Bearer ".into();
    b.body_limit = 512;
    b.csrf_check_form = true;
    [(build(a, 0), false), (build(b, 64), true)]
}

/// The handler answers the verified token's `jti` (or `-` without a token).
fn body_of(jti: Option<&str>) -> String {
    jti.unwrap_or("-").to_owned()
}

fn router(manager: JwtManager, implicit_refresh: bool) -> Router {
    async fn jwt(t: Jwt) -> String {
        body_of(t.claims().jti.as_deref())
    }
    async fn fresh(t: FreshJwt) -> String {
        body_of(t.claims().jti.as_deref())
    }
    async fn refresh(t: RefreshJwt) -> String {
        body_of(t.claims().jti.as_deref())
    }
    async fn any(t: AnyJwt) -> String {
        body_of(t.claims().jti.as_deref())
    }
    async fn optional(t: Option<Jwt>) -> String {
        body_of(t.as_ref().and_then(|t| t.claims().jti.as_deref()))
    }
    let mut layer = JwtLayer::new(manager.clone());
    if implicit_refresh {
        layer = layer.implicit_refresh(Duration::from_secs(3600));
    }
    Router::new()
        .route("/jwt", get(jwt).post(jwt))
        .route("/fresh", get(fresh).post(fresh))
        .route("/refresh", get(refresh).post(refresh))
        .route("/any", get(any).post(any))
        .route("/optional", get(optional).post(optional))
        .route(
            "/cookies",
            get(jwt)
                .post(jwt)
                .route_layer(JwtRoute::new().locations([Location::Cookies, Location::Json])),
        )
        .layer(layer)
        .with_state(manager)
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let [(a, _), (b, refresh_b)] = managers();
        let m = &a;
        let other = codec_at(NOW, b"another secret of thirty-two B!!");
        // Tokens issued two hours ago: the access token (15 min) has expired; the refresh
        // token (30 days by default) is given one minute so that it has too.
        let past = codec_at(NOW - 7200, SECRET);
        let mut extra = serde_json::Map::new();
        extra.insert("x-app".into(), "1".into());
        let issued = [
            (
                m.access_token("alice").fresh(true).sign(),
                Accept::Access { fresh: true },
            ),
            (
                m.access_token("bob").sign(),
                Accept::Access { fresh: false },
            ),
            (m.refresh_token("alice").sign(), Accept::Refresh),
            (m.access_token("revoked").fresh(true).sign(), Accept::Never),
            (m.access_token("mallory").fresh(true).sign(), Accept::Never),
            (past.access_token("alice").fresh(true).sign(), Accept::Never),
            (
                other.access_token("alice").fresh(true).sign(),
                Accept::Never,
            ),
            (
                m.access_token("carol").headers(extra).sign(),
                Accept::Access { fresh: false },
            ),
            (m.access_token("dave").never_expires().sign(), Accept::Never),
            (
                past.refresh_token("alice")
                    .expires_in(Duration::from_secs(60))
                    .sign(),
                Accept::Never,
            ),
        ];
        let pool = issued
            .into_iter()
            .map(|(t, accept)| {
                let t = t.unwrap_or_else(|e| panic!("pool token: {e}"));
                Entry {
                    csrf: t.claims.csrf.clone().unwrap_or_default(),
                    jti: t.claims.jti.clone().unwrap_or_default(),
                    token: t.token,
                    accept,
                }
            })
            .collect();
        World {
            rt,
            routers: [router(a, false), router(b, refresh_b)],
            pool,
        }
    })
}

/// `$d` → token `d`, `^d` → its csrf value.
fn substitute(line: &[u8], pool: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        match (line[i], line.get(i + 1)) {
            (m @ (b'$' | b'^'), Some(d)) if d.is_ascii_digit() => {
                let e = &pool[usize::from(d - b'0') % pool.len()];
                out.extend_from_slice(if m == b'$' {
                    e.token.as_bytes()
                } else {
                    e.csrf.as_bytes()
                });
                i += 2;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn uri(path: &str, query: &[u8]) -> http::Uri {
    let plain = format!("{path}?{}", String::from_utf8_lossy(query));
    if !query.is_empty()
        && let Ok(u) = plain.parse()
    {
        return u;
    }
    let mut s = String::from(path);
    if !query.is_empty() {
        s.push('?');
        for &b in query {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                s.push(char::from(b));
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
    }
    s.parse().unwrap_or_else(|_| http::Uri::from_static("/"))
}

/// `JWTX_FUZZ_TRACE=1` prints each request's outcome (to check what the seeds reach).
fn trace() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("JWTX_FUZZ_TRACE").is_some())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let method = if flags & 1 == 1 {
        Method::POST
    } else {
        Method::GET
    };
    let path = ROUTES[usize::from((flags >> 1) & 7)];
    let which = usize::from((flags >> 4) & 1);
    let mut lines = rest.splitn(6, |&b| b == b'\n');
    let mut next = || substitute(lines.next().unwrap_or(b""), &w.pool);
    let (auth, cookie, csrf, query, extra, body) = (next(), next(), next(), next(), next(), next());

    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri(path, &query));
    let mut carried: Vec<u8> = Vec::new(); // everything the request carries, to find tokens in
    let mut add = |req: http::request::Builder, name: HeaderName, value: &[u8]| {
        if value.is_empty() {
            return req;
        }
        match HeaderValue::from_bytes(value) {
            Ok(v) => {
                carried.extend_from_slice(value);
                carried.push(b'\n');
                req.header(name, v)
            }
            Err(_) => req,
        }
    };
    req = add(req, header::AUTHORIZATION, &auth);
    if flags & 0x80 != 0 {
        req = add(req, header::AUTHORIZATION, &auth);
    }
    req = add(req, header::COOKIE, &cookie);
    req = add(req, HeaderName::from_static("x-csrf-token"), &csrf);
    match (flags >> 5) & 3 {
        1 => req = add(req, header::CONTENT_TYPE, b"application/json"),
        2 => {
            req = add(
                req,
                header::CONTENT_TYPE,
                b"application/x-www-form-urlencoded",
            )
        }
        3 => req = add(req, header::CONTENT_TYPE, &extra),
        _ => {
            if let Some(colon) = extra.iter().position(|&b| b == b':')
                && let Ok(name) = HeaderName::from_bytes(&extra[..colon])
            {
                let value = extra[colon + 1..].trim_ascii();
                req = add(req, name, value);
            }
        }
    }
    carried.extend_from_slice(&query);
    carried.push(b'\n');
    carried.extend_from_slice(&body);
    let Ok(req) = req.body(Body::from(body.clone())) else {
        return;
    };

    let router = w.routers[which].clone();
    let response =
        w.rt.block_on(router.oneshot(req))
            .unwrap_or_else(|e| match e {});
    let status = response.status();
    let set_cookie = response.headers().contains_key(header::SET_COOKIE);
    let www = response.headers().contains_key(header::WWW_AUTHENTICATE);
    let bytes =
        w.rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap_or_else(|e| panic!("response body: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    let input = String::from_utf8_lossy(data);
    if trace() {
        eprintln!(
            "{method} {path} (manager {which}) -> {status} {}",
            text.trim_end()
        );
    }

    assert!(
        matches!(status.as_u16(), 200 | 400 | 401 | 413 | 422),
        "{path} answered {status} ({text}) to {input:?}"
    );
    if status != StatusCode::OK {
        let msg: Option<String> = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("msg")?.as_str().map(str::to_owned));
        assert!(
            msg.is_some(),
            "{status} without a msg body ({text}) to {input:?}"
        );
        assert!(!set_cookie, "{status} set a cookie, to {input:?}");
    }
    if status == StatusCode::UNAUTHORIZED {
        assert!(www, "401 without WWW-Authenticate ({text}) to {input:?}");
    }
    if status == StatusCode::OK {
        if text == "-" {
            assert_eq!(
                path, "/optional",
                "{path} answered 200 without a token to {input:?}"
            );
            return;
        }
        let entry = w
            .pool
            .iter()
            .find(|e| e.jti == text)
            .unwrap_or_else(|| panic!("200 for a token not in the pool ({text}) to {input:?}"));
        assert!(
            contains(&carried, entry.token.as_bytes()),
            "200 for a token the request does not carry, to {input:?}"
        );
        let ok = match (path, entry.accept) {
            (_, Accept::Never) => false,
            ("/fresh", a) => a == Accept::Access { fresh: true },
            ("/refresh", a) => a == Accept::Refresh,
            ("/any", _) => true,
            (_, a) => matches!(a, Accept::Access { .. }),
        };
        assert!(ok, "{path} accepted {entry:?} from {input:?}");
    }

    // Liveness: a plain bearer request with a valid access token passes on manager A.
    if which == 0 && path == "/jwt" && method == Method::GET && flags & 0x80 == 0 {
        let bare = [&cookie, &csrf, &query, &extra, &body]
            .iter()
            .all(|l| l.is_empty());
        if bare
            && let Some(e) = w
                .pool
                .iter()
                .find(|e| auth == format!("Bearer {}", e.token).as_bytes())
            && matches!(e.accept, Accept::Access { .. })
        {
            assert_eq!(
                status,
                StatusCode::OK,
                "a valid bearer token was refused: {text}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| run(data));
