//! Finding the token in a request, location by location, with flask-jwt-extended's rules:
//! only a *missing* token falls through to the next location; any other problem stops the
//! search (as flask-jwt-extended 4.7.4 searches).

use std::borrow::Cow;

use http::request::Parts;
use serde_json::Value;

use crate::body::{CapturedBody, Media};
use crate::config::{JwtConfig, Location};
use crate::error::JwtError;

/// A token found in the request: borrowed from the request when it is one header value as
/// sent (the common case, no copy), owned when a location had to decode or join.
#[derive(Clone, Debug)]
pub(crate) struct Found<'a> {
    pub(crate) token: Cow<'a, str>,
    pub(crate) location: Location,
    /// The CSRF value sent with a cookie token on a CSRF-checked method.
    pub(crate) csrf: Option<String>,
}

/// Looks for the token in `locations`, in order.
pub(crate) fn locate<'a>(
    parts: &'a Parts,
    body: Option<&CapturedBody>,
    config: &JwtConfig,
    locations: &[Location],
    refresh: bool,
) -> Result<Found<'a>, JwtError> {
    // Without the layer the body was never read: say so on every request, not only on those
    // that reach the `json` location.
    if body.is_none() && locations.contains(&Location::Json) {
        return Err(needs_layer("JSON token location requires JwtLayer"));
    }
    // Allocated only once a location comes up empty, not on the common path.
    let mut missing = Vec::new();
    for &location in locations {
        let attempt = match location {
            Location::Headers => from_headers(parts, config),
            Location::Cookies => from_cookies(parts, body, config, refresh),
            Location::QueryString => from_query(parts, config),
            Location::Json => from_json(body, config, refresh),
        };
        match attempt {
            Ok((token, csrf)) => {
                return Ok(Found {
                    token,
                    location,
                    csrf,
                });
            }
            Err(JwtError::NoToken { message }) => missing.push(message),
            Err(other) => return Err(other),
        }
    }
    let message = match (locations, missing.as_slice()) {
        ([_], [only]) => only.clone(),
        _ => {
            let names: Vec<&str> = locations.iter().map(|l| l.as_str()).collect();
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            format!(
                "Missing JWT in {} or {} ({})",
                rest.join(", "),
                last,
                missing.join("; ")
            )
        }
    };
    Err(JwtError::NoToken { message })
}

type Attempt<'a> = Result<(Cow<'a, str>, Option<String>), JwtError>;

fn no_token(message: String) -> JwtError {
    JwtError::NoToken { message }
}

/// All values of a header joined with ", " as Werkzeug joins repeated headers, or None.
/// `name` is matched case-insensitively; a name that is not a valid header name matches
/// nothing.
fn joined_header<K: http::header::AsHeaderName>(parts: &Parts, name: K) -> Option<String> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next()?;
    let mut out = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for v in values {
        out.push_str(", ");
        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(out)
}

fn from_headers<'a>(parts: &'a Parts, config: &JwtConfig) -> Attempt<'a> {
    // flask-jwt-extended prints JWT_HEADER_NAME exactly as configured.
    let name = config.header_name.as_str();
    match plain_header_token(parts, name, config.header_type.as_str()) {
        Some(token) => Ok((Cow::Borrowed(token), None)),
        None => parse_header(parts, config),
    }
}

