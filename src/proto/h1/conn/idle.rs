//! Waiting between requests: [`IdleWaits`], the timer and shutdown waiter a
//! connection keeps from one wait to the next, and `wait_readable`, which waits
//! for a request's first byte holding no buffers.

use std::future::poll_fn;
use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, Waker};

use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::super::pool;
use super::Conn;
use crate::proto::{Service, Signal, Transport};

/// The timer and shutdown futures of a connection waiting for its next request,
/// kept from one wait to the next: a keep-alive connection waits once per
/// request, and registering a fresh timer and shutdown waiter each time was a
/// measurable share of a small request's cost. The timer is moved only when it
/// would fire too late; one that fires early (for a wait that has since ended)
/// is pushed on to the current end then (nginx's lazy timers). Boxed, so that a
/// connection that never waits pays nothing and the connection future stays small.
pub(super) struct IdleWaits {
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

impl<'a, T: Transport, S: Service> Conn<'a, T, S> {
    /// Waits for the next request's first byte without holding buffers. False when
    /// the connection should close instead (timeout, shutdown, error).
    pub(super) async fn wait_readable(&mut self, until: Instant, shutdown: &Signal) -> bool {
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
}
