//! The extractors: what `@jwt_required(…)` and `current_user` become in axum.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use jwtx::{Header, RegisteredClaims, TokenKind};
use serde::de::DeserializeOwned;

use crate::config::Location;
use crate::error::{JwtError, JwtRejection};
use crate::manager::JwtManager;
use crate::token::TokenData;
use crate::verify::{self, Requirement};

mod sealed {
    pub trait Sealed {}
}

/// What a [`Token`] extractor requires of the token (sealed: use the types below).
pub trait Need: sealed::Sealed + Send + Sync + 'static {
    /// The token kind taken.
    const KIND: TokenKind;
    /// Whether the token must be fresh.
    const FRESH: bool;
}

/// Any token but a refresh token (`@jwt_required()`).
#[derive(Debug, Clone, Copy)]
pub struct Access;
/// A fresh access token (`@jwt_required(fresh=True)`).
#[derive(Debug, Clone, Copy)]
pub struct FreshAccess;
/// A refresh token (`@jwt_required(refresh=True)`).
#[derive(Debug, Clone, Copy)]
pub struct Refresh;
/// Either type (`@jwt_required(verify_type=False)`), looked up where access tokens are.
#[derive(Debug, Clone, Copy)]
pub struct Either;

macro_rules! need {
    ($t:ty, $kind:expr, $fresh:expr) => {
        impl sealed::Sealed for $t {}
        impl Need for $t {
            const KIND: TokenKind = $kind;
            const FRESH: bool = $fresh;
        }
    };
}
need!(Access, TokenKind::Access, false);
need!(FreshAccess, TokenKind::Access, true);
need!(Refresh, TokenKind::Refresh, false);
need!(Either, TokenKind::Any, false);

/// A verified token with application claims `C`. Use the aliases: [`Jwt`], [`FreshJwt`],
/// [`RefreshJwt`], [`AnyJwt`]; wrap in `Option<…>` for `@jwt_required(optional=True)` (no
/// token → `None`; a present but invalid token is still refused).
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use jwtx_axum::{Jwt, JwtManager};
/// use serde_json::{Value, json};
///
/// async fn protected(jwt: Jwt) -> Json<Value> {
///     Json(json!({ "logged_in_as": jwt.identity() }))
/// }
///
/// fn app(manager: JwtManager) -> Router {
///     Router::new().route("/protected", get(protected)).with_state(manager)
/// }
/// ```
pub struct Token<C = jwtx::NoClaims, K: Need = Access> {
    data: Arc<TokenData>,
    custom: C,
    _need: PhantomData<K>,
}

/// `@jwt_required()`.
pub type Jwt<C = jwtx::NoClaims> = Token<C, Access>;
/// `@jwt_required(fresh=True)`.
pub type FreshJwt<C = jwtx::NoClaims> = Token<C, FreshAccess>;
/// `@jwt_required(refresh=True)`.
pub type RefreshJwt<C = jwtx::NoClaims> = Token<C, Refresh>;
/// `@jwt_required(verify_type=False)`.
pub type AnyJwt<C = jwtx::NoClaims> = Token<C, Either>;

impl<C: fmt::Debug, K: Need> fmt::Debug for Token<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("data", &self.data)
            .field("custom", &self.custom)
            .finish()
    }
}

impl<C, K: Need> Token<C, K> {
    /// `get_jwt_identity()`.
    pub fn identity(&self) -> &str {
        self.data.sub()
    }

    /// The registered claims.
    pub fn claims(&self) -> &RegisteredClaims {
        self.data.claims()
    }

    /// The `sid` claim when it is a string (read while verifying; no second parse).
    pub fn sid(&self) -> Option<&str> {
        self.data.sid()
    }

    /// The application claims.
    pub fn custom(&self) -> &C {
        &self.custom
    }

    /// The application claims, by value.
    pub fn into_custom(self) -> C {
        self.custom
    }

    /// `get_jwt_header()`.
    pub fn header(&self) -> &Header {
        self.data.header()
    }

    /// `get_jwt_request_location()`.
    pub fn location(&self) -> Location {
        self.data.location()
    }

    /// `get_jwt()`: the whole payload as a JSON map.
    pub fn payload(&self) -> serde_json::Map<String, serde_json::Value> {
        self.data.payload()
    }

