//! The in-process mirror of the revocation log: what a protected request checks.
//!
//! Sized for a million live entries. jtis and session ids are almost always canonical UUIDs
//! (lowercase, hyphenated: what [`uuid4`](crate::uuid4) issues), so those are kept as their
//! 128-bit value with `until` as `u32` seconds: 20 bytes a table slot, no heap allocation per
//! entry, hashed by a keyed multiply instead of SipHash over 36 bytes. Every other id, however
//! odd, is kept by its text in a [`HashMap`] with std's DoS-resistant hasher, so the set
//! answers exactly as a map from strings would: a canonical UUID text and its 128-bit value
//! are one-to-one, and a text that is not canonical never reaches the UUID table.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::Revocation;
use crate::claims::NumericDate;

/// Revoked tokens, sessions, per-user cut-offs and retired keys, held in memory. Fed from a
/// [`RevocationStore`](super::RevocationStore) (at start, then by following its log) or from a
/// server's revocation feed, and directly by the process's own writes, so a check is a hash
/// lookup.
///
/// **The staleness gate.** A set made [`with_max_lag`](Self::with_max_lag) vouches for no
/// token ([`check`](Self::check) fails with [`Unvouched`]) until its follower reports a read
/// that reached the head of the log ([`reached_head`](Self::reached_head)), whenever that
/// read is older than `max_lag`, and while the log holds an entry the follower cannot read
/// ([`set_unreadable`](Self::set_unreadable)). Servers following their store and downstream
/// services following a feed share this one rule.
#[derive(Debug, Default)]
pub struct RevocationSet {
    inner: RwLock<Inner>,
    gate: Option<Gate>,
}

/// Why no token can be vouched for: the set may lack a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unvouched {
    /// The log holds an entry this version cannot read (a newer kind, a damaged row).
    Unreadable,
    /// The set is older than the allowed lag (the log cannot be read), or was never current.
    Stale {
        /// How old the set is (`Duration::MAX` when no read ever reached the head).
        lag: Duration,
    },
}

impl fmt::Display for Unvouched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unvouched::Unreadable => {
                f.write_str("the revocation log holds an entry this version cannot read")
            }
            Unvouched::Stale { lag } if *lag == Duration::MAX => {
                f.write_str("the revocation mirror has not yet read the whole log")
            }
            Unvouched::Stale { lag } => write!(
                f,
                "the revocation mirror is {} ms old, past the allowed lag",
                lag.as_millis()
            ),
        }
    }
}

impl std::error::Error for Unvouched {}

/// The staleness gate's state (see [`RevocationSet`]).
#[derive(Debug)]
struct Gate {
    max_lag: Duration,
    /// The origin of `current_as_of`.
    base: Instant,
    /// Nanoseconds from `base` to the start of the last read that reached the head, plus one;
    /// 0 while no read has.
    current_as_of: AtomicU64,
    unreadable: AtomicBool,
    /// What could not be read, while `unreadable`.
    detail: Mutex<String>,
}

#[derive(Debug, Default)]
struct Inner {
    /// jti → until.
    tokens: Ids,
    /// session id → until.
    sessions: Ids,
    /// user → their cut-offs.
    users: HashMap<String, UserCuts>,
    /// How many cut-offs `users` holds (one or two per user), for [`RevocationSet::len`].
    user_cuts: usize,
    /// Retired key `kid` → until.
    keys: HashMap<String, NumericDate>,
    /// The highest log id applied.
    cursor: u64,
}

/// The merged [`Revocation::User`] entries of one user, exactly as revoking as all of them
/// (only `until`s may grow): at most two cut-offs, whatever was applied.
///
/// Two entries with different exceptions revoke, together, every token up to the lower
/// cutoff (a token cannot belong to both spared sessions), and the tokens above it up to the
/// higher cutoff but those of the higher one's exception. So the entries fold into one cut-off
/// without exception (`all`) and one with (`but`), whose cutoff is then above `all`'s; an
/// entry dominated by another (a cutoff no higher and the same or no exception) folds into it.
/// A cut-off's `until` is the latest of the entries folded into it, so a purge never lets go
/// of a token one of them still revokes.
#[derive(Debug, Default)]
struct UserCuts {
    /// Every token with `iat <= cutoff`: (cutoff, until).
    all: Option<(NumericDate, NumericDate)>,
    /// Every token with `iat <= cutoff` but those of one session; `cutoff` is above `all`'s.
    but: Option<ButOne>,
}

#[derive(Debug)]
struct ButOne {
    cutoff: NumericDate,
    until: NumericDate,
    except: Box<str>,
}

impl UserCuts {
    fn len(&self) -> usize {
        usize::from(self.all.is_some()) + usize::from(self.but.is_some())
    }

