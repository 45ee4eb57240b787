//! Signature tampering: stripped, truncated (every byte and every character length) and all-zero
//! signatures, out-of-range ECDSA `r`/`s`, DER-encoded ECDSA signatures, a signature taken from
//! another token or made by another key of the same algorithm, and edits to the header or
//! payload. A bad signature is reported before expiry.

use super::*;

#[test]
fn stripped_signature() {
    for alg in SIGNATURE_ALGS {
        let fx = fixture(alg);
        let [h, p, _] = parts(&fx.token(&claims()));
        let e = jws_err(&format!("{h}.{p}."), &fx.verifier);
        assert_eq!(e, Error::InvalidSignature, "{alg}");
        assert_eq!(e.message(), "Signature verification failed");
        assert_eq!(
            jws_err(&format!("{h}.{p}"), &fx.verifier),
            Error::NotEnoughSegments
        );
    }
}

#[test]
fn truncated_signature_every_byte_length() {
    for alg in SIGNATURE_ALGS {
        let fx = fixture(alg);
        let t = fx.token(&claims());
        jws_ok(&t, &fx.verifier);
        let [h, p, s] = parts(&t);
        let raw = unb64(&s);
        for n in 0..raw.len() {
            let t = format!("{h}.{p}.{}", b64(&raw[..n]));
            assert_eq!(
                jws_err(&t, &fx.verifier),
                Error::InvalidSignature,
                "{alg} {n}"
            );
        }
        // Extended by a byte, too.
        let t = format!("{h}.{p}.{}", b64(&[&raw[..], &[0]].concat()));
        assert_eq!(
            jws_err(&t, &fx.verifier),
            Error::InvalidSignature,
            "{alg} +1"
        );
    }
}

#[test]
fn truncated_signature_every_character_length() {
    for alg in SIGNATURE_ALGS {
        let fx = fixture(alg);
        let [h, p, s] = parts(&fx.token(&claims()));
        for n in 0..s.len() {
            let t = format!("{h}.{p}.{}", &s[..n]);
            let e = jws_err(&t, &fx.verifier);
            assert!(
                matches!(
                    e,
                    Error::InvalidSignature
                        | Error::Base64 {
                            segment: Segment::Signature
                        }
                ),
                "{alg} {n}: {e:?}"
            );
            if n % 4 == 1 {
                assert_eq!(e.message(), "Invalid crypto padding");
            }
        }
    }
}

#[test]
fn all_zero_signatures() {
    for alg in SIGNATURE_ALGS {
        let fx = fixture(alg);
        let [h, p, s] = parts(&fx.token(&claims()));
        let len = unb64(&s).len();
        let t = format!("{h}.{p}.{}", b64(&vec![0; len]));
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
    }
}

#[test]
fn ecdsa_out_of_range_r_and_s() {
    let fx = fixture(Algorithm::ES256);
    let [h, p, s] = parts(&fx.token(&claims()));
    let raw = unb64(&s);
    let (r, s_) = raw.split_at(32);
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut n_minus_1 = P256_N;
    n_minus_1[31] -= 1;
    for (what, sig) in [
        ("r=s=0", [[0u8; 32], [0u8; 32]].concat()),
        ("r=0", [&[0u8; 32][..], s_].concat()),
        ("s=0", [r, &[0u8; 32][..]].concat()),
        ("r=s=n", [P256_N, P256_N].concat()),
        ("r=n", [&P256_N[..], s_].concat()),
        ("s=n", [r, &P256_N[..]].concat()),
        ("r=s=1", [one, one].concat()),
        ("r=s=n-1", [n_minus_1, n_minus_1].concat()),
        ("r=s=2^256-1", vec![0xff; 64]),
        ("r=n+1", {
            let mut n1 = P256_N;
            n1[31] += 1;
            [&n1[..], s_].concat()
        }),
    ] {
        let t = format!("{h}.{p}.{}", b64(&sig));
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{what}");
    }
}

