//! The request pipeline, in flask-jwt-extended's order (flask-jwt-extended 4.7.4's order): find the token
//! (missing → 401; CSRF header presence for cookies), verify it (format, signature, claims),
//! CSRF value, type, freshness, revocation, custom verification, user lookup.
//!
//! Each step's result is kept in the request's extensions, so several extractors on one
//! request cost one verification.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use http::request::Parts;
use jwtx::TokenKind;

use crate::body::CapturedBody;
use crate::config::Location;
use crate::error::JwtError;
use crate::locate::{self, Found};
use crate::manager::JwtManager;
use crate::token::TokenData;

/// Per-route options: token locations and the revocation check. Apply with
/// `.route_layer(JwtRoute::new().locations([Location::Cookies]))`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtRoute {
    /// Shared, so the per-request copy into the request's extensions (and into the
    /// verification cache) is a reference count, not a new list.
    pub(crate) locations: Option<Arc<[Location]>>,
    pub(crate) skip_revocation: bool,
}

impl JwtRoute {
    /// Default options (the manager's locations, revocation checked).
    pub fn new() -> Self {
        JwtRoute::default()
    }

    /// `jwt_required(locations=[…])`; an empty list means the configured locations, as in
    /// flask-jwt-extended.
    pub fn locations(mut self, locations: impl IntoIterator<Item = Location>) -> Self {
        self.locations = Some(locations.into_iter().collect());
        self
    }

    /// `jwt_required(skip_revocation_check=True)`.
    pub fn skip_revocation_check(mut self) -> Self {
        self.skip_revocation = true;
        self
    }
}

impl<S> tower_layer::Layer<S> for JwtRoute {
    type Service = JwtRouteService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        JwtRouteService {
            inner,
            route: self.clone(),
        }
    }
}

/// The service [`JwtRoute`] makes: it records the route's options on each request.
#[derive(Clone, Debug)]
pub struct JwtRouteService<S> {
    inner: S,
    route: JwtRoute,
}

impl<S, B> tower_service::Service<http::Request<B>> for JwtRouteService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.route.clone());
        self.inner.call(req)
    }
}

/// What an extractor asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) kind: TokenKind,
    pub(crate) fresh: bool,
}

/// Verification results kept for the rest of the request, in its extensions (extractors run
/// one after another on `&mut Parts`, so no lock). The first is held inline: most requests
/// make one lookup, and then no list is allocated.
#[derive(Clone)]
struct Cache {
    first: CacheEntry,
    more: Vec<CacheEntry>,
}

/// (refresh lookup?, the route's own locations or `None` for the configured ones, outcome).
type CacheEntry = (
    bool,
    Option<Arc<[Location]>>,
    Result<Arc<TokenData>, JwtError>,
);

/// Where [`JwtLayer`](crate::JwtLayer) wants to hear about the verified access cookie.
#[derive(Clone, Default)]
pub(crate) struct RefreshSlot(pub(crate) Arc<Mutex<Option<Arc<TokenData>>>>);

