//! The canonical text of a revocation log entry (`docs/revocation-log.md`): one compact JSON
//! object, `"kind"` first. Reading is strict: an unknown kind, and an unknown, missing,
//! repeated or mistyped field of a known kind, are refused, since a reader that guessed could
//! let a revoked token through.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{EntryError, Revocation};
use crate::claims::NumericDate;

/// What is written: serde puts an internally tagged enum's tag first, then the fields in
/// declaration order.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Out<'a> {
    Token {
        jti: &'a str,
        until: NumericDate,
    },
    Session {
        id: &'a str,
        until: NumericDate,
    },
    User {
        user: &'a str,
        cutoff: NumericDate,
        until: NumericDate,
        #[serde(skip_serializing_if = "Option::is_none")]
        except: Option<&'a str>,
    },
    Key {
        kid: &'a str,
        until: NumericDate,
    },
    Keys {
        kid: &'a str,
        until: NumericDate,
    },
}

pub(super) fn to_entry(r: &Revocation) -> String {
    let out = match r {
        Revocation::Token { jti, until } => Out::Token { jti, until: *until },
        Revocation::Session { id, until } => Out::Session { id, until: *until },
        Revocation::User {
            user,
            cutoff,
            until,
            except,
        } => Out::User {
            user,
            cutoff: *cutoff,
            until: *until,
            except: except.as_deref(),
        },
        Revocation::Key { kid, until } => Out::Key { kid, until: *until },
        Revocation::KeysChanged { kid, until } => Out::Keys { kid, until: *until },
    };
    // Strings and integers only: serializing cannot fail.
    serde_json::to_string(&out).expect("a revocation entry serializes")
}

/// What is read, one struct per kind. `kind` was matched already; it is listed so that it is
/// not an unknown field (and a repeated `kind` is refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenIn {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    jti: String,
    until: NumericDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionIn {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    id: String,
    until: NumericDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserIn {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    user: String,
    cutoff: NumericDate,
    until: NumericDate,
    /// Absent when there is no exception; `null` is not another spelling of that.
    #[serde(default, deserialize_with = "present")]
    except: Option<String>,
}

/// A `key` entry and a `keys` notice have the same fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    kid: String,
    until: NumericDate,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// The `kind` of an entry object: read first, everything else skipped (but parsed). Only a
/// JSON object is accepted, and `kind` once.
struct Head(String);

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Head, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Head;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a revocation entry object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "kind" {
                        map.next_value::<IgnoredAny>()?;
                    } else if kind.is_some() {
                        return Err(de::Error::duplicate_field("kind"));
                    } else {
                        kind = Some(map.next_value::<String>()?);
                    }
                }
                kind.map(Head)
                    .ok_or_else(|| de::Error::missing_field("kind"))
            }
        }
        d.deserialize_map(Fields)
    }
}

