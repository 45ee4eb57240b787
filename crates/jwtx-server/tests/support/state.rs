//! A `jwtx serve` state in process, for tests that drive the router with `oneshot`.

use std::sync::Arc;

use jwtx::store::{RevocationStore, User, UserStore};
use jwtx::{Algorithm, Clock, Codec, Key};
use jwtx_server::config::{Config, Overrides};
use jwtx_server::passwords::{Argon2Params, PasswordHasher};
use jwtx_server::server::{
    self, AppState, Metrics, Revocations, Services, Settings, StoreObject, UserCache,
};
use jwtx_server::throttle::LoginThrottle;

/// A state on `store` with the default configuration, an HS256 key, tokens in bodies, and one
/// user, `testuser` / `testpass` (role `user`, hashed with the default Argon2 parameters);
/// passwords are checked by `hasher`.
pub async fn on(
    store: Arc<dyn StoreObject>,
    clock: Arc<dyn Clock>,
    session_idle_timeout: u64,
    hasher: PasswordHasher,
) -> AppState {
    let config = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
    let metrics = Arc::new(Metrics::default());
    let revocations = Revocations::load(
        store.clone() as Arc<dyn RevocationStore>,
        clock.clone(),
        Some(metrics.clone()),
    )
    .await
    .unwrap();
    let key = Key::hmac(Algorithm::HS256, &[7; 32]).unwrap();
    let codec = Codec::new(key).with_clock(clock.clone());
    let users = Arc::new(UserCache::new(store.clone() as Arc<dyn UserStore>));
    let jwt = server::manager(
        codec,
        &config,
        users.clone(),
        revocations.clone(),
        metrics.clone(),
    )
    .unwrap();
    let hash = PasswordHasher::new(Argon2Params::default())
        .unwrap()
        .hash("testpass".to_owned())
        .await
        .unwrap();
    hasher.warm_up().await.unwrap();
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
    AppState::new(Services {
        jwt,
        store,
        revocations,
        users,
        hasher,
        throttle: Arc::new(LoginThrottle::default()),
        clock,
        settings: Arc::new(Settings {
            tokens_in_body: true,
            tokens_in_cookies: false,
            refresh_reuse_grace: 10,
            session_idle_timeout,
            session_lifetime: 30 * 86_400,
        }),
        metrics,
    })
}
