//! TLS for `jwtx serve` when `tls_cert` and `tls_key` are set: rustls on aws-lc-rs, TLS 1.2
//! and 1.3, HTTP/1.1 over ALPN. Each handshake runs in its connection's own task, within
//! `header_read_timeout` of accept, and a connection still in its handshake is the first to
//! be shed at `max_connections` (`connections.rs`): no pool of handshake permits that silent
//! clients could hold, so a slow or silent client never holds up `accept` or a new client.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::CliError;

/// Reads the certificate chain and private key (PEM) into a rustls configuration.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, CliError> {
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        CliError::usage(format!(
            "{what} {}: {e}; set tls_cert to a PEM certificate chain and tls_key to its PEM \
             private key",
            path.display()
        ))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read the certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("cannot read the certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad(
            "no certificate in",
            cert,
            &"the file holds no CERTIFICATE block",
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad("cannot read the private key", key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::usage(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| bad("the key does not fit the certificate", key, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
