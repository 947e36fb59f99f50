//! One HTTP/1.1 connection, from its first byte to its close.
//!
//! Each turn of the loop is one exchange:
//! 1. wait for the first byte of a request (idle timeout, or the head deadline for
//!    the first request; shutdown closes a waiting connection at once, unless it
//!    was accepted less than [`FIRST_REQUEST_GRACE`] before), holding no buffer
//!    while waiting;
//! 2. read and parse the head under one deadline for the whole head;
//! 3. answer OPTIONS and refused methods, or read and discard the body (after
//!    `100 Continue` if asked), refusing bodies over the limit; or, for a
//!    request whose body the service reads (`Service::body_policy`), lend it
//!    the body (`body`) and answer a body that broke off ourselves;
//! 4. ask the service, write the response under the send timeout;
//! 5. keep the connection or close it (lingering, so the last response arrives).
//!
//! `run` is that loop as a small state machine: a `Phase` says which request it
//! waits for (the first, or another on a kept connection), and it ends with a
//! `Close` saying how: at once, with an orderly shutdown, lingering, or not at
//! all (the client speaks HTTP/2).
//!
//! This file owns the connection (`Conn`), its entry points, the loop of
//! exchanges and the exchange itself; `read` reads heads and bodies, `body`
//! is a body lent to the service, `write` stages, sends and logs responses,
//! and `idle` waits between requests.

mod body;
mod idle;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::future::Future;
use std::pin::Pin;
use std::task::Waker;
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, Request};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::io::{linger_close, write_all};
use super::parse::{Framing, Head, ParseError};
use super::pool;
use super::rewind::Rewind;
use super::Options;
use crate::body::RequestBody;
use crate::proto::status::{status, Failure};
use crate::proto::{answer_method, may_take_body, BodyPolicy, Service, Signal, Transport};
use crate::response::Reply;
use body::{H1Body, State};
use idle::IdleWaits;
use read::HeadRead;
use write::Progress;

/// Serves HTTP/1.x on `io` until the client leaves, a limit or timeout closes the
/// connection, or `shutdown` fires and no request is in flight.
pub async fn serve<T: Transport, S: Service>(
    io: T,
    service: &S,
    options: &Options,
    shutdown: &Signal,
) {
    let mut conn = Conn::new(io, service, options, false);
    let close = conn.run(shutdown).await;
    conn.close(close).await;
    conn.release();
}

/// How a connection served by [`serve_detecting_h2`] ended.
pub enum Ended<T> {
    /// Served as HTTP/1 to its end.
    Done,
    /// The client opened with the HTTP/2 preface (prior knowledge, RFC 9113
    /// §3.3): the transport, replaying what was read, for an HTTP/2 engine.
    H2(Rewind<T>),
}

/// Like [`serve`], but a connection that opens with the HTTP/2 preface is
/// handed back instead of refused. The preface is recognised in the bytes the
/// first head is read into, so telling the protocols apart costs no system call.
pub async fn serve_detecting_h2<T: Transport, S: Service>(
    io: T,
    service: &S,
    options: &Options,
    shutdown: &Signal,
) -> Ended<T> {
    let mut conn = Conn::new(io, service, options, true);
    match conn.run(shutdown).await {
        Close::H2 => {
            // The bytes read so far belong to the HTTP/2 engine, not to the pool.
            let read = std::mem::take(&mut conn.read);
            conn.release();
            Ended::H2(Rewind::new(read.freeze(), conn.io))
        }
        close => {
            conn.close(close).await;
            conn.release();
            Ended::Done
        }
    }
}

/// How long a connection accepted just before a shutdown still gets for its
/// first request's bytes: its client connected to send one, and is sending
/// it (an old process handing its listeners over stops this way while under
/// load). A silent connection older than that (a browser's preconnect) is
/// closed at once, so a stop is not held up by it.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Which request a connection waits for; the deadlines differ.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// The first: one deadline from accept covers the wait and the whole head
    /// (with detection on, the HTTP/2 preface may come instead).
    First,
    /// Another on a kept connection, after `served` requests: the idle timeout
    /// for the wait, then a head deadline from the moment the head begins.
    KeptAlive { served: u32 },
}

impl Phase {
    /// Requests served before this one.
    fn served(self) -> u32 {
        match self {
            Phase::First => 0,
            Phase::KeptAlive { served } => served,
        }
    }

