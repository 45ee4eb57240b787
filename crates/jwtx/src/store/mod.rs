//! Store traits: users, sessions (refresh-token families), revocations, asymmetric signing
//! keys ([`KeyStore`]) and the credentials of services that read the revocation feed
//! ([`ServiceStore`]), with in-memory implementations ([`memory`]). `jwtx-sqlx` implements
//! them on SQLite and PostgreSQL.
//!
//! The traits are object-safe and runtime-agnostic: every method returns a boxed `Send`
//! future ([`StoreFuture`]), so the core depends on no async runtime. Every write is durable
//! when its future resolves `Ok`; callers answer success only after that.
//!
//! Revocations are an append-only, ordered log ([`RevocationStore`]): a server loads the
//! entries that have not yet expired into a [`RevocationSet`] at start, then follows the log
//! by id, so checking a token costs no store round trip and a revocation written by another
//! process (the admin CLI, another instance) is seen at the next poll. Its entries have one
//! canonical text ([`Revocation::to_entry`]), specified in `docs/revocation-log.md`.
//!
//! Every end of a session is one transaction that also appends its one log entry, returned
//! as [`Logged`] so the caller can apply it to its own set at once: one session
//! ([`SessionStore::revoke_session`], reuse in [`SessionStore::rotate`], the session cap in
//! [`SessionStore::create_session`]) appends a [`Revocation::Session`]; every session of a
//! user ([`SessionStore::end_user_sessions`], [`UserStore::change_password`],
//! [`UserStore::delete_user`]) appends one [`Revocation::User`] cut-off at the store's clock,
//! however many sessions end, and records the cut-off on the user so that a login in the
//! cut-off's second is told to wait ([`SessionCreated::TooEarly`]) rather than issue tokens
//! the cut-off revokes. So a store of users and sessions is also a revocation log.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::claims::NumericDate;
use crate::clock::Clock;

mod entry;
mod keys;
pub mod memory;
mod revocation_set;
pub mod sealed;
mod services;

pub use keys::{
    KeyStatus, KeyStore, NewSigningKey, PrivateKeyPem, SigningKey, StoredSecret, active_changed,
    is_retirable, pending_exists, retiring_active, sort_keys,
};
pub use revocation_set::{RevocationSet, SetSize, TokenRef, Unvouched};
pub use services::{
    CREDENTIAL_LEN, CREDENTIAL_PREFIX, CredentialDigest, Service, ServiceCredential, ServiceStore,
    is_well_formed as is_well_formed_credential,
};

/// The future every store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The cause a [`StoreError`] keeps ([`std::error::Error::source`]). Shared, so the error
/// stays `Clone`. A store puts nothing here that could hold a secret: `jwtx-sqlx` keeps the
/// sqlx error's text with passwords in connection strings masked, not the sqlx error itself.
pub type ErrorSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// `Display` is the one-line message; the underlying cause, when the store had one, is
/// [`source`](std::error::Error::source). Two errors are equal when their variant and text
/// are, and their sources' texts are.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer (a server answers 503).
    Unavailable {
        /// What went wrong, without secrets (no connection strings).
        detail: String,
        /// The underlying failure (I/O, driver), redacted like `detail`.
        source: Option<ErrorSource>,
    },
    /// The write conflicts with what is stored (e.g. a user name that exists). A logical
    /// outcome the caller answers, so it keeps no source.
    Conflict {
        /// What conflicts.
        what: String,
    },
    /// Stored data is not what this version of jwtx expects (e.g. a migration is missing).
    Corrupt {
        /// What is wrong.
        detail: String,
        /// The underlying failure (a decode error, the driver's), redacted like `detail`.
        source: Option<ErrorSource>,
    },
}

