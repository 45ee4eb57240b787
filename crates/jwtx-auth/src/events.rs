//! Audit events: what the flows did, as [`AuthEvent`]s handed to an [`EventSink`].
//! [`TracingEvents`] writes them as `tracing` lines under the target `audit` (never a token or
//! a password); an application adds metrics or its own audit trail with a sink that counts
//! and then forwards.
//!
//! A failed login's "user name" is sometimes a password typed into the wrong field, so a name
//! that matches no account is never written as typed: [`TypedName`] writes a keyed hash that
//! lets lines of one run be matched to each other without keeping the text.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use aws_lc_rs::hmac;

/// The first 64 bits, in hex, of HMAC-SHA256 of the typed name under a key made at start
/// (so the same name gives the same tag until the process ends, and nothing afterwards).
pub struct TypedName<'a>(pub &'a str);

fn key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        // Without randomness the process could not have started (the token layer needs it);
        // a fixed key still hides the text.
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    })
}

/// As its tag, never the text.
impl fmt::Debug for TypedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedName({self})")
    }
}

impl fmt::Display for TypedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = hmac::sign(key(), self.0.as_bytes());
        for b in &tag.as_ref()[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a login was refused before its password was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// The login limiter (attempts per address, failures per name and address).
    Throttled,
    /// The typed name's bound on queued password verifications (answered 429).
    NameBusy,
    /// The whole password hashing queue was full (answered 503).
    Overloaded,
}

/// Why a session ended without its owner asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// A login past [`jwtx::store::MAX_LIVE_SESSIONS`] ended the user's oldest session.
    SessionCap,
    /// A rotated refresh token was presented again: the whole session is revoked.
    RefreshReuse,
}

/// One thing the auth flows did. Names are account names unless the field says otherwise.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AuthEvent<'a> {
    /// A login succeeded and started session `session`.
    LoginSucceeded {
        /// The account.
        user: &'a str,
        /// The new session's id.
        session: &'a str,
        /// The client address.
        ip: IpAddr,
    },
    /// A login failed: a wrong password (`account` is the account), an unknown name
    /// (`account` is `None`; `typed` is what was typed), or credentials that changed while the
    /// password was verified.
    LoginFailed {
        /// The account, when the name is one.
        account: Option<&'a str>,
        /// The name as typed (log it as [`TypedName`] when it is no account).
        typed: &'a str,
        /// The password was right, but the password changed (or the user was deleted) while
        /// it was being verified.
        credentials_changed: bool,
        /// The client address.
        ip: IpAddr,
    },
    /// A login was refused before its password was judged.
    LoginRefused {
        /// The name as typed.
        typed: &'a str,
        /// Which limit refused it.
        reason: Refused,
        /// The client address.
        ip: IpAddr,
    },
    /// A refresh issued a new access token; `rotated` when it also issued the next refresh
    /// token (not in the reuse grace window, and the token belongs to a session).
    Refreshed {
        /// The account.
        user: &'a str,
        /// The session, if the token belongs to one.
        session: Option<&'a str>,
        /// A new refresh token was issued.
        rotated: bool,
    },
    /// A session ended without its owner asking.
    SessionEnded {
        /// The account.
        user: &'a str,
        /// The session.
        session: &'a str,
        /// Why.
        reason: SessionEnd,
    },
    /// `POST /logout`.
    Logout {
        /// The token's identity.
        user: &'a str,
        /// The session it ended, if the token belonged to one.
        session: Option<&'a str>,
    },
    /// Every session and token of a user ended (`POST /logout/all`, an admin's revocation).
    LogoutAll {
        /// The account.
        user: &'a str,
        /// Sessions that were live.
        sessions: u64,
    },
    /// One session revoked by its owner (`DELETE /sessions/{id}`).
    SessionRevoked {
        /// The account.
        user: &'a str,
        /// The session.
        session: &'a str,
    },
    /// A password change: `ok` when it was made (then `sessions_ended` others ended), else
    /// refused (`throttled`, or the current password was wrong).
    PasswordChange {
        /// The account.
        user: &'a str,
        /// The change was made.
        ok: bool,
        /// Refused by the login limiter.
        throttled: bool,
        /// Sessions ended by the change.
        sessions_ended: u64,
    },
    /// An entry was appended to the revocation log by this process.
    Revoked {
        /// The entry.
        revocation: &'a jwtx::store::Revocation,
    },
}

