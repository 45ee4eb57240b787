//! GET requests to an issuer: HTTPS, or plain HTTP to a literal loopback address only; never a
//! redirect; every response bounded in size and every exchange in time.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::RemoteError;

/// Where an issuer's JWKS or feed is, checked when the source is built.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// The URL as given (no credentials in it: refused at parse).
    pub(crate) url: String,
    host: String,
    port: u16,
    tls: bool,
    host_header: HeaderValue,
    /// The path and query, origin-form.
    pub(crate) target: String,
}

impl Endpoint {
    /// Parses `url`: `https://host[:port]/path[?query]`, or `http://` to a literal loopback
    /// address (127.0.0.0/8, `[::1]`). Any other `http://` URL, userinfo and other schemes are
    /// refused: a key set or revocation feed read in clear text can be forged on the way.
    pub(crate) fn parse(what: &'static str, url: &str) -> Result<Endpoint, RemoteError> {
        let bad = |problem: String| RemoteError::Url {
            what,
            url: url.to_owned(),
            problem,
        };
        let uri: Uri = url.parse().map_err(|e| bad(format!("not a URL ({e})")))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(bad(format!("scheme {other:?}: use https"))),
            None => return Err(bad("no scheme: use https://".into())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host".into()))?
            .clone();
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are refused".into()));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        if !tls {
            let loopback = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(bad(
                    "plain http:// is allowed only to a literal loopback address \
                     (127.0.0.1, [::1]); use https://"
                        .into(),
                ));
            }
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("the host is not a valid Host header".into()))?;
        let target = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(Endpoint {
            url: url.to_owned(),
            host,
            port,
            tls,
            host_header,
            target,
        })
    }
}

/// How requests to an issuer are made: time and size bounds, and the TLS roots. Shared by
/// [`RemoteKeys`](super::RemoteKeys) and [`RevocationFeed`](super::RevocationFeed).
///
/// ```
/// use std::time::Duration;
/// use jwtx_axum::remote::HttpOptions;
///
/// let http = HttpOptions::new()
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(5))
///     .max_body(32 * 1024);
/// # let _ = http;
/// ```
#[derive(Clone)]
pub struct HttpOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) max_event: usize,
    webpki_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("max_event", &self.max_event)
            .field("webpki_roots", &self.webpki_roots)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions::new()
    }
}

impl HttpOptions {
    /// Connect within 5 s (TCP and TLS), whole exchange within 10 s, bodies up to 64 KiB,
    /// stream events up to 64 KiB, Mozilla's roots (webpki-roots).
    pub fn new() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
            max_event: 64 * 1024,
            webpki_roots: true,
            extra_roots: Vec::new(),
        }
    }

    /// The bound on the TCP connect and the TLS handshake.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The bound on a whole request, connect to last body byte (for a stream: to its first
    /// byte of body).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The largest response body read, in bytes; a larger one is a failed fetch.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The largest event (or line) read from an event stream, in bytes.
    pub fn max_event(mut self, bytes: usize) -> Self {
        self.max_event = bytes;
        self
    }

    /// Also trusts the certificates of `pem` (a private CA, a test's own). Refuses a text
    /// holding no certificate or a damaged one.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, RemoteError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RemoteError::Tls(format!("root certificates: {e}")))?;
        if certs.is_empty() {
            return Err(RemoteError::Tls(
                "root certificates: no CERTIFICATE block in the PEM text".into(),
            ));
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// Also trusts this DER certificate.
    pub fn add_root_certificate_der(mut self, der: Vec<u8>) -> Self {
        self.extra_roots.push(CertificateDer::from(der));
        self
    }

    /// Whether Mozilla's roots (compiled in, webpki-roots) are trusted (default true); turn
    /// off to trust only the roots added (a private PKI).
    pub fn webpki_roots(mut self, on: bool) -> Self {
        self.webpki_roots = on;
        self
    }

    fn check(&self) -> Result<(), RemoteError> {
        let zero = |field| RemoteError::Option {
            field,
            problem: "must be above zero".into(),
        };
        if self.connect_timeout.is_zero() {
            return Err(zero("connect_timeout"));
        }
        if self.timeout.is_zero() {
            return Err(zero("timeout"));
        }
        if self.max_body == 0 {
            return Err(zero("max_body"));
        }
        if self.max_event == 0 {
            return Err(zero("max_event"));
        }
        if !self.webpki_roots && self.extra_roots.is_empty() {
            return Err(RemoteError::Option {
                field: "webpki_roots",
                problem: "is off and no root certificate was added: nothing could be trusted"
                    .into(),
            });
        }
        Ok(())
    }
}

