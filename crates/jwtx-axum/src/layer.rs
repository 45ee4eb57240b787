//! [`JwtLayer`]: request-body capture for the `json` location and the CSRF form field, and
//! implicit refresh of access cookies near expiry.

use std::future::Future;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{Request, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::body;
use crate::manager::{BoxFuture, JwtManager};
use crate::verify::RefreshSlot;

/// Adds what the extractors cannot do alone. Apply it to the router:
/// `router.layer(JwtLayer::new(manager.clone()).implicit_refresh(Duration::from_secs(1800)))`.
///
/// - Bodies of `application/json` and form requests up to the configured
///   [`body_limit`](crate::JwtConfig::body_limit), with or without `Content-Length`, are read
///   once and kept, so the `json` token location and `JWT_CSRF_CHECK_FORM` work while the handler
///   still gets the body. A longer body is read no further than the limit and reaches the
///   handler whole; a token or CSRF value that must come from it is refused with 413
///   `Request body too large`. Routes that read the body for a token without this layer
///   answer 500.
/// - With [`implicit_refresh`](JwtLayer::implicit_refresh), a successful response to a request
///   authenticated by an access cookie that expires within the window gets a new access cookie
///   (flask-jwt-extended's documented `after_request` pattern). The new token has the claims
///   the [`additional_claims`](crate::JwtManagerBuilder::additional_claims) loader makes now,
///   plus the old token's application claims the loader does not make. Error responses, and
///   responses that set or delete the access cookie themselves (login, refresh, logout), are
///   left alone.
#[derive(Clone, Debug)]
pub struct JwtLayer {
    manager: JwtManager,
    refresh_window: Option<Duration>,
}

impl JwtLayer {
    /// A layer for `manager`, without implicit refresh.
    pub fn new(manager: JwtManager) -> Self {
        JwtLayer {
            manager,
            refresh_window: None,
        }
    }

    /// Re-issues the access cookie when it expires within `window`.
    pub fn implicit_refresh(mut self, window: Duration) -> Self {
        self.refresh_window = Some(window);
        self
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtService<S>;
    fn layer(&self, inner: S) -> JwtService<S> {
        JwtService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`JwtLayer`] makes.
#[derive(Clone, Debug)]
pub struct JwtService<S> {
    inner: S,
    layer: JwtLayer,
}

pin_project_lite::pin_project! {
    /// The response future of [`JwtService`]: the inner service's own future when the layer
    /// has nothing to do around it, else the layer's work boxed.
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        Direct { #[pin] future: F },
        Layered { future: BoxFuture<Result<Response, E>> },
    }
}

impl<F, E> std::fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Direct { future } => future.poll(cx),
            KindProj::Layered { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S> Service<Request<Body>> for JwtService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // Most requests (a GET, a POST without a JSON or form body) need nothing around the
        // handler without implicit refresh: the inner service answers, with no box and no
        // clone of the service or the manager.
        let media = body::media(&req);
        if self.layer.refresh_window.is_none() && media == body::Media::Other {
            return ResponseFuture {
                kind: Kind::Direct {
                    future: self.inner.call(body::skip(req)),
                },
            };
        }
        // The clone that was polled ready is the one that serves (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let future = Box::pin(async move {
            let mut req = body::capture(req, media, layer.manager.config().body_limit).await;
            let slot = layer.refresh_window.map(|_| {
                let slot = RefreshSlot::default();
                req.extensions_mut().insert(slot.clone());
                slot
            });
            let mut response = inner.call(req).await?;
            if let (Some(window), Some(slot)) = (layer.refresh_window, slot) {
                refresh_if_due(&layer.manager, window, &slot, &mut response);
            }
            Ok(response)
        });
        ResponseFuture {
            kind: Kind::Layered { future },
        }
    }
}

fn refresh_if_due(
    manager: &JwtManager,
    window: Duration,
    slot: &RefreshSlot,
    response: &mut Response,
) {
    let Some(token) = slot.0.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        return;
    };
    if !(response.status().is_success() || response.status().is_redirection()) {
        return;
    }
    let cookie_prefix = format!("{}=", manager.config().access_cookie_name);
    let handler_set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(cookie_prefix.as_bytes()));
    if handler_set_cookie {
        return;
    }
    let now = manager.codec().now();
    let Some(exp) = token.claims().exp else {
        return;
    };
    if exp > now.saturating_add(window.as_secs()) {
        return;
    }
    let mut carried = token.payload();
    for name in jwtx::REGISTERED {
        carried.remove(name);
    }
    // The claims loader decides what it makes (roles that changed since login); the old
    // token only fills in the rest.
    match manager
        .access_token(token.sub())
        .carried_claims(carried)
        .sign()
    {
        Ok(issued) => {
            manager.set_access_cookies(response.headers_mut(), &issued);
            // The response now carries a token: no cache may keep it (RFC 6749 §5.1).
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
        }
        Err(e) => tracing::error!(error = %e, "implicit refresh could not sign a new access token"),
    }
}