    fn add(&mut self, cutoff: NumericDate, until: NumericDate, except: Option<&str>) {
        let Some(except) = except else {
            self.add_all(cutoff, until);
            return;
        };
        match self.but.take() {
            Some(b) if *b.except == *except => {
                self.but = Some(ButOne {
                    cutoff: b.cutoff.max(cutoff),
                    until: b.until.max(until),
                    except: b.except,
                });
            }
            Some(b) => {
                // Up to the lower cutoff nothing is spared; above it, the higher one's
                // exception is.
                let new = ButOne {
                    cutoff,
                    until,
                    except: except.into(),
                };
                let (low, high) = if b.cutoff <= cutoff {
                    (b, new)
                } else {
                    (new, b)
                };
                self.add_all(low.cutoff, low.until.max(high.until));
                self.but = Some(high);
            }
            None => {
                self.but = Some(ButOne {
                    cutoff,
                    until,
                    except: except.into(),
                });
            }
        }
        self.fold();
    }

    fn add_all(&mut self, cutoff: NumericDate, until: NumericDate) {
        self.all = Some(match self.all {
            Some((c, u)) => (c.max(cutoff), u.max(until)),
            None => (cutoff, until),
        });
        self.fold();
    }

    /// Folds `but` into `all` when `all` revokes everything it does.
    fn fold(&mut self) {
        if let (Some((cutoff, until)), Some(b)) = (&mut self.all, &self.but)
            && b.cutoff <= *cutoff
        {
            *until = (*until).max(b.until);
            self.but = None;
        }
    }

    fn revokes(&self, iat: NumericDate, sid: Option<&str>) -> bool {
        self.all.is_some_and(|(cutoff, _)| iat <= cutoff)
            || self
                .but
                .as_ref()
                .is_some_and(|b| iat <= b.cutoff && sid != Some(&*b.except))
    }

    /// Forgets the cut-offs whose `until` is before `now`.
    fn retain_live(&mut self, now: NumericDate) {
        if self.all.is_some_and(|(_, until)| until < now) {
            self.all = None;
        }
        if self.but.as_ref().is_some_and(|b| b.until < now) {
            self.but = None;
        }
    }
}

