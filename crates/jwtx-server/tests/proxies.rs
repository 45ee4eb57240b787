//! The client address of `jwtx serve` behind a load balancer, through real sockets against the
//! real binary: `X-Forwarded-For` counts only from `trusted_proxies` (its rightmost untrusted
//! entry), the PROXY protocol (v1 and v2) only from them and then always, and the client
//! address is what login throttling and a session's `ip` use. Then the same through a real
//! HAProxy (`option forwardfor`, `send-proxy`, `send-proxy-v2`, in front of HTTP and HTTPS).
//!
//! On loopback every client is 127.0.0.1, so HAProxy connects to jwtx from 127.0.0.2
//! (`source 127.0.0.2`) and only 127.0.0.2 is trusted: the client address must then be
//! 127.0.0.1, never the proxy's and never what the client wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jwtx_test::http::{Client, Response};
use serde_json::json;
use support::Server;

/// Where HAProxy connects from, and the only trusted proxy in most tests.
const PROXY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A `POST /login` as `user`, with `headers`, on the wire (`Connection: close`).
fn login_bytes(addr: SocketAddr, user: &str, password: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    Client::new(addr)
        .default_header("User-Agent", "jwtx-e2e")
        .request("POST", "/login")
        .headers(headers)
        .json(json!({"username": user, "password": password}))
        .to_bytes()
}

/// `POST /login` through `addr` (the server or a proxy in front of it) with `headers`.
fn login_via(addr: SocketAddr, user: &str, password: &str, headers: &[(&str, &str)]) -> Response {
    Client::new(addr)
        .default_header("User-Agent", "jwtx-e2e")
        .request("POST", "/login")
        .headers(headers)
        .json(json!({"username": user, "password": password}))
        .send()
}

/// The `ip` the server recorded for the session `login` (a successful answer) started.
fn session_ip(s: &Server, login: &Response) -> String {
    assert_eq!(login.status, 200, "{}", login.text);
    let access = login.json["access_token"].as_str().unwrap();
    session_ip_of(s, access)
}

/// The `ip` of the session of the access token `access`.
fn session_ip_of(s: &Server, access: &str) -> String {
    let r = s.get("/sessions", access);
    assert_eq!(r.status, 200, "{}", r.text);
    let sessions = r.json["sessions"].as_array().unwrap();
    let current = sessions.iter().find(|x| x["current"] == true).unwrap();
    current["ip"].as_str().unwrap().to_owned()
}

/// A connection to `addr` from the local address `from` (any port).
fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let conn = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        socket.connect(addr).await.unwrap()
    });
    let conn = conn.into_std().unwrap();
    conn.set_nonblocking(false).unwrap();
    conn
}

/// Sends `bytes` on `conn` and reads until the server closes it (10 s at most): what came.
fn exchange(mut conn: TcpStream, bytes: &[u8]) -> Vec<u8> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close before reading everything: its answer (or none) is what counts.
    let _ = conn.write_all(bytes);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server neither answered nor closed within 10 s: {got:?}")
            }
            // Reset: closed.
            Err(_) => return got,
        }
    }
    panic!("the server neither answered nor closed within 10 s: {got:?}")
}

/// A PROXY v1 header for a TCP4 client `src:port`.
fn proxy_v1(src: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {src} 127.0.0.1 {port} 5000\r\n").into_bytes()
}

/// A PROXY v2 header: PROXY command (`local`: LOCAL), TCP over IPv4 from `src:port`, with a
/// NOOP TLV after the addresses.
fn proxy_v2(src: [u8; 4], port: u16, local: bool) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(if local { 0x20 } else { 0x21 });
    h.push(0x11);
    let tlv = [0x04, 0x00, 0x02, 0x00, 0x00];
    h.extend_from_slice(&u16::try_from(12 + tlv.len()).unwrap().to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&5000u16.to_be_bytes());
    h.extend_from_slice(&tlv);
    h
}

