#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `jwtx service add | list | remove` driven as an operator would (the real binary on a
//! temporary data directory), and the revocation feed of a running `jwtx serve` read with
//! the credential it printed: pages, a stream that ends when the service is removed, and a
//! stream that does not hold up the server's stop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::output::{err, ok, out};
use support::{Server, TempDir};

mod support;

fn jwtx(dir: &Path, args: &[&str]) -> Output {
    support::jwtx_in(dir, args, None)
}

/// Asserts exit status 2 with `needle` in the message and nothing on standard output.
#[track_caller]
fn usage(o: &Output, needle: &str) {
    support::output::usage(o, needle);
    assert!(out(o).is_empty(), "{}", out(o));
}

/// `jwtx service add NAME`: the credential, alone on standard output.
#[track_caller]
fn add(dir: &Path, name: &str) -> String {
    let o = jwtx(dir, &["service", "add", name]);
    let stdout = ok(&o);
    let credential = stdout.strip_suffix('\n').unwrap();
    assert!(!credential.contains('\n'), "{stdout:?}");
    assert!(
        jwtx::store::is_well_formed_credential(credential),
        "{credential}"
    );
    // The audit line names the service, never the credential.
    assert!(err(&o).contains("service_added"), "{}", err(&o));
    assert!(!err(&o).contains(credential));
    credential.to_owned()
}

#[test]
fn add_list_and_remove_services() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let empty = ok(&jwtx(d, &["service", "list"]));
    assert!(empty.contains("no services"), "{empty}");
    assert_eq!(ok(&jwtx(d, &["service", "list", "--json"])).trim(), "[]");

    let billing = add(d, "billing");
    let search = add(d, "search-api.v2");
    assert_ne!(billing, search);
    usage(&jwtx(d, &["service", "add", "billing"]), "exists already");
    for bad in ["", "with space", "ünïcode", "a/b"] {
        usage(&jwtx(d, &["service", "add", bad]), "a service name is");
    }

    let table = ok(&jwtx(d, &["service", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("CREATED"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("billing ") && lines[1].ends_with(" UTC"),
        "{table}"
    );
    assert!(lines[2].starts_with("search-api.v2 "), "{table}");
    let listed: Value =
        serde_json::from_str(&ok(&jwtx(d, &["service", "list", "--json"]))).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing", "search-api.v2"]);
    assert!(listed[0]["created_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(listed[0].as_object().unwrap().len(), 2, "{listed}");
    // Neither the credentials nor their digests are shown anywhere.
    let digest = jwtx::store::CredentialDigest::of(&billing).to_hex();
    for shown in [&table, &listed.to_string()] {
        assert!(
            !shown.contains(&billing) && !shown.contains(&digest),
            "{shown}"
        );
    }

    let o = jwtx(d, &["service", "remove", "billing"]);
    assert!(ok(&o).contains("removed service billing"));
    assert!(err(&o).contains("service_removed"), "{}", err(&o));
    usage(
        &jwtx(d, &["service", "remove", "billing"]),
        "there is no service \"billing\"",
    );
    let listed = ok(&jwtx(d, &["service", "list", "--json"]));
    assert!(!listed.contains("\"billing\""), "{listed}");
    // The name is free again, with a new credential.
    assert_ne!(add(d, "billing"), billing);
}

/// `GET /revocations` on the server, with `credential`.
fn page(s: &Server, query: &str, credential: &str) -> support::Response {
    s.req("GET", &format!("/revocations{query}"))
        .bearer(credential)
        .send()
}

/// Opens a stream; returns the connection once the response head and its first heartbeat
/// have arrived, and what was read so far.
fn open_stream(s: &Server, credential: &str) -> (TcpStream, String) {
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /revocations?heartbeat=100 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {credential}\r\n\r\n"
    )
    .unwrap();
    let mut seen = String::new();
    read_until(&mut conn, &mut seen, "event: heartbeat");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{seen}"
    );
    (conn, seen)
}

/// Reads from `conn` into `seen` until it contains `needle`; panics after 10 s or at the end
/// of the connection.
fn read_until(conn: &mut TcpStream, seen: &mut String, needle: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {needle:?} in: {seen}"
        );
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "the connection ended before {needle:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn a_running_server_serves_the_feed_to_added_services_only() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let credential = add(d, "billing");
    let s = Server::start_plain(d.to_owned());

    let r = page(&s, "", &credential);
    assert_eq!(r.status, 200, "{}", r.text);
    let epoch = r.json["epoch"].as_str().unwrap().to_owned();
    assert_eq!(
        (r.json["next"].as_u64(), r.json["more"].as_bool()),
        (Some(0), Some(false))
    );
    // The admin CLI revokes; the feed has the entry.
    ok(&jwtx(
        d,
        &["revoke", "--jti", "feed-test-jti", "--until", "15m"],
    ));
    let r = page(&s, "", &credential);
    let entries = r.json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", r.text);
    assert_eq!(entries[0]["entry"]["kind"], "token");
    assert_eq!(entries[0]["entry"]["jti"], "feed-test-jti");
    assert_eq!(r.json["epoch"], epoch.as_str());
    let head = entries[0]["seq"].as_u64().unwrap();
    let r = page(&s, &format!("?after={}", head + 1), &credential);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["head"], head);
    // Anonymous, and a JWT: 401.
    let r = s.req("GET", "/revocations").send();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"jwtx revocations\"")
    );

    // An open stream ends once the service is removed.
    let (mut conn, mut seen) = open_stream(&s, &credential);
    ok(&jwtx(d, &["service", "remove", "billing"]));
    read_until(&mut conn, &mut seen, "event: error");
    assert!(seen.contains("removed"), "{seen}");
    // The chunked body's end.
    read_until(&mut conn, &mut seen, "0\r\n\r\n");
    assert_eq!(page(&s, "", &credential).status, 401);
}

#[test]
fn an_open_stream_does_not_hold_up_the_servers_stop() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    let credential = add(d, "billing");
    let mut s = Server::start_plain(d.to_owned());
    let (mut conn, mut seen) = open_stream(&s, &credential);
    let stopping = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &s.pid().to_string()])
            .status()
            .unwrap()
            .success()
    );
    read_until(&mut conn, &mut seen, "0\r\n\r\n");
    let status = s.wait();
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(10));
}
