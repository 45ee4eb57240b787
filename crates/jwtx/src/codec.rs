//! Issuing and verifying flask-jwt-extended-shaped tokens: [`Codec`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::claims::{
    self, Audience, CustomOnly, Fresh, NoClaims, NumericDate, Payload, REGISTERED,
    RegisteredClaims, TokenType,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{EncodeError, Error};
use crate::json;
use crate::jws::{self, Header};
use crate::key::Key;
use crate::keyset::KeySet;
use crate::live_keys::{KeysGuard, LiveKeys};
use crate::random::{uuid4, uuid4_pair};
use crate::validation::Validation;

/// Issues and verifies tokens with one key set, one validation policy and one clock.
///
/// Defaults follow flask-jwt-extended: access tokens live 15 minutes, refresh tokens 30 days,
/// every token gets `nbf` and a `csrf` value. Verification is strict by default: `exp`
/// required, no leeway.
///
/// ```
/// use jwtx::{Algorithm, Codec, Key, TokenKind};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Roles { roles: Vec<String> }
///
/// let codec = Codec::new(Key::hmac(Algorithm::HS256, b"a 32+ byte secret from your vault!")?);
/// let issued = codec
///     .access_token("alice")
///     .fresh(true)
///     .claims(Roles { roles: vec!["admin".into()] })
///     .sign()?;
///
/// let token = codec.verify::<Roles>(&issued.token)?;
/// token.require(TokenKind::Access)?;
/// assert_eq!(token.sub(), "alice");
/// assert_eq!(token.custom().roles, ["admin"]);
/// assert!(token.is_fresh(codec.now()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Codec {
    keys: LiveKeys,
    validation: Validation,
    clock: Arc<dyn Clock>,
    access_ttl: Option<Duration>,
    refresh_ttl: Option<Duration>,
    issuer: Option<String>,
    audience: Option<Audience>,
    csrf: bool,
    nbf: bool,
}

impl Codec {
    /// A codec for `keys` with the defaults described above.
    pub fn new(keys: impl Into<KeySet>) -> Codec {
        Codec {
            keys: LiveKeys::new(keys.into()),
            validation: Validation::new(),
            clock: Arc::new(SystemClock),
            access_ttl: Some(Duration::from_secs(15 * 60)),
            refresh_ttl: Some(Duration::from_secs(30 * 24 * 3600)),
            issuer: None,
            audience: None,
            csrf: true,
            nbf: true,
        }
    }

    /// Reads its keys from `keys`, which a key rotation replaces while the codec is in use.
    pub fn with_live_keys(mut self, keys: LiveKeys) -> Codec {
        self.keys = keys;
        self
    }

    /// The replaceable key set this codec signs and verifies with.
    pub fn live_keys(&self) -> &LiveKeys {
        &self.keys
    }

    /// Sets the validation policy.
    pub fn with_validation(mut self, validation: Validation) -> Codec {
        self.validation = validation;
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Codec {
        self.clock = clock;
        self
    }

    /// Lifetime of access tokens (`None`: no `exp`, needs
    /// [`Validation::dangerous_allow_missing_exp`] to verify).
    pub fn with_access_ttl(mut self, ttl: Option<Duration>) -> Codec {
        self.access_ttl = ttl;
        self
    }

    /// Lifetime of refresh tokens.
    pub fn with_refresh_ttl(mut self, ttl: Option<Duration>) -> Codec {
        self.refresh_ttl = ttl;
        self
    }

    /// `iss` written into issued tokens (verification checks it only if the
    /// [`Validation`] names an issuer).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Codec {
        self.issuer = Some(issuer.into());
        self
    }

    /// `aud` written into issued tokens.
    pub fn with_audience(mut self, audience: Audience) -> Codec {
        self.audience = Some(audience);
        self
    }

    /// Whether issued tokens carry a `csrf` claim (default true, as flask-jwt-extended).
    pub fn with_csrf_claim(mut self, on: bool) -> Codec {
        self.csrf = on;
        self
    }

    /// Whether issued tokens carry `nbf` (= `iat`; default true).
    pub fn with_nbf(mut self, on: bool) -> Codec {
        self.nbf = on;
        self
    }

    /// The current key set (see [`live_keys`](Self::live_keys)).
    pub fn keys(&self) -> KeysGuard {
        self.keys.load()
    }

