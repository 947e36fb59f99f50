//! A cancellation signal cheap enough to check on every request.
//!
//! tokio-util's `CancellationToken` takes a mutex that all of its clones share
//! in `is_cancelled`, and tokio's `Notify` takes another every time a waiter
//! that is already registered is polled again. A server asks on every request
//! of every connection, so under load both locks moved between the cores all
//! the time. Here the question is one atomic load, and a waiter is polled only
//! to register a new waker: when the signal fires, every registered task is
//! woken and finds the flag set.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};

/// Fires once; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    token: CancellationToken,
}

impl Signal {
    /// A signal not yet fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal and wakes every waiter.
    pub fn fire(&self) {
        // Set before the wake-ups, so that every woken task sees it.
        self.inner.fired.store(true, Ordering::Release);
        self.inner.token.cancel();
    }

    /// Whether [`Signal::fire`] has been called: one atomic load.
    pub fn has_fired(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// Resolves once fired.
    pub fn fired(&self) -> WaitForCancellationFuture<'_> {
        self.inner.token.cancelled()
    }

    /// Resolves once fired, without borrowing the signal.
    pub fn fired_owned(&self) -> WaitForCancellationFutureOwned {
        self.inner.token.clone().cancelled_owned()
    }

    /// Ready once the signal has fired, for a poll function that keeps
    /// `waiter` (one of this signal's [`Signal::fired`] futures) and
    /// `registered` (the waker it was last polled with) from one poll to the
    /// next. The waiter is polled only when the task's waker is not the one it
    /// holds; otherwise the flag answers.
    pub fn poll_fired<F: Future<Output = ()>>(
        &self,
        waiter: Pin<&mut F>,
        registered: &mut Option<Waker>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        match registered {
            Some(waker) if waker.will_wake(cx.waker()) => match self.has_fired() {
                true => Poll::Ready(()),
                false => Poll::Pending,
            },
            _ => {
                let polled = waiter.poll(cx);
                if polled.is_pending() {
                    *registered = Some(cx.waker().clone());
                }
                polled
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::pin::pin;
    use std::time::Duration;

    #[tokio::test]
    async fn a_registered_waiter_is_woken_and_sees_the_flag() {
        let signal = Signal::new();
        assert!(!signal.has_fired());
        let firing = signal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            firing.fire();
        });
        let mut waiter = pin!(signal.fired());
        let mut registered = None;
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            signal.poll_fired(waiter.as_mut(), &mut registered, cx)
        })
        .await;
        assert!(signal.has_fired());
        assert_eq!(polls, 2, "woken once, by the signal");
        let owned = tokio::time::timeout(Duration::from_secs(1), signal.fired_owned());
        assert!(owned.await.is_ok(), "a waiter made after the signal waits");
    }
}
