//! A request body the service reads ([`crate::proto::BodyPolicy::Read`]):
//! Content-Length or chunked (through the strict decoder), as a
//! [`BodySource`] over the connection's transport and read buffer.
//!
//! - `100 Continue` is sent on the first read, when the client asked for it:
//!   a service that answers without reading (401, 409) never makes the
//!   client send the body;
//! - each read must bring bytes within the body timeout (the head timeout):
//!   a client that stalls is cut off with [`BodyError::Timeout`] (408), one
//!   that sends a large body slowly but steadily is not;
//! - chunks are split off the read buffer without copying; the buffer grows
//!   to [`BODY_READ`] at most per read, so memory stays bounded;
//! - bytes after the body (a pipelined request) stay in the buffer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;

use super::super::chunked::ChunkedDecoder;
use super::super::parse::{Framing, ParseError};
use crate::body::{BodyError, BodySource};
use crate::proto::Transport;

/// Room made in the read buffer for one read of a body: large enough that a
/// fast upload costs few system calls, small enough to hold per connection.
pub(super) const BODY_READ: usize = 64 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the body is delimited, and how much is left.
enum Left {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Where reading the body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Not at its end yet (the service may stop reading early).
    Reading,
    /// Read to its end: the connection may carry another request.
    Done,
    /// Broken off: the engine answers it.
    Failed(BodyError),
}

/// The body of one request, read from the connection as the service asks.
pub(super) struct H1Body<'c, T> {
    io: &'c mut T,
    read: &'c mut BytesMut,
    left: Left,
    /// Bytes of `100 Continue` still to write (`None`: not asked, or sent).
    continue_from: Option<usize>,
    /// Longest wait for the next bytes (or for `100 Continue` to leave).
    stall: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    state: State,
}

impl<'c, T: Transport> H1Body<'c, T> {
    /// The body framed by `framing`, at most `limit` bytes (a Content-Length
    /// was checked against it by the caller).
    pub(super) fn new(
        io: &'c mut T,
        read: &'c mut BytesMut,
        framing: Framing,
        limit: u64,
        expect_continue: bool,
        stall: Duration,
    ) -> Self {
        let (left, state) = match framing {
            Framing::None | Framing::Length(0) => (Left::Length(0), State::Done),
            Framing::Length(n) => (Left::Length(n), State::Reading),
            Framing::Chunked => (Left::Chunked(ChunkedDecoder::new(limit)), State::Reading),
        };
        H1Body {
            io,
            read,
            left,
            continue_from: (expect_continue && state == State::Reading).then_some(0),
            stall,
            timer: None,
            state,
        }
    }

    /// Where reading stands (once the service is done with the body).
    pub(super) fn state(&self) -> State {
        self.state
    }

    /// Whether the client was told to send the body.
    pub(super) fn continue_pending(&self) -> bool {
        self.continue_from.is_some()
    }

    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.state = State::Failed(error);
        Poll::Ready(Some(Err(error)))
    }

    /// Whether the stall timer has run out; registers the waker when not.
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// Progress was made: the next wait starts now.
    fn progressed(&mut self) {
        if let Some(timer) = &mut self.timer {
            timer.as_mut().reset(Instant::now() + self.stall);
        }
    }

    /// A chunk of body from what is buffered: `Ok(None)` when more must be read.
    fn buffered(&mut self) -> Result<Option<Bytes>, BodyError> {
        match &mut self.left {
            Left::Length(left) => {
                if self.read.is_empty() {
                    return Ok(None);
                }
                let take = (*left).min(self.read.len() as u64) as usize;
                *left -= take as u64;
                if *left == 0 {
                    self.state = State::Done;
                }
                Ok(Some(self.read.split_to(take).freeze()))
            }
            Left::Chunked(decoder) => loop {
                let (framing, data) = decoder.next_data(self.read).map_err(|e| match e {
                    ParseError::BodyTooLarge => BodyError::TooLarge,
                    _ => BodyError::Broken,
                })?;
                self.read.advance(framing);
                if data > 0 {
                    return Ok(Some(self.read.split_to(data).freeze()));
                }
                if decoder.is_done() {
                    self.state = State::Done;
                    return Ok(None);
                }
                if framing == 0 {
                    return Ok(None);
                }
            },
        }
    }

    /// Makes room for one read: at least a little, at most [`BODY_READ`].
    fn reserve(&mut self) {
        if self.read.capacity() - self.read.len() < 1024 {
            self.read.reserve(BODY_READ);
        }
    }
}

impl<T: Transport> BodySource for H1Body<'_, T> {
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let this = self;
        match this.state {
            State::Reading => {}
            State::Done | State::Failed(_) => return Poll::Ready(None),
        }
        while let Some(from) = this.continue_from {
            let rest = CONTINUE.get(from..).unwrap_or_default();
            if rest.is_empty() {
                this.continue_from = None;
                this.progressed();
                break;
            }
            match Pin::new(&mut *this.io).poll_write(cx, rest) {
                Poll::Ready(Ok(n)) if n > 0 => this.continue_from = Some(from + n),
                Poll::Ready(_) => return this.fail(BodyError::Closed),
                Poll::Pending if this.stalled(cx) => return this.fail(BodyError::Timeout),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            match this.buffered() {
                Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                Ok(None) if this.state == State::Done => return Poll::Ready(None),
                Ok(None) => {}
                Err(error) => return this.fail(error),
            }
            this.reserve();
            match poll_read_buf(Pin::new(&mut *this.io), cx, this.read) {
                Poll::Ready(Ok(n)) if n > 0 => this.progressed(),
                Poll::Ready(Ok(_)) => return this.fail(BodyError::Closed),
                Poll::Ready(Err(_)) => return this.fail(BodyError::Closed),
                Poll::Pending if this.stalled(cx) => return this.fail(BodyError::Timeout),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