    /// The validation policy.
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// The lifetime configured for a token type.
    pub fn ttl(&self, kind: &TokenType) -> Option<Duration> {
        match kind {
            TokenType::Refresh => self.refresh_ttl,
            _ => self.access_ttl,
        }
    }

    /// The codec clock's time.
    pub fn now(&self) -> NumericDate {
        self.clock.now()
    }

    /// Starts an access token for `identity` (not fresh unless [`fresh`](TokenBuilder::fresh)).
    pub fn access_token(&self, identity: impl Into<String>) -> TokenBuilder<'_> {
        self.token(TokenType::Access, identity)
    }

    /// Starts a refresh token for `identity` (never fresh).
    pub fn refresh_token(&self, identity: impl Into<String>) -> TokenBuilder<'_> {
        self.token(TokenType::Refresh, identity)
    }

    fn token(&self, token_type: TokenType, identity: impl Into<String>) -> TokenBuilder<'_> {
        TokenBuilder {
            codec: self,
            token_type,
            sub: identity.into(),
            fresh: Fresh::No,
            expires: Expiry::Default,
            custom: NoClaims,
            headers: None,
        }
    }

    /// Verifies a token: JWS rules and signature, then the registered claims, then reads the
    /// application's claims type `C`. Token type and freshness are the caller's to require
    /// ([`Verified::require`], [`Verified::require_fresh`]), as they depend on the route.
    pub fn verify<C: DeserializeOwned + 'static>(&self, token: &str) -> Result<Verified<C>, Error> {
        self.verify_at(token, &self.keys.load(), self.clock.now(), true)
    }

    /// Like [`verify`](Codec::verify) with another key set, chosen per token (e.g. from the
    /// unverified header's `kid` through a JWKS cache: flask-jwt-extended's
    /// `decode_key_loader`). The validation policy and clock are this codec's.
    pub fn verify_with_keys<C: DeserializeOwned + 'static>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<Verified<C>, Error> {
        self.verify_at(token, keys, self.clock.now(), true)
    }

    pub(crate) fn verify_at<C: DeserializeOwned + 'static>(
        &self,
        token: &str,
        keys: &KeySet,
        now: NumericDate,
        check_exp: bool,
    ) -> Result<Verified<C>, Error> {
        let (mut jws, checked) = jws::verify_token(token, keys, self.validation.max_len())?;
        // A top-level exp/iat/nbf beyond f64 is no NumericDate: blank it to `null` (same
        // length, padded with spaces) so that the claims check reports it as the wrong type,
        // in its usual order, as flask-jwt-extended does.
        for range in checked.overflowing_dates {
            if let Some(text) = jws.payload.get_mut(range) {
                text.fill(b' ');
                if let Some(head) = text.get_mut(..4) {
                    head.copy_from_slice(b"null");
                }
            }
        }
        let read = claims::payload_from_members(&jws.payload, &checked.members)
            .map_or_else(|| serde_json::from_slice(&jws.payload), Ok);
        let payload: Payload<C> = match read {
            Ok(p) => p,
            Err(e) => {
                // Registered-claim failures (expired, …) come first, as in flask-jwt-extended
                // where application claims are untyped; re-read them on this error path only.
                let p: Payload<NoClaims> =
                    serde_json::from_slice(&jws.payload).map_err(|e2| Error::Json {
                        segment: crate::error::Segment::Payload,
                        detail: e2.to_string(),
                    })?;
                self.validation.check(p.registered, now, check_exp)?;
                return Err(Error::CustomClaims {
                    detail: e.to_string(),
                });
            }
        };
        let claims = self.validation.check(payload.registered, now, check_exp)?;
        Ok(Verified {
            header: jws.header,
            claims,
            custom: payload.custom,
            sid: payload.sid,
            payload: jws.payload,
        })
    }
}

/// When an issued token expires.
#[derive(Clone, Copy, Debug)]
enum Expiry {
    Default,
    In(Duration),
    Never,
}

/// A token being issued; finish with [`sign`](TokenBuilder::sign).
#[derive(Debug)]
#[must_use = "a token builder does nothing until .sign() is called"]
pub struct TokenBuilder<'c, C = NoClaims> {
    codec: &'c Codec,
    token_type: TokenType,
    sub: String,
    fresh: Fresh,
    expires: Expiry,
    custom: C,
    headers: Option<serde_json::Map<String, serde_json::Value>>,
}

