//! Fixtures: a fixed timeline and clock, unique names, and ready-made users and sessions.

use jwtx::store::{Session, User};
use jwtx::{FixedClock, NumericDate, uuid4};

/// The suite's "now": 2023-11-14T22:13:20Z. Every run uses the same timeline.
pub const T0: NumericDate = 1_700_000_000;

/// A clock stopped at [`T0`].
pub fn clock() -> FixedClock {
    FixedClock::new(T0)
}

/// `prefix` followed by a random UUID: a name no other run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid4())
}

/// A user created at [`T0`] with the given roles and a well-formed (but useless) Argon2id
/// PHC string as its password hash.
pub fn user(name: &str, roles: &[&str]) -> User {
    User {
        name: name.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$Zml4dHVyZS1zYWx0$Zml4dHVyZS1oYXNo".into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        created_at: T0,
        generation: 0,
        demo: false,
    }
}

/// A fresh session of `user` with a unique id and current `jti`, created (and last used) at
/// `created_at`, ending at `expires_at`, with a user agent and an address.
pub fn session(user: &str, created_at: NumericDate, expires_at: NumericDate) -> Session {
    Session {
        id: unique("sid"),
        user: user.to_owned(),
        created_at,
        last_used_at: created_at,
        expires_at,
        user_agent: Some("jwtx-test/0.1 (conformance suite)".into()),
        ip: Some("203.0.113.7".into()),
        current_jti: unique("jti"),
        previous: None,
        revoked_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtx::Clock;

    #[test]
    fn fixtures_are_fresh_and_fixed() {
        assert_ne!(unique("a"), unique("a"));
        assert_eq!(clock().now(), T0);
        let s = session("u", T0, T0 + 1);
        assert_eq!((s.created_at, s.last_used_at), (T0, T0));
        assert_ne!(s.id, session("u", T0, T0 + 1).id);
        assert_eq!(user("n", &["a", "b"]).roles, ["a", "b"]);
    }
}

/// A fresh directory under the system temp dir for one test's database, removed (with
/// everything in it) on drop.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<uuid>`.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created (a test setup failure).
    #[allow(clippy::expect_used)]
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid4()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// `jwtx.db` inside it.
    pub fn db(&self) -> std::path::PathBuf {
        self.0.join("jwtx.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
