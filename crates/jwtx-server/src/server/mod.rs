//! `jwtx serve`: the auth server of docs/http-api.md on jwtx-axum and a jwtx store.
//!
//! [`app`] builds the router from an [`AppState`]; [`run`] opens the data directory, the
//! store and the keys, prints the startup summary, serves until SIGTERM or Ctrl-C and lets
//! in-flight requests finish.

/// `AsyncWrite` for a wrapper `$wrapper<S>` whose field `inner: S` takes every write as it is
/// (the connection's wrappers only watch or replay reads).
macro_rules! forward_async_write {
    ($wrapper:ident) => {
        impl<S: AsyncWrite + Unpin> AsyncWrite for $wrapper<S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}
use forward_async_write;

mod connections;
mod cors;
mod info;
mod keyring;
mod metrics;
mod openapi;
mod page;
mod proxies;
mod requests;
mod shared;
mod tls;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jwtx::{Clock, Codec, KeySet};
use jwtx_auth::passwords::PasswordHasher;
use jwtx_auth::{Auth, AuthSettings, AuthStore};
use jwtx_axum::{JwtLayer, JwtManager};
use tower::Layer;

pub use connections::ConnectionLimits;
pub use cors::AllowedOrigins;
pub use keyring::KeyRing;
pub use metrics::{Metrics, MetricsEvents};
pub use proxies::{Proxies, ProxyNet, parse_trusted_proxies};

use crate::config::Config;
use crate::error::CliError;

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

pub use shared::LoginLimits;

/// How an instance works with the others of its deployment: the login limiter its flows ask
/// (in process, or shared through Redis) and the revocation wake-ups (Redis), if any.
#[derive(Debug)]
pub struct Coordination {
    /// The login limiter.
    pub limiter: Arc<dyn jwtx_auth::LoginLimiter>,
    /// Revocation wake-ups shared with the other instances.
    pub hints: Option<Arc<dyn jwtx_auth::RevocationHints>>,
    /// The services whose credentials read the revocation feed (`GET /revocations`); without
    /// them the feed refuses every credential.
    pub services: Option<Arc<dyn jwtx::store::ServiceStore>>,
}

/// The services behind [`AppState`].
#[derive(Clone, Debug)]
pub struct Services {
    /// The auth flows (jwtx-auth): tokens, store, revocations, passwords, limits.
    pub auth: Auth,
    /// The login limiter the flows use, for its counters.
    pub limits: LoginLimits,
    /// Revocation wake-ups through Redis, when `redis_url` is set (for `/metrics`).
    pub hints: Option<Arc<jwtx_redis::RedisHints>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The signing keys, reloaded live from the store; `None` when the codec's keys are fixed
    /// (an application's own state).
    pub keys: Option<Arc<KeyRing>>,
    /// The account page and CORS.
    pub browsers: Browsers,
}

/// What browsers get (docs/configuration.md, "Browsers"): the account page and CORS for SPAs
/// on other origins. The default is neither.
#[derive(Clone, Debug, Default)]
pub struct Browsers {
    /// The account page at `/` (`ui`).
    pub ui: bool,
    /// The origins answered with CORS headers (`cors_allowed_origins`).
    pub cors: Option<AllowedOrigins>,
}

impl Browsers {
    /// The settings `config` makes.
    pub fn from_config(config: &Config) -> Self {
        Browsers {
            ui: config.ui,
            cors: config.cors_allowed_origins.clone(),
        }
    }
}

impl axum::extract::FromRef<AppState> for JwtManager {
    fn from_ref(s: &AppState) -> JwtManager {
        s.auth.jwt().clone()
    }
}

/// The request stack: jwtx-auth's routes and the server's own (docs/http-api.md), the account
/// page as `state.browsers` says, behind the request layer, the CORS gate and `JwtLayer`. The
/// layers wrap the router once, not each route (`Router::layer` would box every route again
/// per layer, and each level costs every request a clone and a box).
pub fn app(
    state: AppState,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    stack(state, false)
}

/// [`app`], with `Strict-Transport-Security` on every response when `tls`.
fn stack(
    state: AppState,
    tls: bool,
) -> requests::Requests<cors::CorsGate<jwtx_axum::JwtService<Router>>> {
    let jwt = state.auth.jwt().clone();
    let metrics = state.metrics.clone();
    let browsers = state.browsers.clone();
    let mut router = Router::new()
        .merge(jwtx_auth::router(state.auth.clone()))
        .route("/protected", get(info::protected))
        .route("/me", get(info::me))
        .route("/admin", get(info::admin))
        .route("/.well-known/jwks.json", get(info::jwks))
        .route("/healthz", get(info::healthz))
        .route("/readyz", get(info::readyz))
        .route("/metrics", get(metrics::endpoint))
        .route("/openapi.json", get(openapi::openapi_json));
    if browsers.ui {
        router = router.merge(page::routes());
    }
    let router = router.fallback(info::not_found).with_state(state);
    let config = jwt.config();
    // Outside the token layer, so a preflight is answered without looking for a token.
    let cors = cors::CorsGateLayer::new(
        browsers.cors.as_ref(),
        &[
            &config.access_csrf_header_name,
            &config.refresh_csrf_header_name,
        ],
    );
    let with_tokens = JwtLayer::new(jwt).layer(router);
    // Request id, log context, 30 s deadline (408), latency histogram. Logged per request:
    // method, path (never the query string, which may hold a token) and the request id;
    // never headers (Authorization and Cookie are credentials).
    requests::RequestsLayer::new(metrics, Duration::from_secs(30))
        .hsts(tls)
        .layer(cors.layer(with_tokens))
}

/// The auth flows as the configuration says, on `store`, signing with `codec`: the token
/// locations and cookies, the session rules, `hasher` and `throttle`, audit events counted in
/// `metrics`, rejections too. Refused when the configuration cannot work.
pub async fn auth(
    store: Arc<dyn AuthStore>,
    codec: Codec,
    config: &Config,
    hasher: PasswordHasher,
    coordination: Coordination,
    metrics: Arc<Metrics>,
    clock: Arc<dyn jwtx::Clock>,
) -> Result<Auth, jwtx_auth::BuildError> {
    let verified_cache = config.verified_cache;
    let rejections = metrics.clone();
    let Coordination {
        limiter,
        hints,
        services,
    } = coordination;
    let mut builder = Auth::builder(store, codec);
    if let Some(hints) = hints {
        builder = builder.hints(hints);
    }
    if let Some(services) = services {
        builder = builder.services(services);
    }
    builder
        .config(jwt_config(config))
        .settings(AuthSettings {
            refresh_reuse_grace: config.refresh_reuse_grace.as_secs(),
            session_idle_timeout: config.session_idle_timeout.as_secs(),
            session_lifetime: config.refresh_token_expires.as_secs(),
        })
        .hasher(hasher)
        .limiter(limiter)
        .events(Arc::new(MetricsEvents::new(metrics)))
        .clock(clock)
        .follow(jwtx_auth::Follow {
            poll_interval: config.revocation_poll_interval,
            max_lag: config.revocation_max_lag,
        })
        .manager(move |b| {
            b.verified_cache(verified_cache)
                .error_handler(move |error, config| {
                    rejections.rejected(error.reason());
                    error.default_response(config)
                })
        })
        .build()
        .await
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
    c.body_limit = jwtx_auth::BODY_LIMIT;
    c
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish: HTTPS
/// with `tls` (adding `Strict-Transport-Security` to every response), else plain HTTP. The
/// connections are shared among `workers` threads, the calling task's among them
/// (`server/workers.rs`); `limits` caps how many are open and how long each may stay silent
/// (`server/connections.rs`); `proxies` says which peers may name the client
/// (`server/proxies.rs`).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    workers: std::num::NonZeroUsize,
    limits: ConnectionLimits,
    proxies: Proxies,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let router = stack(state.clone(), tls.is_some());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The revocation follower and the login limiter's purge.
    let maintenance = tokio::spawn(state.auth.clone().maintain(stop_rx.clone()));
    // Live key rotation: reloads on the log's key entries, at activations, every minute.
    let key_upkeep = state.keys.clone().map(|ring| {
        let changes = state.auth.revocations().key_changes();
        tokio::spawn(ring.maintain(changes, stop_rx.clone()))
    });
    let registry = connections::Registry::new(limits, proxies, state.metrics.clone());
    let serving = workers::serve(listener, router, tls, workers, Arc::new(registry), stop_rx);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = &mut serving => result,
        () = shutdown => {
            let _ = stop_tx.send(true);
            serving.await
        }
    };
    let _ = stop_tx.send(true);
    let _ = maintenance.await;
    if let Some(upkeep) = key_upkeep {
        let _ = upkeep.await;
    }
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
    // sqlx logs every PostgreSQL notice (e.g. "relation already exists, skipping") at info.
    crate::logging::init(config.log_format, "info,sqlx=warn");
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
        let proxies = Proxies::from_config(config);
        eprintln!("{}", proxies.summary());
        if let Some(lowered) = lowered {
            tracing::warn!("{lowered}");
        }
        if proxies.trusts_everyone() {
            tracing::warn!(
                "trusted_proxies holds a /0 network: every client can choose its own address \
                 with X-Forwarded-For (login throttling, sessions, audit lines); list only the \
                 load balancers' addresses"
            );
        }
        let served = serve_on(
            listener,
            tls,
            state,
            workers,
            limits,
            proxies,
            shutdown_signal(),
        )
        .await;
        served.map_err(|e| CliError::runtime(format!("server error: {e}")))
    })
}