impl<'c, C: Serialize> TokenBuilder<'c, C> {
    /// Marks an access token fresh (or not). Refresh tokens ignore this.
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = if fresh { Fresh::Yes } else { Fresh::No };
        self
    }

    /// Makes an access token fresh for `window` from now (flask-jwt-extended's
    /// `fresh=timedelta(…)`), written as a NumericDate.
    pub fn fresh_for(mut self, window: Duration) -> Self {
        self.fresh = Fresh::Until(self.codec.now().saturating_add(window.as_secs()) as f64);
        self
    }

    /// Overrides the configured lifetime for this token.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.expires = Expiry::In(ttl);
        self
    }

    /// Issues this token without `exp`: it never expires (flask-jwt-extended's
    /// `expires_delta=False`). Verifiers must opt in with
    /// [`Validation::dangerous_allow_missing_exp`].
    pub fn never_expires(mut self) -> Self {
        self.expires = Expiry::Never;
        self
    }

    /// Application claims, written at the top level of the payload. They must serialize to a
    /// JSON object whose names differ from the registered claims.
    pub fn claims<D: Serialize>(self, claims: D) -> TokenBuilder<'c, D> {
        TokenBuilder {
            codec: self.codec,
            token_type: self.token_type,
            sub: self.sub,
            fresh: self.fresh,
            expires: self.expires,
            custom: claims,
            headers: self.headers,
        }
    }

    /// Extra JOSE header parameters (not `alg`, `kid` or any parameter jwtx rejects).
    pub fn headers(mut self, headers: serde_json::Map<String, serde_json::Value>) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Signs the token with the key set's active signer.
    pub fn sign(self) -> Result<Issued, EncodeError> {
        let keys = self.codec.keys.load();
        let key = keys.signer().ok_or(EncodeError::NoSigningKey)?;
        self.sign_with(key)
    }

    /// Signs the token with `key` (flask-jwt-extended's `encode_key_loader`: e.g. a tenant's
    /// own key). The key's `kid` goes into the header.
    pub fn sign_with(self, key: &Key) -> Result<Issued, EncodeError> {
        let codec = self.codec;
        let now = codec.now();
        let exp = match self.expires {
            Expiry::Default => codec.ttl(&self.token_type),
            Expiry::In(d) => Some(d),
            Expiry::Never => None,
        }
        .map(|d| now.saturating_add(d.as_secs()));
        let fresh = if self.token_type == TokenType::Refresh {
            Fresh::No
        } else {
            self.fresh
        };
        let (jti, csrf) = if codec.csrf {
            let (jti, csrf) = uuid4_pair();
            (jti, Some(csrf))
        } else {
            (uuid4(), None)
        };
        let claims = RegisteredClaims {
            fresh,
            iat: Some(now),
            jti: Some(jti),
            token_type: self.token_type,
            sub: self.sub,
            nbf: codec.nbf.then_some(now),
            csrf,
            aud: codec.audience.clone(),
            iss: codec.issuer.clone(),
            exp,
        };
        let payload = payload_json(&claims, &self.custom)?;
        let token = jws::sign(key, &payload, self.headers.as_ref())?;
        Ok(Issued { token, claims })
    }
}

/// Serializes registered claims then application claims into one JSON object.
fn payload_json<C: Serialize>(
    claims: &RegisteredClaims,
    custom: &C,
) -> Result<Vec<u8>, EncodeError> {
    let mut payload = serde_json::to_vec(claims).map_err(EncodeError::Serialize)?;
    let extra = serde_json::to_vec(custom).map_err(EncodeError::Serialize)?;
    if extra.first() != Some(&b'{') {
        return Err(EncodeError::NotAnObject);
    }
    if extra.len() > 2 {
        payload.pop();
        payload.push(b',');
        payload.extend_from_slice(&extra[1..]);
        if json::check_object(&payload).is_err() {
            let names: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&extra).map_err(EncodeError::Serialize)?;
            let name = names
                .keys()
                .find(|k| REGISTERED.contains(&k.as_str()))
                .cloned()
                .unwrap_or_default();
            return Err(EncodeError::Reserved { name });
        }
    }
    Ok(payload)
}

/// A freshly signed token and the claims it carries.
#[derive(Clone)]
pub struct Issued {
    /// The compact JWS. A bearer credential: never log it.
    pub token: String,
    /// Its registered claims (`jti`, `csrf`, `exp`, … for sessions and cookies).
    pub claims: RegisteredClaims,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"[redacted]")
            .field("jti", &self.claims.jti)
            .field("type", &self.claims.token_type)
            .field("exp", &self.claims.exp)
            .finish()
    }
}

