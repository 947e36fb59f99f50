//! Sockets: the listening socket and its options, and the two calls that make
//! plain TCP fast where the platform has them (`sendfile`, `MSG_MORE`).

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use rustix::net::{sockopt, AddressFamily};

use super::native;

/// Whether [`sendfile`] works here. Where it does not, the engines send file
/// bodies through a bounded buffer instead.
pub(crate) const SENDFILE: bool = native::SENDFILE;

/// Sends up to `len` bytes of `file` from `offset` straight to `socket`.
/// `Unsupported` where [`SENDFILE`] is false.
pub(crate) fn sendfile(
    socket: impl AsFd,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    native::sendfile(socket, file, offset, len)
}

/// Whether [`send_more`] holds bytes back for what follows.
pub(crate) const SEND_MORE: bool = native::SEND_MORE;

/// Sends some of `buf`, hinting that more follows at once (`MSG_MORE`), so a
/// head and its body leave in full segments. A plain send where
/// [`SEND_MORE`] is false.
pub(crate) fn send_more(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    native::send_more(socket, buf)
}

/// A listening TCP socket on `addr`: `SO_REUSEADDR` (a restart does not wait
/// for TIME_WAIT), `SO_REUSEPORT` if asked, IPv6-only for an IPv6 address (so
/// `[::]` and `0.0.0.0` can both be bound), and a queue of `backlog`.
pub(crate) fn listener(
    addr: SocketAddr,
    reuse_port: bool,
    backlog: i32,
) -> io::Result<std::net::TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let socket = native::stream_socket(family)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    if reuse_port {
        sockopt::set_socket_reuseport(&socket, true)?;
    }
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, backlog)?;
    Ok(std::net::TcpListener::from(socket))
}

/// The addresses of the machine's network interfaces that are up, loopback
/// included: what a listener on `0.0.0.0` or `[::]` can be reached at. Empty
/// when the system will not say.
pub(crate) fn interface_addresses() -> Vec<std::net::IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the network interfaces");
            Vec::new()
        }
    }
}
