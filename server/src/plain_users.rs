//! The users VeNCrypt's X509Plain lets in: a text file with one `USERNAME:HASH` line per
//! user, where HASH is an Argon2id password hash in PHC form (it carries its own random salt
//! and parameters). `farview passwd FILE USER` writes it; the server reads it at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use farview_protocol::security::plain::{MAX_PASSWORD_LEN, MAX_USERNAME_LEN};

/// Random bytes of salt in each hash.
const SALT_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PlainUsersError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: no users")]
    Empty { path: PathBuf },
    #[error("invalid username {0:?}: 1 to {MAX_USERNAME_LEN} bytes, no ':' or line breaks")]
    BadUsername(String),
    #[error("invalid password: 1 to {MAX_PASSWORD_LEN} bytes")]
    BadPassword,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Usernames and their password hashes.
#[derive(Debug, Clone, Default)]
pub struct PlainUsers {
    users: BTreeMap<String, String>,
}

impl PlainUsers {
    /// Reads a users file; a missing file is an error, so is one without users.
    pub fn load(path: &Path) -> Result<PlainUsers, PlainUsersError> {
        let users = Self::read(path)?;
        if users.users.is_empty() {
            return Err(PlainUsersError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(users)
    }

    fn read(path: &Path) -> Result<PlainUsers, PlainUsersError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PlainUsersError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let mut users = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| PlainUsersError::BadLine {
                path: path.to_path_buf(),
                line: index + 1,
                reason: reason.to_string(),
            };
            let (username, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected USERNAME:HASH"))?;
            PasswordHash::new(hash).map_err(|e| bad(&format!("bad hash: {e}")))?;
            users.insert(username.to_string(), hash.to_string());
        }
        Ok(PlainUsers { users })
    }

    /// Whether `password` is the password of `username`. Slow on purpose (Argon2): call it
    /// off the async threads.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        // An unknown user costs the same hash as a known one, so that the time taken does not
        // tell which usernames exist.
        let known = self.users.get(username);
        let Some(hash) = known.or_else(|| self.users.values().next()) else {
            return false;
        };
        let matches = PasswordHash::new(hash)
            .and_then(|hash| Argon2::default().verify_password(password, &hash))
            .is_ok();
        known.is_some() && matches
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Sets `username`'s password in the users file at `path` (created if missing), keeping the
/// other users. Returns whether the user was new.
pub fn set_password(path: &Path, username: &str, password: &[u8]) -> Result<bool, PlainUsersError> {
    let valid_username = !username.is_empty()
        && username.len() <= MAX_USERNAME_LEN
        && !username.contains([':', '\n', '\r']);
    if !valid_username {
        return Err(PlainUsersError::BadUsername(username.to_string()));
    }
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(PlainUsersError::BadPassword);
    }
    let mut users = if path.exists() {
        PlainUsers::read(path)?
    } else {
        PlainUsers::default()
    };
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| PlainUsersError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PlainUsersError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password, &salt)
        .map_err(|e| PlainUsersError::Hash(e.to_string()))?
        .to_string();
    let new = users.users.insert(username.to_string(), hash).is_none();
    let mut text = String::from("# farview X509Plain users: USERNAME:ARGON2-HASH\n");
    for (name, hash) in &users.users {
        text.push_str(&format!("{name}:{hash}\n"));
    }
    write_private(path, &text).map_err(|cause| PlainUsersError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok(new)
}

/// Replaces the file with `text`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_set_kept_and_checked() {
        let dir = std::env::temp_dir().join(format!("farview-plain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        assert!(set_password(&path, "ada", b"first").unwrap());
        assert!(set_password(&path, "bob", b"builder").unwrap());
        assert!(!set_password(&path, "ada", b"second").unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("second"), "no password in clear: {text}");
        let users = PlainUsers::load(&path).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.verify("ada", b"second"));
        assert!(!users.verify("ada", b"first"));
        assert!(users.verify("bob", b"builder"));
        assert!(!users.verify("bob", b"Builder"));
        assert!(!users.verify("eve", b"builder"));
        assert!(!users.verify("eve", b"second"), "another user's password");
        // The same password hashes differently each time (the salt).
        set_password(&path, "bob", b"builder").unwrap();
        assert_ne!(text, std::fs::read_to_string(&path).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_input_is_named() {
        let path = std::env::temp_dir().join("farview-plain-never-written");
        assert!(matches!(
            set_password(&path, "a:b", b"pw"),
            Err(PlainUsersError::BadUsername(_))
        ));
        assert!(matches!(
            set_password(&path, "ada", b""),
            Err(PlainUsersError::BadPassword)
        ));
        let dir = std::env::temp_dir().join(format!("farview-plain-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users");
        std::fs::write(&file, "# users\nada:not-a-hash\n").unwrap();
        let error = PlainUsers::load(&file).unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
        std::fs::write(&file, "# nobody\n").unwrap();
        assert!(matches!(
            PlainUsers::load(&file),
            Err(PlainUsersError::Empty { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
