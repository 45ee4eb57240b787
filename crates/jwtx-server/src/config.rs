//! Configuration: flags > environment (`JWTX_*`) > TOML file (`--config`) > defaults.
//!
//! Every value is validated when loaded; a bad one stops the command with a message naming
//! the key and what to change ([`ConfigError`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jwtx::Algorithm;
use jwtx_axum::{CookieProfile, ErrorStyle, Location, SameSite};
use serde::Deserialize;
use zeroize::Zeroizing;

/// A configuration secret: `Debug` and `Display` never show it, and it is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration problem: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration key (as written in the TOML file).
    pub key: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration `{}`: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// Verified tokens kept by default: about 1 MiB, fills within seconds under load.
pub const DEFAULT_VERIFIED_CACHE: usize = 1024;
/// The most a configuration may ask for (about 1 GiB).
const MAX_VERIFIED_CACHE: usize = 1 << 20;

/// The most connection threads a configuration may ask for.
const MAX_WORKERS: usize = 1024;

/// Open connections at most by default (a few hundred MiB of buffers at worst, far more than
/// one instance serves; fitted to the open-file limit at startup).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The most a configuration may ask for.
const MAX_MAX_CONNECTIONS: usize = 1_000_000;
/// From accept to the first complete request head (the TLS handshake included), and from a
/// later request's first byte to its complete head.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `header_read_timeout` a configuration may set.
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a kept-alive connection may wait for its next request: longer than the 60 s idle
/// timeout of common load balancers, so that they, not jwtx, close their pooled connections
/// (a server closing first races the balancer's next request).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// The longest `keep_alive_timeout` a configuration may set.
const MAX_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Parses a duration written `90s`, `15m`, `1h` or `30d` (or `500ms`, for the sub-second
/// settings).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write it like 90s, 15m, 1h or 30d"))?;
    if unit == "ms" {
        return Ok(Duration::from_millis(n));
    }
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{s:?} has no unit; write it like 90s, 15m, 1h or 30d"
            ));
        }
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// The TOML file's shape. Unknown keys are refused so a typo never silently drops a setting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    algorithm: Option<String>,
    secret_key: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Option<String>,
    access_token_expires: Option<String>,
    refresh_token_expires: Option<String>,
    // Keys named by words of jwtx-axum's vocabulary, deserialized into its types by
    // `Sources::typed` (so an error names the key).
    token_location: Option<toml::Value>,
    cookie_samesite: Option<toml::Value>,
    cookie_profile: Option<toml::Value>,
    error_style: Option<toml::Value>,
    // Other server keys, in any TOML type (lists, booleans): normalised to the environment's
    // text form (comma-separated lists) and parsed once, below, whatever their source.
    bind: Option<toml::Value>,
    // The client address behind a load balancer (`server/proxies.rs`).
    trusted_proxies: Option<toml::Value>,
    proxy_protocol: Option<toml::Value>,
    cookie_secure: Option<toml::Value>,
    cookie_domain: Option<toml::Value>,
    csrf_protect: Option<toml::Value>,
    refresh_reuse_grace: Option<toml::Value>,
    session_idle_timeout: Option<toml::Value>,
    login_rate_limit: Option<toml::Value>,
    login_ip_rate_limit: Option<toml::Value>,
    log_format: Option<toml::Value>,
    argon2_memory_kib: Option<toml::Value>,
    argon2_iterations: Option<toml::Value>,
    argon2_parallelism: Option<toml::Value>,
    argon2_queue_per_user: Option<toml::Value>,
    argon2_queue: Option<toml::Value>,
    verified_cache: Option<toml::Value>,
    workers: Option<toml::Value>,
    metrics_token: Option<String>,
    cookie_host_prefix: Option<toml::Value>,
    max_connections: Option<toml::Value>,
    header_read_timeout: Option<toml::Value>,
    keep_alive_timeout: Option<toml::Value>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    // Many instances (docs/configuration.md, "Many instances").
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_key_prefix: Option<String>,
    revocation_poll_interval: Option<toml::Value>,
    revocation_max_lag: Option<toml::Value>,
    key_encryption_key: Option<String>,
    // Key rotation (docs/configuration.md, "Key rotation").
    jwks_max_age: Option<toml::Value>,
    key_publish_lead: Option<toml::Value>,
    key_rotation_interval: Option<toml::Value>,
    // Browsers (docs/configuration.md, "Browsers").
    ui: Option<toml::Value>,
    cors_allowed_origins: Option<toml::Value>,
}

