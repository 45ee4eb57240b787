//! `jwtx serve`'s connection limits through real sockets against the real binary: a request
//! head or TLS handshake that never finishes is closed after `header_read_timeout`, an idle
//! keep-alive connection after `keep_alive_timeout`; at `max_connections` the oldest silent
//! connection makes room for a new client and a busy one is never shed; the open-file limit
//! cannot be exhausted by silent connections. Timings are never asserted tightly: a 1 s bound
//! is given ten times as long.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use jwtx_test::http::read_response;
use support::Server;

/// Whether the server closes `conn` within `limit` (bytes it sends meanwhile are skipped).
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// The value of the series `name` (with its labels) in the server's `/metrics`.
fn metric(s: &Server, name: &str) -> u64 {
    let text = s.req("GET", "/metrics").send().text;
    let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
    line.and_then(|l| l[name.len() + 1..].parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
}

#[test]
fn a_request_head_that_never_finishes_is_closed_after_header_read_timeout() {
    let s = Server::start(&[("JWTX_HEADER_READ_TIMEOUT", "1s")]);
    let mut partial = TcpStream::connect(s.addr).unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut silent = TcpStream::connect(s.addr).unwrap();
    assert!(closed_within(&mut partial, Duration::from_secs(10)));
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    // The second head of a kept-alive connection has its own bound.
    let mut kept = TcpStream::connect(s.addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        read_response(&mut kept)
            .status_line
            .starts_with("HTTP/1.1 200")
    );
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(closed_within(&mut kept, Duration::from_secs(10)));
    assert_eq!(
        metric(&s, "jwtx_connections_timed_out_total{phase=\"head\"}"),
        3
    );
    // Everyone else is still served.
    assert_eq!(s.req("GET", "/healthz").send().status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_keep_alive_timeout() {
    let s = Server::start(&[
        ("JWTX_KEEP_ALIVE_TIMEOUT", "1s"),
        ("JWTX_HEADER_READ_TIMEOUT", "60s"),
    ]);
    let mut conn = TcpStream::connect(s.addr).unwrap();
    // Two requests on the connection: idle time between them is not a head's.
    for _ in 0..2 {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert!(
            read_response(&mut conn)
                .status_line
                .starts_with("HTTP/1.1 200")
        );
    }
    assert!(closed_within(&mut conn, Duration::from_secs(10)));
    assert_eq!(
        metric(&s, "jwtx_connections_timed_out_total{phase=\"idle\"}"),
        1
    );
    assert_eq!(
        metric(&s, "jwtx_connections_timed_out_total{phase=\"head\"}"),
        0
    );
}

#[test]
fn at_the_cap_the_oldest_silent_connections_make_room_and_a_busy_one_stays() {
    let s = Server::start(&[
        ("JWTX_MAX_CONNECTIONS", "8"),
        ("JWTX_HEADER_READ_TIMEOUT", "60s"),
    ]);
    // The oldest connection: a login whose body is still on its way. `100 Continue` comes
    // when the handler reads the body, so the request is in flight from here on.
    let body = r#"{"username":"testuser","password":"testpass"}"#;
    let mut busy = TcpStream::connect(s.addr).unwrap();
    write!(
        busy,
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut interim = [0u8; 25];
    busy.read_exact(&mut interim).unwrap();
    assert!(interim.starts_with(b"HTTP/1.1 100 Continue"));
    busy.write_all(&body.as_bytes()[..10]).unwrap();

    // Twice the cap of silent connections, some with half a request head.
    let mut silent: Vec<TcpStream> = (0..16)
        .map(|i| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            if i % 2 == 1 {
                c.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            }
            c
        })
        .collect();
    // New clients are served: each takes the place of the oldest silent connection.
    for _ in 0..4 {
        assert_eq!(s.req("GET", "/healthz").send().status, 200);
    }
    // The oldest silent connections were shed, not the busy one (older still).
    for conn in &mut silent[..8] {
        assert!(closed_within(conn, Duration::from_secs(10)));
    }
    busy.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    busy.read_to_string(&mut answer).unwrap();
    let answer = answer.trim_start_matches("\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"login\":true"), "{answer}");

    assert_eq!(metric(&s, "jwtx_connections_max"), 8);
    // Nine made room for the other silent ones, one for the first new client (the rest found
    // the place of the one before).
    assert!(metric(&s, "jwtx_connections_shed_total{phase=\"head\"}") >= 9);
    assert_eq!(
        metric(&s, "jwtx_connections_shed_total{phase=\"handshake\"}"),
        0
    );
    let open = metric(&s, "jwtx_connections_open");
    assert!((1..=10).contains(&open), "{open} open");
}

/// A self-signed certificate for 127.0.0.1 in a new directory: (dir, cert, key).
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("jwtx-tls-{}", jwtx::uuid4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    (dir, cert_file, key_file)
}

/// `GET path` over HTTPS with curl (10 s at most): the status line.
fn https_get(s: &Server, cert: &PathBuf, path: &str) -> String {
    let o = Command::new("curl")
        .args(["-s", "-m", "10", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(cert)
        .arg(format!("https://{}{path}", s.addr))
        .output()
        .expect("curl is needed for the TLS tests (apt-get install curl)");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.lines().next().unwrap_or("").to_owned()
}

/// `GET path` over HTTPS with curl (10 s at most): the body (the support client speaks
/// plain HTTP only).
fn https_get_body(s: &Server, cert: &PathBuf, path: &str) -> String {
    let o = Command::new("curl")
        .args(["-s", "-m", "10", "--cacert"])
        .arg(cert)
        .arg(format!("https://{}{path}", s.addr))
        .output()
        .expect("curl is needed for the TLS tests (apt-get install curl)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn silent_tcp_connections_never_keep_a_new_https_client_out() {
    let (dir, cert, key) = certificate();
    let s = Server::start(&[
        ("JWTX_TLS_CERT", cert.to_str().unwrap()),
        ("JWTX_TLS_KEY", key.to_str().unwrap()),
        ("JWTX_MAX_CONNECTIONS", "8"),
        ("JWTX_HEADER_READ_TIMEOUT", "60s"),
    ]);
    // Connections that never start their handshake, three times the cap.
    let mut silent: Vec<TcpStream> = (0..24)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    for _ in 0..3 {
        assert!(https_get(&s, &cert, "/healthz").starts_with("HTTP/1.1 200"));
    }
    for conn in &mut silent[..16] {
        assert!(closed_within(conn, Duration::from_secs(10)));
    }
    let text = https_get_body(&s, &cert, "/metrics");
    let value = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
        line.and_then(|l| l[name.len() + 1..].parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert!(value("jwtx_connections_shed_total{phase=\"handshake\"}") >= 16);
    assert_eq!(value("jwtx_connections_max"), 8);
    drop(s);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tls_handshake_that_never_finishes_is_closed_after_header_read_timeout() {
    let (dir, cert, key) = certificate();
    let s = Server::start(&[
        ("JWTX_TLS_CERT", cert.to_str().unwrap()),
        ("JWTX_TLS_KEY", key.to_str().unwrap()),
        ("JWTX_HEADER_READ_TIMEOUT", "1s"),
    ]);
    let mut silent = TcpStream::connect(s.addr).unwrap();
    // Half a ClientHello record header.
    let mut partial = TcpStream::connect(s.addr).unwrap();
    partial.write_all(&[0x16, 0x03, 0x01]).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    assert!(closed_within(&mut partial, Duration::from_secs(10)));
    assert!(https_get(&s, &cert, "/healthz").starts_with("HTTP/1.1 200"));
    let text = https_get_body(&s, &cert, "/metrics");
    assert!(
        text.lines()
            .any(|l| l == "jwtx_connections_timed_out_total{phase=\"handshake\"} 2"),
        "{text}"
    );
    drop(s);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn silent_connections_cannot_use_up_the_open_file_limit() {
    // 256 files: the default max_connections is lowered to fit, and said so.
    let s = Server::start_with_file_limit(&[("JWTX_HEADER_READ_TIMEOUT", "60s")], 256);
    assert!(
        s.stderr_containing("lowered")
            .contains("max_connections 10000 lowered to"),
        "{}",
        s.stderr()
    );
    let silent: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    for _ in 0..3 {
        assert_eq!(s.req("GET", "/healthz").send().status, 200);
        assert_eq!(s.login("testuser", "testpass").status, 200);
    }
    let max = metric(&s, "jwtx_connections_max");
    assert!((1..256).contains(&max), "{max}");
    assert!(metric(&s, "jwtx_connections_shed_total{phase=\"head\"}") >= 300 - max);
    drop(silent);
}
