//! Project Wycheproof conformance, through jwtx's public API only.
//!
//! * The two JOSE files (`json_web_signature_test.json`, `json_web_key_test.json`) are in the
//!   repository, in `tests/data/wycheproof/` (provenance, licence and notes in its README.md).
//!   Every case is run end to end: the group's JWK / JWKS is loaded with
//!   [`KeySet::from_jwks_json`] (a key that cannot be built means the case is rejected), then
//!   the token goes through [`jws::verify`]. Where jwtx's strict rules decide differently from a
//!   label, the overrides table of the data directory's README wins (see [`JWS_OVERRIDES`]).
//! * The primitive files (ECDSA P-256 P1363, Ed25519, HMAC-SHA256, RSA PKCS#1 v1.5 and PSS,
//!   2048-bit, SHA-256) come from the `wycheproof` crate. Their messages are arbitrary bytes, so
//!   they cannot be wrapped in a JWS; each vector runs through [`Key::verify_signature`] (the raw
//!   primitive behind `jws::verify`) with the key built from every encoding the vector offers
//!   (SPKI DER, PEM, JWK), and all encodings must agree.
//!
//! Every test collects all mismatches and fails once with the full list, and asserts how many
//! cases it saw, so a truncated or vanished data file cannot pass.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtx::{Algorithm, Key, KeyError, KeySet, jws};
use serde_json::Value;
use wycheproof::TestResult;

// ------------------------------------------------------------------------------ JOSE files

/// Cases in `json_web_signature_test.json` at the pinned commit.
const JWS_CASES: usize = 401;
/// Cases in `json_web_key_test.json` at the pinned commit.
const JWK_CASES: usize = 26;

/// Where jwtx's contract decides differently from a label in `json_web_signature_test.json`
/// (the table in `tests/data/wycheproof/README.md`): (tcId, accepted?, why).
const JWS_OVERRIDES: &[(u64, bool, &str)] = &[
    (
        372,
        false,
        "non-base64url character in the header: only canonical base64url",
    ),
    (
        373,
        false,
        "non-base64url character in the payload: only canonical base64url",
    ),
    (
        346,
        false,
        "PS384 token, JWK alg PS256: the algorithm comes from the key",
    ),
    (
        350,
        false,
        "PS384 token, JWK alg PS256: the algorithm comes from the key",
    ),
    (
        347,
        false,
        "ES512 token, JWK alg \"ES521\": no such algorithm, ES512 unsupported",
    ),
    (
        351,
        false,
        "ES512 token, JWK alg \"ES521\": no such algorithm, ES512 unsupported",
    ),
    (
        367,
        true,
        "upstream data bug: byte-identical to the valid tcId 357",
    ),
    (
        370,
        true,
        "upstream data bug: byte-identical to the valid tcId 357",
    ),
];

/// The in-repository copy of the JOSE vectors.
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wycheproof")
}

/// Reads a JOSE vector file, failing loudly (never skipping) when it is not there.
fn load(name: &str) -> Value {
    load_from(&data_dir(), name)
}

fn load_from(dir: &std::path::Path, name: &str) -> Value {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "\n\nWycheproof vector file not found: {} ({e}).\n\
             The JOSE vectors are part of the repository (crates/jwtx/tests/data/wycheproof/); \
             restore them from git (`git checkout -- crates/jwtx/tests/data/wycheproof`) or, \
             for a new version, copy {name} from C2SP/wycheproof testvectors_v1/ as that \
             directory's README.md describes.\n",
            path.display()
        )
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Accept,
    Reject,
    Either,
}

impl Expect {
    fn from_label(label: &str) -> Expect {
        match label {
            "valid" => Expect::Accept,
            "invalid" => Expect::Reject,
            "acceptable" => Expect::Either,
            other => panic!("unknown Wycheproof result label {other:?}"),
        }
    }

    fn allows(self, accepted: bool) -> bool {
        match self {
            Expect::Accept => accepted,
            Expect::Reject => !accepted,
            Expect::Either => true,
        }
    }
}

#[derive(Default)]
struct Tally {
    seen: usize,
    accepted: usize,
    /// Rejection reasons (`Error::reason()` or `key:<KeyError variant>`), for the summary.
    reasons: BTreeMap<String, usize>,
    mismatches: Vec<String>,
    /// Cases rejected only because the payload is not a JSON object. Wycheproof payloads are
    /// arbitrary bytes and the JWS layer must not look at them, so such a rejection means the
    /// check the case targets (signature, base64, header) never ran.
    vacuous: Vec<String>,
}

