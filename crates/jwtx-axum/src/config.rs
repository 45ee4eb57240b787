//! Configuration: every `JWT_*` option of flask-jwt-extended that applies, with its name.

use std::time::Duration;

use http::{HeaderName, Method};

/// Where a token can be read from (`JWT_TOKEN_LOCATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// The `Authorization` header (`JWT_HEADER_NAME` / `JWT_HEADER_TYPE`).
    Headers,
    /// The access or refresh cookie, with CSRF double submit.
    Cookies,
    /// The `jwt` query parameter.
    QueryString,
    /// A JSON body member (`access_token` / `refresh_token`).
    Json,
}

impl Location {
    /// flask-jwt-extended's name (`get_jwt_request_location()`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Location::Headers => "headers",
            Location::Cookies => "cookies",
            Location::QueryString => "query_string",
            Location::Json => "json",
        }
    }

    /// Parses `headers`, `cookies`, `query_string` or `json`.
    pub fn parse(s: &str) -> Option<Location> {
        Some(match s.trim() {
            "headers" => Location::Headers,
            "cookies" => Location::Cookies,
            "query_string" => Location::QueryString,
            "json" => Location::Json,
            _ => return None,
        })
    }
}

/// The `SameSite` cookie attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `Strict`.
    Strict,
    /// `Lax`.
    Lax,
    /// `None` (requires `Secure` in browsers).
    None,
}

impl SameSite {
    /// The attribute value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// How long JWT and CSRF cookies last in the browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieLifetime {
    /// Session cookies: no `Max-Age`, no `Expires` (flask-jwt-extended's default).
    Session,
    /// A fixed lifetime (`JWT_SESSION_COOKIE=False` gives 31 540 000 s in flask-jwt-extended).
    Fixed(Duration),
    /// The token's own lifetime (`exp - now`), jwtx's secure default.
    TokenLifetime,
}

/// How error responses look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorStyle {
    /// flask-jwt-extended's statuses and `{"msg": …}` bodies, byte for byte, plus
    /// `WWW-Authenticate: Bearer` on 401.
    FlaskJwtExtended,
    /// RFC 6750: every token failure is 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token", error_description="…"`.
    Rfc6750,
}

/// The manager's configuration. Start from [`JwtConfig::default`] (secure cookies) or
/// [`JwtConfig::flask_jwt_extended`] (that library's defaults exactly) and change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwtConfig {
    /// `JWT_TOKEN_LOCATION`: where tokens are looked for, in this order.
    pub token_location: Vec<Location>,
    /// `JWT_HEADER_NAME`: looked up case-insensitively, printed in messages exactly as
    /// written here (`"X-API-KEY"` gives `Missing X-API-KEY Header`).
    pub header_name: String,
    /// `JWT_HEADER_TYPE` (case-sensitive; empty means the header holds the bare JWT).
    pub header_type: String,
    /// `JWT_QUERY_STRING_NAME`.
    pub query_string_name: String,
    /// `JWT_QUERY_STRING_VALUE_PREFIX`.
    pub query_string_value_prefix: String,
    /// `JWT_JSON_KEY`.
    pub json_key: String,
    /// `JWT_REFRESH_JSON_KEY`.
    pub refresh_json_key: String,
    /// `JWT_ACCESS_COOKIE_NAME`.
    pub access_cookie_name: String,
    /// `JWT_REFRESH_COOKIE_NAME`.
    pub refresh_cookie_name: String,
    /// `JWT_ACCESS_COOKIE_PATH`.
    pub access_cookie_path: String,
    /// `JWT_REFRESH_COOKIE_PATH`.
    pub refresh_cookie_path: String,
    /// `JWT_COOKIE_SECURE`.
    pub cookie_secure: bool,
    /// `JWT_COOKIE_DOMAIN` (a leading dot is dropped, as Werkzeug does).
    pub cookie_domain: Option<String>,
    /// `JWT_COOKIE_SAMESITE` (`None` here means no attribute).
    pub cookie_samesite: Option<SameSite>,
    /// `JWT_SESSION_COOKIE`, generalised.
    pub cookie_lifetime: CookieLifetime,
    /// `JWT_COOKIE_CSRF_PROTECT`.
    pub csrf_protect: bool,
    /// `JWT_CSRF_IN_COOKIES`.
    pub csrf_in_cookies: bool,
    /// `JWT_CSRF_METHODS`.
    pub csrf_methods: Vec<Method>,
    /// `JWT_ACCESS_CSRF_COOKIE_NAME`.
    pub access_csrf_cookie_name: String,
    /// `JWT_REFRESH_CSRF_COOKIE_NAME`.
    pub refresh_csrf_cookie_name: String,
    /// `JWT_ACCESS_CSRF_COOKIE_PATH`.
    pub access_csrf_cookie_path: String,
    /// `JWT_REFRESH_CSRF_COOKIE_PATH`.
    pub refresh_csrf_cookie_path: String,
    /// `JWT_ACCESS_CSRF_HEADER_NAME`.
    pub access_csrf_header_name: HeaderName,
    /// `JWT_REFRESH_CSRF_HEADER_NAME`.
    pub refresh_csrf_header_name: HeaderName,
    /// `JWT_CSRF_CHECK_FORM`.
    pub csrf_check_form: bool,
    /// `JWT_ACCESS_CSRF_FIELD_NAME`.
    pub access_csrf_field_name: String,
    /// `JWT_REFRESH_CSRF_FIELD_NAME`.
    pub refresh_csrf_field_name: String,
    /// `JWT_ERROR_MESSAGE_KEY`.
    pub error_message_key: String,
    /// Error response style.
    pub error_style: ErrorStyle,
    /// Largest request body [`JwtLayer`](crate::JwtLayer) reads for the `json` location and
    /// the CSRF form field (default 64 KiB). A longer body still reaches the handler whole, but
    /// a token or CSRF value that must come from it is refused with 413.
    pub body_limit: usize,
}

