//! Per connection: socket options, then the protocol engine with the service
//! wrapped for logging. TCP's `Transport` (readiness and sendfile) lives here,
//! because this is the only module that knows the socket.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use std::time::Duration;

use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;

use super::cancel::until_cancelled;
use super::plain_on_tls;
use super::redirect::RedirectToHttps;
use super::Protocol;
use crate::body::Body;
use crate::log::{AccessLog, Record};
use crate::metrics::{Gauge, Metrics};
use crate::proto::h1::Ended;
use crate::proto::{self, Exchange, Service, Signal, Transport};
use crate::response::Reply;
use crate::site::forwarded::TrustedProxies;
use crate::sys::net as sys;

/// A listener: what it speaks, and its address as configured (for the sites,
/// which may own one). Shared by its accept loop's connections.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub protocol: Protocol,
    pub key: SocketAddr,
    /// The port it is bound to (the configured one, unless that was 0).
    pub port: u16,
}

/// What a connection knows of how it arrived, for services that care (the
/// sites: which listener, over TLS, with which SNI name). Small, because a
/// site connection keeps it for its life.
#[derive(Debug, Clone)]
pub(crate) struct ConnFacts {
    /// Over TLS.
    pub tls: bool,
    /// The SNI name of the handshake.
    pub sni: Option<Box<str>>,
    /// The listener that took the connection.
    pub endpoint: Arc<Endpoint>,
    /// The client's address: the socket's peer, or the PROXY header's source.
    pub peer: std::net::IpAddr,
    /// Proxies whose forwarding headers name the client of each request.
    pub trusted: Option<Arc<TrustedProxies>>,
}

impl ConnFacts {
    /// The client of `req`: the connection's, or the one trusted proxies name.
    pub fn client(&self, req: &Request<()>) -> std::net::IpAddr {
        match &self.trusted {
            Some(trusted) => trusted.client(self.peer, req.headers()),
            None => self.peer,
        }
    }
}

/// A service as one connection sees it. Any [`Service`] is one (the same for
/// every connection); the sites see the connection's [`ConnFacts`].
pub(crate) trait Connect: Send + Sync + 'static {
    /// The per-connection service.
    type Conn<'a>: Service
    where
        Self: 'a;

    /// The service for a connection that arrived as `facts` says.
    fn connect(&self, facts: ConnFacts) -> Self::Conn<'_>;
}

impl<S: Service + 'static> Connect for S {
    type Conn<'a> = &'a S;

    fn connect(&self, _: ConnFacts) -> &S {
        self
    }
}

/// What every connection of a server shares.
pub(crate) struct ConnContext<S> {
    pub service: Arc<S>,
    pub h1: proto::h1::Options,
    pub h2: proto::h2::Options,
    pub tls_handshake_timeout: Duration,
    /// `Strict-Transport-Security`, sent on TLS responses.
    pub hsts: Option<HeaderValue>,
    pub log: AccessLog,
    /// Triggered shutdown: idle connections close, busy ones finish.
    pub shutdown: Signal,
    /// After the shutdown timeout: everything closes now.
    pub abort: Signal,
    /// The PROXY protocol and the trusted proxies.
    pub proxy: Proxying,
    /// Connections open, TLS handshake failures.
    pub metrics: Arc<Metrics>,
}

/// Where a connection's client address comes from besides the socket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Proxying {
    /// A PROXY protocol header is required first.
    pub protocol: bool,
    /// Believe forwarding headers from these (`None`: no list, no cost).
    pub trusted: Option<Arc<TrustedProxies>>,
}

impl Proxying {
    pub fn of(options: &super::ServerOptions) -> Proxying {
        Proxying {
            protocol: options.proxy_protocol,
            trusted: (!options.trusted_proxies.is_empty())
                .then(|| Arc::new(options.trusted_proxies.clone())),
        }
    }
}

/// Counts a connection as open under one protocol while it lives.
struct Open<'a>(&'a Gauge);

