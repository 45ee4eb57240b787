//! TLS for `jwtx serve` when `tls_cert` and `tls_key` are set: rustls on aws-lc-rs, TLS 1.2
//! and 1.3, HTTP/1.1 over ALPN. Handshakes run in their own tasks with a deadline and a cap
//! on how many are in flight, so a slow or silent client never holds up `accept`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::CliError;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in flight at most on each worker thread (each holds a socket and some buffers).
const MAX_HANDSHAKES: usize = 1024;

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

/// A listener that yields connections whose TLS handshake has completed.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; handshakes run in the background.
    pub(crate) fn new<L>(mut tcp: L, config: Arc<ServerConfig>) -> io::Result<TlsListener>
    where
        L: axum::serve::Listener<Io = TcpStream, Addr = SocketAddr>,
    {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            while !tx.is_closed() {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                // `Listener::accept` retries failed accepts itself.
                let (stream, addr) = tcp.accept().await;
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends with the listener; wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