/// Makes the requests (a connection per request: a key set is fetched a few times an hour, a
/// feed holds one stream).
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) options: HttpOptions,
    tls: tokio_rustls::TlsConnector,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Connect, TLS or HTTP failure.
    Io(String),
    /// The bound on the connect or the exchange passed.
    Timeout(&'static str),
    /// A 3xx: redirects are never followed.
    Redirect(StatusCode),
    /// The body is over the bound.
    TooLarge(usize),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Io(e) => f.write_str(e),
            FetchError::Timeout(what) => write!(f, "{what} timed out"),
            FetchError::Redirect(s) => {
                write!(f, "answered {s}: redirects are not followed")
            }
            FetchError::TooLarge(n) => write!(f, "body over the {n}-byte bound"),
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A response whose body is read by the caller; the connection ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Streaming {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Incoming,
    _conn: AbortOnDrop,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Client {
    pub(crate) fn new(options: HttpOptions) -> Result<Client, RemoteError> {
        options.check()?;
        let mut roots = RootCertStore::empty();
        if options.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &options.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| RemoteError::Tls(format!("root certificate refused: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RemoteError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            options,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// GETs `target` on `ep` and reads the whole body, all within the time bound.
    pub(crate) async fn get(
        &self,
        ep: &Endpoint,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Fetched, FetchError> {
        let exchange = async {
            let res = self.open_inner(ep, target, headers).await?;
            if let Some(len) = res
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && len > self.options.max_body as u64
            {
                return Err(FetchError::TooLarge(self.options.max_body));
            }
            let body = Limited::new(res.body, self.options.max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        FetchError::TooLarge(self.options.max_body)
                    } else {
                        FetchError::Io(format!("reading the body: {e}"))
                    }
                })?
                .to_bytes();
            Ok(Fetched {
                status: res.status,
                headers: res.headers,
                body,
            })
        };
        tokio::time::timeout(self.options.timeout, exchange)
            .await
            .map_err(|_| FetchError::Timeout("the request"))?
    }

    /// GETs `target` on `ep` up to the response head (within the time bound); the caller
    /// reads the body (a stream) with bounds of its own.
    pub(crate) async fn open(
        &self,
        ep: &Endpoint,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Streaming, FetchError> {
        tokio::time::timeout(self.options.timeout, self.open_inner(ep, target, headers))
            .await
            .map_err(|_| FetchError::Timeout("the request"))?
    }

    async fn open_inner(
        &self,
        ep: &Endpoint,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Streaming, FetchError> {
        let connect_timeout = self.options.connect_timeout;
        let tcp = tokio::time::timeout(
            connect_timeout,
            TcpStream::connect((ep.host.as_str(), ep.port)),
        )
        .await
        .map_err(|_| FetchError::Timeout("connecting"))?
        .map_err(|e| FetchError::Io(format!("connecting to {}:{}: {e}", ep.host, ep.port)))?;
        let _ = tcp.set_nodelay(true);
        let mut req = Request::get(target)
            .header(header::HOST, ep.host_header.clone())
            .header(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("jwtx-axum/", env!("CARGO_PKG_VERSION"))),
            );
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Io(format!("building the request: {e}")))?;
        let (res, conn) = if ep.tls {
            let name = ServerName::try_from(ep.host.clone())
                .map_err(|e| FetchError::Io(format!("TLS server name {:?}: {e}", ep.host)))?;
            let tls = tokio::time::timeout(connect_timeout, self.tls.connect(name, tcp))
                .await
                .map_err(|_| FetchError::Timeout("the TLS handshake"))?
                .map_err(|e| FetchError::Io(format!("TLS with {}: {e}", ep.host)))?;
            send(TokioIo::new(tls), req).await?
        } else {
            send(TokioIo::new(tcp), req).await?
        };
        let (parts, body) = res.into_parts();
        if parts.status.is_redirection() {
            return Err(FetchError::Redirect(parts.status));
        }
        Ok(Streaming {
            status: parts.status,
            headers: parts.headers,
            body,
            _conn: conn,
        })
    }
}

/// One HTTP/1.1 exchange on `io`; the connection task lives as long as the returned guard.
async fn send<IO>(
    io: IO,
    req: Request<Empty<Bytes>>,
) -> Result<(http::Response<Incoming>, AbortOnDrop), FetchError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| FetchError::Io(format!("HTTP handshake: {e}")))?;
    let conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Io(format!("HTTP: {e}")))?;
    Ok((res, conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_literal_loopback() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "https://issuer.example:8443/jwks?x=1",
            "http://127.0.0.1:5000/jwks",
            "http://127.8.9.10/jwks",
            "http://[::1]:5000/jwks",
        ] {
            assert!(Endpoint::parse("jwks_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example/jwks",
            "http://localhost:5000/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "ftp://issuer.example/jwks",
            "https://user:pw@issuer.example/jwks",
            "issuer.example/jwks",
            "",
        ] {
            assert!(Endpoint::parse("jwks_url", bad).is_err(), "{bad}");
        }
        let ep = Endpoint::parse("jwks_url", "http://[::1]:5000/a?b=c").unwrap();
        assert_eq!((ep.host.as_str(), ep.port), ("::1", 5000));
        assert_eq!(ep.target, "/a?b=c");
        assert_eq!(ep.host_header, "[::1]:5000");
    }
}