/// Runs the pipeline. `Ok(None)`: no token and none required (OPTIONS, or optional).
pub(crate) async fn check(
    parts: &mut Parts,
    manager: &JwtManager,
    req: Requirement,
    optional: bool,
) -> Result<Option<Arc<TokenData>>, JwtError> {
    if parts.method == http::Method::OPTIONS {
        return Ok(None);
    }
    // The route's options (its location list, when it has one, is shared, not copied).
    let (route_locations, skip_revocation) = match parts.extensions.get::<JwtRoute>() {
        // `jwt_required(locations=[])` means the configured locations (`if not locations`).
        Some(r) => (
            r.locations.clone().filter(|l| !l.is_empty()),
            r.skip_revocation,
        ),
        None => (None, false),
    };
    let config = &manager.0.config;
    let locations = route_locations.as_deref().unwrap_or(&config.token_location);
    let refresh_lookup = req.kind == TokenKind::Refresh;

    let cached = parts.extensions.get::<Cache>().and_then(|c| {
        std::iter::once(&c.first)
            .chain(&c.more)
            .find(|(r, l, _)| *r == refresh_lookup && *l == route_locations)
            .map(|(_, _, res)| res.clone())
    });
    let found = match cached {
        Some(res) => res,
        None => {
            let res = find_and_verify(parts, manager, locations, refresh_lookup);
            #[cfg(feature = "remote")]
            let res = remote_keys_step(parts, manager, locations, refresh_lookup, res).await;
            let entry = (refresh_lookup, route_locations.clone(), res.clone());
            match parts.extensions.get_mut::<Cache>() {
                Some(c) => c.more.push(entry),
                None => {
                    parts.extensions.insert(Cache {
                        first: entry,
                        more: Vec::new(),
                    });
                }
            }
            res
        }
    };
    let token = match found {
        Ok(t) => t,
        Err(JwtError::NoToken { .. }) if optional => return Ok(None),
        Err(e) => return Err(e),
    };

    token.verified.require(req.kind)?;
    if req.fresh {
        token.verified.require_fresh(manager.0.codec.now())?;
    }
    #[cfg(feature = "remote")]
    if !skip_revocation && let Some(feed) = &manager.0.feed {
        let t = &token;
        let r = jwtx::store::TokenRef {
            kid: t.header().kid(),
            jti: t.jti(),
            sid: t.sid(),
            sub: t.sub(),
            iat: t.claims().iat,
        };
        match feed.check(r) {
            Ok(false) => {}
            Ok(true) => return Err(JwtError::Revoked),
            Err(why) => {
                return Err(JwtError::Unavailable {
                    detail: format!("revocation feed: {why}"),
                    source: Some(Arc::new(why)),
                });
            }
        }
    }
    let cb = &manager.0.callbacks;
    if let Some(revocation) = cb.revocation.as_ref().filter(|_| !skip_revocation) {
        let revoked = match token.revoked.get() {
            Some(r) => *r,
            None => {
                let r = revocation(token.clone())
                    .await
                    .map_err(JwtError::unavailable)?;
                *token.revoked.get_or_init(|| r)
            }
        };
        if revoked {
            return Err(JwtError::Revoked);
        }
    }
    if let Some(verify) = &cb.verification
        && !verify(&token)
    {
        return Err(JwtError::VerificationFailed);
    }
    if let Some((_, _, loader)) = &cb.user_loader
        && token.user.get().is_none()
    {
        match loader(token.clone()).await.map_err(JwtError::unavailable)? {
            Some(user) => {
                // A second extractor that raced here keeps the first user loaded.
                let _ = token.user.set(user);
            }
            None => {
                return Err(JwtError::UserLookup {
                    sub: token.sub().to_owned(),
                });
            }
        }
    }
    if token.location == Location::Cookies
        && req.kind != TokenKind::Refresh
        && let Some(slot) = parts.extensions.get::<RefreshSlot>()
    {
        *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
    }
    Ok(Some(token))
}

/// With remote keys: a token whose `kid` the issuer's set lacks (or any token before the
/// first set) waits for one fetch, shared and rate-limited (`RemoteKeys`), and is verified
/// again; then, whatever the token, a set missing or stale past its bound answers 503.
/// Failures to find a token (401, 422 for a bad header) stand as they are.
#[cfg(feature = "remote")]
async fn remote_keys_step(
    parts: &Parts,
    manager: &JwtManager,
    locations: &[Location],
    refresh: bool,
    res: Result<Arc<TokenData>, JwtError>,
) -> Result<Arc<TokenData>, JwtError> {
    let Some(keys) = &manager.0.remote_keys else {
        return res;
    };
    let res = match res {
        Err(JwtError::Token(jwtx::Error::UnknownKey { .. })) => {
            keys.fetch_for_unknown_kid().await;
            find_and_verify(parts, manager, locations, refresh)
        }
        other => other,
    };
    match res {
        Ok(_) | Err(JwtError::Token(_)) => {
            manager.remote_keys_usable()?;
            res
        }
        other => other,
    }
}

/// Steps 1–6: find, verify, compare the CSRF value.
fn find_and_verify(
    parts: &Parts,
    manager: &JwtManager,
    locations: &[Location],
    refresh: bool,
) -> Result<Arc<TokenData>, JwtError> {
    let body = parts.extensions.get::<CapturedBody>();
    let Found {
        token,
        location,
        csrf,
    } = locate::locate(parts, body, &manager.0.config, locations, refresh)?;
    let verified = match manager.verify_for_request(&token) {
        Ok(v) => v,
        Err(e @ jwtx::Error::Expired { .. }) => {
            // flask-jwt-extended decodes an expired token again and checks its CSRF value, so
            // a wrong value reports the CSRF mismatch rather than the expiry.
            if let Some(sent) = &csrf
                && let Ok(v) = manager.verify_allow_expired::<jwtx::NoClaims>(&token)
            {
                check_csrf(v.claims().csrf.as_deref(), sent)?;
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(sent) = &csrf {
        check_csrf(verified.claims().csrf.as_deref(), sent)?;
    }
    Ok(Arc::new(TokenData::new(verified, location)))
}

fn check_csrf(claim: Option<&str>, sent: &str) -> Result<(), JwtError> {
    let claim = claim.ok_or(JwtError::Token(jwtx::Error::MissingClaim { claim: "csrf" }))?;
    verify_slices_are_equal(claim.as_bytes(), sent.as_bytes()).map_err(|_| JwtError::Csrf {
        message: "CSRF double submit tokens do not match",
    })
}