    /// When waiting for the request's first byte gives up.
    fn wait_until(self, accepted: Instant, options: &Options) -> Instant {
        match self {
            Phase::First => accepted + options.head_timeout,
            Phase::KeptAlive { .. } => Instant::now() + options.idle_timeout,
        }
    }

    /// When reading the head gives up: the first request's whole head is due
    /// a head timeout after the accept; on a kept connection the first byte
    /// is due by the end of the idle wait (a transport that cannot report
    /// readiness, such as TLS, waits for it inside the head read), and the
    /// rest a head timeout after that byte.
    fn head_deadlines(
        self,
        accepted: Instant,
        wait_until: Instant,
        options: &Options,
    ) -> HeadDeadlines {
        match self {
            Phase::First => HeadDeadlines {
                first_byte: accepted + options.head_timeout,
                whole: Some(accepted + options.head_timeout),
            },
            Phase::KeptAlive { .. } => HeadDeadlines {
                first_byte: wait_until,
                whole: None,
            },
        }
    }
}

/// When reading a request head gives up.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadDeadlines {
    /// The head's first byte.
    pub first_byte: Instant,
    /// The whole head; `None`: a head timeout after its first byte.
    pub whole: Option<Instant>,
}

/// How HTTP/1 service of a connection ends.
#[derive(Debug, Clone, Copy)]
enum Close {
    /// Drop the transport: the client left or stayed silent, the transport
    /// broke, or a shutdown found the connection waiting.
    Now,
    /// An orderly shutdown (TLS sends close_notify), then drop: the client
    /// asked to close and sent nothing after its request, so there is nothing
    /// to wait for.
    Shutdown,
    /// Half-close, then read and drop what the client still sends, for a
    /// while: it may still be sending (a refused body, pipelined requests), and
    /// closing with unread bytes would reset the last response away.
    Linger,
    /// No close: the client speaks HTTP/2, and its bytes so far are in `read`.
    H2,
}

/// Why an exchange ended the connection.
enum End {
    /// The client went away, or the transport failed; nothing more can be sent.
    Gone,
    /// A response was sent that requires closing.
    Close,
}

struct Conn<'a, T, S> {
    io: T,
    read: BytesMut,
    write: Vec<u8>,
    scratch: Vec<u8>,
    /// Created at the first idle wait and kept: see [`IdleWaits`].
    idle: Option<IdleWaits>,
    /// Until the first head: whether the HTTP/2 preface ends HTTP/1 service.
    detect_h2: bool,
    /// The task's waker as of the latest head, for the write that answers it at
    /// once, outside any future (see `send_at_once`).
    waker: Option<Waker>,
    service: &'a S,
    options: &'a Options,
}

impl<'a, T: Transport, S: Service> Conn<'a, T, S> {
    fn new(io: T, service: &'a S, options: &'a Options, detect_h2: bool) -> Self {
        Conn {
            io,
            read: BytesMut::new(),
            write: Vec::new(),
            scratch: Vec::new(),
            idle: None,
            detect_h2,
            waker: None,
            service,
            options,
        }
    }

    /// Gives the buffers back to this thread's pool. (A connection cut short by
    /// the shutdown timeout just frees them.)
    fn release(&mut self) {
        pool::give_read(std::mem::take(&mut self.read));
        pool::give_write(std::mem::take(&mut self.write));
    }

    /// After a wait for the first request that a shutdown ended: whether the
    /// request's bytes came within [`FIRST_REQUEST_GRACE`] of the accept.
    async fn first_request_in_grace(
        &mut self,
        phase: Phase,
        accepted: Instant,
        shutdown: &Signal,
    ) -> bool {
        if !matches!(phase, Phase::First) || !shutdown.has_fired() {
            return false;
        }
        // The bytes themselves, not readiness: readiness can be spurious (and
        // is always reported where a transport cannot wait for it), and a
        // head read that then found nothing would close on the shutdown.
        self.reserve_read();
        let read = tokio::io::AsyncReadExt::read_buf(&mut self.io, &mut self.read);
        matches!(
            tokio::time::timeout_at(accepted + FIRST_REQUEST_GRACE, read).await,
            Ok(Ok(n)) if n > 0
        )
    }

