//! Claims: the registered claims flask-jwt-extended uses, plus the application's own type.
//!
//! A payload is read in one pass: registered members (`fresh iat jti type sub nbf csrf aud
//! iss exp`) are captured as they stream by, every other member goes straight to the
//! application's claims type `C`. Nothing is parsed twice and no intermediate map is built.
//! Registered members are captured leniently (a wrong type is remembered, not fatal) so the
//! validator can report the first failure in flask-jwt-extended's order.
//!
//! When the application type is [`NoClaims`] (jwtx-axum verifies that way and reads its
//! application claims later, on demand), the pass is shorter still: the strict JSON scan
//! has already listed where each top-level member lies, so only the registered members and
//! `sid` are read, from their own bytes ([`payload_from_members`]).

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::json::Value;

/// Seconds since the Unix epoch (RFC 7519 NumericDate), as an integer.
pub type NumericDate = u64;

/// The largest NumericDate accepted: 2^53, the limit of exact JSON numbers.
pub const MAX_NUMERIC_DATE: u64 = 1 << 53;

/// The `fresh` claim: a bool, or a time until which the token counts as fresh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fresh {
    /// Not fresh (refresh tokens, and access tokens minted by refresh).
    No,
    /// Fresh (access tokens minted at login).
    Yes,
    /// Fresh while `now <= until`; flask-jwt-extended writes this for `fresh=timedelta(…)`.
    Until(f64),
}

impl Fresh {
    /// True when the token counts as fresh at `now` (seconds since the epoch).
    pub fn is_fresh_at(self, now: NumericDate) -> bool {
        match self {
            Fresh::No => false,
            Fresh::Yes => true,
            Fresh::Until(t) => t >= now as f64,
        }
    }
}

impl Serialize for Fresh {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Fresh::No => s.serialize_bool(false),
            Fresh::Yes => s.serialize_bool(true),
            Fresh::Until(t) if t.fract() == 0.0 && (0.0..=MAX_NUMERIC_DATE as f64).contains(&t) => {
                s.serialize_u64(t as u64)
            }
            Fresh::Until(t) => s.serialize_f64(t),
        }
    }
}

/// The token `type` claim.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// `access` (also what a token without `type` is, as in flask-jwt-extended).
    Access,
    /// `refresh`.
    Refresh,
    /// Any other string; it passes where access tokens are taken, as in flask-jwt-extended.
    Other(String),
}

impl TokenType {
    /// The claim value.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
            TokenType::Other(s) => s,
        }
    }

    fn from_string(s: String) -> TokenType {
        match s.as_str() {
            "access" => TokenType::Access,
            "refresh" => TokenType::Refresh,
            _ => TokenType::Other(s),
        }
    }
}

impl Serialize for TokenType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The `aud` claim: one string or a list of strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// True when `aud` names `name`.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Audience::One(a) => a == name,
            Audience::Many(v) => v.iter().any(|a| a == name),
        }
    }
}

/// The registered claims of a verified token (or of one being issued), with
/// flask-jwt-extended's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegisteredClaims {
    /// `fresh`; `No` when absent.
    pub fresh: Fresh,
    /// `iat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<NumericDate>,
    /// `jti`; flask-jwt-extended tokens always have one, a hand-made token may not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `type`; `Access` when absent.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// `sub`: the identity.
    pub sub: String,
    /// `nbf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<NumericDate>,
    /// `csrf`: the double-submit value, when CSRF protection is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// `aud`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `exp`; `None` only when the validation allows tokens that never expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<NumericDate>,
}

/// The names jwtx reads into [`RegisteredClaims`]; application claims may not reuse them.
pub const REGISTERED: [&str; 10] = [
    "fresh", "iat", "jti", "type", "sub", "nbf", "csrf", "aud", "iss", "exp",
];

/// Application claims type for tokens that carry none (any extra members are skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoClaims;

impl Serialize for NoClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for NoClaims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Drain).map(|()| NoClaims)
    }
}

struct Drain;

