//! Algorithm confusion: public key material (every form an attacker can get: PEM, DER, JWK
//! members) used as an HMAC secret, an asymmetric token presented to an HMAC verifier, a token of
//! one asymmetric algorithm presented to a key of another, and key material loaded for the wrong
//! algorithm family. Each is refused with the exact error.

use super::*;

/// Every form of public key material an attacker can get hold of for `alg`'s fixture.
fn public_materials(alg: Algorithm) -> Vec<(&'static str, Vec<u8>)> {
    let fx = fixture(alg);
    let pem = fx.public_pem.clone().unwrap();
    let jwk = fx.public_key().public_jwk().unwrap();
    let jwk_text = serde_json::to_string(&jwk).unwrap();
    let mut out = vec![
        ("PEM text", pem.clone().into_bytes()),
        (
            "PEM text without final newline",
            pem.trim_end().as_bytes().to_vec(),
        ),
        ("SPKI DER bytes", pem_der(&pem)),
        ("JWK JSON text", jwk_text.into_bytes()),
        (
            "JWKS JSON text",
            fx.verifier.jwks().to_string().into_bytes(),
        ),
    ];
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            out.push(("RSA modulus bytes", unb64(jwk.n.as_deref().unwrap())));
            out.push((
                "RSA modulus (base64url text)",
                jwk.n.clone().unwrap().into_bytes(),
            ));
        }
        Algorithm::ES256 => {
            let x = unb64(jwk.x.as_deref().unwrap());
            let y = unb64(jwk.y.as_deref().unwrap());
            out.push(("EC point 04‖x‖y", [&[4u8][..], &x, &y].concat()));
            out.push(("EC x‖y", [x, y].concat()));
        }
        _ => out.push(("Ed25519 public key bytes", unb64(jwk.x.as_deref().unwrap()))),
    }
    out
}

#[test]
fn public_key_used_as_hmac_secret_is_refused() {
    let mut forged = 0;
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let fx = fixture(alg);
        let kid = fx.public_key().kid().unwrap().to_owned();
        for (what, secret) in public_materials(alg) {
            for hs_alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                for header in [
                    format!(r#"{{"alg":"{hs_alg}","typ":"JWT"}}"#),
                    format!(r#"{{"alg":"{hs_alg}","typ":"JWT","kid":"{kid}"}}"#),
                ] {
                    let t = forge_with(hs_alg, header.as_bytes(), claims().as_bytes(), &secret);
                    let e = jws_err(&t, &fx.verifier);
                    assert_eq!(
                        e,
                        Error::AlgorithmNotAllowed {
                            expected: alg,
                            found: hs_alg.as_str().into()
                        },
                        "{alg} public key as {what}, {hs_alg}"
                    );
                    assert_eq!(e.message(), "The specified alg value is not allowed");
                    // The same through the claims layer.
                    let codec =
                        Codec::new(fx.verifier.clone()).with_clock(Arc::new(FixedClock::new(NOW)));
                    assert_eq!(codec.verify::<NoClaims>(&t).unwrap_err(), e);
                    // The forgery is genuine: a verifier that (wrongly) used the material
                    // as an HMAC secret would accept it.
                    if hs_alg == Algorithm::HS256 && secret.len() >= 32 && !header.contains("kid") {
                        let naive: KeySet = Key::hmac(Algorithm::HS256, &secret).unwrap().into();
                        jws_ok(&t, &naive);
                        forged += 1;
                    }
                }
            }
        }
    }
    assert!(
        forged >= 20,
        "only {forged} forgeries were checked as genuine"
    );
}

#[test]
fn asymmetric_token_presented_to_hmac_verifier() {
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let fx = fixture(alg);
        // Without kid the only key is selected and its algorithm decides.
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let t = signed(&fx.signer, &header, &claims());
        jws_ok(&t, &fx.verifier);
        assert_eq!(
            jws_err(&t, &hs_set()),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::HS256,
                found: alg.as_str().into()
            }
        );
        // jwtx's own header names the key's kid; the HMAC set's one kid-less key is chosen
        // whatever the kid (as flask-jwt-extended does) and its algorithm refuses the token.
        let t = fx.token(&claims());
        assert_eq!(
            jws_err(&t, &hs_set()),
            Error::AlgorithmNotAllowed {
                expected: Algorithm::HS256,
                found: alg.as_str().into()
            }
        );
    }
}

