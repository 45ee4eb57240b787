//! [`JwtManager`]: flask-jwt-extended's `JWTManager` for axum.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::time::Duration;

use axum::response::Response;
use http::HeaderMap;
use jwtx::{Codec, EncodeError, Issued, Key, KeySet, NoClaims, TokenType, Verified, dangerous};
use serde_json::{Map, Value};

use crate::config::JwtConfig;
use crate::cookies::{self, CookieOverrides, CookieSpec};
use crate::error::{ErrorHandler, JwtError, JwtRejection};
use crate::token::TokenData;
use crate::verified_cache::{VerifiedCache, VerifiedCacheStats};

/// A boxed future, as callbacks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
/// A boxed error, as callbacks fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type ClaimsLoader = Arc<dyn Fn(&str) -> Map<String, Value> + Send + Sync>;
type EncodeKeyLoader = Arc<dyn Fn(&str) -> Option<Arc<Key>> + Send + Sync>;
type DecodeKeyLoader =
    Arc<dyn Fn(&Map<String, Value>, &Map<String, Value>) -> Option<KeySet> + Send + Sync>;
type RevocationCheck =
    Arc<dyn Fn(Arc<TokenData>) -> BoxFuture<Result<bool, BoxError>> + Send + Sync>;
type TokenVerification = Arc<dyn Fn(&TokenData) -> bool + Send + Sync>;
type UserLoader = Arc<
    dyn Fn(Arc<TokenData>) -> BoxFuture<Result<Option<Arc<dyn Any + Send + Sync>>, BoxError>>
        + Send
        + Sync,
>;

