//! Lowercase hexadecimal, as the store writes secrets and digests (HMAC keys, service
//! credential digests, key ids) and `jwtx secret generate` prints them.

use zeroize::Zeroizing;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// `bytes` as lowercase hex.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    encode_into(bytes, &mut out);
    out
}

/// The bytes of hex `text` (either case), wiped on drop; `None` for an odd length or a
/// character that is not a hex digit.
pub(crate) fn decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    for pair in text.as_bytes().chunks_exact(2) {
        out.push(u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x1a];
        assert_eq!(encode(&bytes), "007f80ff1a");
        assert_eq!(decode("007f80ff1a").unwrap().as_slice(), bytes);
        assert_eq!(decode("007F80FF1A").unwrap().as_slice(), bytes);
        for bad in ["0", "0g", "+1", "é0", " 00"] {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
        assert_eq!(decode("").unwrap().len(), 0);
    }
}
