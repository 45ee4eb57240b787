//! Configuration: every `JWT_*` option of flask-jwt-extended that applies, with its name.
//!
//! The settings named by words ([`Location`], [`SameSite`], [`ErrorStyle`], [`CookieProfile`])
//! parse from text ([`FromStr`]) and deserialize (serde) with one vocabulary, the one the
//! `jwtx` server's configuration accepts; an unknown word is an [`UnknownConfigValue`] that
//! lists the valid ones.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, Method};
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A word that is not one of a setting's values, e.g. `"xml" is not an error style; use
/// flask-jwt-extended or rfc6750`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownConfigValue {
    value: String,
    what: &'static str,
    valid: &'static [&'static str],
}

impl UnknownConfigValue {
    fn new(value: &str, what: &'static str, valid: &'static [&'static str]) -> Self {
        UnknownConfigValue {
            value: value.to_owned(),
            what,
            valid,
        }
    }

    /// The value as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The values that would have been accepted.
    pub fn valid(&self) -> &'static [&'static str] {
        self.valid
    }
}

/// `a, b or c`.
fn write_list(f: &mut fmt::Formatter<'_>, valid: &[&str]) -> fmt::Result {
    for (i, v) in valid.iter().enumerate() {
        if i > 0 {
            f.write_str(if i + 1 == valid.len() { " or " } else { ", " })?;
        }
        f.write_str(v)?;
    }
    Ok(())
}

impl fmt::Display for UnknownConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not {}; use ", self.value, self.what)?;
        write_list(f, self.valid)
    }
}

impl std::error::Error for UnknownConfigValue {}

/// A setting named by a word: its name in messages and its valid words.
trait Word: FromStr<Err = UnknownConfigValue> {
    /// `a token location`.
    const WHAT: &'static str;
    /// Every accepted word.
    const VALID: &'static [&'static str];
}

/// Deserializes a [`Word`] from a string through its [`FromStr`], so both share one
/// vocabulary and one error message.
struct WordVisitor<T>(PhantomData<T>);

impl<T: Word> Visitor<'_> for WordVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", T::WHAT)?;
        write_list(f, T::VALID)?;
        f.write_str(")")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! deserialize_word {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(WordVisitor(PhantomData))
            }
        }
    };
}

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

    const ALL: [Location; 4] = [
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ];

    /// Parses `headers`, `cookies`, `query_string` or `json` (see [`FromStr`]).
    pub fn parse(s: &str) -> Option<Location> {
        s.parse().ok()
    }
}

impl Word for Location {
    const WHAT: &'static str = "a token location";
    const VALID: &'static [&'static str] = &[
        Location::Headers.as_str(),
        Location::Cookies.as_str(),
        Location::QueryString.as_str(),
        Location::Json.as_str(),
    ];
}

impl FromStr for Location {
    type Err = UnknownConfigValue;

    /// `headers`, `cookies`, `query_string` or `json` (surrounding white space ignored;
    /// case-sensitive, as `JWT_TOKEN_LOCATION`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Location::ALL
            .into_iter()
            .find(|l| l.as_str() == name)
            .ok_or_else(|| UnknownConfigValue::new(name, Self::WHAT, Self::VALID))
    }
}

deserialize_word!(Location);

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

    /// Parses a setting that may also turn the attribute off: `lax`, `strict`, `none`, or
    /// `off` (or nothing) for no attribute; case-insensitive.
    pub fn parse_setting(s: &str) -> Result<Option<SameSite>, UnknownConfigValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Ok(None),
            _ => s
                .parse()
                .map(Some)
                .map_err(|_| UnknownConfigValue::new(s, Self::WHAT, SAME_SITE_SETTINGS)),
        }
    }

    /// Deserializes a string as [`SameSite::parse_setting`] does, for
    /// `#[serde(deserialize_with = "SameSite::deserialize_setting")]` on an
    /// `Option<SameSite>`.
    pub fn deserialize_setting<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SameSite>, D::Error> {
        struct Setting;
        impl Visitor<'_> for Setting {
            type Value = Option<SameSite>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} (", SameSite::WHAT)?;
                write_list(f, SAME_SITE_SETTINGS)?;
                f.write_str(")")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                SameSite::parse_setting(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Setting)
    }
}

/// [`SameSite::parse_setting`]'s words.
const SAME_SITE_SETTINGS: &[&str] = &["lax", "strict", "none", "off"];

impl Word for SameSite {
    const WHAT: &'static str = "a SameSite value";
    const VALID: &'static [&'static str] = &["lax", "strict", "none"];
}

