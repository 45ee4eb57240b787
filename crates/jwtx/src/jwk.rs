//! JSON Web Keys (RFC 7517): reading keys in, and publishing public keys out.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::alg::Algorithm;
use crate::b64;
use crate::error::KeyError;
use crate::key::Key;

type Private = Option<Zeroizing<String>>;

/// A JWK as read from JSON: public or private, any key type. Turn it into a [`Key`] with
/// [`Key::from_jwk`]. Private members are wiped on drop and never printed by `Debug`.
#[derive(Clone, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Private,
    p: Private,
    q: Private,
    dp: Private,
    dq: Private,
    qi: Private,
    k: Private,
    oth: Option<serde_json::Value>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

/// Decodes a base64url member, naming it in the error.
fn member(name: &str, v: &Option<String>) -> Result<Vec<u8>, KeyError> {
    let v = v.as_deref().ok_or_else(|| KeyError::Invalid {
        reason: format!("JWK is missing \"{name}\""),
    })?;
    b64::decode(v.as_bytes()).map_err(|()| KeyError::Invalid {
        reason: format!("JWK member \"{name}\" is not canonical base64url"),
    })
}

fn private(name: &str, v: &Private) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let v = v.as_deref().ok_or_else(|| KeyError::Invalid {
        reason: format!("JWK is missing \"{name}\""),
    })?;
    b64::decode(v.as_bytes())
        .map(Zeroizing::new)
        .map_err(|()| KeyError::Invalid {
            reason: format!("JWK member \"{name}\" is not canonical base64url"),
        })
}

impl Jwk {
    /// Parses one JWK from JSON.
    pub fn from_json(json: &str) -> Result<Jwk, KeyError> {
        serde_json::from_str(json).map_err(|e| KeyError::Invalid {
            reason: format!("not a JWK: {e}"),
        })
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True when the JWK carries private material (`d` or `k`).
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// The key type (`kty`).
    pub fn kty(&self) -> &str {
        &self.kty
    }

    /// The JWK's algorithm: its `alg`, or the one its curve implies. `Ok(None)` when neither.
    pub fn algorithm(&self) -> Result<Option<Algorithm>, KeyError> {
        if let Some(alg) = &self.alg {
            return alg
                .parse()
                .map(Some)
                .map_err(|_| KeyError::UnsupportedAlgorithm {
                    alg: alg.chars().take(32).collect(),
                });
        }
        Ok(match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some("P-256")) => Some(Algorithm::ES256),
            ("EC", Some("P-384")) => Some(Algorithm::ES384),
            ("OKP", Some("Ed25519")) => Some(Algorithm::EdDSA),
            _ => None,
        })
    }

    pub(crate) fn check_for_signatures(&self) -> Result<(), KeyError> {
        if let Some(u) = &self.use_
            && u != "sig"
        {
            return Err(KeyError::NotForSignatures {
                found: format!("\"use\":{u:?}"),
            });
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == "verify" || o == "sign")
        {
            return Err(KeyError::NotForSignatures {
                found: format!("\"key_ops\":{ops:?}"),
            });
        }
        Ok(())
    }

    pub(crate) fn build(&self, alg: Algorithm) -> Result<Key, KeyError> {
        let wrong = |found: String| KeyError::WrongKeyType { alg, found };
        let expected_kty = match alg.family() {
            crate::alg::Family::Hmac => "oct",
            crate::alg::Family::RsaPkcs1 | crate::alg::Family::RsaPss => "RSA",
            crate::alg::Family::Ecdsa => "EC",
            crate::alg::Family::Eddsa => "OKP",
        };
        if self.kty != expected_kty {
            return Err(wrong(format!("a JWK with kty {:?}", self.kty)));
        }
        match expected_kty {
            "oct" => Key::hmac(alg, &private("k", &self.k)?),
            "RSA" => {
                if self.oth.is_some() {
                    return Err(KeyError::Invalid {
                        reason: "multi-prime RSA keys (\"oth\") are not supported".into(),
                    });
                }
                let n = member("n", &self.n)?;
                let e = member("e", &self.e)?;
                if self.d.is_none() {
                    return Key::rsa_from_components(alg, &n, &e, None);
                }
                let d = private("d", &self.d)?;
                let p = private("p", &self.p)?;
                let q = private("q", &self.q)?;
                let dp = private("dp", &self.dp)?;
                let dq = private("dq", &self.dq)?;
                let qi = private("qi", &self.qi)?;
                Key::rsa_from_components(alg, &n, &e, Some([&d, &p, &q, &dp, &dq, &qi]))
            }
            "EC" => {
                let (crv, size) = match alg {
                    Algorithm::ES384 => ("P-384", 48),
                    _ => ("P-256", 32),
                };
                if self.crv.as_deref() != Some(crv) {
                    return Err(wrong(format!(
                        "curve {:?}",
                        self.crv.as_deref().unwrap_or("")
                    )));
                }
                let x = member("x", &self.x)?;
                let y = member("y", &self.y)?;
                if x.len() != size || y.len() != size {
                    return Err(KeyError::Invalid {
                        reason: format!("EC coordinates must be {size} bytes each"),
                    });
                }
                let point = [&[4u8][..], &x, &y].concat();
                match &self.d {
                    None => Key::ec(alg, None, point),
                    Some(_) => {
                        let d = private("d", &self.d)?;
                        let pair =
                            aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
                                if size == 48 {
                                    &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING
                                } else {
                                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING
                                },
                                &d,
                                &point,
                            )
                            .map_err(|e| KeyError::Invalid {
                                reason: format!(
                                    "EC private key does not match its public point ({e})"
                                ),
                            })?;
                        Key::ec(alg, Some(pair), point)
                    }
                }
            }
            _ => {
                if self.crv.as_deref() != Some("Ed25519") {
                    return Err(wrong(format!(
                        "curve {:?}",
                        self.crv.as_deref().unwrap_or("")
                    )));
                }
                let x = member("x", &self.x)?;
                match &self.d {
                    None => Key::ed(None, x),
                    Some(_) => {
                        let d = private("d", &self.d)?;
                        let pair =
                            aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(&d, &x)
                                .map_err(|e| KeyError::Invalid {
                                    reason: format!(
                                        "Ed25519 private key does not match its public key ({e})"
                                    ),
                                })?;
                        Key::ed(Some(pair), x)
                    }
                }
            }
        }
    }
}

