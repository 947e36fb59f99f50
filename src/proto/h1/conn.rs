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

use std::future::poll_fn;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use http::{Method, Request, Response, StatusCode, Version};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep_until, timeout_at, Instant, Sleep};
use tokio_util::io::poll_read_buf;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::chunked::ChunkedDecoder;
use super::encode::{chunk_size_line, encode_head, BodyFraming, ConnectionField};
use super::io::{linger_close, write_all, write_all_more, write_file, write_two};
use super::parse::{parse_head, Framing, Head, ParseError};
use super::pool;
use super::rewind::Rewind;
use super::Options;
use crate::body::{Body, Part};
use crate::proto::status::{status, Failure};
use crate::proto::{answer_method, Exchange, Service, Signal, Transport};
use crate::response::Reply;

/// Growth step of a read buffer (it doubles up to the head limit).
const INITIAL_READ: usize = pool::READ_CAPACITY;

/// Bodies in memory up to this size are copied behind the head and leave in one
/// write; larger ones go out as a second slice of a vectored write.
const INLINE_BODY: usize = 16 * 1024;

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

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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

/// The timer and shutdown futures of a connection waiting for its next request,
/// kept from one wait to the next: a keep-alive connection waits once per
/// request, and registering a fresh timer and shutdown waiter each time was a
/// measurable share of a small request's cost. The timer is moved only when it
/// would fire too late; one that fires early (for a wait that has since ended)
/// is pushed on to the current end then (nginx's lazy timers). Boxed, so that a
/// connection that never waits pays nothing and the connection future stays small.
struct IdleWaits {
    timer: Pin<Box<Sleep>>,
    /// When the current wait ends.
    until: Instant,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The waker `shutdown` holds (see [`Signal::poll_fired`]).
    registered: Option<Waker>,
}

impl IdleWaits {
    fn new(until: Instant, shutdown: &Signal) -> Self {
        IdleWaits {
            timer: Box::pin(sleep_until(until)),
            until,
            shutdown: Box::pin(shutdown.fired_owned()),
            registered: None,
        }
    }

    /// Sets the end of the coming wait.
    fn arm(&mut self, until: Instant) {
        self.until = until;
        if self.timer.deadline() > until {
            self.timer.as_mut().reset(until);
        }
    }
}