impl Issued {
    /// The `jti`.
    pub fn jti(&self) -> &str {
        self.claims.jti.as_deref().unwrap_or_default()
    }

    /// The `csrf` value, when CSRF claims are on.
    pub fn csrf(&self) -> Option<&str> {
        self.claims.csrf.as_deref()
    }
}

/// What a route takes, for [`Verified::require`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKind {
    /// Anything but a refresh token (flask-jwt-extended's default).
    Access,
    /// Refresh tokens only.
    Refresh,
    /// Either (`verify_type=False`).
    Any,
}

/// A token whose signature and registered claims have been verified. Only [`Codec::verify`]
/// makes one, so holding a `Verified` proves the checks ran.
#[derive(Clone, Debug)]
pub struct Verified<C = NoClaims> {
    header: Header,
    claims: RegisteredClaims,
    custom: C,
    sid: Option<String>,
    payload: Vec<u8>,
}

impl<C> Verified<C> {
    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The registered claims.
    pub fn claims(&self) -> &RegisteredClaims {
        &self.claims
    }

    /// The application's claims.
    pub fn custom(&self) -> &C {
        &self.custom
    }

    /// Header, registered claims and application claims.
    pub fn into_parts(self) -> (Header, RegisteredClaims, C) {
        (self.header, self.claims, self.custom)
    }

    /// The verified payload as received (a JSON object without duplicate names).
    pub fn payload_json(&self) -> &[u8] {
        &self.payload
    }

