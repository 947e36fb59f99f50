//! Wire protocols, generic over any byte stream. This layer knows no files and no
//! configuration: it turns bytes into `http::Request`s, asks a [`Service`] for a
//! `Response<Body>`, and writes it back.
//!
//! The method policy lives here so that every protocol applies the same one: the
//! server answers GET, HEAD and OPTIONS; another method it knows is 405 with
//! `Allow`, one it does not know is 501. Every status an engine picks by itself
//! comes from [`status::status`].
//!
//! A service may take the body of chosen requests ([`Service::body_policy`]):
//! the engine then lends it as a [`RequestBody`] to [`Service::call_with_body`]
//! instead of discarding it, under the service's limit, and answers a body
//! that breaks off (timeout, limit, malformed, closed) itself.

pub mod date;
pub mod h1;
pub mod h2;
pub mod proxy;
mod signal;
pub mod status;

use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::{Body, RequestBody};
use crate::response::Reply;
pub use signal::Signal;
pub use status::Failure;

/// The methods every protocol engine serves, as sent in `Allow`.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// What a service does with the body of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPolicy {
    /// The engine reads and drops it (bounded by its own limit); the request
    /// goes to [`Service::call`] or [`Service::call_now`].
    Discard,
    /// The request goes to [`Service::call_with_body`] with its body, which
    /// may be at most `limit` bytes: a larger declared length is refused with
    /// 413 before any of it is read, a longer body ends with 413 too.
    Read {
        /// The largest body accepted, in bytes.
        limit: u64,
    },
}

/// What the protocol engines call to answer a request.
///
/// The request is lent, not given, so that the engine still has it to log once the
/// response has gone out. Only GET and HEAD requests reach [`Service::call`]; the
/// engine answers OPTIONS and refuses other methods itself, unless the service
/// [accepts any method](Service::accepts_any_method).
pub trait Service: Send + Sync {
    /// Answers one request. HEAD is passed through: the engine drops the body.
    fn call<'a>(&'a self, req: &'a Request<()>)
        -> impl Future<Output = Response<Body>> + Send + 'a;

    /// The response to `req` when it can be made without waiting, or `None`
    /// (the default) to have the engine await [`Service::call`]. HTTP/1.1 then
    /// answers without allocating the call's future, often without any await
    /// at all: worth it for a service whose answers are mostly in memory.
    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        let _ = req;
        None
    }

    /// The response for an error the engine found before or instead of calling
    /// [`Service::call`] (malformed request, refused method, limits).
    fn error_response(&self, status: StatusCode) -> Response<Body> {
        plain_error(status)
    }

    /// Called on every response just before it is written, whoever made it (the
    /// service, the engine's method policy, an error): the place for fields that
    /// every response carries, such as HSTS. The [`Reply`] shows every field,
    /// its pre-built block included.
    fn decorate(&self, reply: &mut Reply) {
        let _ = reply;
    }

    /// Whether every method goes to [`Service::call`] instead of the engines'
    /// method policy (a redirect answers every method alike).
    fn accepts_any_method(&self) -> bool {
        false
    }

    /// Called once per response after it has been written (or abandoned).
    fn on_response(&self, exchange: &Exchange<'_>) {
        let _ = exchange;
    }

    /// Whether the service reads the body of `req` (asked only for methods
    /// other than GET and HEAD, so those keep their fast paths). The default
    /// is never.
    fn body_policy(&self, req: &Request<()>) -> BodyPolicy {
        let _ = req;
        BodyPolicy::Discard
    }

    /// Answers a request whose body [`Service::body_policy`] chose to read.
    /// The engine keeps the connection only when the body was read to its
    /// end; a body that broke off is answered by the engine (the service's
    /// response is then dropped), so the service only has to clean up. The
    /// default drops the body and calls [`Service::call`].
    fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: RequestBody<'a>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        let _ = body;
        self.call(req)
    }
}

