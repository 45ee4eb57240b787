//! The shared HTTP/1.1 test client (`jwtx_test::http`) against a one-shot server on a
//! `TcpListener`: what it sends, and how it reads statuses, headers, chunked bodies, JSON and
//! cookies, and a response on a kept-alive connection.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use jwtx_test::http::{Client, Response, read_response};
use serde_json::json;

/// Serves one connection: reads the request (head and `Content-Length` body), answers `reply`
/// and returns what it read.
fn serve_once(reply: &'static [u8]) -> (Client, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::new(listener.local_addr().unwrap()).default_header("User-Agent", "t");
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: ")?.parse().ok())
                    .unwrap();
                if body.len() >= len {
                    break;
                }
            }
        }
        conn.write_all(reply).unwrap();
        String::from_utf8(got).unwrap()
    });
    (client, handle)
}

#[test]
fn sends_method_path_headers_and_json_and_reads_the_answer() {
    let (client, server) = serve_once(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
          Set-Cookie: a=1; Path=/\r\nset-cookie: b=2; HttpOnly\r\nContent-Length: 11\r\n\r\n\
          {\"ok\":true}",
    );
    let r = client
        .post("/login?x=1")
        .bearer("tok")
        .json(json!({"u": "v"}))
        .send();
    let sent = server.join().unwrap();
    let addr = client.addr();
    assert_eq!(
        sent,
        format!(
            "POST /login?x=1 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: t\r\n\
             Authorization: Bearer tok\r\nContent-Type: application/json\r\n\
             Content-Length: 9\r\n\r\n{{\"u\":\"v\"}}"
        )
    );
    assert_eq!(
        (r.status, r.status_line.as_str()),
        (201, "HTTP/1.1 201 Created")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.set_cookies(), ["a=1; Path=/", "b=2; HttpOnly"]);
    assert_eq!(
        r.cookies().into_iter().collect::<Vec<_>>(),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    assert_eq!(r.json, json!({"ok": true}));
    assert_eq!(r.text, "{\"ok\":true}");
}

#[test]
fn chunked_bodies_are_decoded() {
    let r = Response::parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
    );
    assert_eq!((r.status, r.text.as_str()), (200, "Wikipedia"));
    assert_eq!(r.json, serde_json::Value::Null);
}

#[test]
fn read_response_stops_at_content_length_on_a_kept_alive_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
        // The connection stays open until the client has read the answer.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    let r = read_response(&mut conn);
    assert_eq!((r.status, r.text.as_str()), (200, "hi"));
    drop(conn);
    server.join().unwrap();
}
