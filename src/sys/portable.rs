//! Stand-ins for the Linux calls of `linux.rs`, with the same items, for
//! macOS, the BSDs, and Linux built with the `portable` feature. Each says
//! "not here" so that the callers take their portable paths.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::OFlags;
use rustix::io::{Errno, FdFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Directories held only to look names up beneath them: `O_PATH` is not
/// everywhere (not on macOS), a read-only open is.
pub(super) const LOOKUP: OFlags = OFlags::RDONLY;

/// Whether [`openat2`] can work here: no.
pub(super) const OPENAT2: bool = false;

/// No `openat2` here: always `ENOSYS`, as from a kernel without it.
pub(super) fn openat2(dir: impl AsFd, path: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
    let _ = (dir, path, flags);
    Err(Errno::NOSYS)
}

/// Renames `from` to `to` in the folder `dir` unless `to` exists: `link`
/// (which fails on an existing name) then `unlink`, for systems without
/// `renameat2`.
pub(super) fn rename_noreplace(dir: impl AsFd, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
    super::fs::link_then_unlink(dir, from, to)
}

/// Whether [`sendfile`] moves bytes: no; the engines copy through a buffer.
pub(super) const SENDFILE: bool = false;

/// No `sendfile` here (macOS and FreeBSD have their own, with other
/// signatures, which rustix does not wrap).
pub(super) fn sendfile(
    socket: impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let _ = (socket, file, offset, len);
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether [`send_more`] holds the bytes back: no (`MSG_MORE` is Linux's;
/// TCP_NOPUSH would only pay with a `sendfile` body to follow).
pub(super) const SEND_MORE: bool = false;

/// No `MSG_MORE` here: a plain send.
pub(super) fn send_more(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(
        socket,
        buf,
        rustix::net::SendFlags::empty(),
    )?)
}

/// A new stream socket, then close-on-exec: macOS has no `SOCK_CLOEXEC`, and
/// std's own sockets are made the same way there.
pub(super) fn stream_socket(family: AddressFamily) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::empty(), None)?;
    rustix::io::fcntl_setfd(&socket, FdFlags::CLOEXEC)?;
    Ok(socket)
}