/// What a token is checked by: its `jti`, `sid` (session), `sub`, `iat` and the `kid` of the
/// key that signed it.
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    /// The `kid` header of the token (a retired key's tokens are revoked).
    pub kid: Option<&'a str>,
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
    /// An empty set, without a staleness gate: it vouches for every token it holds no
    /// revocation of (for a set its owner fills completely, or a test).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set behind the staleness gate: it vouches for no token until a read reached
    /// the head of the log less than `max_lag` ago ([`reached_head`](Self::reached_head)).
    pub fn with_max_lag(max_lag: Duration) -> Self {
        RevocationSet {
            inner: RwLock::default(),
            gate: Some(Gate {
                max_lag,
                base: Instant::now(),
                current_as_of: AtomicU64::new(0),
                unreadable: AtomicBool::new(false),
                detail: Mutex::new(String::new()),
            }),
        }
    }

    /// The allowed lag, for a gated set.
    pub fn max_lag(&self) -> Option<Duration> {
        self.gate.as_ref().map(|g| g.max_lag)
    }

    /// Records that a read of the log which started at `started` reached its head: the set
    /// is current as of `started` (later reports never move that back).
    pub fn reached_head(&self, started: Instant) {
        if let Some(g) = &self.gate {
            let nanos = started.saturating_duration_since(g.base).as_nanos();
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
            g.current_as_of.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Marks the log as holding an entry the follower cannot read (`Some(what)`: no token is
    /// vouched for), or as read past it (`None`).
    pub fn set_unreadable(&self, detail: Option<String>) {
        if let Some(g) = &self.gate {
            match detail {
                Some(d) => {
                    *g.detail.lock().unwrap_or_else(PoisonError::into_inner) = d;
                    g.unreadable.store(true, Ordering::Relaxed);
                }
                None => g.unreadable.store(false, Ordering::Relaxed),
            }
        }
    }

    /// What in the log could not be read, while that is so.
    pub fn unreadable(&self) -> Option<String> {
        let g = self.gate.as_ref()?;
        g.unreadable.load(Ordering::Relaxed).then(|| {
            g.detail
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// How old the set is at `now`: the time since the start of the last read that reached
    /// the head (`Duration::MAX` if none has; zero for a set without a gate).
    pub fn lag_at(&self, now: Instant) -> Duration {
        let Some(g) = &self.gate else {
            return Duration::ZERO;
        };
        match g.current_as_of.load(Ordering::Relaxed) {
            0 => Duration::MAX,
            n => now.saturating_duration_since(g.base + Duration::from_nanos(n - 1)),
        }
    }

    /// Whether every token can be vouched for at `now` (see [`RevocationSet`]).
    pub fn vouching_at(&self, now: Instant) -> Result<(), Unvouched> {
        let Some(g) = &self.gate else {
            return Ok(());
        };
        if g.unreadable.load(Ordering::Relaxed) {
            return Err(Unvouched::Unreadable);
        }
        let lag = self.lag_at(now);
        if lag > g.max_lag {
            return Err(Unvouched::Stale { lag });
        }
        Ok(())
    }

    /// [`is_revoked`](Self::is_revoked), failing closed while the gate does not vouch
    /// ([`vouching_at`](Self::vouching_at) with the current time).
    pub fn check(&self, token: TokenRef<'_>) -> Result<bool, Unvouched> {
        if self.gate.is_some() {
            self.vouching_at(Instant::now())?;
        }
        Ok(self.is_revoked(token))
    }

    /// Forgets every entry and the cursor (a follower resyncing from the start of a log that
    /// was replaced). The gate's state is kept: the caller reports the next read.
    pub fn clear(&self) {
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = Inner::default();
    }

    /// Applies one revocation (log id `id`, or 0 for one not yet in the log). A user's
    /// [`Revocation::User`] entries are merged into at most two cut-offs that revoke exactly
    /// what the entries do, so a user's memory stays constant however many are applied.
    pub fn apply(&self, id: u64, revocation: &Revocation) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match revocation {
            Revocation::Token { jti, until } => inner.tokens.insert(jti, *until),
            Revocation::Session { id, until } => inner.sessions.insert(id, *until),
            Revocation::User {
                user,
                cutoff,
                until,
                except,
            } => {
                let inner = &mut *inner;
                let cuts = inner.users.entry(user.clone()).or_default();
                let before = cuts.len();
                cuts.add(*cutoff, *until, except.as_deref());
                inner.user_cuts = inner.user_cuts - before + cuts.len();
            }
            Revocation::Key { kid, until } => {
                let e = inner.keys.entry(kid.clone()).or_insert(*until);
                *e = (*e).max(*until);
            }
            Revocation::KeysChanged { .. } => {}
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

    /// Whether the token is revoked: by `jti`, by session, or by a cut-off of its user that
    /// does not spare its session (a token without `iat` counts as issued at 0, so a cut-off
    /// covers it).
    pub fn is_revoked(&self, token: TokenRef<'_>) -> bool {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        token.jti.is_some_and(|j| inner.tokens.contains(j))
            // A token without a kid is signed by the key stored under the empty kid.
            || (!inner.keys.is_empty() && inner.keys.contains_key(token.kid.unwrap_or("")))
            || token.sid.is_some_and(|s| inner.sessions.contains(s))
            || inner
                .users
                .get(token.sub)
                .is_some_and(|cuts| cuts.revokes(token.iat.unwrap_or(0), token.sid))
    }

    /// Forgets entries whose `until` is before `now`; returns how many.
    pub fn purge(&self, now: NumericDate) -> usize {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let before = inner.len();
        inner.tokens.retain_live(now);
        inner.sessions.retain_live(now);
        inner.keys.retain(|_, until| *until >= now);
        let mut user_cuts = 0;
        inner.users.retain(|_, cuts| {
            cuts.retain_live(now);
            user_cuts += cuts.len();
            cuts.len() > 0
        });
        inner.user_cuts = user_cuts;
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

    /// How big the set is, read under one lock so the two figures belong together: its
    /// entries, and the bytes of its hash tables (their slots and control bytes, computed
    /// from their capacities in O(1), for a metrics scrape). The text of non-UUID ids and of
    /// user names lives on the heap beside and is not counted. A table doubles when it fills
    /// to 7/8, so the bytes move in steps while the entries grow smoothly.
    pub fn size(&self) -> SetSize {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        SetSize {
            entries: inner.len(),
            table_bytes: inner.tokens.table_bytes()
                + inner.sessions.table_bytes()
                + table_bytes(&inner.users),
        }
    }
}

/// What [`RevocationSet::size`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetSize {
    /// Tokens, sessions and user cut-offs held (a user has one or two: see
    /// [`RevocationSet::apply`]).
    pub entries: usize,
    /// Bytes of the hash tables that hold them.
    pub table_bytes: usize,
}

impl Inner {
    fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.user_cuts + self.keys.len()
    }
}

/// The bytes of `map`'s table: a power-of-two number of buckets, each a slot and a control
/// byte (std's map is hashbrown's SwissTable; a table of `b` buckets holds `b * 7 / 8`
/// entries, or `b - 1` below 8 buckets, plus one group of trailing control bytes, ignored).
fn table_bytes<K, V, S>(map: &HashMap<K, V, S>) -> usize {
    match map.capacity() {
        0 => 0,
        cap => (cap.saturating_mul(8) / 7).next_power_of_two() * (size_of::<(K, V)>() + 1),
    }
}

/// Ids (jtis or session ids) → until, each id in exactly one of the three maps.
#[derive(Debug, Default)]
struct Ids {
    /// Canonical UUIDs whose `until` fits in `u32` (until 2106): the common case.
    compact: HashMap<Uuid, u32, UuidHasher>,
    /// Canonical UUIDs whose `until` does not fit in `u32` (never in `compact` too).
    wide: HashMap<Uuid, NumericDate, UuidHasher>,
    /// Every other id, by its text.
    other: HashMap<String, NumericDate>,
}

impl Ids {
    /// Holds `id` until at least `until`.
    fn insert(&mut self, id: &str, until: NumericDate) {
        let Some(key) = Uuid::parse(id) else {
            match self.other.get_mut(id) {
                Some(e) => *e = (*e).max(until),
                None => {
                    self.other.insert(id.to_owned(), until);
                }
            }
            return;
        };
        if let Some(e) = self.wide.get_mut(&key) {
            *e = (*e).max(until);
            return;
        }
        match u32::try_from(until) {
            Ok(until) => {
                let e = self.compact.entry(key).or_insert(until);
                *e = (*e).max(until);
            }
            // Above every value `compact` can hold, so it is the maximum: move the id.
            Err(_) => {
                self.compact.remove(&key);
                self.wide.insert(key, until);
            }
        }
    }

    /// Whether `id` is held. Does not allocate.
    fn contains(&self, id: &str) -> bool {
        match Uuid::parse(id) {
            Some(key) => self.compact.contains_key(&key) || self.wide.contains_key(&key),
            None => self.other.contains_key(id),
        }
    }

    /// Forgets the ids whose `until` is before `now`.
    fn retain_live(&mut self, now: NumericDate) {
        self.compact
            .retain(|_, until| NumericDate::from(*until) >= now);
        self.wide.retain(|_, until| *until >= now);
        self.other.retain(|_, until| *until >= now);
    }

    fn len(&self) -> usize {
        self.compact.len() + self.wide.len() + self.other.len()
    }

    fn table_bytes(&self) -> usize {
        table_bytes(&self.compact) + table_bytes(&self.wide) + table_bytes(&self.other)
    }
}

/// The 128-bit value of a canonical UUID text, as four `u32`s (alignment 4, so a table slot
/// with a `u32` value is 20 bytes, where a `u128` key would make it 32). `Debug` shows the
/// text.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Uuid([u32; 4]);

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(
            f,
            "{a:08x}-{:04x}-{:04x}-{:04x}-{:04x}{d:08x}",
            b >> 16,
            b & 0xffff,
            c >> 16,
            c & 0xffff
        )
    }
}

impl Uuid {
    /// The value of `s` if it is a canonical UUID text: 36 bytes, `-` at 8, 13, 18 and 23,
    /// lowercase hex digits elsewhere (any version). Exactly the texts [`Uuid::text`] returns.
    fn parse(s: &str) -> Option<Uuid> {
        let b = s.as_bytes();
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        // The 32 digits as four groups of eight, each decoded by `hex8` in a few word-wide
        // operations (a branch per digit would mispredict on random digits).
        let at = |i: usize| {
            b.get(i..i + 4)
                .and_then(|w| w.try_into().ok())
                .map(u32::from_be_bytes)
        };
        let pair = |i, j| Some(u64::from(at(i)?) << 32 | u64::from(at(j)?));
        let groups = [pair(0, 4)?, pair(9, 14)?, pair(19, 24)?, pair(28, 32)?];
        let [Some(a), Some(b), Some(c), Some(d)] = groups.map(hex8) else {
            return None;
        };
        Some(Uuid([a, b, c, d]))
    }

    fn value(self) -> u128 {
        let [a, b, c, d] = self.0.map(u128::from);
        (a << 96) | (b << 64) | (c << 32) | d
    }

    /// The canonical text (the inverse of [`Uuid::parse`]).
    #[cfg(test)]
    fn text(self) -> String {
        format!("{self:?}")
    }
}

/// The value of eight lowercase hex digits (the first in the most significant byte of `x`),
/// or `None` if one of them is not `0-9a-f`. Every step works on all eight bytes at once and
/// no byte's result can carry into the next.
fn hex8(x: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A digit's value, if the byte is one: its low nibble, plus 9 for `a-f` (bit 6 set).
    let v = (x & (ONES * 0x0f)) + ((x >> 6) & ONES) * 9; // each byte ≤ 24
    // Valid exactly when the value is below 16 and encodes back to the byte itself.
    let sixteen_or_more = (v + ONES * 0x70) & (ONES * 0x80);
    let ten_or_more = ((v + ONES * 0x76) >> 7) & ONES;
    let encoded = v + ONES * u64::from(b'0') + ten_or_more * u64::from(b'a' - b'0' - 10);
    if sixteen_or_more != 0 || encoded != x {
        return None;
    }
    // Pack the eight nibbles: pairs into bytes, bytes into 16 bits, then into 32.
    let v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    Some((v | (v >> 16)) as u32)
}

impl Hash for Uuid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.value());
    }
}

