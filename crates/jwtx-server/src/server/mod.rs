//! `jwtx serve`: the auth server of docs/http-api.md on jwtx-axum and a jwtx store.
//!
//! [`app`] builds the router from an [`AppState`]; [`run`] opens the data directory, the
//! store and the keys, prints the startup summary, serves until SIGTERM or Ctrl-C and lets
//! in-flight requests finish.

mod api_error;
mod audit;
mod auth;
mod body;
mod connections;
mod info;
mod metrics;
mod openapi;
mod requests;
mod revocations;
mod sessions;
mod tls;
mod users;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use jwtx::store::{RevocationStore, SessionStore, UserStore};
use jwtx::{Clock, Codec};
use jwtx_axum::{JwtLayer, JwtManager, Location};

pub use api_error::ApiError;
pub use connections::ConnectionLimits;
pub use metrics::Metrics;
pub use revocations::Revocations;
pub use users::UserCache;

use crate::config::Config;
use crate::error::CliError;
use crate::passwords::PasswordHasher;
use crate::throttle::LoginThrottle;

/// Every store the server needs, as one object.
pub trait Store: UserStore + SessionStore + RevocationStore {}
impl<T: UserStore + SessionStore + RevocationStore> Store for T {}

/// What the server's routes share: one `Arc`, so the per-request clone axum makes of the
/// state is one reference count, not one per service.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state for `services`.
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Clone, Debug)]
pub struct Services {
    /// Token issuing, verification and cookies.
    pub jwt: JwtManager,
    /// Users, sessions and the revocation log.
    pub store: Arc<dyn StoreObject>,
    /// The in-process revocation mirror.
    pub revocations: Arc<Revocations>,
    /// The user loader's cache.
    pub users: Arc<UserCache>,
    /// Argon2id hashing off the async runtime.
    pub hasher: PasswordHasher,
    /// Login throttling.
    pub throttle: Arc<LoginThrottle>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Settings the routes read.
    pub settings: Arc<Settings>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// [`Store`] as a trait object that is also `Debug`.
pub trait StoreObject: Store + std::fmt::Debug {}
impl<T: Store + std::fmt::Debug> StoreObject for T {}

impl axum::extract::FromRef<AppState> for JwtManager {
    fn from_ref(s: &AppState) -> JwtManager {
        s.jwt.clone()
    }
}

/// Route settings derived from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Tokens go in response bodies (the `headers` location is on).
    pub tokens_in_body: bool,
    /// Tokens go in cookies (the `cookies` location is on).
    pub tokens_in_cookies: bool,
    /// Refresh reuse grace, seconds.
    pub refresh_reuse_grace: u64,
    /// Session idle timeout, seconds.
    pub session_idle_timeout: u64,
    /// Session absolute lifetime (= refresh token lifetime), seconds.
    pub session_lifetime: u64,
}

