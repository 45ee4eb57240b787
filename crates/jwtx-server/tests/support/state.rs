//! A `jwtx serve` state in process, for tests that drive the router with `oneshot`.

use std::sync::Arc;

use jwtx::store::User;
use jwtx::{Algorithm, Clock, Codec, Key};
use jwtx_auth::AuthStore;
use jwtx_auth::passwords::{Argon2Params, PasswordHasher};
use jwtx_auth::throttle::LoginThrottle;
use jwtx_server::config::{Config, Overrides};
use jwtx_server::server::{self, AppState, Metrics, Services};

/// The default configuration with `session_idle_timeout`, tokens in bodies only.
pub fn config(session_idle_timeout: u64) -> Config {
    let mut config = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
    config.session_idle_timeout = std::time::Duration::from_secs(session_idle_timeout);
    config.token_location = vec![jwtx_axum::Location::Headers];
    config
}

/// The HS256 codec every in-process state signs with.
pub fn codec(clock: Arc<dyn Clock>) -> Codec {
    let key = Key::hmac(Algorithm::HS256, &[7; 32]).unwrap();
    Codec::new(key).with_clock(clock)
}

/// A state on `store` as `jwtx serve` builds it, with `config`, signing with [`codec`], its
/// passwords checked by `hasher`; no users are created.
pub async fn bare(
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    config: &Config,
    hasher: PasswordHasher,
) -> AppState {
    let metrics = Arc::new(Metrics::default());
    let throttle = Arc::new(LoginThrottle::default());
    let auth = server::auth(
        store,
        codec(clock.clone()),
        config,
        hasher,
        server::Coordination {
            limiter: throttle.clone(),
            hints: None,
            services: None,
        },
        metrics.clone(),
        clock,
    )
    .await
    .unwrap();
    // As `serve_on` does: follow the revocation log, or past `revocation_max_lag` every
    // protected request would answer 503. The sender lives as long as the test's runtime.
    let (follow, following) = tokio::sync::watch::channel(false);
    tokio::spawn(auth.clone().maintain(following));
    std::mem::forget(follow);
    AppState::new(Services {
        auth,
        limits: server::LoginLimits::Local(throttle),
        hints: None,
        metrics,
        keys: None,
        browsers: server::Browsers::from_config(config),
    })
}

/// A state on `store` with the default configuration, an HS256 key, tokens in bodies, and one
/// user, `testuser` / `testpass` (role `user`, hashed with the default Argon2 parameters);
/// passwords are checked by `hasher`.
pub async fn on(
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    session_idle_timeout: u64,
    hasher: PasswordHasher,
) -> AppState {
    let hash = PasswordHasher::new(Argon2Params::default())
        .unwrap()
        .hash("testpass".to_owned())
        .await
        .unwrap();
    store
        .create_user(User {
            name: "testuser".into(),
            password_hash: hash,
            roles: vec!["user".into()],
            created_at: clock.now(),
            generation: 0,
            demo: false,
        })
        .await
        .unwrap();
    bare(store, clock, &config(session_idle_timeout), hasher).await
}
