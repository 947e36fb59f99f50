//! HTTP/2 through the `h2` crate: the connection loop here, bodies in [`send`],
//! writes gathered in [`coalesce`].
//!
//! All streams of a connection run inside the connection's task (no spawn per
//! stream), so the service is borrowed, not shared. The loop:
//! 1. the handshake (client preface and SETTINGS) under the head deadline;
//! 2. accept streams, each answered like an HTTP/1.1 request (method policy,
//!    request body discarded up to the limit and within the head deadline, or
//!    lent to the service when it reads it ([`body`]), the service, the
//!    access log);
//! 3. with no open stream for the idle timeout, or on shutdown: GOAWAY, let
//!    open streams finish, close. A client that does not acknowledge the
//!    GOAWAY's PING (h2 waits for it before closing) is closed on anyway once no
//!    stream is open for [`CLOSE_GRACE`].

mod body;
mod coalesce;
mod send;

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{Method, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, timeout, Instant};

use crate::body::RequestBody;
use crate::proto::{
    answer_method, may_take_body, status, BodyPolicy, Exchange, Failure, Service, Signal,
};
use crate::response::Reply;

/// Limits and timeouts of an HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct Options {
    /// Streams a client may open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// Largest decoded header list of one request (SETTINGS_MAX_HEADER_LIST_SIZE).
    pub max_header_list_size: u32,
    /// Deadline for the connection preface and settings, and for each request
    /// body (from its stream's arrival), like the HTTP/1.1 head timeout.
    pub handshake_timeout: Duration,
    /// How long a connection with no open stream stays.
    pub idle_timeout: Duration,
    /// How long one write may wait for flow-control window or the socket.
    pub send_timeout: Duration,
    /// Largest request body read (and discarded); larger ones are refused.
    pub max_body_bytes: u64,
    /// Whether responses carry `Server: ferrox`.
    pub server_header: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_concurrent_streams: 128,
            max_header_list_size: 32 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            server_header: true,
        }
    }
}

/// Data a stream may have queued for the socket before it waits: bounds the
/// memory of a connection at `max_concurrent_streams` times this.
const MAX_SEND_BUFFER: usize = 128 * 1024;

/// How long a closing connection with no open stream waits for the client: for
/// the acknowledgement of the graceful GOAWAY's PING, then for the final GOAWAY
/// to be flushed. Without it a client that went silent (no FIN) would keep an
/// idle connection open for ever.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves HTTP/2 on `io` (after TLS with ALPN `h2`, or h2c with prior knowledge).
pub async fn serve<T, S>(io: T, service: &S, options: &Options, shutdown: &Signal)
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
    S: Service,
{
    let polls = coalesce::Polls::default();
    let io = coalesce::Coalesce::new(io, polls.clone());
    polls.count(run(io, service, options, shutdown)).await;
}

async fn run<T, S>(io: coalesce::Coalesce<T>, service: &S, options: &Options, shutdown: &Signal)
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
    S: Service,
{
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(options.max_concurrent_streams)
        .max_header_list_size(options.max_header_list_size)
        .max_send_buffer_size(MAX_SEND_BUFFER);
    let mut conn = match timeout(options.handshake_timeout, builder.handshake::<_, Bytes>(io)).await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => {
            tracing::debug!(%error, "h2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("h2 handshake timed out");
            return;
        }
    };
    let mut streams = FuturesUnordered::new();
    let mut idle_since = Instant::now();
    let mut closing = false;
    let mut closing_since = idle_since;
    let mut abrupt = false;
    // One waiter for the connection's life, polled only for a new waker (see
    // `Signal::poll_fired`): a fresh one per turn of the loop took the signal's
    // locks to register, poll and deregister on every frame.
    let mut waiter = std::pin::pin!(shutdown.fired());
    let mut registered = None;
    loop {
        let idle_deadline = idle_since + options.idle_timeout;
        let close_deadline = idle_since.max(closing_since) + CLOSE_GRACE;
        // Streams first: every answer ready is queued before the connection
        // is polled to write them, so that they leave in one write (see
        // `coalesce`). The connection runs whenever no stream can progress.
        tokio::select! {
            biased;
            Some(()) = streams.next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    idle_since = Instant::now();
                }
            }
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => streams.push(serve_stream(request, respond, service, options)),
                Some(Err(error)) => {
                    tracing::debug!(%error, "h2 connection error");
                    break;
                }
                None => break,
            },
            () = poll_fn(|cx| shutdown.poll_fired(waiter.as_mut(), &mut registered, cx)), if !closing => {
                closing = true;
                closing_since = Instant::now();
                conn.graceful_shutdown();
            }
            () = sleep_until(idle_deadline), if streams.is_empty() && !closing => {
                closing = true;
                closing_since = Instant::now();
                conn.graceful_shutdown();
            }
            () = sleep_until(close_deadline), if closing && streams.is_empty() => {
                if abrupt {
                    tracing::debug!("h2 client gone: closing without the final GOAWAY");
                    break;
                }
                // The last processed stream is named, so the client knows any
                // later request was not served and may retry it.
                abrupt = true;
                closing_since = Instant::now();
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
            }
        }
    }
    // The connection is gone. Dropping it wakes streams still waiting for
    // flow-control window (nothing polls it any more), so they fail fast and are
    // logged instead of waiting out the send timeout.
    drop(conn);
    while streams.next().await.is_some() {}
}

