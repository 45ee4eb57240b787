//! # jwtx-axum
//!
//! flask-jwt-extended's feature set for axum 0.8, answering on the wire exactly as
//! flask-jwt-extended 4.7.4 does, so a Flask service and a jwtx service that share a secret
//! accept each other's tokens and cookies.
//!
//! | flask-jwt-extended | jwtx-axum |
//! |---|---|
//! | `JWTManager(app)`, `JWT_*` config | [`JwtManager::builder`], [`JwtConfig`] in router state |
//! | `@jwt_required()` / `fresh=True` / `refresh=True` / `verify_type=False` | [`Jwt`], [`FreshJwt`], [`RefreshJwt`], [`AnyJwt`] extractors |
//! | `@jwt_required(optional=True)` | `Option<Jwt>` |
//! | `locations=…`, `skip_revocation_check=True` | [`JwtRoute`] as a route layer |
//! | `get_jwt()`, `get_jwt_identity()`, `get_jwt_header()`, `get_jwt_request_location()` | [`Token`] methods |
//! | `current_user` + `user_lookup_loader` | [`CurrentUser`] + [`JwtManagerBuilder::user_loader`] |
//! | `create_access_token`, `create_refresh_token` | [`JwtManager::access_token`], [`JwtManager::refresh_token`] |
//! | `set_access_cookies`, `unset_jwt_cookies`, … | [`JwtManager::set_access_cookies`], [`JwtManager::unset_jwt_cookies`], … |
//! | `decode_token`, `get_jti`, `get_csrf_token`, `get_unverified_jwt_headers` | [`JwtManager`] methods |
//! | `token_in_blocklist_loader`, `token_verification_loader`, claims/headers/key loaders | [`JwtManagerBuilder`] callbacks |
//! | `*_loader` error callbacks | [`JwtManagerBuilder::error_handler`] |
//! | implicit refresh `after_request` | [`JwtLayer::implicit_refresh`] |
//! | (none: every request verifies) | [`JwtManagerBuilder::verified_cache`]: a token seen before skips the signature check |
//! | `decode_key_loader` fetching an issuer's JWKS | `JwtManager::downstream` with `remote::RemoteKeys`, and `remote::RevocationFeed` (feature `remote`) |
//!
//! ```no_run
//! use axum::{Json, Router, routing::{get, post}};
//! use jwtx::{Algorithm, Codec, Key};
//! use jwtx_axum::{Jwt, JwtConfig, JwtLayer, JwtManager};
//! use serde_json::{Value, json};
//!
//! async fn login(axum::extract::State(jwt): axum::extract::State<JwtManager>) -> Json<Value> {
//!     let token = jwt.access_token("alice").fresh(true).sign().expect("signing");
//!     Json(json!({ "access_token": token.token }))
//! }
//!
//! async fn protected(jwt: Jwt) -> Json<Value> {
//!     Json(json!({ "logged_in_as": jwt.identity() }))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let codec = Codec::new(Key::hmac(Algorithm::HS256, std::env::var("JWT_SECRET_KEY")?.as_bytes())?);
//! let jwt = JwtManager::builder(codec).config(JwtConfig::flask_jwt_extended()).build();
//! let app = Router::new()
//!     .route("/login", post(login))
//!     .route("/protected", get(protected))
//!     .layer(JwtLayer::new(jwt.clone()))
//!     .with_state(jwt);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## Downstream services
//!
//! With the `remote` feature, a service that verifies tokens another jwtx service issues
//! follows that issuer's JWKS and revocation feed in the background (module `remote`):
//!
//! ```ignore
//! use jwtx_axum::remote::{RemoteKeys, RevocationFeed};
//!
//! let keys = RemoteKeys::builder("https://auth.example/.well-known/jwks.json").start()?;
//! let feed = RevocationFeed::builder("https://auth.example/revocations", &credential).start()?;
//! let jwt = JwtManager::downstream(keys, Validation::new().issuer("https://auth.example").audience("orders"))
//!     .revocation_feed(feed)
//!     .build();
//! ```
//!
//! Errors answer with flask-jwt-extended's statuses and `{"msg": …}` bodies byte for byte
//! (plus `WWW-Authenticate: Bearer` on 401), or in RFC 6750 style ([`ErrorStyle`]).

mod body;
mod config;
mod cookies;
mod error;
mod extract;
mod layer;
mod locate;
mod manager;
#[cfg(feature = "remote")]
pub mod remote;
mod token;
mod verified_cache;
mod verify;

pub use config::{
    CookieLifetime, CookieProfile, ErrorStyle, JwtConfig, Location, SameSite, UnknownConfigValue,
};
pub use cookies::CookieOverrides;
pub use error::{ErrorHandler, ErrorKind, JwtError, JwtRejection};
pub use extract::{
    Access, AnyJwt, CurrentUser, Either, FreshAccess, FreshJwt, Jwt, Need, Refresh, RefreshJwt,
    Token,
};
pub use layer::{JwtLayer, JwtService, ResponseFuture};
pub use manager::{BoxError, BoxFuture, BuildError, JwtManager, JwtManagerBuilder, ManagedToken};
pub use token::TokenData;
pub use verified_cache::VerifiedCacheStats;
pub use verify::{JwtRoute, JwtRouteService};