/// `header` then a login as `user` with `headers`, from `from`: the answer.
fn login_behind(
    s: &Server,
    from: IpAddr,
    header: &[u8],
    user: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut bytes = header.to_vec();
    bytes.extend(login_bytes(s.addr, user, password, headers));
    let got = exchange(connect_from(from, s.addr), &bytes);
    Response::parse(&got)
}

#[test]
fn a_direct_client_cannot_choose_its_address_with_x_forwarded_for() {
    let s = Server::start(&[("JWTX_LOGIN_RATE_LIMIT", "3/1m")]);
    assert!(
        s.stderr_containing("client address")
            .contains("client address: the TCP peer (no trusted_proxies"),
        "{}",
        s.stderr()
    );
    // Failures with a new spoofed address each time all count against 127.0.0.1.
    for i in 0..3 {
        let spoof = format!("203.0.113.{i}");
        let r = login_via(s.addr, "testuser", "wrong", &[("X-Forwarded-For", &spoof)]);
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_via(
        s.addr,
        "testuser",
        "testpass",
        &[("X-Forwarded-For", "198.51.100.99")],
    );
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(s.login("testuser", "testpass").status, 429);
    // The session records the TCP peer.
    let r = login_via(
        s.addr,
        "admin",
        "adminpass",
        &[
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-For", "5.6.7.8"),
        ],
    );
    assert_eq!(session_ip(&s, &r), "127.0.0.1");
}

#[test]
fn from_a_trusted_proxy_the_rightmost_untrusted_forwarded_entry_is_the_client() {
    let s = Server::start(&[
        ("JWTX_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
        ("JWTX_LOGIN_RATE_LIMIT", "2/1m"),
    ]);
    assert!(
        s.stderr_containing("client address").contains(
            "client address: X-Forwarded-For from the trusted proxies 127.0.0.1, 10.0.0.0/8"
        ),
        "{}",
        s.stderr()
    );
    let xff = |v: &'static str| ("X-Forwarded-For", v);
    let ip = |headers: &[(&str, &str)]| {
        let r = login_via(s.addr, "admin", "adminpass", headers);
        session_ip(&s, &r)
    };
    assert_eq!(ip(&[xff("spoof, 203.0.113.7")]), "203.0.113.7");
    assert_eq!(
        ip(&[xff("198.51.100.1, 203.0.113.7, 10.0.0.5")]),
        "203.0.113.7"
    );
    // Header lines in order, entries across them.
    assert_eq!(
        ip(&[xff("203.0.113.8"), xff("198.51.100.1")]),
        "198.51.100.1"
    );
    assert_eq!(
        ip(&[xff("198.51.100.1"), xff("203.0.113.8, 10.1.1.1")]),
        "203.0.113.8"
    );
    assert_eq!(ip(&[xff("[2001:db8::7]:4711")]), "2001:db8::7");
    // Every entry a trusted proxy: the leftmost.
    assert_eq!(ip(&[xff("10.1.1.1, 10.2.2.2")]), "10.1.1.1");
    // An entry that is no address: the nearest trusted hop, not what lies left of it.
    assert_eq!(ip(&[xff("203.0.113.9, unknown, 10.3.3.3")]), "10.3.3.3");
    assert_eq!(ip(&[xff("203.0.113.9, unknown")]), "127.0.0.1");
    // No header: the TCP peer.
    assert_eq!(ip(&[]), "127.0.0.1");
    // From an address that is not a trusted proxy the header is ignored.
    let r = login_behind(
        &s,
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        b"",
        "admin",
        "adminpass",
        &[xff("203.0.113.99")],
    );
    assert_eq!(session_ip(&s, &r), "127.0.0.3");

    // Each forwarded client has its own throttle budget.
    let from = |client: &'static str, password: &str| {
        login_via(s.addr, "testuser", password, &[xff(client)]).status
    };
    assert_eq!(from("203.0.113.10", "wrong"), 401);
    assert_eq!(from("203.0.113.10", "wrong"), 401);
    assert_eq!(from("203.0.113.10", "testpass"), 429);
    assert_eq!(from("203.0.113.11", "testpass"), 200);
    assert_eq!(
        s.login("testuser", "testpass").status,
        200,
        "127.0.0.1 itself"
    );
}

/// `jwtx serve` with `env`, expected to refuse to start: its exit status and stderr.
fn refused_start(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = support::TempDir::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwtx"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("JWTX_")))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("jwtx serve started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_proxy_settings_stop_the_start_naming_the_key_and_entry() {
    let (code, err) = refused_start(&[("JWTX_TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/33")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("configuration `trusted_proxies`: \"10.0.0.0/33\": the prefix /33 is longer than 32 bits"),
        "{err}"
    );
    let (code, err) = refused_start(&[("JWTX_TRUSTED_PROXIES", "127.0.0.1,lb.internal")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`trusted_proxies`: \"lb.internal\""), "{err}");
    let (code, err) = refused_start(&[("JWTX_PROXY_PROTOCOL", "true")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`proxy_protocol`: needs trusted_proxies"),
        "{err}"
    );
}

#[test]
fn the_proxy_protocol_is_required_from_trusted_proxies_and_refused_from_anyone_else() {
    let s = Server::start(&[
        ("JWTX_TRUSTED_PROXIES", "127.0.0.2"),
        ("JWTX_PROXY_PROTOCOL", "true"),
        ("JWTX_HEADER_READ_TIMEOUT", "5s"),
    ]);
    assert!(
        s.stderr_containing("PROXY header")
            .contains("their connections must begin with a PROXY header (proxy_protocol)"),
        "{}",
        s.stderr()
    );
    // A direct client (127.0.0.1) without a header is served as itself.
    assert_eq!(s.req("GET", "/healthz").send().status, 200);
    let r = login_via(
        s.addr,
        "admin",
        "adminpass",
        &[("X-Forwarded-For", "1.2.3.4")],
    );
    assert_eq!(session_ip(&s, &r), "127.0.0.1");

    // The proxy's header names the client: v1 and v2 (with a TLV).
    let r = login_behind(
        &s,
        PROXY_IP,
        &proxy_v1("198.51.100.7", 40000),
        "admin",
        "adminpass",
        &[],
    );
    assert_eq!(session_ip(&s, &r), "198.51.100.7");
    let r = login_behind(
        &s,
        PROXY_IP,
        &proxy_v2([198, 51, 100, 8], 40001, false),
        "admin",
        "adminpass",
        &[],
    );
    assert_eq!(session_ip(&s, &r), "198.51.100.8");
    // X-Forwarded-For is read only when the header's source is itself a trusted proxy.
    let xff = [("X-Forwarded-For", "203.0.113.78")];
    let r = login_behind(
        &s,
        PROXY_IP,
        &proxy_v1("198.51.100.7", 40002),
        "admin",
        "adminpass",
        &xff,
    );
    assert_eq!(session_ip(&s, &r), "198.51.100.7");
    let r = login_behind(
        &s,
        PROXY_IP,
        &proxy_v1("127.0.0.2", 40003),
        "admin",
        "adminpass",
        &xff,
    );
    assert_eq!(session_ip(&s, &r), "203.0.113.78");
    // LOCAL (a health check): the proxy's own address, so its X-Forwarded-For counts.
    let r = login_behind(
        &s,
        PROXY_IP,
        &proxy_v2([0; 4], 0, true),
        "admin",
        "adminpass",
        &xff,
    );
    assert_eq!(session_ip(&s, &r), "203.0.113.78");

    // A PROXY header from a client that is not a trusted proxy: closed unanswered.
    let mut bytes = proxy_v1("198.51.100.66", 40004);
    bytes.extend(login_bytes(s.addr, "admin", "adminpass", &[]));
    let got = exchange(TcpStream::connect(s.addr).unwrap(), &bytes);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let mut bytes = proxy_v2([198, 51, 100, 67], 40005, false);
    bytes.extend(login_bytes(s.addr, "admin", "adminpass", &[]));
    let got = exchange(TcpStream::connect(s.addr).unwrap(), &bytes);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(
        s.stderr_containing("not in trusted_proxies")
            .contains("PROXY header from a peer not in trusted_proxies refused"),
        "{}",
        s.stderr()
    );
    // A trusted proxy's connection without one: closed unanswered.
    let got = exchange(
        connect_from(PROXY_IP, s.addr),
        &login_bytes(s.addr, "admin", "adminpass", &[]),
    );
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // A malformed one too.
    let mut bytes = b"PROXY TCP4 198.51.100.7 127.0.0.1 040000 5000\r\n".to_vec();
    bytes.extend(login_bytes(s.addr, "admin", "adminpass", &[]));
    let got = exchange(connect_from(PROXY_IP, s.addr), &bytes);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let log = s.stderr_containing("invalid PROXY header");
    assert!(log.contains("did not begin with a PROXY header"), "{log}");
    assert!(
        log.contains("invalid PROXY header (v1 address or port)"),
        "{log}"
    );
    // A proxy that never finishes its header is closed within header_read_timeout.
    let mut silent = connect_from(PROXY_IP, s.addr);
    silent.write_all(b"PROXY TCP4 198.51.100.7").unwrap();
    assert!(exchange(silent, b"").is_empty());
    // And everyone else is still served.
    assert_eq!(s.req("GET", "/healthz").send().status, 200);
}

// --- Through HAProxy -------------------------------------------------------------------------

/// A HAProxy child process (`haproxy -db -f FILE`), killed on drop.
struct Haproxy {
    child: Child,
    dir: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port on 127.0.0.1 (free when this returns; HAProxy binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Haproxy {
    /// HAProxy with `config` (its `global` and `defaults` sections are added), once every
    /// port of `ports` accepts connections (10 s at most). Fails the test when HAProxy is not
    /// installed.
    fn start(config: &str, ports: &[u16]) -> Haproxy {
        let installed = Command::new("haproxy")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "these tests need HAProxy on the PATH: apt-get install haproxy"
        );
        let dir = std::env::temp_dir().join(format!("jwtx-haproxy-{}", jwtx::uuid4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("haproxy.cfg");
        let full = format!(
            "global\n    maxconn 256\n\
             defaults\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
             {config}"
        );
        std::fs::write(&file, full).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haproxy");
        let mut h = Haproxy { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if let Some(status) = h.child.try_wait().unwrap() {
                    let mut err = String::new();
                    let _ = h.child.stderr.take().unwrap().read_to_string(&mut err);
                    panic!("haproxy exited ({status}):\n{err}\nconfig:\n{config}");
                }
                assert!(
                    Instant::now() < deadline,
                    "haproxy did not listen on {port} within 10 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        h
    }
}

/// The address of HAProxy's frontend on `port`.
fn front(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn behind_haproxy_the_client_is_the_one_haproxy_saw_not_the_one_it_claims() {
    let s = Server::start(&[
        ("JWTX_TRUSTED_PROXIES", "127.0.0.2"),
        ("JWTX_LOGIN_RATE_LIMIT", "3/1m"),
    ]);
    let port = free_port();
    let _haproxy = Haproxy::start(
        &format!(
            "frontend fe\n    mode http\n    bind 127.0.0.1:{port}\n    option forwardfor\n    \
             default_backend be\n\
             backend be\n    mode http\n    server jwtx {} source 127.0.0.2\n",
            s.addr
        ),
        &[port],
    );
    // HAProxy keeps the client's spoofed line and adds one with the client it saw; from
    // 127.0.0.2, jwtx takes the rightmost entry that is not a trusted proxy: 127.0.0.1.
    let r = login_via(
        front(port),
        "admin",
        "adminpass",
        &[("X-Forwarded-For", "203.0.113.50")],
    );
    assert_eq!(session_ip(&s, &r), "127.0.0.1");
    // Failures with new spoofed addresses through HAProxy all count against 127.0.0.1.
    for i in 0..3 {
        let spoof = format!("203.0.113.{i}, 10.0.0.{i}");
        let r = login_via(
            front(port),
            "testuser",
            "wrong",
            &[("X-Forwarded-For", &spoof)],
        );
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = login_via(
        front(port),
        "testuser",
        "testpass",
        &[("X-Forwarded-For", "198.51.100.1")],
    );
    assert_eq!(r.status, 429, "{}", r.text);
    // The same budget as a direct connection from 127.0.0.1.
    assert_eq!(s.login("testuser", "testpass").status, 429);
    // Directly, from an address jwtx does not trust, the header is ignored.
    let r = login_via(
        s.addr,
        "admin",
        "adminpass",
        &[("X-Forwarded-For", "203.0.113.51")],
    );
    assert_eq!(session_ip(&s, &r), "127.0.0.1");
}

#[test]
fn behind_haproxy_with_send_proxy_v1_and_v2_the_client_is_the_real_one() {
    let s = Server::start(&[
        ("JWTX_TRUSTED_PROXIES", "127.0.0.2"),
        ("JWTX_PROXY_PROTOCOL", "true"),
    ]);
    let (v1, v2) = (free_port(), free_port());
    let _haproxy = Haproxy::start(
        &format!(
            "frontend fe1\n    mode http\n    bind 127.0.0.1:{v1}\n    default_backend be1\n\
             frontend fe2\n    mode http\n    bind 127.0.0.1:{v2}\n    default_backend be2\n\
             backend be1\n    mode http\n    server jwtx {addr} source 127.0.0.2 send-proxy\n\
             backend be2\n    mode http\n    server jwtx {addr} source 127.0.0.2 send-proxy-v2\n",
            addr = s.addr
        ),
        &[v1, v2],
    );
    for port in [v1, v2] {
        // The PROXY header's source (127.0.0.1) is the client; it is not trusted, so the
        // spoofed X-Forwarded-For is not read (HAProxy adds none here: only the PROXY header
        // can name 127.0.0.1).
        let r = login_via(
            front(port),
            "admin",
            "adminpass",
            &[("X-Forwarded-For", "203.0.113.60")],
        );
        assert_eq!(session_ip(&s, &r), "127.0.0.1", "port {port}");
        assert_eq!(Client::new(front(port)).get("/healthz").send().status, 200);
    }
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert, key).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    (cert_file, key_file)
}

/// curl over HTTPS (10 s at most): the body.
fn curl(cert: &Path, args: &[&str]) -> String {
    let o = Command::new("curl")
        .args(["-s", "-m", "10", "-A", "jwtx-e2e", "--cacert"])
        .arg(cert)
        .args(args)
        .output()
        .expect("curl is needed for the TLS tests (apt-get install curl)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_proxy_header_comes_before_the_tls_handshake() {
    let dir = support::TempDir::new();
    let (cert, key) = certificate(&dir.0);
    let s = Server::start(&[
        ("JWTX_TLS_CERT", cert.to_str().unwrap()),
        ("JWTX_TLS_KEY", key.to_str().unwrap()),
        ("JWTX_TRUSTED_PROXIES", "127.0.0.2"),
        ("JWTX_PROXY_PROTOCOL", "true"),
    ]);
    let port = free_port();
    let _haproxy = Haproxy::start(
        &format!(
            "frontend fe\n    mode tcp\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    mode tcp\n    server jwtx {} source 127.0.0.2 send-proxy-v2\n",
            s.addr
        ),
        &[port],
    );
    let body = curl(
        &cert,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"username":"admin","password":"adminpass"}"#,
            &format!("https://127.0.0.1:{port}/login"),
        ],
    );
    let login: serde_json::Value = serde_json::from_str(&body).expect(&body);
    let access = login["access_token"].as_str().expect(&body);
    // Asked directly (127.0.0.1, no PROXY header, served as itself).
    let body = curl(
        &cert,
        &[
            "-H",
            &format!("Authorization: Bearer {access}"),
            &format!("https://{}/sessions", s.addr),
        ],
    );
    let sessions: serde_json::Value = serde_json::from_str(&body).expect(&body);
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["ip"], "127.0.0.1", "{body}");
}
