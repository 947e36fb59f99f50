//! A request body the service reads, from the stream's `RecvStream`: each
//! chunk's flow-control capacity is released as it is handed over, so the
//! client sends no faster than the service takes (h2's window bounds what
//! is buffered); each chunk must come within the body timeout; more than
//! the limit ends it with [`BodyError::TooLarge`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use crate::body::{BodyError, BodySource};

/// The body of one stream, read as the service asks.
pub(super) struct H2Body<'s> {
    stream: &'s mut h2::RecvStream,
    limit: u64,
    received: u64,
    stall: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
    failed: Option<BodyError>,
}

impl<'s> H2Body<'s> {
    pub(super) fn new(stream: &'s mut h2::RecvStream, limit: u64, stall: Duration) -> Self {
        H2Body {
            done: stream.is_end_stream(),
            stream,
            limit,
            received: 0,
            stall,
            timer: None,
            failed: None,
        }
    }

    /// Why the body broke off, if it did.
    pub(super) fn failed(&self) -> Option<BodyError> {
        self.failed
    }

    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.failed = Some(error);
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl BodySource for H2Body<'_> {
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let this = self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.stream.poll_data(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let _ = this.stream.flow_control().release_capacity(chunk.len());
                this.received += chunk.len() as u64;
                if this.received > this.limit {
                    return this.fail(BodyError::TooLarge);
                }
                if let Some(timer) = &mut this.timer {
                    timer.as_mut().reset(Instant::now() + this.stall);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(_))) => this.fail(BodyError::Broken),
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let stall = this.stall;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => this.fail(BodyError::Timeout),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