impl JwtConfig {
    /// flask-jwt-extended 4.7.4's defaults, exactly: headers only, session cookies without
    /// `Secure` or `SameSite`, CSRF protection on.
    pub fn flask_jwt_extended() -> Self {
        let x_csrf = HeaderName::from_static("x-csrf-token");
        JwtConfig {
            token_location: vec![Location::Headers],
            header_name: "Authorization".into(),
            header_type: "Bearer".into(),
            query_string_name: "jwt".into(),
            query_string_value_prefix: String::new(),
            json_key: "access_token".into(),
            refresh_json_key: "refresh_token".into(),
            access_cookie_name: "access_token_cookie".into(),
            refresh_cookie_name: "refresh_token_cookie".into(),
            access_cookie_path: "/".into(),
            refresh_cookie_path: "/".into(),
            cookie_secure: false,
            cookie_domain: None,
            cookie_samesite: None,
            cookie_lifetime: CookieLifetime::Session,
            csrf_protect: true,
            csrf_in_cookies: true,
            csrf_methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
            access_csrf_cookie_name: "csrf_access_token".into(),
            refresh_csrf_cookie_name: "csrf_refresh_token".into(),
            access_csrf_cookie_path: "/".into(),
            refresh_csrf_cookie_path: "/".into(),
            access_csrf_header_name: x_csrf.clone(),
            refresh_csrf_header_name: x_csrf,
            csrf_check_form: false,
            access_csrf_field_name: "csrf_token".into(),
            refresh_csrf_field_name: "csrf_token".into(),
            error_message_key: "msg".into(),
            error_style: ErrorStyle::FlaskJwtExtended,
            body_limit: 64 * 1024,
        }
    }

    /// flask-jwt-extended's behaviour with `JWT_SESSION_COOKIE=False` (cookies last
    /// 31 540 000 s).
    pub fn persistent_cookies(mut self) -> Self {
        self.cookie_lifetime = CookieLifetime::Fixed(Duration::from_secs(31_540_000));
        self
    }
}

impl Default for JwtConfig {
    /// flask-jwt-extended's names and rules with secure cookies: `Secure`, `SameSite=Lax`,
    /// `HttpOnly` JWT cookies and a `Max-Age` equal to the token's lifetime.
    fn default() -> Self {
        JwtConfig {
            cookie_secure: true,
            cookie_samesite: Some(SameSite::Lax),
            cookie_lifetime: CookieLifetime::TokenLifetime,
            ..JwtConfig::flask_jwt_extended()
        }
    }
}