impl StoreError {
    /// [`StoreError::Unavailable`] without a source.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        StoreError::Unavailable {
            detail: detail.into(),
            source: None,
        }
    }

    /// [`StoreError::Corrupt`] without a source.
    pub fn corrupt(detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            detail: detail.into(),
            source: None,
        }
    }

    /// The same error caused by `source`. A [`StoreError::Conflict`] keeps no source and is
    /// returned unchanged.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let StoreError::Unavailable { source: s, .. } | StoreError::Corrupt { source: s, .. } =
            &mut self
        {
            *s = Some(Arc::new(source));
        }
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable { detail, .. } => write!(f, "store unavailable: {detail}"),
            StoreError::Conflict { what } => write!(f, "conflict: {what}"),
            StoreError::Corrupt { detail, .. } => write!(f, "unexpected stored data: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Unavailable { source, .. } | StoreError::Corrupt { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            StoreError::Conflict { .. } => None,
        }
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        let text = |s: &Option<ErrorSource>| s.as_ref().map(ToString::to_string);
        match (self, other) {
            (
                StoreError::Unavailable { detail, source },
                StoreError::Unavailable {
                    detail: d,
                    source: s,
                },
            )
            | (
                StoreError::Corrupt { detail, source },
                StoreError::Corrupt {
                    detail: d,
                    source: s,
                },
            ) => detail == d && text(source) == text(s),
            (StoreError::Conflict { what }, StoreError::Conflict { what: w }) => what == w,
            _ => false,
        }
    }
}

impl Eq for StoreError {}

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The unique name (the token's `sub`).
    pub name: String,
    /// The password hash as a PHC string (e.g. `$argon2id$v=19$…`).
    pub password_hash: String,
    /// Roles, in the order they were given, without duplicates.
    pub roles: Vec<String>,
    /// When the account was created.
    pub created_at: NumericDate,
    /// The credential generation: a number the store assigns when the user is created and
    /// replaces with a new one at every password change, drawn from one counter for the whole
    /// store, so a user created later under the same name never has an earlier user's
    /// generation. A login remembers the generation it verified the password against, and its
    /// session is created only if the user still has it ([`SessionStore::create_session`]);
    /// every write of a hash is a compare-and-set on it. Ignored by
    /// [`UserStore::create_user`].
    pub generation: u64,
    /// A demonstration account (`jwtx serve --demo`): a server refuses to listen on a public
    /// address while any exists.
    pub demo: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("created_at", &self.created_at)
            .field("generation", &self.generation)
            .field("demo", &self.demo)
            .finish()
    }
}

/// A log entry a store appended while it wrote something else, in the same transaction:
/// the caller applies it to its [`RevocationSet`] at once rather than wait for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Its log id.
    pub id: u64,
    /// The entry.
    pub revocation: Revocation,
}

/// What [`UserStore::change_password`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordChange {
    /// The hash is replaced and the user's credentials are at the new `generation`; every live
    /// session but the kept one was revoked and one cut-off appended, in the same transaction.
    Changed {
        /// The user's new credential generation.
        generation: u64,
        /// How many sessions were revoked.
        ended: u64,
        /// The cut-off: every token of the user up to now, but the kept session's.
        logged: Logged,
    },
    /// The user's generation is no longer the one expected (another change came first):
    /// nothing was written.
    Stale,
    /// There is no such user.
    NoSuchUser,
}