    /// Serves requests until the connection ends, and says how to close it.
    async fn run(&mut self, shutdown: &Signal) -> Close {
        let accepted = Instant::now();
        let mut phase = Phase::First;
        loop {
            // Bytes left behind a pipelined request need no waiting for.
            let until = phase.wait_until(accepted, self.options);
            if self.read.is_empty()
                && !self.wait_readable(until, shutdown).await
                && !self.first_request_in_grace(phase, accepted, shutdown).await
            {
                return Close::Now;
            }
            let started = Instant::now();
            let deadlines = phase.head_deadlines(accepted, until, self.options);
            let head = match self.next_head(deadlines, shutdown).await {
                Ok(HeadRead::Head(head)) => head,
                Ok(HeadRead::Closed) => return Close::Now,
                Ok(HeadRead::H2Preface) => return Close::H2,
                // The client may still be sending (an oversized head): linger
                // so that the error reaches it.
                Err(error) => match Box::pin(self.refuse(error, None, started)).await {
                    End::Close => return Close::Linger,
                    End::Gone => return Close::Now,
                },
            };
            let served = phase.served() + 1;
            self.detect_h2 = false;
            // A client that asked to close sends nothing more: no need to linger.
            let client_closes = !head.keep_alive;
            let limit = self.options.max_requests;
            let keep_alive = head.keep_alive && (limit == 0 || served < limit);
            // Boxed when it has to wait: the states of answering a request are
            // most of this future, and an idle keep-alive connection should not
            // carry them. The usual answer needs no future at all.
            let answered = match self.answer_at_once(head, keep_alive, started, shutdown) {
                AtOnce::Answered(result) => result,
                AtOnce::Later(rest) => rest.await,
            };
            phase = match answered {
                Ok(()) => Phase::KeptAlive { served },
                Err(End::Gone) => return Close::Now,
                Err(End::Close) if client_closes && self.read.is_empty() => return Close::Shutdown,
                Err(End::Close) => return Close::Linger,
            };
        }
    }

    /// Closes the way `run` decided (a connection handed to HTTP/2 stays open).
    async fn close(&mut self, close: Close) {
        match close {
            Close::Now | Close::H2 => {}
            Close::Shutdown => {
                if self.io.shutdown_before_close() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
                }
            }
            Close::Linger => linger_close(&mut self.io, &mut self.read).await,
        }
    }

    /// Steps 3 to 5 without a future when nothing needs waiting: no request body,
    /// an answer the service gives at once ([`Service::call_now`]) and a response
    /// in memory that one write takes whole. Anything else continues in a boxed
    /// future: the whole exchange, or the rest of the write. However far it
    /// got, the request leaves through the one match at the end.
    fn answer_at_once<'s>(
        &'s mut self,
        head: Head,
        keep_alive: bool,
        started: Instant,
        shutdown: &'s Signal,
    ) -> AtOnce<'s> {
        let reply = match head.framing {
            Framing::None => self.reply_now(&head.request),
            // The body has to be read (and maybe a 100 Continue sent) first.
            Framing::Length(_) | Framing::Chunked => None,
        };
        let progress = match reply {
            Some(reply) => {
                let keep_alive = keep_alive && !shutdown.has_fired();
                self.send_at_once(&head.request, reply, keep_alive)
            }
            None => Progress::NotStarted,
        };
        match progress {
            Progress::Done(outcome) => {
                AtOnce::Answered(self.finish(head.request, outcome, started))
            }
            Progress::Staged(staged, written) => {
                let rest = self.send_rest(head.request, staged, written, started);
                AtOnce::Later(Box::pin(rest))
            }
            Progress::NotStarted => {
                let rest = self.exchange(head, keep_alive, started, shutdown);
                AtOnce::Later(Box::pin(rest))
            }
        }
    }

    /// The answer to a request without a body when it needs no waiting: the
    /// engine's own (OPTIONS, a refused method), else [`Service::call_now`]'s.
    fn reply_now(&self, request: &Request<()>) -> Option<Reply> {
        // A request whose body the service takes goes to it, even without a
        // body (an empty PUT), before the method policy.
        if may_take_body(request.method())
            && self.service.body_policy(request) != BodyPolicy::Discard
        {
            return None;
        }
        match answer_method(self.service, request.method()) {
            Some(response) => Some(Reply::from(response)),
            None => self.service.call_now(request),
        }
    }

    /// Steps 3 to 5 for one parsed request.
    async fn exchange(
        &mut self,
        head: Head,
        keep_alive: bool,
        started: Instant,
        shutdown: &Signal,
    ) -> Result<(), End> {
        let Head {
            request,
            framing,
            expect_continue,
            ..
        } = head;
        if may_take_body(request.method()) {
            if let BodyPolicy::Read { limit } = self.service.body_policy(&request) {
                let taken = TakenBody {
                    framing,
                    expect_continue,
                    limit,
                };
                return self
                    .exchange_with_body(request, taken, keep_alive, started, shutdown)
                    .await;
            }
        }
        let mut early = answer_method(self.service, request.method());

        if framing != Framing::None {
            if let Framing::Length(n) = framing {
                if n > self.options.max_body_bytes {
                    return Err(self
                        .refuse(ParseError::BodyTooLarge, Some(&request), started)
                        .await);
                }
            }
            early = match early {
                // A refused method with `Expect: 100-continue`: the final status
                // without reading the body, then close (the client may still
                // send it).
                Some(response) if expect_continue && request.method() != Method::OPTIONS => {
                    self.respond(&request, response, false, started).await?;
                    return Err(End::Close);
                }
                early => early,
            };
            if expect_continue {
                write_all(
                    &mut self.io,
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                    self.options.send_timeout,
                )
                .await
                .map_err(|_| End::Gone)?;
            }
            let body_deadline = Instant::now() + self.options.head_timeout;
            match self.discard_body(framing, body_deadline).await {
                Ok(true) => {}
                Ok(false) => return Err(End::Gone),
                Err(error) => return Err(self.refuse(error, Some(&request), started).await),
            }
        }

        let response = match early {
            Some(response) => response,
            None => self.service.call(&request).await,
        };
        let keep_alive = keep_alive && !shutdown.has_fired();
        self.respond(&request, response, keep_alive, started).await
    }
}