/// The router: every route of docs/http-api.md that this build serves.
pub fn app(state: AppState) -> Router {
    let jwt_layer = JwtLayer::new(state.jwt.clone());
    let metrics = state.metrics.clone();
    Router::new()
        .route("/login", post(auth::login))
        .route("/refresh", post(auth::refresh))
        .route("/logout", post(auth::logout))
        .route("/logout/all", post(auth::logout_all))
        .route("/password", post(auth::change_password))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", delete(sessions::revoke))
        .route("/protected", get(info::protected))
        .route("/me", get(info::me))
        .route("/admin", get(info::admin))
        .route("/.well-known/jwks.json", get(info::jwks))
        .route("/healthz", get(info::healthz))
        .route("/readyz", get(info::readyz))
        .route("/metrics", get(metrics::endpoint))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(info::not_found)
        .layer(jwt_layer)
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        // Request id, log context, 30 s deadline (408), latency histogram. Logged per request:
        // method, path (never the query string, which may hold a token) and the request id;
        // never headers (Authorization and Cookie are credentials).
        .layer(requests::RequestsLayer::new(
            metrics,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// A [`JwtManager`] for the server: the codec, the configured locations and cookies, the
/// revocation check against the in-process mirror, and a user loader in front of the store
/// ([`UserCache`]: deleted users and changed roles take effect within half a second).
/// Refused when the configuration cannot work ([`JwtManagerBuilder::try_build`](jwtx_axum::JwtManagerBuilder::try_build)).
pub fn manager(
    codec: Codec,
    config: &Config,
    users: Arc<UserCache>,
    revocations: Arc<Revocations>,
    metrics: Arc<Metrics>,
) -> Result<JwtManager, jwtx_axum::BuildError> {
    let jwt_config = jwt_config(config);
    JwtManager::builder(codec)
        .config(jwt_config)
        .verified_cache(config.verified_cache)
        .error_handler(move |error, config| {
            metrics.rejected(error.reason());
            error.default_response(config)
        })
        // Both callbacks read memory before making their future and move no clone of a shared
        // `Arc` into it when memory answers: its count is a cache line that every core writes.
        .revocation_check(move |token| {
            // `sid` as the verifying pass read it: no second parse per protected request.
            // An error (a log entry this version cannot read) answers 503: fail closed.
            std::future::ready(revocations.check(jwtx::store::TokenRef {
                jti: token.jti(),
                sid: token.sid(),
                sub: token.sub(),
                iat: token.claims().iat,
            }))
        })
        .user_loader(move |token| {
            // The store (behind a clone of the cache) only when memory has no fresh answer.
            let found = users.cached(token.sub()).ok_or_else(|| users.clone());
            async move {
                match found {
                    Ok(user) => Ok(user),
                    Err(users) => users.get(token.sub()).await,
                }
            }
        })
        .try_build()
}

/// The jwtx-axum configuration the server's settings describe.
pub fn jwt_config(config: &Config) -> jwtx_axum::JwtConfig {
    use jwtx_axum::CookieProfile;
    let mut c = config.cookie_profile.jwt_config();
    c.token_location.clone_from(&config.token_location);
    if config.cookie_profile == CookieProfile::Jwtx {
        c.cookie_secure = config.cookie_secure;
        c.cookie_samesite = config.cookie_samesite;
    }
    c.cookie_domain = config.cookie_domain.clone();
    if config.cookie_host_prefix {
        // Checked at load: jwtx profile, Secure, no Domain; every path is "/".
        for name in [
            &mut c.access_cookie_name,
            &mut c.refresh_cookie_name,
            &mut c.access_csrf_cookie_name,
            &mut c.refresh_csrf_cookie_name,
        ] {
            name.insert_str(0, "__Host-");
        }
    }
    c.csrf_protect = config.csrf_protect;
    c.error_style = config.error_style;
    c.body_limit = body::BODY_LIMIT;
    c
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish: HTTPS
/// with `tls` (adding `Strict-Transport-Security` to every response), else plain HTTP. The
/// connections are shared among `workers` threads, the calling task's among them
/// (`server/workers.rs`); `limits` caps how many are open and how long each may stay silent
/// (`server/connections.rs`).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    workers: std::num::NonZeroUsize,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let mut router = app(state.clone());
    if tls.is_some() {
        router = router.layer(axum::middleware::map_response(
            |mut res: axum::response::Response| async move {
                res.headers_mut().insert(
                    http::header::STRICT_TRANSPORT_SECURITY,
                    http::HeaderValue::from_static("max-age=31536000"),
                );
                res
            },
        ));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(state.revocations.clone().follow(stop_rx.clone()));
    let throttle_purger = tokio::spawn(purge_throttle(state.throttle.clone(), stop_rx.clone()));
    let metrics = state.metrics.clone();
    let serving = workers::serve(listener, router, tls, workers, limits, metrics, stop_rx);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = &mut serving => result,
        () = shutdown => {
            let _ = stop_tx.send(true);
            serving.await
        }
    };
    let _ = stop_tx.send(true);
    let _ = follower.await;
    let _ = throttle_purger.await;
    result
}

/// `jwtx serve`: opens everything, prints the startup summary on stderr, serves until
/// SIGTERM or Ctrl-C. Configuration problems are [`CliError`]s (exit 2), failures at run
/// time too (exit 3).
pub fn run(config: &Config, demo: bool) -> Result<(), CliError> {
    if demo && !config.bind.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "--demo creates well-known demo accounts and is refused on {}; bind a loopback address \
             (e.g. --bind 127.0.0.1:5000) or drop --demo",
            config.bind
        )));
    }
    crate::logging::init(config.log_format, "info");
    // This thread is the first of the `workers` threads; `serve_on` starts the others.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let tls = match &config.tls {
            Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
            None => None,
        };
        let (state, summary) = open(config, demo).await?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| {
                CliError::runtime(format!(
                    "cannot listen on {}: {e}; choose another address with --bind or JWTX_BIND",
                    config.bind
                ))
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let workers = config.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN)
        });
        let (limits, lowered) =
            ConnectionLimits::from_config(config).fit_open_file_limit(workers.get());
        eprintln!("jwtx serving on {scheme}://{local}");
        eprintln!(
            "{summary}\n  worker threads: {workers}\n  connections: at most {}, request heads \
             within {}s, idle keep-alive {}s",
            limits.max_connections,
            limits.header_read_timeout.as_secs(),
            limits.keep_alive_timeout.as_secs()
        );
        if let Some(lowered) = lowered {
            tracing::warn!("{lowered}");
        }
        let served = serve_on(listener, tls, state, workers, limits, shutdown_signal()).await;
        served.map_err(|e| CliError::runtime(format!("server error: {e}")))
    })
}

