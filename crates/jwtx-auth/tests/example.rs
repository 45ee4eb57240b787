#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]
//! `examples/embedded.rs` as its users run it: started as a real process on a free port, then
//! the README's curl session run literally, each output compared with the README's `# →` lines
//! (curl and sed must be installed: the test fails, saying what to install, when they are not).

use std::path::Path;

use jwtx_test::examples::{Example, ExampleRef, require_tools, run_session};

const EMBEDDED: ExampleRef<'static> = ExampleRef {
    package: "jwtx-auth",
    name: "embedded",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
};

#[test]
fn readme_session_embedded_with_curl() {
    require_tools("embedded", &["curl", "sed"]);
    let server = Example::start(
        EMBEDDED,
        &[(
            "JWT_SECRET_KEY",
            Some("embedded example test secret, 32 bytes or more"),
        )],
    );
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    run_session(&readme, "embedded", server.port);
    let log = server.stop();
    // The audit trail saw the reuse, and never the typed name of no account.
    assert!(log.contains("refresh_reuse_detected"), "{log}");
    assert!(!log.contains("mallory"), "{log}");
}

/// The example stays a page: about 60 lines of code (blank lines and comments left out).
#[test]
fn the_example_is_about_sixty_lines_of_code() {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/embedded.rs"))
            .unwrap();
    let code = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count();
    assert!(code <= 65, "examples/embedded.rs has {code} lines of code");
}
