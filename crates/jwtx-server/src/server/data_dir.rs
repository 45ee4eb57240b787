//! The data directory (`./jwtx-data` by default): the SQLite database and, unless one is
//! configured, the generated HMAC secret in a file only the owner can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, Secret};
use crate::error::CliError;

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

/// Where the HMAC secret came from (for the startup summary; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `secret_key` in the configuration (file, environment or flag).
    Configured,
    /// Generated earlier and read from this file.
    File(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

impl DataDir {
    /// Creates the directory if needed (mode 0700 on Unix).
    pub fn open(path: &Path) -> Result<DataDir, CliError> {
        let fail = |e: std::io::Error| {
            CliError::usage(format!(
                "cannot create the data directory {}: {e}; set data_dir (--data-dir) to a writable place",
                path.display()
            ))
        };
        if !path.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(path).map_err(fail)?;
        }
        Ok(DataDir {
            path: path.to_owned(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.path.join("jwtx.db")
    }

    /// The HMAC secret: the configured one (checked for strength), else the one in
    /// `secret_key` in the data directory, generated (256 bits, file mode 0600) on first use.
    pub fn hmac_secret(&self, config: &Config) -> Result<(Secret, SecretSource), CliError> {
        if let Some(s) = &config.secret_key {
            config::check_secret(config.algorithm, s)?;
            return Ok((s.clone(), SecretSource::Configured));
        }
        let file = self.path.join("secret_key");
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let secret = Secret::new(text.trim());
                config::check_secret(config.algorithm, &secret).map_err(|e| {
                    CliError::usage(format!("{} holds a bad secret: {e}", file.display()))
                })?;
                Ok((secret, SecretSource::File(file)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = Secret::new(jwtx::secret_hex::<32>().as_str());
                write_private(&file, secret.expose().as_bytes()).map_err(|e| {
                    CliError::usage(format!("cannot write {}: {e}", file.display()))
                })?;
                Ok((secret, SecretSource::Generated(file)))
            }
            Err(e) => Err(CliError::usage(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }
}

/// Writes a new file readable only by its owner, durably (fsync of the file and directory).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