/// Hashes a [`Uuid`] with one keyed multiply: the two halves, each XORed with a per-map random
/// key, multiplied to 128 bits and folded (≈ 2 ns; a lookup in a 10k-entry table, parse
/// included, is ≈ 15 ns, where SipHash over the text made it ≈ 19). SipHash's strength
/// matters for keys an attacker chooses; these are ids the server issued at random (a
/// revocation is only written for a token the server verified, or by an operator), and with
/// the secret keys on top even chosen UUIDs spread over the table.
#[derive(Clone, Copy, Debug)]
struct UuidHasher {
    keys: [u64; 2],
    hash: u64,
}

impl Default for UuidHasher {
    /// A builder with fresh random keys (from std's per-process random `RandomState` keys).
    fn default() -> Self {
        let s = RandomState::new();
        UuidHasher {
            keys: [s.hash_one(0u8), s.hash_one(1u8)],
            hash: 0,
        }
    }
}

impl BuildHasher for UuidHasher {
    type Hasher = UuidHasher;

    fn build_hasher(&self) -> UuidHasher {
        *self
    }
}

impl Hasher for UuidHasher {
    fn write_u128(&mut self, v: u128) {
        let m = u128::from(v as u64 ^ self.keys[0]) * u128::from((v >> 64) as u64 ^ self.keys[1]);
        self.hash ^= m as u64 ^ (m >> 64) as u64;
    }

