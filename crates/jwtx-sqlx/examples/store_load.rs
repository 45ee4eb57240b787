//! Grows a SQLite store for the cost-vs-N benchmark (`bench/run --only scale`): adds users,
//! one or more live sessions each, live sessions of one existing user, and live token
//! revocations, in one transaction with multi-row inserts.
//!
//! ```sh
//! cargo run --release -p jwtx-sqlx --example store_load -- --dir DIR \
//!     [--users 1000000] [--sessions-per-user 1] [--user testuser --user-sessions 1000] \
//!     [--revocations 1000000]
//! ```
//!
//! `DIR/jwtx.db` must hold the user named by `--user` (`jwtx serve --demo` creates `testuser`):
//! every added user gets its password hash (so a login as any of them costs what a real one
//! does) and no role. Added users are named `load-<n>`, numbered on from the ones already
//! there, so the command can be run again to grow the store further. Sessions live for a day,
//! with random ids and jtis (`jwtx::uuid4()`), and so do the revocations (of random jtis).
//! Prints what it added and how long it took.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jwtx_sqlx::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};

/// Rows per INSERT statement (at most 11 bound values each, under SQLite's 32,766).
const ROWS_PER_INSERT: u64 = 500;

struct Args {
    dir: PathBuf,
    users: u64,
    sessions_per_user: u64,
    user: String,
    user_sessions: u64,
    revocations: u64,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        dir: PathBuf::new(),
        users: 0,
        sessions_per_user: 1,
        user: "testuser".to_owned(),
        user_sessions: 0,
        revocations: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => a.dir = value.into(),
            "--users" => a.users = value.parse()?,
            "--sessions-per-user" => a.sessions_per_user = value.parse()?,
            "--user" => a.user = value,
            "--user-sessions" => a.user_sessions = value.parse()?,
            "--revocations" => a.revocations = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(a)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Inserts `count` live sessions of the user `name(i)` for each `i` in `users` (each user's
/// `per_user` sessions), `ROWS_PER_INSERT` rows a statement.
async fn add_sessions(
    conn: &mut SqliteConnection,
    users: std::ops::Range<u64>,
    per_user: u64,
    name: impl Fn(u64) -> String,
) -> Result<u64, Box<dyn Error>> {
    let now = now();
    let total = (users.end - users.start) * per_user;
    let mut done = 0;
    while done < total {
        let n = (total - done).min(ROWS_PER_INSERT);
        let mut q: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO sessions (id, user_name, created_at, last_used_at, expires_at, \
             user_agent, ip, current_jti) ",
        );
        q.push_values(done..done + n, |mut row, k| {
            row.push_bind(jwtx::uuid4())
                .push_bind(name(users.start + k / per_user))
                .push_bind(now)
                .push_bind(now)
                .push_bind(now + 24 * 3600)
                .push_bind("store_load")
                .push_bind("127.0.0.1")
                .push_bind(jwtx::uuid4());
        });
        q.build().execute(&mut *conn).await?;
        done += n;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    let db = args.dir.join("jwtx.db");
    // Creates or migrates the schema as `jwtx serve` would.
    SqliteStore::open(&db).await?.close().await;
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(false)
        .connect()
        .await?;
    let start = Instant::now();
    let mut tx = conn.begin().await?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE name = ?")
        .bind(&args.user)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(format!("no user {:?} in {}", args.user, db.display()))?;
    let first: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE name LIKE 'load-%'")
        .fetch_one(&mut *tx)
        .await?;
    let first = u64::try_from(first)?;
    let name = |i: u64| format!("load-{i:08}");
    // Each user gets its own credential generation, as `create_user` gives one.
    let generation: i64 =
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'user_generation'")
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
    let mut done = 0;
    while done < args.users {
        let n = (args.users - done).min(ROWS_PER_INSERT);
        let mut q: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT INTO users (name, password_hash, created_at, generation) ");
        q.push_values(done..done + n, |mut row, k| {
            row.push_bind(name(first + k))
                .push_bind(&hash)
                .push_bind(now())
                .push_bind(generation + 1 + i64::try_from(k).unwrap_or(i64::MAX));
        });
        q.build().execute(&mut *tx).await?;
        done += n;
    }
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES ('user_generation', ?) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(generation + i64::try_from(args.users)?)
    .execute(&mut *tx)
    .await?;
    let sessions = add_sessions(
        &mut tx,
        first..first + args.users,
        args.sessions_per_user,
        name,
    )
    .await?;
    let user = args.user.clone();
    let user_sessions = add_sessions(&mut tx, 0..1, args.user_sessions, |_| user.clone()).await?;
    let mut done = 0;
    while done < args.revocations {
        let n = (args.revocations - done).min(ROWS_PER_INSERT);
        let mut q: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("INSERT INTO revocations (kind, subject, until) ");
        q.push_values(0..n, |mut row, _| {
            row.push_bind("token")
                .push_bind(jwtx::uuid4())
                .push_bind(now() + 24 * 3600);
        });
        q.build().execute(&mut *tx).await?;
        done += n;
    }
    tx.commit().await?;
    conn.close().await?;
    println!(
        "added {} users (load-{first:08} on) with {sessions} sessions, {user_sessions} \
         sessions of {:?} and {} revocations to {} in {:.2?}",
        args.users,
        args.user,
        args.revocations,
        db.display(),
        start.elapsed()
    );
    Ok(())
}
