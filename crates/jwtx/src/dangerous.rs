//! Operations that skip checks. Each is safe only for the purpose its doc names; none of them
//! may decide whether to trust a token.

use serde::de::DeserializeOwned;

use crate::codec::{Codec, Verified};
use crate::error::{Error, Segment};
use crate::jws;
use crate::keyset::KeySet;

/// A token's header and claims, decoded WITHOUT verifying the signature or any claim.
#[derive(Clone, Debug, PartialEq)]
pub struct Unverified {
    /// The header object.
    pub header: serde_json::Value,
    /// The payload object.
    pub claims: serde_json::Value,
}

/// Decodes a token's header and claims without verifying anything but its shape (length cap,
/// three segments, canonical base64url, JSON objects without duplicate names). For display
/// and debugging (`jwtx token inspect`), never for a trust decision.
pub fn decode_unverified(token: &str, max_len: usize) -> Result<Unverified, Error> {
    let [h, p, s] = jws::split(token, max_len)?;
    let mut buf = Vec::with_capacity(token.len());
    let hr = jws::decode_json_segment(h, Segment::Header, &mut buf)?;
    let pr = jws::decode_json_segment(p, Segment::Payload, &mut buf)?;
    crate::b64::decode(s).map_err(|()| Error::Base64 {
        segment: Segment::Signature,
    })?;
    let parse = |r: std::ops::Range<usize>, segment| {
        serde_json::from_slice(&buf[r]).map_err(|e| Error::Json {
            segment,
            detail: e.to_string(),
        })
    };
    Ok(Unverified {
        header: parse(hr, Segment::Header)?,
        claims: parse(pr, Segment::Payload)?,
    })
}

/// The header of a token, unverified (flask-jwt-extended's `get_unverified_jwt_headers`).
pub fn unverified_header(
    token: &str,
    max_len: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let [h, _, _] = jws::split(token, max_len)?;
    let mut buf = Vec::new();
    let r = jws::decode_json_segment(h, Segment::Header, &mut buf)?;
    serde_json::from_slice(&buf[r]).map_err(|e| Error::Json {
        segment: Segment::Header,
        detail: e.to_string(),
    })
}

/// Verifies a token fully except that an expired `exp` is accepted (flask-jwt-extended's
/// `decode_token(allow_expired=True)`): for reading an expired token's claims, e.g. to tell an
/// expired access token from an expired refresh token in an error response.
pub fn verify_allow_expired<C: DeserializeOwned + 'static>(
    codec: &Codec,
    token: &str,
) -> Result<Verified<C>, Error> {
    codec.verify_at(token, &codec.keys(), codec.now(), false)
}

/// [`verify_allow_expired`] with another key set, chosen per token (flask-jwt-extended's
/// `decode_key_loader` applies to `decode_token(allow_expired=True)` as well).
pub fn verify_allow_expired_with_keys<C: DeserializeOwned + 'static>(
    codec: &Codec,
    token: &str,
    keys: &KeySet,
) -> Result<Verified<C>, Error> {
    codec.verify_at(token, keys, codec.now(), false)
}