/// flask-jwt-extended's header rules in full.
fn parse_header(parts: &Parts, config: &JwtConfig) -> Attempt<'static> {
    let name = config.header_name.as_str();
    let raw = joined_header(parts, name).unwrap_or_default();
    let value = raw.trim().trim_matches(',');
    if value.is_empty() {
        return Err(no_token(format!("Missing {name} Header")));
    }
    let scheme = config.header_type.as_str();
    if scheme.is_empty() {
        let mut words = value.split_whitespace();
        return match (words.next(), words.next()) {
            (Some(token), None) => Ok((token.to_owned().into(), None)),
            _ => Err(JwtError::BadHeader {
                message: format!("Bad {name} header. Expected '{name}: <JWT>'"),
            }),
        };
    }
    // `split(r",\s*")`, then the entries whose first word is the scheme (case-sensitive).
    let mut entries = value
        .split(',')
        .map(|e| e.trim_start())
        .filter(|e| e.split_whitespace().next() == Some(scheme));
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        return Err(no_token(format!(
            "Missing '{scheme}' type in '{name}' header. Expected '{name}: {scheme} <JWT>'"
        )));
    };
    let mut words = entry.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(_), Some(token), None) => Ok((token.to_owned().into(), None)),
        _ => Err(JwtError::BadHeader {
            message: format!("Bad {name} header. Expected '{name}: {scheme} <JWT>'"),
        }),
    }
}

/// The common case without the general parse below: one header value, exactly
/// `"<scheme> <token>"` (or `"<token>"` with no scheme) where the token is printable ASCII
/// without spaces or commas. The general parse gives the same answer for such a value (it
/// splits only at commas and whitespace); anything else (several values, commas, other
/// whitespace, bytes beyond ASCII) goes to it. A token with characters no JWS has is found
/// here as there, and refused by verification.
fn plain_header_token<'a>(parts: &'a Parts, name: &str, scheme: &str) -> Option<&'a str> {
    let mut values = parts.headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.as_bytes();
    let token = if scheme.is_empty() {
        value
    } else {
        value.strip_prefix(scheme.as_bytes())?.strip_prefix(b" ")?
    };
    if token.is_empty() || !plain_chars(token) {
        return None;
    }
    // Only ASCII passed the check above, so this cannot fail.
    std::str::from_utf8(token).ok()
}

/// Whether every byte is printable ASCII (`!` to `~`) other than a comma. Branch-free and
/// without an early exit, so the compiler vectorizes it: this runs over every token of every
/// request.
fn plain_chars(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & (b.wrapping_sub(b'!') <= b'~' - b'!') & (b != b',')
    })
}

/// The first value of cookie `name`, unquoted as Werkzeug does.
pub(crate) fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| unquote(v.trim()))
        })
}

/// Werkzeug's cookie unquoting: `"…"` with `\"`, `\\` and `\ooo` octal escapes.
fn unquote(v: &str) -> String {
    let Some(inner) = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    else {
        return v.to_owned();
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let oct = bytes
                .get(i + 1..i + 4)
                .filter(|o| o.iter().all(|b| (b'0'..=b'7').contains(b)));
            if let Some(o) = oct {
                let n = o.iter().fold(0u16, |a, b| a * 8 + u16::from(b - b'0'));
                out.push((n & 0xff) as u8);
                i += 4;
            } else {
                out.push(bytes[i + 1]);
                i += 2;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The form field `name` (`JWT_CSRF_CHECK_FORM`), from the body [`JwtLayer`](crate::JwtLayer)
/// captured.
fn form_field(body: Option<&CapturedBody>, name: &str) -> Result<Option<String>, JwtError> {
    let body =
        body.ok_or_else(|| needs_layer("JWT_CSRF_CHECK_FORM (csrf_check_form) requires JwtLayer"))?;
    if body.too_large(Media::Form) {
        return Err(JwtError::BodyTooLarge);
    }
    Ok(body.bytes(Media::Form).and_then(|bytes| {
        form_urlencoded::parse(bytes)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }))
}

/// The application reads the body without [`JwtLayer`](crate::JwtLayer): a configuration
/// mistake, answered 500 and logged.
fn needs_layer(message: &'static str) -> JwtError {
    tracing::error!(
        "{message}: add `.layer(JwtLayer::new(manager))` to the router that serves this route"
    );
    JwtError::Internal { message }
}

fn from_cookies(
    parts: &Parts,
    body: Option<&CapturedBody>,
    config: &JwtConfig,
    refresh: bool,
) -> Attempt<'static> {
    let (cookie_name, header, field) = if refresh {
        (
            &config.refresh_cookie_name,
            &config.refresh_csrf_header_name,
            &config.refresh_csrf_field_name,
        )
    } else {
        (
            &config.access_cookie_name,
            &config.access_csrf_header_name,
            &config.access_csrf_field_name,
        )
    };
    let token = cookie(&parts.headers, cookie_name)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| no_token(format!("Missing cookie \"{cookie_name}\"")))?;
    if !(config.csrf_protect && config.csrf_methods.contains(&parts.method)) {
        return Ok((token.into(), None));
    }
    // Repeated headers are one value joined with ", " (Werkzeug), so two copies of the right
    // value do not match.
    let mut csrf = joined_header(parts, header).filter(|v| !v.is_empty());
    if csrf.is_none() && config.csrf_check_form {
        csrf = form_field(body, field)?.filter(|v| !v.is_empty());
    }
    match csrf {
        Some(value) => Ok((token.into(), Some(value))),
        None => Err(JwtError::Csrf {
            message: "Missing CSRF token",
        }),
    }
}

fn from_query(parts: &Parts, config: &JwtConfig) -> Attempt<'static> {
    let name = &config.query_string_name;
    let value = parts
        .uri
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| no_token(format!("Missing '{name}' query paramater")))?;
    let prefix = &config.query_string_value_prefix;
    match value.strip_prefix(prefix.as_str()) {
        Some(token) => Ok((token.to_owned().into(), None)),
        None => Err(JwtError::BadQueryParam {
            message: format!(
                "Invalid value for query parameter '{name}'. Expected the value to start with '{prefix}'"
            ),
        }),
    }
}

