//! What a service manager and an operator ask of the platform: sockets passed
//! by systemd (`LISTEN_FDS`), the notify socket (`sd_notify`, abstract names
//! included), the monotonic clock it wants on a reload, the process's
//! credentials and the switch to another user, and listening sockets handed
//! to another process over a Unix socket (`SCM_RIGHTS`).

use std::ffi::OsStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};

use rustix::io::FdFlags;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Listening sockets handed over in one message at most: far more than any
/// configuration names, and a bound on the control buffer.
pub const MAX_HANDED: usize = 64;

/// The sockets systemd passed (`LISTEN_FDS`, from fd 3), when `LISTEN_PID`
/// names this process; the variables (`LISTEN_FDNAMES` too) are removed from
/// the environment either way, so nothing we spawn sees them. Call before any
/// other thread starts: it changes the environment.
pub fn activated_listeners() -> io::Result<Vec<TcpListener>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
            std::env::remove_var(var);
        }
        return Ok(Vec::new());
    }
    // listenfd owns the unsafe step (fd number → socket) and checks that each
    // is a TCP socket; it removes LISTEN_FDS and LISTEN_PID itself.
    let mut fds = listenfd::ListenFd::from_env();
    std::env::remove_var("LISTEN_FDNAMES");
    let mut listeners = Vec::with_capacity(fds.len());
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i)? {
            Some(listener) => listeners.push(listener),
            None => continue,
        }
    }
    Ok(listeners)
}

/// Sends `message` to the notify socket `addr` (a path, or `@name` for an
/// abstract name) in one datagram.
pub fn notify(addr: &OsStr, message: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let bytes = addr.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        return send_abstract(&socket, name, message.as_bytes());
    }
    socket.send_to(message.as_bytes(), addr).map(|_| ())
}

/// Abstract socket names (a NUL first byte, written `@` by systemd) are
/// Linux's alone.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(socket: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<()> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt as _;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message, &addr).map(|_| ())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(socket: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<()> {
    let _ = (socket, name, message);
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist only on Linux",
    ))
}

/// `CLOCK_MONOTONIC` in microseconds: what `MONOTONIC_USEC=` carries.
pub fn monotonic_usec() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec / 1000).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(micros)
}

/// Whether the process runs with root's powers (effective user 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Becomes `name` for good: its one group as the only group (no supplementary
/// groups of root's survive), then its group, then its user, in that order
/// (after `setuid` the others are no longer allowed). The name is looked up
/// with `getpwnam`, so NSS users (LDAP, systemd's) work. Returns its ids.
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
pub fn switch_user(name: &str) -> Result<(u32, u32), String> {
    use nix::unistd::{setgid, setgroups, setuid, User};
    let user = match User::from_name(name) {
        Ok(Some(user)) => user,
        Ok(None) => return Err(format!("no user named '{name}'")),
        Err(e) => return Err(format!("cannot look up user '{name}': {e}")),
    };
    setgroups(&[user.gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(user.gid).map_err(|e| format!("setgid({}): {e}", user.gid))?;
    setuid(user.uid).map_err(|e| format!("setuid({}): {e}", user.uid))?;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    if uid != user.uid.as_raw() || gid != user.gid.as_raw() {
        return Err(format!("still uid {uid}, gid {gid} after the switch"));
    }
    Ok((uid, gid))
}

/// macOS's `setgroups` does not bound the groups a process has (they follow
/// the directory service), so a switch could keep root's groups: refused.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub fn switch_user(name: &str) -> Result<(u32, u32), String> {
    Err(format!(
        "cannot switch to user '{name}' on this system; start ferrox as that user"
    ))
}

/// The process at the other end of a Unix stream, where the system says
/// (Linux); `None` elsewhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer_pid(stream: &UnixStream) -> Option<u32> {
    let cred = rustix::net::sockopt::socket_peercred(stream).ok()?;
    u32::try_from(cred.pid.as_raw_nonzero().get()).ok()
}

/// The process at the other end of a Unix stream: not said here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer_pid(stream: &UnixStream) -> Option<u32> {
    let _ = stream;
    None
}

/// Sends `listeners` (at most [`MAX_HANDED`]) in one message over `stream`;
/// the payload is their count, as one byte.
pub fn send_listeners(stream: &UnixStream, listeners: &[TcpListener]) -> io::Result<()> {
    let count = u8::try_from(listeners.len())
        .ok()
        .filter(|n| usize::from(*n) <= MAX_HANDED)
        .ok_or_else(|| io::Error::other(format!("more than {MAX_HANDED} listeners")))?;
    let fds: Vec<_> = listeners.iter().map(|l| l.as_fd()).collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_HANDED))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("the descriptors do not fit the message"));
    }
    let payload = [count];
    let sent = rustix::net::sendmsg(
        stream,
        &[IoSlice::new(&payload)],
        &mut control,
        SendFlags::empty(),
    )?;
    if sent != 1 {
        return Err(io::Error::other("the message was cut short"));
    }
    Ok(())
}

/// Receives the listeners [`send_listeners`] sent, close-on-exec.
pub fn recv_listeners(stream: &UnixStream) -> io::Result<Vec<TcpListener>> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_HANDED))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut payload = [0u8; 1];
    let got = rustix::net::recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut payload)],
        &mut control,
        RecvFlags::empty(),
    )?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.bytes != 1 || fds.len() != usize::from(payload[0]) {
        return Err(io::Error::other(format!(
            "expected {} sockets, received {}",
            payload[0],
            fds.len()
        )));
    }
    let mut listeners = Vec::with_capacity(fds.len());
    for fd in fds {
        rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)?;
        listeners.push(TcpListener::from(fd));
    }
    Ok(listeners)
}
