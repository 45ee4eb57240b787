//! The key source over HTTPS: a private root added, or the issuer is not trusted.

use std::sync::Arc;
use std::time::Duration;

use jwtx_axum::remote::{HttpOptions, RemoteError, RemoteKeys};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::*;

/// Serves `body` as JSON over HTTPS on 127.0.0.1 with a self-signed certificate: the address
/// and the certificate's PEM.
async fn https_issuer(body: String) -> (std::net::SocketAddr, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, pem)
}

#[tokio::test]
async fn https_with_a_private_root_and_only_with_it() {
    let a = key("a");
    let (addr, pem) = https_issuer(jwks(&[&a])).await;
    let url = format!("https://{addr}/jwks");
    let quick = || HttpOptions::new().timeout(Duration::from_secs(2));

    let trusted = RemoteKeys::builder(&url)
        .http(quick().add_root_certificates_pem(pem.as_bytes()).unwrap())
        .start()
        .unwrap();
    assert!(trusted.ready(Duration::from_secs(10)).await);
    let app = app(manager(trusted, None));
    assert_eq!(
        call(&app, &token(&a, json!({}))).await,
        (200, "alice".into())
    );

    // Mozilla's roots do not vouch for a self-signed certificate.
    let untrusted = RemoteKeys::builder(&url).http(quick()).start().unwrap();
    assert!(!untrusted.ready(Duration::from_secs(2)).await);

    // Neither roots nor a usable root: refused at build.
    assert!(matches!(
        RemoteKeys::builder(&url)
            .http(quick().webpki_roots(false))
            .start(),
        Err(RemoteError::Option { .. })
    ));
    assert!(
        HttpOptions::new()
            .add_root_certificates_pem(b"not pem")
            .is_err()
    );
}
