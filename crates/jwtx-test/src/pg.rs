//! PostgreSQL for tests: [`TestDatabase`], a fresh database on the machine's server for one
//! test, dropped afterwards; and [`PrivatePostgres`], a server of the test's own (`initdb` and
//! `pg_ctl` in a temporary directory), which a test may stop and start again.
//!
//! The machine's server is `postgres://postgres@127.0.0.1:5432/postgres` (trust
//! authentication), or the admin URL in [`URL_VAR`] (`JWTX_TEST_POSTGRES_URL`): a role that
//! may create and drop databases, on the `postgres` database. A test that needs PostgreSQL
//! fails, saying how to start it, when it is not there; it is never skipped.

#![allow(
    clippy::panic,
    reason = "test support: what cannot be set up fails the test, as assert! does"
)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::time::{Duration, Instant};
use std::{env, fs};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};

/// The environment variable that overrides the admin URL of the machine's PostgreSQL.
pub const URL_VAR: &str = "JWTX_TEST_POSTGRES_URL";

/// The machine's PostgreSQL when [`URL_VAR`] is not set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The environment variable naming a directory with `initdb` and `pg_ctl`, for
/// [`PrivatePostgres`], when they are not where PostgreSQL's packages put them.
pub const BIN_VAR: &str = "JWTX_TEST_PG_BIN";

/// How long connecting to a server for test setup may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a private server has to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin URL of the machine's PostgreSQL: [`URL_VAR`], or [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its password (if any) replaced by `***`, for messages.
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

