//! The PostgreSQL test support (`jwtx_test::pg`): test databases are created empty and
//! dropped, and a private server starts, stops and starts again with its data.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::str::FromStr;

use jwtx_test::pg::{PrivatePostgres, TestDatabase, admin_url, shown};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};

async fn connect(url: &str) -> PgConnection {
    PgConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn database_exists(admin: &str, name: &str) -> bool {
    let mut conn = connect(admin).await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    exists
}

#[tokio::test]
async fn test_databases_are_fresh_and_dropped() {
    let a = TestDatabase::create().await;
    let b = TestDatabase::create().await;
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("jwtx_test_"), "{}", a.name());
    assert!(a.url().ends_with(&format!("/{}", a.name())), "{}", a.url());
    let mut conn = connect(a.url()).await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "a new database is empty");
    // A connection still open does not keep the database from being dropped.
    let (a_name, b_name) = (a.name().to_owned(), b.name().to_owned());
    a.drop_now().await;
    drop(b);
    let admin = admin_url();
    assert!(!database_exists(&admin, &a_name).await);
    assert!(!database_exists(&admin, &b_name).await);
    assert!(conn.execute("SELECT 1").await.is_err());
}

#[test]
fn shown_urls_hide_passwords() {
    assert_eq!(
        shown("postgres://u:hunter2@h:1/db"),
        "postgres://u:***@h:1/db"
    );
    assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
    assert!(!shown("not a url hunter2").contains("hunter2"));
}

/// A private server: a database made on it survives a stop and a start on the same port.
#[tokio::test]
async fn a_private_server_stops_and_starts_again() {
    let mut pg = PrivatePostgres::start();
    assert!(pg.is_running());
    let db = TestDatabase::create_on(&pg.url()).await;
    let mut conn = connect(db.url()).await;
    conn.execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (7)")
        .await
        .unwrap();
    conn.close().await.unwrap();

    pg.stop();
    assert!(!pg.is_running());
    let refused = PgConnectOptions::from_str(db.url())
        .unwrap()
        .connect()
        .await;
    assert!(refused.is_err(), "a stopped server refuses connections");

    pg.start_again();
    let mut conn = connect(db.url()).await;
    let x: i32 = sqlx::query_scalar("SELECT x FROM t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(x, 7);
    conn.close().await.unwrap();
    db.drop_now().await;
    let dir_port = pg.port();
    drop(pg);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", dir_port)).is_err(),
        "a dropped server is stopped"
    );
}