/// A TOML value in the environment's text form: lists comma-separated, the rest as written.
fn toml_text(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        toml::Value::Array(items) => items
            .into_iter()
            .map(toml_text)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Values given as command-line flags (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--secret`.
    pub secret_key: Option<Secret>,
    /// `--alg`.
    pub algorithm: Option<String>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--database-url`.
    pub database_url: Option<Secret>,
}

/// The loaded configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where jwtx keeps its data (`./jwtx-data` by default).
    pub data_dir: PathBuf,
    /// The signing algorithm (`HS256` by default).
    pub algorithm: Algorithm,
    /// The HMAC secret, if configured (used as UTF-8 bytes, as flask-jwt-extended does).
    pub secret_key: Option<Secret>,
    /// `iss` written and required.
    pub issuer: Option<String>,
    /// `aud` written and required.
    pub audience: Option<String>,
    /// Clock-skew allowance.
    pub leeway: Duration,
    /// Access token lifetime (15m).
    pub access_token_expires: Duration,
    /// Refresh token lifetime (30d); also a session's absolute lifetime.
    pub refresh_token_expires: Duration,
    /// The server's listening address (127.0.0.1:5000).
    pub bind: SocketAddr,
    /// Load balancers whose `X-Forwarded-For` (and PROXY header) name the client (none).
    pub trusted_proxies: Vec<crate::server::ProxyNet>,
    /// Connections from `trusted_proxies` begin with a PROXY header, v1 or v2 (false).
    pub proxy_protocol: bool,
    /// Where tokens are looked for, in order (`headers,cookies`).
    pub token_location: Vec<Location>,
    /// `Secure` on cookies (true; false only for plain-HTTP development).
    pub cookie_secure: bool,
    /// `SameSite` on cookies (`lax`; `strict`, `none`, or `off` for no attribute: `None`).
    pub cookie_samesite: Option<SameSite>,
    /// `Domain` on cookies.
    pub cookie_domain: Option<String>,
    /// `jwtx` (secure defaults) or `flask-jwt-extended` (that library's cookies exactly).
    pub cookie_profile: CookieProfile,
    /// CSRF double submit for cookie tokens (true).
    pub csrf_protect: bool,
    /// `flask-jwt-extended` (its statuses and bodies) or `rfc6750`.
    pub error_style: ErrorStyle,
    /// How long after a rotation the previous refresh token is still honoured (10s).
    pub refresh_reuse_grace: Duration,
    /// A session ends after this long without a refresh (14d).
    pub session_idle_timeout: Duration,
    /// Failed logins per username and address before 429, and the window (`5/5m`).
    pub login_rate_limit: RateLimit,
    /// Login attempts per address, whatever the username and outcome, before 429 (`100/1m`).
    pub login_ip_rate_limit: RateLimit,
    /// Log lines as `text` or `json`.
    pub log_format: LogFormat,
    /// Argon2id parameters for password hashes (OWASP minimum by default: 19456 KiB, 2, 1).
    pub argon2: jwtx_auth::passwords::Argon2Params,
    /// Password verifications queued or running per typed username before 429 (4).
    pub argon2_queue_per_user: usize,
    /// Argon2 jobs queued or running in all before 503; `None` (the default): 32 per hashing
    /// thread, at least 64 ([`jwtx_auth::passwords::QueueLimits::for_concurrency`]).
    pub argon2_queue: Option<usize>,
    /// TLS certificate chain and private key (PEM); both or neither.
    pub tls: Option<TlsFiles>,
    /// Recently verified tokens kept, so a repeated token skips the signature check (1024;
    /// 0 turns the cache off).
    pub verified_cache: usize,
    /// Threads serving connections, each with its own runtime; `None` (the default, or 0):
    /// one per available core.
    pub workers: Option<std::num::NonZeroUsize>,
    /// When set, `GET /metrics` needs `Authorization: Bearer <metrics_token>` (at least 16
    /// characters); unset, it is public, as on the default loopback address.
    pub metrics_token: Option<Secret>,
    /// Cookie names start with `__Host-` (false): the browser then keeps them only if they
    /// are `Secure`, have no `Domain` and have `Path=/`, so a sibling subdomain cannot set
    /// or toss them. Only with the `jwtx` cookie profile, `cookie_secure` and no
    /// `cookie_domain`.
    pub cookie_host_prefix: bool,
    /// Open connections at most (10,000); at the cap the oldest silent one makes room.
    pub max_connections: usize,
    /// Time for the TLS handshake and first request head, and for each later head (10s).
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request (75s).
    pub keep_alive_timeout: Duration,
    /// The store: `sqlite://PATH` (default `sqlite://<data_dir>/jwtx.db`) or `postgres://…`
    /// (shared by every instance). It may hold a password: never shown.
    pub database_url: Option<jwtx_sqlx::DatabaseUrl>,
    /// Redis for revocation fan-out and shared login limits (optional; may hold a password).
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key and channel (`jwtx:`), so deployments can share one Redis.
    pub redis_key_prefix: String,
    /// How often the revocation log is read (500ms; a Redis hint reads at once).
    pub revocation_poll_interval: Duration,
    /// The oldest the revocation mirror may be before protected routes answer 503 (5s; more
    /// than twice the poll interval).
    pub revocation_max_lag: Duration,
    /// Seals the private keys and the generated HMAC secret in the store (envelope
    /// encryption); from 64 hex digits, or `file:PATH` holding them.
    pub key_encryption_key: Option<jwtx::store::sealed::KeyEncryptionKey>,
    /// `Cache-Control: max-age` of the JWKS (5m).
    pub jwks_max_age: Duration,
    /// How long a new key is published before it signs (10m; longer than `jwks_max_age`).
    pub key_publish_lead: Duration,
    /// Rotate the signing key this often (off by default); one instance of a cluster acts.
    pub key_rotation_interval: Option<Duration>,
    /// The account page at `/` (on by default when cookies are a token location, which it
    /// needs).
    pub ui: bool,
    /// Origins of SPAs that may call the API with credentials (none: no CORS headers).
    pub cors_allowed_origins: Option<crate::server::AllowedOrigins>,
}

/// The TLS certificate chain and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `tls_cert`: the PEM certificate chain.
    pub cert: PathBuf,
    /// `tls_key`: the PEM private key.
    pub key: PathBuf,
}

/// `N/DURATION`: at most N events per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many.
    pub count: u32,
    /// Per how long.
    pub window: Duration,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(err(
            key,
            format!("{v:?} is not a boolean; write true or false"),
        )),
    }
}

/// `token_location` from the environment or a TOML string: comma-separated locations.
fn parse_locations(v: &str) -> Result<Vec<Location>, ConfigError> {
    let names = v.split(',').filter(|s| !s.trim().is_empty());
    let locations = names
        .map(str::parse)
        .collect::<Result<Vec<Location>, _>>()
        .map_err(|e| err("token_location", e.to_string()))?;
    check_locations(locations)
}

/// `token_location` from the TOML file: a comma-separated string or an array.
fn toml_locations(v: toml::Value) -> Result<Vec<Location>, ConfigError> {
    match v {
        toml::Value::String(s) => parse_locations(&s),
        other => check_locations(from_toml("token_location", other)?),
    }
}

/// Drops repeated locations; refuses none.
fn check_locations(given: Vec<Location>) -> Result<Vec<Location>, ConfigError> {
    let mut locations = Vec::with_capacity(given.len());
    for l in given {
        if !locations.contains(&l) {
            locations.push(l);
        }
    }
    if locations.is_empty() {
        return Err(err(
            "token_location",
            "is empty; name at least one of headers, cookies, query_string, json",
        ));
    }
    Ok(locations)
}

/// A TOML value as `T`; a value of the wrong kind or word names `key`.
fn from_toml<T: serde::de::DeserializeOwned>(key: &str, v: toml::Value) -> Result<T, ConfigError> {
    T::deserialize(v).map_err(|e| err(key, e.message()))
}

/// `N/DURATION` for `key`, within what the login throttle accepts (1 to
/// [`ThrottleConfig::MAX_LIMIT`](jwtx_auth::throttle::ThrottleConfig::MAX_LIMIT) events per window of 1 s
/// to 7 days), so a value is never silently clamped.
fn parse_rate_limit(key: &str, v: &str) -> Result<RateLimit, ConfigError> {
    use jwtx_auth::throttle::ThrottleConfig;
    let bad = || err(key, format!("{v:?} is not N/DURATION, e.g. 5/5m"));
    let (n, w) = v.split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    let window = parse_duration(w).map_err(|p| err(key, p))?;
    if !(1..=ThrottleConfig::MAX_LIMIT).contains(&count) {
        return Err(err(
            key,
            format!(
                "allows {count} attempts per window; use 1 to {}",
                ThrottleConfig::MAX_LIMIT
            ),
        ));
    }
    if window < Duration::from_secs(1) || window > ThrottleConfig::MAX_WINDOW {
        return Err(err(key, "the window must be from 1s to 7d"));
    }
    Ok(RateLimit { count, window })
}

/// Where each key can come from, in precedence order (flags first).
struct Sources<'a> {
    flags: BTreeMap<&'static str, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: BTreeMap<&'static str, String>,
    /// The TOML file's values of the keys read by [`Sources::typed`], as written.
    file_typed: BTreeMap<&'static str, toml::Value>,
}

