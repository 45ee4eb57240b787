//! Sign and verify: jwtx against jsonwebtoken (aws-lc-rs backend) and against the floor, the
//! raw cost a hand-written verifier or signer cannot go below.
//!
//! Every algorithm gets ONE flask-jwt-extended-shaped access token, signed by jwtx at setup:
//! `{"fresh":false,"iat":…,"jti":uuid,"type":"access","sub":"alice","nbf":…,"csrf":uuid,
//! "exp":…,"roles":["user"]}`. The three verify variants all check that same token string.
//!
//! - `verify/<ALG>/jwtx`: `Codec::verify::<Roles>` (all of jwtx's strict checks).
//! - `verify/<ALG>/jsonwebtoken`: `jsonwebtoken::decode::<FullClaims>` with a `DecodingKey`
//!   built once and a `Validation` that checks `exp` and `nbf` with no leeway.
//! - `verify/<ALG>/floor`: split on '.', base64url-decode signature and payload into stack
//!   buffers, the raw HMAC / `ParsedPublicKey::verify_sig` check with a pre-parsed key, and
//!   `serde_json::from_slice` into a plain struct (no duplicate check, no validation).
//! - `sign/<ALG>/jwtx`: `codec.access_token("alice").claims(&roles).sign()`.
//! - `sign/<ALG>/jsonwebtoken`: the same token issued with `jsonwebtoken::encode` (an
//!   `EncodingKey` built once): read the clock, draw the two uuids (with `jwtx::uuid4`, the
//!   generator jwtx uses) and encode the same claims with the same header members.
//! - `sign/<ALG>/floor`: base64url of the fixed header and payload, the raw primitive sign
//!   with a pre-parsed key pair, base64url of the signature.
//!
//! `parts/…` benchmarks split HS256 (where fixed costs matter most) into its steps, time each
//! algorithm's bare signature check (`parts/<ALG>/sig_only`), and `jsonwebtoken::encode` of
//! claims built once (`parts/<ALG>/jsonwebtoken_encode_prebuilt`, no clock or uuids), so a
//! gap can be attributed and the sign comparison read both ways.
//!
//! Run: `cargo bench -p jwtx --bench jws`; smoke test: `cargo bench -p jwtx --bench jws -- --test`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jwtx::{Algorithm, Codec, Key};
use serde::{Deserialize, Serialize};

/// The application claims jwtx reads (registered claims are jwtx's own).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Roles {
    roles: Vec<String>,
}

/// The whole payload as a plain struct: what jsonwebtoken and the floor deserialize into.
#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct FullClaims {
    fresh: bool,
    iat: u64,
    jti: String,
    #[serde(rename = "type")]
    token_type: String,
    sub: String,
    nbf: u64,
    csrf: String,
    exp: u64,
    roles: Vec<String>,
}

/// The same payload for `jsonwebtoken::encode`, in flask-jwt-extended's member order.
#[derive(Serialize)]
struct IssueClaims<'a> {
    fresh: bool,
    iat: u64,
    jti: String,
    #[serde(rename = "type")]
    token_type: &'a str,
    sub: &'a str,
    nbf: u64,
    csrf: String,
    exp: u64,
    roles: &'a [String],
}

/// Access-token lifetime: a day, so the setup token outlives any benchmark run.
const TTL: u64 = 24 * 3600;

/// Pre-parsed aws-lc-rs keys for the floor.
enum Floor {
    /// Boxed like jwtx's own (the key state is over 1 KiB).
    Hmac(Box<hmac::Key>),
    Ecdsa(EcdsaKeyPair, ParsedPublicKey),
    Ed(Ed25519KeyPair, ParsedPublicKey),
    Rsa(RsaKeyPair, ParsedPublicKey),
}

impl Floor {
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Floor::Hmac(k) => hmac::verify(k, msg, sig).is_ok(),
            Floor::Ecdsa(_, p) | Floor::Ed(_, p) | Floor::Rsa(_, p) => {
                p.verify_sig(msg, sig).is_ok()
            }
        }
    }

    /// Signs `msg` and appends the base64url signature to `out`.
    fn sign_b64_into(&self, msg: &[u8], out: &mut String) {
        match self {
            Floor::Hmac(k) => URL_SAFE_NO_PAD.encode_string(hmac::sign(k, msg), out),
            Floor::Ecdsa(p, _) => {
                let sig = p.sign(&SystemRandom::new(), msg).unwrap();
                URL_SAFE_NO_PAD.encode_string(sig, out);
            }
            Floor::Ed(p, _) => URL_SAFE_NO_PAD.encode_string(p.sign(msg), out),
            Floor::Rsa(p, _) => {
                let mut sig = [0u8; 1024];
                let sig = &mut sig[..p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, sig)
                    .unwrap();
                URL_SAFE_NO_PAD.encode_string(sig, out);
            }
        }
    }
}

