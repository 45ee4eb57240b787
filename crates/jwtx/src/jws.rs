//! Strict JWS compact serialization (RFC 7515), jwtx's own.
//!
//! Verification runs the checks of README.md, "What strict means" in this order: length cap before any decoding;
//! exactly three segments; canonical base64url; the header (and, for a token, the payload)
//! is a UTF-8 JSON object without duplicate member names; no `crit`, no `zip`, no
//! `jku`/`x5u`/`jwk`/`x5c`, `b64` only as `true`; `kid` selects among the configured keys;
//! `alg` must equal the selected key's algorithm; signature. Claims are not looked at here.
//!
//! [`verify`] is the JWS layer alone: its payload may be any octets (RFC 7515 does not ask
//! for JSON; `jwtx jws verify` and the Wycheproof vectors use it). The token path
//! (`Codec::verify`) goes through [`verify_token`], which also checks the payload is a
//! strict JSON object before the signature.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};

use crate::alg::Algorithm;
use crate::b64;
use crate::claims::Raw;
use crate::error::{CritReason, EncodeError, Error, ForbiddenHeader, Segment};
use crate::json;
use crate::key::Key;
use crate::keyset::KeySet;

/// The default cap on a token's length, in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The verified protected header of a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<Cow<'static, str>>,
    json: Arc<str>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish()
    }
}

impl Header {
    /// The algorithm (always the verifying key's).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if the token had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `typ`, if the token had one as a string (not checked, as in flask-jwt-extended).
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The header as received (JSON text), e.g. to read application header parameters.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The header as a JSON map, for callers that want `get_jwt_header()`'s dict.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// A JWS whose header rules and signature have been checked; its payload is not
/// interpreted.
#[derive(Debug)]
pub struct Jws {
    /// The header.
    pub header: Header,
    /// The payload bytes: any octets from [`verify`]; a strict JSON object from the token
    /// path.
    pub payload: Vec<u8>,
}

/// Marks a header member as present, whatever its value (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The `crit` header parameter, read just far enough to word PyJWT's refusal.
#[derive(Default)]
enum Crit {
    #[default]
    Absent,
    /// Not a list, or an empty one.
    NotAList,
    /// A list; `None` for an entry that is not a string.
    List(Vec<Option<String>>),
}

impl<'de> Deserialize<'de> for Crit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(items) if !items.is_empty() => Crit::List(
                items
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => Crit::NotAList,
        })
    }
}

impl Crit {
    /// Why this `crit` is refused (every `crit` is), in PyJWT's order: shape, string entries,
    /// supported extension (PyJWT knows only `b64`), extension present in the header.
    fn refusal(&self, b64_present: bool) -> Option<CritReason> {
        let items = match self {
            Crit::Absent => return None,
            Crit::NotAList => return Some(CritReason::NotAList),
            Crit::List(items) => items,
        };
        for item in items {
            let Some(ext) = item else {
                return Some(CritReason::NotStrings);
            };
            let ext_cut = || ext.chars().take(32).collect::<String>();
            if ext != "b64" {
                return Some(CritReason::Unsupported { ext: ext_cut() });
            }
            if !b64_present {
                return Some(CritReason::Missing { ext: ext_cut() });
            }
        }
        // Everything PyJWT would accept: jwtx implements no extension, `b64` included.
        Some(CritReason::Unsupported { ext: "b64".into() })
    }
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    alg: Raw,
    #[serde(default)]
    kid: Raw,
    #[serde(default)]
    typ: Raw,
    #[serde(default)]
    b64: Raw,
    #[serde(default)]
    crit: Crit,
    #[serde(default)]
    zip: Present,
    #[serde(default)]
    jku: Present,
    #[serde(default)]
    x5u: Present,
    #[serde(default)]
    jwk: Present,
    #[serde(default)]
    x5c: Present,
}

