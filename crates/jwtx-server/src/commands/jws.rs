//! `jwtx jws verify`: the JWS layer alone.

use jwtx::KeySet;

use crate::error::CliError;

/// Verifies header rules and signature only and returns the payload text.
pub(crate) fn verify(keys: &KeySet, token: &str) -> Result<String, CliError> {
    let jws = jwtx::jws::verify(token, keys, jwtx::jws::DEFAULT_MAX_TOKEN_LEN)
        .map_err(|e| super::rejection("JWS", &e))?;
    // The JWS layer allows any payload octets: text is printed as is, anything else as the
    // token's own base64url payload segment (never a lossy rendering).
    match String::from_utf8(jws.payload) {
        Ok(text) => Ok(text),
        Err(_) => {
            eprintln!("note: the payload is not UTF-8; printing it base64url-encoded");
            Ok(token.split('.').nth(1).unwrap_or_default().to_owned())
        }
    }
}
