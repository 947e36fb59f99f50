//! The ACME part of the state folder:
//!
//! ```text
//! STATE_DIR/acme/                         0700
//!   CA/account.json                       0600  the account's credentials (its private key)
//!   CA/FIRST_NAME/cert.pem, key.pem       0600  the chain (leaf first) and its key
//!   CA/FIRST_NAME/lock                          held while that certificate is checked and ordered
//!   CA/account.lock                             held while the account is made
//! ```
//!
//! `CA` names the directory URL (host, port and a hash of the whole URL), so
//! that staging and production never share an account or a certificate.
//! Every file is written aside and renamed, so a reader sees the old file or
//! the new one, whole. Several instances may share the folder: the lock files
//! (`flock`) make one of them order while the others wait, then read what it
//! wrote.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sys;

/// How long an instance waits for another one's lock before it gives up (and
/// retries later): longer than any one order takes.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(600);

/// How often a held lock is tried again.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// The ACME folder of a state folder, for one CA.
#[derive(Debug, Clone)]
pub(super) struct Store {
    /// `STATE_DIR/acme`.
    root: PathBuf,
    /// `STATE_DIR/acme/CA`.
    ca: PathBuf,
}

/// A held lock file; released when dropped.
#[derive(Debug)]
pub(super) struct Lock(#[allow(dead_code)] fs::File);

impl Store {
    /// The folders for `directory` under `state_dir` (nothing is touched yet).
    pub(super) fn new(state_dir: &Path, directory: &str) -> Store {
        let root = state_dir.join("acme");
        let ca = root.join(ca_folder(directory));
        Store { root, ca }
    }

    /// Makes the folders (0700) and checks they are private and writable:
    /// what start-up and reload report, before any CA is asked.
    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(parent) = self.root.parent() {
            make_dir(parent)
                .map_err(|e| format!("cannot make the state folder {}: {e}", parent.display()))?;
        }
        for dir in [&self.root, &self.ca] {
            make_dir(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
            let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            if !meta.is_dir() {
                return Err(format!("{} is not a folder", dir.display()));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{} is open to other users (mode {mode:04o}): it holds private keys; \
                     make it private with `chmod 700 {}`",
                    dir.display(),
                    dir.display()
                ));
            }
        }
        let probe = self.ca.join(".write-test");
        put(&probe, b"").map_err(|e| format!("cannot write in {}: {e}", self.ca.display()))?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    /// `CA/account.json`.
    pub(super) fn account_file(&self) -> PathBuf {
        self.ca.join("account.json")
    }

    /// The folder of the certificate whose first name is `first`.
    pub(super) fn cert_dir(&self, first: &str) -> PathBuf {
        self.ca.join(safe_name(first))
    }

    /// Holds `CA/account.lock` (waiting for another instance, within [`LOCK_WAIT`]).
    pub(super) async fn lock_account(&self) -> io::Result<Lock> {
        lock(&self.ca.join("account.lock")).await
    }

    /// Holds the lock of the certificate whose first name is `first`.
    pub(super) async fn lock_cert(&self, first: &str) -> io::Result<Lock> {
        let dir = self.cert_dir(first);
        make_dir(&dir)?;
        lock(&dir.join("lock")).await
    }
}

/// `CA`: `host_port-HASH`, readable and unique per directory URL.
fn ca_folder(directory: &str) -> String {
    let rest = directory
        .split_once("://")
        .map_or(directory, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or_default();
    let hash = xxhash_rust::xxh3::xxh3_64(directory.as_bytes());
    format!("{}-{:08x}", safe_name(host), hash & 0xffff_ffff)
}

/// A name that is one plain folder name whatever it was given as.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' => c,
            _ => '_',
        })
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "_".to_string(),
        rest => rest.to_string(),
    }
}

/// The folder and its parents, new ones 0700.
pub(super) fn make_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `path` whole or not at all, 0600: written aside, synced, renamed.
pub(super) fn put(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".new");
    let aside = PathBuf::from(aside);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&aside, path)
}

/// Holds the lock file `path`; another instance holding it is waited for,
/// up to [`LOCK_WAIT`].
async fn lock(path: &Path) -> io::Result<Lock> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let started = tokio::time::Instant::now();
    let mut said = false;
    loop {
        if sys::fs::try_lock_exclusive(&file)? {
            return Ok(Lock(file));
        }
        if !said {
            tracing::info!(
                lock = %path.display(),
                "acme: another instance holds the lock of this state folder: waiting"
            );
            said = true;
        }
        if started.elapsed() > LOCK_WAIT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} stayed locked for {LOCK_WAIT:?}", path.display()),
            ));
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_stay_inside() {
        assert_eq!(safe_name("a.example"), "a.example");
        assert_eq!(safe_name("../x"), "_x");
        assert_eq!(safe_name("..."), "_");
        assert_eq!(safe_name("a/b"), "a_b");
        let le = ca_folder("https://acme-v02.api.letsencrypt.org/directory");
        assert!(le.starts_with("acme-v02.api.letsencrypt.org-"), "{le}");
        let pebble = ca_folder("https://127.0.0.1:14000/dir");
        assert!(pebble.starts_with("127.0.0.1_14000-"), "{pebble}");
        assert_ne!(
            ca_folder("https://127.0.0.1:14000/dir"),
            ca_folder("https://127.0.0.1:14000/other")
        );
    }

    #[test]
    fn an_open_folder_is_refused_and_files_are_private() {
        let state = tempfile::tempdir().unwrap();
        let store = Store::new(state.path(), "https://ca.test/dir");
        store.check().unwrap();
        let acme = state.path().join("acme");
        assert_eq!(
            fs::metadata(&acme).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let file = store.account_file();
        put(&file, b"{}").unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&acme, fs::Permissions::from_mode(0o755)).unwrap();
        let e = store.check().unwrap_err();
        assert!(e.contains("open to other users (mode 0755)"), "{e}");
    }

    #[tokio::test]
    async fn a_lock_is_held_until_dropped() {
        let state = tempfile::tempdir().unwrap();
        let store = Store::new(state.path(), "https://ca.test/dir");
        store.check().unwrap();
        let held = store.lock_cert("a.test").await.unwrap();
        let path = store.cert_dir("a.test").join("lock");
        let other = fs::File::open(&path).unwrap();
        assert!(!sys::fs::try_lock_exclusive(&other).unwrap());
        drop(held);
        assert!(sys::fs::try_lock_exclusive(&other).unwrap());
    }
}