impl Tally {
    fn record(&mut self, id: &str, comment: &str, expect: Expect, outcome: &Result<(), String>) {
        self.seen += 1;
        let accepted = outcome.is_ok();
        if accepted {
            self.accepted += 1;
        }
        if let Err(e) = outcome {
            let reason = e.split(':').next().unwrap_or(e).to_owned();
            *self.reasons.entry(reason).or_default() += 1;
        }
        if !expect.allows(accepted) {
            self.mismatches.push(format!(
                "  {id} {comment:?}: expected {expect:?}, got {}{}",
                if accepted { "accepted" } else { "rejected" },
                match outcome {
                    Ok(()) => String::new(),
                    Err(e) => format!(" ({e})"),
                }
            ));
        }
    }

    fn finish(self, what: &str, expected_total: usize) {
        eprintln!(
            "{what}: {} cases, {} accepted, {} rejected; rejection reasons: {:?}",
            self.seen,
            self.accepted,
            self.seen - self.accepted,
            self.reasons
        );
        let mut failure = String::new();
        if !self.mismatches.is_empty() {
            failure += &format!(
                "{what}: {} of {} cases disagree with the expected outcome:\n{}\n",
                self.mismatches.len(),
                self.seen,
                self.mismatches.join("\n")
            );
        }
        if !self.vacuous.is_empty() {
            failure += &format!(
                "{what}: {} cases were rejected only because their payload is not a JSON object \
                 (the JWS layer must accept arbitrary payloads, so the check each case targets \
                 never ran): {}\n",
                self.vacuous.len(),
                self.vacuous.join(", ")
            );
        }
        assert!(failure.is_empty(), "{failure}");
        assert_eq!(
            self.seen, expected_total,
            "{what}: saw {} cases, expected {expected_total}: the vector file changed or was cut",
            self.seen
        );
    }
}

fn key_error_name(e: &KeyError) -> String {
    let dbg = format!("{e:?}");
    let name = dbg.split([' ', '{', '(']).next().unwrap_or(&dbg).to_owned();
    format!("key:{name}: {e}")
}

/// Runs one JOSE case: build the key set from the group's `public` (else `private`) JWK or
/// JWKS, then verify the compact token. `Err` carries why it was rejected.
fn run_jose_case(group: &Value, token: &str) -> Result<(), String> {
    let key = group
        .get("public")
        .or_else(|| group.get("private"))
        .expect("every group has a public or private key");
    let keys = KeySet::from_jwks_json(&key.to_string()).map_err(|e| key_error_name(&e))?;
    let jws = jws::verify(token, &keys, jws::DEFAULT_MAX_TOKEN_LEN)
        .map_err(|e| format!("{}: {e:?}", e.reason()))?;
    // An accepted token must hand back exactly the payload it carries.
    let payload_b64 = token.split('.').nth(1).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|e| format!("accepted, but its payload is not base64url: {e}"))?;
    if jws.payload != payload {
        return Err("accepted, but the returned payload differs from the token's".into());
    }
    Ok(())
}

