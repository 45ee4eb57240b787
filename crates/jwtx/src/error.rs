//! Errors: [`Error`] for verification, [`KeyError`] for building keys and key sets,
//! [`EncodeError`] for signing.
//!
//! Each [`Error`] variant carries the facts a caller needs and has one client-facing
//! [`message`](Error::message), the exact text flask-jwt-extended 4.7.4 answers with for the
//! same failure, so an HTTP layer can be byte-compatible with it. [`Error::status_class`] says
//! which of flask-jwt-extended's response kinds the failure belongs to.

use std::borrow::Cow;
use std::fmt;

use crate::alg::Algorithm;
use crate::claims::TokenType;
use crate::json::JsonError;

/// Which part of a compact JWS an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment {
    /// The protected header.
    Header,
    /// The payload (claims).
    Payload,
    /// The signature.
    Signature,
}

impl Segment {
    fn padding_message(self) -> &'static str {
        match self {
            Segment::Header => "Invalid header padding",
            Segment::Payload => "Invalid payload padding",
            Segment::Signature => "Invalid crypto padding",
        }
    }
}

/// A time claim that can be checked against the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeClaim {
    /// `iat`, issued at.
    Iat,
    /// `nbf`, not before.
    Nbf,
}

impl TimeClaim {
    /// The claim's name.
    pub const fn name(self) -> &'static str {
        match self {
            TimeClaim::Iat => "iat",
            TimeClaim::Nbf => "nbf",
        }
    }
}

/// A JWS header parameter that would make the verifier fetch or trust key material named by
/// the token itself; jwtx never dereferences them and rejects tokens that carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForbiddenHeader {
    /// `jku`: a URL to a JWK set.
    Jku,
    /// `x5u`: a URL to a certificate chain.
    X5u,
    /// `jwk`: an embedded public key.
    Jwk,
    /// `x5c`: an embedded certificate chain.
    X5c,
}

impl ForbiddenHeader {
    /// The parameter's name.
    pub const fn name(self) -> &'static str {
        match self {
            ForbiddenHeader::Jku => "jku",
            ForbiddenHeader::X5u => "x5u",
            ForbiddenHeader::Jwk => "jwk",
            ForbiddenHeader::X5c => "x5c",
        }
    }
}

/// How flask-jwt-extended classifies a failure, which decides its default HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusClass {
    /// The token is malformed or its claims are wrong: 422 `invalid_token_loader`.
    Invalid,
    /// The token has expired: 401 `expired_token_loader`.
    Expired,
    /// The route needs a fresh token: 401 `needs_fresh_token_loader`.
    NeedsFresh,
}