/// Users: accounts, password hashes and roles.
pub trait UserStore: Send + Sync + fmt::Debug {
    /// Creates a user with a new credential generation (the one in `user` is ignored);
    /// [`StoreError::Conflict`] if the name is taken.
    fn create_user(&self, user: User) -> StoreFuture<'_, ()>;
    /// The user called `name`.
    fn get_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<User>>;
    /// Every user, by name.
    fn list_users(&self) -> StoreFuture<'_, Vec<User>>;
    /// Changes the password, in one transaction: if the user's generation is still
    /// `expected`, the hash becomes `hash`, the user gets a new generation and is no longer a
    /// demo account (its password is no longer the well-known one), and their sessions end as
    /// [`SessionStore::end_user_sessions`] ends them (all but `keep`, one cut-off entry kept
    /// `lifetime` seconds). So a login that verified the old password cannot create a session
    /// afterwards, and every token issued before is revoked. [`PasswordChange::Stale`] and
    /// [`PasswordChange::NoSuchUser`] write nothing.
    fn change_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, PasswordChange>;
    /// Replaces the hash with a new hash of the same password (a login's rehash when the
    /// hashing parameters rose), only if the user's generation is still `expected`; the
    /// generation stays. `false` if nothing was written (changed meanwhile, or no such user).
    fn rehash_password<'a>(
        &'a self,
        name: &'a str,
        hash: &'a str,
        expected: u64,
    ) -> StoreFuture<'a, bool>;
    /// Whether any demonstration user ([`User::demo`]) exists.
    fn has_demo_users(&self) -> StoreFuture<'_, bool>;
    /// Replaces the roles; `false` if there is no such user.
    fn set_roles<'a>(&'a self, name: &'a str, roles: &'a [String]) -> StoreFuture<'a, bool>;
    /// Deletes the user and their sessions and appends a cut-off of every token of theirs up
    /// to the store's current second, inclusive, kept `lifetime` seconds; one transaction.
    /// `None`, and nothing written, if there is no such user. A user created later under the
    /// name starts without a cut-off, so the entry refuses its tokens of the deletion's own
    /// second too (failing closed, for one second).
    fn delete_user<'a>(&'a self, name: &'a str, lifetime: u64) -> StoreFuture<'a, Option<Logged>>;
    /// Checks that the store answers (readiness). In-process stores always do.
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// The store's clock, in Unix seconds. Cut-offs ([`Revocation::User`]) are taken from it,
    /// not from the clock of whichever process writes them, so a CLI on another machine
    /// against a shared database cuts at the same time the servers issue by. In-process
    /// stores answer the system clock.
    fn now(&self) -> StoreFuture<'_, NumericDate> {
        Box::pin(std::future::ready(Ok(crate::clock::SystemClock.now())))
    }
}

/// A login session: one refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session id (the tokens' `sid` claim).
    pub id: String,
    /// The user (`sub`).
    pub user: String,
    /// When the session started (login).
    pub created_at: NumericDate,
    /// When a refresh token of the family was last used.
    pub last_used_at: NumericDate,
    /// The absolute end of the session, whatever refreshes happen.
    pub expires_at: NumericDate,
    /// The `User-Agent` at login, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The client address at login.
    pub ip: Option<String>,
    /// The `jti` of the refresh token that may be used next.
    pub current_jti: String,
    /// The `jti` it replaced, and when (for the reuse grace window).
    pub previous: Option<(String, NumericDate)>,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<NumericDate>,
}

/// The most live sessions one user may hold. A login beyond it ends the user's oldest live
/// session ([`SessionStore::create_session`] says which), so a user who never logs out, or an
/// attacker who knows the password and logs in in a loop, cannot grow the store without bound.
pub const MAX_LIVE_SESSIONS: usize = 1_000;

/// Where a page of [`SessionStore::list_sessions`] starts: after the session created at
/// `created_at` with id `id`, in the list's order (newest first, then by id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionCursor {
    /// The last listed session's `created_at`.
    pub created_at: NumericDate,
    /// The last listed session's id.
    pub id: String,
}

impl SessionCursor {
    /// The cursor after `s`.
    pub fn after(s: &Session) -> SessionCursor {
        SessionCursor {
            created_at: s.created_at,
            id: s.id.clone(),
        }
    }

    /// Whether `s` comes after this cursor in the list's order.
    pub fn precedes(&self, s: &Session) -> bool {
        s.created_at < self.created_at || (s.created_at == self.created_at && s.id > self.id)
    }
}

/// What [`SessionStore::create_session`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCreated {
    /// The session is stored. If the user was then past [`MAX_LIVE_SESSIONS`], their oldest
    /// live session was revoked and its [`Revocation::Session`] appended, in the same
    /// transaction: `ended`.
    Created {
        /// The entry ending the oldest session, if one ended.
        ended: Option<Logged>,
    },
    /// Nothing was written: the session starts at or before the user's latest cut-off
    /// second, so the tokens issued with it (`iat` = its `created_at`) would be revoked by that
    /// cut-off. The caller waits until its clock is past `cutoff`, issues new tokens and tries
    /// again.
    TooEarly {
        /// The user's latest cut-off.
        cutoff: NumericDate,
    },
}