impl<'a> Open<'a> {
    /// `protocol`: an index of [`crate::metrics::PROTOCOLS`].
    fn new(metrics: &'a Metrics, protocol: usize) -> Option<Open<'a>> {
        let gauge = metrics.connections.get(protocol)?;
        gauge.add(1);
        Some(Open(gauge))
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

impl Transport for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn can_sendfile(&self) -> bool {
        sys::SENDFILE
    }

    fn shutdown_before_close(&self) -> bool {
        false
    }

    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !sys::SEND_MORE {
            return tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(self), cx, buf);
        }
        loop {
            ready!(self.poll_write_ready(cx))?;
            let sent = self.try_io(Interest::WRITABLE, || sys::send_more(&*self, buf));
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
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
                sys::sendfile(&*self, file, offset, len)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

/// TLS connections have no readiness shortcut (rustls may hold decrypted bytes
/// the socket no longer shows) and no sendfile: the engines copy through a buffer.
impl Transport for TlsStream<TcpStream> {}

/// The `protocol` label's indexes (see [`crate::metrics::PROTOCOLS`]).
const H1: usize = 0;
const H2: usize = 1;

pub(crate) async fn serve_tcp<S: Connect>(
    mut stream: TcpStream,
    mut peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    ctx: &ConnContext<S>,
) {
    let port = endpoint.port;
    if ctx.proxy.protocol {
        let deadline = ctx.h1.head_timeout;
        match timeout(deadline, proto::proxy::read_header(&mut stream)).await {
            Ok(Ok(Some(client))) => peer = client,
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "closed: PROXY protocol header");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "closed: no PROXY protocol header in time");
                return;
            }
        }
    }
    // Heads and small bodies are written whole; Nagle would only delay them.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "set_nodelay");
    }
    let serve = async {
        match &endpoint.protocol {
            Protocol::Plain => {
                let facts = ConnFacts {
                    tls: false,
                    sni: None,
                    endpoint: endpoint.clone(),
                    peer: peer.ip(),
                    trusted: ctx.proxy.trusted.clone(),
                };
                let conn = ctx.service.connect(facts);
                let service = Logged::new(&conn, peer, port, ctx, None);
                let open = Open::new(&ctx.metrics, H1);
                let h1 = proto::h1::serve_detecting_h2(stream, &service, &ctx.h1, &ctx.shutdown);
                if let Ended::H2(stream) = h1.await {
                    drop(open);
                    let _open = Open::new(&ctx.metrics, H2);
                    // Boxed, like the TLS path: a connection future is as large as
                    // its largest state, and most connections are plain HTTP/1.1.
                    Box::pin(proto::h2::serve(stream, &service, &ctx.h2, &ctx.shutdown)).await;
                }
            }
            Protocol::Tls(tls) => {
                Box::pin(async {
                    if plain_on_tls::is_plain_http(&stream, ctx.tls_handshake_timeout).await {
                        tracing::debug!(%peer, "plain HTTP on a TLS port: 400");
                        plain_on_tls::refuse(stream).await;
                        return;
                    }
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
                    let stream =
                        match timeout(ctx.tls_handshake_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                ctx.metrics.tls_handshake_failures.inc();
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                ctx.metrics.tls_handshake_failures.inc();
                                return;
                            }
                        };
                    let session = stream.get_ref().1;
                    if session.alpn_protocol() == Some(super::acme::ACME_TLS_ALPN) {
                        // TLS-ALPN-01: the handshake was the whole answer (RFC 8737 §3).
                        let mut stream = stream;
                        let _ = timeout(
                            ctx.tls_handshake_timeout,
                            tokio::io::AsyncWriteExt::shutdown(&mut stream),
                        )
                        .await;
                        return;
                    }
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    let facts = ConnFacts {
                        tls: true,
                        sni: session.server_name().map(Box::from),
                        endpoint: endpoint.clone(),
                        peer: peer.ip(),
                        trusted: ctx.proxy.trusted.clone(),
                    };
                    let conn = ctx.service.connect(facts);
                    let service = Logged::new(&conn, peer, port, ctx, ctx.hsts.clone());
                    let _open = Open::new(&ctx.metrics, if h2 { H2 } else { H1 });
                    if h2 {
                        proto::h2::serve(stream, &service, &ctx.h2, &ctx.shutdown).await;
                    } else {
                        proto::h1::serve(stream, &service, &ctx.h1, &ctx.shutdown).await;
                    }
                })
                .await
            }
            Protocol::RedirectToHttps { https_port } => {
                let redirect = RedirectToHttps {
                    https_port: *https_port,
                };
                let service = Logged::new(&redirect, peer, port, ctx, None);
                let _open = Open::new(&ctx.metrics, H1);
                proto::h1::serve(stream, &service, &ctx.h1, &ctx.shutdown).await;
            }
        }
    };
    let waiter = pin!(ctx.abort.fired());
    if !until_cancelled(pin!(serve), waiter, &ctx.abort).await {
        tracing::debug!(%peer, "connection closed by the shutdown timeout");
    }
}

/// The service as one connection sees it: the shared service plus the peer's
/// address for the access log, and HSTS on TLS connections.
struct Logged<'a, S> {
    inner: &'a S,
    peer: SocketAddr,
    /// The listener's port, for `vhost_combined`.
    port: u16,
    log: &'a AccessLog,
    hsts: Option<HeaderValue>,
    trusted: Option<&'a TrustedProxies>,
}

impl<'a, S> Logged<'a, S> {
    fn new<C>(
        inner: &'a S,
        peer: SocketAddr,
        port: u16,
        ctx: &'a ConnContext<C>,
        hsts: Option<HeaderValue>,
    ) -> Self {
        Logged {
            inner,
            peer,
            port,
            log: &ctx.log,
            hsts,
            trusted: ctx.proxy.trusted.as_deref(),
        }
    }
}