impl Sources<'_> {
    fn get(&self, key: &'static str) -> Option<String> {
        self.flags
            .get(key)
            .cloned()
            .or_else(|| (self.env)(&format!("JWTX_{}", key.to_ascii_uppercase())))
            .or_else(|| self.file.get(key).cloned())
    }

    /// `key` from text (a flag or the environment) through `text`, else from the TOML file
    /// through `toml`; `None` when not set.
    fn typed<T>(
        &self,
        key: &'static str,
        text: impl FnOnce(&str) -> Result<T, ConfigError>,
        toml: impl FnOnce(toml::Value) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        let from_text = self
            .flags
            .get(key)
            .cloned()
            .or_else(|| (self.env)(&format!("JWTX_{}", key.to_ascii_uppercase())));
        match (from_text, self.file_typed.get(key)) {
            (Some(v), _) => text(&v).map(Some),
            (None, Some(v)) => toml(v.clone()).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `key` as a word of `T`'s vocabulary: [`FromStr`](std::str::FromStr) for text,
    /// [`Deserialize`] for TOML (one vocabulary, jwtx-axum's).
    fn word<T>(&self, key: &'static str) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr<Err = jwtx_axum::UnknownConfigValue> + serde::de::DeserializeOwned,
    {
        self.typed(
            key,
            |v| v.parse().map_err(|e: T::Err| err(key, e.to_string())),
            |v| from_toml(key, v),
        )
    }

    /// `key` as a whole number up to `max` (`None` when not set); `range` completes the error
    /// message "… is not a whole number from {range}".
    fn count(
        &self,
        key: &'static str,
        max: usize,
        range: &str,
    ) -> Result<Option<usize>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match v.trim().parse::<usize>() {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(err(
                key,
                format!("{v:?} is not a whole number from {range}"),
            )),
        }
    }
}

impl Config {
    /// Loads from the process environment, an optional TOML file and flags.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, ConfigError> {
        Config::load_with(file, flags, &|k| std::env::var(k).ok())
    }

    /// Loads with an explicit environment lookup (for tests).
    pub fn load_with(
        file: Option<&Path>,
        flags: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let fc: FileConfig = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| {
                    err(
                        "config",
                        format!(
                            "{} is not a valid jwtx config: {}",
                            path.display(),
                            e.message()
                        ),
                    )
                })?
            }
        };
        let mut file_values = BTreeMap::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                file_values.insert(k, v);
            }
        };
        put("data_dir", fc.data_dir.map(|p| p.display().to_string()));
        put("algorithm", fc.algorithm);
        put("secret_key", fc.secret_key);
        put("metrics_token", fc.metrics_token);
        put("issuer", fc.issuer);
        put("audience", fc.audience);
        put("leeway", fc.leeway);
        put("access_token_expires", fc.access_token_expires);
        put("refresh_token_expires", fc.refresh_token_expires);
        put("tls_cert", fc.tls_cert.map(|p| p.display().to_string()));
        put("tls_key", fc.tls_key.map(|p| p.display().to_string()));
        put("database_url", fc.database_url);
        put("redis_url", fc.redis_url);
        put("redis_key_prefix", fc.redis_key_prefix);
        put("key_encryption_key", fc.key_encryption_key);
        let mut file_typed = BTreeMap::new();
        for (key, value) in [
            ("token_location", fc.token_location),
            ("cookie_samesite", fc.cookie_samesite),
            ("cookie_profile", fc.cookie_profile),
            ("error_style", fc.error_style),
        ] {
            if let Some(v) = value {
                file_typed.insert(key, v);
            }
        }
        for (key, value) in [
            ("bind", fc.bind),
            ("trusted_proxies", fc.trusted_proxies),
            ("proxy_protocol", fc.proxy_protocol),
            ("cookie_secure", fc.cookie_secure),
            ("cookie_domain", fc.cookie_domain),
            ("csrf_protect", fc.csrf_protect),
            ("refresh_reuse_grace", fc.refresh_reuse_grace),
            ("session_idle_timeout", fc.session_idle_timeout),
            ("login_rate_limit", fc.login_rate_limit),
            ("login_ip_rate_limit", fc.login_ip_rate_limit),
            ("log_format", fc.log_format),
            ("argon2_memory_kib", fc.argon2_memory_kib),
            ("argon2_iterations", fc.argon2_iterations),
            ("argon2_parallelism", fc.argon2_parallelism),
            ("argon2_queue_per_user", fc.argon2_queue_per_user),
            ("argon2_queue", fc.argon2_queue),
            ("verified_cache", fc.verified_cache),
            ("workers", fc.workers),
            ("cookie_host_prefix", fc.cookie_host_prefix),
            ("max_connections", fc.max_connections),
            ("header_read_timeout", fc.header_read_timeout),
            ("keep_alive_timeout", fc.keep_alive_timeout),
            ("revocation_poll_interval", fc.revocation_poll_interval),
            ("revocation_max_lag", fc.revocation_max_lag),
            ("jwks_max_age", fc.jwks_max_age),
            ("key_publish_lead", fc.key_publish_lead),
            ("key_rotation_interval", fc.key_rotation_interval),
            ("ui", fc.ui),
            ("cors_allowed_origins", fc.cors_allowed_origins),
        ] {
            put(key, value.map(toml_text));
        }

        let mut flag_values = BTreeMap::new();
        if let Some(d) = &flags.data_dir {
            flag_values.insert("data_dir", d.display().to_string());
        }
        if let Some(s) = &flags.secret_key {
            flag_values.insert("secret_key", s.expose().to_owned());
        }
        if let Some(a) = &flags.algorithm {
            flag_values.insert("algorithm", a.clone());
        }
        if let Some(b) = &flags.bind {
            flag_values.insert("bind", b.clone());
        }
        if let Some(u) = &flags.database_url {
            flag_values.insert("database_url", u.expose().to_owned());
        }
        let src = Sources {
            flags: flag_values,
            env,
            file: file_values,
            file_typed,
        };
        let ui_named = src.get("ui").is_some();

        let duration = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match src.get(key) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => parse_duration(&v).map_err(|p| err(key, p)),
            }
        };
        // A duration from 1 s to `max`, `default` when not set.
        let bounded = |key: &'static str, default: Duration, max: Duration| {
            let Some(v) = src.get(key) else {
                return Ok(default);
            };
            match parse_duration(&v) {
                Ok(d) if (Duration::from_secs(1)..=max).contains(&d) => Ok(d),
                Ok(_) => Err(err(
                    key,
                    format!("{v:?} is out of range; use 1s to {}s", max.as_secs()),
                )),
                Err(p) => Err(err(key, p)),
            }
        };
        // A duration within `range` (milliseconds allowed), `default` when not set.
        let ranged =
            |key: &'static str, default: Duration, range: std::ops::RangeInclusive<Duration>| {
                let Some(v) = src.get(key) else {
                    return Ok(default);
                };
                match parse_duration(&v) {
                    Ok(d) if range.contains(&d) => Ok(d),
                    Ok(_) => Err(err(
                        key,
                        format!(
                            "{v:?} is out of range; use {}ms to {}s",
                            range.start().as_millis(),
                            range.end().as_secs()
                        ),
                    )),
                    Err(p) => Err(err(key, p)),
                }
            };
        let algorithm = match src.get("algorithm") {
            None => Algorithm::HS256,
            Some(a) => a
                .parse()
                .map_err(|e: jwtx::UnknownAlgorithm| err("algorithm", e.to_string()))?,
        };
        Config {
            data_dir: src
                .get("data_dir")
                .map_or_else(|| PathBuf::from("jwtx-data"), PathBuf::from),
            algorithm,
            secret_key: src.get("secret_key").map(Secret::new),
            issuer: src.get("issuer"),
            audience: src.get("audience"),
            leeway: duration("leeway", 0)?,
            access_token_expires: duration("access_token_expires", 15 * 60)?,
            refresh_token_expires: duration("refresh_token_expires", 30 * 86_400)?,
            bind: match src.get("bind") {
                None => SocketAddr::from(([127, 0, 0, 1], 5000)),
                Some(b) => b.trim().parse().map_err(|_| {
                    err(
                        "bind",
                        format!("{b:?} is not an address; write it like 127.0.0.1:5000"),
                    )
                })?,
            },
            trusted_proxies: match src.get("trusted_proxies") {
                None => Vec::new(),
                Some(v) => crate::server::parse_trusted_proxies(&v)
                    .map_err(|p| err("trusted_proxies", p))?,
            },
            proxy_protocol: match src.get("proxy_protocol") {
                None => false,
                Some(v) => parse_bool("proxy_protocol", &v)?,
            },
            token_location: src
                .typed("token_location", parse_locations, toml_locations)?
                .unwrap_or_else(|| vec![Location::Headers, Location::Cookies]),
            cookie_secure: match src.get("cookie_secure") {
                None => true,
                Some(v) => parse_bool("cookie_secure", &v)?,
            },
            cookie_samesite: src
                .typed(
                    "cookie_samesite",
                    |v| {
                        SameSite::parse_setting(v)
                            .map_err(|e| err("cookie_samesite", e.to_string()))
                    },
                    |v| {
                        SameSite::deserialize_setting(v)
                            .map_err(|e| err("cookie_samesite", e.message()))
                    },
                )?
                .unwrap_or(Some(SameSite::Lax)),
            cookie_domain: src.get("cookie_domain").filter(|d| !d.trim().is_empty()),
            cookie_profile: src.word("cookie_profile")?.unwrap_or_default(),
            csrf_protect: match src.get("csrf_protect") {
                None => true,
                Some(v) => parse_bool("csrf_protect", &v)?,
            },
            error_style: src
                .word("error_style")?
                .unwrap_or(ErrorStyle::FlaskJwtExtended),
            refresh_reuse_grace: duration("refresh_reuse_grace", 10)?,
            session_idle_timeout: duration("session_idle_timeout", 14 * 86_400)?,
            login_rate_limit: match src.get("login_rate_limit") {
                None => RateLimit {
                    count: 5,
                    window: Duration::from_secs(300),
                },
                Some(v) => parse_rate_limit("login_rate_limit", &v)?,
            },
            login_ip_rate_limit: match src.get("login_ip_rate_limit") {
                None => RateLimit {
                    count: 100,
                    window: Duration::from_secs(60),
                },
                Some(v) => parse_rate_limit("login_ip_rate_limit", &v)?,
            },
            argon2: {
                let defaults = jwtx_auth::passwords::Argon2Params::default();
                let number = |key: &'static str, default: u32| -> Result<u32, ConfigError> {
                    match src.get(key) {
                        None => Ok(default),
                        Some(v) => v
                            .trim()
                            .parse()
                            .map_err(|_| err(key, format!("{v:?} is not a whole number"))),
                    }
                };
                let params = jwtx_auth::passwords::Argon2Params {
                    memory_kib: number("argon2_memory_kib", defaults.memory_kib)?,
                    iterations: number("argon2_iterations", defaults.iterations)?,
                    parallelism: number("argon2_parallelism", defaults.parallelism)?,
                };
                params.validate().map_err(|e| {
                    let key = match &e {
                        jwtx_auth::passwords::PasswordError::WeakParams { param, .. }
                        | jwtx_auth::passwords::PasswordError::ParamsTooLarge { param, .. } => {
                            format!("argon2_{param}")
                        }
                        _ => "argon2_memory_kib".to_owned(),
                    };
                    err(&key, e.to_string())
                })?;
                params
            },
            argon2_queue_per_user: match src.count(
                "argon2_queue_per_user",
                jwtx_auth::passwords::QueueLimits::MAX,
                &format!(
                    "1 to {} (default 4)",
                    jwtx_auth::passwords::QueueLimits::MAX
                ),
            )? {
                None => jwtx_auth::passwords::QueueLimits::DEFAULT_PER_USER,
                Some(0) => {
                    return Err(err(
                        "argon2_queue_per_user",
                        "0 would refuse every login: use 1 or more (default 4)",
                    ));
                }
                Some(n) => n,
            },
            argon2_queue: match src.count(
                "argon2_queue",
                jwtx_auth::passwords::QueueLimits::MAX,
                &format!(
                    "0 (32 per hashing thread, at least 64) to {}",
                    jwtx_auth::passwords::QueueLimits::MAX
                ),
            )? {
                None | Some(0) => None,
                Some(n) => Some(n),
            },
            tls: match (src.get("tls_cert"), src.get("tls_key")) {
                (None, None) => None,
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                }),
                (Some(_), None) => {
                    return Err(err("tls_key", "is missing; tls_cert needs its private key"));
                }
                (None, Some(_)) => {
                    return Err(err("tls_cert", "is missing; tls_key needs its certificate"));
                }
            },
            verified_cache: src
                .count(
                    "verified_cache",
                    MAX_VERIFIED_CACHE,
                    &format!("0 (off) to {MAX_VERIFIED_CACHE} (about 1 KiB of memory each)"),
                )?
                .unwrap_or(DEFAULT_VERIFIED_CACHE),
            workers: src
                .count(
                    "workers",
                    MAX_WORKERS,
                    &format!("0 (one per core) to {MAX_WORKERS}"),
                )?
                .and_then(std::num::NonZeroUsize::new),
            max_connections: match src.count(
                "max_connections",
                MAX_MAX_CONNECTIONS,
                &format!("1 to {MAX_MAX_CONNECTIONS}"),
            )? {
                None => DEFAULT_MAX_CONNECTIONS,
                Some(0) => {
                    return Err(err(
                        "max_connections",
                        format!("\"0\" is not a whole number from 1 to {MAX_MAX_CONNECTIONS}"),
                    ));
                }
                Some(n) => n,
            },
            header_read_timeout: bounded(
                "header_read_timeout",
                DEFAULT_HEADER_READ_TIMEOUT,
                MAX_HEADER_READ_TIMEOUT,
            )?,
            keep_alive_timeout: bounded(
                "keep_alive_timeout",
                DEFAULT_KEEP_ALIVE_TIMEOUT,
                MAX_KEEP_ALIVE_TIMEOUT,
            )?,
            log_format: match src.get("log_format").as_deref().map(str::trim) {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(v) => {
                    return Err(err("log_format", format!("{v:?} is not text or json")));
                }
            },
            metrics_token: match src.get("metrics_token") {
                None => None,
                Some(t) if t.trim().chars().count() >= MIN_METRICS_TOKEN => {
                    Some(Secret::new(t.trim()))
                }
                Some(_) => {
                    return Err(err(
                        "metrics_token",
                        format!(
                            "is shorter than {MIN_METRICS_TOKEN} characters; make one with \
                             `jwtx secret generate`"
                        ),
                    ));
                }
            },
            cookie_host_prefix: match src.get("cookie_host_prefix") {
                None => false,
                Some(v) => parse_bool("cookie_host_prefix", &v)?,
            },
            database_url: match src.get("database_url").filter(|u| !u.trim().is_empty()) {
                None => None,
                Some(u) => Some(
                    jwtx_sqlx::DatabaseUrl::parse(u.trim()).map_err(|e| err("database_url", e))?,
                ),
            },
            redis_url: src
                .get("redis_url")
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .map(Secret::new),
            redis_key_prefix: match src.get("redis_key_prefix") {
                None => "jwtx:".to_owned(),
                Some(p)
                    if p.len() <= 64 && !p.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    p
                }
                Some(_) => {
                    return Err(err(
                        "redis_key_prefix",
                        "must be at most 64 bytes without whitespace or control characters, \
                         e.g. \"jwtx:\" or \"prod-eu:\"",
                    ));
                }
            },
            revocation_poll_interval: ranged(
                "revocation_poll_interval",
                jwtx_auth::FOLLOW_INTERVAL,
                Duration::from_millis(10)..=Duration::from_secs(60),
            )?,
            revocation_max_lag: ranged(
                "revocation_max_lag",
                jwtx_auth::MAX_LAG,
                Duration::from_millis(30)..=Duration::from_secs(3600),
            )?,
            key_encryption_key: match src.get("key_encryption_key") {
                None => None,
                Some(v) => Some(parse_kek(&v)?),
            },
            jwks_max_age: ranged(
                "jwks_max_age",
                Duration::from_secs(300),
                Duration::ZERO..=Duration::from_secs(86_400),
            )?,
            key_publish_lead: ranged(
                "key_publish_lead",
                Duration::from_secs(600),
                Duration::ZERO..=Duration::from_secs(7 * 86_400),
            )?,
            key_rotation_interval: match src.get("key_rotation_interval") {
                None => None,
                Some(v) if matches!(v.as_str(), "off" | "none" | "0") => None,
                Some(v) => match parse_duration(&v) {
                    Ok(d) if d >= Duration::from_secs(1) => Some(d),
                    Ok(_) => {
                        return Err(err(
                            "key_rotation_interval",
                            "must be at least 1s, or \"off\"",
                        ));
                    }
                    Err(p) => return Err(err("key_rotation_interval", p)),
                },
            },
            ui: match src.get("ui") {
                None => true,
                Some(v) => parse_bool("ui", &v)?,
            },
            cors_allowed_origins: match src.get("cors_allowed_origins") {
                None => None,
                Some(v) => crate::server::AllowedOrigins::parse(&v)
                    .map_err(|why| err("cors_allowed_origins", why))?,
            },
        }
        .checked(ui_named)
    }

    /// The longest a token from this configuration lives: how long a revocation must be kept
    /// when the token's `exp` is not known.
    pub fn longest_token_lifetime(&self) -> u64 {
        self.access_token_expires
            .max(self.refresh_token_expires)
            .as_secs()
    }

    /// Checks settings that only make sense together; `ui_named`: `ui` was set, not defaulted.
    fn checked(mut self, ui_named: bool) -> Result<Config, ConfigError> {
        // The account page keeps its tokens in HttpOnly cookies: without the cookie location
        // it cannot work, so it is off unless asked for, and then refused.
        if self.ui && !self.token_location.contains(&Location::Cookies) {
            if ui_named {
                return Err(err(
                    "ui",
                    "needs the cookies token location (the account page keeps its tokens in \
                     HttpOnly cookies); add cookies to token_location or set ui = false",
                ));
            }
            self.ui = false;
        }
        let follow = jwtx_auth::Follow {
            poll_interval: self.revocation_poll_interval,
            max_lag: self.revocation_max_lag,
        };
        follow
            .validate()
            .map_err(|why| err("revocation_max_lag", why))?;
        // A verifier caching the JWKS for jwks_max_age must see a new key before it signs.
        if let Some(every) = self.key_rotation_interval {
            // Each rotation leaves a key verifying for the longest token lifetime: bound how
            // many a server holds.
            let held = self.longest_token_lifetime() / every.as_secs().max(1);
            if every <= self.key_publish_lead || held > 1_000 {
                return Err(err(
                    "key_rotation_interval",
                    format!(
                        "({every:?}) must exceed key_publish_lead ({:?}) and be at least a \
                         thousandth of the longest token lifetime ({}s), so at most 1000 keys \
                         verify at once",
                        self.key_publish_lead,
                        self.longest_token_lifetime()
                    ),
                ));
            }
        }
        if self.key_publish_lead <= self.jwks_max_age {
            return Err(err(
                "key_publish_lead",
                format!(
                    "({:?}) must exceed jwks_max_age ({:?}), so verifiers that cache the JWKS \
                     learn of a new key before it signs",
                    self.key_publish_lead, self.jwks_max_age
                ),
            ));
        }
        if self.proxy_protocol && self.trusted_proxies.is_empty() {
            return Err(err(
                "proxy_protocol",
                "needs trusted_proxies: the load balancers' addresses, whose connections begin \
                 with a PROXY header",
            ));
        }
        if self.cookie_host_prefix {
            let why = if self.cookie_profile != CookieProfile::Jwtx {
                Some("needs cookie_profile = \"jwtx\"")
            } else if !self.cookie_secure {
                Some("needs cookie_secure = true (browsers keep __Host- cookies only if Secure)")
            } else if self.cookie_domain.is_some() {
                Some("cannot be used with cookie_domain (a __Host- cookie has no Domain)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(err("cookie_host_prefix", why));
            }
        }
        Ok(self)
    }
}