#[test]
fn cross_asymmetric_algorithms_are_refused() {
    // An RS256 token relabelled PS256 (same key) and the reverse.
    let rs = fixture(Algorithm::RS256);
    let der = pem_der(&rs.signer.to_pkcs8_pem().unwrap());
    let ps_key = Key::from_der(Algorithm::PS256, &der).unwrap();
    let t = jws::sign(&ps_key, claims().as_bytes(), None).unwrap();
    assert_eq!(
        jws_err(&t, &rs.verifier),
        Error::AlgorithmNotAllowed {
            expected: Algorithm::RS256,
            found: "PS256".into()
        }
    );
    let t = rs.token(&claims());
    let ps_public: KeySet =
        Key::from_pem(Algorithm::PS256, rs.public_pem.as_ref().unwrap().as_bytes())
            .unwrap()
            .into();
    assert_eq!(
        jws_err(&t, &ps_public),
        Error::AlgorithmNotAllowed {
            expected: Algorithm::PS256,
            found: "RS256".into()
        }
    );
    // Same key, header says RS384: refused, the key is bound to RS256.
    let header = format!(
        r#"{{"alg":"RS384","kid":"{}"}}"#,
        rs.public_key().kid().unwrap()
    );
    let t = format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(b"{}"),
        b64(&[1; 256])
    );
    assert_eq!(
        jws_err(&t, &rs.verifier),
        Error::AlgorithmNotAllowed {
            expected: Algorithm::RS256,
            found: "RS384".into()
        }
    );
}

#[test]
fn key_material_cannot_be_loaded_for_the_wrong_family() {
    let rs = fixture(Algorithm::RS256);
    let pem = rs.public_pem.as_ref().unwrap();
    assert!(matches!(
        Key::hmac(Algorithm::RS256, pem.as_bytes()),
        Err(KeyError::WrongKeyType { .. })
    ));
    assert!(matches!(
        Key::from_pem(Algorithm::HS256, pem.as_bytes()),
        Err(KeyError::WrongKeyType { .. })
    ));
    let jwk = rs.public_key().public_jwk().unwrap();
    let as_hs = format!(
        r#"{{"kty":"RSA","alg":"HS256","n":"{}","e":"{}"}}"#,
        jwk.n.as_deref().unwrap(),
        jwk.e.as_deref().unwrap()
    );
    assert!(matches!(
        KeySet::from_jwks_json(&as_hs),
        Err(KeyError::WrongKeyType { .. })
    ));
    let oct_as_rs = format!(r#"{{"kty":"oct","alg":"RS256","k":"{}"}}"#, b64(SECRET));
    assert!(matches!(
        KeySet::from_jwks_json(&oct_as_rs),
        Err(KeyError::WrongKeyType { .. })
    ));
    // An oct JWK without alg does not imply HS256.
    let oct = format!(r#"{{"kty":"oct","k":"{}"}}"#, b64(SECRET));
    assert_eq!(
        KeySet::from_jwks_json(&oct).unwrap_err(),
        KeyError::MissingAlgorithm
    );
    // A key set cannot mix an HMAC secret with public keys.
    assert_eq!(
        KeySet::new(vec![
            hs_key(),
            Key::from_pem(Algorithm::RS256, pem.as_bytes()).unwrap()
        ])
        .unwrap_err(),
        KeyError::MixedKeySet
    );
    // EC keys of one curve cannot be loaded for the other.
    let es = fixture(Algorithm::ES256);
    assert!(matches!(
        Key::from_pem(Algorithm::ES384, es.public_pem.as_ref().unwrap().as_bytes()),
        Err(KeyError::WrongKeyType { .. })
    ));
}
