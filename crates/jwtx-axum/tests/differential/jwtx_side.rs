//! The jwtx side of each case: a `JwtManager` built from the case's `JWT_*` configuration (the
//! same overrides FJE takes), a router with the routes of `tests/flask/fje_app.py`, and each
//! side's answer to one request (jwtx through `tower::ServiceExt::oneshot`, FJE through the
//! oracle).

use super::*;

pub(crate) fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

pub(crate) fn header_name(v: &Value) -> HeaderName {
    HeaderName::from_bytes(str_of(v).as_bytes()).unwrap()
}

/// The manager for `setup`: the same `JWT_*` options, mapped onto `JwtConfig`.
pub(crate) fn manager(setup: &Setup) -> JwtManager {
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

pub(crate) fn flask_json(v: &Value) -> Response {
    let mut r = Response::new(Body::from(jsonify(v)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) async fn protected(jwt: Jwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

pub(crate) async fn protected_options(_jwt: Option<Jwt>) -> Response {
    flask_json(&json!({ "options": true }))
}

pub(crate) async fn optional(jwt: Option<Jwt>) -> Response {
    flask_json(&json!({ "identity": jwt.as_ref().map(|j| j.identity()) }))
}

pub(crate) async fn fresh(jwt: FreshJwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

pub(crate) async fn refresh(jwt: RefreshJwt) -> Response {
    flask_json(&json!({ "identity": jwt.identity() }))
}

pub(crate) async fn any_type(jwt: AnyJwt) -> Response {
    flask_json(&json!({ "type": jwt.claims().token_type.as_str() }))
}

pub(crate) async fn login(State(m): State<JwtManager>, Json(body): Json<Value>) -> Response {
    let identity = str_of(&body["identity"]);
    let access = m.access_token(identity.clone()).fresh(true).sign().unwrap();
    let refresh = m.refresh_token(identity).sign().unwrap();
    let mut r = flask_json(&json!({ "login": true }));
    m.set_access_cookies(r.headers_mut(), &access);
    m.set_refresh_cookies(r.headers_mut(), &refresh);
    r
}

pub(crate) async fn login_short(State(m): State<JwtManager>, Json(body): Json<Value>) -> Response {
    let access = m.access_token(str_of(&body["identity"])).sign().unwrap();
    let mut r = flask_json(&json!({ "login": true }));
    let over = CookieOverrides {
        max_age: Some(Duration::from_secs(600)),
        domain: Some("api.example.com".into()),
    };
    m.set_access_cookies_with(r.headers_mut(), &access, &over);
    r
}

pub(crate) async fn logout(State(m): State<JwtManager>) -> Response {
    let mut r = flask_json(&json!({ "logout": true }));
    m.unset_jwt_cookies(r.headers_mut());
    r
}

pub(crate) async fn whoami(jwt: Jwt) -> Response {
    flask_json(&json!({
        "identity": jwt.identity(),
        "type": jwt.claims().token_type.as_str(),
        "fresh": serde_json::to_value(jwt.claims().fresh).unwrap(),
        "location": jwt.location().as_str(),
    }))
}

pub(crate) fn jwtx_app(setup: &Setup) -> Router {
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

pub(crate) async fn jwtx_answer(setup: &Setup, req: &Req) -> Answer {
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

pub(crate) fn fje_answer(setup: &Setup, req: &Req) -> Answer {
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
