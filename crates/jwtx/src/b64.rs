//! Canonical base64url (RFC 7515 §2): no padding, no `+` `/`, no whitespace, no non-zero
//! trailing bits. Anything else is rejected, so every token has exactly one encoding.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes without padding, appending to `out`.
pub(crate) fn encode_into(input: &[u8], out: &mut String) {
    ENGINE.encode_string(input, out);
}

/// Encodes without padding.
pub(crate) fn encode(input: &[u8]) -> String {
    ENGINE.encode(input)
}

/// Decodes canonical base64url, appending to `out`. Returns the decoded length.
pub(crate) fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<usize, ()> {
    let start = out.len();
    ENGINE.decode_vec(input, out).map_err(|_| ())?;
    Ok(out.len() - start)
}

/// Decodes canonical base64url into `out`, which must be large enough; returns the length.
pub(crate) fn decode_slice(input: &[u8], out: &mut [u8]) -> Result<usize, ()> {
    ENGINE.decode_slice(input, out).map_err(|_| ())
}

/// Decodes canonical base64url into a new vector.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, ()> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4 + 1);
    decode_into(input, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_input_decodes() {
        assert_eq!(decode(b"YWJj").unwrap(), b"abc");
        assert_eq!(decode(b"YWI").unwrap(), b"ab");
        assert!(decode(b"YWI=").is_err(), "padding");
        assert!(decode(b"YWJ").is_err(), "non-zero trailing bits");
        assert!(decode(b"YW J").is_err(), "whitespace");
        assert!(decode(b"++//").is_err(), "standard alphabet");
        assert!(decode(b"Y").is_err(), "impossible length");
        assert_eq!(decode(b"-_8").unwrap(), [0xfb, 0xff]);
    }
}
