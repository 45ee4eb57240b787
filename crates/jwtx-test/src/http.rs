//! A small HTTP/1.1 test client over `std::net::TcpStream`, for tests that talk to a real
//! process (the `jwtx serve` binary, the jwtx-axum examples): a [`Client`] for one address,
//! a [`Request`] builder (method, path, headers, body, JSON), and a [`Response`] with the
//! status, headers, body text, JSON and cookies.
//!
//! Every request goes on a connection of its own with `Connection: close` and an explicit
//! `Content-Length`, and the whole answer is read to the end. [`read_response`] reads one
//! answer from a connection the test drives by hand (keep-alive, partial writes).
//!
//! ```no_run
//! use jwtx_test::http::Client;
//! use serde_json::json;
//!
//! let client = Client::new("127.0.0.1:8080".parse().unwrap());
//! let r = client
//!     .post("/login")
//!     .json(json!({"username": "u", "password": "p"}))
//!     .send();
//! assert_eq!(r.status, 200, "{r:?}");
//! let token = r.json["access_token"].as_str().unwrap();
//! let r = client.get("/protected").bearer(token).send();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// How long a read may wait before the request fails, unless [`Request::timeout`] says
/// otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Fails the calling test with `msg`.
#[track_caller]
#[allow(
    clippy::panic,
    reason = "a request that cannot be made fails the test, as assert! does"
)]
fn fail(msg: String) -> ! {
    panic!("{msg}")
}

/// A server address plus headers sent with every request (e.g. a `User-Agent`).
#[derive(Clone, Debug)]
pub struct Client {
    addr: SocketAddr,
    headers: Vec<(String, String)>,
}

impl Client {
    /// A client for the server at `addr` (also sent as the `Host` header).
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            headers: Vec::new(),
        }
    }

    /// A client for `127.0.0.1:port`.
    pub fn localhost(port: u16) -> Client {
        Client::new(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `name: value` with every request (before the request's own headers).
    pub fn default_header(mut self, name: &str, value: &str) -> Client {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A `method path` request.
    pub fn request(&self, method: &str, path: &str) -> Request {
        Request {
            addr: self.addr,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: self.headers.clone(),
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A `GET path` request.
    pub fn get(&self, path: &str) -> Request {
        self.request("GET", path)
    }

    /// A `POST path` request.
    pub fn post(&self, path: &str) -> Request {
        self.request("POST", path)
    }
}

/// One request, sent by [`Request::send`].
#[derive(Clone, Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

impl Request {
    /// Adds the header `name: value` (sent as given, after the client's own headers).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds every `(name, value)` header.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Request {
        for (name, value) in headers {
            self = self.header(name, value);
        }
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A `Cookie` header with the given `name=value` pairs.
    pub fn cookies(self, pairs: &[(&str, &str)]) -> Request {
        let line = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        self.header("Cookie", &line)
    }

    /// `v` as the body, with `Content-Type: application/json`.
    pub fn json(self, v: Value) -> Request {
        self.raw("application/json", v.to_string().into_bytes())
    }

    /// `body` with `Content-Type: content_type`.
    pub fn raw(self, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
        self.header("Content-Type", content_type).body(body)
    }

    /// `body` as the body, without adding a `Content-Type`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// How long each read may wait (60 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = timeout;
        self
    }

    /// The request as it goes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request on a new connection and reads the answer to the end. A server may
    /// answer (e.g. 413) and close before reading the whole body: write and read errors are
    /// ignored as long as a complete response arrived. Fails the test when none did.
    pub fn send(self) -> Response {
        let mut s = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| fail(format!("connect to {}: {e}", self.addr)));
        if let Err(e) = s.set_read_timeout(Some(self.timeout)) {
            fail(format!("set_read_timeout: {e}"));
        }
        let bytes = self.to_bytes();
        let body_at = bytes.len() - self.body.len();
        if let Err(e) = s.write_all(&bytes[..body_at]) {
            fail(format!(
                "{} {}: writing the request head: {e}",
                self.method, self.path
            ));
        }
        let _ = s.write_all(&bytes[body_at..]);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Response::parse(&raw)
    }
}

/// An HTTP/1.1 response.
#[derive(Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The headers in order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when `Transfer-Encoding: chunked`).
    pub body: Vec<u8>,
    /// The body as text (invalid UTF-8 replaced).
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// Every byte received, head and body as sent.
    pub raw: Vec<u8>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("text", &self.text)
            .finish()
    }
}

impl Response {
    /// Parses a complete response (head, and the body up to the end of `raw`); fails the test
    /// when `raw` has no complete head.
    pub fn parse(raw: &[u8]) -> Response {
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            fail(format!(
                "not a complete response: {:?}",
                String::from_utf8_lossy(raw)
            ))
        };
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fail(format!("no status code in {status_line:?}")));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response {
            status,
            status_line,
            headers,
            body,
            text,
            json,
            raw: raw.to_vec(),
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every `Set-Cookie` line, whole and in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.header_all("set-cookie")
    }

    /// The cookies set, name to value (attributes dropped; a later line wins).
    pub fn cookies(&self) -> BTreeMap<String, String> {
        self.set_cookies()
            .into_iter()
            .filter_map(|line| line.split(';').next()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// Reads one response from a connection that stays open (keep-alive): the head, then as much
/// body as its `Content-Length` says (none without one). Fails the test when the connection
/// closes or stays silent (30 s) first.
pub fn read_response(conn: &mut TcpStream) -> Response {
    if let Err(e) = conn.set_read_timeout(Some(Duration::from_secs(30))) {
        fail(format!("set_read_timeout: {e}"));
    }
    let mut got = Vec::new();
    loop {
        let mut buf = [0u8; 1024];
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => fail(format!(
                "reading a response: {e}; got {:?}",
                String::from_utf8_lossy(&got)
            )),
        };
        if n == 0 {
            fail(format!("closed: {}", String::from_utf8_lossy(&got)));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(split) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..split]);
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            if got.len() - (split + 4) >= length {
                return Response::parse(&got);
            }
        }
    }
}

/// The payload of a chunked body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let Some(n) = std::str::from_utf8(&b[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
        else {
            fail(format!(
                "bad chunk size line {:?}",
                String::from_utf8_lossy(&b[..end])
            ))
        };
        if n == 0 {
            return out;
        }
        let Some(chunk) = b.get(end + 2..end + 2 + n) else {
            fail(format!("a chunk of {n} bytes is cut short"))
        };
        out.extend_from_slice(chunk);
        b = b.get(end + 4 + n..).unwrap_or_default();
    }
}
