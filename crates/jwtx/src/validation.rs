//! Claim validation with secure defaults: `exp` required, no leeway, `iss`/`aud` checked
//! when configured, `sub` required and a string.

use std::time::Duration;

use crate::claims::{self, NumericDate, RawRegistered, RegisteredClaims};
use crate::error::{Error, TimeClaim};
use crate::jws::DEFAULT_MAX_TOKEN_LEN;

/// What a token's claims must satisfy.
///
/// ```
/// use std::time::Duration;
/// use jwtx::Validation;
/// let v = Validation::new()
///     .leeway(Duration::from_secs(5))
///     .issuer("https://auth.example")
///     .audience("api");
/// assert_eq!(v.leeway_secs(), 5);
/// ```
#[derive(Clone, Debug)]
pub struct Validation {
    leeway: u64,
    require_exp: bool,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    max_token_len: usize,
}

impl Default for Validation {
    fn default() -> Self {
        Validation::new()
    }
}

impl Validation {
    /// The secure defaults: `exp` required, leeway 0, no issuer or audience, 8 KiB cap.
    pub fn new() -> Self {
        Validation {
            leeway: 0,
            require_exp: true,
            issuer: None,
            audience: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Clock-skew allowance for `iat`, `nbf` and `exp` (whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// The leeway in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }

    /// Requires `iss` to be present and equal to `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to be present and to contain `audience` (call again to accept several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// The cap on a token's length in bytes, checked before any decoding.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The length cap.
    pub fn max_len(&self) -> usize {
        self.max_token_len
    }

    /// Accepts tokens without `exp`, which then never expire (flask-jwt-extended's
    /// `expires_delta=False`). Weakens security: a leaked token stays valid until the key
    /// changes or the token is revoked.
    pub fn dangerous_allow_missing_exp(mut self) -> Self {
        self.require_exp = false;
        self
    }

    /// Whether claims that passed this policy's checks once still pass them at `now`: only
    /// `iat`, `nbf` and `exp` (with the leeway) depend on the time, so this is the whole
    /// check for claims read from a token verified earlier with the same policy (a cache of
    /// verified tokens asks it on every use).
    pub fn still_valid_at(&self, claims: &RegisteredClaims, now: NumericDate) -> bool {
        !claims.iat.is_some_and(|v| self.is_future(v, now))
            && !claims.nbf.is_some_and(|v| self.is_future(v, now))
            && !claims.exp.is_some_and(|v| self.is_past(v, now))
    }

    /// `iat` or `nbf` later than `now` by more than the leeway.
    fn is_future(&self, date: NumericDate, now: NumericDate) -> bool {
        date > now.saturating_add(self.leeway)
    }

    /// `exp` at or before `now`, the leeway allowed.
    fn is_past(&self, exp: NumericDate, now: NumericDate) -> bool {
        exp <= now.saturating_sub(self.leeway)
    }

    /// Checks the registered claims at `now`, in flask-jwt-extended's order:
    /// `iat`, `nbf`, `exp`, `iss`, `aud`, `sub`, `jti`, then the identity claim is present.
    pub(crate) fn check(
        &self,
        raw: RawRegistered,
        now: NumericDate,
        check_exp: bool,
    ) -> Result<RegisteredClaims, Error> {
        let bad = |claim| Error::ClaimType { claim };
        let iat = claims::date(&raw.iat).map_err(|()| bad("iat"))?;
        if let Some(value) = iat
            && self.is_future(value, now)
        {
            return Err(Error::Immature {
                claim: TimeClaim::Iat,
                value,
                now,
            });
        }
        let nbf = claims::date(&raw.nbf).map_err(|()| bad("nbf"))?;
        if let Some(value) = nbf
            && self.is_future(value, now)
        {
            return Err(Error::Immature {
                claim: TimeClaim::Nbf,
                value,
                now,
            });
        }
        let exp = claims::date(&raw.exp).map_err(|()| bad("exp"))?;
        match exp {
            Some(exp) if check_exp && self.is_past(exp, now) => {
                return Err(Error::Expired { exp, now });
            }
            None if self.require_exp => return Err(Error::MissingClaim { claim: "exp" }),
            _ => {}
        }
        let iss = claims::string(raw.iss).map_err(|()| bad("iss"))?;
        if let Some(expected) = &self.issuer {
            match &iss {
                None => return Err(Error::MissingClaim { claim: "iss" }),
                Some(i) if i != expected => return Err(Error::InvalidIssuer),
                Some(_) => {}
            }
        }
        // As in flask-jwt-extended, `aud` is only looked at when an audience is configured.
        let aud = if let Some(expected) = &self.audience {
            match claims::audience(raw.aud).map_err(|()| bad("aud"))? {
                None => return Err(Error::MissingClaim { claim: "aud" }),
                Some(a) if !expected.iter().any(|e| a.contains(e)) => {
                    return Err(Error::InvalidAudience);
                }
                a => a,
            }
        } else {
            claims::audience(raw.aud).ok().flatten()
        };
        let sub = claims::string(raw.sub).map_err(|()| bad("sub"))?;
        let jti = claims::string(raw.jti).map_err(|()| bad("jti"))?;
        let sub = sub.ok_or(Error::MissingClaim { claim: "sub" })?;
        Ok(RegisteredClaims {
            fresh: claims::fresh(&raw.fresh).map_err(|()| bad("fresh"))?,
            iat,
            jti,
            token_type: claims::token_type(raw.token_type).map_err(|()| bad("type"))?,
            sub,
            nbf,
            csrf: claims::string(raw.csrf).map_err(|()| bad("csrf"))?,
            aud,
            iss,
            exp,
        })
    }
}
