//! Start-up cost of a large revocation log: fills a SQLite store with live revocations (one
//! transaction, multi-row inserts), then loads them into a [`RevocationSet`] exactly as
//! `jwtx serve` does at start (`revocations_since(cursor, now, batch)` until a short batch)
//! and prints the time taken and the process's resident memory before and after; then, for
//! comparison, times the same batched query through sqlx alone (rows fetched, not decoded).
//!
//! ```sh
//! cargo run --release -p jwtx-sqlx --example revocation_load -- \
//!     [--count 1000000] [--sessions-percent 0] [--batch 1000] [--dir DIR]
//! ```
//!
//! The database is `DIR/jwtx.db` (so `jwtx serve --data-dir DIR` can be started on it); without
//! `--dir` it goes to a temporary directory removed at the end. A database that already holds
//! revocations is loaded as it is, not filled again. jtis and session ids are `jwtx::uuid4()`
//! values, every entry live for a day.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwtx::store::{RevocationSet, RevocationStore, TokenRef};
use jwtx_sqlx::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite};

/// Rows per INSERT statement (two bound values each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 500;

struct Args {
    count: u64,
    sessions_percent: u64,
    batch: u32,
    dir: Option<PathBuf>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        count: 1_000_000,
        sessions_percent: 0,
        batch: 1000,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--count" => a.count = value.parse()?,
            "--sessions-percent" => a.sessions_percent = value.parse()?,
            "--batch" => a.batch = value.parse()?,
            "--dir" => a.dir = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    Ok(a)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A line of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Inserts `count` live revocations into the database at `db` in one transaction.
async fn fill(db: &PathBuf, count: u64, sessions_percent: u64) -> Result<(), Box<dyn Error>> {
    let mut conn = SqliteConnectOptions::new().filename(db).connect().await?;
    let until = i64::try_from(now() + 24 * 3600)?;
    let mut tx = conn.begin().await?;
    let mut done = 0u64;
    while done < count {
        let n = (count - done).min(ROWS_PER_INSERT as u64);
        let mut q: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT INTO revocations (kind, subject, cutoff, until) ");
        q.push_values(done..done + n, |mut row, i| {
            let kind = if i % 100 < sessions_percent {
                "session"
            } else {
                "token"
            };
            row.push_bind(kind)
                .push_bind(jwtx::uuid4())
                .push("NULL")
                .push_bind(until);
        });
        q.build().execute(&mut *tx).await?;
        done += n;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("jwtx-revocation-load-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("jwtx.db");

    // Create (or migrate) the schema, then fill it if it holds no revocations yet.
    let store = SqliteStore::open(&db).await?;
    store.close().await;
    let mut conn = SqliteConnectOptions::new().filename(&db).connect().await?;
    let held: i64 = sqlx::query("SELECT count(*) AS n FROM revocations")
        .fetch_one(&mut conn)
        .await?
        .try_get("n")?;
    conn.close().await?;
    if held == 0 {
        let start = Instant::now();
        fill(&db, args.count, args.sessions_percent).await?;
        println!(
            "filled {} with {} revocations ({}% sessions) in {:.2?}",
            db.display(),
            args.count,
            args.sessions_percent,
            start.elapsed()
        );
    } else {
        println!("{} already holds {held} revocations", db.display());
    }

    // What `jwtx serve` does at start: open the store, then catch up on the log.
    let rss_before = status_kib("VmRSS");
    let start = Instant::now();
    let store = SqliteStore::open(&db).await?;
    let opened = start.elapsed();
    let set = RevocationSet::new();
    let (mut batches, mut applying) = (0u64, Duration::ZERO);
    loop {
        let batch = store
            .revocations_since(set.cursor(), now(), args.batch)
            .await?;
        let t = Instant::now();
        for (id, r) in &batch {
            set.apply(*id, r);
        }
        applying += t.elapsed();
        batches += 1;
        if batch.len() < args.batch as usize {
            break;
        }
    }
    let total = start.elapsed();
    let rss_after = status_kib("VmRSS");
    println!(
        "loaded {} revocations in {total:.2?} (open {opened:.2?}; {batches} batches of {}; \
         apply {applying:.2?}, the rest reading the store)",
        set.len(),
        args.batch,
    );
    println!(
        "VmRSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB, {:.1} bytes per entry); VmHWM {:.1} MiB",
        mib(rss_before),
        mib(rss_after),
        mib(rss_after.saturating_sub(rss_before)),
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / set.len().max(1) as f64,
        mib(status_kib("VmHWM")),
    );
    let probe = TokenRef {
        kid: None,
        jti: Some("00000000-0000-4000-8000-000000000000"),
        sid: None,
        sub: "nobody",
        iat: Some(now()),
    };
    assert!(!set.is_revoked(probe));

    store.close().await;
    drop(set);

    // For comparison: the same batched query through sqlx alone, rows fetched, not decoded.
    let mut conn = SqliteConnectOptions::new().filename(&db).connect().await?;
    let start = Instant::now();
    let (mut cursor, mut rows) = (0i64, 0usize);
    loop {
        let batch = sqlx::query(
            "SELECT id, kind, subject, cutoff, until FROM revocations \
             WHERE id > ? AND until >= ? ORDER BY id LIMIT ?",
        )
        .bind(cursor)
        .bind(i64::try_from(now())?)
        .bind(i64::from(args.batch))
        .fetch_all(&mut conn)
        .await?;
        rows += batch.len();
        if let Some(last) = batch.last() {
            cursor = last.try_get(0)?;
        }
        if batch.len() < args.batch as usize {
            break;
        }
    }
    println!(
        "for comparison, sqlx alone (same query and batches, rows not decoded): \
         {rows} rows in {:.2?}",
        start.elapsed()
    );
    conn.close().await?;

    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