/// The floor verifier: split, decode signature and payload, check the signature, read the
/// claims into a plain struct.
fn floor_verify(floor: &Floor, token: &str) -> Option<FullClaims> {
    let (signing_input, sig_b64) = token.rsplit_once('.')?;
    let (_, payload_b64) = signing_input.split_once('.')?;
    let mut sig = [0u8; 1024];
    let n = URL_SAFE_NO_PAD
        .decode_slice(sig_b64.as_bytes(), &mut sig)
        .ok()?;
    let mut payload = [0u8; 2048];
    let m = URL_SAFE_NO_PAD
        .decode_slice(payload_b64.as_bytes(), &mut payload)
        .ok()?;
    if !floor.verify(signing_input.as_bytes(), &sig[..n]) {
        return None;
    }
    serde_json::from_slice(&payload[..m]).ok()
}

/// The floor signer: header and payload bytes in, compact JWS out.
fn floor_sign(floor: &Floor, header_b64: &str, payload: &[u8]) -> String {
    let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 360);
    out.push_str(header_b64);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let signing_len = out.len();
    let mut sig = String::with_capacity(344);
    floor.sign_b64_into(&out.as_bytes()[..signing_len], &mut sig);
    out.push('.');
    out.push_str(&sig);
    out
}

/// DER contents of a PEM block (the floor's keys come from the same PEM jsonwebtoken reads).
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// Everything one algorithm's benchmarks need, with the shared token.
struct Case {
    name: &'static str,
    codec: Codec,
    jwt_header: jsonwebtoken::Header,
    jwt_enc: jsonwebtoken::EncodingKey,
    jwt_dec: jsonwebtoken::DecodingKey,
    jwt_val: jsonwebtoken::Validation,
    floor: Floor,
    roles: Roles,
    token: String,
    /// The token's header segment and decoded payload, for the floor signer.
    header_b64: String,
    payload: Vec<u8>,
}