/// Where [`AuthEvent`]s go. Called on the request path: keep it quick and never block.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Records one event.
    fn record(&self, event: &AuthEvent<'_>);
}

/// Writes every event as a `tracing` line under the target `audit`: `info` for what was
/// asked for, `warn` for refusals and reuse.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn record(&self, event: &AuthEvent<'_>) {
        match *event {
            AuthEvent::LoginSucceeded { user, session, ip } => {
                tracing::info!(target: "audit", event = "login", result = "success", user = %user, session = %session, %ip)
            }
            AuthEvent::LoginFailed {
                account: Some(user),
                credentials_changed: true,
                ip,
                ..
            } => {
                tracing::info!(target: "audit", event = "login", result = "credentials_changed", user = %user, %ip)
            }
            AuthEvent::LoginFailed {
                account: Some(user),
                ip,
                ..
            } => {
                tracing::info!(target: "audit", event = "login", result = "failure", user = %user, %ip)
            }
            AuthEvent::LoginFailed {
                account: None,
                typed,
                ip,
                ..
            } => {
                tracing::info!(target: "audit", event = "login", result = "failure", typed_user = %TypedName(typed), %ip)
            }
            AuthEvent::LoginRefused { typed, reason, ip } => {
                let reason = match reason {
                    Refused::Throttled => "throttled",
                    Refused::NameBusy => "name_busy",
                    Refused::Overloaded => "overloaded",
                };
                tracing::warn!(target: "audit", event = "login", result = "refused", reason, typed_user = %TypedName(typed), %ip)
            }
            AuthEvent::Refreshed {
                user,
                session,
                rotated,
            } => {
                let result = if rotated { "rotated" } else { "access_only" };
                tracing::info!(target: "audit", event = "refresh", result, user = %user, session = ?session)
            }
            AuthEvent::SessionEnded {
                user,
                session,
                reason: SessionEnd::RefreshReuse,
            } => {
                tracing::warn!(target: "audit", event = "refresh_reuse_detected", user = %user, session = %session)
            }
            AuthEvent::SessionEnded {
                user,
                session,
                reason: SessionEnd::SessionCap,
            } => {
                tracing::info!(target: "audit", event = "session_ended", reason = "session_cap", user = %user, session = %session)
            }
            AuthEvent::Logout { user, session } => {
                tracing::info!(target: "audit", event = "logout", user = %user, session = ?session)
            }
            AuthEvent::LogoutAll { user, sessions } => {
                tracing::info!(target: "audit", event = "logout_all", user = %user, sessions)
            }
            AuthEvent::SessionRevoked { user, session } => {
                tracing::info!(target: "audit", event = "session_revoked", user = %user, session = %session)
            }
            AuthEvent::PasswordChange {
                user,
                ok,
                throttled,
                sessions_ended,
            } => {
                let result = match (ok, throttled) {
                    (true, _) => "success",
                    (false, true) => "throttled",
                    (false, false) => "failure",
                };
                tracing::info!(target: "audit", event = "password_change", result, user = %user, sessions_ended)
            }
            AuthEvent::Revoked { revocation } => {
                tracing::info!(target: "audit", event = "revocation", ?revocation, "revoked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_name_is_a_stable_tag_never_the_text() {
        let a = TypedName("hunter2-typed-as-a-name").to_string();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, TypedName("hunter2-typed-as-a-name").to_string());
        assert_ne!(a, TypedName("hunter3-typed-as-a-name").to_string());
        assert!(!a.contains("hunter"));
    }
}