impl<'de> Visitor<'de> for Drain {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

// ------------------------------------------------------------------ lenient raw values

/// A registered member as read: absent, or its JSON value reduced to what matters.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Raw {
    #[default]
    Absent,
    Str(String),
    Num(f64),
    Bool(bool),
    StrList(Vec<String>),
    /// Anything else: null, objects, mixed arrays, negative or huge numbers.
    Other,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(if v <= MAX_NUMERIC_DATE {
            Raw::Num(v as f64)
        } else {
            Raw::Other
        })
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(if (0..=MAX_NUMERIC_DATE as i64).contains(&v) {
            Raw::Num(v as f64)
        } else {
            Raw::Other
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(
            if v.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(&v) {
                Raw::Num(v)
            } else {
                Raw::Other
            },
        )
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Other)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut list = Some(Vec::new());
        while let Some(item) = seq.next_element::<Raw>()? {
            match (item, &mut list) {
                (Raw::Str(s), Some(l)) => l.push(s),
                _ => list = None,
            }
        }
        Ok(list.map_or(Raw::Other, Raw::StrList))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Raw, A::Error> {
        Drain.visit_map(map).map(|()| Raw::Other)
    }
}

/// The registered members of a payload, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawRegistered {
    pub(crate) fresh: Raw,
    pub(crate) iat: Raw,
    pub(crate) jti: Raw,
    pub(crate) token_type: Raw,
    pub(crate) sub: Raw,
    pub(crate) nbf: Raw,
    pub(crate) csrf: Raw,
    pub(crate) aud: Raw,
    pub(crate) iss: Raw,
    pub(crate) exp: Raw,
}

impl RawRegistered {
    fn slot(&mut self, name: &str) -> Option<&mut Raw> {
        Some(match name {
            "fresh" => &mut self.fresh,
            "iat" => &mut self.iat,
            "jti" => &mut self.jti,
            "type" => &mut self.token_type,
            "sub" => &mut self.sub,
            "nbf" => &mut self.nbf,
            "csrf" => &mut self.csrf,
            "aud" => &mut self.aud,
            "iss" => &mut self.iss,
            "exp" => &mut self.exp,
            _ => return None,
        })
    }
}

/// Reads one NumericDate member; `Err(())` when present with the wrong type.
pub(crate) fn date(raw: &Raw) -> Result<Option<NumericDate>, ()> {
    match raw {
        Raw::Absent => Ok(None),
        // Truncation toward zero is what PyJWT's int() does.
        Raw::Num(n) => Ok(Some(n.trunc() as u64)),
        _ => Err(()),
    }
}

/// Reads one string member; `Err(())` when present with the wrong type.
pub(crate) fn string(raw: Raw) -> Result<Option<String>, ()> {
    match raw {
        Raw::Absent => Ok(None),
        Raw::Str(s) => Ok(Some(s)),
        _ => Err(()),
    }
}

pub(crate) fn fresh(raw: &Raw) -> Result<Fresh, ()> {
    match raw {
        Raw::Absent | Raw::Bool(false) => Ok(Fresh::No),
        Raw::Bool(true) => Ok(Fresh::Yes),
        Raw::Num(n) => Ok(Fresh::Until(*n)),
        _ => Err(()),
    }
}

pub(crate) fn token_type(raw: Raw) -> Result<TokenType, ()> {
    Ok(string(raw)?.map_or(TokenType::Access, TokenType::from_string))
}

pub(crate) fn audience(raw: Raw) -> Result<Option<Audience>, ()> {
    match raw {
        Raw::Absent => Ok(None),
        Raw::Str(s) => Ok(Some(Audience::One(s))),
        Raw::StrList(v) => Ok(Some(Audience::Many(v))),
        _ => Err(()),
    }
}

// ------------------------------------------------------------------ one-pass split

/// A payload read in one pass: registered members and the application's claims.
pub(crate) struct Payload<C> {
    pub(crate) registered: RawRegistered,
    pub(crate) custom: C,
    /// `sid` when it is a string (it also reaches `custom`, see [`SESSION_ID`]).
    pub(crate) sid: Option<String>,
}

/// `sid`, the session id claim (IANA-registered by OpenID Connect). It is an application
/// claim to jwtx (issued as one, handed to the application's type) that the one pass also
/// keeps when it is a string, so a per-request session check needs no second parse.
pub const SESSION_ID: &str = "sid";

impl<'de, C: Deserialize<'de>> Deserialize<'de> for Payload<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PayloadVisitor {
            keep_registered: true,
            claims: PhantomData,
        })
    }
}