#[test]
fn der_encoded_ecdsa_signature_is_refused() {
    let fx = fixture(Algorithm::ES256);
    let t = fx.token(&claims());
    jws_ok(&t, &fx.verifier);
    let [h, p, s] = parts(&t);
    let der = ecdsa_der(&unb64(&s));
    assert_eq!(der[0], 0x30);
    let t = format!("{h}.{p}.{}", b64(&der));
    assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
}

#[test]
fn signature_of_another_token() {
    for alg in SIGNATURE_ALGS {
        let fx = fixture(alg);
        let a = fx.token(&claims());
        let b = fx.token(r#"{"sub":"admin","exp":99999999999}"#);
        let [ha, pa, _] = parts(&a);
        let [_, _, sb] = parts(&b);
        let t = format!("{ha}.{pa}.{sb}");
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
    }
}

#[test]
fn signature_by_another_key_of_the_same_algorithm() {
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let fx = fixture(alg);
        let other = Key::generate(alg)
            .unwrap()
            .with_kid(fx.public_key().kid().unwrap());
        let t = jws::sign(&other, claims().as_bytes(), None).unwrap();
        // Same header bytes (same kid), different key: the canonical-header fast path
        // must not shortcut the signature.
        assert_eq!(parts(&t)[0], parts(&fx.token(&claims()))[0]);
        assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature, "{alg}");
    }
    let other: KeySet = Key::hmac(Algorithm::HS256, OTHER_SECRET).unwrap().into();
    assert_eq!(
        jws_err(&fixture(Algorithm::HS256).token(&claims()), &other),
        Error::InvalidSignature
    );
}

#[test]
fn bad_signature_wins_over_expiry() {
    // flask-jwt-extended: "Signature verification failed" takes precedence over expiry.
    let expired = format!(r#"{{"sub":"alice","exp":{}}}"#, NOW - 10);
    let t = forge_with(
        Algorithm::HS256,
        HS_HEADER.as_bytes(),
        expired.as_bytes(),
        OTHER_SECRET,
    );
    let e = codec().verify::<NoClaims>(&t).unwrap_err();
    assert_eq!(e, Error::InvalidSignature);
}

#[test]
fn edits_to_header_or_payload_break_the_signature() {
    let fx = fixture(Algorithm::ES256);
    let [h, _, s] = parts(&fx.token(&claims()));
    let admin = claims().replace("alice", "admin");
    let t = format!("{h}.{}.{s}", b64(admin.as_bytes()));
    assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
    // A different but equivalent header (spaces) with the original signature.
    let kid = fx.public_key().kid().unwrap();
    let header = format!(r#"{{ "alg":"ES256","kid":"{kid}","typ":"JWT"}}"#);
    let [_, p, s] = parts(&fx.token(&claims()));
    let t = format!("{}.{p}.{s}", b64(header.as_bytes()));
    assert_eq!(jws_err(&t, &fx.verifier), Error::InvalidSignature);
}

#[test]
fn ed25519_signature_over_a_hand_made_header_verifies_only_with_its_key() {
    // Sanity for the hand-made signing helpers used elsewhere in this file.
    let fx = fixture(Algorithm::EdDSA);
    let header = format!(
        r#"{{"alg":"EdDSA","kid":"{}"}}"#,
        fx.public_key().kid().unwrap()
    );
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
    let t = format!(
        "{input}.{}",
        b64(&ed25519_sign(&fx.signer, input.as_bytes()))
    );
    jws_ok(&t, &fx.verifier);
    let es = fixture(Algorithm::ES256);
    let header = format!(
        r#"{{"alg":"ES256","kid":"{}"}}"#,
        es.public_key().kid().unwrap()
    );
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
    let t = format!("{input}.{}", b64(&es256_sign(&es.signer, input.as_bytes())));
    jws_ok(&t, &es.verifier);
}
