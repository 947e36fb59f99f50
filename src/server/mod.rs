//! The only home of sockets: listeners, the accept loop, connections, shutdown,
//! TLS and its certificates (from files, self-signed, or from an ACME CA: [`acme`]).
//!
//! [`run`] serves a [`Service`] on listeners the caller bound (tests bind port 0 and
//! pass the listener in, so there is no free-port race) until the [`Shutdown`]
//! handle is triggered, then drains.

mod accept;
pub mod acme;
pub mod admin;
pub mod announce;
mod cancel;
mod conn;
pub mod handover;
mod plain_on_tls;
pub mod privileges;
mod redirect;
pub mod reload;
pub mod self_signed;
mod shutdown;
pub mod sites;
pub mod systemd;
pub mod tls;
mod watch;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub use accept::{bind, bind_with};
pub use redirect::RedirectToHttps;
pub use shutdown::{on_signals, Shutdown};
pub use tls::Tls;

use crate::body::Body;
use crate::handler::Handler;
use crate::log::AccessLog;
use crate::proto::{self, Service};
use crate::response::Reply;
use crate::site::forwarded::TrustedProxies;
use conn::ConnContext;

/// What a listening socket serves.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// HTTP/1.1, or HTTP/2 with prior knowledge (h2c).
    Plain,
    /// TLS; ALPN picks HTTP/2 or HTTP/1.1.
    Tls(Tls),
    /// Plain HTTP that answers every request with 308 to the https URL.
    RedirectToHttps {
        /// The https listener's port.
        https_port: u16,
    },
}

/// A bound socket and what it serves.
#[derive(Debug)]
pub struct Listener {
    /// The socket, from [`bind`] or any `std::net::TcpListener`.
    pub socket: std::net::TcpListener,
    /// What it serves.
    pub protocol: Protocol,
}

impl From<std::net::TcpListener> for Listener {
    fn from(socket: std::net::TcpListener) -> Self {
        Listener {
            socket,
            protocol: Protocol::Plain,
        }
    }
}

/// Server-wide limits and the options of the protocol engines.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// HTTP/1.1 limits and timeouts.
    pub h1: proto::h1::Options,
    /// HTTP/2 limits and timeouts.
    pub h2: proto::h2::Options,
    /// Deadline for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// `Strict-Transport-Security: max-age=N` on TLS responses.
    pub hsts_seconds: Option<u64>,
    /// Connections open at once; at the limit the server stops accepting.
    pub max_connections: usize,
    /// How long in-flight responses may run after shutdown is triggered.
    pub shutdown_timeout: Duration,
    /// Every connection starts with a PROXY protocol header (v1 or v2),
    /// required, read under the head deadline; its source is the client.
    pub proxy_protocol: bool,
    /// Peers whose `Forwarded` and `X-Forwarded-For` are believed.
    pub trusted_proxies: TrustedProxies,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            h1: proto::h1::Options::default(),
            h2: proto::h2::Options::default(),
            tls_handshake_timeout: Duration::from_secs(10),
            hsts_seconds: None,
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            proxy_protocol: false,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// The static-file handler as a protocol service: where `proto` and `handler` meet.
#[derive(Debug, Clone)]
pub struct FileService(pub Handler);

impl Service for FileService {
    fn call<'a>(
        &'a self,
        req: &'a http::Request<()>,
    ) -> impl std::future::Future<Output = http::Response<Body>> + Send + 'a {
        self.0.respond(req)
    }

    fn call_now(&self, req: &http::Request<()>) -> Option<Reply> {
        self.0.respond_now(req)
    }

    fn error_response(&self, status: http::StatusCode) -> http::Response<Body> {
        self.0.error_response(status)
    }
}

/// Serves `service` on every listener until `shutdown` is triggered; then stops
/// accepting, closes idle connections, lets in-flight responses finish for up to
/// the shutdown timeout, and closes whatever is left.
pub async fn run<S: Service + 'static>(
    listeners: Vec<Listener>,
    service: Arc<S>,
    options: ServerOptions,
    log: AccessLog,
    shutdown: Shutdown,
) -> io::Result<()> {
    let abort = proto::Signal::new();
    let ctx = Arc::new(ConnContext {
        service,
        h1: options.h1.clone(),
        h2: options.h2.clone(),
        tls_handshake_timeout: options.tls_handshake_timeout,
        hsts: options
            .hsts_seconds
            .and_then(|s| http::HeaderValue::from_str(&format!("max-age={s}")).ok()),
        log,
        shutdown: shutdown.signal().clone(),
        abort: abort.clone(),
        proxy: conn::Proxying::of(&options),
        metrics: Arc::default(),
    });
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let connections = TaskTracker::new();
    let accepting = TaskTracker::new();
    for Listener { socket, protocol } in listeners {
        socket.set_nonblocking(true)?;
        let key = socket.local_addr()?;
        let socket = tokio::net::TcpListener::from_std(socket)?;
        accepting.spawn(accept::accept_loop(
            socket,
            Arc::new(conn::Endpoint {
                protocol,
                key,
                port: key.port(),
            }),
            permits.clone(),
            connections.clone(),
            ctx.clone(),
            shutdown.signal().clone(),
        ));
    }
    accepting.close();
    shutdown.mark_serving();
    shutdown.triggered().await;
    accepting.wait().await;
    drain(&connections, options.shutdown_timeout, &abort, &shutdown).await;
    Ok(())
}

/// After the listeners stopped: lets in-flight responses finish within
/// `timeout`, or until the stop is forced, then closes whatever is left
/// (`abort`).
pub(crate) async fn drain(
    connections: &TaskTracker,
    timeout: Duration,
    abort: &proto::Signal,
    shutdown: &Shutdown,
) {
    connections.close();
    let open = connections.len();
    if open > 0 {
        tracing::info!(open, "waiting for in-flight responses");
    }
    let finished = tokio::select! {
        done = tokio::time::timeout(timeout, connections.wait()) => done.is_ok(),
        _ = shutdown.forced() => connections.is_empty(),
    };
    if !finished {
        tracing::warn!(
            open = connections.len(),
            "closing the connections still open"
        );
        abort.fire();
        connections.wait().await;
    }
}