/// Runs every case of one JOSE file and fails with every mismatch.
fn run_jose_file(name: &str, overrides: &[(u64, bool, &str)], expected_total: usize) {
    let data = load(name);
    let declared = data["numberOfTests"].as_u64().unwrap_or(0) as usize;
    assert_eq!(
        declared, expected_total,
        "{name} declares {declared} tests; this suite was written for {expected_total}"
    );
    let mut tally = Tally::default();
    let mut overrides_applied = Vec::new();
    let mut json_serialized = 0;
    for group in data["testGroups"].as_array().expect("testGroups") {
        for case in group["tests"].as_array().expect("tests") {
            let tc_id = case["tcId"].as_u64().expect("tcId");
            let comment = case["comment"].as_str().unwrap_or_default();
            // Compact strings, or (JSON serialization) an object or a string holding one.
            let token = match &case["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut expect = Expect::from_label(case["result"].as_str().expect("result"));
            if let Some(&(_, accept, _)) = overrides.iter().find(|(id, _, _)| *id == tc_id) {
                expect = if accept {
                    Expect::Accept
                } else {
                    Expect::Reject
                };
                overrides_applied.push(tc_id);
            }
            // JWS JSON serialization is not the compact form: jwtx never accepts it.
            if token.trim_start().starts_with('{') {
                json_serialized += 1;
                expect = Expect::Reject;
            }
            let outcome = run_jose_case(group, &token);
            let id = format!(
                "tcId {tc_id} [{}] {:?}",
                group["comment"].as_str().unwrap_or_default(),
                case["flags"]
            );
            if let Err(e) = &outcome
                && expect != Expect::Accept
                && e.starts_with("bad_json: Json { segment: Payload")
            {
                tally.vacuous.push(tc_id.to_string());
            }
            tally.record(&id, comment, expect, &outcome);
        }
    }
    overrides_applied.sort_unstable();
    let mut wanted: Vec<u64> = overrides.iter().map(|o| o.0).collect();
    wanted.sort_unstable();
    assert_eq!(
        overrides_applied, wanted,
        "{name}: some overridden tcIds were not found in the file"
    );
    if name == "json_web_signature_test.json" {
        assert!(
            json_serialized >= 1,
            "{name}: expected at least one JSON-serialized JWS case"
        );
    }
    tally.finish(name, expected_total);
}

#[test]
fn json_web_signature_vectors() {
    run_jose_file("json_web_signature_test.json", JWS_OVERRIDES, JWS_CASES);
}

#[test]
fn json_web_key_vectors() {
    run_jose_file("json_web_key_test.json", &[], JWK_CASES);
}

#[test]
fn missing_data_dir_fails_loudly() {
    // The loader panics, naming the path and where the data comes from; it never skips.
    let missing = std::path::Path::new("/nonexistent/jwtx-wycheproof");
    let payload = std::panic::catch_unwind(|| load_from(missing, "json_web_signature_test.json"))
        .expect_err("a missing vector file must fail the test");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        msg.contains("/nonexistent/jwtx-wycheproof/json_web_signature_test.json")
            && msg.contains("crates/jwtx/tests/data/wycheproof"),
        "{msg}"
    );
}

#[test]
fn overrides_match_the_data_readme() {
    // The README beside the data is where a reader looks for why a label is overridden: every
    // overridden tcId must be in its table, with the outcome the test applies.
    let readme = std::fs::read_to_string(data_dir().join("README.md")).unwrap();
    for &(tc_id, accept, why) in JWS_OVERRIDES {
        let outcome = if accept {
            "| accepted |"
        } else {
            "| rejected |"
        };
        let row = readme
            .lines()
            .find(|l| {
                l.starts_with("| ")
                    && l.split('|')
                        .nth(1)
                        .is_some_and(|ids| ids.split(',').any(|id| id.trim() == tc_id.to_string()))
            })
            .unwrap_or_else(|| panic!("tcId {tc_id} ({why}) is not in the data README's table"));
        assert!(
            row.contains(outcome),
            "tcId {tc_id}: README row {row:?} lacks {outcome:?}"
        );
    }
}

// ------------------------------------------------------------------------- primitives

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Left-pads (or strips leading zeros from) a big-endian integer to exactly `len` bytes.
fn fixed(b: &[u8], len: usize) -> Vec<u8> {
    let b = strip_zeros(b);
    assert!(b.len() <= len, "coordinate longer than {len} bytes");
    let mut out = vec![0; len - b.len()];
    out.extend_from_slice(b);
    out
}

