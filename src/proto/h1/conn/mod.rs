//! One HTTP/1.1 connection, from its first byte to its close.
//!
//! Each turn of the loop is one exchange:
//! 1. wait for the first byte of a request (idle timeout, or the head deadline for
//!    the first request; shutdown closes a waiting connection at once), holding no
//!    buffer while waiting;
//! 2. read and parse the head under one deadline for the whole head;
//! 3. answer OPTIONS and refused methods, or read and discard the body (after
//!    `100 Continue` if asked), refusing bodies over the limit;
//! 4. ask the service, write the response under the send timeout;
//! 5. keep the connection or close it (lingering, so the last response arrives).
//!
//! This file owns the connection (`Conn`), its entry points, the loop of
//! exchanges and the exchange itself; `read` reads heads and bodies, `write`
//! stages, sends and logs responses, and `idle` waits between requests.

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
use crate::proto::{answer_method, Service, Signal, Transport};
use crate::response::Reply;
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
    conn.run(shutdown).await;
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
    let h2 = conn.run(shutdown).await;
    // The bytes read so far belong to the HTTP/2 engine, not to the pool.
    let read = if h2 {
        std::mem::take(&mut conn.read)
    } else {
        BytesMut::new()
    };
    conn.release();
    match h2 {
        true => Ended::H2(Rewind::new(read.freeze(), conn.io)),
        false => Ended::Done,
    }
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
    /// once, outside any future (see `answer_at_once`).
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

    /// Serves requests until the connection ends; true when it turned out to
    /// speak HTTP/2 (its bytes so far are left in `read`).
    async fn run(&mut self, shutdown: &Signal) -> bool {
        let accepted = Instant::now();
        let mut served: u32 = 0;
        loop {
            let first = served == 0;
            if self.read.is_empty() {
                let wait_until = if first {
                    accepted + self.options.head_timeout
                } else {
                    Instant::now() + self.options.idle_timeout
                };
                if !self.wait_readable(wait_until, shutdown).await {
                    return false;
                }
            }
            let started = Instant::now();
            let deadline = if first { accepted } else { started } + self.options.head_timeout;
            let head = match self.next_head(deadline, shutdown).await {
                Ok(HeadRead::Head(head)) => head,
                Ok(HeadRead::Closed) => return false,
                Ok(HeadRead::H2Preface) => return true,
                Err(error) => {
                    // The client may still be sending (an oversized head): linger
                    // so that the error reaches it.
                    if let End::Close = Box::pin(self.refuse(error, None, started)).await {
                        linger_close(&mut self.io, &mut self.read).await;
                    }
                    return false;
                }
            };
            served += 1;
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
            match answered {
                Ok(()) => {}
                Err(End::Gone) => return false,
                Err(End::Close) if client_closes && self.read.is_empty() => {
                    if self.io.shutdown_before_close() {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
                    }
                    return false;
                }
                Err(End::Close) => {
                    linger_close(&mut self.io, &mut self.read).await;
                    return false;
                }
            }
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

/// How `Conn::answer_at_once` left a request.
enum AtOnce<'s> {
    /// Answered without waiting: go on, or end the connection.
    Answered(Result<(), End>),
    /// The rest of the exchange, which has to wait.
    Later(Pin<Box<dyn Future<Output = Result<(), End>> + Send + 's>>),
}
