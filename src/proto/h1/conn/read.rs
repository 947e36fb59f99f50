//! The reading half: request heads (at once from one read when it brings a
//! whole head, else under the head deadline), the HTTP/2 preface detection,
//! the read buffer's growth, and discarding request bodies.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};
use tokio_util::io::poll_read_buf;

use super::super::chunked::ChunkedDecoder;
use super::super::parse::{parse_head, Framing, Head, ParseError};
use super::super::pool;
use super::Conn;
use super::HeadDeadlines;
use crate::proto::status::{status, Failure};
use crate::proto::{Service, Signal, Transport};

/// Growth step of a read buffer (it doubles up to the head limit).
const INITIAL_READ: usize = pool::READ_CAPACITY;

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What reading a request head came to. Returned once per request and moved
/// straight out: boxing the head would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
pub(super) enum HeadRead {
    Head(Head),
    /// The client closed, or the deadline passed (after a 408 for a partial head).
    Closed,
    /// The HTTP/2 preface, with detection on.
    H2Preface,
}

impl<'a, T: Transport, S: Service> Conn<'a, T, S> {
    /// The next head: at once when one read brings it all (the usual case), with
    /// no future to allocate and copy; else through `read_head`, boxed like the
    /// exchange, so that an idle connection carries neither.
    pub(super) async fn next_head(
        &mut self,
        deadlines: HeadDeadlines,
        shutdown: &Signal,
    ) -> Result<HeadRead, ParseError> {
        if let Some(parsed) = poll_fn(|cx| Poll::Ready(self.head_at_once(cx))).await {
            return parsed.map(HeadRead::Head);
        }
        Box::pin(self.read_head(deadlines, shutdown)).await
    }

    /// Reads until a whole head is buffered (or, with detection on, the HTTP/2
    /// preface). A partial head at the deadline is answered with 408 first.
    async fn read_head(
        &mut self,
        deadlines: HeadDeadlines,
        shutdown: &Signal,
    ) -> Result<HeadRead, ParseError> {
        let head_timeout = self.options.head_timeout;
        let head_from_now = || {
            deadlines
                .whole
                .unwrap_or_else(|| Instant::now() + head_timeout)
        };
        // Bytes already here (pipelined, or read by a readiness wait): the
        // head has begun.
        let mut deadline = match self.read.is_empty() {
            true => None,
            false => Some(head_from_now()),
        };
        loop {
            match self.preface_so_far() {
                Some(true) => return Ok(HeadRead::H2Preface),
                // Part of the preface: neither protocol can be told yet.
                Some(false) => {}
                // Nothing to parse yet (the usual first pass over TLS, whose
                // readiness cannot be seen, and after a request answered).
                None if self.read.is_empty() => {}
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
            let until = match (idle, deadline) {
                (false, Some(d)) => d,
                _ => deadlines.first_byte,
            };
            let read = timeout_at(until, self.io.read_buf(&mut self.read));
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
                Ok(Ok(n)) if n > 0 => {
                    if deadline.is_none() {
                        deadline = Some(head_from_now());
                    }
                }
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

    pub(super) fn reserve_read(&mut self) {
        if self.read.capacity() == 0 {
            self.read = pool::take_read();
        }
        let spare = self.read.capacity() - self.read.len();
        if spare < 512 {
            self.read.reserve(self.read.len().max(INITIAL_READ));
        }
    }

    /// Reads and drops a request body. `Ok(false)`: the client went away or was too
    /// slow. Nothing of the body is left to be read as the next request.
    pub(super) async fn discard_body(
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
}