/// What [`SessionStore::end_user_sessions`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// How many live sessions were revoked.
    pub sessions: u64,
    /// The one cut-off appended for all of them (and the user's tokens outside sessions).
    pub logged: Logged,
}

/// What presenting a refresh token to [`SessionStore::rotate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current token: the family now expects `new_jti`.
    Rotated,
    /// It was the token just replaced, within the grace window: the family is unchanged (only
    /// `last_used_at` moves); the caller may issue an access token, but no refresh token, so
    /// the family keeps one current member (given here).
    Grace {
        /// The family's current refresh `jti`.
        current_jti: String,
    },
    /// It was used before (outside the grace window): reuse. The session is now revoked and
    /// its [`Revocation::Session`] appended, in the same transaction.
    Reused {
        /// The entry ending the session.
        logged: Logged,
    },
    /// No such session, or the session was revoked, or it is past its absolute end or idle
    /// timeout.
    Ended,
}

/// What [`judge_rotation`] decides; a store writes it and answers the matching [`Rotation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Rotate: [`Rotation::Rotated`].
    Rotated,
    /// The previous token within the grace window: [`Rotation::Grace`].
    Grace {
        /// The family's current refresh `jti`.
        current_jti: String,
    },
    /// Reuse: revoke the session and log it, [`Rotation::Reused`].
    Reused,
    /// Nothing to do: [`Rotation::Ended`].
    Ended,
}

/// The rules a rotation is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Now.
    pub now: NumericDate,
    /// Seconds after a rotation during which the previous token is still honoured (`now <
    /// rotated_at + grace`; 0 turns the grace window off).
    pub grace: u64,
    /// Seconds without a refresh after which the session ends.
    pub idle_timeout: u64,
}

/// Whether a session is live at `now`: not revoked, not past its absolute end.
pub fn is_live(s: &Session, now: NumericDate) -> bool {
    s.revoked_at.is_none() && now < s.expires_at
}

/// The rotation decision, shared by every store so they judge alike: `session` is the stored
/// family (already locked by the caller's transaction). Pure: the store does the writing.
pub fn judge_rotation(
    session: Option<&Session>,
    presented_jti: &str,
    policy: RotationPolicy,
) -> Judgement {
    let Some(s) = session else {
        return Judgement::Ended;
    };
    let idle = policy.now.saturating_sub(s.last_used_at) > policy.idle_timeout;
    if !is_live(s, policy.now) || idle {
        return Judgement::Ended;
    }
    if s.current_jti == presented_jti {
        return Judgement::Rotated;
    }
    match &s.previous {
        Some((prev, at))
            if prev == presented_jti && policy.now < at.saturating_add(policy.grace) =>
        {
            Judgement::Grace {
                current_jti: s.current_jti.clone(),
            }
        }
        _ => Judgement::Reused,
    }
}