/// Why a token failed verification.
///
/// Variants are ordered as the checks run (README.md, "What strict means"). [`Display`](fmt::Display) gives a detailed
/// description for logs; [`message`](Error::message) gives the client-facing text.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The token is longer than the configured cap; nothing was decoded.
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Fewer than three `.`-separated segments.
    NotEnoughSegments,
    /// More than three segments (flask-jwt-extended reads the extra dot as bad payload base64).
    TooManySegments,
    /// A segment is not canonical base64url.
    Base64 {
        /// Which segment.
        segment: Segment,
    },
    /// The header or payload is not a UTF-8 JSON object without duplicate member names.
    Json {
        /// Header or payload.
        segment: Segment,
        /// What the JSON checker found (Python `json`-style text).
        detail: String,
    },
    /// The header has no `alg`.
    MissingAlgorithm,
    /// The header's `alg` is not the algorithm of the key chosen to verify it (this covers
    /// `none` in any spelling and every algorithm-confusion attempt).
    AlgorithmNotAllowed {
        /// The key's algorithm.
        expected: Algorithm,
        /// The header's `alg`, cut to 32 characters.
        found: String,
    },
    /// The header has a `crit` parameter; jwtx understands no extension, so every token that
    /// has one is refused. The reason is PyJWT's, so both sides word it alike.
    CriticalHeader {
        /// What PyJWT would have said about this `crit`.
        reason: CritReason,
    },
    /// The header asks for a compressed payload (`zip`).
    CompressedPayload,
    /// The header names its own key material (`jku`, `x5u`, `jwk`, `x5c`).
    ForbiddenHeader {
        /// The parameter found.
        param: ForbiddenHeader,
    },
    /// A header parameter has the wrong JSON type.
    HeaderType {
        /// The parameter.
        param: &'static str,
    },
    /// The header's `kid` matches no configured key, or the token has no `kid` and the key set
    /// holds several keys.
    UnknownKey {
        /// The `kid`, cut to 64 characters, if there was one.
        kid: Option<String>,
    },
    /// The signature does not verify with the selected key.
    InvalidSignature,
    /// A registered claim has the wrong JSON type or an out-of-range value.
    ClaimType {
        /// The claim.
        claim: &'static str,
    },
    /// `iat` or `nbf` is in the future (beyond the leeway).
    Immature {
        /// Which claim.
        claim: TimeClaim,
        /// The claim's value.
        value: u64,
        /// The clock's time.
        now: u64,
    },
    /// `exp` has passed: `exp <= now - leeway`.
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The clock's time.
        now: u64,
    },
    /// A claim that must be present is missing.
    MissingClaim {
        /// The claim.
        claim: &'static str,
    },
    /// `iss` is not the configured issuer.
    InvalidIssuer,
    /// `aud` does not contain the configured audience.
    InvalidAudience,
    /// The application's claims type could not be read from the payload.
    CustomClaims {
        /// serde's description.
        detail: String,
    },
    /// The token's `type` is not the one the route takes.
    WrongType {
        /// What the route takes.
        expected: TokenType,
    },
    /// The route needs a fresh token and this one is not (or no longer) fresh.
    NotFresh,
}