async fn serve_stream<S: Service>(
    request: Request<h2::RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
    service: &S,
    options: &Options,
) {
    let started = Instant::now();
    let (parts, mut body) = request.into_parts();
    let request = Request::from_parts(parts, ());
    if may_take_body(request.method()) {
        if let BodyPolicy::Read { limit } = service.body_policy(&request) {
            // Boxed: the streams of a connection that read no body do not
            // carry its states.
            let reply = Box::pin(with_body(&request, body, limit, service, options)).await;
            return finish_stream(request, respond, reply, started, service, options).await;
        }
    }
    let early = answer_method(service, request.method());
    // A GET ends its stream with its HEADERS: no body to wait for, no timer.
    let discarded = if body.is_end_stream() {
        Ok(())
    } else {
        timeout(
            options.handshake_timeout,
            discard_body(&mut body, options.max_body_bytes),
        )
        .await
        .unwrap_or(Err(Failure::Timeout))
    };
    let reply = match discarded {
        Err(failure) => Reply::new(service.error_response(status::status(failure))),
        Ok(()) => match early {
            Some(response) => Reply::new(response),
            // What the service can answer at once needs no future (a cached
            // file: the usual case).
            None => match service.call_now(&request) {
                Some(reply) => reply,
                None => Reply::new(service.call(&request).await),
            },
        },
    };
    finish_stream(request, respond, reply, started, service, options).await;
}

/// Sends the reply to a stream's request and logs it.
async fn finish_stream<S: Service>(
    request: Request<()>,
    respond: h2::server::SendResponse<Bytes>,
    mut reply: Reply,
    started: Instant,
    service: &S,
    options: &Options,
) {
    service.decorate(&mut reply);
    let head_only = request.method() == Method::HEAD;
    let (status, body_bytes, result) = send::respond(respond, reply, head_only, options).await;
    if let Err(error) = &result {
        tracing::debug!(%error, "h2 stream abandoned");
    }
    service.on_response(&Exchange {
        request: Some(&request),
        status,
        body_bytes,
        duration: started.elapsed(),
        complete: result.is_ok(),
    });
}

/// The answer to a request whose body the service reads: refused at once
/// when its declared length is over `limit`, else the service's, unless the
/// body broke off (then the engine's status for why).
async fn with_body<S: Service>(
    request: &Request<()>,
    mut stream: h2::RecvStream,
    limit: u64,
    service: &S,
    options: &Options,
) -> Reply {
    let length = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limit) {
        return Reply::new(service.error_response(status::status(Failure::BodyTooLarge)));
    }
    let mut reader = body::H2Body::new(&mut stream, limit, options.handshake_timeout);
    let response = {
        let body = RequestBody::new(&mut reader, length);
        service.call_with_body(request, body).await
    };
    match reader.failed() {
        Some(error) => {
            tracing::debug!(%error, "h2 request body broke off");
            Reply::new(service.error_response(status::status(Failure::from(error))))
        }
        None => Reply::new(response),
    }
}

/// Reads and drops a request body, returning flow-control credit as it goes.
async fn discard_body(body: &mut h2::RecvStream, max: u64) -> Result<(), Failure> {
    let mut total: u64 = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|_| Failure::BodyBroken)?;
        total += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
        if total > max {
            return Err(Failure::BodyTooLarge);
        }
    }
    Ok(())
}