/// Keys built from each encoding a vector group offers. All must build or all must fail.
struct Keys {
    built: Vec<(&'static str, Key)>,
    failed: Vec<String>,
}

impl Keys {
    fn new(candidates: Vec<(&'static str, Result<Key, KeyError>)>) -> Keys {
        let mut built = Vec::new();
        let mut failed = Vec::new();
        for (how, k) in candidates {
            match k {
                Ok(k) => built.push((how, k)),
                Err(e) => failed.push(format!("{how}: {e}")),
            }
        }
        Keys { built, failed }
    }

    /// Verifies with every built key; `Err` if the encodings disagree or none built.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<bool, String> {
        if !self.failed.is_empty() {
            return Err(format!("key rejected: {}", self.failed.join("; ")));
        }
        let verdicts: Vec<(&str, bool)> = self
            .built
            .iter()
            .map(|(how, k)| (*how, k.verify_signature(msg, sig)))
            .collect();
        if verdicts.iter().all(|v| v.1 == verdicts[0].1) {
            Ok(verdicts[0].1)
        } else {
            Err(format!("key encodings disagree: {verdicts:?}"))
        }
    }
}

/// Records one primitive vector: accepted iff the key verified it.
fn record_primitive(
    tally: &mut Tally,
    tc_id: usize,
    comment: &str,
    flags: &dyn std::fmt::Debug,
    expect: Expect,
    verdict: Result<bool, String>,
) {
    let outcome = match verdict {
        Ok(true) => Ok(()),
        Ok(false) => Err("signature: rejected by the primitive".to_owned()),
        Err(e) => {
            // Disagreeing encodings are a failure whatever the label says.
            if e.starts_with("key encodings disagree") {
                tally
                    .mismatches
                    .push(format!("  tcId {tc_id} {comment:?}: {e}"));
            }
            Err(e)
        }
    };
    tally.record(
        &format!("tcId {tc_id} {flags:?}"),
        comment,
        expect,
        &outcome,
    );
}

fn expect_of(r: TestResult) -> Expect {
    match r {
        TestResult::Valid => Expect::Accept,
        TestResult::Invalid => Expect::Reject,
        TestResult::Acceptable => Expect::Either,
    }
}

#[test]
fn ecdsa_p256_sha256_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let mut candidates = vec![
            ("SPKI DER", Key::from_der(Algorithm::ES256, &group.der)),
            ("PEM", Key::from_pem(Algorithm::ES256, group.pem.as_bytes())),
        ];
        // The uncompressed point, wrapped as a JWK (coordinates are exactly 32 bytes).
        let jwk = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            b64(&fixed(&group.key.affine_x, 32)),
            b64(&fixed(&group.key.affine_y, 32))
        );
        candidates.push((
            "JWK",
            jwtx::Jwk::from_json(&jwk).and_then(|j| Key::from_jwk(&j)),
        ));
        if let Some(j) = &group.jwk {
            let jwk = format!(
                r#"{{"kty":"EC","crv":"P-256","alg":"ES256","kid":{:?},"x":"{}","y":"{}"}}"#,
                j.kid,
                b64(&j.affine_x),
                b64(&j.affine_y)
            );
            candidates.push((
                "vector JWK",
                jwtx::Jwk::from_json(&jwk).and_then(|j| Key::from_jwk(&j)),
            ));
        }
        let keys = Keys::new(candidates);
        for t in &group.tests {
            let verdict = keys.verify(&t.msg, &t.sig);
            record_primitive(
                &mut tally,
                t.tc_id,
                &t.comment,
                &t.flags,
                expect_of(t.result),
                verdict,
            );
        }
    }
    tally.finish("ecdsa_secp256r1_sha256_p1363", set.number_of_tests);
    assert_eq!(set.number_of_tests, 262, "vector count changed");
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":{:?},"x":"{}"}}"#,
            group.jwk.kid,
            b64(&group.jwk.x)
        );
        let keys = Keys::new(vec![
            ("SPKI DER", Key::from_der(Algorithm::EdDSA, &group.der)),
            ("PEM", Key::from_pem(Algorithm::EdDSA, group.pem.as_bytes())),
            (
                "JWK",
                jwtx::Jwk::from_json(&jwk).and_then(|j| Key::from_jwk(&j)),
            ),
        ]);
        for t in &group.tests {
            let verdict = keys.verify(&t.msg, &t.sig);
            record_primitive(
                &mut tally,
                t.tc_id,
                &t.comment,
                &t.flags,
                expect_of(t.result),
                verdict,
            );
        }
    }
    tally.finish("ed25519", set.number_of_tests);
    assert_eq!(set.number_of_tests, 151, "vector count changed");
}

