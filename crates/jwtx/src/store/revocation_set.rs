//! The in-process mirror of the revocation log: what a protected request checks.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::Revocation;
use crate::claims::NumericDate;

/// Revoked tokens, sessions and per-user cut-offs, held in memory. Fed from a
/// [`RevocationStore`](super::RevocationStore) (at start, then by following its log) and
/// directly by the process's own writes, so a check is a hash lookup.
#[derive(Debug, Default)]
pub struct RevocationSet {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// jti → until.
    tokens: HashMap<String, NumericDate>,
    /// session id → until.
    sessions: HashMap<String, NumericDate>,
    /// user → (cutoff, until).
    users: HashMap<String, (NumericDate, NumericDate)>,
    /// The highest log id applied.
    cursor: u64,
}

/// What a token is checked by: its `jti`, `sid` (session), `sub` and `iat`.
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    /// The token's `jti`.
    pub jti: Option<&'a str>,
    /// The token's session id (`sid` claim), if it belongs to one.
    pub sid: Option<&'a str>,
    /// The token's `sub`.
    pub sub: &'a str,
    /// The token's `iat`.
    pub iat: Option<NumericDate>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one revocation (log id `id`, or 0 for one not yet in the log).
    pub fn apply(&self, id: u64, revocation: &Revocation) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match revocation {
            Revocation::Token { jti, until } => {
                let e = inner.tokens.entry(jti.clone()).or_insert(*until);
                *e = (*e).max(*until);
            }
            Revocation::Session { id, until } => {
                let e = inner.sessions.entry(id.clone()).or_insert(*until);
                *e = (*e).max(*until);
            }
            Revocation::User {
                user,
                cutoff,
                until,
            } => {
                let e = inner.users.entry(user.clone()).or_insert((*cutoff, *until));
                *e = (e.0.max(*cutoff), e.1.max(*until));
            }
        }
        inner.cursor = inner.cursor.max(id);
    }

    /// The highest log id applied (where to follow the log from).
    pub fn cursor(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .cursor
    }

    /// Whether the token is revoked: by `jti`, by session, or by its user's cut-off (a token
    /// without `iat` counts as issued at 0, so a cut-off covers it).
    pub fn is_revoked(&self, token: TokenRef<'_>) -> bool {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        token.jti.is_some_and(|j| inner.tokens.contains_key(j))
            || token.sid.is_some_and(|s| inner.sessions.contains_key(s))
            || inner
                .users
                .get(token.sub)
                .is_some_and(|&(cutoff, _)| token.iat.unwrap_or(0) <= cutoff)
    }

    /// Forgets entries whose `until` is before `now`; returns how many.
    pub fn purge(&self, now: NumericDate) -> usize {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let before = inner.len();
        inner.tokens.retain(|_, until| *until >= now);
        inner.sessions.retain(|_, until| *until >= now);
        inner.users.retain(|_, (_, until)| *until >= now);
        before - inner.len()
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(jti: &'a str, sid: Option<&'a str>, sub: &'a str, iat: u64) -> TokenRef<'a> {
        TokenRef {
            jti: Some(jti),
            sid,
            sub,
            iat: Some(iat),
        }
    }

    #[test]
    fn revokes_by_jti_session_and_user_cutoff_then_purges() {
        let set = RevocationSet::new();
        assert!(!set.is_revoked(token("a", Some("s1"), "alice", 100)));
        set.apply(
            1,
            &Revocation::Token {
                jti: "a".into(),
                until: 200,
            },
        );
        set.apply(
            3,
            &Revocation::Session {
                id: "s2".into(),
                until: 500,
            },
        );
        set.apply(
            2,
            &Revocation::User {
                user: "bob".into(),
                cutoff: 150,
                until: 400,
            },
        );
        assert_eq!(set.cursor(), 3);
        assert!(set.is_revoked(token("a", None, "carol", 100)));
        assert!(set.is_revoked(token("x", Some("s2"), "carol", 100)));
        assert!(set.is_revoked(token("x", None, "bob", 150)));
        assert!(!set.is_revoked(token("x", None, "bob", 151)));
        assert!(!set.is_revoked(token("x", Some("s1"), "alice", 100)));
        assert_eq!(set.len(), 3);
        assert_eq!(set.purge(300), 1);
        assert!(!set.is_revoked(token("a", None, "carol", 100)));
        assert_eq!(set.purge(600), 2);
        assert!(set.is_empty());
    }

    #[test]
    fn a_later_user_cutoff_extends_an_earlier_one() {
        let set = RevocationSet::new();
        for (cutoff, until) in [(100, 300), (50, 900)] {
            set.apply(
                0,
                &Revocation::User {
                    user: "u".into(),
                    cutoff,
                    until,
                },
            );
        }
        assert!(set.is_revoked(token("x", None, "u", 100)));
        assert_eq!(set.purge(800), 0);
    }
}
