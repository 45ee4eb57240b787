//! A request's verified token, shared by every extractor of the request.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use jwtx::{Header, NoClaims, RegisteredClaims, TokenType, Verified};
use serde::de::DeserializeOwned;

use crate::config::Location;

/// A token verified for this request (signature, registered claims, CSRF), with where it was
/// found. Callbacks receive it; extractors hand it to handlers.
pub struct TokenData {
    /// Shared with the cache of verified tokens, when the manager has one.
    pub(crate) verified: Arc<Verified<NoClaims>>,
    pub(crate) location: Location,
    /// The revocation callback's answer, once asked.
    pub(crate) revoked: OnceLock<bool>,
    /// The user loader's user, once loaded.
    pub(crate) user: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for TokenData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenData")
            .field("header", self.verified.header())
            .field("claims", self.verified.claims())
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl TokenData {
    pub(crate) fn new(verified: Arc<Verified<NoClaims>>, location: Location) -> Self {
        TokenData {
            verified,
            location,
            revoked: OnceLock::new(),
            user: OnceLock::new(),
        }
    }

    /// The JOSE header (`get_jwt_header()`).
    pub fn header(&self) -> &Header {
        self.verified.header()
    }

    /// The registered claims.
    pub fn claims(&self) -> &RegisteredClaims {
        self.verified.claims()
    }

    /// The identity (`get_jwt_identity()`).
    pub fn sub(&self) -> &str {
        self.verified.sub()
    }

    /// The `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.verified.jti()
    }

    /// The `sid` claim when it is a string (read while verifying; no second parse).
    pub fn sid(&self) -> Option<&str> {
        self.verified.sid()
    }

    /// The token type.
    pub fn token_type(&self) -> &TokenType {
        self.verified.token_type()
    }

    /// Where the token was found (`get_jwt_request_location()`).
    pub fn location(&self) -> Location {
        self.location
    }

    /// The whole payload as a JSON map (`get_jwt()`).
    pub fn payload(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(self.verified.payload_json()).unwrap_or_default()
    }

    /// The application claims as `C` ([`Verified::custom_as`]: for [`jwtx::NoClaims`], what
    /// `Jwt` without a claims type asks for, the payload is not read again).
    pub fn custom<C: DeserializeOwned + 'static>(&self) -> Result<C, jwtx::Error> {
        self.verified.custom_as()
    }
}
