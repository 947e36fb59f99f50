//! Changes inside one folder beneath the root, for uploads, new folders and
//! deletes: the folder is opened with the same confinement as serving (a
//! link out of the root is refused), and every change is made relative to
//! its descriptor, never through a joined path, so a rename of a folder
//! above it cannot move the change elsewhere.
//!
//! A new file is written under a temporary dotfile name ([`TEMP_PREFIX`],
//! created with `O_EXCL`) and renamed into place once complete: a reader
//! never sees half a file, and a failed upload leaves nothing behind.

use std::collections::hash_map::RandomState;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::BuildHasher;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::resolve::Root;
use crate::sys::fs::{self as sys, ChangeFailure, Failure, Kind};

/// How temporary upload files start (a dotfile: never served or listed
/// unless hidden files are on, and upload names may not use it).
pub const TEMP_PREFIX: &str = ".ferrox-upload-";

/// Names tried for a temporary file before giving up: a clash needs another
/// upload to draw the same 64 random bits.
const TEMP_TRIES: usize = 8;

/// What a change failed on, as a web server tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeError {
    /// The name exists already.
    Exists,
    /// Nothing there (or the folder is missing).
    Missing,
    /// Not the server's to change.
    Denied,
    /// Leads out of the root (a link).
    Outside,
    /// The disk is full.
    NoSpace,
    /// A folder that is not empty.
    NotEmpty,
    /// Any other failure.
    Other,
}

impl ChangeError {
    /// Classifies an I/O error of a change.
    pub fn of(e: &io::Error) -> ChangeError {
        match sys::classify_change(e) {
            ChangeFailure::Exists => ChangeError::Exists,
            ChangeFailure::NoSpace => ChangeError::NoSpace,
            ChangeFailure::NotEmpty => ChangeError::NotEmpty,
            ChangeFailure::Other(Failure::Missing) => ChangeError::Missing,
            ChangeFailure::Other(Failure::Denied) => ChangeError::Denied,
            ChangeFailure::Other(Failure::Outside) => ChangeError::Outside,
            ChangeFailure::Other(Failure::Other) => ChangeError::Other,
        }
    }
}

/// What a name in a folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A folder.
    Dir,
    /// A file, a link, anything else.
    Other,
}

/// A folder beneath the root, held open for changes.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
}

impl Root {
    /// Opens the folder `rel` (from the root, "" for the root itself).
    pub fn open_folder(&self, rel: &Path) -> Result<Folder, ChangeError> {
        let fd = sys::open_dir_beneath(self.handle(), rel, self.beneath())
            .map_err(|e| ChangeError::of(&e))?;
        Ok(Folder { fd })
    }
}

impl Folder {
    /// Creates a new temporary file in the folder: the file and its name.
    pub fn create_temp(&self) -> Result<(File, OsString), ChangeError> {
        let random = RandomState::new();
        let mut last = ChangeError::Other;
        for attempt in 0..TEMP_TRIES {
            let name = format!("{TEMP_PREFIX}{:016x}", random.hash_one(attempt));
            match sys::create_new_at(self.fd.as_fd(), OsStr::new(&name)) {
                Ok(file) => return Ok((file, name.into())),
                Err(e) => last = ChangeError::of(&e),
            }
            if last != ChangeError::Exists {
                break;
            }
        }
        Err(last)
    }

    /// Gives the temporary file `temp` its name; `replace`: over an existing
    /// file (else [`ChangeError::Exists`]).
    pub fn publish(&self, temp: &OsStr, name: &OsStr, replace: bool) -> Result<(), ChangeError> {
        sys::rename_in(self.fd.as_fd(), temp, name, replace).map_err(|e| ChangeError::of(&e))
    }

    /// What `name` is, a link not followed; `None` when nothing has it.
    pub fn kind(&self, name: &OsStr) -> Result<Option<EntryKind>, ChangeError> {
        match sys::lstat_at(self.fd.as_fd(), name) {
            Ok(stat) if stat.kind == Kind::Dir => Ok(Some(EntryKind::Dir)),
            Ok(_) => Ok(Some(EntryKind::Other)),
            Err(e) => match ChangeError::of(&e) {
                ChangeError::Missing => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Removes the file (or link) `name`.
    pub fn remove_file(&self, name: &OsStr) -> Result<(), ChangeError> {
        sys::remove_file_at(self.fd.as_fd(), name).map_err(|e| ChangeError::of(&e))
    }

    /// Removes the empty folder `name`.
    pub fn remove_dir(&self, name: &OsStr) -> Result<(), ChangeError> {
        sys::remove_dir_at(self.fd.as_fd(), name).map_err(|e| ChangeError::of(&e))
    }

    /// Makes the folder `name`.
    pub fn make_dir(&self, name: &OsStr) -> Result<(), ChangeError> {
        sys::make_dir_at(self.fd.as_fd(), name).map_err(|e| ChangeError::of(&e))
    }

    /// Removes a temporary file after a failure (logged if it cannot be).
    pub fn discard(&self, temp: &OsStr) {
        if let Err(error) = sys::remove_file_at(self.fd.as_fd(), temp) {
            tracing::warn!(%error, temp = %String::from_utf8_lossy(temp.as_bytes()), "temporary upload file left behind");
        }
    }
}