/// Sessions (refresh-token families).
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Stores a new session of a user whose password was verified at credential generation
    /// `generation` ([`User::generation`]), in one transaction with its checks:
    /// [`StoreError::Conflict`] if its user does not exist, the user's generation is no longer
    /// `generation` (the password changed, or the user was deleted and created again, while
    /// the login verified it), or its id exists; [`SessionCreated::TooEarly`] if it starts
    /// (`created_at`) at or before the user's latest cut-off second. If the user then holds
    /// more than [`MAX_LIVE_SESSIONS`] live sessions (at `created_at`), the oldest is revoked
    /// at `created_at` and its [`Revocation::Session`] (until its `expires_at`) appended.
    fn create_session(&self, session: Session, generation: u64) -> StoreFuture<'_, SessionCreated>;
    /// The session `id`, revoked or not.
    fn get_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>>;
    /// Up to `limit` of the user's sessions that are neither revoked nor past their absolute
    /// end, newest first (then by id), starting after `after` (from the start when `None`).
    fn list_sessions<'a>(
        &'a self,
        user: &'a str,
        now: NumericDate,
        after: Option<&'a SessionCursor>,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Session>>;
    /// Presents refresh token `presented_jti` of session `id`, atomically, judged by
    /// [`judge_rotation`]. On [`Rotation::Rotated`] the family's current `jti` becomes
    /// `new_jti` (the old one becomes `previous`) and `last_used_at` is `now`; on
    /// [`Rotation::Reused`] the session is revoked at `now` and its [`Revocation::Session`]
    /// (until its `expires_at`) appended in the same transaction, so every process drops the
    /// family's access tokens.
    fn rotate<'a>(
        &'a self,
        id: &'a str,
        presented_jti: &'a str,
        new_jti: &'a str,
        policy: RotationPolicy,
    ) -> StoreFuture<'a, Rotation>;
    /// Revokes one live session at `now` and appends its [`Revocation::Session`] (until its
    /// `expires_at`), in one transaction; `None`, and nothing written, if it does not exist or
    /// is not live (revoked, or past its end).
    fn revoke_session<'a>(
        &'a self,
        id: &'a str,
        now: NumericDate,
    ) -> StoreFuture<'a, Option<Logged>>;
    /// Ends every session of `user` but `keep`, in one transaction whose cost does not grow
    /// with their number beyond one update: `cutoff` is the store's clock
    /// ([`UserStore::now`]); every session live at it but `keep` is revoked at it; the user's
    /// latest cut-off becomes it (see [`SessionCreated::TooEarly`]); and one
    /// [`Revocation::user`]`(user, cutoff, lifetime, keep)` is appended, revoking the ended
    /// sessions' tokens and the user's tokens outside sessions (`lifetime`: the longest a
    /// token lives). The entry is appended also when there is no such user (tokens may have
    /// been minted for the name).
    fn end_user_sessions<'a>(
        &'a self,
        user: &'a str,
        keep: Option<&'a str>,
        lifetime: u64,
    ) -> StoreFuture<'a, Ended>;
    /// Deletes sessions that ended before `before`; returns how many.
    fn purge_sessions(&self, before: NumericDate) -> StoreFuture<'_, u64>;
}

/// One revocation: one entry of the revocation log. `until` is when it stops mattering (the
/// latest `exp` of what it revokes); after that it is purged.
///
/// Its canonical text ([`to_entry`](Self::to_entry), [`from_entry`](Self::from_entry)) is
/// what stores without columns of their own and downstream feeds carry; `docs/revocation-log.md`
/// specifies it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Revocation {
    /// One token, by `jti`.
    Token {
        /// The token's `jti`.
        jti: String,
        /// The token's `exp`.
        until: NumericDate,
    },
    /// Every token of a session (its refresh family and the access tokens issued from it).
    Session {
        /// The session id (`sid` claim).
        id: String,
        /// The session's absolute end.
        until: NumericDate,
    },
    /// Every token of `user` issued at or before `cutoff` (logout everywhere, password change,
    /// user deletion), except the tokens of session `except` (the one a password change keeps).
    /// A token of `user` without `iat` is revoked too.
    User {
        /// The user (`sub`).
        user: String,
        /// Tokens with `iat <= cutoff` are revoked (the cut-off second included).
        cutoff: NumericDate,
        /// When the last token issued at or before the cutoff expires.
        until: NumericDate,
        /// The session whose tokens (`sid == except`) are spared.
        except: Option<String>,
    },
    /// Every token signed by the key `kid` (its `kid` header): the key was retired before its
    /// tokens expired (`jwtx keys retire`, a compromised key).
    Key {
        /// The retired key's `kid`.
        kid: String,
        /// When the last token the key signed expires.
        until: NumericDate,
    },
    /// Revokes nothing: the signing keys changed (key `kid` was added, or began to sign), so
    /// every process that signs or verifies with the store's keys reloads them. Carried in the
    /// log so a key change reaches every instance as fast as a revocation does.
    KeysChanged {
        /// The key that was added or activated.
        kid: String,
        /// When the notice stops mattering (it is purged after).
        until: NumericDate,
    },
}