fn from_json(body: Option<&CapturedBody>, config: &JwtConfig, refresh: bool) -> Attempt<'static> {
    let key = if refresh {
        &config.refresh_json_key
    } else {
        &config.json_key
    };
    let Some(body) = body else {
        return Err(needs_layer("JSON token location requires JwtLayer"));
    };
    if body.too_large(Media::Json) {
        return Err(JwtError::BodyTooLarge);
    }
    if body.media != Media::Json {
        return Err(no_token(
            "Invalid content-type. Must be application/json.".to_owned(),
        ));
    }
    let missing = || no_token(format!("Missing \"{key}\" key in json data."));
    // A body that is malformed, unreadable or not an object has no such key
    // (flask-jwt-extended answers 500 for a non-empty array, string or number).
    let map: serde_json::Map<String, Value> = body
        .bytes(Media::Json)
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .ok_or_else(missing)?;
    match map.get(key.as_str()) {
        // `if not encoded_token`: every value Python finds falsy is a missing token.
        None => Err(missing()),
        Some(v) if falsy(v) => Err(missing()),
        Some(Value::String(t)) => Ok((t.clone().into(), None)),
        // Any other value reaches PyJWT, which wants str or bytes.
        Some(_) => Err(JwtError::TokenNotAString),
    }
}