/// Opens the data directory, store, keys and helpers; returns the state and the startup
/// summary (never a secret).
pub async fn open(config: &Config, demo: bool) -> Result<(AppState, String), CliError> {
    let (data, store) = crate::data::open_store(config).await?;
    let db = data.database();
    let clock: Arc<dyn Clock> = Arc::new(jwtx::SystemClock);
    let (keys, key_line) = if config.algorithm.is_symmetric() {
        let (secret, source) = data.hmac_secret(config)?;
        let key = jwtx::Key::hmac(config.algorithm, secret.expose().as_bytes())
            .map_err(|e| CliError::usage(e.to_string()))?;
        let line = match source {
            crate::data::SecretSource::Configured => {
                "secret from the configuration (secret_key)".to_owned()
            }
            crate::data::SecretSource::File(p) => format!("secret in {}", p.display()),
            crate::data::SecretSource::Generated(p) => {
                format!("secret generated into {}", p.display())
            }
        };
        (jwtx::KeySet::from(key), line)
    } else {
        // Asymmetric keys live in the store (docs/cli.md, "Signing keys"): the active key signs, passive keys
        // verify; the first key is generated here if there is none. A rotation by `jwtx keys
        // rotate` takes effect at the next start.
        crate::data::server_keyset(&store, config, clock.now()).await?
    };
    // The algorithm tokens are signed with: the store's active key may differ from
    // `algorithm` (the summary line says so).
    let signing_alg = keys.signer().map_or(config.algorithm, jwtx::Key::algorithm);
    let store: Arc<dyn StoreObject> = Arc::new(store);
    let metrics = Arc::new(Metrics::with_token(config.metrics_token.as_ref()));
    let revocations = Revocations::load(
        store.clone() as Arc<dyn RevocationStore>,
        clock.clone(),
        Some(metrics.clone()),
    )
    .await
    .map_err(|e| CliError::runtime(format!("cannot read the revocation log: {e}")))?;
    let codec = crate::keys::codec(config, keys).with_clock(clock.clone());
    let users = Arc::new(UserCache::new(store.clone() as Arc<dyn UserStore>));
    let jwt = manager(
        codec,
        config,
        users.clone(),
        revocations.clone(),
        metrics.clone(),
    )
    .map_err(|e| CliError::usage(format!("the token settings cannot work: {e}")))?;
    let threads = PasswordHasher::default_concurrency();
    let automatic = crate::passwords::QueueLimits::for_concurrency(threads);
    let limits = crate::passwords::QueueLimits {
        per_user: config.argon2_queue_per_user,
        total: config.argon2_queue.unwrap_or(automatic.total),
    };
    let hasher = PasswordHasher::with_limits(config.argon2, threads, limits)
        .map_err(|e| CliError::usage(e.to_string()))?;
    // The dummy hash for unknown users, built now so the first such login costs no more.
    hasher
        .warm_up()
        .await
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let throttle = Arc::new(LoginThrottle::new(crate::throttle::ThrottleConfig {
        failures_per_user_ip: config.login_rate_limit.count,
        failure_window: config.login_rate_limit.window,
        attempts_per_ip: config.login_ip_rate_limit.count,
        attempt_window: config.login_ip_rate_limit.window,
        ..crate::throttle::ThrottleConfig::default()
    }));
    let use_loc = |l| config.token_location.contains(&l);
    let settings = Arc::new(Settings {
        tokens_in_body: use_loc(Location::Headers)
            || use_loc(Location::Json)
            || use_loc(Location::QueryString),
        tokens_in_cookies: use_loc(Location::Cookies),
        refresh_reuse_grace: config.refresh_reuse_grace.as_secs(),
        session_idle_timeout: config.session_idle_timeout.as_secs(),
        session_lifetime: config.refresh_token_expires.as_secs(),
    });
    let state = AppState::new(Services {
        jwt,
        store,
        revocations,
        users,
        hasher,
        throttle,
        clock,
        settings,
        metrics,
    });
    if demo {
        demo_users(&state).await?;
    }
    if !config.bind.ip().is_loopback() {
        refuse_demo_users(&state, config).await?;
    }
    let locations: Vec<&str> = config.token_location.iter().map(|l| l.as_str()).collect();
    let summary = format!(
        "  store: SQLite {}\n  algorithm: {} ({key_line})\n  token locations: {}\n  demo users: {}\n  metrics: {}",
        db.display(),
        signing_alg,
        locations.join(", "),
        if demo {
            "testuser/testpass (user), admin/adminpass (admin, user)"
        } else {
            "none"
        },
        if config.metrics_token.is_some() {
            "/metrics needs metrics_token"
        } else {
            "/metrics is public (set metrics_token to require one)"
        },
    );
    Ok((state, summary))
}