impl Case {
    fn new(alg: Algorithm) -> Case {
        use jsonwebtoken::{Algorithm as JA, DecodingKey, EncodingKey};
        let (key, jalg, enc, dec, floor) = match alg {
            Algorithm::HS256 => {
                let secret = b"0123456789abcdef0123456789abcdef-bench";
                (
                    Key::hmac(alg, secret).unwrap(),
                    JA::HS256,
                    EncodingKey::from_secret(secret),
                    DecodingKey::from_secret(secret),
                    Floor::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
                )
            }
            Algorithm::ES256 => {
                let key = Key::generate(alg).unwrap();
                let private = key.to_pkcs8_pem().unwrap();
                let public = key.to_public_pem().unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pem_der(&private),
                )
                .unwrap();
                let parsed =
                    ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pair.public_key())
                        .unwrap();
                (
                    key,
                    JA::ES256,
                    EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
                    DecodingKey::from_ec_pem(public.as_bytes()).unwrap(),
                    Floor::Ecdsa(pair, parsed),
                )
            }
            Algorithm::EdDSA => {
                let key = Key::generate(alg).unwrap();
                let private = key.to_pkcs8_pem().unwrap();
                let public = key.to_public_pem().unwrap();
                let pair = Ed25519KeyPair::from_pkcs8(&pem_der(&private)).unwrap();
                let parsed = ParsedPublicKey::new(&signature::ED25519, pair.public_key()).unwrap();
                (
                    key,
                    JA::EdDSA,
                    EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
                    DecodingKey::from_ed_pem(public.as_bytes()).unwrap(),
                    Floor::Ed(pair, parsed),
                )
            }
            Algorithm::RS256 => {
                let key = Key::generate(alg).unwrap();
                let private = key.to_pkcs8_pem().unwrap();
                let public = key.to_public_pem().unwrap();
                let pair = RsaKeyPair::from_pkcs8(&pem_der(&private)).unwrap();
                let parsed =
                    ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public_key())
                        .unwrap();
                (
                    key,
                    JA::RS256,
                    EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
                    DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
                    Floor::Rsa(pair, parsed),
                )
            }
            other => panic!("not benchmarked: {other}"),
        };

        // jsonwebtoken emits the same header members jwtx does (alg, typ, and kid for
        // asymmetric keys).
        let mut jwt_header = jsonwebtoken::Header::new(jalg);
        jwt_header.kid = key.kid().map(str::to_owned);

        // Equivalent to jwtx's defaults: exp required and checked, nbf checked, no leeway.
        let mut jwt_val = jsonwebtoken::Validation::new(jalg);
        jwt_val.leeway = 0;
        jwt_val.validate_exp = true;
        jwt_val.validate_nbf = true;
        jwt_val.set_required_spec_claims(&["exp", "sub"]);

        let codec = Codec::new(key).with_access_ttl(Some(Duration::from_secs(TTL)));
        let roles = Roles {
            roles: vec!["user".into()],
        };
        let token = codec
            .access_token("alice")
            .claims(&roles)
            .sign()
            .unwrap()
            .token;
        let mut segments = token.split('.');
        let header_b64 = segments.next().unwrap().to_owned();
        let payload = URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap();

        let case = Case {
            name: alg.as_str(),
            codec,
            jwt_header,
            jwt_enc: enc,
            jwt_dec: dec,
            jwt_val,
            floor,
            roles,
            token,
            header_b64,
            payload,
        };
        case.check();
        case
    }

    /// Every variant accepts the shared token and produces tokens the others accept, so the
    /// benchmarks compare equal work.
    fn check(&self) {
        let text = std::str::from_utf8(&self.payload).unwrap();
        for member in [
            r#"{"fresh":false,"iat":"#,
            r#","jti":""#,
            r#","type":"access","sub":"alice","nbf":"#,
            r#","csrf":""#,
            r#","exp":"#,
            r#","roles":["user"]}"#,
        ] {
            assert!(text.contains(member), "{member} not in {text}");
        }

        let v = self.jwtx_verify();
        assert_eq!(v.sub(), "alice");
        assert_eq!(v.custom(), &self.roles);
        let j = self.jsonwebtoken_verify();
        assert_eq!(
            (j.sub.as_str(), j.roles.as_slice()),
            ("alice", &["user".to_owned()][..])
        );
        let f = floor_verify(&self.floor, &self.token).unwrap();
        assert_eq!((f.sub.as_str(), f.token_type.as_str()), ("alice", "access"));
        assert!(!f.fresh && f.iat == f.nbf && f.exp == f.iat + TTL);
        // Change the first signature character (it carries 6 whole bits, so any letter is
        // canonical base64url).
        let mut tampered = self.token.clone();
        let at = tampered.rfind('.').unwrap() + 1;
        let other = if &tampered[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, other);
        assert!(floor_verify(&self.floor, &tampered).is_none());
        assert!(self.codec.verify::<Roles>(&tampered).is_err());

        for issued in [
            self.jwtx_sign(),
            self.jsonwebtoken_sign(),
            self.floor_sign(),
        ] {
            assert_eq!(
                self.codec.verify::<Roles>(&issued).unwrap().custom(),
                &self.roles
            );
            jsonwebtoken::decode::<FullClaims>(&issued, &self.jwt_dec, &self.jwt_val).unwrap();
        }
        let jwt_payload = URL_SAFE_NO_PAD
            .decode(self.jsonwebtoken_sign().split('.').nth(1).unwrap())
            .unwrap();
        assert_eq!(jwt_payload.len(), self.payload.len(), "same payload shape");
        if matches!(self.floor, Floor::Hmac(_) | Floor::Ed(..)) {
            // Deterministic signatures: the floor rebuilds the very token.
            assert_eq!(self.floor_sign(), self.token);
        }
    }

    fn jwtx_verify(&self) -> jwtx::Verified<Roles> {
        self.codec.verify::<Roles>(black_box(&self.token)).unwrap()
    }

    fn jsonwebtoken_verify(&self) -> FullClaims {
        jsonwebtoken::decode::<FullClaims>(black_box(&self.token), &self.jwt_dec, &self.jwt_val)
            .unwrap()
            .claims
    }

    fn jwtx_sign(&self) -> String {
        self.codec
            .access_token("alice")
            .claims(&self.roles)
            .sign()
            .unwrap()
            .token
    }

    fn jsonwebtoken_sign(&self) -> String {
        jsonwebtoken::encode(&self.jwt_header, &self.issue_claims(), &self.jwt_enc).unwrap()
    }

    /// Fresh claims, as an issuer builds them: clock read, two new uuids.
    fn issue_claims(&self) -> IssueClaims<'_> {
        let now = jsonwebtoken::get_current_timestamp();
        IssueClaims {
            fresh: false,
            iat: now,
            jti: jwtx::uuid4(),
            token_type: "access",
            sub: "alice",
            nbf: now,
            csrf: jwtx::uuid4(),
            exp: now + TTL,
            roles: &self.roles.roles,
        }
    }

    fn floor_sign(&self) -> String {
        floor_sign(
            &self.floor,
            black_box(&self.header_b64),
            black_box(&self.payload),
        )
    }
}

