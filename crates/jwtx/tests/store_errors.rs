//! `StoreError` keeps its cause: `source()` reaches it, clones share it, equality compares text.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::error::Error as _;

use jwtx::store::StoreError;

#[test]
fn the_cause_is_the_source_and_survives_a_clone() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    let e = StoreError::unavailable("connect").with_source(io);
    assert_eq!(e.to_string(), "store unavailable: connect");
    let source = e.source().expect("the cause is kept");
    assert_eq!(source.to_string(), "connection refused");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("the cause keeps its type");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

    let copy = e.clone();
    assert_eq!(copy, e);
    assert_eq!(
        copy.source().map(|s| s.to_string()),
        Some("connection refused".into())
    );
    // Equal errors need equal causes.
    assert_ne!(e, StoreError::unavailable("connect"));

    let corrupt = StoreError::corrupt("bad row").with_source(std::fmt::Error);
    assert_eq!(corrupt.to_string(), "unexpected stored data: bad row");
    assert!(corrupt.source().is_some());
}

#[test]
fn a_conflict_keeps_no_source() {
    let e = StoreError::Conflict {
        what: "user alice exists".into(),
    }
    .with_source(std::fmt::Error);
    assert_eq!(e.to_string(), "conflict: user alice exists");
    assert!(e.source().is_none());
}