/// A borrowed service is a service: wrappers hold one by reference.
impl<S: Service + ?Sized> Service for &S {
    fn call<'a>(
        &'a self,
        req: &'a Request<()>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        (**self).call(req)
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        (**self).call_now(req)
    }

    fn error_response(&self, status: StatusCode) -> Response<Body> {
        (**self).error_response(status)
    }

    fn decorate(&self, reply: &mut Reply) {
        (**self).decorate(reply)
    }

    fn accepts_any_method(&self) -> bool {
        (**self).accepts_any_method()
    }

    fn on_response(&self, exchange: &Exchange<'_>) {
        (**self).on_response(exchange)
    }

    fn body_policy(&self, req: &Request<()>) -> BodyPolicy {
        (**self).body_policy(req)
    }

    fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: RequestBody<'a>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        (**self).call_with_body(req, body)
    }
}

/// Whether the engines ask [`Service::body_policy`] for `method`: never for
/// GET and HEAD, whose paths stay as they were (two comparisons).
pub fn may_take_body(method: &Method) -> bool {
    *method != Method::GET && *method != Method::HEAD
}

/// What happened in one request/response exchange, for access logs.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The request, when its head could be parsed.
    pub request: Option<&'a Request<()>>,
    /// The status sent.
    pub status: StatusCode,
    /// Body bytes written to the client.
    pub body_bytes: u64,
    /// From the first byte of the request to the last byte of the response.
    pub duration: Duration,
    /// False when the response could not be sent in full (client gone, timeout).
    pub complete: bool,
}

/// A byte stream a protocol engine can serve, with the two capabilities that
/// make plain TCP fast. Both have safe fallbacks, so any `AsyncRead + AsyncWrite`
/// (TLS, an in-memory pipe) works.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Resolves when a read would not block, without reading: an idle connection
    /// then holds no read buffer. The default is "ready now".
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Whether closing takes an orderly shutdown first (TLS sends close_notify).
    /// A TCP socket's close sends its FIN by itself, so a plain connection
    /// skips the extra system call. The default is yes.
    fn shutdown_before_close(&self) -> bool {
        true
    }

    /// Whether [`Transport::poll_sendfile`] moves bytes without copying them.
    fn can_sendfile(&self) -> bool {
        false
    }

    /// Writes some of `buf`, hinting that more follows at once (a head before a
    /// `sendfile` body), so that both leave in full segments rather than the
    /// head alone in a small one. The default is a plain write.
    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, buf)
    }

    /// Writes up to `len` bytes of `file` from `offset` straight to the stream.
    /// Only called when [`Transport::can_sendfile`] is true.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let _ = (cx, file, offset, len);
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
}

impl Transport for tokio::io::DuplexStream {}

/// Answers a request whose method the engine handles itself, or `None` when the
/// request should go to the service. Shared by every protocol engine.
pub fn answer_method<S: Service>(service: &S, method: &Method) -> Option<Response<Body>> {
    if *method == Method::GET || *method == Method::HEAD || service.accepts_any_method() {
        return None;
    }
    let mut response = if *method == Method::OPTIONS {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else if is_known(method) {
        service.error_response(status::status(Failure::MethodNotAllowed))
    } else {
        return Some(service.error_response(status::status(Failure::MethodUnknown)));
    };
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    Some(response)
}

/// The methods of RFC 9110 §9 and PATCH (RFC 5789): refused with 405, where
/// any other token is a method this server does not recognise (501).
fn is_known(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ]
    .contains(method)
}

/// The host a request is for: the authority of an absolute-form target, else the
/// Host header (RFC 9112 §3.2.2). Without a port.
pub fn request_host<B>(req: &Request<B>) -> Option<&str> {
    let raw = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // IP literal: keep the brackets' content.
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// A minimal text error response, for services that render no pages of their own.
pub fn plain_error(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!("{} {}\n", status.as_u16(), reason);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port() {
        for (given, want) in [
            ("example.com", "example.com"),
            ("example.com:8080", "example.com"),
            ("[::1]:8080", "::1"),
            ("[::1]", "::1"),
        ] {
            assert_eq!(strip_port(given), want, "{given}");
        }
    }
}