    /// Not used by [`Uuid`]; any input still hashes, 16 bytes at a time.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut b = [0u8; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u128(u128::from_le_bytes(b) ^ self.hash as u128);
        }
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(jti: &'a str, sid: Option<&'a str>, sub: &'a str, iat: u64) -> TokenRef<'a> {
        TokenRef {
            kid: None,
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
                except: None,
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
                    except: None,
                },
            );
        }
        assert!(set.is_revoked(token("x", None, "u", 100)));
        assert_eq!(set.purge(800), 0);
    }

    fn cut(set: &RevocationSet, user: &str, cutoff: u64, until: u64, except: Option<&str>) {
        set.apply(
            0,
            &Revocation::User {
                user: user.into(),
                cutoff,
                until,
                except: except.map(str::to_owned),
            },
        );
    }

    fn user_token<'a>(sub: &'a str, sid: Option<&'a str>, iat: Option<u64>) -> TokenRef<'a> {
        TokenRef {
            kid: None,
            jti: None,
            sid,
            sub,
            iat,
        }
    }

    #[test]
    fn a_user_cutoff_spares_the_kept_session_only() {
        let set = RevocationSet::new();
        cut(&set, "alice", 100, 900, Some("kept"));
        let revoked = |sid, iat| set.is_revoked(user_token("alice", sid, iat));
        // The kept session's tokens live on, whenever issued.
        assert!(!revoked(Some("kept"), Some(100)));
        assert!(!revoked(Some("kept"), Some(1)));
        assert!(!revoked(Some("kept"), None));
        // Every other token issued up to the cut-off second, inclusive, is revoked, and so is
        // one without `iat` (fail closed) or without a session.
        assert!(revoked(Some("other"), Some(100)));
        assert!(revoked(None, Some(100)));
        assert!(revoked(Some("other"), None));
        assert!(revoked(Some("KEPT"), Some(50)));
        // Tokens issued after the cut-off, and other users' tokens, are not.
        assert!(!revoked(Some("other"), Some(101)));
        assert!(!revoked(None, Some(101)));
        assert!(!set.is_revoked(user_token("bob", Some("other"), Some(1))));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn two_cutoffs_with_different_exceptions() {
        // A password change keeping s1 at 100, then another keeping s2 at 200.
        let set = RevocationSet::new();
        cut(&set, "u", 100, 1_000, Some("s1"));
        cut(&set, "u", 200, 2_000, Some("s2"));
        let revoked = |sid, iat| set.is_revoked(user_token("u", Some(sid), Some(iat)));
        // s1 is spared by the first but not the second: revoked up to 200.
        assert!(revoked("s1", 100));
        assert!(revoked("s1", 200));
        assert!(!revoked("s1", 201));
        // s2 is spared by the second, but the first revokes it up to 100.
        assert!(revoked("s2", 100));
        assert!(!revoked("s2", 101));
        assert!(!revoked("s2", 200));
        // Any other session: up to 200.
        assert!(revoked("s3", 200));
        assert!(!revoked("s3", 201));
        assert_eq!(set.len(), 2);
        // The same two in the other order revoke the same.
        let other = RevocationSet::new();
        cut(&other, "u", 200, 2_000, Some("s2"));
        cut(&other, "u", 100, 1_000, Some("s1"));
        for sid in ["s1", "s2", "s3"] {
            for iat in [0, 100, 101, 200, 201] {
                assert_eq!(
                    other.is_revoked(user_token("u", Some(sid), Some(iat))),
                    revoked(sid, iat),
                    "{sid} {iat}"
                );
            }
        }
        // Both are kept while either may matter: the one kept longest decides.
        assert_eq!(set.purge(1_500), 0);
        assert!(revoked("s2", 100));
        assert_eq!(set.purge(2_001), 2);
        assert!(set.is_empty());
    }

    #[test]
    fn a_dominated_cutoff_is_folded_into_the_one_that_covers_it() {
        let set = RevocationSet::new();
        cut(&set, "u", 100, 5_000, Some("s1"));
        cut(&set, "u", 300, 400, None);
        // The cut-off without exception covers the first: one entry, kept as long as either.
        assert_eq!(set.len(), 1);
        assert!(set.is_revoked(user_token("u", Some("s1"), Some(300))));
        assert_eq!(set.purge(4_999), 0);
        assert!(set.is_revoked(user_token("u", Some("s1"), Some(100))));
        assert_eq!(set.purge(5_001), 1);
        // The same exception twice: one entry with the higher cutoff.
        cut(&set, "v", 100, 700, Some("s"));
        cut(&set, "v", 50, 900, Some("s"));
        assert_eq!(set.len(), 1);
        assert!(set.is_revoked(user_token("v", Some("t"), Some(100))));
        assert!(!set.is_revoked(user_token("v", Some("s"), Some(100))));
        assert_eq!(set.purge(800), 0);
    }

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
        }
    }

    /// Random sequences of user entries and purges: the merged cut-offs answer exactly as the
    /// entries themselves would (each dropped at its own `until`), except that a purge may
    /// keep an entry longer (never shorter); and a user never holds more than two.
    #[test]
    fn merged_cutoffs_answer_as_the_entries_would() {
        let sids = [None, Some("a"), Some("b"), Some("c")];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3_000 {
            let set = RevocationSet::new();
            // (cutoff, until, except) of every entry applied and not yet purged.
            let mut entries: Vec<(u64, u64, Option<&str>)> = Vec::new();
            let mut purged_at = 0;
            for _ in 0..rng.below(8) + 1 {
                if rng.below(5) == 0 {
                    purged_at = purged_at.max(rng.below(12));
                    set.purge(purged_at);
                    entries.retain(|&(_, until, _)| until >= purged_at);
                } else {
                    let cutoff = rng.below(6);
                    let until = cutoff + rng.below(6);
                    let except = sids[rng.below(4) as usize];
                    cut(&set, "u", cutoff, until, except);
                    entries.push((cutoff, until, except));
                }
                assert!(set.len() <= 2, "{entries:?}");
                for sid in sids.iter().copied().chain([Some("d")]) {
                    for iat in (0..8).map(Some).chain([None]) {
                        let naive = entries.iter().any(|&(cutoff, _, except)| {
                            iat.unwrap_or(0) <= cutoff && (except.is_none() || except != sid)
                        });
                        let got = set.is_revoked(user_token("u", sid, iat));
                        // Nothing applied since the last purge may be forgotten early; a purge
                        // may keep an entry longer than its own `until`.
                        assert!(got || !naive, "{entries:?}: {sid:?} {iat:?}");
                        if purged_at == 0 {
                            assert_eq!(got, naive, "{entries:?}: {sid:?} {iat:?}");
                        }
                    }
                }
            }
        }
    }

    const ID: &str = "0f3c9a52-7d1e-4b8a-9c2d-e4f5a6b7c8d9";

    fn revoke_token(set: &RevocationSet, jti: &str, until: NumericDate) {
        set.apply(
            0,
            &Revocation::Token {
                jti: jti.into(),
                until,
            },
        );
    }

    #[test]
    fn parse_accepts_exactly_the_canonical_texts() {
        for _ in 0..1000 {
            let id = crate::uuid4();
            let key = Uuid::parse(&id).expect("uuid4 is canonical");
            assert_eq!(key.text(), id);
            assert_eq!(key.value(), uuid::Uuid::parse_str(&id).unwrap().as_u128());
        }
        for v in [0, 1, u128::MAX, 0xffff_ffff_0000_0000_ffff_ffff_0000_0000] {
            let text = Uuid(u128_to_words(v)).text();
            assert_eq!(Uuid::parse(&text).map(Uuid::value), Some(v));
        }
        // Every one-byte change of a canonical text: accepted iff still canonical, and then
        // read back to that very text.
        for i in 0..ID.len() {
            for c in 0..=255u8 {
                let mut b = ID.as_bytes().to_vec();
                b[i] = c;
                let Ok(s) = String::from_utf8(b) else {
                    continue;
                };
                let canonical = if [8, 13, 18, 23].contains(&i) {
                    c == b'-'
                } else {
                    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
                };
                assert_eq!(Uuid::parse(&s).map(Uuid::text), canonical.then_some(s));
            }
        }
        let upper = ID.to_uppercase();
        let braced = format!("{{{ID}}}");
        let simple = ID.replace('-', "");
        let moved = format!("{}-{}", &ID[..7], &ID[7..35]);
        let long = format!("{ID}0");
        let wide = ID.replacen('0', "é", 1);
        for s in [
            "",
            "a",
            &upper,
            &braced,
            &simple,
            &moved,
            &long,
            &ID[..35],
            &wide,
        ] {
            assert_eq!(Uuid::parse(s), None, "{s:?}");
        }
    }

    fn u128_to_words(v: u128) -> [u32; 4] {
        [
            (v >> 96) as u32,
            (v >> 64) as u32,
            (v >> 32) as u32,
            v as u32,
        ]
    }

    #[test]
    fn uuid_and_other_ids_answer_as_texts() {
        let set = RevocationSet::new();
        let upper = ID.to_uppercase();
        revoke_token(&set, ID, 100);
        assert!(set.is_revoked(token(ID, None, "u", 1)));
        // The same value spelled differently is a different jti.
        assert!(!set.is_revoked(token(&upper, None, "u", 1)));
        revoke_token(&set, &upper, 100);
        assert!(set.is_revoked(token(&upper, None, "u", 1)));
        let braced = format!("{{{ID}}}");
        assert!(!set.is_revoked(token(&braced, None, "u", 1)));
        // A jti and a session id of the same value are not the same revocation.
        assert!(!set.is_revoked(token("x", Some(ID), "u", 1)));
        set.apply(
            0,
            &Revocation::Session {
                id: ID.into(),
                until: 100,
            },
        );
        assert!(set.is_revoked(token("x", Some(ID), "u", 1)));
        assert!(!set.is_revoked(token("x", Some(&upper), "u", 1)));
        assert_eq!(set.len(), 3);
        assert_eq!(set.purge(101), 3);
        assert!(set.is_empty());
    }

    #[test]
    fn until_beyond_u32_is_kept_exactly() {
        let big = u64::from(u32::MAX) + 10;
        let set = RevocationSet::new();
        // Small, then big: moves to the wide map; then small again changes nothing.
        revoke_token(&set, ID, 100);
        revoke_token(&set, ID, big);
        revoke_token(&set, ID, 200);
        assert_eq!(set.len(), 1);
        assert_eq!(set.purge(u64::from(u32::MAX) + 1), 0);
        assert!(set.is_revoked(token(ID, None, "u", 1)));
        assert_eq!(set.purge(big), 0);
        assert_eq!(set.purge(big + 1), 1);
        assert!(!set.is_revoked(token(ID, None, "u", 1)));
        // u32::MAX itself still fits the compact map, and purges at the exact second.
        revoke_token(&set, ID, u64::from(u32::MAX));
        assert_eq!(set.purge(u64::from(u32::MAX)), 0);
        assert_eq!(set.purge(u64::from(u32::MAX) + 1), 1);
        // A bigger until first, then a smaller one: the bigger one stays.
        revoke_token(&set, ID, u64::MAX);
        revoke_token(&set, ID, 5);
        assert_eq!(set.purge(u64::MAX), 0);
        assert!(set.is_revoked(token(ID, None, "u", 1)));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn later_untils_extend_earlier_ones_for_every_kind_of_id() {
        for id in [ID, "not-a-uuid"] {
            let set = RevocationSet::new();
            revoke_token(&set, id, 500);
            revoke_token(&set, id, 300);
            assert_eq!(set.len(), 1);
            assert_eq!(set.purge(400), 0);
            assert_eq!(set.purge(501), 1);
        }
    }

    #[test]
    fn many_uuids() {
        let set = RevocationSet::new();
        let ids: Vec<String> = (0..10_000).map(|_| crate::uuid4()).collect();
        for (i, id) in ids.iter().enumerate() {
            revoke_token(&set, id, 1000 + i as u64);
        }
        assert_eq!(set.len(), ids.len());
        assert!(ids.iter().all(|id| set.is_revoked(token(id, None, "u", 1))));
        assert!(!set.is_revoked(token(&crate::uuid4(), None, "u", 1)));
        assert_eq!(set.purge(1000 + 5000), 5000);
        assert!(
            ids[..5000]
                .iter()
                .all(|id| !set.is_revoked(token(id, None, "u", 1)))
        );
        assert!(
            ids[5000..]
                .iter()
                .all(|id| set.is_revoked(token(id, None, "u", 1)))
        );
    }

    #[test]
    fn table_bytes_follow_the_tables_power_of_two_growth() {
        let set = RevocationSet::new();
        assert_eq!(set.size().table_bytes, 0);
        // A compact slot is 20 bytes (a 16-byte UUID and a u32) plus its control byte.
        let slot = 21;
        revoke_token(&set, ID, 1);
        assert_eq!(set.size().table_bytes, 4 * slot);
        for _ in 0..13 {
            revoke_token(&set, &crate::uuid4(), 1);
        }
        // 14 entries fill 16 buckets to 7/8; the 15th doubles the table.
        assert_eq!(set.size().table_bytes, 16 * slot);
        revoke_token(&set, &crate::uuid4(), 1);
        assert_eq!(set.size().table_bytes, 32 * slot);
        for _ in 0..10_000 {
            revoke_token(&set, &crate::uuid4(), 1);
        }
        assert_eq!(set.size().table_bytes, 16_384 * slot);
        // Sessions, other ids and users add their own tables.
        set.apply(
            0,
            &Revocation::Session {
                id: ID.into(),
                until: 1,
            },
        );
        revoke_token(&set, "not-a-uuid", 1);
        assert!(set.size().table_bytes > 16_384 * slot + 4 * slot);
        assert_eq!(set.size().entries, 1 + 13 + 1 + 10_000 + 2);
        assert_eq!(set.size().entries, set.len());
    }

    #[test]
    fn the_uuid_hasher_hashes_any_input() {
        let b = UuidHasher::default();
        assert_eq!(b.hash_one(7u8), b.hash_one(7u8));
        assert_ne!(b.hash_one("abc"), b.hash_one("abd"));
        let key = Uuid::parse(ID).unwrap();
        assert_eq!(b.hash_one(key), b.hash_one(key));
    }

    fn by_kid(kid: Option<&str>) -> TokenRef<'_> {
        TokenRef {
            kid,
            jti: None,
            sid: None,
            sub: "alice",
            iat: Some(5),
        }
    }

    #[test]
    fn a_retired_key_revokes_its_tokens_and_a_notice_revokes_nothing() {
        let set = RevocationSet::new();
        set.apply(
            3,
            &Revocation::KeysChanged {
                kid: "k1".into(),
                until: 100,
            },
        );
        assert!(!set.is_revoked(by_kid(Some("k1"))));
        assert_eq!((set.len(), set.cursor()), (0, 3));
        set.apply(
            4,
            &Revocation::Key {
                kid: "k1".into(),
                until: 100,
            },
        );
        assert!(set.is_revoked(by_kid(Some("k1"))));
        assert!(!set.is_revoked(by_kid(Some("k2"))));
        assert!(!set.is_revoked(by_kid(None)));
        assert_eq!(set.len(), 1);
        // The empty kid is the key of the tokens without one.
        set.apply(
            5,
            &Revocation::Key {
                kid: String::new(),
                until: 50,
            },
        );
        assert!(set.is_revoked(by_kid(None)));
        assert!(set.purge(60) == 1 && !set.is_revoked(by_kid(None)));
        assert_eq!(set.purge(100), 0);
        assert_eq!(set.purge(101), 1);
        assert!(!set.is_revoked(by_kid(Some("k1"))));
    }

    #[test]
    fn the_gate_vouches_only_while_a_recent_read_reached_the_head() {
        let ungated = RevocationSet::new();
        assert_eq!(ungated.check(by_kid(None)), Ok(false));
        assert_eq!(ungated.max_lag(), None);

        let lag = Duration::from_secs(5);
        let set = RevocationSet::with_max_lag(lag);
        let t0 = Instant::now();
        // Never current: nothing is vouched for.
        assert_eq!(
            set.vouching_at(t0),
            Err(Unvouched::Stale { lag: Duration::MAX })
        );
        assert!(set.check(by_kid(None)).is_err());
        set.reached_head(t0);
        assert_eq!(set.vouching_at(t0 + lag), Ok(()));
        assert_eq!(set.check(by_kid(None)), Ok(false));
        let late = t0 + lag + Duration::from_millis(1);
        assert!(matches!(
            set.vouching_at(late),
            Err(Unvouched::Stale { .. })
        ));
        // An older report does not move the head back.
        set.reached_head(t0 + Duration::from_secs(1));
        set.reached_head(t0);
        assert_eq!(
            set.lag_at(t0 + Duration::from_secs(3)),
            Duration::from_secs(2)
        );
        // An unreadable entry fails closed whatever the lag, until read past.
        set.set_unreadable(Some("unknown kind \"x\"".into()));
        assert_eq!(
            set.vouching_at(t0 + Duration::from_secs(1)),
            Err(Unvouched::Unreadable)
        );
        assert_eq!(set.unreadable().as_deref(), Some("unknown kind \"x\""));
        set.set_unreadable(None);
        assert_eq!(set.unreadable(), None);
        assert_eq!(set.vouching_at(t0 + Duration::from_secs(1)), Ok(()));
        // A resync clears the entries, not the gate.
        revoke_token(&set, ID, 10);
        set.clear();
        assert_eq!((set.len(), set.cursor()), (0, 0));
        assert_eq!(set.vouching_at(t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(
            Unvouched::Stale { lag: Duration::MAX }.to_string(),
            "the revocation mirror has not yet read the whole log"
        );
    }
}
