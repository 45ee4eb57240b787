//! Which issuer key sets are accepted, and which of their keys verify tokens.
//!
//! Refused whole (the last good set keeps serving): not a `{"keys":[…]}` object, more keys than
//! the bound, a symmetric (`oct`) key, any private member, a duplicate `kid`, a signature key
//! without `alg` when the service pins none, a key that does not parse. Skipped (published for
//! something else): `use` other than `sig`, `key_ops` without `verify`, an algorithm other
//! than the pinned one or one jwtx does not verify with.

use std::collections::HashSet;
use std::fmt;

use jwtx::{Algorithm, Jwk, Key, KeySet};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a fetched key set was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set that passed, with the keys left out and why.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) set: KeySet,
    pub(crate) skipped: Vec<String>,
}

/// What an issuer's key set must be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) pin: Option<Algorithm>,
    pub(crate) max_keys: usize,
}

fn kid_name(kid: Option<&str>) -> String {
    match kid {
        Some(k) => format!("{:?}", k.chars().take(64).collect::<String>()),
        None => "without kid".into(),
    }
}

impl Policy {
    /// Reads a JWKS document under this policy.
    pub(crate) fn read(&self, body: &[u8]) -> Result<Accepted, Refused> {
        #[derive(Deserialize)]
        struct Doc<'a> {
            #[serde(borrow)]
            keys: Vec<&'a RawValue>,
        }
        let doc: Doc<'_> = serde_json::from_slice(body)
            .map_err(|e| Refused(format!("not a JWK set ({{\"keys\":[…]}}): {e}")))?;
        if doc.keys.len() > self.max_keys {
            return Err(Refused(format!(
                "{} keys, over the bound of {}",
                doc.keys.len(),
                self.max_keys
            )));
        }
        let mut kids = HashSet::new();
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for raw in doc.keys {
            let members: Map<String, Value> = serde_json::from_str(raw.get())
                .map_err(|e| Refused(format!("a key is not a JSON object: {e}")))?;
            let kid = match members.get("kid") {
                None => None,
                Some(Value::String(k)) => Some(k.as_str()),
                Some(_) => return Err(Refused("a key's \"kid\" is not a string".into())),
            };
            let name = kid_name(kid);
            if !kids.insert(kid.map(str::to_owned)) {
                return Err(Refused(format!(
                    "two keys {name}: a token's kid must select one key"
                )));
            }
            if members.get("kty").and_then(Value::as_str) == Some("oct") {
                return Err(Refused(format!(
                    "key {name} is symmetric (kty \"oct\"): a published set holds public keys only"
                )));
            }
            if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| members.contains_key(**m)) {
                return Err(Refused(format!(
                    "key {name} has the private member {m:?}: the issuer is publishing secrets"
                )));
            }
            if let Some(u) = members.get("use")
                && u.as_str() != Some("sig")
            {
                skipped.push(format!("key {name}: \"use\" is {u}"));
                continue;
            }
            if let Some(ops) = members.get("key_ops") {
                let verifies = ops
                    .as_array()
                    .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
                if !verifies {
                    skipped.push(format!("key {name}: \"key_ops\" {ops} lacks \"verify\""));
                    continue;
                }
            }
            let alg = match (members.get("alg"), self.pin) {
                (None, Some(pin)) => pin,
                (None, None) => {
                    return Err(Refused(format!(
                        "key {name} has no \"alg\" and the service pins no algorithm"
                    )));
                }
                (Some(Value::String(a)), pin) => match a.parse::<Algorithm>() {
                    Ok(alg) if pin.is_none_or(|p| p == alg) => alg,
                    Ok(alg) => {
                        skipped.push(format!("key {name}: {alg}, not the pinned algorithm"));
                        continue;
                    }
                    Err(_) => {
                        skipped.push(format!(
                            "key {name}: \"alg\" {:?} is no signature algorithm jwtx verifies",
                            a.chars().take(32).collect::<String>()
                        ));
                        continue;
                    }
                },
                (Some(_), _) => {
                    return Err(Refused(format!("key {name}: \"alg\" is not a string")));
                }
            };
            let key = Jwk::from_json(raw.get())
                .and_then(|jwk| Key::from_jwk_with_alg(&jwk, alg))
                .map_err(|e| Refused(format!("key {name}: {e}")))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Refused(
                "no key in the set verifies signatures under this service's policy".into(),
            ));
        }
        let set = KeySet::new(keys).map_err(|e| Refused(e.to_string()))?;
        Ok(Accepted { set, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(alg: Algorithm, kid: &str) -> Value {
        let key = Key::generate(alg).unwrap();
        let mut v = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
        v["kid"] = kid.into();
        v
    }

    fn read(policy: Policy, keys: Vec<Value>) -> Result<Accepted, Refused> {
        policy.read(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    const OPEN: Policy = Policy {
        pin: None,
        max_keys: 16,
    };

    #[test]
    fn accepts_public_signature_keys() {
        let a = read(
            OPEN,
            vec![jwk(Algorithm::EdDSA, "a"), jwk(Algorithm::RS256, "b")],
        )
        .unwrap();
        assert_eq!(a.set.keys().len(), 2);
        assert!(a.set.select(Some("b")).is_some());
        assert!(a.set.signer().is_none());
    }

    #[test]
    fn refuses_whole_sets() {
        let oct = serde_json::json!({"kty":"oct","alg":"HS256","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"});
        let mut private = jwk(Algorithm::ES256, "p");
        private["d"] = "AAAA".into();
        let mut no_alg = jwk(Algorithm::RS256, "n");
        no_alg.as_object_mut().unwrap().remove("alg");
        for (keys, why) in [
            (vec![jwk(Algorithm::EdDSA, "a"), oct], "symmetric"),
            (vec![jwk(Algorithm::EdDSA, "a"), private], "private member"),
            (
                vec![jwk(Algorithm::EdDSA, "a"), jwk(Algorithm::ES256, "a")],
                "two keys",
            ),
            (
                vec![jwk(Algorithm::EdDSA, "a"), no_alg.clone()],
                "no \"alg\"",
            ),
            (vec![], "no key"),
        ] {
            let err = read(OPEN, keys).unwrap_err();
            assert!(err.0.contains(why), "{err} / {why}");
        }
        let pinned = Policy {
            pin: Some(Algorithm::RS256),
            max_keys: 16,
        };
        assert!(read(pinned, vec![no_alg]).is_ok());
        let many = (0..17)
            .map(|i| jwk(Algorithm::EdDSA, &i.to_string()))
            .collect();
        assert!(read(OPEN, many).unwrap_err().0.contains("over the bound"));
        assert!(OPEN.read(b"[]").is_err());
    }

    #[test]
    fn skips_keys_for_other_uses() {
        let mut enc = jwk(Algorithm::RS256, "enc");
        enc["use"] = "enc".into();
        let mut ops = jwk(Algorithm::RS256, "ops");
        ops["key_ops"] = serde_json::json!(["sign"]);
        let mut oaep = jwk(Algorithm::RS256, "oaep");
        oaep["alg"] = "RSA-OAEP".into();
        let a = read(OPEN, vec![jwk(Algorithm::EdDSA, "sig"), enc, ops, oaep]).unwrap();
        assert_eq!(a.set.keys().len(), 1);
        assert_eq!(a.skipped.len(), 3, "{:?}", a.skipped);
        let pinned = Policy {
            pin: Some(Algorithm::ES256),
            max_keys: 16,
        };
        let a = read(
            pinned,
            vec![jwk(Algorithm::EdDSA, "ed"), jwk(Algorithm::ES256, "es")],
        )
        .unwrap();
        assert_eq!(a.set.keys().len(), 1);
        assert!(a.set.select(Some("es")).is_some());
    }
}