impl<S: Service> Service for Logged<'_, S> {
    fn call<'a>(
        &'a self,
        req: &'a Request<()>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'a {
        self.inner.call(req)
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        self.inner.call_now(req)
    }

    fn error_response(&self, status: StatusCode) -> Response<Body> {
        self.inner.error_response(status)
    }

    fn decorate(&self, reply: &mut Reply) {
        if let Some(hsts) = &self.hsts {
            reply.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        self.inner.decorate(reply);
    }

    fn accepts_any_method(&self) -> bool {
        self.inner.accepts_any_method()
    }

    fn body_policy(&self, req: &Request<()>) -> proto::BodyPolicy {
        self.inner.body_policy(req)
    }

    fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: crate::body::RequestBody<'a>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send + 'a {
        self.inner.call_with_body(req, body)
    }

    fn on_response(&self, exchange: &Exchange<'_>) {
        if self.log.is_enabled() {
            // The client trusted proxies name (only the address is logged).
            let peer = match (self.trusted, exchange.request) {
                (Some(trusted), Some(req)) => {
                    SocketAddr::new(trusted.client(self.peer.ip(), req.headers()), 0)
                }
                _ => self.peer,
            };
            self.log.record(&record(peer, self.port, exchange));
        }
        self.inner.on_response(exchange);
    }
}

fn record<'a>(peer: SocketAddr, port: u16, exchange: &'a Exchange<'a>) -> Record<'a> {
    let req = exchange.request;
    let field = |name: header::HeaderName| {
        req.and_then(|r| r.headers().get(name))
            .map(|v| v.as_bytes())
    };
    Record {
        peer,
        vhost: req.and_then(proto::request_host),
        port,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers everything at once with 418 (and `call` with an empty 200).
    struct Teapot;
    impl Service for Teapot {
        async fn call<'a>(&'a self, _: &'a Request<()>) -> Response<Body> {
            Response::new(Body::Empty)
        }

        fn call_now(&self, _: &Request<()>) -> Option<Reply> {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            Some(response.into())
        }
    }

    /// One site serving `root`.
    fn sites_of(root: &std::path::Path) -> super::super::sites::Live {
        use super::super::sites::{Generation, Live, LiveParts, Plan, SitePlan};
        let plan = Plan {
            sites: vec![SitePlan {
                spec: crate::site::SiteSpec {
                    hosts: Vec::new(),
                    default: true,
                    root: root.to_path_buf(),
                    handler: Default::default(),
                    tls: false,
                    hsts: None,
                    https_redirect: None,
                    routes: Vec::new(),
                    modifiers: Default::default(),
                    loopback_only: false,
                },
                tls: None,
                listen: Vec::new(),
                listen_tls: Vec::new(),
            }],
            listen: Vec::new(),
            listen_tls: Vec::new(),
        };
        let parts = LiveParts::new(crate::handler::Shared::new(
            Default::default(),
            Default::default(),
        ));
        let first = Generation::build(&plan, 1, &parts).unwrap();
        Live::new(first, parts)
    }

    /// A connection context with default options and no access log.
    fn test_context<S>(service: S) -> ConnContext<S> {
        ConnContext {
            service: Arc::new(service),
            h1: Default::default(),
            h2: Default::default(),
            tls_handshake_timeout: Duration::from_secs(1),
            hsts: None,
            log: AccessLog::disabled(),
            shutdown: Signal::new(),
            abort: Signal::new(),
            proxy: Proxying::default(),
            metrics: Arc::default(),
        }
    }

    /// Memory per idle connection is mostly its future: keep the plain HTTP/1.1
    /// one small (h2, TLS, and each request's head read and exchange are boxed).
    #[test]
    fn connection_futures_stay_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let ctx = test_context(Teapot);
            let stream = TcpStream::connect(addr).await.unwrap();
            let endpoint = Arc::new(Endpoint {
                protocol: Protocol::Plain,
                key: addr,
                port: addr.port(),
            });
            let whole = std::mem::size_of_val(&serve_tcp(stream, addr, endpoint, &ctx));
            let stream = TcpStream::connect(addr).await.unwrap();
            let h1 =
                std::mem::size_of_val(&proto::h1::serve(stream, &Teapot, &ctx.h1, &ctx.shutdown));
            assert!(whole <= 1536, "connection future is {whole} bytes");
            // The sites' service keeps what it knows of the connection.
            let dir = tempfile::tempdir().unwrap();
            let ctx = test_context(sites_of(dir.path()));
            let stream = TcpStream::connect(addr).await.unwrap();
            let endpoint = Arc::new(Endpoint {
                protocol: Protocol::Plain,
                key: addr,
                port: addr.port(),
            });
            let sites = std::mem::size_of_val(&serve_tcp(stream, addr, endpoint, &ctx));
            assert!(sites <= 1600, "a site connection's future is {sites} bytes");
            assert!(h1 <= 1024, "h1 future is {h1} bytes");
        });
    }

    /// A wrapper that dropped `call_now` would send every request down the
    /// engine's slow path without any other test noticing.
    #[test]
    fn the_connection_wrapper_passes_answers_at_once_through() {
        let ctx = test_context(Teapot);
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let logged = Logged::new(&Teapot, peer, 1, &ctx, None);
        let response = logged.call_now(&Request::new(())).map(|r| r.status());
        assert_eq!(response, Some(StatusCode::IM_A_TEAPOT));
    }
}
