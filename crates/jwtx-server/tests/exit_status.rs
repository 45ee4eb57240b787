//! Exit statuses (docs/cli.md): 2 for bad usage or configuration, 3 for a failure at run time
//! such as a store that cannot be opened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::process::Output;

use support::{TempDir, jwtx_in};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `data_dir` names a regular file: no store can be opened there.
#[test]
fn a_data_dir_that_is_a_file_exits_3() {
    let tmp = TempDir::new();
    std::fs::create_dir_all(&tmp.0).unwrap();
    let file = tmp.0.join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    for args in [
        &["user", "list"][..],
        &["keys", "list"],
        &["revoke", "--user", "alice"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let o = jwtx_in(&file, args, None);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {e}");
        assert!(
            e.contains("not-a-directory"),
            "{args:?} names the path: {e}"
        );
    }
}

/// The data directory is fine but its database is a directory: the store cannot be opened.
#[test]
fn a_store_that_cannot_be_opened_exits_3() {
    let tmp = TempDir::new();
    std::fs::create_dir_all(tmp.0.join("jwtx.db")).unwrap();
    let o = jwtx_in(&tmp.0, &["user", "list"], None);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("cannot open the store"), "{e}");
}

/// Usage errors keep exit 2, even next to a store that works.
#[test]
fn usage_errors_still_exit_2() {
    let tmp = TempDir::new();
    let o = jwtx_in(
        &tmp.0,
        &["user", "add", "", "--password-stdin"],
        Some(b"a password\n"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = jwtx_in(&tmp.0, &["user", "delete", "nobody"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
