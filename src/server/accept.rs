//! One accept loop for every listener: take a connection permit, accept, spawn.
//! At the connection limit the loop simply stops accepting (clients wait in the
//! kernel's backlog); accept errors such as EMFILE are logged and retried after a
//! pause, never spun on.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use crate::proto::Signal;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::cancel::until_cancelled;
use super::conn::{serve_tcp, ConnContext, Connect, Endpoint};

/// Pause after an accept error that is about the server (out of descriptors or
/// memory) rather than about one client: long enough to let connections close,
/// short enough that clients barely notice.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Pending connections the kernel may queue for us (capped by somaxconn): clients
/// wait here while the server is at its connection limit.
const BACKLOG: i32 = 4096;

/// Binds a listening socket with `SO_REUSEADDR` (restarts do not wait for
/// TIME_WAIT) and a deep backlog. Needs no runtime, so a taken port is reported
/// before anything starts.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    bind_with(addr, false)
}

/// [`bind`], optionally with `SO_REUSEPORT`, so that several listeners (one per
/// worker thread) share the address and the kernel spreads connections over
/// them. Only for that: any process of the same user could then share it too.
pub fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    crate::sys::net::listener(addr, reuse_port, BACKLOG)
}

pub(crate) async fn accept_loop<S: Connect>(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    ctx: Arc<ConnContext<S>>,
    stop: Signal,
) {
    let accept = async {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let ctx = ctx.clone();
                    let endpoint = endpoint.clone();
                    tracker.spawn(async move {
                        serve_tcp(stream, peer, endpoint, &ctx).await;
                        drop(permit);
                    });
                }
                Err(error) if is_per_connection(&error) => {
                    tracing::debug!(%error, "accept: connection failed before it was accepted");
                }
                Err(error) => {
                    tracing::error!(%error, "accept failed; pausing before retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    };
    // One waiter on `stop` for the loop's life, not two per connection.
    until_cancelled(pin!(accept), pin!(stop.fired()), &stop).await;
}

/// Errors that concern one client only; the next accept can proceed at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
