//! The filesystem, and nothing else: no sockets, no HTTP. Request paths become
//! safe relative paths ([`path`]), which open beneath the root ([`resolve`]);
//! [`mime`] names content types; [`folder`] makes the changes of uploads,
//! new folders and deletes, inside a folder opened beneath the root.

pub mod cache;
pub mod folder;
pub mod mime;
pub mod path;
pub mod resolve;

use std::fmt;
use std::io;

pub use path::{sanitize, SafePath};
pub use resolve::{Confinement, Entry, FileIdentity, Opened, Root};

/// Why a path could not be served.
#[derive(Debug)]
pub enum Error {
    /// Nothing there (or hidden, or not a regular file or directory).
    NotFound,
    /// There, but the server may not read it.
    Forbidden,
    /// The path resolves outside the root (through a symlink).
    Outside,
    /// The path itself is unacceptable (control characters, above the root).
    BadPath(&'static str),
    /// The root folder itself has been removed: nothing under it can be
    /// served until it is followed to a new folder (or comes back).
    RootGone,
    /// Any other failure of the filesystem.
    Io(io::Error),
}

impl Error {
    /// Classifies an I/O error the way a web server must: missing things are
    /// 404, permissions 403, escapes refused, the rest internal.
    pub fn from_io(e: io::Error) -> Error {
        use crate::sys::fs::{classify, Failure};
        match classify(&e) {
            Failure::Missing => Error::NotFound,
            Failure::Denied => Error::Forbidden,
            Failure::Outside => Error::Outside,
            Failure::Other => match e.kind() {
                io::ErrorKind::NotFound => Error::NotFound,
                io::ErrorKind::PermissionDenied => Error::Forbidden,
                _ => Error::Io(e),
            },
        }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::NotFound, Error::NotFound)
            | (Error::Forbidden, Error::Forbidden)
            | (Error::Outside, Error::Outside)
            | (Error::RootGone, Error::RootGone) => true,
            (Error::BadPath(a), Error::BadPath(b)) => a == b,
            (Error::Io(a), Error::Io(b)) => a.kind() == b.kind(),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => f.write_str("not found"),
            Error::Forbidden => f.write_str("permission denied"),
            Error::Outside => f.write_str("path resolves outside the root"),
            Error::BadPath(why) => write!(f, "bad path: {why}"),
            Error::RootGone => f.write_str("the root folder was removed"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}
