//! Per connection: socket options, then the protocol engine with the service
//! wrapped for logging. TCP's `Transport` (readiness and sendfile) lives here,
//! because this is the only module that knows the socket.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use http::{header, Request, Response, StatusCode, Version};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::log::{AccessLog, Record};
use crate::proto::{self, Exchange, Service, Transport};

/// What every connection of a server shares.
pub(crate) struct ConnContext<S> {
    pub service: Arc<S>,
    pub h1: proto::h1::Options,
    pub log: AccessLog,
    /// Triggered shutdown: idle connections close, busy ones finish.
    pub shutdown: CancellationToken,
    /// After the shutdown timeout: everything closes now.
    pub abort: CancellationToken,
}

impl Transport for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn can_sendfile(&self) -> bool {
        true
    }

    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_write_ready(cx))?;
            let sent = self.try_io(Interest::WRITABLE, || {
                let mut at = offset;
                rustix::fs::sendfile(&*self, file, Some(&mut at), len).map_err(io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

pub(crate) async fn serve_tcp<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &ConnContext<S>,
) {
    // Heads and small bodies are written whole; Nagle would only delay them.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay");
    }
    let service = Logged {
        inner: &*ctx.service,
        peer,
        log: &ctx.log,
    };
    tokio::select! {
        () = proto::h1::serve(stream, &service, &ctx.h1, &ctx.shutdown) => {}
        () = ctx.abort.cancelled() => tracing::debug!(%peer, "connection closed by the shutdown timeout"),
    }
}

/// The service as one connection sees it: the shared service plus the peer's
/// address for the access log.
struct Logged<'a, S> {
    inner: &'a S,
    peer: SocketAddr,
    log: &'a AccessLog,
}

impl<S: Service> Service for Logged<'_, S> {
    fn call<'a>(
        &'a self,
        req: &'a Request<()>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'a {
        self.inner.call(req)
    }

    fn error_response(&self, status: StatusCode) -> Response<Body> {
        self.inner.error_response(status)
    }

    fn on_response(&self, exchange: &Exchange<'_>) {
        if self.log.is_enabled() {
            self.log.record(&record(self.peer, exchange));
        }
        self.inner.on_response(exchange);
    }
}

fn record<'a>(peer: SocketAddr, exchange: &'a Exchange<'a>) -> Record<'a> {
    let req = exchange.request;
    let field = |name: header::HeaderName| {
        req.and_then(|r| r.headers().get(name))
            .map(|v| v.as_bytes())
    };
    Record {
        peer,
        method: req.map_or("", |r| r.method().as_str()),
        target: req.map_or("", |r| {
            r.uri()
                .path_and_query()
                .map_or_else(|| r.uri().path(), |pq| pq.as_str())
        }),
        protocol: match req.map(Request::version) {
            Some(Version::HTTP_10) => "HTTP/1.0",
            Some(Version::HTTP_2) => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
        status: exchange.status.as_u16(),
        bytes: exchange.body_bytes,
        referer: field(header::REFERER),
        user_agent: field(header::USER_AGENT),
        duration: exchange.duration,
        time: SystemTime::now(),
    }
}