/// `admin` (a server's URL) pointing at database `name` instead.
fn with_database(admin: &str, name: &str) -> String {
    let mut url = match url::Url::parse(admin) {
        Ok(u) => u,
        Err(e) => panic!("{URL_VAR} is not a URL ({e}): {}", shown(admin)),
    };
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Connects to `url` for test setup, or fails the test saying how to start PostgreSQL.
async fn admin_connection(url: &str) -> PgConnection {
    let options = match PgConnectOptions::from_str(url) {
        Ok(o) => o,
        Err(e) => panic!("{URL_VAR}: not a PostgreSQL URL ({e}): {}", shown(url)),
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await;
    match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("{}", unreachable_message(url, &e.to_string())),
        Err(_) => panic!(
            "{}",
            unreachable_message(url, &format!("no answer within {CONNECT_TIMEOUT:?}"))
        ),
    }
}

fn unreachable_message(url: &str, why: &str) -> String {
    format!(
        "the PostgreSQL tests need a PostgreSQL server, and {} does not answer: {why}.\n\
         Start the machine's server (`service postgresql start`, as root), or set {URL_VAR} to \
         the admin URL of another (a role that may create databases, on its `postgres` \
         database, e.g. postgres://postgres@127.0.0.1:5432/postgres).",
        shown(url)
    )
}

/// A fresh, empty database `jwtx_test_<random hex>` on the machine's PostgreSQL (see the
/// [module documentation](self)), dropped (`WITH (FORCE)`, closing connections still open to
/// it) when the value is dropped or by [`drop_now`](Self::drop_now).
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates the database on the machine's server.
    ///
    /// # Panics
    ///
    /// If the server cannot be reached (saying how to start it) or refuses to create it.
    pub async fn create() -> TestDatabase {
        TestDatabase::create_on(&admin_url()).await
    }

    /// Creates the database on the server whose admin URL is `admin` (e.g. a
    /// [`PrivatePostgres`]'s).
    ///
    /// # Panics
    ///
    /// As [`create`](Self::create).
    pub async fn create_on(admin: &str) -> TestDatabase {
        let hex: String = jwtx::uuid4().chars().filter(|c| *c != '-').collect();
        let name = format!("jwtx_test_{hex}");
        let mut conn = admin_connection(admin).await;
        // CREATE DATABASE copies template1 and fails while another session is connected to
        // it (SQLSTATE 55006); other tools on the machine may be, for a moment.
        let mut attempts = 0;
        loop {
            match conn.execute(&*format!("CREATE DATABASE \"{name}\"")).await {
                Ok(_) => break,
                Err(sqlx::Error::Database(db))
                    if db.code().as_deref() == Some("55006") && attempts < 50 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("CREATE DATABASE {name} on {}: {e}", shown(admin)),
            }
        }
        let _ = conn.close().await;
        TestDatabase {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
            dropped: false,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the database (the admin URL with its name as the path), for
    /// `jwtx_sqlx::DatabaseUrl::parse`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now.
    ///
    /// # Panics
    ///
    /// If the server refuses.
    pub async fn drop_now(mut self) {
        self.dropped = true;
        if let Err(e) = drop_database(&self.admin, &self.name).await {
            panic!("DROP DATABASE {}: {e}", self.name);
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own with its own runtime (a `Drop` cannot
    /// await), waiting for it. Failures are printed, not raised: this may run while a test
    /// unwinds.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(drop_database(&admin, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("jwtx-test: could not drop database {}: {e}", self.name),
            Err(_) => eprintln!("jwtx-test: dropping database {} panicked", self.name),
        }
    }
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)` on the server of `admin`.
async fn drop_database(admin: &str, name: &str) -> Result<(), String> {
    let options = PgConnectOptions::from_str(admin).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| format!("no answer from {} within {CONNECT_TIMEOUT:?}", shown(admin)))?
        .map_err(|e| e.to_string())?;
    conn.execute(&*format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(())
}

/// A PostgreSQL server of the test's own: a new cluster (`initdb`, trust authentication,
/// superuser `postgres`) in a temporary directory, listening on a free port of 127.0.0.1
/// (and a Unix socket in the directory). For tests of what happens when the database goes
/// away: [`stop`](Self::stop) it, [`start_again`](Self::start_again) on the same port and
/// data. Stopped (immediately) and its directory removed when dropped.
///
/// The binaries are looked for in [`BIN_VAR`], `/usr/local/bin`, then
/// `/usr/lib/postgresql/<version>/bin` (the newest). Run as root, the server runs as the
/// `postgres` user (PostgreSQL refuses root), through `runuser` (or `su`).
///
/// Tuned for tests: `fsync=off` (a stopped or killed server loses nothing; only an operating
/// system crash would), 16 MB of shared buffers, 40 connections.
///
/// Its methods block (they run `pg_ctl` and wait for it): from an async test, that only
/// holds up the test's own runtime while the server starts or stops.
#[derive(Debug)]
pub struct PrivatePostgres {
    /// The temporary directory: `data/` (the cluster), `log`, the Unix socket.
    dir: PathBuf,
    /// Where `initdb` and `pg_ctl` are.
    bin: PathBuf,
    port: u16,
    /// Run the binaries as the `postgres` user (this process is root).
    as_postgres: bool,
    running: bool,
}

impl PrivatePostgres {
    /// Creates the cluster and starts the server; returns once it accepts connections.
    ///
    /// # Panics
    ///
    /// If the binaries are missing, or `initdb` or the server fails (with its output and log).
    pub fn start() -> PrivatePostgres {
        let bin = find_bin();
        let as_postgres = is_root();
        let dir = env::temp_dir().join(format!("jwtx-pg-{}", jwtx::uuid4()));
        if let Err(e) = fs::create_dir_all(&dir) {
            panic!("create {}: {e}", dir.display());
        }
        let mut pg = PrivatePostgres {
            dir,
            bin,
            port: 0,
            as_postgres,
            running: false,
        };
        if as_postgres {
            pg.give_dir_to_postgres();
        }
        pg.run_checked(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        // A free port: the kernel's choice for a listener dropped at once. Another process
        // may take it meanwhile; then try another.
        let mut attempts = 0;
        loop {
            pg.port = free_port();
            match pg.try_start() {
                Ok(()) => break,
                Err(why) if attempts < 3 && why.contains("could not bind") => attempts += 1,
                Err(why) => panic!("starting a private PostgreSQL failed: {why}"),
            }
        }
        pg
    }

    /// The admin URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of its database `name`.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Its TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it is running (started, and not stopped since).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, the data is kept), and
    /// waits until it is down.
    ///
    /// # Panics
    ///
    /// If `pg_ctl` fails.
    pub fn stop(&mut self) {
        self.run_checked(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
        self.running = false;
    }

    /// Starts the stopped server again, on the same port and data; returns once it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// If it does not start (with its log).
    pub fn start_again(&mut self) {
        if let Err(why) = self.try_start() {
            panic!("starting the private PostgreSQL again failed: {why}");
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// `pg_ctl start`, then waits until a TCP connection to the port is accepted.
    fn try_start(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB \
             -c max_connections=40",
            self.port,
            self.dir.display()
        );
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.log().display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                &START_TIMEOUT.as_secs().to_string(),
                "start",
            ],
        );
        if !out.status.success() {
            return Err(self.failure("pg_ctl start", &out));
        }
        self.running = true;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "port {} accepts no connection {START_TIMEOUT:?} after pg_ctl start\n{}",
                    self.port,
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Runs `program` (of the PostgreSQL binaries) with `args`, as `postgres` when root.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            if Path::new("/usr/sbin/runuser").exists() || Path::new("/sbin/runuser").exists() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&exe).args(args);
                c
            } else {
                let line = std::iter::once(exe.display().to_string())
                    .chain(args.iter().map(|a| (*a).to_owned()))
                    .map(|a| shell_quote(&a))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut c = Command::new("su");
                c.args(["postgres", "-s", "/bin/sh", "-c", &line]);
                c
            }
        } else {
            let mut c = Command::new(&exe);
            c.args(args);
            c
        };
        // A directory the postgres user may enter (initdb looks up its own location from it).
        cmd.current_dir(&self.dir).env("LC_ALL", "C");
        match cmd.output() {
            Ok(out) => out,
            Err(e) => panic!("cannot run {}: {e}", exe.display()),
        }
    }

    /// [`run`](Self::run), failing the test (with the output and log) if it fails.
    fn run_checked(&self, program: &str, args: &[&str]) {
        let out = self.run(program, args);
        if !out.status.success() {
            panic!("{}", self.failure(program, &out));
        }
    }

    fn failure(&self, what: &str, out: &Output) -> String {
        format!(
            "{what} failed ({}) in {}\n--- stdout\n{}\n--- stderr\n{}\n{}",
            out.status,
            self.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        )
    }

    /// The end of the server's log.
    fn log_text(&self) -> String {
        match fs::read_to_string(self.log()) {
            Ok(text) => {
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- server log (end)\n{}", tail.join("\n"))
            }
            Err(_) => "--- no server log".to_owned(),
        }
    }

    /// Makes the temporary directory the `postgres` user's.
    fn give_dir_to_postgres(&self) {
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, "postgres"]).output();
            match out {
                Ok(o) if o.status.success() => {
                    match String::from_utf8_lossy(&o.stdout).trim().parse() {
                        Ok(n) => n,
                        Err(e) => panic!("id {flag} postgres: {e}"),
                    }
                }
                _ => panic!(
                    "running as root, the private PostgreSQL needs a `postgres` user to run as"
                ),
            }
        };
        let (uid, gid) = (id("-u"), id("-g"));
        if let Err(e) = std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid)) {
            panic!("chown {} to postgres: {e}", self.dir.display());
        }
    }
}

impl Drop for PrivatePostgres {
    /// Stops the server if it runs (immediately: nothing needs to be kept) and removes the
    /// directory.
    fn drop(&mut self) {
        if self.running {
            let out = self.run(
                "pg_ctl",
                &[
                    "-D",
                    &self.data().display().to_string(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
            if !out.status.success() {
                eprintln!("jwtx-test: {}", self.failure("pg_ctl stop", &out));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port of 127.0.0.1 free a moment ago.
fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port on 127.0.0.1: {e}"),
    }
}

/// The directory with `initdb` and `pg_ctl`.
fn find_bin() -> PathBuf {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let mut tried = Vec::new();
    if let Some(dir) = env::var_os(BIN_VAR) {
        let dir = PathBuf::from(dir);
        if has_both(&dir) {
            return dir;
        }
        panic!("{BIN_VAR}={} has no initdb and pg_ctl", dir.display());
    }
    let local = PathBuf::from("/usr/local/bin");
    if has_both(&local) {
        return local;
    }
    tried.push(local.display().to_string());
    // The newest /usr/lib/postgresql/<version>/bin.
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return dir;
    }
    tried.push("/usr/lib/postgresql/*/bin".to_owned());
    panic!(
        "no PostgreSQL server binaries (initdb, pg_ctl) in {}: install PostgreSQL's server \
         package, or set {BIN_VAR} to their directory",
        tried.join(", ")
    )
}

/// `s` quoted for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
