//! The portable confined lookup: `openat2(RESOLVE_BENEATH)` done by hand.
//!
//! The path is walked one component at a time from the root's descriptor,
//! each `openat` given a single name with `O_NOFOLLOW`, so the kernel never
//! follows a link and never sees a `..`. A link is read (`readlinkat`) and its
//! target walked the same way from the folder that holds it; `..` drops the
//! last folder this walk opened, and is refused at the root. Every folder is
//! held open while below it, so a rename elsewhere cannot move the walk out.
//!
//! The rules are `RESOLVE_BENEATH`'s, so both modes serve the same paths:
//! absolute links are refused (even into the root), `..` that would climb
//! above the root is refused (`EXDEV`), more than [`MAX_LINKS`] links is
//! `ELOOP`, a trailing `/` needs a folder.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::native;

/// Links followed in one lookup before giving up with `ELOOP`: Linux's own
/// limit (MAXSYMLINKS), so a chain fails the same way in both modes.
pub(super) const MAX_LINKS: usize = 40;

/// Resolves `path` beneath `root` and hands the last component, never a
/// link nor `..`, to `last` with the folder that holds it (`"."` when the
/// path names a folder: empty, or ending in `/`, `.` or `..`).
///
/// `last` must fail on a link (`O_NOFOLLOW`, or a `stat` that does not
/// follow); the walk then reads the link and goes on with its target. Any
/// other failure of `last`, or of opening a folder, is returned as is.
pub(super) fn walk<T>(
    root: BorrowedFd<'_>,
    path: &[u8],
    mut last: impl FnMut(BorrowedFd<'_>, &OsStr) -> Result<T, Errno>,
) -> Result<T, Errno> {
    match path.first() {
        // As openat2: an empty path names nothing, an absolute one leaves.
        None => return Err(Errno::NOENT),
        Some(b'/') => return Err(Errno::XDEV),
        Some(_) => {}
    }
    // The folders opened below the root, deepest last.
    let mut folders: Vec<OwnedFd> = Vec::new();
    // What is left to resolve is `path[at..]`; a link replaces it with its
    // target followed by what came after the link.
    let mut path = Cow::Borrowed(path);
    let mut at = 0;
    let mut links = 0;
    loop {
        let rest = path.get(at..).unwrap_or_default();
        let (name, next) = match rest.iter().position(|&b| b == b'/') {
            Some(slash) => (rest.get(..slash).unwrap_or_default(), Some(at + slash + 1)),
            None => (rest, None),
        };
        let target = match (name, next) {
            (b"" | b".", Some(next)) => {
                at = next;
                continue;
            }
            (b"" | b".", None) => return last(here(root, &folders), OsStr::new(".")),
            (b"..", next) => {
                if folders.pop().is_none() {
                    return Err(Errno::XDEV);
                }
                match next {
                    Some(next) => {
                        at = next;
                        continue;
                    }
                    None => return last(here(root, &folders), OsStr::new(".")),
                }
            }
            (name, None) => {
                let name = OsStr::from_bytes(name);
                match last(here(root, &folders), name) {
                    Ok(found) => return Ok(found),
                    Err(e) => read_link(here(root, &folders), name).ok_or(e)?,
                }
            }
            (name, Some(next)) => {
                let name = OsStr::from_bytes(name);
                // NONBLOCK: where a folder is opened for reading (no O_PATH),
                // a FIFO in the middle of a path must fail, not wait.
                let flags = native::LOOKUP
                    | OFlags::DIRECTORY
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC
                    | OFlags::NONBLOCK;
                match rustix::fs::openat(here(root, &folders), name, flags, Mode::empty()) {
                    Ok(folder) => {
                        folders.push(folder);
                        at = next;
                        continue;
                    }
                    Err(e) => read_link(here(root, &folders), name).ok_or(e)?,
                }
            }
        };
        // `name` is a link: go on with its target, from the folder holding it.
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::LOOP);
        }
        match target.first() {
            None => return Err(Errno::NOENT),
            Some(b'/') => return Err(Errno::XDEV),
            Some(_) => {}
        }
        let mut joined = target;
        if let Some(next) = next {
            // A link in the middle must be a folder: keep the `/` after it.
            joined.push(b'/');
            joined.extend_from_slice(path.get(next..).unwrap_or_default());
        }
        path = Cow::Owned(joined);
        at = 0;
    }
}

/// The target of `name` in `folder` if it is a link, else `None` (the caller
/// then reports its own failure, not this one).
fn read_link(folder: BorrowedFd<'_>, name: &OsStr) -> Option<Vec<u8>> {
    rustix::fs::readlinkat(folder, name, Vec::new())
        .ok()
        .map(|target| target.into_bytes())
}

/// The folder the walk is in: the deepest it opened, else the root.
fn here<'a>(root: BorrowedFd<'a>, folders: &'a [OwnedFd]) -> BorrowedFd<'a> {
    folders.last().map_or(root, |fd| fd.as_fd())
}