#[derive(Default, Clone)]
pub(crate) struct Callbacks {
    pub(crate) additional_claims: Option<ClaimsLoader>,
    pub(crate) additional_headers: Option<ClaimsLoader>,
    pub(crate) encode_key: Option<EncodeKeyLoader>,
    pub(crate) decode_keys: Option<DecodeKeyLoader>,
    pub(crate) revocation: Option<RevocationCheck>,
    pub(crate) verification: Option<TokenVerification>,
    pub(crate) user_loader: Option<(TypeId, &'static str, UserLoader)>,
    pub(crate) error_handler: Option<ErrorHandler>,
}

pub(crate) struct Inner {
    pub(crate) codec: Codec,
    pub(crate) config: Arc<JwtConfig>,
    pub(crate) callbacks: Callbacks,
    /// Recently verified tokens (`None`: off, or a decode-key loader or remote keys are set).
    verified: Option<VerifiedCache>,
    /// The issuer's key set, when this service verifies another's tokens.
    #[cfg(feature = "remote")]
    pub(crate) remote_keys: Option<crate::remote::RemoteKeys>,
    /// The issuer's revocation feed, checked before the revocation callback.
    #[cfg(feature = "remote")]
    pub(crate) feed: Option<crate::remote::RevocationFeed>,
    /// A route's extractor needs what the builder was not given (`CurrentUser` without a
    /// user loader, or with another user type): logged once, answered 500 every time.
    pub(crate) misconfigured_logged: Once,
}

/// Holds the codec, the configuration and the callbacks; put it in router state (it is cheap
/// to clone) and the extractors find it through `FromRef`.
///
/// ```
/// use jwtx::{Algorithm, Codec, Key};
/// use jwtx_axum::{JwtConfig, JwtManager};
///
/// let codec = Codec::new(Key::hmac(Algorithm::HS256, b"a 32+ byte secret from your vault!")?);
/// let jwt = JwtManager::builder(codec)
///     .config(JwtConfig::flask_jwt_extended())
///     .revocation_check(|token| async move {
///         // Look the jti up in your blocklist here.
///         Ok::<_, jwtx_axum::BoxError>(token.jti() == Some("revoked-jti"))
///     })
///     .build();
/// let issued = jwt.access_token("alice").fresh(true).sign()?;
/// assert_eq!(jwt.decode_token(&issued.token)?.sub(), "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtManager(pub(crate) Arc<Inner>);

impl fmt::Debug for JwtManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtManager")
            .field("codec", &self.0.codec)
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtManager`].
#[must_use]
pub struct JwtManagerBuilder {
    codec: Codec,
    config: JwtConfig,
    callbacks: Callbacks,
    verified_cache: usize,
    #[cfg(feature = "remote")]
    remote_keys: Option<crate::remote::RemoteKeys>,
    #[cfg(feature = "remote")]
    feed: Option<crate::remote::RevocationFeed>,
}

impl fmt::Debug for JwtManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtManagerBuilder").finish_non_exhaustive()
    }
}

impl JwtManagerBuilder {
    /// The configuration (default: [`JwtConfig::default`]).
    pub fn config(mut self, config: JwtConfig) -> Self {
        self.config = config;
        self
    }

    /// `additional_claims_loader(identity)`: claims added to every token created through the
    /// manager (claims given at creation win).
    pub fn additional_claims(
        mut self,
        f: impl Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.additional_claims = Some(Arc::new(f));
        self
    }

    /// `additional_headers_loader(identity)`: JOSE header parameters for every token.
    pub fn additional_headers(
        mut self,
        f: impl Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.additional_headers = Some(Arc::new(f));
        self
    }

    /// `encode_key_loader(identity)`: the key to sign a token for this identity with
    /// (`None`: the codec's signer).
    pub fn encode_key(
        mut self,
        f: impl Fn(&str) -> Option<Arc<Key>> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.encode_key = Some(Arc::new(f));
        self
    }

    /// `decode_key_loader(header, payload)`: the keys to verify this token with, chosen from
    /// its UNVERIFIED header and payload (`None`: the codec's keys). The algorithm still comes
    /// from the chosen key.
    pub fn decode_keys(
        mut self,
        f: impl Fn(&Map<String, Value>, &Map<String, Value>) -> Option<KeySet> + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.decode_keys = Some(Arc::new(f));
        self
    }

    /// Keeps at most `entries` recently verified tokens (0, the default: none), so that
    /// a request with a token seen before skips the signature check and the JSON scan. The
    /// whole token is the key, compared in constant time; `iat`, `nbf` and `exp` are checked
    /// again on every use; revocation, type, freshness, CSRF and the user loader still run
    /// per request. Not used with [`decode_keys`](Self::decode_keys), whose keys may change.
    /// About 1 KiB per entry; [`JwtManager::verified_cache_stats`] counts hits and misses.
    pub fn verified_cache(mut self, entries: usize) -> Self {
        self.verified_cache = entries;
        self
    }

    /// `token_in_blocklist_loader`: true when the token is revoked. An error answers 503:
    /// a token is never accepted because the store could not be asked.
    pub fn revocation_check<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(Arc<TokenData>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.callbacks.revocation = Some(Arc::new(move |t| {
            let fut = f(t);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// Verifies with the issuer's key set, kept current in the background (the codec's own
    /// keys are then not used for verification; its validation policy and clock are). A
    /// token whose `kid` the set lacks may wait for one fetch (see [`RemoteKeys`]); while the
    /// set is missing or stale past its bound, tokens are answered 503. Not with
    /// [`decode_keys`](Self::decode_keys). The cache of verified tokens reuses a verification
    /// only while the set that made it is the current one.
    ///
    /// [`RemoteKeys`]: crate::remote::RemoteKeys
    #[cfg(feature = "remote")]
    pub fn remote_keys(mut self, keys: crate::remote::RemoteKeys) -> Self {
        self.remote_keys = Some(keys);
        self
    }

    /// Checks every token against the issuer's revocation feed (before
    /// [`revocation_check`](Self::revocation_check), if one is set too): a revoked token is
    /// answered 401 `Token has been revoked`, and while the feed's set cannot vouch (older
    /// than its `max_lag`, an unreadable entry) every token is answered 503. Routes with
    /// [`skip_revocation_check`](crate::JwtRoute::skip_revocation_check) skip it. With
    /// [`remote_keys`](Self::remote_keys), a `key`/`keys` entry makes the key set refresh.
    #[cfg(feature = "remote")]
    pub fn revocation_feed(mut self, feed: crate::remote::RevocationFeed) -> Self {
        self.feed = Some(feed);
        self
    }

    /// `token_verification_loader`: false answers 400 `User claims verification failed`.
    pub fn token_verification(
        mut self,
        f: impl Fn(&TokenData) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.verification = Some(Arc::new(f));
        self
    }

    /// `user_lookup_loader`: the user a token belongs to; `Ok(None)` answers 401
    /// `Error loading the user <sub>`. Handlers get it through [`CurrentUser<U>`](crate::CurrentUser).
    /// Once set, every protected request loads the user, so a deleted user is refused at once.
    pub fn user_loader<U, F, Fut, E>(mut self, f: F) -> Self
    where
        U: Send + Sync + 'static,
        F: Fn(Arc<TokenData>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let loader: UserLoader = Arc::new(move |t| {
            let fut = f(t);
            Box::pin(async move {
                fut.await
                    .map(|u| u.map(|u| Arc::new(u) as Arc<dyn Any + Send + Sync>))
                    .map_err(Into::into)
            })
        });
        self.callbacks.user_loader = Some((TypeId::of::<U>(), std::any::type_name::<U>(), loader));
        self
    }

    /// Replaces error responses: called for every refusal (match on
    /// [`JwtError::kind`](crate::JwtError::kind) and fall back to
    /// [`JwtError::default_response`](crate::JwtError::default_response)).
    pub fn error_handler(
        mut self,
        f: impl Fn(&JwtError, &JwtConfig) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.error_handler = Some(Arc::new(f));
        self
    }

    /// The manager, or why its configuration cannot work: no token location; a configured
    /// location whose names no request can carry (an invalid header name, an empty query
    /// parameter or JSON key, a JSON location with a zero body limit, cookie names that are
    /// not RFC 6265 tokens, CSRF cookie names when CSRF cookies are on, empty CSRF form field
    /// names when the form is checked). Refused here, at startup, instead of answered on
    /// every request. Only the configured [`token_location`](JwtConfig::token_location) is
    /// checked: a [`JwtRoute`](crate::JwtRoute)'s own locations are not known to the builder.
    ///
    /// Use this for configuration read at run time (files, environment).
    pub fn try_build(self) -> Result<JwtManager, BuildError> {
        check_config(&self.config)?;
        if http::HeaderName::from_bytes(self.config.header_name.as_bytes()).is_err() {
            // Not a configured location (checked above), but a route may still name it.
            tracing::warn!(
                header_name = %self.config.header_name,
                "JwtConfig::header_name is not a valid HTTP header name: no request can carry it"
            );
        }
        #[cfg(feature = "remote")]
        if self.remote_keys.is_some() && self.callbacks.decode_keys.is_some() {
            return Err(BuildError {
                owner: "JwtManagerBuilder",
                field: "remote_keys",
                problem: "and decode_keys are both set: choose one source of keys".into(),
            });
        }
        #[cfg(feature = "remote")]
        if let (Some(keys), Some(feed)) = (&self.remote_keys, &self.feed) {
            feed.wake_on_key_entries(keys.wake_handle());
        }
        let verified = match self.callbacks.decode_keys {
            Some(_) => None,
            None => VerifiedCache::new(self.verified_cache),
        };
        Ok(JwtManager(Arc::new(Inner {
            codec: self.codec,
            config: Arc::new(self.config),
            callbacks: self.callbacks,
            verified,
            #[cfg(feature = "remote")]
            remote_keys: self.remote_keys,
            #[cfg(feature = "remote")]
            feed: self.feed,
            misconfigured_logged: Once::new(),
        })))
    }

    /// The manager.
    ///
    /// # Panics
    ///
    /// When [`try_build`](Self::try_build) refuses the configuration: like a conflicting
    /// route in axum's `Router`, a configuration written in code that cannot work is a
    /// programming error, found when the application starts rather than on each request.
    pub fn build(self) -> JwtManager {
        match self.try_build() {
            Ok(manager) => manager,
            // Documented above; configuration from outside the program goes through try_build.
            #[allow(clippy::panic)]
            Err(e) => panic!("JwtManagerBuilder::build: {e}"),
        }
    }
}

/// Why [`JwtManagerBuilder::try_build`] refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildError {
    /// `JwtConfig`, or `JwtManagerBuilder` for a conflict between builder calls.
    owner: &'static str,
    field: &'static str,
    problem: String,
}

impl BuildError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        BuildError {
            owner: "JwtConfig",
            field,
            problem: problem.into(),
        }
    }

    /// The [`JwtConfig`] field at fault (`token_location`, `header_name`, …), or the
    /// [`JwtManagerBuilder`] call.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{} {}", self.owner, self.field, self.problem)
    }
}

impl std::error::Error for BuildError {}

/// RFC 6265's `cookie-name`: an RFC 2616 token (visible ASCII but separators).
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The configurations [`JwtManagerBuilder::try_build`] refuses.
fn check_config(c: &JwtConfig) -> Result<(), BuildError> {
    use crate::config::Location;
    let uses = |l: Location| c.token_location.contains(&l);
    if c.token_location.is_empty() {
        return Err(BuildError::new(
            "token_location",
            "is empty: no request could carry a token; name at least one location",
        ));
    }
    if uses(Location::Headers) && http::HeaderName::from_bytes(c.header_name.as_bytes()).is_err() {
        return Err(BuildError::new(
            "header_name",
            format!(
                "{:?} is not a valid HTTP header name, and tokens are read from headers",
                c.header_name
            ),
        ));
    }
    if uses(Location::QueryString) && c.query_string_name.is_empty() {
        return Err(BuildError::new(
            "query_string_name",
            "is empty, and tokens are read from the query string",
        ));
    }
    if uses(Location::Json) {
        for (field, key) in [
            ("json_key", &c.json_key),
            ("refresh_json_key", &c.refresh_json_key),
        ] {
            if key.is_empty() {
                return Err(BuildError::new(
                    field,
                    "is empty, and tokens are read from JSON bodies",
                ));
            }
        }
        if c.body_limit == 0 {
            return Err(BuildError::new(
                "body_limit",
                "is 0, and tokens are read from JSON bodies: no body could carry one",
            ));
        }
    }
    if uses(Location::Cookies) {
        let mut names = vec![
            ("access_cookie_name", &c.access_cookie_name),
            ("refresh_cookie_name", &c.refresh_cookie_name),
        ];
        if c.csrf_protect && c.csrf_in_cookies {
            names.push(("access_csrf_cookie_name", &c.access_csrf_cookie_name));
            names.push(("refresh_csrf_cookie_name", &c.refresh_csrf_cookie_name));
        }
        for (field, name) in names {
            if !is_cookie_name(name) {
                return Err(BuildError::new(
                    field,
                    format!(
                        "{name:?} is not a cookie name (RFC 6265: visible ASCII, no separators), \
                         and tokens are read from cookies"
                    ),
                ));
            }
        }
        if c.csrf_protect && c.csrf_check_form {
            for (field, name) in [
                ("access_csrf_field_name", &c.access_csrf_field_name),
                ("refresh_csrf_field_name", &c.refresh_csrf_field_name),
            ] {
                if name.is_empty() {
                    return Err(BuildError::new(
                        field,
                        "is empty, and the CSRF value is read from form fields",
                    ));
                }
            }
        }
    }
    Ok(())
}

impl JwtManager {
    /// Starts a manager around `codec` (keys, validation, lifetimes).
    pub fn builder(codec: Codec) -> JwtManagerBuilder {
        JwtManagerBuilder {
            codec,
            config: JwtConfig::default(),
            callbacks: Callbacks::default(),
            verified_cache: 0,
            #[cfg(feature = "remote")]
            remote_keys: None,
            #[cfg(feature = "remote")]
            feed: None,
        }
    }

    /// A manager for a downstream service, which verifies the tokens of an issuer with its
    /// key set under `validation` (require the issuer and this service's audience there) and
    /// signs none: [`builder`](Self::builder) with a codec that holds no signing key, and
    /// [`remote_keys`](JwtManagerBuilder::remote_keys).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use jwtx::Validation;
    /// use jwtx_axum::{JwtManager, remote::RemoteKeys};
    ///
    /// let keys = RemoteKeys::builder("https://auth.example/.well-known/jwks.json").start()?;
    /// let jwt = JwtManager::downstream(keys, Validation::new().issuer("https://auth.example").audience("orders"))
    ///     .build();
    /// # let _ = jwt; Ok(()) }
    /// ```
    #[cfg(feature = "remote")]
    pub fn downstream(
        keys: crate::remote::RemoteKeys,
        validation: jwtx::Validation,
    ) -> JwtManagerBuilder {
        JwtManager::builder(Codec::new(verify_only_key()).with_validation(validation))
            .remote_keys(keys)
            // A client's repeated requests with one token cost a lookup (as in `jwtx serve`).
            .verified_cache(1024)
    }

