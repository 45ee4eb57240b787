//! The in-process revocation mirror ([`RevocationSet`]): lookup and apply cost at 10 000 and
//! 1 000 000 live entries, and the resident memory 1 000 000 entries take.
//!
//! A set of `n` entries holds `n / 5` session revocations, 100 user cut-offs and tokens for
//! the rest; jtis and session ids are v4 UUIDs formatted as `jwtx::uuid4` formats them, drawn
//! from a fixed pseudo-random stream (so every run builds the same set).
//!
//! - `revocations/<n>/is_revoked_hit`: a token whose `jti` is revoked (the first lookup
//!   answers).
//! - `revocations/<n>/is_revoked_hit_sid`: a token whose `jti` is not revoked but whose
//!   session is (two lookups).
//! - `revocations/<n>/is_revoked_miss`: a token that is not revoked at all, `jti`, `sid` and
//!   `sub` all looked up: what every request that passes pays.
//! - `revocations/1M/reapply`: `apply` of an entry already held (what the log follower does
//!   when it reads back the server's own writes).
//! - `revocations/apply/10k_into_empty`: 10 000 token revocations applied to an empty set,
//!   growth included (throughput in entries/s).
//!
//! Lookups cycle through 65 536 pre-built tokens in random order, so at 1M entries most table
//! probes miss the CPU caches, as a server's requests would.
//!
//! Before the 1M group runs, the bench fills a fresh set of 1M entries and prints the process's
//! resident memory (`VmRSS` in `/proc/self/status`) before and after, and the time the fill
//! took: the heap cost per entry, allocator overhead included.
//!
//! Run: `cargo bench -p jwtx --bench revocations` (about a minute); smoke test:
//! `cargo bench -p jwtx --bench revocations -- --test`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jwtx::store::{Revocation, RevocationSet, TokenRef};

/// Every entry's `until`: far in the future, so nothing expires during a run.
const UNTIL: u64 = 4_000_000_000;
/// Issue time of the looked-up tokens (after every user cut-off).
const IAT: u64 = 1_900_000_000;
/// How many pre-built tokens the lookups cycle through (a power of two).
const SAMPLES: usize = 1 << 16;