    /// Reads the verified payload as another application claims type `D`, without verifying
    /// again (for a second extractor that wants different claims from the same token). For
    /// [`NoClaims`] the payload is not read at all.
    pub fn custom_as<D: DeserializeOwned + 'static>(&self) -> Result<D, Error> {
        if let Some(none) = crate::claims::no_claims::<D>() {
            return Ok(none);
        }
        serde_json::from_slice::<CustomOnly<D>>(&self.payload)
            .map(|c| c.0)
            .map_err(|e| Error::CustomClaims {
                detail: e.to_string(),
            })
    }

    /// Re-reads the application claims as another type `D` from the verified payload, keeping
    /// everything else. (There is deliberately no way to attach claims that are not the
    /// token's own.)
    pub fn into_custom<D: DeserializeOwned + 'static>(self) -> Result<Verified<D>, Error> {
        let custom = self.custom_as()?;
        Ok(Verified {
            header: self.header,
            claims: self.claims,
            custom,
            sid: self.sid,
            payload: self.payload,
        })
    }

    /// The identity (`sub`).
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// The `sid` claim ([`SESSION_ID`](crate::SESSION_ID)) when it is a string, read in the
    /// verifying pass (it is also part of the application claims).
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The `jti`, if the token has one.
    pub fn jti(&self) -> Option<&str> {
        self.claims.jti.as_deref()
    }

    /// The token type (`access` when the claim is absent).
    pub fn token_type(&self) -> &TokenType {
        &self.claims.token_type
    }

    /// True when the token is fresh at `now`.
    pub fn is_fresh(&self, now: NumericDate) -> bool {
        self.claims.fresh.is_fresh_at(now)
    }

    /// Fails with [`Error::WrongType`] unless the token is of the kind the route takes.
    pub fn require(&self, kind: TokenKind) -> Result<(), Error> {
        let is_refresh = self.claims.token_type == TokenType::Refresh;
        match kind {
            TokenKind::Access if is_refresh => Err(Error::WrongType {
                expected: TokenType::Access,
            }),
            TokenKind::Refresh if !is_refresh => Err(Error::WrongType {
                expected: TokenType::Refresh,
            }),
            _ => Ok(()),
        }
    }

    /// Fails with [`Error::NotFresh`] unless the token is fresh at `now`.
    pub fn require_fresh(&self, now: NumericDate) -> Result<(), Error> {
        if self.is_fresh(now) {
            Ok(())
        } else {
            Err(Error::NotFresh)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, FixedClock, Key};
    use serde::Deserialize;

    fn codec(clock: Arc<FixedClock>) -> Codec {
        Codec::new(Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap())
            .with_clock(clock)
    }

    #[test]
    fn flask_shaped_claims_in_flask_order() {
        let clock = Arc::new(FixedClock::new(1_795_334_343));
        let c = codec(clock);
        let issued = c.access_token("alice").fresh(true).sign().unwrap();
        let payload = crate::dangerous::decode_unverified(&issued.token, 8192)
            .unwrap()
            .claims;
        let keys: Vec<_> = payload.as_object().unwrap().keys().cloned().collect();
        // serde_json's Map is sorted; check the raw text order instead.
        let raw = String::from_utf8(
            crate::b64::decode(issued.token.split('.').nth(1).unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        let order: Vec<usize> = ["fresh", "iat", "jti", "type", "sub", "nbf", "csrf", "exp"]
            .iter()
            .map(|k| raw.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");
        assert_eq!(keys.len(), 8);
        assert_eq!(payload["exp"], 1_795_334_343 + 900);
        assert_eq!(payload["nbf"], payload["iat"]);
        assert_eq!(payload["jti"].as_str().unwrap().len(), 36);
        assert_ne!(payload["jti"], payload["csrf"]);
    }

    #[test]
    fn expiry_is_exp_le_now_minus_leeway() {
        let clock = Arc::new(FixedClock::new(1000));
        let c = codec(clock.clone());
        let t = c
            .access_token("a")
            .expires_in(Duration::from_secs(10))
            .sign()
            .unwrap()
            .token;
        clock.set(1009);
        c.verify::<NoClaims>(&t).unwrap();
        clock.set(1010);
        assert_eq!(
            c.verify::<NoClaims>(&t).unwrap_err(),
            Error::Expired {
                exp: 1010,
                now: 1010
            }
        );
        let lenient = c
            .clone()
            .with_validation(Validation::new().leeway(Duration::from_secs(5)));
        lenient.verify::<NoClaims>(&t).unwrap();
    }

    #[test]
    fn reserved_names_cannot_be_overridden() {
        #[derive(Serialize)]
        struct Evil {
            sub: &'static str,
        }
        let c = codec(Arc::new(FixedClock::new(1)));
        let err = c
            .access_token("a")
            .claims(Evil { sub: "root" })
            .sign()
            .unwrap_err();
        assert!(
            matches!(err, EncodeError::Reserved { ref name } if name == "sub"),
            "{err}"
        );
        assert!(matches!(
            c.access_token("a").claims(5).sign(),
            Err(EncodeError::NotAnObject)
        ));
    }

    #[test]
    fn type_and_freshness_rules() {
        let clock = Arc::new(FixedClock::new(1000));
        let c = codec(clock.clone());
        let refresh = c
            .verify::<NoClaims>(&c.refresh_token("a").fresh(true).sign().unwrap().token)
            .unwrap();
        assert_eq!(
            refresh.require(TokenKind::Access).unwrap_err().message(),
            "Only non-refresh tokens are allowed"
        );
        refresh.require(TokenKind::Refresh).unwrap();
        refresh.require(TokenKind::Any).unwrap();
        assert!(!refresh.is_fresh(1000), "refresh tokens are never fresh");
        let access = c
            .verify::<NoClaims>(&c.access_token("a").sign().unwrap().token)
            .unwrap();
        assert_eq!(
            access.require(TokenKind::Refresh).unwrap_err().message(),
            "Only refresh tokens are allowed"
        );
        assert_eq!(access.require_fresh(1000).unwrap_err(), Error::NotFresh);
        let windowed = c
            .access_token("a")
            .fresh_for(Duration::from_secs(60))
            .sign()
            .unwrap()
            .token;
        let windowed = c.verify::<NoClaims>(&windowed).unwrap();
        assert!(windowed.is_fresh(1060));
        assert!(!windowed.is_fresh(1061));
    }

    #[test]
    fn custom_claim_errors_come_after_registered_ones() {
        #[derive(Deserialize, Debug)]
        struct Needs {
            #[allow(dead_code)]
            roles: Vec<String>,
        }
        let clock = Arc::new(FixedClock::new(1000));
        let c = codec(clock.clone());
        let t = c.access_token("a").sign().unwrap().token;
        assert!(matches!(
            c.verify::<Needs>(&t),
            Err(Error::CustomClaims { .. })
        ));
        clock.set(5000);
        assert!(matches!(c.verify::<Needs>(&t), Err(Error::Expired { .. })));
    }

    #[test]
    fn issued_debug_hides_the_token() {
        let c = codec(Arc::new(FixedClock::new(1)));
        let issued = c.access_token("a").sign().unwrap();
        assert!(!format!("{issued:?}").contains(&issued.token[..20]));
    }
}