/// `key_encryption_key`: 64 hex digits, or `file:PATH` of a file holding them (readable by
/// its owner only, where the platform says).
fn parse_kek(v: &str) -> Result<jwtx::store::sealed::KeyEncryptionKey, ConfigError> {
    const KEY: &str = "key_encryption_key";
    let text = match v.trim().strip_prefix("file:") {
        None => Zeroizing::new(v.to_owned()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(KEY, format!("cannot read {path}: {e}")))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map_err(|e| err(KEY, format!("cannot read {path}: {e}")))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(err(
                        KEY,
                        format!(
                            "{path} is open to other users (mode {:o}); run `chmod 600 {path}`",
                            mode & 0o777
                        ),
                    ));
                }
            }
            Zeroizing::new(text)
        }
    };
    jwtx::store::sealed::KeyEncryptionKey::from_hex(&text).map_err(|e| err(KEY, e))
}

/// The shortest `metrics_token` accepted, in characters.
pub const MIN_METRICS_TOKEN: usize = 16;

/// Secrets copied from tutorials and examples; a server started with one is wide open.
const KNOWN_WEAK: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "super-secret",
    "super-secret-key",
    "super-secret-jwt-key",
    "your-256-bit-secret",
    "your-secret-key",
    "jwt-secret",
    "my-secret-key",
    "secret-key",
    "please-change-me",
];