/// A body the service reads: how it is framed, and its limit.
struct TakenBody {
    framing: Framing,
    expect_continue: bool,
    limit: u64,
}

impl<T: Transport, S: Service> Conn<'_, T, S> {
    /// Step 4 for a request whose body the service reads: the body is lent to
    /// [`Service::call_with_body`]; the connection is kept only when the body
    /// was read to its end, and a body that broke off is answered here (413,
    /// 408, 400) whatever the service said.
    async fn exchange_with_body(
        &mut self,
        request: Request<()>,
        taken: TakenBody,
        keep_alive: bool,
        started: Instant,
        shutdown: &Signal,
    ) -> Result<(), End> {
        if let Framing::Length(n) = taken.framing {
            if n > taken.limit {
                // Refused before a byte is read (and before 100 Continue).
                return Err(self
                    .refuse(ParseError::BodyTooLarge, Some(&request), started)
                    .await);
            }
        }
        let length = match taken.framing {
            Framing::Length(n) => Some(n),
            Framing::None => Some(0),
            Framing::Chunked => None,
        };
        let service = self.service;
        let mut reader = H1Body::new(
            &mut self.io,
            &mut self.read,
            taken.framing,
            taken.limit,
            taken.expect_continue,
            self.options.head_timeout,
        );
        let response = {
            let body = RequestBody::new(&mut reader, length);
            service.call_with_body(&request, body).await
        };
        let (state, unsent_continue) = (reader.state(), reader.continue_pending());
        match state {
            State::Done => {
                let keep_alive = keep_alive && !shutdown.has_fired();
                self.respond(&request, response, keep_alive, started).await
            }
            State::Failed(error) => {
                drop(response);
                tracing::debug!(%error, "request body broke off");
                Err(self
                    .send_error(status(Failure::from(error)), Some(&request), started)
                    .await)
            }
            // Answered before the end of the body (or before it was asked
            // for): what is left of it cannot be told from the next request.
            State::Reading => {
                if unsent_continue {
                    tracing::debug!("answered without reading the body");
                }
                self.respond(&request, response, false, started).await?;
                Err(End::Close)
            }
        }
    }
}

/// How `Conn::answer_at_once` left a request.
enum AtOnce<'s> {
    /// Answered without waiting: go on, or end the connection.
    Answered(Result<(), End>),
    /// The rest of the exchange, which has to wait.
    Later(Pin<Box<dyn Future<Output = Result<(), End>> + Send + 's>>),
}
