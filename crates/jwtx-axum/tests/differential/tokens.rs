//! Hand-made inputs for the matrix: Flask's `jsonify` output (so jwtx's JSON bodies can be compared
//! byte for byte), base64url, and tokens signed or forged by hand with claims overridden, for the
//! cases neither library would mint.

use super::*;

/// Flask's `jsonify`: compact, sorted keys, non-ASCII as `\uXXXX`, trailing newline.
pub(crate) fn jsonify(v: &Value) -> String {
    fn str_into(s: &str, out: &mut String) {
        for c in serde_json::to_string(s).unwrap().chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, &Value> = m.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    str_into(k, out);
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            Value::String(s) => str_into(s, out),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out.push('\n');
    out
}

pub(crate) const B64: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(crate) fn b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub(crate) fn b64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c).unwrap() as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xff) as u8);
        }
    }
    out
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn hmac_b64(alg: aws_lc_rs::hmac::Algorithm, secret: &str, msg: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(alg, secret.as_bytes());
    b64(aws_lc_rs::hmac::sign(&key, msg.as_bytes()).as_ref())
}

pub(crate) const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// `header.payload` segments (already encoded) signed with HS256 and `secret`.
pub(crate) fn sign_segments(h: &str, p: &str, secret: &str) -> String {
    let input = format!("{h}.{p}");
    let sig = hmac_b64(aws_lc_rs::hmac::HMAC_SHA256, secret, &input);
    format!("{input}.{sig}")
}

/// A token with this header and payload text, HS256-signed with [`SECRET`].
pub(crate) fn forge(header: &str, payload: &str) -> String {
    sign_segments(&b64(header.as_bytes()), &b64(payload.as_bytes()), SECRET)
}

/// FJE-shaped access-token claims for `alice`, changed by `overrides` (`null` removes).
pub(crate) fn claims(overrides: Value) -> String {
    let t = now();
    let mut c = json!({
        "fresh": false, "iat": t, "jti": "9f1e6c3a-1b2d-4c5e-8f70-000000000001",
        "type": "access", "sub": "alice", "nbf": t, "csrf": CSRF, "exp": t + 900,
    });
    let m = c.as_object_mut().unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    c.to_string()
}

pub(crate) fn forged(overrides: Value) -> String {
    forge(HS256_HEADER, &claims(overrides))
}