/// Key streams.
const TOKENS: u64 = 0;
const SESSIONS: u64 = 1;
const MISSING_TOKENS: u64 = 2;
const MISSING_SESSIONS: u64 = 3;

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `i`-th v4 UUID of `stream`, lowercase and hyphenated like `jwtx::uuid4()`.
fn uuid(stream: u64, i: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&splitmix64((stream << 48) ^ (2 * i)).to_le_bytes());
    bytes[8..].copy_from_slice(&splitmix64((stream << 48) ^ (2 * i + 1)).to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Entry `i` of a set (every fifth is a session, the first 100 are user cut-offs, every
/// other one of those sparing a session as a password change does).
fn entry(i: u64) -> Revocation {
    if i < 100 {
        Revocation::User {
            user: format!("user{i}"),
            cutoff: IAT - 1,
            until: UNTIL,
            except: (i % 2 == 1).then(|| uuid(SESSIONS, i)),
        }
    } else if i % 5 == 4 {
        Revocation::Session {
            id: uuid(SESSIONS, i),
            until: UNTIL,
        }
    } else {
        Revocation::Token {
            jti: uuid(TOKENS, i),
            until: UNTIL,
        }
    }
}

/// A set of `n` entries, built as the server loads the log (one `apply` per entry, in id
/// order).
fn fill(n: u64) -> RevocationSet {
    let set = RevocationSet::new();
    for i in 0..n {
        set.apply(i + 1, &entry(i));
    }
    assert_eq!(set.len() as u64, n);
    set
}

/// A pre-built token: `jti`, `sid`, `sub`.
struct Probe {
    jti: String,
    sid: String,
    sub: String,
}

impl Probe {
    fn as_ref(&self) -> TokenRef<'_> {
        TokenRef {
            kid: None,
            jti: Some(&self.jti),
            sid: Some(&self.sid),
            sub: &self.sub,
            iat: Some(IAT),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// `jti` revoked.
    Hit,
    /// `sid` revoked, `jti` not.
    HitSid,
    /// Nothing revoked.
    Miss,
}

/// `SAMPLES` tokens of `kind` against a set of `n` entries, in pseudo-random order.
fn probes(n: u64, kind: Kind) -> Vec<Probe> {
    (0..SAMPLES as u64)
        .map(|k| {
            // A random entry index at or above 100 (past the user cut-offs).
            let i = 100 + splitmix64(k ^ 0x5eed) % (n - 100);
            let (jti, sid) = match kind {
                Kind::Hit => (
                    uuid(TOKENS, if i % 5 == 4 { i - 1 } else { i }),
                    uuid(MISSING_SESSIONS, k),
                ),
                Kind::HitSid => (uuid(MISSING_TOKENS, k), uuid(SESSIONS, i - i % 5 + 4)),
                Kind::Miss => (uuid(MISSING_TOKENS, k), uuid(MISSING_SESSIONS, k)),
            };
            Probe {
                jti,
                sid,
                sub: format!("member{}", k % 1000),
            }
        })
        .collect()
}

/// Resident memory of this process, in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn lookups(c: &mut Criterion, label: &str, set: &RevocationSet, n: u64) {
    let mut group = c.benchmark_group(format!("revocations/{label}"));
    for (name, kind, revoked) in [
        ("is_revoked_hit", Kind::Hit, true),
        ("is_revoked_hit_sid", Kind::HitSid, true),
        ("is_revoked_miss", Kind::Miss, false),
    ] {
        let probes = probes(n, kind);
        assert!(probes.iter().all(|p| set.is_revoked(p.as_ref()) == revoked));
        let mut k = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let p = &probes[k & (SAMPLES - 1)];
                k = k.wrapping_add(1);
                set.is_revoked(black_box(p.as_ref()))
            })
        });
    }
    group.finish();
}

fn small(c: &mut Criterion) {
    let n = 10_000;
    let set = fill(n);
    lookups(c, "10k", &set, n);
}

fn large(c: &mut Criterion) {
    let n = 1_000_000;
    let before = rss_kib();
    let start = Instant::now();
    let set = fill(n);
    let took = start.elapsed();
    let after = rss_kib();
    let sessions = (100..n).filter(|i| i % 5 == 4).count() as u64;
    println!(
        "revocations/1M: {n} entries ({} tokens, {} sessions, 100 users) applied in {took:.2?}; \
         VmRSS {before} KiB -> {after} KiB: +{:.1} MiB, {:.1} bytes per entry",
        n - 100 - sessions,
        sessions,
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / n as f64,
    );
    lookups(c, "1M", &set, n);

    let again: Vec<Revocation> = (0..SAMPLES as u64)
        .map(|k| entry(100 + splitmix64(k ^ 0xa99) % (n - 100)))
        .collect();
    let mut k = 0usize;
    c.benchmark_group("revocations/1M")
        .bench_function("reapply", |b| {
            b.iter(|| {
                set.apply(0, black_box(&again[k & (SAMPLES - 1)]));
                k = k.wrapping_add(1);
            })
        });
    assert_eq!(set.len() as u64, n);
}

fn apply(c: &mut Criterion) {
    let n = 10_000u64;
    let revocations: Vec<Revocation> = (0..n)
        .map(|i| Revocation::Token {
            jti: uuid(MISSING_TOKENS, i),
            until: UNTIL,
        })
        .collect();
    let mut group = c.benchmark_group("revocations/apply");
    group.throughput(Throughput::Elements(n));
    group.bench_function("10k_into_empty", |b| {
        b.iter_batched(
            RevocationSet::new,
            |set| {
                for (i, r) in revocations.iter().enumerate() {
                    set.apply(i as u64 + 1, r);
                }
                set
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = small, large, apply
}
criterion_main!(benches);
