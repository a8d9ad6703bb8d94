//! Where the secret key comes from: `MAILROOM_SECRET_KEY`, else the key file in the data
//! directory, created on first start with mode 0600. A key file is created only for a database
//! that holds no secrets yet, so a lost key is reported, never silently replaced.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::{OpenError, SecretKey};

/// The key as configured.
pub struct KeyInput {
    /// The key given in the environment or configuration, if any.
    pub given: Option<SecretString>,
    /// The key file used when no key is given.
    pub file: PathBuf,
}

/// Where the key in use came from, for messages.
#[derive(Debug, Clone)]
pub enum KeyOrigin {
    Given,
    File(PathBuf),
    Created(PathBuf),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Given => f.write_str("MAILROOM_SECRET_KEY"),
            KeyOrigin::File(path) | KeyOrigin::Created(path) => {
                write!(f, "the key file {}", path.display())
            }
        }
    }
}

impl KeyInput {
    pub(crate) fn resolve(&self, db_holds_secrets: bool) -> Result<(SecretKey, KeyOrigin), OpenError> {
        if let Some(given) = &self.given {
            // The configuration layer has already checked the shape; a failure here is a bug there.
            let key = SecretKey::from_hex(given.expose_secret())
                .ok_or_else(|| OpenError::KeyFileMalformed { path: PathBuf::from("MAILROOM_SECRET_KEY") })?;
            return Ok((key, KeyOrigin::Given));
        }
        match std::fs::read_to_string(&self.file) {
            Ok(text) => {
                let key = SecretKey::from_hex(&text)
                    .ok_or_else(|| OpenError::KeyFileMalformed { path: self.file.clone() })?;
                Ok((key, KeyOrigin::File(self.file.clone())))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if db_holds_secrets {
                    return Err(OpenError::KeyMissing { path: self.file.clone() });
                }
                let key = SecretKey::generate();
                write_key_file(&self.file, &key)
                    .map_err(|source| OpenError::KeyFile { path: self.file.clone(), source })?;
                Ok((key, KeyOrigin::Created(self.file.clone())))
            }
            Err(source) => Err(OpenError::KeyFile { path: self.file.clone(), source }),
        }
    }
}

/// Writes a new key file readable by its owner only. `create_new` refuses to replace a file that
/// appeared meanwhile (another process starting at the same time).
fn write_key_file(path: &Path, key: &SecretKey) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(key.to_hex().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_file_is_created_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let input = KeyInput { given: None, file: dir.path().join("secret.key") };
        let (key, origin) = input.resolve(false).unwrap();
        assert!(matches!(origin, KeyOrigin::Created(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&input.file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, origin) = input.resolve(true).unwrap();
        assert!(matches!(origin, KeyOrigin::File(_)));
        assert_eq!(key.derive("x"), again.derive("x"));
    }

    #[test]
    fn a_missing_key_file_is_an_error_when_the_database_holds_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let input = KeyInput { given: None, file: dir.path().join("secret.key") };
        assert!(matches!(input.resolve(true), Err(OpenError::KeyMissing { .. })));
        assert!(!input.file.exists(), "no key file may be created for a database with secrets");
    }

    #[test]
    fn a_damaged_key_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        std::fs::write(&file, "not a key").unwrap();
        let input = KeyInput { given: None, file };
        assert!(matches!(input.resolve(false), Err(OpenError::KeyFileMalformed { .. })));
    }

    #[test]
    fn a_given_key_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        let input =
            KeyInput { given: Some(SecretString::from(key.to_hex().to_string())), file: dir.path().join("secret.key") };
        let (used, origin) = input.resolve(true).unwrap();
        assert!(matches!(origin, KeyOrigin::Given));
        assert_eq!(used.derive("x"), key.derive("x"));
        assert!(!input.file.exists());
    }
}