/// `Payload<C>` for `C` = [`NoClaims`], read from the top-level members the strict scan of
/// `doc` listed: each registered member and `sid` is read from its own bytes, and the other
/// members are not looked at again. It reads what the serde pass would (the scan has proved
/// the document, so no read here fails; were one to, this gives up).
///
/// `None`, and the caller takes the serde pass, for any other `C`, or when the scan did not
/// list the members (an escaped name, too many of them).
pub(crate) fn payload_from_members<C: 'static>(
    doc: &[u8],
    members: &crate::json::Members,
) -> Option<Payload<C>> {
    let custom = no_claims::<C>()?;
    // One pass over the whole document (the scan proved it UTF-8, but kept no `str`), so
    // each name and string below is a slice of it, not validated again.
    let doc = std::str::from_utf8(doc).ok()?;
    let mut registered = RawRegistered::default();
    let mut sid = None;
    for (name, value) in members.plain(doc)? {
        if let Some(slot) = registered.slot(name) {
            *slot = raw_value(value)?;
        } else if name == SESSION_ID
            && let Raw::Str(s) = raw_value(value)?
        {
            sid = Some(s);
        }
    }
    Some(Payload {
        registered,
        custom,
        sid,
    })
}

/// [`NoClaims`] as a `C`, when `C` is `NoClaims`: it reads nothing from a payload, so a caller
/// can skip reading the application claims. `None` for every other type.
pub(crate) fn no_claims<C: 'static>() -> Option<C> {
    let mut slot: Option<C> = None;
    *(&mut slot as &mut dyn Any).downcast_mut::<Option<NoClaims>>()? = Some(NoClaims);
    slot
}

/// Reads one listed (so already checked) value as the serde pass would: the shapes tokens
/// carry (a string without escapes, an integer of at most 15 digits, a boolean) directly,
/// anything else through serde_json.
fn raw_value(value: Value<'_>) -> Option<Raw> {
    let json = match value {
        Value::Text(text) => return Some(Raw::Str(text.to_owned())),
        Value::Json(json) => json,
    };
    match json.as_bytes() {
        b"true" => Some(Raw::Bool(true)),
        b"false" => Some(Raw::Bool(false)),
        // Below 10^15, so exact in f64 and under MAX_NUMERIC_DATE, as `visit_u64` has it.
        digits @ [b'0'..=b'9', ..]
            if digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) =>
        {
            let n = digits
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
            Some(Raw::Num(n as f64))
        }
        _ => serde_json::from_str(json).ok(),
    }
}

/// The application's claims alone, read from a payload already verified: the registered
/// members are skipped, not captured (no copies of `sub`, `jti`, `csrf`…), and still never
/// reach `C`.
pub(crate) struct CustomOnly<C>(pub(crate) C);

impl<'de, C: Deserialize<'de>> Deserialize<'de> for CustomOnly<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PayloadVisitor {
            keep_registered: false,
            claims: PhantomData,
        })
        .map(|p: Payload<C>| CustomOnly(p.custom))
    }
}

struct PayloadVisitor<C> {
    keep_registered: bool,
    claims: PhantomData<C>,
}

impl<'de, C: Deserialize<'de>> Visitor<'de> for PayloadVisitor<C> {
    type Value = Payload<C>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Payload<C>, A::Error> {
        let mut split = Split {
            inner: map,
            registered: RawRegistered::default(),
            keep_registered: self.keep_registered,
            sid: None,
            pending: Pending::None,
        };
        let custom = C::deserialize(de::value::MapAccessDeserializer::new(&mut split))?;
        // The application type may stop early (it never does for derived types); read the rest
        // so every registered member is seen.
        while split.next_key_seed(PhantomData::<IgnoredAny>)?.is_some() {
            split.next_value::<IgnoredAny>()?;
        }
        Ok(Payload {
            registered: split.registered,
            custom,
            sid: split.sid,
        })
    }
}

/// A map access that keeps registered members for itself (or skips them) and hands the rest
/// on.
struct Split<A> {
    inner: A,
    registered: RawRegistered,
    keep_registered: bool,
    sid: Option<String>,
    /// The `sid` value, already read, that the application's type asks for next.
    pending: Pending,
}

/// A member value read ahead of the application's type.
enum Pending {
    None,
    /// The string now in `Split::sid`.
    SessionId,
    /// Any other JSON value.
    Value(serde_json::Value),
}

/// A member name, borrowed from the input when it has no escapes.
enum Name<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Split<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(name) = self.inner.next_key::<Name<'de>>()? else {
                return Ok(None);
            };
            let s = match &name {
                Name::Borrowed(s) => *s,
                Name::Owned(s) => s.as_str(),
            };
            if let Some(slot) = self.registered.slot(s) {
                if self.keep_registered {
                    *slot = self.inner.next_value::<Raw>()?;
                } else {
                    self.inner.next_value::<IgnoredAny>()?;
                }
                continue;
            }
            if s == SESSION_ID {
                self.pending = match self.inner.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(sid) => {
                        self.sid = Some(sid);
                        Pending::SessionId
                    }
                    other => Pending::Value(other),
                };
            }
            return match name {
                Name::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)).map(Some),
                Name::Owned(s) => seed.deserialize(StringDeserializer::new(s)).map(Some),
            };
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => self.inner.next_value_seed(seed),
            Pending::SessionId => seed.deserialize(StrValue::<A::Error>(
                self.sid.as_deref().unwrap_or_default(),
                PhantomData,
            )),
            Pending::Value(v) => seed.deserialize(v).map_err(de::Error::custom),
        }
    }
}

