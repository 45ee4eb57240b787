//! What the instances of one deployment share besides the store: with `redis_url`, the
//! revocation wake-ups ([`RedisHints`]) and the login limits counted in Redis
//! ([`RedisLimiter`]); without it, the in-process [`LoginThrottle`].

use std::sync::Arc;

use jwtx_auth::throttle::{LoginThrottle, ThrottleConfig};
use jwtx_auth::{LoginLimiter, RevocationHints};
use jwtx_redis::{RedisHints, RedisLimiter};

use crate::config::Config;
use crate::data::{Store, deployment_id, redis_target};
use crate::error::CliError;

/// The login limiter in use, with its counters for `/metrics`.
#[derive(Clone, Debug)]
pub enum LoginLimits {
    /// Counted in this process.
    Local(Arc<LoginThrottle>),
    /// Counted in Redis for every instance (per instance while Redis is down).
    Shared(Arc<RedisLimiter>),
}

impl LoginLimits {
    /// The limiter the auth flows ask.
    pub fn limiter(&self) -> Arc<dyn LoginLimiter> {
        match self {
            LoginLimits::Local(t) => t.clone(),
            LoginLimits::Shared(r) => r.clone(),
        }
    }

    /// The limits counted.
    pub fn config(&self) -> &ThrottleConfig {
        match self {
            LoginLimits::Local(t) => t.config(),
            LoginLimits::Shared(r) => r.config(),
        }
    }

    /// Login attempts refused by the limits.
    pub fn hits(&self) -> u64 {
        match self {
            LoginLimits::Local(t) => t.hits(),
            LoginLimits::Shared(r) => r.hits(),
        }
    }

    /// With Redis: whether the limits are counted there now (`false` while this instance
    /// falls back to its own), and how many checks the fallback answered.
    pub fn sharing(&self) -> Option<(bool, u64)> {
        match self {
            LoginLimits::Local(_) => None,
            LoginLimits::Shared(r) => Some((!r.is_degraded(), r.fallbacks())),
        }
    }
}

/// The login limits the configuration asks for (`login_rate_limit`, `login_ip_rate_limit`).
pub(crate) fn throttle_config(config: &Config) -> ThrottleConfig {
    ThrottleConfig {
        failures_per_user_ip: config.login_rate_limit.count,
        failure_window: config.login_rate_limit.window,
        attempts_per_ip: config.login_ip_rate_limit.count,
        attempt_window: config.login_ip_rate_limit.window,
        ..ThrottleConfig::default()
    }
}

/// The Redis half of a deployment, when `redis_url` is set: hints and shared limits.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Revocation wake-ups, if Redis is configured.
    pub(crate) hints: Option<Arc<RedisHints>>,
    /// The login limits.
    pub(crate) limits: LoginLimits,
}

impl Shared {
    /// Starts what the configuration asks for. Redis being down is no error (both parts
    /// connect, and reconnect, by themselves); a malformed URL is.
    pub(crate) async fn start(config: &Config, store: &Store) -> Result<Shared, CliError> {
        let limits = throttle_config(config);
        let Some(url) = &config.redis_url else {
            return Ok(Shared {
                hints: None,
                limits: LoginLimits::Local(Arc::new(LoginThrottle::new(limits))),
            });
        };
        let target = redis_target(url.expose())?;
        let deployment = deployment_id(store).await?;
        let prefix = &config.redis_key_prefix;
        let hints = RedisHints::start(&target, prefix, deployment.expose())
            .map_err(|e| CliError::runtime(format!("redis_url: {e}")))?;
        let limiter = RedisLimiter::start(&target, prefix, limits)
            .map_err(|e| CliError::runtime(format!("redis_url: {e}")))?;
        Ok(Shared {
            hints: Some(Arc::new(hints)),
            limits: LoginLimits::Shared(Arc::new(limiter)),
        })
    }

    /// The hints as the auth flows take them.
    pub(crate) fn revocation_hints(&self) -> Option<Arc<dyn RevocationHints>> {
        self.hints.clone().map(|h| h as Arc<dyn RevocationHints>)
    }
}
