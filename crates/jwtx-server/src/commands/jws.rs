//! `jwtx jws verify`: the JWS layer alone.

use jwtx::KeySet;

use crate::error::CliError;

/// Verifies header rules and signature only and returns the payload text.
pub fn verify(keys: &KeySet, token: &str) -> Result<String, CliError> {
    let jws = jwtx::jws::verify(token, keys, jwtx::jws::DEFAULT_MAX_TOKEN_LEN)
        .map_err(|e| super::rejection("JWS", &e))?;
    // The JSON checker has already proven the payload is UTF-8.
    Ok(String::from_utf8_lossy(&jws.payload).into_owned())
}
