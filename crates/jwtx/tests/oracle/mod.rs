//! Client for the PyJWT / flask-jwt-extended oracle (`pyjwt_oracle.py` next to this file).
//!
//! [`call`] sends one JSON request to a single oracle process shared by every test of the
//! binary and returns its reply. The process is started on first use by
//! [`jwtx_test::oracle`], with the interpreter from `.ci/python-env` (which creates or updates
//! the venv at `target/pyenv`); if Python or the venv cannot be set up, the calling test fails
//! with a message saying how to set it up. Tests are never skipped.

use std::path::Path;

use jwtx_test::oracle::{Oracle, Shared};
use serde_json::{Value, json};

fn start() -> Oracle {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/pyjwt_oracle.py");
    let mut oracle = Oracle::start(&script);
    let pong = oracle.request(&json!({"op": "ping"}));
    assert_eq!(pong["ok"], true, "oracle ping failed: {pong}");
    oracle
}

static ORACLE: Shared = Shared::new(start);

/// Sends one request and returns the reply (whatever its `ok`).
pub(crate) fn call(req: &Value) -> Value {
    ORACLE.call(req)
}

/// Sends one request and returns the reply line unparsed: for replies serde_json cannot read
/// (Python escapes lone surrogates as `\udXXX`, which serde_json refuses).
pub(crate) fn call_text(req: &Value) -> String {
    ORACLE.call_text(req)
}

/// Sends one request that must succeed, and returns the reply.
pub(crate) fn ok(req: &Value) -> Value {
    let reply = call(req);
    assert_eq!(
        reply["ok"], true,
        "oracle request failed:\n  request: {req}\n  reply:   {reply}"
    );
    reply
}

/// Sends one request that must fail, and returns the error text (`"Class: message"`).
pub(crate) fn err(req: &Value) -> String {
    let reply = call(req);
    assert_eq!(
        reply["ok"], false,
        "oracle request unexpectedly succeeded:\n  request: {req}\n  reply:   {reply}"
    );
    reply["error"].as_str().unwrap().to_owned()
}
