//! CORS for SPAs on other origins (`cors_allowed_origins`, docs/configuration.md "Browsers").
//!
//! A request whose `Origin` is exactly one of the configured origins goes through
//! tower-http's CORS layer: the origin echoed (never `*`), `Access-Control-Allow-Credentials:
//! true`, preflights answered with the methods and headers the API takes, `Retry-After` and
//! `WWW-Authenticate` exposed. Every other request, another origin's included, skips it and
//! gets no CORS header at all (tower-http alone would still send the credentials and expose
//! headers to any origin).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The configured origins, each checked by [`parse_origin`].
#[derive(Clone, Debug)]
pub struct AllowedOrigins(Arc<[HeaderValue]>);

impl AllowedOrigins {
    /// Parses `cors_allowed_origins`: comma-separated origins, `scheme://host[:port]` exactly
    /// as a browser sends them. `None` when the list is empty (no CORS at all).
    pub fn parse(list: &str) -> Result<Option<Self>, String> {
        let origins = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!origins.is_empty()).then(|| AllowedOrigins(origins.into())))
    }

    /// The origins, as configured.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|v| v.to_str().ok())
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.0.iter().any(|o| o == origin)
    }
}

impl CorsGateLayer {
    /// The gate answering `origins` (none: every request goes straight on); `csrf_headers`
    /// are the CSRF header names the preflight must allow beside `Content-Type` and
    /// `Authorization`.
    pub(crate) fn new(
        origins: Option<&AllowedOrigins>,
        csrf_headers: &[&HeaderName],
    ) -> CorsGateLayer {
        let mut allow_headers = vec![header::CONTENT_TYPE, header::AUTHORIZATION];
        for &name in csrf_headers {
            if !allow_headers.contains(name) {
                allow_headers.push(name.clone());
            }
        }
        let cors = CorsLayer::new()
            // The gate lets only the configured origins in, so echoing is exact matching.
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers(allow_headers)
            .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(PREFLIGHT_MAX_AGE);
        CorsGateLayer {
            allowed: origins.cloned(),
            cors,
        }
    }
}

/// One origin as a browser serializes it: `http` or `https`, a host, a port only when not the
/// scheme's default, nothing else. Anything that is not exactly that is refused with what to
/// write instead, so a typo never silently allows nothing (or too much).
fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    if text == "*" {
        return Err("\"*\" is refused: credentials may only go to origins named exactly".into());
    }
    if text.eq_ignore_ascii_case("null") {
        return Err("\"null\" is refused: sandboxed frames and file: pages all send it".into());
    }
    let url = url::Url::parse(text).map_err(|e| {
        format!("{text:?} is not an origin ({e}); write it like https://app.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} is not an http or https origin"));
    }
    let serialized = url.origin().ascii_serialization();
    if serialized != text {
        return Err(format!(
            "{text:?} is not an origin as browsers send it (scheme, host and port only: no \
             path, not even \"/\", no default port, lowercase); write {serialized:?}"
        ));
    }
    HeaderValue::from_str(text).map_err(|_| format!("{text:?} is not a header value"))
}

/// [`CorsGate`] for a router.
#[derive(Clone, Debug)]
pub(crate) struct CorsGateLayer {
    allowed: Option<AllowedOrigins>,
    cors: CorsLayer,
}

impl<S: Clone> Layer<S> for CorsGateLayer {
    type Service = CorsGate<S>;

    fn layer(&self, inner: S) -> CorsGate<S> {
        CorsGate {
            cors: self.cors.layer(inner.clone()),
            plain: inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// Sends requests from an allowed origin through tower-http's [`Cors`], the rest straight on.
#[derive(Clone, Debug)]
pub(crate) struct CorsGate<S> {
    cors: Cors<S>,
    plain: S,
    allowed: Option<AllowedOrigins>,
}

impl<S, B, R> Service<Request<B>> for CorsGate<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = GateFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Both paths share one inner service kind (axum's routes, always ready).
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.cors.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let allowed = self.allowed.as_ref().is_some_and(|allowed| {
            req.headers()
                .get(header::ORIGIN)
                .is_some_and(|o| allowed.allows(o))
        });
        if allowed {
            GateFuture::Cors {
                future: self.cors.call(req),
            }
        } else {
            GateFuture::Plain {
                future: self.plain.call(req),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// [`CorsGate`]'s future: one of the two paths, without boxing.
    #[project = GateProj]
    pub(crate) enum GateFuture<F> {
        /// Through the CORS layer.
        Cors { #[pin] future: tower_http::cors::ResponseFuture<F> },
        /// Straight to the router.
        Plain { #[pin] future: F },
    }
}

impl<F, R, E> std::future::Future for GateFuture<F>
where
    F: std::future::Future<Output = Result<Response<R>, E>>,
    R: Default,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GateProj::Cors { future } => future.poll(cx),
            GateProj::Plain { future } => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        let ok = AllowedOrigins::parse(" https://app.example.com, http://127.0.0.1:8080 ,")
            .unwrap()
            .unwrap();
        assert_eq!(
            ok.iter().collect::<Vec<_>>(),
            ["https://app.example.com", "http://127.0.0.1:8080"]
        );
        assert!(AllowedOrigins::parse("").unwrap().is_none());
        assert!(AllowedOrigins::parse(" , ").unwrap().is_none());
        for (bad, says) in [
            ("*", "\"*\" is refused"),
            ("null", "\"null\" is refused"),
            (
                "https://app.example.com/",
                "write \"https://app.example.com\"",
            ),
            (
                "https://app.example.com/spa",
                "write \"https://app.example.com\"",
            ),
            (
                "https://app.example.com:443",
                "write \"https://app.example.com\"",
            ),
            (
                "https://App.Example.com",
                "write \"https://app.example.com\"",
            ),
            (
                "https://user@app.example.com",
                "write \"https://app.example.com\"",
            ),
            ("app.example.com", "is not an origin"),
            ("ftp://app.example.com", "not an http or https origin"),
            (
                "https://app.example.com?x=1",
                "write \"https://app.example.com\"",
            ),
        ] {
            let e = AllowedOrigins::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