impl Revocation {
    /// Every token of `user` issued at or before `cutoff` (inclusive: `iat` has whole-second
    /// resolution, so a token of the cut-off second may predate the cut), but those of session
    /// `except`; kept `lifetime` seconds after the cutoff (`until = cutoff + lifetime`,
    /// saturating), the longest a token issued by then can live.
    pub fn user(
        user: &str,
        cutoff: NumericDate,
        lifetime: u64,
        except: Option<&str>,
    ) -> Revocation {
        Revocation::User {
            user: user.to_owned(),
            cutoff,
            until: cutoff.saturating_add(lifetime),
            except: except.map(str::to_owned),
        }
    }

    /// When the revocation stops mattering.
    pub fn until(&self) -> NumericDate {
        match self {
            Revocation::Token { until, .. }
            | Revocation::Session { until, .. }
            | Revocation::User { until, .. }
            | Revocation::Key { until, .. }
            | Revocation::KeysChanged { until, .. } => *until,
        }
    }

    /// The canonical entry text: one compact JSON object, `"kind"` first, then the kind's
    /// fields in a fixed order; `"except"` only when present. For example
    /// `{"kind":"user","user":"alice","cutoff":1700000000,"until":1700000900,"except":"s1"}`.
    pub fn to_entry(&self) -> String {
        entry::to_entry(self)
    }

    /// Reads an entry text ([`to_entry`](Self::to_entry)'s format). Refuses, rather than
    /// guesses at, anything else: a kind this version does not know
    /// ([`EntryError::UnknownKind`]: a reader must then refuse every token until it can read
    /// it, never skip it), and a field missing, unknown, repeated or of the wrong type.
    pub fn from_entry(text: &str) -> Result<Revocation, EntryError> {
        entry::from_entry(text)
    }
}

/// Why [`Revocation::from_entry`] refused an entry text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// The entry is of a kind this version does not know (written by a newer version).
    UnknownKind(String),
    /// The text is not an entry: not one JSON object, no `"kind"` string, or a field missing,
    /// unknown, repeated or of the wrong type.
    Malformed(String),
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::UnknownKind(kind) => write!(f, "unknown revocation kind {kind:?}"),
            EntryError::Malformed(why) => write!(f, "malformed revocation entry: {why}"),
        }
    }
}

impl std::error::Error for EntryError {}

/// The revocation log.
pub trait RevocationStore: Send + Sync + fmt::Debug {
    /// Appends a revocation, durably; returns its log id (strictly increasing).
    fn revoke(&self, revocation: Revocation) -> StoreFuture<'_, u64>;
    /// Up to `limit` entries with log id greater than `after`, in log order, that have not
    /// expired at `now`.
    fn revocations_since(
        &self,
        after: u64,
        now: NumericDate,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(u64, Revocation)>>;
    /// Deletes entries whose `until` is before `now`; returns how many.
    fn purge_revocations(&self, now: NumericDate) -> StoreFuture<'_, u64>;
    /// Where the log stands ([`LogPosition`]): its epoch and its head. What a downstream
    /// reader of the log (the revocation feed) needs to tell a cursor of this log from one of
    /// another, or of this log before a restore.
    ///
    /// The default answers [`StoreError::Unavailable`]: a store that keeps no position cannot
    /// be followed from outside (the feed answers 503), rather than be followed wrongly.
    fn log_position(&self) -> StoreFuture<'_, LogPosition> {
        Box::pin(std::future::ready(Err(StoreError::unavailable(
            "this store keeps no revocation log position (epoch and head)",
        ))))
    }
}

/// Where a revocation log stands ([`RevocationStore::log_position`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPosition {
    /// Identifies this log: made once when the store is created and kept by the store (a
    /// backup restored keeps it); another database has another. Opaque, 1 to 64 visible
    /// ASCII characters. A reader that sees another epoch than before starts again from 0.
    pub epoch: String,
    /// The highest log id ever handed out (0 if none), purged entries included: every later
    /// entry gets a higher id. A cursor above it belongs to another log, or to this one
    /// before it was restored from a backup.
    pub head: u64,
}
