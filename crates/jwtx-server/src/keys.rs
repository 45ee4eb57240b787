//! Key material for the CLI: a configured HMAC secret, or a key file (PEM, JWK or JWKS).

use std::path::Path;
use std::time::Duration;

use jwtx::{Algorithm, Audience, Codec, Key, KeySet, Validation};

use crate::config::{self, Config};
use crate::error::CliError;

/// Reads a key file: PEM (for the configured asymmetric algorithm), or a JWK / JWK set.
pub(crate) fn read_key_file(path: &Path, alg: Algorithm) -> Result<KeySet, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read key file {}: {e}", path.display())))?;
    let trimmed = text.trim_start();
    let bad = |e: jwtx::KeyError| CliError::usage(format!("key file {}: {e}", path.display()));
    if trimmed.starts_with("-----BEGIN") {
        if alg.is_symmetric() {
            return Err(CliError::usage(format!(
                "key file {} is PEM, which needs an asymmetric algorithm: pass --alg (e.g. --alg ES256) \
                 or set JWTX_ALGORITHM",
                path.display()
            )));
        }
        Ok(Key::from_pem(alg, trimmed.as_bytes()).map_err(bad)?.into())
    } else if trimmed.starts_with('{') {
        KeySet::from_jwks_json(trimmed).map_err(bad)
    } else {
        Err(CliError::usage(format!(
            "key file {} is neither PEM nor a JWK/JWKS (JSON)",
            path.display()
        )))
    }
}

/// The key set the configuration names: `--key FILE`, else the HMAC `secret_key`.
pub(crate) fn keyset(config: &Config, key_file: Option<&Path>) -> Result<KeySet, CliError> {
    if let Some(path) = key_file {
        return read_key_file(path, config.algorithm);
    }
    let Some(secret) = &config.secret_key else {
        return Err(CliError::usage(
            "no key configured: set JWTX_SECRET_KEY (make one with `jwtx secret generate`), \
             pass --secret, or pass --key FILE with a PEM, JWK or JWK set",
        ));
    };
    if !config.algorithm.is_symmetric() {
        return Err(CliError::usage(format!(
            "{} needs an asymmetric key: pass --key FILE with a PEM, JWK or JWK set (the \
             server's own keys live in its store: see `jwtx keys list`)",
            config.algorithm
        )));
    }
    config::check_secret(config.algorithm, secret).map_err(|e| CliError::usage(e.to_string()))?;
    let key = Key::hmac(config.algorithm, secret.expose().as_bytes())
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(key.into())
}

/// A codec with the configuration's lifetimes, issuer, audience and leeway.
pub(crate) fn codec(config: &Config, keys: KeySet) -> Codec {
    let mut validation = Validation::new().leeway(config.leeway);
    let mut codec = Codec::new(keys)
        .with_access_ttl(Some(config.access_token_expires))
        .with_refresh_ttl(Some(config.refresh_token_expires));
    if let Some(iss) = &config.issuer {
        validation = validation.issuer(iss.clone());
        codec = codec.with_issuer(iss.clone());
    }
    if let Some(aud) = &config.audience {
        validation = validation.audience(aud.clone());
        codec = codec.with_audience(Audience::One(aud.clone()));
    }
    codec.with_validation(validation)
}

/// Parses a CLI duration flag.
pub(crate) fn duration_arg(s: &str) -> Result<Duration, String> {
    config::parse_duration(s)
}