/// The seed documents' users (docs/http-api.md), created if absent.
async fn demo_users(state: &AppState) -> Result<(), CliError> {
    for (name, password, roles) in [
        ("testuser", "testpass", vec!["user"]),
        ("admin", "adminpass", vec!["admin", "user"]),
    ] {
        let exists = state
            .store
            .get_user(name)
            .await
            .map_err(|e| CliError::runtime(e.to_string()))?
            .is_some();
        if exists {
            continue;
        }
        let hash = state
            .hasher
            .hash(zeroize::Zeroizing::new(password.to_owned()))
            .await
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let created = state
            .store
            .create_user(jwtx::store::User {
                name: name.to_owned(),
                password_hash: hash,
                roles: roles.into_iter().map(str::to_owned).collect(),
                created_at: state.clock.now(),
                generation: 0,
                demo: true,
            })
            .await;
        match created {
            Ok(()) => {}
            // Another process starting with --demo at the same moment made it.
            Err(jwtx::store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(CliError::runtime(e.to_string())),
        }
        tracing::info!(target: "audit", event = "user_created", user = name, source = "demo");
    }
    Ok(())
}

/// The seed documents' demo accounts and their well-known passwords.
const DEMO_USERS: [(&str, &str); 2] = [("testuser", "testpass"), ("admin", "adminpass")];

/// Refuses a public address while the store holds a demo account: one marked so by `--demo`,
/// or (for stores from before the mark) a `testuser` or `admin` whose password is still the
/// demo one.
async fn refuse_demo_users(state: &AppState, config: &Config) -> Result<(), CliError> {
    let store_error = |e: jwtx::store::StoreError| CliError::runtime(e.to_string());
    let mut found = Vec::new();
    for (name, password) in DEMO_USERS {
        let Some(user) = state.store.get_user(name).await.map_err(store_error)? else {
            continue;
        };
        let demo = user.demo
            || state
                .hasher
                .verify(
                    zeroize::Zeroizing::new(password.to_owned()),
                    Some(&user.password_hash),
                )
                .await
                .map_err(|e| CliError::runtime(e.to_string()))?
                .ok;
        if demo {
            found.push(name);
        }
    }
    if found.is_empty() && state.store.has_demo_users().await.map_err(store_error)? {
        found.push("(renamed)");
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "the store holds demo accounts with well-known passwords ({}), so it is refused on the \
         public address {}; remove them first (`jwtx user delete testuser`, `jwtx user delete \
         admin`, or `jwtx user passwd NAME` for an account to keep) or bind a loopback address",
        found.join(", "),
        config.bind
    )))
}

/// Forgets expired login-throttle entries once a minute (the key cap bounds memory anyway).
async fn purge_throttle(
    throttle: Arc<LoginThrottle>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {
                throttle.purge(std::time::Instant::now());
            }
            _ = stop.changed() => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