    /// The codec.
    pub fn codec(&self) -> &Codec {
        &self.0.codec
    }

    /// The configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.0.config
    }

    /// The rejection the extractors give for `error`: the `error_handler` callback's response
    /// if one is set, else the default one. For a handler that finds a token's failure itself
    /// (a user gone since the extractor ran, say) and must answer exactly as the pipeline would.
    pub fn reject(&self, error: JwtError) -> JwtRejection {
        JwtRejection {
            error,
            config: self.0.config.clone(),
            handler: self.0.callbacks.error_handler.clone(),
        }
    }

    // ------------------------------------------------------------ creating tokens

    /// `create_access_token(identity)`: finish with `.sign()`.
    pub fn access_token(&self, identity: impl Into<String>) -> ManagedToken<'_> {
        ManagedToken::new(self, TokenType::Access, identity.into())
    }

    /// `create_refresh_token(identity)`: finish with `.sign()`.
    pub fn refresh_token(&self, identity: impl Into<String>) -> ManagedToken<'_> {
        ManagedToken::new(self, TokenType::Refresh, identity.into())
    }

    // ------------------------------------------------------------ reading tokens

    /// `decode_token(encoded)`: signature and claim checks, without revocation, type,
    /// freshness or user lookup.
    pub fn decode_token(&self, token: &str) -> Result<Verified<Map<String, Value>>, JwtError> {
        self.remote_keys_usable()?;
        self.verify_raw(token).map_err(Into::into)
    }

    /// With remote keys: `Err` (503) while the set is missing or stale past its bound.
    #[cfg(feature = "remote")]
    pub(crate) fn remote_keys_usable(&self) -> Result<(), JwtError> {
        match &self.0.remote_keys {
            Some(keys) => keys.usable().map_err(|e| JwtError::Unavailable {
                detail: e.to_string(),
                source: Some(Arc::new(e)),
            }),
            None => Ok(()),
        }
    }

    #[cfg(not(feature = "remote"))]
    pub(crate) fn remote_keys_usable(&self) -> Result<(), JwtError> {
        Ok(())
    }

    /// `decode_token(encoded, allow_expired=True)`: as [`decode_token`](Self::decode_token),
    /// with the same keys (the decode-key loader applies), but an expired token is accepted.
    pub fn decode_token_allow_expired(
        &self,
        token: &str,
    ) -> Result<Verified<Map<String, Value>>, JwtError> {
        self.remote_keys_usable()?;
        self.verify_allow_expired(token).map_err(Into::into)
    }

    /// `get_jti(encoded)`.
    pub fn get_jti(&self, token: &str) -> Result<Option<String>, JwtError> {
        Ok(self.decode_token(token)?.jti().map(str::to_owned))
    }

    /// `get_csrf_token(encoded)`.
    pub fn get_csrf_token(&self, token: &str) -> Result<Option<String>, JwtError> {
        Ok(self.decode_token(token)?.claims().csrf.clone())
    }

    /// `get_unverified_jwt_headers(encoded)`.
    pub fn unverified_header(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        dangerous::unverified_header(token, self.0.codec.validation().max_len()).map_err(Into::into)
    }

    /// Verifies with the codec, or with the keys the decode-key loader picks.
    pub(crate) fn verify_raw<C: serde::de::DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Verified<C>, jwtx::Error> {
        match self.loaded_keys(token)? {
            Some(keys) => self.0.codec.verify_with_keys(token, &keys),
            None => self.0.codec.verify(token),
        }
    }

    /// [`verify_raw`](Self::verify_raw) without the expiry check.
    pub(crate) fn verify_allow_expired<C: serde::de::DeserializeOwned + 'static>(
        &self,
        token: &str,
    ) -> Result<Verified<C>, jwtx::Error> {
        match self.loaded_keys(token)? {
            Some(keys) => dangerous::verify_allow_expired_with_keys(&self.0.codec, token, &keys),
            None => dangerous::verify_allow_expired(&self.0.codec, token),
        }
    }

    /// The keys the decode-key loader picks from the token's UNVERIFIED header and payload,
    /// or the remote set's current snapshot; `None`: the codec's keys.
    fn loaded_keys(&self, token: &str) -> Result<Option<KeySet>, jwtx::Error> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.0.remote_keys {
            // No set yet: as a kid the set lacks (the pipeline fetches, then answers 503).
            return match remote.snapshot() {
                Some(keys) => Ok(Some(keys)),
                None => Err(jwtx::Error::UnknownKey {
                    kid: dangerous::unverified_header(token, self.0.codec.validation().max_len())?
                        .get("kid")
                        .and_then(Value::as_str)
                        .map(|k| k.chars().take(64).collect()),
                }),
            };
        }
        let Some(loader) = &self.0.callbacks.decode_keys else {
            return Ok(None);
        };
        let max = self.0.codec.validation().max_len();
        let u = dangerous::decode_unverified(token, max)?;
        let empty = Map::new();
        Ok(loader(
            u.header.as_object().unwrap_or(&empty),
            u.claims.as_object().unwrap_or(&empty),
        ))
    }

    /// Verifies for the request pipeline, keeping only registered claims and the payload;
    /// through the cache of verified tokens when there is one.
    pub(crate) fn verify_for_request(
        &self,
        token: &str,
    ) -> Result<Arc<Verified<NoClaims>>, jwtx::Error> {
        let Some(cache) = &self.0.verified else {
            return self.verify_raw(token).map(Arc::new);
        };
        let (validation, now) = (self.0.codec.validation(), self.0.codec.now());
        // A remote issuer's set may drop a key: reuse only what the current set verified.
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.0.remote_keys {
            if let Some(v) = remote.with_snapshot(|keys| cache.get(token, validation, now, keys)) {
                return Ok(v);
            }
            let keys = remote.snapshot();
            let verified = Arc::new(self.verify_raw(token)?);
            cache.insert(token, verified.clone(), keys);
            return Ok(verified);
        }
        if let Some(v) = cache.get(token, validation, now, None) {
            return Ok(v);
        }
        let verified = Arc::new(self.verify_raw(token)?);
        cache.insert(token, verified.clone(), None);
        Ok(verified)
    }

    /// Hits and misses of the cache of verified tokens (zeros when it is off).
    pub fn verified_cache_stats(&self) -> VerifiedCacheStats {
        self.0
            .verified
            .as_ref()
            .map(VerifiedCache::stats)
            .unwrap_or_default()
    }

    // ------------------------------------------------------------ cookies

    /// Whether the request carries a JWT cookie (access or refresh) by this configuration's
    /// names: a browser that keeps its tokens in cookies. An auth route answering it puts
    /// tokens in cookies only, so no token reaches script (jwtx-auth's cookie mode).
    pub fn has_jwt_cookie(&self, headers: &HeaderMap) -> bool {
        let c = self.config();
        [&c.access_cookie_name, &c.refresh_cookie_name]
            .into_iter()
            .any(|name| crate::locate::cookie(headers, name).is_some())
    }

    /// `set_access_cookies(response, token)`: the access cookie and its CSRF cookie.
    pub fn set_access_cookies(&self, headers: &mut HeaderMap, issued: &Issued) {
        self.set_access_cookies_with(headers, issued, &CookieOverrides::default());
    }

    /// `set_access_cookies(response, token, max_age=…, domain=…)`.
    pub fn set_access_cookies_with(
        &self,
        headers: &mut HeaderMap,
        issued: &Issued,
        over: &CookieOverrides,
    ) {
        let c = &self.0.config;
        self.set_cookies(
            headers,
            issued,
            over,
            (&c.access_cookie_name, &c.access_cookie_path),
            (&c.access_csrf_cookie_name, &c.access_csrf_cookie_path),
        );
    }

    /// `set_refresh_cookies(response, token)`.
    pub fn set_refresh_cookies(&self, headers: &mut HeaderMap, issued: &Issued) {
        self.set_refresh_cookies_with(headers, issued, &CookieOverrides::default());
    }

    /// `set_refresh_cookies(response, token, max_age=…, domain=…)`.
    pub fn set_refresh_cookies_with(
        &self,
        headers: &mut HeaderMap,
        issued: &Issued,
        over: &CookieOverrides,
    ) {
        let c = &self.0.config;
        self.set_cookies(
            headers,
            issued,
            over,
            (&c.refresh_cookie_name, &c.refresh_cookie_path),
            (&c.refresh_csrf_cookie_name, &c.refresh_csrf_cookie_path),
        );
    }

    fn set_cookies(
        &self,
        headers: &mut HeaderMap,
        issued: &Issued,
        over: &CookieOverrides,
        (name, path): (&str, &str),
        (csrf_name, csrf_path): (&str, &str),
    ) {
        let now = self.0.codec.now();
        let ttl = issued.claims.exp.map(|exp| exp.saturating_sub(now));
        let csrf = issued.csrf().map(|value| CookieSpec {
            name: csrf_name,
            value,
            path: csrf_path,
            http_only: false,
        });
        cookies::set_pair(
            headers,
            &self.0.config,
            over,
            CookieSpec {
                name,
                value: &issued.token,
                path,
                http_only: true,
            },
            csrf,
            ttl,
            now,
        );
    }

    /// `unset_jwt_cookies(response)`: deletes all four cookies.
    pub fn unset_jwt_cookies(&self, headers: &mut HeaderMap) {
        self.unset_access_cookies(headers);
        self.unset_refresh_cookies(headers);
    }

    /// `unset_access_cookies(response)`.
    pub fn unset_access_cookies(&self, headers: &mut HeaderMap) {
        let c = &self.0.config;
        cookies::unset_pair(
            headers,
            c,
            None,
            CookieSpec {
                name: &c.access_cookie_name,
                value: "",
                path: &c.access_cookie_path,
                http_only: true,
            },
            CookieSpec {
                name: &c.access_csrf_cookie_name,
                value: "",
                path: &c.access_csrf_cookie_path,
                http_only: false,
            },
        );
    }

    /// `unset_refresh_cookies(response)`.
    pub fn unset_refresh_cookies(&self, headers: &mut HeaderMap) {
        let c = &self.0.config;
        cookies::unset_pair(
            headers,
            c,
            None,
            CookieSpec {
                name: &c.refresh_cookie_name,
                value: "",
                path: &c.refresh_cookie_path,
                http_only: true,
            },
            CookieSpec {
                name: &c.refresh_csrf_cookie_name,
                value: "",
                path: &c.refresh_csrf_cookie_path,
                http_only: false,
            },
        );
    }
}