/// Splits a compact JWS into its three segments without decoding anything.
pub(crate) fn split(token: &str, max_len: usize) -> Result<[&[u8]; 3], Error> {
    if token.len() > max_len {
        return Err(Error::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    // memchr: a word (or vector) at a time, where `str::split_once` goes a byte at a time.
    let bytes = token.as_bytes();
    let first = memchr::memchr(b'.', bytes).ok_or(Error::NotEnoughSegments)?;
    let (h, rest) = (&bytes[..first], &bytes[first + 1..]);
    let second = memchr::memchr(b'.', rest).ok_or(Error::NotEnoughSegments)?;
    let (p, s) = (&rest[..second], &rest[second + 1..]);
    if memchr::memchr(b'.', s).is_some() {
        return Err(Error::TooManySegments);
    }
    Ok([h, p, s])
}

/// Decodes and checks one JSON segment, appending it to `buf`; returns its range. Numbers
/// beyond `f64` are refused everywhere (see [`json`]).
pub(crate) fn decode_json_segment(
    seg: &[u8],
    segment: Segment,
    buf: &mut Vec<u8>,
) -> Result<std::ops::Range<usize>, Error> {
    let start = buf.len();
    b64::decode_into(seg, buf).map_err(|()| Error::Base64 { segment })?;
    let checked = json::check_object(&buf[start..]).map_err(|e| Error::json(segment, &e))?;
    if let Some(at) = checked.overflowing_dates.first() {
        return Err(Error::json(
            segment,
            &json::JsonError::number_out_of_range(&buf[start..], at.start),
        ));
    }
    Ok(start..buf.len())
}

/// The longest signature any supported key makes (RSA-8192), in bytes.
const MAX_SIGNATURE_LEN: usize = 1024;

/// Verifies a compact JWS with `keys` (see the module docs for the order of checks). The
/// payload may be any octets; use `Codec::verify` for tokens.
pub fn verify(token: &str, keys: &KeySet, max_len: usize) -> Result<Jws, Error> {
    verify_inner(token, keys, max_len, PayloadRule::Any).map(|(jws, _)| jws)
}

/// Verifies a token's JWS: [`verify`] plus a strict JSON object payload, checked before the
/// signature. Also returns what the JSON scan found (top-level dates beyond `f64`), for the
/// claims check to act on after the signature.
pub(crate) fn verify_token(
    token: &str,
    keys: &KeySet,
    max_len: usize,
) -> Result<(Jws, json::Checked), Error> {
    verify_inner(token, keys, max_len, PayloadRule::JsonObject)
}

/// What the payload must be.
#[derive(Clone, Copy)]
enum PayloadRule {
    Any,
    JsonObject,
}

fn verify_inner(
    token: &str,
    keys: &KeySet,
    max_len: usize,
    rule: PayloadRule,
) -> Result<(Jws, json::Checked), Error> {
    let [h, p, s] = split(token, max_len)?;

    let mut sig_buf = [0u8; MAX_SIGNATURE_LEN + 3];

    // Fast path: a header segment byte-identical to the one a configured key emits (and that
    // `KeySet::select` would pick) is a header already known to pass every rule below.
    let (key, header, payload, sig) = if let Some(key) = keys.canonical_match(h) {
        let payload = decode_payload(p, rule)?;
        let sig = decode_signature(s, &mut sig_buf)?;
        let header = Header {
            alg: key.algorithm(),
            kid: key.kid().map(str::to_owned),
            typ: Some(Cow::Borrowed("JWT")),
            json: key.canonical_header().json.clone(),
        };
        (key, header, payload, sig)
    } else {
        let mut hbuf = Vec::with_capacity(h.len() * 3 / 4 + 3);
        decode_json_segment(h, Segment::Header, &mut hbuf)?;
        let payload = decode_payload(p, rule)?;
        let sig = decode_signature(s, &mut sig_buf)?;
        let raw: RawHeader = serde_json::from_slice(&hbuf).map_err(|e| Error::Json {
            segment: Segment::Header,
            detail: e.to_string(),
        })?;
        let key = check_header(&raw, keys)?;
        let header = Header {
            alg: key.algorithm(),
            kid: match raw.kid {
                Raw::Str(k) => Some(k),
                _ => None,
            },
            typ: match raw.typ {
                Raw::Str(t) => Some(Cow::Owned(t)),
                _ => None,
            },
            // The JSON checker proved it UTF-8.
            json: String::from_utf8_lossy(&hbuf).into(),
        };
        (key, header, payload, sig)
    };

    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    if !sig.is_some_and(|sig| key.verify(signing_input, sig)) {
        return Err(Error::InvalidSignature);
    }
    let (payload, checked) = payload;
    Ok((Jws { header, payload }, checked))
}

/// Decodes the signature into `buf`. `Ok(None)` for a well-formed signature longer than any
/// key makes (it cannot verify).
fn decode_signature<'b>(s: &[u8], buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Error> {
    let malformed = |()| Error::Base64 {
        segment: Segment::Signature,
    };
    if s.len() <= (MAX_SIGNATURE_LEN / 3 + 1) * 4 {
        let n = b64::decode_slice(s, buf).map_err(malformed)?;
        Ok(Some(&buf[..n]))
    } else {
        b64::decode(s).map_err(malformed)?;
        Ok(None)
    }
}

/// Decodes the payload segment and, for a token, checks it is a strict JSON object.
fn decode_payload(p: &[u8], rule: PayloadRule) -> Result<(Vec<u8>, json::Checked), Error> {
    let mut payload = Vec::with_capacity(p.len() * 3 / 4 + 3);
    b64::decode_into(p, &mut payload).map_err(|()| Error::Base64 {
        segment: Segment::Payload,
    })?;
    let checked = match rule {
        PayloadRule::Any => json::Checked::default(),
        PayloadRule::JsonObject => {
            json::check_object(&payload).map_err(|e| Error::json(Segment::Payload, &e))?
        }
    };
    Ok((payload, checked))
}

/// Applies the header rules and selects the key.
fn check_header<'k>(raw: &RawHeader, keys: &'k KeySet) -> Result<&'k Key, Error> {
    if let Some(reason) = raw.crit.refusal(!matches!(raw.b64, Raw::Absent)) {
        return Err(Error::CriticalHeader { reason });
    }
    if raw.zip.0 {
        return Err(Error::CompressedPayload);
    }
    for (present, param) in [
        (raw.jku.0, ForbiddenHeader::Jku),
        (raw.x5u.0, ForbiddenHeader::X5u),
        (raw.jwk.0, ForbiddenHeader::Jwk),
        (raw.x5c.0, ForbiddenHeader::X5c),
    ] {
        if present {
            return Err(Error::ForbiddenHeader { param });
        }
    }
    if !matches!(raw.b64, Raw::Absent | Raw::Bool(true)) {
        return Err(Error::HeaderType { param: "b64" });
    }
    let kid = match &raw.kid {
        Raw::Absent => None,
        Raw::Str(k) => Some(k.as_str()),
        _ => return Err(Error::HeaderType { param: "kid" }),
    };
    let alg = match &raw.alg {
        Raw::Absent => return Err(Error::MissingAlgorithm),
        Raw::Str(a) => a.as_str(),
        _ => return Err(Error::HeaderType { param: "alg" }),
    };
    let key = keys.select(kid).ok_or_else(|| Error::UnknownKey {
        kid: kid.map(|k| k.chars().take(64).collect()),
    })?;
    if alg != key.algorithm().as_str() {
        return Err(Error::AlgorithmNotAllowed {
            expected: key.algorithm(),
            found: alg.chars().take(32).collect(),
        });
    }
    Ok(key)
}