impl FromStr for SameSite {
    type Err = UnknownConfigValue;

    /// `lax`, `strict` or `none`, case-insensitive (`Lax` as in the attribute works too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(UnknownConfigValue::new(s, Self::WHAT, Self::VALID)),
        }
    }
}

deserialize_word!(SameSite);

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

impl ErrorStyle {
    /// The configuration name: `flask-jwt-extended` or `rfc6750`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorStyle::FlaskJwtExtended => "flask-jwt-extended",
            ErrorStyle::Rfc6750 => "rfc6750",
        }
    }
}

impl Word for ErrorStyle {
    const WHAT: &'static str = "an error style";
    const VALID: &'static [&'static str] = &[
        ErrorStyle::FlaskJwtExtended.as_str(),
        ErrorStyle::Rfc6750.as_str(),
    ];
}

impl FromStr for ErrorStyle {
    type Err = UnknownConfigValue;

    /// `flask-jwt-extended` or `rfc6750` (surrounding white space ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        [ErrorStyle::FlaskJwtExtended, ErrorStyle::Rfc6750]
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| UnknownConfigValue::new(name, Self::WHAT, Self::VALID))
    }
}

deserialize_word!(ErrorStyle);

/// Which cookies a configuration starts from: [`JwtConfig::default`] or
/// [`JwtConfig::flask_jwt_extended`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CookieProfile {
    /// `jwtx`: `Secure`, `SameSite=Lax`, `HttpOnly` JWT cookies whose `Max-Age` is the
    /// token's lifetime ([`JwtConfig::default`]).
    #[default]
    Jwtx,
    /// `flask-jwt-extended`: that library's default cookies exactly: session cookies, no
    /// `Secure`, no `SameSite` ([`JwtConfig::flask_jwt_extended`]).
    FlaskJwtExtended,
}

impl CookieProfile {
    /// The configuration name: `jwtx` or `flask-jwt-extended`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CookieProfile::Jwtx => "jwtx",
            CookieProfile::FlaskJwtExtended => "flask-jwt-extended",
        }
    }

    /// The configuration this profile starts from.
    pub fn jwt_config(self) -> JwtConfig {
        match self {
            CookieProfile::Jwtx => JwtConfig::default(),
            CookieProfile::FlaskJwtExtended => JwtConfig::flask_jwt_extended(),
        }
    }
}

impl Word for CookieProfile {
    const WHAT: &'static str = "a cookie profile";
    const VALID: &'static [&'static str] = &[
        CookieProfile::Jwtx.as_str(),
        CookieProfile::FlaskJwtExtended.as_str(),
    ];
}

impl FromStr for CookieProfile {
    type Err = UnknownConfigValue;

    /// `jwtx` or `flask-jwt-extended` (surrounding white space ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        [CookieProfile::Jwtx, CookieProfile::FlaskJwtExtended]
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| UnknownConfigValue::new(name, Self::WHAT, Self::VALID))
    }
}

deserialize_word!(CookieProfile);

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
    /// the CSRF form field ([`JwtConfig::DEFAULT_BODY_LIMIT`], 64 KiB). A longer body still reaches the handler whole, but
    /// a token or CSRF value that must come from it is refused with 413.
    pub body_limit: usize,
}