    /// The shared verified token (as callbacks see it).
    pub fn data(&self) -> &Arc<TokenData> {
        &self.data
    }
}

fn manager<S>(state: &S) -> JwtManager
where
    JwtManager: FromRef<S>,
{
    JwtManager::from_ref(state)
}

async fn extract<C: DeserializeOwned + 'static, K: Need>(
    parts: &mut Parts,
    m: &JwtManager,
    optional: bool,
) -> Result<Option<Token<C, K>>, JwtError> {
    let req = Requirement {
        kind: K::KIND,
        fresh: K::FRESH,
    };
    let Some(data) = verify::check(parts, m, req, optional).await? else {
        if optional {
            return Ok(None);
        }
        return Err(JwtError::Internal {
            message: "No verified token: OPTIONS requests are not verified; take Option<Jwt> to serve them",
        });
    };
    let custom = data.custom::<C>()?;
    Ok(Some(Token {
        data,
        custom,
        _need: PhantomData,
    }))
}

impl<S, C, K> FromRequestParts<S> for Token<C, K>
where
    JwtManager: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + 'static,
    K: Need,
{
    type Rejection = JwtRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let m = manager(state);
        match extract::<C, K>(parts, &m, false).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(m.reject(JwtError::Internal {
                message: "No verified token",
            })),
            Err(e) => Err(m.reject(e)),
        }
    }
}

impl<S, C, K> OptionalFromRequestParts<S> for Token<C, K>
where
    JwtManager: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + 'static,
    K: Need,
{
    type Rejection = JwtRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let m = manager(state);
        extract::<C, K>(parts, &m, true)
            .await
            .map_err(|e| m.reject(e))
    }
}

/// The user the token belongs to (`current_user`), from the manager's
/// [`user_loader`](crate::JwtManagerBuilder::user_loader). `K` is the token the route takes
/// (default: an access token).
pub struct CurrentUser<U, K: Need = Access>(pub Arc<U>, PhantomData<K>);

impl<U: fmt::Debug, K: Need> fmt::Debug for CurrentUser<U, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CurrentUser").field(&self.0).finish()
    }
}

impl<U, K: Need> std::ops::Deref for CurrentUser<U, K> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.0
    }
}

impl<S, U, K> FromRequestParts<S> for CurrentUser<U, K>
where
    JwtManager: FromRef<S>,
    S: Send + Sync,
    U: Send + Sync + 'static,
    K: Need,
{
    type Rejection = JwtRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let m = manager(state);
        let misconfigured = |message| m.reject(JwtError::Internal { message });
        // The builder cannot see which extractors the routes take, so this is found at the
        // first request: said once, in full, in the log; answered 500 every time.
        let log_once = |loader: Option<&str>| {
            m.0.misconfigured_logged.call_once(|| {
                let wanted = std::any::type_name::<U>();
                match loader {
                    None => tracing::error!(
                        wanted,
                        "a route takes CurrentUser<{wanted}> but the JwtManager has no user \
                         loader (JwtManagerBuilder::user_loader): every request to it answers 500"
                    ),
                    Some(loader) => tracing::error!(
                        wanted,
                        loader,
                        "a route takes CurrentUser<{wanted}> but the user loader gives \
                         {loader}: every request to it answers 500"
                    ),
                }
            });
        };
        match &m.0.callbacks.user_loader {
            None => {
                log_once(None);
                return Err(misconfigured(
                    "CurrentUser needs JwtManagerBuilder::user_loader",
                ));
            }
            Some((id, name, _)) if *id != std::any::TypeId::of::<U>() => {
                log_once(Some(name));
                return Err(misconfigured(
                    "CurrentUser<U>: U is not the user loader's type",
                ));
            }
            Some(_) => {}
        }
        let token = extract::<jwtx::NoClaims, K>(parts, &m, false)
            .await
            .map_err(|e| m.reject(e))?
            .ok_or_else(|| misconfigured("No verified token"))?;
        let user = token
            .data
            .user
            .get()
            .cloned()
            .and_then(|u| u.downcast::<U>().ok())
            .ok_or_else(|| misconfigured("user loader gave no user"))?;
        Ok(CurrentUser(user, PhantomData))
    }
}