/// A JSON string already read, handed on as serde_json would: as a string, or as `Some` of
/// one to an `Option` (serde's `StrDeserializer` refuses options).
struct StrValue<'a, E>(&'a str, PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for StrValue<'_, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_enum(de::value::StrDeserializer::<E>::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, PartialEq)]
    struct App {
        roles: Vec<String>,
        #[serde(default)]
        tenant: Option<String>,
    }

    #[test]
    fn one_pass_split_routes_members() {
        let p: Payload<App> = serde_json::from_str(
            r#"{"fresh":true,"iat":1,"roles":["a"],"sub":"alice","exp":2.9,"type":"refresh","x":{"y":1}}"#,
        )
        .unwrap();
        assert_eq!(
            p.custom,
            App {
                roles: vec!["a".into()],
                tenant: None
            }
        );
        assert_eq!(string(p.registered.sub.clone()), Ok(Some("alice".into())));
        assert_eq!(date(&p.registered.exp), Ok(Some(2)));
        assert_eq!(fresh(&p.registered.fresh), Ok(Fresh::Yes));
        assert_eq!(token_type(p.registered.token_type), Ok(TokenType::Refresh));
    }

    #[test]
    fn registered_members_never_reach_the_application_map() {
        let p: Payload<BTreeMap<String, serde_json::Value>> =
            serde_json::from_str(r#"{"sub":"a","roles":[1],"exp":5,"\u0073ub2":1}"#).unwrap();
        assert_eq!(p.custom.keys().collect::<Vec<_>>(), ["roles", "sub2"]);
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct WithSid {
        sid: serde_json::Value,
        #[serde(default)]
        roles: Vec<String>,
    }

    #[test]
    fn sid_is_kept_and_still_reaches_the_application() {
        let p: Payload<WithSid> =
            serde_json::from_str(r#"{"sub":"a","sid":"s-1","roles":["r"]}"#).unwrap();
        assert_eq!(p.sid.as_deref(), Some("s-1"));
        assert_eq!(p.custom.sid, "s-1");
        assert_eq!(p.custom.roles, ["r"]);
        // Escaped name, and a non-string value: the application gets it as written.
        let p: Payload<WithSid> =
            serde_json::from_str(r#"{"\u0073id":{"a":[1,2.5,null]},"roles":[]}"#).unwrap();
        assert_eq!(p.sid, None);
        assert_eq!(p.custom.sid, serde_json::json!({"a": [1, 2.5, null]}));
        let p: Payload<NoClaims> = serde_json::from_str(r#"{"sid":"x","y":1}"#).unwrap();
        assert_eq!(p.sid.as_deref(), Some("x"));
        let p: Payload<NoClaims> = serde_json::from_str(r#"{"sid":7}"#).unwrap();
        assert_eq!(p.sid, None);
        // A type that refuses a non-string sid still refuses it.
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Strict {
            sid: String,
        }
        assert!(serde_json::from_str::<Payload<Strict>>(r#"{"sid":7}"#).is_err());
        assert!(serde_json::from_str::<CustomOnly<Strict>>(r#"{"sid":"z"}"#).is_ok());
    }

    /// The kept string reaches every shape an application type may give `sid` exactly as
    /// serde_json would deliver it.
    #[test]
    fn a_kept_sid_deserializes_as_serde_json_would() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Newtype(String);
        #[derive(Deserialize, Debug, PartialEq)]
        enum Kind {
            #[serde(rename = "s-1")]
            One,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Shapes<T> {
            sid: T,
        }
        fn both<T: serde::de::DeserializeOwned + PartialEq + fmt::Debug>(json: &str) {
            let kept = serde_json::from_str::<Payload<Shapes<T>>>(json).map(|p| p.custom.sid);
            let plain = serde_json::from_str::<Shapes<T>>(json).map(|s| s.sid);
            assert_eq!(kept.as_ref().ok(), plain.as_ref().ok(), "{json}");
            assert_eq!(kept.is_ok(), plain.is_ok(), "{json}");
        }
        let json = r#"{"sid":"s-1"}"#;
        both::<String>(json);
        both::<Option<String>>(json);
        both::<Newtype>(json);
        both::<Kind>(json);
        both::<serde_json::Value>(json);
        both::<u32>(json);
        both::<Vec<String>>(json);
        both::<Option<String>>(r#"{"sid":null}"#);
        both::<Option<u32>>(r#"{"sid":3}"#);
    }

    #[test]
    fn custom_only_skips_registered_members() {
        let CustomOnly(c): CustomOnly<BTreeMap<String, serde_json::Value>> = serde_json::from_str(
            r#"{"sub":5,"roles":["a"],"exp":"x","jti":null,"sid":"s1","fresh":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(c.keys().collect::<Vec<_>>(), ["roles", "sid"]);
        assert_eq!(c["sid"], "s1");
        let bad = serde_json::from_str::<CustomOnly<NoClaims>>(r#"{"sub":"a","exp":}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn wrong_types_are_remembered_not_fatal() {
        let p: Payload<NoClaims> = serde_json::from_str(
            r#"{"exp":"1795","iat":-1,"nbf":1e300,"sub":5,"jti":null,"aud":["a",1],"fresh":"yes"}"#,
        )
        .unwrap();
        let r = p.registered;
        assert!(date(&r.exp).is_err());
        assert!(date(&r.iat).is_err());
        assert!(date(&r.nbf).is_err());
        assert!(string(r.sub).is_err());
        assert!(string(r.jti).is_err());
        assert!(audience(r.aud).is_err());
        assert!(fresh(&r.fresh).is_err());
    }

    #[test]
    fn fresh_until_and_serialization() {
        assert!(Fresh::Until(100.5).is_fresh_at(100));
        assert!(!Fresh::Until(99.0).is_fresh_at(100));
        assert_eq!(serde_json::to_string(&Fresh::Until(7.0)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Fresh::Until(7.5)).unwrap(), "7.5");
    }

    /// The members path, or `None` where it declines.
    fn from_members<C: 'static>(doc: &str) -> Option<Payload<C>> {
        let checked = crate::json::check_object(doc.as_bytes()).unwrap();
        payload_from_members(doc.as_bytes(), &checked.members)
    }

    #[test]
    fn members_path_reads_what_the_serde_pass_reads() {
        for doc in [
            r#"{"fresh":true,"iat":1795476126,"jti":"39810f82","type":"access","sub":"testuser","nbf":1795476126,"csrf":"c3de","exp":1795477026,"roles":["user"],"sid":"0209"}"#,
            r#"{ "sub" : "a\"\u00e9\ud83d\ude00" ,"exp":1.5,"aud":["x","y"],"iss":"i","sid":7}"#,
            r#"{"exp":"1795","iat":-1,"nbf":1e300,"sub":5,"jti":null,"aud":["a",1],"fresh":"yes","sid":{"a":[1]}}"#,
            r#"{"fresh":1795.25,"exp":9007199254740993,"iat":-0,"nbf":0.0,"aud":"a","type":"other","sid":null}"#,
            "{\n\t\"sub\":\"x\",\n\"exp\" :\r 5 , \"extra\": [[[{\"sub\":1}]]]\n}",
            r#"{"sub":"","jti":"a\/b","csrf":"\u00e9","iss":"é","exp":999999999999999,"iat":1000000000000000,"nbf":0,"fresh":false}"#,
            r#"{"exp":9007199254740992,"iat":18446744073709551616,"nbf":1795.0,"fresh":-1,"sid":""}"#,
            "{}",
        ] {
            let fast = from_members::<NoClaims>(doc).unwrap_or_else(|| panic!("declined {doc}"));
            let slow: Payload<NoClaims> = serde_json::from_str(doc).unwrap();
            assert_eq!(fast.registered, slow.registered, "{doc}");
            assert_eq!(fast.sid, slow.sid, "{doc}");
            assert_eq!(fast.custom, NoClaims);
        }
    }

    #[test]
    fn members_path_declines_other_types_and_unlisted_members() {
        let plain = r#"{"sub":"a","sid":"s","roles":["r"]}"#;
        assert!(from_members::<App>(plain).is_none());
        assert!(from_members::<serde_json::Value>(plain).is_none());
        assert!(from_members::<NoClaims>(plain).is_some());
        // An escaped name must be unescaped to be matched: the serde pass does that.
        assert!(from_members::<NoClaims>(r#"{"\u0073ub":"a"}"#).is_none());
        let many: Vec<String> = (0..17).map(|i| format!("\"m{i}\":{i}")).collect();
        assert!(from_members::<NoClaims>(&format!("{{{}}}", many.join(","))).is_none());
    }
}