pub(super) fn from_entry(text: &str) -> Result<Revocation, EntryError> {
    let malformed = |e: serde_json::Error| EntryError::Malformed(e.to_string());
    let Head(kind) = serde_json::from_str(text).map_err(malformed)?;
    // Then the text again, strictly, as that kind.
    Ok(match kind.as_str() {
        "token" => {
            let e: TokenIn = serde_json::from_str(text).map_err(malformed)?;
            Revocation::Token {
                jti: e.jti,
                until: e.until,
            }
        }
        "session" => {
            let e: SessionIn = serde_json::from_str(text).map_err(malformed)?;
            Revocation::Session {
                id: e.id,
                until: e.until,
            }
        }
        "user" => {
            let e: UserIn = serde_json::from_str(text).map_err(malformed)?;
            Revocation::User {
                user: e.user,
                cutoff: e.cutoff,
                until: e.until,
                except: e.except,
            }
        }
        "key" => {
            let e: KeyIn = serde_json::from_str(text).map_err(malformed)?;
            Revocation::Key {
                kid: e.kid,
                until: e.until,
            }
        }
        "keys" => {
            let e: KeyIn = serde_json::from_str(text).map_err(malformed)?;
            Revocation::KeysChanged {
                kid: e.kid,
                until: e.until,
            }
        }
        _ => return Err(EntryError::UnknownKind(kind)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(except: Option<&str>) -> Revocation {
        Revocation::User {
            user: "alice".into(),
            cutoff: 1_700_000_000,
            until: 1_700_000_900,
            except: except.map(str::to_owned),
        }
    }

    #[test]
    fn canonical_texts() {
        let cases = [
            (
                Revocation::Token {
                    jti: "j-1".into(),
                    until: 5,
                },
                r#"{"kind":"token","jti":"j-1","until":5}"#,
            ),
            (
                Revocation::Session {
                    id: "s-1".into(),
                    until: 0,
                },
                r#"{"kind":"session","id":"s-1","until":0}"#,
            ),
            (
                user(None),
                r#"{"kind":"user","user":"alice","cutoff":1700000000,"until":1700000900}"#,
            ),
            (
                user(Some("s-1")),
                r#"{"kind":"user","user":"alice","cutoff":1700000000,"until":1700000900,"except":"s-1"}"#,
            ),
            (
                Revocation::Key {
                    kid: "k-1".into(),
                    until: 9,
                },
                r#"{"kind":"key","kid":"k-1","until":9}"#,
            ),
            (
                Revocation::KeysChanged {
                    kid: "k-2".into(),
                    until: 10,
                },
                r#"{"kind":"keys","kid":"k-2","until":10}"#,
            ),
        ];
        for (r, text) in cases {
            assert_eq!(r.to_entry(), text);
            assert_eq!(Revocation::from_entry(text), Ok(r));
        }
    }

    #[test]
    fn round_trips_odd_text_and_edge_numbers() {
        for r in [
            Revocation::Token {
                jti: "quote \" backslash \\ newline \n nul \0 é ✓ 🦀".into(),
                until: u64::MAX,
            },
            Revocation::Session {
                id: String::new(),
                until: 0,
            },
            Revocation::User {
                user: "üsér".into(),
                cutoff: 0,
                until: u64::MAX,
                except: Some(String::new()),
            },
            Revocation::user("bob", u64::MAX - 1, 10, Some("s")),
        ] {
            let text = r.to_entry();
            assert!(text.starts_with(r#"{"kind":""#), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
            assert_eq!(Revocation::from_entry(&text), Ok(r));
        }
    }

    #[test]
    fn fields_in_any_order_and_whitespace_are_read() {
        let text = r#" { "until" : 9 , "id" : "s" , "kind" : "session" } "#;
        assert_eq!(
            Revocation::from_entry(text),
            Ok(Revocation::Session {
                id: "s".into(),
                until: 9
            })
        );
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let err = Revocation::from_entry(r#"{"kind":"foo","x":1}"#).unwrap_err();
        assert_eq!(err, EntryError::UnknownKind("foo".into()));
        assert_eq!(err.to_string(), r#"unknown revocation kind "foo""#);
        // Kinds are case-sensitive.
        assert!(matches!(
            Revocation::from_entry(r#"{"kind":"Token","jti":"j","until":1}"#),
            Err(EntryError::UnknownKind(k)) if k == "Token"
        ));
        let e: &dyn std::error::Error = &err;
        assert!(e.source().is_none());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "null",
            "[]",
            r#"["token","j",1]"#,
            r#""token""#,
            "{}",
            r#"{"jti":"j","until":1}"#,
            r#"{"kind":1,"jti":"j","until":1}"#,
            r#"{"kind":null,"jti":"j","until":1}"#,
            // A field missing.
            r#"{"kind":"token","until":1}"#,
            r#"{"kind":"token","jti":"j"}"#,
            r#"{"kind":"session","id":"s"}"#,
            r#"{"kind":"user","user":"u","until":1}"#,
            r#"{"kind":"user","cutoff":1,"until":1}"#,
            // A field unknown to the kind (fail closed: it could change the meaning).
            r#"{"kind":"token","jti":"j","until":1,"sid":"s"}"#,
            r#"{"kind":"session","id":"s","until":1,"except":"x"}"#,
            r#"{"kind":"user","user":"u","cutoff":1,"until":2,"scope":"x"}"#,
            r#"{"kind":"session","jti":"s","until":1}"#,
            // Repeated fields, kind included.
            r#"{"kind":"token","jti":"j","jti":"k","until":1}"#,
            r#"{"kind":"token","kind":"token","jti":"j","until":1}"#,
            r#"{"kind":"token","kind":"foo","jti":"j","until":1}"#,
            // Wrong types and numbers that are not u64.
            r#"{"kind":"token","jti":5,"until":1}"#,
            r#"{"kind":"token","jti":"j","until":"1"}"#,
            r#"{"kind":"token","jti":"j","until":-1}"#,
            r#"{"kind":"token","jti":"j","until":1.0}"#,
            r#"{"kind":"token","jti":"j","until":1e3}"#,
            r#"{"kind":"token","jti":"j","until":18446744073709551616}"#,
            r#"{"kind":"user","user":"u","cutoff":1,"until":2,"except":null}"#,
            r#"{"kind":"user","user":"u","cutoff":1,"until":2,"except":7}"#,
            // Not one object.
            r#"{"kind":"token","jti":"j","until":1} {}"#,
            r#"{"kind":"token","jti":"j","until":1},"#,
        ] {
            match Revocation::from_entry(bad) {
                Err(EntryError::Malformed(why)) => {
                    assert!(
                        EntryError::Malformed(why)
                            .to_string()
                            .starts_with("malformed revocation entry: "),
                    );
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