impl Error {
    /// The client-facing message: flask-jwt-extended's exact text for the same failure.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            Error::TooLarge { .. } => "Token is too large".into(),
            Error::NotEnoughSegments => "Not enough segments".into(),
            Error::TooManySegments => Segment::Payload.padding_message().into(),
            Error::Base64 { segment } => segment.padding_message().into(),
            Error::Json { segment, detail } => {
                let part = if *segment == Segment::Header {
                    "header"
                } else {
                    "payload"
                };
                format!("Invalid {part} string: {detail}").into()
            }
            Error::MissingAlgorithm => "Algorithm not specified".into(),
            Error::AlgorithmNotAllowed { .. } => "The specified alg value is not allowed".into(),
            Error::CriticalHeader { reason } => match reason {
                CritReason::NotAList => "Invalid 'crit' header: must be a non-empty list".into(),
                CritReason::NotStrings => "Invalid 'crit' header: values must be strings".into(),
                CritReason::Unsupported { ext } => {
                    format!("Unsupported critical extension: {ext}").into()
                }
                CritReason::Missing { ext } => {
                    format!("Critical extension '{ext}' is missing from headers").into()
                }
            },
            Error::CompressedPayload => "Compressed payloads are not supported".into(),
            Error::ForbiddenHeader { param } => {
                format!("Header parameter '{}' is not allowed", param.name()).into()
            }
            Error::HeaderType { param } => match *param {
                "kid" => "Key ID header parameter must be a string".into(),
                // PyJWT: a non-string alg is simply not among the allowed ones.
                "alg" => "The specified alg value is not allowed".into(),
                p => format!("Header parameter '{p}' has the wrong type").into(),
            },
            Error::UnknownKey { .. } => "No key matches the token's key ID".into(),
            Error::InvalidSignature => "Signature verification failed".into(),
            Error::ClaimType { claim } => match *claim {
                "exp" => "Expiration Time claim (exp) must be an integer.".into(),
                "iat" => "Issued At claim (iat) must be an integer.".into(),
                "nbf" => "Not Before claim (nbf) must be an integer.".into(),
                "sub" => "Subject must be a string".into(),
                "jti" => "JWT ID must be a string".into(),
                "aud" => "Invalid claim format in token".into(),
                "iss" => "Payload Issuer (iss) must be a string".into(),
                c => format!("Invalid claim format in token: {c}").into(),
            },
            Error::Immature { claim, .. } => {
                format!("The token is not yet valid ({})", claim.name()).into()
            }
            Error::Expired { .. } => "Token has expired".into(),
            Error::MissingClaim { claim } => match *claim {
                "sub" | "csrf" => format!("Missing claim: {claim}").into(),
                c => format!("Token is missing the \"{c}\" claim").into(),
            },
            Error::InvalidIssuer => "Invalid issuer".into(),
            Error::InvalidAudience => "Audience doesn't match".into(),
            Error::CustomClaims { .. } => "Invalid payload claims".into(),
            Error::WrongType { expected } => match expected {
                TokenType::Refresh => "Only refresh tokens are allowed".into(),
                _ => "Only non-refresh tokens are allowed".into(),
            },
            Error::NotFresh => "Fresh token required".into(),
        }
    }

    /// Which flask-jwt-extended response this failure gets.
    pub fn status_class(&self) -> StatusClass {
        match self {
            Error::Expired { .. } => StatusClass::Expired,
            Error::NotFresh => StatusClass::NeedsFresh,
            _ => StatusClass::Invalid,
        }
    }

    /// A short stable label for metrics (`bad_signature`, `expired`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::TooLarge { .. } => "too_large",
            Error::NotEnoughSegments | Error::TooManySegments | Error::Base64 { .. } => "malformed",
            Error::Json { .. } => "bad_json",
            Error::MissingAlgorithm | Error::AlgorithmNotAllowed { .. } => "bad_algorithm",
            Error::CriticalHeader { .. }
            | Error::CompressedPayload
            | Error::ForbiddenHeader { .. }
            | Error::HeaderType { .. } => "bad_header",
            Error::UnknownKey { .. } => "unknown_key",
            Error::InvalidSignature => "bad_signature",
            Error::ClaimType { .. } | Error::CustomClaims { .. } => "bad_claims",
            Error::Immature { .. } => "immature",
            Error::Expired { .. } => "expired",
            Error::MissingClaim { .. } => "missing_claim",
            Error::InvalidIssuer => "bad_issuer",
            Error::InvalidAudience => "bad_audience",
            Error::WrongType { .. } => "wrong_type",
            Error::NotFresh => "not_fresh",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { len, max } => {
                write!(f, "token is {len} bytes, more than the {max}-byte cap")
            }
            Error::AlgorithmNotAllowed { expected, found } => write!(
                f,
                "header alg {found:?} is not the key's algorithm {expected}"
            ),
            Error::UnknownKey { kid: Some(kid) } => write!(f, "no configured key has kid {kid:?}"),
            Error::UnknownKey { kid: None } => {
                f.write_str("token has no kid and the key set holds several keys")
            }
            Error::Immature { claim, value, now } => {
                write!(f, "{} {value} is after now ({now})", claim.name())
            }
            Error::Expired { exp, now } => write!(f, "token expired at {exp} (now {now})"),
            Error::CustomClaims { detail } => write!(f, "application claims: {detail}"),
            other => f.write_str(&other.message()),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub(crate) fn json(segment: Segment, e: &JsonError) -> Self {
        Error::Json {
            segment,
            detail: e.to_string(),
        }
    }
}

/// Why a `crit` header was refused, in PyJWT's order of checks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CritReason {
    /// `crit` is not a list, or is an empty one.
    NotAList,
    /// A `crit` entry is not a string.
    NotStrings,
    /// An extension jwtx does not implement (that is, any), cut to 32 characters.
    Unsupported {
        /// The extension's name.
        ext: String,
    },
    /// `crit` names an extension the header does not carry.
    Missing {
        /// The extension's name.
        ext: String,
    },
}