/// What reading a request head came to. Returned once per request and moved
/// straight out: boxing the head would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(Head),
    /// The client closed, or the deadline passed (after a 408 for a partial head).
    Closed,
    /// The HTTP/2 preface, with detection on.
    H2Preface,
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

    /// Waits for the next request's first byte without holding buffers. False when
    /// the connection should close instead (timeout, shutdown, error).
    async fn wait_readable(&mut self, until: Instant, shutdown: &Signal) -> bool {
        let ready_now = poll_fn(|cx| Poll::Ready(self.io.poll_read_ready(cx))).await;
        match ready_now {
            Poll::Ready(Ok(())) => return true,
            Poll::Ready(Err(_)) => return false,
            Poll::Pending => {}
        }
        // Idle: give the memory back until the client speaks again.
        pool::give_read(std::mem::take(&mut self.read));
        pool::give_write(std::mem::take(&mut self.write));
        self.scratch = Vec::new();
        let io = &self.io;
        let waits = self
            .idle
            .get_or_insert_with(|| IdleWaits::new(until, shutdown));
        waits.arm(until);
        // Readiness first: it wins a tie.
        poll_fn(|cx| {
            if let Poll::Ready(ready) = io.poll_read_ready(cx) {
                return Poll::Ready(ready.is_ok());
            }
            let IdleWaits {
                timer,
                until,
                shutdown: waiter,
                registered,
            } = &mut *waits;
            if shutdown
                .poll_fired(waiter.as_mut(), registered, cx)
                .is_ready()
            {
                return Poll::Ready(false);
            }
            while timer.as_mut().poll(cx).is_ready() {
                if Instant::now() >= *until {
                    return Poll::Ready(false);
                }
                // Fired for an earlier wait: sleep on to this one's end.
                timer.as_mut().reset(*until);
            }
            Poll::Pending
        })
        .await
    }

    /// The next head: at once when one read brings it all (the usual case), with
    /// no future to allocate and copy; else through `read_head`, boxed like the
    /// exchange, so that an idle connection carries neither.
    async fn next_head(
        &mut self,
        deadline: Instant,
        shutdown: &Signal,
    ) -> Result<HeadRead, ParseError> {
        if let Some(parsed) = poll_fn(|cx| Poll::Ready(self.head_at_once(cx))).await {
            return parsed.map(HeadRead::Head);
        }
        Box::pin(self.read_head(deadline, shutdown)).await
    }

    /// Reads until a whole head is buffered (or, with detection on, the HTTP/2
    /// preface). A partial head at the deadline is answered with 408 first.
    async fn read_head(
        &mut self,
        deadline: Instant,
        shutdown: &Signal,
    ) -> Result<HeadRead, ParseError> {
        loop {
            match self.preface_so_far() {
                Some(true) => return Ok(HeadRead::H2Preface),
                // Part of the preface: neither protocol can be told yet.
                Some(false) => {}
                None => {
                    if let Some(head) = parse_head(&mut self.read, &self.options.head)? {
                        return Ok(HeadRead::Head(head));
                    }
                }
            }
            self.reserve_read();
            // Until a request's first byte arrives the connection is idle, and a
            // shutdown closes it (readiness can be spurious, so this is not only
            // `wait_readable`'s job).
            let idle = self.read.is_empty();
            let read = timeout_at(deadline, self.io.read_buf(&mut self.read));
            let read = if idle {
                // Biased, read first: when the bytes are already there (the
                // usual case after `wait_readable`), the shutdown future is never
                // polled and never joins the token's waiter list.
                tokio::select! {
                    biased;
                    read = read => read,
                    () = shutdown.fired() => return Ok(HeadRead::Closed),
                }
            } else {
                read.await
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Ok(HeadRead::Closed),
                Err(_) => {
                    if !self.read.is_empty() {
                        self.send_error(status(Failure::Timeout), None, Instant::now())
                            .await;
                    }
                    return Ok(HeadRead::Closed);
                }
            }
        }
    }

    /// A head, or the error that refuses it, from what is buffered or from one
    /// read that does not block, without an await point. `None` leaves every
    /// other case (a partial head, the HTTP/2 preface, the end of the stream, a
    /// read error) to `read_head`, which finds any bytes read here in the
    /// buffer; a read that would block has registered this task's waker, as
    /// `read_head`'s would.
    fn head_at_once(&mut self, cx: &mut Context<'_>) -> Option<Result<Head, ParseError>> {
        match &mut self.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        if self.detect_h2 {
            return None;
        }
        if self.read.is_empty() {
            self.reserve_read();
            match poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read) {
                Poll::Ready(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
        parse_head(&mut self.read, &self.options.head).transpose()
    }

    /// With detection on and bytes read: `Some(true)` for the whole HTTP/2
    /// preface, `Some(false)` for a part of it, `None` when it is not one (and
    /// detection ends).
    fn preface_so_far(&mut self) -> Option<bool> {
        if !self.detect_h2 || self.read.is_empty() {
            return None;
        }
        let n = self.read.len().min(H2_PREFACE.len());
        if self.read.get(..n) == H2_PREFACE.get(..n) {
            return Some(n == H2_PREFACE.len());
        }
        self.detect_h2 = false;
        None
    }

    fn reserve_read(&mut self) {
        if self.read.capacity() == 0 {
            self.read = pool::take_read();
        }
        let spare = self.read.capacity() - self.read.len();
        if spare < 512 {
            self.read.reserve(self.read.len().max(INITIAL_READ));
        }
    }

    /// Steps 3 to 5 without a future when nothing needs waiting: no request body,
    /// an answer the service gives at once ([`Service::call_now`]) and a response
    /// in memory that one write takes whole. Anything else continues in a boxed
    /// future: the whole exchange, or the rest of the write.
    ///
    /// The write is polled with the waker of the poll that read the head: the
    /// same task's, and a write that would block goes on in `send_rest`, which
    /// polls again with the current one.
    fn answer_at_once<'s>(
        &'s mut self,
        head: Head,
        keep_alive: bool,
        started: Instant,
        shutdown: &'s Signal,
    ) -> AtOnce<'s> {
        if head.framing != Framing::None {
            return AtOnce::Later(Box::pin(self.exchange(head, keep_alive, started, shutdown)));
        }
        let request = &head.request;
        let reply = match answer_method(self.service, request.method()) {
            Some(response) => Reply::from(response),
            None => match self.service.call_now(request) {
                Some(reply) => reply,
                None => {
                    let rest = self.exchange(head, keep_alive, started, shutdown);
                    return AtOnce::Later(Box::pin(rest));
                }
            },
        };
        let keep_alive = keep_alive && !shutdown.has_fired();
        let head_only = request.method() == Method::HEAD;
        let staged = self.stage(reply, head_only, request.version(), keep_alive);
        if staged.body.is_some() {
            return AtOnce::Later(Box::pin(self.send_rest(head.request, staged, 0, started)));
        }
        let written = match self.write_at_once() {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(error)) => {
                let outcome = staged.outcome(Err(error));
                return AtOnce::Answered(self.finish(head.request, outcome, started));
            }
            Poll::Pending => 0,
        };
        if written < self.write.len() {
            let rest = self.send_rest(head.request, staged, written, started);
            return AtOnce::Later(Box::pin(rest));
        }
        let outcome = staged.outcome(Ok(()));
        AtOnce::Answered(self.finish(head.request, outcome, started))
    }

    /// One write of `self.write`, polled with the waker kept by `head_at_once`
    /// (without one, it is left to the future that follows).
    fn write_at_once(&mut self) -> Poll<io::Result<usize>> {
        let Some(waker) = &self.waker else {
            return Poll::Pending;
        };
        let mut cx = Context::from_waker(waker);
        Pin::new(&mut self.io).poll_write(&mut cx, &self.write)
    }

    /// The rest of a staged response, from `written` bytes of `self.write` on.
    async fn send_rest(
        &mut self,
        request: Request<()>,
        staged: Staged,
        written: usize,
        started: Instant,
    ) -> Result<(), End> {
        let outcome = self.send_staged(staged, written).await;
        self.finish(request, outcome, started)
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

    /// Reads and drops a request body. `Ok(false)`: the client went away or was too
    /// slow. Nothing of the body is left to be read as the next request.
    async fn discard_body(
        &mut self,
        framing: Framing,
        deadline: Instant,
    ) -> Result<bool, ParseError> {
        let mut left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        let mut chunked =
            (framing == Framing::Chunked).then(|| ChunkedDecoder::new(self.options.max_body_bytes));
        loop {
            match &mut chunked {
                Some(decoder) => {
                    let used = decoder.advance(&self.read)?;
                    self.read.advance(used);
                    if decoder.is_done() {
                        return Ok(true);
                    }
                }
                None => {
                    let take = left.min(self.read.len() as u64);
                    self.read.advance(take as usize);
                    left -= take;
                    if left == 0 {
                        return Ok(true);
                    }
                }
            }
            self.reserve_read();
            match timeout_at(deadline, self.io.read_buf(&mut self.read)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Ok(false),
            }
        }
    }

    /// Answers a request that cannot be served and ends the connection.
    async fn refuse(
        &mut self,
        error: ParseError,
        request: Option<&Request<()>>,
        started: Instant,
    ) -> End {
        tracing::debug!(?error, "refusing request");
        self.send_error(status(Failure::Head(error)), request, started)
            .await
    }

    async fn send_error(
        &mut self,
        status: StatusCode,
        request: Option<&Request<()>>,
        started: Instant,
    ) -> End {
        let response = self.service.error_response(status);
        let head_only = request.is_some_and(|r| r.method() == Method::HEAD);
        let outcome = self
            .write_response(response, head_only, Version::HTTP_11, false)
            .await;
        self.log(request, &outcome, started);
        match outcome.result {
            Ok(_) => End::Close,
            Err(_) => End::Gone,
        }
    }

    /// Writes the response and logs it. `Err` when the connection must end.
    async fn respond(
        &mut self,
        request: &Request<()>,
        response: Response<Body>,
        keep_alive: bool,
        started: Instant,
    ) -> Result<(), End> {
        let head_only = request.method() == Method::HEAD;
        let outcome = self
            .write_response(response, head_only, request.version(), keep_alive)
            .await;
        self.settle(request, outcome, started)
    }

    /// [`Conn::settle`] for a request the connection owns, whose header map
    /// then goes back to the pool.
    fn finish(&self, request: Request<()>, outcome: Outcome, started: Instant) -> Result<(), End> {
        let settled = self.settle(&request, outcome, started);
        pool::recycle(request);
        settled
    }

    /// Logs a written (or abandoned) response and says whether to go on.
    fn settle(&self, request: &Request<()>, outcome: Outcome, started: Instant) -> Result<(), End> {
        self.log(Some(request), &outcome, started);
        match outcome.result {
            Ok(true) => Ok(()),
            Ok(false) => Err(End::Close),
            Err(error) => {
                tracing::debug!(%error, "response abandoned");
                Err(End::Gone)
            }
        }
    }

    /// Encodes the head and sends head and body. The outcome says whether the
    /// connection may carry another request.
    async fn write_response(
        &mut self,
        response: Response<Body>,
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) -> Outcome {
        let staged = self.stage(response.into(), head_only, version, keep_alive);
        self.send_staged(staged, 0).await
    }

    /// Encodes the head into `self.write`, followed by a small body in memory;
    /// what remains to send of the body is left in the result.
    fn stage(
        &mut self,
        reply: Reply,
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) -> Staged {
        let mut reply = reply;
        self.service.decorate(&mut reply);
        let (response, fields) = reply.into_parts();
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let bodiless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let framing = match body.len() {
            _ if bodiless => BodyFraming::NoBody,
            Some(n) => BodyFraming::Length(n),
            None if head_only => BodyFraming::NoBody,
            None if version == Version::HTTP_10 => BodyFraming::UntilClose,
            None => BodyFraming::Chunked,
        };
        // A body delimited by the close forces one, whatever was asked.
        let keep_alive = keep_alive && framing != BodyFraming::UntilClose;
        let connection = match (keep_alive, version) {
            (false, _) => ConnectionField::Close,
            (true, Version::HTTP_10) => ConnectionField::KeepAlive,
            (true, _) => ConnectionField::Omit,
        };
        if self.write.capacity() == 0 {
            self.write = pool::take_write();
        }
        self.write.clear();
        encode_head(
            &mut self.write,
            status,
            &parts.headers,
            fields.as_ref(),
            framing,
            connection,
            self.options.server_header,
        );
        let mut staged = Staged {
            status,
            keep_alive,
            chunked: framing == BodyFraming::Chunked,
            inline_bytes: 0,
            body: None,
        };
        if head_only || framing == BodyFraming::NoBody {
            return staged;
        }
        match body {
            Body::Empty => {}
            Body::Bytes(bytes) if bytes.len() <= INLINE_BODY => {
                self.write.extend_from_slice(&bytes);
                staged.inline_bytes = bytes.len() as u64;
            }
            // An empty slice has nothing to send after the head to release it.
            Body::File(slice) if slice.len == 0 => {}
            body => staged.body = Some(body),
        }
        staged
    }

    /// Sends a staged response, of whose head (and inline body) `written` bytes
    /// have already left.
    async fn send_staged(&mut self, mut staged: Staged, written: usize) -> Outcome {
        let Some(body) = staged.body.take() else {
            let rest = self.write.get(written..).unwrap_or_default();
            let result = write_all(&mut self.io, rest, self.options.send_timeout).await;
            return staged.outcome(result);
        };
        let mut sent = 0;
        let result = self.write_body(body, staged.chunked, &mut sent).await;
        Outcome {
            status: staged.status,
            body_bytes: sent,
            result: result.map(|()| staged.keep_alive),
        }
    }

    /// Sends the encoded head (in `self.write`) and the body, counting body bytes.
    async fn write_body(&mut self, body: Body, chunked: bool, sent: &mut u64) -> io::Result<()> {
        let limit = self.options.send_timeout;
        match body {
            // Nothing after the head: `stage` sends these with it, so they come
            // here only from a caller that skips it. An empty file must not
            // take the MSG_MORE path, which would hold the head back.
            Body::Empty => write_all(&mut self.io, &self.write, limit).await,
            Body::Bytes(bytes) => {
                write_two(&mut self.io, &self.write, &bytes, limit).await?;
                *sent = bytes.len() as u64;
                Ok(())
            }
            Body::File(slice) if slice.len == 0 => {
                write_all(&mut self.io, &self.write, limit).await
            }
            Body::File(slice) => {
                write_all_more(&mut self.io, &self.write, limit).await?;
                write_file(&mut self.io, &slice, &mut self.scratch, limit, sent).await
            }
            Body::Parts(parts) => {
                write_all(&mut self.io, &self.write, limit).await?;
                for part in parts {
                    match part {
                        Part::Bytes(bytes) => {
                            write_all(&mut self.io, &bytes, limit).await?;
                            *sent += bytes.len() as u64;
                        }
                        Part::File(slice) => {
                            write_file(&mut self.io, &slice, &mut self.scratch, limit, sent)
                                .await?;
                        }
                    }
                }
                Ok(())
            }
            Body::Stream(mut stream) => {
                write_all(&mut self.io, &self.write, limit).await?;
                while let Some(chunk) = poll_fn(|cx| stream.as_mut().poll_chunk(cx)).await {
                    let chunk = chunk?;
                    if chunk.is_empty() {
                        continue;
                    }
                    if chunked {
                        self.write.clear();
                        chunk_size_line(&mut self.write, chunk.len());
                        write_two(&mut self.io, &self.write, &chunk, limit).await?;
                        write_all(&mut self.io, b"\r\n", limit).await?;
                    } else {
                        write_all(&mut self.io, &chunk, limit).await?;
                    }
                    *sent += chunk.len() as u64;
                }
                if chunked {
                    write_all(&mut self.io, b"0\r\n\r\n", limit).await?;
                }
                Ok(())
            }
        }
    }

    fn log(&self, request: Option<&Request<()>>, outcome: &Outcome, started: Instant) {
        self.service.on_response(&Exchange {
            request,
            status: outcome.status,
            body_bytes: outcome.body_bytes,
            duration: started.elapsed(),
            complete: outcome.result.is_ok(),
        });
    }
}

/// How `Conn::answer_at_once` left a request.
enum AtOnce<'s> {
    /// Answered without waiting: go on, or end the connection.
    Answered(Result<(), End>),
    /// The rest of the exchange, which has to wait.
    Later(Pin<Box<dyn Future<Output = Result<(), End>> + Send + 's>>),
}

/// A response whose head (and any small body) is encoded in the write buffer.
struct Staged {
    status: StatusCode,
    keep_alive: bool,
    chunked: bool,
    /// Body bytes copied behind the head.
    inline_bytes: u64,
    /// The body still to send after the write buffer.
    body: Option<Body>,
}

impl Staged {
    /// What sending all of the write buffer (and no more) came to.
    fn outcome(&self, result: io::Result<()>) -> Outcome {
        Outcome {
            status: self.status,
            body_bytes: if result.is_ok() { self.inline_bytes } else { 0 },
            result: result.map(|()| self.keep_alive),
        }
    }
}

/// What writing one response came to.
struct Outcome {
    status: StatusCode,
    body_bytes: u64,
    /// Whether the connection may be kept, or why it broke.
    result: io::Result<bool>,
}
