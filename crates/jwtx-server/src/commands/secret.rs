//! `jwtx secret generate`.

/// A new random 256-bit secret, hex-encoded (64 characters, so it also satisfies HS512 when
/// used as UTF-8 bytes).
pub(crate) fn generate() -> String {
    jwtx::secret_hex::<32>().to_string()
}