/// Refuses a secret that is too short for `alg`, a known example secret, or one with so
/// few distinct characters that it cannot be random.
pub fn check_secret(alg: Algorithm, secret: &Secret) -> Result<(), ConfigError> {
    let s = secret.expose();
    let fix = "generate one with `jwtx secret generate` and set it as JWTX_SECRET_KEY";
    let lower = s.to_ascii_lowercase();
    if KNOWN_WEAK.iter().any(|w| {
        lower == *w || lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!') == *w
    }) {
        return Err(err(
            "secret_key",
            format!("is a well-known example secret; {fix}"),
        ));
    }
    if let Some(min) = alg.min_secret_len()
        && s.len() < min
    {
        return Err(err(
            "secret_key",
            format!("is {} bytes; {alg} needs at least {min}; {fix}", s.len()),
        ));
    }
    let mut distinct: Vec<u8> = s.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 8 {
        return Err(err(
            "secret_key",
            format!(
                "uses only {} distinct characters and cannot be random; {fix}",
                distinct.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        let cfg = Config::load_with(
            None,
            &Overrides {
                secret_key: Some(s),
                ..Overrides::default()
            },
            &|_| None,
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert!(parse_duration("15").unwrap_err().contains("no unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    }

    /// A configuration from the environment `vars` alone.
    fn load_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load_with(None, &Overrides::default(), &move |k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    /// The key-rotation keys: defaults, the environment, and the lead rule.
    #[test]
    fn key_rotation_keys() {
        let load = load_env;
        let c = load(&[]).unwrap();
        assert_eq!(c.jwks_max_age, Duration::from_secs(300));
        assert_eq!(c.key_publish_lead, Duration::from_secs(600));
        assert_eq!(c.key_rotation_interval, None);
        let c = load(&[
            ("JWTX_JWKS_MAX_AGE", "0s"),
            ("JWTX_KEY_PUBLISH_LEAD", "2s"),
            ("JWTX_KEY_ROTATION_INTERVAL", "1d"),
        ])
        .unwrap();
        assert_eq!(c.jwks_max_age, Duration::ZERO);
        assert_eq!(c.key_publish_lead, Duration::from_secs(2));
        assert_eq!(c.key_rotation_interval, Some(Duration::from_secs(86_400)));
        let off = load(&[("JWTX_KEY_ROTATION_INTERVAL", "off")]).unwrap();
        assert_eq!(off.key_rotation_interval, None);
        let e = load(&[("JWTX_KEY_PUBLISH_LEAD", "5m")]).unwrap_err();
        assert_eq!(e.key, "key_publish_lead");
        assert!(e.to_string().contains("jwks_max_age"), "{e}");
        let e = load(&[("JWTX_KEY_ROTATION_INTERVAL", "0.5s")]).unwrap_err();
        assert_eq!(e.key, "key_rotation_interval");
        // Not within the lead, and not so often that over 1000 keys would verify at once.
        let e = load(&[("JWTX_KEY_ROTATION_INTERVAL", "5m")]).unwrap_err();
        assert_eq!(e.key, "key_rotation_interval");
        let e = load(&[("JWTX_KEY_ROTATION_INTERVAL", "30m")]).unwrap_err();
        assert!(e.to_string().contains("1000 keys"), "{e}");
    }

    /// The many-instance keys: defaults, the environment, the lag rule, and URLs (which may
    /// hold passwords) never shown.
    #[test]
    fn many_instance_keys() {
        let load = load_env;
        let c = load(&[]).unwrap();
        assert_eq!(c.database_url, None);
        assert_eq!(c.redis_url, None);
        assert_eq!(c.redis_key_prefix, "jwtx:");
        assert_eq!(c.revocation_poll_interval, Duration::from_millis(500));
        assert_eq!(c.revocation_max_lag, Duration::from_secs(5));
        let c = load(&[
            (
                "JWTX_DATABASE_URL",
                "postgres://jwtx:pg-hunter2@db.internal/jwtx",
            ),
            ("JWTX_REDIS_URL", "redis://:redis-hunter2@cache:6379/0"),
            ("JWTX_REDIS_KEY_PREFIX", "prod-eu:"),
            ("JWTX_REVOCATION_POLL_INTERVAL", "200ms"),
            ("JWTX_REVOCATION_MAX_LAG", "2s"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url.as_ref().map(jwtx_sqlx::DatabaseUrl::expose),
            Some("postgres://jwtx:pg-hunter2@db.internal/jwtx")
        );
        let e = load(&[("JWTX_DATABASE_URL", "mysql://u:pg-hunter2@h/db")]).unwrap_err();
        assert_eq!(e.key, "database_url");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(c.redis_key_prefix, "prod-eu:");
        assert_eq!(c.revocation_poll_interval, Duration::from_millis(200));
        assert_eq!(c.revocation_max_lag, Duration::from_secs(2));
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let e = load(&[
            ("JWTX_REVOCATION_POLL_INTERVAL", "1s"),
            ("JWTX_REVOCATION_MAX_LAG", "2s"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "revocation_max_lag");
        assert!(e.problem.contains("twice"), "{e}");
        let e = load(&[("JWTX_REVOCATION_POLL_INTERVAL", "5ms")]).unwrap_err();
        assert_eq!(e.key, "revocation_poll_interval");
        let e = load(&[("JWTX_REDIS_KEY_PREFIX", "a b")]).unwrap_err();
        assert_eq!(e.key, "redis_key_prefix");
    }

    /// `key_encryption_key` from the value or a private file; never shown.
    #[test]
    fn key_encryption_key_from_value_or_file() {
        let hex = "f00d".repeat(16);
        let env = |k: &str| (k == "JWTX_KEY_ENCRYPTION_KEY").then(|| hex.clone());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        let kek = c.key_encryption_key.as_ref().unwrap();
        assert!(!format!("{c:?}").contains("f00df00d"));
        let dir = std::env::temp_dir().join(format!("jwtx-kek-{}", jwtx::uuid4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kek");
        std::fs::write(&file, format!("{hex}\n")).unwrap();
        let from_file = |path: &std::path::Path| {
            let v = format!("file:{}", path.display());
            Config::load_with(None, &Overrides::default(), &move |k: &str| {
                (k == "JWTX_KEY_ENCRYPTION_KEY").then(|| v.clone())
            })
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = from_file(&file).unwrap_err();
            assert!(e.problem.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let c = from_file(&file).unwrap();
        assert_eq!(c.key_encryption_key.unwrap().id(), kek.id());
        let e = from_file(&dir.join("missing")).unwrap_err();
        assert_eq!(e.key, "key_encryption_key");
        let bad = |k: &str| (k == "JWTX_KEY_ENCRYPTION_KEY").then(|| "short-secret".to_owned());
        let e = Config::load_with(None, &Overrides::default(), &bad).unwrap_err();
        assert!(!e.to_string().contains("short-secret"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn browsers_ui_and_cors_origins() {
        let c = load_env(&[]).unwrap();
        assert!(c.ui && c.cors_allowed_origins.is_none());
        // Without the cookie location the page cannot work: off by default, refused if asked.
        let c = load_env(&[("JWTX_TOKEN_LOCATION", "headers")]).unwrap();
        assert!(!c.ui);
        let e = load_env(&[("JWTX_TOKEN_LOCATION", "headers"), ("JWTX_UI", "true")]).unwrap_err();
        assert!(e.key == "ui" && e.problem.contains("cookies"), "{e}");
        assert!(!load_env(&[("JWTX_UI", "off")]).unwrap().ui);
        let c = load_env(&[(
            "JWTX_CORS_ALLOWED_ORIGINS",
            "http://app.jwtx.localhost:8080, https://spa.example.com",
        )])
        .unwrap();
        let origins: Vec<&str> = c.cors_allowed_origins.as_ref().unwrap().iter().collect();
        assert_eq!(
            origins,
            ["http://app.jwtx.localhost:8080", "https://spa.example.com"]
        );
        for bad in [
            "*",
            "null",
            "https://spa.example.com/",
            "https://spa.example.com/app",
        ] {
            let e = load_env(&[("JWTX_CORS_ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(e.key, "cors_allowed_origins", "{bad}: {e}");
        }
    }

    #[test]
    fn precedence_flags_env_file_defaults() {
        let dir = std::env::temp_dir().join(format!("jwtx-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtx.toml");
        std::fs::write(
            &file,
            "algorithm = \"HS384\"\nissuer = \"file\"\nleeway = \"5s\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == "JWTX_ISSUER").then(|| "env".to_owned());
        let flags = Overrides {
            algorithm: Some("HS512".into()),
            ..Overrides::default()
        };
        let c = Config::load_with(Some(&file), &flags, &env).unwrap();
        assert_eq!(c.algorithm, Algorithm::HS512);
        assert_eq!(c.issuer.as_deref(), Some("env"));
        assert_eq!(c.leeway, Duration::from_secs(5));
        assert_eq!(c.access_token_expires, Duration::from_secs(900));
        std::fs::write(&file, "algoritm = \"HS384\"\n").unwrap();
        let e = Config::load_with(Some(&file), &Overrides::default(), &|_| None).unwrap_err();
        assert!(e.problem.contains("algoritm"), "{e}");
        let e = Config::load_with(None, &Overrides::default(), &|k| {
            (k == "JWTX_LEEWAY").then(|| "soon".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.key, "leeway");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn server_keys_from_file_env_and_defaults() {
        let c = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.bind, SocketAddr::from(([127, 0, 0, 1], 5000)));
        assert_eq!(c.token_location, [Location::Headers, Location::Cookies]);
        assert!(c.cookie_secure && c.csrf_protect);
        assert_eq!(c.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(c.verified_cache, 1024);
        assert_eq!(
            c.login_rate_limit,
            RateLimit {
                count: 5,
                window: Duration::from_secs(300)
            }
        );
        let dir = std::env::temp_dir().join(format!("jwtx-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtx.toml");
        std::fs::write(
            &file,
            "token_location = [\"cookies\", \"json\"]\ncookie_secure = false\nlogin_rate_limit = \"3/1m\"\nbind = \"0.0.0.0:8080\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == "JWTX_COOKIE_SAMESITE").then(|| "strict".to_owned());
        let c = Config::load_with(Some(&file), &Overrides::default(), &env).unwrap();
        assert_eq!(c.token_location, [Location::Cookies, Location::Json]);
        assert!(!c.cookie_secure);
        assert_eq!(c.cookie_samesite, Some(SameSite::Strict));
        assert_eq!(c.login_rate_limit.count, 3);
        assert_eq!(
            c.login_ip_rate_limit,
            RateLimit {
                count: 100,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(c.bind.port(), 8080);
        let env = |k: &str| (k == "JWTX_LOGIN_IP_RATE_LIMIT").then(|| "10000/1m".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.login_ip_rate_limit.count, 10_000);
        let env = |k: &str| (k == "JWTX_VERIFIED_CACHE").then(|| "0".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.verified_cache, 0);
        assert_eq!(c.workers, None);
        let env = |k: &str| (k == "JWTX_WORKERS").then(|| "3".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.workers, std::num::NonZeroUsize::new(3));
        let env = |k: &str| (k == "JWTX_WORKERS").then(|| "0".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.workers, None);
        assert_eq!((c.argon2_queue_per_user, c.argon2_queue), (4, None));
        std::fs::write(&file, "argon2_queue_per_user = 2\nargon2_queue = 300\n").unwrap();
        let c = Config::load_with(Some(&file), &Overrides::default(), &|_| None).unwrap();
        assert_eq!((c.argon2_queue_per_user, c.argon2_queue), (2, Some(300)));
        let env = |k: &str| (k == "JWTX_ARGON2_QUEUE").then(|| "0".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.argon2_queue, None, "0 is the automatic size");
        let c = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(75));
        let env = |k: &str| match k {
            "JWTX_MAX_CONNECTIONS" => Some("8".to_owned()),
            "JWTX_HEADER_READ_TIMEOUT" => Some("1s".to_owned()),
            "JWTX_KEEP_ALIVE_TIMEOUT" => Some("1h".to_owned()),
            _ => None,
        };
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.max_connections, 8);
        assert_eq!(c.header_read_timeout, Duration::from_secs(1));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(3600));
        std::fs::write(
            &file,
            "max_connections = 500\nheader_read_timeout = \"5s\"\nkeep_alive_timeout = \"2m\"\n",
        )
        .unwrap();
        let c = Config::load_with(Some(&file), &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.max_connections, 500);
        assert_eq!(c.header_read_timeout, Duration::from_secs(5));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(120));
        for (key, value) in [
            ("JWTX_MAX_CONNECTIONS", "0"),
            ("JWTX_MAX_CONNECTIONS", "1000001"),
            ("JWTX_MAX_CONNECTIONS", "lots"),
            ("JWTX_HEADER_READ_TIMEOUT", "0s"),
            ("JWTX_HEADER_READ_TIMEOUT", "6m"),
            ("JWTX_HEADER_READ_TIMEOUT", "10"),
            ("JWTX_KEEP_ALIVE_TIMEOUT", "0s"),
            ("JWTX_KEEP_ALIVE_TIMEOUT", "2h"),
            ("JWTX_WORKERS", "1025"),
            ("JWTX_WORKERS", "two"),
            ("JWTX_VERIFIED_CACHE", "-1"),
            ("JWTX_VERIFIED_CACHE", "1048577"),
            ("JWTX_TOKEN_LOCATION", "headers,body"),
            ("JWTX_COOKIE_SECURE", "maybe"),
            ("JWTX_LOGIN_RATE_LIMIT", "5 per minute"),
            ("JWTX_LOGIN_RATE_LIMIT", "0/1m"),
            ("JWTX_LOGIN_IP_RATE_LIMIT", "10001/1m"),
            ("JWTX_LOGIN_IP_RATE_LIMIT", "5/8d"),
            ("JWTX_BIND", "localhost"),
            ("JWTX_ERROR_STYLE", "xml"),
            ("JWTX_ARGON2_ITERATIONS", "1"),
            ("JWTX_ARGON2_MEMORY_KIB", "lots"),
            ("JWTX_ARGON2_QUEUE_PER_USER", "0"),
            ("JWTX_ARGON2_QUEUE_PER_USER", "four"),
            ("JWTX_ARGON2_QUEUE", "100001"),
        ] {
            let e = Config::load_with(None, &Overrides::default(), &|k| {
                (k == key).then(|| value.to_owned())
            })
            .unwrap_err();
            assert_eq!(format!("JWTX_{}", e.key.to_ascii_uppercase()), key, "{e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `token_location`, `cookie_samesite`, `cookie_profile` and `error_style` take jwtx-axum's
    /// words from the environment (text, lists comma-separated) and the TOML file (strings or
    /// arrays); a bad one names its key and lists the valid words.
    #[test]
    fn vocabulary_keys_from_env_and_file() {
        let dir = std::env::temp_dir().join(format!("jwtx-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtx.toml");
        let from_file = |toml: &str| {
            std::fs::write(&file, toml).unwrap();
            Config::load_with(Some(&file), &Overrides::default(), &|_| None)
        };
        let from_env = |key: &'static str, value: &'static str| {
            Config::load_with(None, &Overrides::default(), &move |k| {
                (k == key).then(|| value.to_owned())
            })
        };

        let c = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.cookie_samesite, Some(SameSite::Lax));
        assert_eq!(c.cookie_profile, CookieProfile::Jwtx);
        assert_eq!(c.error_style, ErrorStyle::FlaskJwtExtended);

        let c = from_file(
            "token_location = [\"json\", \"query_string\", \"json\"]\n\
             cookie_samesite = \"NONE\"\n\
             cookie_profile = \"flask-jwt-extended\"\n\
             error_style = \"rfc6750\"\n",
        )
        .unwrap();
        assert_eq!(c.token_location, [Location::Json, Location::QueryString]);
        assert_eq!(c.cookie_samesite, Some(SameSite::None));
        assert_eq!(c.cookie_profile, CookieProfile::FlaskJwtExtended);
        assert_eq!(c.error_style, ErrorStyle::Rfc6750);
        let c = from_file("token_location = \"cookies, headers\"\ncookie_samesite = \"off\"\n")
            .unwrap();
        assert_eq!(c.token_location, [Location::Cookies, Location::Headers]);
        assert_eq!(c.cookie_samesite, None);

        let c = from_env("JWTX_TOKEN_LOCATION", " query_string,headers,,query_string").unwrap();
        assert_eq!(c.token_location, [Location::QueryString, Location::Headers]);
        for (value, want) in [
            ("Strict", Some(SameSite::Strict)),
            ("lax", Some(SameSite::Lax)),
            ("OFF", None),
            ("", None),
        ] {
            let c = from_env("JWTX_COOKIE_SAMESITE", value).unwrap();
            assert_eq!(c.cookie_samesite, want, "{value:?}");
        }
        let c = from_env("JWTX_COOKIE_PROFILE", "flask-jwt-extended").unwrap();
        assert_eq!(c.cookie_profile, CookieProfile::FlaskJwtExtended);
        let c = from_env("JWTX_ERROR_STYLE", " rfc6750").unwrap();
        assert_eq!(c.error_style, ErrorStyle::Rfc6750);

        // The environment wins over the file.
        std::fs::write(
            &file,
            "error_style = \"rfc6750\"\ncookie_samesite = \"strict\"\n",
        )
        .unwrap();
        let c = Config::load_with(Some(&file), &Overrides::default(), &|k| {
            (k == "JWTX_ERROR_STYLE").then(|| "flask-jwt-extended".to_owned())
        })
        .unwrap();
        assert_eq!(c.error_style, ErrorStyle::FlaskJwtExtended);
        assert_eq!(c.cookie_samesite, Some(SameSite::Strict));

        let locations = "use headers, cookies, query_string or json";
        for (got, key, problem) in [
            (
                from_env("JWTX_TOKEN_LOCATION", "headers,body"),
                "token_location",
                format!("\"body\" is not a token location; {locations}"),
            ),
            (
                from_file("token_location = [\"headers\", \"Cookies\"]\n"),
                "token_location",
                format!("\"Cookies\" is not a token location; {locations}"),
            ),
            (
                from_file("token_location = \"headers,body\"\n"),
                "token_location",
                format!("\"body\" is not a token location; {locations}"),
            ),
            (
                from_file("token_location = [1]\n"),
                "token_location",
                "invalid type: integer `1`, expected a token location \
                 (headers, cookies, query_string or json)"
                    .to_owned(),
            ),
            (
                from_file("token_location = []\n"),
                "token_location",
                "is empty; name at least one of headers, cookies, query_string, json".to_owned(),
            ),
            (
                from_env("JWTX_TOKEN_LOCATION", " , "),
                "token_location",
                "is empty; name at least one of headers, cookies, query_string, json".to_owned(),
            ),
            (
                from_env("JWTX_COOKIE_SAMESITE", "sometimes"),
                "cookie_samesite",
                "\"sometimes\" is not a SameSite value; use lax, strict, none or off".to_owned(),
            ),
            (
                from_file("cookie_samesite = \"sometimes\"\n"),
                "cookie_samesite",
                "\"sometimes\" is not a SameSite value; use lax, strict, none or off".to_owned(),
            ),
            (
                from_file("cookie_samesite = false\n"),
                "cookie_samesite",
                "invalid type: boolean `false`, expected a SameSite value \
                 (lax, strict, none or off)"
                    .to_owned(),
            ),
            (
                from_env("JWTX_COOKIE_PROFILE", "flask"),
                "cookie_profile",
                "\"flask\" is not a cookie profile; use jwtx or flask-jwt-extended".to_owned(),
            ),
            (
                from_file("cookie_profile = \"flask\"\n"),
                "cookie_profile",
                "\"flask\" is not a cookie profile; use jwtx or flask-jwt-extended".to_owned(),
            ),
            (
                from_env("JWTX_ERROR_STYLE", "xml"),
                "error_style",
                "\"xml\" is not an error style; use flask-jwt-extended or rfc6750".to_owned(),
            ),
            (
                from_file("error_style = \"xml\"\n"),
                "error_style",
                "\"xml\" is not an error style; use flask-jwt-extended or rfc6750".to_owned(),
            ),
        ] {
            let e = got.unwrap_err();
            assert_eq!(
                (e.key.as_str(), e.problem.as_str()),
                (key, problem.as_str())
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `trusted_proxies` (addresses and CIDRs, IPv4 and IPv6, a list in TOML or comma-separated
    /// text) and `proxy_protocol`; a bad entry names the key and the entry.
    #[test]
    fn trusted_proxies_and_proxy_protocol() {
        let load = |key: &'static str, value: &'static str| {
            Config::load_with(None, &Overrides::default(), &move |k| {
                (k == key).then(|| value.to_owned())
            })
        };
        let c = Config::load_with(None, &Overrides::default(), &|_| None).unwrap();
        assert!(c.trusted_proxies.is_empty() && !c.proxy_protocol);
        let c = load("JWTX_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,,fd00::/8").unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
        let dir = std::env::temp_dir().join(format!("jwtx-cfg4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwtx.toml");
        std::fs::write(
            &file,
            "trusted_proxies = [\"192.0.2.0/24\", \"::1\"]\nproxy_protocol = true\n",
        )
        .unwrap();
        let c = Config::load_with(Some(&file), &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.proxy_protocol);
        std::fs::remove_dir_all(dir).unwrap();
        for (key, value, problem) in [
            (
                "JWTX_TRUSTED_PROXIES",
                "10.0.0.0/8,10.0.0.0/33",
                "\"10.0.0.0/33\": the prefix /33 is longer than 32 bits",
            ),
            (
                "JWTX_TRUSTED_PROXIES",
                "127.0.0.1,lb.internal",
                "\"lb.internal\" is not an IP address or network; write it like 10.0.0.0/8, \
                 127.0.0.1 or fd00::/8",
            ),
            (
                "JWTX_TRUSTED_PROXIES",
                "10.1.0.0/8",
                "\"10.1.0.0/8\" has host bits set; the network is 10.0.0.0/8",
            ),
            (
                "JWTX_PROXY_PROTOCOL",
                "maybe",
                "\"maybe\" is not a boolean; write true or false",
            ),
            (
                "JWTX_PROXY_PROTOCOL",
                "true",
                "needs trusted_proxies: the load balancers' addresses, whose connections begin \
                 with a PROXY header",
            ),
        ] {
            let e = load(key, value).unwrap_err();
            assert_eq!(format!("JWTX_{}", e.key.to_ascii_uppercase()), key, "{e}");
            assert_eq!(e.problem, problem);
        }
    }

    #[test]
    fn weak_secrets() {
        let a = Algorithm::HS256;
        assert!(check_secret(a, &Secret::new("super-secret-jwt-key")).is_err());
        assert!(check_secret(a, &Secret::new("a".repeat(40))).is_err());
        assert!(check_secret(a, &Secret::new("short")).is_err());
        assert!(check_secret(a, &Secret::new(jwtx::secret_hex::<32>().as_str())).is_ok());
    }
}