/// A public JWK as jwtx publishes it in a JWKS: never private or symmetric material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: &'static str,
    /// Always `sig`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<&'static str>,
    /// The algorithm the key is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<&'static str>,
    /// The key ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// EC / OKP curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// EC x / OKP public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl PublicJwk {
    fn empty(kty: &'static str) -> Self {
        PublicJwk {
            kty,
            use_: None,
            alg: None,
            kid: None,
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        }
    }

    pub(crate) fn rsa(n: String, e: String) -> Self {
        PublicJwk {
            n: Some(n),
            e: Some(e),
            ..PublicJwk::empty("RSA")
        }
    }

    pub(crate) fn ec(crv: &'static str, x: String, y: String) -> Self {
        PublicJwk {
            crv: Some(crv),
            x: Some(x),
            y: Some(y),
            ..PublicJwk::empty("EC")
        }
    }

    pub(crate) fn okp(x: String) -> Self {
        PublicJwk {
            crv: Some("Ed25519"),
            x: Some(x),
            ..PublicJwk::empty("OKP")
        }
    }

    /// The RFC 7638 canonical JSON: required members only, in lexicographic order.
    pub(crate) fn thumbprint_input(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.kty {
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                s(&self.e),
                s(&self.n)
            ),
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                self.crv.unwrap_or_default(),
                s(&self.x),
                s(&self.y)
            ),
            _ => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, s(&self.x)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = Jwk::from_json(r#"{"kty":"RSA","alg":"RS256","kid":"2011-04-29","e":"AQAB",
            "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#).unwrap();
        let key = Key::from_jwk(&jwk).unwrap();
        assert_eq!(
            key.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // A given kid wins over the thumbprint.
        assert_eq!(key.kid(), Some("2011-04-29"));
        let public = key.public_jwk().unwrap();
        assert_eq!(public.alg, Some("RS256"));
        assert_eq!(public.use_, Some("sig"));
    }

    #[test]
    fn debug_hides_private_members() {
        let jwk = Jwk::from_json(
            r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI","alg":"HS256"}"#,
        )
        .unwrap();
        let s = format!("{jwk:?}");
        assert!(!s.contains("c2Vj"), "{s}");
        assert!(s.contains("private: true"), "{s}");
    }

    #[test]
    fn wrong_use_and_ops_are_refused() {
        for bad in [
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"enc"}"#,
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","key_ops":["encrypt"]}"#,
        ] {
            let jwk = Jwk::from_json(bad).unwrap();
            assert!(matches!(
                Key::from_jwk(&jwk),
                Err(KeyError::NotForSignatures { .. })
            ));
        }
        let ok = Jwk::from_json(
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        assert_eq!(Key::from_jwk(&ok).unwrap().algorithm(), Algorithm::EdDSA);
    }
}
