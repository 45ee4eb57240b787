//! Configuration: flags > environment (`JWTX_*`) > TOML file (`--config`) > defaults.
//!
//! Every value is validated when loaded; a bad one stops the command with a message naming
//! the key and what to change ([`ConfigError`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jwtx::Algorithm;
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

/// Parses a duration written `90s`, `15m`, `1h` or `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write it like 90s, 15m, 1h or 30d"))?;
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
    /// Refresh token lifetime (30d).
    pub refresh_token_expires: Duration,
}

/// Where each key can come from, in precedence order (flags first).
struct Sources<'a> {
    flags: BTreeMap<&'static str, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: BTreeMap<&'static str, String>,
}

impl Sources<'_> {
    fn get(&self, key: &'static str) -> Option<String> {
        self.flags
            .get(key)
            .cloned()
            .or_else(|| (self.env)(&format!("JWTX_{}", key.to_ascii_uppercase())))
            .or_else(|| self.file.get(key).cloned())
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
        put("issuer", fc.issuer);
        put("audience", fc.audience);
        put("leeway", fc.leeway);
        put("access_token_expires", fc.access_token_expires);
        put("refresh_token_expires", fc.refresh_token_expires);

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
        let src = Sources {
            flags: flag_values,
            env,
            file: file_values,
        };

        let duration = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match src.get(key) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => parse_duration(&v).map_err(|p| err(key, p)),
            }
        };
        let algorithm = match src.get("algorithm") {
            None => Algorithm::HS256,
            Some(a) => a
                .parse()
                .map_err(|e: jwtx::UnknownAlgorithm| err("algorithm", e.to_string()))?,
        };
        Ok(Config {
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
        })
    }
}

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
    fn weak_secrets() {
        let a = Algorithm::HS256;
        assert!(check_secret(a, &Secret::new("super-secret-jwt-key")).is_err());
        assert!(check_secret(a, &Secret::new("a".repeat(40))).is_err());
        assert!(check_secret(a, &Secret::new("short")).is_err());
        assert!(check_secret(a, &Secret::new(jwtx::secret_hex::<32>().as_str())).is_ok());
    }
}