/// Opens the data directory, store, keys and helpers; returns the state and the startup
/// summary (never a secret).
pub async fn open(config: &Config, demo: bool) -> Result<(AppState, String), CliError> {
    let (data, store) = crate::data::open_store(config).await?;
    if demo && store.is_shared() {
        store.close().await;
        return Err(CliError::usage(
            "--demo is refused on a PostgreSQL database: every instance sharing it would serve \
             the well-known demo accounts (admin/adminpass); create users with `jwtx user add`",
        ));
    }
    let clock: Arc<dyn Clock> = Arc::new(jwtx::SystemClock);
    let (first_hmac, secret_line) = if config.algorithm.is_symmetric() {
        let (secret, source) = crate::data::hmac_secret(config, data.as_ref(), &store).await?;
        let line = match source {
            crate::data::SecretSource::Configured => {
                "secret from the configuration (secret_key)".to_owned()
            }
            crate::data::SecretSource::File(p) => format!("secret in {}", p.display()),
            crate::data::SecretSource::Generated(p) => {
                format!("secret generated into {}", p.display())
            }
            crate::data::SecretSource::Store => "secret from the store".to_owned(),
            crate::data::SecretSource::GeneratedInStore => {
                "secret generated into the store".to_owned()
            }
        };
        (Some(secret), line)
    } else {
        (None, String::new())
    };
    // Keys live in the store (docs/cli.md, "Signing keys"): the active key signs, a pending
    // key signs from its activation, passive keys verify; the first asymmetric key is
    // generated here if there is none. Rotations reach the running server (`KeyRing`).
    let log: Arc<dyn jwtx::store::RevocationStore> = store.auth_store();
    let (ring, ring_line) =
        KeyRing::open(store.keys_arc(), log, config, first_hmac, clock.clone()).await?;
    let key_line = match (secret_line.is_empty(), ring_line.is_empty()) {
        (_, true) => secret_line,
        (true, false) => ring_line,
        (false, false) => format!("{ring_line}; first {secret_line}"),
    };
    let keys = ring.live().snapshot();
    // The algorithm tokens are signed with: the store's active key may differ from
    // `algorithm` (the summary line says so).
    let signing_alg = keys.signer().map_or(config.algorithm, jwtx::Key::algorithm);
    let store_line = store.description().to_owned();
    let metrics = Arc::new(Metrics::with_token(config.metrics_token.as_ref()));
    let codec = crate::keys::codec(config, KeySet::clone(&keys)).with_live_keys(ring.live());
    let threads = PasswordHasher::default_concurrency();
    let automatic = jwtx_auth::passwords::QueueLimits::for_concurrency(threads);
    let limits = jwtx_auth::passwords::QueueLimits {
        per_user: config.argon2_queue_per_user,
        total: config.argon2_queue.unwrap_or(automatic.total),
    };
    let hasher = PasswordHasher::with_limits(config.argon2, threads, limits)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let shared = shared::Shared::start(config, &store).await?;
    let auth = auth(
        store.auth_store(),
        codec,
        config,
        hasher,
        Coordination {
            limiter: shared.limits.limiter(),
            hints: shared.revocation_hints(),
            services: Some(store.services()),
        },
        metrics.clone(),
        clock,
    )
    .await
    .map_err(|e| match e {
        jwtx_auth::BuildError::Manager(_) | jwtx_auth::BuildError::Follow(_) => {
            CliError::usage(e.to_string())
        }
        _ => CliError::runtime(e.to_string()),
    })?;
    let state = AppState::new(Services {
        auth,
        limits: shared.limits,
        hints: shared.hints,
        metrics,
        keys: Some(ring),
        browsers: Browsers::from_config(config),
    });
    if demo {
        demo_users(&state).await?;
    }
    if !config.bind.ip().is_loopback() {
        refuse_demo_users(&state, config).await?;
    }
    let locations: Vec<&str> = config.token_location.iter().map(|l| l.as_str()).collect();
    let browsers = match (config.ui, &config.cors_allowed_origins) {
        (true, None) => "account page at /; no CORS".to_owned(),
        (false, None) => "no account page (ui off); no CORS".to_owned(),
        (ui, Some(origins)) => format!(
            "{}; CORS for {}",
            if ui {
                "account page at /"
            } else {
                "no account page (ui off)"
            },
            origins.iter().collect::<Vec<_>>().join(", ")
        ),
    };
    let summary = format!(
        "  store: {store_line}\n  algorithm: {} ({key_line})\n  token locations: {}\n  browsers: {browsers}\n  demo users: {}\n  metrics: {}",
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
            .auth
            .store()
            .get_user(name)
            .await
            .map_err(|e| CliError::runtime(e.to_string()))?
            .is_some();
        if exists {
            continue;
        }
        let hash = state
            .auth
            .hasher()
            .hash(zeroize::Zeroizing::new(password.to_owned()))
            .await
            .map_err(|e| CliError::runtime(e.to_string()))?;
        let created = state
            .auth
            .store()
            .create_user(jwtx::store::User {
                name: name.to_owned(),
                password_hash: hash,
                roles: roles.into_iter().map(str::to_owned).collect(),
                created_at: state.auth.clock().now(),
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
        let Some(user) = state
            .auth
            .store()
            .get_user(name)
            .await
            .map_err(store_error)?
        else {
            continue;
        };
        let demo = user.demo
            || state
                .auth
                .hasher()
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
    if found.is_empty()
        && state
            .auth
            .store()
            .has_demo_users()
            .await
            .map_err(store_error)?
    {
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
