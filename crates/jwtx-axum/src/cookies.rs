//! `Set-Cookie` headers for JWT and CSRF cookies, byte-compatible with flask-jwt-extended
//! (Werkzeug's attribute order: `Domain, Expires, Max-Age, Secure, HttpOnly, Path, SameSite`).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header::SET_COOKIE};

use crate::config::{CookieLifetime, JwtConfig};

/// Per-call overrides of the configured cookie attributes (`set_access_cookies(resp, token,
/// max_age=…, domain=…)`).
#[derive(Clone, Debug, Default)]
pub struct CookieOverrides {
    /// Cookie lifetime, overriding the configured one.
    pub max_age: Option<Duration>,
    /// Cookie domain, overriding `cookie_domain`.
    pub domain: Option<String>,
}

/// One cookie to write.
pub(crate) struct CookieSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) path: &'a str,
    pub(crate) http_only: bool,
}

/// What a cookie's lifetime attributes will be.
enum Lifetime {
    None,
    MaxAge(u64),
    Delete,
}

fn lifetime(config: &JwtConfig, over: &CookieOverrides, token_ttl: Option<u64>) -> Lifetime {
    if let Some(d) = over.max_age {
        return Lifetime::MaxAge(d.as_secs());
    }
    match config.cookie_lifetime {
        CookieLifetime::Session => Lifetime::None,
        CookieLifetime::Fixed(d) => Lifetime::MaxAge(d.as_secs()),
        CookieLifetime::TokenLifetime => token_ttl.map_or(Lifetime::None, Lifetime::MaxAge),
    }
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

fn render(
    spec: &CookieSpec<'_>,
    config: &JwtConfig,
    domain: Option<&str>,
    life: Lifetime,
    now: u64,
) -> String {
    let mut s = format!("{}={}", spec.name, spec.value);
    if let Some(d) = domain.or(config.cookie_domain.as_deref()) {
        s.push_str("; Domain=");
        s.push_str(d.trim_start_matches('.'));
    }
    match life {
        Lifetime::None => {}
        Lifetime::MaxAge(secs) => {
            s.push_str(&format!(
                "; Expires={}; Max-Age={secs}",
                http_date(now.saturating_add(secs))
            ));
        }
        Lifetime::Delete => s.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
    }
    if config.cookie_secure {
        s.push_str("; Secure");
    }
    if spec.http_only {
        s.push_str("; HttpOnly");
    }
    s.push_str("; Path=");
    s.push_str(spec.path);
    if let Some(ss) = config.cookie_samesite {
        s.push_str("; SameSite=");
        s.push_str(ss.as_str());
    }
    s
}

fn append(headers: &mut HeaderMap, cookie: &str) {
    match HeaderValue::from_str(cookie) {
        Ok(v) => {
            headers.append(SET_COOKIE, v);
        }
        // Names and paths come from configuration, values are base64url or UUIDs: an invalid
        // header can only come from a configuration mistake, which is logged, never a panic.
        Err(_) => tracing::error!("cookie configuration produced an invalid Set-Cookie header"),
    }
}

/// Appends the JWT cookie and, when CSRF cookies are on, its CSRF cookie.
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_pair(
    headers: &mut HeaderMap,
    config: &JwtConfig,
    over: &CookieOverrides,
    jwt: CookieSpec<'_>,
    csrf: Option<CookieSpec<'_>>,
    token_ttl: Option<u64>,
    now: u64,
) {
    let domain = over.domain.as_deref();
    let life = || lifetime(config, over, token_ttl);
    append(headers, &render(&jwt, config, domain, life(), now));
    if let Some(csrf) = csrf.filter(|_| config.csrf_protect && config.csrf_in_cookies) {
        append(headers, &render(&csrf, config, domain, life(), now));
    }
}

/// Appends the deleting form of a JWT cookie and its CSRF cookie.
pub(crate) fn unset_pair(
    headers: &mut HeaderMap,
    config: &JwtConfig,
    domain: Option<&str>,
    jwt: CookieSpec<'_>,
    csrf: CookieSpec<'_>,
) {
    append(headers, &render(&jwt, config, domain, Lifetime::Delete, 0));
    if config.csrf_protect && config.csrf_in_cookies {
        append(headers, &render(&csrf, config, domain, Lifetime::Delete, 0));
    }
}