impl JwtConfig {
    /// [`JwtConfig::body_limit`] unless changed: 64 KiB.
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

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
            body_limit: JwtConfig::DEFAULT_BODY_LIMIT,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, from_value, json};

    /// `T` from a JSON value, or the error's text.
    fn de<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, String> {
        from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn locations() {
        for (text, loc) in [
            ("headers", Location::Headers),
            ("cookies", Location::Cookies),
            ("query_string", Location::QueryString),
            (" json ", Location::Json),
        ] {
            assert_eq!(text.parse::<Location>(), Ok(loc));
            assert_eq!(Location::parse(text), Some(loc));
            assert_eq!(de::<Location>(json!(text)), Ok(loc));
            assert_eq!(loc.as_str().parse::<Location>(), Ok(loc));
        }
        let e = "body".parse::<Location>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"body\" is not a token location; use headers, cookies, query_string or json"
        );
        assert_eq!(e.value(), "body");
        assert_eq!(e.valid(), ["headers", "cookies", "query_string", "json"]);
        assert_eq!(Location::parse("Headers"), None, "case-sensitive");
        assert_eq!(
            de::<Location>(json!("body")),
            Err(e.to_string()),
            "one vocabulary, one message"
        );
        assert_eq!(
            de::<Vec<Location>>(json!(["cookies", "headers"])),
            Ok(vec![Location::Cookies, Location::Headers])
        );
        assert_eq!(
            de::<Location>(json!(1)),
            Err("invalid type: integer `1`, expected a token location \
                 (headers, cookies, query_string or json)"
                .into())
        );
    }

    #[test]
    fn same_site() {
        for (text, ss) in [
            ("lax", SameSite::Lax),
            ("Strict", SameSite::Strict),
            ("NONE", SameSite::None),
        ] {
            assert_eq!(text.parse::<SameSite>(), Ok(ss));
            assert_eq!(de::<SameSite>(json!(text)), Ok(ss));
            assert_eq!(SameSite::parse_setting(text), Ok(Some(ss)));
            assert_eq!(ss.as_str().parse::<SameSite>(), Ok(ss));
        }
        for off in ["off", "OFF", "", " "] {
            assert_eq!(SameSite::parse_setting(off), Ok(None));
        }
        assert_eq!(
            "off".parse::<SameSite>().unwrap_err().to_string(),
            "\"off\" is not a SameSite value; use lax, strict or none"
        );
        assert_eq!(
            de::<SameSite>(json!("sometimes")),
            Err("\"sometimes\" is not a SameSite value; use lax, strict or none".into())
        );
        let e = SameSite::parse_setting("sometimes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"sometimes\" is not a SameSite value; use lax, strict, none or off"
        );

        #[derive(serde::Deserialize)]
        struct Cookie {
            #[serde(deserialize_with = "SameSite::deserialize_setting")]
            samesite: Option<SameSite>,
        }
        let samesite = |v: Value| de::<Cookie>(json!({ "samesite": v })).map(|c| c.samesite);
        assert_eq!(samesite(json!("Strict")), Ok(Some(SameSite::Strict)));
        assert_eq!(samesite(json!("off")), Ok(None));
        assert_eq!(samesite(json!("sometimes")), Err(e.to_string()));
        assert_eq!(
            samesite(json!(false)),
            Err("invalid type: boolean `false`, expected a SameSite value \
                 (lax, strict, none or off)"
                .into())
        );
    }

    #[test]
    fn error_styles() {
        for (text, style) in [
            ("flask-jwt-extended", ErrorStyle::FlaskJwtExtended),
            ("rfc6750 ", ErrorStyle::Rfc6750),
        ] {
            assert_eq!(text.parse::<ErrorStyle>(), Ok(style));
            assert_eq!(de::<ErrorStyle>(json!(text)), Ok(style));
            assert_eq!(style.as_str().parse::<ErrorStyle>(), Ok(style));
        }
        let msg = "\"xml\" is not an error style; use flask-jwt-extended or rfc6750";
        assert_eq!("xml".parse::<ErrorStyle>().unwrap_err().to_string(), msg);
        assert_eq!(de::<ErrorStyle>(json!("xml")), Err(msg.into()));
        assert!("RFC6750".parse::<ErrorStyle>().is_err(), "case-sensitive");
    }

    #[test]
    fn cookie_profiles() {
        for (text, profile) in [
            ("jwtx", CookieProfile::Jwtx),
            ("flask-jwt-extended", CookieProfile::FlaskJwtExtended),
        ] {
            assert_eq!(text.parse::<CookieProfile>(), Ok(profile));
            assert_eq!(de::<CookieProfile>(json!(text)), Ok(profile));
            assert_eq!(profile.as_str().parse::<CookieProfile>(), Ok(profile));
        }
        let msg = "\"flask\" is not a cookie profile; use jwtx or flask-jwt-extended";
        assert_eq!(
            "flask".parse::<CookieProfile>().unwrap_err().to_string(),
            msg
        );
        assert_eq!(de::<CookieProfile>(json!("flask")), Err(msg.into()));
        assert_eq!(CookieProfile::default(), CookieProfile::Jwtx);

        let jwtx = CookieProfile::Jwtx.jwt_config();
        let flask = CookieProfile::FlaskJwtExtended.jwt_config();
        let cookies = |c: &JwtConfig| (c.cookie_secure, c.cookie_samesite, c.cookie_lifetime);
        assert_eq!(cookies(&jwtx), cookies(&JwtConfig::default()));
        assert_eq!(cookies(&flask), cookies(&JwtConfig::flask_jwt_extended()));
        assert_eq!(
            cookies(&jwtx),
            (true, Some(SameSite::Lax), CookieLifetime::TokenLifetime)
        );
        assert_eq!(cookies(&flask), (false, None, CookieLifetime::Session));
        assert_eq!(jwtx.body_limit, JwtConfig::DEFAULT_BODY_LIMIT);
    }
}