/// Writes `{"alg":…,"typ":"JWT"[,"kid":…]}` plus `extra` members, base64url, into `out`.
pub(crate) fn encode_header(
    key: &Key,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
    out: &mut String,
) -> Result<(), EncodeError> {
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), key.algorithm().as_str().into());
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = key.kid() {
        header.insert("kid".into(), kid.into());
    }
    if let Some(extra) = extra {
        for (k, v) in extra {
            if matches!(
                k.as_str(),
                "alg" | "kid" | "crit" | "zip" | "jku" | "x5u" | "jwk" | "x5c" | "b64"
            ) {
                return Err(EncodeError::Reserved { name: k.clone() });
            }
            header.insert(k.clone(), v.clone());
        }
    }
    let json = serde_json::to_vec(&header).map_err(EncodeError::Serialize)?;
    b64::encode_into(&json, out);
    Ok(())
}

/// Signs `payload` (a JSON object) with `key` and returns the compact JWS.
pub fn sign(
    key: &Key,
    payload: &[u8],
    extra_headers: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(payload.len() * 4 / 3 + 512);
    match extra_headers {
        None => out.push_str(&key.canonical_header().b64),
        Some(extra) => encode_header(key, Some(extra), &mut out)?,
    }
    out.push('.');
    b64::encode_into(payload, &mut out);
    let signing_len = out.len();
    out.push('.');
    let mut sig = String::with_capacity(344);
    key.sign_b64_into(&out.as_bytes()[..signing_len], &mut sig)?;
    out.push_str(&sig);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs() -> KeySet {
        Key::hmac(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")
            .unwrap()
            .into()
    }

    #[test]
    fn round_trip_and_flask_header() {
        let keys = hs();
        let t = sign(keys.signer().unwrap(), br#"{"sub":"a"}"#, None).unwrap();
        assert!(
            t.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."),
            "{t}"
        );
        let jws = verify(&t, &keys, DEFAULT_MAX_TOKEN_LEN).unwrap();
        assert_eq!(jws.payload, br#"{"sub":"a"}"#);
        assert_eq!(jws.header.alg(), Algorithm::HS256);
        assert_eq!(jws.header.typ(), Some("JWT"));
    }

    #[test]
    fn segment_errors_use_flask_messages() {
        let keys = hs();
        let e = |t: &str| verify(t, &keys, DEFAULT_MAX_TOKEN_LEN).unwrap_err();
        assert_eq!(e("abc").message(), "Not enough segments");
        assert_eq!(e("a.b").message(), "Not enough segments");
        assert_eq!(e("a.b.c.d").message(), "Invalid payload padding");
        assert_eq!(e("a=.b.c").message(), "Invalid header padding");
        assert_eq!(
            e("Z2FyYmFnZQ.e30.c2ln").message(),
            "Invalid header string: Expecting value: line 1 column 1 (char 0)"
        );
        assert_eq!(
            e(&"a".repeat(DEFAULT_MAX_TOKEN_LEN + 1)),
            Error::TooLarge {
                len: DEFAULT_MAX_TOKEN_LEN + 1,
                max: DEFAULT_MAX_TOKEN_LEN
            }
        );
    }

    #[test]
    fn fast_path_agrees_with_the_full_header_checks() {
        let keys = hs();
        let key = keys.signer().unwrap();
        let t = sign(key, br#"{"sub":"a"}"#, None).unwrap();
        let fast = verify(&t, &keys, DEFAULT_MAX_TOKEN_LEN).unwrap();
        // The same header with its members reordered takes the full path, with the same result.
        let reordered = b64::encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let payload = t.split('.').nth(1).unwrap();
        let input = format!("{reordered}.{payload}");
        let mut slow_t = format!("{input}.");
        key.sign_b64_into(input.as_bytes(), &mut slow_t).unwrap();
        let slow = verify(&slow_t, &keys, DEFAULT_MAX_TOKEN_LEN).unwrap();
        assert_eq!(fast.payload, slow.payload);
        assert_eq!(
            (fast.header.alg(), fast.header.typ()),
            (slow.header.alg(), slow.header.typ())
        );
        assert_eq!(fast.header.to_map(), slow.header.to_map());

        // In a set of several, the one kid-less key (a deployment's first HMAC secret, after
        // a rotation) verifies exactly the tokens without a kid, fast path or not; a token
        // naming an unknown kid never falls back to it.
        let a = Key::hmac(Algorithm::HS256, &[1; 32]).unwrap();
        let b = Key::hmac(Algorithm::HS256, &[2; 32]).unwrap().with_kid("b");
        let t = sign(&a, br#"{"sub":"a"}"#, None).unwrap();
        let unknown = sign(
            &Key::hmac(Algorithm::HS256, &[1; 32]).unwrap().with_kid("c"),
            br#"{"sub":"a"}"#,
            None,
        )
        .unwrap();
        let by_b = sign(&b, br#"{"sub":"a"}"#, None).unwrap();
        let set = KeySet::new(vec![a, b]).unwrap();
        assert!(verify(&t, &set, DEFAULT_MAX_TOKEN_LEN).is_ok());
        assert!(verify(&by_b, &set, DEFAULT_MAX_TOKEN_LEN).is_ok());
        assert_eq!(
            verify(&unknown, &set, DEFAULT_MAX_TOKEN_LEN).unwrap_err(),
            Error::UnknownKey {
                kid: Some("c".into())
            }
        );
    }
}
