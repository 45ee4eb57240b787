//! # jwtx
//!
//! The strict, fast core of jwtx: keys bound to one algorithm, JWS compact signing and
//! verification, flask-jwt-extended's claims, and validation with secure defaults. It knows
//! nothing of any web framework; `jwtx-axum` builds the HTTP layer on it.
//!
//! ```
//! use jwtx::{Algorithm, Codec, Key, NoClaims, TokenKind};
//!
//! // A key is bound to exactly one algorithm when it is built.
//! let key = Key::hmac(Algorithm::HS256, b"a 32+ byte secret from your vault!")?;
//! let codec = Codec::new(key);
//!
//! // Login: a fresh access token and a refresh token, shaped like flask-jwt-extended's.
//! let access = codec.access_token("alice").fresh(true).sign()?;
//! let refresh = codec.refresh_token("alice").sign()?;
//!
//! // A protected route: one call verifies signature and claims.
//! let verified = codec.verify::<NoClaims>(&access.token)?;
//! verified.require(TokenKind::Access)?;
//! assert_eq!(verified.sub(), "alice");
//!
//! // A refresh token is refused where an access token is expected.
//! let err = codec.verify::<NoClaims>(&refresh.token)?.require(TokenKind::Access).unwrap_err();
//! assert_eq!(err.message(), "Only non-refresh tokens are allowed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What "strict" means
//!
//! Verification ([`jws::verify`], [`Codec::verify`]) checks, in order: the length cap (8 KiB by
//! default) before any decoding; exactly three segments; canonical base64url; header and
//! payload are UTF-8 JSON objects without duplicate member names; no `crit`, `zip`, `jku`,
//! `x5u`, `jwk` or `x5c`; `kid` only selects among configured keys; the header's `alg` must be
//! the selected key's algorithm (there is no `none`); the signature; then `iat`, `nbf`, `exp`
//! (finite non-negative numbers up to 2^53; `exp <= now - leeway` is expired), `iss`, `aud`,
//! `sub` and `jti` as strings. Every failure is an [`Error`] whose
//! [`message`](Error::message) is flask-jwt-extended's text for the same case.
//!
//! ## Modules
//!
//! - [`Key`], [`KeySet`], [`Jwk`]: keys from secrets, PEM, DER and JWK; JWKS output.
//! - [`jws`]: the compact JWS layer alone (header rules and signature, no claims).
//! - [`Codec`], [`Verified`], [`Validation`], [`RegisteredClaims`]: tokens with claims.
//! - [`Clock`]: injected time. [`dangerous`]: decoding without verification.
//! - [`store`]: store traits for users, sessions, revocations and signing keys, in-memory implementations,
//!   and the in-process revocation mirror.

#![forbid(unsafe_code)]

mod alg;
mod b64;
mod claims;
mod clock;
mod codec;
pub mod dangerous;
mod error;
mod hex;
mod json;
mod jwk;
pub mod jws;
mod key;
mod keyset;
mod live_keys;
mod random;
pub mod store;
mod validation;

pub use alg::{Algorithm, Family, UnknownAlgorithm};
pub use claims::{
    Audience, Fresh, MAX_NUMERIC_DATE, NoClaims, NumericDate, REGISTERED, RegisteredClaims,
    SESSION_ID, TokenType,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use codec::{Codec, Issued, TokenBuilder, TokenKind, Verified};
pub use error::{EncodeError, Error, ForbiddenHeader, KeyError, Segment, StatusClass, TimeClaim};
pub use jwk::{Jwk, PublicJwk};
pub use jws::Header;
pub use key::Key;
pub use keyset::KeySet;
pub use live_keys::{KeysGuard, LiveKeys};
pub use random::{secret_hex, uuid4};
pub use validation::Validation;
