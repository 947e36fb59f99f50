//! The Linux calls that have no portable equivalent: `openat2`, `sendfile`,
//! `MSG_MORE`, `O_PATH`, `SOCK_CLOEXEC`. `portable.rs` has the same items.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};

/// Directories held only to look names up beneath them: `O_PATH` needs no
/// read permission and reads nothing.
pub(super) const LOOKUP: OFlags = OFlags::PATH;

/// Whether [`openat2`] can work here (the kernel may still lack it: probe).
pub(super) const OPENAT2: bool = true;

/// `openat2(dir, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the
/// kernel refuses any resolution that leaves `dir`, links and `..` included,
/// in one call with no window for a swap.
pub(super) fn openat2(dir: impl AsFd, path: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    loop {
        match rustix::fs::openat2(&dir, path, flags, Mode::empty(), resolve) {
            // The kernel asks for a retry when a rename raced the lookup.
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Renames `from` to `to` in the folder `dir` unless `to` exists
/// (`renameat2(RENAME_NOREPLACE)`: atomic, no window). A filesystem without
/// it (`EINVAL`) takes the portable link-and-unlink way.
pub(super) fn rename_noreplace(dir: impl AsFd, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
    use rustix::fs::RenameFlags;
    match rustix::fs::renameat_with(&dir, from, &dir, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS) => super::fs::link_then_unlink(dir, from, to),
        other => other,
    }
}

/// Whether [`sendfile`] moves bytes.
pub(super) const SENDFILE: bool = true;

/// `sendfile(2)` from `offset`, at most `len` bytes.
pub(super) fn sendfile(
    socket: impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut at = offset;
    Ok(rustix::fs::sendfile(socket, file, Some(&mut at), len)?)
}

/// Whether [`send_more`] holds the bytes back for what follows.
pub(super) const SEND_MORE: bool = true;

/// `send(MSG_MORE)`: the bytes wait (up to 200 ms) for the next write, so a
/// head leaves with the first bytes of its body. `MSG_NOSIGNAL`: a closed peer
/// is an error, not a signal, also in a host that did not ignore SIGPIPE.
pub(super) fn send_more(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(
        socket,
        buf,
        SendFlags::MORE | SendFlags::NOSIGNAL,
    )?)
}

/// A new stream socket, close-on-exec from the start.
pub(super) fn stream_socket(family: AddressFamily) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}