fn cases() -> Vec<Case> {
    [
        Algorithm::HS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
    ]
    .into_iter()
    .map(Case::new)
    .collect()
}

fn verify(c: &mut Criterion) {
    for case in cases() {
        let mut g = c.benchmark_group(format!("verify/{}", case.name));
        g.bench_function("jwtx", |b| b.iter(|| case.jwtx_verify()));
        g.bench_function("jsonwebtoken", |b| b.iter(|| case.jsonwebtoken_verify()));
        g.bench_function("floor", |b| {
            b.iter(|| floor_verify(&case.floor, black_box(&case.token)))
        });
        g.finish();
    }
}

fn sign(c: &mut Criterion) {
    for case in cases() {
        let mut g = c.benchmark_group(format!("sign/{}", case.name));
        g.bench_function("jwtx", |b| b.iter(|| case.jwtx_sign()));
        g.bench_function("jsonwebtoken", |b| b.iter(|| case.jsonwebtoken_sign()));
        g.bench_function("floor", |b| b.iter(|| case.floor_sign()));
        g.finish();
    }
}

/// HS256 split into steps, to attribute the gap between jwtx and the floor.
fn parts(c: &mut Criterion) {
    let case = Case::new(Algorithm::HS256);
    let (signing_input, sig_b64) = case.token.rsplit_once('.').unwrap();
    let payload_b64 = signing_input.split_once('.').unwrap().1;
    let keys = case.codec.keys();
    let key = keys.signer().unwrap();

    let mut g = c.benchmark_group("parts/HS256");
    // jwtx's JWS layer alone: split, decode, header rules, strict JSON check, HMAC.
    g.bench_function("jwtx_jws_verify", |b| {
        b.iter(|| {
            jwtx::jws::verify(
                black_box(&case.token),
                &keys,
                jwtx::jws::DEFAULT_MAX_TOKEN_LEN,
            )
            .unwrap()
        })
    });
    g.bench_function("b64_decode_sig_payload", |b| {
        b.iter(|| {
            let mut s = [0u8; 64];
            let mut p = [0u8; 2048];
            let n = URL_SAFE_NO_PAD
                .decode_slice(black_box(sig_b64), &mut s)
                .unwrap();
            let m = URL_SAFE_NO_PAD
                .decode_slice(black_box(payload_b64), &mut p)
                .unwrap();
            black_box((&s, &p));
            n + m
        })
    });
    g.bench_function("serde_plain_struct", |b| {
        b.iter(|| serde_json::from_slice::<FullClaims>(black_box(&case.payload)).unwrap())
    });
    g.bench_function("serde_roles_only", |b| {
        b.iter(|| serde_json::from_slice::<Roles>(black_box(&case.payload)).unwrap())
    });
    g.bench_function("serde_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&case.payload)).unwrap())
    });
    // jwtx's JWS signing layer alone (header precomputed, payload given).
    g.bench_function("jwtx_jws_sign", |b| {
        b.iter(|| jwtx::jws::sign(key, black_box(&case.payload), None).unwrap())
    });
    g.bench_function("uuid4", |b| b.iter(jwtx::uuid4));
    g.finish();

    for case in cases() {
        let (signing_input, sig_b64) = case.token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        let mut g = c.benchmark_group(format!("parts/{}", case.name));
        // The bare signature check (no base64, no JSON), with a pre-parsed key.
        g.bench_function("sig_only", |b| {
            b.iter(|| assert!(case.floor.verify(black_box(signing_input.as_bytes()), &sig)))
        });
        // jsonwebtoken::encode of claims built once (no clock, no uuid generation): the
        // cheapest way to call it, for reading the sign targets both ways.
        let prebuilt = case.issue_claims();
        g.bench_function("jsonwebtoken_encode_prebuilt", |b| {
            b.iter(|| {
                jsonwebtoken::encode(&case.jwt_header, black_box(&prebuilt), &case.jwt_enc).unwrap()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = verify, sign, parts
}
criterion_main!(benches);
