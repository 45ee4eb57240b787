//! Randomness from the crypto library's CSPRNG.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// `N` random bytes, wiped on drop.
pub(crate) fn bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    // The system RNG only fails when the OS has no entropy source at all, which no supported
    // platform lacks; an all-zero fallback would be a silent catastrophe, so abort instead.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut out[..])
        .expect("the operating system's random number generator failed");
    out
}

/// A random RFC 4122 version 4 UUID in its 36-character hyphenated form, as
/// flask-jwt-extended uses for `jti` and `csrf`.
pub fn uuid4() -> String {
    let b = bytes::<16>();
    uuid::Builder::from_random_bytes(*b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Two independent random v4 UUIDs from one call to the RNG (a token's `jti` and `csrf`:
/// the RNG call, not the formatting, is the cost).
pub(crate) fn uuid4_pair() -> (String, String) {
    let b = bytes::<32>();
    let mut first = [0u8; 16];
    let mut second = [0u8; 16];
    first.copy_from_slice(&b[..16]);
    second.copy_from_slice(&b[16..]);
    let format = |bytes: [u8; 16]| {
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    };
    (format(first), format(second))
}

/// A new random secret of `N` bytes, hex-encoded (what `jwtx secret generate` prints).
pub fn secret_hex<const N: usize>() -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(N * 2));
    crate::hex::encode_into(&*bytes::<N>(), &mut s);
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid4_shape() {
        let u = super::uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, super::uuid4());
        assert_eq!(super::secret_hex::<32>().len(), 64);
        let (a, b) = super::uuid4_pair();
        assert_ne!(a, b);
        assert_eq!((&a[14..15], &b[14..15]), ("4", "4"));
    }
}