/// Python's truthiness of a JSON value: `None`, `False`, `0`, `0.0`, `""`, `[]`, `{}`.
fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Content;

    fn parts(headers: &[(&str, &str)], uri: &str, method: &str) -> Parts {
        let mut b = http::Request::builder().uri(uri).method(method);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn header(value: &str) -> Result<String, String> {
        let cfg = JwtConfig::flask_jwt_extended();
        from_headers(&parts(&[("authorization", value)], "/", "GET"), &cfg)
            .map(|(t, _)| t.into_owned())
            .map_err(|e| format!("{} {}", e.status().as_u16(), e.message()))
    }

    #[test]
    fn header_rules_match_flask_jwt_extended() {
        assert_eq!(header("Bearer abc"), Ok("abc".into()));
        assert_eq!(header("Basic xxx, Bearer abc"), Ok("abc".into()));
        assert_eq!(header("  Bearer   abc ,"), Ok("abc".into()));
        let missing_type = "401 Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";
        assert_eq!(header("bearer abc").unwrap_err(), missing_type);
        assert_eq!(header("Token abc").unwrap_err(), missing_type);
        assert_eq!(header("Bearer a, Bearer b").unwrap_err(), missing_type);
        let bad = "422 Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
        assert_eq!(header("Bearer").unwrap_err(), bad);
        assert_eq!(header("Bearer a b").unwrap_err(), bad);
        assert_eq!(header("").unwrap_err(), "401 Missing Authorization Header");
        assert_eq!(
            header(" , ").unwrap_err(),
            "401 Missing Authorization Header"
        );
    }

    /// Whether the fast path takes `value` as the `Authorization` header, having checked
    /// that it then finds the token the full rules find; `None` for bytes no header value
    /// may hold.
    fn fast_path_takes(value: &[u8], cfg: &JwtConfig) -> Option<bool> {
        let hv = http::HeaderValue::from_bytes(value).ok()?;
        let mut p = parts(&[], "/", "GET");
        p.headers.insert("authorization", hv);
        let full = parse_header(&p, cfg).map(|(t, _)| t).ok();
        let fast = plain_header_token(&p, "Authorization", &cfg.header_type);
        if let Some(fast) = fast {
            let shown = String::from_utf8_lossy(value);
            assert_eq!(
                Some(fast.into()),
                full,
                "{shown:?} with {:?}",
                cfg.header_type
            );
        }
        Some(fast.is_some())
    }

    #[test]
    fn the_plain_header_fast_path_agrees_with_the_full_rules() {
        let tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_";
        for scheme in ["Bearer", ""] {
            let mut cfg = JwtConfig::flask_jwt_extended();
            cfg.header_type = scheme.into();
            let mut taken = 0;
            for value in [
                format!("Bearer {tok}"),
                tok.to_owned(),
                format!("Bearer  {tok}"),
                format!("Bearer {tok} "),
                format!("Bearer {tok},"),
                format!("Bearer\t{tok}"),
                format!("bearer {tok}"),
                "Bearer ".to_owned(),
                "Bearer a+b".to_owned(),
                "Bearer a=b;c".to_owned(),
                "Bearer ...".to_owned(),
                format!("Bearer {tok}\u{a0}"),
            ] {
                if fast_path_takes(value.as_bytes(), &cfg) == Some(true) {
                    taken += 1;
                }
            }
            assert!(taken >= 1, "the fast path took no value with {scheme:?}");
        }
        // Two values: always the full rules.
        let p = parts(
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            "/",
            "GET",
        );
        assert_eq!(plain_header_token(&p, "authorization", "Bearer"), None);
        // Bytes outside ASCII (allowed in a header value as obs-text): the full rules.
        let mut p = parts(&[], "/", "GET");
        let hv = http::HeaderValue::from_bytes(b"Bearer abc\xe9.def").unwrap();
        p.headers.insert("authorization", hv);
        assert_eq!(plain_header_token(&p, "authorization", "Bearer"), None);
    }

    #[test]
    fn plain_chars_is_exactly_printable_ascii_but_space_and_comma() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_graphic() && b != b',';
            let long = [vec![b'a'; 40], vec![b], vec![b'a'; 40]].concat();
            assert_eq!(plain_chars(&[b]), expected, "{b:#04x}");
            assert_eq!(plain_chars(&long), expected, "{b:#04x} amid 80 letters");
        }
    }

    /// Every byte a header value may hold, at the start, inside and at the end of a token:
    /// wherever the fast path takes a value, the full rules find the same token.
    #[test]
    fn the_fast_path_agrees_with_the_full_rules_for_every_byte() {
        for scheme in ["Bearer", ""] {
            let mut cfg = JwtConfig::flask_jwt_extended();
            cfg.header_type = scheme.into();
            let prefix = if scheme.is_empty() { "" } else { "Bearer " };
            let mut taken = 0;
            for b in 0..=255u8 {
                for token in [vec![b, b'a'], vec![b'a', b, b'a'], vec![b'a', b]] {
                    let value = [prefix.as_bytes(), &token].concat();
                    if fast_path_takes(&value, &cfg) == Some(true) {
                        taken += 1;
                    }
                }
            }
            assert_eq!(
                taken,
                3 * 93,
                "every printable byte but the comma, with {scheme:?}"
            );
        }
    }

    #[test]
    fn custom_header_name_and_empty_type() {
        let mut cfg = JwtConfig::flask_jwt_extended();
        cfg.header_name = "X-API-Token".into();
        cfg.header_type = String::new();
        let p = parts(&[("x-api-token", "abc")], "/", "GET");
        assert_eq!(from_headers(&p, &cfg).unwrap().0, "abc");
        // Messages print the name exactly as configured.
        let p = parts(&[("X-Api-TOKEN", "Bearer abc")], "/", "GET");
        assert_eq!(
            from_headers(&p, &cfg).unwrap_err().message(),
            "Bad X-API-Token header. Expected 'X-API-Token: <JWT>'"
        );
        let p = parts(&[], "/", "GET");
        assert_eq!(
            from_headers(&p, &cfg).unwrap_err().message(),
            "Missing X-API-Token Header"
        );
        cfg.header_name = "authorization".into();
        cfg.header_type = "Bearer".into();
        let p = parts(&[("Authorization", "Token x")], "/", "GET");
        assert_eq!(
            from_headers(&p, &cfg).unwrap_err().message(),
            "Missing 'Bearer' type in 'authorization' header. Expected 'authorization: Bearer <JWT>'"
        );
        // A name no request header can have matches nothing.
        cfg.header_name = "not a header".into();
        assert_eq!(
            from_headers(&p, &cfg).unwrap_err().message(),
            "Missing not a header Header"
        );
    }

    #[test]
    fn cookies_unquote_and_csrf_presence() {
        let cfg = JwtConfig::flask_jwt_extended();
        let p = parts(
            &[("cookie", "a=1; access_token_cookie=\"x\\\"y\\101\"")],
            "/",
            "GET",
        );
        assert_eq!(from_cookies(&p, None, &cfg, false).unwrap().0, "x\"yA");
        let p = parts(&[("cookie", "access_token_cookie=tok")], "/", "POST");
        assert_eq!(
            from_cookies(&p, None, &cfg, false).unwrap_err().message(),
            "Missing CSRF token"
        );
        let p = parts(
            &[("cookie", "access_token_cookie=tok"), ("x-csrf-token", "c")],
            "/",
            "POST",
        );
        assert_eq!(
            from_cookies(&p, None, &cfg, false).unwrap().1.as_deref(),
            Some("c")
        );
        let p = parts(
            &[
                ("cookie", "access_token_cookie=tok"),
                ("x-csrf-token", "c"),
                ("X-CSRF-Token", "c"),
            ],
            "/",
            "POST",
        );
        assert_eq!(
            from_cookies(&p, None, &cfg, false).unwrap().1.as_deref(),
            Some("c, c"),
            "repeated headers are joined as Werkzeug does"
        );
        let p = parts(&[("cookie", "access_token_cookie=")], "/", "GET");
        assert_eq!(
            from_cookies(&p, None, &cfg, false).unwrap_err().message(),
            "Missing cookie \"access_token_cookie\""
        );
    }

    #[test]
    fn combined_missing_message_and_fall_through() {
        let mut cfg = JwtConfig::flask_jwt_extended();
        cfg.token_location = vec![
            Location::Headers,
            Location::Cookies,
            Location::QueryString,
            Location::Json,
        ];
        let no_body = CapturedBody {
            media: Media::Other,
            content: Content::Skipped,
        };
        let body = Some(&no_body);
        let p = parts(&[], "/", "GET");
        let e = locate(&p, body, &cfg, &cfg.token_location, false).unwrap_err();
        assert_eq!(
            e.message(),
            "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
             Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; \
             Invalid content-type. Must be application/json.)"
        );
        // A wrong scheme is "missing" and falls through; a bad Bearer header stops the search.
        let p = parts(
            &[
                ("authorization", "Basic abc"),
                ("cookie", "access_token_cookie=t"),
            ],
            "/",
            "GET",
        );
        let f = locate(&p, body, &cfg, &cfg.token_location, false).unwrap();
        assert_eq!((&*f.token, f.location), ("t", Location::Cookies));
        let p = parts(
            &[
                ("authorization", "Bearer"),
                ("cookie", "access_token_cookie=t"),
            ],
            "/",
            "GET",
        );
        assert!(matches!(
            locate(&p, body, &cfg, &cfg.token_location, false),
            Err(JwtError::BadHeader { .. })
        ));
        let p = parts(&[], "/?jwt=abc", "GET");
        assert_eq!(
            locate(&p, body, &cfg, &cfg.token_location, false)
                .unwrap()
                .token,
            "abc"
        );
        // The json location without the layer is a configuration mistake, whatever the request.
        let e = locate(&p, None, &cfg, &cfg.token_location, false).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.message().as_ref()),
            (500, "JSON token location requires JwtLayer")
        );
    }

    #[test]
    fn query_prefix_and_json_body() {
        let mut cfg = JwtConfig::flask_jwt_extended();
        cfg.query_string_value_prefix = "Bearer ".into();
        let p = parts(&[], "/?jwt=Bearer%20abc", "GET");
        assert_eq!(from_query(&p, &cfg).unwrap().0, "abc");
        let p = parts(&[], "/?jwt=abc", "GET");
        assert_eq!(
            from_query(&p, &cfg).unwrap_err().message(),
            "Invalid value for query parameter 'jwt'. Expected the value to start with 'Bearer '"
        );
        let json = |s: &'static str| CapturedBody {
            media: Media::Json,
            content: Content::Read(bytes::Bytes::from_static(s.as_bytes())),
        };
        assert_eq!(
            from_json(Some(&json(r#"{"refresh_token":"r"}"#)), &cfg, true)
                .unwrap()
                .0,
            "r"
        );
        let falsy = ["0", "0.0", "-0.0", "[]", "{}", "false", "null", "\"\""];
        let bodies = ["[1,2]", "{}", "not json", "", "null"]
            .map(str::to_owned)
            .into_iter()
            .chain(falsy.map(|v| format!(r#"{{"access_token":{v}}}"#)));
        for body in bodies {
            let captured = CapturedBody {
                media: Media::Json,
                content: Content::Read(body.clone().into()),
            };
            let e = from_json(Some(&captured), &cfg, false).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.message().as_ref()),
                (401, "Missing \"access_token\" key in json data."),
                "{body}"
            );
        }
        for v in ["5", "true", "1.5", r#"["a.b.c"]"#, r#"{"a":1}"#] {
            let captured = CapturedBody {
                media: Media::Json,
                content: Content::Read(format!(r#"{{"access_token":{v}}}"#).into()),
            };
            let e = from_json(Some(&captured), &cfg, false).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.message().as_ref()),
                (422, "Invalid token type. Token must be a <class 'bytes'>"),
                "{v}"
            );
        }
        let other = CapturedBody {
            media: Media::Other,
            content: Content::Skipped,
        };
        assert_eq!(
            from_json(Some(&other), &cfg, false).unwrap_err().message(),
            "Invalid content-type. Must be application/json."
        );
        let large = CapturedBody {
            media: Media::Json,
            content: Content::TooLarge,
        };
        let e = from_json(Some(&large), &cfg, false).unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.message().as_ref()),
            (413, "Request body too large")
        );
    }
}