#[test]
fn hmac_sha256() {
    use wycheproof::mac::{TestName, TestSet};
    let set = TestSet::load(TestName::HmacSha256).unwrap();
    let mut tally = Tally::default();
    let mut short_keys = 0;
    let mut truncated_rejected = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            // jwtx refuses HS256 secrets shorter than 32 bytes by design (`KeyError::WeakSecret`), so the
            // vector cannot be run; the refusal itself is checked and counted as a rejection.
            if t.key.len() < 32 {
                match Key::hmac(Algorithm::HS256, &t.key) {
                    Err(KeyError::WeakSecret { len, min: 32, .. }) if len == t.key.len() => {}
                    other => tally.mismatches.push(format!(
                        "  tcId {}: a {}-byte HS256 secret must be refused, got {other:?}",
                        t.tc_id,
                        t.key.len()
                    )),
                }
                short_keys += 1;
                continue;
            }
            let key = Key::hmac(Algorithm::HS256, &t.key).unwrap();
            // A JWS verifier takes the full 32-byte tag only: truncated tags are rejected
            // even where the vector says they are the right truncation.
            let full_tag = group.tag_size == 256 && t.tag.len() == 32;
            let expect = if !full_tag {
                Expect::Reject
            } else {
                expect_of(t.result)
            };
            let accepted = key.verify_signature(&t.msg, &t.tag);
            if !full_tag && !accepted {
                truncated_rejected += 1;
            }
            // Through an HS256 `Key` with a 32+ byte secret, the JWS path's only primitive.
            let outcome = if accepted {
                Ok(())
            } else {
                Err("signature: rejected".to_owned())
            };
            tally.record(
                &format!("tcId {} {:?}", t.tc_id, t.flags),
                &t.comment,
                expect,
                &outcome,
            );
        }
    }
    // Every vector not run because its key is short must be accounted for explicitly.
    tally.seen += short_keys;
    eprintln!(
        "hmac_sha256: {short_keys} vectors skipped (secret < 32 bytes, refused at key build), \
         {truncated_rejected} truncated tags rejected"
    );
    assert!(truncated_rejected > 0, "expected truncated-tag vectors");
    tally.finish("hmac_sha256", set.number_of_tests);
    assert_eq!(set.number_of_tests, 174, "vector count changed");
}

/// RSA keys of a group, from SPKI DER, PKCS#1 DER, PEM and JWK (n, e).
fn rsa_keys(alg: Algorithm, der: &[u8], asn: &[u8], pem: &str, n: &[u8], e: &[u8]) -> Keys {
    let jwk = format!(
        r#"{{"kty":"RSA","alg":"{alg}","n":"{}","e":"{}"}}"#,
        b64(strip_zeros(n)),
        b64(strip_zeros(e))
    );
    Keys::new(vec![
        ("SPKI DER", Key::from_der(alg, der)),
        ("PKCS#1 DER", Key::from_der(alg, asn)),
        ("PEM", Key::from_pem(alg, pem.as_bytes())),
        (
            "JWK",
            jwtx::Jwk::from_json(&jwk).and_then(|j| Key::from_jwk(&j)),
        ),
    ])
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa2048Sha256).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        // RSA keys under 2048 bits are refused by design; none are in this file.
        assert!(
            group.key_size >= 2048,
            "unexpected {}-bit key",
            group.key_size
        );
        let keys = rsa_keys(
            Algorithm::RS256,
            &group.der,
            &group.asn_key,
            &group.pem,
            &group.key.n,
            &group.key.e,
        );
        for t in &group.tests {
            let verdict = keys.verify(&t.msg, &t.sig);
            record_primitive(
                &mut tally,
                t.tc_id,
                &t.comment,
                &t.flags,
                expect_of(t.result),
                verdict,
            );
        }
    }
    tally.finish("rsa_signature_2048_sha256", set.number_of_tests);
    assert_eq!(set.number_of_tests, 259, "vector count changed");
}

#[test]
fn rsa_pss_2048_sha256_mgf1_32() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPss2048Sha256Mgf1SaltLen32).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert!(
            group.key_size >= 2048,
            "unexpected {}-bit key",
            group.key_size
        );
        assert_eq!(group.salt_size, 32);
        let keys = rsa_keys(
            Algorithm::PS256,
            &group.der,
            &group.asn_key,
            &group.pem,
            &group.key.n,
            &group.key.e,
        );
        for t in &group.tests {
            let verdict = keys.verify(&t.msg, &t.sig);
            record_primitive(
                &mut tally,
                t.tc_id,
                &t.comment,
                &t.flags,
                expect_of(t.result),
                verdict,
            );
        }
    }
    tally.finish("rsa_pss_2048_sha256_mgf1_32", set.number_of_tests);
    assert_eq!(set.number_of_tests, 108, "vector count changed");
}

/// A sanity check of the summary machinery: mismatches are reported with every field.
#[test]
fn tally_reports_mismatches() {
    let mut t = Tally::default();
    t.record(
        "tcId 1",
        "c",
        Expect::Accept,
        &Err("bad_signature: InvalidSignature".into()),
    );
    t.record("tcId 2", "c", Expect::Reject, &Ok(()));
    t.record("tcId 3", "c", Expect::Either, &Ok(()));
    assert_eq!(t.mismatches.len(), 2);
    let mut s = String::new();
    for m in &t.mismatches {
        writeln!(s, "{m}").unwrap();
    }
    assert!(s.contains("tcId 1") && s.contains("InvalidSignature") && s.contains("tcId 2"));
}