/// A token being created through the manager (its loaders apply); finish with
/// [`sign`](ManagedToken::sign).
#[must_use = "a token builder does nothing until .sign() is called"]
pub struct ManagedToken<'m> {
    manager: &'m JwtManager,
    kind: TokenType,
    identity: String,
    fresh: Option<jwtx::Fresh>,
    expires: Option<Option<Duration>>,
    /// Claims the loader's override (implicit refresh carries the old token's over).
    carried: Map<String, Value>,
    claims: Map<String, Value>,
    headers: Map<String, Value>,
}

impl fmt::Debug for ManagedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedToken")
            .field("kind", &self.kind)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<'m> ManagedToken<'m> {
    fn new(manager: &'m JwtManager, kind: TokenType, identity: String) -> Self {
        ManagedToken {
            manager,
            kind,
            identity,
            fresh: None,
            expires: None,
            carried: Map::new(),
            claims: Map::new(),
            headers: Map::new(),
        }
    }

    /// `fresh=True/False` (access tokens).
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = Some(if fresh {
            jwtx::Fresh::Yes
        } else {
            jwtx::Fresh::No
        });
        self
    }

    /// `fresh=timedelta(…)`.
    pub fn fresh_for(mut self, window: Duration) -> Self {
        self.fresh = Some(jwtx::Fresh::Until(
            self.manager.0.codec.now().saturating_add(window.as_secs()) as f64,
        ));
        self
    }

    /// `expires_delta=…`.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires = Some(Some(ttl));
        self
    }

    /// `expires_delta=False`: no `exp`.
    pub fn never_expires(mut self) -> Self {
        self.expires = Some(None);
        self
    }

    /// `additional_claims=…` (wins over the loader's).
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims.extend(claims);
        self
    }

    /// Claims under the loader's: any claim `additional_claims` makes wins over these.
    pub(crate) fn carried_claims(mut self, claims: Map<String, Value>) -> Self {
        self.carried = claims;
        self
    }

    /// One additional claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// `additional_headers=…` (wins over the loader's).
    pub fn headers(mut self, headers: Map<String, Value>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Signs the token.
    pub fn sign(self) -> Result<Issued, EncodeError> {
        let cb = &self.manager.0.callbacks;
        let codec = &self.manager.0.codec;
        // Precedence, lowest first: carried claims, the loader's, the caller's.
        let mut claims = self.carried;
        if let Some(f) = &cb.additional_claims {
            claims.extend(f(&self.identity));
        }
        claims.extend(self.claims);
        let mut headers = cb
            .additional_headers
            .as_ref()
            .map(|f| f(&self.identity))
            .unwrap_or_default();
        headers.extend(self.headers);
        let key = cb.encode_key.as_ref().and_then(|f| f(&self.identity));
        let builder = match self.kind {
            TokenType::Refresh => codec.refresh_token(self.identity),
            _ => codec.access_token(self.identity),
        };
        let builder = match self.fresh {
            Some(jwtx::Fresh::Yes) => builder.fresh(true),
            Some(jwtx::Fresh::Until(t)) => {
                builder.fresh_for(Duration::from_secs((t as u64).saturating_sub(codec.now())))
            }
            _ => builder,
        };
        let builder = match self.expires {
            Some(Some(d)) => builder.expires_in(d),
            Some(None) => builder.never_expires(),
            None => builder,
        };
        let builder = if headers.is_empty() {
            builder
        } else {
            builder.headers(headers)
        };
        let builder = builder.claims(claims);
        match key {
            Some(key) => builder.sign_with(&key),
            None => builder.sign(),
        }
    }
}

/// A public-only Ed25519 key for a downstream codec: it verifies nothing that reaches it (the
/// remote set is used) and cannot sign, so such a manager issues no token.
#[cfg(feature = "remote")]
fn verify_only_key() -> KeySet {
    let public = Key::generate(jwtx::Algorithm::EdDSA)
        .ok()
        .and_then(|k| k.public_jwk())
        .and_then(|p| serde_json::to_string(&p).ok())
        .and_then(|json| KeySet::from_jwks_json(&json).ok());
    match public {
        Some(set) => set,
        // Generating an Ed25519 key fails only if the system CSPRNG does, which aws-lc-rs
        // treats as fatal itself; this keeps the function total.
        #[allow(clippy::panic)]
        None => panic!("cannot make a verify-only Ed25519 key"),
    }
}
