//! The data directory (`./jwtx-data` by default): the SQLite database and, unless one is
//! configured, the generated HMAC secret in a file only the owner can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, Secret};
use crate::error::CliError;

/// The data directory.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    path: PathBuf,
    /// The SQLite database in it (`jwtx.db` unless `database_url` names another file).
    db: PathBuf,
}

/// Where the HMAC secret came from (for the startup summary; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// `secret_key` in the configuration (file, environment or flag).
    Configured,
    /// Generated earlier and read from this file.
    File(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
    /// Generated earlier by an instance sharing the store, and read from it.
    Store,
    /// Generated now and stored for every instance sharing the store.
    GeneratedInStore,
}

impl DataDir {
    /// Creates the directory if needed (mode 0700 on Unix). The database in it holds password
    /// hashes and, with asymmetric algorithms, private keys, so on Unix the directory and the
    /// database files must be the owner's alone: an existing directory or file that group or
    /// others may read is made so, with a warning, whatever the umask (and refused if that
    /// fails, for example when another user owns it).
    pub(crate) fn open(path: &Path) -> Result<DataDir, CliError> {
        DataDir::open_with(path, "jwtx.db".as_ref())
    }

    /// [`open`](Self::open), with the database file `db_file` in it.
    pub(crate) fn open_with(path: &Path, db_file: &Path) -> Result<DataDir, CliError> {
        let fail = |e: std::io::Error| {
            CliError::runtime(format!(
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
        let dir = DataDir {
            path: path.to_owned(),
            db: path.join(db_file),
        };
        #[cfg(unix)]
        {
            owner_only(path, 0o700)?;
            dir.private_database_files()?;
        }
        Ok(dir)
    }

    /// Makes the database and its `-wal` and `-shm` files the owner's alone, creating an empty
    /// database file with mode 0600 first if there is none: SQLite gives the files it creates
    /// next to a database that database's mode.
    #[cfg(unix)]
    fn private_database_files(&self) -> Result<(), CliError> {
        let db = self.database();
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        match o.open(&db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(CliError::runtime(format!(
                    "cannot create {}: {e}",
                    db.display()
                )));
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = db.clone().into_os_string();
            file.push(suffix);
            let file = PathBuf::from(file);
            if file.exists() {
                owner_only(&file, 0o600)?;
            }
        }
        Ok(())
    }

    /// The SQLite database file.
    pub(crate) fn database(&self) -> PathBuf {
        self.db.clone()
    }

    /// The HMAC secret: the configured one (checked for strength), else the one in
    /// `secret_key` in the data directory, generated (256 bits, file mode 0600) on first use
    /// (`data::hmac_secret` chooses between this and a shared store's).
    pub(crate) fn hmac_secret(&self, config: &Config) -> Result<(Secret, SecretSource), CliError> {
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
                match write_private(&file, secret.expose().as_bytes()) {
                    Ok(()) => Ok((secret, SecretSource::Generated(file))),
                    // Another process starting at the same moment wrote it first (whole:
                    // it appears only once complete): use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        self.hmac_secret(config)
                    }
                    Err(e) => Err(CliError::runtime(format!(
                        "cannot write {}: {e}",
                        file.display()
                    ))),
                }
            }
            Err(e) => Err(CliError::runtime(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }
}

/// Writes a new file readable only by its owner, durably (fsync of the file and directory),
/// and atomically: the bytes go to a temporary file first, which is then linked to `path`, so
/// a reader never sees a partial file, and when processes race exactly one wins (the others
/// get `AlreadyExists`).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", jwtx::uuid4()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Takes group and other permissions away from `path` (keeping at most `mode`), with a
/// warning; an error if it cannot.
#[cfg(unix)]
fn owner_only(path: &Path, mode: u32) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::runtime(format!("cannot read {}: {e}", path.display())))?;
    let current = meta.permissions().mode() & 0o777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    let fixed = current & mode;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(fixed)).map_err(|e| {
        CliError::usage(format!(
            "{} is open to other users (mode {current:o}) and its mode cannot be changed: {e}; \
             it holds password hashes and keys: run `chmod {mode:o} {}` or choose another \
             data_dir",
            path.display(),
            path.display()
        ))
    })?;
    tracing::warn!(
        "{} was open to other users (mode {current:o}); changed to {fixed:o}",
        path.display()
    );
    Ok(())
}