/// Why a key or key set could not be built. The text says why and how to get a good one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than the hash output.
    WeakSecret {
        /// The algorithm.
        alg: Algorithm,
        /// The secret's length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// An RSA modulus under 2048 bits (or over 8192).
    RsaSize {
        /// The modulus size in bits.
        bits: usize,
    },
    /// An RSA key whose modulus has the ROCA (CVE-2017-15361) fingerprint.
    RocaVulnerable,
    /// The key material does not fit the algorithm (wrong key type or curve).
    WrongKeyType {
        /// The algorithm the key was meant for.
        alg: Algorithm,
        /// What was found.
        found: String,
    },
    /// The key material is malformed or rejected by the crypto library (bad point, bad DER,
    /// inconsistent components).
    Invalid {
        /// What was wrong.
        reason: String,
    },
    /// A JWK whose `use` is not `sig` or whose `key_ops` do not allow signing or verifying.
    NotForSignatures {
        /// What the JWK said.
        found: String,
    },
    /// A JWK with no `alg` for a key type that does not imply one.
    MissingAlgorithm,
    /// An algorithm name jwtx does not support.
    UnsupportedAlgorithm {
        /// The name, cut to 32 characters.
        alg: String,
    },
    /// A key set with two keys under one `kid`.
    DuplicateKid {
        /// The `kid`.
        kid: String,
    },
    /// A key set that mixes symmetric and asymmetric keys.
    MixedKeySet,
    /// A key set with no keys.
    EmptyKeySet,
    /// A key set's active signer is not in the set or cannot sign.
    NoSigner,
    /// Key generation or export failed in the crypto library.
    Crypto,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::WeakSecret { alg, len, min } => write!(
                f,
                "{alg} secret is {len} bytes; it must be at least {min} random bytes \
                 (generate one with `jwtx secret generate`)"
            ),
            KeyError::RsaSize { bits } => write!(
                f,
                "RSA key is {bits} bits; use 2048 to 8192 bits \
                 (generate one with `jwtx keys generate --alg RS256`)"
            ),
            KeyError::RocaVulnerable => f.write_str(
                "RSA key has the ROCA fingerprint (CVE-2017-15361) and can be factored; \
                 generate a new key",
            ),
            KeyError::WrongKeyType { alg, found } => {
                write!(f, "{alg} needs a different key: found {found}")
            }
            KeyError::Invalid { reason } => write!(f, "invalid key: {reason}"),
            KeyError::NotForSignatures { found } => write!(
                f,
                "JWK is not a signature key ({found}); use a key with \"use\":\"sig\" \
                 or key_ops including \"verify\""
            ),
            KeyError::MissingAlgorithm => f.write_str(
                "JWK has no \"alg\" and its key type does not imply one; add \"alg\" to the JWK \
                 or pass the algorithm explicitly",
            ),
            KeyError::UnsupportedAlgorithm { alg } => write!(
                f,
                "unsupported algorithm {alg:?}; use one of HS256, HS384, HS512, RS256, RS384, \
                 RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
            ),
            KeyError::DuplicateKid { kid } => {
                write!(
                    f,
                    "two keys share kid {kid:?}; every kid in a key set must be unique"
                )
            }
            KeyError::MixedKeySet => f.write_str(
                "key set mixes symmetric (HMAC) and asymmetric keys; keep them in separate sets",
            ),
            KeyError::EmptyKeySet => f.write_str("key set has no keys"),
            KeyError::NoSigner => f.write_str("key set has no key that can sign"),
            KeyError::Crypto => f.write_str("the crypto library failed"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Why a token could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// The key cannot sign (it is a public key, or the set has no signer).
    NoSigningKey,
    /// The application's claims or headers did not serialize to a JSON object.
    Serialize(serde_json::Error),
    /// The application's claims or headers are not a JSON object.
    NotAnObject,
    /// Application claims or headers repeat a name jwtx sets itself (e.g. `sub`, `exp`, `alg`).
    Reserved {
        /// The name.
        name: String,
    },
    /// The crypto library failed to sign.
    Crypto,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NoSigningKey => f.write_str("no key that can sign is configured"),
            EncodeError::Serialize(e) => write!(f, "claims did not serialize: {e}"),
            EncodeError::NotAnObject => f.write_str("claims and headers must be JSON objects"),
            EncodeError::Reserved { name } => write!(
                f,
                "{name:?} is set by jwtx; set it through the token builder instead"
            ),
            EncodeError::Crypto => f.write_str("signing failed in the crypto library"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EncodeError::Serialize(e) => Some(e),
            _ => None,
        }
    }
}
